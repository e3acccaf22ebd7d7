//! Many devices at once: tokio tasks bounded by a semaphore, each device's blocking SSH
//! session in `spawn_blocking`, canary batches, a failure threshold, stop requests ([`Stop`]:
//! the threshold, or the caller's Ctrl-C), and a stream of [`Event`]s that displays consume.
//! Never prints and handles no signal.
//!
//! Batches run one after another; after the sizes given, the last size repeats. The
//! threshold is per batch and is checked each time a device finishes: once the batch under
//! way has more failed (or unreachable) devices than it allows, no further device starts,
//! devices already running finish, and no later batch starts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{Semaphore, mpsc, watch};

use super::batch;
use super::device::{self, DeviceRun, Mode, Options, Step};
use crate::model::{Outcome, RunStatus};
use crate::resolve::Resolved;
use crate::site::Site;

/// A batch size: a number of devices or a share of all of them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Size {
    Count(usize),
    Percent(f64),
}

impl Size {
    /// `5` or `25%`.
    pub fn parse(s: &str) -> Result<Size, String> {
        let s = s.trim();
        let bad = || format!("`{s}` is not a number of devices (5) or a percentage (25%)");
        match s.strip_suffix('%') {
            Some(p) => {
                let v: f64 = p.trim().parse().map_err(|_| bad())?;
                if !(v > 0.0 && v <= 100.0) {
                    return Err(format!(
                        "`{s}`: a percentage is more than 0 and at most 100"
                    ));
                }
                Ok(Size::Percent(v))
            }
            None => s.parse().map(Size::Count).map_err(|_| bad()),
        }
    }

    fn of(self, total: usize) -> usize {
        match self {
            Size::Count(n) => n,
            Size::Percent(p) => ((p / 100.0) * total as f64).ceil() as usize,
        }
    }
}

/// The sizes of the batches for `total` devices: the sizes given, then the last size
/// repeated; every batch holds at least one device.
pub fn batch_sizes(total: usize, sizes: &[Size]) -> Vec<usize> {
    if sizes.is_empty() {
        return if total == 0 { vec![] } else { vec![total] };
    }
    let mut out = Vec::new();
    let mut left = total;
    let mut i = 0;
    while left > 0 {
        let size = sizes[i.min(sizes.len() - 1)].of(total).clamp(1, left);
        out.push(size);
        left -= size;
        i += 1;
    }
    out
}

/// How many failures a batch may have before the rollout stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxFail {
    /// More than N failed devices in a batch stop it.
    Count(usize),
    /// More than P% of a batch's devices failed stop it.
    Percent(f64),
}

impl MaxFail {
    pub fn parse(s: &str) -> Result<MaxFail, String> {
        match Size::parse(s) {
            Ok(Size::Count(n)) => Ok(MaxFail::Count(n)),
            Ok(Size::Percent(p)) => Ok(MaxFail::Percent(p)),
            Err(_) if s.trim() == "0%" => Ok(MaxFail::Percent(0.0)),
            Err(e) => Err(e),
        }
    }

    /// Failures a batch of `size` may have (more than this trips the threshold).
    pub fn allowed(self, size: usize) -> usize {
        match self {
            MaxFail::Count(n) => n,
            MaxFail::Percent(p) => ((p / 100.0) * size as f64).floor() as usize,
        }
    }
}

/// Whether a device may run now.
#[derive(Debug, Clone)]
pub enum Admission {
    Go,
    /// Wait until this moment (its maintenance window opens), then go.
    WaitUntil {
        until: jiff::Timestamp,
    },
    /// Do not run it; why.
    Refuse(String),
}

/// One line of the recap (read back from a queued run's jobs, too).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RecapRow {
    pub device: String,
    pub outcome: Outcome,
    pub changed: usize,
    /// Each resource that would change, changed or drifted, with what differs
    /// ("owner card: content").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
    pub elapsed_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The print server found down that this printer's queue is on (its queue was not
    /// changed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub print_server_down: Option<String>,
}

