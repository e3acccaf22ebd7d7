//! Text descriptions as a CSP reads them: a device's run (changes with diffs, failures, a
//! summary), a journal row, a resolved resource. Pure formatting: no printing, no I/O.

use super::style;
use super::table::table;
use crate::audit::PhysicalAudit;
use crate::engine::device::{DeviceRun, Mode, Outcome, Status};
use crate::model::{Device, ResourceKind};
use crate::ops::history::StatusRow;
use crate::resolve::ResolvedResource;
use crate::store::Entry;

/// A device's run as a CSP reads it: what changed (with diffs), what failed, an audit's
/// software and standing, a summary.
pub fn device_run(run: &DeviceRun) -> String {
    let mut out = resources(run, None);
    out.push_str(&super::audit::findings(run));
    out.push_str(&summary(run));
    out
}

/// Diffs longer than this many lines are folded in a fleet's listing.
pub const FOLD_DIFF_LINES: usize = 12;

/// One device of a fleet's rollout, compactly: a line with its result, then each resource
/// that would change, changed, drifted or failed, with what differs and its diff (in a
/// plan or an audit; folded after [`FOLD_DIFF_LINES`] lines, with how many more), failed
/// checks and errors. `line` is the device's result line.
pub fn device_compact(run: &DeviceRun, line: &str) -> String {
    let mut out = format!("{line}\n");
    let fold = match run.mode {
        Mode::Configure | Mode::Upgrade => Some(0),
        Mode::Plan | Mode::Audit => Some(FOLD_DIFF_LINES),
    };
    out.push_str(&resources(run, fold));
    out.push_str(&super::audit::findings_compact(run));
    out
}

/// `text`'s lines, indented under a resource; after `fold` lines (when given), one line
/// saying how many more there are and how to see them.
fn detail(out: &mut String, text: &str, fold: Option<usize>, device: &str, mode: Mode) {
    let lines: Vec<&str> = text.lines().collect();
    let shown = fold.map_or(lines.len(), |f| f.min(lines.len()));
    for line in &lines[..shown] {
        out.push_str(&format!("               {}\n", style::diff_line(line)));
    }
    let more = lines.len() - shown;
    if more > 0 && shown > 0 {
        let see = match mode {
            Mode::Plan => format!(" (`deskready plan {device}` shows them all)"),
            Mode::Audit => format!(" (`deskready audit {device}` shows them all)"),
            Mode::Configure | Mode::Upgrade => String::new(),
        };
        out.push_str(&format!(
            "               {}\n",
            style::dim(&format!(
                "… {more} more line{}{see}",
                if more == 1 { "" } else { "s" }
            ))
        ));
    }
}

/// Every resource that is not as the profile says, with what differs and its diff (folded
/// after `fold` lines; `Some(0)` leaves diffs out), failed checks and errors.
fn resources(run: &DeviceRun, fold: Option<usize>) -> String {
    let mut out = String::new();
    // A device not reached at all says so on its line; its resources are not listed.
    let reached = run.resources.iter().any(|r| {
        matches!(
            r.status,
            Status::Changed | Status::Drift | Status::Failed | Status::Ok
        )
    });
    for r in &run.resources {
        if fold.is_some() && !reached && r.status == Status::Unreached {
            continue;
        }
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
        // What differs: beside the name in a fleet's listing, under it in a device's report.
        let differs = r.differs.join(", ");
        let beside = if fold.is_some() && !differs.is_empty() {
            format!(": {differs}")
        } else {
            String::new()
        };
        out.push_str(&format!(
            "  {} {}{on}{beside}\n",
            style::status(r.status, &format!("{label:<12}")),
            r.name
        ));
        if fold.is_none() && !differs.is_empty() {
            out.push_str(&format!("               {differs}\n"));
        }
        if let Some(diff) = &r.diff
            && fold != Some(0)
        {
            detail(&mut out, diff, fold, &run.device, run.mode);
        }
        if let Some(m) = &r.message {
            match fold {
                // A rollout's line says why it failed; what a resource did is one line.
                Some(0) if r.status == Status::Failed => {}
                Some(0) => detail(&mut out, m, Some(1), &run.device, run.mode),
                _ => detail(&mut out, m, fold.map(|f| f.max(5)), &run.device, run.mode),
            }
        }
    }
    for c in &run.verify {
        if c.passed && fold.is_some() {
            continue;
        }
        let label = if c.passed { "pass" } else { "FAIL" };
        let label = format!("{label:<5}");
        let label = if c.passed {
            label
        } else {
            style::status(Status::Failed, &label)
        };
        out.push_str(&format!("  verify {label} {}\n", c.name));
        if !c.passed
            && fold != Some(0)
            && let Some(o) = &c.output
        {
            detail(&mut out, o, fold.map(|f| f.max(5)), &run.device, run.mode);
        }
    }
    for e in run.problems.iter() {
        // A rollout's line for the device says it.
        if !e.is_resource_or_check() && fold.is_none() {
            out.push_str(&format!(
                "  {} {e}\n",
                style::status(Status::Failed, "error:")
            ));
        }
    }
    out
}

