//! Test harness: a real lab (one sshd per device) in a temp directory, always taken down.
#![allow(dead_code)]

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use deskready::lab::{Lab, LabDeviceSpec, PrinterSpec};
use deskready::transport::{ExecOutput, MemoryPins, Session, SshOptions};

/// A lab that is brought down (every sshd stopped) when dropped, even when a test panics.
pub struct TestLab {
    lab: Lab,
    // Dropped after `Drop::drop` ran `down()`.
    _dir: tempfile::TempDir,
}

impl TestLab {
    /// Devices named `<prefix>-0001`, `<prefix>-0002`, ...
    pub fn new(prefix: &str, count: usize) -> TestLab {
        let names: Vec<String> = (1..=count).map(|i| format!("{prefix}-{i:04}")).collect();
        Self::with_names(&names)
    }

    pub fn with_names(names: &[String]) -> TestLab {
        let dir = tempfile::Builder::new()
            .prefix("deskready-lab-")
            .tempdir()
            .expect("temp dir");
        let specs: Vec<LabDeviceSpec> = names.iter().map(LabDeviceSpec::new).collect();
        let lab = Lab::up(dir.path(), &specs).unwrap_or_else(|e| panic!("lab up: {e}"));
        TestLab { lab, _dir: dir }
    }

    /// Devices `names`, a print server on device `print_server` and these printers.
    pub fn with_printers(
        names: &[String],
        print_server: &str,
        printers: &[PrinterSpec],
    ) -> TestLab {
        let dir = tempfile::Builder::new()
            .prefix("deskready-lab-")
            .tempdir()
            .expect("temp dir");
        let specs: Vec<LabDeviceSpec> = names.iter().map(LabDeviceSpec::new).collect();
        let lab = Lab::up_with(dir.path(), &specs, Some(print_server), printers)
            .unwrap_or_else(|e| panic!("lab up: {e}"));
        TestLab { lab, _dir: dir }
    }

    /// Connects to the device named `name`.
    pub fn session_to(&self, name: &str) -> Session {
        let target = self.lab.target(name).unwrap();
        Session::connect(&target, &quick(), &MemoryPins::new())
            .unwrap_or_else(|e| panic!("connect: {e}"))
    }

    pub fn name(&self, i: usize) -> String {
        self.lab.devices[i].name.clone()
    }

    /// Connects to device `i` with fresh in-memory pins and short timeouts.
    pub fn session(&self, i: usize) -> Session {
        let target = self.lab.target(&self.name(i)).unwrap();
        Session::connect(&target, &quick(), &MemoryPins::new())
            .unwrap_or_else(|e| panic!("connect: {e}"))
    }
}

impl Deref for TestLab {
    type Target = Lab;
    fn deref(&self) -> &Lab {
        &self.lab
    }
}

impl DerefMut for TestLab {
    fn deref_mut(&mut self) -> &mut Lab {
        &mut self.lab
    }
}

impl Drop for TestLab {
    fn drop(&mut self) {
        if let Err(e) = self.lab.down() {
            eprintln!("lab down failed: {e}");
        }
    }
}

/// Options for tests: fail fast, never ask an agent.
pub fn quick() -> SshOptions {
    SshOptions {
        connect_timeout: Duration::from_secs(5),
        command_timeout: Duration::from_secs(60),
        use_agent: false,
    }
}

/// Runs a command and insists it succeeded; returns stdout as text.
pub fn ok(session: &mut Session, command: &str) -> String {
    let out: ExecOutput = session
        .run(command, b"")
        .unwrap_or_else(|e| panic!("run {command:?}: {e}"));
    assert_eq!(
        out.status,
        0,
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Whether any live process carries `needle` on its command line.
pub fn live_processes_mentioning(needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rfind(')').map(|i| s[i + 2..].starts_with('Z')))
            .unwrap_or(true);
        if !zombie && String::from_utf8_lossy(&cmdline).contains(needle) {
            found.push(pid);
        }
    }
    found
}
