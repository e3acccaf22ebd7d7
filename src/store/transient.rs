//! Transient stages whose journal rows are written when the work ends: a device moves to
//! `configuring` with no stage row (only the notes given), and either its end is recorded
//! by [`Store::transition`] with the rows of the whole run (the caller includes the move
//! in), or, when the work changed nothing and the device goes back where it was, it is
//! put back as it was (stage, since, last error) with one summary row. A process that
//! dies meanwhile leaves `configuring`, which opening the store turns into
//! `configure-failed` with a row saying so (`recover.rs`). Plain portable SQL.

use super::db::args;
use super::{Entry, StageRecord, Store, StoreError, insert_entries, now, stage_of};
use crate::model::{MoveRefused, Stage};

impl Store {
    /// Moves `tag` to the transient stage `to` if that move is legal, writing only
    /// `entries` (no stage row). Returns the record it came from.
    pub fn enter_transient(
        &self,
        tag: &str,
        to: Stage,
        entries: &[Entry],
    ) -> Result<Option<StageRecord>, StoreError> {
        let at = now();
        self.db.write(|tx| {
            let before = stage_of(tx, tag)?;
            let from = before.as_ref().map(|r| r.stage);
            if !Stage::can_move(from, to) {
                return Err(StoreError::Refused(MoveRefused::new(tag, from, to)));
            }
            tx.execute(
                "INSERT INTO devices (tag, stage, since, last_error) VALUES ($1, $2, $3, NULL)
                 ON CONFLICT (tag) DO UPDATE SET stage = excluded.stage, since = excluded.since",
                args![tag, to.as_str(), at],
            )?;
            insert_entries(tx, entries)?;
            Ok(before)
        })
    }

    /// Puts `tag`, still in the transient stage `from`, back to `back` (its stage, since
    /// and last error from before), writing `entries` and no stage row, and (with
    /// `run_device`: run, outcome, error) how the device ended in its run. Refused when the
    /// device is no longer in `from`.
    pub fn restore_transient(
        &self,
        tag: &str,
        from: Stage,
        back: &StageRecord,
        entries: &[Entry],
        run_device: Option<(i64, crate::model::Outcome, Option<&str>)>,
    ) -> Result<(), StoreError> {
        self.db.write(|tx| {
            let now_in = stage_of(tx, tag)?.map(|r| r.stage);
            if now_in != Some(from) {
                return Err(StoreError::Refused(MoveRefused::new(
                    tag, now_in, back.stage,
                )));
            }
            tx.execute(
                "UPDATE devices SET stage = $2, since = $3, last_error = $4 WHERE tag = $1",
                args![tag, back.stage.as_str(), back.since, back.last_error],
            )?;
            insert_entries(tx, entries)?;
            if let Some((run, outcome, error)) = run_device {
                super::runs::set_run_device(tx, run, tag, outcome, error)?;
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
        fn a_transient_stage_writes_no_row_and_is_put_back_as_it_was(fx: &Fixture) {
            let s = fx.open();
            s.transition("LAP-1", Stage::Received, "ana", None, &[])
                .unwrap();
            s.transition("LAP-1", Stage::Configuring, "ana", None, &[])
                .unwrap();
            s.transition("LAP-1", Stage::Configured, "ana", None, &[])
                .unwrap();
            let rows = s.history("LAP-1").unwrap().len();
            let before = s
                .enter_transient("LAP-1", Stage::Configuring, &[])
                .unwrap()
                .unwrap();
            assert_eq!(s.stage("LAP-1").unwrap().unwrap().stage, Stage::Configuring);
            assert_eq!(s.history("LAP-1").unwrap().len(), rows);
            let summary = Entry::new("LAP-1", "ana", "configure").message("nothing changed");
            s.restore_transient("LAP-1", Stage::Configuring, &before, &[summary], None)
                .unwrap();
            assert_eq!(s.stage("LAP-1").unwrap().unwrap(), before);
            let h = s.history("LAP-1").unwrap();
            assert_eq!(h.len(), rows + 1);
            assert_eq!(h[rows].message.as_deref(), Some("nothing changed"));
            // Not from a stage that does not allow it, and not back once it moved.
            assert!(s.enter_transient("LAP-2", Stage::Configuring, &[]).is_err());
            assert!(matches!(
                s.restore_transient("LAP-1", Stage::Configuring, &before, &[], None),
                Err(StoreError::Refused(_))
            ));
        }
    }
}