/// What happened, as it happens.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Start {
        mode: Mode,
        #[serde(skip_serializing_if = "Option::is_none")]
        run_id: Option<i64>,
        devices: usize,
        batches: Vec<usize>,
        /// Devices at once (0: a queued run, worked on by its workers).
        parallel: usize,
    },
    Batch {
        index: usize,
        size: usize,
    },
    Waiting {
        device: String,
        until: String,
    },
    Phase {
        device: String,
        /// The device the work is on, when another (`via:`, such as a printer's print
        /// server).
        #[serde(skip_serializing_if = "Option::is_none")]
        on: Option<String>,
        phase: Step,
    },
    Done {
        #[serde(flatten)]
        row: RecapRow,
        /// The device's whole run (resources, diffs, checks), when it ran.
        #[serde(skip_serializing_if = "Option::is_none")]
        run: Option<Box<DeviceRun>>,
    },
    Stopped {
        reason: String,
    },
    /// A print server whose scheduler did not answer, once, with every printer whose
    /// queue on it was therefore not changed (at the end of the rollout).
    PrintServerDown {
        server: String,
        printers: Vec<String>,
    },
    Finish {
        status: RunStatus,
        totals: Totals,
        elapsed_ms: u64,
    },
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Totals {
    pub ok: usize,
    pub changed: usize,
    pub drift: usize,
    pub failed: usize,
    pub unreachable: usize,
    pub refused: usize,
    pub not_started: usize,
}

impl Totals {
    /// Counts one more device that ended so.
    pub fn add(&mut self, r: Outcome) {
        match r {
            Outcome::Ok => self.ok += 1,
            Outcome::Changed => self.changed += 1,
            Outcome::Drift => self.drift += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Unreachable => self.unreachable += 1,
            Outcome::Refused => self.refused += 1,
            Outcome::NotStarted => self.not_started += 1,
        }
    }
    pub fn all_succeeded(&self) -> bool {
        self.failed + self.unreachable + self.refused + self.not_started == 0
    }
}

/// Settings of one rollout.
#[derive(Clone)]
pub struct Settings {
    pub mode: Mode,
    pub parallel: usize,
    pub batches: Vec<Size>,
    pub max_fail: Option<MaxFail>,
    pub operator: String,
    pub ssh: Options,
}

/// One device to work on.
pub struct Job {
    pub resolved: Resolved,
    pub admission: Admission,
}

/// Stop requests: the threshold or Ctrl-C.
#[derive(Clone)]
pub struct Stop {
    tx: Arc<watch::Sender<Option<String>>>,
}

impl Default for Stop {
    fn default() -> Self {
        Stop {
            tx: Arc::new(watch::channel(None).0),
        }
    }
}

impl Stop {
    /// Asks the rollout to stop starting devices (the first reason wins).
    pub fn request(&self, reason: String) {
        self.tx.send_if_modified(|r| {
            if r.is_none() {
                *r = Some(reason);
                true
            } else {
                false
            }
        });
    }
    /// Stops for a graver reason than any given before (an abort after a stop), which
    /// replaces it.
    pub fn escalate(&self, reason: String) {
        self.tx.send_replace(Some(reason));
    }
    pub fn reason(&self) -> Option<String> {
        self.tx.borrow().clone()
    }
}

/// Why a device's work did not run to a device run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkError {
    /// Its stage or another run's lock does not allow it; nothing was changed.
    #[error("{0}")]
    Refused(String),
    /// Its bookkeeping failed.
    #[error("{0}")]
    Failed(String),
}

/// What a rollout leaves to its caller: one device's work with its bookkeeping (lock,
/// stage, journal), and the run record's row for each device. The engine knows no store.
pub trait Bookkeeper: Send + Sync {
    /// Does one device's work; blocking, called on a blocking thread.
    fn work(
        &self,
        site: &Site,
        resolved: &Resolved,
        settings: &Settings,
        observe: &(dyn Fn(&str, Step) + Sync),
    ) -> Result<DeviceRun, WorkError>;
    /// Does the work of several printers whose work all runs on device `on` (see
    /// [`batch::batch_key`]) together, over one connection and one program there;
    /// blocking. One result per device, in the order given. By default one by one.
    fn work_batch(
        &self,
        site: &Site,
        on: &str,
        resolved: &[&Resolved],
        settings: &Settings,
        observe: &(dyn Fn(&str, Step) + Sync),
    ) -> Vec<Result<DeviceRun, WorkError>> {
        let _ = on;
        resolved
            .iter()
            .map(|r| self.work(site, r, settings, observe))
            .collect()
    }
    /// Records how a device ended (not started, refused, or its run's outcome).
    fn finished(&self, device: &str, outcome: Outcome, error: Option<&str>);
    /// Whether `device` may still go, asked again before each batch after the first (a
    /// maintenance window may have closed during a long rollout); `None`: as admitted.
    fn admit(&self, device: &str) -> Option<Admission> {
        let _ = device;
        None
    }
}

