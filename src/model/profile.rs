//! Profiles: the desired state of a class of device, as resources and verify checks.
//!
//! Every text field of a resource may hold Tera expressions (`/home/{{ assignee.username }}`);
//! they are rendered per device by `resolve`. The same types carry the rendered values.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{DeviceKind, Origin, Vars};

/// Desired state for a class of device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    /// Device kinds this profile applies to; empty means any.
    pub kinds: Vec<DeviceKind>,
    /// Inputs a device must have: `assignee`, `desk`, `floor`, `site`, `serial`, `mac`,
    /// `ssh`, `uri`, or the name of a variable.
    pub requires: Vec<String>,
    pub vars: Vars,
    pub resources: Vec<Resource>,
    /// What runs once after the resources, when a resource that notifies it changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub handlers: Vec<Handler>,
    pub verify: Vec<Check>,
    /// Getting-started material for the person who receives a device of this profile.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub guide: Vec<super::Guide>,
    /// Getting-started material for some of its resources (shown when a device got them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource_guides: Vec<super::ResourceGuides>,
    /// Verify checks (by name, of this profile's chain) that must pass again after a
    /// repair: a device back from repair has them pending until a configure passes them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub after_repair: Vec<String>,
    /// What `return` does on the device (run over SSH before the device is recorded as
    /// returned), as resources.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub on_return: Vec<Resource>,
    /// What `retire` does on the device, as resources.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub on_retire: Vec<Resource>,
    /// When a delivered device of this profile may be changed.
    #[serde(skip)]
    pub maintenance_window: Option<super::Window>,
    #[serde(skip)]
    pub origin: Origin,
}

/// One declarative piece of state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resource {
    /// Unique within a device's profile chain; a child profile's resource replaces its
    /// parent's resource of the same name. Defaults to "KIND TARGET" (`file /etc/hostname`).
    pub name: String,
    #[serde(flatten)]
    pub kind: ResourceKind,
    /// The device this resource is applied on, when not the device itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// The handlers (by name) that run after the resources when this one changes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<String>,
    /// `state: absent`: the thing must not exist on the device (a file, directory, line,
    /// user, service unit or print queue is removed when it does).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub absent: bool,
    #[serde(skip)]
    pub origin: Origin,
    /// Where each key of the resource was written, for errors about one setting.
    #[serde(skip)]
    pub key_origins: BTreeMap<String, Origin>,
}

impl Resource {
    /// Where `key` of this resource was written, or the resource itself.
    pub fn origin_of(&self, key: &str) -> Origin {
        self.key_origins
            .get(key)
            .cloned()
            .unwrap_or_else(|| self.origin.clone())
    }
}

/// The kinds of resource and their settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResourceKind {
    File {
        path: String,
        #[serde(flatten)]
        source: FileSource,
        #[serde(skip_serializing_if = "Option::is_none")]
        mode: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        owner: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        group: Option<String>,
    },
    Directory {
        path: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        mode: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        owner: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        group: Option<String>,
    },
    Line {
        path: String,
        line: String,
    },
    Command {
        command: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        creates: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        unless: Option<String>,
    },
    /// A Debian package installed (at a pinned `version`, or from a `.deb` checked by its
    /// sha256), or removed.
    Package {
        package: String,
        state: Presence,
        /// The exact version wanted (`1.2.3-1`, as dpkg spells it); any when `None`.
        #[serde(skip_serializing_if = "Option::is_none")]
        version: Option<String>,
        /// A `.deb` downloaded and checked against its sha256 instead of the package index.
        #[serde(skip_serializing_if = "Option::is_none")]
        deb: Option<Deb>,
        /// debconf answers (`debconf-set-selections` lines) given before installing.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        preseed: Vec<String>,
        /// With `state: absent`: its configuration files go too (`apt-get purge`).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        purge: bool,
        /// Seconds after which the package index is refreshed (`apt-get update`) before an
        /// install.
        index_max_age: u64,
    },
    /// An apt source in deb822 form (`/etc/apt/sources.list.d/NAME.sources`) with its
    /// maker's signing key in `/etc/apt/keyrings/NAME.gpg` (`Signed-By`).
    AptSource {
        apt_source: String,
        state: Presence,
        uris: Vec<String>,
        suites: Vec<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        components: Vec<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        architectures: Vec<String>,
        key: AptKey,
        /// The signing key's fingerprint (hex), checked on the device before the key is
        /// installed.
        #[serde(skip_serializing_if = "Option::is_none")]
        fingerprint: Option<String>,
    },
    Service {
        service: String,
        state: ServiceState,
        #[serde(skip_serializing_if = "Option::is_none")]
        enabled: Option<bool>,
    },
    User {
        user: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        shell: Option<String>,
        /// Supplementary groups the user is in.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        groups: Vec<String>,
        /// With `groups`: the user is in no other supplementary group (others are
        /// removed); without it, groups given by other means are kept.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        exact_groups: bool,
        /// The home directory; an existing one is moved there (`usermod --move-home`).
        #[serde(skip_serializing_if = "Option::is_none")]
        home: Option<String>,
        /// With `state: absent`: the home directory and mail spool go too.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        remove_home: bool,
    },
    /// A profile's handler, added to a device's resources after the profile's own: it runs
    /// when a resource notifying it changed in this run, or changed in an earlier run that
    /// ended before the handler ran. Never written under `resources:`.
    Handler {
        handler: String,
        #[serde(flatten)]
        action: HandlerAction,
    },
    PrintQueue {
        queue: String,
        uri: String,
        /// The CUPS server to talk to (`HOST:PORT`), when not the `via` device's own.
        #[serde(skip_serializing_if = "Option::is_none")]
        server: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        location: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        shared: bool,
        /// The queue's default options, as its driver names them (`PageSize: A4`,
        /// `Duplex: DuplexNoTumble`; see `lpoptions -p QUEUE -l`), set with
        /// `lpadmin -o NAME=VALUE` and read back from `lpoptions -l`.
        options: BTreeMap<String, String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        allowed_users: Vec<String>,
    },
}

