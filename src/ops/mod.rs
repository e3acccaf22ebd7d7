//! Use cases: one file per thing a CSP does (select, rollout, receive, assign, deliver, the
//! other stage moves, rekey, history, audit, validate). Each takes typed settings, returns a
//! typed result or an [`Error`], owns its compensation (undo) and never prints; the CLI maps
//! arguments to settings and renders results. Nothing here imports `crate::cli`.

pub mod accept;
pub mod assign;
pub mod audit;
pub mod configure;
pub mod deliver;
mod error;
pub mod guard;
pub mod history;
pub mod hooks;
pub mod lab;
pub mod leases;
pub mod lifecycle;
pub mod printer_queue;
pub mod printers;
pub mod profile;
pub mod queue;
pub mod receive;
pub mod records;
pub mod rekey;
pub mod report;
pub mod rollout;
pub mod schedule;
pub mod select;
pub mod software;
pub mod store;
pub mod undo;
pub mod validate;

use std::path::PathBuf;
use std::sync::Arc;

pub use error::{Error, ExitStatus};

use crate::model::{Device, Vars};
use crate::site::Site;
use crate::store::{Holder, LockGuard, Purpose, Store};

/// What every use case needs to know: the site, the variables given for this run, and who
/// is doing it.
#[derive(Debug, Clone)]
pub struct Env {
    /// The site directory (absolute).
    pub site_dir: PathBuf,
    /// `--var` values, above every other layer.
    pub vars: Vars,
    /// Who is doing this, for the journal.
    pub operator: String,
}

impl Env {
    /// Loads the site or fails with every problem in it.
    pub fn load_site(&self) -> Result<Site, Error> {
        // A team store keeps receipts and assignments itself: the site is loaded with them.
        if matches!(self.store_location()?, crate::store::Location::Postgres(_)) {
            let store = self.open_store()?;
            return records::load_site(self, &store);
        }
        crate::load::load_site(&self.site_dir).map_err(Error::Site)
    }

    /// Opens the site's state store. Host keys pinned in the plain file of earlier versions
    /// (`.deskready/host_keys`) move into it.
    pub fn open_store(&self) -> Result<Arc<Store>, Error> {
        use crate::transport::HostKeyPins;
        let dir = crate::site::state_dir(&self.site_dir);
        let store = Store::open_at(&self.store_location()?)?;
        let legacy = dir.join("host_keys");
        if legacy.exists() {
            let file = crate::transport::FilePins::new(legacy.clone());
            for (tag, pin) in file.all()? {
                if store.pinned(&tag)?.is_none() {
                    store.pin(&tag, &pin)?;
                }
            }
            std::fs::rename(&legacy, dir.join("host_keys.imported"))?;
        }
        Ok(Arc::new(store))
    }
}

impl Env {
    /// Where the site's store is: `DESKREADY_STORE`, else the site's `settings.store`, else
    /// `.deskready/state.db`.
    pub fn store_location(&self) -> Result<crate::store::Location, Error> {
        // The site's setting, read once per process and site (every command asks for it
        // several times; reading it parses the inventory files).
        static SETTINGS: std::sync::Mutex<
            Option<std::collections::HashMap<PathBuf, Option<String>>>,
        > = std::sync::Mutex::new(None);
        let setting = {
            let mut cache = SETTINGS.lock().unwrap_or_else(|e| e.into_inner());
            cache
                .get_or_insert_with(Default::default)
                .entry(self.site_dir.clone())
                .or_insert_with(|| crate::load::store_setting(&self.site_dir))
                .clone()
        };
        let dir = crate::site::state_dir(&self.site_dir);
        Ok(crate::store::Location::choose(&dir, setting.as_deref())?)
    }
}

/// The device `tag` of `site`, or an error naming the tags there are.
pub fn known_device<'a>(site: &'a Site, tag: &str) -> Result<&'a Device, Error> {
    site.device(tag).ok_or_else(|| {
        let tags: Vec<&str> = site.devices.keys().map(String::as_str).collect();
        Error::BadInput(crate::load::diag::unknown("device", tag, &tags))
    })
}

/// Fails when `site` has no group `name`, naming the groups there are.
pub fn known_group(site: &Site, name: &str) -> Result<(), Error> {
    if site.groups.contains_key(name) {
        return Ok(());
    }
    let names: Vec<&str> = site.groups.keys().map(String::as_str).collect();
    Err(Error::BadInput(crate::load::diag::unknown(
        "group", name, &names,
    )))
}

/// Holds `tag` for `purpose` until the guard drops: every command that changes a device
/// or its record takes the device's lock, so that none acts on a device another command
/// (a configure, above all) is changing; a device held by another live process is refused
/// naming the holder.
pub fn hold<'a>(
    env: &Env,
    store: &'a Store,
    tag: &str,
    purpose: Purpose,
) -> Result<LockGuard<'a>, Error> {
    Ok(store.lock(tag, &Holder::doing(&env.operator, purpose))?)
}

/// A device known to the site or, having left the inventory (retired and removed), to the
/// store; else the unknown-device error.
pub fn known_anywhere(site: &Site, store: &Store, tag: &str) -> Result<(), Error> {
    if site.device(tag).is_none() && store.stage(tag)?.is_none() {
        known_device(site, tag)?;
    }
    Ok(())
}
