//! `directory`: a directory's existence, mode, owner and group; or its absence (removed
//! with everything in it).

use super::{Content, Kind, meta_differs, mode};
use crate::engine::script::protocol::Observed;
use crate::engine::script::writer::Writer;
use crate::model::ResourceKind;
use crate::resolve::ResolvedResource;

pub(super) struct Directory;

impl Kind for Directory {
    fn tools(&self) -> &'static [&'static str] {
        &["install", "mkdir", "rm", "stat"]
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
    fn differs(&self, r: &ResolvedResource, obs: &Observed) -> Vec<String> {
        let ResourceKind::Directory {
            mode, owner, group, ..
        } = r.kind()
        else {
            return Vec::new();
        };
        let Some(meta) = &obs.meta else {
            return vec!["missing".into()];
        };
        let out = meta_differs(meta, *mode, owner.as_deref(), group.as_deref());
        if out.is_empty() {
            // Its metadata is as wanted, so what is there is not a directory.
            return vec!["not a directory".into()];
        }
        out
    }
}
