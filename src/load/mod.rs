//! YAML site files to a validated [`Site`]: inventory, profiles and templates.
//!
//! Two stages: serde structs that deny unknown keys (`raw`), then checks serde cannot do
//! (resource kinds and their keys, references between files, `extends` cycles). Every
//! problem becomes a located [`Diagnostic`]; loading goes on past the first one so that a
//! CSP sees them all at once. Nothing here touches a device or the state store.

pub mod config;
pub mod diag;
pub(crate) mod guide;
mod handlers;
mod kinds;
pub(crate) use kinds::apt_source::normal_fingerprint;
#[cfg(test)]
pub(crate) use kinds::keywords as kind_keywords;
pub(crate) use kinds::rendered_problem;
pub(crate) use kinds::user::{UserKey, bad_user};
pub mod locate;
mod raw;
mod resources;
mod secrets;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

pub use diag::{Diagnostic, Diagnostics};
use locate::{Index, Pos, join_key};

use crate::model::{Address, Device, DeviceKind, Group, Location, Origin, Profile};
use crate::render::Templates;
use crate::site::Site;

/// Loads the site at `root`, or returns every problem found in it.
pub fn load_site(root: &Path) -> Result<Site, Diagnostics> {
    let mut diags = Diagnostics::default();
    let site = load_site_with(root, &mut diags);
    if diags.is_empty() {
        Ok(site)
    } else {
        Err(diags.sorted())
    }
}

/// Inventory documents kept outside the site's files: a team store's receipts and
/// assignments, each loaded in place of the tool-owned inventory file it stands for.
#[derive(Debug, Clone, Default)]
pub struct Overlay {
    /// (the file it replaces, e.g. `inventory/received.yaml`; the name problems are
    /// reported under; its YAML text).
    pub docs: Vec<(String, String, String)>,
}

/// [`load_site`] with `overlay`'s documents in place of the files they stand for.
pub fn load_site_over(root: &Path, overlay: &Overlay) -> Result<Site, Diagnostics> {
    let mut diags = Diagnostics::default();
    let site = load_site_inner(root, &mut diags, overlay);
    if diags.is_empty() {
        Ok(site)
    } else {
        Err(diags.sorted())
    }
}

/// Loads as much of the site as is sound, adding every problem to `diags`. The site
/// returned is usable for further checks (such as rendering) even when `diags` is not empty.
pub fn load_site_with(root: &Path, diags: &mut Diagnostics) -> Site {
    load_site_inner(root, diags, &Overlay::default())
}

/// [`load_site_with`] and an overlay.
pub fn load_site_with_over(root: &Path, diags: &mut Diagnostics, overlay: &Overlay) -> Site {
    load_site_inner(root, diags, overlay)
}

