//! What went wrong in one device's run, typed: a [`Problem`] carries its data (the
//! transport error, the resource and its exit code, the check and its output), and callers
//! decide by its variant, never by its message. Serialised as `{kind, message}`; a run's
//! [`Problems`] also keep the plain `errors: [message]` list in JSON. Never prints.

use std::sync::Arc;

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeStruct};

use crate::transport::TransportError;

/// One thing that went wrong on a device. Messages are lowercase and name the device.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Problem {
    /// The device could not be reached, refused us, or the connection broke.
    #[error(transparent)]
    Transport(Arc<TransportError>),
    /// The device has no usable address (unknown, no `ssh:`, reached over IPP only).
    #[error("{message}")]
    NoAddress { device: String, message: String },
    /// A resource's fix failed on the device it runs on.
    #[error("{resource} failed on {on}{}{}",
        exit_code.map(|c| format!(" with exit code {c}")).unwrap_or_default(),
        message.as_deref().map(|m| format!(": {}", m.trim_end())).unwrap_or_default())]
    ResourceFailed {
        resource: String,
        on: String,
        exit_code: Option<i32>,
        message: Option<String>,
    },
    /// A verify check did not pass.
    #[error("verify check `{check}` failed{}", match exit_code {
        Some(code) => format!(" (exit code {code})"),
        None => format!(": {}", output.as_deref().unwrap_or("")),
    })]
    CheckFailed {
        check: String,
        exit_code: Option<i32>,
        output: Option<String>,
    },
    /// The program reported on every resource it ran but not its end.
    #[error("the run on {on} broke off before its end")]
    BrokeOff { on: String },
    /// The device lacks programs the run needs there; nothing was changed.
    #[error("{on} lacks {}, which deskready needs there; install {} and run again",
        tools.join(", "), if tools.len() == 1 { "it" } else { "them" })]
    MissingTools { on: String, tools: Vec<String> },
    /// A print server's scheduler (cupsd) does not answer: the queues on it were not
    /// touched. Found once per print server in a rollout; its other printers are failed
    /// with it without connecting.
    #[error("print server {server} is down: its scheduler (cupsd{}) does not answer; the queue was not changed",
        if cups.is_empty() { String::new() } else { format!(" at {cups}") })]
    PrintServerDown {
        /// The print server's asset tag.
        server: String,
        /// The CUPS server address the queue names ('' for the device's own cupsd).
        cups: String,
    },
    /// The program on the device stopped before its end (killed, not root, no shell...).
    #[error("the script on {on} stopped early with exit code {exit_code}{}{}",
        if stderr_tail.is_empty() { String::new() } else { format!(": {stderr_tail}") },
        needs_sudo_as.as_deref().map(|u| format!(
            " ({u} is not root on {on}: it needs passwordless sudo there, or log in as root)"
        )).unwrap_or_default())]
    StoppedEarly {
        on: String,
        exit_code: i32,
        /// The last lines of its stderr, joined with ` / `.
        stderr_tail: String,
        /// The login user, when sudo refused it.
        needs_sudo_as: Option<String>,
    },
}

impl From<TransportError> for Problem {
    fn from(e: TransportError) -> Self {
        Problem::Transport(Arc::new(e))
    }
}

impl Problem {
    /// A short stable name of the variant, for JSON and for programs reading it.
    pub fn kind(&self) -> &'static str {
        match self {
            Problem::Transport(e) => match e.as_ref() {
                TransportError::Unreachable { .. } => "unreachable",
                TransportError::ConnectTimeout { .. } => "connect-timeout",
                TransportError::AuthRefused { .. } => "auth-refused",
                TransportError::HostKeyChanged { .. } => "host-key-changed",
                TransportError::KeyUnreadable { .. } => "key-unreadable",
                TransportError::CommandTimeout { .. } => "timed-out",
                TransportError::Aborted { .. } => "aborted",
                TransportError::ConnectionLost { .. } => "connection-lost",
                TransportError::Ssh { .. } => "ssh",
                TransportError::PinsIo { .. } | TransportError::PinsCorrupt { .. } => "pins",
            },
            Problem::NoAddress { .. } => "no-address",
            Problem::ResourceFailed { .. } => "resource-failed",
            Problem::CheckFailed { .. } => "check-failed",
            Problem::BrokeOff { .. } => "broke-off",
            Problem::StoppedEarly { .. } => "stopped-early",
            Problem::MissingTools { .. } => "missing-tools",
            Problem::PrintServerDown { .. } => "print-server-down",
        }
    }

    /// The device was not reached at all (worth another try).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Problem::Transport(e) if is_connection_failure(e))
    }

    /// A resource or a check failed (shown with that resource or check, not on its own).
    pub fn is_resource_or_check(&self) -> bool {
        matches!(
            self,
            Problem::ResourceFailed { .. } | Problem::CheckFailed { .. }
        )
    }
}

