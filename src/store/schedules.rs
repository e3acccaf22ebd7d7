//! Scheduled jobs (`deskready schedule`): a deskready command line to run when it is due,
//! once (`--at`, `--in-window`) or again and again (`--every`, `--every-window`), and each
//! time one was run: by which
//! machine and process, how it ended (exit code), and the rollout's run it made.
//!
//! Exactly once, however many schedulers run at the same moment against a team store: a
//! job is claimed by a conditional `UPDATE` of its due time inside the claiming write
//! transaction (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: `SERIALIZABLE`, retried on a
//! conflict, after which the condition no longer holds). Rows, never advisory locks.
//!
//! Must not: parse command lines or times (the caller gives the next due time), run
//! anything.

use serde::Serialize;

use super::db::{Row, Tx, args};
use super::{Store, StoreError, now};

/// The tables' migration (one step of `migrations::MIGRATIONS`); portable SQL, `{id}` and
/// `{int}` put in each backend's words. Times to compare are Unix seconds.
pub(super) const MIGRATION: &str = r#"
    CREATE TABLE schedules (
        id {id},
        argv TEXT NOT NULL,
        command TEXT NOT NULL,
        written TEXT NOT NULL,
        every TEXT,
        timezone TEXT NOT NULL,
        grace {int} NOT NULL,
        due {int},
        operator TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE schedule_runs (
        id {id},
        schedule_id {int} NOT NULL,
        due {int} NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        host TEXT NOT NULL,
        pid {int} NOT NULL,
        start_time {int} NOT NULL,
        outcome TEXT NOT NULL,
        exit_code {int},
        run_id {int},
        message TEXT
    );
    CREATE INDEX schedule_runs_schedule ON schedule_runs (schedule_id, id);
"#;

/// How one run of a scheduled job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobOutcome {
    /// Claimed and started; not ended yet (or its scheduler died).
    Running,
    /// The command exited 0.
    Succeeded,
    /// The command refused the work (exit 3: a stage, a lock, a maintenance window).
    Refused,
    /// The command failed (any other exit code, or it could not be started).
    Failed,
    /// It was due longer ago than its grace allows (the scheduling machines were off):
    /// not run.
    Missed,
}

impl JobOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            JobOutcome::Running => "running",
            JobOutcome::Succeeded => "succeeded",
            JobOutcome::Refused => "refused",
            JobOutcome::Failed => "failed",
            JobOutcome::Missed => "missed",
        }
    }
}

impl std::str::FromStr for JobOutcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "running" => JobOutcome::Running,
            "succeeded" => JobOutcome::Succeeded,
            "refused" => JobOutcome::Refused,
            "failed" => JobOutcome::Failed,
            "missed" => JobOutcome::Missed,
            other => return Err(format!("unknown job outcome `{other}`")),
        })
    }
}

super::db::stored_as_text!(JobOutcome);

/// A job to add.
#[derive(Debug, Clone)]
pub struct NewSchedule {
    /// The deskready command line, without the program name or `--site`.
    pub argv: Vec<String>,
    /// Its subcommand (`configure`, `upgrade`).
    pub command: String,
    /// When, as written (`at sat 22:00`, `every sat 22:00`, `in-window`,
    /// `every window sat 22:00-06:00 Europe/London`).
    pub written: String,
    /// The recurring time (`sat 22:00`), or the maintenance window it is due at each
    /// opening of (`window sat 22:00-06:00`), for a job that repeats.
    pub every: Option<String>,
    /// The IANA time zone its times are read in.
    pub timezone: String,
    /// Seconds it may run late; later it is missed.
    pub grace: i64,
    /// When it is first due (Unix seconds).
    pub due: i64,
    pub operator: String,
}

