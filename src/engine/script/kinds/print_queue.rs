//! `print_queue`: a CUPS queue on a print server (or this device), with its URI,
//! location, description, sharing, options and allowed users; the diff compares the
//! settings as the probe reads them back. Also the test page printed through a queue.

use super::{Content, Kind};
use crate::engine::script::writer::Writer;
use crate::model::ResourceKind;
use crate::resolve::ResolvedResource;

pub(super) struct PrintQueue;

/// The test page program's helper (needs `cups` from the queue helpers).
pub const TEST_PAGE: &str = include_str!("test_page.sh");

/// A print queue's settings as the probe reads them back, one `key=value` per line: what
/// the queue should look like, compared with what the print server reports.
pub fn queue_state(kind: &ResourceKind) -> Option<String> {
    let ResourceKind::PrintQueue {
        uri,
        location,
        description,
        shared,
        options,
        allowed_users,
        ..
    } = kind
    else {
        return None;
    };
    let mut users = allowed_users.clone();
    users.sort();
    let mut lines = vec![
        format!("uri={uri}"),
        format!("location={}", location.as_deref().unwrap_or("")),
        format!("description={}", description.as_deref().unwrap_or("")),
        format!("shared={shared}"),
        format!("allowed_users={}", users.join(",")),
    ];
    lines.extend(options.iter().map(|(k, v)| format!("option {k}={v}")));
    Some(lines.join("\n"))
}

impl Kind for PrintQueue {
    fn tools(&self) -> &'static [&'static str] {
        &[
            "awk",
            "cat",
            "cksum",
            "flock",
            "lpadmin",
            "lpoptions",
            "lpstat",
            "mv",
            "paste",
            "sed",
            "sleep",
            "sort",
        ]
    }
    fn helpers(&self) -> &'static str {
        include_str!("print_queue.sh")
    }
    fn write(&self, w: &mut Writer, i: usize, r: &ResolvedResource, _content: Content) {
        let kind = r.kind();
        if let ResourceKind::PrintQueue { queue, server, .. } = kind
            && r.resource.absent
        {
            w.call(
                "step pq_absent",
                [
                    i.to_string().as_str(),
                    queue,
                    server.as_deref().unwrap_or_default(),
                ],
            );
            return;
        }
        let ResourceKind::PrintQueue {
            queue,
            uri,
            server,
            location,
            description,
            shared,
            options,
            allowed_users,
        } = kind
        else {
            return;
        };
        let allow = if allowed_users.is_empty() {
            "allow:all".to_string()
        } else {
            format!("allow:{}", allowed_users.join(","))
        };
        let mut args = vec![
            i.to_string(),
            queue.clone(),
            server.clone().unwrap_or_default(),
            uri.clone(),
            location.clone().unwrap_or_default(),
            description.clone().unwrap_or_default(),
            shared.to_string(),
            allow,
            queue_state(kind).unwrap_or_default(),
        ];
        args.extend(options.iter().map(|(k, v)| format!("{k}={v}")));
        w.call("step pq_res", args);
    }
    fn write_begin(&self, w: &mut Writer, items: &[(usize, &ResolvedResource)]) {
        for (i, r) in items {
            let ResourceKind::PrintQueue {
                queue,
                server,
                options,
                ..
            } = r.kind()
            else {
                continue;
            };
            // An absent queue is asked about by its own step (pq_absent).
            if r.resource.absent {
                continue;
            }
            let mut args = vec![
                i.to_string(),
                queue.clone(),
                server.clone().unwrap_or_default(),
                queue_state(r.kind()).unwrap_or_default(),
            ];
            args.extend(options.iter().map(|(k, v)| format!("{k}={v}")));
            w.call("pq_pre", args);
        }
        w.raw("pq_pre_end");
    }
    fn write_end(&self, w: &mut Writer) {
        w.raw("pq_end");
    }
    fn wanted(&self, r: &ResolvedResource, _old: Option<&str>) -> Option<(String, String)> {
        let ResourceKind::PrintQueue { queue, .. } = r.kind() else {
            return None;
        };
        if r.resource.absent {
            return None;
        }
        Some((
            format!("print queue {queue}"),
            format!("{}\n", queue_state(r.kind()).unwrap_or_default()),
        ))
    }
}

/// Writes the steps that print a test page through `queue` on `server` ('' for the
/// device's own cupsd) for printer `tag`, and wait for it (see
/// [`crate::engine::script::protocol::TestPage`]); the program's start comes before.
pub fn write_test_page(w: &mut Writer, server: &str, queue: &str, tag: &str) {
    w.raw(include_str!("print_queue.sh"))
        .raw(TEST_PAGE)
        // The queue helpers read `fix`; a test page changes no queue.
        .var("fix", "0")
        .var("cs", server)
        .call("test_page", [queue, tag]);
}

/// Writes the step that removes (`remove`) or disables `queue` on `server` ('' for the
/// device's own cupsd); the program's start comes before. Read with
/// [`crate::engine::script::protocol::QueueDropped`].
pub fn write_queue_drop(w: &mut Writer, server: &str, queue: &str, remove: bool) {
    w.raw(include_str!("print_queue.sh"))
        .var("fix", "1")
        .var("cs", server)
        .call(
            "pq_drop",
            [queue, if remove { "remove" } else { "disable" }],
        );
}
