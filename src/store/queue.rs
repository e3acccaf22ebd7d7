//! Queued rollouts (`configure --queue`): a run whose devices are jobs in the store, taken
//! by `deskready worker` processes on any number of machines. A job is `queued`, `taken`
//! (by one worker, until its claim expires unless the worker renews it) or `done` (with its
//! recap row). Jobs are taken in a write transaction (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, so workers pass over each other's rows; SQLite's single writer does the
//! same), batch after batch: no job of a batch is taken before every job of the batches
//! before it is done. A job whose work runs on a device other jobs share (a printer's queue
//! on its print server: its `work_on`) is taken together with the other jobs of its run and
//! batch on that device that could be taken then, in the same transaction, so that one
//! worker runs them as one program there; only the first of them that can be taken starts
//! such a claim, so claims at the same moment (passing over it) never split them. A claim whose worker stopped renewing it is taken again once it, and
//! that worker's lease of the device, have expired. The failure threshold is counted here
//! over every worker's results; a cancel stops the run as the threshold does; the run ends
//! with its last job.
//!
//! Must not: know devices, sites or the rollout's settings (kept as the caller's text).

use serde::Serialize;

use super::db::{Tx, args};
use super::runs::PENDING;
use super::{Holder, RunStatus, Store, StoreError, now, unix_now};
use crate::model::Outcome;

/// The queue's tables.
pub(super) const MIGRATION: &str = r#"
CREATE TABLE queued_runs (
    run_id {int} PRIMARY KEY REFERENCES runs (id),
    settings TEXT NOT NULL,
    stopped TEXT
);
CREATE TABLE queue_jobs (
    run_id {int} NOT NULL REFERENCES runs (id),
    tag TEXT NOT NULL,
    seq {int} NOT NULL,
    batch {int} NOT NULL,
    state TEXT NOT NULL,
    not_before {int} NOT NULL DEFAULT 0,
    worker TEXT,
    host TEXT,
    pid {int},
    start_time {int},
    expires {int} NOT NULL DEFAULT 0,
    failed {int} NOT NULL DEFAULT 0,
    recap TEXT,
    done_at {int},
    PRIMARY KEY (run_id, tag)
);
CREATE INDEX queue_jobs_state ON queue_jobs (state, run_id, batch, seq);
"#;

/// The device a job's work runs on when other jobs may share it (a printer's print server):
/// jobs of one run and batch with the same `work_on` are taken together.
pub(super) const MIGRATION_WORK_ON: &str = r#"
ALTER TABLE queue_jobs ADD COLUMN work_on TEXT;
"#;

/// The workers running now, each renewing its row while it runs (taking jobs or not):
/// who waits with nothing to do is seen too.
pub(super) const MIGRATION_WORKERS: &str = r#"
CREATE TABLE queue_workers (
    host TEXT NOT NULL,
    pid {int} NOT NULL,
    start_time {int} NOT NULL,
    worker TEXT NOT NULL,
    expires {int} NOT NULL,
    PRIMARY KEY (host, pid, start_time)
);
"#;

const QUEUED: &str = "queued";
const TAKEN: &str = "taken";
const DONE: &str = "done";

/// One device to queue, in its batch (counting from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueJob {
    pub tag: String,
    pub batch: usize,
    /// The device its work runs on when it can share one program there with other jobs
    /// (a printer's print server): such jobs of one batch are taken together.
    pub work_on: Option<String>,
}

/// A job a worker took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub run_id: i64,
    pub tag: String,
    /// Its batch (counting from 1) and how many jobs that batch has.
    pub batch: usize,
    pub batch_size: usize,
    /// The settings the run was queued with, as its caller wrote them.
    pub settings: String,
    /// Who queued the run.
    pub operator: String,
    /// The worker whose expired claim this one took over, if any.
    pub taken_over: Option<String>,
    /// Why the run stopped starting devices (the threshold, a cancel), when it has: a job
    /// taken over then is recorded, not run.
    pub stopped: Option<String>,
}

/// Where a queued run stands.
#[derive(Debug, Clone, Serialize)]
pub struct QueueProgress {
    pub run_id: i64,
    pub devices: usize,
    /// The size of each batch.
    pub batches: Vec<usize>,
    /// The jobs done, in the order they ended: tag and recap row (`None`: never started,
    /// the threshold stopped the run first).
    pub done: Vec<(String, Option<String>)>,
    /// Why the run stopped starting devices (the threshold, or a cancel), if it did.
    pub stopped: Option<String>,
    pub status: RunStatus,
    /// Jobs not taken yet that a worker could take now (their batch's turn or not).
    pub waiting: usize,
    /// Jobs back in the queue until their device's maintenance window opens, and the
    /// earliest opening (Unix seconds).
    pub deferred: usize,
    pub next_window: Option<i64>,
    /// The workers holding jobs of the run: who, how many jobs, and until when their claim
    /// lasts (Unix seconds; past: it stopped renewing it).
    pub holders: Vec<Holding>,
    /// The workers running now that hold no job of any run (waiting for one).
    pub idle: Vec<String>,
}

/// A worker holding jobs of a queued run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holding {
    pub worker: String,
    pub jobs: usize,
    pub expires: i64,
}

