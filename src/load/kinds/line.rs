//! `line`: the line, and the `path` of the file that holds it.

use super::{Cx, Spec};
use crate::load::raw::RawResource;
use crate::model::ResourceKind;

pub(super) const SPEC: Spec = Spec {
    keyword: "line",
    settings: &["path", "state"],
    absent_settings: &["path"],
    build,
};

fn build(r: RawResource, cx: &mut Cx<'_>) -> Option<ResourceKind> {
    let line = r.line?;
    let path = cx.need(r.path, "path")?;
    Some(ResourceKind::Line {
        line,
        path: cx.absolute(path, "path")?,
    })
}