impl ResourceKind {
    /// The schema key that names this kind in a profile.
    pub fn keyword(&self) -> &'static str {
        match self {
            ResourceKind::File { .. } => "file",
            ResourceKind::Directory { .. } => "directory",
            ResourceKind::Line { .. } => "line",
            ResourceKind::Command { .. } => "command",
            ResourceKind::Package { .. } => "package",
            ResourceKind::AptSource { .. } => "apt_source",
            ResourceKind::Service { .. } => "service",
            ResourceKind::User { .. } => "user",
            ResourceKind::PrintQueue { .. } => "print_queue",
            ResourceKind::Handler { .. } => "handler",
        }
    }

    /// What the resource is about: a path, a package name, a queue name...
    pub fn target(&self) -> &str {
        match self {
            ResourceKind::File { path, .. }
            | ResourceKind::Directory { path, .. }
            | ResourceKind::Line { path, .. } => path,
            ResourceKind::Command { command, .. } => command,
            ResourceKind::Package { package, .. } => package,
            ResourceKind::AptSource { apt_source, .. } => apt_source,
            ResourceKind::Service { service, .. } => service,
            ResourceKind::User { user, .. } => user,
            ResourceKind::PrintQueue { queue, .. } => queue,
            ResourceKind::Handler { handler, .. } => handler,
        }
    }
}

/// Where a file's content comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileSource {
    /// A template under `templates/`, by its path there.
    Template(String),
    /// Inline content (itself a Tera template).
    Content(String),
}

/// Whether a thing is there or not (`state: present|absent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    #[default]
    Present,
    Absent,
}

/// A `.deb` file from its maker: where to download it and its sha256 (lowercase hex).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deb {
    pub url: String,
    pub sha256: String,
}

/// Where an apt source's signing key comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AptKey {
    /// A file under `templates/` (an ASCII-armored key), sent as it is, never rendered.
    File(String),
    /// The key's text, once resolved from [`AptKey::File`].
    Text(String),
    /// Downloaded by the device; its fingerprint must be the pinned one.
    Url(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    Running,
    Stopped,
}

/// A handler: named, run once after a device's resources when something notifying it
/// changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Handler {
    /// What `notify:` lists; defaults to "ACTION SERVICE" (`restart ssh`).
    pub name: String,
    #[serde(flatten)]
    pub action: HandlerAction,
    #[serde(skip)]
    pub origin: Origin,
}

/// What a handler does.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HandlerAction {
    /// Restarts a service.
    Restart(String),
    /// Reloads a service (its own reload, e.g. sshd rereading its config).
    Reload(String),
    /// Runs a command (shell syntax, like a `command` resource).
    Command(String),
}

impl HandlerAction {
    /// The verb and its object as a plan shows them ("restart ssh", "run update-cache").
    pub fn describe(&self) -> String {
        match self {
            HandlerAction::Restart(s) => format!("restart {s}"),
            HandlerAction::Reload(s) => format!("reload {s}"),
            HandlerAction::Command(c) => format!("run {c}"),
        }
    }
}

/// A verify check: a command that must exit 0 on the device after configuring.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub name: String,
    pub command: String,
    /// The command was rendered from a secret: it is never shown or stored as is.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
    #[serde(skip)]
    pub origin: Origin,
}
