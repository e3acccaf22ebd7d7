//! `command`: a command run unless `creates` exists or `unless` succeeds.

use super::{Content, Kind};
use crate::engine::script::protocol::Observed;
use crate::engine::script::writer::Writer;
use crate::model::ResourceKind;
use crate::resolve::ResolvedResource;

pub(super) struct Command;

impl Kind for Command {
    fn helpers(&self) -> &'static str {
        include_str!("command.sh")
    }
    fn tools(&self) -> &'static [&'static str] {
        // (for the run directory its error output goes to, once per boot: see `efile`)
        &["mkdir"]
    }
    fn write(&self, w: &mut Writer, i: usize, r: &ResolvedResource, _content: Content) {
        let ResourceKind::Command {
            command,
            creates,
            unless,
        } = r.kind()
        else {
            return;
        };
        let i = i.to_string();
        let mut args = vec![i.as_str(), command.as_str()];
        if let Some(c) = creates {
            args.extend(["creates", c.as_str()]);
        }
        if let Some(u) = unless {
            args.extend(["unless", u.as_str()]);
        }
        w.call("step command_res", args);
    }
    fn differs(&self, r: &ResolvedResource, _obs: &Observed) -> Vec<String> {
        let ResourceKind::Command {
            creates, unless, ..
        } = r.kind()
        else {
            return Vec::new();
        };
        vec![match (creates, unless) {
            (Some(c), _) => format!("{c} does not exist, so the command runs"),
            (None, Some(u)) => format!("`{u}` fails, so the command runs"),
            (None, None) => "the command runs every time".into(),
        }]
    }
}