/// Bookkeeping that keeps nothing: a bare device run in the settings' mode.
pub struct NoBooks;

impl Bookkeeper for NoBooks {
    fn work(
        &self,
        site: &Site,
        resolved: &Resolved,
        settings: &Settings,
        observe: &(dyn Fn(&str, Step) + Sync),
    ) -> Result<DeviceRun, WorkError> {
        Ok(device::run(
            site,
            resolved,
            settings.mode,
            &settings.ssh,
            observe,
        ))
    }
    fn work_batch(
        &self,
        site: &Site,
        on: &str,
        resolved: &[&Resolved],
        settings: &Settings,
        observe: &(dyn Fn(&str, Step) + Sync),
    ) -> Vec<Result<DeviceRun, WorkError>> {
        batch::run(site, on, resolved, settings.mode, &settings.ssh, observe)
            .into_iter()
            .map(Ok)
            .collect()
    }
    fn finished(&self, _: &str, _: Outcome, _: Option<&str>) {}
}

/// Runs `jobs`; returns the recap rows in the order the devices finished.
pub async fn rollout(
    site: Arc<Site>,
    books: Arc<dyn Bookkeeper>,
    jobs: Vec<Job>,
    settings: Settings,
    run_id: Option<i64>,
    stop: Stop,
    events: mpsc::UnboundedSender<Event>,
) -> (Vec<RecapRow>, RunStatus) {
    let started = Instant::now();
    let total = jobs.len();
    let sizes = batch_sizes(total, &settings.batches);
    let _ = events.send(Event::Start {
        mode: settings.mode,
        run_id,
        devices: total,
        batches: sizes.clone(),
        parallel: settings.parallel,
    });
    let sem = Arc::new(Semaphore::new(settings.parallel.max(1)));
    let (row_tx, mut row_rx) = mpsc::unbounded_channel::<RecapRow>();
    let mut rows = Vec::with_capacity(total);
    let mut totals = Totals::default();
    let mut jobs = jobs.into_iter();
    let mut threshold_tripped = false;

    for (index, size) in sizes.iter().copied().enumerate() {
        let mut batch: Vec<Job> = jobs.by_ref().take(size).collect();
        if index > 0 {
            for job in &mut batch {
                if matches!(job.admission, Admission::Go)
                    && let Some(a) = books.admit(&job.resolved.device)
                {
                    job.admission = a;
                }
            }
        }
        if stop.reason().is_some() {
            for job in batch {
                rows.push(not_started(&job, &events, books.as_ref()));
            }
            continue;
        }
        let _ = events.send(Event::Batch {
            index: index + 1,
            size,
        });
        let failures = Arc::new(AtomicUsize::new(0));
        let allowed = settings.max_fail.map(|m| m.allowed(size));
        let mut tasks = tokio::task::JoinSet::new();
        let mut stop_rx = stop.tx.subscribe();
        for work in group_by_server(&site, batch) {
            if stop.reason().is_some() {
                for job in work.jobs() {
                    rows.push(not_started(job, &events, books.as_ref()));
                }
                continue;
            }
            let permit = tokio::select! {
                p = sem.clone().acquire_owned() => p.expect("semaphore open"),
                _ = stop_rx.wait_for(|r| r.is_some()) => {
                    for job in work.jobs() {
                        rows.push(not_started(job, &events, books.as_ref()));
                    }
                    continue;
                }
            };
            let ctx = TaskCtx {
                site: site.clone(),
                books: books.clone(),
                settings: settings.clone(),
                events: events.clone(),
                rows: row_tx.clone(),
                failures: failures.clone(),
                allowed,
                batch: index + 1,
                stop: stop.clone(),
            };
            tasks.spawn(async move {
                match work {
                    Work::One(job) => ctx.run(job).await,
                    Work::Together { on, jobs } => ctx.run_together(on, jobs).await,
                }
                drop(permit);
            });
        }
        while tasks.join_next().await.is_some() {}
        while let Ok(row) = row_rx.try_recv() {
            rows.push(row);
        }
        if allowed.is_some_and(|a| failures.load(Ordering::SeqCst) > a) {
            threshold_tripped = true;
        }
    }
    drop(row_tx);
    while let Some(row) = row_rx.recv().await {
        rows.push(row);
    }
    for r in &rows {
        totals.add(r.outcome);
    }
    let status = match stop.reason() {
        None => RunStatus::Completed,
        Some(_) if threshold_tripped => RunStatus::Stopped,
        Some(_) => RunStatus::Interrupted,
    };
    let mut down: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for r in &rows {
        if let Some(server) = &r.print_server_down {
            down.entry(server).or_default().push(r.device.clone());
        }
    }
    for (server, mut printers) in down {
        printers.sort();
        let _ = events.send(Event::PrintServerDown {
            server: server.to_string(),
            printers,
        });
    }
    if let Some(reason) = stop.reason() {
        let _ = events.send(Event::Stopped { reason });
    }
    let _ = events.send(Event::Finish {
        status,
        totals,
        elapsed_ms: started.elapsed().as_millis() as u64,
    });
    (rows, status)
}

