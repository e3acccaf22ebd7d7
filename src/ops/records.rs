//! Receipts and assignments, wherever the site's store keeps them: with the embedded
//! (SQLite) store in the tool-owned files `inventory/received.yaml` and
//! `inventory/assignments.yaml`, reviewed in git like the rest of the inventory; with a
//! team (PostgreSQL) store in the store, one row per device, so that CSPs on several
//! checkouts see each other's at once, and loaded in place of those two files. Every edit
//! is checked by loading the site with it first. `export` writes the store's rows as the
//! two files. Never prints.

use std::path::PathBuf;

use serde_yaml::{Mapping, Value};

use super::{Env, Error};
use crate::load::Overlay;
use crate::owned::{self, ASSIGNMENTS, RECEIVED};
use crate::store::{Backend, Record, Store};

/// Whether `store` keeps the receipts and assignments itself (a team store).
pub fn in_store(store: &Store) -> bool {
    store.backend() == Backend::Postgres
}

fn file_of(record: Record) -> (&'static str, &'static str) {
    match record {
        Record::Receipt => (RECEIVED, "devices"),
        Record::Assignment => (ASSIGNMENTS, "overrides"),
    }
}

/// The name a team store's record is loaded (and its problems reported) under.
fn shown_as(record: Record) -> String {
    match record {
        Record::Receipt => "team store: receipts".into(),
        Record::Assignment => "team store: assignments".into(),
    }
}

/// Changes to a record: a tag and its new mapping, or `None` to drop it.
type Change = [(String, Option<Mapping>)];

/// One record's rows as the YAML file they stand for, with `change` applied (a tag and its
/// new mapping, or `None` to drop it).
fn render(rows: &[(String, String)], record: Record, change: &Change) -> Result<String, Error> {
    let mut map = Mapping::new();
    for (tag, entry) in rows {
        let v: Value = serde_yaml::from_str(entry)?;
        map.insert(Value::String(tag.clone()), v);
    }
    for (tag, m) in change {
        match m {
            Some(m) => {
                map.insert(Value::String(tag.clone()), Value::Mapping(m.clone()));
            }
            None => {
                map.remove(tag.as_str());
            }
        }
    }
    Ok(owned::render(file_of(record).1, map))
}

/// The overlay that loads a team store's records in place of the two files, with `change`
/// applied to `changed`.
fn overlay(store: &Store, changed: Option<(Record, &Change)>) -> Result<Overlay, Error> {
    let mut docs = Vec::new();
    for record in [Record::Receipt, Record::Assignment] {
        let rows = store.records(record)?;
        let change = match changed {
            Some((r, c)) if r == record => c,
            _ => &[],
        };
        docs.push((
            file_of(record).0.to_string(),
            shown_as(record),
            render(&rows, record, change)?,
        ));
    }
    Ok(Overlay { docs })
}

/// The overlay a team store's site loads with (empty for the embedded store).
pub fn team_overlay(env: &Env) -> Result<Overlay, Error> {
    if !matches!(env.store_location()?, crate::store::Location::Postgres(_)) {
        return Ok(Overlay::default());
    }
    let store = env.open_store()?;
    overlay(&store, None)
}

/// The site as a team store sees it: the store's receipts and assignments in place of the
/// two files.
pub fn load_site(env: &Env, store: &Store) -> Result<crate::site::Site, Error> {
    crate::load::load_site_over(&env.site_dir, &overlay(store, None)?).map_err(Error::Site)
}

/// Checks the site still loads with `change` applied to a team store's `record`; the site
/// as it would be.
fn check(
    env: &Env,
    store: &Store,
    record: Record,
    change: &Change,
) -> Result<crate::site::Site, Error> {
    crate::load::load_site_over(&env.site_dir, &overlay(store, Some((record, change)))?)
        .map_err(Error::Site)
}

