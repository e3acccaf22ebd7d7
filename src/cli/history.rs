//! `deskready history DEVICE` and `deskready status`: what happened, and where every
//! device is now.

use std::process::ExitCode;

use super::{Ctx, Failure, Format};
use crate::model::{Stage, stage_name};
use crate::store::Entry;

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    pub device: String,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Only devices in this stage (`expected` for devices never received).
    #[arg(long)]
    pub stage: Option<String>,
    /// Only devices in this group.
    #[arg(long)]
    pub group: Option<String>,
}

/// One journal row as a line of the history table: what happened, and its details.
pub fn describe(e: &Entry) -> (String, String) {
    let what = match (e.kind.as_str(), &e.stage_from, &e.stage_to) {
        ("stage", Some(f), Some(t)) => format!("stage {f} -> {t}"),
        (k, _, _) => match &e.subject {
            Some(s) => format!("{k} {s}"),
            None => k.to_string(),
        },
    };
    let mut detail = e.message.clone().unwrap_or_default();
    if e.old_digest.is_some() || e.new_digest.is_some() {
        let short = |d: &Option<String>| {
            d.as_deref()
                .map_or("none".to_string(), |d| d[..12.min(d.len())].to_string())
        };
        detail.push_str(&format!(
            " [sha256 {} -> {}]",
            short(&e.old_digest),
            short(&e.new_digest)
        ));
    }
    (what, detail)
}

pub fn history(ctx: &Ctx, a: HistoryArgs) -> Result<ExitCode, Failure> {
    let site = ctx.load_site()?;
    let store = ctx.open_store()?;
    let rows = store.history(&a.device)?;
    if rows.is_empty() && site.device(&a.device).is_none() {
        super::known_device(&site, &a.device)?;
    }
    match ctx.format {
        Format::Json => println!(
            "{}",
            serde_json::json!({
                "device": a.device,
                "stage": stage_name(store.stage(&a.device)?.map(|r| r.stage)),
                "history": rows,
            })
        ),
        Format::Text => {
            let table: Vec<[String; 4]> = rows
                .iter()
                .map(|e| {
                    let (what, detail) = describe(e);
                    [e.at.clone(), e.operator.clone(), what, detail]
                })
                .collect();
            println!(
                "{}: {}",
                a.device,
                stage_name(store.stage(&a.device)?.map(|r| r.stage))
            );
            print!(
                "{}",
                super::table(&["WHEN", "BY", "WHAT", "DETAIL"], &table)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn status(ctx: &Ctx, a: StatusArgs) -> Result<ExitCode, Failure> {
    let site = ctx.load_site()?;
    if let Some(s) = &a.stage
        && s != "expected"
        && Stage::parse(s).is_none()
    {
        let mut names: Vec<&str> = vec!["expected"];
        names.extend(Stage::ALL.iter().map(|s| s.as_str()));
        return Err(Failure::BadInput(crate::load::diag::unknown(
            "stage", s, &names,
        )));
    }
    if let Some(g) = &a.group {
        super::known_group(&site, g)?;
    }
    let store = ctx.open_store()?;
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
            serde_json::json!({ "window": w.describe(), "from": source, "next": next })
        });
        rows.push(serde_json::json!({
            "device": d.tag,
            "kind": d.kind.as_str(),
            "maintenance_window": window,
            "stage": stage,
            "since": rec.map(|r| r.since.clone()),
            "last_error": rec.and_then(|r| r.last_error.clone()),
            "assignee": d.assignee.as_ref().map(|p| p.name.clone()),
            "location": d.location.describe(),
            "last_change": last.get(&d.tag),
        }));
    }
    // Devices with a history that have left the inventory (retired and removed).
    if a.group.is_none() {
        for (tag, rec) in &stages {
            if site.device(tag).is_none()
                && a.stage.as_deref().is_none_or(|s| s == rec.stage.as_str())
            {
                rows.push(serde_json::json!({
                    "device": tag, "kind": null, "stage": rec.stage.as_str(), "since": rec.since,
                    "last_error": rec.last_error, "assignee": null, "location": "(not in the inventory)",
                    "last_change": last.get(tag),
                }));
            }
        }
    }
    match ctx.format {
        Format::Json => println!("{}", serde_json::Value::Array(rows)),
        Format::Text => {
            let s = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_string();
            let table: Vec<[String; 6]> = rows
                .iter()
                .map(|r| {
                    let mut stage = s(&r["stage"]);
                    if let Some(e) = r["last_error"].as_str() {
                        stage.push_str(&format!(" ({e})"));
                    }
                    [
                        s(&r["device"]),
                        stage,
                        s(&r["assignee"]),
                        s(&r["location"]),
                        s(&r["last_change"]),
                        s(&r["maintenance_window"]["next"]),
                    ]
                })
                .collect();
            let header = [
                "DEVICE",
                "STAGE",
                "ASSIGNEE",
                "LOCATION",
                "LAST CHANGE",
                "NEXT WINDOW",
            ];
            print!("{}", super::table(&header, &table));
        }
    }
    Ok(ExitCode::SUCCESS)
}
