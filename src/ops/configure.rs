//! Configure as a lifecycle step, the store's side of a rollout ([`Books`]): check the stage
//! allows it, hold the device's lock, move to `configuring`, converge, then move to
//! `configured` or `configure-failed` together with the start, the move to `configuring`,
//! one journal row per resource changed and per verify check (digests, never contents)
//! and a summary; a run that changed nothing and found every check passing writes one
//! summary row instead. Audits record their result the same way.

use crate::engine::device::{self, DeviceRun, Mode, Options, Outcome, Status, Step};
use crate::engine::fleet::{Bookkeeper, NoBooks, Settings, WorkError};
use crate::model::{AuditResult, Stage, check_move};
use crate::resolve::Resolved;
use crate::site::Site;
use crate::store::{Entry, Holder, Store, StoreError};

/// Refuses a device whose stage does not allow configuring, naming what to do instead.
pub fn check_can_configure(store: &Store, tag: &str) -> Result<(), StoreError> {
    let from = store.stage(tag)?.map(|r| r.stage);
    check_move(tag, from, Stage::Configuring).map_err(|e| StoreError::Refused(e.receive_first()))
}

/// Configures one device and records it. `run_id` ties the journal rows to a rollout;
/// `notes` are written with its move to `configuring` (under its lock).
#[allow(clippy::too_many_arguments)]
pub fn configure(
    store: &Store,
    site: &Site,
    resolved: &Resolved,
    opts: &Options,
    operator: &str,
    run_id: Option<i64>,
    notes: &[Entry],
    observe: &(dyn Fn(&str, Step) + Sync),
) -> Result<DeviceRun, StoreError> {
    let tag = resolved.device.as_str();
    let (_lock, begun) = begin_configure(store, tag, operator, run_id, notes)?;
    let run = device::run(site, resolved, Mode::Configure, opts, observe);
    end_configure(store, &run, operator, run_id, begun)?;
    Ok(run)
}

/// A configure begun by [`begin_configure`]: the stage it left, and its start and move to
/// `configuring`, journaled with the run's end.
struct Begun {
    before: Option<crate::store::StageRecord>,
    started: Entry,
    moved: Entry,
}

/// Takes `tag`'s lock, checks its stage allows configuring and moves it to `configuring`
/// with `notes`; the lock is held until the guard is dropped.
fn begin_configure<'a>(
    store: &'a Store,
    tag: &str,
    operator: &str,
    run_id: Option<i64>,
    notes: &[Entry],
) -> Result<(crate::store::LockGuard<'a>, Begun), StoreError> {
    // The lock first: a device being configured by another run is refused naming that run.
    let lock = store.lock(tag, &Holder::me(operator))?;
    check_can_configure(store, tag)?;
    // The move to `configuring` is journaled with the run's end (a process that dies
    // meanwhile is recorded by the store's recovery), so that a run that changed nothing
    // leaves one row, not a start, two stage moves, a row per check and a summary.
    let notes: Vec<Entry> = notes.iter().map(|n| with_run(n.clone(), run_id)).collect();
    let started = with_run(
        Entry::new(tag, operator, "configure").message("configure started"),
        run_id,
    );
    let before = store.enter_transient(tag, Stage::Configuring, &notes)?;
    let mut moved = with_run(Entry::new(tag, operator, "stage"), run_id);
    moved.at = started.at.clone();
    moved.stage_from = Some(crate::model::stage_name(before.as_ref().map(|r| r.stage)).into());
    moved.stage_to = Some(Stage::Configuring.as_str().into());
    Ok((
        lock,
        Begun {
            before,
            started,
            moved,
        },
    ))
}

