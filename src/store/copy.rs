//! Copying a whole store into another (`deskready store copy --to postgres://…`): every
//! row of every table, ids kept, in one transaction on the target, which must be empty;
//! then both are read back and compared table by table, by row count and by a digest of
//! every row in key order. Knows the tables, not what they mean.

use sha2::{Digest, Sha256};

use super::db::{Backend, Row, Tx, Value, args};
use super::{Store, StoreError};

/// Every table and its columns, the key first (the order rows are compared in).
const TABLES: &[(&str, &[&str], &str)] = &[
    ("devices", &["tag", "stage", "since", "last_error"], "tag"),
    (
        "journal",
        &[
            "id",
            "tag",
            "at",
            "operator",
            "kind",
            "stage_from",
            "stage_to",
            "subject",
            "old_digest",
            "new_digest",
            "message",
            "run_id",
        ],
        "id",
    ),
    (
        "locks",
        &[
            "tag",
            "operator",
            "host",
            "pid",
            "start_time",
            "since",
            "purpose",
            "expires",
        ],
        "tag",
    ),
    (
        "host_keys",
        &["tag", "key_type", "fingerprint", "pinned_at"],
        "tag",
    ),
    (
        "runs",
        &[
            "id",
            "command",
            "operator",
            "started_at",
            "finished_at",
            "status",
            "host",
            "pid",
            "start_time",
        ],
        "id",
    ),
    (
        "run_devices",
        &["run_id", "tag", "outcome", "error"],
        "run_id, tag",
    ),
    ("receipts", &["tag", "entry", "at", "operator"], "tag"),
    ("assignments", &["tag", "entry", "at", "operator"], "tag"),
    (
        "handoffs",
        &[
            "id",
            "tag",
            "version",
            "delivered_at",
            "delivered_by",
            "person",
            "sheet_digest",
            "accepted_at",
            "accepted_by",
            "signature_digest",
            "returned_at",
            "returned_by",
            "return_condition",
        ],
        "id",
    ),
    (
        "repairs",
        &[
            "id",
            "tag",
            "opened_at",
            "opened_by",
            "fault",
            "parts",
            "ticket",
            "rma",
            "cost_minor",
            "currency",
            "technician",
            "closed_at",
            "closed_by",
            "outcome",
            "checks_pending",
        ],
        "id",
    ),
    (
        "schedules",
        &[
            "id",
            "argv",
            "command",
            "written",
            "every",
            "timezone",
            "grace",
            "due",
            "operator",
            "created_at",
        ],
        "id",
    ),
    (
        "schedule_runs",
        &[
            "id",
            "schedule_id",
            "due",
            "started_at",
            "finished_at",
            "host",
            "pid",
            "start_time",
            "outcome",
            "exit_code",
            "run_id",
            "message",
        ],
        "id",
    ),
    (
        "printer_observations",
        &[
            "id",
            "tag",
            "at",
            "operator",
            "pages",
            "attention",
            "status",
        ],
        "id",
    ),
    (
        "printer_queues",
        &["tag", "via", "server", "queue", "at"],
        "tag",
    ),
    (
        "software_snapshots",
        &["id", "tag", "at", "operator", "packages"],
        "id",
    ),
    (
        "software_pending",
        &["tag", "at", "index_age", "pending"],
        "tag",
    ),
    ("queued_runs", &["run_id", "settings", "stopped"], "run_id"),
    (
        "queue_jobs",
        &[
            "run_id",
            "tag",
            "seq",
            "batch",
            "state",
            "not_before",
            "worker",
            "host",
            "pid",
            "start_time",
            "expires",
            "failed",
            "recap",
            "done_at",
            "work_on",
        ],
        "run_id, tag",
    ),
    (
        "upgrade_marks",
        &["tag", "run_id", "operator", "at", "packages"],
        "tag",
    ),
    (
        "queue_workers",
        &["host", "pid", "start_time", "worker", "expires"],
        "host, pid, start_time",
    ),
];

/// One table as copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCopy {
    pub table: &'static str,
    pub rows: usize,
    /// SHA-256 over every row in key order (the same on both sides).
    pub digest: String,
}