fn load_site_inner(root: &Path, diags: &mut Diagnostics, overlay: &Overlay) -> Site {
    for dir in ["inventory", "profiles"] {
        if !root.join(dir).is_dir() {
            diags.push(Diagnostic::new(
                format!("{dir}/"),
                Pos { line: 0, col: 0 },
                "",
                format!(
                    "the site {} has no {dir}/ directory (a site holds profiles/, templates/ and inventory/; use --site DIR)",
                    root.display()
                ),
            ));
        }
    }

    let (templates, template_errors) = if root.join("templates").is_dir() {
        Templates::load(&root.join("templates"))
    } else {
        (Templates::empty(), Vec::new())
    };
    for e in template_errors {
        diags.push(Diagnostic::new(
            format!("templates/{}", e.template.unwrap_or_default()),
            e.pos,
            "",
            e.message,
        ));
    }

    let mut inv = InventoryBuilder::default();
    let mut inventory = yaml_files(root, "inventory", diags);
    inventory.retain(|(f, _)| !overlay.docs.iter().any(|(rel, _, _)| *rel == f.rel));
    for (_, name, text) in &overlay.docs {
        inventory.extend(parse_doc(name.clone(), text, diags));
    }
    for file in inventory {
        inv.add_file(&file, diags);
    }
    let mut profiles = ProfileBuilder::default();
    let profile_yaml = yaml_files(root, "profiles", diags);
    for file in &profile_yaml {
        profiles.add_file(file, &templates, root, diags);
    }
    for (file, value) in &profile_yaml {
        secrets::check_profile_refs(file, value, &inv.secrets, diags);
    }
    secrets::check_template_refs(&templates, &inv.secrets, diags);

    let profile_files = std::mem::take(&mut profiles.files);
    let mut site = Site {
        root: root.to_path_buf(),
        devices: BTreeMap::new(),
        groups: std::mem::take(&mut inv.groups),
        profiles: std::mem::take(&mut profiles.profiles),
        templates,
        settings: inv.settings.take().unwrap_or_default(),
        secrets: std::mem::take(&mut inv.secrets),
    };
    check_extends(&site, &profile_files, diags);
    check_after_repair(&site, &profile_files, diags);
    handlers::check_notify(&site, &profile_files, diags);
    inv.apply_overrides(diags);
    // One serial number and one MAC address is one device: a second is a typo, or a device
    // received twice under two tags.
    let mut seen: BTreeMap<(&str, String), (String, String)> = BTreeMap::new();
    for (device, file) in std::mem::take(&mut inv.devices).into_values() {
        check_device_refs(&site, &device, &file, diags);
        let keys = [
            ("serial", device.serial.as_deref().map(str::to_uppercase)),
            (
                "mac",
                device
                    .mac
                    .as_deref()
                    .map(|m| m.to_ascii_lowercase().replace('-', ":")),
            ),
        ];
        for (key, value) in keys {
            let Some(value) = value else { continue };
            let at = format!("{}:{}", device.origin.file, device.origin.line);
            match seen.get(&(key, value.clone())) {
                Some((other, other_at)) => diags.push(file.diag(
                    &join_key(&device.origin.path, key),
                    format!(
                        "{key} {value} is also {other}'s ({other_at}); one device has one {key}: correct the typo, or remove the device declared twice"
                    ),
                )),
                None => {
                    seen.insert((key, value), (device.tag.clone(), at));
                }
            }
        }
        site.devices.insert(device.tag.clone(), device);
    }
    for (via, path, file) in profiles.static_vias {
        if !site.devices.contains_key(&via) {
            let tags: Vec<&str> = site.devices.keys().map(String::as_str).collect();
            diags.push(file.diag(&path, diag::unknown("device", &via, &tags)));
        }
    }
    site
}

/// A parsed YAML file: its site-relative name, and where each key stands. Cloned once
/// per device or profile it declares, so the index is shared, not copied.
#[derive(Clone)]
pub(crate) struct SourceFile {
    pub rel: String,
    pub index: std::sync::Arc<Index>,
}

impl SourceFile {
    pub(crate) fn pos(&self, path: &str) -> Pos {
        self.index.find(path)
    }
    pub(crate) fn diag(&self, path: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(&self.rel, self.pos(path), path, message)
    }
    pub(crate) fn origin(&self, path: &str) -> Origin {
        let p = self.pos(path);
        Origin {
            file: self.rel.clone(),
            line: p.line,
            column: p.col,
            path: path.to_string(),
        }
    }

    /// Deserialises `value` (found at `path` in this file) into `T`, or records why not.
    pub(crate) fn parse<T: DeserializeOwned>(
        &self,
        value: serde_yaml::Value,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => Some(v),
            Err(e) => {
                let inner = e.path().to_string();
                let mut at = if inner == "." || inner.is_empty() {
                    path.to_string()
                } else if inner.starts_with('[') {
                    format!("{path}{inner}")
                } else {
                    join_key(path, &inner)
                };
                let raw = e.inner().to_string();
                // Point at the offending key itself when serde names it.
                if let Some(rest) = raw.strip_prefix("unknown field `")
                    && let Some((key, _)) = rest.split_once('`')
                {
                    let key_path = join_key(&at, key);
                    if self.index.get(&key_path).is_some() {
                        at = key_path;
                    }
                }
                diags.push(self.diag(&at, diag::rewrite_serde_message(&raw)));
                None
            }
        }
    }
}

/// Reads and indexes every `*.yaml` / `*.yml` in `root/dir`, sorted by name.
fn yaml_files(
    root: &Path,
    dir: &str,
    diags: &mut Diagnostics,
) -> Vec<(SourceFile, serde_yaml::Value)> {
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(root.join(dir)) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
            })
            .collect(),
        Err(_) => return Vec::new(),
    };
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let rel = format!(
            "{dir}/{}",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                diags.push(Diagnostic::new(
                    rel,
                    Pos { line: 0, col: 0 },
                    "",
                    format!("cannot read: {e}"),
                ));
                continue;
            }
        };
        out.extend(parse_doc(rel, &text, diags));
    }
    out
}

