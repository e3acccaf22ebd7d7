//! A local fake of the transport, for fast tests: "connecting" to a device opens nothing,
//! and each command runs with `sh -c` on this machine (in a given directory, with
//! `DESKREADY_ROOT` set to it). Each device can be told to be unreachable (for its first
//! tries or always), to fail every command, or to take a given time. It records back-offs
//! instead of sleeping them. Never used outside tests and examples; needs no root, no sshd.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{
    ExecOutput, HostKeyPins, RemoteSession, SshOptions, Target, Transport, TransportError,
};

/// How one device behaves.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Behaviour {
    /// Connects and runs every command.
    #[default]
    Answer,
    /// Refuses the first `times` connections ("connection refused"), then answers;
    /// `u32::MAX` for always.
    Unreachable { times: u32 },
    /// Connects, but every command exits with `status` and writes `stderr`, running nothing.
    Fail { status: i32, stderr: String },
    /// Connects and runs every command, each taking at least this long (a real, blocking
    /// wait, as a slow device's is).
    Slow(Duration),
    /// Connects and runs every command once at least this many commands have run at the
    /// same time (this one included) since the transport was made, waiting up to 10 s for
    /// that: devices that must overlap to get going, for tests of parallel runs.
    Overlap(usize),
}

/// The local transport and what it saw.
#[derive(Debug, Default)]
pub struct Local {
    root: Option<PathBuf>,
    behaviours: Mutex<HashMap<String, Behaviour>>,
    connects: Mutex<HashMap<String, u32>>,
    back_offs: Mutex<Vec<Duration>>,
    running: Arc<Running>,
}

/// Commands running now, and the most that ran at once.
#[derive(Debug, Default)]
struct Running {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl Local {
    /// Commands run in the current directory.
    pub fn new() -> Local {
        Local::default()
    }

    /// Commands run in `root` (their working directory and `$DESKREADY_ROOT`).
    pub fn in_root(root: impl Into<PathBuf>) -> Local {
        Local {
            root: Some(root.into()),
            ..Local::default()
        }
    }

    /// Sets how `device` behaves from now on.
    pub fn set(&self, device: &str, behaviour: Behaviour) -> &Self {
        lock(&self.behaviours).insert(device.to_string(), behaviour);
        self
    }

    /// How many times `device` was connected to (refused tries included).
    pub fn connects(&self, device: &str) -> u32 {
        lock(&self.connects).get(device).copied().unwrap_or(0)
    }

    /// The back-offs asked for, in order (not slept).
    pub fn back_offs(&self) -> Vec<Duration> {
        lock(&self.back_offs).clone()
    }

    /// The most commands that ran at the same time.
    pub fn most_running(&self) -> usize {
        self.running.most.load(Ordering::SeqCst)
    }

