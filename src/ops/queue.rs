//! Rollouts shared by several machines: `configure --queue` checks and queues one job per
//! device in the store ([`enqueue`]); `deskready worker` on any number of machines takes
//! jobs and runs each with the normal rollout rules ([`work`]: the run's batches, its
//! `--max-fail` threshold counted over every worker's results, maintenance windows
//! (`--now`, `--wait`), the device's lease); the command that queued it, or a later one,
//! follows the run's progress from the store ([`Watch`]), and any can end it ([`cancel`]).
//! Printers whose queues are on one print server are taken together (every job of theirs
//! ready in the run's batch, up to [`TOGETHER`]) and run as ONE program there, as a direct
//! rollout runs them (`Bookkeeper::work_batch`), each job then finished with its own result.
//! A worker renews its claims while it runs; one that dies leaves its jobs to be taken over
//! once its claims and leases expire. Never prints, handles no signal: a worker stops
//! taking jobs when told.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::Error;
use super::configure::Books;
use super::rollout::{self, ConvergeSettings, SshSettings};
use crate::engine::batch;
use crate::engine::device::{Mode, Step};
use crate::engine::fleet::{self, Admission, Bookkeeper, MaxFail, RecapRow, Settings};
use crate::model::{Outcome, RunStatus};
use crate::resolve::Resolved;
use crate::site::Site;
use crate::store::{Claim, Holder, Purpose, QueueJob, Store};

/// The most jobs whose work is on one print server a worker takes at once, to run as one
/// program there (a direct rollout's 200-printer batch takes about 4 s).
pub const TOGETHER: usize = 200;

/// The settings a queued run keeps for its workers: a configure's, as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    batches: Vec<String>,
    max_fail: Option<String>,
    retries: u32,
    now: bool,
    wait: bool,
    test_page: bool,
    connect_timeout_secs: u64,
    command_timeout_secs: u64,
}

impl Stored {
    fn of(s: &ConvergeSettings) -> Stored {
        Stored {
            batches: s.batches.clone(),
            max_fail: s.max_fail.clone(),
            retries: s.retries,
            now: s.now,
            wait: s.wait,
            test_page: s.test_page,
            connect_timeout_secs: s.ssh.connect_timeout.as_secs(),
            command_timeout_secs: s.ssh.command_timeout.as_secs(),
        }
    }

    fn converge(&self) -> ConvergeSettings {
        ConvergeSettings {
            mode: Mode::Configure,
            selection: Default::default(),
            resume: false,
            parallel: 1,
            batches: self.batches.clone(),
            max_fail: self.max_fail.clone(),
            retries: self.retries,
            now: self.now,
            wait: self.wait,
            test_page: self.test_page,
            ssh: SshSettings {
                connect_timeout: Duration::from_secs(self.connect_timeout_secs),
                command_timeout: Duration::from_secs(self.command_timeout_secs),
            },
        }
    }
}

/// What queueing did.
pub enum Enqueued {
    /// `--resume`: the last configure of every (selected) device succeeded.
    NothingToResume,
    /// The run's id, its devices and the size of each batch.
    Queued {
        run_id: i64,
        devices: usize,
        batches: Vec<usize>,
    },
}

/// Queues a configure (`s`, whose `parallel` is the workers' own): selects the devices as
/// a configure does (`--resume` included), resolves every one (a template error or a
/// secret that cannot be fetched stops all before anything is queued), checks the batches
/// and threshold, and starts the run with one job per device.
pub fn enqueue(env: &super::Env, s: &ConvergeSettings) -> Result<Enqueued, Error> {
    if s.mode != Mode::Configure {
        return Err(Error::BadInput("--queue goes with configure".into()));
    }
    let site = env.load_site()?;
    let store = env.open_store()?;
    let Some(tags) = rollout::selected(&site, &store, s)? else {
        return Ok(Enqueued::NothingToResume);
    };
    let (batches, _) = rollout::rules(s)?;
    let (resolved, _) = rollout::resolve_all(env, &site, &tags)?;
    let sizes = fleet::batch_sizes(tags.len(), &batches);
    let mut jobs = Vec::with_capacity(tags.len());
    // A printer whose queue is on a print server is taken with the others there.
    let mut tags = tags.into_iter().zip(&resolved);
    for (i, size) in sizes.iter().enumerate() {
        jobs.extend(tags.by_ref().take(*size).map(|(tag, r)| QueueJob {
            tag,
            batch: i + 1,
            work_on: batch::batch_key(&site, r),
        }));
    }
    let settings = serde_json::to_string(&Stored::of(s)).expect("settings serialise");
    let run_id = store.enqueue(&env.operator, &jobs, &settings)?;
    Ok(Enqueued::Queued {
        run_id,
        devices: jobs.len(),
        batches: sizes,
    })
}

