//! `deskready locks` and `deskready unlock DEVICE --reason TEXT`.

use super::{Ctx, Failure, say, table};
use crate::ops::ExitStatus;
use crate::ops::leases;

#[derive(Debug, clap::Args)]
pub struct LocksArgs {}

#[derive(Debug, clap::Args)]
pub struct UnlockArgs {
    /// The device's asset tag.
    pub device: String,
    /// Why the lease is broken (journaled).
    #[arg(long)]
    pub reason: String,
}

pub(super) fn locks(ctx: &Ctx, _args: LocksArgs) -> Result<ExitStatus, Failure> {
    let all = leases::list(ctx)?;
    let json: Vec<serde_json::Value> = all
        .iter()
        .map(|l| {
            serde_json::json!({
                "device": l.device,
                "operator": l.holder.operator,
                "machine": l.holder.host,
                "pid": l.holder.pid,
                "purpose": l.holder.purpose.as_str(),
                "since": l.holder.since,
                "expires": l.holder.expires_at(),
                "expired": l.expired,
            })
        })
        .collect();
    let text = if all.is_empty() {
        "no device is held".to_string()
    } else {
        let rows: Vec<[String; 7]> = all
            .iter()
            .map(|l| {
                [
                    l.device.clone(),
                    l.holder.purpose.as_str().to_string(),
                    l.holder.operator.clone(),
                    l.holder.host.clone(),
                    l.holder.pid.to_string(),
                    l.holder.since.clone(),
                    if l.expired {
                        format!("{} (expired)", l.holder.expires_at())
                    } else {
                        l.holder.expires_at()
                    },
                ]
            })
            .collect();
        table(
            &[
                "DEVICE", "PURPOSE", "HOLDER", "MACHINE", "PID", "SINCE", "EXPIRES",
            ],
            &rows,
        )
        .trim_end()
        .to_string()
    };
    say(ctx, text, serde_json::json!({ "locks": json }));
    Ok(ExitStatus::Success)
}

pub(super) fn unlock(ctx: &Ctx, args: UnlockArgs) -> Result<ExitStatus, Failure> {
    let broken = leases::unlock(ctx, &args.device, &args.reason)?;
    let text = match &broken {
        Some(h) => format!(
            "{}: broke the lease of {} ({}); journaled",
            args.device,
            h.describe(),
            h.purpose.as_str()
        ),
        None => format!("{}: not held; nothing to break", args.device),
    };
    say(
        ctx,
        text,
        serde_json::json!({
            "device": args.device,
            "broken": broken.as_ref().map(|h| h.describe()),
        }),
    );
    Ok(ExitStatus::Success)
}
