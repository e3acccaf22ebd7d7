//! One file per resource kind: its shell (probe and fix, in `<kind>.sh`), how its step is
//! written into a device's program, and what is kind-specific in describing it (the text
//! a diff compares). Adding a kind = a `<kind>.rs` (+ `<kind>.sh`) here and a line in
//! [`of`], plus its validation in `load/kinds/<kind>.rs` and a line in `load::kinds::ALL`
//! (load must not import the engine, so the two halves of a kind live on each side).

mod apt_source;
mod command;
mod directory;
mod file;
mod handler;
mod line;
mod package;
mod print_queue;
mod service;
mod user;

use super::protocol::Observed;
use super::writer::Writer;
use crate::model::ResourceKind;
use crate::resolve::ResolvedResource;

pub(crate) use handler::markers as notify_markers;
pub use print_queue::{TEST_PAGE, queue_state, write_test_page};

/// What the engine needs of a resource kind.
pub trait Kind: Sync {
    /// Whether this build can probe and fix it; an unsupported kind is left alone.
    fn supported(&self) -> bool {
        true
    }
    /// The shell helpers its steps call (its `.sh` file), once per program.
    fn helpers(&self) -> &'static str;
    /// A path whose sha256 the program reads at its start.
    fn digest_path<'a>(&self, _r: &'a ResolvedResource) -> Option<&'a str> {
        None
    }
    /// A path whose metadata the program reads at its start.
    fn stat_path<'a>(&self, _r: &'a ResolvedResource) -> Option<&'a str> {
        None
    }
    /// The programs its steps run, checked on the device before anything is changed.
    fn tools(&self) -> &'static [&'static str] {
        &[]
    }
    /// Writes resource `i`'s step (probe, and fix when the program fixes), with where its
    /// content travels.
    fn write(&self, w: &mut Writer, i: usize, r: &ResolvedResource, content: Content);
    /// What a diff compares: the thing's label and the text the profile wants, given the
    /// text the device has. `None` for kinds without a diff.
    fn wanted(&self, _r: &ResolvedResource, _old: Option<&str>) -> Option<(String, String)> {
        None
    }
    /// Whether the wanted text's digest is recorded as the new digest (kinds whose wanted
    /// text is not the resource's content, such as a line in a file).
    fn digests_wanted(&self) -> bool {
        false
    }
    /// What differs on the device, in a few words a CSP reads beside the resource's name
    /// ("missing", "content", "mode 0644 → 0600", "no user ada (...)"), from what its
    /// probe observed. Empty when nothing more than the diff can be said.
    fn differs(&self, _r: &ResolvedResource, _obs: &Observed) -> Vec<String> {
        Vec::new()
    }
}

/// Metadata that differs from what the profile wants: `meta` is the device's
/// `MODE OWNER GROUP` (an octal mode without leading zeros), the others are wanted values
/// (`None` leaves it open). "mode 0644 → 0600", "owner root → ada", "group root → staff".
fn meta_differs(
    meta: &str,
    mode: Option<u32>,
    owner: Option<&str>,
    group: Option<&str>,
) -> Vec<String> {
    let mut parts = meta.split(' ');
    let (m, o, g) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let mut out = Vec::new();
    if let Some(want) = mode {
        let have = u32::from_str_radix(m, 8).ok();
        if have != Some(want) {
            let have = have.map_or_else(|| m.to_string(), |h| format!("{h:04o}"));
            out.push(format!("mode {have} → {want:04o}"));
        }
    }
    for (what, have, want) in [("owner", o, owner), ("group", g, group)] {
        if let Some(want) = want
            && have != want
        {
            out.push(format!("{what} {have} → {want}"));
        }
    }
    out
}

/// What the device said a resource would do or did (its message: "would install acme-vpn
/// 1.2.3-1"), for kinds whose probe says it in words.
fn said(obs: &Observed) -> Vec<String> {
    obs.stderr
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| vec![m.to_string()])
        .unwrap_or_default()
}

