//! One file per resource kind: its shell (probe and fix, in `<kind>.sh`), how its step is
//! written into a device's program, and what is kind-specific in describing it (the text
//! a diff compares). Adding a kind = a `<kind>.rs` (+ `<kind>.sh`) here and a line in
//! [`of`], plus its validation in `load/kinds/<kind>.rs` and a line in `load::kinds::ALL`
//! (load must not import the engine, so the two halves of a kind live on each side).

mod command;
mod directory;
mod file;
mod handler;
mod line;
mod package;
mod print_queue;
mod service;
mod user;

use super::writer::Writer;
use crate::model::ResourceKind;
use crate::resolve::ResolvedResource;

pub(crate) use handler::markers as notify_markers;
pub use print_queue::{TEST_PAGE, queue_state, write_queue_drop, write_test_page};

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
    /// Writes what the program does once before the steps of this kind, given all of them
    /// (print queues read their settings in parallel first).
    fn write_begin(&self, _w: &mut Writer, _items: &[(usize, &ResolvedResource)]) {}
    /// Writes what the program does once after the steps of this kind (before the checks).
    fn write_end(&self, _w: &mut Writer) {}
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
}

/// The registry: the kind of a resource.
pub fn of(kind: &ResourceKind) -> &'static dyn Kind {
    match kind {
        ResourceKind::File { .. } => &file::File,
        ResourceKind::Directory { .. } => &directory::Directory,
        ResourceKind::Line { .. } => &line::Line,
        ResourceKind::Command { .. } => &command::Command,
        ResourceKind::Package { .. } => &package::Package,
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
