//! The fleet report's data: devices per stage, devices that drifted at their last audit,
//! physical audits due and overdue, recent activity, and every device's history, gathered
//! once from the site and the state store. Rendering (HTML) lives in `report::fleet`.

use std::collections::HashMap;

use serde::Serialize;

use crate::audit::{PhysicalAudit, physical};
use crate::model::{AuditResult, Due, Stage, stage_name};
use crate::site::Site;
use crate::store::{Entry, Store, StoreError};

#[derive(Debug, Clone, Serialize)]
pub struct FleetReport {
    pub generated_at: String,
    pub site: String,
    /// Every stage (and `expected`) with how many devices are in it.
    pub stages: Vec<(String, usize)>,
    /// Devices whose last audit found drift.
    pub drifted: Vec<Entry>,
    /// Physical audits due soon or overdue.
    pub physical_audits: Vec<PhysicalAudit>,
    /// The newest journal rows over all devices.
    pub recent: Vec<Entry>,
    pub devices: Vec<DeviceReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeviceReport {
    pub device: String,
    pub kind: String,
    pub stage: String,
    pub assignee: Option<String>,
    pub location: String,
    pub history: Vec<Entry>,
}

/// Gathers the report.
pub fn build(site: &Site, store: &Store, now: jiff::Timestamp) -> Result<FleetReport, StoreError> {
    let stages: HashMap<String, Stage> = store
        .stages()?
        .into_iter()
        .map(|(t, r)| (t, r.stage))
        .collect();
    let mut counts: Vec<(String, usize)> = std::iter::once("expected")
        .chain(Stage::ALL.iter().map(|s| s.as_str()))
        .map(|s| (s.to_string(), 0))
        .collect();
    let mut devices = Vec::new();
    for d in site.devices.values() {
        let stage = stage_name(stages.get(&d.tag).copied());
        if let Some(c) = counts.iter_mut().find(|(s, _)| s == stage) {
            c.1 += 1;
        }
        devices.push(DeviceReport {
            device: d.tag.clone(),
            kind: d.kind.to_string(),
            stage: stage.to_string(),
            assignee: d.assignee.as_ref().map(|a| a.name.clone()),
            location: d.location.describe(),
            history: store.history(&d.tag)?,
        });
    }
    let drifted = store
        .latest_of_kind("audit")?
        .into_iter()
        .filter(|e| e.subject.as_deref() == Some(AuditResult::Drift.as_str()))
        .collect();
    let physical_audits = physical(site, store, now)?
        .into_iter()
        .filter(|p| p.status != Due::Ok)
        .collect();
    Ok(FleetReport {
        generated_at: crate::time::rfc3339(now.as_second()),
        site: site.root.display().to_string(),
        stages: counts,
        drifted,
        physical_audits,
        recent: store.recent(30)?,
        devices,
    })
}
