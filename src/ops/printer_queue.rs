//! A printer's queue follows its life: `retire` removes it from the print server, `return`
//! stops it and makes it refuse jobs; what happened is one journal row (`queue`). A print
//! server that cannot be reached does not stop the move: the row says the queue is left.
//!
//! Once per move, never twice: when the profile's hooks for that move (`on_retire`,
//! `on_return`, run by `ops::hooks`) name the printer's queue, they own it and this does
//! nothing (the hooks' own rules apply: an unreachable print server refuses the move
//! unless `--skip-device`). With `--skip-device` nothing is reached: the row says the
//! queue was left.
//!
//! A queue renamed in the inventory (its `queue` variable, or the print server it is on)
//! moves: the store remembers the queue each configure left in place for a printer
//! (`Store::printer_queue`); a rollout whose printer wants another queue gets one more
//! step after its queue's, removing the old queue (`state: absent`, skipped when the new
//! queue could not be made), and once both are done the move is one journal row (`queue`)
//! and the new name is remembered. A queue is the print server it is on and its name: the
//! address its scheduler answers at (`server`) is only how it is reached, and may change
//! (a print server restarted on another port keeps its tag). A queue remembered at another
//! address of the same print server is that queue (the address is remembered anew), and an
//! old name there is removed at the print server's address as it is now. Never prints.

use super::{Env, Error};
use crate::engine::device::{DeviceRun, Status};
use crate::engine::script::QueueDropped;
use crate::model::{DeviceKind, ResourceKind};
use crate::resolve::{Hook, resolve_hook};
use crate::resolve::{Resolved, ResolvedResource};
use crate::site::Site;
use crate::store::{Entry, PrinterQueue, Store, StoreError};

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
    if remove && matches!(what, QueueDropped::Removed | QueueDropped::Absent) {
        store.forget_printer_queue(tag)?;
    }
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

/// The name of the step removing a printer's old queue, after its queue resource `name`.
fn old_queue_step(name: &str, old: &str) -> String {
    format!("{name} (old name {old})")
}

/// The printer's own queue resource among `resolved`'s: a present print queue made on
/// another device (`via:`); its index, and the queue as it is wanted.
fn wanted_queue(resolved: &Resolved) -> Option<(usize, PrinterQueue)> {
    resolved
        .resources
        .iter()
        .enumerate()
        .find_map(|(i, r)| match (r.kind(), &r.resource.via) {
            (ResourceKind::PrintQueue { queue, server, .. }, Some(via)) if !r.resource.absent => {
                Some((
                    i,
                    PrinterQueue {
                        via: via.clone(),
                        server: server.clone().unwrap_or_default(),
                        queue: queue.clone(),
                    },
                ))
            }
            _ => None,
        })
}

/// Whether `old` and `new` are one queue: the same name on the same print server, wherever
/// its scheduler was reached.
fn same_queue(old: &PrinterQueue, new: &PrinterQueue) -> bool {
    old.via == new.via && old.queue == new.queue
}

/// Gives each printer of `resolved` whose queue is no longer the one the store remembers
/// for it (renamed, or on another print server) a step removing the old queue, right
/// after its queue's step; none when the old print server is no longer a device.
pub fn renames(site: &Site, store: &Store, resolved: &mut [Resolved]) -> Result<(), Error> {
    for r in resolved.iter_mut() {
        if site.device(&r.device).map(|d| d.kind) != Some(DeviceKind::Printer) {
            continue;
        }
        let Some((i, want)) = wanted_queue(r) else {
            continue;
        };
        let Some(old) = store.printer_queue(&r.device)? else {
            continue;
        };
        // The same queue; or one on a print server no longer in the inventory, which
        // cannot be reached to remove it (the new queue is remembered once made).
        if same_queue(&old, &want) || site.device(&old.via).is_none() {
            continue;
        }
        // On the same print server, the old queue is reached where its scheduler answers
        // now; on another, where that one was last reached.
        let old_server = if old.via == want.via {
            &want.server
        } else {
            &old.server
        };
        let mut gone: ResolvedResource = r.resources[i].clone();
        if let ResourceKind::PrintQueue { queue, server, .. } = &mut gone.resource.kind {
            queue.clone_from(&old.queue);
            *server = (!old_server.is_empty()).then(|| old_server.clone());
        }
        gone.resource.name = old_queue_step(r.resources[i].name(), &old.queue);
        gone.resource.via = Some(old.via.clone());
        gone.resource.absent = true;
        gone.resource.notify.clear();
        r.resources.insert(i + 1, gone);
    }
    Ok(())
}

/// After printer `resolved`'s configure `run`: remembers its queue when the queue's step
/// ended as wanted on a reached print server, and, when an old queue was to go and is
/// gone, journals the move (`queue`). An old queue still there keeps the old name
/// remembered, so that the next rollout removes it; one on a print server no longer in
/// the inventory is journalled as left, and forgotten.
pub fn settle(
    store: &Store,
    resolved: &Resolved,
    run: &DeviceRun,
    operator: &str,
    run_id: Option<i64>,
) -> Result<(), StoreError> {
    let Some((i, want)) = wanted_queue(resolved) else {
        return Ok(());
    };
    let done = |k: usize| {
        run.resources
            .get(k)
            .is_some_and(|o| matches!(o.status, Status::Ok | Status::Changed))
    };
    if !done(i) || !run.problems.is_empty() {
        return Ok(());
    }
    let old = store.printer_queue(&resolved.device)?;
    if let Some(old) = old.filter(|o| !same_queue(o, &want)) {
        let step = old_queue_step(resolved.resources[i].name(), &old.queue);
        let message = match run.resources.iter().position(|o| o.name == step) {
            Some(k) if !done(k) => return Ok(()),
            Some(_) => format!(
                "moved queue {} on {} to {} on {}",
                old.queue, old.via, want.queue, want.via
            ),
            // No step was given to remove it: its print server is no longer a device.
            None => format!(
                "queue {} on {} left as it was: {} is no longer in the inventory; now {} on {}",
                old.queue, old.via, old.via, want.queue, want.via
            ),
        };
        let mut row = Entry::new(&resolved.device, operator, "queue")
            .subject(&want.queue)
            .message(message);
        row.run_id = run_id;
        store.record(&[row])?;
    }
    store.set_printer_queue(&resolved.device, &want)
}
