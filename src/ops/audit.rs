//! Audits: which devices are due a physical audit, `seen` (a CSP saw a device, at its desk
//! or elsewhere), what a drift audit's results mean for its exit status, and what an audit
//! of a device adds from the store ([`findings`]: its software stored and compared as
//! `software` and `upgrades` do, its last physical check and what is overdue). The drift
//! audit's rollout itself is prepared by [`super::rollout::audit`]. Never prints.

use super::{Env, Error, ExitStatus, guard, hold, known_device};
use crate::audit::PhysicalAudit;
use crate::engine::device::DeviceRun;
use crate::engine::fleet::RecapRow;
use crate::model::{Due as AuditDue, Outcome, Package, SoftwareAudit, Stage, Standing};
use crate::site::Site;
use crate::store::{Entry, Purpose, Store, StoreError};

/// Devices due a physical audit.
#[derive(Debug, Clone)]
pub struct Due {
    /// Soonest first, each with where it belongs.
    pub audits: Vec<(PhysicalAudit, String)>,
    /// Every device is to be seen this often.
    pub interval_days: u32,
}

/// Devices whose physical audit is past (`overdue_only`), or past or within the site's
/// look-ahead.
pub fn due(
    env: &Env,
    overdue_only: bool,
    selection: &super::select::Selection,
) -> Result<Due, Error> {
    let site = env.load_site()?;
    // Named devices, groups or `--limit` narrow the list; nothing named is every device.
    let mut selection = selection.clone();
    if selection.devices.is_empty() && selection.groups.is_empty() {
        selection.all = true;
    }
    let tags: std::collections::HashSet<String> = selection.tags(&site)?.into_iter().collect();
    let store = env.open_store()?;
    let all = crate::audit::physical(&site, &store, jiff::Timestamp::now())?;
    let audits = all
        .into_iter()
        .filter(|p| tags.contains(&p.device))
        .filter(|p| {
            if overdue_only {
                p.status == AuditDue::Overdue
            } else {
                p.status != AuditDue::Ok
            }
        })
        .map(|p| {
            let loc = site
                .device(&p.device)
                .map(|d| d.location.describe())
                .unwrap_or_default();
            (p, loc)
        })
        .collect();
    Ok(Due {
        audits,
        interval_days: site.settings.audit_interval_days,
    })
}

impl Due {
    /// Overdue physical audits are a finding, as drift is: exit 4 when any device listed
    /// is past its audit, so that cron and monitors notice.
    pub fn status(&self) -> ExitStatus {
        if self
            .audits
            .iter()
            .any(|(p, _)| p.status == AuditDue::Overdue)
        {
            ExitStatus::Drift
        } else {
            ExitStatus::Success
        }
    }
}

/// What a drift audit's device results mean: failed (or refused) over unreachable over
/// drift over clean.
pub fn drift_status(rows: &[RecapRow]) -> ExitStatus {
    let any = |r: Outcome| rows.iter().any(|x| x.outcome == r);
    if any(Outcome::Failed) || any(Outcome::Refused) {
        ExitStatus::Failed
    } else if any(Outcome::Unreachable) {
        ExitStatus::Unreachable
    } else if any(Outcome::Drift) {
        ExitStatus::Drift
    } else {
        ExitStatus::Success
    }
}

/// Recording sightings, one device at a time (one, or a scanned floor).
pub struct Sightings {
    site: Site,
    store: std::sync::Arc<Store>,
}

impl Sightings {
    pub fn open(env: &Env) -> Result<Sightings, Error> {
        Ok(Sightings {
            site: env.load_site()?,
            store: env.open_store()?,
        })
    }

    /// Records that `tag` was seen, at `desk` when given (else at its own place). Returns
    /// the journal's wording ("seen at its desk 3-05").
    pub fn seen(&self, env: &Env, tag: &str, desk: Option<&str>) -> Result<String, Error> {
        let d = known_device(&self.site, tag)?;
        let desk = desk.map(|at| guard::one_line("--desk", at)).transpose()?;
        let desk = desk.as_deref();
        let _held = hold(env, &self.store, tag, Purpose::Seen)?;
        // Only a device in deskready's hands owes a physical audit (as `audit --due` says).
        match self.store.stage(tag)?.map(|r| r.stage) {
            None => {
                return Err(Error::Refused(format!(
                    "{tag} is expected (never received): it is not in deskready's hands, so it cannot be seen; receive it first: deskready receive {tag}"
                )));
            }
            Some(Stage::Retired) => {
                return Err(Error::Refused(format!(
                    "{tag} is retired: it is out of use and owes no physical audit"
                )));
            }
            Some(_) => {}
        }
        let (subject, msg) = match (desk, &d.location.desk) {
            (Some(at), Some(home)) if at != home => (
                "elsewhere",
                format!("seen at desk {at}; it belongs at desk {home}"),
            ),
            (Some(at), None) => ("seen", format!("seen at {at}")),
            (_, Some(home)) => ("at its place", format!("seen at its desk {home}")),
            (None, None) => ("at its place", format!("seen at {}", d.location.describe())),
        };
        self.store.record(&[Entry::new(tag, &env.operator, "seen")
            .subject(subject)
            .message(&msg)])?;
        Ok(msg)
    }
}