/// The last line of a device's report: what happened, checks, connections and time.
fn summary(run: &DeviceRun) -> String {
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
        (Mode::Upgrade, Outcome::Ok) => "nothing to upgrade".to_string(),
        (Mode::Upgrade, Outcome::Changed) => {
            format!("{} changed", crate::words::count(n, "package version"))
        }
        (Mode::Upgrade, _) => format!(
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
    format!(
        "{}: {summary}{checks} ({} connection{}, {} exec channel{}, {:.2}s)\n",
        run.device,
        run.connections,
        if run.connections == 1 { "" } else { "s" },
        run.channels,
        if run.channels == 1 { "" } else { "s" },
        run.elapsed_ms as f64 / 1000.0
    )
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
            if let Some(content) = r.content() {
                out.push_str("  ---\n");
                for line in content.lines() {
                    out.push_str(&format!("  {line}\n"));
                }
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
        ResourceKind::Package {
            package,
            state: _,
            version,
            deb,
            preseed,
            purge,
            index_max_age: _,
        } => {
            kv("package", package);
            if *purge {
                kv("purge", "true");
            }
            if let Some(v) = version {
                kv("version", v);
            }
            if let Some(d) = deb {
                kv("deb", &d.url);
                kv("sha256", &d.sha256);
            }
            for p in preseed {
                kv("preseed", p);
            }
        }
        ResourceKind::AptSource {
            apt_source,
            state,
            uris,
            suites,
            components,
            architectures: _,
            key,
            fingerprint,
        } => {
            kv("apt_source", apt_source);
            if *state == crate::model::Presence::Present {
                kv("uris", &uris.join(" "));
                kv("suites", &suites.join(" "));
                if !components.is_empty() {
                    kv("components", &components.join(" "));
                }
                if let crate::model::AptKey::Url(u) = key {
                    kv("key_url", u);
                }
                if let Some(f) = fingerprint {
                    kv("fingerprint", f);
                }
            }
        }
        ResourceKind::Service {
            service,
            state,
            enabled,
        } => {
            kv("service", service);
            if !r.resource.absent {
                kv("state", &format!("{state:?}").to_lowercase());
            }
            if let Some(e) = enabled {
                kv("enabled", &e.to_string());
            }
        }
        ResourceKind::User {
            user,
            comment,
            shell,
            groups,
            exact_groups,
            home,
            remove_home,
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
            if *exact_groups {
                kv("exact_groups", "true");
            }
            if let Some(h) = home {
                kv("home", h);
            }
            if *remove_home {
                kv("remove_home", "true");
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
            if !r.resource.absent {
                kv("uri", uri);
            }
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
    if r.resource.absent {
        out.push_str("  state: absent\n");
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
                crate::time::local_at(&p.next_due),
                p.last_seen
                    .as_deref()
                    .map_or_else(|| "never".into(), crate::time::local_at),
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
                crate::time::local(&r.opened_at),
                r.opened_by.clone(),
                repair_details(&r.details),
                r.closed_at
                    .as_deref()
                    .map_or_else(|| "open".to_string(), crate::time::local),
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

/// `status --unaccepted` / `--warranty-expiring` as a table: the handoff and warranty.
pub fn desk_status(rows: &[StatusRow]) -> String {
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            let handoff = r.handoff.as_ref().map_or("-".to_string(), |h| {
                let who = h
                    .accepted_by
                    .as_ref()
                    .map_or("not accepted".to_string(), |b| format!("accepted by {b}"));
                format!(
                    "sheet v{} delivered {} ({} days ago), {who}",
                    h.version,
                    crate::time::local_at(&h.delivered_at),
                    h.delivered_days_ago
                )
            });
            let warranty = r.warranty.as_ref().map_or("-".to_string(), |w| {
                if w.days_left < 0 {
                    format!("ended {} ({} days ago)", w.until, -w.days_left)
                } else {
                    format!("until {} ({} days left)", w.until, w.days_left)
                }
            });
            [
                r.device.clone(),
                r.stage.to_string(),
                r.assignee.clone().unwrap_or_else(|| "-".into()),
                handoff,
                warranty,
            ]
        })
        .collect();
    table(
        &["DEVICE", "STAGE", "ASSIGNEE", "HANDOFF", "WARRANTY"],
        &cells,
    )
}

/// How much of a device's last error `status` shows in its footnote.
const STATUS_ERROR_CHARS: usize = 100;

/// `status` as a table, one short line per device; a device with a last error has a
/// footnote mark beside its stage, and the footnotes under the table give each error's
/// first line, cut to [`STATUS_ERROR_CHARS`] (the whole text is in its history and the
/// JSON).
pub fn status(rows: &[StatusRow]) -> String {
    let dash = |v: Option<&str>| v.unwrap_or("-").to_string();
    let mut notes = Vec::new();
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            let mut stage = r.stage.to_string();
            if let Some(e) = &r.last_error {
                notes.push((r.device.clone(), e.clone()));
                stage.push_str(&format!(" [{}]", notes.len()));
            }
            let next = r.maintenance_window.as_ref().and_then(|w| w.as_ref());
            [
                r.device.clone(),
                stage,
                dash(r.assignee.as_deref()),
                r.location.clone(),
                r.last_change
                    .as_deref()
                    .map_or_else(|| "-".to_string(), crate::time::local_at),
                dash(next.map(|w| w.next.as_str())),
            ]
        })
        .collect();
    let header = [
        "DEVICE",
        "STAGE",
        "ASSIGNEE",
        "LOCATION",
        "LAST CHANGE",
        "NEXT WINDOW",
    ];
    let mut out = table(&header, &cells);
    for (i, (device, error)) in notes.iter().enumerate() {
        let first = super::table::one_line(error);
        let cut: String = first.chars().take(STATUS_ERROR_CHARS).collect();
        let more = if cut.chars().count() < first.chars().count()
            || first.len() < error.trim_end().len()
        {
            format!("… (`deskready history {device}` has it all)")
        } else {
            String::new()
        };
        let cut = cut.trim_end_matches('…');
        out.push_str(&format!("[{}] {device}: {cut}{more}\n", i + 1));
    }
    out
}
