//! `deskready lab up|status|down|printer`: simulated devices on this machine for the site.
//!
//! Arguments in, `ops::lab` does the work, its result printed.

use std::process::ExitCode;

use super::{Ctx, Failure, Format};
use crate::lab::Lab;
use crate::ops::lab::{self, GENERATED};

#[derive(Debug, clap::Subcommand)]
pub enum LabCommand {
    /// Start one simulated device (a real sshd) per SSH device of the site.
    #[command(after_help = "Examples:
  deskready lab up
  deskready lab up --devices 50                # and 50 extra LAB-nnnn laptops
  deskready lab up --printers 6 --full 1       # print server, printers, one full device")]
    Up(UpArgs),
    /// Show the lab's devices and whether each is running.
    #[command(after_help = "Examples:
  deskready lab status")]
    Status,
    /// Stop every process the lab started and remove its inventory file.
    #[command(after_help = "Examples:
  deskready lab down")]
    Down,
    /// Switch one of the lab's printers off or on, or set its supply levels.
    #[command(after_help = "Examples:
  deskready lab printer PRN-0301 --stop          # it no longer answers over IPP
  deskready lab printer PRN-0301 --start
  deskready lab printer PRN-0301 --supplies 95,5 # waste tank 95% full, black toner 5%")]
    Printer(PrinterArgs),
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("action").required(true).args(["stop", "start", "supplies"])))]
pub struct PrinterArgs {
    /// The printer (a site printer or LABP-nnnn).
    pub name: String,
    /// Switch it off: it no longer answers over IPP.
    #[arg(long)]
    pub stop: bool,
    /// Switch it on again (same port, same spool).
    #[arg(long)]
    pub start: bool,
    /// Its supply levels in percent, in the order it lists its supplies (a stock printer:
    /// waste toner tank, black toner).
    #[arg(long, value_delimiter = ',', value_name = "PERCENT,...", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub supplies: Vec<u8>,
}

#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Also simulate N extra devices, LAB-0001..LAB-N, declared in the lab's own inventory
    /// file, for trying a profile on many devices.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub devices: usize,
    /// The profile of the extra devices.
    #[arg(long, default_value = "laptop-base", value_name = "PROFILE")]
    pub profile: String,
    /// Also run the site's print server (a private cupsd on its lab address) and M printers
    /// simulated by ippeveprinter: the site's own printers first, then extra ones
    /// (LABP-0001 and up) when M is larger.
    #[arg(long, default_value_t = 0, value_name = "M")]
    pub printers: usize,
    /// Run the first N devices (the site's SSH devices in tag order, then the extra ones)
    /// as full devices: Debian booted with systemd in systemd-nspawn, with their own
    /// services, users and packages (needs the base root made by scripts/lab-base).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub full: usize,
}

pub fn run(ctx: &Ctx, cmd: LabCommand) -> Result<ExitCode, Failure> {
    match cmd {
        LabCommand::Up(a) => up(ctx, a),
        LabCommand::Status => status(ctx),
        LabCommand::Down => down(ctx),
        LabCommand::Printer(a) => printer(ctx, a),
    }
}

fn printer(ctx: &Ctx, a: PrinterArgs) -> Result<ExitCode, Failure> {
    let (action, said) = if a.stop {
        (lab::PrinterAction::Stop, "stopped".to_string())
    } else if a.start {
        (lab::PrinterAction::Start, "started".to_string())
    } else {
        let levels: Vec<String> = a.supplies.iter().map(|l| format!("{l}%")).collect();
        (
            lab::PrinterAction::Supplies(a.supplies.clone()),
            format!("supplies set to {}", levels.join(", ")),
        )
    };
    lab::printer(ctx, &a.name, &action)?;
    if ctx.format == Format::Text {
        println!("lab printer {}: {said}", a.name);
    }
    Ok(ExitCode::SUCCESS)
}

fn up(ctx: &Ctx, args: UpArgs) -> Result<ExitCode, Failure> {
    let lab = lab::up(
        ctx,
        &lab::UpSettings {
            devices: args.devices,
            profile: args.profile,
            printers: args.printers,
            full: args.full,
        },
    )?;
    match ctx.format {
        Format::Json => println!("{}", status_json(&lab)),
        Format::Text => {
            println!(
                "lab up: {} in {} (operator key {})",
                crate::words::count(lab.devices.len(), "device"),
                lab.dir.display(),
                lab.key_file.display()
            );
            if let Some(ps) = &lab.print_server {
                println!(
                    "print server {} runs CUPS at {}; {} printers simulated",
                    ps.device,
                    ps.address,
                    lab.printers.len()
                );
            }
            println!("the site's devices now point at the lab through {GENERATED}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn status_json(lab: &Lab) -> serde_json::Value {
    let running: std::collections::HashMap<String, bool> = lab.status().into_iter().collect();
    serde_json::json!({
        "dir": lab.dir,
        "key_file": lab.key_file,
        "devices": lab.devices.iter().map(|d| serde_json::json!({
            "device": d.name,
            "address": d.address(),
            "full": d.full,
            "running": running.get(&d.name).copied().unwrap_or(false),
        })).collect::<Vec<_>>(),
        "print_server": lab.print_server.as_ref().map(|ps| serde_json::json!({
            "device": ps.device,
            "address": ps.address,
            "up": crate::lab::answers(&ps.address),
        })),
        "printers": lab.printers.iter().map(|p| serde_json::json!({
            "printer": p.name,
            "uri": p.uri,
            "up": crate::lab::answers(&format!("127.0.0.1:{}", p.port)),
        })).collect::<Vec<_>>(),
    })
}

fn status(ctx: &Ctx) -> Result<ExitCode, Failure> {
    let lab = lab::status(ctx)?;
    match ctx.format {
        Format::Json => println!("{}", status_json(&lab)),
        Format::Text => {
            let running: std::collections::HashMap<String, bool> =
                lab.status().into_iter().collect();
            let rows: Vec<[String; 3]> = lab
                .devices
                .iter()
                .map(|d| {
                    let up = running.get(&d.name).copied().unwrap_or(false);
                    let state = if up { "running" } else { "stopped" };
                    [
                        d.name.clone(),
                        d.address(),
                        if d.full {
                            format!("{state} (full)")
                        } else {
                            state.to_string()
                        },
                    ]
                })
                .collect();
            let mut rows = rows;
            let state =
                |up: bool, what: &str| format!("{} ({what})", if up { "running" } else { "DOWN" });
            if let Some(ps) = &lab.print_server {
                rows.push([
                    format!("{} cupsd", ps.device),
                    ps.address.clone(),
                    state(crate::lab::answers(&ps.address), "print server"),
                ]);
            }
            for p in &lab.printers {
                rows.push([
                    p.name.clone(),
                    p.uri.clone(),
                    state(
                        crate::lab::answers(&format!("127.0.0.1:{}", p.port)),
                        "printer",
                    ),
                ]);
            }
            print!("{}", super::table(&["DEVICE", "ADDRESS", "STATE"], &rows));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn down(ctx: &Ctx) -> Result<ExitCode, Failure> {
    let stopped = lab::down(ctx)?;
    if ctx.format == Format::Text {
        let mut what = crate::words::count(stopped.devices, "device");
        if let Some(server) = &stopped.print_server {
            what.push_str(&format!(
                ", print server {server}'s cupsd and {}",
                crate::words::count(stopped.printers, "printer")
            ));
        }
        println!("lab down: {what} stopped; {GENERATED} removed");
    }
    Ok(ExitCode::SUCCESS)
}
