//! A team store's receipts and assignments: what the embedded store's site keeps in the
//! tool-owned files `inventory/received.yaml` and `inventory/assignments.yaml`, kept here
//! per device so that CSPs on several checkouts see each other's at once. Each row is the
//! YAML mapping the file would hold for that device; what it means is the loader's
//! business, not the store's.

use super::db::args;
use super::{Entry, Stage, Store, StoreError, insert_entries, move_one, now};

/// Which of the two records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// `inventory/received.yaml`'s `devices:`.
    Receipt,
    /// `inventory/assignments.yaml`'s `overrides:`.
    Assignment,
}

impl Record {
    fn table(self) -> &'static str {
        match self {
            Record::Receipt => "receipts",
            Record::Assignment => "assignments",
        }
    }
}

impl Store {
    /// Every row of `record`: (tag, YAML mapping), by tag.
    pub fn records(&self, record: Record) -> Result<Vec<(String, String)>, StoreError> {
        let sql = format!("SELECT tag, entry FROM {} ORDER BY tag", record.table());
        let rows = self.db.read(|tx| tx.query(&sql, args![]))?;
        rows.iter().map(|r| Ok((r.get(0)?, r.get(1)?))).collect()
    }

    /// Sets (or with `None` removes) `tag`'s row of `record`, writing `entries` in the same
    /// transaction; returns the row it replaced.
    pub fn set_record(
        &self,
        record: Record,
        tag: &str,
        entry: Option<&str>,
        operator: &str,
        entries: &[Entry],
    ) -> Result<Option<String>, StoreError> {
        let table = record.table();
        self.db.write(|tx| {
            let before: Option<String> = tx
                .query_opt(
                    &format!("SELECT entry FROM {table} WHERE tag = $1"),
                    args![tag],
                )?
                .map(|r| r.get(0))
                .transpose()?;
            match entry {
                Some(e) => tx.execute(
                    &format!(
                        "INSERT INTO {table} (tag, entry, at, operator) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (tag) DO UPDATE SET entry = excluded.entry, at = excluded.at, operator = excluded.operator"
                    ),
                    args![tag, e, now(), operator],
                )?,
                None => tx.execute(&format!("DELETE FROM {table} WHERE tag = $1"), args![tag])?,
            };
            insert_entries(tx, entries)?;
            Ok(before)
        })
    }

    /// Receives devices in one transaction: the new ones' receipts and every move (with
    /// its rows), or nothing when any move is refused.
    pub fn receive_all(
        &self,
        moves: &[(String, Stage, Vec<Entry>)],
        receipts: &[(String, String)],
        operator: &str,
    ) -> Result<(), StoreError> {
        self.db.write(|tx| {
            for (tag, entry) in receipts {
                tx.execute(
                    "INSERT INTO receipts (tag, entry, at, operator) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (tag) DO UPDATE SET entry = excluded.entry, at = excluded.at, operator = excluded.operator",
                    args![tag, entry, now(), operator],
                )?;
            }
            for (tag, to, entries) in moves {
                move_one(tx, tag, *to, operator, None, entries)?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::both;

    both! {
    fn receipts_and_assignments_are_rows_written_with_their_journal(fx: &Fixture) {
        let s = fx.open();
        let moves = vec![(
            "LAP-9".to_string(),
            Stage::Received,
            vec![Entry::new("LAP-9", "ana", "received")],
        )];
        s.receive_all(&moves, &[("LAP-9".into(), "kind: laptop\n".into())], "ana")
            .unwrap();
        // All or nothing: a refused move leaves no receipt.
        let again = vec![("LAP-8".to_string(), Stage::Delivered, vec![])];
        assert!(s
            .receive_all(&again, &[("LAP-8".into(), "kind: laptop\n".into())], "ana")
            .is_err());
        assert_eq!(
            s.records(Record::Receipt).unwrap(),
            [("LAP-9".to_string(), "kind: laptop\n".to_string())]
        );
        let note = [Entry::new("LAP-9", "bo", "assigned").message("assigned to Ada")];
        let before = s
            .set_record(Record::Assignment, "LAP-9", Some("desk: '1'\n"), "bo", &note)
            .unwrap();
        assert_eq!(before, None);
        let before = s
            .set_record(Record::Assignment, "LAP-9", None, "bo", &[])
            .unwrap();
        assert_eq!(before.as_deref(), Some("desk: '1'\n"));
        assert!(s.records(Record::Assignment).unwrap().is_empty());
        let kinds: Vec<String> = s.history("LAP-9").unwrap().into_iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["received", "stage", "assigned"]);
    }
    }
}
