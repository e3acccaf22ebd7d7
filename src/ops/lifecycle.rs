//! The other stage moves and remarks: `return` (back from its user, who gave it back and
//! in what condition, assignment cleared), `repair` (a repair record: fault, parts, ticket
//! or RMA, cost, technician), `retire` (with a reason), and `note`. `return` and `retire`
//! first run the profile's hooks on the device (`ops::hooks`), recorded with the move in
//! one transaction. Every stage rule goes through `model::Stage` (via the store's checked
//! transitions). Never prints.

use super::assign::{set_assignment, undo_assignment};
use super::hooks::{self, HookSettings};
use super::undo::UndoStack;
use super::{Env, Error, hold, known_anywhere, known_device};
use crate::model::{Cost, Stage, check_move, stage_name};
use crate::resolve::Hook;
use crate::store::{Entry, NewRepair, Purpose};

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
    /// What the profile's `on_return` hooks did (or that they were skipped); None when it
    /// has none.
    pub hooks: Option<String>,
}

/// What `retire` (or `repair`) did.
#[derive(Debug, Clone)]
pub struct Moved {
    /// The stage it came from.
    pub from: Option<Stage>,
    /// What the profile's `on_retire` hooks did (or that they were skipped); None when it
    /// has none (and always for `repair`).
    pub hooks: Option<String>,
}

/// Who gave a device back, and in what condition.
#[derive(Debug, Clone, Default)]
pub struct Handback {
    /// Who handed it back (default: its assignee).
    pub by: Option<String>,
    /// Its condition as the CSP saw it ("good", "cracked screen").
    pub condition: Option<String>,
}

/// `return`: back from its user, ready for the next one, after the profile's `on_return`
/// hooks ran on the device (or were skipped with `hooks.skip_device`).
pub fn give_back(env: &Env, device: &str, hooks: &HookSettings) -> Result<Returned, Error> {
    give_back_with(env, device, hooks, &Handback::default())
}

/// `return --by NAME --condition TEXT`: as [`give_back`], with who handed it back and in
/// what condition (kept on its handoff).
pub fn give_back_with(
    env: &Env,
    device: &str,
    hooks: &HookSettings,
    hb: &Handback,
) -> Result<Returned, Error> {
    for (flag, v) in [("--by", &hb.by), ("--condition", &hb.condition)] {
        if v.as_deref().is_some_and(|v| v.trim().is_empty()) {
            return Err(Error::BadInput(format!("{flag} needs some text")));
        }
    }
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
    // On the device first (with the assignee still known to its templates): a device that
    // cannot be reached, or a hook that fails, leaves the return unrecorded.
    let done = hooks::run(env, &site, &store, &d.tag, Hook::Return, hooks)?;
    let mut undo = UndoStack::new();
    let (before, cleared) = set_assignment(env, &store, &d.tag, None)?;
    undo_assignment(&mut undo, env, &store, before);
    let who = hb.by.clone().unwrap_or_else(|| {
        d.assignee
            .as_ref()
            .map_or("its user".to_string(), |p| p.name.clone())
    });
    let mut message = format!("returned by {who}");
    if let Some(c) = &hb.condition {
        message.push_str(&format!(", condition: {c}"));
    }
    if cleared {
        message.push_str("; assignment cleared");
    }
    let mut entries = done.entries;
    entries.push(Entry::new(&d.tag, &env.operator, "returned").message(&message));
    // A returned printer's queue stops taking jobs (unless its on_return hooks see to it).
    entries.extend(super::printer_queue::follow(
        env,
        &site,
        &store,
        &d.tag,
        Hook::Return,
        hooks.skip_device,
    )?);
    store.give_back(
        &d.tag,
        &env.operator,
        &who,
        hb.condition.as_deref(),
        &entries,
    )?;
    undo.commit();
    Ok(Returned {
        device: d.tag.clone(),
        message,
        assignment_cleared: cleared,
        declared_in: (!cleared && d.assignee.is_some()).then(|| d.origin.file.clone()),
        hooks: done.summary,
    })
}

