//! Snapshot settings for the human outputs: insta filters that replace what differs from
//! one run to the next (temp paths, times, durations, lab addresses and ports, pids,
//! digests of lab-specific content) with fixed placeholders, keeping tables aligned where
//! the replaced text had a fixed width.
//!
//! Only output is filtered, never the run; nothing here decides what a test asserts.

use std::path::Path;

/// Escapes `text` for use as a literal inside a regular expression.
fn literal(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Settings with every filter; `site` (the test's site directory) becomes `[SITE]`.
pub(crate) fn settings(site: &Path) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    for (from, to) in filters(site) {
        s.add_filter(&from, to);
    }
    s
}

fn filters(site: &Path) -> Vec<(String, &'static str)> {
    let tmp = std::env::temp_dir();
    let tmp = literal(tmp.to_string_lossy().trim_end_matches('/'));
    vec![
        // Paths: the site, then any other temporary directory.
        (literal(&site.to_string_lossy()), "[SITE]"),
        (format!(r"{tmp}/[.\w-]+"), "[TEMP_DIR]"),
        // Times, replaced by text of the same width so tables stay aligned.
        (
            r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})".into(),
            "YYYY-MM-DDTHH:MM:SSZ",
        ),
        (
            r"\b\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\b".into(),
            "YYYY-MM-DD HH:MM:SS",
        ),
        (
            r"\b\d{4}-\d{2}-\d{2} \d{2}:\d{2}\b".into(),
            "YYYY-MM-DD HH:MM",
        ),
        // Durations: a table's TIME column (padding normalised), then any other.
        (r"\bTIME +DETAIL\b".into(), "TIME        DETAIL"),
        (r"\b\d+\.\d+s {2,}".into(), "[DURATION]  "),
        (r"\b\d+(\.\d+)?m?s\b".into(), "[DURATION]"),
        // Lab addresses and ports (loopback, a slot per lab), and printers' URIs.
        (r"\b127\.\d+\.\d+\.\d+(:\d+)?".into(), "[ADDR]"),
        (r"\blocalhost:\d+".into(), "localhost:[PORT]"),
        // Processes and content digests (rendered content carries lab addresses).
        (r"\bpid \d+".into(), "pid [PID]"),
        (r"\bsha256 [0-9a-f]{12}".into(), "sha256 [DIGEST]"),
        // A handoff sheet's digest (the sheet carries the time it was handed over).
        (r"\bsha256:[0-9a-f]{12}".into(), "sha256:[DIGEST]"),
        // What a file the device shares with this machine was before (the host's own).
        (r"\(was mode/owner/group [^)]*\)".into(), "(was [MODE])"),
        (r"-> [0-9a-f]{12}\]".into(), "-> [DIGEST]]"),
        // A light device's software is this machine's: its packages, the upgrades its
        // package index says wait, and that index's age.
        (r"\b\d+ packages\b".into(), "[N] packages"),
        (
            r"(?m)^  upgrades     .*$".into(),
            "  upgrades     [UPGRADES]",
        ),
    ]
}

/// Re-pads a table whose cells are separated by two or more spaces (as deskready prints
/// them), so that a cell whose text a test replaced (an address by `[ADDR]`) does not move
/// the columns from one run to the next.
pub(crate) fn realign(table: &str) -> String {
    let rows: Vec<Vec<&str>> = table.lines().map(cells).collect();
    let mut widths: Vec<usize> = Vec::new();
    for row in &rows {
        for (i, c) in row.iter().enumerate() {
            if widths.len() <= i {
                widths.push(0);
            }
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            line.push_str(&format!("{c:<w$}  ", w = widths[i]));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The cells of one table line: text separated by runs of two or more spaces.
fn cells(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b' ' && bytes.get(i + 1) == Some(&b' ') {
            out.push(&line[start..i]);
            while i < bytes.len() && bytes[i] == b' ' {
                i += 1;
            }
            start = i;
        } else {
            i += 1;
        }
    }
    out.push(&line[start..]);
    out
}