/// A scheduled job, with its last run.
#[derive(Debug, Clone, Serialize)]
pub struct Schedule {
    pub id: i64,
    pub argv: Vec<String>,
    pub command: String,
    pub written: String,
    pub every: Option<String>,
    pub timezone: String,
    pub grace: i64,
    /// When it is next due (Unix seconds); `None` once a one-time job ran (or was missed).
    pub due: Option<i64>,
    pub operator: String,
    pub created_at: String,
    pub last: Option<JobRun>,
}

/// One run of a scheduled job.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct JobRun {
    pub id: i64,
    pub schedule_id: i64,
    /// The due time it was run for (Unix seconds).
    pub due: i64,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// The machine and process that ran it.
    pub host: String,
    pub pid: i64,
    pub outcome: JobOutcome,
    pub exit_code: Option<i64>,
    /// The rollout's run record, when the command made one.
    pub run_id: Option<i64>,
    pub message: Option<String>,
}

/// A job this process claimed: run it (unless `missed`) and record its end.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub schedule: Schedule,
    /// Its row in `schedule_runs`.
    pub run: JobRun,
}

const SCHEDULE_COLUMNS: &str =
    "id, argv, command, written, every, timezone, grace, due, operator, created_at";
const RUN_COLUMNS: &str =
    "id, schedule_id, due, started_at, finished_at, host, pid, outcome, exit_code, run_id, message";

fn schedule_row(r: &Row) -> Result<Schedule, StoreError> {
    let argv: String = r.get(1)?;
    Ok(Schedule {
        id: r.get(0)?,
        argv: serde_json::from_str(&argv).map_err(|e| StoreError::Column {
            index: 1,
            why: e.to_string(),
        })?,
        command: r.get(2)?,
        written: r.get(3)?,
        every: r.get(4)?,
        timezone: r.get(5)?,
        grace: r.get(6)?,
        due: r.get(7)?,
        operator: r.get(8)?,
        created_at: r.get(9)?,
        last: None,
    })
}

fn run_row(r: &Row) -> Result<JobRun, StoreError> {
    Ok(JobRun {
        id: r.get(0)?,
        schedule_id: r.get(1)?,
        due: r.get(2)?,
        started_at: r.get(3)?,
        finished_at: r.get(4)?,
        host: r.get(5)?,
        pid: r.get(6)?,
        outcome: r.get(7)?,
        exit_code: r.get(8)?,
        run_id: r.get(9)?,
        message: r.get(10)?,
    })
}

fn last_run(tx: &mut Tx<'_>, schedule: i64) -> Result<Option<JobRun>, StoreError> {
    tx.query_opt(
        &format!(
            "SELECT {RUN_COLUMNS} FROM schedule_runs WHERE schedule_id = $1 ORDER BY id DESC LIMIT 1"
        ),
        args![schedule],
    )?
    .map(|r| run_row(&r))
    .transpose()
}

impl Store {
    /// Adds a job; returns its id.
    pub fn add_schedule(&self, s: &NewSchedule) -> Result<i64, StoreError> {
        let argv = serde_json::to_string(&s.argv).unwrap_or_default();
        let created = now();
        self.db.write(|tx| {
            tx.query_one(
                "INSERT INTO schedules (argv, command, written, every, timezone, grace, due, operator, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                args![argv, s.command, s.written, s.every, s.timezone, s.grace, s.due, s.operator, created],
            )
        })
    }

    /// Every job, by id, each with its last run.
    pub fn schedules(&self) -> Result<Vec<Schedule>, StoreError> {
        self.db.write(|tx| {
            let rows = tx.query(
                &format!("SELECT {SCHEDULE_COLUMNS} FROM schedules ORDER BY id"),
                args![],
            )?;
            let mut all = Vec::new();
            for r in &rows {
                let mut s = schedule_row(r)?;
                s.last = last_run(tx, s.id)?;
                all.push(s);
            }
            Ok(all)
        })
    }

    /// Removes job `id` (its past runs stay); `false` when there is none.
    pub fn remove_schedule(&self, id: i64) -> Result<bool, StoreError> {
        self.db
            .write(|tx| tx.execute("DELETE FROM schedules WHERE id = $1", args![id]))
            .map(|n| n > 0)
    }

