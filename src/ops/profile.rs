//! `set-profile`: change the profile of a device deskready added to the inventory
//! (`inventory/received.yaml`, or a team store's receipts), after rendering it with the new
//! profile; a device declared in a hand-written file is refused, naming that file
//! (deskready never rewrites it). Never prints.

use serde_yaml::Value;

use super::undo::UndoStack;
use super::{Env, Error, guard, hold, known_device};
use crate::load::diag::unknown;
use crate::model::Stage;
use crate::owned::{self, RECEIVED};
use crate::store::{Entry, Purpose};

/// What changed.
#[derive(Debug, Clone)]
pub struct ProfileSet {
    pub device: String,
    pub profile: String,
    /// The profile it had, if any.
    pub was: Option<String>,
}

/// Gives `device` the profile `profile`, when the device still renders with it.
pub fn set_profile(env: &Env, device: &str, profile: &str) -> Result<ProfileSet, Error> {
    let site = env.load_site()?;
    let d = known_device(&site, device)?;
    if !site.profiles.contains_key(profile) {
        let names: Vec<&str> = site.profiles.keys().map(String::as_str).collect();
        return Err(Error::BadInput(unknown("profile", profile, &names)));
    }
    let store = env.open_store()?;
    let team = super::records::in_store(&store);
    let receipt = if team {
        super::records::receipt(&store, &d.tag)?
    } else {
        None
    };
    if (team && receipt.is_none()) || (!team && d.origin.file != RECEIVED) {
        let added_to = if team {
            "the team store's receipts"
        } else {
            RECEIVED
        };
        return Err(Error::BadInput(format!(
            "{} is declared in {}:{}; set its `profile:` there (deskready rewrites only the devices it added, in {added_to})",
            d.tag, d.origin.file, d.origin.line
        )));
    }
    let _held = hold(env, &store, &d.tag, Purpose::Assign)?;
    if store.stage(&d.tag)?.map(|r| r.stage) == Some(Stage::Retired) {
        return Err(Error::Refused(format!(
            "{} is retired; a retired device gets no profile",
            d.tag
        )));
    }
    let checked = guard::before(env, &site, &[&d.tag]);
    let mut undo = UndoStack::new();
    if let Some(mut entry) = receipt {
        entry.insert("profile".into(), profile.into());
        let (after, row) = super::records::set_receipt(env, &store, &d.tag, entry)?;
        let (st, tag) = (&*store, d.tag.clone());
        undo.push(move || super::records::restore_receipt(env, st, &tag, row));
        guard::still_render(env, &after, &[&d.tag], &checked)?;
        return finish(env, &store, d, profile, undo);
    }
    let before = std::fs::read(env.site_dir.join(RECEIVED)).ok();
    let mut map = owned::read_section(&env.site_dir, RECEIVED, "devices");
    let Some(Value::Mapping(entry)) = map.get_mut(d.tag.as_str()) else {
        return Err(Error::BadInput(format!(
            "{} is not an entry of {RECEIVED}",
            d.tag
        )));
    };
    entry.insert("profile".into(), profile.into());
    let after = owned::edit_checked(&env.site_dir, RECEIVED, &owned::render("devices", map))?;
    undo.push(move || owned::restore(&env.site_dir, RECEIVED, before));
    guard::still_render(env, &after, &[&d.tag], &checked)?;
    finish(env, &store, d, profile, undo)
}

/// Journals the change and keeps it.
fn finish(
    env: &Env,
    store: &crate::store::Store,
    d: &crate::model::Device,
    profile: &str,
    undo: UndoStack<'_>,
) -> Result<ProfileSet, Error> {
    let was = d.profile.clone();
    let message = match &was {
        Some(w) => format!("profile set to {profile} (was {w})"),
        None => format!("profile set to {profile}"),
    };
    store.record(&[Entry::new(&d.tag, &env.operator, "profile").message(&message)])?;
    undo.commit();
    Ok(ProfileSet {
        device: d.tag.clone(),
        profile: profile.to_string(),
        was,
    })
}
