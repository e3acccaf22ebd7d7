//! What an audit of a device found beside drift, as a CSP reads it: its software (count,
//! what changed since the last snapshot and who did it, what deskready did not do since
//! the first, the upgrades waiting and the index's age) and its standing (last physical
//! check, next one due, what is overdue). Renders a [`DeviceRun`]'s `software` and
//! `standing`; reads nothing.

use crate::engine::device::DeviceRun;
use crate::model::{Attributed, SoftwareAudit, Standing};

/// How many names a line lists before it says how many more there are.
const LISTED: usize = 10;

/// The indent of a line under a label.
const UNDER: &str = "               ";

fn by(a: &Attributed) -> String {
    a.by.as_deref().map_or_else(
        || " (not by deskready)".to_string(),
        |b| format!(" (by {b})"),
    )
}

/// `items`, at most [`LISTED`] of them, then how many more.
fn some(items: &[String]) -> String {
    let mut out = items
        .iter()
        .take(LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > LISTED {
        out.push_str(&format!(", … {} more", items.len() - LISTED));
    }
    out
}

fn label(l: &str) -> String {
    format!("  {l:<12} ")
}

/// The software section of a device's audit report.
fn software(s: &SoftwareAudit, tag: &str) -> String {
    let mut out = String::new();
    if let Some(why) = &s.not_read {
        out.push_str(&format!("{}not read ({why})\n", label("software")));
        return out;
    }
    let n = crate::words::count(s.packages, "package");
    match &s.previous_at {
        None => out.push_str(&format!("{}{n} (its first snapshot)\n", label("software"))),
        Some(at) if s.changes.is_empty() => out.push_str(&format!(
            "{}{n}; nothing changed since the last snapshot ({})\n",
            label("software"),
            crate::time::local_at(at)
        )),
        Some(at) => {
            out.push_str(&format!(
                "{}{n}; since the last snapshot ({}):\n",
                label("software"),
                crate::time::local_at(at)
            ));
            for c in &s.changes {
                out.push_str(&format!("{UNDER}{}{}\n", c.change.describe(), by(c)));
            }
        }
    }
    if let Some(first) = &s.first_at {
        let what: Vec<String> = s.not_by_deskready.iter().map(|c| c.describe()).collect();
        let since = crate::time::local_at(first);
        let what = if what.is_empty() {
            "nothing".to_string()
        } else {
            some(&what)
        };
        out.push_str(&format!(
            "{UNDER}not by deskready since the first snapshot ({since}): {what}\n"
        ));
    }
    out.push_str(&label("upgrades"));
    let index = match s.index_age {
        Some(a) => format!("package index {} old", crate::time::span(a.max(0) as u64)),
        None => "no package index".to_string(),
    };
    match (&s.pending, &s.pending_failed) {
        (_, Some(failed)) => out.push_str(&format!(
            "apt cannot say what it would upgrade: {}\n",
            failed
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
        )),
        (None, None) => out.push_str("not read (no apt-get on the device)\n"),
        (Some(p), None) if p.is_empty() => out.push_str(&format!("none waiting; {index}\n")),
        (Some(p), None) => {
            let security: Vec<String> = p
                .iter()
                .filter(|u| u.security)
                .map(|u| {
                    format!(
                        "{} {} → {}",
                        u.name,
                        u.current.as_deref().unwrap_or("(new)"),
                        u.candidate
                    )
                })
                .collect();
            let which = if security.is_empty() {
                String::new()
            } else {
                format!(": {}", some(&security))
            };
            out.push_str(&format!(
                "{} waiting, {} security{which}; {index} (not refreshed; `deskready upgrades {tag}` lists them)\n",
                p.len(),
                s.security
            ));
        }
    }
    out
}

/// The standing section of a device's audit report.
fn standing(s: &Standing) -> String {
    let mut out = label("last seen");
    match (&s.last_seen, &s.last_seen_note) {
        (Some(at), Some(note)) => {
            out.push_str(&format!("{}: {note}", crate::time::local_at(at)));
        }
        (Some(at), None) => out.push_str(&crate::time::local_at(at)),
        (None, _) => out.push_str("never (`deskready seen` records it)"),
    }
    match (&s.next_check, s.days_left) {
        (Some(due), Some(days)) => {
            let when = if days < 0 {
                format!(
                    "overdue by {}",
                    crate::words::count(days.unsigned_abs() as usize, "day")
                )
            } else {
                format!("in {}", crate::words::count(days as usize, "day"))
            };
            out.push_str(&format!(
                "; next physical check due {} ({when})\n",
                crate::time::local_at(due)
            ));
        }
        _ => out.push_str("; no physical check due (not in deskready's hands)\n"),
    }
    out.push_str(&label("overdue"));
    if s.overdue.is_empty() {
        out.push_str("nothing\n");
    } else {
        out.push_str(&s.overdue.join("; "));
        out.push('\n');
    }
    out
}

/// An audited device's software and standing, for its own report.
pub fn findings(run: &DeviceRun) -> String {
    let mut out = String::new();
    if let Some(s) = &run.software {
        out.push_str(&software(s, &run.device));
    }
    if let Some(s) = &run.standing {
        out.push_str(&standing(s));
    }
    out
}

/// What a fleet's listing says of an audited device beside its drift: software changed
/// by someone other than deskready since its last snapshot, and what is overdue.
pub fn findings_compact(run: &DeviceRun) -> String {
    let mut out = String::new();
    if let Some(s) = &run.software {
        let others: Vec<String> = s
            .changes
            .iter()
            .filter(|c| c.by.is_none())
            .map(|c| c.change.describe())
            .collect();
        if !others.is_empty() {
            out.push_str(&format!(
                "{}not by deskready since the last snapshot: {}\n",
                label("software"),
                some(&others)
            ));
        }
    }
    if let Some(s) = run.standing.as_ref().filter(|s| !s.overdue.is_empty()) {
        out.push_str(&format!("{}{}\n", label("overdue"), s.overdue.join("; ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Due, SoftwareChange};

    fn software_of(s: SoftwareAudit) -> String {
        software(&s, "LAP-1")
    }

    #[test]
    fn software_not_read_is_said_and_changes_name_who_made_them() {
        assert_eq!(
            software_of(SoftwareAudit::not_read("no dpkg on the device")),
            "  software     not read (no dpkg on the device)\n"
        );
        let installed = SoftwareChange::Installed {
            name: "zoom".into(),
            arch: "amd64".into(),
            version: "6.2.5".into(),
        };
        let s = SoftwareAudit {
            packages: 2,
            previous_at: Some("x".into()),
            changes: vec![Attributed {
                change: installed.clone(),
                by: None,
            }],
            first_at: Some("y".into()),
            not_by_deskready: vec![installed],
            pending: None,
            ..SoftwareAudit::default()
        };
        assert_eq!(
            software_of(s),
            "  software     2 packages; since the last snapshot (x):\n\
             \x20              installed zoom 6.2.5 (not by deskready)\n\
             \x20              not by deskready since the first snapshot (y): installed zoom 6.2.5\n\
             \x20 upgrades     not read (no apt-get on the device)\n"
        );
    }

    #[test]
    fn standing_says_the_last_check_and_what_is_overdue() {
        let s = Standing {
            last_seen: Some("then".into()),
            last_seen_note: Some("seen at its desk 3-05".into()),
            next_check: Some("due".into()),
            days_left: Some(-20),
            check: Some(Due::Overdue),
            overdue: vec!["physical check, by 20 days".into()],
        };
        assert_eq!(
            standing(&s),
            "  last seen    then: seen at its desk 3-05; next physical check due due (overdue by 20 days)\n\
             \x20 overdue      physical check, by 20 days\n"
        );
    }
}
