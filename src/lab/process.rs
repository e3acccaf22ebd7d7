//! The lab's processes: spawning one with its log and registering it ([`Processes::spawn`]),
//! waiting until spawned processes are ready ([`Processes::wait_ready`]), stopping them
//! (TERM, wait, KILL: [`Processes::terminate`]), reaping, and telling this lab's processes
//! from everyone else's (the markers on their command lines, `/proc`).
//!
//! Knows nothing of sshd, cupsd or printers: callers say what to run, what "ready" means and
//! which pids are theirs. It never signals a pid the caller's `ours` check rejects, and it
//! imports no lab file but `error`.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::error::{LabError, io_err};

/// The processes this process spawned for one lab, by key (device name, `printer/NAME`,
/// `print-server`), kept so they can be reaped when they exit.
#[derive(Debug, Default)]
pub(super) struct Processes {
    children: Mutex<HashMap<String, Child>>,
}

/// Why [`Processes::wait_ready`] gave up, naming the item by its index.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum NotReady {
    /// The item's process exited, how.
    Exited { index: usize, status: String },
    /// The item was still not ready at the deadline.
    TimedOut { index: usize },
}

impl Processes {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Child>> {
        self.children.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts `cmd` in a process group of its own (a Ctrl-C meant for the caller does not
    /// stop the lab), stdin from /dev/null, stdout and stderr into `log` (truncated), and
    /// registers it under `key`. Returns its pid; does not wait. `what` names it in the
    /// error ("starting device X").
    pub(super) fn spawn(
        &self,
        key: &str,
        mut cmd: Command,
        log: &Path,
        what: impl FnOnce() -> String,
    ) -> Result<u32, LabError> {
        let out = fs::File::create(log).map_err(io_err("create", log))?;
        let err = out.try_clone().map_err(io_err("open", log))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| LabError::Command {
                what: what(),
                detail: e.to_string(),
            })?;
        let pid = child.id();
        self.lock().insert(key.to_string(), child);
        Ok(pid)
    }

    /// If this process spawned `key` and it has exited, how it exited.
    pub(super) fn exited(&self, key: &str) -> Option<String> {
        let mut children = self.lock();
        let child = children.get_mut(key)?;
        match child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            _ => None,
        }
    }

    /// Polls every `interval` until `ready(i)` holds for each `i` in `0..keys.len()`. Gives
    /// up as soon as one's process (registered under `keys[i]`) has exited, or when one is
    /// still not ready after `timeout`, naming the first such.
    pub(super) fn wait_ready(
        &self,
        keys: &[&str],
        timeout: Duration,
        interval: Duration,
        mut ready: impl FnMut(usize) -> bool,
    ) -> Result<(), NotReady> {
        let deadline = Instant::now() + timeout;
        let mut pending: Vec<usize> = (0..keys.len()).collect();
        loop {
            let mut still = Vec::new();
            for index in pending {
                if let Some(status) = self.exited(keys[index]) {
                    return Err(NotReady::Exited { index, status });
                }
                if !ready(index) {
                    still.push(index);
                }
            }
            pending = still;
            let Some(&index) = pending.first() else {
                return Ok(());
            };
            if Instant::now() >= deadline {
                return Err(NotReady::TimedOut { index });
            }
            std::thread::sleep(interval);
        }
    }

