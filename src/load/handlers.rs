//! A profile's `handlers:` (a service restarted or reloaded, or a named command) and the
//! check that every `notify:` of a resource names a handler of its profile or of one the
//! profile extends. Errors are located at the handler or at the `notify` entry.

use std::collections::HashMap;

use super::SourceFile;
use super::diag::{self, Diagnostics};
use super::kinds::service::bad_unit;
use super::locate::join_key;
use super::raw::{HandlerVerb, RawHandler};
use crate::model::{Handler, HandlerAction};
use crate::site::Site;

/// Builds the handlers of one profile file.
pub(super) fn build(
    raws: Vec<serde_yaml::Value>,
    file: &SourceFile,
    diags: &mut Diagnostics,
) -> Vec<Handler> {
    let mut out: Vec<Handler> = Vec::new();
    for (i, value) in raws.into_iter().enumerate() {
        let path = format!("handlers[{i}]");
        let Some(h) = file.parse::<RawHandler>(value, &path, diags) else {
            continue;
        };
        let action = match (h.service, h.command, h.action) {
            (Some(s), None, verb) => {
                if let Some(why) = bad_unit(&s) {
                    diags.push(file.diag(
                        &join_key(&path, "service"),
                        format!("`{s}` is not a service name: {why}"),
                    ));
                    continue;
                }
                match verb.unwrap_or(HandlerVerb::Restart) {
                    HandlerVerb::Restart => HandlerAction::Restart(s),
                    HandlerVerb::Reload => HandlerAction::Reload(s),
                }
            }
            (None, Some(c), None) => {
                if h.name.is_none() {
                    diags.push(file.diag(&path, "a command handler needs a `name`"));
                    continue;
                }
                HandlerAction::Command(c)
            }
            (None, Some(_), Some(_)) => {
                diags.push(file.diag(
                    &join_key(&path, "action"),
                    "`action` goes with a `service` handler, not a `command` one",
                ));
                continue;
            }
            (Some(_), Some(_), _) => {
                diags.push(file.diag(
                    &join_key(&path, "command"),
                    "a handler has either `service` or `command`, not both; split it in two",
                ));
                continue;
            }
            (None, None, _) => {
                diags.push(file.diag(&path, "a handler needs `service` or `command`"));
                continue;
            }
        };
        let name = h.name.unwrap_or_else(|| action.describe());
        if out.iter().any(|o| o.name == name) {
            diags.push(file.diag(
                &path,
                format!("a handler named `{name}` is already declared in this profile"),
            ));
            continue;
        }
        out.push(Handler {
            name,
            action,
            origin: file.origin(&path),
        });
    }
    out
}

/// Every `notify:` entry names a handler declared in its profile or one it extends.
pub(super) fn check_notify(
    site: &Site,
    files: &HashMap<String, SourceFile>,
    diags: &mut Diagnostics,
) {
    for p in site.profiles.values() {
        let Some(file) = files.get(&p.name) else {
            continue;
        };
        let chain = site.profile_chain(&p.name);
        let known: Vec<&str> = chain
            .iter()
            .flat_map(|q| q.handlers.iter().map(|h| h.name.as_str()))
            .collect();
        for r in &p.resources {
            if r.via.is_some() && !r.notify.is_empty() {
                diags.push(file.diag(
                    &format!("{}.notify", r.origin.path),
                    "a resource applied `via` another device cannot notify handlers (they run on the device itself)",
                ));
                continue;
            }
            for (k, name) in r.notify.iter().enumerate() {
                if !known.contains(&name.as_str()) {
                    let at = format!("{}.notify[{k}]", r.origin.path);
                    diags.push(file.diag(&at, diag::unknown("handler", name, &known)));
                }
            }
        }
    }
}
