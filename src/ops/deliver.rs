//! `deliver`: hand a configured device to its person. Records a different desk than
//! assigned, writes their handoff sheet (Markdown and HTML) and moves the device to
//! `delivered` with its journal row; every step already done is undone, in one place (an
//! [`UndoStack`]), when a later one fails. Never prints.

use std::path::PathBuf;

use super::assign::{assignment, set_assignment, undo_assignment};
use super::undo::UndoStack;
use super::{Env, Error, hold, known_device};
use crate::handoff::{self, Delivery};
use crate::model::{MoveRefused, Person, Stage};
use crate::owned;
use crate::store::{Entry, Purpose};

#[derive(Debug, Clone)]
pub struct DeliverSettings {
    pub device: String,
    /// Where it was handed over, when not the desk it was assigned to.
    pub desk: Option<String>,
}

/// What was done.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub device: String,
    pub person: Person,
    pub desk: Option<String>,
    /// When, RFC 3339.
    pub at: String,
    pub sheet_markdown: PathBuf,
    pub sheet_html: PathBuf,
}

pub fn deliver(env: &Env, s: &DeliverSettings) -> Result<Delivered, Error> {
    let site = env.load_site()?;
    let d = known_device(&site, &s.device)?;
    let store = env.open_store()?;
    let _held = hold(env, &store, &d.tag, Purpose::Deliver)?;
    let from = store.stage(&d.tag)?.map(|r| r.stage);
    if !Stage::can_move(from, Stage::Delivered) {
        return Err(MoveRefused::new(&d.tag, from, Stage::Delivered).into());
    }
    let Some(person) = d.assignee.clone() else {
        return Err(Error::Refused(format!(
            "{} has no assignee; assign it first: deskready assign {} --to PERSON --desk DESK",
            d.tag, d.tag
        )));
    };
    let mut undo = UndoStack::new();
    // A different desk than assigned is recorded as the device's desk from now on.
    let new_desk = s
        .desk
        .as_ref()
        .filter(|desk| d.location.desk.as_deref() != Some(desk.as_str()));
    let mut site = site;
    if let Some(desk) = new_desk {
        let (before, _) = set_assignment(env, &store, &s.device, Some(assignment(&person, desk)?))?;
        undo_assignment(&mut undo, env, &store, before);
        site = env.load_site()?;
    }
    let d = known_device(&site, &s.device)?;
    let delivery = Delivery {
        at: crate::store::now(),
        by: env.operator.clone(),
        desk: d.location.desk.clone(),
    };
    // The sheet needs the device's variables, not its content: secrets stay stand-ins.
    let stand_ins = crate::secrets::Secrets::placeholders(&site);
    let resolved =
        crate::resolve::resolve_with(&site, &d.tag, &env.vars, &stand_ins).map_err(Error::Site)?;
    let sheet = handoff::render(&site, &resolved, &delivery).map_err(Error::BadInput)?;
    let dir = site.state_dir().join("handoff");
    let md = dir.join(format!("{}.md", d.tag));
    let html = dir.join(format!("{}.html", d.tag));
    for (path, text) in [(&md, &sheet.markdown), (&html, &sheet.html)] {
        let old = std::fs::read(path).ok();
        owned::write_atomic(path, text.as_bytes())?;
        let path = path.clone();
        undo.push(move || {
            let _ = match old {
                Some(bytes) => owned::write_atomic(&path, &bytes),
                None => std::fs::remove_file(&path),
            };
        });
    }
    let msg = format!(
        "delivered to {} at desk {}; handoff sheet {}",
        person.name,
        delivery.desk.as_deref().unwrap_or("?"),
        md.display()
    );
    store.transition(
        &d.tag,
        Stage::Delivered,
        &env.operator,
        None,
        &[Entry::new(&d.tag, &env.operator, "delivered").message(&msg)],
    )?;
    undo.commit();
    Ok(Delivered {
        device: d.tag.clone(),
        person,
        desk: delivery.desk,
        at: delivery.at,
        sheet_markdown: md,
        sheet_html: html,
    })
}