/// `repair` and `retire`: a move with a reason. `retire` (given `hooks`) first runs the
/// profile's `on_retire` hooks on the device (or records them skipped with
/// `skip_device`).
pub fn with_reason(
    env: &Env,
    device: &str,
    to: Stage,
    reason: &str,
    hooks: Option<&HookSettings>,
) -> Result<Moved, Error> {
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
    if to == Stage::Retired {
        // A move the store would refuse runs no hook and leaves the queue.
        let from = store.stage(device)?.map(|r| r.stage);
        check_move(device, from, to)?;
    }
    let done = match hooks {
        Some(settings) if to == Stage::Retired => {
            hooks::run(env, &site, &store, device, Hook::Retire, settings)?
        }
        _ => hooks::Hooks::default(),
    };
    let mut entries = done.entries;
    entries.push(Entry::new(device, &env.operator, kind).message(reason));
    if to == Stage::Retired {
        // A retired printer's queue is removed from its print server (unless its
        // on_retire hooks see to it).
        entries.extend(super::printer_queue::follow(
            env,
            &site,
            &store,
            device,
            Hook::Retire,
            hooks.is_some_and(|h| h.skip_device),
        )?);
    }
    let from = store.transition(device, to, &env.operator, None, &entries)?;
    Ok(Moved {
        from,
        hooks: done.summary,
    })
}

/// A repair as the CSP describes it on the command line.
#[derive(Debug, Clone, Default)]
pub struct RepairSettings {
    pub device: String,
    /// What is wrong ("cracked hinge").
    pub fault: String,
    /// Parts replaced.
    pub parts: Vec<String>,
    /// The vendor's ticket.
    pub ticket: Option<String>,
    /// The vendor's return authorisation.
    pub rma: Option<String>,
    /// As written: `120.50 EUR`.
    pub cost: Option<String>,
    pub technician: Option<String>,
}

/// `repair`: to in-repair with a repair record. Returns the stage it came from and the
/// journal's wording.
pub fn repair(env: &Env, s: &RepairSettings) -> Result<(Option<Stage>, String), Error> {
    if s.fault.trim().is_empty() {
        return Err(Error::BadInput(
            "a repair needs the fault (--fault \"cracked hinge\")".into(),
        ));
    }
    let cost = s
        .cost
        .as_deref()
        .map(Cost::parse)
        .transpose()
        .map_err(|e| Error::BadInput(format!("--cost: {e}")))?;
    let parts: Vec<String> = s
        .parts
        .iter()
        .flat_map(|p| p.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    let site = env.load_site()?;
    let store = env.open_store()?;
    known_anywhere(&site, &store, &s.device)?;
    let _held = hold(env, &store, &s.device, Purpose::Repair)?;
    let record = NewRepair {
        fault: s.fault.trim().to_string(),
        parts,
        ticket: s.ticket.clone(),
        rma: s.rma.clone(),
        cost_minor: cost.as_ref().map(|c| c.minor),
        currency: cost.as_ref().map(|c| c.currency.clone()),
        technician: s.technician.clone(),
    };
    let message = describe_repair(&record);
    let from = store.send_to_repair(
        &s.device,
        &env.operator,
        &record,
        &[Entry::new(&s.device, &env.operator, "repair").message(&message)],
    )?;
    Ok((from, message))
}

/// A repair in one line: the fault, then what else is known.
pub fn describe_repair(r: &NewRepair) -> String {
    let mut out = r.fault.clone();
    if !r.parts.is_empty() {
        out.push_str(&format!("; parts: {}", r.parts.join(", ")));
    }
    if let Some(t) = &r.ticket {
        out.push_str(&format!("; ticket {t}"));
    }
    if let Some(t) = &r.rma {
        out.push_str(&format!("; RMA {t}"));
    }
    if let (Some(m), Some(c)) = (r.cost_minor, &r.currency) {
        let cost = Cost {
            minor: m,
            currency: c.clone(),
        };
        out.push_str(&format!("; cost {cost}"));
    }
    if let Some(t) = &r.technician {
        out.push_str(&format!("; technician {t}"));
    }
    out
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