/// Whether a transport error means the device was not reached at all (worth another try).
pub fn is_connection_failure(e: &TransportError) -> bool {
    matches!(
        e,
        TransportError::Unreachable { .. } | TransportError::ConnectTimeout { .. }
    )
}

impl Serialize for Problem {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Problem", 2)?;
        st.serialize_field("kind", self.kind())?;
        st.serialize_field("message", &self.to_string())?;
        st.end()
    }
}

/// The problems of one run, in the order they happened. In JSON (flattened into the run):
/// `errors` lists their messages, `problems` their kinds and messages; both are left out
/// when there is none.
#[derive(Debug, Clone, Default)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    /// The messages, joined with `; ` (the store's and the recap's error text).
    pub fn joined(&self) -> String {
        self.0
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl std::ops::Deref for Problems {
    type Target = Vec<Problem>;
    fn deref(&self) -> &Vec<Problem> {
        &self.0
    }
}

impl std::ops::DerefMut for Problems {
    fn deref_mut(&mut self) -> &mut Vec<Problem> {
        &mut self.0
    }
}

impl Serialize for Problems {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_empty() {
            return s.serialize_map(Some(0))?.end();
        }
        let mut m = s.serialize_map(Some(2))?;
        let messages: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        m.serialize_entry("errors", &messages)?;
        m.serialize_entry("problems", &self.0)?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_before() {
        let p = Problem::ResourceFailed {
            resource: "owner card".into(),
            on: "LAP-0001".into(),
            exit_code: Some(3),
            message: Some("no such thing\n".into()),
        };
        assert_eq!(
            p.to_string(),
            "owner card failed on LAP-0001 with exit code 3: no such thing"
        );
        let c = Problem::CheckFailed {
            check: "ping".into(),
            exit_code: None,
            output: Some("silent".into()),
        };
        assert_eq!(c.to_string(), "verify check `ping` failed: silent");
        let s = Problem::StoppedEarly {
            on: "LAP-1".into(),
            exit_code: 1,
            stderr_tail: "sudo: a password is required".into(),
            needs_sudo_as: Some("csp".into()),
        };
        assert_eq!(
            s.to_string(),
            "the script on LAP-1 stopped early with exit code 1: sudo: a password is required \
             (csp is not root on LAP-1: it needs passwordless sudo there, or log in as root)"
        );
        assert!(p.is_resource_or_check() && c.is_resource_or_check());
        let m = Problem::MissingTools {
            on: "LAP-1".into(),
            tools: vec!["sha256sum".into()],
        };
        assert_eq!(
            m.to_string(),
            "LAP-1 lacks sha256sum, which deskready needs there; install it and run again"
        );
        assert!(!s.is_resource_or_check());
    }

    #[test]
    fn json_keeps_the_messages_and_adds_kinds() {
        let t: Problem = TransportError::Unreachable {
            device: "LAP-0004".into(),
            address: "127.0.0.1:22".into(),
            reason: "connection refused".into(),
        }
        .into();
        assert!(t.is_unreachable());
        #[derive(Serialize)]
        struct Run {
            device: &'static str,
            #[serde(flatten)]
            problems: Problems,
        }
        let v = serde_json::to_value(Run {
            device: "LAP-0004",
            problems: Problems(vec![t]),
        })
        .unwrap();
        let msg = "cannot reach LAP-0004 at 127.0.0.1:22: connection refused";
        assert_eq!(v["errors"][0], msg);
        assert_eq!(v["problems"][0]["kind"], "unreachable");
        assert_eq!(v["problems"][0]["message"], msg);
        let empty = serde_json::to_value(Run {
            device: "x",
            problems: Problems::default(),
        })
        .unwrap();
        assert_eq!(empty, serde_json::json!({"device": "x"}));
    }
}
