//! `deskready audit` (drift: probes only, recorded; or physical audits due with --due /
//! --overdue) and `deskready seen` (a CSP saw the device, at its desk or elsewhere).

use std::io::BufRead;
use std::process::ExitCode;

use super::converge::{Selection, SshArgs, execute, resolve_all};
use super::{Ctx, Failure, Format};
use crate::engine::device::Mode;
use crate::engine::fleet::{Admission, Job, Settings};
use crate::model::Outcome;
use crate::store::Entry;

/// Exit codes of `audit`, for cron and monitors.
pub const EXIT_DRIFT: u8 = 4;
pub const EXIT_UNREACHABLE: u8 = 5;

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
    #[arg(long, default_value_t = 64, value_name = "N")]
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

pub fn audit(ctx: &Ctx, a: AuditArgs) -> Result<ExitCode, Failure> {
    let site = ctx.load_site()?;
    let store = ctx.open_store()?;
    if a.due || a.overdue {
        return physical(ctx, &site, &store, a.overdue);
    }
    let tags = a.select.tags(&site)?;
    if tags.is_empty() {
        return Err(Failure::BadInput(
            "no devices selected: name devices, or use --group or --all (or --due / --overdue)"
                .into(),
        ));
    }
    let resolved = resolve_all(ctx, &site, &tags)?;
    let jobs: Vec<Job> = resolved
        .into_iter()
        .map(|r| Job {
            resolved: r,
            admission: Admission::Go,
        })
        .collect();
    let single = jobs.len() == 1 && ctx.format == Format::Text;
    let settings = Settings {
        mode: Mode::Audit,
        parallel: a.parallel.max(1),
        batches: Vec::new(),
        max_fail: None,
        operator: ctx.operator.clone(),
        ssh: a.ssh.options(store.clone()),
    };
    let (rows, _, kept, elapsed) = execute(ctx, site, store, jobs, settings, None, single)?;
    if single {
        if let Some(run) = kept.first() {
            print!("{}", super::converge::describe(run));
        } else if let Some(e) = &rows[0].error {
            eprintln!("error: {e}");
        }
    } else if ctx.format == Format::Text {
        print!("{}", crate::report::recap(&rows, elapsed));
    }
    let any = |r: Outcome| rows.iter().any(|x| x.outcome == r);
    Ok(if any(Outcome::Failed) || any(Outcome::Refused) {
        ExitCode::from(1)
    } else if any(Outcome::Unreachable) {
        ExitCode::from(EXIT_UNREACHABLE)
    } else if any(Outcome::Drift) {
        ExitCode::from(EXIT_DRIFT)
    } else {
        ExitCode::SUCCESS
    })
}

fn physical(
    ctx: &Ctx,
    site: &crate::site::Site,
    store: &crate::store::Store,
    overdue_only: bool,
) -> Result<ExitCode, Failure> {
    let all = crate::audit::physical(site, store, jiff::Timestamp::now())?;
    let rows: Vec<_> = all
        .into_iter()
        .filter(|p| {
            if overdue_only {
                p.status == crate::model::Due::Overdue
            } else {
                p.status != crate::model::Due::Ok
            }
        })
        .collect();
    match ctx.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string(&rows).map_err(anyhow::Error::from)?
        ),
        Format::Text => {
            let table: Vec<[String; 5]> = rows
                .iter()
                .map(|p| {
                    let when = if p.days_left < 0 {
                        format!("overdue by {} days", -p.days_left)
                    } else {
                        format!("due in {} days", p.days_left)
                    };
                    let loc = site
                        .device(&p.device)
                        .map(|d| d.location.describe())
                        .unwrap_or_default();
                    [
                        p.device.clone(),
                        when,
                        p.next_due.clone(),
                        p.last_seen.clone().unwrap_or_else(|| "never".into()),
                        loc,
                    ]
                })
                .collect();
            print!(
                "{}",
                super::table(
                    &["DEVICE", "PHYSICAL AUDIT", "DUE", "LAST SEEN", "LOCATION"],
                    &table
                )
            );
            println!(
                "{} device{} {} (every device is to be seen every {} days)",
                rows.len(),
                if rows.len() == 1 { "" } else { "s" },
                if overdue_only {
                    "overdue"
                } else {
                    "due or overdue"
                },
                site.settings.audit_interval_days
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn seen(ctx: &Ctx, a: SeenArgs) -> Result<ExitCode, Failure> {
    let site = ctx.load_site()?;
    let store = ctx.open_store()?;
    let record = |tag: &str| -> Result<String, Failure> {
        let d = super::known_device(&site, tag)?;
        let (subject, msg) = match (&a.desk, &d.location.desk) {
            (Some(at), Some(home)) if at != home => (
                "elsewhere",
                format!("seen at desk {at}; it belongs at desk {home}"),
            ),
            (Some(at), None) => ("seen", format!("seen at {at}")),
            (_, Some(home)) => ("at its place", format!("seen at its desk {home}")),
            (None, None) => ("at its place", format!("seen at {}", d.location.describe())),
        };
        store.record(&[Entry::new(tag, &ctx.operator, "seen")
            .subject(subject)
            .message(&msg)])?;
        Ok(format!("{tag}: {msg}"))
    };
    if !a.scan {
        let line = record(a.device.as_deref().unwrap_or_default())?;
        match ctx.format {
            Format::Json => println!(
                "{}",
                serde_json::json!({ "device": a.device, "seen": line })
            ),
            Format::Text => println!("{line}"),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = 0;
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.map_err(anyhow::Error::from)?;
        let tag = line.trim();
        if tag.is_empty() {
            continue;
        }
        match record(tag) {
            Ok(l) => println!("{l}"),
            Err(e) => {
                eprintln!("line {}: {e}", n + 1);
                failed += 1;
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
