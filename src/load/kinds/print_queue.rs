//! `print_queue`: a queue name, its printer's `uri` (required), the print server, and
//! its settings; option names are checked (they reach lpadmin and a sed pattern). An
//! absent queue (`state: absent`) needs only its name and print server.

use super::{Cx, Spec};
use crate::load::locate::join_key;
use crate::load::raw::RawResource;
use crate::model::ResourceKind;

pub(super) const SPEC: Spec = Spec {
    keyword: "print_queue",
    settings: &[
        "uri",
        "server",
        "location",
        "description",
        "shared",
        "options",
        "allowed_users",
        "state",
    ],
    absent_settings: &["server"],
    build,
};

fn is_option_name(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn build(r: RawResource, cx: &mut Cx<'_>) -> Option<ResourceKind> {
    if let Some(bad) = r
        .options
        .as_ref()
        .and_then(|o| o.keys().find(|k| !is_option_name(k)))
    {
        let at = format!("{}.{bad}", join_key(cx.path, "options"));
        let msg = format!(
            "`{bad}` is not a printer option name; option names are letters, digits, `-` and `_` (see `lpoptions -p QUEUE -l`)"
        );
        cx.diags.push(cx.file.diag(&at, msg));
        return None;
    }
    let queue = r.print_queue?;
    // A queue to remove needs only its name (and its print server).
    let uri = if cx.absent {
        String::new()
    } else {
        cx.need(r.uri, "uri")?
    };
    Some(ResourceKind::PrintQueue {
        queue,
        uri,
        server: r.server,
        location: r.location,
        description: r.description,
        shared: r.shared.unwrap_or(false),
        options: r.options.unwrap_or_default(),
        allowed_users: r.allowed_users.unwrap_or_default(),
    })
}
