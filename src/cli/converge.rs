//! `deskready plan` and `deskready configure`: one device or a fleet, over SSH.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Ctx, Failure, Format};
use crate::engine::device::{DeviceRun, Mode, Options, Outcome, Status};
use crate::engine::fleet::{self, Admission, Job, MaxFail, Settings, Size, Stop};
use crate::load::Diagnostics;
use crate::model::local_time;
use crate::report::{self, Display};
use crate::site::Site;
use crate::store::{Entry, Store};
use crate::transport::SshOptions;

/// Which devices a command works on.
#[derive(Debug, clap::Args)]
pub struct Selection {
    /// Devices by asset tag.
    pub devices: Vec<String>,
    /// Every device in this group (repeatable).
    #[arg(long)]
    pub group: Vec<String>,
    /// Every device of the site.
    #[arg(long)]
    pub all: bool,
    /// Only the selected devices whose tag matches one of these patterns (comma-separated
    /// globs: `LAP-00*,PS-?001`).
    #[arg(long, value_delimiter = ',', value_name = "PATTERNS")]
    pub limit: Vec<String>,
}

impl Selection {
    pub fn tags(&self, site: &Site) -> Result<Vec<String>, Failure> {
        select(site, &self.devices, &self.group, self.all, &self.limit)
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub select: Selection,
    /// Redo only the devices that failed, were unreachable or were not reached in the last
    /// configure run.
    #[arg(long, alias = "failed")]
    pub resume: bool,
    /// How many devices at once.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub parallel: usize,
    /// Canary batches: sizes or percentages, comma-separated (`1,5,25%`); after the last
    /// size given, that size repeats for the rest.
    #[arg(long, value_delimiter = ',', value_name = "SIZES")]
    pub batch: Vec<String>,
    /// Stop when a batch has more failed devices than this (`N`, or `P%` of the batch).
    #[arg(long, value_name = "THRESHOLD")]
    pub max_fail: Option<String>,
    /// Try a device again this many times when it cannot be reached (not for other errors).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub retries: u32,
    /// Change delivered devices even outside their maintenance window.
    #[arg(long)]
    pub now: bool,
    /// Wait for each delivered device's maintenance window to open, then change it.
    #[arg(long, conflicts_with = "now")]
    pub wait: bool,
    /// After configuring a printer, print a test page through its queue and wait until the
    /// job completes.
    #[arg(long)]
    pub test_page: bool,
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
            retries: 0,
            test_page: false,
            transport: Arc::new(crate::transport::Ssh),
        }
    }
}

/// The devices a command names: tags, groups, `--all`, then `--limit`.
pub fn select(
    site: &Site,
    devices: &[String],
    groups: &[String],
    all: bool,
    limit: &[String],
) -> Result<Vec<String>, Failure> {
    let mut out: Vec<String> = Vec::new();
    for d in devices {
        out.push(super::known_device(site, d)?.tag.clone());
    }
    for g in groups {
        super::known_group(site, g)?;
        out.extend(site.group_members(g).map(|d| d.tag.clone()));
    }
    if all {
        out.extend(site.devices.keys().cloned());
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|t| seen.insert(t.clone()));
    if !limit.is_empty() {
        let pats: Vec<glob::Pattern> = limit
            .iter()
            .map(|p| {
                glob::Pattern::new(p.trim())
                    .map_err(|e| Failure::BadInput(format!("--limit `{p}`: {e}")))
            })
            .collect::<Result<_, _>>()?;
        out.retain(|t| pats.iter().any(|p| p.matches(t)));
    }
    Ok(out)
}

