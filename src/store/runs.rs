//! Rollouts as runs: which devices a run covered and how each ended, so that
//! `configure --resume` can redo exactly the ones that did not succeed.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Store, StoreError, now};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    /// Every device was attempted.
    Completed,
    /// The failure threshold stopped it.
    Stopped,
    /// Ctrl-C (or the process died: a run left `running` reads as interrupted).
    Interrupted,
}

impl RunStatus {
    fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Stopped => "stopped",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

/// A run and how each of its devices ended (`pending` for those never reached).
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub id: i64,
    pub command: String,
    pub operator: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: String,
    pub devices: Vec<(String, String)>,
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
            "INSERT INTO runs (command, operator, started_at, status, host, pid, start_time) VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6)",
            params![command, operator, now(), me.host, me.pid, me.start_time as i64],
        )?;
        let id = tx.last_insert_rowid();
        for d in devices {
            tx.execute(
                "INSERT INTO run_devices (run_id, tag, outcome) VALUES (?1, ?2, 'pending')",
                params![id, d],
            )?;
        }
        tx.commit()?;
        Ok(id)
    }

    pub fn record_run_device(
        &self,
        run: i64,
        tag: &str,
        outcome: &str,
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
            params![run, status.as_str(), now()],
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
            .query_map(params![run.id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(Some(run))
    }
}
