//! `line`: a line present in a file (the diff compares the file with the line added), or
//! absent from it (every line equal to it removed).

use super::{Content, Kind};
use crate::engine::script::protocol::Observed;
use crate::engine::script::writer::Writer;
use crate::model::ResourceKind;
use crate::resolve::ResolvedResource;

pub(super) struct Line;

impl Kind for Line {
    fn tools(&self) -> &'static [&'static str] {
        &["cp", "mv", "readlink", "stat", "sync"]
    }
    fn helpers(&self) -> &'static str {
        include_str!("line.sh")
    }
    fn stat_path<'a>(&self, r: &'a ResolvedResource) -> Option<&'a str> {
        match r.kind() {
            ResourceKind::Line { path, .. } => Some(path),
            _ => None,
        }
    }
    fn write(&self, w: &mut Writer, i: usize, r: &ResolvedResource, _content: Content) {
        if let ResourceKind::Line { path, line } = r.kind() {
            let step = if r.resource.absent {
                "step line_absent"
            } else {
                "step line_res"
            };
            w.call(step, [&i.to_string(), path, line]);
        }
    }
    fn wanted(&self, r: &ResolvedResource, old: Option<&str>) -> Option<(String, String)> {
        let ResourceKind::Line { path, line } = r.kind() else {
            return None;
        };
        if r.resource.absent {
            return Some((path.clone(), without_line(old.unwrap_or_default(), line)));
        }
        let mut t = old.unwrap_or_default().to_string();
        if !t.is_empty() && !t.ends_with('\n') {
            t.push('\n');
        }
        t.push_str(line);
        t.push('\n');
        Some((path.clone(), t))
    }
    fn digests_wanted(&self) -> bool {
        true
    }
    fn differs(&self, r: &ResolvedResource, obs: &Observed) -> Vec<String> {
        let ResourceKind::Line { path, .. } = r.kind() else {
            return Vec::new();
        };
        vec![if obs.old.is_some() {
            format!("line missing from {path}")
        } else {
            format!("line missing ({path} absent or too large to show)")
        }]
    }
}

/// `text` without the lines equal to `line` (as `grep -vxF` leaves it).
fn without_line(text: &str, line: &str) -> String {
    text.split_inclusive('\n')
        .filter(|l| l.strip_suffix('\n').unwrap_or(l) != line)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removed_line_leaves_the_others_as_they_were() {
        assert_eq!(without_line("a\nx\nb\nx\n", "x"), "a\nb\n");
        assert_eq!(without_line("a\nx", "x"), "a\n");
        assert_eq!(without_line("x\n", "x"), "");
        assert_eq!(without_line("xx\n", "x"), "xx\n");
    }
}