/// `deskready worker`.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Jobs at once.
    pub parallel: usize,
    /// End when every job of every queued run is done, instead of waiting for more.
    pub until_empty: bool,
    /// How often to look for a job when none could be taken.
    pub poll: Duration,
}

/// What a worker is doing, as it happens.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WorkerEvent {
    /// It took a job; `taken_over`: from this worker, whose claim expired.
    Took {
        run_id: i64,
        device: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        taken_over: Option<String>,
    },
    /// The device's maintenance window is closed: the job goes back to the queue until then.
    Deferred {
        run_id: i64,
        device: String,
        until: String,
    },
    /// A job ended.
    Done {
        run_id: i64,
        #[serde(flatten)]
        row: RecapRow,
    },
}

/// What a worker did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WorkerSummary {
    pub jobs: usize,
    /// The jobs that ended failed, unreachable or refused.
    pub failed: usize,
}

/// Takes and runs queued jobs, `s.parallel` at once, until `stop` is set (or, with
/// `until_empty`, no job is left), telling `on` what happens.
pub fn work(
    env: &super::Env,
    s: &WorkerSettings,
    stop: &AtomicBool,
    on: &(dyn Fn(WorkerEvent) + Sync),
) -> Result<WorkerSummary, Error> {
    let store = env.open_store()?;
    let me = Holder::doing(&env.operator, Purpose::Configure);
    let lease = crate::store::lease_secs();
    let site = std::sync::Mutex::new(Arc::new(env.load_site()?));
    let finished = AtomicBool::new(false);
    let halted = AtomicBool::new(false);
    let summary = std::sync::Mutex::new(WorkerSummary::default());
    let worker = Worker {
        env,
        store: &store,
        me: &me,
        site: &site,
        on,
    };
    let stopped = || stop.load(Ordering::SeqCst) || halted.load(Ordering::SeqCst);
    let take_jobs = || -> Result<(), Error> {
        while !stopped() {
            // One job, or every ready job of printers on one print server.
            let claims = store.claim_together(&me, lease, TOGETHER)?;
            if claims.is_empty() {
                if s.until_empty && store.jobs_left()? == 0 {
                    break;
                }
                let until = Instant::now() + s.poll;
                while Instant::now() < until && !stopped() {
                    std::thread::sleep(Duration::from_millis(50));
                }
                continue;
            }
            for row in worker.run_all(claims)? {
                let mut sum = summary.lock().unwrap_or_else(|e| e.into_inner());
                sum.jobs += 1;
                sum.failed += usize::from(row.outcome.counts_as_failure());
            }
        }
        Ok(())
    };
    // Seen running (for `configure --watch`, whether it takes jobs or waits), renewed with
    // its claims, and forgotten when it ends.
    store.worker_seen(&me, crate::store::unix_now() + lease)?;
    let result = std::thread::scope(|scope| {
        // Claims are renewed every third of the lease time while the worker runs.
        scope.spawn(|| {
            let every = Duration::from_millis((lease * 1000 / 3).max(200) as u64);
            let mut last = Instant::now();
            while !finished.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
                if last.elapsed() >= every {
                    let until = crate::store::unix_now() + lease;
                    let _ = store.renew_claims(&me, until);
                    let _ = store.worker_seen(&me, until);
                    last = Instant::now();
                }
            }
        });
        let handles: Vec<_> = (0..s.parallel.max(1))
            .map(|_| {
                scope.spawn(|| -> Result<(), Error> {
                    // A thread that fails (the store gone) ends the others' taking too.
                    let r = take_jobs();
                    if r.is_err() {
                        halted.store(true, Ordering::SeqCst);
                    }
                    r
                })
            })
            .collect();
        let results: Vec<Result<(), Error>> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect();
        finished.store(true, Ordering::SeqCst);
        results.into_iter().collect::<Result<(), Error>>()
    });
    let _ = store.worker_gone(&me);
    result?;
    Ok(summary.into_inner().unwrap_or_else(|e| e.into_inner()))
}

