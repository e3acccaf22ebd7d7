//! `directory`: a directory's existence, mode, owner and group; or its absence (removed
//! with everything in it).

use super::{Content, Kind, mode};
use crate::engine::script::writer::Writer;
use crate::model::ResourceKind;
use crate::resolve::ResolvedResource;

pub(super) struct Directory;

impl Kind for Directory {
    fn tools(&self) -> &'static [&'static str] {
        &["install", "rm", "stat"]
    }
    fn helpers(&self) -> &'static str {
        include_str!("directory.sh")
    }
    fn stat_path<'a>(&self, r: &'a ResolvedResource) -> Option<&'a str> {
        match r.kind() {
            ResourceKind::Directory { path, .. } => Some(path),
            _ => None,
        }
    }
    fn write(&self, w: &mut Writer, i: usize, r: &ResolvedResource, _content: Content) {
        let ResourceKind::Directory {
            path,
            mode: m,
            owner,
            group,
        } = r.kind()
        else {
            return;
        };
        if r.resource.absent {
            w.call("step dir_absent", [i.to_string().as_str(), path]);
            return;
        }
        w.call(
            "step dir_res",
            [
                &i.to_string(),
                path,
                &mode(*m),
                owner.as_deref().unwrap_or(""),
                group.as_deref().unwrap_or(""),
            ],
        );
    }
}