pub fn run(ctx: &Ctx, args: Args, mode: Mode) -> Result<ExitCode, Failure> {
    let site = ctx.load_site()?;
    let store = ctx.open_store()?;
    let mut tags = args.select.tags(&site)?;
    if args.resume {
        if mode == Mode::Plan {
            return Err(Failure::BadInput("--resume goes with configure".into()));
        }
        let Some(last) = store.last_run("configure")? else {
            return Err(Failure::BadInput(
                "there is no earlier configure run to resume".into(),
            ));
        };
        let redo: Vec<String> = last
            .devices
            .iter()
            .filter(|(_, outcome)| !matches!(outcome, Some(Outcome::Ok | Outcome::Changed)))
            .map(|(t, _)| t.clone())
            .filter(|t| site.device(t).is_some())
            .collect();
        if tags.is_empty() {
            tags = redo;
        } else {
            tags.retain(|t| redo.contains(t));
        }
        if tags.is_empty() {
            println!(
                "nothing to resume: every device of run {} succeeded",
                last.id
            );
            return Ok(ExitCode::SUCCESS);
        }
    }
    if tags.is_empty() {
        return Err(Failure::BadInput(
            "no devices selected: name devices, or use --group, --all or --resume".into(),
        ));
    }
    let sizes: Vec<Size> = args
        .batch
        .iter()
        .map(|b| Size::parse(b))
        .collect::<Result<_, _>>()
        .map_err(Failure::BadInput)?;
    let max_fail = args
        .max_fail
        .as_deref()
        .map(MaxFail::parse)
        .transpose()
        .map_err(|e| Failure::BadInput(format!("--max-fail {e}")))?;

    let resolved = resolve_all(ctx, &site, &tags)?;

    let now = jiff::Timestamp::now();
    let mut jobs = Vec::new();
    for r in resolved {
        let admission = if mode == Mode::Configure {
            admission(&site, &store, &r.device, now, &args, &ctx.operator)?
        } else {
            Admission::Go
        };
        jobs.push(Job {
            resolved: r,
            admission,
        });
    }

    let single = jobs.len() == 1 && ctx.format == Format::Text;
    let mut opts = args.ssh.options(store.clone());
    opts.retries = args.retries;
    opts.test_page = args.test_page;
    let settings = Settings {
        mode,
        parallel: args.parallel.max(1),
        batches: sizes,
        max_fail,
        operator: ctx.operator.clone(),
        ssh: opts,
    };
    let run_id = match mode {
        Mode::Configure => Some(store.start_run("configure", &ctx.operator, &tags)?),
        Mode::Plan | Mode::Audit => None,
    };
    let (rows, status, kept, elapsed) =
        execute(ctx, site, store.clone(), jobs, settings, run_id, single)?;
    if let Some(id) = run_id {
        store.finish_run(id, status)?;
    }

    if single {
        let row = &rows[0];
        if let Some(run) = kept.first() {
            print!("{}", describe(run));
        } else if row.outcome == Outcome::Refused {
            return Err(Failure::Refused(row.error.clone().unwrap_or_default()));
        } else if let Some(e) = &row.error {
            eprintln!("error: {e}");
        }
        return Ok(if row.outcome.succeeded() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    if ctx.format == Format::Text {
        print!("{}", report::recap(&rows, elapsed));
    }
    Ok(if rows.iter().all(|r| r.outcome.succeeded()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Resolves every device first: one template error anywhere stops all, before any device
/// is touched.
pub fn resolve_all(
    ctx: &Ctx,
    site: &Site,
    tags: &[String],
) -> Result<Vec<crate::resolve::Resolved>, Failure> {
    let mut diags = Diagnostics::default();
    let mut resolved = Vec::new();
    for t in tags {
        match crate::resolve::resolve(site, t, &ctx.vars) {
            Ok(r) => resolved.push(r),
            Err(d) => d.0.into_iter().for_each(|x| diags.push(x)),
        }
    }
    if !diags.is_empty() {
        return Err(Failure::Site(diags.sorted()));
    }
    Ok(resolved)
}

/// Runs `jobs` on a tokio runtime with the display for this output; returns the recap
/// rows, how the run ended, the device runs kept for a single device's report, and the
/// elapsed milliseconds.
pub fn execute(
    ctx: &Ctx,
    site: Site,
    store: Arc<Store>,
    jobs: Vec<Job>,
    settings: Settings,
    run_id: Option<i64>,
    single: bool,
) -> Result<
    (
        Vec<fleet::RecapRow>,
        crate::store::RunStatus,
        Vec<DeviceRun>,
        u64,
    ),
    Failure,
> {
    let display = Display::choose(ctx.format == Format::Json, single);
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(settings.parallel + 16)
        .build()
        .map_err(anyhow::Error::from)?;
    let site = Arc::new(site);
    let (rows, status, kept) = rt.block_on(async {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let display_task = tokio::spawn(report::consume(display, rx, describe));
        let stop = Stop::default();
        let ctrl_c = fleet::stop_on_ctrl_c(stop.clone());
        let result = fleet::rollout(
            site.clone(),
            store.clone(),
            jobs,
            settings,
            run_id,
            stop,
            tx,
        )
        .await;
        ctrl_c.abort();
        let kept = display_task.await.unwrap_or_default();
        result.map(|(rows, status)| (rows, status, kept))
    })?;
    Ok((rows, status, kept, started.elapsed().as_millis() as u64))
}

/// Whether `tag` may be changed now: delivered devices only inside their maintenance
/// window, unless `--now` (recorded in the journal) or `--wait`.
fn admission(
    site: &Site,
    store: &Store,
    tag: &str,
    now: jiff::Timestamp,
    args: &Args,
    operator: &str,
) -> Result<Admission, Failure> {
    if !store.at_desk(tag)? {
        return Ok(Admission::Go);
    }
    let device = site.device(tag).expect("selected from the site");
    let Some((window, source)) = site.window_of(device) else {
        return Ok(Admission::Go);
    };
    if window.contains(now) {
        return Ok(Admission::Go);
    }
    let next = window.next_open(now);
    if args.now {
        store.record(&[Entry::new(tag, operator, "note").message(format!(
            "changed outside its maintenance window ({}, from {source}) with --now",
            window.describe()
        ))])?;
        return Ok(Admission::Go);
    }
    match (args.wait, next) {
        (true, Some(at)) => Ok(Admission::WaitUntil {
            until: at.timestamp(),
        }),
        (_, next) => Ok(Admission::Refuse(format!(
            "{tag} is at its desk (delivered) and outside its maintenance window ({}, from {source}); it next opens {}; use --now to change it anyway, or --wait to wait for it",
            window.describe(),
            next.map_or("never".to_string(), |z| local_time(&z, &window.tz_name))
        ))),
    }
}

/// A device's run as a CSP reads it: what changed (with diffs), what failed, a summary.
pub fn describe(run: &DeviceRun) -> String {
    let mut out = String::new();
    for r in &run.resources {
        let label = match r.status {
            Status::Ok => continue,
            Status::Drift if run.mode == Mode::Audit => "drifted",
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
    for e in run.problems.iter() {
        if !e.is_resource_or_check() {
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
        (Mode::Configure, _) => format!(
            "FAILED: {}",
            run.problems
                .first()
                .map_or_else(|| "see above".to_string(), ToString::to_string)
        ),
        (Mode::Audit, Outcome::Ok) => format!("clean ({ok} of {n} resources as the profile says)"),
        (Mode::Audit, Outcome::Changed | Outcome::Drift) => format!(
            "DRIFT: {} of {n} resources differ from the profile",
            run.count(Status::Drift)
        ),
        (Mode::Audit, _) => format!(
            "FAILED: {}",
            run.problems
                .first()
                .map_or_else(|| "see above".to_string(), ToString::to_string)
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
