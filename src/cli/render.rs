//! `deskready render DEVICE [--resource NAME]`: what would be written to the device.

use std::process::ExitCode;

use super::{Ctx, Failure, Format};
use crate::model::ResourceKind;
use crate::resolve::ResolvedResource;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The device's asset tag.
    pub device: String,
    /// Only this resource (its `name:`, or "KIND TARGET" such as "file /etc/hostname");
    /// for a file, prints its content alone.
    #[arg(long)]
    pub resource: Option<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode, Failure> {
    let site = ctx.load_site()?;
    super::known_device(&site, &args.device)?;
    let resolved =
        crate::resolve::resolve(&site, &args.device, &ctx.vars).map_err(Failure::Site)?;
    let selected: Vec<&ResolvedResource> = match &args.resource {
        None => resolved.resources.iter().collect(),
        Some(name) => {
            let found: Vec<_> = resolved
                .resources
                .iter()
                .filter(|r| r.name() == name)
                .collect();
            if found.is_empty() {
                let names: Vec<&str> = resolved.resources.iter().map(|r| r.name()).collect();
                return Err(Failure::BadInput(format!(
                    "{} (device {})",
                    crate::load::diag::unknown("resource", name, &names),
                    args.device
                )));
            }
            found
        }
    };
    match ctx.format {
        Format::Json => {
            let v = serde_json::json!({
                "device": resolved.device,
                "profiles": resolved.profiles,
                "resources": selected,
                "verify": resolved.verify,
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&v).map_err(anyhow::Error::from)?
            );
        }
        Format::Text => {
            if let ([one], Some(_)) = (selected.as_slice(), &args.resource)
                && let Some(content) = one.content()
            {
                print!("{content}");
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "# {} (profile {})",
                resolved.device,
                resolved.profiles.join(" < ")
            );
            for r in selected {
                print!("{}", describe(r));
            }
            if args.resource.is_none() && !resolved.verify.is_empty() {
                println!("\n== verify");
                for c in &resolved.verify {
                    println!("  {}: {}", c.name, c.command);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A resource as a CSP reads it: a header line, then its content or settings.
fn describe(r: &ResolvedResource) -> String {
    let mut out = format!("\n== {}", r.name());
    if let Some(via) = &r.resource.via {
        out.push_str(&format!(" (via {via})"));
    }
    out.push('\n');
    let mut kv = |k: &str, v: &str| out.push_str(&format!("  {k}: {v}\n"));
    match r.kind() {
        ResourceKind::File {
            path,
            mode,
            owner,
            group,
            ..
        } => {
            kv("file", path);
            if let Some(t) = &r.template {
                kv("template", t);
            }
            if let Some(m) = mode {
                kv("mode", &format!("{m:04o}"));
            }
            if let Some(o) = owner {
                kv("owner", o);
            }
            if let Some(g) = group {
                kv("group", g);
            }
            out.push_str("  ---\n");
            for line in r.content().unwrap_or_default().lines() {
                out.push_str(&format!("  {line}\n"));
            }
        }
        ResourceKind::Directory {
            path,
            mode,
            owner,
            group,
        } => {
            kv("directory", path);
            if let Some(m) = mode {
                kv("mode", &format!("{m:04o}"));
            }
            if let Some(o) = owner {
                kv("owner", o);
            }
            if let Some(g) = group {
                kv("group", g);
            }
        }
        ResourceKind::Line { path, line } => {
            kv("path", path);
            kv("line", line);
        }
        ResourceKind::Command {
            command,
            creates,
            unless,
        } => {
            kv("command", command);
            if let Some(c) = creates {
                kv("creates", c);
            }
            if let Some(u) = unless {
                kv("unless", u);
            }
        }
        ResourceKind::Package { package } => kv("package", package),
        ResourceKind::Service {
            service,
            state,
            enabled,
        } => {
            kv("service", service);
            kv("state", &format!("{state:?}").to_lowercase());
            if let Some(e) = enabled {
                kv("enabled", &e.to_string());
            }
        }
        ResourceKind::User {
            user,
            comment,
            shell,
            groups,
        } => {
            kv("user", user);
            if let Some(c) = comment {
                kv("comment", c);
            }
            if let Some(s) = shell {
                kv("shell", s);
            }
            if !groups.is_empty() {
                kv("groups", &groups.join(", "));
            }
        }
        ResourceKind::PrintQueue {
            queue,
            uri,
            server,
            location,
            description,
            shared,
            options,
            allowed_users,
        } => {
            kv("print_queue", queue);
            kv("uri", uri);
            if let Some(s) = server {
                kv("server", s);
            }
            if let Some(l) = location {
                kv("location", l);
            }
            if let Some(d) = description {
                kv("description", d);
            }
            kv("shared", &shared.to_string());
            for (k, v) in options {
                kv(&format!("option {k}"), v);
            }
            if !allowed_users.is_empty() {
                kv("allowed_users", &allowed_users.join(", "));
            }
        }
    }
    out
}
