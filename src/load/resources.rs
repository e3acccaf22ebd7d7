//! Resources and verify checks of a profile: exactly one kind key per resource, and only
//! the settings that go with that kind.

use std::collections::HashMap;

use super::SourceFile;
use super::diag::{self, Diagnostics};
use super::locate::join_key;
use super::raw::{RawCheck, RawResource};
use crate::model::{Check, FileSource, Resource, ResourceKind, ServiceState};
use crate::render::Templates;

/// The kind keys, in the order they are listed in messages.
pub const KINDS: &[&str] = &[
    "file",
    "directory",
    "line",
    "command",
    "package",
    "service",
    "user",
    "print_queue",
];

/// Settings allowed with each kind (besides `name` and `via`, allowed everywhere).
fn allowed_settings(kind: &str) -> &'static [&'static str] {
    match kind {
        "file" => &["template", "content", "mode", "owner", "group"],
        "directory" => &["mode", "owner", "group"],
        "line" => &["path"],
        "command" => &["creates", "unless"],
        "package" => &[],
        "service" => &["state", "enabled"],
        "user" => &["comment", "shell", "groups"],
        "print_queue" => &[
            "uri",
            "server",
            "location",
            "description",
            "shared",
            "options",
            "allowed_users",
        ],
        _ => &[],
    }
}

/// Builds the resources of one profile file. Also returns `via:` values that are plain
/// device tags (no template expressions), with their key path, to check against the
/// inventory once it is loaded.
pub fn build(
    raws: Vec<serde_yaml::Value>,
    file: &SourceFile,
    templates: &Templates,
    diags: &mut Diagnostics,
) -> (Vec<Resource>, Vec<(String, String, SourceFile)>) {
    let mut out: Vec<Resource> = Vec::new();
    let mut vias = Vec::new();
    let mut names: HashMap<String, String> = HashMap::new();
    for (i, value) in raws.into_iter().enumerate() {
        let path = format!("resources[{i}]");
        let present = present_keys(&value);
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
        if let Some(v) = &res.via
            && !v.contains("{{")
            && !v.contains("{%")
        {
            vias.push((v.clone(), join_key(&path, "via"), file.clone()));
        }
        out.push(res);
    }
    (out, vias)
}

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
    let kinds: Vec<&str> = present
        .iter()
        .map(String::as_str)
        .filter(|k| KINDS.contains(k))
        .collect();
    let kind = match kinds.as_slice() {
        [one] => *one,
        [] => {
            diags.push(file.diag(
                path,
                format!(
                    "a resource needs one kind key; allowed: {}",
                    KINDS.join(", ")
                ),
            ));
            return None;
        }
        [first, second, ..] => {
            diags.push(file.diag(
                &join_key(path, second),
                format!(
                    "a resource has one kind, but this one has both `{first}` and `{second}`; split it in two"
                ),
            ));
            return None;
        }
    };
    let allowed = allowed_settings(kind);
    let mut ok = true;
    for key in present {
        let k = key.as_str();
        if k == kind || k == "name" || k == "via" || allowed.contains(&k) {
            continue;
        }
        let mut list = vec!["name", "via"];
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
    let need = |value: Option<String>, key: &str, diags: &mut Diagnostics| -> Option<String> {
        if value.is_none() {
            diags.push(file.diag(path, format!("a `{kind}` resource needs `{key}`")));
        }
        value
    };
    let kind = match kind {
        "file" => {
            let source = match (r.template, r.content) {
                (Some(t), None) => {
                    if templates.is_broken(&t) {
                        return None; // its syntax error is already reported
                    }
                    if !templates.exists(&t) {
                        let names: Vec<&str> = templates.names().collect();
                        let mut msg = format!("template `{t}` does not exist under templates/");
                        if let Some(s) = diag::did_you_mean(&t, names.iter().copied()) {
                            msg.push_str(&format!("; did you mean `{s}`?"));
                        }
                        diags.push(file.diag(&join_key(path, "template"), msg));
                        return None;
                    }
                    FileSource::Template(t)
                }
                (None, Some(c)) => FileSource::Content(c),
                (Some(_), Some(_)) => {
                    diags.push(file.diag(
                        &join_key(path, "content"),
                        "a `file` resource takes `template` or `content`, not both",
                    ));
                    return None;
                }
                (None, None) => {
                    diags.push(file.diag(
                        path,
                        "a `file` resource needs `template` (a file under templates/) or `content`",
                    ));
                    return None;
                }
            };
            ResourceKind::File {
                path: absolute(r.file?, &join_key(path, "file"), file, diags)?,
                source,
                mode,
                owner: r.owner,
                group: r.group,
            }
        }
        "directory" => ResourceKind::Directory {
            path: absolute(r.directory?, &join_key(path, "directory"), file, diags)?,
            mode,
            owner: r.owner,
            group: r.group,
        },
        "line" => ResourceKind::Line {
            line: r.line?,
            path: absolute(
                need(r.path, "path", diags)?,
                &join_key(path, "path"),
                file,
                diags,
            )?,
        },
        "command" => ResourceKind::Command {
            command: r.command?,
            creates: r.creates,
            unless: r.unless,
        },
        "package" => ResourceKind::Package {
            package: r.package?,
        },
        "service" => ResourceKind::Service {
            service: r.service?,
            state: r.state.unwrap_or(ServiceState::Running),
            enabled: r.enabled,
        },
        "user" => ResourceKind::User {
            user: r.user?,
            comment: r.comment,
            shell: r.shell,
            groups: r.groups.unwrap_or_default(),
        },
        "print_queue"
            if r.options
                .as_ref()
                .is_some_and(|o| o.keys().any(|k| !is_option_name(k))) =>
        {
            let bad = r
                .options
                .as_ref()
                .and_then(|o| o.keys().find(|k| !is_option_name(k)))
                .cloned()
                .unwrap_or_default();
            diags.push(file.diag(
                &format!("{}.{bad}", join_key(path, "options")),
                format!("`{bad}` is not a printer option name; option names are letters, digits, `-` and `_` (see `lpoptions -p QUEUE -l`)"),
            ));
            return None;
        }
        "print_queue" => ResourceKind::PrintQueue {
            queue: r.print_queue?,
            uri: need(r.uri, "uri", diags)?,
            server: r.server,
            location: r.location,
            description: r.description,
            shared: r.shared.unwrap_or(false),
            options: r.options.unwrap_or_default(),
            allowed_users: r.allowed_users.unwrap_or_default(),
        },
        _ => unreachable!("kind comes from KINDS"),
    };
    let name = r
        .name
        .unwrap_or_else(|| format!("{} {}", kind.keyword(), kind.target()));
    let key_origins = present
        .iter()
        .map(|k| (k.clone(), file.origin(&join_key(path, k))))
        .collect();
    Some(Resource {
        name,
        kind,
        via: r.via,
        origin: file.origin(path),
        key_origins,
    })
}

fn is_option_name(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Paths on a device are absolute (or a template expression that renders to one).
fn absolute(p: String, at: &str, file: &SourceFile, diags: &mut Diagnostics) -> Option<String> {
    if p.starts_with('/') || p.starts_with("{{") {
        Some(p)
    } else {
        diags.push(file.diag(
            at,
            format!("`{p}` is not an absolute path; paths on a device start with /"),
        ));
        None
    }
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

pub fn build_checks(
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
