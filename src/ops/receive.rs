//! Receiving delivered hardware: one device by its tag, a delivery's packing list (all or
//! nothing), or scanned asset tags one at a time.
//!
//! A device already declared in the inventory is checked against what the delivery says;
//! a new one is added to the tool-owned `inventory/received.yaml` (put back when the store
//! refuses). Never prints.

use std::collections::{BTreeMap, HashSet};

use serde_yaml::{Mapping, Value};

use super::undo::UndoStack;
use super::{Env, Error, hold};
use crate::load::diag::unknown;
use crate::model::{Device, DeviceKind, Stage, stage_name};
use crate::owned::{self, RECEIVED};
use crate::site::Site;
use crate::store::{Entry, Holder, Purpose, Store};

/// What was received, and which of those were added to the inventory.
#[derive(Debug, Clone, Default)]
pub struct Received {
    pub received: Vec<String>,
    pub added: Vec<String>,
    /// Where the added devices were recorded: `inventory/received.yaml`, or a team store's
    /// receipts.
    pub added_to: String,
}

/// Receives one device as described (`tag` and the columns given on the command line).
pub fn one(env: &Env, d: Delivered) -> Result<Received, Error> {
    let site = env.load_site()?;
    let store = env.open_store()?;
    let _held = match crate::load::bad_tag(&d.tag) {
        None => Some(hold(env, &store, &d.tag, Purpose::Receive)?),
        Some(_) => None,
    };
    let problems = check(&site, &store, &d, &mut HashSet::new())?;
    if !problems.is_empty() {
        return Err(Error::BadInput(problems.join("\n")));
    }
    receive_all(env, &site, &store, &[d])
}

/// CSV columns a packing list may have; the first four are required.
pub const COLUMNS: &[&str] = &[
    "asset_tag",
    "serial",
    "model",
    "kind",
    "mac",
    "assignee",
    "username",
    "email",
    "desk",
    "site",
    "floor",
    "profile",
    "uri",
];
const REQUIRED: &[&str] = &["asset_tag", "serial", "model", "kind"];

/// One device as a delivery describes it: its tag and the columns given.
#[derive(Debug, Default, Clone)]
pub struct Delivered {
    pub tag: String,
    pub fields: BTreeMap<&'static str, String>,
}

