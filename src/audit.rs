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
    let interval = i64::from(site.settings.audit_interval_days) * 86_400;
    let ahead = i64::from(site.settings.audit_due_days) * 86_400;
    let mut out = Vec::new();
    for d in site.devices.values() {
        match stages.get(&d.tag) {
            None | Some(Stage::Retired) => continue,
            Some(_) => {}
        }
        let last = seen.get(&d.tag);
        let base = last
            .map(|e| e.at.clone())
            .or_else(|| received.get(&d.tag).cloned())
            .and_then(|t| crate::time::parse(&t));
        let Some(base) = base else { continue };
        let due = base + interval;
        let left = due - now.as_second();
        let status = if left < 0 {
            Due::Overdue
        } else if left <= ahead {
            Due::Due
        } else {
            Due::Ok
        };
        out.push(PhysicalAudit {
            device: d.tag.clone(),
            last_seen: last.map(|e| e.at.clone()),
            last_seen_note: last.and_then(|e| e.message.clone()),
            next_due: crate::time::rfc3339(due),
            // whole days, toward zero: 20 days and some seconds overdue is "overdue by 20 days"
            days_left: left / 86_400,
            status,
        });
    }
    out.sort_by_key(|p| p.days_left);
    Ok(out)
}
