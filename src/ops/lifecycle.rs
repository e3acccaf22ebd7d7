//! The other stage moves and remarks: `return` (back from its user, assignment cleared),
//! `repair` and `retire` (with a reason), and `note`. Every stage rule goes through
//! `model::Stage` (via the store's checked transitions). Never prints.

use super::assign::{set_assignment, undo_assignment};
use super::undo::UndoStack;
use super::{Env, Error, hold, known_anywhere, known_device};
use crate::model::{Stage, stage_name};
use crate::store::{Entry, Purpose};

/// What `return` did.
#[derive(Debug, Clone)]
pub struct Returned {
    pub device: String,
    /// The journal's wording ("returned by Ada Lovelace; assignment cleared").
    pub message: String,
    /// The tool-owned assignment was removed.
    pub assignment_cleared: bool,
    /// The assignee is declared in this hand-written file (not cleared by the tool).
    pub declared_in: Option<String>,
}

/// `return`: back from its user, ready for the next one.
pub fn give_back(env: &Env, device: &str) -> Result<Returned, Error> {
    let site = env.load_site()?;
    let d = known_device(&site, device)?;
    let store = env.open_store()?;
    let _held = hold(env, &store, &d.tag, Purpose::Return)?;
    let from = store.stage(&d.tag)?.map(|r| r.stage);
    if from != Some(Stage::Delivered) {
        return Err(Error::Refused(format!(
            "{} is {}; only a delivered device can be returned by its user",
            d.tag,
            stage_name(from)
        )));
    }
    let mut undo = UndoStack::new();
    let (before, cleared) = set_assignment(env, &store, &d.tag, None)?;
    undo_assignment(&mut undo, env, &store, before);
    let who = d
        .assignee
        .as_ref()
        .map_or("its user".to_string(), |p| p.name.clone());
    let mut message = format!("returned by {who}");
    if cleared {
        message.push_str("; assignment cleared");
    }
    store.transition(
        &d.tag,
        Stage::Received,
        &env.operator,
        None,
        &[Entry::new(&d.tag, &env.operator, "returned").message(&message)],
    )?;
    undo.commit();
    Ok(Returned {
        device: d.tag.clone(),
        message,
        assignment_cleared: cleared,
        declared_in: (!cleared && d.assignee.is_some()).then(|| d.origin.file.clone()),
    })
}

/// `repair` and `retire`: a move with a reason. Returns the stage it came from.
pub fn with_reason(
    env: &Env,
    device: &str,
    to: Stage,
    reason: &str,
) -> Result<Option<Stage>, Error> {
    let site = env.load_site()?;
    let store = env.open_store()?;
    // A retired device may have left the inventory; its history stays.
    known_anywhere(&site, &store, device)?;
    let (kind, purpose) = if to == Stage::Retired {
        ("retired", Purpose::Retire)
    } else {
        ("repair", Purpose::Repair)
    };
    let _held = hold(env, &store, device, purpose)?;
    Ok(store.transition(
        device,
        to,
        &env.operator,
        None,
        &[Entry::new(device, &env.operator, kind).message(reason)],
    )?)
}

/// `note`: a remark in a device's journal.
pub fn note(env: &Env, device: &str, text: &str) -> Result<(), Error> {
    let site = env.load_site()?;
    let store = env.open_store()?;
    known_anywhere(&site, &store, device)?;
    if text.trim().is_empty() {
        return Err(Error::BadInput("a note needs some text".into()));
    }
    let _held = hold(env, &store, device, Purpose::Note)?;
    store.record(&[Entry::new(device, &env.operator, "note").message(text)])?;
    Ok(())
}