impl Delivered {
    fn get(&self, k: &str) -> Option<&str> {
        self.fields
            .get(k)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// What is wrong with receiving `d` (empty when it may be received).
fn check(
    site: &Site,
    store: &Store,
    d: &Delivered,
    seen: &mut HashSet<String>,
) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    if let Some(msg) = crate::load::bad_tag(&d.tag) {
        out.push(msg);
        return Ok(out);
    }
    if !seen.insert(d.tag.clone()) {
        out.push(format!("{} appears twice", d.tag));
    }
    if let Some(k) = d.get("kind")
        && !DeviceKind::ALL.contains(&k)
    {
        out.push(format!(
            "column `kind`: {}",
            unknown("value", k, DeviceKind::ALL)
        ));
    }
    if let Some(m) = d.get("mac")
        && !crate::load::is_mac(m)
    {
        out.push(format!("column `mac`: `{m}` is not a MAC address; expected six hex pairs such as 8c:16:45:2a:0b:11"));
    }
    if let Some(p) = d.get("profile")
        && !site.profiles.contains_key(p)
    {
        let names: Vec<&str> = site.profiles.keys().map(String::as_str).collect();
        out.push(format!(
            "column `profile`: {}",
            unknown("profile", p, &names)
        ));
    }
    match site.device(&d.tag) {
        Some(declared) => out.extend(conflicts(declared, d)),
        None => {
            for col in ["serial", "model", "kind"] {
                if d.get(col).is_none() {
                    out.push(format!(
                        "{} is not in the inventory, so its `{col}` is needed (with --{col}, or the CSV column)",
                        d.tag
                    ));
                }
            }
        }
    }
    let from = store.stage(&d.tag)?.map(|r| r.stage);
    if !Stage::can_move(from, Stage::Received) {
        out.push(format!("{} is already {}; only a device that is expected (or back from repair or its user) can be received", d.tag, stage_name(from)));
    }
    Ok(out)
}

/// Differences between what the inventory declares and what the delivery says.
fn conflicts(declared: &Device, d: &Delivered) -> Vec<String> {
    let mut out = Vec::new();
    let at = format!("{}:{}", declared.origin.file, declared.origin.line);
    let mut cmp = |col: &str, have: Option<&str>| {
        if let (Some(have), Some(given)) = (have, d.get(col))
            && !have.eq_ignore_ascii_case(given)
        {
            out.push(format!(
                "{} is declared in {at} with {col} {have}, but the delivery says {given}; check the label, or correct the inventory",
                d.tag
            ));
        }
    };
    cmp("serial", declared.serial.as_deref());
    cmp("model", Some(declared.model.as_str()));
    cmp("kind", Some(declared.kind.as_str()));
    cmp("mac", declared.mac.as_deref());
    out
}

/// The inventory entry of a device not declared anywhere.
fn entry(d: &Delivered) -> Value {
    let mut m = Mapping::new();
    let mut put = |k: &str, v: Value| {
        m.insert(Value::String(k.into()), v);
    };
    for k in ["kind", "model", "serial", "mac", "uri", "profile"] {
        if let Some(v) = d.get(k) {
            put(k, Value::String(v.into()));
        }
    }
    if let Some(name) = d.get("assignee") {
        let mut a = Mapping::new();
        a.insert("name".into(), name.into());
        if let Some(u) = d.get("username") {
            a.insert("username".into(), u.into());
        }
        if let Some(e) = d.get("email") {
            a.insert("email".into(), e.into());
        }
        put("assignee", Value::Mapping(a));
    }
    let mut loc = Mapping::new();
    for k in ["site", "floor", "desk"] {
        if let Some(v) = d.get(k) {
            loc.insert(k.into(), v.into());
        }
    }
    if !loc.is_empty() {
        put("location", Value::Mapping(loc));
    }
    Value::Mapping(m)
}

/// Adds the new devices to `inventory/received.yaml` (checked) and moves every one to
/// `received` in one transaction; on a refusal the file is put back. The caller holds
/// every device's lock.
fn receive_all(env: &Env, site: &Site, store: &Store, ds: &[Delivered]) -> Result<Received, Error> {
    let new: Vec<&Delivered> = ds
        .iter()
        .filter(|d| site.device(&d.tag).is_none())
        .collect();
    let mut undo = UndoStack::new();
    let mut receipts = Vec::new();
    if !new.is_empty() && super::records::in_store(store) {
        let entries: Vec<(String, Mapping)> = new
            .iter()
            .filter_map(|d| match entry(d) {
                Value::Mapping(m) => Some((d.tag.clone(), m)),
                _ => None,
            })
            .collect();
        receipts = super::records::check_receipts(env, store, &entries)?;
    } else if !new.is_empty() {
        let before = std::fs::read(env.site_dir.join(RECEIVED)).ok();
        let mut map = owned::read_section(&env.site_dir, RECEIVED, "devices");
        for d in &new {
            map.insert(Value::String(d.tag.clone()), entry(d));
        }
        owned::edit_checked(&env.site_dir, RECEIVED, &owned::render("devices", map))?;
        undo.push(move || owned::restore(&env.site_dir, RECEIVED, before));
    }
    let moves: Vec<(String, Stage, Vec<Entry>)> = ds
        .iter()
        .map(|d| {
            let facts: Vec<String> = ["serial", "model", "kind", "mac"]
                .iter()
                .filter_map(|k| d.get(k).map(|v| format!("{k} {v}")))
                .collect();
            let mut msg = if facts.is_empty() {
                "received".to_string()
            } else {
                format!("received: {}", facts.join(", "))
            };
            if site.device(&d.tag).is_none() {
                if super::records::in_store(store) {
                    msg.push_str(" (added to the team store's receipts)");
                } else {
                    msg.push_str(&format!(" (added to {RECEIVED})"));
                }
            }
            (
                d.tag.clone(),
                Stage::Received,
                vec![Entry::new(&d.tag, &env.operator, "received").message(msg)],
            )
        })
        .collect();
    if receipts.is_empty() {
        store.transition_all(&moves, &env.operator)?;
    } else {
        store.receive_all(&moves, &receipts, &env.operator)?;
    }
    undo.commit();
    Ok(Received {
        received: ds.iter().map(|d| d.tag.clone()).collect(),
        added: new.iter().map(|d| d.tag.clone()).collect(),
        added_to: if super::records::in_store(store) {
            "the team store's receipts".into()
        } else {
            RECEIVED.into()
        },
    })
}

/// Receives a delivery's packing list: every device, or none when any row has a problem.
pub fn packing_list(env: &Env, path: &std::path::Path) -> Result<Received, Error> {
    let name = path.display().to_string();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| Error::BadInput(format!("cannot read {name}: {e}")))?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| Error::BadInput(format!("{name}:1: {e}")))?
        .iter()
        .map(|h| h.to_ascii_lowercase().replace([' ', '-'], "_"))
        .collect();
    let mut problems = Vec::new();
    let mut columns: Vec<Option<&'static str>> = Vec::new();
    for h in &headers {
        match COLUMNS.iter().find(|c| **c == h) {
            Some(c) => columns.push(Some(c)),
            None => {
                problems.push(format!("{name}:1: {}", unknown("column", h, COLUMNS)));
                columns.push(None);
            }
        }
    }
    for r in REQUIRED {
        if !headers.iter().any(|h| h == r) {
            problems.push(format!(
                "{name}:1: missing required column `{r}` (required: {})",
                REQUIRED.join(", ")
            ));
        }
    }
    if !problems.is_empty() {
        return Err(Error::BadInput(problems.join("\n")));
    }
    let site = env.load_site()?;
    let store = env.open_store()?;
    let mut seen = HashSet::new();
    let mut ds = Vec::new();
    for rec in reader.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                problems.push(format!("{name}:{line}: {e}"));
                continue;
            }
        };
        let line = rec.position().map_or(0, |p| p.line());
        let mut d = Delivered::default();
        for (col, value) in columns.iter().zip(rec.iter()) {
            if let Some(col) = col {
                if *col == "asset_tag" {
                    d.tag = value.to_string();
                } else if !value.is_empty() {
                    d.fields.insert(col, value.to_string());
                }
            }
        }
        for r in REQUIRED {
            if (*r == "asset_tag" && d.tag.is_empty()) || (*r != "asset_tag" && d.get(r).is_none())
            {
                problems.push(format!(
                    "{name}:{line}: column `{r}` is empty; it is required"
                ));
            }
        }
        if d.tag.is_empty() {
            continue;
        }
        for p in check(&site, &store, &d, &mut seen)? {
            problems.push(format!("{name}:{line}: {p}"));
        }
        ds.push(d);
    }
    if !problems.is_empty() {
        return Err(Error::BadInput(format!(
            "{}\nnothing from {name} was received",
            problems.join("\n")
        )));
    }
    if ds.is_empty() {
        return Err(Error::BadInput(format!("{name} lists no devices")));
    }
    let tags: Vec<String> = ds.iter().map(|d| d.tag.clone()).collect();
    let _held = store.lock_all(&tags, &Holder::doing(&env.operator, Purpose::Receive))?;
    receive_all(env, &site, &store, &ds)
}

