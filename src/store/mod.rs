//! The state store: what happened to every device (stage, journal, locks, host keys, runs),
//! in SQLite at `.deskready/state.db`. This module is the only one that names rusqlite, so a
//! shared server database can take its place later for teams.
//!
//! Every stage change and its journal rows are written in one transaction. Opening the store
//! refuses a damaged file before anything is written to it, migrates an older schema, turns
//! devices whose configure died into `configure-failed` and closes runs whose process is gone
//! as interrupted.

mod damaged;
mod desk;
mod locks;
mod pins;
mod printers;
mod recover;
mod resume;
mod runs;
mod transient;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

pub use desk::{Handoff, NewRepair, Repair};
pub use locks::{Holder, LockGuard, Purpose};
pub use printers::PrinterObservation;
pub use resume::LastConfigure;
pub use runs::{RunRecord, RunStatus};

use crate::model::{MoveRefused, Stage};

/// Schema migrations, in order; `PRAGMA user_version` counts how many were applied.
const MIGRATIONS: &[&str] = &[
    // 1: stages, journal, locks, host keys.
    r#"
    CREATE TABLE devices (
        tag TEXT PRIMARY KEY,
        stage TEXT NOT NULL,
        since TEXT NOT NULL,
        last_error TEXT
    );
    CREATE TABLE journal (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        tag TEXT NOT NULL,
        at TEXT NOT NULL,
        operator TEXT NOT NULL,
        kind TEXT NOT NULL,
        stage_from TEXT,
        stage_to TEXT,
        subject TEXT,
        old_digest TEXT,
        new_digest TEXT,
        message TEXT
    );
    CREATE INDEX journal_tag ON journal (tag, id);
    CREATE TABLE locks (
        tag TEXT PRIMARY KEY,
        operator TEXT NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        start_time INTEGER NOT NULL,
        since TEXT NOT NULL
    );
    CREATE TABLE host_keys (
        tag TEXT PRIMARY KEY,
        key_type TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        pinned_at TEXT NOT NULL
    );
    "#,
    // 2: rollouts as runs, and which run wrote a journal row.
    r#"
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        command TEXT NOT NULL,
        operator TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT NOT NULL
    );
    CREATE TABLE run_devices (
        run_id INTEGER NOT NULL REFERENCES runs (id),
        tag TEXT NOT NULL,
        outcome TEXT NOT NULL,
        error TEXT,
        PRIMARY KEY (run_id, tag)
    );
    ALTER TABLE journal ADD COLUMN run_id INTEGER;
    "#,
    // 3: what a lock's holder is doing, and which process owns a run (so that a run whose
    // process is gone can be closed as interrupted).
    r#"
    ALTER TABLE locks ADD COLUMN purpose TEXT NOT NULL DEFAULT 'configure';
    ALTER TABLE runs ADD COLUMN host TEXT;
    ALTER TABLE runs ADD COLUMN pid INTEGER;
    ALTER TABLE runs ADD COLUMN start_time INTEGER;
    "#,
    // 4: handoffs (sheet, acceptance, return) and repairs.
    desk::MIGRATION,
    // 5: what printers said about themselves over time (store/printers.rs).
    printers::MIGRATION,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the state store {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the state store {} has schema version {found}, newer than this deskready ({SCHEMA_VERSION}); upgrade deskready",
        path.display()
    )]
    TooNew { path: PathBuf, found: usize },
    #[error("state store: {0}")]
    Sql(#[from] rusqlite::Error),
    /// An illegal stage move.
    #[error(transparent)]
    Refused(#[from] crate::model::MoveRefused),
    /// Another live process holds the device (see [`Holder::refusal`]).
    #[error("{device} is being {doing} by {holder}; try again when {until}")]
    Locked {
        device: String,
        holder: String,
        doing: &'static str,
        until: &'static str,
    },
    /// The database file is not a sound SQLite database; nothing was written to it.
    #[error(
        "the state store {} is damaged ({why}); nothing was written to it. Restore it from a backup, or move it aside to start a new store (the devices' history is then no longer shown)",
        path.display()
    )]
    Damaged { path: PathBuf, why: String },
    #[error("cannot create {}: {source}", path.display())]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One row of a device's journal.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Entry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub tag: String,
    /// RFC 3339, UTC.
    pub at: String,
    pub operator: String,
    /// `received`, `stage`, `assigned`, `resource`, `verify`, `delivered`, `returned`,
    /// `repair`, `retired`, `note`, `lock`, `audit`, ...
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage_to: Option<String>,
    /// What the row is about: a resource or check name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<i64>,
}