impl Store {
    /// Starts a configure run over `jobs` whose devices are left to workers: its run record
    /// (each device pending) and one queued job per device, in the order given, with the
    /// run's `settings`. Returns the run's id.
    pub fn enqueue(
        &self,
        operator: &str,
        jobs: &[QueueJob],
        settings: &str,
    ) -> Result<i64, StoreError> {
        let me = Holder::me(operator);
        self.db.write(|tx| {
            let id: i64 = tx.query_one(
                "INSERT INTO runs (command, operator, started_at, status, host, pid, start_time) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                args!["configure", operator, now(), RunStatus::Running, me.host, me.pid, me.start_time as i64],
            )?;
            tx.execute(
                "INSERT INTO queued_runs (run_id, settings) VALUES ($1, $2)",
                args![id, settings],
            )?;
            for (seq, j) in jobs.iter().enumerate() {
                tx.execute(
                    "INSERT INTO run_devices (run_id, tag, outcome) VALUES ($1, $2, $3)",
                    args![id, j.tag, PENDING],
                )?;
                tx.execute(
                    "INSERT INTO queue_jobs (run_id, tag, seq, batch, state, work_on) VALUES ($1, $2, $3, $4, $5, $6)",
                    args![id, j.tag, seq as i64, j.batch as i64, QUEUED, j.work_on],
                )?;
            }
            Ok(id)
        })
    }

    /// Takes the next job for `worker`, whose claim lasts `lease_secs` unless renewed
    /// ([`Store::renew_claims`]): the oldest run's first queued job of its earliest batch
    /// not done, or a job whose worker stopped renewing both its claim and its lease of
    /// the device. A device taken over so has its dead worker's configure recorded as
    /// failed first (see `recover.rs`). `None`: nothing can be taken now.
    pub fn claim(&self, worker: &Holder, lease_secs: i64) -> Result<Option<Claim>, StoreError> {
        Ok(self
            .claim_together(worker, lease_secs, 1)?
            .into_iter()
            .next())
    }

    /// Takes the next job as [`Store::claim`] does and, when its work runs on a device
    /// other jobs share (`work_on`), the other jobs of its run and batch on that device
    /// that can be taken now (queued, or taken over by the same rules), `most` in all, in
    /// the same transaction: the first job, then the others in queue order. Empty: nothing
    /// can be taken now.
    pub fn claim_together(
        &self,
        worker: &Holder,
        lease_secs: i64,
        most: usize,
    ) -> Result<Vec<Claim>, StoreError> {
        let ready = |q: &str| {
            format!(
                "{q}.not_before <= $1
                 AND (({q}.state = $2 AND {q}.run_id IN (SELECT s.run_id FROM queued_runs s WHERE s.stopped IS NULL))
                      OR ({q}.state = $3 AND {q}.expires < $1 AND NOT EXISTS (
                          SELECT 1 FROM locks l WHERE l.tag = {q}.tag AND l.host = {q}.host AND l.pid = {q}.pid AND l.expires >= $1)))"
            )
        };
        // Whether job `q` can be taken at `$1`: queued in a run still starting devices, or
        // taken by a worker that renewed neither its claim nor its lease of the device.
        let (ready_q, ready_o, ready_w) = (ready("q"), ready("o"), ready("w"));
        let claims = self.db.write(|tx| {
            let at = unix_now();
            // A job shared with others is taken first of them only when it is the first of
            // them that can be taken: a claim passing over the first (taken by another
            // transaction at this moment) does not split the group. One a dead worker held
            // is taken over only once every job of the group that worker held can be: their
            // leases of the devices, taken one by one, expire a second apart at times, and
            // the group is taken over whole, as one program.
            let Some(r) = tx.query_opt(
                &format!(
                    "SELECT q.run_id, q.tag, q.batch, q.state, q.worker, q.work_on FROM queue_jobs q
                     WHERE {ready_q}
                       AND q.batch = (SELECT MIN(b.batch) FROM queue_jobs b WHERE b.run_id = q.run_id AND b.state <> $4)
                       AND NOT EXISTS (SELECT 1 FROM queue_jobs o WHERE o.run_id = q.run_id AND o.batch = q.batch
                                       AND o.work_on = q.work_on AND o.seq < q.seq AND {ready_o})
                       AND NOT EXISTS (SELECT 1 FROM queue_jobs w WHERE q.state = $3 AND w.run_id = q.run_id
                                       AND w.batch = q.batch AND w.work_on = q.work_on AND w.state = $3
                                       AND w.host = q.host AND w.pid = q.pid AND NOT ({ready_w}))
                     ORDER BY q.run_id, q.seq LIMIT 1 {{skip_locked}}"
                ),
                args![at, QUEUED, TAKEN, DONE],
            )?
            else {
                return Ok(Vec::new());
            };
            let run_id: i64 = r.get(0)?;
            let batch: i64 = r.get(2)?;
            let work_on: Option<String> = r.get(5)?;
            let mut taken: Vec<(String, String, Option<String>)> =
                vec![(r.get(1)?, r.get(3)?, r.get(4)?)];
            if let Some(on) = work_on.filter(|_| most > 1) {
                let first = taken[0].0.clone();
                for r in tx.query(
                    &format!(
                        "SELECT q.tag, q.state, q.worker FROM queue_jobs q
                         WHERE {ready_q} AND q.run_id = $4 AND q.batch = $5 AND q.work_on = $6 AND q.tag <> $7
                         ORDER BY q.seq LIMIT $8 {{skip_locked}}"
                    ),
                    args![at, QUEUED, TAKEN, run_id, batch, on, first, (most - 1) as i64],
                )? {
                    taken.push((r.get(0)?, r.get(1)?, r.get(2)?));
                }
            }
            for (tag, _, _) in &taken {
                tx.execute(
                    "UPDATE queue_jobs SET state = $3, worker = $4, host = $5, pid = $6, start_time = $7, expires = $8 WHERE run_id = $1 AND tag = $2",
                    args![
                        run_id,
                        tag,
                        TAKEN,
                        worker.describe(),
                        worker.host,
                        worker.pid,
                        worker.start_time as i64,
                        at + lease_secs
                    ],
                )?;
            }
            let batch_size: i64 = tx.query_one(
                "SELECT COUNT(*) FROM queue_jobs WHERE run_id = $1 AND batch = $2",
                args![run_id, batch],
            )?;
            let r = tx
                .query_opt(
                    "SELECT q.settings, r.operator, q.stopped FROM queued_runs q JOIN runs r ON r.id = q.run_id WHERE q.run_id = $1",
                    args![run_id],
                )?
                .ok_or_else(|| StoreError::Column {
                    index: 0,
                    why: format!("queued run {run_id} has no settings"),
                })?;
            let (settings, operator, stopped): (String, String, Option<String>) =
                (r.get(0)?, r.get(1)?, r.get(2)?);
            Ok(taken
                .into_iter()
                .map(|(tag, state, before)| Claim {
                    run_id,
                    tag,
                    batch: batch as usize,
                    batch_size: batch_size as usize,
                    settings: settings.clone(),
                    operator: operator.clone(),
                    taken_over: (state == TAKEN).then(|| before.unwrap_or_default()),
                    stopped: stopped.clone(),
                })
                .collect())
        })?;
        if claims.iter().any(|c| c.taken_over.is_some()) {
            // Its dead worker's lease expired: that configure ends failed, journaled.
            self.recover_interrupted()?;
        }
        Ok(claims)
    }

