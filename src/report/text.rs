//! Text descriptions as a CSP reads them: a device's run (changes with diffs, failures, a
//! summary), a journal row, a resolved resource. Pure formatting: no printing, no I/O.

use super::table::table;
use crate::audit::PhysicalAudit;
use crate::engine::device::{DeviceRun, Mode, Outcome, Status};
use crate::model::{Device, ResourceKind};
use crate::resolve::ResolvedResource;
use crate::store::Entry;

/// A device's run as a CSP reads it: what changed (with diffs), what failed, a summary.
pub fn device_run(run: &DeviceRun) -> String {
    let mut out = String::new();
    for r in &run.resources {
        let label = match r.status {
            Status::Ok => continue,
            Status::Drift if run.mode == Mode::Audit => "drifted",
            Status::Drift => "would change",
            Status::Changed => "changed",
            Status::Failed => "FAILED",
            Status::Skipped => "skipped",
            Status::Unsupported => "unsupported",
            Status::Unreached => "unreached",
        };
        let on = if r.on != run.device {
            format!(" (on {})", r.on)
        } else {
            String::new()
        };
        out.push_str(&format!("  {label:<12} {}{on}\n", r.name));
        if let Some(diff) = &r.diff {
            for line in diff.lines() {
                out.push_str(&format!("               {line}\n"));
            }
        }
        if let Some(m) = &r.message {
            for line in m.lines() {
                out.push_str(&format!("               {line}\n"));
            }
        }
    }
    for c in &run.verify {
        let label = if c.passed { "pass" } else { "FAIL" };
        out.push_str(&format!("  verify {label:<5} {}\n", c.name));
        if !c.passed
            && let Some(o) = &c.output
        {
            for line in o.lines() {
                out.push_str(&format!("               {line}\n"));
            }
        }
    }
    for e in run.problems.iter() {
        if !e.is_resource_or_check() {
            out.push_str(&format!("  error: {e}\n"));
        }
    }
    let n = run.resources.len();
    let ok = run.count(Status::Ok);
    let summary = match (run.mode, run.outcome) {
        (_, Outcome::Unreachable) => "unreachable".to_string(),
        (Mode::Plan, Outcome::Ok) => {
            format!("nothing would change ({ok} of {n} resources as the profile says)")
        }
        (Mode::Plan, _) => format!("{} of {n} resources would change", run.count(Status::Drift)),
        (Mode::Configure, Outcome::Ok) => {
            format!("nothing changed ({ok} of {n} resources already as the profile says)")
        }
        (Mode::Configure, Outcome::Changed) => {
            format!("changed {} of {n} resources", run.count(Status::Changed))
        }
        (Mode::Configure, _) => format!(
            "FAILED: {}",
            run.problems
                .first()
                .map_or_else(|| "see above".to_string(), ToString::to_string)
        ),
        (Mode::Audit, Outcome::Ok) => format!("clean ({ok} of {n} resources as the profile says)"),
        (Mode::Audit, Outcome::Changed | Outcome::Drift) => format!(
            "DRIFT: {} of {n} resources differ from the profile",
            run.count(Status::Drift)
        ),
        (Mode::Audit, _) => format!(
            "FAILED: {}",
            run.problems
                .first()
                .map_or_else(|| "see above".to_string(), ToString::to_string)
        ),
    };
    let passed = run.verify.iter().filter(|c| c.passed).count();
    let checks = if run.verify.is_empty() {
        String::new()
    } else {
        format!("; {passed} of {} checks passed", run.verify.len())
    };
    out.push_str(&format!(
        "{}: {summary}{checks} ({} connection{}, {} exec channel{}, {:.2}s)\n",
        run.device,
        run.connections,
        if run.connections == 1 { "" } else { "s" },
        run.channels,
        if run.channels == 1 { "" } else { "s" },
        run.elapsed_ms as f64 / 1000.0
    ));
    out
}

/// One journal row as a line of the history table: what happened, and its details.
pub fn entry(e: &Entry) -> (String, String) {
    let what = match (e.kind.as_str(), &e.stage_from, &e.stage_to) {
        ("stage", Some(f), Some(t)) => format!("stage {f} -> {t}"),
        (k, _, _) => match &e.subject {
            Some(s) => format!("{k} {s}"),
            None => k.to_string(),
        },
    };
    let mut detail = e.message.clone().unwrap_or_default();
    if e.old_digest.is_some() || e.new_digest.is_some() {
        let short = |d: &Option<String>| {
            d.as_deref()
                .map_or("none".to_string(), |d| d[..12.min(d.len())].to_string())
        };
        detail.push_str(&format!(
            " [sha256 {} -> {}]",
            short(&e.old_digest),
            short(&e.new_digest)
        ));
    }
    (what, detail)
}

