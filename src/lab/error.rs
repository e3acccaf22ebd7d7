//! The lab's one error type, [`LabError`]: every message names the device, printer or
//! directory concerned. Owns only the type and the `io::Error` adapter; it imports no other
//! lab file (every other one returns it), so paths named in messages are spelled out here
//! and checked against their constants by the tests of the files that own them.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What went wrong with the lab; every message names the device or directory concerned.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot use lab directory {}: {reason}", dir.display())]
    BadDir { dir: PathBuf, reason: String },
    #[error("cannot simulate device {name:?}: {reason}")]
    BadDevice { name: String, reason: String },
    #[error(
        "a lab is already running in {} ({running} device(s) up); run `deskready lab down` first",
        dir.display()
    )]
    AlreadyRunning { dir: PathBuf, running: usize },
    #[error("no lab in {} (no lab.json); start one with `deskready lab up`", dir.display())]
    NoLab { dir: PathBuf },
    #[error("lab state {} is unreadable: {source}", path.display())]
    BadState {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("no device {name} in the lab in {}", dir.display())]
    UnknownDevice { name: String, dir: PathBuf },
    #[error(
        "all 100 lab address slots in /tmp/deskready-lab-slots are taken by running labs; stop a \
         lab you no longer need"
    )]
    NoSlot,
    #[error("{what} failed: {detail}")]
    Command { what: String, detail: String },
    #[error(
        "device {device} at {address} did not start: sshd exited ({status}); its log says: {log}"
    )]
    DeviceExited {
        device: String,
        address: String,
        status: String,
        log: String,
    },
    #[error(
        "device {device} at {address} does not accept connections after {}s; see {}",
        timeout.as_secs(), log.display()
    )]
    NotListening {
        device: String,
        address: String,
        timeout: Duration,
        log: PathBuf,
    },
    #[error("device {device} (sshd pid {pid}) did not stop")]
    DidNotStop { device: String, pid: u32 },
    #[error("cannot simulate printer {name:?}: {reason}")]
    BadPrinter { name: String, reason: String },
    #[error("no printer {name} in the lab in {}", dir.display())]
    UnknownPrinter { name: String, dir: PathBuf },
    #[error(
        "printer {printer} cannot start: port {port} on 127.0.0.1 is already taken by another process"
    )]
    PrinterPortTaken { printer: String, port: u16 },
    #[error(
        "printer {printer} on port {port} did not start: ippeveprinter exited ({status}); its log says: {log}"
    )]
    PrinterExited {
        printer: String,
        port: u16,
        status: String,
        log: String,
    },
    #[error(
        "printer {printer} does not answer IPP at {uri} after {}s; see {}",
        timeout.as_secs(), log.display()
    )]
    PrinterNotAnswering {
        printer: String,
        uri: String,
        timeout: Duration,
        log: PathBuf,
    },
    #[error(
        "the print server at {address} did not start: cupsd exited ({status}); its logs say: {log}"
    )]
    PrintServerExited {
        address: String,
        status: String,
        log: String,
    },
    #[error(
        "the print server at {address} does not accept connections after {}s; see {}",
        timeout.as_secs(), log.display()
    )]
    PrintServerNotListening {
        address: String,
        timeout: Duration,
        log: PathBuf,
    },
    #[error(
        "the lab's base root for full devices is missing or incomplete at {}; make it once \
         with scripts/lab-base (debootstrap, about a minute) or point DESKREADY_LAB_BASE at one",
        path.display()
    )]
    NoBaseRoot { path: PathBuf },
    #[error("{what} (pid {pid}) did not stop")]
    PrintDidNotStop { what: String, pid: u32 },
}

/// Maps an `io::Error` from `action` on `path` to [`LabError::Io`].
pub(super) fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> LabError + 'a {
    move |source| LabError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}
