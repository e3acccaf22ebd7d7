//! Rollouts shared by several machines at the edge: `deskready worker` (arguments to
//! `ops::queue::work`, its events printed, Ctrl-C), and following a queued run
//! (`configure --queue`, `configure --watch RUN`): the store polled, its progress and recap
//! shown through the rollout's own display, what it waits for said (no worker, a window),
//! Ctrl-C leaving the jobs queued; `configure --cancel RUN`.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};

use super::{Ctx, Failure, Format};
use crate::engine::device::Mode;
use crate::engine::fleet::{Event, Totals};
use crate::ops::ExitStatus;
use crate::ops::queue::{self, Enqueued, Watch, WorkerEvent, WorkerSettings};
use crate::ops::rollout::ConvergeSettings;
use crate::report::{self, Display};

/// `deskready worker`.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// How many devices at once on this machine.
    #[arg(long, default_value_t = 64, value_name = "N", value_parser = super::at_least_one)]
    pub parallel: usize,
    /// End when every job of every queued run is done (for tests and cron), instead of
    /// waiting for more.
    #[arg(long)]
    pub until_empty: bool,
}

/// How often the store is asked for news.
const POLL: Duration = Duration::from_millis(500);

/// How long jobs wait with no worker holding any before the follower says so.
const STALLED: Duration = Duration::from_secs(5);

/// Takes queued jobs until Ctrl-C (or, with `--until-empty`, until none is left). Exit
/// code 1 when a job it ran failed, 130 after Ctrl-C.
pub(super) fn worker(ctx: &Ctx, a: WorkerArgs) -> Result<ExitStatus, Failure> {
    let stop = Arc::new(AtomicBool::new(false));
    let json = ctx.format == Format::Json;
    listen_for_ctrl_c(stop.clone(), json)?;
    let settings = WorkerSettings {
        parallel: a.parallel.max(1),
        until_empty: a.until_empty,
        poll: POLL,
    };
    if !json {
        println!(
            "worker: taking queued jobs, {} at a time{}",
            settings.parallel,
            if a.until_empty {
                " until none is left"
            } else {
                " (Ctrl-C to stop)"
            }
        );
    }
    let on = |e: WorkerEvent| {
        if json {
            report::out(&format!(
                "{}\n",
                serde_json::to_string(&e).unwrap_or_default()
            ));
            return;
        }
        let line = match &e {
            WorkerEvent::Took {
                run_id,
                device,
                taken_over: Some(from),
            } => format!(
                "run {run_id}: {device} taken over from {from}, whose claim expired without a renewal"
            ),
            WorkerEvent::Took { .. } => return,
            WorkerEvent::Deferred {
                run_id,
                device,
                until,
            } => format!(
                "run {run_id}: {device} waits for its maintenance window (opens {}); back in the queue",
                crate::time::local_at(until)
            ),
            WorkerEvent::Done { run_id, row } => format!(
                "run {run_id}: {} {}{}",
                row.device,
                row.outcome,
                row.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ),
        };
        report::out(&format!("{line}\n"));
    };
    let summary = queue::work(ctx, &settings, &stop, &on)?;
    if json {
        report::out(&format!(
            "{}\n",
            serde_json::json!({ "event": "worker_finish", "jobs": summary.jobs, "failed": summary.failed })
        ));
    } else {
        println!(
            "worker: {} run, {} failed",
            crate::words::count(summary.jobs, "job"),
            summary.failed
        );
    }
    if stop.load(Ordering::SeqCst) {
        return Ok(ExitStatus::Interrupted);
    }
    Ok(ExitStatus::from_ok(summary.failed == 0))
}

/// Ctrl-C once: take no further job, let the running ones finish. Twice: end now (the
/// claims and leases of the jobs under way expire and other workers take them over).
fn listen_for_ctrl_c(stop: Arc<AtomicBool>, json: bool) -> Result<(), Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)?;
    let mut sigint = {
        let _runtime = rt.enter();
        signal(SignalKind::interrupt()).map_err(anyhow::Error::from)?
    };
    let say = move |text: &str| {
        if json {
            report::err(text);
        } else {
            report::out(text);
        }
    };
    std::thread::spawn(move || {
        rt.block_on(async move {
            if sigint.recv().await.is_none() {
                return;
            }
            stop.store(true, Ordering::SeqCst);
            say("Ctrl-C: no further job will be taken; the running ones finish (press Ctrl-C again to end now: their devices are taken over by other workers once their leases expire)\n");
            if sigint.recv().await.is_some() {
                std::process::exit(i32::from(ExitStatus::Interrupted.code()));
            }
        });
    });
    Ok(())
}