/// Records a configure's run: what a printer said, its journal rows, the checks passed
/// after a repair and the device's next stage.
fn end_configure(
    store: &Store,
    run: &DeviceRun,
    operator: &str,
    run_id: Option<i64>,
    begun: Begun,
) -> Result<(), StoreError> {
    let tag = run.device.as_str();
    let Begun {
        before,
        started,
        moved,
    } = begun;
    observe(store, run, operator)?;
    let mut after_repair = None;
    // Checks its profile wants passed again after a repair: those that passed now are done.
    let pending = store.checks_pending(tag)?;
    let passed: Vec<String> = run
        .verify
        .iter()
        .filter(|c| c.passed && pending.contains(&c.name))
        .map(|c| c.name.clone())
        .collect();
    if !pending.is_empty() {
        let left: Vec<&str> = pending
            .iter()
            .filter(|c| !passed.contains(c))
            .map(String::as_str)
            .collect();
        let mut msg = if passed.is_empty() {
            "no after-repair check passed".to_string()
        } else {
            format!("passed again after repair: {}", passed.join(", "))
        };
        if !left.is_empty() {
            msg.push_str(&format!("; still to pass: {}", left.join(", ")));
        }
        after_repair = Some(with_run(
            Entry::new(tag, operator, "after-repair").message(msg),
            run_id,
        ));
    }
    // A device configured at its desk (an upgrade in place) is delivered again.
    let done = if store.at_desk(tag)? {
        Stage::Delivered
    } else {
        Stage::Configured
    };
    let (to, error) = match run.outcome {
        o if o.succeeded() => (done, None),
        _ => (Stage::ConfigureFailed, Some(run.problems.joined())),
    };
    // How the device ended in its run, written with its stage and journal.
    let problems = (!run.problems.is_empty()).then(|| run.problems.joined());
    let settled = run_id.map(|id| (id, run.outcome, problems.as_deref()));
    if let Some(back) = before.as_ref().filter(|b| b.stage == to)
        && nothing_changed(run)
        && pending.is_empty()
    {
        let row = with_run(
            Entry::new(tag, operator, "configure").message(no_op_summary(run)),
            run_id,
        );
        match store.restore_transient(tag, Stage::Configuring, back, &[row], settled) {
            Err(StoreError::Refused(_)) => {}
            other => return other,
        }
    }
    // A device at its desk that could not be reached (switched off, taken home) was not
    // touched: it stays delivered (still awaiting its person's acceptance when it was),
    // and its journal says the configure did not reach it.
    if let Some(back) = before.as_ref().filter(|b| b.stage == Stage::Delivered)
        && run.outcome == Outcome::Unreachable
        && run
            .resources
            .iter()
            .all(|r| !matches!(r.status, Status::Changed | Status::Failed))
    {
        let row = with_run(
            Entry::new(tag, operator, "configure").message(format!(
                "not reached, nothing changed; still delivered: {}",
                run.problems.joined()
            )),
            run_id,
        );
        match store.restore_transient(tag, Stage::Configuring, back, &[row], settled) {
            Err(StoreError::Refused(_)) => {}
            other => return other,
        }
    }
    let mut entries = vec![started, moved];
    entries.extend(journal_rows(run, operator, run_id));
    entries.extend(after_repair);
    finish(
        store,
        tag,
        to,
        operator,
        error.as_deref(),
        &entries,
        settled,
    )?;
    if !passed.is_empty() {
        store.checks_passed(tag, &passed)?;
    }
    Ok(())
}

/// Whether a configure run changed nothing and found everything as wanted: no resource
/// changed or failed, every check passed, no problem.
fn nothing_changed(run: &DeviceRun) -> bool {
    run.outcome == Outcome::Ok
        && run.problems.is_empty()
        && run
            .resources
            .iter()
            .all(|r| !matches!(r.status, Status::Changed | Status::Failed))
        && run.verify.iter().all(|c| c.passed)
}

