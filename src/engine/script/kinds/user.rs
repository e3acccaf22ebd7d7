//! `user`: a local user, created with its comment, shell and groups when missing.

use super::{Content, Kind};
use crate::engine::script::protocol::Observed;
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
    fn differs(&self, r: &ResolvedResource, _obs: &Observed) -> Vec<String> {
        let ResourceKind::User {
            user,
            comment,
            shell,
            groups,
        } = r.kind()
        else {
            return Vec::new();
        };
        // The probe checks only that the account exists; the fix creates it with these.
        let mut with = Vec::new();
        if let Some(c) = comment {
            with.push(format!("comment \"{c}\""));
        }
        if let Some(s) = shell {
            with.push(format!("shell {s}"));
        }
        if !groups.is_empty() {
            with.push(format!("groups {}", groups.join(",")));
        }
        vec![if with.is_empty() {
            format!("no user {user}: create it with a home")
        } else {
            format!("no user {user}: create it with a home, {}", with.join(", "))
        }]
    }
}
