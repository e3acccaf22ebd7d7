//! Devices (keyed by asset tag) and the groups they belong to.

use serde::{Deserialize, Serialize};

use super::{Origin, Vars};

/// What a device is. Profiles may restrict which kinds they apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceKind {
    Laptop,
    Desktop,
    Workstation,
    ThinClient,
    Printer,
    PrintServer,
    Server,
}

impl DeviceKind {
    pub const ALL: &'static [&'static str] = &[
        "laptop",
        "desktop",
        "workstation",
        "thin-client",
        "printer",
        "print-server",
        "server",
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Laptop => "laptop",
            DeviceKind::Desktop => "desktop",
            DeviceKind::Workstation => "workstation",
            DeviceKind::ThinClient => "thin-client",
            DeviceKind::Printer => "printer",
            DeviceKind::PrintServer => "print-server",
            DeviceKind::Server => "server",
        }
    }
}

impl std::fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How deskready reaches a device over SSH.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshAddress {
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default = "default_user")]
    pub user: String,
    /// Private key file; when absent, the ssh-agent or the operator's default keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
}

fn default_port() -> u16 {
    22
}
fn default_user() -> String {
    "root".into()
}

/// A device's address: SSH for computers and print servers, an IPP URI for printers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Address {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshAddress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
}

/// The person a device is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    pub name: String,
    /// Login name on the device; templates use it for home directories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The language their handoff sheet is written in, where guides have it (`fr`, `pt-BR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// Where a device belongs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Location {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desk: Option<String>,
}

impl Location {
    /// "HQ / floor 3 / desk 3-14", leaving out what is unknown.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(s) = &self.site {
            parts.push(s.clone());
        }
        if let Some(f) = &self.floor {
            parts.push(format!("floor {f}"));
        }
        if let Some(d) = &self.desk {
            parts.push(format!("desk {d}"));
        }
        parts.join(" / ")
    }
}

/// One physical asset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Device {
    pub tag: String,
    pub kind: DeviceKind,
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(flatten)]
    pub address: Address,
    /// Absent for a device received from a packing list without one; it cannot be
    /// configured until it has one.
    pub profile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee: Option<Person>,
    pub location: Location,
    pub groups: Vec<String>,
    pub vars: Vars,
    /// When and where it was bought, and until when the maker repairs it for free.
    #[serde(flatten)]
    pub purchase: Purchase,
    #[serde(skip)]
    pub origin: Origin,
}

/// A device's purchase: every field optional; dates are `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Purchase {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purchase_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warranty_until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supplier: Option<String>,
    /// The purchase order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
}

/// A named set of devices with variables of its own.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub vars: Vars,
    #[serde(skip)]
    pub maintenance_window: Option<super::Window>,
    #[serde(skip)]
    pub origin: Origin,
}
