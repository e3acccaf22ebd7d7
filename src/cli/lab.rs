//! `deskready lab up|status|down`: simulated devices on this machine for the site.
//!
//! Every device of the site that is reached over SSH gets a real sshd of its own; the lab
//! then writes `inventory/lab.generated.yaml` pointing those devices at their lab addresses.
//! Hand-written inventory files are never touched; `lab down` removes the generated file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{Ctx, Failure, Format};
use crate::lab::{Lab, LabDeviceSpec};
use crate::model::DeviceKind;
use crate::site::Site;

/// The inventory file the lab owns.
pub const GENERATED: &str = "inventory/lab.generated.yaml";

#[derive(Debug, clap::Subcommand)]
pub enum LabCommand {
    /// Start one simulated device (a real sshd) per SSH device of the site.
    Up(UpArgs),
    /// Show the lab's devices and whether each is running.
    Status,
    /// Stop every process the lab started and remove its inventory file.
    Down,
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

/// What `--printers` adds: the print server's tag, the printers to simulate, and the
/// inventory entries of extra printers.
struct Printing {
    server: Option<String>,
    specs: Vec<crate::lab::PrinterSpec>,
    extras: Vec<(String, String)>,
}

fn printing(site: &Site, wanted: usize) -> Result<Printing, Failure> {
    let none = Printing {
        server: None,
        specs: Vec::new(),
        extras: Vec::new(),
    };
    if wanted == 0 {
        return Ok(none);
    }
    let Some(server) = site
        .devices
        .values()
        .find(|d| d.kind == DeviceKind::PrintServer && d.address.ssh.is_some())
    else {
        return Err(Failure::BadInput(
            "--printers needs a device of kind print-server with an `ssh:` address in the site"
                .into(),
        ));
    };
    let split = |model: &str| match model.split_once(' ') {
        Some((make, rest)) => (make.to_string(), rest.to_string()),
        None => ("Generic".to_string(), model.to_string()),
    };
    let own: Vec<&crate::model::Device> = site
        .devices
        .values()
        .filter(|d| d.kind == DeviceKind::Printer)
        .collect();
    let mut specs = Vec::new();
    for d in own.iter().take(wanted) {
        let (make, model) = split(&d.model);
        let mut place = d.location.describe();
        if let Some(spot) = d.vars.get("spot").and_then(|v| v.as_str()) {
            place.push_str(&format!(", {spot}"));
        }
        specs.push(crate::lab::PrinterSpec::new(&d.tag, make, model, place));
    }
    let like = own.first().copied().unwrap_or(server);
    let mut extras = Vec::new();
    for i in 1..=wanted.saturating_sub(own.len()) {
        let tag = format!("LABP-{i:04}");
        if site.devices.contains_key(&tag) {
            return Err(Failure::BadInput(format!(
                "the site already has a device {tag}; extra lab printers are named LABP-0001 and up"
            )));
        }
        let model = format!("LabJet {}", 100 + i);
        let mut e = String::new();
        let _ = writeln!(e, "    kind: printer");
        let _ = writeln!(e, "    model: ACME {model}");
        let _ = writeln!(e, "    serial: LABP{i:06}");
        let _ = writeln!(e, "    profile: printer-ipp");
        let mut loc = Vec::new();
        if let Some(s) = &like.location.site {
            loc.push(format!(
                "site: {}",
                serde_json::to_string(s).unwrap_or_default()
            ));
        }
        loc.push(format!(
            "floor: {}",
            serde_json::to_string(like.location.floor.as_deref().unwrap_or("1"))
                .unwrap_or_default()
        ));
        let _ = writeln!(e, "    location: {{ {} }}", loc.join(", "));
        let _ = writeln!(e, "    vars: {{ spot: \"lab bay {i}\" }}");
        specs.push(crate::lab::PrinterSpec::new(
            &tag,
            "ACME",
            &model,
            format!("{}, lab bay {i}", like.location.describe()),
        ));
        extras.push((tag, e));
    }
    Ok(Printing {
        server: Some(server.tag.clone()),
        specs,
        extras,
    })
}

pub fn lab_dir(site_dir: &Path) -> PathBuf {
    crate::site::state_dir(site_dir).join("lab")
}

pub fn run(ctx: &Ctx, cmd: LabCommand) -> Result<ExitCode, Failure> {
    match cmd {
        LabCommand::Up(a) => up(ctx, a),
        LabCommand::Status => status(ctx),
        LabCommand::Down => down(ctx),
    }
}

fn up(ctx: &Ctx, args: UpArgs) -> Result<ExitCode, Failure> {
    // The site must be sound without a previous lab's file.
    let _ = std::fs::remove_file(ctx.site_dir.join(GENERATED));
    let site = ctx.load_site()?;
    let mut names: Vec<String> = site
        .devices
        .values()
        .filter(|d| d.address.ssh.is_some())
        .map(|d| d.tag.clone())
        .collect();
    let extras = extra_devices(&site, &args)?;
    names.extend(extras.iter().map(|(tag, _)| tag.clone()));
    let printing = printing(&site, args.printers)?;
    let specs: Vec<LabDeviceSpec> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            if i < args.full {
                LabDeviceSpec::full(n)
            } else {
                LabDeviceSpec::new(n)
            }
        })
        .collect();
    let lab = Lab::up_with(
        &lab_dir(&ctx.site_dir),
        &specs,
        printing.server.as_deref(),
        &printing.specs,
    )
    .map_err(|e| Failure::Other(e.into()))?;
    write_inventory(&ctx.site_dir, &lab, &extras, &printing.extras).map_err(Failure::Other)?;
    // Validate the site as it now stands, so a bad extra profile shows at once.
    if let Err(d) = crate::load::load_site(&ctx.site_dir) {
        let _ = lab.down();
        let _ = std::fs::remove_file(ctx.site_dir.join(GENERATED));
        return Err(Failure::Site(d));
    }
    match ctx.format {
        Format::Json => println!("{}", status_json(&lab)),
        Format::Text => {
            println!(
                "lab up: {} devices in {} (operator key {})",
                lab.devices.len(),
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

/// The extra devices asked for with `--devices`: tag and inventory entry (YAML text).
fn extra_devices(site: &Site, args: &UpArgs) -> Result<Vec<(String, String)>, Failure> {
    if args.devices == 0 {
        return Ok(Vec::new());
    }
    let Some(profile) = site.profiles.get(&args.profile) else {
        let names: Vec<&str> = site.profiles.keys().map(String::as_str).collect();
        return Err(Failure::BadInput(crate::load::diag::unknown(
            "profile",
            &args.profile,
            &names,
        )));
    };
    let chain = site.profile_chain(&profile.name);
    let kind = chain
        .iter()
        .rev()
        .find_map(|p| p.kinds.first())
        .map(|k| k.as_str())
        .unwrap_or("desktop");
    // Place them where the first device of that profile (or any device) is, so relations
    // such as the site's print server resolve as they would for a real one.
    let like = site
        .devices
        .values()
        .find(|d| d.profile.as_deref() == Some(profile.name.as_str()))
        .or_else(|| site.devices.values().next());
    let (site_name, floor) = like
        .map(|d| (d.location.site.clone(), d.location.floor.clone()))
        .unwrap_or_default();
    let mut out = Vec::new();
    for i in 1..=args.devices {
        let tag = format!("LAB-{i:04}");
        if site.devices.contains_key(&tag) {
            return Err(Failure::BadInput(format!(
                "the site already has a device {tag}; extra lab devices are named LAB-0001 and up"
            )));
        }
        let mut e = String::new();
        let _ = writeln!(e, "    kind: {kind}");
        let _ = writeln!(e, "    model: deskready lab device");
        let _ = writeln!(e, "    serial: LAB{i:06}");
        let _ = writeln!(e, "    profile: {}", profile.name);
        let _ = writeln!(
            e,
            "    assignee: {{ name: Lab User {i}, username: labuser{i}, email: labuser{i}@lab.invalid }}"
        );
        let mut loc = vec![format!("desk: \"L-{i}\"")];
        if let Some(s) = &site_name {
            loc.push(format!(
                "site: {}",
                serde_json::to_string(s).unwrap_or_default()
            ));
        }
        if let Some(f) = &floor {
            loc.push(format!(
                "floor: {}",
                serde_json::to_string(f).unwrap_or_default()
            ));
        }
        let _ = writeln!(e, "    location: {{ {} }}", loc.join(", "));
        out.push((tag, e));
    }
    Ok(out)
}

fn write_inventory(
    site_dir: &Path,
    lab: &Lab,
    extras: &[(String, String)],
    extra_printers: &[(String, String)],
) -> anyhow::Result<()> {
    let mut text = String::from(
        "# Written by `deskready lab up`; removed by `deskready lab down`. Do not edit.\n\
         # Points the site's SSH devices at simulated devices on this machine.\n",
    );
    let key = lab.key_file.display().to_string();
    let addr = |name: &str| -> String {
        let d = lab
            .devices
            .iter()
            .find(|d| d.name == name)
            .expect("lab device");
        format!(
            "ssh: {{ host: {}, port: {}, user: root, identity: {} }}",
            d.host,
            d.port,
            serde_json::to_string(&key).unwrap_or_default()
        )
    };
    let extra_tags: Vec<&str> = extras.iter().map(|(t, _)| t.as_str()).collect();
    let own: Vec<&str> = lab
        .devices
        .iter()
        .map(|d| d.name.as_str())
        .filter(|n| !extra_tags.contains(n))
        .collect();
    let printer_extra: Vec<&str> = extra_printers.iter().map(|(t, _)| t.as_str()).collect();
    let cups = |name: &str| -> String {
        match &lab.print_server {
            Some(ps) if ps.device == name => format!(
                "\n    vars: {{ cups_server: \"{}\", cups_port: {} }}",
                ps.address,
                ps.address.rsplit(':').next().unwrap_or("631")
            ),
            _ => String::new(),
        }
    };
    text.push_str("overrides:\n");
    for name in own {
        let _ = writeln!(text, "  {name}:\n    {}{}", addr(name), cups(name));
    }
    for p in lab
        .printers
        .iter()
        .filter(|p| !printer_extra.contains(&p.name.as_str()))
    {
        let _ = writeln!(text, "  {}:\n    uri: {}", p.name, p.uri);
    }
    if !extras.is_empty() || !extra_printers.is_empty() {
        text.push_str("devices:\n");
        for (tag, entry) in extras {
            let _ = writeln!(text, "  {tag}:\n    {}", addr(tag));
            text.push_str(entry);
        }
        for (tag, entry) in extra_printers {
            let uri = lab
                .printers
                .iter()
                .find(|p| &p.name == tag)
                .map(|p| p.uri.clone())
                .unwrap_or_default();
            let _ = writeln!(text, "  {tag}:\n    uri: {uri}");
            text.push_str(entry);
        }
    }
    let path = site_dir.join(GENERATED);
    let tmp = path.with_extension("yaml.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &path)?;
    Ok(())
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
    })
}

fn status(ctx: &Ctx) -> Result<ExitCode, Failure> {
    let lab = Lab::load(&lab_dir(&ctx.site_dir)).map_err(|e| Failure::Other(e.into()))?;
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
            print!("{}", super::table(&["DEVICE", "ADDRESS", "STATE"], &rows));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn down(ctx: &Ctx) -> Result<ExitCode, Failure> {
    let dir = lab_dir(&ctx.site_dir);
    let result = Lab::load(&dir).and_then(|lab| lab.down().map(|()| lab.devices.len()));
    let _ = std::fs::remove_file(ctx.site_dir.join(GENERATED));
    match result {
        Ok(n) => {
            if ctx.format == Format::Text {
                println!("lab down: {n} devices stopped; {GENERATED} removed");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(Failure::Other(e.into())),
    }
}
