//! What printers said about themselves over time (audits over IPP): state, supplies,
//! counters, firmware, serial, as one JSON document per observation, with the page count
//! and whether it needed attention as columns. Owns its table and migration; knows nothing
//! of IPP (the caller serialises what the printer said).

use serde::Serialize;

use super::db::args;
use super::{Store, StoreError, now};

/// The table's migration (one step of `migrations::MIGRATIONS`); portable SQL, `{id}` and
/// `{int}` put in each backend's words.
pub(super) const MIGRATION: &str = r#"
    CREATE TABLE printer_observations (
        id {id},
        tag TEXT NOT NULL,
        at TEXT NOT NULL,
        operator TEXT NOT NULL,
        pages {int},
        attention {int} NOT NULL,
        status TEXT NOT NULL
    );
    CREATE INDEX printer_observations_tag ON printer_observations (tag, id);
"#;

/// One observation of one printer.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PrinterObservation {
    pub tag: String,
    /// RFC 3339, UTC.
    pub at: String,
    pub operator: String,
    /// Impressions printed since it was made, when it counts them.
    pub pages: Option<i64>,
    pub attention: bool,
    /// What it said, as JSON.
    pub status: String,
}

impl Store {
    /// Records what printer `tag` said now.
    pub fn observe_printer(
        &self,
        tag: &str,
        operator: &str,
        pages: Option<i64>,
        attention: bool,
        status: &str,
    ) -> Result<(), StoreError> {
        let (at, attention) = (now(), i64::from(attention));
        self.db.write(|tx| {
            tx.execute(
                "INSERT INTO printer_observations (tag, at, operator, pages, attention, status) VALUES ($1, $2, $3, $4, $5, $6)",
                args![tag, at, operator, pages, attention, status],
            )?;
            Ok(())
        })
    }

    /// Every observation of printer `tag`, oldest first.
    pub fn printer_observations(&self, tag: &str) -> Result<Vec<PrinterObservation>, StoreError> {
        self.db.read(|tx| {
            tx.query(
                "SELECT tag, at, operator, pages, attention, status FROM printer_observations WHERE tag = $1 ORDER BY id",
                args![tag],
            )?
            .into_iter()
            .map(|r| {
                Ok(PrinterObservation {
                    tag: r.get(0)?,
                    at: r.get(1)?,
                    operator: r.get(2)?,
                    pages: r.get(3)?,
                    attention: r.get::<i64>(4)? != 0,
                    status: r.get(5)?,
                })
            })
            .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_are_kept_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .observe_printer("PRN-1", "ana", Some(10), false, "{}")
            .unwrap();
        store
            .observe_printer("PRN-1", "ana", None, true, "{\"a\":1}")
            .unwrap();
        let o = store.printer_observations("PRN-1").unwrap();
        assert_eq!(o.len(), 2);
        assert_eq!((o[0].pages, o[1].attention), (Some(10), true));
        assert!(store.printer_observations("PRN-2").unwrap().is_empty());
    }
}
