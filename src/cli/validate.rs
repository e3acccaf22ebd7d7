//! `deskready validate`: load everything, render every device, report every problem.

use super::{Ctx, Failure, Format};
use crate::ops::ExitStatus;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Also fetch every declared secret (environment, files, commands) and report those
    /// that cannot be fetched; by default secrets are not touched.
    #[arg(long)]
    pub secrets: bool,
}

pub(super) fn run(ctx: &Ctx, args: Args) -> Result<ExitStatus, Failure> {
    let (site, diags) = crate::ops::validate::validate(ctx, args.secrets);
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
                "site {} is valid: {}, {}, {}",
                ctx.site_dir.display(),
                crate::words::count(site.devices.len(), "device"),
                crate::words::count(site.profiles.len(), "profile"),
                crate::words::count(site.templates.names().count(), "template")
            ),
        }
        return Ok(ExitStatus::Success);
    }
    Err(Failure::Site(diags))
}