    /// Records that `worker` runs, until `expires` (Unix seconds) unless it says so again;
    /// forgets workers gone for a day.
    pub fn worker_seen(&self, worker: &Holder, expires: i64) -> Result<(), StoreError> {
        self.db.write(|tx| {
            tx.execute(
                "DELETE FROM queue_workers WHERE (host = $1 AND pid = $2 AND start_time = $3) OR expires < $4",
                args![worker.host, worker.pid, worker.start_time as i64, unix_now() - 86_400],
            )?;
            tx.execute(
                "INSERT INTO queue_workers (host, pid, start_time, worker, expires) VALUES ($1, $2, $3, $4, $5)",
                args![
                    worker.host,
                    worker.pid,
                    worker.start_time as i64,
                    worker.describe(),
                    expires
                ],
            )
        })?;
        Ok(())
    }

    /// `worker` has ended.
    pub fn worker_gone(&self, worker: &Holder) -> Result<(), StoreError> {
        self.db.write(|tx| {
            tx.execute(
                "DELETE FROM queue_workers WHERE host = $1 AND pid = $2 AND start_time = $3",
                args![worker.host, worker.pid, worker.start_time as i64],
            )
        })?;
        Ok(())
    }

    /// Renews every claim `worker` holds until `expires` (Unix seconds).
    pub fn renew_claims(&self, worker: &Holder, expires: i64) -> Result<(), StoreError> {
        self.db.write(|tx| {
            tx.execute(
                "UPDATE queue_jobs SET expires = $1 WHERE state = $2 AND host = $3 AND pid = $4 AND start_time = $5",
                args![expires, TAKEN, worker.host, worker.pid, worker.start_time as i64],
            )
        })?;
        Ok(())
    }

    /// Puts `worker`'s job back in the queue, not to be taken before `not_before` (Unix
    /// seconds): its device's maintenance window is not open yet.
    pub fn defer(
        &self,
        run_id: i64,
        tag: &str,
        worker: &Holder,
        not_before: i64,
    ) -> Result<(), StoreError> {
        self.db.write(|tx| {
            tx.execute(
                "UPDATE queue_jobs SET state = $3, worker = NULL, host = NULL, pid = NULL, start_time = NULL, expires = 0, not_before = $4
                 WHERE run_id = $1 AND tag = $2 AND state = $5 AND host = $6 AND pid = $7 AND start_time = $8",
                args![run_id, tag, QUEUED, not_before, TAKEN, worker.host, worker.pid, worker.start_time as i64],
            )
        })?;
        Ok(())
    }

