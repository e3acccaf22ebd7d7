//! The YAML file formats as serde sees them: every struct denies unknown keys.
//!
//! These are the first of two validation stages; `load` checks what serde cannot
//! (which resource kind, which keys go with it, references between files) and builds the
//! domain types of `model`.

use serde::{Deserialize, Deserializer};

use crate::model::{DeviceKind, Person, SshAddress, Vars};

/// One file under `inventory/`. Sections are kept as raw mappings so that each entry is
/// deserialised on its own and one bad device does not hide the errors of the next.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct InventoryFile {
    #[serde(default)]
    pub devices: Option<serde_yaml::Mapping>,
    #[serde(default)]
    pub groups: Option<serde_yaml::Mapping>,
    /// Address overrides for devices declared elsewhere (written by `deskready lab up`).
    #[serde(default)]
    pub overrides: Option<serde_yaml::Mapping>,
    /// Site-wide settings; at most one inventory file may hold them.
    #[serde(default)]
    pub settings: Option<RawSettings>,
    /// Secrets by reference: `wifi_psk: { env: WIFI_PSK }`.
    #[serde(default)]
    pub secrets: Option<serde_yaml::Mapping>,
}

/// One secret: exactly one of `env`, `file`, `command` (and `timeout` with `command`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSecret {
    #[serde(default)]
    pub env: Option<String>,
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Seconds the command may run.
    #[serde(default)]
    pub timeout: Option<u64>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSettings {
    /// Every device should be seen by a CSP (a physical audit) this often.
    #[serde(default)]
    pub audit_interval_days: Option<u32>,
    /// `audit --due` lists devices due within this many days.
    #[serde(default)]
    pub audit_due_days: Option<u32>,
    /// A team's shared store: `postgres://USER@HOST[:PORT]/DATABASE`, never a password.
    #[serde(default)]
    pub store: Option<String>,
    /// The report lists deliveries not accepted after this many days.
    #[serde(default)]
    pub accept_within_days: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDevice {
    pub kind: DeviceKind,
    pub model: String,
    #[serde(default, deserialize_with = "opt_scalar")]
    pub serial: Option<String>,
    #[serde(default)]
    pub mac: Option<String>,
    #[serde(default)]
    pub ssh: Option<SshAddress>,
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default)]
    pub assignee: Option<Person>,
    #[serde(default)]
    pub location: RawLocation,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub vars: Vars,
    /// `YYYY-MM-DD`.
    #[serde(default, deserialize_with = "opt_date")]
    pub purchase_date: Option<String>,
    /// `YYYY-MM-DD`: the last day the maker repairs it under warranty.
    #[serde(default, deserialize_with = "opt_date")]
    pub warranty_until: Option<String>,
    #[serde(default, deserialize_with = "opt_scalar")]
    pub supplier: Option<String>,
    /// The purchase order.
    #[serde(default, deserialize_with = "opt_scalar")]
    pub order: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLocation {
    #[serde(default, deserialize_with = "opt_scalar")]
    pub site: Option<String>,
    #[serde(default, deserialize_with = "opt_scalar")]
    pub floor: Option<String>,
    #[serde(default, deserialize_with = "opt_scalar")]
    pub desk: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGroup {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub vars: Vars,
    #[serde(default)]
    pub maintenance_window: Option<RawWindow>,
}

/// `maintenance_window: { days: [sat, sun], start: "22:00", end: "06:00", timezone: Europe/London }`
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWindow {
    pub days: Vec<String>,
    pub start: String,
    pub end: String,
    #[serde(default = "utc")]
    pub timezone: String,
}

fn utc() -> String {
    "UTC".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOverride {
    #[serde(default)]
    pub ssh: Option<SshAddress>,
    #[serde(default)]
    pub uri: Option<String>,
    /// Written by `deskready assign`.
    #[serde(default)]
    pub assignee: Option<Person>,
    #[serde(default, deserialize_with = "opt_scalar")]
    pub desk: Option<String>,
    /// Merged over the device's own `vars` (written by `deskready lab up`).
    #[serde(default)]
    pub vars: Vars,
    /// Purchase facts a delivery gave that the device's own declaration lacks (written by
    /// `deskready receive`).
    #[serde(default, deserialize_with = "opt_date")]
    pub purchase_date: Option<String>,
    #[serde(default, deserialize_with = "opt_date")]
    pub warranty_until: Option<String>,
    #[serde(default, deserialize_with = "opt_scalar")]
    pub supplier: Option<String>,
    #[serde(default, deserialize_with = "opt_scalar")]
    pub order: Option<String>,
}

/// One file under `profiles/`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProfileFile {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub extends: Option<String>,
    #[serde(default)]
    pub kinds: Vec<DeviceKind>,
    #[serde(default)]
    pub requires: Vec<String>,
    #[serde(default)]
    pub vars: Vars,
    /// Kept raw: each resource is checked on its own (see [`RawResource`]).
    #[serde(default)]
    pub resources: Vec<serde_yaml::Value>,
    /// Kept raw: each handler is checked on its own (see [`RawHandler`]).
    #[serde(default)]
    pub handlers: Vec<serde_yaml::Value>,
    /// What `return` does on the device: resources, kept raw like `resources`.
    #[serde(default)]
    pub on_return: Vec<serde_yaml::Value>,
    /// What `retire` does on the device: resources, kept raw like `resources`.
    #[serde(default)]
    pub on_retire: Vec<serde_yaml::Value>,
    #[serde(default)]
    pub verify: Vec<serde_yaml::Value>,
    #[serde(default)]
    pub maintenance_window: Option<RawWindow>,
    /// Getting-started material (checked in `load::guide`).
    #[serde(default)]
    pub guide: Option<serde_yaml::Value>,
    /// Verify checks (by name) to pass again after a repair.
    #[serde(default)]
    pub after_repair: Vec<String>,
}

/// A handler as written: a service and what to do to it (`restart` by default), or a
/// named command.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHandler {
    pub name: Option<String>,
    pub service: Option<String>,
    pub action: Option<HandlerVerb>,
    pub command: Option<String>,
}

