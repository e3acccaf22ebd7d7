//! `deskready validate`: load everything, render every device, report every problem.

use std::collections::BTreeMap;
use std::process::ExitCode;

use super::{Ctx, Failure, Format};
use crate::load::{Diagnostic, Diagnostics};
use crate::site::Site;

pub fn run(ctx: &Ctx) -> Result<ExitCode, Failure> {
    let (site, diags) = validate(ctx);
    if diags.is_empty() {
        match ctx.format {
            Format::Json => println!(
                "{}",
                serde_json::json!({
                    "ok": true,
                    "devices": site.devices.len(),
                    "profiles": site.profiles.len(),
                    "templates": site.templates.names().count(),
                })
            ),
            Format::Text => println!(
                "site {} is valid: {} devices, {} profiles, {} templates",
                ctx.site_dir.display(),
                site.devices.len(),
                site.profiles.len(),
                site.templates.names().count()
            ),
        }
        return Ok(ExitCode::SUCCESS);
    }
    Err(Failure::Site(diags))
}

/// Every problem of the site: loading, then resolving every device that loaded.
/// The same template problem met by many devices is reported once, naming them. Also
/// returns the site as loaded (complete when there are no problems).
pub fn validate(ctx: &Ctx) -> (Site, Diagnostics) {
    let mut diags = Diagnostics::default();
    let site = crate::load::load_site_with(&ctx.site_dir, &mut diags);
    // (diagnostic without device) -> devices that met it
    let mut per_device: BTreeMap<(String, usize, usize, String, String), Vec<String>> =
        BTreeMap::new();
    for tag in site.devices.keys() {
        if let Err(ds) = crate::resolve::resolve(&site, tag, &ctx.vars) {
            for d in ds.0 {
                let suffix = format!(" (rendering for {tag})");
                match d.message.strip_suffix(&suffix) {
                    Some(msg) => per_device
                        .entry((d.file, d.line, d.column, d.path, msg.to_string()))
                        .or_default()
                        .push(tag.clone()),
                    None => diags.push(d),
                }
            }
        }
    }
    for ((file, line, column, path, msg), tags) in per_device {
        let who = match tags.as_slice() {
            [one] => one.clone(),
            [first, rest @ ..] => format!("{first} and {} more", rest.len()),
            [] => unreachable!(),
        };
        diags.push(Diagnostic {
            file,
            line,
            column,
            path,
            message: format!("{msg} (rendering for {who})"),
        });
    }
    (site, diags.sorted())
}
