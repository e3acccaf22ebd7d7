//! Each device's last configure outcome, over every run: what `configure --resume` works
//! from (not "the last run"). Reads only.

use super::db::args;
use super::runs::{DeviceOutcome, PENDING};
use super::{RunStatus, Store, StoreError};
use crate::model::Outcome;

/// How a device's newest configure ended, and in which run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastConfigure {
    pub device: String,
    /// How it ended; `None` for a device its run never reached before the run was
    /// interrupted (or its process died).
    pub outcome: Option<Outcome>,
    pub run: i64,
}

impl LastConfigure {
    /// Whether that configure succeeded.
    pub fn succeeded(&self) -> bool {
        matches!(self.outcome, Some(Outcome::Ok | Outcome::Changed))
    }
}

/// How a device's newest run of some commands ended, and when that run started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastReached {
    pub command: String,
    pub outcome: Outcome,
    pub error: Option<String>,
    /// When its run started (RFC 3339).
    pub at: String,
}

impl Store {
    /// How `tag` ended in its newest run of one of `commands` that it ended in (not
    /// pending), if any.
    pub fn last_outcome(
        &self,
        tag: &str,
        commands: &[&str],
    ) -> Result<Option<LastReached>, StoreError> {
        let mut newest: Option<(i64, LastReached)> = None;
        for command in commands {
            let row = self.db.read(|tx| {
                tx.query_opt(
                    "SELECT r.id, d.outcome, d.error, r.started_at FROM run_devices d JOIN runs r ON r.id = d.run_id
                     WHERE d.tag = $1 AND r.command = $2 AND d.outcome <> $3
                     ORDER BY r.id DESC LIMIT 1",
                    args![tag, *command, PENDING],
                )
            })?;
            if let Some(r) = row {
                let id: i64 = r.get(0)?;
                if newest.as_ref().is_none_or(|(n, _)| id > *n) {
                    newest = Some((
                        id,
                        LastReached {
                            command: command.to_string(),
                            outcome: r.get(1)?,
                            error: r.get(2)?,
                            at: r.get(3)?,
                        },
                    ));
                }
            }
        }
        Ok(newest.map(|(_, l)| l))
    }

    /// Every device's newest configure outcome, by tag. A device still pending in a run
    /// that is running (another live process) is counted by its earlier runs.
    pub fn last_configures(&self) -> Result<Vec<LastConfigure>, StoreError> {
        let rows = self.db.read(|tx| {
            tx.query(
                "WITH settled AS (
                     SELECT d.run_id, d.tag, d.outcome FROM run_devices d JOIN runs r ON r.id = d.run_id
                     WHERE r.command = $1 AND NOT (d.outcome = $2 AND r.status = $3)
                 )
                 SELECT s.tag, s.outcome, s.run_id FROM settled s
                 WHERE s.run_id = (SELECT MAX(run_id) FROM settled t WHERE t.tag = s.tag)
                 ORDER BY s.tag",
                args!["configure", PENDING, RunStatus::Running],
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
    use crate::store::conformance::both;

    both! {
    fn the_newest_settled_outcome_of_each_device_counts(fx: &Fixture) {
        let s = fx.open();
        let tags = |v: &[&str]| v.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        let a = s
            .start_run("configure", "ana", &tags(&["A", "B", "C"]))
            .unwrap();
        s.record_run_device(a, "A", Outcome::Failed, Some("boom"))
            .unwrap();
        s.record_run_device(a, "B", Outcome::Changed, None).unwrap();
        s.record_run_device(a, "C", Outcome::NotStarted, None)
            .unwrap();
        s.finish_run(a, RunStatus::Stopped).unwrap();
        // A later run of B alone, which fails; and one of C that succeeds.
        let b = s.start_run("configure", "ana", &tags(&["B"])).unwrap();
        s.record_run_device(b, "B", Outcome::Unreachable, None)
            .unwrap();
        s.finish_run(b, RunStatus::Completed).unwrap();
        let c = s.start_run("configure", "ana", &tags(&["C"])).unwrap();
        s.record_run_device(c, "C", Outcome::Ok, None).unwrap();
        s.finish_run(c, RunStatus::Completed).unwrap();
        // A run under way (this process): its pending devices do not count yet.
        let _d = s.start_run("configure", "bo", &tags(&["A", "C"])).unwrap();
        let last = s.last_configures().unwrap();
        let got: Vec<(&str, Option<Outcome>, bool)> = last
            .iter()
            .map(|l| (l.device.as_str(), l.outcome, l.succeeded()))
            .collect();
        assert_eq!(
            got,
            [
                ("A", Some(Outcome::Failed), false),
                ("B", Some(Outcome::Unreachable), false),
                ("C", Some(Outcome::Ok), true)
            ]
        );
    }
    }
}
