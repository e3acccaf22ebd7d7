//! The fleet report's data: devices per stage, devices that drifted at their last audit,
//! physical audits due and overdue, deliveries not accepted in time, repairs, devices out
//! of warranty, recent activity, and every device's history, software and upgrades
//! waiting (as last listed and asked, by `audit`, `software` or `upgrades`), gathered once
//! from the site and the state store. Rendering (HTML) lives in `report::fleet`.

use std::collections::HashMap;

use serde::Serialize;

use crate::audit::{PhysicalAudit, physical};
use crate::model::{AuditResult, Due, Stage, stage_name};
use crate::site::Site;
use crate::store::{Entry, Handoff, Repair, Store, StoreError};

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
    /// Delivered devices whose person has not accepted them within the site's
    /// `accept_within_days`.
    pub unaccepted: Vec<Handoff>,
    pub accept_within_days: u32,
    /// Every repair on record, by device.
    pub repairs: Vec<Repair>,
    /// Devices whose warranty has ended (`warranty_until` before today).
    pub out_of_warranty: Vec<OutOfWarranty>,
    /// The newest journal rows over all devices.
    pub recent: Vec<Entry>,
    pub devices: Vec<DeviceReport>,
    /// Every package over the fleet and the upgrades waiting (`software`, `upgrades`).
    pub software: super::software::SoftwareReport,
    /// Every printer as it last said over IPP (`printers`): supplies, what needs attention.
    pub printers: Vec<super::printers::PrinterRow>,
}

/// A device whose warranty has ended.
#[derive(Debug, Clone, Serialize)]
pub struct OutOfWarranty {
    pub device: String,
    pub warranty_until: String,
    pub days_ago: i64,
    pub stage: String,
    pub supplier: Option<String>,
    pub order: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeviceReport {
    pub device: String,
    pub kind: String,
    pub stage: String,
    pub assignee: Option<String>,
    pub location: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warranty_until: Option<String>,
    pub history: Vec<Entry>,
    pub repairs: Vec<Repair>,
    /// Its software as last listed (by `audit` or `software`); `None`: never listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub software: Option<DeviceSoftware>,
    /// The upgrades it had waiting when last asked (by `audit` or `upgrades`); `None`:
    /// never asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upgrades: Option<DeviceUpgrades>,
}

/// A device's newest software snapshot, in short.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceSoftware {
    /// When it was taken (RFC 3339).
    pub at: String,
    pub packages: usize,
}

/// The upgrades a device had waiting when last asked, in short.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceUpgrades {
    /// When it was asked (RFC 3339).
    pub at: String,
    pub waiting: usize,
    pub security: usize,
    /// Its package index's age then, in seconds (`None`: it had none).
    pub index_age: Option<i64>,
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
    let today = now.to_zoned(jiff::tz::TimeZone::system()).date();
    let mut out_of_warranty = Vec::new();
    let mut snapshots: HashMap<String, DeviceSoftware> = store
        .latest_software()?
        .into_iter()
        .map(|s| {
            let packages: Vec<crate::model::Package> =
                serde_json::from_str(&s.packages).unwrap_or_default();
            (
                s.tag,
                DeviceSoftware {
                    at: s.at,
                    packages: packages.len(),
                },
            )
        })
        .collect();
    let mut waiting: HashMap<String, DeviceUpgrades> = store
        .pending_upgrades()?
        .into_iter()
        .map(|r| {
            let pending: Vec<crate::model::Pending> =
                serde_json::from_str(&r.pending).unwrap_or_default();
            (
                r.tag,
                DeviceUpgrades {
                    at: r.at,
                    waiting: pending.len(),
                    security: pending.iter().filter(|p| p.security).count(),
                    index_age: r.index_age,
                },
            )
        })
        .collect();
    for d in site.devices.values() {
        let stage = stage_name(stages.get(&d.tag).copied());
        if let Some(c) = counts.iter_mut().find(|(s, _)| s == stage) {
            c.1 += 1;
        }
        if let Some(until) = &d.purchase.warranty_until
            && let Some(left) = super::history::days_until(until, today)
            && left < 0
        {
            out_of_warranty.push(OutOfWarranty {
                device: d.tag.clone(),
                warranty_until: until.clone(),
                days_ago: -left,
                stage: stage.to_string(),
                supplier: d.purchase.supplier.clone(),
                order: d.purchase.order.clone(),
            });
        }
        devices.push(DeviceReport {
            device: d.tag.clone(),
            kind: d.kind.to_string(),
            stage: stage.to_string(),
            assignee: d.assignee.as_ref().map(|a| a.name.clone()),
            location: d.location.describe(),
            warranty_until: d.purchase.warranty_until.clone(),
            history: store.history(&d.tag)?,
            repairs: store.repairs(&d.tag)?,
            software: snapshots.remove(&d.tag),
            upgrades: waiting.remove(&d.tag),
        });
    }
    let within = i64::from(site.settings.accept_within_days);
    let unaccepted = store
        .latest_handoffs()?
        .into_iter()
        .filter(|h| {
            h.accepted_at.is_none()
                && h.returned_at.is_none()
                && stages.get(&h.device) == Some(&Stage::Delivered)
                && h.delivered_at
                    .parse::<jiff::Timestamp>()
                    .is_ok_and(|t| (now.as_second() - t.as_second()) >= within * 86_400)
        })
        .collect();
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
        unaccepted,
        accept_within_days: site.settings.accept_within_days,
        repairs: store.all_repairs()?,
        out_of_warranty,
        recent: store.recent(30)?,
        devices,
        software: super::software::report(site, store)?,
        printers: super::printers::rows(site, store, &|_| true)?,
    })
}
