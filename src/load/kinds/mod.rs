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
pub(super) mod user;

use super::SourceFile;
use super::diag::Diagnostics;
use super::locate::join_key;
use super::raw::RawResource;
use crate::model::{Presence, ResourceKind};
use crate::render::Templates;

/// One resource kind as load sees it.
pub(super) struct Spec {
    /// The kind key (`file`, `print_queue`, ...).
    pub keyword: &'static str,
    /// Settings allowed with it (besides `name`, `via` and `notify`, allowed everywhere).
    pub settings: &'static [&'static str],
    /// Of those, the settings that still go with it under `state: absent`, besides `state`
    /// itself (whether a kind takes `state` at all is its `settings`).
    pub absent_settings: &'static [&'static str],
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
    /// `state: absent`: the thing is to be removed (settings that describe it were refused).
    pub absent: bool,
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

    /// Whether the resource is to be there or not, for a kind that keeps it (its `state`,
    /// checked with every kind's in `load/resources.rs`).
    pub(super) fn presence(&self) -> Presence {
        if self.absent {
            Presence::Absent
        } else {
            Presence::Present
        }
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
