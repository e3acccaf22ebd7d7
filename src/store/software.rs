//! Software over a device's life: snapshots of its installed packages (one JSON document
//! per snapshot, so that what changed between two is computed by the caller), the upgrades
//! it had waiting when last asked (with its package index's age), and each device's last
//! upgrade outcome over every run (what `upgrade --resume` works from), and the packages a
//! device had when an upgrade started on it until that upgrade is settled (so that one cut
//! off still has its changes journaled). Owns its tables and migrations; knows nothing of
//! dpkg or apt.

use serde::Serialize;

use super::db::args;
use super::resume::LastConfigure;
use super::runs::{DeviceOutcome, PENDING};
use super::{RunStatus, Store, StoreError, now};

/// The tables' migration (one step of `migrations::MIGRATIONS`); portable SQL.
pub(super) const MIGRATION: &str = r#"
    CREATE TABLE software_snapshots (
        id {id},
        tag TEXT NOT NULL,
        at TEXT NOT NULL,
        operator TEXT NOT NULL,
        packages TEXT NOT NULL
    );
    CREATE INDEX software_snapshots_tag ON software_snapshots (tag, id);
    CREATE TABLE software_pending (
        tag TEXT PRIMARY KEY,
        at TEXT NOT NULL,
        index_age {int},
        pending TEXT NOT NULL
    );
"#;

/// The table of upgrades started and not yet settled (one step of
/// `migrations::MIGRATIONS`); portable SQL.
pub(super) const MIGRATION_MARKS: &str = r#"
    CREATE TABLE upgrade_marks (
        tag TEXT PRIMARY KEY,
        run_id {int} NOT NULL,
        operator TEXT NOT NULL,
        at TEXT NOT NULL,
        packages TEXT NOT NULL
    );
"#;

/// An upgrade started on a device and not settled: the packages it had then.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UpgradeMark {
    pub tag: String,
    /// The upgrade's run.
    pub run_id: i64,
    pub operator: String,
    /// When it started (RFC 3339, UTC).
    pub at: String,
    /// The packages before it, as JSON (the caller's type).
    pub packages: String,
}

/// One snapshot of a device's installed packages.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SoftwareSnapshot {
    pub id: i64,
    pub tag: String,
    /// RFC 3339, UTC.
    pub at: String,
    pub operator: String,
    /// The packages, as JSON (the caller's type).
    pub packages: String,
}

/// The upgrades a device had waiting when last asked.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PendingRecord {
    pub tag: String,
    /// When it was asked (RFC 3339, UTC).
    pub at: String,
    /// Its package index's age then, in seconds (`None`: it had none).
    pub index_age: Option<i64>,
    /// The upgrades, as JSON (the caller's type).
    pub pending: String,
}

const SNAPSHOT_COLUMNS: &str = "id, tag, at, operator, packages";

fn snapshot_of(r: &super::db::Row) -> Result<SoftwareSnapshot, StoreError> {
    Ok(SoftwareSnapshot {
        id: r.get(0)?,
        tag: r.get(1)?,
        at: r.get(2)?,
        operator: r.get(3)?,
        packages: r.get(4)?,
    })
}

impl Store {
    /// Stores a snapshot of `tag`'s packages (`packages`: JSON) with its journal rows, in
    /// one transaction; returns the snapshot's id.
    pub fn record_software(
        &self,
        tag: &str,
        operator: &str,
        packages: &str,
        entries: &[super::Entry],
    ) -> Result<i64, StoreError> {
        let at = now();
        self.db.write(|tx| {
            let id: i64 = tx.query_one(
                "INSERT INTO software_snapshots (tag, at, operator, packages) VALUES ($1, $2, $3, $4) RETURNING id",
                args![tag, at, operator, packages],
            )?;
            super::insert_entries(tx, entries)?;
            Ok(id)
        })
    }

    /// `tag`'s newest `n` snapshots, newest first.
    pub fn software_snapshots(
        &self,
        tag: &str,
        n: usize,
    ) -> Result<Vec<SoftwareSnapshot>, StoreError> {
        let sql = format!(
            "SELECT {SNAPSHOT_COLUMNS} FROM software_snapshots WHERE tag = $1 ORDER BY id DESC LIMIT $2"
        );
        let rows = self.db.read(|tx| tx.query(&sql, args![tag, n as i64]))?;
        rows.iter().map(snapshot_of).collect()
    }

    /// `tag`'s first snapshot (what it had when deskready first listed it), if any.
    pub fn first_software(&self, tag: &str) -> Result<Option<SoftwareSnapshot>, StoreError> {
        let sql = format!(
            "SELECT {SNAPSHOT_COLUMNS} FROM software_snapshots WHERE tag = $1 ORDER BY id LIMIT 1"
        );
        let rows = self.db.read(|tx| tx.query(&sql, args![tag]))?;
        rows.first().map(snapshot_of).transpose()
    }

