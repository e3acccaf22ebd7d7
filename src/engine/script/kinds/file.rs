//! `file`: a file's content (sent after the program), mode, owner and group; the diff
//! compares its content; or no file at all (`state: absent`). A target that is a symbolic link owned by root is written
//! through (see `file.sh`).

use super::{Content, Kind, meta_differs, mode};
use crate::engine::script::protocol::Observed;
use crate::engine::script::{digest, writer::Writer};
use crate::model::ResourceKind;
use crate::resolve::ResolvedResource;

pub(super) struct File;

impl Kind for File {
    fn tools(&self) -> &'static [&'static str] {
        &[
            "chmod",
            "chown",
            "chgrp",
            "head",
            "mv",
            "readlink",
            "rm",
            "sha256sum",
            "stat",
            "sync",
        ]
    }
    fn helpers(&self) -> &'static str {
        include_str!("file.sh")
    }
    fn digest_path<'a>(&self, r: &'a ResolvedResource) -> Option<&'a str> {
        // A file to remove is not read.
        self.stat_path(r).filter(|_| !r.resource.absent)
    }
    fn stat_path<'a>(&self, r: &'a ResolvedResource) -> Option<&'a str> {
        match r.kind() {
            ResourceKind::File { path, .. } => Some(path),
            _ => None,
        }
    }
    fn write(&self, w: &mut Writer, i: usize, r: &ResolvedResource, content: Content) {
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
        if r.resource.absent {
            w.call("step file_absent", [i.to_string().as_str(), path]);
            return;
        }
        let sum = digest(r.content().unwrap_or_default().as_bytes());
        let text = r.content().unwrap_or_default();
        let (offset, len) = match content {
            Content::Data { from_end, len } => (from_end.to_string(), len.to_string()),
            Content::Inline => ("-".to_string(), text.len().to_string()),
            Content::Absent => ("-".to_string(), "0".to_string()),
        };
        let mut args = vec![
            i.to_string(),
            path.clone(),
            sum,
            mode(*m),
            owner.clone().unwrap_or_default(),
            group.clone().unwrap_or_default(),
            offset,
            len,
        ];
        if content == Content::Inline {
            args.push(text.to_string());
        }
        w.call("step file_res", args);
    }
    fn wanted(&self, r: &ResolvedResource, _old: Option<&str>) -> Option<(String, String)> {
        match r.kind() {
            ResourceKind::File { path, .. } => Some((path.clone(), r.content()?.to_string())),
            _ => None,
        }
    }
    fn differs(&self, r: &ResolvedResource, obs: &Observed) -> Vec<String> {
        let ResourceKind::File {
            mode, owner, group, ..
        } = r.kind()
        else {
            return Vec::new();
        };
        let Some(meta) = &obs.meta else {
            return vec!["missing".into()];
        };
        let mut out = Vec::new();
        if obs.old.is_some() || obs.before.is_some() || obs.differs {
            out.push("content".into());
        }
        out.extend(meta_differs(
            meta,
            *mode,
            owner.as_deref(),
            group.as_deref(),
        ));
        out
    }
}
