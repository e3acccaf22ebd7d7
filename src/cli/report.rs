//! `deskready report --html FILE` (or `--format json`): the fleet report.

use std::path::PathBuf;

use super::{Ctx, Failure, Format};
use crate::ops::ExitStatus;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write the report as one self-contained HTML page to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

pub(super) fn run(ctx: &Ctx, a: Args) -> Result<ExitStatus, Failure> {
    let report = crate::ops::history::report(ctx)?;
    if let Some(path) = &a.html {
        crate::ops::history::write_report(path, &crate::report::fleet::html(&report))?;
    }
    match ctx.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string(&report).map_err(anyhow::Error::from)?
        ),
        Format::Text => {
            let stages: Vec<String> = report
                .stages
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(s, n)| format!("{n} {s}"))
                .collect();
            println!(
                "{}: {}",
                crate::words::count(report.devices.len(), "device"),
                stages.join(", ")
            );
            let printers = report
                .printers
                .iter()
                .filter(|p| p.needs_attention())
                .count();
            println!(
                "{} drifted at their last audit; {} physical audits due or overdue; {} printers needing attention",
                report.drifted.len(),
                report.physical_audits.len(),
                printers
            );
            match &a.html {
                Some(p) => println!(
                    "report: {}",
                    std::path::absolute(p).unwrap_or(p.clone()).display()
                ),
                None => println!("(write the whole report with --html FILE, or --format json)"),
            }
        }
    }
    Ok(ExitStatus::Success)
}