/// `configure --queue`: queues the run, then follows it unless `detach`.
pub(super) fn enqueue(
    ctx: &Ctx,
    settings: &ConvergeSettings,
    detach: bool,
) -> Result<ExitStatus, Failure> {
    let (run_id, devices, batches) = match queue::enqueue(ctx, settings)? {
        Enqueued::NothingToResume => {
            println!("nothing to resume: the last configure of every device succeeded");
            return Ok(ExitStatus::Success);
        }
        Enqueued::Queued {
            run_id,
            devices,
            batches,
        } => (run_id, devices, batches),
    };
    if detach {
        match ctx.format {
            Format::Json => println!(
                "{}",
                serde_json::json!({ "queued": true, "run_id": run_id, "devices": devices, "batches": batches })
            ),
            Format::Text => println!(
                "queued run {run_id}: {}; `deskready worker` on any machine with this store takes them; follow it with `deskready configure --watch {run_id}`",
                crate::words::count(devices, "device")
            ),
        }
        return Ok(ExitStatus::Success);
    }
    follow(ctx, Watch::new(ctx, run_id)?)
}

/// `configure --cancel RUN`.
pub(super) fn cancel(ctx: &Ctx, run_id: i64) -> Result<ExitStatus, Failure> {
    queue::cancel(ctx, run_id)?;
    match ctx.format {
        Format::Json => println!(
            "{}",
            serde_json::json!({ "cancelled": true, "run_id": run_id })
        ),
        Format::Text => println!(
            "cancelled run {run_id}: its jobs no worker had taken end not started; jobs under way finish (`deskready configure --watch {run_id}` follows them)"
        ),
    }
    Ok(ExitStatus::Success)
}

/// What a watched run waits for, when nothing is under way for it: said once per change,
/// so that a run no worker takes (none running, or none reaching this store) is seen.
/// `stalled`: jobs have been waiting with no worker holding any for [`STALLED`].
fn waiting_line(run_id: i64, p: &queue::Progress, stalled: bool) -> Option<String> {
    if p.ended.is_some() || p.stopped.is_some() {
        return None;
    }
    let stale: Vec<String> = p
        .workers
        .iter()
        .filter(|(_, alive)| !*alive)
        .map(|(h, _)| h.worker.clone())
        .collect();
    let mut parts = Vec::new();
    if stalled {
        parts.push(if p.idle_workers.is_empty() {
            format!(
                "{} waiting and no worker holds a job of this run: is `deskready worker` running on a machine with this store?",
                crate::words::count(p.waiting, "job")
            )
        } else {
            format!(
                "{} waiting and no worker holds a job of this run, though {} running",
                crate::words::count(p.waiting, "job"),
                crate::words::count_as(p.idle_workers.len(), "worker is", "workers are"),
            )
        });
    }
    if p.deferred > 0 {
        parts.push(format!(
            "{} back in the queue until a maintenance window opens{}",
            crate::words::count(p.deferred, "job"),
            p.next_window
                .map(|t| format!(" (the first {})", crate::time::local_at(&t.to_string())))
                .unwrap_or_default()
        ));
    }
    // (named when the run waits: stalled, or for a window; not at every pause between jobs)
    if !p.idle_workers.is_empty() && (stalled || p.deferred > 0) {
        parts.push(format!(
            "running with no job: {}",
            p.idle_workers.join("; ")
        ));
    }
    if !stale.is_empty() {
        parts.push(format!(
            "stopped renewing their claims (their jobs are taken over once their leases expire): {}",
            stale.join("; ")
        ));
    }
    (!parts.is_empty()).then(|| format!("run {run_id}: {}\n", parts.join("; ")))
}

/// `configure --watch RUN`.
pub(super) fn watch(ctx: &Ctx, run_id: i64) -> Result<ExitStatus, Failure> {
    follow(ctx, Watch::new(ctx, run_id)?)
}

