//! `deskready devices`: the inventory as a table.

use super::{Ctx, Failure, Format};
use crate::ops::ExitStatus;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only devices in this group.
    #[arg(long)]
    pub group: Option<String>,
}

pub(super) fn run(ctx: &Ctx, args: Args) -> Result<ExitStatus, Failure> {
    let site = ctx.load_site()?;
    if let Some(g) = &args.group {
        crate::ops::known_group(&site, g)?;
    }
    let devices: Vec<_> = match &args.group {
        Some(g) => site.group_members(g).collect(),
        None => site.devices.values().collect(),
    };
    match ctx.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&devices).map_err(anyhow::Error::from)?
        ),
        Format::Text => print!("{}", crate::report::text::devices(&devices)),
    }
    Ok(ExitStatus::Success)
}
