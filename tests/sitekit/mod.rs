//! A copy of the example site in a temporary directory, edited per test, and a way to run
//! the real `deskready` binary against it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct SiteCopy {
    pub dir: tempfile::TempDir,
}

impl SiteCopy {
    /// The repository's example site (profiles/, templates/, inventory/).
    pub fn example() -> SiteCopy {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        for sub in ["profiles", "templates", "inventory"] {
            copy_dir(&repo.join(sub), &dir.path().join(sub));
        }
        SiteCopy { dir }
    }

    /// An empty site with the three directories.
    pub fn empty() -> SiteCopy {
        let dir = tempfile::tempdir().expect("tempdir");
        for sub in ["profiles", "templates", "inventory"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        SiteCopy { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.file(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.file(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// Replaces the one occurrence of `from` in `rel` with `to`.
    pub fn edit(&self, rel: &str, from: &str, to: &str) {
        let text = self.read(rel);
        assert_eq!(
            text.matches(from).count(),
            1,
            "`{from}` must occur once in {rel}"
        );
        self.write(rel, &text.replacen(from, to, 1));
    }

    /// Runs `deskready --site DIR ARGS...` with `stdin` as standard input.
    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Run {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_deskready"))
            .arg("--site")
            .arg(self.path())
            .args(args)
            .env_remove("DESKREADY_SITE")
            .env("DESKREADY_OPERATOR", "test-csp")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run deskready");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        Run(child.wait_with_output().expect("run deskready"))
    }

    /// Runs `deskready --site DIR ARGS...`.
    pub fn run(&self, args: &[&str]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_deskready"))
            .arg("--site")
            .arg(self.path())
            .args(args)
            .env_remove("DESKREADY_SITE")
            .env("DESKREADY_OPERATOR", "test-csp")
            .output()
            .expect("run deskready");
        Run(out)
    }
}

pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    /// The `error: ` lines of stderr, without the prefix.
    pub fn errors(&self) -> Vec<String> {
        self.stderr()
            .lines()
            .filter_map(|l| l.strip_prefix("error: "))
            .map(str::to_string)
            .collect()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if !entry.file_name().to_string_lossy().contains(".generated.") {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A site copy with its lab up (`deskready lab up`), taken down when dropped, even when
/// the test panics.
pub struct LabSite {
    pub site: SiteCopy,
    pub lab: deskready::lab::Lab,
}

impl LabSite {
    pub fn up(site: SiteCopy) -> LabSite {
        let run = site.run(&["lab", "up"]);
        assert_eq!(run.code(), 0, "lab up: {}{}", run.stdout(), run.stderr());
        let lab =
            deskready::lab::Lab::load(&site.path().join(".deskready/lab")).expect("lab state");
        let lab = LabSite { site, lab };
        // Configure needs received devices: receive every simulated one, as a scanner would.
        let tags: Vec<String> = lab.lab.devices.iter().map(|d| d.name.clone()).collect();
        let run = lab.run_stdin(&["receive", "--scan"], &tags.join("\n"));
        assert_eq!(
            run.code(),
            0,
            "receive --scan: {}{}",
            run.stdout(),
            run.stderr()
        );
        lab
    }

    /// A lab with the print server and `printers` simulated printers, every device received.
    pub fn up_with_printers(site: SiteCopy, printers: usize) -> LabSite {
        let run = site.run(&["lab", "up", "--printers", &printers.to_string()]);
        assert_eq!(run.code(), 0, "lab up: {}{}", run.stdout(), run.stderr());
        let lab =
            deskready::lab::Lab::load(&site.path().join(".deskready/lab")).expect("lab state");
        let lab = LabSite { site, lab };
        let listed = lab.run(&["--format", "json", "devices"]);
        let devices: serde_json::Value = serde_json::from_str(&listed.stdout()).unwrap();
        let tags: Vec<&str> = devices
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["tag"].as_str().unwrap())
            .collect();
        let run = lab.run_stdin(&["receive", "--scan"], &tags.join("\n"));
        assert_eq!(
            run.code(),
            0,
            "receive --scan: {}{}",
            run.stdout(),
            run.stderr()
        );
        lab
    }

    /// A lab whose devices are not received yet.
    pub fn up_unreceived(site: SiteCopy) -> LabSite {
        let run = site.run(&["lab", "up"]);
        assert_eq!(run.code(), 0, "lab up: {}{}", run.stdout(), run.stderr());
        let lab =
            deskready::lab::Lab::load(&site.path().join(".deskready/lab")).expect("lab state");
        LabSite { site, lab }
    }

    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Run {
        self.site.run_stdin(args, stdin)
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.site.run(args)
    }

    /// Runs `command` on device `tag` as root and returns its stdout (status must be 0).
    pub fn ssh(&self, tag: &str, command: &str) -> String {
        let target = self.lab.target(tag).expect("lab device");
        let opts = deskready::transport::SshOptions {
            connect_timeout: std::time::Duration::from_secs(5),
            command_timeout: std::time::Duration::from_secs(60),
            use_agent: false,
        };
        let mut s = deskready::transport::Session::connect(
            &target,
            &opts,
            &deskready::transport::MemoryPins::new(),
        )
        .unwrap_or_else(|e| panic!("connect {tag}: {e}"));
        let out = s
            .run(command, b"")
            .unwrap_or_else(|e| panic!("run on {tag}: {e}"));
        assert_eq!(
            out.status,
            0,
            "{command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Where device `tag`'s own copy of `path` lives on this machine.
    pub fn host_path(&self, tag: &str, path: &str) -> PathBuf {
        self.lab
            .device(tag)
            .expect("lab device")
            .host_path(path)
            .expect("a path the device keeps private")
    }
}

impl Drop for LabSite {
    fn drop(&mut self) {
        if let Err(e) = self.lab.down() {
            eprintln!("lab down: {e}");
        }
    }
}

/// Every line of NDJSON output, parsed (each line must be one JSON object).
pub fn ndjson(run: &Run) -> Vec<serde_json::Value> {
    run.stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The (device, outcome) of every `done` event, sorted by device.
pub fn done(events: &[serde_json::Value]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = events
        .iter()
        .filter(|e| e["event"] == "done")
        .map(|e| {
            (
                e["device"].as_str().unwrap().to_string(),
                e["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}