/// What every job of a worker shares.
struct Worker<'a> {
    env: &'a super::Env,
    store: &'a Arc<Store>,
    me: &'a Holder,
    site: &'a std::sync::Mutex<Arc<Site>>,
    on: &'a (dyn Fn(WorkerEvent) + Sync),
}

impl Worker<'_> {
    /// The site, loaded again when it does not declare `tag` (a device received since, in a
    /// team store).
    fn site_for(&self, tag: &str) -> Result<Arc<Site>, Error> {
        let mut site = self.site.lock().unwrap_or_else(|e| e.into_inner());
        if site.device(tag).is_none() {
            *site = Arc::new(self.env.load_site()?);
        }
        Ok(site.clone())
    }

    /// Runs jobs `claims` (taken together: one run, one batch) and records each; a job
    /// that went back to the queue (its window is closed) has no row.
    fn run_all(&self, mut claims: Vec<Claim>) -> Result<Vec<RecapRow>, Error> {
        if claims.len() == 1 {
            return Ok(self.run(claims.remove(0))?.into_iter().collect());
        }
        self.run_together(claims)
    }

    /// The settings job `c`'s run was queued with, and its threshold.
    fn settings_of(&self, c: &Claim) -> Result<(ConvergeSettings, Option<MaxFail>), Error> {
        let stored: Stored = serde_json::from_str(&c.settings).map_err(|e| {
            Error::BadInput(format!(
                "queued run {} has settings this deskready cannot read: {e}",
                c.run_id
            ))
        })?;
        let cs = stored.converge();
        let (_, max_fail) = rollout::rules(&cs)?;
        Ok((cs, max_fail))
    }

    /// Says that job `c` was taken.
    fn took(&self, c: &Claim) {
        (self.on)(WorkerEvent::Took {
            run_id: c.run_id,
            device: c.tag.clone(),
            taken_over: c.taken_over.clone(),
        });
    }

    /// Why job `c` is recorded without running: its worker died and the run has stopped
    /// since.
    fn abandoned(c: &Claim) -> Option<String> {
        match (&c.taken_over, &c.stopped) {
            (Some(from), Some(why)) => Some(format!(
                "{from} stopped renewing its claim, and the run stopped since ({why}): not configured again"
            )),
            _ => None,
        }
    }

    /// Runs job `c` under the run's settings and records it; `None`: it went back to the
    /// queue (its window is closed).
    fn run(&self, c: Claim) -> Result<Option<RecapRow>, Error> {
        let started = Instant::now();
        let (run_id, tag) = (c.run_id, c.tag.clone());
        self.took(&c);
        let (cs, max_fail) = self.settings_of(&c)?;
        let books = Books {
            store: self.store.clone(),
            run_id: Some(run_id),
            notes: HashMap::new(),
            recheck: None,
        };
        let prepared = match Self::abandoned(&c) {
            // Recorded, not run again.
            Some(why) => Ok(Prepared::Abandoned(why)),
            None => self.prepare(&c, &cs),
        };
        let row = match prepared {
            Ok(Prepared::Abandoned(why)) => {
                fleet::recap_without_run(&tag, Outcome::Failed, Some(why))
            }
            Err(why) => fleet::recap_without_run(&tag, Outcome::Failed, Some(why.to_string())),
            Ok(Prepared::Refused(why)) => {
                fleet::recap_without_run(&tag, Outcome::Refused, Some(why))
            }
            Ok(Prepared::Deferred(until)) => {
                self.store.defer(run_id, &tag, self.me, until.as_second())?;
                (self.on)(WorkerEvent::Deferred {
                    run_id,
                    device: tag,
                    until: until.to_string(),
                });
                return Ok(None);
            }
            Ok(Prepared::Go(ready)) => {
                let Ready {
                    site,
                    resolved,
                    settings,
                    note,
                } = *ready;
                let books = Books {
                    store: self.store.clone(),
                    run_id: Some(run_id),
                    notes: note.map(|n| (tag.clone(), n)).into_iter().collect(),
                    recheck: None,
                };
                let observe = |_: &str, _: Step| {};
                let work = books.work(&site, &resolved, &settings, &observe);
                let elapsed = started.elapsed().as_millis() as u64;
                fleet::recap_of(&tag, elapsed, work).0
            }
        };
        self.finish(&c, &books, row, max_fail).map(Some)
    }

    /// Records job `c`'s end with its recap `row`: its run's device row (when its work did
    /// not write it), the job done (counted against the batch's threshold), and says so.
    fn finish(
        &self,
        c: &Claim,
        books: &Books,
        row: RecapRow,
        max_fail: Option<MaxFail>,
    ) -> Result<RecapRow, Error> {
        let (run_id, tag) = (c.run_id, c.tag.as_str());
        // A device row written with its work is kept; this settles the others.
        books.finished(tag, row.outcome, row.error.as_deref());
        let reason = |n: usize| {
            format!(
                "{} failed in batch {}, more than the {} allowed by --max-fail; no further device was started",
                crate::words::count(n, "device"),
                c.batch,
                max_fail.map_or(0, |m| m.allowed(c.batch_size))
            )
        };
        let threshold = max_fail.map(|m| m.allowed(c.batch_size));
        let recap = serde_json::to_string(&row).expect("a recap row serialises");
        self.store.complete(
            run_id,
            tag,
            self.me,
            row.outcome.counts_as_failure(),
            &recap,
            threshold.map(|a| (a, &reason as &(dyn Fn(usize) -> String + Sync))),
        )?;
        (self.on)(WorkerEvent::Done {
            run_id,
            row: row.clone(),
        });
        Ok(row)
    }

    /// Runs jobs `claims` of printers whose queues are on one print server as a direct
    /// rollout does: resolved at once, each admitted by its window, the admitted ones
    /// over one connection and one program there (`Bookkeeper::work_batch`: each one's
    /// lease, stage, journal and run row), then each job finished with its own result. A
    /// job that cannot go so (its device no longer the site's or no longer on that print
    /// server, a run stopped since its dead worker took it, a device that does not
    /// resolve) runs on its own, as any job.
    fn run_together(&self, claims: Vec<Claim>) -> Result<Vec<RecapRow>, Error> {
        let started = Instant::now();
        let run_id = claims[0].run_id;
        let (cs, max_fail) = self.settings_of(&claims[0])?;
        let site = self.site_for_all(&claims)?;
        let (mut alone, mut group): (Vec<Claim>, Vec<Claim>) = claims
            .into_iter()
            .partition(|c| Self::abandoned(c).is_some() || site.device(&c.tag).is_none());
        let tags: Vec<String> = group.iter().map(|c| c.tag.clone()).collect();
        let resolved = match rollout::resolve_all(self.env, &site, &tags) {
            Ok((mut resolved, secrets)) => {
                // A printer whose queue was renamed: its old queue goes after the new one.
                super::printer_queue::renames(&site, self.store, &mut resolved)?;
                Some((resolved, secrets))
            }
            Err(_) => None,
        };
        let mut rows = Vec::new();
        let Some((resolved, secrets)) = resolved else {
            // One does not resolve: each on its own, which says which.
            alone.append(&mut group);
            for c in alone {
                rows.extend(self.run(c)?);
            }
            return Ok(rows);
        };
        let on = resolved.iter().find_map(|r| batch::batch_key(&site, r));
        let mut go: Vec<(Claim, Resolved)> = Vec::new();
        let mut notes = HashMap::new();
        let mut settled: Vec<(Claim, RecapRow)> = Vec::new();
        for (c, r) in group.drain(..).zip(resolved) {
            if on.is_none() || batch::batch_key(&site, &r) != on {
                // Its queue moved to another print server since it was queued.
                alone.push(c);
                continue;
            }
            self.took(&c);
            let (admission, note) = rollout::admission(
                &site,
                self.store,
                &c.tag,
                jiff::Timestamp::now(),
                &cs,
                &c.operator,
            )?;
            match admission {
                Admission::Go => {
                    if let Some(n) = note {
                        notes.insert(c.tag.clone(), n);
                    }
                    go.push((c, r));
                }
                Admission::Refuse(why) => {
                    let row = fleet::recap_without_run(&c.tag, Outcome::Refused, Some(why));
                    settled.push((c, row));
                }
                Admission::WaitUntil { until } => {
                    self.store
                        .defer(run_id, &c.tag, self.me, until.as_second())?;
                    (self.on)(WorkerEvent::Deferred {
                        run_id,
                        device: c.tag.clone(),
                        until: until.to_string(),
                    });
                }
            }
        }
        let books = Books {
            store: self.store.clone(),
            run_id: Some(run_id),
            notes,
            recheck: None,
        };
        if let Some(on) = on.filter(|_| !go.is_empty()) {
            let settings = self.settings(&cs, &go[0].0.operator, secrets.redactor());
            let observe = |_: &str, _: Step| {};
            let refs: Vec<&Resolved> = go.iter().map(|(_, r)| r).collect();
            let results = books.work_batch(&site, &on, &refs, &settings, &observe);
            for ((c, _), work) in go.into_iter().zip(results) {
                // Its own time: a printer that did not answer was done before the program.
                let own = work
                    .as_ref()
                    .map_or_else(|_| started.elapsed().as_millis() as u64, |r| r.elapsed_ms);
                let row = fleet::recap_of(&c.tag, own, work).0;
                settled.push((c, row));
            }
        }
        for (c, row) in settled {
            rows.push(self.finish(&c, &books, row, max_fail)?);
        }
        for c in alone {
            rows.extend(self.run(c)?);
        }
        Ok(rows)
    }

    /// The site, loaded again when it does not declare one of `claims`' devices.
    fn site_for_all(&self, claims: &[Claim]) -> Result<Arc<Site>, Error> {
        let mut site = self.site.lock().unwrap_or_else(|e| e.into_inner());
        if claims.iter().any(|c| site.device(&c.tag).is_none()) {
            *site = Arc::new(self.env.load_site()?);
        }
        Ok(site.clone())
    }

    /// A worker's rollout settings for run settings `cs` queued by `operator`.
    fn settings(
        &self,
        cs: &ConvergeSettings,
        operator: &str,
        redactor: crate::secrets::Redactor,
    ) -> Settings {
        let mut ssh = cs.ssh.options(self.store.clone());
        ssh.retries = cs.retries;
        ssh.test_page = cs.test_page;
        ssh.redactor = redactor;
        Settings {
            mode: Mode::Configure,
            parallel: 1,
            batches: Vec::new(),
            max_fail: None,
            operator: operator.to_string(),
            ssh,
        }
    }

    /// Resolves job `c`'s device and admits it by its maintenance window.
    fn prepare(&self, c: &Claim, cs: &ConvergeSettings) -> Result<Prepared, Error> {
        let site = self.site_for(&c.tag)?;
        if site.device(&c.tag).is_none() {
            return Ok(Prepared::Refused(format!(
                "{} is not a device of this worker's site",
                c.tag
            )));
        }
        let (mut resolved, secrets) =
            rollout::resolve_all(self.env, &site, std::slice::from_ref(&c.tag))?;
        // A printer whose queue was renamed: its old queue goes after the new one is made.
        super::printer_queue::renames(&site, self.store, &mut resolved)?;
        let (admission, note) = rollout::admission(
            &site,
            self.store,
            &c.tag,
            jiff::Timestamp::now(),
            cs,
            &c.operator,
        )?;
        match admission {
            Admission::Go => {}
            Admission::Refuse(why) => return Ok(Prepared::Refused(why)),
            Admission::WaitUntil { until } => return Ok(Prepared::Deferred(until)),
        }
        let settings = self.settings(cs, &c.operator, secrets.redactor());
        Ok(Prepared::Go(Box::new(Ready {
            site,
            resolved: resolved.remove(0),
            settings,
            note,
        })))
    }
}

