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
//!
//! Secrets are offered to templates as `secret.NAME` (values from [`Secrets`]). A resource
//! or check is *sensitive* when any of its rendered text depends on a secret: when the
//! text holds a secret's value as is, or when rendering it again with other values for
//! every secret gives other text (so a secret passed through a filter, such as
//! `| upper` or `| length`, still counts). Sensitive content is never shown or stored;
//! the engine, store and reports act on the flag.

use serde_json::{Value, json};

use crate::load::diag::{Diagnostic, Diagnostics};
use crate::model::{
    Check, Device, FileSource, Handler, HandlerAction, Origin, Resource, ResourceKind, Vars,
};
use crate::render::TemplateError;
use crate::secrets::Secrets;
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
    /// Some rendered text of this resource depends on a secret: its content (and any
    /// diff of it) is never shown or stored, and its name is the unrendered one.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
}

impl ResolvedResource {
    pub fn name(&self) -> &str {
        &self.resource.name
    }
    pub fn kind(&self) -> &ResourceKind {
        &self.resource.kind
    }
    /// A file's rendered content (none for a file to remove).
    pub fn content(&self) -> Option<&str> {
        if self.resource.absent {
            return None;
        }
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

/// Resolves `tag` with command-line variables `cli_vars` and no secrets (a template that
/// uses one fails to render); see [`resolve_with`].
pub fn resolve(site: &Site, tag: &str, cli_vars: &Vars) -> Result<Resolved, Diagnostics> {
    resolve_with(site, tag, cli_vars, &Secrets::none())
}

/// Resolves `tag` with command-line variables `cli_vars` and the run's `secrets`, or
/// returns every problem found (missing inputs, template errors), each naming the device.
pub fn resolve_with(
    site: &Site,
    tag: &str,
    cli_vars: &Vars,
    secrets: &Secrets,
) -> Result<Resolved, Diagnostics> {
    resolve_part(site, tag, cli_vars, secrets, None)
}

/// A profile's hooks: what a lifecycle move does on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// `on_return`, run by `return`.
    Return,
    /// `on_retire`, run by `retire`.
    Retire,
}

impl Hook {
    /// The profile key that lists the hook's resources.
    pub fn key(self) -> &'static str {
        match self {
            Hook::Return => "on_return",
            Hook::Retire => "on_retire",
        }
    }
}

/// `tag`'s `hook` resources (its profile chain's `on_return` or `on_retire`, merged by
/// name like resources) as the resources of a [`Resolved`], with no handlers and no
/// verify checks. The profile's `requires` are not asked for (a returned device may have
/// lost its desk); a hook that uses a missing value fails to render, located.
pub fn resolve_hook(
    site: &Site,
    tag: &str,
    hook: Hook,
    cli_vars: &Vars,
    secrets: &Secrets,
) -> Result<Resolved, Diagnostics> {
    resolve_part(site, tag, cli_vars, secrets, Some(hook))
}

