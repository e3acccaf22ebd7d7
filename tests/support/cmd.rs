//! [`Test`]: runs the real `deskready` binary with arguments, standard input and
//! environment, checks its exit code and hands back its output ([`Run`]) for further checks;
//! or starts it in the background ([`Running`]) for tests that act while it runs.
//!
//! Every run is hermetic: no `DESKREADY_*` variable of the caller's environment leaks in,
//! and the operator is `test-csp`. Nothing here knows about sites or labs.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// One run of `deskready`, built up, then run by [`Test::output`], [`Test::code`],
/// [`Test::success`], [`Test::failure`] or started by [`Test::spawn`].
#[must_use = "a Test does nothing until it is run (.output(), .code(n), .success(), .failure(), .spawn())"]
pub(crate) struct Test {
    args: Vec<OsString>,
    stdin: Option<Vec<u8>>,
    env: Vec<(OsString, OsString)>,
    /// Run on a pseudo-terminal (util-linux `script`), 120 columns wide.
    terminal: bool,
}

impl Default for Test {
    fn default() -> Self {
        Self::new()
    }
}

impl Test {
    /// `deskready` with no arguments yet (and no `--site`).
    pub(crate) fn new() -> Test {
        Test {
            args: Vec::new(),
            stdin: None,
            env: vec![("DESKREADY_OPERATOR".into(), "test-csp".into())],
            terminal: false,
        }
    }

    /// `--site DIR`.
    pub(crate) fn site(self, dir: impl AsRef<OsStr>) -> Test {
        self.arg("--site").arg(dir)
    }