/// The entries of a mapping section, with their keys as text.
fn entries(
    map: Option<serde_yaml::Mapping>,
    section: &str,
    file: &SourceFile,
    diags: &mut Diagnostics,
) -> Vec<(String, String, serde_yaml::Value)> {
    let mut out = Vec::new();
    for (k, v) in map.unwrap_or_default() {
        let key = match k {
            serde_yaml::Value::String(s) => s,
            serde_yaml::Value::Number(n) => n.to_string(),
            other => {
                diags.push(file.diag(
                    section,
                    format!("keys of `{section}` must be text, found {other:?}"),
                ));
                continue;
            }
        };
        let path = join_key(section, &key);
        out.push((key, path, v));
    }
    out
}

#[derive(Default)]
struct InventoryBuilder {
    settings: Option<crate::site::Settings>,
    settings_file: Option<String>,
    devices: BTreeMap<String, (Device, SourceFile)>,
    groups: BTreeMap<String, Group>,
    overrides: Vec<(String, String, raw::RawOverride, SourceFile)>,
    secrets: BTreeMap<String, crate::model::Secret>,
}

impl InventoryBuilder {
    fn add_file(
        &mut self,
        (file, value): &(SourceFile, serde_yaml::Value),
        diags: &mut Diagnostics,
    ) {
        let Some(raw) = (if value.is_null() {
            Some(raw::InventoryFile::default())
        } else {
            file.parse::<raw::InventoryFile>(value.clone(), "", diags)
        }) else {
            return;
        };
        if let Some(s) = raw.settings {
            if let Some(prev) = &self.settings_file {
                diags.push(file.diag(
                    "settings",
                    format!("site settings are already set in {prev}; keep them in one file"),
                ));
            } else {
                let d = crate::site::Settings::default();
                let interval = s.audit_interval_days.unwrap_or(d.audit_interval_days);
                if interval == 0 {
                    diags.push(file.diag(
                        "settings.audit_interval_days",
                        "the audit interval is at least 1 day",
                    ));
                }
                if let Some(url) = &s.store
                    && let Some(why) = bad_store_setting(url)
                {
                    diags.push(file.diag("settings.store", why));
                }
                self.settings = Some(crate::site::Settings {
                    audit_interval_days: interval.max(1),
                    audit_due_days: s.audit_due_days.unwrap_or(d.audit_due_days),
                    store: s.store.clone(),
                    accept_within_days: s.accept_within_days.unwrap_or(d.accept_within_days),
                });
                self.settings_file = Some(file.rel.clone());
            }
        }
        secrets::add(raw.secrets, file, &mut self.secrets, diags);
        for (name, path, v) in entries(raw.groups, "groups", file, diags) {
            let Some(g) = file.parse::<raw::RawGroup>(v, &path, diags) else {
                continue;
            };
            if let Some(prev) = self.groups.get(&name) {
                diags.push(file.diag(
                    &path,
                    format!(
                        "group `{name}` is already declared at {}:{}",
                        prev.origin.file, prev.origin.line
                    ),
                ));
                continue;
            }
            let maintenance_window = window(
                g.maintenance_window.as_ref(),
                &join_key(&path, "maintenance_window"),
                file,
                diags,
            );
            self.groups.insert(
                name.clone(),
                Group {
                    name,
                    description: g.description,
                    vars: g.vars,
                    maintenance_window,
                    origin: file.origin(&path),
                },
            );
        }
        for (tag, path, v) in entries(raw.devices, "devices", file, diags) {
            if let Some(msg) = bad_tag(&tag) {
                diags.push(file.diag(&path, msg));
                continue;
            }
            let Some(d) = file.parse::<raw::RawDevice>(v, &path, diags) else {
                continue;
            };
            if let Some((prev, _)) = self.devices.get(&tag) {
                diags.push(file.diag(
                    &path,
                    format!(
                        "asset tag `{tag}` is already declared at {}:{}; asset tags are unique across all inventory files",
                        prev.origin.file, prev.origin.line
                    ),
                ));
                continue;
            }
            check_device_fields(&d, &path, file, diags);
            let device = Device {
                tag: tag.clone(),
                kind: d.kind,
                model: d.model,
                serial: d.serial,
                mac: d.mac,
                address: Address {
                    ssh: d.ssh,
                    uri: d.uri,
                },
                profile: d.profile,
                assignee: d.assignee,
                location: Location {
                    site: d.location.site,
                    floor: d.location.floor,
                    desk: d.location.desk,
                },
                groups: d.groups,
                vars: d.vars,
                purchase: crate::model::Purchase {
                    purchase_date: d.purchase_date,
                    warranty_until: d.warranty_until,
                    supplier: d.supplier,
                    order: d.order,
                },
                origin: file.origin(&path),
            };
            self.devices.insert(tag, (device, file.clone()));
        }
        for (tag, path, v) in entries(raw.overrides, "overrides", file, diags) {
            if let Some(o) = file.parse::<raw::RawOverride>(v, &path, diags) {
                self.overrides.push((tag, path, o, file.clone()));
            }
        }
    }