/// A job ready to run, or why not.
enum Prepared {
    Go(Box<Ready>),
    Refused(String),
    Deferred(jiff::Timestamp),
    /// Taken over from a dead worker after the run stopped: recorded failed, not run.
    Abandoned(String),
}

/// A job's device resolved and admitted, with the settings to run it.
struct Ready {
    site: Arc<Site>,
    resolved: crate::resolve::Resolved,
    settings: Settings,
    note: Option<crate::store::Entry>,
}

/// Follows a queued run from the store.
pub struct Watch {
    store: Arc<Store>,
    run_id: i64,
    started: Instant,
}

/// Where a watched run stands: every row done so far (not started ones included), its
/// batches and devices, why it stopped and how it ended (`None`: still running).
pub struct Progress {
    pub run_id: i64,
    pub devices: usize,
    pub batches: Vec<usize>,
    pub rows: Vec<RecapRow>,
    pub stopped: Option<String>,
    pub ended: Option<RunStatus>,
    /// Jobs no worker has taken yet (a stalled queue when no worker holds any).
    pub waiting: usize,
    /// Jobs back in the queue until a maintenance window opens, and the earliest opening.
    pub deferred: usize,
    pub next_window: Option<jiff::Timestamp>,
    /// The workers holding jobs of the run, each with whether it still renews its claims.
    pub workers: Vec<(crate::store::Holding, bool)>,
    /// The workers running now that hold no job (waiting for one).
    pub idle_workers: Vec<String>,
}

