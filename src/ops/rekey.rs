//! `rekey`: accept a device's new SSH host key on purpose (after a reinstall).
//!
//! The old pin stays in force until the new key is proven: the connection uses a pin store
//! that trusts nothing and only notes the key presented; after the session is established
//! (authenticated), the pin is replaced and the journal row written in one transaction. A
//! crash in between leaves the old pin, never "trust any key". With the fingerprint read on
//! the device's console, a key that does not have it is refused and nothing changes.
//! Never prints.

use std::sync::Mutex;

use super::rollout::SshSettings;
use super::{Env, Error, hold};
use crate::store::{Entry, Purpose};
use crate::transport::{HostKeyPins, Pin, Session, TransportError};

#[derive(Debug, Clone)]
pub struct RekeySettings {
    pub device: String,
    pub ssh: SshSettings,
    /// The fingerprint the CSP read on the device itself (`SHA256:…`, as `ssh-keygen -lf`
    /// prints it); the key presented must have it, or nothing is pinned.
    pub fingerprint: Option<String>,
}

/// The key given up, and the key pinned now.
#[derive(Debug, Clone)]
pub struct Rekeyed {
    pub device: String,
    pub old: Option<Pin>,
    pub new: Pin,
}

/// Pins for one rekey connection: nothing is pinned (any key may be presented), and the
/// key the device presents is noted here, not stored.
#[derive(Default)]
struct Presented(Mutex<Option<Pin>>);

impl HostKeyPins for Presented {
    fn pinned(&self, _device: &str) -> Result<Option<Pin>, TransportError> {
        Ok(None)
    }
    fn pin(&self, _device: &str, pin: &Pin) -> Result<(), TransportError> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(pin.clone());
        Ok(())
    }
    fn forget(&self, _device: &str) -> Result<(), TransportError> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(())
    }
}

pub fn rekey(env: &Env, s: &RekeySettings) -> Result<Rekeyed, Error> {
    let site = env.load_site()?;
    let target = crate::engine::device::target_of(&site, &s.device).map_err(Error::BadInput)?;
    let store = env.open_store()?;
    let _held = hold(env, &store, &s.device, Purpose::Rekey)?;
    let old = store.pinned(&s.device)?;
    let opts = s.ssh.options(store.clone());
    let presented = Presented::default();
    let session = Session::connect(&target, &opts.ssh, &presented)?;
    let new = session.host_key().clone();
    drop(session);
    if let Some(expected) = &s.fingerprint
        && expected.trim() != new.fingerprint
    {
        return Err(Error::Refused(format!(
            "{} presented host key {} {}, not the {} given; nothing was pinned (the \
                 connection may not reach the device you think)",
            s.device,
            new.key_type,
            new.fingerprint,
            expected.trim()
        )));
    }
    let entry = Entry::new(&s.device, &env.operator, "rekey").message(format!(
        "accepted host key {} {} (was {})",
        new.key_type,
        new.fingerprint,
        old.as_ref()
            .map(|p| p.fingerprint.as_str())
            .unwrap_or("not pinned")
    ));
    store.replace_pin(&s.device, &new, &entry)?;
    Ok(Rekeyed {
        device: s.device.clone(),
        old,
        new,
    })
}
