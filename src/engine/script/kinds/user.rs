//! `user`: a local account converged with Debian's tools (see `user.sh`): created with its
//! comment, shell, home and groups when missing, changed with one `usermod` when they
//! differ, removed (with its home when `remove_home`) when absent. Its message says what
//! would change or changed (create, which groups, shell from -> to).

use super::{Content, Kind};
use crate::engine::script::protocol::Observed;
use crate::engine::script::writer::Writer;
use crate::model::ResourceKind;
use crate::resolve::ResolvedResource;

pub(super) struct User;

impl Kind for User {
    fn tools(&self) -> &'static [&'static str] {
        &["getent", "id", "sed", "tr", "useradd", "usermod", "userdel"]
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
            exact_groups,
            home,
            remove_home,
        } = r.kind()
        else {
            return;
        };
        let i = i.to_string();
        if r.resource.absent {
            let rh = if *remove_home { "true" } else { "false" };
            w.call("step user_absent", [i.as_str(), user, rh]);
            return;
        }
        w.call(
            "step user_res",
            [
                i.as_str(),
                user,
                if comment.is_some() { "1" } else { "0" },
                comment.as_deref().unwrap_or_default(),
                shell.as_deref().unwrap_or_default(),
                home.as_deref().unwrap_or_default(),
                &groups.join(","),
                if *exact_groups { "true" } else { "false" },
            ],
        );
    }
    fn differs(&self, _r: &ResolvedResource, obs: &Observed) -> Vec<String> {
        // The device says what it would do or did (`note`: create, which groups, shell
        // from -> to) whenever the account is not as the profile says.
        obs.stderr
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(|m| vec![m.to_string()])
            .unwrap_or_default()
    }
}
