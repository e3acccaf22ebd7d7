//! What happened and where everything is: a device's history, every device's status, and
//! the fleet report (written as HTML when asked). Reads only, except the report file.
//! Never prints.

use std::path::Path;

use serde::Serialize;

use super::report::{self as fleet, FleetReport};
use super::{Env, Error, known_device, known_group};
use crate::model::{Stage, stage_name};
use crate::store::{Entry, Handoff, Repair};

/// A device's journal and where it is now.
#[derive(Debug, Clone)]
pub struct History {
    pub device: String,
    /// Its stage's name (`expected` for a device never received).
    pub stage: &'static str,
    /// Oldest first.
    pub entries: Vec<Entry>,
    /// Its handoffs (sheet, acceptance, return), oldest first.
    pub handoffs: Vec<Handoff>,
    /// Its repair log, oldest first.
    pub repairs: Vec<Repair>,
    /// Checks its profile wants passed again after its last repair.
    pub checks_pending: Vec<String>,
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
        handoffs: store.handoffs(device)?,
        repairs: store.repairs(device)?,
        checks_pending: store.checks_pending(device)?,
    })
}

/// A number of days as written on the command line: `7d`, `2w` or `30`.
pub fn days(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let (n, unit) = match t.char_indices().last() {
        Some((i, 'd')) => (&t[..i], 1),
        Some((i, 'w')) => (&t[..i], 7),
        _ => (t, 1),
    };
    n.parse::<u32>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| format!("`{text}` is not a number of days; expected such as 7d, 2w or 90d"))
}

/// Whole days from `from` (RFC 3339) to `now`.
fn days_since(from: &str, now: jiff::Timestamp) -> Option<i64> {
    let t = from.parse::<jiff::Timestamp>().ok()?;
    Some((now.as_second() - t.as_second()).div_euclid(86_400))
}

/// Days from today (this machine's calendar) to `date` (`YYYY-MM-DD`); negative once past.
pub fn days_until(date: &str, today: jiff::civil::Date) -> Option<i64> {
    let d = date.parse::<jiff::civil::Date>().ok()?;
    let span = today.until((jiff::Unit::Day, d)).ok()?;
    Some(i64::from(span.get_days()))
}

/// Which devices `status` lists.
#[derive(Debug, Clone, Default)]
pub struct StatusSettings {
    /// Only devices in this stage (`expected` for devices never received).
    pub stage: Option<String>,
    /// Only devices in this group.
    pub group: Option<String>,
    /// Only devices delivered whose sheet nobody accepted yet...
    pub unaccepted: bool,
    /// ...for at least this many days.
    pub older_than_days: Option<u32>,
    /// Only devices whose warranty ends within this many days (today included).
    pub warranty_expiring_days: Option<u32>,
}

/// A delivered device's handoff in `status`.
#[derive(Debug, Clone, Serialize)]
pub struct HandoffStatus {
    pub accepted_at: Option<String>,
    pub accepted_by: Option<String>,
    pub delivered_at: String,
    /// Whole days since it was delivered.
    pub delivered_days_ago: i64,
    /// The sheet's version.
    pub version: i64,
}

/// A device's warranty in `status`.
#[derive(Debug, Clone, Serialize)]
pub struct WarrantyStatus {
    /// Days until it ends (negative: ended that many days ago).
    pub days_left: i64,
    pub until: String,
}

/// One device in `status`. Fields are in the order JSON prints them (alphabetical).
#[derive(Debug, Clone, Serialize)]
pub struct StatusRow {
    pub assignee: Option<String>,
    /// Checks to pass again after its last repair.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks_pending: Vec<String>,
    pub device: String,
    /// Its newest handoff, while it is at its person's desk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handoff: Option<HandoffStatus>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warranty: Option<WarrantyStatus>,
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
    let today = now.to_zoned(jiff::tz::TimeZone::system()).date();
    let handoffs: std::collections::HashMap<String, crate::store::Handoff> = store
        .latest_handoffs()?
        .into_iter()
        .map(|h| (h.device.clone(), h))
        .collect();
    let handoff_of = |tag: &str, stage: &str| -> Option<HandoffStatus> {
        let h = handoffs.get(tag)?;
        (stage == Stage::Delivered.as_str() && h.returned_at.is_none()).then(|| HandoffStatus {
            accepted_at: h.accepted_at.clone(),
            accepted_by: h.accepted_by.clone(),
            delivered_at: h.delivered_at.clone(),
            delivered_days_ago: days_since(&h.delivered_at, now).unwrap_or(0),
            version: h.version,
        })
    };
    let wanted = |h: &Option<HandoffStatus>, w: &Option<WarrantyStatus>| {
        let unaccepted_ok = !a.unaccepted
            || h.as_ref().is_some_and(|h| {
                h.accepted_by.is_none()
                    && a.older_than_days
                        .is_none_or(|n| h.delivered_days_ago >= i64::from(n))
            });
        let warranty_ok = a.warranty_expiring_days.is_none_or(|n| {
            w.as_ref()
                .is_some_and(|w| (0..=i64::from(n)).contains(&w.days_left))
        });
        unaccepted_ok && warranty_ok
    };
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
        let handoff = handoff_of(&d.tag, stage);
        let warranty = d.purchase.warranty_until.as_ref().and_then(|until| {
            Some(WarrantyStatus {
                days_left: days_until(until, today)?,
                until: until.clone(),
            })
        });
        if !wanted(&handoff, &warranty) {
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
            checks_pending: store.checks_pending(&d.tag)?,
            device: d.tag.clone(),
            handoff,
            kind: Some(d.kind.as_str()),
            last_change: last.get(&d.tag).cloned(),
            last_error: rec.and_then(|r| r.last_error.clone()),
            location: d.location.describe(),
            maintenance_window: Some(window),
            since: rec.map(|r| r.since.clone()),
            stage,
            warranty,
        });
    }
    // Devices with a history that have left the inventory (retired and removed).
    if a.group.is_none() && !a.unaccepted && a.warranty_expiring_days.is_none() {
        for (tag, rec) in &stages {
            if site.device(tag).is_none()
                && a.stage.as_deref().is_none_or(|s| s == rec.stage.as_str())
            {
                rows.push(StatusRow {
                    assignee: None,
                    checks_pending: Vec::new(),
                    device: tag.clone(),
                    handoff: None,
                    kind: None,
                    last_change: last.get(tag).cloned(),
                    last_error: rec.last_error.clone(),
                    location: "(not in the inventory)".into(),
                    maintenance_window: None,
                    since: Some(rec.since.clone()),
                    stage: rec.stage.as_str(),
                    warranty: None,
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
