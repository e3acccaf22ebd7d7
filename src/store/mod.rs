//! The state store: what happened to every device (stage, journal, leases, host keys,
//! runs). Two backends behind one [`Store`]: embedded SQLite at `.deskready/state.db` (one
//! CSP, the default) and a shared PostgreSQL database (a team), chosen by [`Location`].
//! Store methods are written once, in portable SQL, against `db::Tx`; this module and its
//! files are the only ones that name rusqlite or postgres.
//!
//! Every stage change and its journal rows are written in one transaction. Opening the store
//! refuses a damaged SQLite file before anything is written to it, migrates an older schema,
//! turns devices whose configure died into `configure-failed` and closes runs whose process
//! is gone as interrupted.

#[cfg(test)]
pub(crate) mod conformance;
mod copy;
mod damaged;
mod db;
mod desk;
mod location;
mod locks;
mod migrations;
mod pins;
mod printers;
mod queue;
mod records;
mod recover;
mod resume;
mod runs;
mod schedules;
mod software;
mod transient;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use copy::TableCopy;
pub use db::Backend;
use db::{Db, Row, Tx, args};
pub use desk::{Handoff, NewRepair, Repair};
pub use location::{Location, PASSWORD_FILE_ENV, PgTarget, STORE_ENV, is_postgres_url, redact_url};
pub use locks::{Holder, LEASE_SECS, LockGuard, Purpose, lease_secs};
pub use migrations::SCHEMA_VERSION;
pub use printers::{PrinterObservation, PrinterQueue};
pub use queue::{Claim, Holding, QueueJob, QueueProgress};
pub use records::Record;
pub use resume::{LastConfigure, LastReached};
pub use runs::{RunRecord, RunStatus};
pub use schedules::{Claimed, JobOutcome, JobRun, NewSchedule, Schedule, past_grace};
pub use software::{PendingRecord, SoftwareSnapshot, UpgradeMark};

use crate::model::{MoveRefused, Stage};

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
    /// A PostgreSQL store's query or connection failed.
    #[error("state store: {0}")]
    Postgres(#[from] postgres::Error),
    /// Cannot connect to a PostgreSQL store (`store` is its address without a password).
    #[error("cannot connect to the state store {store}: {source}")]
    Connect {
        store: String,
        #[source]
        source: postgres::Error,
    },
    /// The store's address or credentials are unusable.
    #[error("state store: {0}")]
    Setting(String),
    /// A stored value could not be read as what its column holds.
    #[error("state store: column {index}: {why}")]
    Column { index: usize, why: String },
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
    db: std::sync::Arc<Db>,
    /// The SQLite file, or an empty path for PostgreSQL.
    path: PathBuf,
    /// Where it is, for messages (a PostgreSQL address never shows its password).
    shown: String,
    leases: locks::Leases,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("at", &self.shown).finish()
    }
}