/// What one task of a batch does: one device, or printers whose queues are all on one
/// print server, together over one connection.
enum Work {
    One(Job),
    Together { on: String, jobs: Vec<Job> },
}

impl Work {
    fn jobs(&self) -> Vec<&Job> {
        match self {
            Work::One(j) => vec![j],
            Work::Together { jobs, .. } => jobs.iter().collect(),
        }
    }
}

/// A batch's jobs as tasks: the printers free to go now whose work all runs on one print
/// server as one task per print server (in the order of its first printer), every other
/// device as its own.
fn group_by_server(site: &Site, batch: Vec<Job>) -> Vec<Work> {
    let mut out: Vec<Work> = Vec::new();
    let mut at: std::collections::HashMap<String, usize> = Default::default();
    for job in batch {
        let key = matches!(job.admission, Admission::Go)
            .then(|| batch::batch_key(site, &job.resolved))
            .flatten();
        match key {
            Some(on) => match at.get(&on) {
                Some(&k) => {
                    if let Work::Together { jobs, .. } = &mut out[k] {
                        jobs.push(job);
                    }
                }
                None => {
                    at.insert(on.clone(), out.len());
                    out.push(Work::Together {
                        on,
                        jobs: vec![job],
                    });
                }
            },
            None => out.push(Work::One(job)),
        }
    }
    out
}

/// Each resource of `run` that would change, changed or drifted, with what differs.
fn changes_of(run: &DeviceRun) -> Vec<String> {
    run.resources
        .iter()
        .filter(|r| matches!(r.status, device::Status::Changed | device::Status::Drift))
        .map(|r| {
            if r.differs.is_empty() {
                r.name.clone()
            } else {
                format!("{}: {}", r.name, r.differs.join(", "))
            }
        })
        .collect()
}

fn not_started(
    job: &Job,
    events: &mpsc::UnboundedSender<Event>,
    books: &dyn Bookkeeper,
) -> RecapRow {
    let row = RecapRow {
        device: job.resolved.device.clone(),
        outcome: Outcome::NotStarted,
        changed: 0,
        changes: Vec::new(),
        elapsed_ms: 0,
        error: None,
        print_server_down: None,
    };
    books.finished(&row.device, row.outcome, None);
    let _ = events.send(Event::Done {
        row: row.clone(),
        run: None,
    });
    row
}

struct TaskCtx {
    site: Arc<Site>,
    books: Arc<dyn Bookkeeper>,
    settings: Settings,
    events: mpsc::UnboundedSender<Event>,
    rows: mpsc::UnboundedSender<RecapRow>,
    failures: Arc<AtomicUsize>,
    allowed: Option<usize>,
    batch: usize,
    stop: Stop,
}