/// Checks that the new devices `receipts` (tag, inventory entry) load, for a team store;
/// the site as it would be with them (for `guard::still_render`), and their rows as the
/// store keeps them.
pub(super) fn check_receipts(
    env: &Env,
    store: &Store,
    receipts: &[(String, Mapping)],
) -> Result<(crate::site::Site, Vec<(String, String)>), Error> {
    let change: Vec<(String, Option<Mapping>)> = receipts
        .iter()
        .map(|(t, m)| (t.clone(), Some(m.clone())))
        .collect();
    let site = check(env, store, Record::Receipt, &change)?;
    let rows = receipts
        .iter()
        .map(|(t, m)| {
            Ok((
                t.clone(),
                serde_yaml::to_string(&Value::Mapping(m.clone()))?,
            ))
        })
        .collect::<Result<_, Error>>()?;
    Ok((site, rows))
}

/// `tag`'s receipt in a team store, as its inventory mapping (`None`: it has none).
pub(super) fn receipt(store: &Store, tag: &str) -> Result<Option<Mapping>, Error> {
    let rows = store.records(Record::Receipt)?;
    match rows.into_iter().find(|(t, _)| t == tag) {
        Some((_, entry)) => match serde_yaml::from_str(&entry)? {
            Value::Mapping(m) => Ok(Some(m)),
            _ => Ok(None),
        },
        None => Ok(None),
    }
}

/// Sets `tag`'s receipt in a team store to `entry`, checking the site still loads with it;
/// the site as it is then (for `guard::still_render`) and the row it had, for
/// [`restore_receipt`].
pub(super) fn set_receipt(
    env: &Env,
    store: &Store,
    tag: &str,
    entry: Mapping,
) -> Result<(crate::site::Site, Option<String>), Error> {
    let site = check(
        env,
        store,
        Record::Receipt,
        &[(tag.to_string(), Some(entry.clone()))],
    )?;
    let text = serde_yaml::to_string(&Value::Mapping(entry))?;
    let row = store.set_record(Record::Receipt, tag, Some(&text), &env.operator, &[])?;
    Ok((site, row))
}

/// Puts a team store's receipt back as it was.
pub(super) fn restore_receipt(env: &Env, store: &Store, tag: &str, row: Option<String>) {
    let _ = store.set_record(Record::Receipt, tag, row.as_deref(), &env.operator, &[]);
}

/// What an assignment looked like before an edit, to put it back.
#[derive(Debug)]
pub(super) enum Before {
    /// The assignments file's bytes (`None`: there was no file).
    File(Option<Vec<u8>>),
    /// The device's row in the team store.
    Row { tag: String, row: Option<String> },
}

/// The keys of a device's override that are its assignment; the others (purchase facts a
/// delivery gave) stay when it is assigned again or returned.
const ASSIGNMENT_KEYS: &[&str] = &["assignee", "desk"];

/// `tag`'s override with the keys in `drop` taken out and `add` put in; `None` when nothing
/// is left.
fn merged(old: Option<&Value>, drop: &[&str], add: Mapping) -> Option<Mapping> {
    let mut m = old.and_then(Value::as_mapping).cloned().unwrap_or_default();
    m.retain(|k, _| !k.as_str().is_some_and(|k| drop.contains(&k)));
    m.extend(add);
    (!m.is_empty()).then_some(m)
}

