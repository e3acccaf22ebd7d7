//! Each resource kind's own validation, one file per kind: the settings that go with it
//! and how its raw YAML becomes a [`ResourceKind`] (required keys, paths, options). The
//! checks shared by every kind (one kind key, unknown settings, `mode`, names, `via`)
//! stay in `load/resources.rs`. The engine's side of a kind is `engine/script/kinds/`;
//! load never imports it.

pub(crate) mod apt_source;
mod command;
mod directory;
mod file;
mod line;
pub(crate) mod package;
mod print_queue;
pub(super) mod service;
mod user;

use super::SourceFile;
use super::diag::Diagnostics;
use super::locate::join_key;
use super::raw::{RawResource, RawState};
use crate::model::{Presence, ResourceKind};
use crate::render::Templates;

/// One resource kind as load sees it.
pub(super) struct Spec {
    /// The kind key (`file`, `print_queue`, ...).
    pub keyword: &'static str,
    /// Settings allowed with it (besides `name` and `via`, allowed everywhere).
    pub settings: &'static [&'static str],
    /// Builds the kind from a resource whose keys were checked; reports what is wrong.
    pub build: fn(RawResource, &mut Cx<'_>) -> Option<ResourceKind>,
}

/// The registry, in the order kinds are listed in messages.
pub(super) const ALL: &[Spec] = &[
    file::SPEC,
    directory::SPEC,
    line::SPEC,
    command::SPEC,
    package::SPEC,
    service::SPEC,
    user::SPEC,
    print_queue::SPEC,
    apt_source::SPEC,
];

/// What is wrong with a resource once its template expressions are rendered, checked the
/// way written text is checked when the site loads (the key it is about, and why): a
/// package name or version apt-get could misread, an apt source name apt would ignore,
/// a fingerprint, sha256 or URL that is not one.
pub(crate) fn rendered_problem(kind: &ResourceKind) -> Option<(&'static str, String)> {
    match kind {
        ResourceKind::Package {
            package,
            version,
            deb,
            ..
        } => package::bad_package_name(package)
            .map(|m| ("package", m))
            .or_else(|| {
                let v = version.as_deref()?;
                let why = package::bad_version(v)?;
                Some(("version", format!("`{v}` is not a Debian version: {why}")))
            })
            .or_else(|| Some(("deb", package::bad_url(&deb.as_ref()?.url)?)))
            .or_else(|| Some(("sha256", package::bad_sha256(&deb.as_ref()?.sha256)?))),
        ResourceKind::AptSource {
            apt_source,
            uris,
            key,
            fingerprint,
            ..
        } => apt_source::bad_source_name(apt_source)
            .map(|m| ("apt_source", m))
            .or_else(|| {
                let f = fingerprint.as_deref()?;
                apt_source::normal_fingerprint(f)
                    .is_none()
                    .then(|| ("fingerprint", format!("`{f}` is not a key fingerprint")))
            })
            .or_else(|| {
                uris.iter()
                    .find_map(|u| Some(("uris", package::bad_url(u)?)))
            })
            .or_else(|| match key {
                crate::model::AptKey::Url(u) => Some(("key_url", package::bad_url(u)?)),
                _ => None,
            }),
        _ => None,
    }
}

/// Every kind's key, in the registry's order.
#[cfg(test)]
pub(crate) fn keywords() -> impl Iterator<Item = &'static str> {
    ALL.iter().map(|s| s.keyword)
}

/// The kind with this key.
pub(super) fn spec(keyword: &str) -> Option<&'static Spec> {
    ALL.iter().find(|s| s.keyword == keyword)
}

/// Where a resource is being built, for its kind's checks.
pub(super) struct Cx<'a> {
    /// The resource's key path (`resources[2]`).
    pub path: &'a str,
    pub file: &'a SourceFile,
    pub templates: &'a Templates,
    pub diags: &'a mut Diagnostics,
    pub keyword: &'static str,
    /// The resource's `mode`, already checked.
    pub mode: Option<u32>,
}

impl Cx<'_> {
    /// Reports `msg` at the resource's `key` (or at the resource itself when `key` is '').
    pub(super) fn error(&mut self, key: &str, msg: impl Into<String>) {
        let at = if key.is_empty() {
            self.path.to_string()
        } else {
            join_key(self.path, key)
        };
        self.diags.push(self.file.diag(&at, msg.into()));
    }

    /// `value`, or an error that the kind needs `key`.
    pub(super) fn need(&mut self, value: Option<String>, key: &str) -> Option<String> {
        if value.is_none() {
            let msg = format!("a `{}` resource needs `{key}`", self.keyword);
            self.error("", msg);
        }
        value
    }

    /// `state: present|absent` of a kind that is there or not (present when not written).
    pub(super) fn presence(&mut self, state: Option<RawState>) -> Option<Presence> {
        match state {
            None | Some(RawState::Present) => Some(Presence::Present),
            Some(RawState::Absent) => Some(Presence::Absent),
            Some(other) => {
                let msg = format!(
                    "a `{}` resource cannot be `{}`; its state is present (the default) or absent",
                    self.keyword,
                    other.word()
                );
                self.error("state", msg);
                None
            }
        }
    }

    /// `key`, written with `state: absent`, which only describes a thing to install.
    pub(super) fn not_when_absent(&mut self, key: &str, allowed: &[&str]) {
        let mut list = vec!["name", "via", "notify", "state"];
        list.extend_from_slice(allowed);
        let msg = format!(
            "`{key}` does not go with `state: absent`; allowed with an absent `{}`: {}",
            self.keyword,
            list.join(", ")
        );
        self.error(key, msg);
    }

    /// Paths on a device are absolute (or a template expression that renders to one).
    pub(super) fn absolute(&mut self, p: String, key: &str) -> Option<String> {
        if p.starts_with('/') || p.starts_with("{{") {
            Some(p)
        } else {
            self.error(
                key,
                format!("`{p}` is not an absolute path; paths on a device start with /"),
            );
            None
        }
    }
}
