//! `command`: the command, and what says it has run (`creates`, `unless`).

use super::{Cx, Spec};
use crate::load::raw::RawResource;
use crate::model::ResourceKind;

pub(super) const SPEC: Spec = Spec {
    keyword: "command",
    settings: &["creates", "unless"],
    absent_settings: &[],
    build,
};

fn build(r: RawResource, _cx: &mut Cx<'_>) -> Option<ResourceKind> {
    Some(ResourceKind::Command {
        command: r.command?,
        creates: r.creates,
        unless: r.unless,
    })
}
