//! Rollouts as runs: which devices a run covered and how each ended, so that
//! `configure --resume` can redo exactly the ones that did not succeed.

use serde::Serialize;

use super::db::{Column, Tx, Value, args, stored_as_text};
use super::{Store, StoreError, now};
use crate::model::Outcome;
pub use crate::model::RunStatus;

stored_as_text!(Outcome);
stored_as_text!(RunStatus);

/// A device of a run: how it ended, or `None` while it is pending (never finished).
pub(super) struct DeviceOutcome(pub Option<Outcome>);

/// How a device that has not ended yet is stored.
pub(super) const PENDING: &str = "pending";

impl Column for DeviceOutcome {
    fn from_value(v: Value) -> Result<Self, String> {
        match &v {
            Value::Text(s) if s == PENDING => Ok(DeviceOutcome(None)),
            _ => Outcome::from_value(v).map(|o| DeviceOutcome(Some(o))),
        }
    }
}

/// A run and how each of its devices ended (`None` for those still pending: never reached).
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub id: i64,
    pub command: String,
    pub operator: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: RunStatus,
    pub devices: Vec<(String, Option<Outcome>)>,
}

/// Records how `tag` ended in `run`, in the caller's transaction.
pub(super) fn set_run_device(
    tx: &mut Tx<'_>,
    run: i64,
    tag: &str,
    outcome: Outcome,
    error: Option<&str>,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE run_devices SET outcome = $3, error = $4 WHERE run_id = $1 AND tag = $2",
        args![run, tag, outcome, error],
    )?;
    Ok(())
}

impl Store {
    /// Starts a run over `devices` (each `pending` until it ends).
    pub fn start_run(
        &self,
        command: &str,
        operator: &str,
        devices: &[String],
    ) -> Result<i64, StoreError> {
        // The run names its process, so that a run whose process is gone can be closed.
        let me = super::Holder::me(operator);
        self.db.write(|tx| {
            let id: i64 = tx.query_one(
                "INSERT INTO runs (command, operator, started_at, status, host, pid, start_time) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                args![command, operator, now(), RunStatus::Running, me.host, me.pid, me.start_time as i64],
            )?;
            for d in devices {
                tx.execute(
                    "INSERT INTO run_devices (run_id, tag, outcome) VALUES ($1, $2, $3)",
                    args![id, d, PENDING],
                )?;
            }
            Ok(id)
        })
    }

    pub fn record_run_device(
        &self,
        run: i64,
        tag: &str,
        outcome: Outcome,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.db
            .write(|tx| set_run_device(tx, run, tag, outcome, error))
    }

    /// Records how `tag` ended in `run` unless that was already recorded (by the
    /// transaction that recorded its work: [`Store::transition_with`], [`Store::record_with`]).
    pub fn settle_run_device(
        &self,
        run: i64,
        tag: &str,
        outcome: Outcome,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.db.write(|tx| {
            tx.execute(
                "UPDATE run_devices SET outcome = $3, error = $4 WHERE run_id = $1 AND tag = $2 AND outcome = $5",
                args![run, tag, outcome, error, PENDING],
            )
        })?;
        Ok(())
    }

    pub fn finish_run(&self, run: i64, status: RunStatus) -> Result<(), StoreError> {
        self.db.write(|tx| {
            tx.execute(
                "UPDATE runs SET status = $2, finished_at = $3 WHERE id = $1",
                args![run, status, now()],
            )
        })?;
        Ok(())
    }

    /// The newest run of `command`.
    pub fn last_run(&self, command: &str) -> Result<Option<RunRecord>, StoreError> {
        self.db.read(|tx| {
            let Some(r) = tx.query_opt(
                "SELECT id, command, operator, started_at, finished_at, status FROM runs WHERE command = $1 ORDER BY id DESC LIMIT 1",
                args![command],
            )?
            else {
                return Ok(None);
            };
            let mut run = RunRecord {
                id: r.get(0)?,
                command: r.get(1)?,
                operator: r.get(2)?,
                started_at: r.get(3)?,
                finished_at: r.get(4)?,
                status: r.get(5)?,
                devices: Vec::new(),
            };
            run.devices = tx
                .query(
                    "SELECT tag, outcome FROM run_devices WHERE run_id = $1 ORDER BY tag",
                    args![run.id],
                )?
                .iter()
                .map(|r| Ok((r.get(0)?, r.get::<DeviceOutcome>(1)?.0)))
                .collect::<Result<_, StoreError>>()?;
            Ok(Some(run))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Stage;
    use crate::store::conformance::both;

    both! {
    fn a_device_row_is_written_with_its_move_and_settled_once(fx: &Fixture) {
        let s = fx.open();
        s.transition("A", Stage::Received, "ana", None, &[]).unwrap();
        s.transition("A", Stage::Configuring, "ana", None, &[]).unwrap();
        let run = s.start_run("configure", "ana", &["A".into(), "B".into()]).unwrap();
        s.transition_with("A", Stage::Configured, "ana", None, &[], Some((run, Outcome::Changed, None)))
            .unwrap();
        // The rollout's own record afterwards changes nothing for A; B was never started.
        s.settle_run_device(run, "A", Outcome::Failed, Some("late")).unwrap();
        s.settle_run_device(run, "B", Outcome::NotStarted, None).unwrap();
        // A refused move writes neither the stage nor the run's row.
        let other = s.start_run("configure", "ana", &["A".into()]).unwrap();
        assert!(s
            .transition_with("A", Stage::ConfigureFailed, "ana", None, &[], Some((other, Outcome::Ok, None)))
            .is_err());
        let last = s.last_run("configure").unwrap().unwrap();
        assert_eq!(last.devices, [("A".to_string(), None)]);
        s.finish_run(other, RunStatus::Completed).unwrap();
        let rows = s.sql("SELECT tag, outcome FROM run_devices WHERE run_id = $1 ORDER BY tag", args![run]);
        let got: Vec<(String, String)> = rows.iter().map(|r| (r.get(0).unwrap(), r.get(1).unwrap())).collect();
        assert_eq!(got, [("A".into(), "changed".into()), ("B".into(), "not-started".into())]);
    }
    }
}
