//! The lab as a use case: `lab up` starts one simulated device per SSH device of the site
//! (plus extra devices and printers when asked) and writes `inventory/lab.generated.yaml`
//! pointing those devices at their lab addresses; `lab down` stops it all and removes that
//! file. Hand-written inventory files are never touched. Never prints.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{Env, Error};
use crate::lab::{Lab, LabDeviceSpec};
use crate::model::DeviceKind;
use crate::site::Site;

/// The inventory file the lab owns.
pub const GENERATED: &str = "inventory/lab.generated.yaml";

/// What `lab up` starts besides one device per SSH device of the site.
#[derive(Debug, Clone)]
pub struct UpSettings {
    /// Extra devices LAB-0001..LAB-N of `profile`.
    pub devices: usize,
    pub profile: String,
    /// The print server and this many printers (the site's own first, then extra ones).
    pub printers: usize,
    /// The first N devices run as full (systemd) devices.
    pub full: usize,
}

/// Where the site's lab lives.
pub fn lab_dir(site_dir: &Path) -> PathBuf {
    crate::site::state_dir(site_dir).join("lab")
}

/// Starts the lab and points the site's devices at it; the site must load afterwards (else
/// the lab is taken down again and the problems returned).
pub fn up(env: &Env, args: &UpSettings) -> Result<Lab, Error> {
    // A lab still running keeps its file: the site's devices stay pointed at it.
    Lab::refuse_if_running(&lab_dir(&env.site_dir))?;
    // The site must be sound without a previous lab's file.
    let _ = std::fs::remove_file(env.site_dir.join(GENERATED));
    let site = env.load_site()?;
    let mut names: Vec<String> = site
        .devices
        .values()
        .filter(|d| d.address.ssh.is_some())
        .map(|d| d.tag.clone())
        .collect();
    let extras = extra_devices(&site, args)?;
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
        &lab_dir(&env.site_dir),
        &specs,
        printing.server.as_deref(),
        &printing.specs,
    )?;
    write_inventory(&env.site_dir, &lab, &extras, &printing.extras)?;
    // Validate the site as it now stands, so a bad extra profile shows at once.
    if let Err(d) = crate::load::load_site(&env.site_dir) {
        let _ = lab.down();
        let _ = std::fs::remove_file(env.site_dir.join(GENERATED));
        return Err(Error::Site(d));
    }
    Ok(lab)
}

/// The running lab of the site.
pub fn status(env: &Env) -> Result<Lab, Error> {
    Ok(Lab::load(&lab_dir(&env.site_dir))?)
}

/// What `lab printer` does to one simulated printer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrinterAction {
    /// Switched off: it no longer answers over IPP.
    Stop,
    /// Switched on again (same port, same spool); waits until it answers.
    Start,
    /// Its supply levels, in percent, in the order it lists its supplies.
    Supplies(Vec<u8>),
}

/// `lab printer NAME --stop|--start|--supplies L,L`: one of the lab's printers switched
/// off or on, or its supplies set, as a CSP would meet a printer that is off or low on
/// toner.
pub fn printer(env: &Env, name: &str, action: &PrinterAction) -> Result<(), Error> {
    let mut lab = Lab::load(&lab_dir(&env.site_dir))?;
    match action {
        PrinterAction::Stop => lab.stop_printer(name)?,
        PrinterAction::Start => lab.start_printer(name)?,
        PrinterAction::Supplies(levels) => lab.set_supplies(name, levels)?,
    }
    Ok(())
}

/// What `down` stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    /// How many devices (sshd or container) the lab had.
    pub devices: usize,
    /// The print server whose private cupsd the lab ran, if any.
    pub print_server: Option<String>,
    /// How many simulated printers the lab ran.
    pub printers: usize,
}

/// Stops every process of the lab and removes its inventory file; says what it stopped.
pub fn down(env: &Env) -> Result<Stopped, Error> {
    let dir = lab_dir(&env.site_dir);
    let result = Lab::load(&dir).and_then(|lab| {
        lab.down().map(|()| Stopped {
            devices: lab.devices.len(),
            print_server: lab.print_server.as_ref().map(|p| p.device.clone()),
            printers: lab.printers.len(),
        })
    });
    let _ = std::fs::remove_file(env.site_dir.join(GENERATED));
    Ok(result?)
}

/// What `--printers` adds: the print server's tag, the printers to simulate, and the
/// inventory entries of extra printers.
struct Printing {
    server: Option<String>,
    specs: Vec<crate::lab::PrinterSpec>,
    extras: Vec<(String, String)>,
}

fn printing(site: &Site, wanted: usize) -> Result<Printing, Error> {
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
        return Err(Error::BadInput(
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
            return Err(Error::BadInput(format!(
                "the site already has a device {tag}; extra lab printers are named LABP-0001 and up"
            )));
        }
        // Four models, as an office buys printers by the dozen.
        let model = format!("LabJet {}", 101 + (i - 1) % 4);
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

/// The extra devices asked for with `--devices`: tag and inventory entry (YAML text).
fn extra_devices(site: &Site, args: &UpSettings) -> Result<Vec<(String, String)>, Error> {
    if args.devices == 0 {
        return Ok(Vec::new());
    }
    let Some(profile) = site.profiles.get(&args.profile) else {
        let names: Vec<&str> = site.profiles.keys().map(String::as_str).collect();
        return Err(Error::BadInput(crate::load::diag::unknown(
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
            return Err(Error::BadInput(format!(
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
) -> std::io::Result<()> {
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