    /// Records `worker`'s job as done with its `recap` row (its run's device row was written
    /// with its work). With `threshold` (the failures its batch allows, and the reason to
    /// give from the number failed), a batch with more failed jobs stops the run: every job
    /// not taken yet ends not started, the ones under way finish. The run ends with its last
    /// job: `stopped` or `completed`. Returns whether this was still `worker`'s job (not
    /// taken over meanwhile).
    #[allow(clippy::too_many_arguments)]
    pub fn complete(
        &self,
        run_id: i64,
        tag: &str,
        worker: &Holder,
        failed: bool,
        recap: &str,
        threshold: Option<(usize, &(dyn Fn(usize) -> String + Sync))>,
    ) -> Result<bool, StoreError> {
        self.db.write(|tx| {
            let n = tx.execute(
                "UPDATE queue_jobs SET state = $3, failed = $4, recap = $5, done_at = $6
                 WHERE run_id = $1 AND tag = $2 AND state = $7 AND host = $8 AND pid = $9 AND start_time = $10",
                args![
                    run_id,
                    tag,
                    DONE,
                    i64::from(failed),
                    recap,
                    unix_now(),
                    TAKEN,
                    worker.host,
                    worker.pid,
                    worker.start_time as i64
                ],
            )?;
            if n == 0 {
                return Ok(false);
            }
            if let Some((allowed, reason)) = threshold {
                let failures: i64 = tx.query_one(
                    "SELECT COUNT(*) FROM queue_jobs WHERE run_id = $1 AND failed = 1 AND batch = (SELECT batch FROM queue_jobs WHERE run_id = $1 AND tag = $2)",
                    args![run_id, tag],
                )?;
                if failures as usize > allowed {
                    stop(tx, run_id, &reason(failures as usize))?;
                }
            }
            end_if_done(tx, run_id)?;
            Ok(true)
        })
    }

    /// Where queued run `run_id` stands; `None`: no such queued run.
    pub fn queue_progress(&self, run_id: i64) -> Result<Option<QueueProgress>, StoreError> {
        self.db.read(|tx| {
            let Some(r) = tx.query_opt(
                "SELECT q.stopped, r.status FROM queued_runs q JOIN runs r ON r.id = q.run_id WHERE q.run_id = $1",
                args![run_id],
            )?
            else {
                return Ok(None);
            };
            let stopped: Option<String> = r.get(0)?;
            let status: RunStatus = r.get(1)?;
            let jobs = tx.query(
                "SELECT tag, batch, state, recap, not_before, worker, expires FROM queue_jobs WHERE run_id = $1 ORDER BY done_at, seq",
                args![run_id],
            )?;
            let at = unix_now();
            let mut batches: Vec<usize> = Vec::new();
            let mut done = Vec::new();
            let (mut waiting, mut deferred, mut next_window) = (0, 0, None::<i64>);
            let mut holders: Vec<Holding> = Vec::new();
            for j in &jobs {
                let batch = j.get::<i64>(1)? as usize;
                if batches.len() < batch {
                    batches.resize(batch, 0);
                }
                batches[batch - 1] += 1;
                match j.get::<String>(2)?.as_str() {
                    DONE => done.push((j.get(0)?, j.get(3)?)),
                    QUEUED => {
                        let not_before: i64 = j.get(4)?;
                        if not_before > at {
                            deferred += 1;
                            next_window = Some(next_window.map_or(not_before, |n| n.min(not_before)));
                        } else {
                            waiting += 1;
                        }
                    }
                    _ => {
                        let worker: String = j.get::<Option<String>>(5)?.unwrap_or_default();
                        let expires: i64 = j.get(6)?;
                        match holders.iter_mut().find(|h| h.worker == worker) {
                            Some(h) => {
                                h.jobs += 1;
                                h.expires = h.expires.max(expires);
                            }
                            None => holders.push(Holding { worker, jobs: 1, expires }),
                        }
                    }
                }
            }
            let mut idle = Vec::new();
            for r in tx.query(
                "SELECT w.worker FROM queue_workers w WHERE w.expires >= $1 AND NOT EXISTS (
                     SELECT 1 FROM queue_jobs j WHERE j.state = $2 AND j.host = w.host
                     AND j.pid = w.pid AND j.start_time = w.start_time)
                 ORDER BY w.worker",
                args![at, TAKEN],
            )? {
                idle.push(r.get(0)?);
            }
            Ok(Some(QueueProgress {
                run_id,
                devices: jobs.len(),
                batches,
                done,
                stopped,
                status,
                waiting,
                deferred,
                next_window,
                holders,
                idle,
            }))
        })
    }

    /// Cancels queued run `run_id` for `reason`: its jobs not taken yet (waiting for a
    /// window too) end not started, and no worker takes another; the jobs under way finish,
    /// and the run ends (`stopped`) with the last of them, at once when none is under way.
    /// `false`: no such queued run, or it had ended already.
    pub fn cancel_queued(&self, run_id: i64, reason: &str) -> Result<bool, StoreError> {
        self.db.write(|tx| {
            let running: Option<RunStatus> = tx
                .query_opt(
                    "SELECT r.status FROM queued_runs q JOIN runs r ON r.id = q.run_id WHERE q.run_id = $1",
                    args![run_id],
                )?
                .map(|r| r.get(0))
                .transpose()?;
            if running != Some(RunStatus::Running) {
                return Ok(false);
            }
            stop(tx, run_id, reason)?;
            end_if_done(tx, run_id)?;
            Ok(true)
        })
    }

    /// How many jobs of every queued run are not done yet (queued, waiting for a window, or
    /// taken).
    pub fn jobs_left(&self) -> Result<usize, StoreError> {
        let n: i64 = self.db.read(|tx| {
            tx.query_one(
                "SELECT COUNT(*) FROM queue_jobs WHERE state <> $1",
                args![DONE],
            )
        })?;
        Ok(n as usize)
    }
}

