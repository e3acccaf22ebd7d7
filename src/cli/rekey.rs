//! `deskready rekey DEVICE`: accept a device's new host key on purpose.

use super::converge::SshArgs;
use super::{Ctx, Failure, say};
use crate::ops::ExitStatus;
use crate::ops::rekey::{RekeySettings, rekey};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The device's asset tag.
    pub device: String,
    #[command(flatten)]
    pub ssh: SshArgs,
}

pub(super) fn run(ctx: &Ctx, args: Args) -> Result<ExitStatus, Failure> {
    let settings = RekeySettings {
        device: args.device,
        ssh: args.ssh.settings(),
    };
    let r = rekey(ctx, &settings)?;
    let old = r.old.as_ref().map(|p| p.fingerprint.as_str());
    say(
        ctx,
        format!(
            "{}: pinned {} host key {} (was {})",
            r.device,
            r.new.key_type,
            r.new.fingerprint,
            old.unwrap_or("not pinned")
        ),
        serde_json::json!({
            "device": r.device,
            "old": old,
            "new": r.new.fingerprint,
            "key_type": r.new.key_type,
        }),
    );
    Ok(ExitStatus::Success)
}