/// Completes an audit's `run` from the store (the caller holds the device's lease): the
/// software its program read is stored as a snapshot and compared as `software` does
/// (what changed since the last snapshot, and since the first what deskready's journal
/// does not account for), its upgrades waiting stored as `upgrades` does (apt's answer
/// from the index as it was; an answer apt could not give keeps the last one); and its
/// standing: its last physical check, when the next is due, what is overdue.
pub(super) fn findings(
    site: &Site,
    store: &Store,
    run: &mut DeviceRun,
    operator: &str,
) -> Result<(), StoreError> {
    let tag = run.device.clone();
    if run.software.is_none() && site.device(&tag).is_some_and(|d| d.address.ssh.is_none()) {
        run.software = Some(SoftwareAudit::not_read(
            "not reached over SSH: no packages to list",
        ));
    }
    if let Some(sw) = run.software.as_mut().filter(|s| s.not_read.is_none()) {
        let first = store.first_software(&tag)?;
        let compared = super::software::record_inventory(store, operator, &tag, &sw.installed)?;
        sw.previous_at = compared.previous_at;
        sw.changes = compared.changes;
        if let Some(first) = first {
            let before: Vec<Package> = serde_json::from_str(&first.packages).unwrap_or_default();
            sw.not_by_deskready =
                super::software::attributed(store, &tag, &before, &sw.installed, &first.at)?
                    .into_iter()
                    .filter(|a| a.by.is_none())
                    .map(|a| a.change)
                    .collect();
            sw.first_at = Some(first.at);
        }
        if let Some(pending) = &sw.pending {
            super::software::record_waiting(store, &tag, sw.index_age, pending)?;
        }
    }
    run.standing = Some(standing(site, store, &tag, jiff::Timestamp::now())?);
    Ok(())
}

/// Where `tag` stands with what a CSP owes it: its physical check (last seen, next due)
/// and what is overdue: the physical check, the person's acceptance of a delivery (after
/// the site's `accept_within_days`), checks still to pass after a repair.
pub fn standing(
    site: &Site,
    store: &Store,
    tag: &str,
    now: jiff::Timestamp,
) -> Result<Standing, StoreError> {
    let mut out = Standing::default();
    if let Some(p) = crate::audit::physical_of(site, store, tag, now)? {
        if p.status == AuditDue::Overdue {
            out.overdue.push(format!(
                "physical check, by {}",
                crate::words::count(p.days_left.unsigned_abs() as usize, "day")
            ));
        }
        out.last_seen = p.last_seen;
        out.last_seen_note = p.last_seen_note;
        out.next_check = Some(p.next_due);
        out.days_left = Some(p.days_left);
        out.check = Some(p.status);
    }
    let within = i64::from(site.settings.accept_within_days) * 86_400;
    let delivered = store.stage(tag)?.map(|r| r.stage) == Some(Stage::Delivered);
    if delivered
        && let Some(h) = store.handoffs(tag)?.pop()
        && h.accepted_at.is_none()
        && h.returned_at.is_none()
        && let Some(at) = crate::time::parse(&h.delivered_at)
        && now.as_second() - at >= within
    {
        let days = (now.as_second() - at) / 86_400;
        let when = if days == 0 {
            "today".to_string()
        } else {
            format!("{} ago", crate::words::count(days as usize, "day"))
        };
        out.overdue
            .push(format!("acceptance by {}, delivered {when}", h.person));
    }
    let pending = store.checks_pending(tag)?;
    if !pending.is_empty() {
        out.overdue.push(format!(
            "checks to pass again after its repair: {}",
            pending.join(", ")
        ));
    }
    Ok(out)
}
