//! Reaching devices: targets, options, host-key pins, the one shell-quoting function, the
//! [`Transport`] seam and its implementations: the SSH session ([`Ssh`], [`Session`]) and a
//! local fake for fast tests ([`Local`]). Only `ssh/` names ssh2; nothing here prints or
//! knows about the terminal.
//!
//! Everything is blocking; async callers wrap it in `tokio::task::spawn_blocking`.

mod local;
mod pins;
mod ssh;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use local::{Behaviour, Local};
pub use pins::{FilePins, MemoryPins};
pub use ssh::{Session, Ssh};

/// A way to reach devices: opens one session to a target. The engine asks it for one
/// session per device it works on and runs one command per session.
pub trait Transport: Send + Sync {
    /// Connects to `target` (checking or pinning its host key, where there is one).
    fn connect(
        &self,
        target: &Target,
        opts: &SshOptions,
        pins: &dyn HostKeyPins,
    ) -> Result<Box<dyn RemoteSession>, TransportError>;

    /// Waits `d` before another try to connect (a back-off). Blocking; a fake may record
    /// the wait instead of sleeping it, so that tests of retries take no time.
    fn back_off(&self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// One open connection to one device.
pub trait RemoteSession: Send {
    /// Runs `command` in ONE exec channel, feeding `stdin` then EOF.
    fn run(&mut self, command: &str, stdin: &[u8]) -> Result<ExecOutput, TransportError>;
    /// What the last `run` received on stdout before it failed (a command timeout, a
    /// dropped connection), so that what the device reported before the cut is not lost;
    /// empty after a run that returned its output. Takes it.
    fn partial_stdout(&mut self) -> Vec<u8> {
        Vec::new()
    }
    /// How many exec channels this session has opened.
    fn channels_opened(&self) -> u32;
    /// The device's asset tag.
    fn device(&self) -> &str;
    /// `host:port` as connected.
    fn address(&self) -> &str;
}

/// Where a device is reached and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The device's asset tag, used in every error message.
    pub device: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Private key file; when `None`, ssh-agent then `~/.ssh/id_ed25519` / `id_rsa` are tried.
    pub identity: Option<PathBuf>,
}

impl Target {
    /// `host:port`, with an IPv6 host in brackets.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// How long to wait and which keys to offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshOptions {
    /// TCP connect plus SSH key exchange.
    pub connect_timeout: Duration,
    /// One `Session::run`, from opening the channel to the exit status.
    pub command_timeout: Duration,
    /// Try ssh-agent when the target names no identity file.
    pub use_agent: bool,
}

impl Default for SshOptions {
    fn default() -> Self {
        SshOptions {
            connect_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(600),
            use_agent: true,
        }
    }
}

/// A pinned host key: its type and its OpenSSH-style fingerprint (`SHA256:<base64, no padding>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub key_type: String,
    pub fingerprint: String,
}

/// Where pinned host keys live (a file, the state store, memory in tests).
pub trait HostKeyPins: Send + Sync {
    fn pinned(&self, device: &str) -> Result<Option<Pin>, TransportError>;
    fn pin(&self, device: &str, pin: &Pin) -> Result<(), TransportError>;
    fn forget(&self, device: &str) -> Result<(), TransportError>;
}

/// What one remote command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// Exit status; 128 + signal number when the command was killed by a signal.
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.status == 0
    }
}

/// The project's one shell-quoting function, re-exported where transport callers look.
pub use crate::shell::quote as shell_quote;

/// A duration as people write it: `2s`, `1.5s`, `500ms`.
pub(crate) struct Human(pub Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_nanos() == 0 {
            write!(f, "{}s", d.as_secs())
        } else if d < Duration::from_secs(1) {
            write!(f, "{}ms", d.as_millis())
        } else {
            write!(f, "{:.1}s", d.as_secs_f64())
        }
    }
}