/// The registry: the kind of a resource.
pub fn of(kind: &ResourceKind) -> &'static dyn Kind {
    match kind {
        ResourceKind::File { .. } => &file::File,
        ResourceKind::Directory { .. } => &directory::Directory,
        ResourceKind::Line { .. } => &line::Line,
        ResourceKind::Command { .. } => &command::Command,
        ResourceKind::Package { .. } => &package::Package,
        ResourceKind::AptSource { .. } => &apt_source::AptSource,
        ResourceKind::User { .. } => &user::User,
        ResourceKind::PrintQueue { .. } => &print_queue::PrintQueue,
        ResourceKind::Service { .. } => &service::Service,
        ResourceKind::Handler { .. } => &handler::Handler,
    }
}

/// Where a resource's new content travels to the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// Not at all: the program only looks (plan), or the resource has none.
    Absent,
    /// In the data after the program: `len` bytes starting `from_end` bytes before the end
    /// of everything sent.
    Data { from_end: usize, len: usize },
    /// In the program itself, as a quoted word (see [`inline`]).
    Inline,
}

/// Contents up to this size are written by the program itself (a quoted word and the
/// shell's builtin `printf`: no process), when they are text a shell word can hold.
pub const INLINE_LIMIT: usize = 64 * 1024;

/// Whether the program carries `content` itself rather than carving it from the data.
pub fn inline(content: &str) -> bool {
    content.len() <= INLINE_LIMIT && !content.contains('\0')
}

/// An octal mode as the program compares and sets it (`640`), or '' for any.
fn mode(m: Option<u32>) -> String {
    m.map(|m| format!("{m:o}")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_differences_read_as_from_and_to() {
        assert_eq!(
            meta_differs("600 root root", Some(0o644), None, None),
            ["mode 0600 → 0644"]
        );
        assert_eq!(
            meta_differs("644 ada staff", Some(0o644), Some("root"), Some("root")),
            ["owner ada → root", "group staff → root"]
        );
        assert!(meta_differs("644 root root", Some(0o644), Some("root"), None).is_empty());
    }

    #[test]
    fn a_user_says_what_the_device_said_it_does() {
        let r = crate::engine::testkit::resource(
            "account",
            ResourceKind::User {
                user: "ada".into(),
                comment: Some("Ada Lovelace".into()),
                shell: Some("/bin/bash".into()),
                groups: vec!["sudo".into()],
                exact_groups: false,
                home: None,
                remove_home: false,
            },
        );
        let said = Observed {
            stderr: Some("would create user ada (shell /bin/bash, groups sudo)\n".into()),
            ..Observed::default()
        };
        assert_eq!(
            of(r.kind()).differs(&r, &said),
            ["would create user ada (shell /bin/bash, groups sudo)"]
        );
        assert!(of(r.kind()).differs(&r, &Observed::default()).is_empty());
    }

    #[test]
    fn software_says_what_would_be_installed_upgraded_or_removed() {
        let r = crate::engine::testkit::resource(
            "vpn",
            ResourceKind::Package {
                package: "acme-vpn".into(),
                state: crate::model::Presence::Present,
                version: Some("1.1-1".into()),
                deb: None,
                preseed: Vec::new(),
                purge: false,
                index_max_age: 3600,
            },
        );
        let said = Observed {
            stderr: Some("would upgrade acme-vpn 1.0-1 to 1.1-1".into()),
            ..Observed::default()
        };
        assert_eq!(
            of(r.kind()).differs(&r, &said),
            ["would upgrade acme-vpn 1.0-1 to 1.1-1"]
        );
        let r = crate::engine::testkit::resource(
            "acme",
            ResourceKind::AptSource {
                apt_source: "acme".into(),
                state: crate::model::Presence::Absent,
                uris: Vec::new(),
                suites: Vec::new(),
                components: Vec::new(),
                architectures: Vec::new(),
                key: crate::model::AptKey::Text(String::new()),
                fingerprint: None,
            },
        );
        let said = Observed {
            stderr: Some("would remove apt source acme and its key\n".into()),
            ..Observed::default()
        };
        assert_eq!(
            of(r.kind()).differs(&r, &said),
            ["would remove apt source acme and its key"]
        );
    }
}
