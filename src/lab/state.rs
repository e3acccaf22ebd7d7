//! `<lab>/lab.json`: what a lab records about itself (directory, operator key, devices,
//! slot, printers, print server, and every pid) so a later process can load it, stop one
//! device or take the whole lab down. Owns the record's shape, writing it atomically,
//! reading it back and removing it; files written before printers existed still load.
//!
//! Starts and stops nothing. Imports no lab file but `sshd`, `printers` and `print_server`
//! (for the recorded types) and `error`.

use std::borrow::Cow;
use std::fs;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::{LabError, io_err};
use super::print_server::PrintServer;
use super::printers::LabPrinter;
use super::sshd::LabDevice;

const STATE_FILE: &str = "lab.json";

/// What `lab.json` holds: borrowed from the lab when saving, owned when loaded.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct LabState<'a> {
    pub dir: Cow<'a, Path>,
    /// The operator's private key; every device authorizes its public half for root.
    pub key_file: Cow<'a, Path>,
    pub devices: Cow<'a, [LabDevice]>,
    pub slot: u32,
    /// None in files written before the lab simulated printers.
    #[serde(default)]
    pub printers: Cow<'a, [LabPrinter]>,
    /// None in files written before the lab had a print server.
    #[serde(default)]
    pub print_server: Option<Cow<'a, PrintServer>>,
}

/// Whether a lab is recorded in `dir`.
pub(super) fn exists(dir: &Path) -> bool {
    dir.join(STATE_FILE).exists()
}

/// Writes `state` to `<state.dir>/lab.json` (a temp file renamed over it: readers never see
/// half a file).
pub(super) fn save(state: &LabState<'_>) -> Result<(), LabError> {
    let path = state.dir.join(STATE_FILE);
    let tmp = state
        .dir
        .join(format!(".{STATE_FILE}.tmp.{}", std::process::id()));
    let text = serde_json::to_string_pretty(state).expect("lab state serializes");
    fs::write(&tmp, text).map_err(io_err("write", &tmp))?;
    fs::rename(&tmp, &path).map_err(io_err("write", &path))
}

/// The lab recorded in `dir/lab.json`.
pub(super) fn load(dir: &Path) -> Result<LabState<'static>, LabError> {
    let path = dir.join(STATE_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(LabError::NoLab {
                dir: dir.to_path_buf(),
            });
        }
        Err(e) => return Err(io_err("read", &path)(e)),
    };
    serde_json::from_str(&text).map_err(|source| LabError::BadState { path, source })
}

/// Removes `dir/lab.json`; a missing file is fine.
pub(super) fn remove(dir: &Path) -> Result<(), LabError> {
    let path = dir.join(STATE_FILE);
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("remove", &path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn old_lab_state_without_printers_loads() {
        let state: LabState = serde_json::from_str(
            r#"{"dir":"/tmp/l","key_file":"/tmp/l/keys/operator","devices":[],"slot":3}"#,
        )
        .unwrap();
        assert!(state.printers.is_empty());
        assert!(state.print_server.is_none());
        assert_eq!(state.slot, 3);
    }

    #[test]
    fn saved_state_loads_back_and_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let devices = [LabDevice {
            name: "LAP-0001".into(),
            host: "127.100.0.1".into(),
            port: 2222,
            dir: dir.path().join("devices/LAP-0001"),
            pid: 42,
            full: false,
        }];
        let server = PrintServer {
            device: "LAP-0001".into(),
            address: "127.100.0.1:30000".into(),
            dir: PathBuf::from("/tmp/deskready-print/slot00-x"),
            pid: 7,
        };
        let key_file = dir.path().join("keys/operator");
        assert!(!exists(dir.path()));
        save(&LabState {
            dir: Cow::Borrowed(dir.path()),
            key_file: Cow::Borrowed(&key_file),
            devices: Cow::Borrowed(&devices),
            slot: 5,
            printers: Cow::Borrowed(&[]),
            print_server: Some(Cow::Borrowed(&server)),
        })
        .unwrap();
        assert!(exists(dir.path()));
        let text = fs::read_to_string(dir.path().join(STATE_FILE)).unwrap();
        let keys = [
            "dir",
            "key_file",
            "devices",
            "slot",
            "printers",
            "print_server",
        ];
        let at: Vec<usize> = keys
            .iter()
            .map(|k| text.find(&format!("\"{k}\"")).unwrap())
            .collect();
        assert!(at.is_sorted(), "fields in the recorded order: {text}");
        let back = load(dir.path()).unwrap();
        assert_eq!(back.devices.as_ref(), &devices);
        assert_eq!(back.print_server.as_deref(), Some(&server));
        assert_eq!(back.key_file.as_ref(), key_file.as_path());
        remove(dir.path()).unwrap();
        remove(dir.path()).unwrap();
        assert!(matches!(load(dir.path()), Err(LabError::NoLab { .. })));
    }

    #[test]
    fn the_no_lab_message_names_the_state_file() {
        let msg = LabError::NoLab {
            dir: PathBuf::from("/tmp/l"),
        }
        .to_string();
        assert!(msg.contains(&format!("(no {STATE_FILE})")), "{msg}");
    }
}