    fn apply_overrides(&mut self, diags: &mut Diagnostics) {
        let tags: Vec<String> = self.devices.keys().cloned().collect();
        for (tag, path, o, file) in std::mem::take(&mut self.overrides) {
            match self.devices.get_mut(&tag) {
                Some((d, _)) => {
                    if o.ssh.is_some() {
                        d.address.ssh = o.ssh;
                    }
                    if o.uri.is_some() {
                        d.address.uri = o.uri;
                    }
                    if o.assignee.is_some() {
                        d.assignee = o.assignee;
                    }
                    if o.desk.is_some() {
                        d.location.desk = o.desk;
                    }
                    d.vars.extend(o.vars);
                    let p = &mut d.purchase;
                    for (have, given) in [
                        (&mut p.purchase_date, o.purchase_date),
                        (&mut p.warranty_until, o.warranty_until),
                        (&mut p.supplier, o.supplier),
                        (&mut p.order, o.order),
                    ] {
                        if given.is_some() {
                            *have = given;
                        }
                    }
                    if let (Some(bought), Some(until)) = (&p.purchase_date, &p.warranty_until)
                        && until < bought
                    {
                        diags.push(file.diag(
                            &path,
                            format!("the warranty ends ({until}) before the device was bought ({bought})"),
                        ));
                    }
                }
                None => {
                    let t: Vec<&str> = tags.iter().map(String::as_str).collect();
                    diags.push(file.diag(&path, diag::unknown("device", &tag, &t)));
                }
            }
        }
    }
}

/// One YAML document named `rel`: where its keys stand, and its value; or its problem.
fn parse_doc(
    rel: String,
    text: &str,
    diags: &mut Diagnostics,
) -> Option<(SourceFile, serde_yaml::Value)> {
    let index = match Index::build(text) {
        Ok(i) => i,
        Err(e) => {
            diags.push(Diagnostic::new(
                rel,
                e.pos,
                "",
                format!("{}{}", diag::MALFORMED, e.message),
            ));
            return None;
        }
    };
    let file = SourceFile {
        rel,
        index: std::sync::Arc::new(index),
    };
    match serde_yaml::from_str::<serde_yaml::Value>(text) {
        Ok(serde_yaml::Value::Null) => Some((file, serde_yaml::Value::Null)),
        Ok(v) => Some((file, v)),
        Err(e) => {
            let pos = e
                .location()
                .map(|l| Pos {
                    line: l.line(),
                    col: l.column(),
                })
                .unwrap_or(Pos { line: 1, col: 1 });
            diags.push(Diagnostic::new(
                &file.rel,
                pos,
                "",
                format!(
                    "{}{}",
                    diag::MALFORMED,
                    diag::rewrite_serde_message(&e.to_string())
                ),
            ));
            None
        }
    }
}

/// What is wrong with a site's `settings.store` (a PostgreSQL address without a password).
fn bad_store_setting(url: &str) -> Option<String> {
    let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    else {
        return Some(
            "a team store is named postgres://USER@HOST[:PORT]/DATABASE; without this setting the site keeps its store in .deskready/".into(),
        );
    };
    let userinfo = rest.split('/').next().unwrap_or("");
    if let Some((user, _)) = userinfo.split_once('@')
        && user.contains(':')
    {
        return Some("the store address holds a password; remove it and give it in PGPASSWORD or a file named by DESKREADY_STORE_PASSWORD_FILE (the site's YAML is shared and reviewed)".into());
    }
    None
}

/// The site's `settings.store`, read without loading the whole site (the store is opened
/// before the site is loaded). `None` when no inventory file sets it or a file is unreadable
/// (loading the site reports that).
pub fn store_setting(root: &Path) -> Option<String> {
    let mut diags = Diagnostics::default();
    yaml_files(root, "inventory", &mut diags)
        .into_iter()
        .find_map(|(_, v)| {
            v.get("settings")?
                .get("store")?
                .as_str()
                .map(str::to_string)
        })
        .filter(|url| bad_store_setting(url).is_none())
}