    /// The runs of job `id`, oldest first.
    pub fn schedule_runs(&self, id: i64) -> Result<Vec<JobRun>, StoreError> {
        self.db.read(|tx| {
            tx.query(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM schedule_runs WHERE schedule_id = $1 ORDER BY id"
                ),
                args![id],
            )?
            .iter()
            .map(run_row)
            .collect()
        })
    }

    /// Claims the job that has been due longest at `now` (Unix seconds), if any: in one
    /// write transaction its due time moves to `next(job)` (the next time of a recurring
    /// job; `None` for a one-time job) on condition that it is still the due time read,
    /// and its run row is written, `running`, or `missed` (and ended) when it is more
    /// than its grace late. Another scheduler that read the same job finds the condition
    /// false and claims nothing, so each due time is claimed exactly once.
    pub fn claim_due(
        &self,
        now_secs: i64,
        me: &super::Holder,
        next: &(dyn Fn(&Schedule) -> Option<i64> + Sync),
    ) -> Result<Option<Claimed>, StoreError> {
        self.claim_due_unless(now_secs, me, next, &|job: &Schedule, due| {
            past_grace(job, due, now_secs)
        })
    }

    /// [`Self::claim_due`], the run recorded `missed` when `missed(job, due)` says why
    /// (a window job whose window closed, say) rather than by its grace alone.
    pub fn claim_due_unless(
        &self,
        now_secs: i64,
        me: &super::Holder,
        next: &(dyn Fn(&Schedule) -> Option<i64> + Sync),
        missed: &(dyn Fn(&Schedule, i64) -> Option<String> + Sync),
    ) -> Result<Option<Claimed>, StoreError> {
        let started = now();
        let (host, pid) = (me.host.as_str(), me.pid);
        self.db.write(|tx| {
            let Some(row) = tx.query_opt(
                &format!(
                    "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE due IS NOT NULL AND due <= $1 ORDER BY due, id LIMIT 1"
                ),
                args![now_secs],
            )?
            else {
                return Ok(None);
            };
            let mut schedule = schedule_row(&row)?;
            let due = schedule.due.expect("selected with a due time");
            let following = next(&schedule);
            let claimed = tx.execute(
                "UPDATE schedules SET due = $3 WHERE id = $1 AND due = $2",
                args![schedule.id, due, following],
            )?;
            if claimed != 1 {
                return Ok(None);
            }
            let (outcome, finished, message) = match missed(&schedule, due) {
                Some(why) => (JobOutcome::Missed, Some(started.clone()), Some(why)),
                None => (JobOutcome::Running, None, None),
            };
            let id: i64 = tx.query_one(
                "INSERT INTO schedule_runs (schedule_id, due, started_at, finished_at, host, pid, start_time, outcome, message) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                args![schedule.id, due, started, finished, host, i64::from(pid), me.start_time, outcome, message],
            )?;
            schedule.due = following;
            let run = JobRun {
                id,
                schedule_id: schedule.id,
                due,
                started_at: started.clone(),
                finished_at: finished,
                host: host.to_string(),
                pid: i64::from(pid),
                outcome,
                exit_code: None,
                run_id: None,
                message,
            };
            Ok(Some(Claimed { schedule, run }))
        })
    }

    /// Records how a claimed run ended: its outcome, the command's exit code, the
    /// rollout's run record and a message.
    pub fn finish_job_run(
        &self,
        id: i64,
        outcome: JobOutcome,
        exit_code: Option<i64>,
        run_id: Option<i64>,
        message: Option<&str>,
    ) -> Result<(), StoreError> {
        let finished = now();
        self.db.write(|tx| {
            tx.execute(
                "UPDATE schedule_runs SET finished_at = $2, outcome = $3, exit_code = $4, run_id = $5, message = $6 WHERE id = $1",
                args![id, finished, outcome, exit_code, run_id, message],
            )
        })?;
        Ok(())
    }

    /// Ends the runs still `running` on machine `host` whose scheduler process is gone (it
    /// was killed, the machine rebooted): `failed`, saying so. Returns how many.
    pub fn close_dead_job_runs(&self, host: &str) -> Result<usize, StoreError> {
        let running = self.db.read(|tx| {
            tx.query(
                "SELECT id, pid, start_time FROM schedule_runs WHERE host = $1 AND outcome = $2",
                args![host, JobOutcome::Running],
            )
        })?;
        let mut closed = 0;
        for r in &running {
            let (id, pid, start): (i64, u32, u64) = (r.get(0)?, r.get(1)?, r.get(2)?);
            if super::locks::start_time(pid) == Some(start) {
                continue;
            }
            let message = format!(
                "its scheduler (pid {pid} on {host}) ended while the job ran; how the job ended is not known"
            );
            let finished = now();
            closed += self.db.write(|tx| {
                tx.execute(
                    "UPDATE schedule_runs SET outcome = $2, finished_at = $3, message = $4 WHERE id = $1 AND outcome = $5",
                    args![id, JobOutcome::Failed, finished, message, JobOutcome::Running],
                )
            })? as usize;
        }
        Ok(closed)
    }

    /// The rollout runs process `pid` on machine `host` started at or after `since` (RFC
    /// 3339): the runs a scheduled command made.
    pub fn runs_of_process(
        &self,
        host: &str,
        pid: u32,
        since: &str,
    ) -> Result<Vec<i64>, StoreError> {
        self.db.read(|tx| {
            tx.query(
                "SELECT id FROM runs WHERE host = $1 AND pid = $2 AND started_at >= $3 ORDER BY id",
                args![host, i64::from(pid), since],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect()
        })
    }
}

