//! `assign`: record who a device is for and at which desk, in the tool-owned
//! `inventory/assignments.yaml` (or a team store's assignments; checked by loading the
//! site) and the journal; the assignment is put back when the journal cannot be written.
//! Also owns editing assignments for deliver and return. Never prints.

use serde_yaml::Mapping;

use super::records::Before;
use super::undo::UndoStack;
use super::{Env, Error, hold, known_device};
use crate::model::{Person, Stage};
use crate::store::{Entry, Purpose, Store};

/// Who gets the device, and where.
#[derive(Debug, Clone)]
pub struct AssignSettings {
    pub device: String,
    /// The person's full name.
    pub to: String,
    pub desk: String,
    /// Their login name (default: the one they had, else made from their name).
    pub username: Option<String>,
    pub email: Option<String>,
}

/// What was recorded.
#[derive(Debug, Clone)]
pub struct Assigned {
    pub device: String,
    pub person: Person,
    pub desk: String,
    /// The journal's wording ("assigned to Ada Lovelace (alovelace), desk 3.14").
    pub message: String,
}

/// "Ada Lovelace" -> "alovelace".
pub fn default_username(name: &str) -> String {
    let words: Vec<String> = name
        .split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect();
    match words.as_slice() {
        [] => "user".into(),
        [one] => one.clone(),
        [first, .., last] => format!("{}{last}", &first[..1]),
    }
}

/// The assignment override of `person` at `desk`.
pub(super) fn assignment(person: &Person, desk: &str) -> Result<Mapping, Error> {
    let mut m = Mapping::new();
    m.insert("assignee".into(), serde_yaml::to_value(person)?);
    m.insert("desk".into(), desk.into());
    Ok(m)
}

/// Writes `tag`'s assignment override (or removes it when `assignment` is None) where the
/// store keeps assignments (see [`super::records`]), checking the site still loads. Returns
/// what it was, to put back if a later step fails, and whether anything changed.
pub(super) fn set_assignment(
    env: &Env,
    store: &Store,
    tag: &str,
    assignment: Option<Mapping>,
) -> Result<(Before, bool), Error> {
    super::records::set_assignment(env, store, tag, assignment)
}

/// Registers putting the assignment back to `before`.
pub(super) fn undo_assignment<'a>(
    undo: &mut UndoStack<'a>,
    env: &'a Env,
    store: &'a Store,
    before: Before,
) {
    undo.push(move || super::records::restore_assignment(env, store, before));
}

pub fn assign(env: &Env, s: &AssignSettings) -> Result<Assigned, Error> {
    let site = env.load_site()?;
    let d = known_device(&site, &s.device)?;
    let store = env.open_store()?;
    let _held = hold(env, &store, &d.tag, Purpose::Assign)?;
    let stage = store.stage(&d.tag)?.map(|r| r.stage);
    if stage == Some(Stage::Retired) {
        return Err(Error::Refused(format!(
            "{} is retired; a retired device is not assigned",
            d.tag
        )));
    }
    // The same person keeps their login and email; a new person gets a login made up.
    let same = d.assignee.as_ref().filter(|p| p.name == s.to);
    let username = s.username.clone().unwrap_or_else(|| {
        same.and_then(|p| p.username.clone())
            .unwrap_or_else(|| default_username(&s.to))
    });
    let person = Person {
        name: s.to.clone(),
        username: Some(username.clone()),
        email: s
            .email
            .clone()
            .or_else(|| same.and_then(|p| p.email.clone())),
    };
    let mut undo = UndoStack::new();
    let (before, _) = set_assignment(env, &store, &d.tag, Some(assignment(&person, &s.desk)?))?;
    undo_assignment(&mut undo, env, &store, before);
    let message = format!("assigned to {} ({username}), desk {}", s.to, s.desk);
    store.record(&[Entry::new(&d.tag, &env.operator, "assigned").message(&message)])?;
    undo.commit();
    Ok(Assigned {
        device: d.tag.clone(),
        person,
        desk: s.desk.clone(),
        message,
    })
}