/// Changes several devices' overrides at once, each by `merged` (keys in `drop` out, its
/// mapping in), checking the site still loads; what they were (to put back) and whether
/// anything changed.
fn edit_overrides(
    env: &Env,
    store: &Store,
    drop: &[&str],
    edits: Vec<(String, Mapping)>,
) -> Result<(Vec<Before>, bool), Error> {
    if !in_store(store) {
        let before = std::fs::read(env.site_dir.join(ASSIGNMENTS)).ok();
        let mut map = owned::read_section(&env.site_dir, ASSIGNMENTS, "overrides");
        let old = map.clone();
        for (tag, add) in edits {
            match merged(map.get(tag.as_str()), drop, add) {
                Some(m) => map.insert(Value::String(tag), Value::Mapping(m)),
                None => map.remove(tag.as_str()),
            };
        }
        if map == old {
            return Ok((vec![Before::File(before)], false));
        }
        owned::edit_checked(&env.site_dir, ASSIGNMENTS, &owned::render("overrides", map))?;
        return Ok((vec![Before::File(before)], true));
    }
    let rows = store.records(Record::Assignment)?;
    let mut change: Vec<(String, Option<Mapping>)> = Vec::new();
    for (tag, add) in edits {
        let old = match rows.iter().find(|(t, _)| *t == tag) {
            Some((_, text)) => Some(serde_yaml::from_str::<Value>(text)?),
            None => None,
        };
        change.push((tag, merged(old.as_ref(), drop, add)));
    }
    check(env, store, Record::Assignment, &change)?;
    let mut befores = Vec::new();
    let mut changed = false;
    for (tag, m) in change {
        let text = m
            .map(|a| serde_yaml::to_string(&Value::Mapping(a)))
            .transpose()?;
        let row = store.set_record(
            Record::Assignment,
            &tag,
            text.as_deref(),
            &env.operator,
            &[],
        )?;
        changed |= row != text;
        befores.push(Before::Row { tag, row });
    }
    Ok((befores, changed))
}

/// Sets (or with `None` removes) `tag`'s assignment, checking the site still loads; returns
/// what it was and whether anything changed. The rest of its override (purchase facts)
/// stays.
pub(super) fn set_assignment(
    env: &Env,
    store: &Store,
    tag: &str,
    assignment: Option<Mapping>,
) -> Result<(Before, bool), Error> {
    let (mut befores, changed) = edit_overrides(
        env,
        store,
        ASSIGNMENT_KEYS,
        vec![(tag.to_string(), assignment.unwrap_or_default())],
    )?;
    Ok((befores.remove(0), changed))
}

/// Adds purchase facts (`supplier`, `order`, `purchase_date`, `warranty_until`) that
/// devices' declarations lack to their overrides, checking the site still loads; what the
/// overrides were, to put back with [`restore_assignment`].
pub(super) fn add_purchases(
    env: &Env,
    store: &Store,
    facts: Vec<(String, Mapping)>,
) -> Result<Vec<Before>, Error> {
    if facts.is_empty() {
        return Ok(Vec::new());
    }
    Ok(edit_overrides(env, store, &[], facts)?.0)
}

/// Puts an assignment back as it was.
pub(super) fn restore_assignment(env: &Env, store: &Store, before: Before) {
    match before {
        Before::File(bytes) => owned::restore(&env.site_dir, ASSIGNMENTS, bytes),
        Before::Row { tag, row } => {
            let _ = store.set_record(Record::Assignment, &tag, row.as_deref(), &env.operator, &[]);
        }
    }
}

/// What `export` wrote.
#[derive(Debug, Clone)]
pub struct Exported {
    /// Each file written and how many devices it holds.
    pub files: Vec<(PathBuf, usize)>,
}

/// Writes a team store's receipts and assignments as the two tool-owned files under `dir`
/// (default: the site, where the embedded store's site reads them), for review or for
/// moving off a team store.
pub fn export(env: &Env, dir: Option<PathBuf>) -> Result<Exported, Error> {
    let store = env.open_store()?;
    let dir = dir.unwrap_or_else(|| env.site_dir.clone());
    let mut files = Vec::new();
    for record in [Record::Receipt, Record::Assignment] {
        let (rel, _) = file_of(record);
        let rows = if in_store(&store) {
            store.records(record)?
        } else {
            // The embedded store's records are the files themselves.
            let map = owned::read_section(&env.site_dir, rel, file_of(record).1);
            map.into_iter()
                .filter_map(|(k, v)| {
                    Some((k.as_str()?.to_string(), serde_yaml::to_string(&v).ok()?))
                })
                .collect()
        };
        let path = dir.join(rel);
        owned::write_atomic(&path, render(&rows, record, &[])?.as_bytes())?;
        files.push((path, rows.len()));
    }
    Ok(Exported { files })
}