    pub(crate) fn arg(mut self, arg: impl AsRef<OsStr>) -> Test {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub(crate) fn args<I, S>(mut self, args: I) -> Test
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Standard input (otherwise it is empty: /dev/null).
    pub(crate) fn stdin(mut self, input: impl Into<Vec<u8>>) -> Test {
        self.stdin = Some(input.into());
        self
    }

    pub(crate) fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Test {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Runs it on a pseudo-terminal (standard input, output and error all on it, 120
    /// columns by 40 lines, `TERM=xterm`), through util-linux's `script`: what a CSP at a
    /// terminal sees, on standard output (with `\r\n` line ends; see [`Run::screen`]).
    pub(crate) fn terminal(mut self) -> Test {
        self.terminal = true;
        self.env("TERM", "xterm")
    }

    /// The command line, for failure messages.
    fn shown(&self) -> String {
        let mut s = String::from("deskready");
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }

    fn command(&self) -> Command {
        let mut c = if self.terminal {
            let mut line = format!(
                "stty cols 120 rows 40 2>/dev/null; exec {}",
                quote(env!("CARGO_BIN_EXE_deskready"))
            );
            for a in &self.args {
                line.push(' ');
                line.push_str(&quote(&a.to_string_lossy()));
            }
            let mut c = Command::new("script");
            c.args(["-qfec", &line, "/dev/null"]);
            c
        } else {
            Command::new(env!("CARGO_BIN_EXE_deskready"))
        };
        if self.terminal {
            c.env_remove("NO_COLOR");
        }
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("DESKREADY_") {
                c.env_remove(k);
            }
        }
        if !self.terminal {
            c.args(&self.args);
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Runs it to its end, whatever its exit code.
    pub(crate) fn output(self) -> Run {
        let shown = self.shown();
        let mut child = self
            .command()
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
        if let Some(input) = self.stdin {
            let mut pipe = child.stdin.take().unwrap();
            // Fed from its own thread: a child that writes a lot before reading must not
            // block on a full stdout pipe while we block on its full stdin pipe.
            std::thread::spawn(move || {
                let _ = pipe.write_all(&input);
            });
        }
        let output = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("{shown}: {e}"));
        Run { output, shown }
    }

    /// Runs it and insists on exit code `code`.
    pub(crate) fn code(self, code: i32) -> Run {
        let run = self.output();
        assert_eq!(
            run.code(),
            code,
            "{}: exit code {}, expected {code}\n--- stdout\n{}--- stderr\n{}",
            run.shown,
            run.code(),
            run.stdout(),
            run.stderr()
        );
        run
    }

    /// Runs it and insists it succeeded (exit code 0).
    pub(crate) fn success(self) -> Run {
        self.code(0)
    }

    /// Runs it and insists it failed (any exit code but 0, and not killed by a signal).
    pub(crate) fn failure(self) -> Run {
        let run = self.output();
        assert!(
            run.code() > 0,
            "{}: exit code {}, expected a failure\n--- stdout\n{}--- stderr\n{}",
            run.shown,
            run.code(),
            run.stdout(),
            run.stderr()
        );
        run
    }

    /// Starts it in the background with its output captured; standard input as given
    /// (empty otherwise).
    pub(crate) fn spawn(self) -> Running {
        let shown = self.shown();
        let mut child = self
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
        let mut pipe = child.stdin.take().unwrap();
        let input = self.stdin.unwrap_or_default();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        let stdout = std::thread::spawn(move || {
            loop {
                let mut line = Vec::new();
                match out.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let mut err = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = err.read_to_end(&mut buf);
            buf
        });
        Running {
            child: Some(child),
            shown,
            lines,
            seen: Vec::new(),
            stdout: Some(stdout),
            stderr: Some(stderr),
        }
    }
}

/// What a terminal shows after `raw` output, as text: a small terminal that knows what
/// progress bars use (carriage return, new line, cursor up and down, erase line, erase
/// to the end of the screen); colour sequences are kept with the character they precede,
/// other sequences dropped. Every line ever shown stays (as in scrollback), bars that were
/// erased do not.
pub(crate) fn screen(raw: &str) -> String {
    const COLUMNS: usize = 120;
    let mut lines: Vec<Vec<String>> = vec![Vec::new()];
    let (mut row, mut col) = (0usize, 0usize);
    let mut sgr = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => col = 0,
            '\n' => {
                row += 1;
                if lines.len() <= row {
                    lines.push(Vec::new());
                }
            }
            '\x1b' if chars.peek() == Some(&'[') => {
                chars.next();
                let mut params = String::new();
                let mut fin = ' ';
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        fin = c;
                        break;
                    }
                    params.push(c);
                }
                let n = params.parse::<usize>().unwrap_or(1).max(1);
                match fin {
                    'A' => row = row.saturating_sub(n),
                    'B' => {
                        row += n;
                        while lines.len() <= row {
                            lines.push(Vec::new());
                        }
                    }
                    'G' => col = n - 1,
                    'K' if params == "2" => lines[row].clear(),
                    'K' => lines[row].truncate(col),
                    'J' => {
                        lines[row].truncate(col);
                        lines.truncate(row + 1);
                    }
                    'm' => sgr.push_str(&format!("\x1b[{params}m")),
                    _ => {}
                }
            }
            c => {
                // A line wraps at the terminal's width (as `stty cols` set it).
                if col >= COLUMNS {
                    row += 1;
                    col = 0;
                    if lines.len() <= row {
                        lines.push(Vec::new());
                    }
                }
                let line = &mut lines[row];
                while line.len() < col {
                    line.push(" ".into());
                }
                let cell = format!("{}{c}", std::mem::take(&mut sgr));
                if col < line.len() {
                    line[col] = cell;
                } else {
                    line.push(cell);
                }
                col += 1;
            }
        }
    }
    let mut out = String::new();
    for line in lines {
        out.push_str(line.concat().trim_end());
        out.push('\n');
    }
    if !sgr.is_empty() {
        out.push_str(&sgr);
    }
    out
}

