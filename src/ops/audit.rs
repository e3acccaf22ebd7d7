//! Audits: which devices are due a physical audit, `seen` (a CSP saw a device, at its desk
//! or elsewhere), and what a drift audit's results mean for its exit status. The drift
//! audit's rollout itself is prepared by [`super::rollout::audit`]. Never prints.

use super::{Env, Error, ExitStatus, hold, known_device};
use crate::audit::PhysicalAudit;
use crate::engine::fleet::RecapRow;
use crate::model::{Due as AuditDue, Outcome};
use crate::site::Site;
use crate::store::{Entry, Purpose, Store};

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
pub fn due(env: &Env, overdue_only: bool) -> Result<Due, Error> {
    let site = env.load_site()?;
    let store = env.open_store()?;
    let all = crate::audit::physical(&site, &store, jiff::Timestamp::now())?;
    let audits = all
        .into_iter()
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
        let (subject, msg) = match (desk, &d.location.desk) {
            (Some(at), Some(home)) if at != home => (
                "elsewhere",
                format!("seen at desk {at}; it belongs at desk {home}"),
            ),
            (Some(at), None) => ("seen", format!("seen at {at}")),
            (_, Some(home)) => ("at its place", format!("seen at its desk {home}")),
            (None, None) => ("at its place", format!("seen at {}", d.location.describe())),
        };
        let _held = hold(env, &self.store, tag, Purpose::Seen)?;
        self.store.record(&[Entry::new(tag, &env.operator, "seen")
            .subject(subject)
            .message(&msg)])?;
        Ok(msg)
    }
}