/// Asset tags name files and journal rows: letters, digits, `.`, `_`, `-`.
pub fn bad_tag(tag: &str) -> Option<String> {
    let ok = !tag.is_empty()
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    (!ok).then(|| format!("asset tag `{tag}` may hold only letters, digits, `.`, `_` and `-`"))
}

fn check_device_fields(d: &raw::RawDevice, path: &str, file: &SourceFile, diags: &mut Diagnostics) {
    if let Some(mac) = &d.mac
        && !is_mac(mac)
    {
        diags.push(file.diag(
            &join_key(path, "mac"),
            format!(
                "`{mac}` is not a MAC address; expected six hex pairs such as 8c:16:45:2a:0b:11"
            ),
        ));
    }
    if let Some(uri) = &d.uri
        && !(uri.starts_with("ipp://") || uri.starts_with("ipps://"))
    {
        diags.push(file.diag(
            &join_key(path, "uri"),
            format!("`{uri}` is not an IPP URI; expected ipp://HOST[:PORT]/PATH or ipps://..."),
        ));
    }
    if let Some(lang) = d.assignee.as_ref().and_then(|a| a.language.as_deref())
        && let Err(e) = crate::model::language::check(lang)
    {
        diags.push(file.diag(&join_key(&join_key(path, "assignee"), "language"), e));
    }
    if let (Some(bought), Some(until)) = (&d.purchase_date, &d.warranty_until)
        && until < bought
    {
        diags.push(file.diag(
            &join_key(path, "warranty_until"),
            format!("the warranty ends ({until}) before the device was bought ({bought})"),
        ));
    }
    if d.kind == DeviceKind::Printer && d.ssh.is_some() {
        diags.push(file.diag(
            &join_key(path, "ssh"),
            "a printer is reached at its IPP `uri`, not over `ssh`; its queue is made `via:` the print server",
        ));
    }
}

/// Six hex pairs separated by `:` or `-`.
pub fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// A device's profile and groups must exist, and its kind must suit its profile.
fn check_device_refs(site: &Site, d: &Device, file: &SourceFile, diags: &mut Diagnostics) {
    let path = join_key("devices", &d.tag);
    let Some(profile) = d.profile.as_deref() else {
        return check_groups(site, d, &path, file, diags);
    };
    match site.profiles.get(profile) {
        None => {
            let names: Vec<&str> = site.profiles.keys().map(String::as_str).collect();
            diags.push(file.diag(
                &join_key(&path, "profile"),
                diag::unknown("profile", profile, &names),
            ));
        }
        Some(_) => {
            let kinds: Vec<_> = site
                .profile_chain(profile)
                .iter()
                .rev()
                .find(|p| !p.kinds.is_empty())
                .map(|p| p.kinds.clone())
                .unwrap_or_default();
            if !kinds.is_empty() && !kinds.contains(&d.kind) {
                let allowed: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                diags.push(file.diag(
                    &join_key(&path, "profile"),
                    format!(
                        "profile `{}` applies to kinds {}; {} is a {}",
                        profile,
                        allowed.join(", "),
                        d.tag,
                        d.kind
                    ),
                ));
            }
        }
    }
    check_groups(site, d, &path, file, diags);
}

fn check_groups(site: &Site, d: &Device, path: &str, file: &SourceFile, diags: &mut Diagnostics) {
    let names: Vec<&str> = site.groups.keys().map(String::as_str).collect();
    for (i, g) in d.groups.iter().enumerate() {
        if !site.groups.contains_key(g) {
            diags.push(file.diag(
                &format!("{path}.groups[{i}]"),
                diag::unknown("group", g, &names),
            ));
        }
    }
}

#[derive(Default)]
struct ProfileBuilder {
    profiles: BTreeMap<String, Profile>,
    files: HashMap<String, SourceFile>,
    /// `via:` values without template expressions, checked once devices are known.
    static_vias: Vec<(String, String, SourceFile)>,
}

