//! `deskready receive`: accept delivered hardware. One device by its tag, a delivery's
//! packing list (`--csv`, all or nothing), or asset tags scanned one per line (`--scan`).

use std::io::BufRead;
use std::path::PathBuf;

use super::{Ctx, Failure, Format};
use crate::model::DeviceKind;
use crate::ops::ExitStatus;
use crate::ops::receive::{self, Delivered, Received, Scanner};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["device", "csv", "scan"])))]
pub struct Args {
    /// The asset tag of the device received.
    pub device: Option<String>,
    /// A packing list: CSV with a header row (see README for the columns).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["device", "scan"])]
    pub csv: Option<PathBuf>,
    /// Read asset tags from standard input, one per line (a barcode scanner types that way).
    #[arg(long, conflicts_with = "device")]
    pub scan: bool,
    #[arg(long)]
    pub serial: Option<String>,
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(DeviceKind::ALL))]
    pub kind: Option<String>,
    #[arg(long)]
    pub mac: Option<String>,
    /// The profile to configure it with (needed before it can be configured).
    #[arg(long)]
    pub profile: Option<String>,
}

pub(super) fn run(ctx: &Ctx, args: Args) -> Result<ExitStatus, Failure> {
    if args.scan {
        return scan(ctx);
    }
    let received = match &args.csv {
        Some(csv) => receive::packing_list(ctx, csv)?,
        None => {
            let mut d = Delivered {
                tag: args.device.clone().unwrap_or_default(),
                ..Default::default()
            };
            for (k, v) in [
                ("serial", &args.serial),
                ("model", &args.model),
                ("kind", &args.kind),
                ("mac", &args.mac),
                ("profile", &args.profile),
            ] {
                if let Some(v) = v {
                    d.fields.insert(k, v.clone());
                }
            }
            receive::one(ctx, d)?
        }
    };
    show(ctx, &received);
    Ok(ExitStatus::Success)
}

fn show(ctx: &Ctx, r: &Received) {
    match ctx.format {
        Format::Json => println!(
            "{}",
            serde_json::json!({ "received": r.received, "added_to_inventory": r.added })
        ),
        Format::Text => {
            for tag in &r.received {
                let note = if r.added.contains(tag) {
                    format!(" (added to {})", r.added_to)
                } else {
                    String::new()
                };
                println!("{tag} received{note}");
            }
        }
    }
}

/// Asset tags on standard input, one per line: each one declared is received at once.
fn scan(ctx: &Ctx) -> Result<ExitStatus, Failure> {
    let scanner = Scanner::open(ctx)?;
    let mut failed = 0;
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.map_err(anyhow::Error::from)?;
        let tag = line.trim();
        if tag.is_empty() {
            continue;
        }
        match scanner.receive(ctx, tag)? {
            Ok(()) => super::say(
                ctx,
                format!("{tag} received"),
                serde_json::json!({ "received": tag }),
            ),
            Err(problem) => {
                eprintln!("line {}: {problem}", n + 1);
                failed += 1;
            }
        }
    }
    Ok(ExitStatus::from_ok(failed == 0))
}
