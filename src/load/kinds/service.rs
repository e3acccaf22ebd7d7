//! `service`: a service, its state (running by default) and whether it starts at boot.

use super::{Cx, Spec};
use crate::load::raw::RawResource;
use crate::model::{ResourceKind, ServiceState};

pub(super) const SPEC: Spec = Spec {
    keyword: "service",
    settings: &["state", "enabled"],
    build,
};

fn build(r: RawResource, _cx: &mut Cx<'_>) -> Option<ResourceKind> {
    Some(ResourceKind::Service {
        service: r.service?,
        state: r.state.unwrap_or(ServiceState::Running),
        enabled: r.enabled,
    })
}
