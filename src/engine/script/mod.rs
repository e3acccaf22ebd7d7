//! The remote side of converging: one POSIX shell program per device and phase.
//!
//! [`build`] writes a program that probes every resource (plan) or probes and fixes every
//! resource then runs the verify checks (converge), all in ONE exec channel. The shell is
//! real shell in `.sh` files (the [preamble](preamble.sh) and one file per resource kind
//! under `kinds/`), linted by shellcheck; the program built from them only calls their
//! functions with quoted words, through the [`writer::Writer`]. The program and the file
//! contents travel on the channel's stdin, raw; the [bootstrap](Dialect::bootstrap_within) reads
//! all of it ONCE into a file in a private directory, and the program runs from that file
//! and carves each content out of it by offset (no tool reads a pipe, so shells and tools
//! that read ahead, such as busybox's, work). Everything the device reports back that came
//! from files or commands is base64; the [`protocol`] module reads it.
//! Every program starts with the [watchdog](watchdog.sh): it runs the rest in a process
//! group of its own and kills that group, and what the program started outside it (apt's
//! dpkg), when the deadline passes or the SSH session goes away, so a timeout or a dropped
//! connection leaves nothing running on the device.

pub mod kinds;
pub mod protocol;
pub mod software;
pub mod writer;

use std::time::Duration;

use sha2::{Digest, Sha256};

pub use kinds::{Content, queue_state};
pub use protocol::{CheckResult, Observed, QueueDropped, Report, TestPage, parse};
use writer::Writer;

use crate::model::ResourceKind;
use crate::resolve::ResolvedResource;

/// What the program does with each resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Probe only: report drift, change nothing.
    Plan,
    /// Probe, fix what drifted, then run the verify checks.
    Converge,
}

/// The language of a device's program. One today; a second platform (PowerShell on
/// Windows) would be another variant with its own preamble, kinds and bootstrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// POSIX `sh` with coreutils (Debian and alike).
    #[default]
    Posix,
}

impl Dialect {
    /// The exec command that runs a program sent first on stdin, followed by the contents
    /// it stages when `staged` (the program finds them from the end); its
    /// [watchdog](watchdog.sh) kills it and everything it started once `timeout` (rounded
    /// up to seconds, plus a 2 s grace) has passed or its SSH session goes away.
    /// `Duration::ZERO`: no deadline.
    ///
    /// Posix: always under `sh -c '…'`, with no single quote inside, so whatever root's
    /// login shell is (sh, bash, csh, fish) it passes the text to `sh` untouched. A program
    /// that stages nothing, when that `sh` leads its process group (as under sshd) and
    /// stdin is a pipe, is run straight from stdin (`. /dev/stdin`: no process, no file;
    /// the program is one compound command, so the shell parses all of it before running
    /// any, and a program cut short runs nothing). Otherwise that `sh` makes the
    /// program's private directory (`mktemp -d`, mode 0700, holding its pid in `pid`),
    /// reads the whole of stdin ONCE (`cat`) into `program` there, and runs it in the
    /// same shell (`.`: no second shell started) with the directory as `$1` and the
    /// deadline as `$2`: no tool ever reads the channel's stdin, so a shell and tools that
    /// read ahead on a pipe (busybox) work.
    pub fn bootstrap_within(self, staged: bool, timeout: Duration) -> String {
        let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
        match self {
            Dialect::Posix if staged => BOOTSTRAP.replace("{T}", &secs.to_string()),
            Dialect::Posix => BOOTSTRAP_DIRECT.replace("{T}", &secs.to_string()),
        }
    }
}

/// Files larger than this are not sent back for diffs.
pub const DIFF_LIMIT: u64 = 1 << 20;

/// A program and the bytes to feed it on stdin after the program itself.
#[derive(Debug, Clone)]
pub struct Script {
    pub text: String,
    /// The program's own bytes, then the staged file contents.
    pub stdin: Vec<u8>,
}

impl Script {
    /// The exec command that runs this program and kills it (its whole process group on
    /// the device) once `timeout` has passed; see [`Dialect::bootstrap_within`].
    pub fn command_within(&self, timeout: Duration) -> String {
        Dialect::Posix.bootstrap_within(self.staged(), timeout)
    }

    /// Whether contents follow the program on stdin (more than the program and its seal).
    pub fn staged(&self) -> bool {
        self.stdin.len() > self.text.len() + SEAL_LEN
    }
}

/// The length of the seal that ends a built program's stdin: `@@DATA ` and a sha256 in hex.
const SEAL_LEN: usize = 7 + 64;

/// The exec command that runs a [`Script`] (see [`Dialect::bootstrap_within`]). The
/// program travels on stdin because an exec request is limited to a few tens of kilobytes,
/// and a profile with many resources makes a longer program. The program text may hold
/// secrets (a sensitive command): until the program takes over, a trap removes the
/// directory if the exec is cut off; a directory left by a shell killed outright is removed
/// by the next program (see the preamble). `{T}`: the deadline in seconds the program's
/// [watchdog](watchdog.sh) enforces (0: none).
pub const BOOTSTRAP: &str = "sh -c 'd=$(mktemp -d \"${TMPDIR:-/tmp}/deskready.XXXXXXXX\") && \
trap \"rm -rf \\\"\\$d\\\"\" EXIT && trap \"rm -rf \\\"\\$d\\\"; exit 129\" HUP INT PIPE TERM && \
echo $$ > \"$d/pid\" && cat > \"$d/program\" && set -- \"$d\" {T} && . \"$d/program\"'";

/// [`BOOTSTRAP`], but a program with nothing staged whose shell leads its process group
/// (a group whose id is the shell's pid exists: `kill -0 -$$`, no `/proc` read) and
/// whose stdin is a pipe runs straight
/// from stdin, with no directory (`$1` empty; see the preamble's `tdir`).
pub const BOOTSTRAP_DIRECT: &str = "sh -c 'if [ -p /dev/stdin ] && kill -0 -$$ 2>/dev/null; then set -- \"\" {T}; . /dev/stdin; exit; fi; \
d=$(mktemp -d \"${TMPDIR:-/tmp}/deskready.XXXXXXXX\") && \
trap \"rm -rf \\\"\\$d\\\"\" EXIT && trap \"rm -rf \\\"\\$d\\\"; exit 129\" HUP INT PIPE TERM && \
echo $$ > \"$d/pid\" && cat > \"$d/program\" && set -- \"$d\" {T} && . \"$d/program\"'";

/// What every program starts with: one compound command (`{`, closed at its end), so that
/// a shell reading it from a pipe runs none of it before it has all of it; the lint
/// settings before it cover all of it.
const OPEN: &str = "# shellcheck shell=sh\n\
# shellcheck disable=SC2034,SC2317 # variables the kinds' helpers read; helpers only some programs call\n{";

/// The first lines of every program: run the rest in a process group of its own and kill
/// that group when the deadline passes or the SSH session goes away.
const WATCHDOG: &str = include_str!("watchdog.sh");

/// The start of every program: temp directory, protocol helpers, shared steps.
const PREAMBLE: &str = include_str!("preamble.sh");

/// sha256 of `bytes`, as lowercase hex.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether this build of deskready can probe and fix a resource kind.
pub fn supported(kind: &ResourceKind) -> bool {
    kinds::of(kind).supported()
}

/// The program that prints a test page through `queue` on `server` ('' for the device's
/// own cupsd) for printer `tag`, and waits for the job; read with [`TestPage::parse`].
/// Run like any other program (see [`Script::command_within`]): watched, so a deadline
/// or a dropped connection ends its waiting on the device too.
pub fn test_page(server: &str, queue: &str, tag: &str) -> Script {
    let mut w = Writer::new();
    w.raw(OPEN).raw(WATCHDOG).raw(PREAMBLE).raw("tdir");
    kinds::write_test_page(&mut w, server, queue, tag);
    w.raw("}");
    let text = w.finish();
    Script {
        stdin: text.clone().into_bytes(),
        text,
    }
}

/// The program that removes (`remove`) or disables `queue` on the cupsd at `server`, for a
/// printer retired or returned; read with [`QueueDropped::parse`].
pub fn queue_drop(server: &str, queue: &str, remove: bool) -> Script {
    let mut w = Writer::new();
    w.raw(OPEN).raw(WATCHDOG).raw(PREAMBLE).raw("tdir");
    kinds::write_queue_drop(&mut w, server, queue, remove);
    w.raw("echo @@END\n}");
    let text = w.finish();
    Script {
        stdin: text.clone().into_bytes(),
        text,
    }
}

/// Builds the program for `resources` (each with its index in the device's resource list)
/// and, for converge, the verify `checks` (index, command).
pub fn build(
    phase: Phase,
    resources: &[(usize, &ResolvedResource)],
    checks: &[(usize, &str)],
) -> Script {
    build_parts(phase, resources, checks, &[], &[])
}

