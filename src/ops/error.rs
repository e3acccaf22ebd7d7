//! How a use case fails, and the one mapping from a failure's class (and a command's
//! result) to the documented exit codes. Callers decide by variant, never by wording.

use std::path::PathBuf;

use crate::load::Diagnostics;
use crate::model::MoveRefused;
use crate::store::StoreError;
use crate::transport::TransportError;

/// A use case's failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The arguments are wrong; nothing was changed.
    #[error("{0}")]
    BadInput(String),
    /// The site files have problems; nothing was changed.
    #[error("{0}")]
    Site(Diagnostics),
    /// An edit of the site would leave devices that rendered unable to render (the
    /// problems name the template, the line and what is missing); nothing was changed.
    #[error("this would leave {} unable to render; nothing was changed", devices.join(", "))]
    WouldBreak {
        devices: Vec<String>,
        problems: Diagnostics,
    },
    /// An illegal stage move; nothing was changed.
    #[error(transparent)]
    Move(#[from] MoveRefused),
    /// The device's state does not allow it for another reason (retired, no assignee, not
    /// delivered, outside its maintenance window); nothing was changed.
    #[error("{0}")]
    Refused(String),
    /// The state store failed, or refused (a stage move, a lock held by another run).
    #[error(transparent)]
    Store(StoreError),
    /// Reaching a device failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Editing a tool-owned site file failed.
    #[error(transparent)]
    Edit(crate::owned::EditError),
    /// Writing an output file failed.
    #[error("cannot write {}: {error}", path.display())]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    /// Reading input or another local I/O step failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Starting, reading or stopping the lab failed.
    #[error(transparent)]
    Lab(#[from] crate::lab::LabError),
    /// Serialising a value for a site file failed.
    #[error(transparent)]
    Yaml(#[from] serde_yaml::Error),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        Error::Store(e)
    }
}

impl From<crate::owned::EditError> for Error {
    fn from(e: crate::owned::EditError) -> Error {
        match e {
            crate::owned::EditError::Site(d) => Error::Site(d),
            other => Error::Edit(other),
        }
    }
}

impl Error {
    /// The class of this failure, as an exit status.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Error::BadInput(_) | Error::Site(_) | Error::WouldBreak { .. } => ExitStatus::BadInput,
            Error::Move(_)
            | Error::Refused(_)
            | Error::Store(StoreError::Refused(_) | StoreError::Locked { .. }) => {
                ExitStatus::Refused
            }
            Error::Store(_)
            | Error::Transport(_)
            | Error::Edit(_)
            | Error::Write { .. }
            | Error::Io(_)
            | Error::Lab(_)
            | Error::Yaml(_) => ExitStatus::Failed,
        }
    }
}

/// How a command ended, for the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Done (audit: every device clean).
    Success,
    /// Something went wrong while doing the work, or a device failed.
    Failed,
    /// The site or the arguments are wrong; nothing was changed.
    BadInput,
    /// The device's state does not allow it; nothing was changed.
    Refused,
    /// A device is not as it should be: `audit` found drift or an overdue physical
    /// audit; `plan --exit-code` found something to change.
    Drift,
    /// `audit`: a device could not be reached.
    Unreachable,
    /// A rollout was interrupted (Ctrl-C), as a shell reports a process ended by SIGINT.
    Interrupted,
}

impl ExitStatus {
    /// The documented exit code: the one place these numbers are written.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failed => 1,
            ExitStatus::BadInput => 2,
            ExitStatus::Refused => 3,
            ExitStatus::Drift => 4,
            ExitStatus::Unreachable => 5,
            ExitStatus::Interrupted => 130,
        }
    }

    /// Success when `ok`, else failed.
    pub fn from_ok(ok: bool) -> ExitStatus {
        if ok {
            ExitStatus::Success
        } else {
            ExitStatus::Failed
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(s: ExitStatus) -> Self {
        std::process::ExitCode::from(s.code())
    }
}
