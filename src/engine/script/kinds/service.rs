//! `service`: a service running or stopped, and started at boot or not, through systemd
//! where PID 1 is systemd, else Debian's `service` and `update-rc.d` (see `service.sh`);
//! or absent: stopped, disabled, and its unit file removed when it is a local one.

use super::{Content, Kind};
use crate::engine::script::writer::Writer;
use crate::model::{ResourceKind, ServiceState};
use crate::resolve::ResolvedResource;

pub(super) struct Service;

impl Kind for Service {
    fn helpers(&self) -> &'static str {
        include_str!("service.sh")
    }
    fn write(&self, w: &mut Writer, i: usize, r: &ResolvedResource, _content: Content) {
        let ResourceKind::Service {
            service,
            state,
            enabled,
        } = r.kind()
        else {
            return;
        };
        if r.resource.absent {
            w.call("step service_absent", [i.to_string().as_str(), service]);
            return;
        }
        let state = match state {
            ServiceState::Running => "running",
            ServiceState::Stopped => "stopped",
        };
        let enabled = match enabled {
            Some(true) => "true",
            Some(false) => "false",
            None => "",
        };
        w.call(
            "step service_res",
            [i.to_string().as_str(), service.as_str(), state, enabled],
        );
    }
}
