//! `deskready plan DEVICE` and `deskready configure DEVICE`: one device, over SSH.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use super::{Ctx, Failure, Format};
use crate::engine::device::{self, DeviceRun, Mode, Options, Outcome, Status};
use crate::store::Store;
use crate::transport::SshOptions;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The device's asset tag.
    pub device: String,
    #[command(flatten)]
    pub ssh: SshArgs,
}

/// Connection settings shared by every command that reaches devices.
#[derive(Debug, Clone, clap::Args)]
pub struct SshArgs {
    /// Seconds to wait for a device to answer and complete the SSH handshake.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub connect_timeout: u64,
    /// Seconds a device's whole run may take once connected.
    #[arg(long, default_value_t = 600, value_name = "SECS")]
    pub command_timeout: u64,
}

impl SshArgs {
    /// Connection options, pinning host keys in `store`.
    pub fn options(&self, store: Arc<Store>) -> Options {
        Options {
            ssh: SshOptions {
                connect_timeout: Duration::from_secs(self.connect_timeout),
                command_timeout: Duration::from_secs(self.command_timeout),
                use_agent: true,
            },
            pins: store,
        }
    }
}

pub fn run(ctx: &Ctx, args: Args, mode: Mode) -> Result<ExitCode, Failure> {
    let site = ctx.load_site()?;
    if site.device(&args.device).is_none() {
        let tags: Vec<&str> = site.devices.keys().map(String::as_str).collect();
        return Err(Failure::BadInput(crate::load::diag::unknown(
            "device",
            &args.device,
            &tags,
        )));
    }
    // Everything is rendered before any device is touched: a template error stops here.
    let resolved =
        crate::resolve::resolve(&site, &args.device, &ctx.vars).map_err(Failure::Site)?;
    let store = ctx.open_store()?;
    let opts = args.ssh.options(store.clone());
    let run = match mode {
        Mode::Plan => device::run(&site, &resolved, mode, &opts, &|_, _| {}),
        Mode::Configure => crate::engine::lifecycle::configure(
            &store,
            &site,
            &resolved,
            &opts,
            &ctx.operator,
            None,
            &|_, _| {},
        )?,
    };
    match ctx.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&run).map_err(anyhow::Error::from)?
        ),
        Format::Text => print!("{}", describe(&run)),
    }
    Ok(match run.outcome {
        Outcome::Ok | Outcome::Changed => ExitCode::SUCCESS,
        Outcome::Failed | Outcome::Unreachable => ExitCode::from(1),
    })
}

/// A device's run as a CSP reads it: what changed (with diffs), what failed, a summary.
pub fn describe(run: &DeviceRun) -> String {
    let mut out = String::new();
    for r in &run.resources {
        let label = match r.status {
            Status::Ok => continue,
            Status::Drift => "would change",
            Status::Changed => "changed",
            Status::Failed => "FAILED",
            Status::Skipped => "skipped",
            Status::Unsupported => "unsupported",
            Status::Unreached => "unreached",
        };
        let on = if r.on != run.device {
            format!(" (on {})", r.on)
        } else {
            String::new()
        };
        out.push_str(&format!("  {label:<12} {}{on}\n", r.name));
        if let Some(diff) = &r.diff {
            for line in diff.lines() {
                out.push_str(&format!("               {line}\n"));
            }
        }
        if let Some(m) = &r.message {
            for line in m.lines() {
                out.push_str(&format!("               {line}\n"));
            }
        }
    }
    for c in &run.verify {
        let label = if c.passed { "pass" } else { "FAIL" };
        out.push_str(&format!("  verify {label:<5} {}\n", c.name));
        if !c.passed
            && let Some(o) = &c.output
        {
            for line in o.lines() {
                out.push_str(&format!("               {line}\n"));
            }
        }
    }
    for e in &run.errors {
        if !e.contains(" failed on ") && !e.starts_with("verify check") {
            out.push_str(&format!("  error: {e}\n"));
        }
    }
    let n = run.resources.len();
    let ok = run.count(Status::Ok);
    let summary = match (run.mode, run.outcome) {
        (_, Outcome::Unreachable) => "unreachable".to_string(),
        (Mode::Plan, Outcome::Ok) => {
            format!("nothing would change ({ok} of {n} resources as the profile says)")
        }
        (Mode::Plan, _) => format!("{} of {n} resources would change", run.count(Status::Drift)),
        (Mode::Configure, Outcome::Ok) => {
            format!("nothing changed ({ok} of {n} resources already as the profile says)")
        }
        (Mode::Configure, Outcome::Changed) => {
            format!("changed {} of {n} resources", run.count(Status::Changed))
        }
        (Mode::Configure, Outcome::Failed) => format!(
            "FAILED: {}",
            run.errors
                .first()
                .map(String::as_str)
                .unwrap_or("see above")
        ),
    };
    let passed = run.verify.iter().filter(|c| c.passed).count();
    let checks = if run.verify.is_empty() {
        String::new()
    } else {
        format!("; {passed} of {} checks passed", run.verify.len())
    };
    out.push_str(&format!(
        "{}: {summary}{checks} ({} connection{}, {} exec channel{}, {:.2}s)\n",
        run.device,
        run.connections,
        if run.connections == 1 { "" } else { "s" },
        run.channels,
        if run.channels == 1 { "" } else { "s" },
        run.elapsed_ms as f64 / 1000.0
    ));
    out
}
