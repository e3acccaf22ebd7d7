//! The person at the desk, on record: each handoff (the sheet's version and digest, who
//! accepted it and when, who gave the device back and in what condition) and each repair
//! (fault, parts, vendor ticket or RMA, cost, technician, outcome, and the checks still to
//! pass after it). Plain portable SQL against `db::Tx` (both backends); the stage moves
//! and journal rows that go with these are written in the same transaction by the callers
//! in `store`. Its tables are migration 6 (`migrations.rs`).

use serde::Serialize;

use super::db::{Row, Tx, args};
use super::{Entry, Store, StoreError, insert_entry, now};
use crate::model::Stage;

/// Migration 6: handoffs (sheet, acceptance, return) and repairs.
pub(super) const MIGRATION: &str = r#"
    CREATE TABLE handoffs (
        id {id},
        tag TEXT NOT NULL,
        version {int} NOT NULL,
        delivered_at TEXT NOT NULL,
        delivered_by TEXT NOT NULL,
        person TEXT NOT NULL,
        sheet_digest TEXT NOT NULL,
        accepted_at TEXT,
        accepted_by TEXT,
        signature_digest TEXT,
        returned_at TEXT,
        returned_by TEXT,
        return_condition TEXT
    );
    CREATE INDEX handoffs_tag ON handoffs (tag, id);
    CREATE TABLE repairs (
        id {id},
        tag TEXT NOT NULL,
        opened_at TEXT NOT NULL,
        opened_by TEXT NOT NULL,
        fault TEXT NOT NULL,
        parts TEXT,
        ticket TEXT,
        rma TEXT,
        cost_minor {int},
        currency TEXT,
        technician TEXT,
        closed_at TEXT,
        closed_by TEXT,
        outcome TEXT,
        checks_pending TEXT
    );
    CREATE INDEX repairs_tag ON repairs (tag, id);
"#;

/// One handoff of a device to its person.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Handoff {
    pub device: String,
    /// 1 for the device's first sheet, 2 for the next...
    pub version: i64,
    pub delivered_at: String,
    pub delivered_by: String,
    pub person: String,
    /// SHA-256 of the sheet's HTML, hex.
    pub sheet_digest: String,
    pub accepted_at: Option<String>,
    pub accepted_by: Option<String>,
    /// SHA-256 of the signature file, hex.
    pub signature_digest: Option<String>,
    pub returned_at: Option<String>,
    pub returned_by: Option<String>,
    pub return_condition: Option<String>,
}

/// A repair as opened (`deskready repair`).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct NewRepair {
    pub fault: String,
    pub parts: Vec<String>,
    pub ticket: Option<String>,
    pub rma: Option<String>,
    /// In minor units (cents) of `currency`.
    pub cost_minor: Option<i64>,
    pub currency: Option<String>,
    pub technician: Option<String>,
}

/// A repair on record.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Repair {
    pub device: String,
    pub opened_at: String,
    pub opened_by: String,
    #[serde(flatten)]
    pub details: NewRepair,
    pub closed_at: Option<String>,
    pub closed_by: Option<String>,
    pub outcome: Option<String>,
    /// Verify checks that must pass again (the profile's `after_repair`) before this
    /// repair is done with.
    pub checks_pending: Vec<String>,
}

const HANDOFF_COLUMNS: &str = "tag, version, delivered_at, delivered_by, person, sheet_digest, accepted_at, accepted_by, signature_digest, returned_at, returned_by, return_condition";

fn handoff_row(r: &Row) -> Result<Handoff, StoreError> {
    Ok(Handoff {
        device: r.get(0)?,
        version: r.get(1)?,
        delivered_at: r.get(2)?,
        delivered_by: r.get(3)?,
        person: r.get(4)?,
        sheet_digest: r.get(5)?,
        accepted_at: r.get(6)?,
        accepted_by: r.get(7)?,
        signature_digest: r.get(8)?,
        returned_at: r.get(9)?,
        returned_by: r.get(10)?,
        return_condition: r.get(11)?,
    })
}

