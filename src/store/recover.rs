//! Putting the record right after a process died or was aborted: devices left in
//! `configuring` by a process that is gone become `configure-failed` (locks released), runs
//! whose process is gone are closed as interrupted, and an aborting process gives up its
//! own devices and run the same way. Never touches a device, only the record.

use super::db::{Tx, args};
use super::locks::holder_row;
use super::runs::PENDING;
use super::{
    Entry, Holder, Purpose, RunStatus, Stage, Store, StoreError, insert_entry, now, stage_of,
};
use crate::model::Outcome;

impl Store {
    /// Devices left in `configuring` by a process that is gone, or whose lease expired
    /// without a renewal, become `configure-failed`, and their leases are released.
    pub(super) fn recover_interrupted(&self) -> Result<(), StoreError> {
        let stale: Vec<(String, Holder)> = self
            .locks()?
            .into_iter()
            .filter(|(_, h)| !h.is_alive())
            .collect();
        for (tag, holder) in stale {
            let error = interrupted(&holder);
            self.release(&tag, &holder, &error, &holder.operator)?;
        }
        Ok(())
    }

    /// Releases `holder`'s lease of `tag` (if it still holds it) and, when the device is
    /// `configuring`, moves it to `configure-failed` with `error`, in one transaction.
    pub(super) fn release(
        &self,
        tag: &str,
        holder: &Holder,
        error: &str,
        operator: &str,
    ) -> Result<(), StoreError> {
        self.db
            .write(|tx| release_in(tx, tag, holder, error, operator, None))
    }

    /// Runs left `running` by a process that is gone are closed as interrupted (their
    /// devices keep the outcomes recorded; the others stay pending, which `--resume`
    /// redoes). A run from before runs named their process is closed when none of its
    /// devices is locked. A queued run belongs to its workers, not to the process that
    /// queued it: it ends with its last job (`queue.rs`).
    pub(super) fn close_dead_runs(&self) -> Result<(), StoreError> {
        let running = self.db.read(|tx| {
            tx.query(
                "SELECT id, host, pid, start_time FROM runs WHERE status = $1 AND id NOT IN (SELECT run_id FROM queued_runs) ORDER BY id",
                args![RunStatus::Running],
            )
        })?;
        for r in running {
            let id: i64 = r.get(0)?;
            let owner: (Option<String>, Option<i64>, Option<i64>) =
                (r.get(1)?, r.get(2)?, r.get(3)?);
            let gone = match owner {
                (Some(host), Some(pid), Some(start)) => {
                    // A run on another machine is closed by that machine, or by the
                    // expiry of its devices' leases (recovered above).
                    host == super::locks::hostname()
                        && super::locks::start_time(pid as u32) != Some(start as u64)
                }
                _ => {
                    let locked: i64 = self.db.read(|tx| {
                        tx.query_one(
                            "SELECT COUNT(*) FROM locks WHERE tag IN (SELECT tag FROM run_devices WHERE run_id = $1)",
                            args![id],
                        )
                    })?;
                    locked == 0
                }
            };
            if gone {
                self.db.write(|tx| {
                    tx.execute(
                        "UPDATE runs SET status = $3, finished_at = $2 WHERE id = $1 AND status = $4",
                        args![id, now(), RunStatus::Interrupted, RunStatus::Running],
                    )
                })?;
            }
        }
        Ok(())
    }

    /// Gives up this process's work at once (a second Ctrl-C): every device it holds for a
    /// configure becomes `configure-failed` with `reason`, its leases are released, and run
    /// `run` (if any) records those devices as failed, the ones never started as not
    /// started, and ends interrupted. The remote work is cut by the caller (its sessions
    /// close when the process exits).
    pub fn abandon(
        &self,
        run: Option<i64>,
        operator: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        let mine: Vec<(String, Holder)> = self
            .locks()?
            .into_iter()
            .filter(|(_, h)| h.is_mine())
            .collect();
        for (tag, holder) in &mine {
            self.db
                .write(|tx| release_in(tx, tag, holder, reason, operator, run))?;
        }
        if let Some(run) = run {
            self.db.write(|tx| {
                tx.execute(
                    "UPDATE run_devices SET outcome = $2 WHERE run_id = $1 AND outcome = $3",
                    args![run, Outcome::NotStarted, PENDING],
                )?;
                tx.execute(
                    "UPDATE runs SET status = $3, finished_at = $2 WHERE id = $1",
                    args![run, now(), RunStatus::Interrupted],
                )
            })?;
        }
        Ok(())
    }

