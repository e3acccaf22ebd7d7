//! Pinned SSH host keys, kept in the state store.

use super::db::args;
use super::{Entry, Store, StoreError, insert_entry, now};
use crate::transport::{HostKeyPins, Pin, TransportError};

fn pins_error(e: StoreError) -> TransportError {
    TransportError::PinsIo {
        action: "use",
        path: "state store".into(),
        source: std::io::Error::other(e.to_string()),
    }
}

impl Store {
    /// Pins `pin` for `device` in place of any earlier pin and writes `entry`, in one
    /// transaction: a rekey either happened completely or not at all.
    pub fn replace_pin(&self, device: &str, pin: &Pin, entry: &Entry) -> Result<(), StoreError> {
        self.db.write(|tx| {
            tx.execute(
                "INSERT INTO host_keys (tag, key_type, fingerprint, pinned_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tag) DO UPDATE SET key_type = excluded.key_type, fingerprint = excluded.fingerprint, pinned_at = excluded.pinned_at",
                args![device, pin.key_type, pin.fingerprint, now()],
            )?;
            insert_entry(tx, entry)
        })
    }
}

impl HostKeyPins for Store {
    fn pinned(&self, device: &str) -> Result<Option<Pin>, TransportError> {
        let row = self
            .db
            .read(|tx| {
                tx.query_opt(
                    "SELECT key_type, fingerprint FROM host_keys WHERE tag = $1",
                    args![device],
                )
            })
            .map_err(pins_error)?;
        row.map(|r| {
            Ok(Pin {
                key_type: r.get(0)?,
                fingerprint: r.get(1)?,
            })
        })
        .transpose()
        .map_err(pins_error)
    }

    /// First contact: pins `pin` unless `device` already has a pin, which stays (many
    /// runs may meet a new device at once: the first key written wins). When the kept pin
    /// is another key, refuses with [`TransportError::HostKeyChanged`] (its `address`
    /// empty: the caller knows it). Only [`Store::replace_pin`] replaces a pin.
    fn pin(&self, device: &str, pin: &Pin) -> Result<(), TransportError> {
        self.db
            .write(|tx| {
                tx.execute(
                    "INSERT INTO host_keys (tag, key_type, fingerprint, pinned_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (tag) DO NOTHING",
                    args![device, pin.key_type, pin.fingerprint, now()],
                )
            })
            .map_err(pins_error)?;
        match self.pinned(device)? {
            Some(kept) if kept != *pin => Err(TransportError::HostKeyChanged {
                device: device.to_string(),
                address: String::new(),
                pinned: kept.fingerprint,
                presented: pin.fingerprint.clone(),
            }),
            _ => Ok(()),
        }
    }

    fn forget(&self, device: &str) -> Result<(), TransportError> {
        self.db
            .write(|tx| tx.execute("DELETE FROM host_keys WHERE tag = $1", args![device]))
            .map(|_| ())
            .map_err(pins_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::both;

    both! {
    fn a_first_contact_pin_never_replaces_another(fx: &Fixture) {
        let store = fx.open();
        let key = |n: u32| Pin {
            key_type: "ssh-ed25519".into(),
            fingerprint: format!("SHA256:key{n}"),
        };
        // Many runs meeting the same new device at once: one key wins, the others are
        // refused, none overwrites it.
        let results: Vec<Result<(), TransportError>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|n| {
                    let store = &store;
                    s.spawn(move || store.pin("PS-0001", &key(n)))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let kept = store.pinned("PS-0001").unwrap().unwrap();
        for (n, r) in results.iter().enumerate() {
            if key(n as u32) == kept {
                assert!(r.is_ok(), "{r:?}");
            } else {
                assert!(
                    matches!(r, Err(TransportError::HostKeyChanged { pinned, .. }) if *pinned == kept.fingerprint),
                    "{r:?}"
                );
            }
        }
        // The same key again is fine; another one never replaces it.
        store.pin("PS-0001", &kept).unwrap();
        let other = if kept == key(0) { key(1) } else { key(0) };
        assert!(store.pin("PS-0001", &other).is_err());
        assert_eq!(store.pinned("PS-0001").unwrap(), Some(kept));
    }
    }

    both! {
    fn replacing_a_pin_writes_it_and_its_journal_row_together(fx: &Fixture) {
        let store = fx.open();
        let old = Pin {
            key_type: "ssh-ed25519".into(),
            fingerprint: "SHA256:old".into(),
        };
        let new = Pin {
            key_type: "ssh-ed25519".into(),
            fingerprint: "SHA256:new".into(),
        };
        store.pin("LAP-0001", &old).unwrap();
        let entry = Entry::new("LAP-0001", "csp", "rekey").message("accepted host key");
        store.replace_pin("LAP-0001", &new, &entry).unwrap();
        assert_eq!(store.pinned("LAP-0001").unwrap(), Some(new));
        let history = store.history("LAP-0001").unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].kind, "rekey");
    }
    }
}
