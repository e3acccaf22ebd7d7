//! Address slots: each running lab holds one of 100 slots (127.(100+s).x.y), recorded by an
//! exclusive lock file in /tmp/deskready-lab-slots so labs on one machine never share
//! addresses. A slot whose owner process is gone and whose lab has no live sshd (nor full device) is stale and
//! may be taken over. Owns the slot files and the device address layout ([`device_host`]);
//! it starts and stops nothing, and imports no lab file but `process` and `error`.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::LabError;
use super::process::{
    any_marked, device_marker, full_marker, print_marker, proc_alive, proc_start_time,
};

/// Where the slot lock files live (also the home of other machine-wide lab locks).
pub(super) const SLOT_DIR: &str = "/tmp/deskready-lab-slots";
const SLOTS: u32 = 100;
/// At most this many devices per lab (addresses 127.(100+s).(0..=255).(1..=250)).
pub const MAX_DEVICES: usize = 250 * 256;

/// 127.(100+slot).(i/250).(1+i%250)
pub fn device_host(slot: u32, index: usize) -> String {
    format!("127.{}.{}.{}", 100 + slot, index / 250, 1 + index % 250)
}

#[derive(Debug, Serialize, Deserialize)]
struct SlotLock {
    lab_dir: PathBuf,
    owner_pid: u32,
    owner_start: Option<u64>,
}

fn slot_path(slot: u32) -> PathBuf {
    Path::new(SLOT_DIR).join(format!("slot-{slot:02}"))
}

/// Takes a free (or stale) slot for the lab in `lab_dir`.
pub(super) fn allocate(lab_dir: &Path) -> Result<u32, LabError> {
    let dir = Path::new(SLOT_DIR);
    fs::create_dir_all(dir).map_err(|source| LabError::Io {
        action: "create",
        path: dir.to_path_buf(),
        source,
    })?;
    // Serialize allocation between processes and threads (flock is per open file).
    let guard_path = dir.join(".alloc");
    let guard = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&guard_path)
        .map_err(|source| LabError::Io {
            action: "open",
            path: guard_path.clone(),
            source,
        })?;
    // SAFETY: flock on a descriptor owned by `guard`; released when it is closed.
    unsafe { libc::flock(guard.as_raw_fd(), libc::LOCK_EX) };

    let me = SlotLock {
        lab_dir: lab_dir.to_path_buf(),
        owner_pid: std::process::id(),
        owner_start: proc_start_time(std::process::id()),
    };
    let text = serde_json::to_string(&me).expect("slot lock serializes");
    for slot in 0..SLOTS {
        let path = slot_path(slot);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                write_lock(&mut f, &text, &path)?;
                return Ok(slot);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if is_stale(&path) {
                    let mut f = fs::File::create(&path).map_err(|source| LabError::Io {
                        action: "take over",
                        path: path.clone(),
                        source,
                    })?;
                    write_lock(&mut f, &text, &path)?;
                    return Ok(slot);
                }
            }
            Err(source) => {
                return Err(LabError::Io {
                    action: "create",
                    path,
                    source,
                });
            }
        }
    }
    Err(LabError::NoSlot)
}

fn write_lock(f: &mut fs::File, text: &str, path: &Path) -> Result<(), LabError> {
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|source| LabError::Io {
            action: "write",
            path: path.to_path_buf(),
            source,
        })
}

/// A slot is stale when its owner process is gone and no sshd, cupsd or printer of its lab
/// is alive (printer ports belong to the slot too).
fn is_stale(path: &Path) -> bool {
    let Ok(text) = fs::read_to_string(path) else {
        return false;
    };
    let Ok(lock) = serde_json::from_str::<SlotLock>(&text) else {
        // Unreadable: stale only once nobody could still be writing it.
        return fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() > 60);
    };
    let owner_alive =
        proc_alive(lock.owner_pid) && proc_start_time(lock.owner_pid) == lock.owner_start;
    !owner_alive && !lab_has_live_sshd(&lock.lab_dir)
}

/// Whether any live sshd, full device, cupsd or printer of this lab is still running.
fn lab_has_live_sshd(lab_dir: &Path) -> bool {
    any_marked(&[
        device_marker(lab_dir),
        full_marker(lab_dir),
        print_marker(lab_dir),
    ])
}

/// Gives the slot back, if it is still recorded as this lab's.
pub(super) fn release(slot: u32, lab_dir: &Path) {
    let path = slot_path(slot);
    if let Ok(text) = fs::read_to_string(&path)
        && let Ok(lock) = serde_json::from_str::<SlotLock>(&text)
        && lock.lab_dir == lab_dir
    {
        let _ = fs::remove_file(&path);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn addresses_fit_500_devices() {
        assert_eq!(device_host(0, 0), "127.100.0.1");
        assert_eq!(device_host(3, 249), "127.103.0.250");
        assert_eq!(device_host(3, 250), "127.103.1.1");
        assert_eq!(device_host(99, 499), "127.199.1.250");
        let all: HashSet<String> = (0..500).map(|i| device_host(7, i)).collect();
        assert_eq!(all.len(), 500);
    }

    #[test]
    fn the_no_slot_message_names_the_slot_directory() {
        let msg = LabError::NoSlot.to_string();
        assert!(msg.contains(&format!("all {SLOTS} lab address slots in {SLOT_DIR} ")));
    }

    fn lock_file(dir: &Path, lock: &SlotLock) -> PathBuf {
        let path = dir.join("slot-xx");
        fs::write(&path, serde_json::to_string(lock).unwrap()).unwrap();
        path
    }

    #[test]
    fn a_slot_is_stale_only_when_owner_and_lab_are_gone() {
        let dir = tempfile::tempdir().unwrap();
        let me = std::process::id();
        let live = SlotLock {
            lab_dir: dir.path().join("lab"),
            owner_pid: me,
            owner_start: proc_start_time(me),
        };
        assert!(!is_stale(&lock_file(dir.path(), &live)));
        // Same pid but another start time: the owner is gone, the pid was reused.
        let reused = SlotLock {
            owner_start: live.owner_start.map(|t| t + 1),
            ..live
        };
        assert!(is_stale(&lock_file(dir.path(), &reused)));
        // Unparsable and fresh: someone may still be writing it.
        let path = dir.path().join("slot-yy");
        fs::write(&path, "{").unwrap();
        assert!(!is_stale(&path));
    }
}
