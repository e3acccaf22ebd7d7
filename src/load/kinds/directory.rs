//! `directory`: a path, mode, owner, group; or `state: absent` (never `/`).

use super::{Cx, Spec};
use crate::load::raw::RawResource;
use crate::model::ResourceKind;

pub(super) const SPEC: Spec = Spec {
    keyword: "directory",
    settings: &["mode", "owner", "group", "state"],
    absent_settings: &[],
    build,
};

fn build(r: RawResource, cx: &mut Cx<'_>) -> Option<ResourceKind> {
    let path = cx.absolute(r.directory?, "directory")?;
    if cx.absent && path.trim_end_matches('/').is_empty() {
        cx.error(
            "directory",
            "`/` cannot be absent: name the directory to remove",
        );
        return None;
    }
    Some(ResourceKind::Directory {
        path,
        mode: cx.mode,
        owner: r.owner,
        group: r.group,
    })
}
