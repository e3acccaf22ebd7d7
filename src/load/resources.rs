//! Resources and verify checks of a profile: exactly one kind key per resource, and only
//! the settings that go with that kind. Each kind's own checks are in `load/kinds/`.

use std::collections::HashMap;

use super::SourceFile;
use super::diag::Diagnostics;
use super::kinds::{self, Cx};
use super::locate::join_key;
use super::raw::{RawCheck, RawResource, RawState};
use crate::model::{Check, Resource, ResourceGuides};
use crate::render::Templates;

/// The kind keys, in the order they are listed in messages.
fn kind_keys() -> Vec<&'static str> {
    kinds::ALL.iter().map(|k| k.keyword).collect()
}

/// Builds the resources under `section` (`resources`, `on_return`, `on_retire`) of one
/// profile file. Also returns `via:` values that are plain device tags (no template
/// expressions), with their key path, to check against the inventory once it is loaded.
/// A hook (`on_return`, `on_retire`) notifies no handler (handlers belong to configure)
/// and has no guide (guides are for what a device got).
pub(super) fn build(
    section: &str,
    raws: Vec<serde_yaml::Value>,
    file: &SourceFile,
    templates: &Templates,
    root: &std::path::Path,
    diags: &mut Diagnostics,
) -> Built {
    let mut guides: Vec<ResourceGuides> = Vec::new();
    let mut out: Vec<Resource> = Vec::new();
    let mut vias = Vec::new();
    let mut names: HashMap<String, String> = HashMap::new();
    for (i, value) in raws.into_iter().enumerate() {
        let path = format!("{section}[{i}]");
        let present = present_keys(&value);
        if section != "resources" {
            for key in ["notify", "guide"] {
                if present.iter().any(|k| k == key) {
                    diags.push(file.diag(
                        &join_key(&path, key),
                        format!(
                            "`{section}` runs no handlers and shows no guide; `{key}` goes with a resource under `resources`"
                        ),
                    ));
                }
            }
            if present.iter().any(|k| k == "notify" || k == "guide") {
                continue;
            }
        }
        let guide = value.get("guide").cloned();
        let Some(raw) = file.parse::<RawResource>(value, &path, diags) else {
            continue;
        };
        let Some(res) = build_one(raw, &present, &path, file, templates, diags) else {
            continue;
        };
        if let Some(prev) = names.get(&res.name) {
            diags.push(file.diag(
                &join_key(&path, "name"),
                format!(
                    "a resource named `{}` is already declared at {prev}; give one of them another `name:`",
                    res.name
                ),
            ));
            continue;
        }
        names.insert(res.name.clone(), path.clone());
        if let Some(g) = guide {
            let built = super::guide::build(g, &join_key(&path, "guide"), file, root, diags);
            if !built.is_empty() {
                guides.push(ResourceGuides {
                    resource: res.name.clone(),
                    origin: res.origin.clone(),
                    guides: built,
                });
            }
        }
        if let Some(v) = &res.via
            && !v.contains("{{")
            && !v.contains("{%")
        {
            vias.push((v.clone(), join_key(&path, "via"), file.clone()));
        }
        out.push(res);
    }
    (out, vias, guides)
}

/// A profile's resources, the plain-tag `via:` values to check once devices are known
/// (value, key path, file), and the guides written on resources.
pub(super) type Built = (
    Vec<Resource>,
    Vec<(String, String, SourceFile)>,
    Vec<ResourceGuides>,
);

