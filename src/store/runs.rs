//! Rollouts as runs: which devices a run covered and how each ended, so that
//! `configure --resume` can redo exactly the ones that did not succeed.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{OptionalExtension, ToSql, params};
use serde::Serialize;

use super::{Store, StoreError, now};
use crate::model::Outcome;
pub use crate::model::RunStatus;

/// A stored word of the outcome vocabulary: written with `as_str`, read with `FromStr`;
/// an unknown word in the database reads as an error naming it.
macro_rules! stored_as_text {
    ($ty:ty) => {
        impl ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }
        impl FromSql for $ty {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                value
                    .as_str()?
                    .parse()
                    .map_err(|e| FromSqlError::Other(Box::new(e)))
            }
        }
    };
}

stored_as_text!(Outcome);
stored_as_text!(RunStatus);

/// A device of a run: how it ended, or `None` while it is pending (never finished).
pub(super) struct DeviceOutcome(pub Option<Outcome>);

/// How a device that has not ended yet is stored.
pub(super) const PENDING: &str = "pending";

impl FromSql for DeviceOutcome {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value.as_str()? {
            PENDING => Ok(DeviceOutcome(None)),
            _ => Outcome::column_result(value).map(|o| DeviceOutcome(Some(o))),
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

impl Store {
    /// Starts a run over `devices` (each `pending` until it ends).
    pub fn start_run(
        &self,
        command: &str,
        operator: &str,
        devices: &[String],
    ) -> Result<i64, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        // The run names its process, so that a run whose process is gone can be closed.
        let me = super::Holder::me(operator);
        tx.execute(
            "INSERT INTO runs (command, operator, started_at, status, host, pid, start_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![command, operator, now(), RunStatus::Running, me.host, me.pid, me.start_time as i64],
        )?;
        let id = tx.last_insert_rowid();
        for d in devices {
            tx.execute(
                "INSERT INTO run_devices (run_id, tag, outcome) VALUES (?1, ?2, ?3)",
                params![id, d, PENDING],
            )?;
        }
        tx.commit()?;
        Ok(id)
    }

    pub fn record_run_device(
        &self,
        run: i64,
        tag: &str,
        outcome: Outcome,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE run_devices SET outcome = ?3, error = ?4 WHERE run_id = ?1 AND tag = ?2",
            params![run, tag, outcome, error],
        )?;
        Ok(())
    }

    pub fn finish_run(&self, run: i64, status: RunStatus) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE runs SET status = ?2, finished_at = ?3 WHERE id = ?1",
            params![run, status, now()],
        )?;
        Ok(())
    }

    /// The newest run of `command`.
    pub fn last_run(&self, command: &str) -> Result<Option<RunRecord>, StoreError> {
        let conn = self.conn();
        let head = conn
            .query_row(
                "SELECT id, command, operator, started_at, finished_at, status FROM runs WHERE command = ?1 ORDER BY id DESC LIMIT 1",
                params![command],
                |r| {
                    Ok(RunRecord {
                        id: r.get(0)?,
                        command: r.get(1)?,
                        operator: r.get(2)?,
                        started_at: r.get(3)?,
                        finished_at: r.get(4)?,
                        status: r.get(5)?,
                        devices: Vec::new(),
                    })
                },
            )
            .optional()?;
        let Some(mut run) = head else { return Ok(None) };
        let mut stmt =
            conn.prepare("SELECT tag, outcome FROM run_devices WHERE run_id = ?1 ORDER BY tag")?;
        run.devices = stmt
            .query_map(params![run.id], |r| {
                Ok((r.get(0)?, r.get::<_, DeviceOutcome>(1)?.0))
            })?
            .collect::<Result<_, _>>()?;
        Ok(Some(run))
    }
}