/// Why a job due at `due` is missed at `now` (Unix seconds) by its grace alone: due
/// longer ago than its grace allows (the scheduling machines were off).
pub fn past_grace(job: &Schedule, due: i64, now: i64) -> Option<String> {
    (now - due > job.grace).then(|| {
        format!(
            "due {}, more than its grace ({} s) ago: not run",
            crate::time::rfc3339(due),
            job.grace
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::both;

    fn job(due: i64, every: Option<&str>) -> NewSchedule {
        NewSchedule {
            argv: vec!["configure".into(), "--group".into(), "floor3".into()],
            command: "configure".into(),
            written: "at now".into(),
            every: every.map(str::to_string),
            timezone: "UTC".into(),
            grace: 3600,
            due,
            operator: "ana".into(),
        }
    }

    fn machine(host: &str, pid: u32) -> crate::store::Holder {
        crate::store::Holder {
            host: host.into(),
            pid,
            ..crate::store::Holder::me("ana")
        }
    }

    both! {
    fn a_job_due_is_claimed_once_and_its_end_recorded(fx: &Fixture) {
        let s = fx.open();
        let once = s.add_schedule(&job(1000, None)).unwrap();
        let weekly = s.add_schedule(&job(2000, Some("sat 22:00"))).unwrap();
        let never = |_: &Schedule| None;
        // Nothing is due before its time.
        assert!(s.claim_due(999, &machine("m1", 1), &never).unwrap().is_none());
        let c = s.claim_due(1500, &machine("m1", 1), &never).unwrap().unwrap();
        assert_eq!((c.schedule.id, c.run.outcome, c.run.due), (once, JobOutcome::Running, 1000));
        assert_eq!(c.schedule.argv, ["configure", "--group", "floor3"]);
        // Claimed: no one else gets it.
        assert!(s.claim_due(1500, &machine("m2", 2), &never).unwrap().is_none());
        s.finish_job_run(c.run.id, JobOutcome::Succeeded, Some(0), Some(7), None).unwrap();
        // A recurring job moves on to its next time.
        let next = |_: &Schedule| Some(9000);
        let c = s.claim_due(2100, &machine("m2", 2), &next).unwrap().unwrap();
        assert_eq!(c.schedule.id, weekly);
        assert!(s.claim_due(8999, &machine("m1", 1), &next).unwrap().is_none());
        s.finish_job_run(c.run.id, JobOutcome::Refused, Some(3), None, Some("outside")).unwrap();
        let all = s.schedules().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].due, None);
        let last = all[0].last.clone().unwrap();
        assert_eq!((last.outcome, last.exit_code, last.run_id, last.host.as_str()), (JobOutcome::Succeeded, Some(0), Some(7), "m1"));
        assert_eq!(all[1].due, Some(9000));
        assert_eq!(all[1].last.as_ref().unwrap().outcome, JobOutcome::Refused);
        // Long past its grace: recorded missed, not for running.
        let c = s.claim_due(9000 + 3601, &machine("m1", 1), &next).unwrap().unwrap();
        assert_eq!(c.run.outcome, JobOutcome::Missed);
        assert!(c.run.finished_at.is_some());
        assert_eq!(s.schedule_runs(weekly).unwrap().len(), 2);
        // Removed: gone from the list, its runs kept.
        assert!(s.remove_schedule(weekly).unwrap());
        assert!(!s.remove_schedule(weekly).unwrap());
        assert_eq!(s.schedules().unwrap().len(), 1);
        assert_eq!(s.schedule_runs(weekly).unwrap().len(), 2);
    }
    }

    both! {
    fn schedulers_racing_for_one_job_claim_it_once(fx: &Fixture) {
        let s = fx.open();
        let id = s.add_schedule(&job(1000, None)).unwrap();
        let claims: Vec<bool> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..6u32)
                .map(|i| {
                    let store = fx.open();
                    scope.spawn(move || {
                        store
                            .claim_due(1000, &machine(&format!("m{i}"), i), &|_: &Schedule| None)
                            .unwrap()
                            .is_some()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(claims.iter().filter(|c| **c).count(), 1, "{claims:?}");
        assert_eq!(s.schedule_runs(id).unwrap().len(), 1);
    }
    }

    both! {
    fn a_run_whose_scheduler_is_gone_is_closed_failed(fx: &Fixture) {
        let s = fx.open();
        let id = s.add_schedule(&job(1000, None)).unwrap();
        let me = crate::store::Holder::me("ana");
        let gone = crate::store::Holder { start_time: me.start_time + 1, ..me.clone() };
        s.claim_due(1000, &gone, &|_: &Schedule| None).unwrap().unwrap();
        let other = s.add_schedule(&job(1000, None)).unwrap();
        s.claim_due(1000, &me, &|_: &Schedule| None).unwrap().unwrap();
        // Another machine's runs are its own to close.
        assert_eq!(s.close_dead_job_runs("elsewhere").unwrap(), 0);
        assert_eq!(s.close_dead_job_runs(&me.host).unwrap(), 1);
        let run = &s.schedule_runs(id).unwrap()[0];
        assert_eq!(run.outcome, JobOutcome::Failed);
        assert!(run.message.as_deref().unwrap().contains("ended while the job ran"), "{run:?}");
        assert_eq!(s.schedule_runs(other).unwrap()[0].outcome, JobOutcome::Running, "this process is alive");
    }
    }

    both! {
    fn the_runs_a_process_made_are_found(fx: &Fixture) {
        let s = fx.open();
        let since = now();
        let run = s.start_run("configure", "ana", &[]).unwrap();
        let me = crate::store::Holder::me("ana");
        assert_eq!(s.runs_of_process(&me.host, me.pid, &since).unwrap(), [run]);
        assert!(s.runs_of_process(&me.host, me.pid + 1, &since).unwrap().is_empty());
        assert!(s.runs_of_process(&me.host, me.pid, "9999-01-01T00:00:00Z").unwrap().is_empty());
    }
    }
}
