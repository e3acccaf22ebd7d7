//! `package`: a package name.

use super::{Cx, Spec};
use crate::load::raw::RawResource;
use crate::model::ResourceKind;

pub(super) const SPEC: Spec = Spec {
    keyword: "package",
    settings: &[],
    build,
};

fn build(r: RawResource, _cx: &mut Cx<'_>) -> Option<ResourceKind> {
    Some(ResourceKind::Package {
        package: r.package?,
    })
}