/// Receiving scanned asset tags one at a time, each declared device at once.
pub struct Scanner {
    site: Site,
    store: std::sync::Arc<Store>,
}

impl Scanner {
    pub fn open(env: &Env) -> Result<Scanner, Error> {
        Ok(Scanner {
            site: env.load_site()?,
            store: env.open_store()?,
        })
    }

    /// Receives one scanned tag; `Ok(Err(problem))` when this tag cannot be received (the
    /// scan goes on), `Err` when the store failed.
    pub fn receive(&self, env: &Env, tag: &str) -> Result<Result<(), String>, Error> {
        let (site, store) = (&self.site, &self.store);
        if site.device(tag).is_none() {
            let tags: Vec<&str> = site.devices.keys().map(String::as_str).collect();
            return Ok(Err(format!(
                "{}; scan receives only devices declared in the inventory (use --csv for new ones)",
                unknown("device", tag, &tags)
            )));
        }
        let d = Delivered {
            tag: tag.to_string(),
            ..Default::default()
        };
        let _held = match hold(env, store, tag, Purpose::Receive) {
            Ok(g) => g,
            Err(Error::Store(e @ crate::store::StoreError::Locked { .. })) => {
                return Ok(Err(e.to_string()));
            }
            Err(e) => return Err(e),
        };
        let problems = check(site, store, &d, &mut HashSet::new())?;
        if let Some(p) = problems.first() {
            return Ok(Err(p.clone()));
        }
        store.transition(
            tag,
            Stage::Received,
            &env.operator,
            None,
            &[Entry::new(tag, &env.operator, "received").message("received (scanned)")],
        )?;
        Ok(Ok(()))
    }
}