/// What a service handler does to its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum HandlerVerb {
    Restart,
    Reload,
}

/// A resource as written: one kind key (`file: /etc/hostname`) and the settings that go
/// with that kind. Which settings go with which kind is checked in `load`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawResource {
    pub name: Option<String>,
    pub via: Option<String>,
    /// Handlers (by name) to run after the resources when this one changes.
    pub notify: Option<Vec<String>>,
    /// Getting-started material about this resource (checked in `load::guide`, from the
    /// raw value: a resource's own settings are built from this struct, its guide is not).
    #[expect(
        dead_code,
        reason = "read from the raw value by `load::resources::build`"
    )]
    pub guide: Option<serde_yaml::Value>,
    // The kinds: exactly one must be present.
    pub file: Option<String>,
    pub directory: Option<String>,
    pub line: Option<String>,
    pub command: Option<String>,
    pub package: Option<String>,
    pub service: Option<String>,
    pub user: Option<String>,
    pub print_queue: Option<String>,
    pub apt_source: Option<String>,
    // Settings.
    pub template: Option<String>,
    pub content: Option<String>,
    pub mode: Option<serde_yaml::Value>,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub path: Option<String>,
    pub creates: Option<String>,
    pub unless: Option<String>,
    pub state: Option<RawState>,
    pub enabled: Option<bool>,
    pub comment: Option<String>,
    pub shell: Option<String>,
    pub groups: Option<Vec<String>>,
    pub exact_groups: Option<bool>,
    pub home: Option<String>,
    pub remove_home: Option<bool>,
    pub uri: Option<String>,
    pub server: Option<String>,
    pub location: Option<String>,
    pub description: Option<String>,
    pub shared: Option<bool>,
    pub options: Option<std::collections::BTreeMap<String, String>>,
    pub allowed_users: Option<Vec<String>>,
    /// Kept raw: a version YAML reads as a number (`1.10`) is refused, not rounded.
    pub version: Option<serde_yaml::Value>,
    pub deb: Option<String>,
    pub sha256: Option<String>,
    pub preseed: Option<Vec<String>>,
    pub purge: Option<bool>,
    /// A duration (`30m`, `6h`, `1d`) or a number of seconds.
    pub index_max_age: Option<serde_yaml::Value>,
    pub uris: Option<Words>,
    pub suites: Option<Words>,
    pub components: Option<Words>,
    pub architectures: Option<Words>,
    pub key: Option<String>,
    pub key_url: Option<String>,
    pub fingerprint: Option<String>,
}

/// A list of words, written as YAML list or as one text of words separated by spaces
/// (the way deb822 writes them: `suites: bookworm bookworm-updates`).
#[derive(Debug, Clone, Deserialize)]
#[serde(
    untagged,
    expecting = "a word, words separated by spaces, or a list of words"
)]
pub(crate) enum Words {
    One(String),
    List(Vec<String>),
}

impl Words {
    pub(crate) fn into_vec(self) -> Vec<String> {
        match self {
            // Split once rendered (by resolve): an expression holds spaces of its own.
            Words::One(s) if s.contains("{{") || s.contains("{%") => vec![s],
            Words::One(s) => s.split_whitespace().map(str::to_string).collect(),
            Words::List(l) => l,
        }
    }
}

/// A resource's `state:`: `present` (the default) or `absent` for every kind that takes
/// it; a service is `running`, `stopped` or `absent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawState {
    Present,
    Absent,
    Running,
    Stopped,
}

impl RawState {
    pub(crate) fn word(self) -> &'static str {
        match self {
            RawState::Present => "present",
            RawState::Absent => "absent",
            RawState::Running => "running",
            RawState::Stopped => "stopped",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCheck {
    pub name: String,
    pub command: String,
}

/// A date as `YYYY-MM-DD` text (YAML reads an unquoted date as text).
fn opt_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let Some(s) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    match s.parse::<jiff::civil::Date>() {
        Ok(date) if s.len() == 10 => Ok(Some(date.to_string())),
        _ => Err(serde::de::Error::custom(format!(
            "`{s}` is not a date; expected YYYY-MM-DD such as 2026-03-31"
        ))),
    }
}

/// Accepts text or a number (`floor: 3`, `desk: 3-14`, `serial: 12345`) as text.
fn opt_scalar<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged, expecting = "text or a number")]
    enum Scalar {
        S(String),
        I(i64),
        F(f64),
    }
    Ok(Option::<Scalar>::deserialize(d)?.map(|s| match s {
        Scalar::S(s) => s,
        Scalar::I(i) => i.to_string(),
        Scalar::F(f) => f.to_string(),
    }))
}
