//! Where each key of a YAML file stands: key path -> line and column.
//!
//! serde_yaml locates only its own parse errors; semantic errors found later (an unknown
//! profile, a duplicate asset tag) need the position of the key they are about. This module
//! walks the YAML event stream once and records the position of every mapping key and
//! sequence item under the same path syntax serde_path_to_error uses
//! (`devices.LAP-0001.profile`, `resources[2].file`). It knows nothing of deskready's schema.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

pub use crate::model::Pos;

/// The position a YAML marker points at.
fn pos_of(m: &Marker) -> Pos {
    Pos {
        line: m.line(),
        col: m.col() + 1,
    }
}

/// Key path -> position of the key (for mapping entries) or item (for sequence items).
#[derive(Debug, Default, Clone)]
pub struct Index {
    positions: HashMap<String, Pos>,
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

impl Index {
    /// Index `source`, or report where its YAML syntax is broken.
    pub fn build(source: &str) -> Result<Index, SyntaxError> {
        let mut walker = Walker::default();
        let mut parser = Parser::new_from_str(source);
        parser.load(&mut walker, false).map_err(|e| SyntaxError {
            pos: pos_of(e.marker()),
            message: e.info().to_string(),
        })?;
        Ok(Index {
            positions: walker.positions,
        })
    }

    /// The position of `path`, or of its nearest located ancestor, or line 1.
    pub fn find(&self, path: &str) -> Pos {
        let mut p = path;
        loop {
            if let Some(pos) = self.positions.get(p) {
                return *pos;
            }
            match parent(p) {
                Some(up) => p = up,
                None => return Pos { line: 1, col: 1 },
            }
        }
    }

    /// The position of exactly `path`, if it is in the file.
    pub fn get(&self, path: &str) -> Option<Pos> {
        self.positions.get(path).copied()
    }
}

/// `a.b[2].c` -> `a.b[2]` -> `a.b` -> `a` -> None.
fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(&path[..cut])
}

/// Joins a key onto a path the way serde_path_to_error prints it.
pub fn join_key(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_string()
    } else {
        format!("{base}.{key}")
    }
}

enum Frame {
    /// Inside a mapping: the path of the mapping, and the key awaiting its value (if any).
    Map {
        path: String,
        key: Option<String>,
        /// No key seen yet: the first key also locates a mapping that is a sequence item.
        first: bool,
    },
    /// Inside a sequence: the path of the sequence and the next item's index.
    Seq { path: String, next: usize },
}

#[derive(Default)]
struct Walker {
    stack: Vec<Frame>,
    positions: HashMap<String, Pos>,
}

impl Walker {
    /// Called when a value (scalar, mapping or sequence) starts: returns its path, and
    /// records the position of sequence items.
    fn value_path(&mut self, mark: &Marker) -> String {
        match self.stack.last_mut() {
            None => String::new(),
            Some(Frame::Map { path, key, .. }) => {
                let k = key.take().unwrap_or_default();
                join_key(path, &k)
            }
            Some(Frame::Seq { path, next }) => {
                let p = format!("{path}[{next}]");
                *next += 1;
                self.positions.entry(p.clone()).or_insert(pos_of(mark));
                p
            }
        }
    }

    /// In a mapping awaiting a key, a scalar is that key.
    fn take_as_key(&mut self, value: &str, mark: &Marker) -> bool {
        if let Some(Frame::Map { path, key, first }) = self.stack.last_mut()
            && key.is_none()
        {
            let pos = pos_of(mark);
            if *first && path.ends_with(']') {
                // A block mapping's start marker sits after its first key; the key is
                // where a reader looks for "the item".
                self.positions.insert(path.clone(), pos);
            }
            *first = false;
            let p = join_key(path, value);
            self.positions.entry(p).or_insert(pos);
            *key = Some(value.to_string());
            return true;
        }
        false
    }
}

impl MarkedEventReceiver for Walker {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(value, ..) if self.take_as_key(&value, &mark) => {}
            Event::Scalar(..) => {
                self.value_path(&mark);
            }
            Event::Alias(_) => {
                self.value_path(&mark);
            }
            Event::MappingStart(..) => {
                // A mapping used as a key cannot be addressed by a path; treat it as a value.
                let path = self.value_path(&mark);
                self.stack.push(Frame::Map {
                    path,
                    key: None,
                    first: true,
                });
            }
            Event::SequenceStart(..) => {
                let path = self.value_path(&mark);
                self.stack.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "\
devices:
  LAP-0001:
    kind: laptop
    vars:
      a: 1
resources:
  - file: /etc/hostname
    template: hostname.tera
  - command: true
";

    #[test]
    fn finds_keys_and_items() {
        let idx = Index::build(SRC).unwrap();
        assert_eq!(idx.find("devices"), Pos { line: 1, col: 1 });
        assert_eq!(idx.find("devices.LAP-0001"), Pos { line: 2, col: 3 });
        assert_eq!(idx.find("devices.LAP-0001.kind"), Pos { line: 3, col: 5 });
        assert_eq!(idx.find("devices.LAP-0001.vars.a"), Pos { line: 5, col: 7 });
        assert_eq!(idx.find("resources[0]"), Pos { line: 7, col: 5 });
        assert_eq!(idx.find("resources[0].template"), Pos { line: 8, col: 5 });
        assert_eq!(idx.find("resources[1].command"), Pos { line: 9, col: 5 });
    }

    #[test]
    fn unknown_paths_fall_back_to_their_parent() {
        let idx = Index::build(SRC).unwrap();
        assert_eq!(idx.find("devices.LAP-0001.nope"), Pos { line: 2, col: 3 });
        assert_eq!(idx.find("zzz"), Pos { line: 1, col: 1 });
    }

    #[test]
    fn syntax_errors_are_located() {
        let err = Index::build("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.pos.line >= 1, "{err:?}");
        assert!(!err.message.is_empty());
    }
}