/// The keys written in a resource mapping, in order.
fn present_keys(value: &serde_yaml::Value) -> Vec<String> {
    value
        .as_mapping()
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn build_one(
    r: RawResource,
    present: &[String],
    path: &str,
    file: &SourceFile,
    templates: &Templates,
    diags: &mut Diagnostics,
) -> Option<Resource> {
    let found: Vec<&'static kinds::Spec> = present.iter().filter_map(|k| kinds::spec(k)).collect();
    let spec = match found.as_slice() {
        [one] => *one,
        [] => {
            diags.push(file.diag(
                path,
                format!(
                    "a resource needs one kind key; allowed: {}",
                    kind_keys().join(", ")
                ),
            ));
            return None;
        }
        [first, second, ..] => {
            let (first, second) = (first.keyword, second.keyword);
            diags.push(file.diag(
                &join_key(path, second),
                format!(
                    "a resource has one kind, but this one has both `{first}` and `{second}`; split it in two"
                ),
            ));
            return None;
        }
    };
    let kind = spec.keyword;
    let allowed = spec.settings;
    let mut ok = true;
    for key in present {
        let k = key.as_str();
        if k == kind
            || k == "name"
            || k == "via"
            || k == "notify"
            || k == "guide"
            || allowed.contains(&k)
        {
            continue;
        }
        let mut list = vec!["name", "via", "notify", "guide"];
        list.extend_from_slice(allowed);
        diags.push(file.diag(
            &join_key(path, k),
            format!(
                "`{k}` does not go with a `{kind}` resource; allowed with `{kind}`: {}",
                list.join(", ")
            ),
        ));
        ok = false;
    }
    if !ok {
        return None;
    }
    let mode = match r.mode.as_ref().map(parse_mode).transpose() {
        Ok(m) => m,
        Err(msg) => {
            diags.push(file.diag(&join_key(path, "mode"), msg));
            return None;
        }
    };
    let state = r.state;
    let absent = state == Some(RawState::Absent);
    if let Some(st) = state {
        let service = kind == "service";
        let fits = match st {
            RawState::Absent => true,
            RawState::Present => !service,
            RawState::Running | RawState::Stopped => service,
        };
        if !fits {
            let allowed = if service {
                "running (the default), stopped or absent"
            } else {
                "present (the default) or absent"
            };
            diags.push(file.diag(
                &join_key(path, "state"),
                format!(
                    "a `{kind}` resource cannot be `{}`; its state is {allowed}",
                    st.word()
                ),
            ));
            return None;
        }
    }
    let name = r.name.clone();
    let via = r.via.clone();
    let notify = r.notify.clone().unwrap_or_default();
    let mut cx = Cx {
        path,
        file,
        templates,
        diags,
        keyword: kind,
        mode,
        absent,
    };
    if absent {
        // What only describes a thing that exists has no meaning for one to remove.
        if let Some(k) = present.iter().find(|k| {
            let k = k.as_str();
            k != "state" && spec.settings.contains(&k) && !spec.absent_settings.contains(&k)
        }) {
            let mut list = vec!["name", "via", "notify", "state"];
            list.extend(spec.absent_settings);
            cx.error(
                k,
                format!(
                    "`{k}` does not go with `state: absent`; allowed with an absent `{kind}`: {}",
                    list.join(", ")
                ),
            );
            return None;
        }
    }
    let kind = (spec.build)(r, &mut cx)?;
    let name = name.unwrap_or_else(|| format!("{} {}", kind.keyword(), kind.target()));
    let key_origins = present
        .iter()
        .map(|k| (k.clone(), file.origin(&join_key(path, k))))
        .collect();
    Some(Resource {
        name,
        kind,
        via,
        notify,
        absent,
        origin: file.origin(path),
        key_origins,
    })
}

/// `"0644"` -> 0o644. Unquoted numbers are refused: YAML reads 0644 and 644 differently.
fn parse_mode(v: &serde_yaml::Value) -> Result<u32, String> {
    let s = v.as_str().ok_or_else(|| {
        "a mode is quoted octal text such as \"0644\" (unquoted, YAML may read it as a decimal number)".to_string()
    })?;
    let ok = (3..=4).contains(&s.len()) && s.chars().all(|c| ('0'..='7').contains(&c));
    if !ok {
        return Err(format!(
            "`{s}` is not a file mode; expected octal such as \"0644\" or \"0755\""
        ));
    }
    u32::from_str_radix(s, 8).map_err(|e| e.to_string())
}

pub(super) fn build_checks(
    raws: Vec<serde_yaml::Value>,
    file: &SourceFile,
    diags: &mut Diagnostics,
) -> Vec<Check> {
    let mut out: Vec<Check> = Vec::new();
    for (i, value) in raws.into_iter().enumerate() {
        let path = format!("verify[{i}]");
        let Some(c) = file.parse::<RawCheck>(value, &path, diags) else {
            continue;
        };
        if out.iter().any(|o| o.name == c.name) {
            diags.push(file.diag(
                &join_key(&path, "name"),
                format!(
                    "a verify check named `{}` is already declared in this profile",
                    c.name
                ),
            ));
            continue;
        }
        out.push(Check {
            name: c.name,
            command: c.command,
            sensitive: false,
            origin: file.origin(&join_key(&path, "command")),
        });
    }
    out
}