    fn behaviour(&self, device: &str) -> Behaviour {
        lock(&self.behaviours)
            .get(device)
            .cloned()
            .unwrap_or_default()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Transport for Local {
    fn connect(
        &self,
        target: &Target,
        _opts: &SshOptions,
        _pins: &dyn HostKeyPins,
    ) -> Result<Box<dyn RemoteSession>, TransportError> {
        let n = {
            let mut c = lock(&self.connects);
            let n = c.entry(target.device.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let behaviour = self.behaviour(&target.device);
        if let Behaviour::Unreachable { times } = behaviour
            && n <= times
        {
            return Err(TransportError::Unreachable {
                device: target.device.clone(),
                address: target.address(),
                reason: "connection refused".into(),
            });
        }
        Ok(Box::new(LocalSession {
            running: self.running.clone(),
            root: self.root.clone(),
            device: target.device.clone(),
            address: target.address(),
            behaviour,
            channels: 0,
        }))
    }

    fn back_off(&self, d: Duration) {
        lock(&self.back_offs).push(d);
    }
}

/// One "connection" of the local transport.
struct LocalSession {
    running: Arc<Running>,
    root: Option<PathBuf>,
    device: String,
    address: String,
    behaviour: Behaviour,
    channels: u32,
}

impl LocalSession {
    fn io_err(&self, e: std::io::Error) -> TransportError {
        TransportError::Ssh {
            device: self.device.clone(),
            address: self.address.clone(),
            action: "running a local command",
            message: e.to_string(),
        }
    }
}

impl RemoteSession for LocalSession {
    fn run(&mut self, command: &str, stdin: &[u8]) -> Result<ExecOutput, TransportError> {
        self.channels += 1;
        if let Behaviour::Fail { status, stderr } = &self.behaviour {
            return Ok(ExecOutput {
                status: *status,
                stdout: Vec::new(),
                stderr: stderr.clone().into_bytes(),
            });
        }
        let now = self.running.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.running.most.fetch_max(now, Ordering::SeqCst);
        if let Behaviour::Overlap(n) = self.behaviour {
            let until = std::time::Instant::now() + Duration::from_secs(10);
            while self.running.most.load(Ordering::SeqCst) < n && std::time::Instant::now() < until
            {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let result = self.exec(command, stdin);
        if let Behaviour::Slow(d) = self.behaviour {
            std::thread::sleep(d);
        }
        self.running.now.fetch_sub(1, Ordering::SeqCst);
        result
    }

    fn channels_opened(&self) -> u32 {
        self.channels
    }

    fn device(&self) -> &str {
        &self.device
    }

    fn address(&self) -> &str {
        &self.address
    }
}

impl LocalSession {
    fn exec(&self, command: &str, stdin: &[u8]) -> Result<ExecOutput, TransportError> {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(root) = &self.root {
            cmd.current_dir(root).env("DESKREADY_ROOT", root);
        }
        let mut child = cmd.spawn().map_err(|e| self.io_err(e))?;
        let mut input = child.stdin.take().expect("stdin is piped");
        let data = stdin.to_vec();
        // Written from another thread so a command that talks before reading all of its
        // stdin cannot block us both.
        let writer = std::thread::spawn(move || {
            let _ = input.write_all(&data);
        });
        let out = child.wait_with_output().map_err(|e| self.io_err(e))?;
        let _ = writer.join();
        Ok(ExecOutput {
            status: out.status.code().unwrap_or_else(|| {
                use std::os::unix::process::ExitStatusExt;
                128 + out.status.signal().unwrap_or(0)
            }),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::MemoryPins;

    fn target(device: &str) -> Target {
        Target {
            device: device.into(),
            host: "127.0.0.1".into(),
            port: 22,
            user: "root".into(),
            identity: None,
        }
    }

    #[test]
    fn runs_commands_in_its_root_and_counts_channels() {
        let dir = tempfile::tempdir().unwrap();
        let t = Local::in_root(dir.path());
        let mut s = t
            .connect(&target("A"), &SshOptions::default(), &MemoryPins::new())
            .unwrap();
        let out = s.run("cat > f; pwd; cat f", b"hello").unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.ends_with("hello"), "{text}");
        assert!(dir.path().join("f").exists());
        assert_eq!(s.channels_opened(), 1);
        assert_eq!((s.device(), s.address()), ("A", "127.0.0.1:22"));
    }

    #[test]
    fn unreachable_for_its_first_tries_then_answers() {
        let t = Local::new();
        t.set("A", Behaviour::Unreachable { times: 2 });
        let pins = MemoryPins::new();
        let opts = SshOptions::default();
        for _ in 0..2 {
            let e = t.connect(&target("A"), &opts, &pins).err().unwrap();
            assert!(matches!(e, TransportError::Unreachable { .. }), "{e}");
        }
        assert!(t.connect(&target("A"), &opts, &pins).is_ok());
        assert_eq!(t.connects("A"), 3);
    }

    #[test]
    fn failing_devices_run_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let t = Local::in_root(dir.path());
        t.set(
            "A",
            Behaviour::Fail {
                status: 1,
                stderr: "sudo: a password is required\n".into(),
            },
        );
        let mut s = t
            .connect(&target("A"), &SshOptions::default(), &MemoryPins::new())
            .unwrap();
        let out = s.run("touch made", b"").unwrap();
        assert_eq!(out.status, 1);
        assert!(!dir.path().join("made").exists());
    }
}