    /// Stops the listed processes: TERM to each for which `ours` holds or that is an
    /// unreaped child of this process, then waits up to `grace` for them to exit (reaping
    /// them); KILLs those still running, and gives up naming the first that survives even
    /// that. Afterwards forgets
    /// every listed key whose process is gone.
    pub(super) fn terminate(
        &self,
        pids: &[(String, u32)],
        grace: Duration,
        ours: impl Fn(u32) -> bool,
    ) -> Result<(), (String, u32)> {
        // A child of this process is waited for even when `ours` no longer recognizes it:
        // one already exiting (its command line gone, still in /proc, maybe in state D)
        // is gone only once it is reaped. Its pid cannot be reused before then.
        let mut remaining: Vec<(String, u32)> = pids
            .iter()
            .filter(|(key, pid)| ours(*pid) || self.is_child(key, *pid))
            .cloned()
            .collect();
        for (_, pid) in &remaining {
            signal(*pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + grace;
        let mut killed = false;
        loop {
            remaining.retain(|(key, pid)| !self.reap(key, *pid));
            if remaining.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                if killed {
                    return Err(remaining[0].clone());
                }
                for (key, pid) in &remaining {
                    if ours(*pid) || self.is_child(key, *pid) {
                        signal(*pid, libc::SIGKILL);
                    }
                }
                killed = true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // Children of this process whose pid is no longer ours (already dead): reap them.
        for (key, _) in pids {
            self.reap(key, 0);
        }
        Ok(())
    }

    /// Whether `pid` is the child this process spawned as `key` and has not reaped yet.
    fn is_child(&self, key: &str, pid: u32) -> bool {
        self.lock().get(key).is_some_and(|c| c.id() == pid)
    }

    /// Whether the process `key` (pid `pid`, 0 for "whatever is registered") is gone,
    /// reaping it when this process is its parent.
    fn reap(&self, key: &str, pid: u32) -> bool {
        let mut children = self.lock();
        if let Some(child) = children.get_mut(key) {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => {
                    children.remove(key);
                    return true;
                }
                Ok(None) if child.id() == pid || pid == 0 => return false,
                Ok(None) => {}
            }
        }
        pid == 0 || !proc_alive(pid)
    }

    /// Reaps the children that already exited (so they do not linger as zombies), leaving
    /// the running ones alone.
    pub(super) fn reap_exited(&self) {
        self.lock()
            .retain(|_, c| !matches!(c.try_wait(), Ok(Some(_))));
    }
}

/// What every sshd of the lab in `dir` carries on its command line (an sshd `SetEnv`).
pub(super) fn device_marker(dir: &Path) -> String {
    format!("DESKREADY_LAB=\"{}\"", dir.display())
}

/// What every print process (cupsd, ippeveprinter) of the lab in `dir` carries on its
/// command line: cupsd's config paths and ippeveprinter's spool directory are under it.
pub(super) fn print_marker(dir: &Path) -> String {
    format!("{}/print/", dir.display())
}

/// Whether `pid` is a live (not zombie) process carrying `marker` on its command line.
pub(super) fn is_marked(pid: u32, marker: &str) -> bool {
    pid != 0 && proc_alive(pid) && proc_cmdline(pid).is_some_and(|c| c.contains(marker))
}

/// Whether any live process carries one of `markers` on its command line (`true` when
/// `/proc` cannot be read: then nobody can tell).
pub(super) fn any_marked(markers: &[String]) -> bool {
    let Ok(entries) = fs::read_dir("/proc") else {
        return true;
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .any(|pid| {
            proc_cmdline(pid).is_some_and(|c| markers.iter().any(|m| c.contains(m.as_str())))
                && proc_alive(pid)
        })
}

/// The last five lines of a log, joined by " | "; "(nothing)" when empty or unreadable.
pub(super) fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(5)..].join(" | ");
    if tail.is_empty() {
        "(nothing)".into()
    } else {
        tail
    }
}

/// Runs `cmd` to completion; a failure carries its exit status and stderr.
pub(super) fn run_checked(mut cmd: Command, what: &str) -> Result<(), LabError> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LabError::Command {
            what: what.to_string(),
            detail: e.to_string(),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(LabError::Command {
            what: what.to_string(),
            detail: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }
}

/// `/proc/PID/cmdline` with NULs as spaces; `None` when unreadable or empty (zombie).
fn proc_cmdline(pid: u32) -> Option<String> {
    let mut buf = Vec::new();
    fs::File::open(format!("/proc/{pid}/cmdline"))
        .ok()?
        .read_to_end(&mut buf)
        .ok()?;
    if buf.is_empty() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&buf)
            .replace('\0', " ")
            .trim_end()
            .to_string(),
    )
}