/// [`build`], with `tail` (program text, such as an audit's software read,
/// [`software::AUDIT`]) run after the resources and before the program's end.
pub fn build_with(
    phase: Phase,
    resources: &[(usize, &ResolvedResource)],
    checks: &[(usize, &str)],
    tail: &[&'static str],
) -> Script {
    build_parts(phase, resources, checks, &[], tail)
}

/// Builds one program for the resources of several devices on one device (a print
/// server's queues for a batch of printers): `parts` are the devices' resources, each
/// with an index unique in the program, and each device's model (`pq_model`, read by
/// the print queue helpers to make one driver per model). One device's failed resource
/// does not skip the others' (each part starts afresh).
pub fn build_batch(phase: Phase, parts: &[(String, Vec<(usize, &ResolvedResource)>)]) -> Script {
    let all: Vec<(usize, &ResolvedResource)> =
        parts.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    let starts: Vec<(usize, &str)> = parts
        .iter()
        .filter_map(|(model, p)| p.first().map(|(i, _)| (*i, model.as_str())))
        .collect();
    build_parts(phase, &all, &[], &starts, &[])
}

/// [`build`], where the resources whose indices are in `starts` begin another device's
/// part (of that model): `failed` is reset before them; `tail` runs before the end.
fn build_parts(
    phase: Phase,
    resources: &[(usize, &ResolvedResource)],
    checks: &[(usize, &str)],
    starts: &[(usize, &str)],
    tail: &[&'static str],
) -> Script {
    let mut w = Writer::new();
    let mut data = Vec::new();
    // Converge sends every file's new content after the program (resource i's at
    // `offsets[i]` of that data), then the seal; small text the program carries itself.
    let mut offsets = std::collections::BTreeMap::new();
    if phase == Phase::Converge {
        for (i, r) in resources {
            if let Some(content) = r.content()
                && supported(r.kind())
                && !kinds::inline(content)
            {
                offsets.insert(*i, (data.len(), content.len()));
                data.extend_from_slice(content.as_bytes());
            }
        }
    }
    // The seal ends what is sent: a transfer cut short does not end with it.
    let seal = format!("@@DATA {}", digest(&data));
    // One compound command: a shell reading it from a pipe runs none of it before it
    // has all of it.
    w.raw(OPEN);
    w.raw(WATCHDOG);
    w.raw(PREAMBLE);
    // The kinds that leave nothing in a private directory unless they must (file, line,
    // command, directory, with no handlers to notify) let it be made lazily; any other
    // makes it now.
    if resources.iter().any(|(_, r)| {
        !r.resource.notify.is_empty()
            || !matches!(
                r.kind(),
                ResourceKind::File { .. }
                    | ResourceKind::Line { .. }
                    | ResourceKind::Command { .. }
                    | ResourceKind::Directory { .. }
            )
    }) {
        // (and those kinds may change any file: a line is copied, not written from what
        // the snapshot saw)
        w.raw("tdir\nwild=1");
    }
    // Each kind's helpers, once, in the order the kinds first appear.
    let mut seen: Vec<&'static str> = Vec::new();
    for (_, r) in resources {
        let kind = kinds::of(r.kind());
        if kind.supported() && !seen.contains(&kind.helpers()) {
            seen.push(kind.helpers());
            w.raw(kind.helpers());
        }
    }
    w.var("fix", if phase == Phase::Converge { "1" } else { "0" });
    let hidden: String = resources
        .iter()
        .filter(|(_, r)| r.sensitive)
        .map(|(i, _)| format!(" {i}"))
        .collect();
    if !hidden.is_empty() {
        w.var("hidden", &format!("{hidden} "));
    }
    // Every tool the program runs, checked before anything is read or changed.
    let mut tools: Vec<&str> = PREAMBLE_TOOLS.to_vec();
    for (_, r) in resources {
        let kind = kinds::of(r.kind());
        if kind.supported() {
            for t in kind.tools() {
                if !tools.contains(t) {
                    tools.push(t);
                }
            }
        }
    }
    w.call("need", tools);
    // Every path's digest and metadata, read once for all resources, so a resource that
    // is already right costs no process on the device. The same `stat` checks first,
    // before anything is read or changed, that the whole of stdin arrived: the program's
    // file has the size sent (written once the program is whole, see SIZE_MARK).
    //
    // A command may change any file, so the resources after one are read again once one
    // ran: the program is cut into segments, each ending with a command, and `snapK`
    // reads the paths of segment K and all after it. `snap` (segment 0's) is read at the
    // start only when one of segment 0's paths is there (a first run on a fresh device
    // reads nothing before its first command), and is also called again after a step
    // that may have made or removed files of later resources (a package installing its
    // config files); its size check holds then too, the program's file being the same.
    let mut segment = vec![0usize; resources.len()];
    let mut k = 0;
    for (n, (_, r)) in resources.iter().enumerate() {
        segment[n] = k;
        if matches!(r.kind(), ResourceKind::Command { .. }) {
            k += 1;
        }
    }
    let paths_from = |k: usize, digest: bool| -> Vec<&str> {
        resources
            .iter()
            .zip(&segment)
            .filter(|(_, s)| **s >= k)
            .filter_map(|((_, r), _)| {
                let kind = kinds::of(r.kind());
                if digest {
                    kind.digest_path(r)
                } else {
                    kind.stat_path(r)
                }
            })
            .collect()
    };
    // Segments (after the first) whose resources read the snapshot: each gets its
    // `snapK`, called before its first resource when the snapshot no longer holds.
    let mut looks = Vec::new();
    for k in 1..=k {
        let reads = resources.iter().zip(&segment).any(|((_, r), s)| {
            *s == k && {
                let kind = kinds::of(r.kind());
                kind.stat_path(r).is_some() || kind.digest_path(r).is_some()
            }
        });
        if reads {
            looks.push(k);
        }
    }
    for k in std::iter::once(0).chain(looks.iter().copied()) {
        w.function("snap", k);
        w.call(
            "stats",
            std::iter::once(SIZE_MARK).chain(paths_from(k, false)),
        );
        let sums = paths_from(k, true);
        if !sums.is_empty() {
            w.call("sums", sums);
        }
        w.raw("seen\n}");
    }
    let mut first: Vec<&str> = Vec::new();
    for ((_, r), s) in resources.iter().zip(&segment) {
        let kind = kinds::of(r.kind());
        for p in [kind.stat_path(r), kind.digest_path(r)]
            .into_iter()
            .flatten()
        {
            if *s == 0 && !first.contains(&p) {
                first.push(p);
            }
        }
    }
    if first.is_empty() {
        // (nothing to read before the first command but, run from its file, the program's
        // size)
        w.raw("[ -z \"$prog\" ] || snap");
    } else {
        w.call("first", first);
    }
    // Each kind's work before its steps, once, with all of its resources.
    let mut kinds_seen: Vec<&'static str> = Vec::new();
    for (_, r) in resources {
        let kind = kinds::of(r.kind());
        if kind.supported() && !kinds_seen.contains(&r.kind().keyword()) {
            kinds_seen.push(r.kind().keyword());
            let items: Vec<(usize, &ResolvedResource)> = resources
                .iter()
                .filter(|(_, x)| x.kind().keyword() == r.kind().keyword())
                .copied()
                .collect();
            kind.write_begin(&mut w, &items);
        }
    }
    let mut pending = false;
    // A notifying file among the pending ones: its change is only known at the commit,
    // which then also settles whom it notifies (`notify_commit`, kinds/handler.sh).
    let mut notifying = false;
    let commit = |w: &mut Writer, notifying: bool| {
        w.raw(if notifying { "notify_commit" } else { "commit" });
    };
    let mut looked = 0;
    for (n, (i, r)) in resources.iter().enumerate() {
        let kind = kinds::of(r.kind());
        if !kind.supported() {
            continue;
        }
        // (before the first resource of its segment the program runs)
        if segment[n] > looked && looks.contains(&segment[n]) {
            looked = segment[n];
            w.call("look", [format!("snap{}", segment[n])]);
        }
        // A run of file resources is committed together (one sync), before whatever
        // comes next can depend on the files.
        let file = matches!(r.kind(), ResourceKind::File { .. });
        if pending && !file {
            commit(&mut w, notifying);
            pending = false;
            notifying = false;
        }
        if let Some((_, model)) = starts.iter().find(|(s, _)| s == i) {
            w.raw("failed=0").var("pq_model", model);
        }
        w.comment(r.name());
        if !r.resource.notify.is_empty() {
            w.notifying(*i, &kinds::notify_markers(r));
            notifying |= file;
        }
        let content = match (offsets.get(i), r.content()) {
            (Some(&(offset, len)), _) => Content::Data {
                from_end: data.len() - offset + seal.len(),
                len,
            },
            (None, Some(_)) if phase == Phase::Converge => Content::Inline,
            _ => Content::Absent,
        };
        kind.write(&mut w, *i, r, content);
        pending |= file;
    }
    if pending {
        commit(&mut w, notifying);
    }
    for (_, r) in resources {
        if let Some(k) = kinds_seen.iter().position(|k| *k == r.kind().keyword()) {
            kinds_seen.remove(k);
            kinds::of(r.kind()).write_end(&mut w);
        }
    }
    if phase == Phase::Converge {
        for (j, cmd) in checks {
            w.call("check", [j.to_string(), cmd.to_string()]);
        }
    }
    // Every rename made durable before the program says it is done.
    w.raw("settle");
    for t in tail {
        w.raw(t);
    }
    // The data follows the program in the same file: the shell must stop here.
    w.raw("echo @@END\nexit 0\n}");
    let text = w.finish();
    let size = text.len() + data.len() + seal.len();
    let text = text.replace(
        &format!("stats '{SIZE_MARK}'"),
        &format!("stats '{size:0width$}'", width = SIZE_MARK.len()),
    );
    let mut all = text.clone().into_bytes();
    all.extend_from_slice(&data);
    all.extend_from_slice(seal.as_bytes());
    Script { text, stdin: all }
}

/// Stands in the program for the size of all it is sent (program, data and seal), which
/// is only known once the program is whole; replaced by the size, zero-padded to the same
/// width, so the size does not change the size. `test -eq` reads it as decimal.
const SIZE_MARK: &str = "000000000000";

/// What the preamble itself runs.
const PREAMBLE_TOOLS: [&str; 6] = ["base64", "grep", "rm", "stat", "tail", "wc"];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testkit;
    use crate::model::{FileSource, ResourceStatus as S, ServiceState};
    use crate::shell::quote;

    fn file(path: &str, content: &str, mode: Option<u32>) -> ResolvedResource {
        testkit::resource(
            path,
            ResourceKind::File {
                path: path.into(),
                source: FileSource::Content(content.into()),
                mode,
                owner: None,
                group: None,
            },
        )
    }

    /// Runs `script`'s command in a local shell, the way the device's shell runs it
    /// (leading a process group of its own, as under sshd), with its deadline `timeout`
    /// and the directory `bin` first on `PATH` (stand-ins for commands).
    fn exec(
        script: &Script,
        timeout: Duration,
        bin: Option<&std::path::Path>,
    ) -> std::process::Output {
        exec_as(script, timeout, bin, true, None)
    }

    /// [`exec`], with the shell leading a process group of its own or not (as under a
    /// login shell that forks), and `tmpdir` as `TMPDIR` when given.
    fn exec_as(
        script: &Script,
        timeout: Duration,
        bin: Option<&std::path::Path>,
        lead: bool,
        tmpdir: Option<&std::path::Path>,
    ) -> std::process::Output {
        use std::os::unix::process::CommandExt;
        // A login shell that runs `sh -c …` by exec (bash), or one that forks (dash).
        let mut cmd = std::process::Command::new(if lead { "bash" } else { "sh" });
        if lead {
            cmd.process_group(0);
        }
        if let Some(t) = tmpdir {
            cmd.env("TMPDIR", t);
        }
        cmd.arg("-c")
            .arg(script.command_within(timeout))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        if let Some(bin) = bin {
            let path = std::env::var("PATH").unwrap_or_default();
            cmd.env("PATH", format!("{}:{path}", bin.display()));
        }
        let mut child = cmd.spawn().unwrap();
        use std::io::Write;
        // A program killed before it read everything closes its stdin: not this test's concern.
        let _ = child.stdin.take().unwrap().write_all(&script.stdin);
        child.wait_with_output().unwrap()
    }

    /// Runs a program built from `rs` and `checks` to its end in a local shell.
    fn run(phase: Phase, rs: &[ResolvedResource], checks: &[&str]) -> Report {
        run_in(None, phase, rs, checks)
    }

    /// Runs a script with `sh` being busybox (its applets first, as on a busybox device),
    /// when busybox is installed.
    fn run_busybox(phase: Phase, rs: &[ResolvedResource], checks: &[&str]) -> Option<Report> {
        let busybox = std::path::Path::new("/bin/busybox");
        if !busybox.exists() {
            #[expect(
                clippy::print_stderr,
                reason = "tells the test runner why it was skipped"
            )]
            {
                eprintln!("busybox is not installed; skipped");
            }
            return None;
        }
        let bin = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(busybox, bin.path().join("sh")).unwrap();
        Some(run_in(Some(bin.path()), phase, rs, checks))
    }

    /// Runs a script with `bin` first on PATH (where `sh` is looked up).
    fn run_in(
        bin: Option<&std::path::Path>,
        phase: Phase,
        rs: &[ResolvedResource],
        checks: &[&str],
    ) -> Report {
        let indexed: Vec<(usize, &ResolvedResource)> = rs.iter().enumerate().collect();
        let checks: Vec<(usize, &str)> = checks.iter().copied().enumerate().collect();
        let script = build(phase, &indexed, &checks);
        let out = exec(&script, Duration::from_secs(60), bin);
        let rep = parse(&out.stdout);
        assert!(
            rep.complete,
            "script did not finish:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        rep
    }

    fn statuses(rep: &Report) -> Vec<S> {
        rep.resources.values().map(|o| o.status).collect()
    }

    #[test]
    fn converge_then_nothing_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let rs = vec![
            testkit::resource(
                "dir",
                ResourceKind::Directory {
                    path: format!("{d}/etc/app"),
                    mode: Some(0o750),
                    owner: None,
                    group: None,
                },
            ),
            file(&format!("{d}/etc/app/app.conf"), "a = 1\n", Some(0o640)),
            testkit::resource(
                "line",
                ResourceKind::Line {
                    path: format!("{d}/etc/app/list"),
                    line: "x = $(touch owned)".into(),
                },
            ),
            testkit::resource(
                "cmd",
                ResourceKind::Command {
                    command: format!("echo hi > {}", quote(&format!("{d}/made"))),
                    creates: Some(format!("{d}/made")),
                    unless: None,
                },
            ),
        ];
        let first = run(Phase::Converge, &rs, &[]);
        assert_eq!(statuses(&first), [S::Changed; 4]);
        let conf = std::path::Path::new(&d).join("etc/app/app.conf");
        assert_eq!(std::fs::read_to_string(&conf).unwrap(), "a = 1\n");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&conf).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert_eq!(
            std::fs::read_to_string(format!("{d}/etc/app/list")).unwrap(),
            "x = $(touch owned)\n"
        );
        assert!(
            !std::path::Path::new("owned").exists()
                && !std::path::Path::new(&d).join("owned").exists()
        );
        let mtime = std::fs::metadata(&conf).unwrap().modified().unwrap();

        let second = run(Phase::Converge, &rs, &[]);
        assert_eq!(statuses(&second), [S::Ok; 4]);
        assert_eq!(std::fs::metadata(&conf).unwrap().modified().unwrap(), mtime);
    }

    /// A profile with nothing staged (small text files, a line, a guarded command, a
    /// directory, a check).
    fn unstaged(d: &str) -> Vec<ResolvedResource> {
        vec![
            testkit::resource(
                "dir",
                ResourceKind::Directory {
                    path: format!("{d}/etc"),
                    mode: Some(0o755),
                    owner: None,
                    group: None,
                },
            ),
            file(&format!("{d}/etc/a.conf"), "a = 1\n", Some(0o640)),
            file(&format!("{d}/etc/b.conf"), "b = 2\n", None),
            testkit::resource(
                "cmd",
                ResourceKind::Command {
                    command: format!("echo hi > {}", quote(&format!("{d}/made"))),
                    creates: Some(format!("{d}/made")),
                    unless: None,
                },
            ),
            testkit::resource(
                "line",
                ResourceKind::Line {
                    path: format!("{d}/etc/list"),
                    line: "x = 1".into(),
                },
            ),
        ]
    }

    /// Runs a program built from `rs` with a check, from a shell that leads its group
    /// or not, with `TMPDIR` at `tmp`.
    fn run_unstaged(rs: &[ResolvedResource], lead: bool, tmp: &std::path::Path) -> Report {
        let indexed: Vec<(usize, &ResolvedResource)> = rs.iter().enumerate().collect();
        let script = build(Phase::Converge, &indexed, &[(0, "test -n x")]);
        assert!(!script.staged());
        let out = exec_as(&script, Duration::from_secs(60), None, lead, Some(tmp));
        let rep = parse(&out.stdout);
        assert!(rep.complete, "{}", String::from_utf8_lossy(&out.stdout));
        rep
    }

    #[test]
    fn a_run_that_writes_nothing_makes_no_directory_on_the_device() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let rs = unstaged(&d);
        // The program's temp directory cannot be made: only a run that needs none ends.
        let nowhere = dir.path().join("no-such-tmp");
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        let first = run_unstaged(&rs, true, &tmp);
        assert_eq!(statuses(&first), [S::Changed; 5]);
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
        let again = run_unstaged(&rs, true, &nowhere);
        assert_eq!(statuses(&again), [S::Ok; 5]);
        assert!(again.checks[&0].passed);
        assert!(!nowhere.exists());
        // Changing a file and the line needs no directory either (no command runs).
        std::fs::write(format!("{d}/etc/b.conf"), "b = 3\n").unwrap();
        std::fs::write(format!("{d}/etc/list"), "y = 2").unwrap();
        let fixed = run_unstaged(&rs, true, &nowhere);
        assert_eq!(
            statuses(&fixed),
            [S::Ok, S::Ok, S::Changed, S::Ok, S::Changed]
        );
        assert_eq!(
            std::fs::read_to_string(format!("{d}/etc/list")).unwrap(),
            "y = 2\nx = 1\n"
        );
        assert_eq!(
            std::fs::read_to_string(format!("{d}/etc/b.conf")).unwrap(),
            "b = 2\n"
        );
        // A shell that does not lead its group runs the program from a file, as before.
        std::fs::write(format!("{d}/etc/list"), "").unwrap();
        let led = run_unstaged(&rs, false, &tmp);
        assert_eq!(statuses(&led), [S::Ok, S::Ok, S::Ok, S::Ok, S::Changed]);
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
    }

    #[test]
    fn lines_after_a_write_or_a_command_keep_what_it_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let list = format!("{d}/list");
        let line = |n: &str, l: &str| {
            testkit::resource(
                n,
                ResourceKind::Line {
                    path: list.clone(),
                    line: l.into(),
                },
            )
        };
        // Two lines into a file that does not exist when the program starts.
        let rs = vec![line("a", "keep me"), line("b", "add me")];
        assert_eq!(statuses(&run(Phase::Converge, &rs, &[])), [S::Changed; 2]);
        assert_eq!(std::fs::read_to_string(&list).unwrap(), "keep me\nadd me\n");
        // A command changes the file's mode before a line is added: the mode stays.
        let rs = vec![
            testkit::resource(
                "cmd",
                ResourceKind::Command {
                    command: format!("chmod 600 {}", quote(&list)),
                    creates: None,
                    unless: None,
                },
            ),
            line("c", "third"),
        ];
        assert_eq!(statuses(&run(Phase::Converge, &rs, &[])), [S::Changed; 2]);
        assert_eq!(
            std::fs::read_to_string(&list).unwrap(),
            "keep me\nadd me\nthird\n"
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&list).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    fn command(name: &str, command: String) -> ResolvedResource {
        testkit::resource(
            name,
            ResourceKind::Command {
                command,
                creates: None,
                unless: None,
            },
        )
    }

    #[test]
    fn a_file_a_command_changed_is_read_again_and_put_right() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("app.conf").display().to_string();
        std::fs::write(&conf, "port = 1\n").unwrap();
        // The file is right when the program starts; a command then changes it.
        let rs = vec![
            command("breaks it", format!("echo junk > {}", quote(&conf))),
            file(&conf, "port = 1\n", None),
        ];
        assert_eq!(
            statuses(&run(Phase::Converge, &rs, &[])),
            [S::Changed, S::Changed]
        );
        assert_eq!(std::fs::read_to_string(&conf).unwrap(), "port = 1\n");
    }

    #[test]
    fn the_snapshot_is_read_once_when_first_needed_and_again_only_after_a_command_ran() {
        // `stat` and `cp` log what they are asked, then run.
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("stats");
        let logged = |tool: &str| {
            format!(
                "printf '{tool} %s\\n' \"$*\" >> {}; PATH=/usr/bin:/bin exec {tool} \"$@\"",
                quote(&log.display().to_string())
            )
        };
        let bin = stand_ins(
            dir.path(),
            &[("stat", &logged("stat")), ("cp", &logged("cp"))],
        );
        let d = dir.path().display().to_string();
        let issue = format!("{d}/issue");
        std::fs::write(&issue, "Welcome\n").unwrap();
        let stamp = format!("{d}/stamp");
        let rs = [
            file(&format!("{d}/a.conf"), "a\n", None),
            testkit::resource(
                "stamp",
                ResourceKind::Command {
                    command: format!("date > {}", quote(&stamp)),
                    creates: Some(stamp.clone()),
                    unless: None,
                },
            ),
            testkit::resource(
                "banner",
                ResourceKind::Line {
                    path: issue.clone(),
                    line: "Support: 0000".into(),
                },
            ),
        ];
        let indexed: Vec<(usize, &ResolvedResource)> = rs.iter().enumerate().collect();
        let script = build(Phase::Converge, &indexed, &[]);
        let stats = |out: &std::process::Output| {
            let rep = parse(&out.stdout);
            assert!(rep.complete, "{}", String::from_utf8_lossy(&out.stdout));
            let calls = std::fs::read_to_string(&log).unwrap_or_default();
            let _ = std::fs::remove_file(&log);
            assert!(!calls.contains("cp "), "{calls}");
            (statuses(&rep), calls.lines().count())
        };
        // First run: nothing the resources before the command read is there, so nothing
        // is read before it; after it ran, the line's file is read (once), and written
        // from what the shell read (not copied: its mode and owner were read after the
        // command).
        let first = exec(&script, Duration::from_secs(60), Some(&bin));
        assert_eq!(stats(&first), (vec![S::Changed; 3], 1));
        assert_eq!(
            std::fs::read_to_string(&issue).unwrap(),
            "Welcome\nSupport: 0000\n"
        );
        // Re-run: all is read once at the start; the command does not run, so what was
        // read still holds for the line.
        let again = exec(&script, Duration::from_secs(60), Some(&bin));
        assert_eq!(stats(&again), (vec![S::Ok; 3], 1));
        // A command that runs between them: read at the start, and again after it.
        std::fs::remove_file(&stamp).unwrap();
        std::fs::write(&issue, "Welcome\n").unwrap();
        let both = exec(&script, Duration::from_secs(60), Some(&bin));
        assert_eq!(stats(&both), (vec![S::Ok, S::Changed, S::Changed], 2));
    }

    #[test]
    fn a_commands_error_output_is_kept_in_the_run_directory_and_emptied_after() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        let pid = dir.path().join("pid").display().to_string();
        let seen = dir.path().join("seen").display().to_string();
        // `$$` in a command is the program's shell: its files are named after it. The
        // first command copies what its own error file holds while it runs.
        let rs = [
            command(
                "warns",
                format!(
                    "echo $$ > {}; echo careful >&2; cat /run/deskready/err/$$.0 > {}",
                    quote(&pid),
                    quote(&seen)
                ),
            ),
            command("fails", "echo 'no such thing' >&2; exit 3".into()),
        ];
        let indexed: Vec<(usize, &ResolvedResource)> = rs.iter().enumerate().collect();
        let script = build(Phase::Converge, &indexed, &[]);
        let out = exec_as(&script, Duration::from_secs(60), None, true, Some(&tmp));
        let rep = parse(&out.stdout);
        assert_eq!(statuses(&rep), [S::Changed, S::Failed]);
        assert_eq!(
            rep.resources[&1].stderr.as_deref().map(str::trim),
            Some("no such thing")
        );
        // Not a directory in TMPDIR (no `mktemp`, no `rm`) ...
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
        // ... but a file for each command in the run directory (root's only) while the
        // program runs, left empty (or removed with others when there are many).
        assert_eq!(std::fs::read_to_string(&seen).unwrap(), "careful\n");
        let pid = std::fs::read_to_string(&pid).unwrap();
        let run = std::path::Path::new("/run/deskready/err");
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(run).unwrap();
        assert_eq!((meta.mode() & 0o777, meta.uid()), (0o700, 0));
        for i in 0..2 {
            let f = run.join(format!("{}.{i}", pid.trim()));
            assert_eq!(std::fs::read(&f).unwrap_or_default(), b"", "{f:?}");
        }
    }

    #[test]
    fn a_program_cut_short_on_stdin_runs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let rs = unstaged(&d);
        let indexed: Vec<(usize, &ResolvedResource)> = rs.iter().enumerate().collect();
        let script = build(Phase::Converge, &indexed, &[]);
        let cut = Script {
            text: script.text.clone(),
            stdin: script.stdin[..script.text.len() - 40].to_vec(),
        };
        let out = exec(&cut, Duration::ZERO, None);
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("@@"),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(!dir.path().join("etc").exists());
    }

    #[test]
    fn busybox_sh_and_its_applets_converge_then_find_nothing_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let big: String = (0..20_000).map(|n| format!("line {n}\n")).collect();
        let rs = vec![
            file(&format!("{d}/a"), "first\n", Some(0o600)),
            file(&format!("{d}/big"), &big, None),
            file(&format!("{d}/empty"), "", None),
            testkit::resource(
                "line",
                ResourceKind::Line {
                    path: format!("{d}/a-list"),
                    line: "x = 1".into(),
                },
            ),
            // Small, but not text a shell word can hold: sent as data.
            file(&format!("{d}/nul"), "a\0b\n", None),
            file(&format!("{d}/tool"), "#!/bin/sh\n", Some(0o755)),
        ];
        let Some(first) = run_busybox(Phase::Converge, &rs, &["test -s a-list || true"]) else {
            return;
        };
        assert_eq!(statuses(&first), [S::Changed; 6]);
        assert_eq!(std::fs::read(format!("{d}/nul")).unwrap(), b"a\0b\n");
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &str| {
            std::fs::metadata(format!("{d}/{p}"))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777
        };
        assert_eq!(
            (mode("tool"), mode("a"), mode("big")),
            (0o755, 0o600, 0o644)
        );
        assert_eq!(std::fs::read_to_string(format!("{d}/big")).unwrap(), big);
        assert_eq!(
            std::fs::read_to_string(format!("{d}/a")).unwrap(),
            "first\n"
        );
        assert_eq!(std::fs::read_to_string(format!("{d}/empty")).unwrap(), "");
        let second = run_busybox(Phase::Converge, &rs, &[]).unwrap();
        assert_eq!(statuses(&second), [S::Ok; 6]);
        // A last line without its newline is ended once, as with GNU sed.
        std::fs::write(format!("{d}/b-list"), "y = 2").unwrap();
        let rs = vec![testkit::resource(
            "line",
            ResourceKind::Line {
                path: format!("{d}/b-list"),
                line: "x = 1".into(),
            },
        )];
        run_busybox(Phase::Converge, &rs, &[]).unwrap();
        assert_eq!(
            std::fs::read_to_string(format!("{d}/b-list")).unwrap(),
            "y = 2\nx = 1\n"
        );
    }

    #[test]
    fn a_line_is_found_whether_its_file_is_small_or_large_and_its_end_unended() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let line = |name: &str| {
            testkit::resource(
                name,
                ResourceKind::Line {
                    path: format!("{d}/{name}"),
                    line: "  x = \\1 ".into(),
                },
            )
        };
        let big = "# filler line\n".repeat(2000);
        let cases = [
            // (name, before, after)
            ("unended", "a\n  x = \\1 ".to_string(), None),
            ("ended", "  x = \\1 \na\n".to_string(), None),
            (
                "near",
                "x = \\1\n  x = \\1\n".to_string(),
                Some("x = \\1\n  x = \\1\n  x = \\1 \n"),
            ),
            ("big", format!("{big}  x = \\1 "), None),
            ("bigmiss", format!("{big}b"), Some("")),
        ];
        for runner in [
            run as fn(Phase, &[ResolvedResource], &[&str]) -> Report,
            |p, r, c| run_busybox(p, r, c).unwrap_or_else(|| run(p, r, c)),
        ] {
            for (name, before, _) in &cases {
                std::fs::write(format!("{d}/{name}"), before).unwrap();
            }
            let rs: Vec<_> = cases.iter().map(|(n, _, _)| line(n)).collect();
            let rep = runner(Phase::Converge, &rs, &[]);
            assert_eq!(
                statuses(&rep),
                [S::Ok, S::Ok, S::Changed, S::Ok, S::Changed],
                "{rep:?}"
            );
            for (name, before, after) in &cases {
                let now = std::fs::read_to_string(format!("{d}/{name}")).unwrap();
                match after {
                    None => assert_eq!(&now, before, "{name}"),
                    Some("") => assert_eq!(now, format!("{before}\n  x = \\1 \n"), "{name}"),
                    Some(a) => assert_eq!(&now, a, "{name}"),
                }
            }
        }
    }

    #[test]
    fn profile_commands_guards_and_checks_run_without_nounset() {
        let dir = tempfile::tempdir().unwrap();
        let made = dir.path().join("made");
        let rs = vec![testkit::resource(
            "guarded",
            ResourceKind::Command {
                command: format!("echo ran >> {}", quote(&made.display().to_string())),
                creates: None,
                // An unset variable is empty in a profile's shell, as in any shell.
                unless: Some("test -z \"$DESKREADY_UNSET_PROXY\"".into()),
            },
        )];
        let rep = run(Phase::Converge, &rs, &["test -z \"$DESKREADY_UNSET_VAR\""]);
        assert_eq!(statuses(&rep), [S::Ok]);
        assert!(!made.exists());
        assert!(rep.checks[&0].passed, "{:?}", rep.checks[&0]);
    }

    #[test]
    fn a_missing_tool_is_named_before_anything_runs() {
        let dir = tempfile::tempdir().unwrap();
        // A PATH with every tool but sha256sum.
        let bin = tempfile::tempdir().unwrap();
        for t in [
            "sh", "cat", "mktemp", "wc", "rm", "base64", "grep", "tail", "head", "stat",
        ] {
            let found = ["/usr/bin", "/bin"]
                .iter()
                .map(|d| std::path::Path::new(d).join(t))
                .find(|p| p.exists())
                .unwrap();
            std::os::unix::fs::symlink(found, bin.path().join(t)).unwrap();
        }
        let rs = [file(&dir.path().join("f").display().to_string(), "x", None)];
        let indexed: Vec<(usize, &ResolvedResource)> = rs.iter().enumerate().collect();
        let script = build(Phase::Converge, &indexed, &[]);
        let mut child = std::process::Command::new(bin.path().join("sh"))
            .env("PATH", bin.path())
            .arg("-c")
            .arg(script.command_within(Duration::ZERO))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&script.stdin)
            .unwrap();
        let rep = parse(&child.wait_with_output().unwrap().stdout);
        assert!(!rep.complete);
        assert!(rep.resources.is_empty());
        assert!(
            rep.missing_tools.contains(&"sha256sum".to_string()),
            "{rep:?}"
        );
        assert!(!dir.path().join("f").exists());
    }

    #[test]
    fn the_bootstrap_passes_any_login_shell_untouched() {
        for staged in [false, true] {
            let b = Dialect::Posix.bootstrap_within(staged, Duration::ZERO);
            let inner = b
                .strip_prefix("sh -c '")
                .and_then(|r| r.strip_suffix('\''))
                .unwrap_or_else(|| panic!("not under sh -c '…': {b}"));
            assert!(!inner.contains(['\'', '\n', '!']), "{b}");
        }
    }

    #[test]
    fn a_transfer_cut_short_runs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big");
        let big = "x".repeat(200_000);
        let rs = [file(&p.display().to_string(), &big, None)];
        let indexed: Vec<(usize, &ResolvedResource)> = rs.iter().enumerate().collect();
        let script = build(Phase::Converge, &indexed, &[]);
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(script.command_within(Duration::ZERO))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        // The program and part of the content arrive, then the connection is gone.
        let cut = script.text.len() + 1000;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&script.stdin[..cut])
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let rep = parse(&out.stdout);
        assert!(!rep.complete && rep.resources.is_empty(), "{rep:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("@@STAGE short"));
        assert!(!p.exists());
    }

    #[test]
    fn a_target_its_tools_cannot_read_fails_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a-directory");
        std::fs::create_dir(&p).unwrap();
        let rs = [file(&p.display().to_string(), "x", None)];
        let rep = run(Phase::Plan, &rs, &[]);
        assert_eq!(statuses(&rep), [S::Failed]);
        let why = rep.resources[&0].stderr.clone().unwrap_or_default();
        assert!(
            why.starts_with(&format!("sha256sum could not read {}: ", p.display())),
            "{why}"
        );
    }

    #[test]
    fn leftovers_of_cut_runs_are_removed_when_nothing_changes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("conf");
        std::fs::write(&p, "same\n").unwrap();
        let beside = dir.path().join(".conf.deskready-12345");
        std::fs::write(&beside, "half").unwrap();
        // A staging directory whose program is gone (no pid is that large).
        let stale = std::path::Path::new("/tmp/deskready.stale-test");
        std::fs::create_dir_all(stale).unwrap();
        std::fs::write(stale.join("pid"), "2147483646\n").unwrap();
        std::fs::write(stale.join("program"), "old").unwrap();
        let rs = vec![file(&p.display().to_string(), "same\n", None)];
        let plan = run(Phase::Plan, &rs, &[]);
        assert_eq!(statuses(&plan), [S::Ok]);
        assert!(beside.exists(), "plan changes nothing beside the target");
        let rep = run(Phase::Converge, &rs, &[]);
        assert_eq!(statuses(&rep), [S::Ok]);
        assert!(!beside.exists());
        assert!(!stale.exists());
    }

    #[test]
    fn a_symlinked_target_owned_by_root_is_written_through() {
        if unsafe { libc::geteuid() } != 0 {
            #[expect(
                clippy::print_stderr,
                reason = "tells the test runner why it was skipped"
            )]
            {
                eprintln!("not root; skipped");
            }
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.conf");
        let link = dir.path().join("link.conf");
        std::fs::write(&real, "old\n").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let rs = vec![file(&link.display().to_string(), "new\n", Some(0o640))];
        let first = run(Phase::Converge, &rs, &[]);
        assert_eq!(statuses(&first), [S::Changed]);
        assert_eq!(first.resources[&0].old.as_deref(), Some(&b"old\n"[..]));
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new\n");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&real).unwrap().permissions().mode() & 0o777,
            0o640
        );
        let again = run(Phase::Converge, &rs, &[]);
        assert_eq!(statuses(&again), [S::Ok]);
    }

    #[test]
    fn a_line_in_a_symlinked_file_owned_by_root_is_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n).display().to_string();
        // As /etc/resolv.conf pointing into /run; the second one made a link by a command
        // the program runs first.
        std::fs::write(p("stub.conf"), "nameserver 127.0.0.53\n").unwrap();
        std::os::unix::fs::symlink(p("stub.conf"), p("resolv.conf")).unwrap();
        std::fs::write(p("other.conf"), "a\nold\n").unwrap();
        let line = |n: &str, l: &str, absent: bool| {
            let mut r = testkit::resource(
                n,
                ResourceKind::Line {
                    path: p(n),
                    line: l.into(),
                },
            );
            r.resource.absent = absent;
            r
        };
        let rs = [
            line("resolv.conf", "options timeout:1", false),
            command(
                "links",
                format!(
                    "ln -sf {} {}",
                    quote(&p("other.conf")),
                    quote(&p("made.conf"))
                ),
            ),
            line("made.conf", "b", false),
            line("made.conf", "old", true),
        ];
        for runner in [
            run as fn(Phase, &[ResolvedResource], &[&str]) -> Report,
            |p, r, c| run_busybox(p, r, c).unwrap_or_else(|| run(p, r, c)),
        ] {
            // (the command does not run in a plan: the second file is not there)
            let plan = runner(Phase::Plan, &rs, &[]);
            assert_eq!(
                statuses(&plan),
                [S::Drift, S::Drift, S::Drift, S::Ok],
                "{plan:?}"
            );
            let rep = runner(Phase::Converge, &rs, &[]);
            assert_eq!(statuses(&rep), [S::Changed; 4], "{rep:?}");
            for n in ["resolv.conf", "made.conf"] {
                assert!(
                    std::fs::symlink_metadata(p(n)).unwrap().is_symlink(),
                    "{n} is no longer a link"
                );
            }
            assert_eq!(
                ["stub.conf", "other.conf"].map(|n| std::fs::read_to_string(p(n)).unwrap()),
                ["nameserver 127.0.0.53\noptions timeout:1\n", "a\nb\n"]
            );
            let again = runner(Phase::Converge, &rs, &[]);
            assert_eq!(
                statuses(&again),
                [S::Ok, S::Changed, S::Ok, S::Ok],
                "{again:?}"
            );
            std::fs::write(p("stub.conf"), "nameserver 127.0.0.53\n").unwrap();
            std::fs::write(p("other.conf"), "a\nold\n").unwrap();
            std::fs::remove_file(p("made.conf")).unwrap();
        }
        // A link owned by anyone else is refused (its owner would choose what root
        // writes).
        std::os::unix::fs::symlink(p("stub.conf"), p("theirs.conf")).unwrap();
        std::os::unix::fs::lchown(p("theirs.conf"), Some(65534), Some(65534)).unwrap();
        let rep = run(Phase::Converge, &[line("theirs.conf", "x", false)], &[]);
        assert_eq!(rep.resources[&0].status, S::Failed);
        assert!(
            rep.resources[&0]
                .stderr
                .as_deref()
                .is_some_and(|e| e.contains("owned by nobody, not root")),
            "{rep:?}"
        );
        assert_eq!(
            std::fs::read_to_string(p("stub.conf")).unwrap(),
            "nameserver 127.0.0.53\n"
        );
    }

    #[test]
    fn temp_files_cut_runs_left_beside_a_links_target_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n).display().to_string();
        for n in ["real.conf", "real.list"] {
            std::fs::write(p(n), "psk=1\n").unwrap();
            std::os::unix::fs::symlink(p(n), p(&format!("link-{n}"))).unwrap();
            // (a write through the link, cut off before its rename: what it held may be
            // secret)
            std::fs::write(p(&format!(".{n}.deskready-2147483646")), "psk=2\n").unwrap();
        }
        let rs = [
            file(&p("link-real.conf"), "psk=1\n", None),
            testkit::resource(
                "line",
                ResourceKind::Line {
                    path: p("link-real.list"),
                    line: "psk=2".into(),
                },
            ),
        ];
        let rep = run(Phase::Converge, &rs, &[]);
        assert_eq!(statuses(&rep), [S::Ok, S::Changed]);
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            ["link-real.conf", "link-real.list", "real.conf", "real.list"]
        );
    }

    #[test]
    fn a_plan_shows_the_handlers_a_drifted_resource_would_run() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("app.conf");
        std::fs::write(&p, "old\n").unwrap();
        let mut conf = file(&p.display().to_string(), "new\n", None);
        conf.resource.notify = vec!["rebuild".into()];
        let same = file(&dir.path().join("b").display().to_string(), "", None);
        std::fs::write(dir.path().join("b"), "").unwrap();
        let handler = |name: &str| {
            testkit::resource(
                name,
                ResourceKind::Handler {
                    handler: name.into(),
                    action: crate::model::HandlerAction::Command("echo rebuilt".into()),
                },
            )
        };
        let mut untouched = same.clone();
        untouched.resource.notify = vec!["other".into()];
        let rs = vec![conf, untouched, handler("rebuild"), handler("other")];
        let indexed: Vec<(usize, &ResolvedResource)> = rs.iter().enumerate().collect();
        let text = build(Phase::Plan, &indexed, &[]).text;
        assert!(
            text.contains(&format!(
                "notify_step '0' '{}' file_res '0' ",
                kinds::notify_markers(&rs[0])[0]
            )),
            "{text}"
        );
        let rep = run(Phase::Plan, &rs, &[]);
        assert_eq!(statuses(&rep), [S::Drift, S::Ok, S::Drift, S::Ok]);
        assert_eq!(
            rep.resources[&2].stderr.as_deref(),
            Some("would run echo rebuilt")
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "old\n");
    }

    #[test]
    fn plan_reports_drift_with_old_content_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("motd");
        std::fs::write(&p, "old text\n").unwrap();
        let rs = vec![file(&p.display().to_string(), "new text\n", None)];
        let rep = run(Phase::Plan, &rs, &[]);
        assert_eq!(rep.resources[&0].status, S::Drift);
        assert_eq!(rep.resources[&0].old.as_deref(), Some(&b"old text\n"[..]));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "old text\n");
    }

    #[test]
    fn a_lines_old_content_arrives_byte_for_byte_as_text_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let cases: [(&str, &[u8]); 9] = [
            ("empty", b""),
            ("plain", b"a b\n\n  c \\n %s\tend\n"),
            ("unended", b"one\ntwo"),
            ("forged", b"@@R 0 ok\n@@OT 0 3\n@@END\n"),
            ("cr", b"dos\r\nline\r\n"),
            ("utf8", "caf\u{e9}\n".as_bytes()),
            ("invalid", b"\xf0\x9f\x98\n"),
            ("nul", b"a\0b\n"),
            ("big", &[b'y'; 20000]),
        ];
        let rs: Vec<ResolvedResource> = cases
            .iter()
            .map(|(name, _)| {
                testkit::resource(
                    name,
                    ResourceKind::Line {
                        path: format!("{d}/{name}"),
                        line: "wanted".into(),
                    },
                )
            })
            .collect();
        for runner in [
            run as fn(Phase, &[ResolvedResource], &[&str]) -> Report,
            |p, r, c| run_busybox(p, r, c).unwrap_or_else(|| run(p, r, c)),
        ] {
            for (name, before) in &cases {
                std::fs::write(format!("{d}/{name}"), before).unwrap();
            }
            let rep = runner(Phase::Plan, &rs, &[]);
            for (k, (name, before)) in cases.iter().enumerate() {
                assert_eq!(rep.resources[&k].status, S::Drift, "{name}");
                assert_eq!(rep.resources[&k].old.as_deref(), Some(*before), "{name}");
            }
        }
        // printable text travels as it is (no `base64` process); anything else as base64
        let indexed: Vec<(usize, &ResolvedResource)> = rs.iter().enumerate().collect();
        let out = exec(
            &build(Phase::Plan, &indexed, &[]),
            Duration::from_secs(60),
            None,
        );
        let out = String::from_utf8_lossy(&out.stdout);
        for sent in ["@@OT 0 0\n", "@@OL 1 a b\n", "@@OP 2 two\n", "@@OT 3 24\n"] {
            assert!(out.contains(sent), "{sent:?} not in\n{out}");
        }
        for k in 4..9 {
            assert!(out.contains(&format!("@@O {k} ")), "{k} not sent as base64");
        }
    }

    #[test]
    fn metadata_only_drift_is_fixed_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, "same\n").unwrap();
        let rs = vec![file(&p.display().to_string(), "same\n", Some(0o600))];
        let rep = run(Phase::Converge, &rs, &[]);
        assert_eq!(rep.resources[&0].status, S::Changed);
        assert!(rep.resources[&0].old.is_none(), "content did not change");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn a_directory_in_a_set_group_id_parent_gets_exactly_its_mode_and_then_holds() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        // A shared directory whose new subdirectories inherit its group and its
        // set-group-ID bit (as /srv/share often is).
        let share = dir.path().join("share");
        std::fs::create_dir(&share).unwrap();
        std::fs::set_permissions(&share, std::fs::Permissions::from_mode(0o2775)).unwrap();
        let mode =
            |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        let dirs = |names: &[(&str, u32)]| -> Vec<ResolvedResource> {
            names
                .iter()
                .map(|(n, m)| {
                    testkit::resource(
                        n,
                        ResourceKind::Directory {
                            path: share.join(n).display().to_string(),
                            mode: Some(*m),
                            owner: None,
                            group: None,
                        },
                    )
                })
                .collect()
        };
        // New (made by mkdir), one of them below a parent made with it; and one already
        // there with the bit, its mode otherwise right (set by install).
        std::fs::create_dir(share.join("old")).unwrap();
        assert_eq!(mode(&share.join("old")), 0o2755);
        let rs = dirs(&[
            ("private", 0o750),
            ("deep/er", 0o700),
            ("old", 0o755),
            ("kept", 0o2770),
        ]);
        for runner in [
            run as fn(Phase, &[ResolvedResource], &[&str]) -> Report,
            |p, r, c| run_busybox(p, r, c).unwrap_or_else(|| run(p, r, c)),
        ] {
            let first = runner(Phase::Converge, &rs, &[]);
            assert_eq!(statuses(&first), [S::Changed; 4], "{first:?}");
            assert_eq!(
                ["private", "deep/er", "old", "kept"].map(|n| mode(&share.join(n))),
                [0o750, 0o700, 0o755, 0o2770]
            );
            let again = runner(Phase::Converge, &rs, &[]);
            assert_eq!(statuses(&again), [S::Ok; 4], "{again:?}");
            for n in ["private", "deep/er", "deep", "kept"] {
                std::fs::remove_dir(share.join(n)).unwrap();
            }
            std::fs::set_permissions(share.join("old"), std::fs::Permissions::from_mode(0o2755))
                .unwrap();
        }
    }

    #[test]
    fn a_failed_command_reports_code_and_stderr_and_stops_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let later = dir.path().join("later");
        let rs = vec![
            testkit::resource(
                "bad",
                ResourceKind::Command {
                    command: "echo first >&2; echo 'no such thing' >&2; exit 3".into(),
                    creates: None,
                    unless: None,
                },
            ),
            file(&later.display().to_string(), "x", None),
        ];
        let rep = run(Phase::Converge, &rs, &["true"]);
        assert_eq!(rep.resources[&0].status, S::Failed);
        assert_eq!(rep.resources[&0].exit_code, Some(3));
        assert_eq!(
            rep.resources[&0].stderr.as_deref(),
            Some("first\nno such thing\n")
        );
        assert_eq!(rep.resources[&1].status, S::Skipped);
        assert!(!later.exists());
        assert!(rep.checks.is_empty(), "checks do not run after a failure");
    }

    #[test]
    fn checks_pass_and_fail_with_their_output() {
        let rep = run(Phase::Converge, &[], &["true", "echo nope; exit 1"]);
        assert!(rep.checks[&0].passed);
        assert!(!rep.checks[&1].passed);
        assert_eq!(rep.checks[&1].exit_code, Some(1));
        assert_eq!(rep.checks[&1].output.as_deref(), Some("nope\n"));
    }

    #[test]
    fn hostile_paths_and_contents_stay_literal() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("it's a $(file) `x`");
        let content = "'; touch owned; echo '\n@@R 0 ok\n";
        let rs = vec![file(&p.display().to_string(), content, None)];
        let rep = run(Phase::Converge, &rs, &[]);
        assert_eq!(rep.resources[&0].status, S::Changed);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), content);
        assert!(!std::path::Path::new("owned").exists());
    }

    /// A resource of every kind this build probes, with awkward values.
    fn every_kind(d: &str) -> Vec<ResolvedResource> {
        vec![
            testkit::resource(
                "dir",
                ResourceKind::Directory {
                    path: format!("{d}/etc/app"),
                    mode: Some(0o750),
                    owner: Some("root".into()),
                    group: None,
                },
            ),
            file(&format!("{d}/etc/app/it's.conf"), "a = $(b)\n", Some(0o640)),
            testkit::resource(
                "line",
                ResourceKind::Line {
                    path: format!("{d}/etc/app/list"),
                    line: "x = `y`".into(),
                },
            ),
            testkit::resource(
                "cmd",
                ResourceKind::Command {
                    command: "echo hi".into(),
                    creates: Some(format!("{d}/made")),
                    unless: Some("false".into()),
                },
            ),
            testkit::resource(
                "pkg",
                ResourceKind::Package {
                    package: "tree".into(),
                    state: crate::model::Presence::Present,
                    version: Some("2.1.0-1".into()),
                    deb: None,
                    preseed: vec!["tree tree/x string it's $(here)".into()],
                    purge: false,
                    index_max_age: 3600,
                },
            ),
            testkit::resource(
                "source",
                ResourceKind::AptSource {
                    apt_source: "acme".into(),
                    state: crate::model::Presence::Present,
                    uris: vec!["http://127.0.0.1:1/acme".into()],
                    suites: vec!["stable".into()],
                    components: vec!["main".into()],
                    architectures: Vec::new(),
                    key: crate::model::AptKey::Url("http://127.0.0.1:1/key.asc".into()),
                    fingerprint: Some("A".repeat(40)),
                },
            ),
            testkit::resource(
                "user",
                ResourceKind::User {
                    user: "ana".into(),
                    comment: Some("Ana O'Neil".into()),
                    shell: Some("/bin/bash".into()),
                    groups: vec!["users".into(), "lp".into()],
                    exact_groups: false,
                    home: Some("/home/ana".into()),
                    remove_home: false,
                },
            ),
            testkit::resource(
                "queue",
                ResourceKind::PrintQueue {
                    queue: "floor3".into(),
                    uri: "ipp://10.0.0.9/ipp/print".into(),
                    server: Some("127.0.0.1:631".into()),
                    location: Some("3rd floor".into()),
                    description: None,
                    shared: true,
                    options: [("media".to_string(), "iso_a4_210x297mm".to_string())]
                        .into_iter()
                        .collect(),
                    allowed_users: vec!["bob".into(), "ana".into()],
                },
            ),
            testkit::resource(
                "service",
                ResourceKind::Service {
                    service: "cups".into(),
                    state: ServiceState::Running,
                    enabled: Some(true),
                },
            ),
        ]
    }

    /// Runs shellcheck on `text`, when shellcheck is installed. Values in a program are
    /// single-quoted on purpose, `$` and backquotes included (SC2016 is about that).
    #[expect(
        clippy::print_stderr,
        reason = "tells the test runner why the check was skipped"
    )]
    fn shellcheck(text: &str) {
        let Ok(mut child) = std::process::Command::new("shellcheck")
            .args(["-s", "sh", "-e", "SC2016", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
        else {
            eprintln!("shellcheck is not installed; skipped");
            return;
        };
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "shellcheck:\n{}\nprogram:\n{text}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    #[test]
    fn built_programs_pass_shellcheck() {
        let mut rs = every_kind("/srv/t");
        // A notifying file and resource, and the handlers they notify.
        for r in rs.iter_mut().take(2) {
            r.resource.notify = vec!["restart app".into(), "refresh".into()];
        }
        rs.push(testkit::resource(
            "restart app",
            ResourceKind::Handler {
                handler: "restart app".into(),
                action: crate::model::HandlerAction::Restart("app".into()),
            },
        ));
        rs.push(testkit::resource(
            "refresh",
            ResourceKind::Handler {
                handler: "refresh".into(),
                action: crate::model::HandlerAction::Command("true".into()),
            },
        ));
        let indexed: Vec<(usize, &ResolvedResource)> = rs.iter().enumerate().collect();
        for phase in [Phase::Plan, Phase::Converge] {
            shellcheck(&build(phase, &indexed, &[(0, "test -d /etc"), (1, "true")]).text);
        }
        shellcheck(&test_page("", "floor3", "PRN-0001").text);
        shellcheck(&build(Phase::Converge, &[], &[]).text);
    }

    #[test]
    fn values_reach_the_program_only_quoted() {
        let rs = every_kind("/srv/t");
        let indexed: Vec<(usize, &ResolvedResource)> = rs.iter().enumerate().collect();
        let text = build(Phase::Converge, &indexed, &[]).text;
        assert!(text.contains(&quote("Ana O'Neil")), "{text}");
        assert!(text.contains(&quote("x = `y`")), "{text}");
        assert!(text.contains(&quote("media=iso_a4_210x297mm")), "{text}");
    }

    #[test]
    fn absent_files_directories_and_lines_are_removed_once_and_plan_removes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("gone.conf"), "x\n").unwrap();
        std::fs::create_dir_all(d.join("olddir/sub")).unwrap();
        std::fs::write(d.join("olddir/sub/f"), "y").unwrap();
        std::fs::write(d.join("list"), "keep\ndrop\nkeep too\ndrop\n").unwrap();
        let absent = |mut r: ResolvedResource| {
            r.resource.absent = true;
            r
        };
        let p = |n: &str| d.join(n).display().to_string();
        let rs = vec![
            absent(testkit::file(&d.join("gone.conf"), "")),
            absent(testkit::resource(
                "dir",
                ResourceKind::Directory {
                    path: p("olddir"),
                    mode: None,
                    owner: None,
                    group: None,
                },
            )),
            absent(testkit::resource(
                "line",
                ResourceKind::Line {
                    path: p("list"),
                    line: "drop".into(),
                },
            )),
            absent(testkit::file(&d.join("never-there"), "")),
        ];
        let plan = run(Phase::Plan, &rs, &[]);
        let st: Vec<S> = (0..4).map(|i| plan.resources[&i].status).collect();
        assert_eq!(st, [S::Drift, S::Drift, S::Drift, S::Ok]);
        assert_eq!(
            plan.resources[&0].stderr.as_deref(),
            Some(format!("would remove {}", p("gone.conf")).as_str())
        );
        assert!(d.join("gone.conf").exists() && d.join("olddir/sub/f").exists());
        let fix = run(Phase::Converge, &rs, &[]);
        let st: Vec<S> = (0..4).map(|i| fix.resources[&i].status).collect();
        assert_eq!(st, [S::Changed, S::Changed, S::Changed, S::Ok]);
        assert!(!d.join("gone.conf").exists() && !d.join("olddir").exists());
        assert_eq!(
            std::fs::read_to_string(d.join("list")).unwrap(),
            "keep\nkeep too\n"
        );
        let again = run(Phase::Converge, &rs, &[]);
        assert!((0..4).all(|i| again.resources[&i].status == S::Ok));
    }

    #[test]
    fn plan_of_every_kind_reports_on_each_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let rs: Vec<ResolvedResource> = every_kind(&d)
            .into_iter()
            .filter(|r| supported(r.kind()) && !matches!(r.kind(), ResourceKind::PrintQueue { .. }))
            .collect();
        let rep = run(Phase::Plan, &rs, &[]);
        assert_eq!(rep.resources.len(), rs.len());
        assert_eq!(rep.resources[&0].status, S::Drift);
        assert_eq!(rep.resources[&3].status, S::Drift, "the command would run");
        assert!(!dir.path().join("etc").exists());
    }

    /// Live processes whose command line holds `marker`.
    fn alive(marker: &str) -> bool {
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let zombie = stat
                .rfind(')')
                .is_some_and(|i| stat[i + 2..].starts_with('Z'));
            !zombie
                && std::fs::read(e.path().join("cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
        })
    }

    #[test]
    fn a_program_past_its_deadline_is_killed_with_everything_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let sleeper = dir.path().join("deadline-sleeper");
        std::fs::copy("/bin/sleep", &sleeper).unwrap();
        let marker = sleeper.display().to_string();
        let rs = [testkit::resource(
            "long",
            ResourceKind::Command {
                command: format!("{} 1000 & {} 1000", quote(&marker), quote(&marker)),
                creates: None,
                unless: None,
            },
        )];
        let indexed: Vec<(usize, &ResolvedResource)> = rs.iter().enumerate().collect();
        let script = build(Phase::Converge, &indexed, &[]);
        let started = std::time::Instant::now();
        let out = exec(&script, Duration::from_secs(1), None);
        // The deadline (1 s) plus the watchdog's grace (2 s), its 1 s beat and the 1 s it
        // gives the program to end on TERM.
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            out.status.code(),
            Some(128 + 15),
            "ended by TERM, its traps run"
        );
        assert!(!parse(&out.stdout).complete);
        let gone = (0..50).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            !alive(&marker)
        });
        assert!(gone, "a process the program started outlived its deadline");
    }

    #[test]
    fn a_program_past_its_deadline_ends_what_it_started_in_a_session_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        // Outside the program's process group, as apt's dpkg is: `setsid`.
        let sleeper = dir.path().join("deadline-setsid-sleeper");
        std::fs::copy("/bin/sleep", &sleeper).unwrap();
        let marker = sleeper.display().to_string();
        let rs = [testkit::resource(
            "detached",
            ResourceKind::Command {
                command: format!("setsid {} 1000 & wait", quote(&marker)),
                creates: None,
                unless: None,
            },
        )];
        let indexed: Vec<(usize, &ResolvedResource)> = rs.iter().enumerate().collect();
        let script = build(Phase::Converge, &indexed, &[]);
        // Whether the device's shell leads its group (the watch beside the program) or not
        // (the program started again under `setsid`, the watch beside it).
        for lead in [true, false] {
            let started = std::time::Instant::now();
            let out = exec_as(&script, Duration::from_secs(1), None, lead, None);
            assert!(
                started.elapsed() < Duration::from_secs(8),
                "{:?}",
                started.elapsed()
            );
            assert!(!parse(&out.stdout).complete);
            let gone = (0..50).any(|_| {
                std::thread::sleep(Duration::from_millis(100));
                !alive(&marker)
            });
            assert!(
                gone,
                "a process the program started in a session of its own outlived its deadline \
                 (the shell leading its group: {lead})"
            );
        }
    }

    #[test]
    fn a_program_past_its_deadline_removes_its_half_written_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        // `sync` runs between writing the temp file beside the target and renaming it:
        // here it hangs, so the deadline passes while the temp file is there.
        let sleeper = bin.join("deadline-sync-sleeper");
        std::fs::copy("/bin/sleep", &sleeper).unwrap();
        let sync = bin.join("sync");
        std::fs::write(
            &sync,
            format!(
                "#!/bin/sh\nexec {} 1000\n",
                quote(&sleeper.display().to_string())
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&sync, std::fs::Permissions::from_mode(0o755)).unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir(&etc).unwrap();
        let target = etc.join("wifi.conf");
        let rs = [file(&target.display().to_string(), "psk=hunter2\n", None)];
        let indexed: Vec<(usize, &ResolvedResource)> = rs.iter().enumerate().collect();
        let script = build(Phase::Converge, &indexed, &[]);
        let out = exec(&script, Duration::from_secs(1), Some(&bin));
        assert!(!parse(&out.stdout).complete);
        let left: Vec<_> = std::fs::read_dir(&etc)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "left beside the target: {left:?}");
        let marker = sleeper.display().to_string();
        let gone = (0..50).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            !alive(&marker)
        });
        assert!(gone, "the hung command outlived the deadline");
    }

    #[test]
    fn a_cut_programs_error_output_is_emptied_by_its_end_or_by_the_next_program() {
        let dir = tempfile::tempdir().unwrap();
        let pid = dir.path().join("pid").display().to_string();
        let sleeper = dir.path().join("error-output-sleeper");
        std::fs::copy("/bin/sleep", &sleeper).unwrap();
        let rs = [command(
            "hangs",
            format!(
                "echo $$ > {}; echo leaked >&2; exec {} 1000",
                quote(&pid),
                quote(&sleeper.display().to_string())
            ),
        )];
        let indexed: Vec<(usize, &ResolvedResource)> = rs.iter().enumerate().collect();
        let script = build(Phase::Converge, &indexed, &[]);
        let held = || {
            let p = std::fs::read_to_string(&pid).unwrap_or_default();
            let f = std::path::Path::new("/run/deskready/err").join(format!("{}.0", p.trim()));
            (f.clone(), std::fs::read(&f).unwrap_or_default())
        };
        // Past its deadline: the watch ends it (TERM), and its trap empties the file (or
        // removes it, with those of other programs that ended, when there are many).
        let out = exec(&script, Duration::from_secs(1), None);
        assert!(!parse(&out.stdout).complete);
        let (f, left) = held();
        assert_eq!(left, b"", "{f:?}");
        // Killed outright (no trap runs): the next program on the device empties it.
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("bash")
            .process_group(0)
            .arg("-c")
            .arg(script.command_within(Duration::ZERO))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&script.stdin)
            .unwrap();
        let start = std::time::Instant::now();
        while held().1 != b"leaked\n" {
            assert!(start.elapsed() < Duration::from_secs(30), "no output held");
            std::thread::sleep(Duration::from_millis(20));
        }
        let group = i32::try_from(child.id()).unwrap();
        // SAFETY: kill(2) on the process group this test started.
        unsafe { libc::kill(-group, libc::SIGKILL) };
        child.wait().unwrap();
        // (removed meanwhile only when another program found many files of programs
        // that ended: then it is gone already)
        let (f, left) = held();
        assert!(left == b"leaked\n" || !f.exists(), "{f:?}");
        run(Phase::Plan, &[], &[]);
        assert_eq!(std::fs::read(&f).unwrap_or_default(), b"", "{f:?}");
    }

    #[test]
    fn a_killed_programs_error_output_is_emptied_though_its_pid_runs_something_else_now() {
        let run_dir = std::path::Path::new("/run/deskready/err");
        // The run directory, made as a program makes it.
        let rs = [command("makes the run directory", "true".into())];
        assert_eq!(statuses(&run(Phase::Converge, &rs, &[])), [S::Changed]);
        // A program killed outright left a command's error output; its pid has since
        // been given to a process that is not a deskready program (and lives on).
        let mut other = std::process::Command::new("sleep")
            .arg("1000")
            .spawn()
            .unwrap();
        let left = run_dir.join(format!("{}.0", other.id()));
        std::fs::write(&left, "psk=hunter2\n").unwrap();
        // A deskready program that runs meanwhile keeps its own error output: its
        // command waits, holding what it wrote, until the next program has ended.
        let dir = tempfile::tempdir().unwrap();
        let d = |n: &str| dir.path().join(n).display().to_string();
        let rs = [command(
            "waits",
            format!(
                "echo $$ > {pid}; echo mine >&2; while [ ! -e {go} ]; do sleep 0.05; done; \
                 cat /run/deskready/err/$$.0 > {seen}",
                pid = quote(&d("pid")),
                go = quote(&d("go")),
                seen = quote(&d("seen")),
            ),
        )];
        let indexed: Vec<(usize, &ResolvedResource)> = rs.iter().enumerate().collect();
        let script = build(Phase::Converge, &indexed, &[]);
        let waiting = std::thread::spawn(move || exec(&script, Duration::from_secs(60), None));
        let start = std::time::Instant::now();
        let held = || {
            let p = std::fs::read_to_string(d("pid")).unwrap_or_default();
            std::fs::read(run_dir.join(format!("{}.0", p.trim()))).unwrap_or_default()
        };
        while held() != b"mine\n" {
            assert!(start.elapsed() < Duration::from_secs(30), "no output held");
            std::thread::sleep(Duration::from_millis(20));
        }
        // The next program on the device.
        run(Phase::Plan, &[], &[]);
        let now = std::fs::read(&left).unwrap_or_default();
        std::fs::write(d("go"), "").unwrap();
        let out = waiting.join().unwrap();
        other.kill().unwrap();
        other.wait().unwrap();
        let _ = std::fs::remove_file(&left);
        assert_eq!(String::from_utf8_lossy(&now), "", "{left:?}");
        assert_eq!(statuses(&parse(&out.stdout)), [S::Changed]);
        assert_eq!(std::fs::read_to_string(d("seen")).unwrap(), "mine\n");
    }

    #[test]
    fn a_killed_programs_directory_is_removed_though_its_pid_runs_something_else_now() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        // A program killed outright left its directory, with what it staged; its pid has
        // since been given to a process that is not a deskready program (and lives on).
        let mut other = std::process::Command::new("sleep")
            .arg("1000")
            .spawn()
            .unwrap();
        let left = tmp.join("deskready.Zq8kP2aa");
        std::fs::create_dir(&left).unwrap();
        std::fs::write(left.join("pid"), format!("{}\n", other.id())).unwrap();
        std::fs::write(left.join("program"), "psk=hunter2\n").unwrap();
        // A deskready program that runs meanwhile from its own directory (its shell does
        // not lead its group) keeps it: its command waits until the next program ended.
        let d = |n: &str| dir.path().join(n).display().to_string();
        let rs = [command(
            "waits",
            format!(
                "touch {started}; while [ ! -e {go} ]; do sleep 0.05; done",
                started = quote(&d("started")),
                go = quote(&d("go")),
            ),
        )];
        let indexed: Vec<(usize, &ResolvedResource)> = rs.iter().enumerate().collect();
        let script = build(Phase::Converge, &indexed, &[]);
        let t = tmp.clone();
        let waiting = std::thread::spawn(move || {
            exec_as(&script, Duration::from_secs(60), None, false, Some(&t))
        });
        let start = std::time::Instant::now();
        while !std::path::Path::new(&d("started")).exists() {
            assert!(start.elapsed() < Duration::from_secs(30), "never started");
            std::thread::sleep(Duration::from_millis(20));
        }
        // The next program on the device.
        let rs = [file(&d("f"), "f\n", None)];
        let indexed: Vec<(usize, &ResolvedResource)> = rs.iter().enumerate().collect();
        let next = exec_as(
            &build(Phase::Plan, &indexed, &[]),
            Duration::from_secs(60),
            None,
            true,
            Some(&tmp),
        );
        let now: Vec<_> = std::fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        std::fs::write(d("go"), "").unwrap();
        let out = waiting.join().unwrap();
        other.kill().unwrap();
        other.wait().unwrap();
        assert!(parse(&next.stdout).complete);
        assert_eq!(statuses(&parse(&out.stdout)), [S::Changed]);
        assert_eq!(now.len(), 1, "{now:?}");
        assert_ne!(now[0], "deskready.Zq8kP2aa");
    }

    /// Runs `script` as [`exec`] does, with its deadline 60 s, in a mount namespace of its
    /// own, after `setup` (shell, run first, as root) has changed what the program should
    /// meet there (the run directory).
    fn exec_private(
        script: &Script,
        setup: &str,
        bin: Option<&std::path::Path>,
    ) -> std::process::Output {
        use std::io::Write;
        use std::os::unix::process::CommandExt;
        let mut cmd = std::process::Command::new("unshare");
        // unshare, its shell and bash each become the next (`exec`): the device's shell
        // leads the process group, as under sshd.
        cmd.process_group(0)
            .args(["--mount", "--propagation", "private", "/bin/sh", "-c"])
            .arg(format!("set -e\n{setup}\nexec bash -c \"$0\""))
            .arg(script.command_within(Duration::from_secs(60)))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        if let Some(bin) = bin {
            let path = std::env::var("PATH").unwrap_or_default();
            cmd.env("PATH", format!("{}:{path}", bin.display()));
        }
        let mut child = cmd.spawn().unwrap();
        let _ = child.stdin.take().unwrap().write_all(&script.stdin);
        child.wait_with_output().unwrap()
    }

    #[test]
    fn a_killed_programs_error_output_is_emptied_by_the_next_program_given_its_pid() {
        // A run directory of this test's own (bound over the device's), and a pid
        // namespace of the program's own, where the pid it gets is known beforehand: a
        // program killed outright had it, and left its command's error output.
        let dir = tempfile::tempdir().unwrap();
        let err = dir.path().join("err");
        std::fs::create_dir(&err).unwrap();
        let left = err.join("5000.3");
        std::fs::write(&left, "psk=hunter2\n").unwrap();
        let d = dir.path().display().to_string();
        let rs = [file(&format!("{d}/f"), "f\n", None)];
        let indexed: Vec<(usize, &ResolvedResource)> = rs.iter().enumerate().collect();
        let script = build(Phase::Plan, &indexed, &[]);
        use std::io::Write;
        use std::os::unix::process::CommandExt;
        // (the namespace's first process forks the program, as pid 5000, in a session of
        // its own: it leads its group, as under sshd)
        let mut child = std::process::Command::new("unshare")
            .process_group(0)
            .args(["--pid", "--fork", "--mount-proc", "--mount"])
            .args(["--propagation", "private", "/bin/sh", "-c"])
            .arg(format!(
                "set -e; umask 077; mkdir -p /run/deskready/err
                mount --bind {} /run/deskready/err
                echo 4999 > /proc/sys/kernel/ns_last_pid; setsid bash -c \"$0\"",
                quote(&err.display().to_string())
            ))
            .arg(script.command_within(Duration::from_secs(60)))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(&script.stdin);
        let out = child.wait_with_output().unwrap();
        let rep = parse(&out.stdout);
        assert!(
            rep.complete,
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(statuses(&rep), [S::Drift]);
        assert_eq!(std::fs::read_to_string(&left).unwrap(), "");
    }

    #[test]
    fn a_run_directory_that_takes_no_file_leaves_commands_their_error_output() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        let rs = [command("fails", "echo 'no such thing' >&2; exit 3".into())];
        let indexed: Vec<(usize, &ResolvedResource)> = rs.iter().enumerate().collect();
        let script = build(Phase::Converge, &indexed, &[]);
        // The run directory is there, root's, but takes no file: /run is read-only (and a
        // program killed outright left a file there), or full.
        let setup = |then: &str| {
            format!(
                "umask 077; export TMPDIR={tmp}; R=/run/deskready/err; mkdir -p \"$R\"
                mount -t tmpfs -o mode=700,size=8k deskready-test \"$R\"
                {then}",
                tmp = quote(&tmp.display().to_string())
            )
        };
        let read_only = setup("echo leaked > \"$R/2147483646.0\"; mount -o remount,ro \"$R\"");
        let full = setup("head -c 65536 /dev/zero > \"$R/fill\" || :");
        let bb = std::path::Path::new("/bin/busybox").exists().then(|| {
            let bin = dir.path().join("bin");
            std::fs::create_dir(&bin).unwrap();
            std::os::unix::fs::symlink("/bin/busybox", bin.join("sh")).unwrap();
            bin
        });
        for (bin, setup) in [None, bb.as_deref()]
            .into_iter()
            .flat_map(|b| [(b, &read_only), (b, &full)])
        {
            let out = exec_private(&script, setup, bin);
            let rep = parse(&out.stdout);
            assert!(
                rep.complete,
                "{bin:?} {setup}: {}",
                String::from_utf8_lossy(&out.stdout)
            );
            let o = &rep.resources[&0];
            assert_eq!(
                (o.status, o.exit_code, o.stderr.as_deref()),
                (S::Failed, Some(3), Some("no such thing\n")),
                "{bin:?} {setup}"
            );
            assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
        }
    }

    #[test]
    fn what_a_command_does_to_later_resources_targets_is_put_right() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n).display().to_string();
        let q = |n: &str| quote(&p(n));
        let dir_res = |n: &str| {
            testkit::resource(
                n,
                ResourceKind::Directory {
                    path: p(n),
                    mode: Some(0o750),
                    owner: None,
                    group: None,
                },
            )
        };
        let line = |n: &str| {
            testkit::resource(
                n,
                ResourceKind::Line {
                    path: p(n),
                    line: "wanted".into(),
                },
            )
        };
        // Each target right before the command; the command removes, re-modes, replaces
        // or rewrites it (the line's file with a last line it does not end).
        let rs = [
            command(
                "breaks them",
                format!(
                    "rm {f1}; chmod 600 {f2}; rmdir {d1}; chmod 700 {d2}; rm {l1}; \
                     printf kept > {l2}; chmod 600 {l2}; rm {f3} && ln -s {other} {f3}",
                    f1 = q("f1"),
                    f2 = q("f2"),
                    d1 = q("d1"),
                    d2 = q("d2"),
                    l1 = q("l1"),
                    l2 = q("l2"),
                    f3 = q("f3"),
                    other = q("other"),
                ),
            ),
            file(&p("f1"), "one\n", Some(0o644)),
            file(&p("f2"), "two\n", Some(0o644)),
            dir_res("d1"),
            dir_res("d2"),
            line("l1"),
            line("l2"),
            file(&p("f3"), "three\n", None),
        ];
        let mode = |n: &str| std::fs::metadata(p(n)).unwrap().permissions().mode() & 0o7777;
        for runner in [
            run as fn(Phase, &[ResolvedResource], &[&str]) -> Report,
            |p, r, c| run_busybox(p, r, c).unwrap_or_else(|| run(p, r, c)),
        ] {
            let _ = std::fs::remove_file(p("f3"));
            for f in ["f1", "f2", "f3", "other"] {
                std::fs::write(p(f), "stale\n").unwrap();
            }
            // Right before the program: the command's work is all there is to undo.
            runner(Phase::Converge, &rs[1..], &[]);
            let plan = runner(Phase::Plan, &rs[1..], &[]);
            assert_eq!(statuses(&plan), [S::Ok; 7]);
            let rep = runner(Phase::Converge, &rs, &[]);
            assert_eq!(statuses(&rep), [S::Changed; 8], "{rep:?}");
            assert_eq!(
                ["f1", "f2", "l1", "l2", "other"].map(|f| std::fs::read_to_string(p(f)).unwrap()),
                ["one\n", "two\n", "wanted\n", "kept\nwanted\n", "three\n"]
            );
            assert!(std::fs::symlink_metadata(p("f3")).unwrap().is_symlink());
            assert_eq!(
                ["f1", "f2", "d1", "d2", "l2"].map(mode),
                [0o644, 0o644, 0o750, 0o750, 0o600]
            );
        }
    }

    #[test]
    fn the_devices_umask_changes_no_mode_deskready_makes() {
        use std::os::unix::fs::PermissionsExt;
        for umask in ["077", "000"] {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path().display().to_string();
            let rs = [
                testkit::resource(
                    "deep",
                    ResourceKind::Directory {
                        path: format!("{d}/a/b/c"),
                        mode: Some(0o750),
                        owner: None,
                        group: None,
                    },
                ),
                testkit::resource(
                    "plain",
                    ResourceKind::Directory {
                        path: format!("{d}/x"),
                        mode: None,
                        owner: None,
                        group: None,
                    },
                ),
                file(&format!("{d}/x/f"), "f\n", None),
                testkit::resource(
                    "line",
                    ResourceKind::Line {
                        path: format!("{d}/x/l"),
                        line: "l".into(),
                    },
                ),
                command("touches", format!("touch {}", quote(&format!("{d}/x/c")))),
            ];
            let indexed: Vec<(usize, &ResolvedResource)> = rs.iter().enumerate().collect();
            let script = build(Phase::Converge, &indexed, &[]);
            let out = exec_private(&script, &format!("umask {umask}"), None);
            assert_eq!(statuses(&parse(&out.stdout)), [S::Changed; 5], "{umask}");
            let modes = ["a", "a/b", "a/b/c", "x", "x/f", "x/l", "x/c"].map(|p| {
                std::fs::metadata(dir.path().join(p))
                    .unwrap()
                    .permissions()
                    .mode()
                    & 0o7777
            });
            assert_eq!(
                modes,
                [0o755, 0o755, 0o750, 0o755, 0o644, 0o644, 0o644],
                "umask {umask}"
            );
        }
    }

    #[test]
    fn a_pruning_mark_left_by_a_killed_program_does_not_stop_pruning_for_good() {
        // A run directory of this test's own (bound over the device's in the program's
        // mount namespace), holding the files of more than 64 programs that ended, and
        // the mark of a program killed outright while it pruned, whose pid (1) is now
        // another process's.
        let dir = tempfile::tempdir().unwrap();
        let err = dir.path().join("err");
        std::fs::create_dir(&err).unwrap();
        for n in 0..70 {
            std::fs::write(err.join(format!("2147483646.{n}")), "").unwrap();
        }
        std::fs::write(err.join("prune"), "1\n").unwrap();
        let rs = [command("runs", "true".into())];
        let indexed: Vec<(usize, &ResolvedResource)> = rs.iter().enumerate().collect();
        let script = build(Phase::Converge, &indexed, &[]);
        let setup = format!(
            "umask 077; mkdir -p /run/deskready/err; mount --bind {} /run/deskready/err",
            quote(&err.display().to_string())
        );
        let out = exec_private(&script, &setup, None);
        let rep = parse(&out.stdout);
        assert!(rep.complete, "{}", String::from_utf8_lossy(&out.stdout));
        assert_eq!(statuses(&rep), [S::Changed]);
        let left: Vec<_> = std::fs::read_dir(&err)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(left.is_empty(), "{} left: {left:?}", left.len());
    }

    /// A directory of stand-ins for commands (`name`, shell body), for [`exec`].
    fn stand_ins(dir: &std::path::Path, commands: &[(&str, &str)]) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for (name, body) in commands {
            let p = bin.join(name);
            std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        bin
    }

    #[test]
    fn a_sensitive_print_queue_sends_neither_its_old_settings_nor_its_uri() {
        let dir = tempfile::tempdir().unwrap();
        // A CUPS whose queue floor3 has another uri, and whose lpadmin fails quoting the
        // uri it was given (as a confused print server may); no waiting between tries.
        let bin = stand_ins(
            dir.path(),
            &[
                (
                    "lpstat",
                    "case $1 in -r) echo 'scheduler is running' ;; -v) echo \"device for $2: ipp://admin:old-pw@10.0.0.9/ipp/print\" ;; esac",
                ),
                ("lpoptions", ":"),
                // No bulk listing: the queue is read with lpstat as above.
                ("ipptool", "exit 1"),
                (
                    "lpadmin",
                    "[ -e \"${0%/*}/kept\" ] && exit 0; echo \"lpadmin: bad uri: $*\" >&2; echo 'lpadmin: try again' >&2; exit 1",
                ),
                (
                    "sleep",
                    "case $1 in 0.5) exit 0 ;; esac; exec /bin/sleep \"$@\"",
                ),
            ],
        );
        let mut queue = testkit::resource(
            "queue",
            ResourceKind::PrintQueue {
                queue: "floor3".into(),
                uri: "ipp://admin:s%3Acret@10.0.0.9/ipp/print".into(),
                server: None,
                location: None,
                description: None,
                shared: false,
                options: Default::default(),
                allowed_users: Vec::new(),
            },
        );
        queue.sensitive = true;
        let rs = [queue];
        let indexed: Vec<(usize, &ResolvedResource)> = rs.iter().enumerate().collect();
        let never = |out: &std::process::Output| {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(!text.contains("@@O"), "{text}");
            let rep = parse(&out.stdout);
            let o = &rep.resources[&0];
            assert!(o.differs && o.old.is_none(), "{o:?}");
            let said = o.stderr.clone().unwrap_or_default();
            assert!(
                !said.contains("s%3Acret") && !said.contains("//admin"),
                "{said}"
            );
            rep
        };

        let plan = exec(
            &build(Phase::Plan, &indexed, &[]),
            Duration::from_secs(60),
            Some(&bin),
        );
        assert_eq!(never(&plan).resources[&0].status, S::Drift);

        let refused = exec(
            &build(Phase::Converge, &indexed, &[]),
            Duration::from_secs(60),
            Some(&bin),
        );
        let rep = never(&refused);
        assert_eq!(rep.resources[&0].status, S::Failed);
        assert_eq!(
            rep.resources[&0].stderr.as_deref(),
            Some("lpadmin: try again\n")
        );

        std::fs::write(bin.join("kept"), "").unwrap();
        let not_kept = exec(
            &build(Phase::Converge, &indexed, &[]),
            Duration::from_secs(60),
            Some(&bin),
        );
        let rep = never(&not_kept);
        assert_eq!(
            rep.resources[&0].stderr.as_deref(),
            Some("the print server did not keep these settings (sensitive: names only):\nuri\n")
        );
    }

    #[test]
    fn every_rename_is_durable_before_the_end_with_one_sync_more_at_most() {
        // `sync` logs what it is asked to sync, then syncs it.
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("syncs");
        let bin = stand_ins(
            dir.path(),
            &[(
                "sync",
                &format!(
                    "printf '%s\\n' \"$*\" >> {}; PATH=/usr/bin:/bin exec sync \"$@\"",
                    quote(&log.display().to_string())
                ),
            )],
        );
        let (conf, etc) = (dir.path().join("conf"), dir.path().join("etc"));
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::create_dir_all(&etc).unwrap();
        let (conf, etc) = (conf.display().to_string(), etc.display().to_string());
        let line = testkit::resource(
            "line",
            ResourceKind::Line {
                path: format!("{etc}/issue"),
                line: "Support: 0000".into(),
            },
        );
        let cmd = testkit::resource(
            "cmd",
            ResourceKind::Command {
                command: ":".into(),
                creates: None,
                unless: None,
            },
        );
        let files = [
            file(&format!("{conf}/a"), "a\n", None),
            file(&format!("{conf}/b"), "b\n", None),
        ];
        // The line written by the shell (nothing ran before it), then copied (a command ran).
        for with_command in [false, true] {
            let _ = std::fs::remove_file(&log);
            let _ = std::fs::remove_file(format!("{etc}/issue"));
            let mut rs = files.to_vec();
            if with_command {
                rs.push(cmd.clone());
            }
            rs.push(line.clone());
            for f in ["a", "b"] {
                let _ = std::fs::remove_file(format!("{conf}/{f}"));
            }
            let rep = run_in(Some(&bin), Phase::Converge, &rs, &[]);
            assert!(statuses(&rep).iter().all(|s| *s == S::Changed), "{rep:?}");
            let calls = std::fs::read_to_string(&log).unwrap();
            let calls: Vec<&str> = calls.lines().collect();
            // the files' temps; the line's temp (with the files' directory when nothing
            // ran between); the directories left
            assert_eq!(calls.len(), 3, "{calls:?}");
            assert!(calls[0].contains(".a.deskready-") && calls[0].contains(".b.deskready-"));
            assert!(calls[1].contains(".issue.deskready-"), "{calls:?}");
            let last = *calls.last().unwrap();
            assert!(last.split(' ').any(|w| w == etc), "{calls:?}");
            assert!(
                calls[1..].iter().any(|c| c.split(' ').any(|w| w == conf)),
                "{calls:?}"
            );
        }
    }

    #[test]
    fn a_queue_the_print_server_does_not_keep_is_set_again_and_reported_as_itself() {
        let dir = tempfile::tempdir().unwrap();
        // A CUPS listing its queues in bulk (ipptool) whose queue floor3 keeps its old uri
        // whatever lpadmin is told: the program sets it again with the queue's own
        // arguments, then reports it failed under its own number.
        let bin = stand_ins(
            dir.path(),
            &[
                (
                    "lpstat",
                    "case $1 in -r) echo 'scheduler is running' ;; esac",
                ),
                ("lpoptions", ":"),
                ("curl", "exit 0"),
                (
                    "ipptool",
                    "printf '%s\n' '    status-code = successful-ok' \
                       '    printer-name (nameWithoutLanguage) = floor3' \
                       '    device-uri (uri) = ipp://10.0.0.8/ipp/print' \
                       '    printer-location (textWithoutLanguage) = ' \
                       '    printer-info (textWithoutLanguage) = ' \
                       '    printer-is-shared (boolean) = false' \
                       '    printer-uri-supported (uri) = ipp://localhost/printers/floor3'",
                ),
                ("lpadmin", "printf '%s\n' \"$*\" >> \"${0%/*}/lpadmin.log\""),
                (
                    "sleep",
                    "case $1 in 0.5) exit 0 ;; esac; exec /bin/sleep \"$@\"",
                ),
            ],
        );
        let rs = [testkit::resource(
            "queue",
            ResourceKind::PrintQueue {
                queue: "floor3".into(),
                uri: "ipp://10.0.0.9/ipp/print".into(),
                server: None,
                location: None,
                description: None,
                shared: false,
                options: Default::default(),
                allowed_users: Vec::new(),
            },
        )];
        let indexed: Vec<(usize, &ResolvedResource)> = rs.iter().enumerate().collect();
        let out = exec(
            &build(Phase::Converge, &indexed, &[]),
            Duration::from_secs(60),
            Some(&bin),
        );
        let rep = parse(&out.stdout);
        assert!(rep.complete, "{}", String::from_utf8_lossy(&out.stdout));
        let o = rep
            .resources
            .get(&0)
            .unwrap_or_else(|| panic!("no report: {}", String::from_utf8_lossy(&out.stdout)));
        assert_eq!(o.status, S::Failed);
        assert_eq!(
            o.stderr.as_deref(),
            Some(
                "the print server did not keep these settings (wanted):\nuri=ipp://10.0.0.9/ipp/print\n"
            )
        );
        let calls = std::fs::read_to_string(bin.join("lpadmin.log")).unwrap();
        assert!(calls.lines().count() > 1, "{calls}");
        assert!(
            calls
                .lines()
                .all(|l| l.starts_with("-p floor3 -v ipp://10.0.0.9/ipp/print ")),
            "{calls}"
        );
    }

    #[test]
    fn a_test_page_past_its_deadline_stops_waiting_on_the_device() {
        let dir = tempfile::tempdir().unwrap();
        // A queue that takes the job and never completes it.
        let bin = stand_ins(
            dir.path(),
            &[
                (
                    "lp",
                    "cat >/dev/null; echo 'request id is floor3-7 (1 file(s))'",
                ),
                ("lpstat", ":"),
            ],
        );
        let started = std::time::Instant::now();
        let out = exec(
            &test_page("", "floor3", "PRN-0001"),
            Duration::from_secs(1),
            Some(&bin),
        );
        // Not its own 60 s: the deadline, the watchdog's grace and beat, and TERM's second.
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(out.status.code(), Some(128 + 15));
        assert_eq!(
            TestPage::parse(&out.stdout),
            TestPage::Refused {
                why: "no answer".into()
            }
        );
    }

    #[test]
    fn the_shell_files_pass_shellcheck() {
        shellcheck(WATCHDOG);
        shellcheck(PREAMBLE);
        shellcheck(kinds::TEST_PAGE);
        // Every kind's helpers, through the registry: a kind the site can name is in
        // every_kind, or this fails.
        let rs = every_kind("/srv/t");
        let named: std::collections::BTreeSet<&str> =
            rs.iter().map(|r| r.kind().keyword()).collect();
        let known: std::collections::BTreeSet<&str> = crate::load::kind_keywords().collect();
        assert_eq!(named, known, "every_kind has one resource of every kind");
        for r in &rs {
            shellcheck(kinds::of(r.kind()).helpers());
        }
    }

    #[test]
    fn a_tail_runs_after_the_resources_and_before_the_end() {
        let r = file("/etc/motd", "hi\n", None);
        let items = [(0, &r)];
        let s = build_with(Phase::Plan, &items, &[], &software::AUDIT);
        let tail = s.text.rfind("\nsw_audit\n").expect("the tail is called");
        let step = format!("\n# {}\n", r.name());
        assert!(s.text.find(&step).is_some_and(|at| at < tail), "{}", s.text);
        assert!(s.text[tail..].contains("echo @@END"));
        // Nothing staged: it still runs straight from stdin.
        assert!(!s.staged());
    }
}
