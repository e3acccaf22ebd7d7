//! `user`: a local account's name, comment, shell, supplementary groups (kept beside
//! others, or exactly these with `exact_groups`) and home; or `state: absent`, with
//! `remove_home` to remove its home too. Names, shells, homes and comments are checked
//! here when written plainly, and again by resolve once template expressions are rendered
//! ([`bad_user`]): they reach useradd and usermod, and `/etc/passwd` splits on `:`.

use super::{Cx, Spec};
use crate::load::locate::join_key;
use crate::load::raw::RawResource;
use crate::model::ResourceKind;

pub(super) const SPEC: Spec = Spec {
    keyword: "user",
    settings: &[
        "comment",
        "shell",
        "groups",
        "exact_groups",
        "home",
        "remove_home",
        "state",
    ],
    absent_settings: &["remove_home"],
    build,
};

fn build(r: RawResource, cx: &mut Cx<'_>) -> Option<ResourceKind> {
    if r.remove_home.is_some() && !cx.absent {
        cx.error(
            "remove_home",
            "`remove_home` goes with `state: absent` (it says whether the home goes with the account)",
        );
        return None;
    }
    if r.exact_groups.is_some() && r.groups.is_none() {
        cx.error(
            "exact_groups",
            "`exact_groups` goes with `groups` (the list the user's groups must be exactly)",
        );
        return None;
    }
    let kind = ResourceKind::User {
        user: r.user?,
        comment: r.comment,
        shell: r.shell,
        groups: r.groups.unwrap_or_default(),
        exact_groups: r.exact_groups.unwrap_or(false),
        home: r.home,
        remove_home: r.remove_home.unwrap_or(false),
    };
    let problems = bad_user(&kind);
    for (key, msg) in &problems {
        let at = match key {
            UserKey::Plain(k) => join_key(cx.path, k),
            UserKey::Group(i) => format!("{}[{i}]", join_key(cx.path, "groups")),
        };
        cx.diags.push(cx.file.diag(&at, msg.clone()));
    }
    problems.is_empty().then_some(kind)
}

/// Which setting of a user a problem is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UserKey {
    /// `user`, `comment`, `shell` or `home`.
    Plain(&'static str),
    /// `groups[i]`.
    Group(usize),
}

/// What is wrong with a user's settings, each with its key; template expressions not yet
/// rendered are left to the check after rendering.
pub(crate) fn bad_user(kind: &ResourceKind) -> Vec<(UserKey, String)> {
    let ResourceKind::User {
        user,
        comment,
        shell,
        groups,
        home,
        ..
    } = kind
    else {
        return Vec::new();
    };
    let open = |s: &str| s.contains("{{") || s.contains("{%");
    let mut out = Vec::new();
    if !open(user)
        && let Some(why) = bad_name(user)
    {
        out.push((
            UserKey::Plain("user"),
            format!("`{user}` is not a user name: {why}"),
        ));
    }
    for (i, g) in groups.iter().enumerate() {
        if !open(g)
            && let Some(why) = bad_name(g)
        {
            out.push((
                UserKey::Group(i),
                format!("`{g}` is not a group name: {why}"),
            ));
        }
    }
    if let Some(sh) = shell.as_deref().filter(|s| !open(s))
        && let Some(why) = bad_path(sh)
    {
        out.push((
            UserKey::Plain("shell"),
            format!("`{sh}` is not a login shell: {why} (e.g. /bin/bash)"),
        ));
    }
    if let Some(h) = home.as_deref().filter(|s| !open(s))
        && let Some(why) = bad_path(h)
    {
        out.push((
            UserKey::Plain("home"),
            format!("`{h}` is not a home directory: {why}"),
        ));
    }
    if let Some(c) = comment.as_deref().filter(|s| !open(s))
        && (c.contains(':') || c.chars().any(char::is_control))
    {
        out.push((
            UserKey::Plain("comment"),
            format!("`{c}` cannot be a user's comment: it holds `:` or a control character (/etc/passwd separates its fields with `:`)"),
        ));
    }
    out
}

/// Why `name` is not a user or group name as Debian's useradd takes one without
/// `--badname`: lower case letters, digits, `_`, `-` and `.`, starting with a letter or
/// `_`, at most 32 characters (an ending `$` for machine accounts).
fn bad_name(name: &str) -> Option<&'static str> {
    let body = name.strip_suffix('$').unwrap_or(name);
    let mut chars = body.chars();
    match chars.next() {
        None => Some("it is empty"),
        Some(c) if !(c.is_ascii_lowercase() || c == '_') => {
            Some("it must start with a lower case letter or `_`")
        }
        _ if name.len() > 32 => Some("it is longer than 32 characters"),
        _ if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-.".contains(c)) => {
            Some("only lower case letters, digits, `_`, `-` and `.` may follow its first letter")
        }
        _ => None,
    }
}

/// Why `p` cannot be a shell or home path.
fn bad_path(p: &str) -> Option<&'static str> {
    if !p.starts_with('/') {
        Some("it is not an absolute path")
    } else if p.contains(':') {
        Some("it holds `:`")
    } else if p.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("it holds whitespace")
    } else if p.split('/').any(|c| c == "..") {
        Some("it holds `..`")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["alice", "a.lovelace", "_svc", "web-01", "host$"] {
            assert_eq!(bad_name(ok), None, "{ok}");
        }
        for bad in ["", "Alice", "-x", "1abc", "a b", "a:b", &"a".repeat(33)] {
            assert!(bad_name(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn shells_and_homes() {
        assert_eq!(bad_path("/bin/bash"), None);
        for bad in ["bash", "/bin/ba sh", "/home/a:b", "/home/../etc"] {
            assert!(bad_path(bad).is_some(), "{bad}");
        }
    }
}
