//! The fleet report as one self-contained HTML page (an inline SVG chart, inline CSS,
//! nothing fetched). The data comes from `ops::report`; nothing here reads the store.

use std::fmt::Write as _;

pub use crate::ops::report::{DeviceReport, FleetReport};
use crate::store::Entry;

fn esc(s: &str) -> String {
    let mut out = Vec::new();
    let _ = tera::escape_html(s, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// A horizontal bar chart of devices per stage, as inline SVG.
fn chart(stages: &[(String, usize)]) -> String {
    let max = stages.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let (row, label_w, bar_w) = (28, 130, 420);
    let h = row * stages.len() + 10;
    let colours = [
        "#8c96a6", "#4f7cac", "#d9a43c", "#3c9d5d", "#c2453a", "#2f5d8a", "#8a5a9b", "#555d6b",
    ];
    let mut svg = format!(
        "<svg id=\"stage-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{h}\" role=\"img\" aria-label=\"Devices per stage\">",
        label_w + bar_w + 60
    );
    for (i, (stage, n)) in stages.iter().enumerate() {
        let y = 5 + i * row;
        let w = if *n == 0 { 2 } else { n * bar_w / max };
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"14\">{}</text>\
             <rect class=\"bar\" x=\"{label_w}\" y=\"{y}\" width=\"{w}\" height=\"{}\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"14\">{n}</text>",
            label_w - 8,
            y + 17,
            esc(stage),
            row - 8,
            colours[i % colours.len()],
            label_w + w + 6,
            y + 17
        );
    }
    svg.push_str("</svg>");
    svg
}

fn entry_rows(entries: &[Entry], with_device: bool) -> String {
    let mut s = String::new();
    for e in entries {
        let (what, detail) = super::text::entry(e);
        s.push_str("<tr>");
        if with_device {
            let _ = write!(s, "<td><a href=\"#dev-{0}\">{0}</a></td>", esc(&e.tag));
        }
        let _ = write!(
            s,
            "<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&crate::time::local(&e.at)),
            esc(&e.operator),
            esc(&what),
            esc(&detail)
        );
    }
    s
}

fn repair_rows(repairs: &[crate::store::Repair], with_device: bool) -> String {
    let mut s = String::new();
    for r in repairs {
        s.push_str("<tr>");
        if with_device {
            let _ = write!(s, "<td><a href=\"#dev-{0}\">{0}</a></td>", esc(&r.device));
        }
        let _ = write!(
            s,
            "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.opened_at),
            esc(&r.opened_by),
            esc(&super::text::repair_details(&r.details)),
            esc(r.closed_at.as_deref().unwrap_or("open")),
            esc(r.outcome.as_deref().unwrap_or("-"))
        );
    }
    s
}

/// The report as one self-contained HTML page.
/// The printers as they last said over IPP; those that need attention first.
fn printers_section(rows: &[crate::ops::printers::PrinterRow]) -> String {
    let mut b = String::from("<h2>Printers</h2>");
    if rows.is_empty() {
        b.push_str("<p class=\"none\" id=\"no-printers\">The site has no printer.</p>");
        return b;
    }
    let attention = rows.iter().filter(|r| r.needs_attention()).count();
    let _ = write!(
        b,
        "<p id=\"printers-summary\">{} printer{}, {attention} needing attention</p>",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    );
    b.push_str("<table id=\"printers\"><tr><th>Printer</th><th>State</th><th>Supplies</th><th>Pages in 30 days</th><th>As of</th><th>Needs attention</th></tr>");
    let mut ordered: Vec<&crate::ops::printers::PrinterRow> = rows.iter().collect();
    ordered.sort_by_key(|r| !r.needs_attention());
    for r in ordered {
        let supplies: Vec<String> = r
            .supplies
            .iter()
            .map(|s| match s.level {
                Some(l) => format!("{} {l}%", s.name),
                None => format!("{} ?", s.name),
            })
            .collect();
        let _ = write!(
            b,
            "<tr{}><td><a href=\"#dev-{1}\">{1}</a></td><td>{2}</td><td>{3}</td><td>{4}</td><td>{5}</td><td>{6}</td></tr>",
            if r.needs_attention() {
                " class=\"attention\""
            } else {
                ""
            },
            esc(&r.tag),
            esc(r.state.as_deref().unwrap_or("never asked")),
            esc(&if supplies.is_empty() {
                "-".to_string()
            } else {
                supplies.join(", ")
            }),
            r.pages_30_days
                .map_or_else(|| "-".to_string(), |p| p.to_string()),
            esc(&r
                .observed_at
                .as_deref()
                .map_or_else(|| "-".to_string(), crate::time::local_at)),
            esc(&if r.attention.is_empty() {
                "-".to_string()
            } else {
                r.attention.join("; ")
            }),
        );
    }
    b.push_str("</table>");
    b
}

pub fn html(r: &FleetReport) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>deskready fleet report</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#1d2430}}h1{{margin-bottom:.2rem}}\
         table{{border-collapse:collapse;margin:.5rem 0 1.5rem}}th,td{{border:1px solid #c9d1dc;padding:.25rem .5rem;text-align:left;font-size:.9rem}}\
         th{{background:#eef2f6}}.none{{color:#6b7585}}tr.attention td{{background:#fdecea}}details{{margin:.3rem 0}}summary{{cursor:pointer}}</style></head><body>\
         <h1>Fleet report</h1><p class=\"none\">Site {} &middot; generated {}</p>",
        esc(&r.site),
        esc(&crate::time::local(&r.generated_at))
    );
    b.push_str("<h2>Devices per stage</h2>");
    b.push_str(&chart(&r.stages));

    b.push_str("<h2>Drifted at their last audit</h2>");
    if r.drifted.is_empty() {
        b.push_str("<p class=\"none\" id=\"no-drift\">No device drifted at its last audit.</p>");
    } else {
        b.push_str("<table id=\"drifted\"><tr><th>Device</th><th>Audited</th><th>By</th><th>What</th><th>Detail</th></tr>");
        b.push_str(&entry_rows(&r.drifted, true));
        b.push_str("</table>");
    }

    b.push_str("<h2>Physical audits due</h2>");
    if r.physical_audits.is_empty() {
        b.push_str("<p class=\"none\" id=\"no-audits-due\">No physical audit is due.</p>");
    } else {
        b.push_str("<table id=\"physical-audits\"><tr><th>Device</th><th>Status</th><th>Due</th><th>Last seen</th></tr>");
        for p in &r.physical_audits {
            let _ = write!(
                b,
                "<tr><td><a href=\"#dev-{0}\">{0}</a></td><td>{1}</td><td>{2}</td><td>{3}</td></tr>",
                esc(&p.device),
                esc(p.status.as_str()),
                esc(&crate::time::local_at(&p.next_due)),
                esc(&p
                    .last_seen
                    .as_deref()
                    .map_or_else(|| "never".into(), crate::time::local_at))
            );
        }
        b.push_str("</table>");
    }

    let _ = write!(
        b,
        "<h2>Not accepted after {} day{}</h2>",
        r.accept_within_days,
        if r.accept_within_days == 1 { "" } else { "s" }
    );
    if r.unaccepted.is_empty() {
        b.push_str(
            "<p class=\"none\" id=\"no-unaccepted\">Every delivery was accepted in time.</p>",
        );
    } else {
        b.push_str("<table id=\"unaccepted\"><tr><th>Device</th><th>Person</th><th>Delivered</th><th>By</th><th>Sheet</th></tr>");
        for h in &r.unaccepted {
            let _ = write!(
                b,
                "<tr><td><a href=\"#dev-{0}\">{0}</a></td><td>{1}</td><td>{2}</td><td>{3}</td><td>v{4} sha256:{5}</td></tr>",
                esc(&h.device),
                esc(&h.person),
                esc(&h.delivered_at),
                esc(&h.delivered_by),
                h.version,
                esc(&h.sheet_digest[..h.sheet_digest.len().min(12)])
            );
        }
        b.push_str("</table>");
    }

    b.push_str("<h2>Repairs</h2>");
    if r.repairs.is_empty() {
        b.push_str("<p class=\"none\" id=\"no-repairs\">No repair on record.</p>");
    } else {
        b.push_str("<table id=\"repairs\"><tr><th>Device</th><th>Opened</th><th>By</th><th>Repair</th><th>Closed</th><th>Outcome</th></tr>");
        b.push_str(&repair_rows(&r.repairs, true));
        b.push_str("</table>");
    }

    b.push_str("<h2>Out of warranty</h2>");
    if r.out_of_warranty.is_empty() {
        b.push_str("<p class=\"none\" id=\"no-out-of-warranty\">No device is out of warranty.</p>");
    } else {
        b.push_str("<table id=\"out-of-warranty\"><tr><th>Device</th><th>Stage</th><th>Warranty ended</th><th>Supplier</th><th>Order</th></tr>");
        for w in &r.out_of_warranty {
            let _ = write!(
                b,
                "<tr><td><a href=\"#dev-{0}\">{0}</a></td><td>{1}</td><td>{2} ({3} days ago)</td><td>{4}</td><td>{5}</td></tr>",
                esc(&w.device),
                esc(&w.stage),
                esc(&w.warranty_until),
                w.days_ago,
                esc(w.supplier.as_deref().unwrap_or("-")),
                esc(w.order.as_deref().unwrap_or("-"))
            );
        }
        b.push_str("</table>");
    }

    b.push_str(&super::software::html_section(&r.software));
    b.push_str(&printers_section(&r.printers));

    b.push_str("<h2>Recent activity</h2><table id=\"recent\"><tr><th>Device</th><th>When</th><th>By</th><th>What</th><th>Detail</th></tr>");
    b.push_str(&entry_rows(&r.recent, true));
    b.push_str("</table>");

    b.push_str("<h2>Devices</h2><table id=\"devices\"><tr><th>Device</th><th>Kind</th><th>Stage</th><th>Assignee</th><th>Location</th><th>Software</th><th>Upgrades waiting</th></tr>");
    for d in &r.devices {
        let software = d.software.as_ref().map_or_else(
            || "-".to_string(),
            |s| {
                format!(
                    "{} ({})",
                    crate::words::count(s.packages, "package"),
                    crate::time::local_at(&s.at)
                )
            },
        );
        let upgrades = d.upgrades.as_ref().map_or_else(
            || "-".to_string(),
            |u| {
                format!(
                    "{}, {} security ({})",
                    u.waiting,
                    u.security,
                    crate::time::local_at(&u.at)
                )
            },
        );
        let _ = write!(
            b,
            "<tr><td><a href=\"#dev-{0}\">{0}</a></td><td>{1}</td><td>{2}</td><td>{3}</td><td>{4}</td><td>{5}</td><td>{6}</td></tr>",
            esc(&d.device),
            esc(&d.kind),
            esc(&d.stage),
            esc(d.assignee.as_deref().unwrap_or("-")),
            esc(&d.location),
            esc(&software),
            esc(&upgrades)
        );
    }
    b.push_str("</table><h2>History per device</h2>");
    for d in &r.devices {
        let _ = write!(
            b,
            "<details id=\"dev-{0}\"><summary>{0} &middot; {1} &middot; {2} entries</summary>",
            esc(&d.device),
            esc(&d.stage),
            d.history.len()
        );
        if d.history.is_empty() {
            b.push_str("<p class=\"none\">Nothing recorded yet.</p>");
        } else {
            b.push_str("<table><tr><th>When</th><th>By</th><th>What</th><th>Detail</th></tr>");
            b.push_str(&entry_rows(&d.history, false));
            b.push_str("</table>");
        }
        if !d.repairs.is_empty() {
            let _ = write!(
                b,
                "<table id=\"repairs-{}\"><tr><th>Opened</th><th>By</th><th>Repair</th><th>Closed</th><th>Outcome</th></tr>",
                esc(&d.device)
            );
            b.push_str(&repair_rows(&d.repairs, false));
            b.push_str("</table>");
        }
        b.push_str("</details>");
    }
    b.push_str("</body></html>\n");
    b
}