/// Set once by [`abort_all`]: every session stops at once.
static ABORTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Aborts every session of this process (a second Ctrl-C): a command running on a device
/// returns [`TransportError::Aborted`] within a poll slice (0.1 s) and its session is
/// closed when dropped, which cuts the remote program; no new connection is made. There is
/// no way back: the process is ending.
pub fn abort_all() {
    ABORTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Whether [`abort_all`] was called.
pub fn aborted() -> bool {
    ABORTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// Why a device could not be reached or a command could not be run.
/// Every message names the device and its address.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// [`abort_all`] was called while this device was being connected or worked on.
    #[error(
        "aborted by a second Ctrl-C while it ran on {device} at {address}: its session was closed, which cuts the remote work"
    )]
    Aborted { device: String, address: String },
    #[error("cannot reach {device} at {address}: {reason}")]
    Unreachable {
        device: String,
        address: String,
        /// The operating system's reason, lowercase (`connection refused`).
        reason: String,
    },
    #[error("cannot reach {device} at {address}: no answer within {}", Human(*.timeout))]
    ConnectTimeout {
        device: String,
        address: String,
        timeout: Duration,
    },
    #[error("{device} at {address} refused authentication for user {user} (tried {tried})")]
    AuthRefused {
        device: String,
        address: String,
        user: String,
        /// What was offered: `key /path`, `ssh-agent (2 keys)`, ...
        tried: String,
    },
    #[error(
        "host key of {device} at {address} changed: pinned {pinned}, presented {presented}; \
         if the device was reinstalled on purpose, accept the new key with `deskready rekey {device}`"
    )]
    HostKeyChanged {
        device: String,
        address: String,
        pinned: String,
        presented: String,
    },
    #[error("cannot read private key {} for {device}: {source}", path.display())]
    KeyUnreadable {
        device: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("command on {device} at {address} did not finish within {}", Human(*.timeout))]
    CommandTimeout {
        device: String,
        address: String,
        timeout: Duration,
    },
    /// The connection broke while a command ran (the device's sshd died, the network
    /// went away); what the command printed until then is in
    /// [`RemoteSession::partial_stdout`].
    #[error("connection to {device} at {address} was lost while a command ran: {reason}")]
    ConnectionLost {
        device: String,
        address: String,
        /// What the SSH library or the operating system said, lowercase.
        reason: String,
    },
    #[error("ssh with {device} at {address} failed while {action}: {message}")]
    Ssh {
        device: String,
        address: String,
        /// What was being done: `exchanging keys`, `opening a channel`, ...
        action: &'static str,
        message: String,
    },
    #[error("cannot {action} host key pins in {}: {source}", path.display())]
    PinsIo {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("host key pins in {}:{line} are malformed: {reason}", path.display())]
    PinsCorrupt {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn sh_echo(word: &str) -> String {
        // printf '%s' <quoted> must print the original bytes, whatever they are.
        let script = format!("printf '%s' {}", shell_quote(word));
        let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
        assert!(out.status.success(), "sh failed for {script:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn quotes_plain_words() {
        assert_eq!(shell_quote("abc"), "'abc'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn quotes_single_quotes() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(
            shell_quote("x'; touch /tmp/owned; echo '"),
            r"'x'\''; touch /tmp/owned; echo '\'''"
        );
    }

    #[test]
    fn quotes_substitutions_literally() {
        assert_eq!(shell_quote("$(id)"), "'$(id)'");
        assert_eq!(shell_quote("`id`"), "'`id`'");
    }

    #[test]
    fn round_trips_through_sh() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("owned");
        let injection = format!("x'; touch {}; echo '", marker.display());
        let words = [
            "",
            "plain",
            "two words",
            "it's",
            "$(id)",
            "`id`",
            "$HOME ${PATH}",
            "a\"b\\c",
            "semi; colon && amp | pipe > redirect < in",
            "new\nline\ttab",
            "*?[glob]",
            "'",
            "''",
            "x; rm -rf /",
            "unicode: é ü 漢字",
            injection.as_str(),
        ];
        for w in words {
            assert_eq!(sh_echo(w), w, "quoting of {w:?} was not literal");
        }
        assert!(!marker.exists(), "an injected command ran");
    }

    #[test]
    fn errors_name_device_and_address() {
        let e = TransportError::Unreachable {
            device: "LAP-0001".into(),
            address: "127.0.0.1:2222".into(),
            reason: "connection refused".into(),
        };
        assert_eq!(
            e.to_string(),
            "cannot reach LAP-0001 at 127.0.0.1:2222: connection refused"
        );
        let e = TransportError::ConnectTimeout {
            device: "LAP-0001".into(),
            address: "10.255.255.1:22".into(),
            timeout: Duration::from_secs(2),
        };
        assert_eq!(
            e.to_string(),
            "cannot reach LAP-0001 at 10.255.255.1:22: no answer within 2s"
        );
        let e = TransportError::HostKeyChanged {
            device: "LAP-0001".into(),
            address: "127.0.0.1:2222".into(),
            pinned: "SHA256:aaa".into(),
            presented: "SHA256:bbb".into(),
        };
        assert_eq!(
            e.to_string(),
            "host key of LAP-0001 at 127.0.0.1:2222 changed: pinned SHA256:aaa, presented \
             SHA256:bbb; if the device was reinstalled on purpose, accept the new key with \
             `deskready rekey LAP-0001`"
        );
    }

    #[test]
    fn human_durations() {
        assert_eq!(Human(Duration::from_secs(2)).to_string(), "2s");
        assert_eq!(Human(Duration::from_millis(1500)).to_string(), "1.5s");
        assert_eq!(Human(Duration::from_millis(250)).to_string(), "250ms");
    }
}