impl TaskCtx {
    async fn run(self, job: Job) {
        let tag = job.resolved.device.clone();
        let started = Instant::now();
        let mut refused = None;
        match &job.admission {
            Admission::Go => {}
            Admission::Refuse(why) => refused = Some(why.clone()),
            Admission::WaitUntil { until } => {
                let _ = self.events.send(Event::Waiting {
                    device: tag.clone(),
                    until: until.to_string(),
                });
                let wait = until.duration_since(jiff::Timestamp::now());
                let secs = wait.as_secs_f64().max(0.0);
                let mut stop_rx = self.stop.tx.subscribe();
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs_f64(secs)) => {}
                    _ = stop_rx.wait_for(|r| r.is_some()) => {
                        refused = Some("stopped while waiting for its maintenance window".into());
                    }
                }
            }
        }
        let (outcome, run, error) = match refused {
            Some(why) => (Outcome::Refused, None, Some(why)),
            None => self.work(job).await,
        };
        self.conclude(tag, started, None, outcome, run, error);
    }

    /// Runs printers whose work is all on `on` in one blocking task, over one connection.
    async fn run_together(self, on: String, jobs: Vec<Job>) {
        let started = Instant::now();
        let tags: Vec<String> = jobs.iter().map(|j| j.resolved.device.clone()).collect();
        let site = self.site.clone();
        let books = self.books.clone();
        let settings = self.settings.clone();
        let events = self.events.clone();
        let server = on.clone();
        let res = tokio::task::spawn_blocking(move || {
            // Every printer's work is on the print server: each step of a printer whose
            // work goes on there (connecting, applying: `batch::run` tells them per
            // printer) is via the server, as a single printer's would be; only asking a
            // printer is done with the printer itself.
            let observe = move |device: &str, phase: Step| {
                let _ = events.send(Event::Phase {
                    device: device.to_string(),
                    on: (phase != Step::Asking).then(|| server.clone()),
                    phase,
                });
            };
            let resolved: Vec<&Resolved> = jobs.iter().map(|j| &j.resolved).collect();
            books.work_batch(&site, &on, &resolved, &settings, &observe)
        })
        .await;
        match res {
            Ok(results) => {
                for (tag, r) in tags.into_iter().zip(results) {
                    let (outcome, run, error) = outcome_of(Ok(r));
                    // Its own time: a printer that did not answer was done long before
                    // the print server's program.
                    let own = run.as_ref().map(|r| r.elapsed_ms);
                    self.conclude(tag, started, own, outcome, run, error);
                }
            }
            Err(e) => {
                for tag in tags {
                    let (outcome, run, error) = outcome_of(Err(e.to_string()));
                    self.conclude(tag, started, None, outcome, run, error);
                }
            }
        }
    }

    /// Records how device `tag` ended, counts it against the threshold and says so.
    #[allow(clippy::too_many_arguments)]
    fn conclude(
        &self,
        tag: String,
        started: Instant,
        own_ms: Option<u64>,
        outcome: Outcome,
        run: Option<DeviceRun>,
        error: Option<String>,
    ) {
        let elapsed_ms = own_ms.unwrap_or_else(|| started.elapsed().as_millis() as u64);
        let row = row_of(&tag, elapsed_ms, outcome, run.as_ref(), error);
        self.books.finished(&tag, outcome, row.error.as_deref());
        if outcome.counts_as_failure() {
            let n = self.failures.fetch_add(1, Ordering::SeqCst) + 1;
            if let Some(a) = self.allowed
                && n > a
            {
                self.stop.request(format!(
                    "{} failed in batch {}, more than the {a} allowed by --max-fail; no further device was started",
                    crate::words::count(n, "device"),
                    self.batch
                ));
            }
        }
        let _ = self.events.send(Event::Done {
            row: row.clone(),
            run: run.map(Box::new),
        });
        let _ = self.rows.send(row);
    }

    /// Runs the device in a blocking thread; returns its recap, run and error.
    async fn work(&self, job: Job) -> (Outcome, Option<DeviceRun>, Option<String>) {
        let site = self.site.clone();
        let books = self.books.clone();
        let settings = self.settings.clone();
        let events = self.events.clone();
        let tag = job.resolved.device.clone();
        let res = tokio::task::spawn_blocking(move || {
            let observe = move |on: &str, phase: Step| {
                let _ = events.send(Event::Phase {
                    device: tag.clone(),
                    on: (on != tag).then(|| on.to_string()),
                    phase,
                });
            };
            books.work(&site, &job.resolved, &settings, &observe)
        })
        .await;
        outcome_of(res.map_err(|e| e.to_string()))
    }
}

/// The recap row of device `tag` that ended `outcome` with `run` (when it ran).
fn row_of(
    tag: &str,
    elapsed_ms: u64,
    outcome: Outcome,
    run: Option<&DeviceRun>,
    error: Option<String>,
) -> RecapRow {
    RecapRow {
        device: tag.to_string(),
        outcome,
        changed: run.map_or(0, |r| {
            r.count(device::Status::Changed) + r.count(device::Status::Drift)
        }),
        changes: run.map_or_else(Vec::new, changes_of),
        elapsed_ms,
        error,
        // Said of a printer whose queue there was not changed: one changed before the
        // scheduler stopped answering is in the journal as changed, and so is its row
        // (failed, with the print server's error), not among the queues left unchanged.
        print_server_down: run.and_then(|r| {
            r.problems.iter().find_map(|p| match p {
                device::Problem::PrintServerDown { server, .. }
                    if !r
                        .resources
                        .iter()
                        .any(|o| o.on == *server && o.status == device::Status::Changed) =>
                {
                    Some(server.clone())
                }
                _ => None,
            })
        }),
    }
}

