//! Receiving delivered hardware: one device by its tag, a delivery's packing list (all or
//! nothing), or scanned asset tags one at a time.
//!
//! A device already declared in the inventory is checked against what the delivery says;
//! a new one is added to the tool-owned `inventory/received.yaml` (put back when the store
//! refuses, or when the new device would not render). A device at its user's desk is never
//! taken back by a stray receive: that is `return` (or `--returned`). Packing lists may use
//! the column names of Snipe-IT's export and of common vendor packing lists. Never prints.

use std::collections::{BTreeMap, HashSet};

use serde_yaml::{Mapping, Value};

use super::undo::UndoStack;
use super::{Env, Error, guard, hold};
use crate::load::diag::unknown;
use crate::model::{Device, DeviceKind, Stage, stage_name};
use crate::owned::{self, ASSIGNMENTS, RECEIVED};
use crate::site::Site;
use crate::store::{Entry, Holder, Purpose, Store};

/// What was received (or, with `dry_run`, would be), and which of those were added to
/// the inventory.
#[derive(Debug, Clone, Default)]
pub struct Received {
    pub received: Vec<String>,
    pub added: Vec<String>,
    /// Where the added devices were recorded: `inventory/received.yaml`, or a team store's
    /// receipts.
    pub added_to: String,
    /// Nothing was written: everything was checked as if for real.
    pub dry_run: bool,
}

/// The stage of `tag` in the store (`None`: never received, or not known).
pub fn stage_of(env: &Env, tag: &str) -> Result<Option<Stage>, Error> {
    Ok(env.open_store()?.stage(tag)?.map(|r| r.stage))
}

/// Why one device cannot be received: bad input (a typo, a conflict with the inventory),
/// or a refusal by its stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    /// The device's stage does not allow it (exit 3), rather than bad input (exit 2).
    pub refused: bool,
}

