//! The one outcome vocabulary, from the device to the store to every output: how a device
//! ended ([`Outcome`]), how one resource ended ([`ResourceStatus`]) and how a rollout
//! ended ([`RunStatus`]), and what an audit found ([`AuditResult`], [`Due`]). Each has one
//! spelling (`as_str`, serde, `FromStr`), so nothing
//! compares outcomes as strings. Pure types: imports nothing of ours, knows no database.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A word that is not part of a vocabulary, and the words that are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{word}` is not {what} (one of: {})", allowed.join(", "))]
pub struct UnknownWord {
    pub word: String,
    pub what: &'static str,
    pub allowed: &'static [&'static str],
}

/// Writes the spelling table, `as_str`, `Display` and `FromStr` of a unit-only enum.
macro_rules! vocabulary {
    ($ty:ident, $what:literal, { $($variant:ident => $word:literal),+ $(,)? }) => {
        impl $ty {
            /// Every word, in declaration order.
            pub const WORDS: &'static [&'static str] = &[$($word),+];
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The one spelling (the same as serde's).
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $word),+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownWord;
            fn from_str(s: &str) -> Result<Self, UnknownWord> {
                match s {
                    $($word => Ok($ty::$variant),)+
                    _ => Err(UnknownWord {
                        word: s.to_string(),
                        what: $what,
                        allowed: $ty::WORDS,
                    }),
                }
            }
        }
    };
}

/// How one device ended: in one device's run, in a rollout, and in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Nothing differed (configure) or nothing would change (plan, audit); checks passed.
    Ok,
    /// Something was changed (configure); checks passed. One device's plan or audit run
    /// also says `changed` for what would change; a rollout's recap says `drift` for it.
    Changed,
    /// Differs from its profile (plan, audit): something would change.
    Drift,
    /// A resource or check failed, or the run broke off.
    Failed,
    /// The device (or one it works through) could not be reached.
    Unreachable,
    /// Its stage, lock or maintenance window did not allow it.
    Refused,
    /// The threshold or Ctrl-C stopped the rollout before it started.
    NotStarted,
}

vocabulary!(Outcome, "a device outcome", {
    Ok => "ok",
    Changed => "changed",
    Drift => "drift",
    Failed => "failed",
    Unreachable => "unreachable",
    Refused => "refused",
    NotStarted => "not-started",
});

impl Outcome {
    /// The device is as its profile says (or was made so, or would be).
    pub fn succeeded(self) -> bool {
        matches!(self, Outcome::Ok | Outcome::Changed | Outcome::Drift)
    }

    /// Counts against a rollout's failure threshold.
    pub fn counts_as_failure(self) -> bool {
        matches!(
            self,
            Outcome::Failed | Outcome::Unreachable | Outcome::Refused
        )
    }

    /// Something differed from the profile (changed, or would change).
    pub fn differed(self) -> bool {
        matches!(self, Outcome::Changed | Outcome::Drift)
    }
}

/// The state of one resource after a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceStatus {
    Ok,
    /// Differs from the profile (plan, audit).
    Drift,
    Changed,
    Failed,
    /// Not attempted because an earlier resource failed.
    Skipped,
    /// This build cannot probe or fix this kind of resource yet.
    Unsupported,
    /// Its device could not be reached.
    Unreached,
}

vocabulary!(ResourceStatus, "a resource status", {
    Ok => "ok",
    Drift => "drift",
    Changed => "changed",
    Failed => "failed",
    Skipped => "skipped",
    Unsupported => "unsupported",
    Unreached => "unreached",
});

/// How a rollout (a run) ended, or that it is still going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    Running,
    /// Every device was attempted.
    Completed,
    /// The failure threshold stopped it.
    Stopped,
    /// Ctrl-C (or the process died: a run left `running` reads as interrupted).
    Interrupted,
}

vocabulary!(RunStatus, "a run status", {
    Running => "running",
    Completed => "completed",
    Stopped => "stopped",
    Interrupted => "interrupted",
});

/// What an audit found on one device, as its journal records it (the entry's subject).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuditResult {
    /// Every resource as the profile says.
    Clean,
    /// Some resources differ from the profile.
    Drift,
    Unreachable,
    /// A probe or a check failed.
    Failed,
}

vocabulary!(AuditResult, "an audit result", {
    Clean => "clean",
    Drift => "drift",
    Unreachable => "unreachable",
    Failed => "failed",
});

/// Where a device stands with its physical audits (being seen where it belongs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Due {
    /// Seen recently enough.
    Ok,
    /// Due within the site's look-ahead.
    Due,
    /// Past its date.
    Overdue,
}

vocabulary!(Due, "a physical audit status", {
    Ok => "ok",
    Due => "due",
    Overdue => "overdue",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_round_trips_through_str_and_serde() {
        for o in Outcome::ALL {
            assert_eq!(o.as_str().parse::<Outcome>().unwrap(), *o);
            assert_eq!(
                serde_json::to_value(o).unwrap(),
                serde_json::Value::from(o.as_str())
            );
        }
        for s in ResourceStatus::ALL {
            assert_eq!(s.as_str().parse::<ResourceStatus>().unwrap(), *s);
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::Value::from(s.as_str())
            );
        }
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>().unwrap(), *s);
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::Value::from(s.as_str())
            );
        }
        for a in AuditResult::ALL {
            assert_eq!(a.as_str().parse::<AuditResult>().unwrap(), *a);
            assert_eq!(
                serde_json::to_value(a).unwrap(),
                serde_json::Value::from(a.as_str())
            );
        }
        for d in Due::ALL {
            assert_eq!(d.as_str().parse::<Due>().unwrap(), *d);
            assert_eq!(
                serde_json::to_value(d).unwrap(),
                serde_json::Value::from(d.as_str())
            );
        }
    }

    #[test]
    fn unknown_words_name_the_allowed_ones() {
        let e = "pending".parse::<RunStatus>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "`pending` is not a run status (one of: running, completed, stopped, interrupted)"
        );
    }

    #[test]
    fn success_and_failure() {
        assert!(Outcome::Drift.succeeded());
        assert!(!Outcome::NotStarted.succeeded());
        assert!(!Outcome::NotStarted.counts_as_failure());
        assert!(Outcome::Refused.counts_as_failure());
    }
}
