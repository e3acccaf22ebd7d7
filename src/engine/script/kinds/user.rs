//! `user`: a local user, created with its comment, shell and groups when missing.

use super::{Content, Kind};
use crate::engine::script::writer::Writer;
use crate::model::ResourceKind;
use crate::resolve::ResolvedResource;

pub(super) struct User;

impl Kind for User {
    fn tools(&self) -> &'static [&'static str] {
        &["id", "useradd"]
    }
    fn helpers(&self) -> &'static str {
        include_str!("user.sh")
    }
    fn write(&self, w: &mut Writer, i: usize, r: &ResolvedResource, _content: Content) {
        let ResourceKind::User {
            user,
            comment,
            shell,
            groups,
        } = r.kind()
        else {
            return;
        };
        let mut args = vec![i.to_string(), user.clone()];
        if let Some(c) = comment {
            args.extend(["--comment".into(), c.clone()]);
        }
        if let Some(sh) = shell {
            args.extend(["--shell".into(), sh.clone()]);
        }
        if !groups.is_empty() {
            args.extend(["--groups".into(), groups.join(",")]);
        }
        w.call("step user_res", args);
    }
}
