//! `locks` and `unlock`: who holds which device right now (holder, machine, process,
//! purpose, expiry), and breaking a lease on purpose with a reason, journaled (a device it
//! held `configuring` becomes `configure-failed`). Never prints.

use super::{Env, Error, known_anywhere};
use crate::store::Holder;

/// One device's lease.
#[derive(Debug, Clone)]
pub struct Lease {
    pub device: String,
    pub holder: Holder,
    /// Its expiry passed without a renewal (the next command takes it over).
    pub expired: bool,
}

/// Every lease in the store, by device.
pub fn list(env: &Env) -> Result<Vec<Lease>, Error> {
    let store = env.open_store()?;
    Ok(store
        .locks()?
        .into_iter()
        .map(|(device, holder)| Lease {
            device,
            expired: holder.is_expired(),
            holder,
        })
        .collect())
}

/// Breaks `device`'s lease with `reason`; `None` when it had none.
pub fn unlock(env: &Env, device: &str, reason: &str) -> Result<Option<Holder>, Error> {
    if reason.trim().is_empty() {
        return Err(Error::BadInput(
            "--reason is required: say why the lease is broken (it goes into the journal)".into(),
        ));
    }
    let site = env.load_site()?;
    let store = env.open_store()?;
    known_anywhere(&site, &store, device)?;
    Ok(store.unlock(device, &env.operator, reason)?)
}
