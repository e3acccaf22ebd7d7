//! Software as people read it: a device's inventory with what changed since the last one
//! (and whether deskready did it), the upgrades waiting over the fleet with its summary,
//! and the fleet report's software section (HTML). Renders `ops::software` results; reads
//! nothing.

use std::fmt::Write as _;

use super::table::table;
use crate::model::Outcome;
use crate::ops::software::{InventoryRow, SoftwareReport, Upgrades};

fn esc(s: &str) -> String {
    let mut out = Vec::new();
    let _ = tera::escape_html(s, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// An age in seconds as a person reads it (`3h 58m`), or `no index`.
fn age(secs: Option<i64>) -> String {
    secs.map_or_else(
        || "no index".to_string(),
        |s| crate::time::span(s.max(0) as u64),
    )
}

/// `software`: each device's count of packages and what changed since its last inventory;
/// with `list`, every package too.
pub fn inventory(rows: &[InventoryRow], list: bool) -> String {
    let mut out = String::new();
    for r in rows {
        if let Some(e) = &r.error {
            let _ = writeln!(out, "{}: {}: {e}", r.device, r.outcome);
            continue;
        }
        let n = crate::words::count(r.packages.len(), "package");
        match &r.previous_at {
            None => {
                let _ = writeln!(out, "{}: {n} (its first inventory)", r.device);
            }
            Some(at) if r.changes.is_empty() => {
                let _ = writeln!(
                    out,
                    "{}: {n}; nothing changed since the last inventory ({})",
                    r.device,
                    crate::time::local_at(at)
                );
            }
            Some(at) => {
                let _ = writeln!(
                    out,
                    "{}: {n}; since the last inventory ({}):",
                    r.device,
                    crate::time::local_at(at)
                );
                for c in &r.changes {
                    let by = c.by.as_deref().map_or_else(
                        || " (not by deskready)".to_string(),
                        |b| format!(" (by {b})"),
                    );
                    let _ = writeln!(out, "  {}{by}", c.change.describe());
                }
            }
        }
        if list {
            let cells: Vec<[String; 4]> = r
                .packages
                .iter()
                .map(|p| {
                    [
                        p.name.clone(),
                        p.version.clone(),
                        p.arch.clone(),
                        if p.origin.is_empty() {
                            "-".into()
                        } else {
                            p.origin.clone()
                        },
                    ]
                })
                .collect();
            out.push_str(&table(&["PACKAGE", "VERSION", "ARCH", "ORIGIN"], &cells));
        }
    }
    out
}

/// `upgrades`: each device's count of waiting upgrades, security updates and index age,
/// then every waiting upgrade, then the fleet's summary.
pub fn upgrades(u: &Upgrades) -> String {
    if u.devices.is_empty() {
        return "no device was asked yet: `deskready upgrades --all` asks them\n".into();
    }
    let cells: Vec<[String; 5]> = u
        .devices
        .iter()
        .map(|r| {
            let asked = r
                .asked_at
                .as_deref()
                .map_or("-".to_string(), crate::time::local_at);
            match &r.error {
                Some(e) if r.outcome != Outcome::Ok && r.pending.is_empty() => [
                    r.device.clone(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    format!("{}: {}", r.outcome, super::table::one_line(e)),
                ],
                _ => [
                    r.device.clone(),
                    r.pending.len().to_string(),
                    r.security().to_string(),
                    age(r.index_age),
                    asked,
                ],
            }
        })
        .collect();
    let mut out = table(
        &["DEVICE", "UPGRADES", "SECURITY", "INDEX AGE", "ASKED"],
        &cells,
    );
    let pending: Vec<[String; 6]> = u
        .devices
        .iter()
        .flat_map(|r| {
            r.pending.iter().map(|p| {
                [
                    r.device.clone(),
                    p.name.clone(),
                    p.current.clone().unwrap_or_else(|| "(new)".into()),
                    p.candidate.clone(),
                    if p.security { "yes" } else { "" }.to_string(),
                    p.from.clone(),
                ]
            })
        })
        .collect();
    if !pending.is_empty() {
        out.push('\n');
        out.push_str(&table(
            &[
                "DEVICE",
                "PACKAGE",
                "CURRENT",
                "CANDIDATE",
                "SECURITY",
                "FROM",
            ],
            &pending,
        ));
    }
    out.push('\n');
    out.push_str(&summary(u));
    out.push('\n');
    out
}

/// The fleet's summary in one line.
pub fn summary(u: &Upgrades) -> String {
    let mut parts = vec![format!(
        "{}: {} with upgrades waiting",
        crate::words::count(u.devices.len(), "device"),
        u.with_upgrades.len()
    )];
    if u.with_security.is_empty() {
        parts.push("none with security updates".into());
    } else {
        parts.push(format!(
            "{} with security updates ({})",
            u.with_security.len(),
            u.with_security.join(", ")
        ));
    }
    if let Some((tag, a)) = &u.oldest_index {
        parts.push(format!(
            "oldest package index: {tag}, {} old",
            age(Some(*a))
        ));
    }
    if !u.no_index.is_empty() {
        parts.push(format!("no package index: {}", u.no_index.join(", ")));
    }
    let failed: Vec<String> = u
        .devices
        .iter()
        .filter(|r| r.outcome != Outcome::Ok)
        .map(|r| match &r.error {
            // Its row shows its last answer, not why this one failed: said here.
            Some(e) if !r.pending.is_empty() => {
                format!("{} ({})", r.device, super::table::one_line(e))
            }
            _ => r.device.clone(),
        })
        .collect();
    if !failed.is_empty() {
        parts.push(format!("failed: {}", failed.join(", ")));
    }
    parts.join("; ")
}

/// The fleet report's software section: upgrades waiting (summary and per device), then
/// every package with how many devices have it and which versions.
pub fn html_section(s: &SoftwareReport) -> String {
    let mut b = String::from("<h2>Software</h2>");
    let u = &s.upgrades;
    if u.devices.is_empty() {
        b.push_str("<p class=\"none\" id=\"no-upgrades\">No device was asked about its upgrades yet (<code>deskready upgrades --all</code>).</p>");
    } else {
        let _ = write!(
            b,
            "<p id=\"upgrades-summary\">{}</p><table id=\"upgrades\"><tr><th>Device</th><th>Upgrades</th><th>Security</th><th>Index age</th><th>Asked</th><th>Waiting</th></tr>",
            esc(&summary(u))
        );
        for r in &u.devices {
            let waiting: Vec<String> = r
                .pending
                .iter()
                .map(|p| {
                    format!(
                        "{} {} → {}{}",
                        p.name,
                        p.current.as_deref().unwrap_or("(new)"),
                        p.candidate,
                        if p.security { " (security)" } else { "" }
                    )
                })
                .collect();
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.device),
                r.pending.len(),
                r.security(),
                esc(&age(r.index_age)),
                esc(&r
                    .asked_at
                    .as_deref()
                    .map_or("-".into(), crate::time::local_at)),
                esc(&waiting.join(", "))
            );
        }
        b.push_str("</table>");
    }
    if s.packages.is_empty() {
        b.push_str("<p class=\"none\" id=\"no-software\">No device's software was listed yet (<code>deskready software --all</code>).</p>");
        return b;
    }
    let _ = write!(
        b,
        "<p>{} over {} inventoried.</p><table id=\"software\"><tr><th>Package</th><th>Devices</th><th>Versions</th></tr>",
        crate::words::count(s.packages.len(), "package"),
        crate::words::count(s.inventoried, "device")
    );
    for p in &s.packages {
        let versions: Vec<String> = p
            .versions
            .iter()
            .map(|(v, n)| format!("{v} ({n})"))
            .collect();
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&p.name),
            p.devices,
            esc(&versions.join(", "))
        );
    }
    b.push_str("</table>");
    b
}
