//! The site's one Tera instance: every file under `templates/` (but `templates/guides/`,
//! which holds the guides' images), strict about undefined variables, plus inline strings
//! of profiles rendered against the same context.
//!
//! Errors carry the template, line and column, so a CSP sees `templates/user.conf.tera:3:8`
//! rather than a Rust backtrace. This module does not decide what goes into a context;
//! `resolve` builds it.

use std::path::Path;

use crate::model::Pos;

/// A template problem: which template (a path under `templates/`, or none for an inline
/// string of a profile), where in it, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub template: Option<String>,
    pub pos: Pos,
    pub message: String,
}

/// Every template of a site, parsed once.
pub struct Templates {
    tera: tera::Tera,
    /// Renders command fields: every `{{ value }}` is shell-quoted by autoescape, so data
    /// can never become shell syntax. Opt out per value with `| safe`.
    shell: tera::Tera,
    names: Vec<String>,
    /// Template sources by name, to quote the expression an error is about.
    sources: std::collections::HashMap<String, String>,
    /// Templates that exist but failed to parse (already reported).
    broken: Vec<String>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("names", &self.names)
            .finish()
    }
}

impl Templates {
    /// Loads every file under `dir` (named by its path relative to `dir`, with `/`), but
    /// those under its [`GUIDE_IMAGES`] directory, which are pictures, not templates.
    /// Returns the templates that parsed, and one error per template that did not.
    pub fn load(dir: &Path) -> (Templates, Vec<TemplateError>) {
        let mut errors = Vec::new();
        let mut files = Vec::new();
        collect_files(dir, dir, &mut files, &mut errors);
        files.sort();

        // Parse each template alone first, so a syntax error names its own file.
        let mut good = Vec::new();
        let mut broken = Vec::new();
        for (name, text) in files {
            let mut scratch = tera::Tera::new();
            match scratch.add_raw_template(&name, &text) {
                Ok(()) => good.push((name, text)),
                Err(e) if is_missing_reference(&e) => good.push((name, text)),
                Err(e) => {
                    errors.push(with_expression(template_error(&e, Some(&name)), &text));
                    broken.push(name);
                }
            }
        }
        let mut tera = tera::Tera::new();
        if let Err(e) = tera.add_raw_templates(good.iter().map(|(n, t)| (n.as_str(), t.as_str()))) {
            // Inheritance or includes that point nowhere: report, and keep the rest usable.
            errors.push(template_error(&e, None));
            tera = tera::Tera::new();
            for (name, text) in &good {
                let _ = tera.add_raw_template(name, text);
            }
        }
        let names = tera.get_template_names().map(str::to_string).collect();
        let sources = good.into_iter().collect();
        let templates = Templates {
            tera,
            shell: shell_tera(),
            names,
            sources,
            broken,
        };
        (templates, errors)
    }

    /// An empty set, for sites without a `templates/` directory.
    pub fn empty() -> Templates {
        Templates {
            tera: tera::Tera::new(),
            shell: shell_tera(),
            names: Vec::new(),
            sources: Default::default(),
            broken: Vec::new(),
        }
    }

    pub fn exists(&self, name: &str) -> bool {
        self.tera.contains_template(name)
    }

    /// The template exists but did not parse; its error was reported by [`Templates::load`].
    pub fn is_broken(&self, name: &str) -> bool {
        self.broken.iter().any(|b| b == name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// The source text of every template that parsed, by name.
    pub fn sources(&self) -> impl Iterator<Item = (&str, &str)> {
        self.sources
            .iter()
            .map(|(name, text)| (name.as_str(), text.as_str()))
    }

    /// The source text of template `name`, when it parsed.
    pub fn source(&self, name: &str) -> Option<&str> {
        self.sources.get(name).map(String::as_str)
    }

    /// Renders the template `name` (a path under `templates/`).
    pub fn render(&self, name: &str, ctx: &tera::Context) -> Result<String, TemplateError> {
        self.tera.render(name, ctx).map_err(|e| {
            let e = template_error(&e, Some(name));
            let source = e.template.as_deref().and_then(|t| self.sources.get(t));
            match source {
                Some(src) => with_expression(e, src),
                None => e,
            }
        })
    }

    /// Renders an inline string of a profile. Text without `{{` or `{%` is returned as is.
    pub fn render_str(&self, text: &str, ctx: &tera::Context) -> Result<String, TemplateError> {
        if !text.contains("{{") && !text.contains("{%") && !text.contains("{#") {
            return Ok(text.to_string());
        }
        self.tera
            .render_str(text, ctx, false)
            .map_err(|e| with_expression(template_error(&e, None), text))
    }

    /// Renders a shell command of a profile (`command`, `creates`, `unless`, verify checks):
    /// every interpolated value is quoted as one shell word.
    pub fn render_command(&self, text: &str, ctx: &tera::Context) -> Result<String, TemplateError> {
        if !text.contains("{{") && !text.contains("{%") && !text.contains("{#") {
            return Ok(text.to_string());
        }
        self.shell
            .render_str(text, ctx, true)
            .map_err(|e| with_expression(template_error(&e, None), text))
    }
}

fn shell_tera() -> tera::Tera {
    let mut t = tera::Tera::new();
    t.set_escape_fn(crate::shell::tera_escape);
    t
}

/// The directory of `templates/` that holds the guides' images (not templates).
pub const GUIDE_IMAGES: &str = "guides";

fn collect_files(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, String)>,
    errors: &mut Vec<TemplateError>,
) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if dir == root && entry.file_name() == GUIDE_IMAGES {
                continue;
            }
            collect_files(root, &path, out, errors);
            continue;
        }
        let name = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        match std::fs::read_to_string(&path) {
            Ok(text) => out.push((name, text)),
            Err(e) => errors.push(TemplateError {
                template: Some(name),
                pos: Pos { line: 1, col: 1 },
                message: format!("cannot read template: {e}"),
            }),
        }
    }
}

