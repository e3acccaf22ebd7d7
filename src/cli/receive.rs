//! `deskready receive`: accept delivered hardware. One device by its tag, a delivery's
//! packing list (`--csv`, all or nothing), or asset tags scanned one per line (`--scan`).
//!
//! A device already declared in the inventory is checked against what the delivery says;
//! a new one is added to the tool-owned `inventory/received.yaml`.

use std::collections::{BTreeMap, HashSet};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_yaml::{Mapping, Value};

use super::{Ctx, Failure, Format};
use crate::load::diag::unknown;
use crate::model::{Device, DeviceKind, Stage, stage_name};
use crate::owned::{self, RECEIVED};
use crate::site::Site;
use crate::store::{Entry, Store};

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

/// CSV columns a packing list may have; the first four are required.
pub const COLUMNS: &[&str] = &[
    "asset_tag",
    "serial",
    "model",
    "kind",
    "mac",
    "assignee",
    "username",
    "email",
    "desk",
    "site",
    "floor",
    "profile",
    "uri",
];
const REQUIRED: &[&str] = &["asset_tag", "serial", "model", "kind"];

/// One device as a delivery describes it.
#[derive(Debug, Default, Clone)]
struct Delivered {
    tag: String,
    fields: BTreeMap<&'static str, String>,
}

