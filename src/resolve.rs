//! One device's desired state: its profile chain merged, variables layered, every template
//! and inline expression rendered.
//!
//! Variable precedence, lowest first (a later layer replaces a whole top-level variable):
//! 1. the root profile of the `extends` chain, then each child profile down to the device's;
//! 2. the device's groups, in the order the device lists them;
//! 3. the device's own `vars`;
//! 4. `--var KEY=VALUE` on the command line.
//!
//! Resources merge the same way: a child profile's resource replaces its parent's resource
//! of the same name in place; new names are appended. Nothing here touches a device.

use serde_json::{Value, json};

use crate::load::diag::{Diagnostic, Diagnostics};
use crate::model::{Check, Device, FileSource, Origin, Resource, ResourceKind, Vars};
use crate::render::TemplateError;
use crate::site::Site;

/// A device's concrete desired state.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Resolved {
    pub device: String,
    /// Root profile first.
    pub profiles: Vec<String>,
    pub vars: Vars,
    /// Rendered: file resources carry their content as [`FileSource::Content`].
    pub resources: Vec<ResolvedResource>,
    pub verify: Vec<Check>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ResolvedResource {
    #[serde(flatten)]
    pub resource: Resource,
    /// The template a file's content came from, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

impl ResolvedResource {
    pub fn name(&self) -> &str {
        &self.resource.name
    }
    pub fn kind(&self) -> &ResourceKind {
        &self.resource.kind
    }
    /// A file's rendered content.
    pub fn content(&self) -> Option<&str> {
        match &self.resource.kind {
            ResourceKind::File {
                source: FileSource::Content(c),
                ..
            } => Some(c),
            _ => None,
        }
    }
}

/// Inputs a profile may require that are fields of the device rather than variables.
pub const BUILTIN_INPUTS: &[&str] = &[
    "assignee", "desk", "floor", "site", "serial", "mac", "model", "ssh", "uri",
];

/// The merged variables of `device` without command-line ones (layers 1 to 3).
pub fn merged_vars(site: &Site, device: &Device) -> Vars {
    let mut vars = Vars::new();
    for p in site.profile_chain(device.profile.as_deref().unwrap_or_default()) {
        vars.extend(p.vars.clone());
    }
    for g in &device.groups {
        if let Some(group) = site.groups.get(g) {
            vars.extend(group.vars.clone());
        }
    }
    vars.extend(device.vars.clone());
    vars
}

/// Resolves `tag` with command-line variables `cli_vars`, or returns every problem found
/// (missing inputs, template errors), each naming the device.
pub fn resolve(site: &Site, tag: &str, cli_vars: &Vars) -> Result<Resolved, Diagnostics> {
    let mut diags = Diagnostics::default();
    let Some(device) = site.device(tag) else {
        let tags: Vec<&str> = site.devices.keys().map(String::as_str).collect();
        diags.push(Diagnostic::new(
            "inventory",
            crate::load::locate::Pos { line: 0, col: 0 },
            "",
            crate::load::diag::unknown("device", tag, &tags),
        ));
        return Err(diags);
    };
    let Some(profile) = &device.profile else {
        diags.push(at(
            &device.origin,
            format!("devices.{}", device.tag),
            format!(
                "{} has no profile, so deskready does not know how to configure it; add `profile:` to it in the inventory",
                device.tag
            ),
        ));
        return Err(diags);
    };
    let chain = site.profile_chain(profile);
    let mut vars = merged_vars(site, device);
    vars.extend(cli_vars.clone());

    for p in &chain {
        for input in &p.requires {
            if let Some(what) = missing_input(device, &vars, input) {
                diags.push(at(
                    &device.origin,
                    format!("devices.{}", device.tag),
                    format!(
                        "{} is missing required input `{input}` (required by profile {}); {what}",
                        device.tag, p.name
                    ),
                ));
            }
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }

    let ctx = context(site, device, &vars);
    let mut resources: Vec<ResolvedResource> = Vec::new();
    let mut verify: Vec<Check> = Vec::new();
    for p in &chain {
        for r in &p.resources {
            if let Some(rr) = render_resource(site, device, r, &ctx, &mut diags) {
                match resources
                    .iter_mut()
                    .find(|x| x.resource.name == rr.resource.name)
                {
                    Some(slot) => *slot = rr,
                    None => resources.push(rr),
                }
            }
        }
        for c in &p.verify {
            let command = render_field(
                site, device, &c.origin, "command", &c.command, &ctx, &mut diags,
            );
            let check = Check {
                name: c.name.clone(),
                command: command.unwrap_or_default(),
                origin: c.origin.clone(),
            };
            match verify.iter_mut().find(|x| x.name == check.name) {
                Some(slot) => *slot = check,
                None => verify.push(check),
            }
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    Ok(Resolved {
        device: device.tag.clone(),
        profiles: chain.iter().map(|p| p.name.clone()).collect(),
        vars,
        resources,
        verify,
    })
}

/// Why `input` is missing on `device`, or None when it is there.
fn missing_input(device: &Device, vars: &Vars, input: &str) -> Option<&'static str> {
    let l = &device.location;
    let present = match input {
        "assignee" => device.assignee.is_some(),
        "desk" => l.desk.is_some(),
        "floor" => l.floor.is_some(),
        "site" => l.site.is_some(),
        "serial" => device.serial.is_some(),
        "mac" => device.mac.is_some(),
        "model" => !device.model.is_empty(),
        "ssh" => device.address.ssh.is_some(),
        "uri" => device.address.uri.is_some(),
        var => {
            return vars
                .get(var)
                .is_none_or(Value::is_null)
                .then_some("set it in `vars` of the device, a group or a profile, or with --var");
        }
    };
    if present {
        return None;
    }
    Some(match input {
        "assignee" => "set `assignee:` on the device, or run `deskready assign`",
        "desk" | "floor" | "site" => "set it under `location:` on the device",
        _ => "set it on the device in the inventory",
    })
}

fn at(origin: &Origin, path: String, message: String) -> Diagnostic {
    Diagnostic {
        file: origin.file.clone(),
        line: origin.line,
        column: origin.column,
        path,
        message,
    }
}

/// The template context of a device: `device`, `assignee`, `location`, `vars`, and the
/// devices it relates to (`printers` of its floor, `site_printers`, `print_server`).
pub fn context(site: &Site, device: &Device, vars: &Vars) -> tera::Context {
    let mut ctx = tera::Context::new();
    let mut me = device_value(device);
    me["queue"] = Value::String(queue_name(device, vars));
    ctx.insert("device", &me);
    if let Some(a) = &device.assignee {
        ctx.insert("assignee", a);
    }
    ctx.insert("location", &device.location);
    ctx.insert("vars", vars);
    let related = |d: &Device| {
        let mut v = device_value(d);
        let vars = merged_vars(site, d);
        v["queue"] = Value::String(queue_name(d, &vars));
        v["vars"] = Value::Object(vars);
        v
    };
    let printers: Vec<Value> = site
        .floor_printers(device)
        .into_iter()
        .map(related)
        .collect();
    ctx.insert("printers", &printers);
    let site_printers: Vec<Value> = site
        .site_printers(device)
        .into_iter()
        .map(related)
        .collect();
    ctx.insert("site_printers", &site_printers);
    if let Some(ps) = site.print_server(device) {
        ctx.insert("print_server", &related(ps));
    }
    ctx
}

/// A printer's print queue name: its `queue` variable, else its asset tag in lower case.
/// (Every device gets one in its template context as `device.queue`.)
pub fn queue_name(d: &Device, vars: &Vars) -> String {
    vars.get("queue")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| d.tag.to_lowercase())
}

fn device_value(d: &Device) -> Value {
    json!({
        "tag": d.tag,
        "kind": d.kind.as_str(),
        "model": d.model,
        "serial": d.serial,
        "mac": d.mac,
        "profile": d.profile,
        "ssh": d.address.ssh,
        "uri": d.address.uri,
        "host": d.address.ssh.as_ref().map(|s| s.host.clone()),
        "location": d.location,
        "assignee": d.assignee,
        "groups": d.groups,
    })
}

/// Renders one text field of a resource or check; errors point at the profile's key.
fn render_field(
    site: &Site,
    device: &Device,
    origin: &Origin,
    key: &str,
    text: &str,
    ctx: &tera::Context,
    diags: &mut Diagnostics,
) -> Option<String> {
    let rendered = if matches!(key, "command" | "creates" | "unless") {
        site.templates.render_command(text, ctx)
    } else {
        site.templates.render_str(text, ctx)
    };
    match rendered {
        Ok(s) => Some(s),
        Err(e) => {
            diags.push(template_diag(origin, e, &device.tag));
            None
        }
    }
}

fn template_diag(origin: &Origin, e: TemplateError, tag: &str) -> Diagnostic {
    match e.template {
        Some(t) => Diagnostic {
            file: format!("templates/{t}"),
            line: e.pos.line,
            column: e.pos.col,
            path: String::new(),
            message: format!("{} (rendering for {tag})", e.message),
        },
        None => Diagnostic {
            file: origin.file.clone(),
            line: origin.line,
            column: origin.column,
            path: origin.path.clone(),
            message: format!("{} (rendering for {tag})", e.message),
        },
    }
}

fn render_resource(
    site: &Site,
    device: &Device,
    r: &Resource,
    ctx: &tera::Context,
    diags: &mut Diagnostics,
) -> Option<ResolvedResource> {
    let before = diags.len();
    let mut f = |key: &str, text: &str| {
        render_field(site, device, &r.origin_of(key), key, text, ctx, diags)
    };
    let mut template = None;
    let kind = match &r.kind {
        ResourceKind::File {
            path,
            source,
            mode,
            owner,
            group,
        } => {
            let content = match source {
                FileSource::Template(t) => {
                    template = Some(t.clone());
                    match site.templates.render(t, ctx) {
                        Ok(s) => Some(s),
                        Err(e) => {
                            diags.push(template_diag(&r.origin_of("template"), e, &device.tag));
                            None
                        }
                    }
                }
                FileSource::Content(c) => render_field(
                    site,
                    device,
                    &r.origin_of("content"),
                    "content",
                    c,
                    ctx,
                    diags,
                ),
            };
            let mut f = |key: &str, text: &str| {
                render_field(site, device, &r.origin_of(key), key, text, ctx, diags)
            };
            ResourceKind::File {
                path: f("file", path).unwrap_or_default(),
                source: FileSource::Content(content.unwrap_or_default()),
                mode: *mode,
                owner: owner.as_deref().and_then(|o| f("owner", o)),
                group: group.as_deref().and_then(|g| f("group", g)),
            }
        }
        ResourceKind::Directory {
            path,
            mode,
            owner,
            group,
        } => ResourceKind::Directory {
            path: f("directory", path).unwrap_or_default(),
            mode: *mode,
            owner: owner.as_deref().and_then(|o| f("owner", o)),
            group: group.as_deref().and_then(|g| f("group", g)),
        },
        ResourceKind::Line { path, line } => ResourceKind::Line {
            path: f("path", path).unwrap_or_default(),
            line: f("line", line).unwrap_or_default(),
        },
        ResourceKind::Command {
            command,
            creates,
            unless,
        } => ResourceKind::Command {
            command: f("command", command).unwrap_or_default(),
            creates: creates.as_deref().and_then(|c| f("creates", c)),
            unless: unless.as_deref().and_then(|u| f("unless", u)),
        },
        ResourceKind::Package { package } => ResourceKind::Package {
            package: f("package", package).unwrap_or_default(),
        },
        ResourceKind::Service {
            service,
            state,
            enabled,
        } => ResourceKind::Service {
            service: f("service", service).unwrap_or_default(),
            state: *state,
            enabled: *enabled,
        },
        ResourceKind::User {
            user,
            comment,
            shell,
            groups,
        } => ResourceKind::User {
            user: f("user", user).unwrap_or_default(),
            comment: comment.as_deref().and_then(|c| f("comment", c)),
            shell: shell.as_deref().and_then(|s| f("shell", s)),
            groups: groups.iter().filter_map(|g| f("groups", g)).collect(),
        },
        ResourceKind::PrintQueue {
            queue,
            uri,
            server,
            location,
            description,
            shared,
            options,
            allowed_users,
        } => ResourceKind::PrintQueue {
            queue: f("print_queue", queue).unwrap_or_default(),
            uri: f("uri", uri).unwrap_or_default(),
            server: server
                .as_deref()
                .and_then(|s| f("server", s))
                .filter(|s| !s.is_empty()),
            location: location.as_deref().and_then(|l| f("location", l)),
            description: description.as_deref().and_then(|d| f("description", d)),
            shared: *shared,
            options: options
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), f("options", v)?)))
                .collect(),
            allowed_users: allowed_users
                .iter()
                .filter_map(|u| f("allowed_users", u))
                .collect(),
        },
    };
    let via = match &r.via {
        None => None,
        Some(v) => {
            let at = r.origin_of("via");
            let rendered = render_field(site, device, &at, "via", v, ctx, diags)?;
            // A plain tag was checked when the site loaded; report only rendered ones here.
            if site.device(&rendered).is_none() {
                if rendered == *v {
                    return None;
                }
                let tags: Vec<&str> = site.devices.keys().map(String::as_str).collect();
                diags.push(Diagnostic {
                    file: at.file.clone(),
                    line: at.line,
                    column: at.column,
                    path: at.path.clone(),
                    message: format!(
                        "{} (rendering for {})",
                        crate::load::diag::unknown("device", &rendered, &tags),
                        device.tag
                    ),
                });
                return None;
            }
            Some(rendered)
        }
    };
    if diags.len() > before {
        return None;
    }
    // A name deskready made up ("KIND TARGET") follows the rendered target.
    let name = if r.name == format!("{} {}", r.kind.keyword(), r.kind.target()) {
        format!("{} {}", kind.keyword(), kind.target())
    } else {
        r.name.clone()
    };
    Some(ResolvedResource {
        resource: Resource {
            name,
            kind,
            via,
            origin: r.origin.clone(),
            key_origins: r.key_origins.clone(),
        },
        template,
    })
}
