//! A printer's queue follows its life: `retire` removes it from the print server, `return`
//! stops it and makes it refuse jobs; what happened is one journal row (`queue`). A print
//! server that cannot be reached does not stop the move: the row says the queue is left.
//!
//! Once per move, never twice: when the profile's hooks for that move (`on_retire`,
//! `on_return`, run by `ops::hooks`) name the printer's queue, they own it and this does
//! nothing (the hooks' own rules apply: an unreachable print server refuses the move
//! unless `--skip-device`). With `--skip-device` nothing is reached: the row says the
//! queue was left. Never prints.

use super::{Env, Error};
use crate::engine::script::QueueDropped;
use crate::model::{DeviceKind, ResourceKind};
use crate::resolve::{Hook, resolve_hook};
use crate::site::Site;
use crate::store::{Entry, Store};

/// The journal row of what became of printer `tag`'s queue on `hook`'s move (`Retire`
/// removes it, `Return` disables it); `None` for a device that is not a printer with a
/// queue in its profile, or whose hooks for that move name its queue. `skip_device`: the
/// print server is not reached, the row says the queue was left.
pub fn follow(
    env: &Env,
    site: &Site,
    store: &std::sync::Arc<Store>,
    tag: &str,
    hook: Hook,
    skip_device: bool,
) -> Result<Option<Entry>, Error> {
    let remove = hook == Hook::Retire;
    let Some(d) = site.device(tag) else {
        return Ok(None);
    };
    if d.kind != DeviceKind::Printer {
        return Ok(None);
    }
    let (resolved, secrets) = super::rollout::resolve_all(env, site, &[tag.to_string()])?;
    let Some(resolved) = resolved.into_iter().next() else {
        return Ok(None);
    };
    let Some((queue, on)) = queue_of(&resolved) else {
        return Ok(None);
    };
    // The profile's hooks for this move handle the queue themselves.
    if let Ok(hooked) = resolve_hook(site, tag, hook, &env.vars, &secrets)
        && queue_of(&hooked).is_some_and(|(q, _)| q == queue)
    {
        return Ok(None);
    }
    if skip_device {
        return Ok(Some(
            Entry::new(tag, &env.operator, "queue")
                .subject(&queue)
                .message(format!(
                    "queue {queue} on {on} left as it was: --skip-device"
                )),
        ));
    }
    let ssh = super::rollout::SshSettings {
        connect_timeout: std::time::Duration::from_secs(10),
        command_timeout: std::time::Duration::from_secs(60),
    };
    let mut opts = ssh.options(store.clone());
    opts.redactor = secrets.redactor();
    let Some((queue, on, what)) = crate::engine::device::drop_queue(site, &resolved, remove, &opts)
    else {
        return Ok(None);
    };
    let message = match what {
        QueueDropped::Removed => format!("removed queue {queue} on {on}"),
        QueueDropped::Disabled => format!("disabled queue {queue} on {on} (it refuses jobs)"),
        QueueDropped::Absent => format!("queue {queue} on {on} was already gone"),
        QueueDropped::ServerDown => format!(
            "queue {queue} on {on} left as it was: the print server's scheduler does not answer"
        ),
        QueueDropped::Failed { why } => format!(
            "queue {queue} on {on} left as it was: {}",
            opts.redactor.redact(&why)
        ),
    };
    Ok(Some(
        Entry::new(tag, &env.operator, "queue")
            .subject(&queue)
            .message(message),
    ))
}

/// The print queue among `resolved`'s resources: its name and the device it is on.
fn queue_of(resolved: &crate::resolve::Resolved) -> Option<(String, String)> {
    resolved.resources.iter().find_map(|r| match r.kind() {
        ResourceKind::PrintQueue { queue, .. } => Some((
            queue.clone(),
            r.resource
                .via
                .clone()
                .unwrap_or_else(|| resolved.device.clone()),
        )),
        _ => None,
    })
}