    /// Every device's newest snapshot, by tag.
    pub fn latest_software(&self) -> Result<Vec<SoftwareSnapshot>, StoreError> {
        let sql = format!(
            "SELECT {SNAPSHOT_COLUMNS} FROM software_snapshots WHERE id IN (SELECT MAX(id) FROM software_snapshots GROUP BY tag) ORDER BY tag"
        );
        let rows = self.db.read(|tx| tx.query(&sql, args![]))?;
        rows.iter().map(snapshot_of).collect()
    }

    /// Records the upgrades `tag` has waiting now (`pending`: JSON) and its index's age,
    /// replacing what it had before.
    pub fn record_pending(
        &self,
        tag: &str,
        index_age: Option<i64>,
        pending: &str,
    ) -> Result<(), StoreError> {
        let at = now();
        self.db.write(|tx| {
            tx.execute(
                "INSERT INTO software_pending (tag, at, index_age, pending) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tag) DO UPDATE SET at = excluded.at, index_age = excluded.index_age, pending = excluded.pending",
                args![tag, at, index_age, pending],
            )?;
            Ok(())
        })
    }

    /// What every device had waiting when last asked, by tag.
    pub fn pending_upgrades(&self) -> Result<Vec<PendingRecord>, StoreError> {
        let rows = self.db.read(|tx| {
            tx.query(
                "SELECT tag, at, index_age, pending FROM software_pending ORDER BY tag",
                args![],
            )
        })?;
        rows.iter()
            .map(|r| {
                Ok(PendingRecord {
                    tag: r.get(0)?,
                    at: r.get(1)?,
                    index_age: r.get(2)?,
                    pending: r.get(3)?,
                })
            })
            .collect()
    }

    /// Marks that run `run_id` starts upgrading `tag`, which has `packages` (JSON) now,
    /// replacing an earlier mark; `entries` (what an earlier, cut-off upgrade changed) are
    /// journaled in the same transaction.
    pub fn begin_upgrade(
        &self,
        tag: &str,
        run_id: i64,
        operator: &str,
        packages: &str,
        entries: &[super::Entry],
    ) -> Result<(), StoreError> {
        let at = now();
        self.db.write(|tx| {
            super::insert_entries(tx, entries)?;
            tx.execute(
                "INSERT INTO upgrade_marks (tag, run_id, operator, at, packages) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (tag) DO UPDATE SET run_id = excluded.run_id, operator = excluded.operator,
                 at = excluded.at, packages = excluded.packages",
                args![tag, run_id, operator, at, packages],
            )?;
            Ok(())
        })
    }

    /// The upgrade started on `tag` and not settled, if any.
    pub fn upgrade_mark(&self, tag: &str) -> Result<Option<UpgradeMark>, StoreError> {
        let rows = self.db.read(|tx| {
            tx.query(
                "SELECT tag, run_id, operator, at, packages FROM upgrade_marks WHERE tag = $1",
                args![tag],
            )
        })?;
        rows.first()
            .map(|r| {
                Ok(UpgradeMark {
                    tag: r.get(0)?,
                    run_id: r.get(1)?,
                    operator: r.get(2)?,
                    at: r.get(3)?,
                    packages: r.get(4)?,
                })
            })
            .transpose()
    }

    /// Settles the upgrade run `run_id` started on `tag`: journals `entries` (with how the
    /// device ended in a run, when given) and forgets its mark, in one transaction.
    pub fn settle_upgrade(
        &self,
        tag: &str,
        run_id: i64,
        entries: &[super::Entry],
        run_device: Option<(i64, crate::model::Outcome, Option<&str>)>,
    ) -> Result<(), StoreError> {
        self.db.write(|tx| {
            super::insert_entries(tx, entries)?;
            if let Some((run, outcome, error)) = run_device {
                super::runs::set_run_device(tx, run, tag, outcome, error)?;
            }
            tx.execute(
                "DELETE FROM upgrade_marks WHERE tag = $1 AND run_id = $2",
                args![tag, run_id],
            )?;
            Ok(())
        })
    }