/// The recap row of one device's `work` done outside a fleet (a worker's job), as a
/// rollout would show it, and its run when it ran.
pub fn recap_of(
    tag: &str,
    elapsed_ms: u64,
    work: Result<DeviceRun, WorkError>,
) -> (RecapRow, Option<DeviceRun>) {
    let (outcome, run, error) = outcome_of(Ok(work));
    (row_of(tag, elapsed_ms, outcome, run.as_ref(), error), run)
}

/// The recap row of device `tag` that did not run: refused (`why`) or not started.
pub fn recap_without_run(tag: &str, outcome: Outcome, why: Option<String>) -> RecapRow {
    row_of(tag, 0, outcome, None, why)
}

/// A device's recap outcome, run and error from its work (or the panic that ended it).
fn outcome_of(
    res: Result<Result<DeviceRun, WorkError>, String>,
) -> (Outcome, Option<DeviceRun>, Option<String>) {
    match res {
        Ok(Ok(run)) => {
            // What one device's plan or audit calls changed, a rollout calls drift.
            let recap = match (run.outcome, run.mode) {
                (Outcome::Changed, Mode::Plan | Mode::Audit) => Outcome::Drift,
                (o, _) => o,
            };
            let error = (!run.problems.is_empty()).then(|| run.problems.joined());
            (recap, Some(run), error)
        }
        Ok(Err(WorkError::Refused(m))) => (Outcome::Refused, None, Some(m)),
        Ok(Err(WorkError::Failed(m))) => (Outcome::Failed, None, Some(m)),
        Err(e) => (
            Outcome::Failed,
            None,
            Some(format!("the run panicked: {e}")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testkit;
    use crate::transport::{Behaviour, Local};

    /// A plan over devices `tags` (each with one file to write in `dir`) through `local`.
    struct Fleet {
        dir: tempfile::TempDir,
        site: Arc<Site>,
        local: Arc<Local>,
        tags: Vec<String>,
    }

    impl Fleet {
        fn new(n: usize) -> Fleet {
            let dir = tempfile::tempdir().unwrap();
            let tags: Vec<String> = (1..=n).map(|i| format!("LAP-{i:04}")).collect();
            let refs: Vec<&str> = tags.iter().map(String::as_str).collect();
            let site = Arc::new(testkit::site(dir.path(), &refs));
            let local = Arc::new(Local::in_root(dir.path()));
            Fleet {
                dir,
                site,
                local,
                tags,
            }
        }

        fn settings(
            &self,
            parallel: usize,
            batches: &[usize],
            max_fail: Option<MaxFail>,
        ) -> Settings {
            Settings {
                mode: Mode::Plan,
                parallel,
                batches: batches.iter().map(|&n| Size::Count(n)).collect(),
                max_fail,
                operator: "test-csp".into(),
                ssh: testkit::options(self.local.clone(), 1),
            }
        }

        fn job(&self, tag: &str, admission: Admission) -> Job {
            let path = self.dir.path().join(format!("{tag}.conf"));
            Job {
                resolved: testkit::resolved(tag, vec![testkit::file(&path, "x\n")]),
                admission,
            }
        }

        fn jobs(&self) -> Vec<Job> {
            self.tags
                .iter()
                .map(|t| self.job(t, Admission::Go))
                .collect()
        }

        async fn roll(
            &self,
            jobs: Vec<Job>,
            settings: Settings,
            stop: Stop,
        ) -> (Vec<RecapRow>, RunStatus, Vec<Event>) {
            let (tx, mut rx) = mpsc::unbounded_channel();
            let (rows, status) = rollout(
                self.site.clone(),
                Arc::new(NoBooks),
                jobs,
                settings,
                None,
                stop,
                tx,
            )
            .await;
            let mut events = Vec::new();
            while let Ok(e) = rx.try_recv() {
                events.push(e);
            }
            (rows, status, events)
        }
    }

    fn outcome_of(rows: &[RecapRow], tag: &str) -> Outcome {
        rows.iter().find(|r| r.device == tag).unwrap().outcome
    }

    #[tokio::test]
    async fn a_plan_reports_drift_for_every_device_within_the_parallel_bound() {
        let f = Fleet::new(6);
        // Each device waits until two run at once: run one at a time, they never would.
        for t in &f.tags {
            f.local.set(t, Behaviour::Overlap(2));
        }
        let (rows, status, events) = f
            .roll(f.jobs(), f.settings(2, &[], None), Stop::default())
            .await;
        assert_eq!(status, RunStatus::Completed);
        assert_eq!(rows.len(), 6);
        assert!(rows.iter().all(|r| r.outcome == Outcome::Drift), "{rows:?}");
        assert_eq!(f.local.most_running(), 2);
        let Some(Event::Finish { totals, .. }) = events.last() else {
            panic!("no finish event last")
        };
        assert_eq!(totals.drift, 6);
    }

    #[tokio::test]
    async fn the_threshold_stops_later_batches() {
        let f = Fleet::new(5);
        f.local
            .set("LAP-0001", Behaviour::Unreachable { times: u32::MAX });
        let settings = f.settings(4, &[1, 2], Some(MaxFail::Count(0)));
        let (rows, status, events) = f.roll(f.jobs(), settings, Stop::default()).await;
        assert_eq!(status, RunStatus::Stopped);
        assert_eq!(outcome_of(&rows, "LAP-0001"), Outcome::Unreachable);
        for t in &f.tags[1..] {
            assert_eq!(outcome_of(&rows, t), Outcome::NotStarted, "{t}");
            assert_eq!(f.local.connects(t), 0, "{t} was contacted");
        }
        let batches = events
            .iter()
            .filter(|e| matches!(e, Event::Batch { .. }))
            .count();
        assert_eq!(batches, 1);
        assert!(events.iter().any(|e| matches!(e, Event::Stopped { reason }
            if reason == "1 device failed in batch 1, more than the 0 allowed by --max-fail; no further device was started")));
    }

    #[tokio::test]
    async fn failures_within_the_threshold_let_the_rollout_go_on() {
        let f = Fleet::new(4);
        f.local.set(
            "LAP-0002",
            Behaviour::Fail {
                status: 1,
                stderr: "no shell\n".into(),
            },
        );
        let settings = f.settings(1, &[2], Some(MaxFail::Count(1)));
        let (rows, status, _) = f.roll(f.jobs(), settings, Stop::default()).await;
        assert_eq!(status, RunStatus::Completed);
        assert_eq!(outcome_of(&rows, "LAP-0002"), Outcome::Failed);
        let failed = rows.iter().find(|r| r.device == "LAP-0002").unwrap();
        assert!(
            failed.error.as_deref().unwrap().contains("no shell"),
            "{failed:?}"
        );
        assert_eq!(outcome_of(&rows, "LAP-0004"), Outcome::Drift);
    }

    #[tokio::test(start_paused = true)]
    async fn unreachable_devices_are_tried_again() {
        let f = Fleet::new(2);
        f.local.set("LAP-0001", Behaviour::Unreachable { times: 1 });
        f.local.set("LAP-0002", Behaviour::Unreachable { times: 2 });
        let (rows, _, _) = f
            .roll(f.jobs(), f.settings(1, &[], None), Stop::default())
            .await;
        // One retry each: the first answers on it, the second does not.
        assert_eq!(outcome_of(&rows, "LAP-0001"), Outcome::Drift);
        assert_eq!(outcome_of(&rows, "LAP-0002"), Outcome::Unreachable);
        assert_eq!(f.local.connects("LAP-0002"), 2);
        assert_eq!(f.local.back_offs(), [Duration::from_millis(500); 2]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_device_waits_for_its_window_then_runs() {
        let f = Fleet::new(2);
        let until = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(2);
        let jobs = vec![
            f.job("LAP-0001", Admission::WaitUntil { until }),
            f.job("LAP-0002", Admission::Go),
        ];
        let started = tokio::time::Instant::now();
        let (rows, status, events) = f
            .roll(jobs, f.settings(2, &[], None), Stop::default())
            .await;
        assert!(
            started.elapsed() >= Duration::from_secs(7000),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(status, RunStatus::Completed);
        assert_eq!(outcome_of(&rows, "LAP-0001"), Outcome::Drift);
        // The device that needs no window does not wait for the other.
        assert_eq!(rows[0].device, "LAP-0002");
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::Waiting { device, .. } if device == "LAP-0001"))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_request_ends_waits_and_starts_nothing_more() {
        let f = Fleet::new(3);
        let until = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(8);
        let jobs = vec![
            f.job("LAP-0001", Admission::WaitUntil { until }),
            f.job("LAP-0002", Admission::Go),
            f.job("LAP-0003", Admission::Go),
        ];
        let stop = Stop::default();
        let ctrl_c = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(600)).await;
            ctrl_c.request("interrupted (Ctrl-C)".into());
            // The first reason wins.
            ctrl_c.request("something else".into());
        });
        let started = tokio::time::Instant::now();
        let (rows, status, events) = f.roll(jobs, f.settings(1, &[1], None), stop).await;
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(600) && waited < Duration::from_secs(3600),
            "{waited:?}"
        );
        assert_eq!(status, RunStatus::Interrupted);
        let first = rows.iter().find(|r| r.device == "LAP-0001").unwrap();
        assert_eq!(first.outcome, Outcome::Refused);
        assert_eq!(
            first.error.as_deref(),
            Some("stopped while waiting for its maintenance window")
        );
        assert_eq!(outcome_of(&rows, "LAP-0002"), Outcome::NotStarted);
        assert_eq!(outcome_of(&rows, "LAP-0003"), Outcome::NotStarted);
        assert_eq!(f.local.connects("LAP-0002"), 0);
        assert!(
            events.iter().any(
                |e| matches!(e, Event::Stopped { reason } if reason == "interrupted (Ctrl-C)")
            )
        );
    }

    #[tokio::test]
    async fn a_refused_device_counts_against_the_threshold() {
        let f = Fleet::new(3);
        let jobs = vec![
            f.job("LAP-0001", Admission::Refuse("outside its window".into())),
            f.job("LAP-0002", Admission::Go),
            f.job("LAP-0003", Admission::Go),
        ];
        let (rows, status, _) = f
            .roll(
                jobs,
                f.settings(1, &[1], Some(MaxFail::Count(0))),
                Stop::default(),
            )
            .await;
        assert_eq!(status, RunStatus::Stopped);
        assert_eq!(outcome_of(&rows, "LAP-0001"), Outcome::Refused);
        assert_eq!(outcome_of(&rows, "LAP-0002"), Outcome::NotStarted);
    }

    #[test]
    fn batches_repeat_the_last_size() {
        let s = |v: &[&str]| {
            v.iter()
                .map(|x| Size::parse(x).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            batch_sizes(50, &s(&["1", "5", "25%"])),
            [1, 5, 13, 13, 13, 5]
        );
        assert_eq!(batch_sizes(3, &s(&["1", "5"])), [1, 2]);
        assert_eq!(batch_sizes(10, &[]), [10]);
        assert_eq!(batch_sizes(0, &s(&["1"])), Vec::<usize>::new());
        assert!(Size::parse("0%").is_err());
        assert!(Size::parse("five").is_err());
    }

    #[test]
    fn thresholds_allow_up_to_their_share() {
        assert_eq!(MaxFail::parse("10%").unwrap().allowed(50), 5);
        assert_eq!(MaxFail::parse("10%").unwrap().allowed(1), 0);
        assert_eq!(MaxFail::parse("2").unwrap().allowed(50), 2);
        assert_eq!(MaxFail::parse("0%").unwrap().allowed(50), 0);
    }

    #[test]
    fn a_printer_whose_queue_changed_before_its_print_server_went_down_is_not_said_unchanged() {
        let mut queue = testkit::file(std::path::Path::new("/tmp/q"), "x");
        queue.resource.via = Some("PS-1".into());
        let r = testkit::resolved("PRN-1", vec![queue.clone(), queue]);
        let mut run = device::initial_run(&r, Mode::Configure);
        run.problems.push(device::Problem::PrintServerDown {
            server: "PS-1".into(),
            cups: "ps:631".into(),
        });
        run.resources[1].status = device::Status::Unreached;
        let row = |run: &DeviceRun| row_of("PRN-1", 0, Outcome::Failed, Some(run), None);
        // Nothing changed there: its queue is among those the print server held back.
        assert_eq!(row(&run).print_server_down.as_deref(), Some("PS-1"));
        // One step changed before the scheduler stopped answering: the journal has it
        // changed, and the recap does not say otherwise.
        run.resources[0].status = device::Status::Changed;
        assert_eq!(row(&run).print_server_down, None);
    }
}