/// The one journal row of a configure run that changed nothing: what it found, the checks
/// that passed (by name), connections and channels.
fn no_op_summary(run: &DeviceRun) -> String {
    let checks = if run.verify.is_empty() {
        String::new()
    } else {
        format!(
            "; {} check{} passed: {}",
            run.verify.len(),
            if run.verify.len() == 1 { "" } else { "s" },
            run.verify
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    format!(
        "configure ok: nothing changed ({} of {} resources as the profile says){checks}; {} connection(s), {} exec channel(s)",
        run.count(Status::Ok),
        run.resources.len(),
        run.connections,
        run.channels
    )
}

/// Moves the configured device to `to` with its journal rows and (with `settled`: run, outcome,
/// error) its run's row, in one transaction; when its stage moved under the run (which the
/// device's lease keeps other commands from doing, but a store edited by hand or an older
/// deskready may), the rows are recorded all the same, with a row saying where the device
/// was left and the run's row saying it was refused, and the refusal is returned: what the
/// run changed on the device is never lost from its journal.
fn finish(
    store: &Store,
    tag: &str,
    to: Stage,
    operator: &str,
    error: Option<&str>,
    entries: &[Entry],
    settled: Option<(i64, Outcome, Option<&str>)>,
) -> Result<(), StoreError> {
    match store.transition_with(tag, to, operator, error, entries, settled) {
        Err(StoreError::Refused(refused)) => {
            let run_id = entries.iter().find_map(|e| e.run_id);
            let mut rows = entries.to_vec();
            rows.push(with_run(
                Entry::new(tag, operator, "configure").message(format!(
                    "its stage moved to {} while it was configured, so it was left there rather than moved to {to}",
                    crate::model::stage_name(refused.from)
                )),
                run_id,
            ));
            let why = refused.to_string();
            store.record_with(
                &rows,
                settled.map(|(id, _, _)| (id, tag, Outcome::Refused, Some(why.as_str()))),
            )?;
            Err(StoreError::Refused(refused))
        }
        other => other.map(|_| ()),
    }
}

fn with_run(mut e: Entry, run_id: Option<i64>) -> Entry {
    e.run_id = run_id;
    e
}

/// The journal rows of a run: each resource changed (or failed) and each check.
pub fn journal_rows(run: &DeviceRun, operator: &str, run_id: Option<i64>) -> Vec<Entry> {
    let tag = &run.device;
    let mut rows = Vec::new();
    for r in &run.resources {
        let what = match r.status {
            Status::Changed => "changed",
            Status::Failed => "failed",
            _ => continue,
        };
        let mut msg = format!("{what} {} on {}", r.kind, r.on);
        // What a change did, in the kind's words ("removed user bob", "stopped,
        // disabled vpn"); a failure's message is the device's error output, not kept.
        if r.status == Status::Changed
            && let Some(m) = r.message.as_deref().filter(|m| !m.is_empty())
        {
            msg.push_str(&format!(": {}", m.replace('\n', " / ")));
        }
        if let Some(m) = &r.meta_before {
            msg.push_str(&format!(" (was mode/owner/group {m})"));
        }
        if let Some(code) = r.exit_code {
            msg.push_str(&format!(", exit code {code}"));
        }
        if r.sensitive {
            // Rendered from a secret: no digest is kept (it could be guessed back).
            msg.push_str(" (sensitive)");
        }
        rows.push(with_run(
            Entry::new(tag, operator, "resource")
                .subject(&r.name)
                .digests(r.old_digest.clone(), r.new_digest.clone())
                .message(msg),
            run_id,
        ));
    }
    for c in &run.verify {
        // A check that ran a command failed with its exit code; one that asked something
        // (a printer over IPP) and got no answer has none: what happened instead.
        let msg = match (c.passed, c.exit_code) {
            (true, _) => "passed".to_string(),
            (false, Some(code)) => format!("failed with exit code {code}"),
            (false, None) => match c.output.as_deref().and_then(|o| o.lines().next()) {
                Some(what) if !what.trim().is_empty() => format!("failed: {}", what.trim()),
                _ => "failed: no answer".to_string(),
            },
        };
        rows.push(with_run(
            Entry::new(tag, operator, "verify")
                .subject(&c.name)
                .message(msg),
            run_id,
        ));
    }
    let summary = format!(
        "configure {}: {} changed, {} ok, {} failed; {} connection(s), {} exec channel(s)",
        run.outcome,
        run.count(Status::Changed),
        run.count(Status::Ok),
        run.count(Status::Failed),
        run.connections,
        run.channels
    );
    rows.push(with_run(
        Entry::new(tag, operator, "configure").message(summary),
        run_id,
    ));
    rows
}

/// Audits one device, holding its lock: probes only (and asks a printer over IPP), changes
/// nothing, and records the result in its journal: `clean`, `drift` (naming what drifted),
/// `unreachable` or `failed`.
pub fn audit(
    store: &Store,
    site: &Site,
    resolved: &Resolved,
    opts: &Options,
    operator: &str,
    observe: &(dyn Fn(&str, Step) + Sync),
) -> Result<DeviceRun, StoreError> {
    // Not while another command changes the device: it would be probed half-changed.
    let _lock = store.lock(
        &resolved.device,
        &Holder::doing(operator, crate::store::Purpose::Audit),
    )?;
    let mut run = device::run(site, resolved, Mode::Audit, opts, observe);
    end_audit(store, site, &mut run, operator)?;
    Ok(run)
}

/// Records what a printer said about itself during `run`, if it was asked.
fn observe(store: &Store, run: &DeviceRun, operator: &str) -> Result<(), StoreError> {
    let Some(p) = &run.printer else {
        return Ok(());
    };
    let json = serde_json::to_string(p).unwrap_or_default();
    store.observe_printer(
        &run.device,
        operator,
        p.pages,
        !p.attention().is_empty(),
        &json,
    )
}

/// Records an audit's result in the device's journal (and what a printer said), with its
/// software and standing ([`super::audit::findings`]).
fn end_audit(
    store: &Store,
    site: &Site,
    run: &mut DeviceRun,
    operator: &str,
) -> Result<(), StoreError> {
    observe(store, run, operator)?;
    super::audit::findings(site, store, run, operator)?;
    let drifted: Vec<&str> = run
        .resources
        .iter()
        .filter(|r| r.status == Status::Drift)
        .map(|r| r.name.as_str())
        .collect();
    let failed_checks: Vec<&str> = run
        .verify
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name.as_str())
        .collect();
    let (result, message) = match run.outcome {
        Outcome::Ok => (
            AuditResult::Clean,
            format!("{} resources as the profile says", run.resources.len()),
        ),
        Outcome::Changed | Outcome::Drift => (
            AuditResult::Drift,
            format!("drifted: {}", drifted.join(", ")),
        ),
        Outcome::Unreachable => (AuditResult::Unreachable, run.problems.joined()),
        Outcome::Failed | Outcome::Refused | Outcome::NotStarted => (
            AuditResult::Failed,
            if failed_checks.is_empty() {
                run.problems.joined()
            } else {
                format!("failed checks: {}", failed_checks.join(", "))
            },
        ),
    };
    store.record(&[Entry::new(&run.device, operator, "audit")
        .subject(result.as_str())
        .message(message)])
}

fn work_error(e: StoreError) -> WorkError {
    match e {
        StoreError::Refused(m) => WorkError::Refused(m.to_string()),
        e @ StoreError::Locked { .. } => WorkError::Refused(e.to_string()),
        e => WorkError::Failed(e.to_string()),
    }
}

/// The store's side of a rollout: each device's lock, stage and journal, and the run
/// record's per-device rows.
pub struct Books {
    pub store: std::sync::Arc<Store>,
    pub run_id: Option<i64>,
    /// Rows to write when a device's configure starts, by tag.
    pub notes: std::collections::HashMap<String, Entry>,
    /// Admits a device again before each batch after the first (maintenance windows).
    #[allow(clippy::type_complexity)]
    pub recheck: Option<Box<dyn Fn(&str) -> Option<crate::engine::fleet::Admission> + Send + Sync>>,
}

impl Bookkeeper for Books {
    fn work(
        &self,
        site: &Site,
        resolved: &Resolved,
        settings: &Settings,
        observe: &(dyn Fn(&str, Step) + Sync),
    ) -> Result<DeviceRun, WorkError> {
        let run = match settings.mode {
            // A plan keeps no books; an upgrade keeps its own (`ops::software`).
            Mode::Plan | Mode::Upgrade => return NoBooks.work(site, resolved, settings, observe),
            Mode::Configure => configure(
                &self.store,
                site,
                resolved,
                &settings.ssh,
                &settings.operator,
                self.run_id,
                self.notes
                    .get(&resolved.device)
                    .map(std::slice::from_ref)
                    .unwrap_or_default(),
                observe,
            )
            .and_then(|run| {
                super::printer_queue::settle(
                    &self.store,
                    resolved,
                    &run,
                    &settings.operator,
                    self.run_id,
                )?;
                Ok(run)
            }),
            Mode::Audit => audit(
                &self.store,
                site,
                resolved,
                &settings.ssh,
                &settings.operator,
                observe,
            ),
        };
        run.map_err(work_error)
    }

    fn work_batch(
        &self,
        site: &Site,
        on: &str,
        resolved: &[&Resolved],
        settings: &Settings,
        observe: &(dyn Fn(&str, Step) + Sync),
    ) -> Vec<Result<DeviceRun, WorkError>> {
        if settings.mode == Mode::Plan {
            return NoBooks.work_batch(site, on, resolved, settings, observe);
        }
        // Every device's lock (and, for configure, its move to `configuring`) first; the
        // ones refused are left out of the program.
        let mut out: Vec<Option<Result<DeviceRun, WorkError>>> = Vec::new();
        let mut locks = Vec::new();
        let mut begun: Vec<Option<Begun>> = Vec::new();
        let mut admitted: Vec<&Resolved> = Vec::new();
        for r in resolved {
            let tag = r.device.as_str();
            let taken = match settings.mode {
                Mode::Configure => begin_configure(
                    &self.store,
                    tag,
                    &settings.operator,
                    self.run_id,
                    self.notes
                        .get(tag)
                        .map(std::slice::from_ref)
                        .unwrap_or_default(),
                )
                .map(|(lock, b)| (lock, Some(b))),
                _ => self
                    .store
                    .lock(
                        tag,
                        &Holder::doing(&settings.operator, crate::store::Purpose::Audit),
                    )
                    .map(|lock| (lock, None)),
            };
            match taken {
                Ok((lock, b)) => {
                    locks.push(lock);
                    begun.push(b);
                    admitted.push(r);
                    out.push(None);
                }
                Err(e) => out.push(Some(Err(work_error(e)))),
            }
        }
        let mut runs =
            crate::engine::batch::run(site, on, &admitted, settings.mode, &settings.ssh, observe)
                .into_iter()
                .zip(begun)
                .zip(admitted.iter().copied());
        let results = out
            .into_iter()
            .map(|slot| match slot {
                Some(refused) => refused,
                None => {
                    let ((mut run, begun), r) = runs.next().expect("one run per admitted device");
                    let recorded = match begun {
                        Some(b) => {
                            end_configure(&self.store, &run, &settings.operator, self.run_id, b)
                                .and_then(|()| {
                                    super::printer_queue::settle(
                                        &self.store,
                                        r,
                                        &run,
                                        &settings.operator,
                                        self.run_id,
                                    )
                                })
                        }
                        None => end_audit(&self.store, site, &mut run, &settings.operator),
                    };
                    recorded.map(|()| run).map_err(work_error)
                }
            })
            .collect();
        drop(locks);
        results
    }

    fn admit(&self, device: &str) -> Option<crate::engine::fleet::Admission> {
        self.recheck.as_ref().and_then(|f| f(device))
    }

    /// A device whose work ran had its run row written with its stage and journal; this
    /// records the others (not started, refused, bookkeeping failed).
    fn finished(&self, device: &str, outcome: Outcome, error: Option<&str>) {
        if let Some(id) = self.run_id {
            let _ = self.store.settle_run_device(id, device, outcome, error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configure_whose_stage_moved_under_it_still_records_what_it_changed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .transition("LAP-1", Stage::Received, "ana", None, &[])
            .unwrap();
        store
            .transition("LAP-1", Stage::Configuring, "ana", None, &[])
            .unwrap();
        // Moved by something that did not take the lock.
        store
            .transition("LAP-1", Stage::Retired, "bo", None, &[])
            .unwrap();
        let mut changed = Entry::new("LAP-1", "ana", "resource").subject("file /etc/x");
        changed.run_id = Some(7);
        let err = finish(
            &store,
            "LAP-1",
            Stage::Configured,
            "ana",
            None,
            &[changed],
            None,
        )
        .unwrap_err();
        assert!(matches!(err, StoreError::Refused(_)), "{err}");
        let h = store.history("LAP-1").unwrap();
        let tail: Vec<(&str, Option<&str>, Option<i64>)> = h
            .iter()
            .rev()
            .take(2)
            .rev()
            .map(|e| (e.kind.as_str(), e.message.as_deref(), e.run_id))
            .collect();
        assert_eq!(
            tail,
            [
                ("resource", None, Some(7)),
                (
                    "configure",
                    Some(
                        "its stage moved to retired while it was configured, so it was left there rather than moved to configured"
                    ),
                    Some(7)
                )
            ]
        );
        assert_eq!(store.stage("LAP-1").unwrap().unwrap().stage, Stage::Retired);
    }
}
