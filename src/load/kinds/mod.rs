//! Each resource kind's own validation, one file per kind: the settings that go with it
//! and how its raw YAML becomes a [`ResourceKind`] (required keys, paths, options). The
//! checks shared by every kind (one kind key, unknown settings, `mode`, names, `via`)
//! stay in `load/resources.rs`. The engine's side of a kind is `engine/script/kinds/`;
//! load never imports it.

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
use crate::model::ResourceKind;
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
];

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
