//! What an audit of one device finds beside drift, as pure types: its software as the
//! audit's own program read it (with what changed and who changed it, once the store has
//! compared it), and where it stands with what a CSP owes it (its last physical check,
//! what is overdue). Reads nothing and talks to nothing.

use serde::Serialize;

use super::outcome::Due;
use super::software::{Change, Package, Pending};

/// A software change since a snapshot, and who made it when deskready did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attributed {
    #[serde(flatten)]
    pub change: Change,
    /// `deskready upgrade (run 4, ana)` when the device's journal has this change; `None`
    /// when it was made some other way (by hand, by unattended-upgrades).
    pub by: Option<String>,
}

/// A device's software as an audit read it: the installed packages and, from the package
/// index as it is (never refreshed), the upgrades waiting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SoftwareAudit {
    /// Why nothing was read (`no dpkg on the device`, ...): the rest is then empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_read: Option<String>,
    /// The installed packages (stored as a snapshot; only their number is shown).
    #[serde(skip)]
    pub installed: Vec<Package>,
    /// How many packages are installed.
    pub packages: usize,
    /// When the snapshot this one was compared with was taken (`None`: the first).
    pub previous_at: Option<String>,
    /// What changed since that snapshot, and who did it.
    pub changes: Vec<Attributed>,
    /// When the device's first snapshot was taken (`None`: this is the first).
    pub first_at: Option<String>,
    /// What changed since the first snapshot that deskready's journal does not account
    /// for (installed, upgraded or removed by hand, by unattended-upgrades, ...).
    pub not_by_deskready: Vec<Change>,
    /// The upgrades apt would make (`None`: not asked: the device has no apt-get, or apt
    /// could not say; see `pending_failed`).
    pub pending: Option<Vec<Pending>>,
    /// How many of them come from a security archive.
    pub security: usize,
    /// The package index's age in seconds by the device's clock (`None`: no index).
    pub index_age: Option<i64>,
    /// apt could not say what it would upgrade (a broken source): the end of what it said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_failed: Option<String>,
}

impl SoftwareAudit {
    /// Software that was not read, and why.
    pub fn not_read(why: impl Into<String>) -> SoftwareAudit {
        SoftwareAudit {
            not_read: Some(why.into()),
            ..SoftwareAudit::default()
        }
    }
}

/// Where a device stands with what a CSP owes it, as its audit says: when it was last
/// seen (its physical check), when the next check is due, and what is overdue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Standing {
    /// When a CSP last saw it (RFC 3339), if ever.
    pub last_seen: Option<String>,
    /// What they recorded then (`seen at its desk 3-05`).
    pub last_seen_note: Option<String>,
    /// When its next physical check is due (RFC 3339): last seen (or received) plus the
    /// site's interval; `None` when it is not in deskready's hands (never received, or
    /// retired).
    pub next_check: Option<String>,
    /// Days until then; negative when overdue.
    pub days_left: Option<i64>,
    /// Overdue, due (within the site's look-ahead) or ok.
    pub check: Option<Due>,
    /// What is overdue, one item each (`physical check, by 20 days`); empty when nothing.
    pub overdue: Vec<String>,
}
