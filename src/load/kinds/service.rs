//! `service`: a service, its state (running by default) and whether it starts at boot
//! (left as it is unless `enabled` is given); or `state: absent`: stopped, disabled, and
//! its unit file removed when it is a local one (see `engine/script/kinds/service.sh`). The unit's name is a word (`ssh`,
//! `vpn.service`, or a template expression), never an option or a path.

use super::{Cx, Spec};
use crate::load::raw::{RawResource, RawState};
use crate::model::{ResourceKind, ServiceState};

pub(super) const SPEC: Spec = Spec {
    keyword: "service",
    settings: &["state", "enabled"],
    absent_settings: &[],
    build,
};

fn build(r: RawResource, cx: &mut Cx<'_>) -> Option<ResourceKind> {
    let service = r.service?;
    if let Some(why) = bad_unit(&service) {
        cx.error(
            "service",
            format!("`{service}` is not a service name: {why}"),
        );
        return None;
    }
    Some(ResourceKind::Service {
        service,
        state: match r.state {
            Some(RawState::Stopped) => ServiceState::Stopped,
            // Absent (kept apart, on the resource) or running.
            _ => ServiceState::Running,
        },
        enabled: r.enabled,
    })
}

/// Why `name` cannot name a unit, if it cannot (template expressions are checked once
/// rendered on the device, by systemctl).
pub(crate) fn bad_unit(name: &str) -> Option<&'static str> {
    if name.contains("{{") {
        return None;
    }
    if name.is_empty() {
        Some("it is empty")
    } else if name.starts_with('-') {
        Some("it starts with '-'")
    } else if name.contains('/') {
        Some("it contains '/'; name the unit, not its file")
    } else if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("it contains whitespace")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names() {
        assert_eq!(bad_unit("ssh"), None);
        assert_eq!(bad_unit("vpn@wg0.service"), None);
        assert_eq!(bad_unit("{{ vars.unit }}"), None);
        assert!(bad_unit("-ssh").is_some());
        assert!(bad_unit("/etc/systemd/system/x.service").is_some());
        assert!(bad_unit("a b").is_some());
        assert!(bad_unit("").is_some());
    }
}