fn resolve_part(
    site: &Site,
    tag: &str,
    cli_vars: &Vars,
    secrets: &Secrets,
    hook: Option<Hook>,
) -> Result<Resolved, Diagnostics> {
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

    for p in chain.iter().filter(|_| hook.is_none()) {
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

    let r = Renderer::new(site, device, &vars, secrets);
    let mut resources: Vec<ResolvedResource> = Vec::new();
    let mut verify: Vec<Check> = Vec::new();
    for p in &chain {
        let list = match hook {
            None => &p.resources,
            Some(Hook::Return) => &p.on_return,
            Some(Hook::Retire) => &p.on_retire,
        };
        for res in list {
            if let Some(rr) = render_resource(&r, res, &mut diags) {
                match resources
                    .iter_mut()
                    .find(|x| x.resource.name == rr.resource.name)
                {
                    Some(slot) => *slot = rr,
                    None => resources.push(rr),
                }
            }
        }
        for c in p.verify.iter().filter(|_| hook.is_none()) {
            r.sensitive.set(false);
            let command = r.field(&c.origin, "command", &c.command, &mut diags);
            let check = Check {
                name: c.name.clone(),
                command: command.unwrap_or_default(),
                sensitive: r.sensitive.get(),
                origin: c.origin.clone(),
            };
            match verify.iter_mut().find(|x| x.name == check.name) {
                Some(slot) => *slot = check,
                None => verify.push(check),
            }
        }
    }
    // Handlers last: a child's handler replaces its parent's of the same name.
    let mut handlers: Vec<ResolvedResource> = Vec::new();
    for p in chain.iter().filter(|_| hook.is_none()) {
        for h in &p.handlers {
            let rr = render_handler(&r, h, &mut diags);
            match handlers
                .iter_mut()
                .find(|x| x.resource.name == rr.resource.name)
            {
                Some(slot) => *slot = rr,
                None => handlers.push(rr),
            }
        }
    }
    resources.extend(handlers);
    if !diags.is_empty() {
        // A template error may quote a value it met: never a secret's.
        let redactor = secrets.redactor();
        for d in &mut diags.0 {
            d.message = redactor.redact(&d.message);
        }
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

/// Renders one device's text, and notes when what it rendered depends on a secret.
struct Renderer<'a> {
    site: &'a Site,
    device: &'a Device,
    ctx: tera::Context,
    /// The same context with other values for every secret; `None` without secrets.
    alternate: Option<tera::Context>,
    secrets: &'a Secrets,
    /// Set when a rendering since the last reset depended on a secret.
    sensitive: std::cell::Cell<bool>,
}

impl<'a> Renderer<'a> {
    fn new(site: &'a Site, device: &'a Device, vars: &Vars, secrets: &'a Secrets) -> Self {
        let mut ctx = context(site, device, vars);
        // Only a site that declares secrets has `secret` (references to undeclared ones
        // were refused when it loaded).
        if !site.secrets.is_empty() || !secrets.is_empty() {
            ctx.insert("secret", &secrets.context_value());
        }
        let alternate = (!secrets.is_empty()).then(|| {
            let mut alt = ctx.clone();
            alt.insert("secret", &secrets.alternate_value());
            alt
        });
        Renderer {
            site,
            device,
            ctx,
            alternate,
            secrets,
            sensitive: std::cell::Cell::new(false),
        }
    }

    /// Renders with the real context; then, when there are secrets, decides whether the
    /// result depends on one (a rendering that fails only with other values counts).
    fn render(
        &self,
        how: impl Fn(&tera::Context) -> Result<String, TemplateError>,
    ) -> Result<String, TemplateError> {
        let out = how(&self.ctx)?;
        if let Some(alt) = &self.alternate {
            let depends = self.secrets.appears_in(&out) || how(alt).map_or(true, |a| a != out);
            if depends {
                self.sensitive.set(true);
            }
        }
        Ok(out)
    }

    /// Renders one text field of a resource or check; errors point at the profile's key.
    fn field(
        &self,
        origin: &Origin,
        key: &str,
        text: &str,
        diags: &mut Diagnostics,
    ) -> Option<String> {
        let templates = &self.site.templates;
        let rendered = if matches!(key, "command" | "creates" | "unless") {
            self.render(|ctx| templates.render_command(text, ctx))
        } else {
            self.render(|ctx| templates.render_str(text, ctx))
        };
        match rendered {
            Ok(s) => Some(s),
            Err(e) => {
                diags.push(template_diag(origin, e, &self.device.tag));
                None
            }
        }
    }

    /// Renders the template `name` (a file's content).
    fn template(&self, name: &str) -> Result<String, TemplateError> {
        self.render(|ctx| self.site.templates.render(name, ctx))
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

/// A handler as the last steps of a device's program: its service or command rendered.
fn render_handler(rn: &Renderer, h: &Handler, diags: &mut Diagnostics) -> ResolvedResource {
    rn.sensitive.set(false);
    let mut f = |key: &str, text: &str| rn.field(&h.origin, key, text, diags).unwrap_or_default();
    let action = match &h.action {
        HandlerAction::Restart(s) => HandlerAction::Restart(f("service", s)),
        HandlerAction::Reload(s) => HandlerAction::Reload(f("service", s)),
        HandlerAction::Command(c) => HandlerAction::Command(f("command", c)),
    };
    ResolvedResource {
        resource: Resource {
            name: h.name.clone(),
            kind: ResourceKind::Handler {
                handler: h.name.clone(),
                action,
            },
            via: None,
            notify: Vec::new(),
            absent: false,
            origin: h.origin.clone(),
            key_origins: Default::default(),
        },
        template: None,
        sensitive: rn.sensitive.get(),
    }
}

/// A problem with what a resource's key rendered to, at that key.
fn rendered_diag(at: &Origin, msg: String, tag: &str) -> Diagnostic {
    Diagnostic {
        file: at.file.clone(),
        line: at.line,
        column: at.column,
        path: at.path.clone(),
        message: format!("{msg} (rendering for {tag})"),
    }
}

fn render_resource(
    rn: &Renderer,
    r: &Resource,
    diags: &mut Diagnostics,
) -> Option<ResolvedResource> {
    let (site, device) = (rn.site, rn.device);
    rn.sensitive.set(false);
    let before = diags.len();
    let mut f = |key: &str, text: &str| rn.field(&r.origin_of(key), key, text, diags);
    let mut template = None;
    let kind = match &r.kind {
        // Handlers come from `handlers:` (see `render_handler`), never from `resources:`.
        ResourceKind::Handler { .. } => r.kind.clone(),
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
                    match rn.template(t) {
                        Ok(s) => Some(s),
                        Err(e) => {
                            diags.push(template_diag(&r.origin_of("template"), e, &device.tag));
                            None
                        }
                    }
                }
                FileSource::Content(c) => rn.field(&r.origin_of("content"), "content", c, diags),
            };
            let mut f = |key: &str, text: &str| rn.field(&r.origin_of(key), key, text, diags);
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
        ResourceKind::Package {
            package,
            state,
            version,
            deb,
            preseed,
            purge,
            index_max_age,
        } => ResourceKind::Package {
            package: f("package", package).unwrap_or_default(),
            state: *state,
            version: version.as_deref().and_then(|v| f("version", v)),
            deb: deb.as_ref().map(|d| crate::model::Deb {
                url: f("deb", &d.url).unwrap_or_default(),
                sha256: f("sha256", &d.sha256)
                    .unwrap_or_default()
                    .to_ascii_lowercase(),
            }),
            preseed: preseed.iter().filter_map(|l| f("preseed", l)).collect(),
            purge: *purge,
            index_max_age: *index_max_age,
        },
        ResourceKind::AptSource {
            apt_source,
            state,
            uris,
            suites,
            components,
            architectures,
            key,
            fingerprint,
        } => {
            let mut words = |key: &str, list: &[String]| -> Vec<String> {
                list.iter()
                    .filter_map(|w| f(key, w))
                    .flat_map(|w| w.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                    .collect()
            };
            let (uris, suites) = (words("uris", uris), words("suites", suites));
            let components = words("components", components);
            let architectures = words("architectures", architectures);
            let key = match key {
                // Sent as it is: a key is data, never a template.
                crate::model::AptKey::File(t) => crate::model::AptKey::Text(
                    site.templates.source(t).unwrap_or_default().to_string(),
                ),
                crate::model::AptKey::Url(u) => {
                    crate::model::AptKey::Url(f("key_url", u).unwrap_or_default())
                }
                crate::model::AptKey::Text(t) => crate::model::AptKey::Text(t.clone()),
            };
            ResourceKind::AptSource {
                apt_source: f("apt_source", apt_source).unwrap_or_default(),
                state: *state,
                uris,
                suites,
                components,
                architectures,
                key,
                fingerprint: fingerprint
                    .as_deref()
                    .and_then(|x| f("fingerprint", x))
                    .map(|x| crate::load::normal_fingerprint(&x).unwrap_or(x)),
            }
        }
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
            exact_groups,
            home,
            remove_home,
        } => ResourceKind::User {
            user: f("user", user).unwrap_or_default(),
            comment: comment.as_deref().and_then(|c| f("comment", c)),
            shell: shell.as_deref().and_then(|s| f("shell", s)),
            groups: groups.iter().filter_map(|g| f("groups", g)).collect(),
            exact_groups: *exact_groups,
            home: home.as_deref().and_then(|h| f("home", h)),
            remove_home: *remove_home,
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
    // What a template rendered is checked as written text is when the site loads: a
    // path that is not absolute (relative, or `-x` that a command would take for an
    // option) and a package name that apt-get could take for an option are refused here.
    let path_key = match &kind {
        ResourceKind::File { path, .. } => Some(("file", path)),
        ResourceKind::Directory { path, .. } => Some(("directory", path)),
        ResourceKind::Line { path, .. } => Some(("path", path)),
        _ => None,
    };
    if let Some((key, path)) = path_key
        && diags.len() == before
        && !path.starts_with('/')
    {
        let msg = format!("`{path}` is not an absolute path; paths on a device start with /");
        diags.push(rendered_diag(&r.origin_of(key), msg, &device.tag));
    }
    if diags.len() == before
        && let Some((key, msg)) = crate::load::rendered_problem(&kind)
    {
        diags.push(rendered_diag(&r.origin_of(key), msg, &device.tag));
    }
    if diags.len() == before {
        for (key, msg) in crate::load::bad_user(&kind) {
            let key = match key {
                crate::load::UserKey::Plain(k) => k,
                crate::load::UserKey::Group(_) => "groups",
            };
            diags.push(rendered_diag(&r.origin_of(key), msg, &device.tag));
        }
    }
    let via = match &r.via {
        None => None,
        Some(v) => {
            let at = r.origin_of("via");
            let rendered = rn.field(&at, "via", v, diags)?;
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
    // A name deskready made up ("KIND TARGET") follows the rendered target, unless that
    // depends on a secret: then it stays as written in the profile.
    let sensitive = rn.sensitive.get();
    let name = if !sensitive && r.name == format!("{} {}", r.kind.keyword(), r.kind.target()) {
        format!("{} {}", kind.keyword(), kind.target())
    } else {
        r.name.clone()
    };
    Some(ResolvedResource {
        resource: Resource {
            name,
            kind,
            via,
            notify: r.notify.clone(),
            absent: r.absent,
            origin: r.origin.clone(),
            key_origins: r.key_origins.clone(),
        },
        template,
        sensitive,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(files: &[(&str, &str)]) -> (tempfile::TempDir, Site) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let site = crate::load::load_site(dir.path()).unwrap_or_else(|d| panic!("{d}"));
        (dir, site)
    }

    const INVENTORY: &str = "secrets:\n  psk: { env: PSK }\n  other: { env: OTHER }\ndevices:\n  LAP-1:\n    kind: laptop\n    model: M\n    profile: p\n";
    const PROFILE: &str = r#"name: p
resources:
  - file: /etc/plain
    content: "hello {{ device.tag }}"
  - file: /etc/wifi
    template: wifi.tera
  - file: /etc/upper
    content: "{{ secret.psk | upper }}"
  - file: /etc/length
    content: "{{ secret.psk | length }}"
  - file: /etc/if
    content: "{% if secret.psk %}set{% endif %}"
  - command: "wpa_passphrase office {{ secret.psk }} > /dev/null"
verify:
  - name: psk set
    command: "grep -q {{ secret.psk }} /etc/wifi"
  - name: hostname
    command: "test -s /etc/hostname"
"#;

    fn resolved(secrets: &Secrets) -> Resolved {
        let (_d, site) = site(&[
            ("inventory/i.yaml", INVENTORY),
            ("profiles/p.yaml", PROFILE),
            ("templates/wifi.tera", "{% extends \"psk.tera\" %}"),
            ("templates/psk.tera", "psk={{ secret.psk }}\n"),
        ]);
        resolve_with(&site, "LAP-1", &Vars::new(), secrets).unwrap_or_else(|d| panic!("{d}"))
    }

    fn sensitive(r: &Resolved) -> Vec<(&str, bool)> {
        r.resources
            .iter()
            .map(|x| (x.name(), x.sensitive))
            .collect()
    }

    #[test]
    fn text_that_depends_on_a_secret_is_sensitive() {
        let r = resolved(&Secrets::none().with("psk", "hunter2").with("other", "x1"));
        assert_eq!(
            sensitive(&r),
            [
                ("file /etc/plain", false),
                ("file /etc/wifi", true),
                ("file /etc/upper", true),
                ("file /etc/length", true),
                // Only whether it is set, which every run's secret is.
                ("file /etc/if", false),
                // A made-up name stays as written, never the rendered command.
                (
                    "command wpa_passphrase office {{ secret.psk }} > /dev/null",
                    true
                ),
            ]
        );
        assert_eq!(r.resources[1].content(), Some("psk=hunter2\n"));
        assert_eq!(r.resources[2].content(), Some("HUNTER2"));
        let checks: Vec<(&str, bool)> = r
            .verify
            .iter()
            .map(|c| (c.name.as_str(), c.sensitive))
            .collect();
        assert_eq!(checks, [("psk set", true), ("hostname", false)]);
        assert_eq!(r.verify[0].command, "grep -q 'hunter2' /etc/wifi");
    }

    #[test]
    fn placeholders_show_where_secrets_go_and_are_sensitive_too() {
        let (_d, site) = site(&[
            ("inventory/i.yaml", INVENTORY),
            ("profiles/p.yaml", PROFILE),
            ("templates/wifi.tera", "{% extends \"psk.tera\" %}"),
            ("templates/psk.tera", "psk={{ secret.psk }}\n"),
        ]);
        let r = resolve_with(&site, "LAP-1", &Vars::new(), &Secrets::placeholders(&site)).unwrap();
        assert_eq!(r.resources[1].content(), Some("psk=[secret psk]\n"));
        assert!(r.resources[1].sensitive);
        assert!(!r.resources[0].sensitive);
    }

    #[test]
    fn without_secrets_a_template_that_uses_one_fails_to_render() {
        let (_d, site) = site(&[
            ("inventory/i.yaml", INVENTORY),
            (
                "profiles/p.yaml",
                "name: p\nresources:\n  - file: /etc/x\n    content: \"{{ secret.psk }}\"\n",
            ),
        ]);
        let e = resolve(&site, "LAP-1", &Vars::new())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("profiles/p.yaml:4:5: resources[0].content: "),
            "{e}"
        );
        assert!(e.contains("secret.psk"), "{e}");
    }

    #[test]
    fn a_rendered_user_is_checked_and_hooks_resolve_apart_from_resources() {
        const P: &str = "name: p\nrequires: [desk]\nresources:\n  - user: \"{{ vars.who }}\"\n    shell: \"{{ vars.sh }}\"\non_return:\n  - user: gone\n    state: absent\n    remove_home: true\n";
        let dev = |desk: &str| {
            format!(
                "devices:\n  LAP-1:\n    kind: laptop\n    model: M\n    profile: p\n{desk}    vars: {{ who: \"Bad Name\", sh: \"/bin/ba sh\" }}\n"
            )
        };
        let (_d, site) = site(&[("inventory/i.yaml", &dev("")), ("profiles/p.yaml", P)]);
        let e = resolve(&site, "LAP-1", &Vars::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("is missing required input `desk`"), "{e}");
        // The hook needs no `desk` and carries none of the resources.
        let h = resolve_hook(&site, "LAP-1", Hook::Return, &Vars::new(), &Secrets::none()).unwrap();
        assert_eq!(h.resources.len(), 1);
        assert!(h.resources[0].resource.absent);
        assert_eq!(h.resources[0].name(), "user gone");
        assert!(h.verify.is_empty());
        let none =
            resolve_hook(&site, "LAP-1", Hook::Retire, &Vars::new(), &Secrets::none()).unwrap();
        assert!(none.resources.is_empty());

        let (_d2, site) = self::site(&[
            ("inventory/i.yaml", &dev("    location: { desk: \"1\" }\n")),
            ("profiles/p.yaml", P),
        ]);
        let e = resolve(&site, "LAP-1", &Vars::new())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("profiles/p.yaml:4:5: resources[0].user: `Bad Name` is not a user name: it must start with a lower case letter or `_` (rendering for LAP-1)"),
            "{e}"
        );
        assert!(
            e.contains(
                "resources[0].shell: `/bin/ba sh` is not a login shell: it holds whitespace"
            ),
            "{e}"
        );
    }

    #[test]
    fn a_package_name_is_checked_as_written_and_as_rendered() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("inventory")).unwrap();
        std::fs::create_dir_all(dir.path().join("profiles")).unwrap();
        std::fs::write(
            dir.path().join("inventory/i.yaml"),
            "devices:\n  LAP-1:\n    kind: laptop\n    model: M\n    profile: p\n    vars: { editor: \"--force-yes\" }\n",
        )
        .unwrap();
        let profile = dir.path().join("profiles/p.yaml");
        std::fs::write(&profile, "name: p\nresources:\n  - package: -y\n").unwrap();
        let e = crate::load::load_site(dir.path()).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "profiles/p.yaml:3:5: resources[0].package: `-y` is not a Debian package name;"
            ),
            "{e}"
        );

        std::fs::write(
            &profile,
            "name: p\nresources:\n  - package: git\n  - package: \"{{ vars.editor }}\"\n",
        )
        .unwrap();
        let site = crate::load::load_site(dir.path()).unwrap_or_else(|d| panic!("{d}"));
        let e = resolve(&site, "LAP-1", &Vars::new())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("profiles/p.yaml:4:5: resources[1].package: `--force-yes` is not a Debian package name;"),
            "{e}"
        );
        assert!(e.ends_with("(rendering for LAP-1)"), "{e}");
        let mut vars = Vars::new();
        vars.insert("editor".into(), json!("vim-nox"));
        let r = resolve(&site, "LAP-1", &vars).unwrap_or_else(|d| panic!("{d}"));
        assert_eq!(r.resources[1].kind().target(), "vim-nox");
    }

    #[test]
    fn a_path_must_render_to_an_absolute_path() {
        let (_d, site) = site(&[
            (
                "inventory/i.yaml",
                "devices:\n  LAP-1:\n    kind: laptop\n    model: M\n    profile: p\n    vars: { conf: \"-R\", home: /home/ana }\n",
            ),
            (
                "profiles/p.yaml",
                "name: p\nresources:\n  - file: \"{{ vars.home }}/.profile\"\n    content: x\n  - directory: \"{{ vars.conf }}\"\n  - line: l\n    path: \"{{ vars.home }}\"\n",
            ),
        ]);
        let e = resolve(&site, "LAP-1", &Vars::new())
            .unwrap_err()
            .to_string();
        assert_eq!(
            e.lines().collect::<Vec<_>>(),
            [
                "profiles/p.yaml:5:5: resources[1].directory: `-R` is not an absolute path; paths on a device start with / (rendering for LAP-1)"
            ],
            "{e}"
        );
        let mut vars = Vars::new();
        vars.insert("conf".into(), json!("etc/app"));
        let e = resolve(&site, "LAP-1", &vars).unwrap_err().to_string();
        assert!(e.contains("`etc/app` is not an absolute path"), "{e}");
        vars.insert("conf".into(), json!("/etc/app"));
        let r = resolve(&site, "LAP-1", &vars).unwrap_or_else(|d| panic!("{d}"));
        assert_eq!(r.resources[1].kind().target(), "/etc/app");
    }

    #[test]
    fn the_secrets_a_device_needs_are_found_through_the_templates_it_names() {
        let (_d, site) = site(&[
            ("inventory/i.yaml", INVENTORY),
            ("profiles/p.yaml", PROFILE),
            ("templates/wifi.tera", "{% extends \"psk.tera\" %}"),
            ("templates/psk.tera", "psk={{ secret.psk }}\n"),
        ]);
        let needed = crate::secrets::needed(&site, &["LAP-1"]);
        assert_eq!(needed.into_iter().collect::<Vec<_>>(), ["psk"]);
    }
}
