//! What happened and where everything is: a device's history, every device's status, and
//! the fleet report (written as HTML when asked). Reads only, except the report file.
//! Never prints.

use std::path::Path;

use serde::Serialize;

use super::report::{self as fleet, FleetReport};
use super::{Env, Error, known_device, known_group};
use crate::model::{Stage, stage_name};
use crate::store::Entry;

/// A device's journal and where it is now.
#[derive(Debug, Clone)]
pub struct History {
    pub device: String,
    /// Its stage's name (`expected` for a device never received).
    pub stage: &'static str,
    /// Oldest first.
    pub entries: Vec<Entry>,
}

pub fn history(env: &Env, device: &str) -> Result<History, Error> {
    let site = env.load_site()?;
    let store = env.open_store()?;
    let entries = store.history(device)?;
    if entries.is_empty() && site.device(device).is_none() {
        known_device(&site, device)?;
    }
    Ok(History {
        device: device.to_string(),
        stage: stage_name(store.stage(device)?.map(|r| r.stage)),
        entries,
    })
}

/// Which devices `status` lists.
#[derive(Debug, Clone, Default)]
pub struct StatusSettings {
    /// Only devices in this stage (`expected` for devices never received).
    pub stage: Option<String>,
    /// Only devices in this group.
    pub group: Option<String>,
}

/// One device in `status`. Fields are in the order JSON prints them (alphabetical).
#[derive(Debug, Clone, Serialize)]
pub struct StatusRow {
    pub assignee: Option<String>,
    pub device: String,
    /// `None` for a device that has left the inventory.
    pub kind: Option<&'static str>,
    pub last_change: Option<String>,
    pub last_error: Option<String>,
    pub location: String,
    /// Absent for a device that has left the inventory; `Some(None)` when it has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maintenance_window: Option<Option<WindowStatus>>,
    pub since: Option<String>,
    pub stage: &'static str,
}

/// A device's maintenance window in `status`: where it is declared and when it next opens.
#[derive(Debug, Clone, Serialize)]
pub struct WindowStatus {
    /// Where the window is declared.
    pub from: String,
    /// "open now, until ..." or when it next opens ("never").
    pub next: String,
    pub window: String,
}

/// Every device (of the group, in the stage) with its stage, assignee, location, last
/// change and maintenance window; then devices with a history that have left the
/// inventory.
pub fn status(env: &Env, a: &StatusSettings) -> Result<Vec<StatusRow>, Error> {
    let site = env.load_site()?;
    if let Some(s) = &a.stage
        && s != "expected"
        && Stage::parse(s).is_none()
    {
        let mut names: Vec<&str> = vec!["expected"];
        names.extend(Stage::ALL.iter().map(|s| s.as_str()));
        return Err(Error::BadInput(crate::load::diag::unknown(
            "stage", s, &names,
        )));
    }
    if let Some(g) = &a.group {
        known_group(&site, g)?;
    }
    let store = env.open_store()?;
    let now = jiff::Timestamp::now();
    let stages: std::collections::HashMap<String, crate::store::StageRecord> =
        store.stages()?.into_iter().collect();
    let last = store.last_changes()?;
    let mut rows = Vec::new();
    for d in site.devices.values() {
        if let Some(g) = &a.group
            && !d.groups.contains(g)
        {
            continue;
        }
        let rec = stages.get(&d.tag);
        let stage = stage_name(rec.map(|r| r.stage));
        if a.stage.as_deref().is_some_and(|s| s != stage) {
            continue;
        }
        let window = site.window_of(d).map(|(w, source)| {
            let next = match w.open_at(now) {
                Some((_, close)) => format!(
                    "open now, until {}",
                    crate::model::local_time(&close, &w.tz_name)
                ),
                None => w
                    .next_open(now)
                    .map_or("never".into(), |z| crate::model::local_time(&z, &w.tz_name)),
            };
            WindowStatus {
                from: source,
                next,
                window: w.describe(),
            }
        });
        rows.push(StatusRow {
            assignee: d.assignee.as_ref().map(|p| p.name.clone()),
            device: d.tag.clone(),
            kind: Some(d.kind.as_str()),
            last_change: last.get(&d.tag).cloned(),
            last_error: rec.and_then(|r| r.last_error.clone()),
            location: d.location.describe(),
            maintenance_window: Some(window),
            since: rec.map(|r| r.since.clone()),
            stage,
        });
    }
    // Devices with a history that have left the inventory (retired and removed).
    if a.group.is_none() {
        for (tag, rec) in &stages {
            if site.device(tag).is_none()
                && a.stage.as_deref().is_none_or(|s| s == rec.stage.as_str())
            {
                rows.push(StatusRow {
                    assignee: None,
                    device: tag.clone(),
                    kind: None,
                    last_change: last.get(tag).cloned(),
                    last_error: rec.last_error.clone(),
                    location: "(not in the inventory)".into(),
                    maintenance_window: None,
                    since: Some(rec.since.clone()),
                    stage: rec.stage.as_str(),
                });
            }
        }
    }
    Ok(rows)
}

/// The fleet report's data.
pub fn report(env: &Env) -> Result<FleetReport, Error> {
    let site = env.load_site()?;
    let store = env.open_store()?;
    Ok(fleet::build(&site, &store, jiff::Timestamp::now())?)
}

/// Writes a rendered report to `path`, atomically.
pub fn write_report(path: &Path, text: &str) -> Result<(), Error> {
    crate::owned::write_atomic(path, text.as_bytes()).map_err(|error| Error::Write {
        path: path.to_path_buf(),
        error,
    })
}