/// `text` without colour sequences.
pub(crate) fn plain(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("\x1b[") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find('m') {
            Some(j) if after[..j].chars().all(|c| c.is_ascii_digit() || c == ';') => {
                rest = &after[j + 1..];
            }
            _ => {
                out.push_str("\x1b[");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `text` as one single-quoted shell word.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// What a finished run printed, and how it ended.
pub(crate) struct Run {
    pub output: std::process::Output,
    shown: String,
}

impl Run {
    /// The exit code (-1 when killed by a signal).
    pub(crate) fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    pub(crate) fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    /// What a run on a terminal ([`Test::terminal`]) showed: its output with `\n` line
    /// ends and the carriage returns and erased lines of redrawn progress bars removed
    /// (colour sequences are kept).
    pub(crate) fn screen(&self) -> String {
        screen(&self.stdout())
    }

    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// The `error: ` lines of stderr, without the prefix.
    pub(crate) fn errors(&self) -> Vec<String> {
        self.stderr()
            .lines()
            .filter_map(|l| l.strip_prefix("error: "))
            .map(str::to_string)
            .collect()
    }

    /// Stdout as one JSON document.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout()).unwrap_or_else(|e| {
            panic!(
                "{}: stdout is not JSON ({e}):\n{}{}",
                self.shown,
                self.stdout(),
                self.stderr()
            )
        })
    }

    /// Every line of stdout as one JSON object (NDJSON).
    pub(crate) fn ndjson(&self) -> Vec<serde_json::Value> {
        self.stdout()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    /// Insists stdout is exactly `expected`.
    pub(crate) fn stdout_is(self, expected: &str) -> Run {
        assert_eq!(
            self.stdout(),
            expected,
            "{}: stdout\n--- stderr\n{}",
            self.shown,
            self.stderr()
        );
        self
    }

    /// Insists stderr is exactly `expected`.
    pub(crate) fn stderr_is(self, expected: &str) -> Run {
        assert_eq!(
            self.stderr(),
            expected,
            "{}: stderr\n--- stdout\n{}",
            self.shown,
            self.stdout()
        );
        self
    }

    /// Insists stdout contains `needle`.
    pub(crate) fn stdout_has(self, needle: &str) -> Run {
        let out = self.stdout();
        assert!(
            out.contains(needle),
            "{}: stdout lacks\n  {needle}\n--- stdout\n{out}--- stderr\n{}",
            self.shown,
            self.stderr()
        );
        self
    }

    /// Insists stderr contains `needle`.
    pub(crate) fn stderr_has(self, needle: &str) -> Run {
        let err = self.stderr();
        assert!(
            err.contains(needle),
            "{}: stderr lacks\n  {needle}\n--- stderr\n{err}--- stdout\n{}",
            self.shown,
            self.stdout()
        );
        self
    }

    /// Insists stdout does not contain `needle`.
    pub(crate) fn stdout_lacks(self, needle: &str) -> Run {
        let out = self.stdout();
        assert!(
            !out.contains(needle),
            "{}: stdout has\n  {needle}\n--- stdout\n{out}",
            self.shown
        );
        self
    }
}

/// A run going on in the background; killed (and reaped) if dropped before [`Running::wait`].
pub(crate) struct Running {
    child: Option<Child>,
    shown: String,
    lines: mpsc::Receiver<Vec<u8>>,
    /// Stdout lines already taken by [`Running::wait_for_line`].
    seen: Vec<u8>,
    stdout: Option<std::thread::JoinHandle<()>>,
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
}

impl Running {
    pub(crate) fn id(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends `signal` (such as `libc::SIGINT`) to the process.
    pub(crate) fn signal(&self, signal: i32) {
        let rc = unsafe { libc::kill(self.id() as i32, signal) };
        assert_eq!(
            rc,
            0,
            "kill {}: {}",
            self.id(),
            std::io::Error::last_os_error()
        );
    }

    /// Reads stdout until a line for which `wanted` holds (within `limit`) and returns it;
    /// the lines read stay part of the output [`Running::wait`] returns.
    pub(crate) fn wait_for_line(
        &mut self,
        limit: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.extend_from_slice(&line);
                    let text = String::from_utf8_lossy(&line).into_owned();
                    if wanted(text.trim_end_matches('\n')) {
                        return text;
                    }
                }
                Err(e) => panic!(
                    "{}: no such line within {limit:?} ({e:?}); stdout so far:\n{}",
                    self.shown,
                    String::from_utf8_lossy(&self.seen)
                ),
            }
        }
    }

    /// Waits for the end of the run and returns all it printed.
    pub(crate) fn wait(mut self) -> Run {
        let status = self.child.take().unwrap().wait().expect("wait");
        self.stdout.take().unwrap().join().expect("stdout reader");
        let mut stdout = std::mem::take(&mut self.seen);
        while let Ok(line) = self.lines.try_recv() {
            stdout.extend_from_slice(&line);
        }
        let stderr = self.stderr.take().unwrap().join().expect("stderr reader");
        Run {
            output: std::process::Output {
                status,
                stdout,
                stderr,
            },
            shown: std::mem::take(&mut self.shown),
        }
    }

    /// Kills it (SIGKILL) and waits for it.
    pub(crate) fn kill(mut self) -> Run {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
        }
        self.wait()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