impl Entry {
    /// A row of `kind` about `tag`, by `operator`, now.
    pub fn new(tag: &str, operator: &str, kind: &str) -> Entry {
        Entry {
            tag: tag.to_string(),
            at: now(),
            operator: operator.to_string(),
            kind: kind.to_string(),
            ..Entry::default()
        }
    }
    pub fn subject(mut self, s: impl Into<String>) -> Entry {
        self.subject = Some(s.into());
        self
    }
    pub fn message(mut self, s: impl Into<String>) -> Entry {
        self.message = Some(s.into());
        self
    }
    pub fn digests(mut self, old: Option<String>, new: Option<String>) -> Entry {
        self.old_digest = old;
        self.new_digest = new;
        self
    }
}

/// A device's current stage.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StageRecord {
    pub stage: Stage,
    /// When it entered this stage (RFC 3339, UTC).
    pub since: String,
    /// The error that put it in `configure-failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// The state store of one site.
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// The current time, RFC 3339 in UTC with seconds.
pub fn now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    crate::time::rfc3339(secs)
}

impl Store {
    /// Opens (creating, migrating and recovering as needed) `state_dir/state.db`.
    pub fn open(state_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(state_dir).map_err(|source| StoreError::Dir {
            path: state_dir.to_path_buf(),
            source,
        })?;
        let path = state_dir.join("state.db");
        // Before SQLite touches it: a damaged file is refused, never written to.
        damaged::check(&path)?;
        let damaged = |e: rusqlite::Error| damaged::classify(&path, e);
        let open_err = |source| match damaged::classify(&path, source) {
            StoreError::Sql(source) => StoreError::Open {
                path: path.clone(),
                source,
            },
            other => other,
        };
        let conn = Connection::open(&path).map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        let store = Store {
            conn: Mutex::new(conn),
            path: path.clone(),
        };
        let sound = |r: Result<(), StoreError>| match r {
            Err(StoreError::Sql(e)) => Err(damaged(e)),
            other => other,
        };
        sound(store.migrate())?;
        sound(store.recover_interrupted())?;
        sound(store.close_dead_runs())?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies the migrations this database has not seen, each in its own transaction.
    fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let version = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found: version,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
            // Another process may have migrated while this one waited for the lock.
            let now = tx.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
            if now > i {
                continue;
            }
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<usize, StoreError> {
        Ok(self
            .conn()
            .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize)
    }

    /// Runs `PRAGMA integrity_check`; `ok` when the file is sound.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        Ok(self
            .conn()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }

    pub fn stage(&self, tag: &str) -> Result<Option<StageRecord>, StoreError> {
        let conn = self.conn();
        Ok(stage_of(&conn, tag)?)
    }

    /// Whether the device is at its person's desk: delivered, and not returned, sent to
    /// repair or retired since (whatever configure runs did in between).
    pub fn at_desk(&self, tag: &str) -> Result<bool, StoreError> {
        let last: Option<String> = self
            .conn()
            .query_row(
                "SELECT stage_to FROM journal WHERE tag = ?1 AND kind = 'stage'
                 AND stage_to IN ('delivered', 'received', 'in-repair', 'retired')
                 ORDER BY id DESC LIMIT 1",
                params![tag],
                |r| r.get(0),
            )
            .optional()?;
        Ok(last.as_deref() == Some("delivered"))
    }

