//! `deskready audit` (drift: probes only, with the device's software, upgrades waiting,
//! last physical check and what is overdue, recorded; or physical audits due with --due /
//! --overdue) and `deskready seen` (a CSP saw the device, at its desk or elsewhere).

use std::io::BufRead;

use super::converge::{Selection, SshArgs, execute};
use super::{Ctx, Failure, Format};
use crate::ops::ExitStatus;
use crate::ops::audit::{self as ops_audit, Sightings};
use crate::ops::rollout::{self, AuditSettings};
use crate::report::text;

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub select: Selection,
    /// Devices whose next physical audit is due within the site's look-ahead, or past.
    #[arg(long, conflicts_with = "overdue")]
    pub due: bool,
    /// Devices whose next physical audit is past.
    #[arg(long)]
    pub overdue: bool,
    /// How many devices at once.
    #[arg(long, default_value_t = 64, value_name = "N", value_parser = super::at_least_one)]
    pub parallel: usize,
    #[command(flatten)]
    pub ssh: SshArgs,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["device", "scan"])))]
pub struct SeenArgs {
    /// The asset tag of the device seen.
    pub device: Option<String>,
    /// Where it was seen, when not at its own desk.
    #[arg(long)]
    pub desk: Option<String>,
    /// Read asset tags from standard input, one per line (walking a floor with a scanner).
    #[arg(long, conflicts_with = "device")]
    pub scan: bool,
}

pub(super) fn audit(ctx: &Ctx, a: AuditArgs) -> Result<ExitStatus, Failure> {
    if a.due || a.overdue {
        return physical(ctx, a.overdue, &a.select.settings());
    }
    let settings = AuditSettings {
        selection: a.select.settings(),
        parallel: a.parallel,
        ssh: a.ssh.settings(),
    };
    let rollout = rollout::audit(ctx, &settings)?;
    if !rollout.left_out().is_empty() && ctx.format == Format::Text {
        let names: Vec<String> = rollout
            .left_out()
            .iter()
            .map(|(tag, why)| format!("{tag} ({why})"))
            .collect();
        crate::report::err(&format!("left out, not in use: {}\n", names.join(", ")));
    }
    let single = rollout.devices() == 1 && ctx.format == Format::Text;
    let (done, kept, elapsed) = execute(ctx, rollout, single)?;
    if single {
        let row = &done.rows[0];
        if let Some(run) = kept.first() {
            crate::report::out(&text::device_run(run));
        } else if row.outcome == crate::model::Outcome::Refused {
            // Held by another command: refused, as configure is.
            return Err(crate::ops::Error::Refused(row.error.clone().unwrap_or_default()).into());
        } else if let Some(e) = &row.error {
            crate::report::err(&format!("error: {e}\n"));
        }
    } else if ctx.format == Format::Text {
        crate::report::out(&crate::report::recap(
            crate::engine::device::Mode::Audit,
            done.status,
            &done.rows,
            elapsed,
        ));
    }
    if done.status == crate::model::RunStatus::Interrupted {
        return Ok(ExitStatus::Interrupted);
    }
    Ok(ops_audit::drift_status(&done.rows))
}

fn physical(
    ctx: &Ctx,
    overdue_only: bool,
    selection: &crate::ops::select::Selection,
) -> Result<ExitStatus, Failure> {
    let due = ops_audit::due(ctx, overdue_only, selection)?;
    match ctx.format {
        Format::Json => {
            let rows: Vec<_> = due.audits.iter().map(|(p, _)| p).collect();
            println!(
                "{}",
                serde_json::to_string(&rows).map_err(anyhow::Error::from)?
            );
        }
        Format::Text => print!(
            "{}",
            text::physical_audits(&due.audits, due.interval_days, overdue_only)
        ),
    }
    Ok(due.status())
}

pub(super) fn seen(ctx: &Ctx, a: SeenArgs) -> Result<ExitStatus, Failure> {
    let sightings = Sightings::open(ctx)?;
    if let Some(at) = &a.desk {
        crate::ops::guard::one_line("--desk", at)?;
    }
    let desk = a.desk.as_deref();
    if !a.scan {
        let tag = a.device.as_deref().unwrap_or_default();
        let line = format!("{tag}: {}", sightings.seen(ctx, tag, desk)?);
        super::say(
            ctx,
            &line,
            serde_json::json!({ "device": a.device, "seen": line }),
        );
        return Ok(ExitStatus::Success);
    }
    // The exit status is the worst class met: failed 1, else bad input 2, else refused 3.
    let mut met = Vec::new();
    let mut scanned = 0;
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.map_err(anyhow::Error::from)?;
        let tag = line.trim();
        if tag.is_empty() {
            continue;
        }
        scanned += 1;
        match sightings.seen(ctx, tag, desk) {
            Ok(msg) => println!("{tag}: {msg}"),
            Err(e) => {
                eprintln!("line {}: {e}", n + 1);
                met.push(e.exit_status());
            }
        }
    }
    if scanned == 0 {
        return Err(Failure::BadInput(
            "nothing was scanned: standard input held no asset tag (one per line); nothing was recorded".into(),
        ));
    }
    Ok([
        ExitStatus::Failed,
        ExitStatus::BadInput,
        ExitStatus::Refused,
    ]
    .into_iter()
    .find(|s| met.contains(s))
    .unwrap_or(ExitStatus::Success))
}
