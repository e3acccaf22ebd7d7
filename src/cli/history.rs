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
    /// Only delivered devices whose person has not accepted them (and their sheet) yet.
    #[arg(long)]
    pub unaccepted: bool,
    /// With --unaccepted: delivered at least this long ago (`7d`, `2w`).
    #[arg(long, value_name = "DAYS", requires = "unaccepted", value_parser = ops::days)]
    pub older_than: Option<u32>,
    /// Only devices whose warranty ends within this many days (`90d`).
    #[arg(long, value_name = "DAYS", value_parser = ops::days)]
    pub warranty_expiring: Option<u32>,
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
                "handoffs": h.handoffs,
                "repairs": h.repairs,
                "checks_pending": h.checks_pending,
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
            if !h.repairs.is_empty() {
                println!("\nrepairs:");
                print!("{}", text::repairs(&h.repairs));
            }
            if !h.checks_pending.is_empty() {
                println!(
                    "\nto pass again after its repair (at the next configure): {}",
                    h.checks_pending.join(", ")
                );
            }
        }
    }
    Ok(ExitStatus::Success)
}

pub(super) fn status(ctx: &Ctx, a: StatusArgs) -> Result<ExitStatus, Failure> {
    let settings = StatusSettings {
        stage: a.stage,
        group: a.group,
        unaccepted: a.unaccepted,
        older_than_days: a.older_than,
        warranty_expiring_days: a.warranty_expiring,
    };
    let rows = ops::status(ctx, &settings)?;
    match ctx.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string(&rows).map_err(anyhow::Error::from)?
        ),
        Format::Text if settings.unaccepted || settings.warranty_expiring_days.is_some() => {
            print!("{}", text::desk_status(&rows));
            if rows.is_empty() {
                println!("{}", none_listed(&settings));
            }
        }
        Format::Text => print!("{}", text::status(&rows)),
    }
    Ok(ExitStatus::Success)
}

/// What an empty `status --unaccepted` / `--warranty-expiring` means, under its header.
fn none_listed(s: &StatusSettings) -> String {
    let waiting = match s.older_than_days {
        Some(n) => {
            format!(
                "no delivered device has waited {} or more for its person's acceptance",
                crate::words::count(n as usize, "day")
            )
        }
        None => "no delivered device is waiting for its person's acceptance".to_string(),
    };
    match (s.unaccepted, s.warranty_expiring_days) {
        (true, Some(n)) => format!(
            "{waiting} with a warranty ending within {}",
            crate::words::count(n as usize, "day")
        ),
        (true, None) => waiting,
        (false, Some(n)) => format!(
            "no device's warranty ends within {}",
            crate::words::count(n as usize, "day")
        ),
        (false, None) => String::new(),
    }
}