/// Cancels queued run `run_id` as `env`'s operator: its jobs not taken yet end not
/// started, the ones under way finish. Refused when the run has ended.
pub fn cancel(env: &super::Env, run_id: i64) -> Result<(), Error> {
    let store = env.open_store()?;
    if store.queue_progress(run_id)?.is_none() {
        return Err(Error::BadInput(format!(
            "there is no queued run {run_id} in the store"
        )));
    }
    let reason = format!(
        "cancelled by {} (configure --cancel {run_id}): no further device was started",
        env.operator
    );
    if !store.cancel_queued(run_id, &reason)? {
        return Err(Error::Refused(format!(
            "queued run {run_id} has ended already; nothing to cancel"
        )));
    }
    Ok(())
}

impl Watch {
    /// Watches queued run `run_id`, refused when there is no such run.
    pub fn new(env: &super::Env, run_id: i64) -> Result<Watch, Error> {
        let store = env.open_store()?;
        if store.queue_progress(run_id)?.is_none() {
            return Err(Error::BadInput(format!(
                "there is no queued run {run_id} in the store"
            )));
        }
        Ok(Watch {
            store,
            run_id,
            started: Instant::now(),
        })
    }

    pub fn run_id(&self) -> i64 {
        self.run_id
    }

    /// How long it has been watched, milliseconds.
    pub fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Where the run stands now.
    pub fn poll(&self) -> Result<Progress, Error> {
        let p = self
            .store
            .queue_progress(self.run_id)?
            .ok_or_else(|| Error::BadInput(format!("queued run {} is gone", self.run_id)))?;
        let rows = p
            .done
            .iter()
            .map(|(tag, recap)| {
                recap
                    .as_deref()
                    .and_then(|r| serde_json::from_str::<RecapRow>(r).ok())
                    .unwrap_or_else(|| fleet::recap_without_run(tag, Outcome::NotStarted, None))
            })
            .collect();
        Ok(Progress {
            run_id: p.run_id,
            devices: p.devices,
            batches: p.batches,
            rows,
            stopped: p.stopped,
            ended: (p.status != RunStatus::Running).then_some(p.status),
            waiting: p.waiting,
            deferred: p.deferred,
            next_window: p
                .next_window
                .and_then(|t| jiff::Timestamp::from_second(t).ok()),
            workers: p
                .holders
                .into_iter()
                .map(|h| {
                    let alive = h.expires >= crate::store::unix_now();
                    (h, alive)
                })
                .collect(),
            idle_workers: p.idle,
        })
    }
}