/// Shows a queued run's progress as its workers report it in the store, until its last job
/// is done; then its recap, with a rollout's exit code. Ctrl-C stops following it and
/// leaves its jobs queued.
fn follow(ctx: &Ctx, watch: Watch) -> Result<ExitStatus, Failure> {
    // SAFETY: setting a signal's disposition to "ignore" has no handler to race with.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    let json = ctx.format == Format::Json;
    let display = Display::choose(json, false);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)?;
    let mut sigint = {
        let _runtime = rt.enter();
        signal(SignalKind::interrupt()).map_err(anyhow::Error::from)?
    };
    let run_id = watch.run_id();
    let ended = rt.block_on(async {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let screen = report::Screen::default();
        let display_task = tokio::spawn(report::consume(display, rx, screen.clone()));
        let mut shown: HashSet<String> = HashSet::new();
        let mut said: Option<String> = None;
        let mut idle_since: Option<std::time::Instant> = None;
        let mut started = false;
        loop {
            let p = watch.poll()?;
            if !started {
                let _ = tx.send(Event::Start {
                    mode: Mode::Configure,
                    run_id: Some(run_id),
                    devices: p.devices,
                    batches: p.batches.clone(),
                    parallel: 0,
                });
                started = true;
            }
            for row in &p.rows {
                if shown.insert(row.device.clone()) {
                    let _ = tx.send(Event::Done {
                        row: row.clone(),
                        run: None,
                    });
                }
            }
            // Jobs waiting while no worker holds any: stalled once it lasts.
            if p.waiting == 0 || p.workers.iter().any(|(_, alive)| *alive) {
                idle_since = None;
            } else if idle_since.is_none() {
                idle_since = Some(std::time::Instant::now());
            }
            let stalled = idle_since.is_some_and(|t| t.elapsed() >= STALLED);
            let waiting = waiting_line(run_id, &p, stalled);
            if waiting != said {
                if let Some(text) = &waiting {
                    if json { screen.say_err(text) } else { screen.say(text) }
                }
                said = waiting;
            }
            if let Some(status) = p.ended {
                // A print server found down, once, with every printer it held back.
                let mut down: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
                for r in &p.rows {
                    if let Some(server) = &r.print_server_down {
                        down.entry(server).or_default().push(r.device.clone());
                    }
                }
                for (server, mut printers) in down {
                    printers.sort();
                    let _ = tx.send(Event::PrintServerDown {
                        server: server.to_string(),
                        printers,
                    });
                }
                if let Some(reason) = &p.stopped {
                    let _ = tx.send(Event::Stopped {
                        reason: reason.clone(),
                    });
                }
                let mut totals = Totals::default();
                p.rows.iter().for_each(|r| totals.add(r.outcome));
                let _ = tx.send(Event::Finish {
                    status,
                    totals,
                    elapsed_ms: watch.elapsed_ms(),
                });
                drop(tx);
                let _ = display_task.await;
                return Ok::<_, Failure>(Some((p, status)));
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = sigint.recv() => {
                    let left = p.devices - p.rows.len();
                    let text = format!(
                        "Ctrl-C: no longer following run {run_id}; its {} left stay queued for the workers (follow it again with `deskready configure --watch {run_id}`)\n",
                        crate::words::count(left, "job")
                    );
                    if json { screen.say_err(&text) } else { screen.say(&text) }
                    drop(tx);
                    let _ = display_task.await;
                    return Ok(None);
                }
            }
        }
    })?;
    let Some((p, status)) = ended else {
        return Ok(ExitStatus::Interrupted);
    };
    if !json {
        report::out(&report::recap(
            Mode::Configure,
            status,
            &p.rows,
            watch.elapsed_ms(),
        ));
    }
    Ok(ExitStatus::from_ok(
        p.rows.iter().all(|r| r.outcome.succeeded()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(waiting: usize, idle: &[&str]) -> queue::Progress {
        queue::Progress {
            run_id: 7,
            devices: waiting,
            batches: vec![waiting],
            rows: Vec::new(),
            stopped: None,
            ended: None,
            waiting,
            deferred: 0,
            next_window: None,
            workers: Vec::new(),
            idle_workers: idle.iter().map(|w| w.to_string()).collect(),
        }
    }

    #[test]
    fn a_stalled_run_says_whether_workers_are_running_and_names_the_idle_ones() {
        assert_eq!(
            waiting_line(7, &progress(3, &[]), true).as_deref(),
            Some(
                "run 7: 3 jobs waiting and no worker holds a job of this run: is `deskready worker` running on a machine with this store?\n"
            )
        );
        assert_eq!(
            waiting_line(7, &progress(3, &["ana on pc1 (pid 9) since t"]), true).as_deref(),
            Some(
                "run 7: 3 jobs waiting and no worker holds a job of this run, though 1 worker is running; running with no job: ana on pc1 (pid 9) since t\n"
            )
        );
        // Waiting for a window: the idle workers are named too; a pause between jobs
        // says nothing.
        let mut p = progress(0, &["a", "b"]);
        assert_eq!(waiting_line(7, &p, false), None);
        p.deferred = 1;
        assert_eq!(
            waiting_line(7, &p, false).as_deref(),
            Some(
                "run 7: 1 job back in the queue until a maintenance window opens; running with no job: a; b\n"
            )
        );
    }
}