impl ProfileBuilder {
    fn add_file(
        &mut self,
        (file, value): &(SourceFile, serde_yaml::Value),
        templates: &Templates,
        root: &Path,
        diags: &mut Diagnostics,
    ) {
        let Some(raw) = file.parse::<raw::ProfileFile>(value.clone(), "", diags) else {
            return;
        };
        if let Some(prev) = self.profiles.get(&raw.name) {
            diags.push(file.diag(
                "name",
                format!(
                    "profile `{}` is already declared in {}",
                    raw.name, prev.origin.file
                ),
            ));
            return;
        }
        let (resources, vias, resource_guides) =
            resources::build("resources", raw.resources, file, templates, root, diags);
        self.static_vias.extend(vias);
        let guide = raw
            .guide
            .map(|g| guide::build(g, "guide", file, root, diags))
            .unwrap_or_default();
        let (on_return, vias, _) =
            resources::build("on_return", raw.on_return, file, templates, root, diags);
        self.static_vias.extend(vias);
        let (on_retire, vias, _) =
            resources::build("on_retire", raw.on_retire, file, templates, root, diags);
        self.static_vias.extend(vias);
        let verify = resources::build_checks(raw.verify, file, diags);
        let handlers = handlers::build(raw.handlers, file, diags);
        let maintenance_window = window(
            raw.maintenance_window.as_ref(),
            "maintenance_window",
            file,
            diags,
        );
        let profile = Profile {
            name: raw.name.clone(),
            description: raw.description,
            extends: raw.extends,
            kinds: raw.kinds,
            requires: raw.requires,
            vars: raw.vars,
            resources,
            handlers,
            verify,
            guide,
            resource_guides,
            after_repair: raw.after_repair,
            on_return,
            on_retire,
            maintenance_window,
            origin: file.origin("name"),
        };
        self.files.insert(raw.name.clone(), file.clone());
        self.profiles.insert(raw.name, profile);
    }
}

/// A maintenance window as written at `path`, or a located problem.
fn window(
    raw: Option<&raw::RawWindow>,
    path: &str,
    file: &SourceFile,
    diags: &mut Diagnostics,
) -> Option<crate::model::Window> {
    let w = raw?;
    match crate::model::Window::parse(&w.days, &w.start, &w.end, &w.timezone) {
        Ok(win) => Some(win),
        Err(e) => {
            let key = e.key();
            let msg = match &e {
                crate::model::WindowError::UnknownDay { day, .. } => {
                    diag::unknown("day", day, crate::model::WINDOW_DAYS)
                }
                other => other.to_string(),
            };
            let at = if key.starts_with("days[") {
                format!("{path}.{key}")
            } else {
                join_key(path, &key)
            };
            diags.push(file.diag(&at, msg));
            None
        }
    }
}

/// Every `after_repair` entry names a verify check of the profile's chain.
fn check_after_repair(site: &Site, files: &HashMap<String, SourceFile>, diags: &mut Diagnostics) {
    for p in site.profiles.values() {
        let Some(file) = files.get(&p.name) else {
            continue;
        };
        let checks: Vec<&str> = site
            .profile_chain(&p.name)
            .iter()
            .flat_map(|q| q.verify.iter().map(|c| c.name.as_str()))
            .collect();
        for (i, name) in p.after_repair.iter().enumerate() {
            if !checks.contains(&name.as_str()) {
                diags.push(file.diag(
                    &format!("after_repair[{i}]"),
                    diag::unknown("verify check", name, &checks),
                ));
            }
        }
    }
}

/// Every `extends` names a profile, and no chain loops.
fn check_extends(site: &Site, files: &HashMap<String, SourceFile>, diags: &mut Diagnostics) {
    let names: Vec<&str> = site.profiles.keys().map(String::as_str).collect();
    for p in site.profiles.values() {
        let Some(parent) = &p.extends else { continue };
        let Some(file) = files.get(&p.name) else {
            continue;
        };
        if !site.profiles.contains_key(parent) {
            diags.push(file.diag("extends", diag::unknown("profile", parent, &names)));
            continue;
        }
        // Walk up from p; a cycle is reported once, on its alphabetically first member.
        let mut seen = vec![p.name.as_str()];
        let mut cur = parent.as_str();
        loop {
            if cur == p.name {
                seen.push(cur);
                if seen.iter().skip(1).all(|n| *n >= p.name.as_str()) {
                    diags.push(file.diag(
                        "extends",
                        format!("`extends` makes a cycle: {}", seen.join(" -> ")),
                    ));
                }
                break;
            }
            if seen.contains(&cur) {
                break; // a cycle further up, reported from its own members
            }
            seen.push(cur);
            match site.profiles.get(cur).and_then(|q| q.extends.as_deref()) {
                Some(next) => cur = next,
                None => break,
            }
        }
    }
}
