//! `deskready receive`: accept delivered hardware. One device by its tag, a delivery's
//! packing list (`--csv`, all or nothing), or asset tags scanned one per line (`--scan`).

use std::io::BufRead;
use std::path::PathBuf;

use super::{Ctx, Failure, Format};
use crate::model::DeviceKind;
use crate::ops::ExitStatus;
use crate::ops::receive::{self, Delivered, Received, Scanned, Scanner};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["device", "csv", "scan"])))]
#[command(after_help = "Examples:
  deskready receive LAP-0007                       # a device the inventory declares
  deskready receive LAP-0100 --serial PF400100 --model 'Dell Latitude 7450' \\
      --kind laptop --profile laptop-base          # a new one, added to inventory/received.yaml
  deskready receive --csv delivery.csv --dry-run   # check a packing list, write nothing
  deskready receive --csv delivery.csv             # receive it: every row, or none
  deskready receive --scan < tags.txt              # tags from a barcode scanner
  deskready receive --scan --returned              # scanning laptops handed back by their users
  deskready receive LAP-0003 --outcome 'hinge replaced'   # back from repair")]
pub struct Args {
    /// The asset tag of the device received.
    pub device: Option<String>,
    /// A packing list: CSV with a header row (column names as in the README, Snipe-IT's
    /// export or common vendor packing lists).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["device", "scan"])]
    pub csv: Option<PathBuf>,
    /// Read asset tags from standard input, one per line (a barcode scanner types that way).
    #[arg(long, conflicts_with = "device")]
    pub scan: bool,
    /// Check everything (every row, every new device rendered) and write nothing.
    #[arg(long, conflicts_with = "scan")]
    pub dry_run: bool,
    /// The device came back from its user: a delivered device is returned (as `deskready
    /// return` does) instead of being refused.
    #[arg(long, conflicts_with = "csv")]
    pub returned: bool,
    /// Its serial number (needed for a device the inventory does not declare).
    #[arg(long)]
    pub serial: Option<String>,
    /// Its model name (needed for a device the inventory does not declare).
    #[arg(long)]
    pub model: Option<String>,
    /// Its kind (needed for a device the inventory does not declare; any case).
    #[arg(long, ignore_case = true, value_parser = clap::builder::PossibleValuesParser::new(DeviceKind::ALL))]
    pub kind: Option<String>,
    /// Its MAC address (six hex pairs).
    #[arg(long)]
    pub mac: Option<String>,
    /// The profile to configure it with (needed for a device the inventory does not
    /// declare).
    #[arg(long)]
    pub profile: Option<String>,
    /// Back from repair: what the repair came to ("hinge replaced").
    #[arg(long, value_name = "TEXT", requires = "device")]
    pub outcome: Option<String>,
}

pub(super) fn run(ctx: &Ctx, args: Args) -> Result<ExitStatus, Failure> {
    if args.scan {
        return scan(ctx, args.returned);
    }
    let received = match &args.csv {
        Some(csv) => receive::packing_list(ctx, csv, args.dry_run)?,
        None => {
            let tag = args.device.clone().unwrap_or_default();
            if args.returned && !args.dry_run && is_delivered(ctx, &tag)? {
                return super::lifecycle::give_back(
                    ctx,
                    super::lifecycle::ReturnArgs {
                        device: tag,
                        by: None,
                        condition: None,
                        skip_device: false,
                        ssh: super::converge::SshArgs {
                            connect_timeout: 10,
                            command_timeout: 600,
                        },
                    },
                );
            }
            let mut d = Delivered {
                tag,
                outcome: args.outcome.clone(),
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
            receive::one(ctx, d, args.dry_run)?
        }
    };
    show(ctx, &received);
    Ok(ExitStatus::Success)
}

fn is_delivered(ctx: &Ctx, tag: &str) -> Result<bool, Failure> {
    Ok(receive::stage_of(ctx, tag)? == Some(crate::model::Stage::Delivered))
}

fn show(ctx: &Ctx, r: &Received) {
    match ctx.format {
        Format::Json => println!(
            "{}",
            serde_json::json!({ "received": r.received, "added_to_inventory": r.added, "dry_run": r.dry_run })
        ),
        Format::Text => {
            let verb = if r.dry_run {
                "would be received"
            } else {
                "received"
            };
            for tag in &r.received {
                let note = match (r.added.contains(tag), r.dry_run) {
                    (true, false) => format!(" (added to {})", r.added_to),
                    (true, true) => format!(" (would be added to {})", r.added_to),
                    (false, _) => String::new(),
                };
                println!("{tag} {verb}{note}");
            }
            if r.dry_run {
                println!("nothing was written (--dry-run)");
            }
        }
    }
}

/// Asset tags on standard input, one per line: each one declared is received at once. The
/// exit status is the worst class met: bad input (an unknown tag) 2, else refused 3.
fn scan(ctx: &Ctx, returned: bool) -> Result<ExitStatus, Failure> {
    let scanner = Scanner::open(ctx)?;
    let (mut bad, mut refused, mut scanned) = (0, 0, 0);
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.map_err(anyhow::Error::from)?;
        let tag = line.trim();
        if tag.is_empty() {
            continue;
        }
        scanned += 1;
        match scanner.receive(ctx, tag, returned)? {
            Ok(Scanned::Received) => super::say(
                ctx,
                format!("{tag} received"),
                serde_json::json!({ "received": tag }),
            ),
            Ok(Scanned::Returned(r)) => super::say(
                ctx,
                format!("{tag} received: {}", r.message),
                serde_json::json!({ "received": tag, "returned": true, "assignment_cleared": r.assignment_cleared }),
            ),
            Err(problem) => {
                eprintln!("line {}: {problem}", n + 1);
                if problem.refused {
                    refused += 1;
                } else {
                    bad += 1;
                }
            }
        }
    }
    if scanned == 0 {
        return Err(Failure::BadInput(
            "nothing was scanned: standard input held no asset tag (one per line); nothing was received".into(),
        ));
    }
    Ok(if bad > 0 {
        ExitStatus::BadInput
    } else if refused > 0 {
        ExitStatus::Refused
    } else {
        ExitStatus::Success
    })
}
