//! `directory`: a path, mode, owner, group.

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
    Some(ResourceKind::Directory {
        path: cx.absolute(r.directory?, "directory")?,
        mode: cx.mode,
        owner: r.owner,
        group: r.group,
    })
}
