//! `printers`: the site's printers in service as they last said over IPP (an audit or a
//! configure's verification stores what each said): state and state reasons, supply
//! levels, pages printed in the last 30 days, firmware, serial, and what needs attention.
//! Reads the store only; never prints.

use serde::Serialize;

use super::Error;
use crate::model::{AuditResult, DeviceKind, Outcome};
use crate::printer::{PrinterStatus, Supply};

/// One printer as last observed.
#[derive(Debug, Clone, Serialize)]
pub struct PrinterRow {
    pub tag: String,
    pub model: String,
    /// When it last answered (RFC 3339), `None` when it never was asked.
    pub observed_at: Option<String>,
    pub state: Option<String>,
    pub state_reasons: Vec<String>,
    pub supplies: Vec<Supply>,
    /// Its page counter when last asked.
    pub pages: Option<i64>,
    /// Pages printed between its first observation of the last 30 days and its last.
    pub pages_30_days: Option<i64>,
    pub firmware: Option<String>,
    pub serial: Option<String>,
    /// What needs someone's attention (empty when nothing).
    pub attention: Vec<String>,
}

impl PrinterRow {
    pub fn needs_attention(&self) -> bool {
        !self.attention.is_empty()
    }
}

/// The printers of the site (sorted by tag) with their last observation: those
/// `selection` names, or every one when it names none.
pub fn printers(
    env: &super::Env,
    selection: &super::select::Selection,
) -> Result<Vec<PrinterRow>, Error> {
    let site = env.load_site()?;
    let mut selection = selection.clone();
    if selection.devices.is_empty() && selection.groups.is_empty() {
        selection.all = true;
    }
    let chosen: std::collections::HashSet<String> = selection.tags(&site)?.into_iter().collect();
    let store = env.open_store()?;
    Ok(rows(&site, &store, &|tag| chosen.contains(tag))?)
}

/// The printers of `site` that `chosen` takes (sorted by tag), as last observed.
pub fn rows(
    site: &crate::site::Site,
    store: &crate::store::Store,
    chosen: &dyn Fn(&str) -> bool,
) -> Result<Vec<PrinterRow>, crate::store::StoreError> {
    // Each printer's newest audit (audits are journal rows, configures are runs).
    let audits: std::collections::HashMap<String, crate::store::Entry> = store
        .latest_of_kind("audit")?
        .into_iter()
        .map(|e| (e.tag.clone(), e))
        .collect();
    let month_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 30);
    let mut rows = Vec::new();
    for d in site
        .devices
        .values()
        .filter(|d| d.kind == DeviceKind::Printer && chosen(&d.tag))
    {
        let seen = store.printer_observations(&d.tag)?;
        let last = seen
            .last()
            .and_then(|o| Some((o, serde_json::from_str::<PrinterStatus>(&o.status).ok()?)));
        let recent_first = seen.iter().find(|o| {
            o.at.parse::<jiff::Timestamp>()
                .is_ok_and(|t| t >= month_ago)
                && o.pages.is_some()
        });
        let mut row = PrinterRow {
            tag: d.tag.clone(),
            model: d.model.clone(),
            observed_at: None,
            state: None,
            state_reasons: Vec::new(),
            supplies: Vec::new(),
            pages: None,
            pages_30_days: None,
            firmware: None,
            serial: None,
            attention: Vec::new(),
        };
        if let Some((o, s)) = last {
            row.observed_at = Some(o.at.clone());
            row.attention = s.attention();
            row.pages_30_days = match (recent_first.and_then(|f| f.pages), s.pages) {
                (Some(a), Some(b)) if b >= a => Some(b - a),
                _ => None,
            };
            row.state = Some(s.state);
            row.state_reasons = s
                .state_reasons
                .into_iter()
                .filter(|r| r != "none")
                .collect();
            row.supplies = s.supplies;
            row.pages = s.pages;
            row.firmware = s.firmware;
            row.serial = s.serial;
        }
        // What it said last is not how it is when it has not answered since: the newer of
        // its last audit and its last configure.
        let audit = audits.get(&d.tag).map(|e| {
            (
                e.subject.as_deref() == Some(AuditResult::Unreachable.as_str()),
                "audit",
                e.at.clone(),
                e.message.clone(),
            )
        });
        let configure = store.last_outcome(&d.tag, &["configure"])?.map(|c| {
            (
                c.outcome == Outcome::Unreachable,
                "configure",
                c.at,
                c.error,
            )
        });
        let newest = [audit, configure]
            .into_iter()
            .flatten()
            .max_by(|a, b| a.2.cmp(&b.2));
        if let Some((true, what, at, error)) = newest
            && row.observed_at.as_deref().is_none_or(|seen| *seen <= *at)
        {
            let why = error
                .as_deref()
                .and_then(|e| e.lines().next())
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            row.attention.insert(
                0,
                format!(
                    "did not answer at its last {what} ({}){why}",
                    crate::time::local_at(&at)
                ),
            );
        }
        rows.push(row);
    }
    rows.sort_by(|a, b| a.tag.cmp(&b.tag));
    Ok(rows)
}
