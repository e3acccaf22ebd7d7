//! SSH into lab devices through the library's transport (fresh in-memory pins, short
//! timeouts, never an agent), and OpenSSH's own tools for keys and fingerprints.
//!
//! The one place tests open sessions; it does not bring labs up or down.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use deskready::lab::Lab;
use deskready::transport::{ExecOutput, MemoryPins, Session, SshOptions};

/// Options for tests: fail fast, never ask an agent.
pub(crate) fn quick() -> SshOptions {
    SshOptions {
        connect_timeout: Duration::from_secs(5),
        command_timeout: Duration::from_secs(60),
        use_agent: false,
    }
}

/// Connects to the lab device `name` as its target says (root, the lab's key).
pub(crate) fn connect(lab: &Lab, name: &str) -> Session {
    let target = lab
        .target(name)
        .unwrap_or_else(|| panic!("no lab device {name}"));
    Session::connect(&target, &quick(), &MemoryPins::new())
        .unwrap_or_else(|e| panic!("connect {name}: {e}"))
}

/// Runs a command and insists it succeeded; returns stdout as text.
pub(crate) fn ok(session: &mut Session, command: &str) -> String {
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

/// Runs `command` as root on the lab device `name` (status must be 0); returns stdout.
pub(crate) fn run(lab: &Lab, name: &str, command: &str) -> String {
    ok(&mut connect(lab, name), command)
}

/// Makes a new passphrase-less ed25519 key pair at `path` (and `path`.pub).
pub(crate) fn keygen(path: &Path) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success(), "ssh-keygen -f {}", path.display());
}

/// What `ssh-keygen -lf` says the fingerprint of a public key file is (`SHA256:...`).
pub(crate) fn fingerprint(pub_file: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(pub_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ssh-keygen -lf {}",
        pub_file.display()
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}
