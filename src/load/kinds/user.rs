//! `user`: a user name, comment, shell and groups.

use super::{Cx, Spec};
use crate::load::raw::RawResource;
use crate::model::ResourceKind;

pub(super) const SPEC: Spec = Spec {
    keyword: "user",
    settings: &["comment", "shell", "groups"],
    build,
};

fn build(r: RawResource, _cx: &mut Cx<'_>) -> Option<ResourceKind> {
    Some(ResourceKind::User {
        user: r.user?,
        comment: r.comment,
        shell: r.shell,
        groups: r.groups.unwrap_or_default(),
    })
}
