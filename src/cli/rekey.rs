//! `deskready rekey DEVICE`: accept a device's new host key on purpose.

use super::converge::SshArgs;
use super::{Ctx, Failure, say};
use crate::ops::ExitStatus;
use crate::ops::rekey::{RekeySettings, rekey};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The device's asset tag.
    pub device: String,
    /// The new key's fingerprint as read on the device itself (`ssh-keygen -lf
    /// /etc/ssh/ssh_host_ed25519_key.pub` on its console): a key without it is refused.
    #[arg(long, value_name = "SHA256:…", value_parser = fingerprint)]
    pub fingerprint: Option<String>,
    #[command(flatten)]
    pub ssh: SshArgs,
}

pub(super) fn run(ctx: &Ctx, args: Args) -> Result<ExitStatus, Failure> {
    let settings = RekeySettings {
        device: args.device,
        ssh: args.ssh.settings(),
        fingerprint: args.fingerprint,
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

/// A fingerprint as OpenSSH prints it: `SHA256:` and 43 base64 characters.
fn fingerprint(s: &str) -> Result<String, String> {
    let body = s.strip_prefix("SHA256:").unwrap_or("");
    if body.len() == 43
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
    {
        Ok(s.to_string())
    } else {
        Err(
            "expected SHA256: and 43 base64 characters, as `ssh-keygen -lf KEY.pub` prints it"
                .into(),
        )
    }
}