/// Stops run `run_id` for `reason` (once): its jobs not taken yet end not started.
fn stop(tx: &mut Tx<'_>, run_id: i64, reason: &str) -> Result<(), StoreError> {
    let first = tx.execute(
        "UPDATE queued_runs SET stopped = $2 WHERE run_id = $1 AND stopped IS NULL",
        args![run_id, reason],
    )?;
    if first == 0 {
        return Ok(());
    }
    tx.execute(
        "UPDATE run_devices SET outcome = $2 WHERE run_id = $1 AND outcome = $3
         AND tag IN (SELECT tag FROM queue_jobs WHERE run_id = $1 AND state = $4)",
        args![run_id, Outcome::NotStarted, PENDING, QUEUED],
    )?;
    tx.execute(
        "UPDATE queue_jobs SET state = $2, done_at = $3 WHERE run_id = $1 AND state = $4",
        args![run_id, DONE, unix_now(), QUEUED],
    )?;
    Ok(())
}

/// Ends run `run_id` when its last job is done: `stopped` when the threshold stopped it,
/// else `completed`.
fn end_if_done(tx: &mut Tx<'_>, run_id: i64) -> Result<(), StoreError> {
    let left: i64 = tx.query_one(
        "SELECT COUNT(*) FROM queue_jobs WHERE run_id = $1 AND state <> $2",
        args![run_id, DONE],
    )?;
    if left > 0 {
        return Ok(());
    }
    let stopped: Option<String> = tx.query_one(
        "SELECT stopped FROM queued_runs WHERE run_id = $1",
        args![run_id],
    )?;
    let status = if stopped.is_some() {
        RunStatus::Stopped
    } else {
        RunStatus::Completed
    };
    tx.execute(
        "UPDATE runs SET status = $2, finished_at = $3 WHERE id = $1 AND status = $4",
        args![run_id, status, now(), RunStatus::Running],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Purpose;
    use crate::store::conformance::both;

    /// A worker on machine `host`.
    fn worker(host: &str) -> Holder {
        let mut h = Holder::doing("ana", Purpose::Configure);
        h.host = host.into();
        h
    }

    fn jobs(batches: &[(&str, usize)]) -> Vec<QueueJob> {
        batches
            .iter()
            .map(|(t, b)| QueueJob {
                tag: t.to_string(),
                batch: *b,
                work_on: None,
            })
            .collect()
    }

    fn tag(c: Option<Claim>) -> Option<String> {
        c.map(|c| c.tag)
    }

    both! {
    fn jobs_are_taken_once_batch_after_batch_and_the_run_ends_with_the_last(fx: &Fixture) {
        let s = fx.open();
        let (a, b) = (worker("a"), worker("b"));
        let run = s.enqueue("ana", &jobs(&[("L1", 1), ("L2", 2), ("L3", 2)]), "{}").unwrap();
        // The process that queued it is gone: the run is its workers', not closed.
        s.sql("UPDATE runs SET pid = 999999999 WHERE id = $1", args![run]);
        let s = fx.open();
        let first = s.claim(&a, 60).unwrap().unwrap();
        assert_eq!((first.tag.as_str(), first.batch, first.batch_size), ("L1", 1, 1));
        assert_eq!((first.settings.as_str(), first.operator.as_str()), ("{}", "ana"));
        assert_eq!(tag(s.claim(&b, 60).unwrap()), None, "batch 2 waits for batch 1");
        assert!(s.complete(run, "L1", &a, false, "r1", None).unwrap());
        assert_eq!(tag(s.claim(&b, 60).unwrap()).as_deref(), Some("L2"));
        assert_eq!(tag(s.claim(&a, 60).unwrap()).as_deref(), Some("L3"));
        assert_eq!(tag(s.claim(&a, 60).unwrap()), None);
        assert_eq!(s.jobs_left().unwrap(), 2);
        // Only its own worker completes a job.
        assert!(!s.complete(run, "L2", &a, false, "r2", None).unwrap());
        assert!(s.complete(run, "L3", &a, false, "r3", None).unwrap());
        assert_eq!(s.last_run("configure").unwrap().unwrap().status, RunStatus::Running);
        assert!(s.complete(run, "L2", &b, false, "r2", None).unwrap());
        let p = s.queue_progress(run).unwrap().unwrap();
        assert_eq!(p.status, RunStatus::Completed);
        assert_eq!(p.batches, [1, 2]);
        let recaps: Vec<Option<&str>> = p.done.iter().map(|(_, r)| r.as_deref()).collect();
        assert_eq!(recaps.len(), 3);
        assert!(recaps.contains(&Some("r2")) && recaps.contains(&Some("r3")));
        assert_eq!(s.jobs_left().unwrap(), 0);
    }
    }

    both! {
    fn the_threshold_stops_every_worker_and_jobs_not_taken_end_not_started(fx: &Fixture) {
        let s = fx.open();
        let (a, b) = (worker("a"), worker("b"));
        let run = s
            .enqueue("ana", &jobs(&[("L1", 1), ("L2", 1), ("L3", 1), ("L4", 1)]), "{}")
            .unwrap();
        assert_eq!(tag(s.claim(&a, 60).unwrap()).as_deref(), Some("L1"));
        assert_eq!(tag(s.claim(&b, 60).unwrap()).as_deref(), Some("L2"));
        let reason = |n: usize| format!("{n} failed");
        // One failure allowed: the first does not stop it, the second does.
        s.record_run_device(run, "L1", Outcome::Failed, None).unwrap();
        assert!(s.complete(run, "L1", &a, true, "r1", Some((1, &reason))).unwrap());
        assert_eq!(tag(s.claim(&a, 60).unwrap()).as_deref(), Some("L3"));
        s.record_run_device(run, "L3", Outcome::Failed, None).unwrap();
        assert!(s.complete(run, "L3", &a, true, "r3", Some((1, &reason))).unwrap());
        assert_eq!(tag(s.claim(&a, 60).unwrap()), None, "stopped");
        let p = s.queue_progress(run).unwrap().unwrap();
        assert_eq!(p.stopped.as_deref(), Some("2 failed"));
        assert_eq!(p.status, RunStatus::Running, "L2 is still under way");
        s.record_run_device(run, "L2", Outcome::Changed, None).unwrap();
        assert!(s.complete(run, "L2", &b, false, "r2", Some((1, &reason))).unwrap());
        let last = s.last_run("configure").unwrap().unwrap();
        assert_eq!(last.status, RunStatus::Stopped);
        assert_eq!(
            last.devices,
            [
                ("L1".to_string(), Some(Outcome::Failed)),
                ("L2".to_string(), Some(Outcome::Changed)),
                ("L3".to_string(), Some(Outcome::Failed)),
                ("L4".to_string(), Some(Outcome::NotStarted)),
            ]
        );
        let p = s.queue_progress(run).unwrap().unwrap();
        assert!(p.done.contains(&("L4".to_string(), None)), "{:?}", p.done);
    }
    }

    both! {
    fn a_claim_is_taken_over_once_it_and_its_lease_expired(fx: &Fixture) {
        let s = fx.open();
        let (dead, live) = (worker("dead-machine"), worker("b"));
        let run = s.enqueue("ana", &jobs(&[("L1", 1)]), "{}").unwrap();
        s.claim(&dead, 60).unwrap().unwrap();
        // Renewed: not taken.
        s.renew_claims(&dead, unix_now() + 600).unwrap();
        assert_eq!(tag(s.claim(&live, 60).unwrap()), None);
        // Its claim expired, but its lease of the device did not yet: not taken.
        s.renew_claims(&dead, unix_now() - 5).unwrap();
        s.sql(
            "INSERT INTO locks (tag, operator, host, pid, start_time, since, purpose, expires) VALUES ('L1', 'ana', $1, $2, $3, '2026-11-24T00:00:00Z', 'configure', $4)",
            args![dead.host, dead.pid, dead.start_time as i64, unix_now() + 600],
        );
        s.transition("L1", crate::model::Stage::Received, "ana", None, &[]).unwrap();
        s.transition("L1", crate::model::Stage::Configuring, "ana", None, &[]).unwrap();
        assert_eq!(tag(s.claim(&live, 60).unwrap()), None);
        // Both expired: taken over, and the dead worker's configure recorded as failed.
        s.sql("UPDATE locks SET expires = $1", args![unix_now() - 5]);
        let c = s.claim(&live, 60).unwrap().unwrap();
        assert_eq!(c.tag, "L1");
        assert!(c.taken_over.unwrap().contains("dead-machine"));
        assert!(s.locks().unwrap().is_empty());
        assert_eq!(
            s.stage("L1").unwrap().unwrap().stage,
            crate::model::Stage::ConfigureFailed
        );
        assert!(!s.complete(run, "L1", &dead, false, "late", None).unwrap());
        assert!(s.complete(run, "L1", &live, false, "r1", None).unwrap());
    }
    }

    both! {
    fn a_deferred_job_waits_for_its_time(fx: &Fixture) {
        let s = fx.open();
        let a = worker("a");
        let run = s.enqueue("ana", &jobs(&[("L1", 1)]), "{}").unwrap();
        s.claim(&a, 60).unwrap().unwrap();
        s.defer(run, "L1", &a, unix_now() + 600).unwrap();
        assert_eq!(tag(s.claim(&a, 60).unwrap()), None);
        assert_eq!(s.jobs_left().unwrap(), 1);
        s.sql("UPDATE queue_jobs SET not_before = 0", args![]);
        assert_eq!(tag(s.claim(&a, 60).unwrap()).as_deref(), Some("L1"));
    }
    }

    both! {
    fn a_cancelled_run_ends_its_waiting_jobs_not_started_and_its_taken_ones_finish(fx: &Fixture) {
        let s = fx.open();
        let a = worker("a");
        let run = s
            .enqueue("ana", &jobs(&[("L1", 1), ("L2", 1), ("L3", 1)]), "{}")
            .unwrap();
        assert_eq!(tag(s.claim(&a, 60).unwrap()).as_deref(), Some("L1"));
        assert_eq!(tag(s.claim(&a, 60).unwrap()).as_deref(), Some("L2"));
        s.defer(run, "L2", &a, unix_now() + 600).unwrap();
        let p = s.queue_progress(run).unwrap().unwrap();
        assert_eq!((p.waiting, p.deferred), (1, 1));
        assert!(p.next_window.is_some_and(|t| t > unix_now()));
        assert_eq!(p.holders.len(), 1);
        assert_eq!((p.holders[0].jobs, p.holders[0].worker.contains("on a")), (1, true));
        assert!(s.cancel_queued(run, "cancelled by ana").unwrap());
        assert_eq!(tag(s.claim(&a, 60).unwrap()), None);
        let p = s.queue_progress(run).unwrap().unwrap();
        assert_eq!((p.waiting, p.deferred, p.status), (0, 0, RunStatus::Running));
        assert_eq!(p.stopped.as_deref(), Some("cancelled by ana"));
        s.record_run_device(run, "L1", Outcome::Changed, None).unwrap();
        assert!(s.complete(run, "L1", &a, false, "r1", None).unwrap());
        let last = s.last_run("configure").unwrap().unwrap();
        assert_eq!(last.status, RunStatus::Stopped);
        assert_eq!(
            last.devices,
            [
                ("L1".to_string(), Some(Outcome::Changed)),
                ("L2".to_string(), Some(Outcome::NotStarted)),
                ("L3".to_string(), Some(Outcome::NotStarted)),
            ]
        );
        assert!(!s.cancel_queued(run, "again").unwrap(), "it ended");
        // A job of a cancelled run taken over from a dead worker says the run stopped.
        let run = s.enqueue("ana", &jobs(&[("L4", 1), ("L5", 1)]), "{}").unwrap();
        let dead = worker("dead-machine");
        s.claim(&dead, 60).unwrap().unwrap();
        assert!(s.cancel_queued(run, "cancelled by bo").unwrap());
        s.renew_claims(&dead, unix_now() - 5).unwrap();
        let c = s.claim(&a, 60).unwrap().unwrap();
        assert_eq!((c.tag.as_str(), c.stopped.as_deref()), ("L4", Some("cancelled by bo")));
        assert!(c.taken_over.is_some());
        assert!(!s.cancel_queued(run + 100, "none").unwrap());
    }
    }

    both! {
    fn a_worker_goes_on_when_the_server_ends_its_connection(fx: &Fixture) {
        let s = fx.open();
        let other = fx.open();
        let a = worker("a");
        let run = s.enqueue("ana", &jobs(&[("L1", 1), ("L2", 1)]), "{}").unwrap();
        assert_eq!(tag(s.claim(&a, 60).unwrap()).as_deref(), Some("L1"));
        // Every other connection to the database ended (as by a restart of the server).
        let end_others = || {
            if matches!(fx.location, crate::store::Location::Postgres(_)) {
                other.sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND datname = current_database()",
                    args![],
                );
            }
        };
        end_others();
        assert_eq!(s.jobs_left().unwrap(), 2, "a read");
        end_others();
        assert_eq!(tag(s.claim(&a, 60).unwrap()).as_deref(), Some("L2"), "a write");
        end_others();
        assert!(s.complete(run, "L1", &a, false, "r1", None).unwrap());
        assert!(s.complete(run, "L2", &a, false, "r2", None).unwrap());
        assert_eq!(s.queue_progress(run).unwrap().unwrap().status, RunStatus::Completed);
    }
    }

    both! {
    fn jobs_on_one_print_server_are_taken_together_within_their_batch(fx: &Fixture) {
        let s = fx.open();
        let (a, dead) = (worker("a"), worker("dead-machine"));
        let job = |tag: &str, batch: usize, on: Option<&str>| QueueJob {
            tag: tag.into(),
            batch,
            work_on: on.map(str::to_string),
        };
        let run = s
            .enqueue(
                "ana",
                &[
                    job("P1", 1, Some("PS-A")),
                    job("L1", 1, None),
                    job("P2", 1, Some("PS-A")),
                    job("P3", 1, Some("PS-B")),
                    job("P4", 2, Some("PS-A")),
                    job("P5", 1, Some("PS-A")),
                    job("P6", 1, Some("PS-A")),
                ],
                "{}",
            )
            .unwrap();
        let tags = |c: Vec<Claim>| c.into_iter().map(|c| c.tag).collect::<Vec<_>>();
        // At most as many as asked, in queue order; never another batch's or server's.
        assert_eq!(tags(s.claim_together(&a, 60, 2).unwrap()), ["P1", "P2"]);
        assert_eq!(tags(s.claim_together(&a, 60, 10).unwrap()), ["L1"]);
        assert_eq!(tags(s.claim_together(&a, 60, 10).unwrap()), ["P3"]);
        // A worker that dies holding a group leaves every job of it to be taken over.
        let held = s.claim_together(&dead, 60, 10).unwrap();
        assert_eq!(tags(held.clone()), ["P5", "P6"]);
        assert!(held.iter().all(|c| (c.batch, c.batch_size) == (1, 6)));
        assert!(s.claim_together(&a, 60, 10).unwrap().is_empty(), "batch 2 waits");
        s.sql(
            "UPDATE queue_jobs SET expires = $1 WHERE host = 'dead-machine'",
            args![unix_now() - 5],
        );
        // Its lease of P6 expires a second later than its claims: not even P5 is taken
        // (the group is taken over whole, as one program) ...
        s.sql(
            "INSERT INTO locks (tag, operator, host, pid, start_time, since, purpose, expires) VALUES ('P6', 'ana', $1, $2, $3, '2026-11-24T00:00:00Z', 'configure', $4)",
            args![dead.host, dead.pid, dead.start_time as i64, unix_now() + 600],
        );
        assert!(s.claim_together(&a, 60, 10).unwrap().is_empty());
        // ... until it has expired too.
        s.sql("UPDATE locks SET expires = $1", args![unix_now() - 5]);
        let again = s.claim_together(&a, 60, 10).unwrap();
        assert_eq!(tags(again.clone()), ["P5", "P6"]);
        assert!(again.iter().all(|c| c.taken_over.as_deref().is_some_and(|w| w.contains("dead-machine"))));
        for t in ["P1", "P2", "L1", "P3", "P5", "P6"] {
            assert!(s.complete(run, t, &a, false, "r", None).unwrap(), "{t}");
        }
        assert!(!s.complete(run, "P5", &dead, false, "late", None).unwrap());
        assert_eq!(tags(s.claim_together(&a, 60, 10).unwrap()), ["P4"]);
    }
    }

    both! {
    fn running_workers_holding_no_job_are_listed_idle(fx: &Fixture) {
        let s = fx.open();
        let (a, b, gone) = (worker("a"), worker("b"), worker("gone"));
        let run = s.enqueue("ana", &jobs(&[("L1", 1), ("L2", 1)]), "{}").unwrap();
        for w in [&a, &b, &gone] {
            s.worker_seen(w, unix_now() + 60).unwrap();
        }
        s.worker_gone(&gone).unwrap();
        assert_eq!(s.claim(&a, 60).unwrap().unwrap().tag, "L1");
        assert_eq!(s.queue_progress(run).unwrap().unwrap().idle, [b.describe()]);
        // Seen again: still one row.
        s.worker_seen(&b, unix_now() + 60).unwrap();
        assert_eq!(s.queue_progress(run).unwrap().unwrap().idle, [b.describe()]);
        // One that stopped renewing its row is no longer listed.
        s.worker_seen(&b, unix_now() - 5).unwrap();
        assert!(s.queue_progress(run).unwrap().unwrap().idle.is_empty());
    }
    }

    both! {
    fn workers_at_once_take_every_grouped_job_exactly_once(fx: &Fixture) {
        let s = fx.open();
        let tags: Vec<String> = (1..=30).map(|i| format!("P{i:02}")).collect();
        let queued: Vec<QueueJob> = tags
            .iter()
            .enumerate()
            .map(|(i, t)| QueueJob {
                tag: t.clone(),
                batch: 1,
                work_on: Some(["PS-A", "PS-B", "PS-C"][i % 3].to_string()),
            })
            .collect();
        let run = s.enqueue("ana", &queued, "{}").unwrap();
        let taken: Vec<Vec<String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|i| {
                    scope.spawn(move || {
                        let store = fx.open();
                        let me = worker(&format!("w{i}"));
                        let mut mine = Vec::new();
                        loop {
                            let group = store.claim_together(&me, 60, 100).unwrap();
                            if group.is_empty() {
                                break;
                            }
                            for c in &group {
                                assert!(store.complete(run, &c.tag, &me, false, "r", None).unwrap());
                            }
                            mine.push(group.into_iter().map(|c| c.tag).collect());
                        }
                        mine
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        // Each claim is one print server's ten jobs, whole (workers claiming at the same
        // moment pass over them rather than split them); every job once.
        for g in &taken {
            assert_eq!(g.len(), 10, "{g:?}");
            let server = |t: &String| (t[1..].parse::<usize>().unwrap() - 1) % 3;
            assert!(g.iter().all(|t| server(t) == server(&g[0])), "{g:?}");
        }
        let mut sorted: Vec<String> = taken.into_iter().flatten().collect();
        sorted.sort();
        assert_eq!(sorted, tags, "each job once");
        assert_eq!(s.queue_progress(run).unwrap().unwrap().status, RunStatus::Completed);
    }
    }

    both! {
    fn workers_at_once_take_every_job_exactly_once(fx: &Fixture) {
        let s = fx.open();
        let tags: Vec<String> = (1..=24).map(|i| format!("L{i:02}")).collect();
        let queued: Vec<QueueJob> = tags
            .iter()
            .map(|t| QueueJob { tag: t.clone(), batch: 1, work_on: None })
            .collect();
        let run = s.enqueue("ana", &queued, "{}").unwrap();
        let taken: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|i| {
                    scope.spawn(move || {
                        let store = fx.open();
                        let me = worker(&format!("w{i}"));
                        let mut mine = Vec::new();
                        while let Some(c) = store.claim(&me, 60).unwrap() {
                            assert!(store.complete(run, &c.tag, &me, false, "r", None).unwrap());
                            mine.push(c.tag);
                        }
                        mine
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let mut sorted = taken.clone();
        sorted.sort();
        assert_eq!(sorted, tags, "each job once");
        assert_eq!(s.queue_progress(run).unwrap().unwrap().status, RunStatus::Completed);
    }
    }
}