    /// Every recorded device's stage.
    pub fn stages(&self) -> Result<Vec<(String, StageRecord)>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT tag, stage, since, last_error FROM devices ORDER BY tag")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (tag, stage, since, last_error) = row?;
            if let Some(stage) = Stage::parse(&stage) {
                out.push((
                    tag,
                    StageRecord {
                        stage,
                        since,
                        last_error,
                    },
                ));
            }
        }
        Ok(out)
    }

    /// Moves `tag` to `to` if that move is legal from where it is, writing `entries` (each
    /// stamped with the move) in the same transaction. `error` is kept with
    /// `configure-failed`. Returns the stage it came from.
    pub fn transition(
        &self,
        tag: &str,
        to: Stage,
        operator: &str,
        error: Option<&str>,
        entries: &[Entry],
    ) -> Result<Option<Stage>, StoreError> {
        self.transition_and(tag, to, operator, error, entries, |_, _| Ok(()))
    }

    /// [`Store::transition`], with `also` (given the stage it came from) done in the same
    /// transaction.
    fn transition_and(
        &self,
        tag: &str,
        to: Stage,
        operator: &str,
        error: Option<&str>,
        entries: &[Entry],
        also: impl FnOnce(&Connection, Option<Stage>) -> rusqlite::Result<()>,
    ) -> Result<Option<Stage>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let from = stage_of(&tx, tag)?.map(|r| r.stage);
        if !Stage::can_move(from, to) {
            return Err(StoreError::Refused(MoveRefused::new(tag, from, to)));
        }
        also(&tx, from)?;
        let at = now();
        tx.execute(
            "INSERT INTO devices (tag, stage, since, last_error) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (tag) DO UPDATE SET stage = ?2, since = ?3, last_error = ?4",
            params![tag, to.as_str(), at, error],
        )?;
        for e in entries {
            insert_entry(&tx, e)?;
        }
        let mut row = Entry::new(tag, operator, "stage");
        row.at = at;
        row.stage_from = Some(crate::model::stage_name(from).to_string());
        row.stage_to = Some(to.as_str().to_string());
        row.message = error.map(str::to_string);
        row.run_id = entries.iter().find_map(|e| e.run_id);
        insert_entry(&tx, &row)?;
        tx.commit()?;
        Ok(from)
    }

    /// Moves several devices in one transaction: all of them, or none when any move is
    /// refused (the first refusal is returned).
    pub fn transition_all(
        &self,
        moves: &[(String, Stage, Vec<Entry>)],
        operator: &str,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let at = now();
        for (tag, to, entries) in moves {
            let from = stage_of(&tx, tag)?.map(|r| r.stage);
            if !Stage::can_move(from, *to) {
                return Err(StoreError::Refused(MoveRefused::new(tag, from, *to)));
            }
            tx.execute(
                "INSERT INTO devices (tag, stage, since, last_error) VALUES (?1, ?2, ?3, NULL)
                 ON CONFLICT (tag) DO UPDATE SET stage = ?2, since = ?3, last_error = NULL",
                params![tag, to.as_str(), at],
            )?;
            for e in entries {
                insert_entry(&tx, e)?;
            }
            let mut row = Entry::new(tag, operator, "stage");
            row.at = at.clone();
            row.stage_from = Some(crate::model::stage_name(from).to_string());
            row.stage_to = Some(to.as_str().to_string());
            insert_entry(&tx, &row)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Appends rows to journals (one transaction).
    pub fn record(&self, entries: &[Entry]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for e in entries {
            insert_entry(&tx, e)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// A device's journal, oldest first.
    pub fn history(&self, tag: &str) -> Result<Vec<Entry>, StoreError> {
        self.query_entries("WHERE tag = ?1 ORDER BY id", params![tag])
    }

    /// The newest `limit` rows over all devices, newest first.
    pub fn recent(&self, limit: usize) -> Result<Vec<Entry>, StoreError> {
        self.query_entries("ORDER BY id DESC LIMIT ?1", params![limit as i64])
    }

    /// The newest row of `kind` for each device.
    pub fn latest_of_kind(&self, kind: &str) -> Result<Vec<Entry>, StoreError> {
        self.query_entries(
            "WHERE id IN (SELECT MAX(id) FROM journal WHERE kind = ?1 GROUP BY tag) ORDER BY tag",
            params![kind],
        )
    }

    fn query_entries(
        &self,
        tail: &str,
        p: impl rusqlite::Params,
    ) -> Result<Vec<Entry>, StoreError> {
        let conn = self.conn();
        let sql = format!(
            "SELECT id, tag, at, operator, kind, stage_from, stage_to, subject, old_digest, new_digest, message, run_id FROM journal {tail}"
        );
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(p, |r| {
            Ok(Entry {
                id: r.get(0)?,
                tag: r.get(1)?,
                at: r.get(2)?,
                operator: r.get(3)?,
                kind: r.get(4)?,
                stage_from: r.get(5)?,
                stage_to: r.get(6)?,
                subject: r.get(7)?,
                old_digest: r.get(8)?,
                new_digest: r.get(9)?,
                message: r.get(10)?,
                run_id: r.get(11)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// When each device was first received.
    pub fn received_times(&self) -> Result<std::collections::HashMap<String, String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT tag, MIN(at) FROM journal WHERE kind = 'stage' AND stage_to = 'received' GROUP BY tag",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The time of the newest journal row of each device.
    pub fn last_changes(&self) -> Result<std::collections::HashMap<String, String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT tag, MAX(at) FROM journal GROUP BY tag")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn stage_of(conn: &Connection, tag: &str) -> rusqlite::Result<Option<StageRecord>> {
    conn.query_row(
        "SELECT stage, since, last_error FROM devices WHERE tag = ?1",
        params![tag],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        },
    )
    .optional()
    .map(|o| {
        o.and_then(|(stage, since, last_error)| {
            Stage::parse(&stage).map(|stage| StageRecord {
                stage,
                since,
                last_error,
            })
        })
    })
}

fn insert_entry(conn: &Connection, e: &Entry) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO journal (tag, at, operator, kind, stage_from, stage_to, subject, old_digest, new_digest, message, run_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            e.tag,
            e.at,
            e.operator,
            e.kind,
            e.stage_from,
            e.stage_to,
            e.subject,
            e.old_digest,
            e.new_digest,
            e.message,
            e.run_id
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        (dir, s)
    }

    #[test]
    fn moves_are_checked_and_journaled_together() {
        let (_d, s) = store();
        assert_eq!(
            s.transition("LAP-1", Stage::Received, "ana", None, &[])
                .unwrap(),
            None
        );
        let err = s
            .transition("LAP-1", Stage::Delivered, "ana", None, &[])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "LAP-1 cannot go to delivered: it is received; from received it may go to: configuring, in-repair, retired"
        );
        let rows = [Entry::new("LAP-1", "ana", "resource")
            .subject("file /etc/x")
            .digests(None, Some("ab".into()))];
        s.transition("LAP-1", Stage::Configuring, "ana", None, &rows)
            .unwrap();
        let h = s.history("LAP-1").unwrap();
        let kinds: Vec<&str> = h.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["stage", "resource", "stage"]);
        assert_eq!(h[0].stage_from.as_deref(), Some("expected"));
        assert_eq!(h[2].stage_to.as_deref(), Some("configuring"));
        assert_eq!(s.stage("LAP-1").unwrap().unwrap().stage, Stage::Configuring);
        assert_eq!(s.integrity_check().unwrap(), "ok");
    }

    #[test]
    fn a_live_lock_is_refused_and_a_dead_one_taken_over() {
        let (_d, s) = store();
        let me = Holder::me("ana");
        let guard = s.lock("LAP-1", &me).unwrap();
        let err = s
            .lock("LAP-1", &Holder::me("bo"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.starts_with("LAP-1 is being configured by ana on "),
            "{err}"
        );
        assert!(
            err.contains(&format!("(pid {}) since ", std::process::id())),
            "{err}"
        );
        drop(guard);
        assert!(s.locks().unwrap().is_empty());

        // Any command's lock: the refusal says what the holder is doing.
        let guard = s
            .lock("LAP-1", &Holder::doing("ana", Purpose::Repair))
            .unwrap();
        let err = s
            .lock("LAP-1", &Holder::doing("bo", Purpose::Note))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.starts_with("LAP-1 is being sent to repair by ana on "),
            "{err}"
        );
        assert!(err.ends_with("; try again when that command ends"), "{err}");
        assert_eq!(s.locks().unwrap()[0].1.purpose, Purpose::Repair);
        drop(guard);

        // A lock whose process is gone.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = child.id();
        child.wait().unwrap();
        let dead = Holder {
            pid: dead_pid,
            start_time: 1,
            ..Holder::me("cy")
        };
        s.conn()
            .execute(
                "INSERT INTO locks (tag, operator, host, pid, start_time, since) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params!["LAP-2", dead.operator, dead.host, dead.pid, 1, dead.since],
            )
            .unwrap();
        let _g = s.lock("LAP-2", &me).unwrap();
        let h = s.history("LAP-2").unwrap();
        assert_eq!(h[0].kind, "lock");
        assert!(
            h[0].message
                .as_deref()
                .unwrap()
                .starts_with("took over the lock left by cy on ")
        );
    }

    #[test]
    fn an_interrupted_configure_becomes_configure_failed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path()).unwrap();
            s.transition("LAP-1", Stage::Received, "ana", None, &[])
                .unwrap();
            s.transition("LAP-1", Stage::Configuring, "ana", None, &[])
                .unwrap();
            s.conn()
                .execute(
                    "INSERT INTO locks (tag, operator, host, pid, start_time, since) VALUES ('LAP-1', 'ana', ?1, 999999999, 1, '2026-11-24T00:00:00Z')",
                    params![hostname_for_tests()],
                )
                .unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        let rec = s.stage("LAP-1").unwrap().unwrap();
        assert_eq!(rec.stage, Stage::ConfigureFailed);
        assert_eq!(
            rec.last_error.as_deref(),
            Some(format!("the configure run by ana (pid 999999999 on {}, started 2026-11-24T00:00:00Z) was interrupted before it finished", hostname_for_tests()).as_str())
        );
        assert!(s.locks().unwrap().is_empty());
    }

    fn hostname_for_tests() -> String {
        Holder::me("x").host
    }

    #[test]
    fn an_older_schema_is_migrated_on_open_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        {
            let c = Connection::open(dir.path().join("state.db")).unwrap();
            c.execute_batch(MIGRATIONS[0]).unwrap();
            c.pragma_update(None, "user_version", 1).unwrap();
            c.execute(
                "INSERT INTO journal (tag, at, operator, kind, message) VALUES ('LAP-9', '2026-01-01T00:00:00Z', 'old', 'note', 'from v1')",
                [],
            )
            .unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        let h = s.history("LAP-9").unwrap();
        assert_eq!(h[0].message.as_deref(), Some("from v1"));
        assert_eq!(h[0].run_id, None);
        s.conn()
            .execute("INSERT INTO runs (command, operator, started_at, status) VALUES ('configure', 'x', 'now', 'running')", [])
            .unwrap();
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let c = Connection::open(dir.path().join("state.db")).unwrap();
            c.pragma_update(None, "user_version", 99).unwrap();
        }
        let err = Store::open(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("has schema version 99, newer than this deskready"),
            "{err}"
        );
    }
}
