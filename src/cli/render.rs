//! `deskready render DEVICE [--resource NAME] [--show-secrets]`: what would be written to
//! the device. Secrets show as `[secret NAME]` unless `--show-secrets`.

use super::{Ctx, Failure, Format};
use crate::ops::ExitStatus;
use crate::report::text;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The device's asset tag.
    pub device: String,
    /// Only this resource (its `name:`, or "KIND TARGET" such as "file /etc/hostname");
    /// for a file, prints its content alone.
    #[arg(long)]
    pub resource: Option<String>,
    /// Fetch the secrets the device uses and show the real content (otherwise each secret
    /// shows as `[secret NAME]` and nothing is fetched).
    #[arg(long)]
    pub show_secrets: bool,
}

pub(super) fn run(ctx: &Ctx, args: Args) -> Result<ExitStatus, Failure> {
    let rendered = crate::ops::validate::render(
        ctx,
        &args.device,
        args.resource.as_deref(),
        args.show_secrets,
    )?;
    let resolved = &rendered.resolved;
    let selected = rendered.selected();
    match ctx.format {
        Format::Json => {
            let v = serde_json::json!({
                "device": resolved.device,
                "profiles": resolved.profiles,
                "resources": selected,
                "verify": resolved.verify,
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&v).map_err(anyhow::Error::from)?
            );
        }
        Format::Text => {
            if let ([one], Some(_)) = (selected.as_slice(), &args.resource)
                && let Some(content) = one.content()
            {
                print!("{content}");
                return Ok(ExitStatus::Success);
            }
            println!(
                "# {} (profile {})",
                resolved.device,
                resolved.profiles.join(" < ")
            );
            for r in selected {
                print!("{}", text::resource(r));
            }
            if args.resource.is_none() && !resolved.verify.is_empty() {
                println!("\n== verify");
                for c in &resolved.verify {
                    println!("  {}: {}", c.name, c.command);
                }
            }
        }
    }
    Ok(ExitStatus::Success)
}
