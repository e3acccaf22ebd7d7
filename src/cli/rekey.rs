//! `deskready rekey DEVICE`: accept a device's new host key on purpose.

use std::process::ExitCode;

use super::converge::SshArgs;
use super::{Ctx, Failure, Format};
use crate::transport::{HostKeyPins, Session};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The device's asset tag.
    pub device: String,
    #[command(flatten)]
    pub ssh: SshArgs,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode, Failure> {
    let site = ctx.load_site()?;
    let target =
        crate::engine::device::target_of(&site, &args.device).map_err(Failure::BadInput)?;
    let store = ctx.open_store()?;
    let pins: &dyn HostKeyPins = store.as_ref();
    let old = pins.pinned(&args.device).map_err(anyhow::Error::from)?;
    pins.forget(&args.device).map_err(anyhow::Error::from)?;
    let opts = args.ssh.options(store.clone());
    let session = match Session::connect(&target, &opts.ssh, pins) {
        Ok(s) => s,
        Err(e) => {
            // Put the old pin back: nothing changes when the new key could not be read.
            if let Some(p) = &old {
                let _ = pins.pin(&args.device, p);
            }
            return Err(Failure::Other(e.into()));
        }
    };
    let new = session.host_key();
    store.record(&[
        crate::store::Entry::new(&args.device, &ctx.operator, "rekey").message(format!(
            "accepted host key {} {} (was {})",
            new.key_type,
            new.fingerprint,
            old.as_ref()
                .map(|p| p.fingerprint.as_str())
                .unwrap_or("not pinned")
        )),
    ])?;
    match ctx.format {
        Format::Json => println!(
            "{}",
            serde_json::json!({
                "device": args.device,
                "old": old.as_ref().map(|p| &p.fingerprint),
                "new": new.fingerprint,
                "key_type": new.key_type,
            })
        ),
        Format::Text => println!(
            "{}: pinned {} host key {} (was {})",
            args.device,
            new.key_type,
            new.fingerprint,
            old.map(|p| p.fingerprint)
                .unwrap_or_else(|| "not pinned".into())
        ),
    }
    Ok(ExitCode::SUCCESS)
}
