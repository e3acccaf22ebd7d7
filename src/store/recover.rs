//! Putting the record right after a process died or was aborted: devices left in
//! `configuring` by a process that is gone become `configure-failed` (locks released), runs
//! whose process is gone are closed as interrupted, and an aborting process gives up its
//! own devices and run the same way. Never touches a device, only the record.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::locks::{hostname, start_time};
use super::runs::PENDING;
use super::{
    Entry, Holder, Purpose, RunStatus, Stage, Store, StoreError, insert_entry, now, stage_of,
};
use crate::model::Outcome;

impl Store {
    /// Devices left in `configuring` by a process that is gone become `configure-failed`,
    /// and their locks are released.
    pub(super) fn recover_interrupted(&self) -> Result<(), StoreError> {
        let stale: Vec<(String, Holder)> = self
            .locks()?
            .into_iter()
            .filter(|(_, h)| !h.is_alive())
            .collect();
        for (tag, holder) in stale {
            let error = format!(
                "the configure run by {} (pid {} on {}, started {}) was interrupted before it finished",
                holder.operator, holder.pid, holder.host, holder.since
            );
            self.release(&tag, &holder, &error, &holder.operator)?;
        }
        Ok(())
    }

    /// Releases `holder`'s lock of `tag` (if it still holds it) and, when the device is
    /// `configuring`, moves it to `configure-failed` with `error`, in one transaction.
    fn release(
        &self,
        tag: &str,
        holder: &Holder,
        error: &str,
        operator: &str,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Re-check under the write lock: another process may have recovered it.
        let still: Option<i64> = tx
            .query_row(
                "SELECT pid FROM locks WHERE tag = ?1 AND pid = ?2 AND start_time = ?3 AND host = ?4",
                params![tag, holder.pid, holder.start_time as i64, holder.host],
                |r| r.get(0),
            )
            .optional()?;
        if still.is_none() {
            return Ok(());
        }
        tx.execute("DELETE FROM locks WHERE tag = ?1", params![tag])?;
        let rec = stage_of(&tx, tag)?;
        if holder.purpose == Purpose::Configure
            && rec.as_ref().map(|r| r.stage) == Some(Stage::Configuring)
        {
            // A configure journals its start with its end (`transient.rs`): the start of
            // one that died is written here, when the lock was taken.
            let last: Option<String> = tx
                .query_row(
                    "SELECT stage_to FROM journal WHERE tag = ?1 AND kind = 'stage' ORDER BY id DESC LIMIT 1",
                    params![tag],
                    |r| r.get(0),
                )
                .optional()?;
            if last.as_deref() != Some(Stage::Configuring.as_str()) {
                let mut started = Entry::new(tag, &holder.operator, "configure");
                started.at.clone_from(&holder.since);
                started.message = Some("configure started".into());
                insert_entry(&tx, &started)?;
                let mut moved = Entry::new(tag, &holder.operator, "stage");
                moved.at.clone_from(&holder.since);
                moved.stage_from = Some(last.unwrap_or_else(|| "expected".into()));
                moved.stage_to = Some(Stage::Configuring.as_str().into());
                insert_entry(&tx, &moved)?;
            }
            let at = now();
            tx.execute(
                "UPDATE devices SET stage = ?2, since = ?3, last_error = ?4 WHERE tag = ?1",
                params![tag, Stage::ConfigureFailed.as_str(), at, error],
            )?;
            let mut row = Entry::new(tag, operator, "stage");
            row.at = at;
            row.stage_from = Some(Stage::Configuring.as_str().into());
            row.stage_to = Some(Stage::ConfigureFailed.as_str().into());
            row.message = Some(error.to_string());
            insert_entry(&tx, &row)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Runs left `running` by a process that is gone are closed as interrupted (their
    /// devices keep the outcomes recorded; the others stay pending, which `--resume`
    /// redoes). A run from before runs named their process is closed when none of its
    /// devices is locked.
    pub(super) fn close_dead_runs(&self) -> Result<(), StoreError> {
        // id, and the host, pid and start time of its process (absent in older runs).
        type Owner = (i64, Option<String>, Option<i64>, Option<i64>);
        let running: Vec<Owner> = {
            let conn = self.conn();
            let mut stmt = conn.prepare(
                "SELECT id, host, pid, start_time FROM runs WHERE status = ?1 ORDER BY id",
            )?;
            stmt.query_map(params![RunStatus::Running], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<Result<_, _>>()?
        };
        for (id, host, pid, start) in running {
            let gone = match (host, pid, start) {
                (Some(host), Some(pid), Some(start)) => !Holder {
                    host,
                    pid: pid as u32,
                    start_time: start as u64,
                    ..Holder::me("")
                }
                .is_alive(),
                _ => {
                    let locked: i64 = self.conn().query_row(
                        "SELECT COUNT(*) FROM locks WHERE tag IN (SELECT tag FROM run_devices WHERE run_id = ?1)",
                        params![id],
                        |r| r.get(0),
                    )?;
                    locked == 0
                }
            };
            if gone {
                self.conn().execute(
                    "UPDATE runs SET status = ?3, finished_at = ?2 WHERE id = ?1 AND status = ?4",
                    params![id, now(), RunStatus::Interrupted, RunStatus::Running],
                )?;
            }
        }
        Ok(())
    }

    /// Gives up this process's work at once (a second Ctrl-C): every device it holds for a
    /// configure becomes `configure-failed` with `reason`, its locks are released, and run
    /// `run` (if any) records those devices as failed, the ones never started as not
    /// started, and ends interrupted. The remote work is cut by the caller (its sessions
    /// close when the process exits).
    pub fn abandon(
        &self,
        run: Option<i64>,
        operator: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        let pid = std::process::id();
        let mine: Vec<(String, Holder)> = self
            .locks()?
            .into_iter()
            .filter(|(_, h)| {
                h.pid == pid && h.host == hostname() && Some(h.start_time) == start_time(pid)
            })
            .collect();
        for (tag, holder) in &mine {
            self.release(tag, holder, reason, operator)?;
            if let Some(run) = run {
                self.conn().execute(
                    "UPDATE run_devices SET outcome = ?4, error = ?3 WHERE run_id = ?1 AND tag = ?2 AND outcome = ?5",
                    params![run, tag, reason, Outcome::Failed, PENDING],
                )?;
            }
        }
        if let Some(run) = run {
            let conn = self.conn();
            conn.execute(
                "UPDATE run_devices SET outcome = ?2 WHERE run_id = ?1 AND outcome = ?3",
                params![run, Outcome::NotStarted, PENDING],
            )?;
            conn.execute(
                "UPDATE runs SET status = ?3, finished_at = ?2 WHERE id = ?1",
                params![run, now(), RunStatus::Interrupted],
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_whose_process_is_gone_is_closed_as_interrupted_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let (dead, live) = {
            let s = Store::open(dir.path()).unwrap();
            let tags = vec!["LAP-1".to_string()];
            let dead = s.start_run("configure", "ana", &tags).unwrap();
            s.conn()
                .execute(
                    "UPDATE runs SET pid = 999999999 WHERE id = ?1",
                    params![dead],
                )
                .unwrap();
            let live = s.start_run("configure", "ana", &tags).unwrap();
            (dead, live)
        };
        let s = Store::open(dir.path()).unwrap();
        let status = |id: i64| -> String {
            s.conn()
                .query_row("SELECT status FROM runs WHERE id = ?1", params![id], |r| {
                    r.get(0)
                })
                .unwrap()
        };
        assert_eq!(status(dead), "interrupted");
        assert_eq!(status(live), "running", "this process still runs it");
    }

    #[test]
    fn abandoning_fails_the_devices_held_and_ends_the_run_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.transition("LAP-1", Stage::Received, "ana", None, &[])
            .unwrap();
        let run = s
            .start_run("configure", "ana", &["LAP-1".into(), "LAP-2".into()])
            .unwrap();
        let guard = s.lock("LAP-1", &Holder::me("ana")).unwrap();
        s.transition("LAP-1", Stage::Configuring, "ana", None, &[])
            .unwrap();
        s.abandon(Some(run), "ana", "aborted (second Ctrl-C)")
            .unwrap();
        std::mem::forget(guard);
        let rec = s.stage("LAP-1").unwrap().unwrap();
        assert_eq!(rec.stage, Stage::ConfigureFailed);
        assert_eq!(rec.last_error.as_deref(), Some("aborted (second Ctrl-C)"));
        assert!(s.locks().unwrap().is_empty());
        let last = s.last_run("configure").unwrap().unwrap();
        assert_eq!(last.status, RunStatus::Interrupted);
        assert_eq!(
            last.devices,
            [
                ("LAP-1".to_string(), Some(Outcome::Failed)),
                ("LAP-2".to_string(), Some(Outcome::NotStarted))
            ]
        );
    }
}
