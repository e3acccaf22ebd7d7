//! `deskready history DEVICE` and `deskready status`: what happened, and where every
//! device is now.

use super::{Ctx, Failure, Format};
use crate::ops::ExitStatus;
use crate::ops::history::{self as ops, StatusSettings};
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
                    [crate::time::local(&e.at), e.operator.clone(), what, detail]
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
        Format::Text => print!("{}", text::status(&rows)),
    }
    Ok(ExitStatus::Success)
}
