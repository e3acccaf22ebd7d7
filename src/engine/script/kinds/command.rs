//! `command`: a command run unless `creates` exists or `unless` succeeds.

use super::{Content, Kind};
use crate::engine::script::writer::Writer;
use crate::model::ResourceKind;
use crate::resolve::ResolvedResource;

pub(super) struct Command;

impl Kind for Command {
    fn helpers(&self) -> &'static str {
        include_str!("command.sh")
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
}
