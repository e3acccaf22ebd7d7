//! A profile's hooks on the device: what `return` (`on_return`) and `retire` (`on_retire`)
//! do there (remove the departing person's account, a queue, run a command), run over SSH
//! as one program like a configure, each change journaled; or, when the device cannot be
//! reached, skipped on purpose (`--skip-device`) and journaled as skipped. A device that
//! cannot be reached without `--skip-device` refuses the move and nothing is recorded; a
//! hook that fails refuses it too, after journaling what did change. The caller (the
//! lifecycle use case) holds the device's lock and records the move with [`Hooks::entries`].
//! Never prints.

use std::sync::Arc;

use super::Error;
use super::rollout::SshSettings;
use crate::engine::device::{self, Mode, Outcome, Status};
use crate::load::Diagnostics;
use crate::resolve::{Hook, resolve_hook};
use crate::secrets::Secrets;
use crate::site::Site;
use crate::store::{Entry, Store};

/// How a move's hooks are to be run.
#[derive(Debug, Clone, Default)]
pub struct HookSettings {
    /// Do not reach the device: record the hooks as skipped.
    pub skip_device: bool,
    pub ssh: SshSettings,
}

/// What a move's hooks did.
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    /// One line for the CSP ("on_return on LAP-0001: 2 changed, 1 already done"), or None
    /// when the profile has no such hooks.
    pub summary: Option<String>,
    /// Journal rows to record with the move: each resource changed, and the hooks' line.
    pub entries: Vec<Entry>,
}

/// Runs `tag`'s `hook` resources on the device (or records them skipped), for a move the
/// caller has already found legal and whose lock it holds.
pub fn run(
    env: &super::Env,
    site: &Site,
    store: &Arc<Store>,
    tag: &str,
    hook: Hook,
    settings: &HookSettings,
) -> Result<Hooks, Error> {
    let key = hook.key();
    let Some(device) = site.device(tag) else {
        return Ok(Hooks::default()); // left the inventory: no profile, no hooks
    };
    if device.profile.is_none() {
        return Ok(Hooks::default());
    }
    // Secrets are fetched only when a hook uses one: a return must not need the secrets
    // of the device's configure.
    let (resolved, secrets) = match resolve_hook(site, tag, hook, &env.vars, &Secrets::none()) {
        Ok(r) => (r, Secrets::none()),
        Err(_) => {
            let secrets =
                Secrets::fetch_for(site, &[tag]).map_err(|e| Error::Site(Diagnostics::from(e)))?;
            let r = resolve_hook(site, tag, hook, &env.vars, &secrets)
                .map_err(|d| Error::Site(d.sorted()))?;
            (r, secrets)
        }
    };
    if resolved.resources.is_empty() {
        return Ok(Hooks::default());
    }
    let names: Vec<&str> = resolved.resources.iter().map(|r| r.name()).collect();
    let row = |msg: String| {
        Entry::new(tag, &env.operator, "hooks")
            .subject(key)
            .message(msg)
    };
    if settings.skip_device {
        let msg = format!(
            "{key} skipped (--skip-device): not run on the device: {}",
            names.join(", ")
        );
        return Ok(Hooks {
            summary: Some(msg.clone()),
            entries: vec![row(msg)],
        });
    }
    let mut opts = settings.ssh.options(store.clone());
    opts.redactor = secrets.redactor();
    let run = device::run(site, &resolved, Mode::Configure, &opts, &|_, _| {});
    let mut entries: Vec<Entry> = super::configure::journal_rows(&run, &env.operator, None)
        .into_iter()
        .filter(|e| e.kind == "resource")
        .collect();
    let verb = match hook {
        Hook::Return => "return",
        Hook::Retire => "retire",
    };
    match run.outcome {
        Outcome::Ok | Outcome::Changed => {
            let msg = format!(
                "{key} on {tag}: {} changed, {} already done",
                run.count(Status::Changed),
                run.count(Status::Ok)
            );
            entries.push(row(msg.clone()));
            Ok(Hooks {
                summary: Some(msg),
                entries,
            })
        }
        Outcome::Unreachable => Err(Error::Refused(format!(
            "{tag} could not be reached to run its {key} hooks ({}); nothing was changed. When the device cannot be reached, `deskready {verb} {tag} --skip-device` records the move without them (journaled as skipped)",
            run.problems.joined()
        ))),
        _ => {
            let failed: Vec<String> = run
                .resources
                .iter()
                .filter(|r| r.status == Status::Failed)
                .map(|r| match &r.message {
                    Some(m) => format!("{}: {}", r.name, m.trim().replace('\n', " / ")),
                    None => r.name.clone(),
                })
                .collect();
            let why = if failed.is_empty() {
                run.problems.joined()
            } else {
                failed.join("; ")
            };
            entries.push(row(format!("{key} failed on {tag}: {why}")));
            store.record(&entries)?;
            Err(Error::Refused(format!(
                "{key} hook failed on {tag}: {why}; the {verb} is not recorded (what the hooks changed is journaled). Fix it and run `deskready {verb}` again, or give --skip-device to record it without the hooks"
            )))
        }
    }
}