const REPAIR_COLUMNS: &str = "tag, opened_at, opened_by, fault, parts, ticket, rma, cost_minor, currency, technician, closed_at, closed_by, outcome, checks_pending";

fn list(s: Option<String>) -> Vec<String> {
    s.map(|s| {
        s.split('\n')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

fn joined(v: &[String]) -> Option<String> {
    (!v.is_empty()).then(|| v.join("\n"))
}

fn repair_row(r: &Row) -> Result<Repair, StoreError> {
    Ok(Repair {
        device: r.get(0)?,
        opened_at: r.get(1)?,
        opened_by: r.get(2)?,
        details: NewRepair {
            fault: r.get(3)?,
            parts: list(r.get(4)?),
            ticket: r.get(5)?,
            rma: r.get(6)?,
            cost_minor: r.get(7)?,
            currency: r.get(8)?,
            technician: r.get(9)?,
        },
        closed_at: r.get(10)?,
        closed_by: r.get(11)?,
        outcome: r.get(12)?,
        checks_pending: list(r.get(13)?),
    })
}

fn latest_handoff_id(tx: &mut Tx<'_>, tag: &str) -> Result<Option<i64>, StoreError> {
    tx.query_one::<Option<i64>>("SELECT MAX(id) FROM handoffs WHERE tag = $1", args![tag])
}

fn open_repair_id(tx: &mut Tx<'_>, tag: &str) -> Result<Option<i64>, StoreError> {
    tx.query_one::<Option<i64>>(
        "SELECT MAX(id) FROM repairs WHERE tag = $1 AND closed_at IS NULL",
        args![tag],
    )
}

fn handoffs_where(
    tx: &mut Tx<'_>,
    filter: &str,
    tag: Option<&str>,
) -> Result<Vec<Handoff>, StoreError> {
    let sql = format!("SELECT {HANDOFF_COLUMNS} FROM handoffs {filter}");
    let rows = match tag {
        Some(t) => tx.query(&sql, args![t])?,
        None => tx.query(&sql, args![])?,
    };
    rows.iter().map(handoff_row).collect()
}

fn repairs_where(
    tx: &mut Tx<'_>,
    filter: &str,
    tag: Option<&str>,
) -> Result<Vec<Repair>, StoreError> {
    let sql = format!("SELECT {REPAIR_COLUMNS} FROM repairs {filter}");
    let rows = match tag {
        Some(t) => tx.query(&sql, args![t])?,
        None => tx.query(&sql, args![])?,
    };
    rows.iter().map(repair_row).collect()
}

/// The checks pending after `tag`'s last closed repair, with that repair's id.
fn last_closed_pending(
    tx: &mut Tx<'_>,
    tag: &str,
) -> Result<Option<(i64, Option<String>)>, StoreError> {
    tx.query_opt(
        "SELECT id, checks_pending FROM repairs WHERE tag = $1 AND closed_at IS NOT NULL ORDER BY id DESC LIMIT 1",
        args![tag],
    )?
    .map(|r| Ok((r.get(0)?, r.get(1)?)))
    .transpose()
}

impl Store {
    /// Moves `tag` to delivered (like [`Store::transition`]) and records its handoff with
    /// the sheet's digest, accepted at once when `accepted_by` is given. Returns the
    /// handoff recorded.
    #[allow(clippy::too_many_arguments)]
    pub fn deliver(
        &self,
        tag: &str,
        operator: &str,
        person: &str,
        sheet_digest: &str,
        accepted_by: Option<&str>,
        entries: &[Entry],
    ) -> Result<Handoff, StoreError> {
        let at = now();
        self.transition_and(tag, Stage::Delivered, operator, None, entries, |tx, _| {
            let version: i64 =
                tx.query_one("SELECT COUNT(*) FROM handoffs WHERE tag = $1", args![tag])?;
            let h = Handoff {
                device: tag.to_string(),
                version: version + 1,
                delivered_at: at.clone(),
                delivered_by: operator.to_string(),
                person: person.to_string(),
                sheet_digest: sheet_digest.to_string(),
                accepted_at: accepted_by.map(|_| at.clone()),
                accepted_by: accepted_by.map(str::to_string),
                signature_digest: None,
                returned_at: None,
                returned_by: None,
                return_condition: None,
            };
            tx.execute(
                &format!("INSERT INTO handoffs ({HANDOFF_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL, NULL, NULL)"),
                args![h.device, h.version, h.delivered_at, h.delivered_by, h.person, h.sheet_digest, h.accepted_at, h.accepted_by],
            )?;
            Ok(h)
        })
    }

    /// Every handoff of `tag`, oldest first.
    pub fn handoffs(&self, tag: &str) -> Result<Vec<Handoff>, StoreError> {
        self.db
            .read(|tx| handoffs_where(tx, "WHERE tag = $1 ORDER BY id", Some(tag)))
    }

    /// The newest handoff of every device that has one, by tag.
    pub fn latest_handoffs(&self) -> Result<Vec<Handoff>, StoreError> {
        self.db.read(|tx| {
            handoffs_where(
                tx,
                "WHERE id IN (SELECT MAX(id) FROM handoffs GROUP BY tag) ORDER BY tag",
                None,
            )
        })
    }

    /// Records that the newest handoff of `tag` was accepted by `by` (with the signature's
    /// digest), with `entry` in the same transaction. `None` when it has no handoff that
    /// is still open for acceptance (nothing is written then).
    pub fn accept(
        &self,
        tag: &str,
        by: &str,
        signature_digest: Option<&str>,
        entry: &Entry,
    ) -> Result<Option<Handoff>, StoreError> {
        self.db.write(|tx| {
            let Some(id) = latest_handoff_id(tx, tag)? else {
                return Ok(None);
            };
            let n = tx.execute(
                "UPDATE handoffs SET accepted_at = $1, accepted_by = $2, signature_digest = $3
                 WHERE id = $4 AND accepted_at IS NULL AND returned_at IS NULL",
                args![entry.at, by, signature_digest, id],
            )?;
            if n == 0 {
                return Ok(None);
            }
            insert_entry(tx, entry)?;
            let h = handoffs_where(tx, &format!("WHERE id = {id}"), None)?;
            Ok(h.into_iter().next())
        })
    }

    /// Moves a delivered `tag` back to received, recording on its newest handoff who gave
    /// it back and in what condition.
    pub fn give_back(
        &self,
        tag: &str,
        operator: &str,
        by: &str,
        condition: Option<&str>,
        entries: &[Entry],
    ) -> Result<Option<Stage>, StoreError> {
        let at = now();
        self.transition_and(tag, Stage::Received, operator, None, entries, |tx, from| {
            if let Some(id) = latest_handoff_id(tx, tag)? {
                tx.execute(
                    "UPDATE handoffs SET returned_at = $1, returned_by = $2, return_condition = $3 WHERE id = $4 AND returned_at IS NULL",
                    args![at, by, condition, id],
                )?;
            }
            Ok(from)
        })
    }

    /// Moves `tag` to in-repair and opens its repair record.
    pub fn send_to_repair(
        &self,
        tag: &str,
        operator: &str,
        repair: &NewRepair,
        entries: &[Entry],
    ) -> Result<Option<Stage>, StoreError> {
        let at = now();
        self.transition_and(tag, Stage::InRepair, operator, None, entries, |tx, from| {
            tx.execute(
                &format!("INSERT INTO repairs ({REPAIR_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL, NULL, NULL)"),
                args![
                    tag,
                    at,
                    operator,
                    repair.fault,
                    joined(&repair.parts),
                    repair.ticket,
                    repair.rma,
                    repair.cost_minor,
                    repair.currency,
                    repair.technician
                ],
            )?;
            Ok(from)
        })
    }

    /// Closes the open repair of `tag` (back from repair) with its outcome; `checks` are
    /// the verify checks it must pass again. Returns the repair closed, if one was open.
    pub fn close_repair(
        &self,
        tag: &str,
        operator: &str,
        outcome: Option<&str>,
        checks: &[String],
    ) -> Result<Option<Repair>, StoreError> {
        let at = now();
        self.db.write(|tx| {
            let Some(id) = open_repair_id(tx, tag)? else {
                return Ok(None);
            };
            tx.execute(
                "UPDATE repairs SET closed_at = $1, closed_by = $2, outcome = $3, checks_pending = $4 WHERE id = $5",
                args![at, operator, outcome, joined(checks), id],
            )?;
            let r = repairs_where(tx, &format!("WHERE id = {id}"), None)?;
            Ok(r.into_iter().next())
        })
    }

    /// The checks `tag` must still pass after its last repair.
    pub fn checks_pending(&self, tag: &str) -> Result<Vec<String>, StoreError> {
        let row = self.db.read(|tx| last_closed_pending(tx, tag))?;
        Ok(list(row.and_then(|(_, p)| p)))
    }

    /// Records that `passed` of the checks pending after `tag`'s last repair passed; the
    /// rest stay pending. Returns what is still pending.
    pub fn checks_passed(&self, tag: &str, passed: &[String]) -> Result<Vec<String>, StoreError> {
        self.db.write(|tx| {
            let Some((id, pending)) = last_closed_pending(tx, tag)? else {
                return Ok(Vec::new());
            };
            let left: Vec<String> = list(pending)
                .into_iter()
                .filter(|c| !passed.contains(c))
                .collect();
            tx.execute(
                "UPDATE repairs SET checks_pending = $1 WHERE id = $2",
                args![joined(&left), id],
            )?;
            Ok(left)
        })
    }

    /// Every repair of `tag`, oldest first.
    pub fn repairs(&self, tag: &str) -> Result<Vec<Repair>, StoreError> {
        self.db
            .read(|tx| repairs_where(tx, "WHERE tag = $1 ORDER BY id", Some(tag)))
    }

    /// Every repair of every device, by device then oldest first.
    pub fn all_repairs(&self) -> Result<Vec<Repair>, StoreError> {
        self.db
            .read(|tx| repairs_where(tx, "ORDER BY tag, id", None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::both;

    both! {
    fn a_handoff_is_versioned_accepted_once_and_closed_by_its_return(fx: &Fixture) {
        let s = fx.open();
        for st in [Stage::Received, Stage::Configuring, Stage::Configured] {
            s.transition("LAP-1", st, "ana", None, &[]).unwrap();
        }
        let h = s.deliver("LAP-1", "ana", "Bo", "abc", None, &[]).unwrap();
        assert_eq!((h.version, h.accepted_by.as_deref()), (1, None));
        let e = Entry::new("LAP-1", "ana", "accepted");
        let a = s.accept("LAP-1", "Bo", Some("d1"), &e).unwrap().unwrap();
        assert_eq!(a.accepted_by.as_deref(), Some("Bo"));
        assert_eq!(s.accept("LAP-1", "Bo", None, &e).unwrap(), None);
        s.give_back("LAP-1", "ana", "Bo", Some("scratched lid"), &[])
            .unwrap();
        let hs = s.handoffs("LAP-1").unwrap();
        assert_eq!(hs[0].return_condition.as_deref(), Some("scratched lid"));
        assert_eq!(s.stage("LAP-1").unwrap().unwrap().stage, Stage::Received);
    }
    }

    both! {
    fn a_repair_is_opened_closed_and_its_checks_cleared(fx: &Fixture) {
        let s = fx.open();
        s.transition("LAP-1", Stage::Received, "ana", None, &[])
            .unwrap();
        let r = NewRepair {
            fault: "hinge".into(),
            parts: vec!["hinge".into(), "screws".into()],
            cost_minor: Some(12050),
            currency: Some("EUR".into()),
            ..NewRepair::default()
        };
        s.send_to_repair("LAP-1", "ana", &r, &[]).unwrap();
        let checks = vec!["a".to_string(), "b".to_string()];
        let closed = s
            .close_repair("LAP-1", "ana", Some("fixed"), &checks)
            .unwrap()
            .unwrap();
        assert_eq!(closed.details, r);
        assert_eq!(s.checks_pending("LAP-1").unwrap(), checks);
        assert_eq!(s.checks_passed("LAP-1", &["a".into()]).unwrap(), ["b"]);
        assert_eq!(s.all_repairs().unwrap()[0].checks_pending, ["b"]);
    }
    }
}
