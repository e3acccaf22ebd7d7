//! The site's `deskready.yaml`: defaults for command-line options, read before the command
//! line is parsed. This file only reads it and locates its entries (file:line:col); which
//! options may have defaults, and whether a value suits its option, is the CLI's to judge,
//! since only it knows the options.
//!
//! ```yaml
//! defaults:
//!   parallel: 16
//!   connect-timeout: 5
//! ```

use std::path::Path;

use serde_yaml::Value;

use super::diag::{Diagnostic, Diagnostics, unknown};
use super::locate::{Index, Pos, join_key};

/// The file, relative to the site directory.
pub const FILE: &str = "deskready.yaml";

/// One default: the option's name as written, its value as text, and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionDefault {
    pub key: String,
    pub value: String,
    pub pos: Pos,
}

/// The defaults of the site at `site_dir` (none when it has no `deskready.yaml`), or
/// every problem of the file's form.
pub fn read(site_dir: &Path) -> Result<Vec<OptionDefault>, Diagnostics> {
    match std::fs::read_to_string(site_dir.join(FILE)) {
        Ok(text) => parse(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Diagnostics(vec![Diagnostic::new(
            FILE,
            Pos { line: 0, col: 0 },
            "",
            format!("cannot read: {e}"),
        )])),
    }
}

/// The defaults written in `text`.
pub fn parse(text: &str) -> Result<Vec<OptionDefault>, Diagnostics> {
    let mut diags = Diagnostics::default();
    let index = match Index::build(text) {
        Ok(i) => i,
        Err(e) => {
            diags.push(Diagnostic::new(FILE, e.pos, "", e.message));
            return Err(diags);
        }
    };
    let root: Value = match serde_yaml::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let pos = e.location().map_or(Pos { line: 1, col: 1 }, |l| Pos {
                line: l.line(),
                col: l.column(),
            });
            diags.push(Diagnostic::new(FILE, pos, "", e.to_string()));
            return Err(diags);
        }
    };
    let mut out = Vec::new();
    let top = match &root {
        Value::Null => return Ok(out),
        Value::Mapping(m) => m,
        _ => {
            diags.push(Diagnostic::new(
                FILE,
                Pos { line: 1, col: 1 },
                "",
                "expected a mapping with `defaults:`",
            ));
            return Err(diags);
        }
    };
    for (k, v) in top {
        let key = k.as_str().unwrap_or_default();
        if key != "defaults" {
            diags.push(Diagnostic::new(
                FILE,
                index.find(key),
                key,
                unknown("key", key, &["defaults"]),
            ));
            continue;
        }
        let Value::Mapping(defaults) = v else {
            if !v.is_null() {
                diags.push(Diagnostic::new(
                    FILE,
                    index.find(key),
                    key,
                    "expected a mapping of option names to values",
                ));
            }
            continue;
        };
        for (name, value) in defaults {
            let name = match name {
                Value::String(s) => s.clone(),
                other => serde_yaml::to_string(other)
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            };
            let path = join_key("defaults", &name);
            let pos = index.find(&path);
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Sequence(items) if items.iter().all(|i| i.is_string() || i.is_number()) => {
                    items
                        .iter()
                        .map(|i| match i {
                            Value::String(s) => s.clone(),
                            other => serde_yaml::to_string(other)
                                .unwrap_or_default()
                                .trim()
                                .to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                }
                _ => {
                    diags.push(Diagnostic::new(
                        FILE,
                        pos,
                        path,
                        "expected a value (a number, a word, or a list of them)",
                    ));
                    continue;
                }
            };
            out.push(OptionDefault {
                key: name,
                value: text,
                pos,
            });
        }
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        Err(diags.sorted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_read_with_their_positions() {
        let d =
            parse("# site defaults\ndefaults:\n  parallel: 16\n  batch: [1, 5, 25%]\n").unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].key.as_str(), d[0].value.as_str()), ("parallel", "16"));
        assert_eq!((d[0].pos.line, d[0].pos.col), (3, 3));
        assert_eq!(d[1].value, "1,5,25%");
    }

    #[test]
    fn a_wrong_top_key_is_located() {
        let e = parse("defaults:\n  parallel: 2\ndefault:\n  retries: 1\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "deskready.yaml:3:1: default: unknown key `default`; did you mean `defaults`? allowed: defaults"
        );
    }
}