    /// Every device's newest outcome in runs of `command` (`upgrade`), by tag; a device
    /// still pending in a run that is running counts by its earlier runs.
    pub fn last_outcomes(&self, command: &str) -> Result<Vec<LastConfigure>, StoreError> {
        let rows = self.db.read(|tx| {
            tx.query(
                "WITH settled AS (
                     SELECT d.run_id, d.tag, d.outcome FROM run_devices d JOIN runs r ON r.id = d.run_id
                     WHERE r.command = $1 AND NOT (d.outcome = $2 AND r.status = $3)
                 )
                 SELECT s.tag, s.outcome, s.run_id FROM settled s
                 WHERE s.run_id = (SELECT MAX(run_id) FROM settled t WHERE t.tag = s.tag)
                 ORDER BY s.tag",
                args![command, PENDING, RunStatus::Running],
            )
        })?;
        rows.iter()
            .map(|r| {
                Ok(LastConfigure {
                    device: r.get(0)?,
                    outcome: r.get::<DeviceOutcome>(1)?.0,
                    run: r.get(2)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Outcome;
    use crate::store::Entry;
    use crate::store::conformance::both;

    both! {
    fn snapshots_are_kept_per_device_newest_first(fx: &Fixture) {
        let s = fx.open();
        let row = Entry::new("A", "ana", "software").message("2 packages");
        let first = s.record_software("A", "ana", "[1]", std::slice::from_ref(&row)).unwrap();
        let second = s.record_software("A", "ana", "[2]", &[]).unwrap();
        s.record_software("B", "bo", "[3]", &[]).unwrap();
        assert!(second > first);
        let a = s.software_snapshots("A", 2).unwrap();
        let got: Vec<&str> = a.iter().map(|x| x.packages.as_str()).collect();
        assert_eq!(got, ["[2]", "[1]"]);
        assert_eq!(s.software_snapshots("A", 1).unwrap().len(), 1);
        assert_eq!(s.first_software("A").unwrap().unwrap().packages, "[1]");
        assert_eq!(s.first_software("C").unwrap(), None);
        let latest: Vec<(String, String)> = s
            .latest_software()
            .unwrap()
            .into_iter()
            .map(|x| (x.tag, x.packages))
            .collect();
        assert_eq!(latest, [("A".into(), "[2]".into()), ("B".into(), "[3]".into())]);
        let h = s.history("A").unwrap();
        assert_eq!(h.last().unwrap().message.as_deref(), Some("2 packages"));
    }
    }

    both! {
    fn an_upgrade_mark_lasts_until_its_run_settles_it(fx: &Fixture) {
        let s = fx.open();
        assert_eq!(s.upgrade_mark("A").unwrap(), None);
        s.begin_upgrade("A", 4, "ana", "[1]", &[]).unwrap();
        let m = s.upgrade_mark("A").unwrap().unwrap();
        assert_eq!((m.run_id, m.operator.as_str(), m.packages.as_str()), (4, "ana", "[1]"));
        // A later run replaces it, journaling what the earlier one changed.
        let row = Entry::new("A", "ana", "software").message("upgraded a 1 → 2");
        s.begin_upgrade("A", 5, "bo", "[2]", std::slice::from_ref(&row)).unwrap();
        assert_eq!(s.upgrade_mark("A").unwrap().unwrap().run_id, 5);
        assert_eq!(s.history("A").unwrap().len(), 1);
        // Settling another run's mark leaves it.
        s.settle_upgrade("A", 4, &[], None).unwrap();
        assert!(s.upgrade_mark("A").unwrap().is_some());
        let run = s.start_run("upgrade", "bo", &["A".to_string()]).unwrap();
        s.settle_upgrade("A", 5, &[row], Some((run, Outcome::Changed, None))).unwrap();
        assert_eq!(s.upgrade_mark("A").unwrap(), None);
        assert_eq!(s.history("A").unwrap().len(), 2);
    }
    }

    both! {
    fn pending_upgrades_replace_the_last_answer(fx: &Fixture) {
        let s = fx.open();
        s.record_pending("A", Some(60), "[1]").unwrap();
        s.record_pending("A", None, "[]").unwrap();
        s.record_pending("B", Some(5), "[2]").unwrap();
        let got: Vec<(String, Option<i64>, String)> = s
            .pending_upgrades()
            .unwrap()
            .into_iter()
            .map(|p| (p.tag, p.index_age, p.pending))
            .collect();
        assert_eq!(
            got,
            [("A".into(), None, "[]".into()), ("B".into(), Some(5), "[2]".into())]
        );
    }
    }

    both! {
    fn the_last_outcome_of_each_device_in_runs_of_one_command(fx: &Fixture) {
        let s = fx.open();
        let tags = |v: &[&str]| v.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        let a = s.start_run("upgrade", "ana", &tags(&["A", "B"])).unwrap();
        s.record_run_device(a, "A", Outcome::Failed, Some("boom")).unwrap();
        s.record_run_device(a, "B", Outcome::Changed, None).unwrap();
        s.finish_run(a, RunStatus::Completed).unwrap();
        // A configure run does not count for upgrades.
        let c = s.start_run("configure", "ana", &tags(&["A"])).unwrap();
        s.record_run_device(c, "A", Outcome::Ok, None).unwrap();
        s.finish_run(c, RunStatus::Completed).unwrap();
        let last = s.last_outcomes("upgrade").unwrap();
        let got: Vec<(&str, bool)> = last.iter().map(|l| (l.device.as_str(), l.succeeded())).collect();
        assert_eq!(got, [("A", false), ("B", true)]);
    }
    }
}
