//! `deskready history DEVICE` and `deskready status`: what happened, and where every
//! device is now.

use super::{Ctx, Failure, Format};
use crate::ops::ExitStatus;
use crate::ops::history::{self as ops, StatusRow, StatusSettings};
use crate::report::text;

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// The asset tag of the device (also one retired and removed from the inventory).
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

pub(super) fn history(ctx: &Ctx, a: HistoryArgs) -> Result<ExitStatus, Failure> {
    let h = ops::history(ctx, &a.device)?;
    match ctx.format {
        Format::Json => println!(
            "{}",
            serde_json::json!({
                "device": h.device,
                "stage": h.stage,
                "history": h.entries,
            })
        ),
        Format::Text => {
            let table: Vec<[String; 4]> = h
                .entries
                .iter()
                .map(|e| {
                    let (what, detail) = text::entry(e);
                    [e.at.clone(), e.operator.clone(), what, detail]
                })
                .collect();
            println!("{}: {}", h.device, h.stage);
            print!(
                "{}",
                crate::report::table::table_continued(&["WHEN", "BY", "WHAT", "DETAIL"], &table)
            );
        }
    }
    Ok(ExitStatus::Success)
}

pub(super) fn status(ctx: &Ctx, a: StatusArgs) -> Result<ExitStatus, Failure> {
    let settings = StatusSettings {
        stage: a.stage,
        group: a.group,
    };
    let rows = ops::status(ctx, &settings)?;
    match ctx.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string(&rows).map_err(anyhow::Error::from)?
        ),
        Format::Text => print!("{}", table(&rows)),
    }
    Ok(ExitStatus::Success)
}

/// `status` as a table: one row per device.
fn table(rows: &[StatusRow]) -> String {
    let dash = |v: Option<&str>| v.unwrap_or("-").to_string();
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            let mut stage = r.stage.to_string();
            if let Some(e) = &r.last_error {
                stage.push_str(&format!(" ({})", crate::report::table::one_line(e)));
            }
            let next = r.maintenance_window.as_ref().and_then(|w| w.as_ref());
            [
                r.device.clone(),
                stage,
                dash(r.assignee.as_deref()),
                r.location.clone(),
                dash(r.last_change.as_deref()),
                dash(next.map(|w| w.next.as_str())),
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
    super::table(&header, &cells)
}
