//! Checking the site and showing what would be written: `validate` (every problem of the
//! site, including rendering every device) and `render` (one device's resolved resources).
//! Reads only; never prints. Secrets are stand-ins (`[secret NAME]`) unless asked for:
//! `validate` then fetches every declared one, `render` the ones its device uses.

use std::collections::BTreeMap;

use super::{Env, Error, known_device};
use crate::load::{Diagnostic, Diagnostics};
use crate::resolve::{Resolved, ResolvedResource};
use crate::secrets::Secrets;
use crate::site::Site;

/// Every problem of the site: loading, then resolving every device that loaded (secrets
/// as stand-ins). With `fetch_secrets`, also every declared secret that cannot be
/// fetched. The same template problem met by many devices is reported once, naming them.
/// Also returns the site as loaded (complete when there are no problems).
pub fn validate(env: &Env, fetch_secrets: bool) -> (Site, Diagnostics) {
    let mut diags = Diagnostics::default();
    // A team store's receipts and assignments are part of the site.
    let overlay = super::records::team_overlay(env).unwrap_or_else(|e| {
        diags.push(crate::load::Diagnostic::new(
            "",
            crate::model::Pos { line: 0, col: 0 },
            "",
            format!("cannot read the team store's receipts and assignments: {e}"),
        ));
        crate::load::Overlay::default()
    });
    let site = crate::load::load_site_with_over(&env.site_dir, &mut diags, &overlay);
    if fetch_secrets && let Err(e) = Secrets::fetch(&site, site.secrets.keys().map(String::as_str))
    {
        for d in Diagnostics::from(e).0 {
            diags.push(d);
        }
    }
    let stand_ins = Secrets::placeholders(&site);
    // (diagnostic without device) -> devices that met it
    let mut per_device: BTreeMap<(String, usize, usize, String, String), Vec<String>> =
        BTreeMap::new();
    for tag in site.devices.keys() {
        let problems = match crate::resolve::resolve_with(&site, tag, &env.vars, &stand_ins) {
            Err(ds) => ds.0,
            // A device handed to a person: its sheet's guides must render too.
            Ok(resolved) if site.devices[tag].assignee.is_some() => {
                crate::handoff::guide_problems(&site, &resolved)
            }
            Ok(_) => Vec::new(),
        };
        for d in problems {
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

/// One device's resolved resources, or the one asked for.
pub struct Rendered {
    pub resolved: Resolved,
    selected: Vec<usize>,
}

impl Rendered {
    /// The resources shown: all, or those matching the one asked for.
    pub fn selected(&self) -> Vec<&ResolvedResource> {
        self.selected
            .iter()
            .map(|&i| &self.resolved.resources[i])
            .collect()
    }
}

/// Resolves `device`; with `resource` (its `name:`, or "KIND TARGET"), only that one.
/// Secrets show as `[secret NAME]`, unless `show_secrets`: then they are fetched and the
/// real content is rendered.
pub fn render(
    env: &Env,
    device: &str,
    resource: Option<&str>,
    show_secrets: bool,
) -> Result<Rendered, Error> {
    let site = env.load_site()?;
    known_device(&site, device)?;
    let secrets = if show_secrets {
        Secrets::fetch_for(&site, &[device]).map_err(|e| Error::Site(Diagnostics::from(e)))?
    } else {
        Secrets::placeholders(&site)
    };
    let resolved =
        crate::resolve::resolve_with(&site, device, &env.vars, &secrets).map_err(Error::Site)?;
    let selected: Vec<usize> = match resource {
        None => (0..resolved.resources.len()).collect(),
        Some(name) => {
            let found: Vec<usize> = (0..resolved.resources.len())
                .filter(|&i| resolved.resources[i].name() == name)
                .collect();
            if found.is_empty() {
                let names: Vec<&str> = resolved.resources.iter().map(|r| r.name()).collect();
                return Err(Error::BadInput(format!(
                    "{} (device {device})",
                    crate::load::diag::unknown("resource", name, &names),
                )));
            }
            found
        }
    };
    Ok(Rendered { resolved, selected })
}
