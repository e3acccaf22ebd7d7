//! What printers said about themselves over time (audits over IPP): state, supplies,
//! counters, firmware, serial, as one JSON document per observation, with the page count
//! and whether it needed attention as columns; and the queue deskready last made for each
//! printer (its print server and name), so that a queue renamed in the inventory can be
//! moved. Owns these tables and their migrations; knows nothing of IPP (the caller
//! serialises what the printer said) nor of CUPS.

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

/// The queue table's migration (one more step of `migrations::MIGRATIONS`): one row per
/// printer, the queue a configure last left in place for it.
pub(super) const QUEUES_MIGRATION: &str = r#"
    CREATE TABLE printer_queues (
        tag TEXT PRIMARY KEY,
        via TEXT NOT NULL,
        server TEXT NOT NULL,
        queue TEXT NOT NULL,
        at TEXT NOT NULL
    );
"#;

/// The queue deskready made (or found as wanted) for a printer: on device `via` (the
/// print server), at CUPS server `server` ('' for that device's own), named `queue`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PrinterQueue {
    pub via: String,
    pub server: String,
    pub queue: String,
}

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

    /// Remembers `queue` as printer `tag`'s queue (replacing what was remembered).
    pub fn set_printer_queue(&self, tag: &str, queue: &PrinterQueue) -> Result<(), StoreError> {
        let at = now();
        self.db.write(|tx| {
            tx.execute(
                "INSERT INTO printer_queues (tag, via, server, queue, at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (tag) DO UPDATE SET via = excluded.via, server = excluded.server, queue = excluded.queue, at = excluded.at",
                args![tag, queue.via, queue.server, queue.queue, at],
            )?;
            Ok(())
        })
    }

    /// The queue last remembered for printer `tag`, if any.
    pub fn printer_queue(&self, tag: &str) -> Result<Option<PrinterQueue>, StoreError> {
        self.db.read(|tx| {
            tx.query_opt(
                "SELECT via, server, queue FROM printer_queues WHERE tag = $1",
                args![tag],
            )?
            .map(|r| {
                Ok(PrinterQueue {
                    via: r.get(0)?,
                    server: r.get(1)?,
                    queue: r.get(2)?,
                })
            })
            .transpose()
        })
    }

    /// Forgets printer `tag`'s queue (it was removed).
    pub fn forget_printer_queue(&self, tag: &str) -> Result<(), StoreError> {
        self.db.write(|tx| {
            tx.execute("DELETE FROM printer_queues WHERE tag = $1", args![tag])?;
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
    use crate::store::conformance::both;

    both! {
    fn a_printers_queue_is_remembered_replaced_and_forgotten(fx: &Fixture) {
        let s = fx.open();
        assert_eq!(s.printer_queue("PRN-1").unwrap(), None);
        let q = |name: &str| PrinterQueue {
            via: "PS-1".into(),
            server: "ps:631".into(),
            queue: name.into(),
        };
        s.set_printer_queue("PRN-1", &q("floor3")).unwrap();
        s.set_printer_queue("PRN-2", &q("floor4")).unwrap();
        s.set_printer_queue("PRN-1", &q("floor3-bay1")).unwrap();
        assert_eq!(s.printer_queue("PRN-1").unwrap(), Some(q("floor3-bay1")));
        s.forget_printer_queue("PRN-1").unwrap();
        assert_eq!(s.printer_queue("PRN-1").unwrap(), None);
        assert_eq!(s.printer_queue("PRN-2").unwrap(), Some(q("floor4")));
    }
    }

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