/// Appends the `{{ ... }}` or `{% ... %}` the error points into: "... in `{{ a.b }}`".
fn with_expression(mut e: TemplateError, source: &str) -> TemplateError {
    let Some(line) = source.lines().nth(e.pos.line.saturating_sub(1)) else {
        return e;
    };
    let col = line
        .char_indices()
        .nth(e.pos.col.saturating_sub(1))
        .map_or(line.len(), |(i, _)| i);
    let open = line[..col]
        .rfind("{{")
        .into_iter()
        .chain(line[..col].rfind("{%"))
        .max();
    if let Some(start) = open {
        let close = if &line[start..start + 2] == "{{" {
            "}}"
        } else {
            "%}"
        };
        if let Some(len) = line[start..].find(close) {
            e.message = format!("in `{}`: {}", &line[start..start + len + 2], e.message);
        }
    }
    e
}

fn is_missing_reference(e: &tera::Error) -> bool {
    matches!(
        e.kind(),
        tera::ErrorKind::MissingParent { .. } | tera::ErrorKind::TemplateNotFound(_)
    )
}

/// Turns a Tera error (possibly wrapped) into a located [`TemplateError`].
fn template_error(e: &tera::Error, fallback: Option<&str>) -> TemplateError {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut messages = Vec::new();
    while let Some(err) = cur {
        if let Some(te) = err.downcast_ref::<tera::Error>() {
            match te.kind() {
                tera::ErrorKind::SyntaxError(r) | tera::ErrorKind::RenderingError(r) => {
                    let template = if r.filename().is_empty() {
                        fallback.map(str::to_string)
                    } else {
                        Some(r.filename().to_string())
                    };
                    // One-off strings of profiles get an internal name; they have no file.
                    let template = template.filter(|t| !t.starts_with("__tera_one_off"));
                    return TemplateError {
                        template,
                        pos: Pos {
                            line: r.span().start_line,
                            col: r.span().start_col + 1,
                        },
                        message: tidy(r.message()),
                    };
                }
                tera::ErrorKind::TemplateNotFound(name) => {
                    return TemplateError {
                        template: fallback.map(str::to_string),
                        pos: Pos { line: 1, col: 1 },
                        message: format!("template `{name}` does not exist under templates/"),
                    };
                }
                tera::ErrorKind::MissingParent { current, parent } => {
                    return TemplateError {
                        template: Some(current.clone()),
                        pos: Pos { line: 1, col: 1 },
                        message: format!(
                            "extends `{parent}`, which does not exist under templates/"
                        ),
                    };
                }
                _ => {}
            }
        }
        messages.push(err.to_string());
        cur = err.source();
    }
    TemplateError {
        template: fallback.map(str::to_string),
        pos: Pos { line: 1, col: 1 },
        message: tidy(&messages.join(": ")),
    }
}

/// Tera's messages start with a capital and end with a full stop; ours read after "failed to".
fn tidy(msg: &str) -> String {
    let msg = msg
        .trim()
        .trim_end_matches('.')
        .replace(". Available", "; available");
    let msg = msg.as_str();
    let mut chars = msg.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site_with(files: &[(&str, &str)]) -> (tempfile::TempDir, Templates, Vec<TemplateError>) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let (t, e) = Templates::load(dir.path());
        (dir, t, e)
    }

    #[test]
    fn undefined_variables_are_errors_with_a_line() {
        let (_d, t, errs) = site_with(&[("a/x.conf", "line one\nhello {{ nobody.name }}\n")]);
        assert!(errs.is_empty(), "{errs:?}");
        let err = t.render("a/x.conf", &tera::Context::new()).unwrap_err();
        assert_eq!(err.template.as_deref(), Some("a/x.conf"));
        assert_eq!(err.pos.line, 2);
        assert!(err.message.contains("nobody"), "{}", err.message);
    }

    #[test]
    fn syntax_errors_name_their_own_file() {
        let (_d, t, errs) = site_with(&[("good.tera", "ok"), ("bad.tera", "a\n{% if %}\n")]);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].template.as_deref(), Some("bad.tera"));
        assert_eq!(errs[0].pos.line, 2);
        assert!(t.exists("good.tera"));
    }

    #[test]
    fn command_fields_quote_every_value() {
        let t = Templates::empty();
        let mut ctx = tera::Context::new();
        ctx.insert("who", "x'; touch /tmp/owned; echo '");
        let cmd = t.render_command("echo {{ who }} > /tmp/f", &ctx).unwrap();
        assert_eq!(cmd, "echo 'x'\\''; touch /tmp/owned; echo '\\''' > /tmp/f");
    }

    #[test]
    fn plain_strings_are_not_parsed() {
        let t = Templates::empty();
        assert_eq!(
            t.render_str("/etc/x", &tera::Context::new()).unwrap(),
            "/etc/x"
        );
    }
}
