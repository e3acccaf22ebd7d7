//! `deskready printers`: the site's printers in service as they last said over IPP
//! (supplies, state reasons, pages, firmware, serial, attention). Exit code 6 when one
//! needs attention.

use super::{Ctx, Failure, Format};
use crate::ops::ExitStatus;
use crate::ops::printers::{self as ops, PrinterRow};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The printers named, by tag, group or --limit (default: every printer).
    #[command(flatten)]
    pub select: super::converge::Selection,
}

pub(super) fn printers(ctx: &Ctx, a: Args) -> Result<ExitStatus, Failure> {
    let rows = ops::printers(ctx, &a.select.settings())?;
    match ctx.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string(&rows).map_err(anyhow::Error::from)?
        ),
        Format::Text => print!("{}", table(&rows)),
    }
    Ok(if rows.iter().any(PrinterRow::needs_attention) {
        ExitStatus::NeedsAttention
    } else {
        ExitStatus::Success
    })
}

fn table(rows: &[PrinterRow]) -> String {
    let dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|r| {
            let supplies = r
                .supplies
                .iter()
                .map(|s| match s.level {
                    Some(l) => format!("{} {l}%", s.name),
                    None => format!("{} ?", s.name),
                })
                .collect::<Vec<_>>()
                .join(", ");
            let state = match &r.state {
                Some(s) if r.state_reasons.is_empty() => s.clone(),
                Some(s) => format!("{s} ({})", r.state_reasons.join(", ")),
                None => "never asked (audit it)".into(),
            };
            [
                r.tag.clone(),
                state,
                if supplies.is_empty() {
                    "-".into()
                } else {
                    supplies
                },
                match (r.pages, r.pages_30_days) {
                    (Some(p), Some(m)) => format!("{p} ({m} in 30 d)"),
                    (p, _) => dash(p.map(|p| p.to_string())),
                },
                dash(r.firmware.clone()),
                dash(r.serial.clone()),
                dash(r.observed_at.as_deref().map(crate::time::local_at)),
                if r.attention.is_empty() {
                    "-".into()
                } else {
                    r.attention.join("; ")
                },
            ]
        })
        .collect();
    super::table(
        &[
            "PRINTER",
            "STATE",
            "SUPPLIES",
            "PAGES",
            "FIRMWARE",
            "SERIAL",
            "AS OF",
            "ATTENTION",
        ],
        &cells,
    )
}
