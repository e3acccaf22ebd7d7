//! A loaded, validated site: devices, groups, profiles and templates, and queries over them.
//!
//! Built only by [`crate::load::load_site`]; nothing here reads files or talks to devices.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::model::{Device, DeviceKind, Group, Profile, Secret, Window};
use crate::render::Templates;

/// Site-wide settings (`settings:` in one inventory file).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Settings {
    /// Days between physical audits of a device (default 365).
    pub audit_interval_days: u32,
    /// How many days ahead `audit --due` looks (default 30).
    pub audit_due_days: u32,
    /// A team's shared PostgreSQL store (`postgres://USER@HOST/DB`, no password); `None`:
    /// the embedded store in `.deskready/`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// A delivery whose person has not accepted it after this many days is listed in the
    /// report (default 7).
    pub accept_within_days: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            audit_interval_days: 365,
            audit_due_days: 30,
            store: None,
            accept_within_days: 7,
        }
    }
}

#[derive(Debug)]
pub struct Site {
    pub root: PathBuf,
    /// By asset tag, sorted.
    pub devices: BTreeMap<String, Device>,
    pub groups: BTreeMap<String, Group>,
    pub profiles: BTreeMap<String, Profile>,
    pub templates: Templates,
    pub settings: Settings,
    /// Declared secrets by name (never their values; see `crate::secrets`).
    pub secrets: BTreeMap<String, Secret>,
}

impl Site {
    pub fn device(&self, tag: &str) -> Option<&Device> {
        self.devices.get(tag)
    }

    /// The directory deskready keeps its own state in (`.deskready/`).
    pub fn state_dir(&self) -> PathBuf {
        state_dir(&self.root)
    }

    /// The profile and its ancestors, root ancestor first. Cycles were refused at load.
    pub fn profile_chain(&self, name: &str) -> Vec<&Profile> {
        let mut chain = Vec::new();
        let mut cur = self.profiles.get(name);
        while let Some(p) = cur {
            if chain.iter().any(|q: &&Profile| q.name == p.name) {
                break;
            }
            chain.push(p);
            cur = p.extends.as_deref().and_then(|e| self.profiles.get(e));
        }
        chain.reverse();
        chain
    }

    /// The maintenance window that binds `device`, and where it comes from: its groups
    /// (the last one it lists that has a window) before its profile chain (the nearest
    /// profile that has one).
    pub fn window_of(&self, device: &Device) -> Option<(&Window, String)> {
        for g in device.groups.iter().rev() {
            if let Some(w) = self
                .groups
                .get(g)
                .and_then(|g| g.maintenance_window.as_ref())
            {
                return Some((w, format!("group {g}")));
            }
        }
        let chain = self.profile_chain(device.profile.as_deref()?);
        chain.iter().rev().find_map(|p| {
            p.maintenance_window
                .as_ref()
                .map(|w| (w, format!("profile {}", p.name)))
        })
    }

    /// Devices in `group`, by tag.
    pub fn group_members(&self, group: &str) -> impl Iterator<Item = &Device> {
        self.devices
            .values()
            .filter(move |d| d.groups.iter().any(|g| g == group))
    }

    /// Printers on the same site and floor as `device`.
    pub fn floor_printers(&self, device: &Device) -> Vec<&Device> {
        let mut printers = self.site_printers(device);
        printers
            .retain(|d| d.location.floor.is_some() && d.location.floor == device.location.floor);
        printers
    }

    /// Printers on the same site as `device`.
    pub fn site_printers(&self, device: &Device) -> Vec<&Device> {
        self.devices
            .values()
            .filter(|d| {
                d.kind == DeviceKind::Printer
                    && d.tag != device.tag
                    && d.location.site == device.location.site
            })
            .collect()
    }

    /// The print server of `device`'s site: the first device of kind `print-server` there.
    pub fn print_server(&self, device: &Device) -> Option<&Device> {
        self.devices.values().find(|d| {
            d.kind == DeviceKind::PrintServer
                && d.tag != device.tag
                && d.location.site == device.location.site
        })
    }
}

/// `.deskready/` under a site root.
pub fn state_dir(root: &Path) -> PathBuf {
    root.join(".deskready")
}
