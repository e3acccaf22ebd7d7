//! `file`: a file's content (staged on stdin), mode, owner and group; the diff compares
//! its content.

use super::{Kind, mode};
use crate::engine::script::{digest, writer::Writer};
use crate::model::ResourceKind;
use crate::resolve::ResolvedResource;

pub(super) struct File;

impl Kind for File {
    fn helpers(&self) -> &'static str {
        include_str!("file.sh")
    }
    fn digest_path<'a>(&self, r: &'a ResolvedResource) -> Option<&'a str> {
        self.stat_path(r)
    }
    fn stat_path<'a>(&self, r: &'a ResolvedResource) -> Option<&'a str> {
        match r.kind() {
            ResourceKind::File { path, .. } => Some(path),
            _ => None,
        }
    }
    fn write(&self, w: &mut Writer, i: usize, r: &ResolvedResource) {
        let ResourceKind::File {
            path,
            mode: m,
            owner,
            group,
            ..
        } = r.kind()
        else {
            return;
        };
        let sum = digest(r.content().unwrap_or_default().as_bytes());
        w.call(
            "step file_res",
            [
                &i.to_string(),
                path,
                &sum,
                &mode(*m),
                owner.as_deref().unwrap_or(""),
                group.as_deref().unwrap_or(""),
            ],
        );
    }
    fn wanted(&self, r: &ResolvedResource, _old: Option<&str>) -> Option<(String, String)> {
        match r.kind() {
            ResourceKind::File { path, .. } => Some((path.clone(), r.content()?.to_string())),
            _ => None,
        }
    }
}