/// The current time, RFC 3339 in UTC with seconds.
pub fn now() -> String {
    crate::time::rfc3339(unix_now())
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
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
        let conn = rusqlite::Connection::open(&path).map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        let store = Store {
            db: std::sync::Arc::new(Db::sqlite(conn)),
            shown: path.display().to_string(),
            path: path.clone(),
            leases: locks::Leases::default(),
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

    /// Opens the store at `location`: SQLite as [`Store::open`], or a PostgreSQL database
    /// (migrated and recovered the same way).
    pub fn open_at(location: &Location) -> Result<Store, StoreError> {
        match location {
            Location::Sqlite(dir) => Store::open(dir),
            Location::Postgres(pg) => {
                let client = pg.connect()?;
                let more = pg.clone();
                let store = Store {
                    db: std::sync::Arc::new(Db::postgres(client, Box::new(move || more.connect()))),
                    path: PathBuf::new(),
                    shown: pg.shown().to_string(),
                    leases: locks::Leases::default(),
                };
                store.migrate()?;
                store.recover_interrupted()?;
                store.close_dead_runs()?;
                Ok(store)
            }
        }
    }

    /// The SQLite file (empty for a PostgreSQL store).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the store is, for messages: the SQLite file, or the PostgreSQL address without
    /// its password.
    pub fn describe(&self) -> &str {
        &self.shown
    }

    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// Applies the migrations this database has not seen, each in its own transaction.
    fn migrate(&self) -> Result<(), StoreError> {
        let version = self.schema_version()?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: PathBuf::from(&self.shown),
                found: version,
            });
        }
        for n in version + 1..=SCHEMA_VERSION {
            self.db.write(|tx| migrations::apply(tx, n))?;
        }
        Ok(())
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<usize, StoreError> {
        self.db.write(migrations::version)
    }

    /// SQLite's `PRAGMA integrity_check`; `ok` when the file is sound. A PostgreSQL store
    /// answers `ok` when it answers at all (the server keeps its own files sound).
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        match self
            .db
            .with_sqlite(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get(0)))
        {
            Some(r) => r,
            None => self.db.read(|tx| {
                tx.query_one::<i64>("SELECT 1", args![])
                    .map(|_| "ok".into())
            }),
        }
    }

    pub fn stage(&self, tag: &str) -> Result<Option<StageRecord>, StoreError> {
        self.db.read(|tx| stage_of(tx, tag))
    }

    /// Whether the device is at its person's desk: delivered, and not returned, sent to
    /// repair or retired since (whatever configure runs did in between).
    pub fn at_desk(&self, tag: &str) -> Result<bool, StoreError> {
        self.db.read(|tx| at_desk(tx, tag))
    }

    /// Every recorded device's stage.
    pub fn stages(&self) -> Result<Vec<(String, StageRecord)>, StoreError> {
        let rows = self.db.read(|tx| {
            tx.query(
                "SELECT tag, stage, since, last_error FROM devices ORDER BY tag",
                args![],
            )
        })?;
        let mut out = Vec::new();
        for r in rows {
            let stage: String = r.get(1)?;
            if let Some(stage) = Stage::parse(&stage) {
                out.push((
                    r.get(0)?,
                    StageRecord {
                        stage,
                        since: r.get(2)?,
                        last_error: r.get(3)?,
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
        self.transition_with(tag, to, operator, error, entries, None)
    }

    /// [`Store::transition`], also recording how the device ended in its run (`run`'s
    /// device row) in the same transaction.
    pub fn transition_with(
        &self,
        tag: &str,
        to: Stage,
        operator: &str,
        error: Option<&str>,
        entries: &[Entry],
        run_device: Option<(i64, crate::model::Outcome, Option<&str>)>,
    ) -> Result<Option<Stage>, StoreError> {
        self.db.write(|tx| {
            let from = move_one(tx, tag, to, operator, error, entries)?;
            if let Some((run, outcome, error)) = run_device {
                runs::set_run_device(tx, run, tag, outcome, error)?;
            }
            Ok(from)
        })
    }

    /// [`Store::transition`], with `also` (given the stage it came from, once the move is
    /// known to be legal) done in the same transaction; returns what `also` returned. Like
    /// every write, `also` may run more than once, so it only touches `tx`.
    fn transition_and<T: Send>(
        &self,
        tag: &str,
        to: Stage,
        operator: &str,
        error: Option<&str>,
        entries: &[Entry],
        mut also: impl FnMut(&mut Tx<'_>, Option<Stage>) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        self.db.write(|tx| {
            let from = stage_of(tx, tag)?.map(|r| r.stage);
            if !Stage::can_move(from, to) {
                return Err(StoreError::Refused(MoveRefused::new(tag, from, to)));
            }
            let out = also(tx, from)?;
            move_one(tx, tag, to, operator, error, entries)?;
            Ok(out)
        })
    }

    /// Moves several devices in one transaction: all of them, or none when any move is
    /// refused (the first refusal is returned).
    pub fn transition_all(
        &self,
        moves: &[(String, Stage, Vec<Entry>)],
        operator: &str,
    ) -> Result<(), StoreError> {
        self.db.write(|tx| {
            for (tag, to, entries) in moves {
                move_one(tx, tag, *to, operator, None, entries)?;
            }
            Ok(())
        })
    }

    /// Appends rows to journals (one transaction).
    pub fn record(&self, entries: &[Entry]) -> Result<(), StoreError> {
        self.db.write(|tx| insert_entries(tx, entries))
    }

    /// [`Store::record`], also recording how the device ended in its run, in the same
    /// transaction.
    pub fn record_with(
        &self,
        entries: &[Entry],
        run_device: Option<(i64, &str, crate::model::Outcome, Option<&str>)>,
    ) -> Result<(), StoreError> {
        self.db.write(|tx| {
            insert_entries(tx, entries)?;
            if let Some((run, tag, outcome, error)) = run_device {
                runs::set_run_device(tx, run, tag, outcome, error)?;
            }
            Ok(())
        })
    }

    /// A device's journal, oldest first.
    pub fn history(&self, tag: &str) -> Result<Vec<Entry>, StoreError> {
        self.query_entries("WHERE tag = $1 ORDER BY id", args![tag])
    }

    /// The newest `limit` rows over all devices, newest first.
    pub fn recent(&self, limit: usize) -> Result<Vec<Entry>, StoreError> {
        self.query_entries("ORDER BY id DESC LIMIT $1", args![limit as i64])
    }

    /// The newest row of `kind` for each device.
    pub fn latest_of_kind(&self, kind: &str) -> Result<Vec<Entry>, StoreError> {
        self.query_entries(
            "WHERE id IN (SELECT MAX(id) FROM journal WHERE kind = $1 GROUP BY tag) ORDER BY tag",
            args![kind],
        )
    }

    fn query_entries(&self, tail: &str, args: &[&dyn db::Arg]) -> Result<Vec<Entry>, StoreError> {
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM journal {tail}");
        let rows = self.db.read(|tx| tx.query(&sql, args))?;
        rows.iter().map(entry_of).collect()
    }

    /// When each device was first received.
    pub fn received_times(&self) -> Result<std::collections::HashMap<String, String>, StoreError> {
        self.pairs(
            "SELECT tag, MIN(at) FROM journal WHERE kind = 'stage' AND stage_to = 'received' GROUP BY tag",
        )
    }

    /// The time of the newest journal row of each device.
    pub fn last_changes(&self) -> Result<std::collections::HashMap<String, String>, StoreError> {
        self.pairs("SELECT tag, MAX(at) FROM journal GROUP BY tag")
    }

    fn pairs(&self, sql: &str) -> Result<std::collections::HashMap<String, String>, StoreError> {
        let rows = self.db.read(|tx| tx.query(sql, args![]))?;
        rows.iter().map(|r| Ok((r.get(0)?, r.get(1)?))).collect()
    }
}

/// The journal's columns, in the order [`entry_of`] reads them.
const ENTRY_COLUMNS: &str = "id, tag, at, operator, kind, stage_from, stage_to, subject, old_digest, new_digest, message, run_id";

fn entry_of(r: &Row) -> Result<Entry, StoreError> {
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
}

/// One device's move with its rows (see [`Store::transition`]), in the caller's transaction.
fn move_one(
    tx: &mut Tx<'_>,
    tag: &str,
    to: Stage,
    operator: &str,
    error: Option<&str>,
    entries: &[Entry],
) -> Result<Option<Stage>, StoreError> {
    let from = stage_of(tx, tag)?.map(|r| r.stage);
    if !Stage::can_move(from, to) {
        return Err(StoreError::Refused(MoveRefused::new(tag, from, to)));
    }
    let at = now();
    tx.execute(
        "INSERT INTO devices (tag, stage, since, last_error) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tag) DO UPDATE SET stage = excluded.stage, since = excluded.since, last_error = excluded.last_error",
        args![tag, to.as_str(), at, error],
    )?;
    insert_entries(tx, entries)?;
    let mut row = Entry::new(tag, operator, "stage");
    row.at = at;
    row.stage_from = Some(crate::model::stage_name(from).to_string());
    row.stage_to = Some(to.as_str().to_string());
    row.message = error.map(str::to_string);
    row.run_id = entries.iter().find_map(|e| e.run_id);
    insert_entry(tx, &row)?;
    Ok(from)
}

fn at_desk(tx: &mut Tx<'_>, tag: &str) -> Result<bool, StoreError> {
    let last: Option<String> = tx
        .query_opt(
            "SELECT stage_to FROM journal WHERE tag = $1 AND kind = 'stage'
             AND stage_to IN ('delivered', 'received', 'in-repair', 'retired')
             ORDER BY id DESC LIMIT 1",
            args![tag],
        )?
        .map(|r| r.get(0))
        .transpose()?;
    Ok(last.as_deref() == Some("delivered"))
}

fn stage_of(tx: &mut Tx<'_>, tag: &str) -> Result<Option<StageRecord>, StoreError> {
    let Some(r) = tx.query_opt(
        "SELECT stage, since, last_error FROM devices WHERE tag = $1",
        args![tag],
    )?
    else {
        return Ok(None);
    };
    let stage: String = r.get(0)?;
    Ok(Stage::parse(&stage).map(|stage| StageRecord {
        stage,
        since: r.get(1).unwrap_or_default(),
        last_error: r.get(2).unwrap_or_default(),
    }))
}

/// Journal rows in as few statements as may be: one multi-row `INSERT` per 100 rows (one
/// round trip to a team store instead of one per row).
fn insert_entries(tx: &mut Tx<'_>, entries: &[Entry]) -> Result<(), StoreError> {
    const COLUMNS: usize = 11;
    for chunk in entries.chunks(100) {
        if let [one] = chunk {
            insert_entry(tx, one)?;
            continue;
        }
        let rows: Vec<String> = (0..chunk.len())
            .map(|r| {
                let marks: Vec<String> = (1..=COLUMNS)
                    .map(|c| format!("${}", r * COLUMNS + c))
                    .collect();
                format!("({})", marks.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO journal (tag, at, operator, kind, stage_from, stage_to, subject, old_digest, new_digest, message, run_id) VALUES {}",
            rows.join(", ")
        );
        let mut args: Vec<&dyn db::Arg> = Vec::with_capacity(chunk.len() * COLUMNS);
        for e in chunk {
            args.extend([
                &e.tag as &dyn db::Arg,
                &e.at,
                &e.operator,
                &e.kind,
                &e.stage_from,
                &e.stage_to,
                &e.subject,
                &e.old_digest,
                &e.new_digest,
                &e.message,
                &e.run_id,
            ]);
        }
        tx.execute(&sql, &args)?;
    }
    Ok(())
}

fn insert_entry(tx: &mut Tx<'_>, e: &Entry) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO journal (tag, at, operator, kind, stage_from, stage_to, subject, old_digest, new_digest, message, run_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        args![
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
impl Store {
    /// Runs one statement in a write transaction; its rows (tests reach under the API).
    fn sql(&self, sql: &str, args: &[&dyn db::Arg]) -> Vec<Row> {
        self.db.write(|tx| tx.query(sql, args)).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::both;

    both! {
    fn many_journal_rows_are_written_in_order_with_every_field(fx: &Fixture) {
        let s = fx.open();
        let rows: Vec<Entry> = (0..250)
            .map(|i| {
                let mut e = Entry::new("LAP-1", "ana", "resource")
                    .subject(format!("file /etc/{i}"))
                    .digests((i % 2 == 0).then(|| format!("old{i}")), Some(format!("new{i}")))
                    .message("it's \"quoted\" $1 ?1");
                e.run_id = (i % 3 == 0).then_some(i64::from(i));
                e
            })
            .collect();
        s.record(&rows).unwrap();
        let got = s.history("LAP-1").unwrap();
        assert_eq!(got.len(), 250);
        for (g, want) in got.iter().zip(&rows) {
            let mut g = g.clone();
            g.id = None;
            assert_eq!(&g, want);
        }
    }
    }

    both! {
    fn moves_are_checked_and_journaled_together(fx: &Fixture) {
        let s = fx.open();
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
    }

    both! {
    fn a_live_lock_is_refused_and_a_dead_one_taken_over(fx: &Fixture) {
        let s = fx.open();
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
        s.sql(
            "INSERT INTO locks (tag, operator, host, pid, start_time, since) VALUES ($1, $2, $3, $4, $5, $6)",
            args!["LAP-2", dead.operator, dead.host, dead.pid, 1i64, dead.since],
        );
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
    }

    both! {
    fn an_interrupted_configure_becomes_configure_failed_on_open(fx: &Fixture) {
        {
            let s = fx.open();
            s.transition("LAP-1", Stage::Received, "ana", None, &[])
                .unwrap();
            s.transition("LAP-1", Stage::Configuring, "ana", None, &[])
                .unwrap();
            s.sql(
                "INSERT INTO locks (tag, operator, host, pid, start_time, since) VALUES ('LAP-1', 'ana', $1, 999999999, 1, '2026-11-24T00:00:00Z')",
                args![hostname_for_tests()],
            );
        }
        let s = fx.open();
        let rec = s.stage("LAP-1").unwrap().unwrap();
        assert_eq!(rec.stage, Stage::ConfigureFailed);
        assert_eq!(
            rec.last_error.as_deref(),
            Some(format!("the configure run by ana (pid 999999999 on {}, started 2026-11-24T00:00:00Z) was interrupted before it finished", hostname_for_tests()).as_str())
        );
        assert!(s.locks().unwrap().is_empty());
    }
    }

    fn hostname_for_tests() -> String {
        Holder::me("x").host
    }

    #[test]
    fn an_older_schema_is_migrated_on_open_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        {
            let c = rusqlite::Connection::open(dir.path().join("state.db")).unwrap();
            c.execute_batch(&migrations::dialect(
                migrations::MIGRATIONS[0],
                Backend::Sqlite,
            ))
            .unwrap();
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
        s.sql("INSERT INTO runs (command, operator, started_at, status) VALUES ('configure', 'x', 'now', 'running')", args![]);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let c = rusqlite::Connection::open(dir.path().join("state.db")).unwrap();
            c.pragma_update(None, "user_version", 99).unwrap();
        }
        let err = Store::open(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("has schema version 99, newer than this deskready"),
            "{err}"
        );
    }
}
