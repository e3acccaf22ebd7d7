//! `deskready software` (what is installed on devices, and what changed since the last
//! time), `deskready upgrades` (what apt would upgrade, which are security updates, how old
//! the package index is) and `deskready upgrade` (a rollout that upgrades packages).

use super::converge::{Selection, SshArgs, ended, execute};
use super::{Ctx, Failure, Format};
use crate::model::Outcome;
use crate::ops::ExitStatus;
use crate::ops::rollout::Prepared;
use crate::ops::software::{self as ops, ReadSettings, UpgradeSettings};
use crate::report::{self, text};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  deskready software LAP-0003                 # what changed since its last inventory
  deskready software --group floor3 --list    # every package of every device
  deskready --format json software --all      # name, version, architecture, origin

Each run stores a snapshot per device; a change deskready made (an upgrade, a profile's
package) says so. Exit codes: 0 done, 1 a device failed or could not be reached, 3 a
device is held by another command.")]
pub struct SoftwareArgs {
    #[command(flatten)]
    pub select: Selection,
    /// Also list every package (name, version, architecture, origin).
    #[arg(long)]
    pub list: bool,
    /// How many devices at once.
    #[arg(long, default_value_t = 16, value_name = "N", value_parser = super::at_least_one)]
    pub parallel: usize,
    #[command(flatten)]
    pub ssh: SshArgs,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  deskready upgrades --all                    # ask every device (the index as it is)
  deskready upgrades LAP-0003 --refresh       # refresh its package index first
  deskready upgrades                          # what devices said when last asked

A security update is one whose candidate comes from an archive whose label or suite says
security (Debian-Security, bookworm-security). Exit codes: 0 nothing waits for security,
4 a device has security updates waiting, 1 a device failed or could not be reached.")]
pub struct UpgradesArgs {
    #[command(flatten)]
    pub select: Selection,
    /// Refresh each device's package index first (apt-get update); never done otherwise.
    #[arg(long)]
    pub refresh: bool,
    /// How many devices at once.
    #[arg(long, default_value_t = 16, value_name = "N", value_parser = super::at_least_one)]
    pub parallel: usize,
    #[command(flatten)]
    pub ssh: SshArgs,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  deskready upgrade --group floor3 --batch 1,25% --max-fail 1
  deskready upgrade --all --security-only --wait     # in each device's window
  deskready upgrade LAP-0003 --packages firefox-esr,libssl3
  deskready upgrade --resume                         # redo what did not succeed

Non-interactive: a changed configuration file is kept (--force-confold). Every package
version change is journaled (`deskready history`). Delivered devices are upgraded only in
their maintenance window, as for configure. Exit codes: 0 done, 1 a device failed,
3 refused (outside its window, held by another command), 130 interrupted.")]
pub struct UpgradeArgs {
    #[command(flatten)]
    pub select: Selection,
    /// Only the packages whose new version comes from a security archive.
    #[arg(long, conflicts_with = "packages")]
    pub security_only: bool,
    /// Only these packages (comma-separated), when installed.
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub packages: Vec<String>,
    /// Redo every device whose last upgrade did not succeed, whatever ran since.
    #[arg(long)]
    pub resume: bool,
    /// How many devices at once.
    #[arg(long, default_value_t = 64, value_name = "N", value_parser = super::at_least_one)]
    pub parallel: usize,
    /// Canary batches: sizes or percentages, comma-separated (`1,5,25%`).
    #[arg(long, value_delimiter = ',', value_name = "SIZES")]
    pub batch: Vec<String>,
    /// Stop when a batch has more failed devices than this (`N`, or `P%` of the batch).
    #[arg(long, value_name = "THRESHOLD")]
    pub max_fail: Option<String>,
    /// Try a device again this many times when it cannot be reached.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub retries: u32,
    /// Upgrade delivered devices even outside their maintenance window.
    #[arg(long)]
    pub now: bool,
    /// Wait for each delivered device's maintenance window to open, then upgrade it.
    #[arg(long, conflicts_with = "now")]
    pub wait: bool,
    #[command(flatten)]
    pub ssh: SshArgs,
}

pub(super) fn software(ctx: &Ctx, a: SoftwareArgs) -> Result<ExitStatus, Failure> {
    let rows = ops::inventory(
        ctx,
        &ReadSettings {
            selection: a.select.settings(),
            parallel: a.parallel,
            refresh: false,
            ssh: a.ssh.settings(),
        },
    )?;
    match ctx.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string(&rows).map_err(anyhow::Error::from)?
        ),
        Format::Text => report::out(&report::software::inventory(&rows, a.list)),
    }
    Ok(ops::read_status(rows.iter().map(|r| &r.outcome)))
}

pub(super) fn upgrades(ctx: &Ctx, a: UpgradesArgs) -> Result<ExitStatus, Failure> {
    let found = ops::upgrades(
        ctx,
        &ReadSettings {
            selection: a.select.settings(),
            parallel: a.parallel,
            refresh: a.refresh,
            ssh: a.ssh.settings(),
        },
    )?;
    match ctx.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string(&found).map_err(anyhow::Error::from)?
        ),
        Format::Text => report::out(&report::software::upgrades(&found)),
    }
    let status = ops::read_status(found.devices.iter().map(|r| &r.outcome));
    Ok(match status {
        ExitStatus::Success if !found.with_security.is_empty() => ExitStatus::Drift,
        s => s,
    })
}

pub(super) fn upgrade(ctx: &Ctx, a: UpgradeArgs) -> Result<ExitStatus, Failure> {
    let settings = UpgradeSettings {
        selection: a.select.settings(),
        resume: a.resume,
        security_only: a.security_only,
        packages: a.packages,
        parallel: a.parallel,
        batches: a.batch,
        max_fail: a.max_fail,
        retries: a.retries,
        now: a.now,
        wait: a.wait,
        ssh: a.ssh.settings(),
    };
    let rollout = match ops::upgrade(ctx, &settings)? {
        Prepared::NothingToResume => {
            println!("nothing to resume: the last upgrade of every device succeeded");
            return Ok(ExitStatus::Success);
        }
        Prepared::Ready(r) => *r,
    };
    let single = rollout.devices() == 1 && ctx.format == Format::Text;
    let (done, kept, elapsed) = execute(ctx, rollout, single)?;
    let rows = &done.rows;
    if single {
        let row = &rows[0];
        if let Some(run) = kept.first() {
            report::out(&text::device_run(run));
        } else if row.outcome == Outcome::Refused {
            return Err(crate::ops::Error::Refused(row.error.clone().unwrap_or_default()).into());
        } else if let Some(e) = &row.error {
            report::err(&format!("error: {e}\n"));
        }
        return Ok(ended(&done, row.outcome.succeeded()));
    }
    if ctx.format == Format::Text {
        report::out(&report::recap(
            crate::engine::device::Mode::Upgrade,
            done.status,
            rows,
            elapsed,
        ));
    }
    Ok(ended(&done, rows.iter().all(|r| r.outcome.succeeded())))
}
