//! `handler`: a profile's handler as the last steps of a device's program (see
//! `handler.sh`): it runs when a resource notifying it changed, or when its marker on the
//! device says an earlier run changed one and ended before the handler ran. Also how a
//! notifying resource's step is wrapped ([`markers`]).

use sha2::{Digest, Sha256};

use super::{Content, Kind};
use crate::engine::script::writer::Writer;
use crate::model::{HandlerAction, ResourceKind};
use crate::resolve::ResolvedResource;

pub(super) struct Handler;

/// A handler's marker file name on the device: the same for the same name in every run.
pub(crate) fn marker(name: &str) -> String {
    format!("h{}", &hex::encode(Sha256::digest(name.as_bytes()))[..16])
}

/// The markers of the handlers `r` notifies.
pub(crate) fn markers(r: &ResolvedResource) -> Vec<String> {
    r.resource.notify.iter().map(|n| marker(n)).collect()
}

impl Kind for Handler {
    fn helpers(&self) -> &'static str {
        // A handler restarts services the way a `service` resource starts them.
        concat!(include_str!("service.sh"), include_str!("handler.sh"))
    }
    fn write(&self, w: &mut Writer, i: usize, r: &ResolvedResource, _content: Content) {
        let ResourceKind::Handler { handler, action } = r.kind() else {
            return;
        };
        let (verb, what) = match action {
            HandlerAction::Restart(s) => ("restart", s),
            HandlerAction::Reload(s) => ("reload", s),
            HandlerAction::Command(c) => ("command", c),
        };
        w.call(
            "step handler_res",
            [i.to_string().as_str(), &marker(handler), verb, what],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_file_names_stable_per_handler() {
        assert_eq!(marker("restart ssh"), marker("restart ssh"));
        assert_ne!(marker("restart ssh"), marker("reload ssh"));
        let m = marker("restart 'x' / y");
        assert_eq!(m.len(), 17);
        assert!(m.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
