//! `deskready plan` and `deskready configure`: one device or a fleet, over SSH. Also the
//! edge every rollout shares: the tokio runtime, Ctrl-C and the display of the event stream.

use std::time::{Duration, Instant};

use tokio::signal::unix::{Signal, SignalKind, signal};

use super::{Ctx, Failure, Format};
use crate::engine::device::{DeviceRun, Mode};
use crate::engine::fleet::Stop;
use crate::model::{Outcome, RunStatus};
use crate::ops::rollout::{
    self, Aborter, ConvergeSettings, Finished, Prepared, Rollout, SshSettings,
};
use crate::ops::{ExitStatus, select};
use crate::report::{self, Display, text};

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
    pub fn settings(&self) -> select::Selection {
        select::Selection {
            devices: self.devices.clone(),
            groups: self.group.clone(),
            all: self.all,
            limit: self.limit.clone(),
        }
    }
}

/// `plan`: what configure would change; only the options that mean something for it.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  deskready plan LAP-0003                      # one device, with diffs
  deskready plan --group floor4                # a floor
  deskready plan --all --exit-code             # in CI: exit 4 when anything would change

Exit codes: 0 nothing failed; with --exit-code, 0 nothing would change and 4 something
would (1 already means the work failed, so 4 is used, as for audit's drift).")]
pub struct PlanArgs {
    #[command(flatten)]
    pub select: Selection,
    /// Exit 4 when something would change, 0 when nothing would (as `git diff
    /// --exit-code` does, with 4 because 1 means the work failed).
    #[arg(long)]
    pub exit_code: bool,
    /// How many devices at once.
    #[arg(long, default_value_t = 64, value_name = "N", value_parser = super::at_least_one)]
    pub parallel: usize,
    /// Try a device again this many times when it cannot be reached (not for other errors).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub retries: u32,
    #[command(flatten)]
    pub ssh: SshArgs,
}

impl PlanArgs {
    /// The settings of a rollout that plans: no batches, threshold, windows or test pages.
    fn into_args(self) -> Args {
        Args {
            select: self.select,
            resume: false,
            parallel: self.parallel,
            batch: Vec::new(),
            max_fail: None,
            retries: self.retries,
            now: false,
            wait: false,
            test_page: false,
            queue: false,
            detach: false,
            watch: None,
            cancel: None,
            ssh: self.ssh,
        }
    }
}

/// `plan --exit-code`: nothing failed, but something would change.
pub(super) fn plan(ctx: &Ctx, a: PlanArgs) -> Result<ExitStatus, Failure> {
    let exit_code = a.exit_code;
    run_with(ctx, a.into_args(), Mode::Plan, exit_code)
}

/// `configure`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  deskready configure LAP-0003                           # one device
  deskready configure --group floor4 --batch 1,5,25% --max-fail 10%
  deskready configure --resume                           # redo what did not succeed
  deskready configure --group print-servers --wait       # in their maintenance window
  deskready configure --all --queue --max-fail 5         # jobs for `deskready worker`s
  deskready configure --all --queue --detach             # queue them and leave
  deskready configure --watch 12                         # follow queued run 12
  deskready configure --cancel 12                        # jobs not taken end not started

Nothing is changed by `deskready plan` (there is no --dry-run): run it first to see the diffs.")]
pub struct Args {
    #[command(flatten)]
    pub select: Selection,
    /// Redo every device whose last configure did not succeed (it failed, was unreachable,
    /// refused or not reached), whatever ran since.
    #[arg(long, alias = "failed")]
    pub resume: bool,
    /// How many devices at once.
    #[arg(long, default_value_t = 64, value_name = "N", value_parser = super::at_least_one)]
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
    /// Put one job per device into the store for `deskready worker`s (on any machine with
    /// this store) to take, then follow the run until every job is done.
    #[arg(long)]
    pub queue: bool,
    /// With --queue: do not follow the run; print its number and leave.
    #[arg(long, requires = "queue")]
    pub detach: bool,
    /// Follow queued run RUN until every job is done, then print its recap.
    #[arg(long, value_name = "RUN", conflicts_with_all = ["queue", "resume"])]
    pub watch: Option<i64>,
    /// Cancel queued run RUN: its jobs no worker has taken end `not started`, the ones
    /// under way finish, and the run ends with them.
    #[arg(long, value_name = "RUN", conflicts_with_all = ["queue", "resume", "watch"])]
    pub cancel: Option<i64>,
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
    pub fn settings(&self) -> SshSettings {
        SshSettings {
            connect_timeout: Duration::from_secs(self.connect_timeout),
            command_timeout: Duration::from_secs(self.command_timeout),
        }
    }
}

pub(super) fn run(ctx: &Ctx, args: Args, mode: Mode) -> Result<ExitStatus, Failure> {
    run_with(ctx, args, mode, false)
}

/// A rollout; with `exit_code` (plan), a pending change is exit 4 ([`ExitStatus::Drift`]).
fn run_with(ctx: &Ctx, args: Args, mode: Mode, exit_code: bool) -> Result<ExitStatus, Failure> {
    let settings = ConvergeSettings {
        mode,
        selection: args.select.settings(),
        resume: args.resume,
        parallel: args.parallel,
        batches: args.batch,
        max_fail: args.max_fail,
        retries: args.retries,
        now: args.now,
        wait: args.wait,
        test_page: args.test_page,
        ssh: args.ssh.settings(),
    };
    if let Some(run) = args.watch {
        return super::queue::watch(ctx, run);
    }
    if let Some(run) = args.cancel {
        return super::queue::cancel(ctx, run);
    }
    if args.queue {
        return super::queue::enqueue(ctx, &settings, args.detach);
    }
    let rollout = match rollout::converge(ctx, &settings)? {
        Prepared::NothingToResume => {
            println!("nothing to resume: the last configure of every device succeeded");
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
        return Ok(pending(
            ended(&done, row.outcome.succeeded()),
            exit_code,
            rows,
        ));
    }
    if ctx.format == Format::Text {
        report::out(&report::recap(mode, done.status, rows, elapsed));
    }
    Ok(pending(
        ended(&done, rows.iter().all(|r| r.outcome.succeeded())),
        exit_code,
        rows,
    ))
}

/// `--exit-code`: a successful plan with something to change ends [`ExitStatus::Drift`].
fn pending(
    status: ExitStatus,
    exit_code: bool,
    rows: &[crate::engine::fleet::RecapRow],
) -> ExitStatus {
    let changes = rows
        .iter()
        .any(|r| matches!(r.outcome, Outcome::Changed | Outcome::Drift));
    if exit_code && status == ExitStatus::Success && changes {
        ExitStatus::Drift
    } else {
        status
    }
}

/// The exit status of a rollout: interrupted (Ctrl-C) over the devices' outcomes.
pub(super) fn ended(done: &Finished, all_succeeded: bool) -> ExitStatus {
    if done.status == RunStatus::Interrupted {
        ExitStatus::Interrupted
    } else {
        ExitStatus::from_ok(all_succeeded)
    }
}

/// Runs `rollout` on a tokio runtime with the display for this output; returns how it
/// ended, the device runs kept for a single device's report, and the elapsed milliseconds.
///
/// The first Ctrl-C stops starting devices and lets the running ones finish (and says
/// so); the second aborts at once: every SSH session is closed (which cuts the remote
/// work), the devices being configured end `configure-failed`, the run is recorded
/// interrupted and the exit code is 130. A closed standard output (`| head`)
/// changes nothing for the devices: SIGPIPE is ignored while a rollout runs and output
/// stops quietly.
pub(super) fn execute(
    ctx: &Ctx,
    rollout: Rollout,
    single: bool,
) -> Result<(Finished, Vec<DeviceRun>, u64), Failure> {
    // SAFETY: setting a signal's disposition to "ignore" has no handler to race with.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    let display = Display::choose(ctx.format == Format::Json, single);
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(rollout.parallel() + 16)
        .build()
        .map_err(anyhow::Error::from)?;
    // Ctrl-C is ours from here on (no longer the default end of the process).
    let sigint = {
        let _runtime = rt.enter();
        signal(SignalKind::interrupt()).map_err(anyhow::Error::from)?
    };
    let (done, kept) = rt.block_on(async {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let screen = report::Screen::default();
        let display_task = tokio::spawn(report::consume(display, rx, screen.clone()));
        let stop = Stop::default();
        // What Ctrl-C does is said with the progress: on standard output as text, on
        // standard error beside NDJSON.
        let ctrl_c = tokio::spawn(on_ctrl_c(
            sigint,
            stop.clone(),
            rollout.aborter(),
            screen,
            ctx.format == Format::Json,
        ));
        let result = rollout.run(stop, tx).await;
        ctrl_c.abort();
        let kept = display_task.await.unwrap_or_default();
        result.map(|done| (done, kept))
    })?;
    Ok((done, kept, started.elapsed().as_millis() as u64))
}

/// Ctrl-C once: no further device starts, the running ones finish. Twice: abort now.
///
/// One SIGINT stream is listened to from before the rollout starts, so that no Ctrl-C is
/// lost between the first and the second.
async fn on_ctrl_c(
    mut sigint: Signal,
    stop: Stop,
    aborter: Aborter,
    screen: report::Screen,
    json: bool,
) {
    let say = |text: &str| {
        if json {
            screen.say_err(text);
        } else {
            screen.say(text);
        }
    };
    if sigint.recv().await.is_none() {
        return;
    }
    stop.request(
        "interrupted (Ctrl-C): no further device was started; running ones finished".into(),
    );
    say(
        "Ctrl-C: no further device will be started; the running ones finish (press Ctrl-C again to abort them now)\n",
    );
    if sigint.recv().await.is_none() {
        return;
    }
    say(
        "Ctrl-C again: aborting now: every device's session is closed; the devices being configured end configure-failed, the run is recorded interrupted\n",
    );
    stop.escalate(
        "aborted (Ctrl-C twice): no further device was started; running ones were cut".into(),
    );
    crate::transport::abort_all();
    // The sessions see the abort within a poll slice and the rollout ends as usual. Should
    // it not (a device stuck outside any session), record the abort and end anyway.
    std::thread::spawn(move || {
        std::thread::sleep(ABORT_GRACE);
        screen.clear();
        let reason = "aborted by a second Ctrl-C while it ran: the controller ended without waiting for it; what it changed is not recorded";
        if let Err(e) = aborter.abort(reason) {
            report::err(&format!("error: recording the abort: {e}\n"));
        }
        std::process::exit(i32::from(ExitStatus::Interrupted.code()));
    });
}

/// How long an aborted rollout may take to record its devices before the process ends
/// without it.
const ABORT_GRACE: Duration = Duration::from_secs(10);