fn select(table: &str, columns: &[&str], key: &str) -> String {
    format!("SELECT {} FROM {table} ORDER BY {key}", columns.join(", "))
}

fn digest(rows: &[Row]) -> String {
    let mut h = Sha256::new();
    for r in rows {
        for v in &r.0 {
            match v {
                Value::Null => h.update(b"n"),
                Value::Int(i) => {
                    h.update(b"i");
                    h.update(i.to_be_bytes());
                }
                Value::Text(s) => {
                    h.update(b"t");
                    h.update((s.len() as u64).to_be_bytes());
                    h.update(s.as_bytes());
                }
            }
        }
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// Every table's rows, from one snapshot (a write transaction, so that PostgreSQL reads
/// them all at one point in time).
fn read_all(store: &Store) -> Result<Vec<Vec<Row>>, StoreError> {
    store.db.write(|tx| {
        TABLES
            .iter()
            .map(|(t, cols, key)| tx.query(&select(t, cols, key), args![]))
            .collect()
    })
}

/// Moves a PostgreSQL identity column past the ids copied in.
fn reset_identity(tx: &mut Tx<'_>, table: &str) -> Result<(), StoreError> {
    if tx.backend() == Backend::Postgres {
        tx.batch(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
        ))?;
    }
    Ok(())
}

impl Store {
    /// Copies every row of this store into `target` (which must hold no rows) and checks
    /// both sides agree, table by table.
    pub fn copy_to(&self, target: &Store) -> Result<Vec<TableCopy>, StoreError> {
        let source = read_all(self)?;
        let busy: Vec<String> = target.db.read(|tx| {
            let mut busy = Vec::new();
            for (t, _, _) in TABLES {
                let n: i64 = tx.query_one(&format!("SELECT COUNT(*) FROM {t}"), args![])?;
                if n > 0 {
                    busy.push(format!("{t} ({n} rows)"));
                }
            }
            Ok(busy)
        })?;
        if !busy.is_empty() {
            return Err(StoreError::Setting(format!(
                "the store {} is not empty: {}; copy into a new, empty database",
                target.describe(),
                busy.join(", ")
            )));
        }
        target.db.write(|tx| {
            for ((table, cols, _), rows) in TABLES.iter().zip(&source) {
                let marks: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
                let sql = format!(
                    "INSERT INTO {table} ({}) VALUES ({})",
                    cols.join(", "),
                    marks.join(", ")
                );
                for r in rows {
                    let values: Vec<&dyn super::db::Arg> =
                        r.0.iter().map(|v| v as &dyn super::db::Arg).collect();
                    tx.execute(&sql, &values)?;
                }
                if cols[0] == "id" {
                    reset_identity(tx, table)?;
                }
            }
            Ok(())
        })?;
        let copied = read_all(target)?;
        let mut out = Vec::new();
        for (((table, _, _), a), b) in TABLES.iter().zip(&source).zip(&copied) {
            let (da, db) = (digest(a), digest(b));
            if a.len() != b.len() || da != db {
                return Err(StoreError::Setting(format!(
                    "the copy of table {table} differs: {} rows with digest {da} here, {} rows with digest {db} in {}",
                    a.len(),
                    b.len(),
                    target.describe()
                )));
            }
            out.push(TableCopy {
                table,
                rows: a.len(),
                digest: da,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::model::Stage;
    use crate::store::conformance::Fixture;
    use crate::store::{Entry, Holder, Record};
    use crate::transport::{HostKeyPins, Pin};

    #[test]
    fn the_copy_knows_every_table_and_column_of_the_schema() {
        use crate::store::db::args;
        let f = Fixture::sqlite();
        let s = f.open();
        let schema: Vec<(String, Vec<String>)> =
            s.db.read(|tx| {
                let tables: Vec<String> = tx
                    .query(
                        "SELECT name FROM sqlite_master WHERE type = 'table' \
                         AND name NOT LIKE 'sqlite_%' ORDER BY name",
                        args![],
                    )?
                    .into_iter()
                    .map(|r| r.get::<String>(0))
                    .collect::<Result<_, _>>()?;
                let mut out = Vec::new();
                for t in tables {
                    let cols = tx
                        .query(
                            &format!("SELECT name FROM pragma_table_info('{t}')"),
                            args![],
                        )?
                        .into_iter()
                        .map(|r| r.get::<String>(0))
                        .collect::<Result<_, _>>()?;
                    out.push((t, cols));
                }
                Ok(out)
            })
            .unwrap();
        let mut known: Vec<(String, Vec<String>)> = super::TABLES
            .iter()
            .map(|(t, cols, _)| (t.to_string(), cols.iter().map(|c| c.to_string()).collect()))
            .collect();
        known.sort();
        let mut schema = schema;
        for (_, cols) in schema.iter_mut() {
            cols.sort();
        }
        for (_, cols) in known.iter_mut() {
            cols.sort();
        }
        assert_eq!(
            known, schema,
            "store copy must carry every table and column"
        );
    }

    #[test]
    fn a_sqlite_store_copied_to_postgres_has_every_row() {
        let from = Fixture::sqlite();
        let to = Fixture::postgres();
        let s = from.open();
        for i in 0..30 {
            let tag = format!("LAP-{i:02}");
            s.transition(
                &tag,
                Stage::Received,
                "ana",
                None,
                &[Entry::new(&tag, "ana", "received")],
            )
            .unwrap();
        }
        let run = s
            .start_run("configure", "ana", &["LAP-01".into(), "LAP-02".into()])
            .unwrap();
        s.record_run_device(run, "LAP-01", crate::model::Outcome::Changed, None)
            .unwrap();
        s.finish_run(run, crate::store::RunStatus::Completed)
            .unwrap();
        s.pin(
            "LAP-01",
            &Pin {
                key_type: "ssh-ed25519".into(),
                fingerprint: "SHA256:x".into(),
            },
        )
        .unwrap();
        s.set_record(
            Record::Assignment,
            "LAP-01",
            Some("desk: '1'\n"),
            "ana",
            &[],
        )
        .unwrap();
        s.send_to_repair(
            "LAP-05",
            "ana",
            &crate::store::NewRepair {
                fault: "hinge".into(),
                cost_minor: Some(12050),
                ..Default::default()
            },
            &[],
        )
        .unwrap();
        s.add_schedule(&crate::store::NewSchedule {
            argv: vec!["audit".into(), "--all".into()],
            command: "audit".into(),
            written: "every sun 03:00".into(),
            every: Some("sun 03:00".into()),
            timezone: "UTC".into(),
            grace: 3600,
            due: 1_800_000_000,
            operator: "ana".into(),
        })
        .unwrap();
        let _held = s.lock("LAP-03", &Holder::me("ana")).unwrap();
        let t = to.open();
        let report = s.copy_to(&t).unwrap();
        let rows: Vec<(&str, usize)> = report.iter().map(|c| (c.table, c.rows)).collect();
        assert_eq!(
            rows,
            [
                ("devices", 30),
                ("journal", 61),
                ("locks", 1),
                ("host_keys", 1),
                ("runs", 1),
                ("run_devices", 2),
                ("receipts", 0),
                ("assignments", 1),
                ("handoffs", 0),
                ("repairs", 1),
                ("schedules", 1),
                ("schedule_runs", 0),
                ("printer_observations", 0),
                ("printer_queues", 0),
                ("software_snapshots", 0),
                ("software_pending", 0),
                ("queued_runs", 0),
                ("queue_jobs", 0),
                ("upgrade_marks", 0),
                ("queue_workers", 0)
            ]
        );
        assert_eq!(t.history("LAP-07").unwrap(), s.history("LAP-07").unwrap());
        assert_eq!(t.repairs("LAP-05").unwrap(), s.repairs("LAP-05").unwrap());
        // New rows continue the ids copied.
        t.record(&[Entry::new("LAP-00", "bo", "note")]).unwrap();
        assert_eq!(t.recent(1).unwrap()[0].id, Some(62));
        assert!(t.start_run("configure", "bo", &[]).unwrap() > run);
        // A second copy into a store that has rows is refused.
        let err = s.copy_to(&t).unwrap_err().to_string();
        assert!(err.contains("is not empty"), "{err}");
    }
}