impl Delivered {
    fn get(&self, k: &str) -> Option<&str> {
        self.fields
            .get(k)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode, Failure> {
    if args.scan {
        return scan(ctx);
    }
    if let Some(csv) = &args.csv {
        return from_csv(ctx, csv);
    }
    let tag = args.device.clone().unwrap_or_default();
    let mut d = Delivered {
        tag: tag.clone(),
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
    let site = ctx.load_site()?;
    let store = ctx.open_store()?;
    let problems = check(&site, &store, &d, &mut HashSet::new())?;
    if !problems.is_empty() {
        return Err(Failure::BadInput(problems.join("\n")));
    }
    receive_all(ctx, &site, &store, &[d])?;
    Ok(ExitCode::SUCCESS)
}

/// What is wrong with receiving `d` (empty when it may be received).
fn check(
    site: &Site,
    store: &Store,
    d: &Delivered,
    seen: &mut HashSet<String>,
) -> Result<Vec<String>, Failure> {
    let mut out = Vec::new();
    if let Some(msg) = crate::load::bad_tag(&d.tag) {
        out.push(msg);
        return Ok(out);
    }
    if !seen.insert(d.tag.clone()) {
        out.push(format!("{} appears twice", d.tag));
    }
    if let Some(k) = d.get("kind")
        && !DeviceKind::ALL.contains(&k)
    {
        out.push(format!(
            "column `kind`: {}",
            unknown("value", k, DeviceKind::ALL)
        ));
    }
    if let Some(m) = d.get("mac")
        && !crate::load::is_mac(m)
    {
        out.push(format!("column `mac`: `{m}` is not a MAC address; expected six hex pairs such as 8c:16:45:2a:0b:11"));
    }
    if let Some(p) = d.get("profile")
        && !site.profiles.contains_key(p)
    {
        let names: Vec<&str> = site.profiles.keys().map(String::as_str).collect();
        out.push(format!(
            "column `profile`: {}",
            unknown("profile", p, &names)
        ));
    }
    match site.device(&d.tag) {
        Some(declared) => out.extend(conflicts(declared, d)),
        None => {
            for col in ["serial", "model", "kind"] {
                if d.get(col).is_none() {
                    out.push(format!(
                        "{} is not in the inventory, so its `{col}` is needed (with --{col}, or the CSV column)",
                        d.tag
                    ));
                }
            }
        }
    }
    let from = store.stage(&d.tag)?.map(|r| r.stage);
    if !Stage::can_move(from, Stage::Received) {
        out.push(format!("{} is already {}; only a device that is expected (or back from repair or its user) can be received", d.tag, stage_name(from)));
    }
    Ok(out)
}

/// Differences between what the inventory declares and what the delivery says.
fn conflicts(declared: &Device, d: &Delivered) -> Vec<String> {
    let mut out = Vec::new();
    let at = format!("{}:{}", declared.origin.file, declared.origin.line);
    let mut cmp = |col: &str, have: Option<&str>| {
        if let (Some(have), Some(given)) = (have, d.get(col))
            && !have.eq_ignore_ascii_case(given)
        {
            out.push(format!(
                "{} is declared in {at} with {col} {have}, but the delivery says {given}; check the label, or correct the inventory",
                d.tag
            ));
        }
    };
    cmp("serial", declared.serial.as_deref());
    cmp("model", Some(declared.model.as_str()));
    cmp("kind", Some(declared.kind.as_str()));
    cmp("mac", declared.mac.as_deref());
    out
}

/// The inventory entry of a device not declared anywhere.
fn entry(d: &Delivered) -> Value {
    let mut m = Mapping::new();
    let mut put = |k: &str, v: Value| {
        m.insert(Value::String(k.into()), v);
    };
    for k in ["kind", "model", "serial", "mac", "uri", "profile"] {
        if let Some(v) = d.get(k) {
            put(k, Value::String(v.into()));
        }
    }
    if let Some(name) = d.get("assignee") {
        let mut a = Mapping::new();
        a.insert("name".into(), name.into());
        if let Some(u) = d.get("username") {
            a.insert("username".into(), u.into());
        }
        if let Some(e) = d.get("email") {
            a.insert("email".into(), e.into());
        }
        put("assignee", Value::Mapping(a));
    }
    let mut loc = Mapping::new();
    for k in ["site", "floor", "desk"] {
        if let Some(v) = d.get(k) {
            loc.insert(k.into(), v.into());
        }
    }
    if !loc.is_empty() {
        put("location", Value::Mapping(loc));
    }
    Value::Mapping(m)
}

/// Adds the new devices to `inventory/received.yaml` (checked) and moves every one to
/// `received` in one transaction; on a refusal the file is put back.
fn receive_all(ctx: &Ctx, site: &Site, store: &Store, ds: &[Delivered]) -> Result<(), Failure> {
    let new: Vec<&Delivered> = ds
        .iter()
        .filter(|d| site.device(&d.tag).is_none())
        .collect();
    let before = std::fs::read(ctx.site_dir.join(RECEIVED)).ok();
    if !new.is_empty() {
        let mut map = owned::read_section(&ctx.site_dir, RECEIVED, "devices");
        for d in &new {
            map.insert(Value::String(d.tag.clone()), entry(d));
        }
        owned::edit_checked(&ctx.site_dir, RECEIVED, &owned::render("devices", map)).map_err(
            |e| match e {
                owned::EditError::Site(d) => Failure::Site(d),
                other => Failure::Other(other.into()),
            },
        )?;
    }
    let moves: Vec<(String, Stage, Vec<Entry>)> = ds
        .iter()
        .map(|d| {
            let facts: Vec<String> = ["serial", "model", "kind", "mac"]
                .iter()
                .filter_map(|k| d.get(k).map(|v| format!("{k} {v}")))
                .collect();
            let mut msg = if facts.is_empty() {
                "received".to_string()
            } else {
                format!("received: {}", facts.join(", "))
            };
            if site.device(&d.tag).is_none() {
                msg.push_str(&format!(" (added to {RECEIVED})"));
            }
            (
                d.tag.clone(),
                Stage::Received,
                vec![Entry::new(&d.tag, &ctx.operator, "received").message(msg)],
            )
        })
        .collect();
    if let Err(e) = store.transition_all(&moves, &ctx.operator) {
        if !new.is_empty() {
            owned::restore(&ctx.site_dir, RECEIVED, before);
        }
        return Err(e.into());
    }
    match ctx.format {
        Format::Json => println!(
            "{}",
            serde_json::json!({ "received": ds.iter().map(|d| &d.tag).collect::<Vec<_>>(), "added_to_inventory": new.iter().map(|d| &d.tag).collect::<Vec<_>>() })
        ),
        Format::Text => {
            for d in ds {
                let note = if new.iter().any(|n| n.tag == d.tag) {
                    format!(" (added to {RECEIVED})")
                } else {
                    String::new()
                };
                println!("{} received{note}", d.tag);
            }
        }
    }
    Ok(())
}

fn from_csv(ctx: &Ctx, path: &std::path::Path) -> Result<ExitCode, Failure> {
    let name = path.display().to_string();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| Failure::BadInput(format!("cannot read {name}: {e}")))?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| Failure::BadInput(format!("{name}:1: {e}")))?
        .iter()
        .map(|h| h.to_ascii_lowercase().replace([' ', '-'], "_"))
        .collect();
    let mut problems = Vec::new();
    let mut columns: Vec<Option<&'static str>> = Vec::new();
    for h in &headers {
        match COLUMNS.iter().find(|c| **c == h) {
            Some(c) => columns.push(Some(c)),
            None => {
                problems.push(format!("{name}:1: {}", unknown("column", h, COLUMNS)));
                columns.push(None);
            }
        }
    }
    for r in REQUIRED {
        if !headers.iter().any(|h| h == r) {
            problems.push(format!(
                "{name}:1: missing required column `{r}` (required: {})",
                REQUIRED.join(", ")
            ));
        }
    }
    if !problems.is_empty() {
        return Err(Failure::BadInput(problems.join("\n")));
    }
    let site = ctx.load_site()?;
    let store = ctx.open_store()?;
    let mut seen = HashSet::new();
    let mut ds = Vec::new();
    for rec in reader.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                problems.push(format!("{name}:{line}: {e}"));
                continue;
            }
        };
        let line = rec.position().map_or(0, |p| p.line());
        let mut d = Delivered::default();
        for (col, value) in columns.iter().zip(rec.iter()) {
            if let Some(col) = col {
                if *col == "asset_tag" {
                    d.tag = value.to_string();
                } else if !value.is_empty() {
                    d.fields.insert(col, value.to_string());
                }
            }
        }
        for r in REQUIRED {
            if (*r == "asset_tag" && d.tag.is_empty()) || (*r != "asset_tag" && d.get(r).is_none())
            {
                problems.push(format!(
                    "{name}:{line}: column `{r}` is empty; it is required"
                ));
            }
        }
        if d.tag.is_empty() {
            continue;
        }
        for p in check(&site, &store, &d, &mut seen)? {
            problems.push(format!("{name}:{line}: {p}"));
        }
        ds.push(d);
    }
    if !problems.is_empty() {
        return Err(Failure::BadInput(format!(
            "{}\nnothing from {name} was received",
            problems.join("\n")
        )));
    }
    if ds.is_empty() {
        return Err(Failure::BadInput(format!("{name} lists no devices")));
    }
    receive_all(ctx, &site, &store, &ds)?;
    Ok(ExitCode::SUCCESS)
}