/// A resource as a CSP reads it: a header line, then its content or settings.
pub fn resource(r: &ResolvedResource) -> String {
    let mut out = format!("\n== {}", r.name());
    if let Some(via) = &r.resource.via {
        out.push_str(&format!(" (via {via})"));
    }
    if r.sensitive {
        out.push_str(" (sensitive)");
    }
    out.push('\n');
    let mut kv = |k: &str, v: &str| out.push_str(&format!("  {k}: {v}\n"));
    match r.kind() {
        ResourceKind::Handler { action, .. } => kv("handler", &action.describe()),
        ResourceKind::File {
            path,
            mode,
            owner,
            group,
            ..
        } => {
            kv("file", path);
            if let Some(t) = &r.template {
                kv("template", t);
            }
            if let Some(m) = mode {
                kv("mode", &format!("{m:04o}"));
            }
            if let Some(o) = owner {
                kv("owner", o);
            }
            if let Some(g) = group {
                kv("group", g);
            }
            out.push_str("  ---\n");
            for line in r.content().unwrap_or_default().lines() {
                out.push_str(&format!("  {line}\n"));
            }
        }
        ResourceKind::Directory {
            path,
            mode,
            owner,
            group,
        } => {
            kv("directory", path);
            if let Some(m) = mode {
                kv("mode", &format!("{m:04o}"));
            }
            if let Some(o) = owner {
                kv("owner", o);
            }
            if let Some(g) = group {
                kv("group", g);
            }
        }
        ResourceKind::Line { path, line } => {
            kv("path", path);
            kv("line", line);
        }
        ResourceKind::Command {
            command,
            creates,
            unless,
        } => {
            kv("command", command);
            if let Some(c) = creates {
                kv("creates", c);
            }
            if let Some(u) = unless {
                kv("unless", u);
            }
        }
        ResourceKind::Package { package } => kv("package", package),
        ResourceKind::Service {
            service,
            state,
            enabled,
        } => {
            kv("service", service);
            kv("state", &format!("{state:?}").to_lowercase());
            if let Some(e) = enabled {
                kv("enabled", &e.to_string());
            }
        }
        ResourceKind::User {
            user,
            comment,
            shell,
            groups,
        } => {
            kv("user", user);
            if let Some(c) = comment {
                kv("comment", c);
            }
            if let Some(s) = shell {
                kv("shell", s);
            }
            if !groups.is_empty() {
                kv("groups", &groups.join(", "));
            }
        }
        ResourceKind::PrintQueue {
            queue,
            uri,
            server,
            location,
            description,
            shared,
            options,
            allowed_users,
        } => {
            kv("print_queue", queue);
            kv("uri", uri);
            if let Some(s) = server {
                kv("server", s);
            }
            if let Some(l) = location {
                kv("location", l);
            }
            if let Some(d) = description {
                kv("description", d);
            }
            kv("shared", &shared.to_string());
            for (k, v) in options {
                kv(&format!("option {k}"), v);
            }
            if !allowed_users.is_empty() {
                kv("allowed_users", &allowed_users.join(", "));
            }
        }
    }
    out
}

/// Devices due a physical audit, as a table and a count.
pub fn physical_audits(
    audits: &[(PhysicalAudit, String)],
    interval_days: u32,
    overdue_only: bool,
) -> String {
    let rows: Vec<[String; 5]> = audits
        .iter()
        .map(|(p, loc)| {
            let when = if p.days_left < 0 {
                format!("overdue by {} days", -p.days_left)
            } else {
                format!("due in {} days", p.days_left)
            };
            [
                p.device.clone(),
                when,
                p.next_due.clone(),
                p.last_seen.clone().unwrap_or_else(|| "never".into()),
                loc.clone(),
            ]
        })
        .collect();
    let header = ["DEVICE", "PHYSICAL AUDIT", "DUE", "LAST SEEN", "LOCATION"];
    let mut out = table(&header, &rows);
    let n = audits.len();
    out.push_str(&format!(
        "{n} device{} {} (every device is to be seen every {interval_days} days)\n",
        if n == 1 { "" } else { "s" },
        if overdue_only {
            "overdue"
        } else {
            "due or overdue"
        },
    ));
    out
}

/// The inventory as a table.
pub fn devices(devices: &[&Device]) -> String {
    let rows: Vec<[String; 5]> = devices
        .iter()
        .map(|d| {
            [
                d.tag.clone(),
                d.kind.to_string(),
                d.profile.clone().unwrap_or_else(|| "-".into()),
                d.assignee
                    .as_ref()
                    .map(|a| a.name.clone())
                    .unwrap_or_else(|| "-".into()),
                d.location.describe(),
            ]
        })
        .collect();
    table(
        &["DEVICE", "KIND", "PROFILE", "ASSIGNEE", "LOCATION"],
        &rows,
    )
}

/// A device's repair log as a table: opened, fault and details, closed, outcome.
pub fn repairs(rs: &[crate::store::Repair]) -> String {
    let rows: Vec<[String; 5]> = rs
        .iter()
        .map(|r| {
            [
                r.opened_at.clone(),
                r.opened_by.clone(),
                repair_details(&r.details),
                r.closed_at.clone().unwrap_or_else(|| "open".into()),
                r.outcome.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    table(&["OPENED", "BY", "REPAIR", "CLOSED", "OUTCOME"], &rows)
}

/// A repair's fault and what else is known, in one line.
pub fn repair_details(r: &crate::store::NewRepair) -> String {
    crate::ops::lifecycle::describe_repair(r)
}
