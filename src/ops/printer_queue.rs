//! A printer's queue follows its life: `retire` removes it from the print server, `return`
//! stops it and makes it refuse jobs; what happened is one journal row (`queue`). A print
//! server that cannot be reached does not stop the move: the row says the queue is left.
//! Never prints.

use super::{Env, Error};
use crate::engine::script::QueueDropped;
use crate::model::DeviceKind;
use crate::site::Site;
use crate::store::{Entry, Store};

/// The journal row of what became of printer `tag`'s queue (`None` for a device that is
/// not a printer with a queue in its profile).
pub fn follow(
    env: &Env,
    site: &Site,
    store: &std::sync::Arc<Store>,
    tag: &str,
    remove: bool,
) -> Result<Option<Entry>, Error> {
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
