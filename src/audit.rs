//! Physical audits, the way asset systems do them: a CSP sees a device where it belongs
//! (`deskready seen`), and every device should be seen once per the site's interval.
//! This module works out, for every device in deskready's hands, when it is next due.

use std::collections::HashMap;

use serde::Serialize;

use crate::model::{Due, Stage};
use crate::site::Site;
use crate::store::{Store, StoreError};

/// Where a device stands with its physical audits.
#[derive(Debug, Clone, Serialize)]
pub struct PhysicalAudit {
    pub device: String,
    /// When it was last seen (RFC 3339), if ever.
    pub last_seen: Option<String>,
    /// What the CSP recorded then ("seen at its desk 3-05", ...).
    pub last_seen_note: Option<String>,
    /// When it is next due: last seen (or received) plus the site's interval.
    pub next_due: String,
    /// Days until due; negative when overdue.
    pub days_left: i64,
    /// Overdue, due (within the site's look-ahead) or ok.
    pub status: Due,
}

/// Every received, not retired device of the site, soonest due first.
pub fn physical(
    site: &Site,
    store: &Store,
    now: jiff::Timestamp,
) -> Result<Vec<PhysicalAudit>, StoreError> {
    let stages: HashMap<String, Stage> = store
        .stages()?
        .into_iter()
        .map(|(t, r)| (t, r.stage))
        .collect();
    let received = store.received_times()?;
    let seen: HashMap<String, crate::store::Entry> = store
        .latest_of_kind("seen")?
        .into_iter()
        .map(|e| (e.tag.clone(), e))
        .collect();
    let mut out = Vec::new();
    for d in site.devices.values() {
        match stages.get(&d.tag) {
            None | Some(Stage::Retired) => continue,
            Some(_) => {}
        }
        let received = received.get(&d.tag).map(String::as_str);
        out.extend(standing(site, &d.tag, seen.get(&d.tag), received, now));
    }
    out.sort_by_key(|p| p.days_left);
    Ok(out)
}

/// Where one device stands with its physical audits (`None`: not in deskready's hands:
/// never received, or retired).
pub fn physical_of(
    site: &Site,
    store: &Store,
    tag: &str,
    now: jiff::Timestamp,
) -> Result<Option<PhysicalAudit>, StoreError> {
    match store.stage(tag)?.map(|r| r.stage) {
        None | Some(Stage::Retired) => return Ok(None),
        Some(_) => {}
    }
    let history = store.history(tag)?;
    let seen = history.iter().rev().find(|e| e.kind == "seen");
    let received = history
        .iter()
        .filter(|e| e.kind == "stage" && e.stage_to.as_deref() == Some("received"))
        .map(|e| e.at.as_str())
        .min();
    Ok(standing(site, tag, seen, received, now))
}

/// When `tag` is next due, from when it was last `seen` (else `received`).
fn standing(
    site: &Site,
    tag: &str,
    seen: Option<&crate::store::Entry>,
    received: Option<&str>,
    now: jiff::Timestamp,
) -> Option<PhysicalAudit> {
    let interval = i64::from(site.settings.audit_interval_days) * 86_400;
    let ahead = i64::from(site.settings.audit_due_days) * 86_400;
    let base = seen
        .map(|e| e.at.as_str())
        .or(received)
        .and_then(crate::time::parse)?;
    let due = base + interval;
    let left = due - now.as_second();
    let status = if left < 0 {
        Due::Overdue
    } else if left <= ahead {
        Due::Due
    } else {
        Due::Ok
    };
    Some(PhysicalAudit {
        device: tag.to_string(),
        last_seen: seen.map(|e| e.at.clone()),
        last_seen_note: seen.and_then(|e| e.message.clone()),
        next_due: crate::time::rfc3339(due),
        // whole days, toward zero: 20 days and some seconds overdue is "overdue by 20 days"
        days_left: left / 86_400,
        status,
    })
}