/// `/proc/PID/stat` fields after the command name (field 3 onwards).
fn proc_stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_string).collect())
}

/// Whether `pid` exists and is not a zombie.
pub(super) fn proc_alive(pid: u32) -> bool {
    match proc_stat_fields(pid) {
        Some(f) => f.first().is_some_and(|s| s != "Z" && s != "X"),
        None => false,
    }
}

/// The process's start time in clock ticks since boot (tells a reused pid apart).
pub(super) fn proc_start_time(pid: u32) -> Option<u64> {
    proc_stat_fields(pid)?.get(19)?.parse().ok()
}

/// Sends `sig` to `pid` (never to pid 0 or 1); the caller has checked the pid is the lab's.
pub(super) fn signal(pid: u32, sig: libc::c_int) {
    if pid > 1 {
        // SAFETY: plain kill(2) on a pid checked to belong to this lab.
        unsafe { libc::kill(pid as libc::pid_t, sig) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawn_wait_ready_and_terminate() {
        let dir = tempfile::tempdir().unwrap();
        let procs = Processes::default();
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let log = dir.path().join("a.log");
        let pid = procs.spawn("a", cmd, &log, || "starting a".into()).unwrap();
        assert!(proc_alive(pid));
        procs
            .wait_ready(
                &["a"],
                Duration::from_secs(5),
                Duration::from_millis(5),
                |_| true,
            )
            .unwrap();
        procs
            .terminate(&[("a".into(), pid)], Duration::from_secs(3), |p| p == pid)
            .unwrap();
        assert!(!proc_alive(pid));
        assert!(procs.exited("a").is_none(), "a reaped child is forgotten");
    }

    #[test]
    fn terminate_waits_for_a_child_it_no_longer_recognizes() {
        // As a process part way through exiting: its command line is gone, so `ours`
        // cannot tell it, yet it is still in /proc until it is reaped.
        let dir = tempfile::tempdir().unwrap();
        let procs = Processes::default();
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let pid = procs
            .spawn("d", cmd, &dir.path().join("d.log"), || "starting d".into())
            .unwrap();
        procs
            .terminate(&[("d".into(), pid)], Duration::from_secs(3), |_| false)
            .unwrap();
        assert!(
            fs::metadata(format!("/proc/{pid}")).is_err(),
            "{pid} is still in /proc"
        );
    }

    #[test]
    fn wait_ready_names_an_exited_process_and_a_slow_one() {
        let dir = tempfile::tempdir().unwrap();
        let procs = Processes::default();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo no such config >&2; exit 3"]);
        let log = dir.path().join("b.log");
        procs.spawn("b", cmd, &log, || "starting b".into()).unwrap();
        let err = procs
            .wait_ready(
                &["b"],
                Duration::from_secs(10),
                Duration::from_millis(5),
                |_| false,
            )
            .unwrap_err();
        assert!(
            matches!(&err, NotReady::Exited { index: 0, status } if status.contains('3')),
            "{err:?}"
        );
        assert_eq!(log_tail(&log), "no such config");
        let err = procs
            .wait_ready(&["none"], Duration::ZERO, Duration::from_millis(5), |_| {
                false
            })
            .unwrap_err();
        assert_eq!(err, NotReady::TimedOut { index: 0 });
    }

    #[test]
    fn a_spawn_failure_names_what_was_started() {
        let dir = tempfile::tempdir().unwrap();
        let err = Processes::default()
            .spawn(
                "c",
                Command::new("/nonexistent/deskready-no-such-program"),
                &dir.path().join("c.log"),
                || "starting c".into(),
            )
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("starting c failed: "), "{err}");
    }
}
