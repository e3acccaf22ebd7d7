//! `file`: a path, `template` (a file under templates/) or `content`, mode, owner, group;
//! or `state: absent` and only the path.

use super::{Cx, Spec};
use crate::load::diag;
use crate::load::raw::RawResource;
use crate::model::{FileSource, ResourceKind};

pub(super) const SPEC: Spec = Spec {
    keyword: "file",
    settings: &["template", "content", "mode", "owner", "group", "state"],
    absent_settings: &[],
    build,
};

fn build(r: RawResource, cx: &mut Cx<'_>) -> Option<ResourceKind> {
    let source = match (r.template, r.content) {
        // A file to remove has no content (`template` and `content` were refused).
        _ if cx.absent => FileSource::Content(String::new()),
        (Some(t), None) => {
            if cx.templates.is_broken(&t) {
                return None; // its syntax error is already reported
            }
            if !cx.templates.exists(&t) {
                let names: Vec<&str> = cx.templates.names().collect();
                let mut msg = format!("template `{t}` does not exist under templates/");
                if let Some(s) = diag::did_you_mean(&t, names.iter().copied()) {
                    msg.push_str(&format!("; did you mean `{s}`?"));
                }
                cx.error("template", msg);
                return None;
            }
            FileSource::Template(t)
        }
        (None, Some(c)) => FileSource::Content(c),
        (Some(_), Some(_)) => {
            cx.error(
                "content",
                "a `file` resource takes `template` or `content`, not both",
            );
            return None;
        }
        (None, None) => {
            cx.error(
                "",
                "a `file` resource needs `template` (a file under templates/) or `content`",
            );
            return None;
        }
    };
    Some(ResourceKind::File {
        path: cx.absolute(r.file?, "file")?,
        source,
        mode: cx.mode,
        owner: r.owner,
        group: r.group,
    })
}