    /// Breaks `tag`'s lease on purpose (`deskready unlock`): the lease goes, a device it
    /// held `configuring` becomes `configure-failed`, and the journal names who broke it,
    /// whose it was and why, in one transaction. Returns the lease broken (`None`: there
    /// was none).
    pub fn unlock(
        &self,
        tag: &str,
        operator: &str,
        reason: &str,
    ) -> Result<Option<Holder>, StoreError> {
        self.db.write(|tx| {
            let Some(r) = tx.query_opt(
                "SELECT operator, host, pid, start_time, since, purpose, expires FROM locks WHERE tag = $1",
                args![tag],
            )?
            else {
                return Ok(None);
            };
            let holder = holder_row(&r)?;
            let error = format!(
                "{operator} broke the lease of {} ({}): {reason}",
                holder.describe(),
                holder.purpose.as_str()
            );
            release_in(tx, tag, &holder, &error, operator, None)?;
            insert_entry(tx, &Entry::new(tag, operator, "lock").message(error.clone()))?;
            Ok(Some(holder))
        })
    }
}

/// Why a dead holder's configure ended.
pub(super) fn interrupted(holder: &Holder) -> String {
    if holder.is_expired() && holder.host != super::locks::hostname() {
        format!(
            "the configure run by {} (pid {} on {}, started {}) stopped renewing its lease, which expired at {}",
            holder.operator,
            holder.pid,
            holder.host,
            holder.since,
            holder.expires_at()
        )
    } else {
        format!(
            "the configure run by {} (pid {} on {}, started {}) was interrupted before it finished",
            holder.operator, holder.pid, holder.host, holder.since
        )
    }
}

/// [`Store::release`] in the caller's transaction; with `run`, the device's row of that
/// run, still pending, becomes failed with `error`.
pub(super) fn release_in(
    tx: &mut Tx<'_>,
    tag: &str,
    holder: &Holder,
    error: &str,
    operator: &str,
    run: Option<i64>,
) -> Result<(), StoreError> {
    // Re-check in the transaction: another process may have recovered it.
    let still = tx.query_opt(
        "SELECT pid FROM locks WHERE tag = $1 AND pid = $2 AND start_time = $3 AND host = $4",
        args![tag, holder.pid, holder.start_time as i64, holder.host],
    )?;
    if still.is_none() {
        return Ok(());
    }
    tx.execute("DELETE FROM locks WHERE tag = $1", args![tag])?;
    let rec = stage_of(tx, tag)?;
    if holder.purpose == Purpose::Configure
        && rec.as_ref().map(|r| r.stage) == Some(Stage::Configuring)
    {
        // A configure journals its start with its end (`transient.rs`): the start of one
        // that died is written here, when the lease was taken.
        let last: Option<String> = tx
            .query_opt(
                "SELECT stage_to FROM journal WHERE tag = $1 AND kind = 'stage' ORDER BY id DESC LIMIT 1",
                args![tag],
            )?
            .map(|r| r.get::<Option<String>>(0))
            .transpose()?
            .flatten();
        if last.as_deref() != Some(Stage::Configuring.as_str()) {
            let mut started = Entry::new(tag, &holder.operator, "configure");
            started.at.clone_from(&holder.since);
            started.message = Some("configure started".into());
            insert_entry(tx, &started)?;
            let mut moved = Entry::new(tag, &holder.operator, "stage");
            moved.at.clone_from(&holder.since);
            moved.stage_from = Some(last.unwrap_or_else(|| "expected".into()));
            moved.stage_to = Some(Stage::Configuring.as_str().into());
            insert_entry(tx, &moved)?;
        }
        let at = now();
        tx.execute(
            "UPDATE devices SET stage = $2, since = $3, last_error = $4 WHERE tag = $1",
            args![tag, Stage::ConfigureFailed.as_str(), at, error],
        )?;
        let mut row = Entry::new(tag, operator, "stage");
        row.at = at;
        row.stage_from = Some(Stage::Configuring.as_str().into());
        row.stage_to = Some(Stage::ConfigureFailed.as_str().into());
        row.message = Some(error.to_string());
        insert_entry(tx, &row)?;
    }
    if let Some(run) = run {
        tx.execute(
            "UPDATE run_devices SET outcome = $4, error = $3 WHERE run_id = $1 AND tag = $2 AND outcome = $5",
            args![run, tag, error, Outcome::Failed, PENDING],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::both;

    both! {
    fn a_run_whose_process_is_gone_is_closed_as_interrupted_on_open(fx: &Fixture) {
        let (dead, live) = {
            let s = fx.open();
            let tags = vec!["LAP-1".to_string()];
            let dead = s.start_run("configure", "ana", &tags).unwrap();
            s.sql(
                "UPDATE runs SET pid = 999999999 WHERE id = $1",
                args![dead],
            );
            let live = s.start_run("configure", "ana", &tags).unwrap();
            (dead, live)
        };
        let s = fx.open();
        let status = |id: i64| -> String {
            s.sql("SELECT status FROM runs WHERE id = $1", args![id])[0]
                .get(0)
                .unwrap()
        };
        assert_eq!(status(dead), "interrupted");
        assert_eq!(status(live), "running", "this process still runs it");
    }
    }

    both! {
    fn abandoning_fails_the_devices_held_and_ends_the_run_interrupted(fx: &Fixture) {
        let s = fx.open();
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
}
