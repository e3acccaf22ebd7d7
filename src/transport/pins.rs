//! Host-key pin stores: a plain text file (`TAG KEYTYPE SHA256:...` per line) and memory.
//! Knows nothing about SSH; only reads and writes pins.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{HostKeyPins, Pin, TransportError};

/// Pins in a text file, one line per device: `TAG KEYTYPE SHA256:...`.
///
/// Every change rewrites the file atomically (temp file in the same directory, fsync,
/// rename); a mutex makes read-modify-write safe between threads of one process.
pub struct FilePins {
    path: PathBuf,
    lock: Mutex<()>,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl FilePins {
    pub fn new(path: PathBuf) -> Self {
        FilePins {
            path,
            lock: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// All pins, in file order.
    pub fn all(&self) -> Result<Vec<(String, Pin)>, TransportError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.read()
    }

    fn read(&self) -> Result<Vec<(String, Pin)>, TransportError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(TransportError::PinsIo {
                    action: "read",
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let mut pins = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [device, key_type, fingerprint] = fields[..] else {
                return Err(TransportError::PinsCorrupt {
                    path: self.path.clone(),
                    line: i + 1,
                    reason: format!(
                        "expected `TAG KEYTYPE SHA256:...`, found {} fields",
                        fields.len()
                    ),
                });
            };
            if !fingerprint.starts_with("SHA256:") {
                return Err(TransportError::PinsCorrupt {
                    path: self.path.clone(),
                    line: i + 1,
                    reason: format!("fingerprint `{fingerprint}` does not start with SHA256:"),
                });
            }
            pins.push((
                device.to_string(),
                Pin {
                    key_type: key_type.to_string(),
                    fingerprint: fingerprint.to_string(),
                },
            ));
        }
        Ok(pins)
    }

    fn write(&self, pins: &[(String, Pin)]) -> Result<(), TransportError> {
        let io_err = |source| TransportError::PinsIo {
            action: "write",
            path: self.path.clone(),
            source,
        };
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&dir).map_err(io_err)?;
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "host_keys".into());
        let tmp = dir.join(format!(
            ".{name}.tmp.{}.{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let mut text = String::new();
        for (device, pin) in pins {
            text.push_str(&format!("{device} {} {}\n", pin.key_type, pin.fingerprint));
        }
        let result = (|| {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)?;
            if let Ok(d) = fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map_err(io_err)
    }
}

fn check_device(path: &Path, device: &str) -> Result<(), TransportError> {
    if device.is_empty() || device.chars().any(char::is_whitespace) {
        return Err(TransportError::PinsCorrupt {
            path: path.to_path_buf(),
            line: 0,
            reason: format!("device tag {device:?} is empty or contains whitespace"),
        });
    }
    Ok(())
}

impl HostKeyPins for FilePins {
    fn pinned(&self, device: &str) -> Result<Option<Pin>, TransportError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        Ok(self
            .read()?
            .into_iter()
            .find(|(d, _)| d == device)
            .map(|(_, p)| p))
    }

    fn pin(&self, device: &str, pin: &Pin) -> Result<(), TransportError> {
        check_device(&self.path, device)?;
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut pins = self.read()?;
        match pins.iter_mut().find(|(d, _)| d == device) {
            Some((_, p)) => *p = pin.clone(),
            None => pins.push((device.to_string(), pin.clone())),
        }
        self.write(&pins)
    }

    fn forget(&self, device: &str) -> Result<(), TransportError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut pins = self.read()?;
        let before = pins.len();
        pins.retain(|(d, _)| d != device);
        if pins.len() == before {
            return Ok(());
        }
        self.write(&pins)
    }
}

/// Pins held in memory only (tests, one-off commands).
#[derive(Default)]
pub struct MemoryPins {
    pins: Mutex<HashMap<String, Pin>>,
}

impl MemoryPins {
    pub fn new() -> Self {
        Self::default()
    }
}

impl HostKeyPins for MemoryPins {
    fn pinned(&self, device: &str) -> Result<Option<Pin>, TransportError> {
        Ok(self
            .pins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(device)
            .cloned())
    }

    fn pin(&self, device: &str, pin: &Pin) -> Result<(), TransportError> {
        self.pins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(device.to_string(), pin.clone());
        Ok(())
    }

    fn forget(&self, device: &str) -> Result<(), TransportError> {
        self.pins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(device);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn pin(n: u32) -> Pin {
        Pin {
            key_type: "ssh-ed25519".into(),
            fingerprint: format!("SHA256:key{n}"),
        }
    }

    #[test]
    fn file_pins_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".deskready/host_keys");
        let pins = FilePins::new(path.clone());
        assert_eq!(pins.pinned("LAP-0001").unwrap(), None);
        pins.pin("LAP-0001", &pin(1)).unwrap();
        pins.pin("LAP-0002", &pin(2)).unwrap();
        pins.pin("LAP-0001", &pin(3)).unwrap();
        assert_eq!(pins.pinned("LAP-0001").unwrap(), Some(pin(3)));
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "LAP-0001 ssh-ed25519 SHA256:key3\nLAP-0002 ssh-ed25519 SHA256:key2\n"
        );
        pins.forget("LAP-0001").unwrap();
        assert_eq!(pins.pinned("LAP-0001").unwrap(), None);
        assert_eq!(
            FilePins::new(path).pinned("LAP-0002").unwrap(),
            Some(pin(2))
        );
    }

    #[test]
    fn file_pins_survive_concurrent_threads() {
        let dir = tempfile::tempdir().unwrap();
        let pins = Arc::new(FilePins::new(dir.path().join("host_keys")));
        let handles: Vec<_> = (0..16)
            .map(|n| {
                let pins = Arc::clone(&pins);
                std::thread::spawn(move || pins.pin(&format!("DEV-{n:04}"), &pin(n)).unwrap())
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(pins.all().unwrap().len(), 16);
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temp files left behind");
    }

    #[test]
    fn malformed_file_is_reported_with_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host_keys");
        fs::write(&path, "# pins\nLAP-0001 ssh-ed25519\n").unwrap();
        let err = FilePins::new(path).pinned("LAP-0001").unwrap_err();
        assert!(err.to_string().contains("host_keys:2"), "{err}");
    }
}