impl Problem {
    fn input(message: String) -> Problem {
        Problem {
            message,
            refused: false,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The error of `problems` joined: bad input when any is, else a refusal.
fn failed(problems: &[Problem], tail: Option<String>) -> Error {
    let mut text: Vec<String> = problems.iter().map(|p| p.message.clone()).collect();
    text.extend(tail);
    let text = text.join("\n");
    if problems.iter().all(|p| p.refused) {
        Error::Refused(text)
    } else {
        Error::BadInput(text)
    }
}

/// Receives one device as described (`tag` and the columns given on the command line);
/// with `dry_run`, checks everything and writes nothing.
pub fn one(env: &Env, mut d: Delivered, dry_run: bool) -> Result<Received, Error> {
    if let Some(k) = d.get("kind").and_then(kind_of) {
        d.fields.insert("kind", k.to_string());
    }
    let site = env.load_site()?;
    let store = env.open_store()?;
    let _held = match crate::load::bad_tag(&d.tag) {
        None => Some(hold(env, &store, &d.tag, Purpose::Receive)?),
        Some(_) => None,
    };
    let mut problems = check(&site, &store, &d, &mut HashSet::new())?;
    // One device is given by options, not a packing list's columns.
    for p in &mut problems {
        if let Some(rest) = p.message.strip_prefix("column `")
            && let Some((col, said)) = rest.split_once("`:")
        {
            p.message = format!("--{}:{said}", col.replace('_', "-"));
        }
    }
    if d.outcome.is_some() && store.stage(&d.tag)?.map(|r| r.stage) != Some(Stage::InRepair) {
        problems.push(Problem::input(format!(
            "{} is not in repair; --outcome records what a repair came to",
            d.tag
        )));
    }
    if !problems.is_empty() {
        return Err(failed(&problems, None));
    }
    receive_all(env, &site, &store, &[d], dry_run)
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
    "purchase_date",
    "warranty_until",
    "supplier",
    "order",
];
const REQUIRED: &[&str] = &["asset_tag", "serial", "model", "kind"];

/// Other names of the columns, as Snipe-IT's asset export and common vendor packing lists
/// write them (compared after [`header_key`]).
const ALIASES: &[(&str, &[&str])] = &[
    (
        "asset_tag",
        &[
            "asset",
            "tag",
            "asset_no",
            "asset_number",
            "asset_id",
            "property_tag",
            "inventory_number",
        ],
    ),
    (
        "serial",
        &[
            "serial_number",
            "serial_no",
            "sn",
            "s_n",
            "service_tag",
            "serialnumber",
        ],
    ),
    (
        "model",
        &["model_name", "product", "product_name", "device_model"],
    ),
    (
        "kind",
        &[
            "category",
            "type",
            "device_type",
            "asset_type",
            "device_kind",
        ],
    ),
    (
        "mac",
        &["mac_address", "macaddress", "ethernet_mac", "mac_addr"],
    ),
    (
        "assignee",
        &[
            "checked_out_to",
            "assigned_to",
            "full_name",
            "employee",
            "user",
        ],
    ),
    ("username", &["login", "user_name", "login_name"]),
    ("email", &["e_mail", "email_address", "mail"]),
    ("desk", &["desk_number", "workstation_location"]),
    ("site", &["location", "office"]),
    ("floor", &["level"]),
    ("uri", &["ipp_uri", "printer_uri"]),
    ("order", &["order_number", "po_number", "purchase_order"]),
];

/// Columns of Snipe-IT's export and of vendor packing lists that say nothing deskready
/// keeps; they are read past without complaint.
const IGNORED: &[&str] = &[
    "id",
    "name",
    "asset_name",
    "item_name",
    "model_no",
    "model_number",
    "manufacturer",
    "status",
    "status_label",
    "purchase_cost",
    "notes",
    "company",
    "warranty",
    "warranty_months",
    "warranty_expires",
    "eol",
    "created_at",
    "updated_at",
    "default_location",
    "last_checkout",
    "expected_checkin",
    "last_audit",
    "next_audit_date",
    "requestable",
    "qty",
    "quantity",
    "part_number",
    "sku",
    "unit_price",
    "price",
    "ship_date",
    "delivery_date",
    "tracking_number",
    "invoice",
    "invoice_number",
    "condition",
    "description",
    "checkout_type",
    "age",
    "value",
    "current_value",
    "depreciation",
    "book_value",
];

/// A header as compared: lower case, trimmed, runs of spaces, `-`, `.` and `/` as one `_`
/// ("Serial Number" -> `serial_number`, "Model No." -> `model_no`).
fn header_key(h: &str) -> String {
    let mut out = String::new();
    for c in h.trim().to_lowercase().chars() {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_string()
}

/// What a header names: one of [`COLUMNS`] (`Some(Some(col))`), a column read past
/// (`Some(None)`), or nothing known (`None`).
fn column_of(header: &str) -> Option<Option<&'static str>> {
    let key = header_key(header);
    if let Some(c) = COLUMNS.iter().find(|c| **c == key) {
        return Some(Some(c));
    }
    if let Some((c, _)) = ALIASES
        .iter()
        .find(|(_, names)| names.contains(&key.as_str()))
    {
        return Some(Some(c));
    }
    IGNORED.contains(&key.as_str()).then_some(None)
}

/// A delivery's kind as deskready names it: case-insensitive, singular, with `-` between
/// words ("Laptops" -> laptop, "Thin Client" -> thin-client); `None` when it is none of
/// [`DeviceKind::ALL`].
pub fn kind_of(given: &str) -> Option<&'static str> {
    let words: Vec<String> = given
        .split(|c: char| c.is_whitespace() || c == '_' || c == '-')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let name = words.join("-");
    let singular = name.strip_suffix('s').unwrap_or(&name);
    DeviceKind::ALL
        .iter()
        .copied()
        .find(|k| *k == name || *k == singular)
}

/// One device as a delivery describes it: its tag and the columns given.
#[derive(Debug, Default, Clone)]
pub struct Delivered {
    pub tag: String,
    pub fields: BTreeMap<&'static str, String>,
    /// Back from repair: what the repair came to ("hinge replaced").
    pub outcome: Option<String>,
}

impl Delivered {
    fn get(&self, k: &str) -> Option<&str> {
        self.fields
            .get(k)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// What is wrong with receiving `d` (empty when it may be received).
fn check(
    site: &Site,
    store: &Store,
    d: &Delivered,
    seen: &mut HashSet<String>,
) -> Result<Vec<Problem>, Error> {
    let mut out = Vec::new();
    if let Some(msg) = crate::load::bad_tag(&d.tag) {
        out.push(Problem::input(msg));
        return Ok(out);
    }
    if !seen.insert(d.tag.clone()) {
        out.push(Problem::input(format!("{} appears twice", d.tag)));
    }
    if let Some(k) = d.get("kind")
        && !DeviceKind::ALL.contains(&k)
    {
        out.push(Problem::input(format!(
            "column `kind`: {}",
            unknown("value", k, DeviceKind::ALL)
        )));
    }
    if let Some(m) = d.get("mac")
        && !crate::load::is_mac(m)
    {
        out.push(Problem::input(format!("column `mac`: `{m}` is not a MAC address; expected six hex pairs such as 8c:16:45:2a:0b:11")));
    }
    let typed = [
        d.get("assignee")
            .map(|v| guard::one_line("column `assignee`:", v).map(|_| ())),
        d.get("desk")
            .map(|v| guard::one_line("column `desk`:", v).map(|_| ())),
        d.get("username").map(guard::username),
        d.get("email").map(guard::email),
    ];
    for e in typed.into_iter().flatten().filter_map(Result::err) {
        out.push(Problem::input(e.to_string()));
    }
    for col in ["purchase_date", "warranty_until"] {
        if let Some(v) = d.get(col)
            && (v.len() != 10 || v.parse::<jiff::civil::Date>().is_err())
        {
            out.push(Problem::input(format!(
                "column `{col}`: `{v}` is not a date; expected YYYY-MM-DD such as 2026-03-31"
            )));
        }
    }
    if let Some(p) = d.get("profile")
        && !site.profiles.contains_key(p)
    {
        let names: Vec<&str> = site.profiles.keys().map(String::as_str).collect();
        out.push(Problem::input(format!(
            "column `profile`: {}",
            unknown("profile", p, &names)
        )));
    }
    match site.device(&d.tag) {
        Some(declared) => out.extend(conflicts(declared, d).into_iter().map(Problem::input)),
        None => {
            let missing: Vec<&str> = ["serial", "model", "kind"]
                .into_iter()
                .filter(|col| d.get(col).is_none())
                .collect();
            let tags = site.devices.keys().map(String::as_str);
            match crate::load::diag::did_you_mean(&d.tag, tags) {
                // Nothing says it is new, and a tag like it is declared: a typo, most likely.
                Some(like) if !missing.is_empty() => out.push(Problem::input(format!(
                    "{} is not in the inventory; did you mean `{like}`? (a new device needs its {}: with --{}, or the CSV columns)",
                    d.tag,
                    missing.join(", "),
                    missing.join(", --")
                ))),
                _ => {
                    for col in missing {
                        out.push(Problem::input(format!(
                            "{} is not in the inventory, so its `{col}` is needed (with --{col}, or the CSV column)",
                            d.tag
                        )));
                    }
                }
            }
        }
    }
    let from = store.stage(&d.tag)?.map(|r| r.stage);
    if from == Some(Stage::Delivered) {
        out.push(Problem {
            message: in_service(&d.tag),
            refused: true,
        });
    } else if !Stage::can_move(from, Stage::Received) {
        out.push(Problem {
            message: format!("{} is already {}; only a device that is expected (or back from repair or its user) can be received", d.tag, stage_name(from)),
            refused: true,
        });
    }
    Ok(out)
}

/// The refusal of receiving a device at its user's desk.
fn in_service(tag: &str) -> String {
    format!(
        "{tag} is delivered (in service at its user's desk); receiving it would take it back from its user. If it came back, use `deskready return {tag}` (or receive it with --returned)"
    )
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
    let p = &declared.purchase;
    cmp("supplier", p.supplier.as_deref());
    cmp("order", p.order.as_deref());
    cmp("purchase_date", p.purchase_date.as_deref());
    cmp("warranty_until", p.warranty_until.as_deref());
    if let (Some(have), Some(given)) = (declared.profile.as_deref(), d.get("profile"))
        && have != given
    {
        out.push(format!(
            "{} is declared in {at} with profile {have}, but the delivery says {given}; receive it as declared, then change the profile in the inventory (or with deskready set-profile for a device deskready added)",
            d.tag
        ));
    }
    out
}

/// The purchase columns a delivery gives for a declared device that its declaration lacks.
fn missing_purchase(declared: &Device, d: &Delivered) -> Mapping {
    let p = &declared.purchase;
    let mut m = Mapping::new();
    for (col, have) in [
        ("supplier", &p.supplier),
        ("order", &p.order),
        ("purchase_date", &p.purchase_date),
        ("warranty_until", &p.warranty_until),
    ] {
        if let (None, Some(given)) = (have, d.get(col)) {
            m.insert(col.into(), given.into());
        }
    }
    m
}

/// The inventory entry of a device not declared anywhere.
fn entry(d: &Delivered) -> Value {
    let mut m = Mapping::new();
    let mut put = |k: &str, v: Value| {
        m.insert(Value::String(k.into()), v);
    };
    for k in [
        "kind",
        "model",
        "serial",
        "mac",
        "uri",
        "profile",
        "purchase_date",
        "warranty_until",
        "supplier",
        "order",
    ] {
        if let Some(v) = d.get(k) {
            put(k, Value::String(v.into()));
        }
    }
    if let Some(name) = d.get("assignee") {
        let mut a = Mapping::new();
        a.insert("name".into(), name.into());
        // As `assign` does: a login made from the name unless one is given.
        if let Some(u) = d
            .get("username")
            .map(str::to_string)
            .or_else(|| super::assign::default_username(name))
        {
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
/// `received` in one transaction; on a refusal the file is put back. The caller holds
/// every device's lock.
fn receive_all(
    env: &Env,
    site: &Site,
    store: &Store,
    ds: &[Delivered],
    dry_run: bool,
) -> Result<Received, Error> {
    let new: Vec<&Delivered> = ds
        .iter()
        .filter(|d| site.device(&d.tag).is_none())
        .collect();
    let mut undo = UndoStack::new();
    let mut receipts = Vec::new();
    if !new.is_empty() && super::records::in_store(store) {
        let entries: Vec<(String, Mapping)> = new
            .iter()
            .filter_map(|d| match entry(d) {
                Value::Mapping(m) => Some((d.tag.clone(), m)),
                _ => None,
            })
            .collect();
        let (after, rows) = super::records::check_receipts(env, store, &entries)?;
        // As for the file: a new device must render as it was described.
        let tags: Vec<&str> = new.iter().map(|d| d.tag.as_str()).collect();
        guard::still_render(env, &after, &tags, &guard::Before::default())?;
        receipts = rows;
    } else if !new.is_empty() {
        let before = std::fs::read(env.site_dir.join(RECEIVED)).ok();
        let mut map = owned::read_section(&env.site_dir, RECEIVED, "devices");
        for d in &new {
            map.insert(Value::String(d.tag.clone()), entry(d));
        }
        let after = owned::edit_checked(&env.site_dir, RECEIVED, &owned::render("devices", map))?;
        undo.push(move || owned::restore(&env.site_dir, RECEIVED, before));
        // A new device must render as it was described (a profile, an assignee with what
        // its templates use); a device already declared is not changed by receiving it.
        let tags: Vec<&str> = new.iter().map(|d| d.tag.as_str()).collect();
        guard::still_render(env, &after, &tags, &guard::Before::default())?;
    }
    // A declared device's purchase facts that its declaration lacks (the warranty's end,
    // say) are kept beside its assignment, where `history`, `report` and `audit` read them.
    let facts: Vec<(String, Mapping)> = ds
        .iter()
        .filter_map(|d| Some((d, site.device(&d.tag)?)))
        .filter_map(|(d, declared)| {
            let m = missing_purchase(declared, d);
            (!m.is_empty()).then(|| (d.tag.clone(), m))
        })
        .collect();
    for before in super::records::add_purchases(env, store, facts)?
        .into_iter()
        .rev()
    {
        undo.push(move || super::records::restore_assignment(env, store, before));
    }
    let result = Received {
        received: ds.iter().map(|d| d.tag.clone()).collect(),
        added: new.iter().map(|d| d.tag.clone()).collect(),
        added_to: if super::records::in_store(store) {
            "the team store's receipts".into()
        } else {
            RECEIVED.into()
        },
        dry_run,
    };
    if dry_run {
        return Ok(result); // the undo stack puts the inventory back
    }
    // Devices back from repair: their repair is closed with its outcome, and the checks
    // their profile wants passed again after a repair are pending.
    let mut back = Vec::new();
    for d in ds {
        if store.stage(&d.tag)?.map(|r| r.stage) == Some(Stage::InRepair) {
            back.push((d.tag.clone(), after_repair(site, &d.tag)));
        }
    }
    let moves: Vec<(String, Stage, Vec<Entry>)> = ds
        .iter()
        .map(|d| {
            let facts: Vec<String> = [
                "serial",
                "model",
                "kind",
                "mac",
                "supplier",
                "order",
                "purchase_date",
                "warranty_until",
            ]
            .iter()
            .filter_map(|k| d.get(k).map(|v| format!("{k} {v}")))
            .collect();
            let mut msg = if facts.is_empty() {
                "received".to_string()
            } else {
                format!("received: {}", facts.join(", "))
            };
            match site.device(&d.tag) {
                None if super::records::in_store(store) => {
                    msg.push_str(" (added to the team store's receipts)");
                }
                None => msg.push_str(&format!(" (added to {RECEIVED})")),
                Some(declared) => {
                    let kept = missing_purchase(declared, d);
                    if !kept.is_empty() {
                        let cols: Vec<&str> = kept.keys().filter_map(Value::as_str).collect();
                        let place = if super::records::in_store(store) {
                            "the team store's assignments".to_string()
                        } else {
                            ASSIGNMENTS.to_string()
                        };
                        msg.push_str(&format!(" ({} kept in {place})", cols.join(", ")));
                    }
                }
            }
            let mut rows = vec![Entry::new(&d.tag, &env.operator, "received").message(msg)];
            if let Some((_, checks)) = back.iter().find(|(t, _)| *t == d.tag) {
                rows.push(
                    Entry::new(&d.tag, &env.operator, "repaired")
                        .message(repaired_message(d.outcome.as_deref(), checks)),
                );
            }
            (d.tag.clone(), Stage::Received, rows)
        })
        .collect();
    if receipts.is_empty() {
        store.transition_all(&moves, &env.operator)?;
    } else {
        store.receive_all(&moves, &receipts, &env.operator)?;
    }
    undo.commit();
    for (tag, checks) in &back {
        let outcome = ds
            .iter()
            .find(|d| d.tag == *tag)
            .and_then(|d| d.outcome.as_deref());
        store.close_repair(tag, &env.operator, outcome, checks)?;
    }
    Ok(result)
}

/// The verify checks `tag`'s profile chain wants passed again after a repair.
fn after_repair(site: &Site, tag: &str) -> Vec<String> {
    let Some(profile) = site.device(tag).and_then(|d| d.profile.as_deref()) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for p in site.profile_chain(profile) {
        for c in &p.after_repair {
            if !out.contains(c) {
                out.push(c.clone());
            }
        }
    }
    out
}

/// The journal's wording for a device back from repair.
fn repaired_message(outcome: Option<&str>, checks: &[String]) -> String {
    let mut m = format!(
        "back from repair: {}",
        outcome.unwrap_or("no outcome given")
    );
    if !checks.is_empty() {
        m.push_str(&format!(
            "; to pass again at the next configure: {}",
            checks.join(", ")
        ));
    }
    m
}

/// Receives a delivery's packing list: every device, or none when any row has a problem;
/// with `dry_run`, checks every row (and renders every new device) and writes nothing.
pub fn packing_list(env: &Env, path: &std::path::Path, dry_run: bool) -> Result<Received, Error> {
    let name = path.display().to_string();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| Error::BadInput(format!("cannot read {name}: {e}")))?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| Error::BadInput(format!("{name}:1: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut problems = Vec::new();
    let mut columns: Vec<Option<&'static str>> = Vec::new();
    let mut given: BTreeMap<&'static str, &str> = BTreeMap::new();
    for h in &headers {
        match column_of(h) {
            Some(Some(c)) => {
                if let Some(first) = given.insert(c, h) {
                    problems.push(format!(
                        "{name}:1: columns `{first}` and `{h}` both give `{c}`; keep one"
                    ));
                }
                columns.push(Some(c));
            }
            Some(None) => columns.push(None),
            None => {
                problems.push(format!(
                    "{name}:1: {}",
                    unknown("column", &header_key(h), COLUMNS)
                ));
                columns.push(None);
            }
        }
    }
    for r in REQUIRED {
        if !given.contains_key(r) {
            problems.push(format!(
                "{name}:1: missing required column `{r}` (required: {})",
                REQUIRED.join(", ")
            ));
        }
    }
    if !problems.is_empty() {
        return Err(Error::BadInput(problems.join("\n")));
    }
    let site = env.load_site()?;
    let store = env.open_store()?;
    let mut seen = HashSet::new();
    let mut ds = Vec::new();
    let mut row_problems: Vec<Problem> = Vec::new();
    for rec in reader.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                row_problems.push(Problem::input(format!("{name}:{line}: {e}")));
                continue;
            }
        };
        let line = rec.position().map_or(0, |p| p.line());
        let mut d = Delivered::default();
        for (col, value) in columns.iter().zip(rec.iter()) {
            if let Some(col) = col {
                if *col == "asset_tag" {
                    d.tag = value.to_string();
                } else if *col == "kind" && !value.is_empty() {
                    // "Laptops", "Thin Client": deskready's own word when there is one.
                    d.fields
                        .insert(col, kind_of(value).unwrap_or(value).to_string());
                } else if !value.is_empty() {
                    d.fields.insert(col, value.to_string());
                }
            }
        }
        for r in REQUIRED {
            if (*r == "asset_tag" && d.tag.is_empty()) || (*r != "asset_tag" && d.get(r).is_none())
            {
                row_problems.push(Problem::input(format!(
                    "{name}:{line}: column `{r}` is empty; it is required"
                )));
            }
        }
        if d.tag.is_empty() {
            continue;
        }
        for p in check(&site, &store, &d, &mut seen)? {
            row_problems.push(Problem {
                message: format!("{name}:{line}: {p}"),
                refused: p.refused,
            });
        }
        ds.push(d);
    }
    if !row_problems.is_empty() {
        return Err(failed(
            &row_problems,
            Some(format!("nothing from {name} was received")),
        ));
    }
    if ds.is_empty() {
        return Err(Error::BadInput(format!("{name} lists no devices")));
    }
    let tags: Vec<String> = ds.iter().map(|d| d.tag.clone()).collect();
    let _held = store.lock_all(&tags, &Holder::doing(&env.operator, Purpose::Receive))?;
    receive_all(env, &site, &store, &ds, dry_run)
}

/// Receiving scanned asset tags one at a time, each declared device at once.
pub struct Scanner {
    site: Site,
    store: std::sync::Arc<Store>,
}

impl Scanner {
    pub fn open(env: &Env) -> Result<Scanner, Error> {
        Ok(Scanner {
            site: env.load_site()?,
            store: env.open_store()?,
        })
    }

    /// Receives one scanned tag; `Ok(Err(problem))` when this tag cannot be received (the
    /// scan goes on), `Err` when the store failed. A delivered device is refused unless
    /// `returned` says it came back from its user: then it is returned (`return`).
    pub fn receive(
        &self,
        env: &Env,
        tag: &str,
        returned: bool,
    ) -> Result<Result<Scanned, Problem>, Error> {
        let (site, store) = (&self.site, &self.store);
        if site.device(tag).is_none() {
            let tags: Vec<&str> = site.devices.keys().map(String::as_str).collect();
            return Ok(Err(Problem::input(format!(
                "{}; scan receives only devices declared in the inventory (use --csv for new ones)",
                unknown("device", tag, &tags)
            ))));
        }
        if returned && store.stage(tag)?.map(|r| r.stage) == Some(Stage::Delivered) {
            return match super::lifecycle::give_back(env, tag, &Default::default()) {
                Ok(r) => Ok(Ok(Scanned::Returned(r))),
                Err(e) if e.exit_status() != super::ExitStatus::Failed => Ok(Err(Problem {
                    message: e.to_string(),
                    refused: e.exit_status() == super::ExitStatus::Refused,
                })),
                Err(e) => Err(e),
            };
        }
        let d = Delivered {
            tag: tag.to_string(),
            ..Default::default()
        };
        let _held = match hold(env, store, tag, Purpose::Receive) {
            Ok(g) => g,
            Err(Error::Store(e @ crate::store::StoreError::Locked { .. })) => {
                return Ok(Err(Problem {
                    message: e.to_string(),
                    refused: true,
                }));
            }
            Err(e) => return Err(e),
        };
        let problems = check(site, store, &d, &mut HashSet::new())?;
        if let Some(p) = problems.first() {
            return Ok(Err(p.clone()));
        }
        let from_repair = store.stage(tag)?.map(|r| r.stage) == Some(Stage::InRepair);
        let checks = after_repair(site, tag);
        let mut rows =
            vec![Entry::new(tag, &env.operator, "received").message("received (scanned)")];
        if from_repair {
            rows.push(
                Entry::new(tag, &env.operator, "repaired").message(repaired_message(None, &checks)),
            );
        }
        store.transition(tag, Stage::Received, &env.operator, None, &rows)?;
        if from_repair {
            store.close_repair(tag, &env.operator, None, &checks)?;
        }
        Ok(Ok(Scanned::Received))
    }
}

/// What a scanned tag did.
#[derive(Debug)]
pub enum Scanned {
    Received,
    /// A delivered device came back from its user (`--returned`).
    Returned(super::lifecycle::Returned),
}