/// Asset tags on standard input, one per line: each one declared is received at once.
fn scan(ctx: &Ctx) -> Result<ExitCode, Failure> {
    let site = ctx.load_site()?;
    let store = ctx.open_store()?;
    let mut failed = 0;
    let stdin = std::io::stdin();
    for (n, line) in stdin.lock().lines().enumerate() {
        let line = line.map_err(anyhow::Error::from)?;
        let tag = line.trim();
        if tag.is_empty() {
            continue;
        }
        let report = |msg: String| eprintln!("line {}: {msg}", n + 1);
        if site.device(tag).is_none() {
            let tags: Vec<&str> = site.devices.keys().map(String::as_str).collect();
            report(format!(
                "{}; scan receives only devices declared in the inventory (use --csv for new ones)",
                unknown("device", tag, &tags)
            ));
            failed += 1;
            continue;
        }
        let d = Delivered {
            tag: tag.to_string(),
            ..Default::default()
        };
        let problems = check(&site, &store, &d, &mut HashSet::new())?;
        if let Some(p) = problems.first() {
            report(p.clone());
            failed += 1;
            continue;
        }
        store.transition(
            tag,
            Stage::Received,
            &ctx.operator,
            None,
            &[Entry::new(tag, &ctx.operator, "received").message("received (scanned)")],
        )?;
        match ctx.format {
            Format::Json => println!("{}", serde_json::json!({ "received": tag })),
            Format::Text => println!("{tag} received"),
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
