//! Checks on what a command is about to write into the site: the values people type (a
//! person's name, a login, an email, a desk) and whether the devices an edit touches still
//! render. A command that edits the site renders those devices before it commits and
//! refuses what would break them ([`Error::WouldBreak`]), naming the template, the line and
//! the missing variable. Never prints and never writes.

use std::collections::BTreeMap;

use super::{Env, Error};
use crate::load::{Diagnostic, Diagnostics};
use crate::secrets::Secrets;
use crate::site::Site;

/// Text a person typed for a name or a desk: trimmed, not empty, on one line.
pub fn one_line(what: &str, value: &str) -> Result<String, Error> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Error::BadInput(format!("{what} is empty; give a value")));
    }
    if let Some(c) = v.chars().find(|c| c.is_control()) {
        return Err(Error::BadInput(format!(
            "{what} {v:?} holds a control character ({}); give it on one line",
            c.escape_default()
        )));
    }
    Ok(v.to_string())
}

/// A login name as Debian's `adduser` accepts it: a lowercase letter or `_` first, then
/// lowercase letters, digits, `_` and `-`; at most 32 characters.
pub fn username(u: &str) -> Result<(), Error> {
    let mut chars = u.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-".contains(c));
    if first_ok && rest_ok && u.len() <= 32 {
        return Ok(());
    }
    Err(Error::BadInput(format!(
        "username {u:?} is not a login name: it must start with a lowercase letter (or `_`), hold only lowercase letters, digits, `_` and `-`, and be at most 32 characters (such as `alovelace`)"
    )))
}

/// An email address: one `@`, a local part without spaces, and a domain with a dot.
pub fn email(e: &str) -> Result<(), Error> {
    let bad = || {
        Error::BadInput(format!(
            "email {e:?} is not an email address; expected NAME@DOMAIN such as ada@example.org"
        ))
    };
    let (local, domain) = e.split_once('@').ok_or_else(bad)?;
    let local_ok = !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_graphic() && !"@<>()[]\\,;:\"".contains(c));
    let domain_ok = domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if local_ok && domain_ok {
        Ok(())
    } else {
        Err(bad())
    }
}

/// The render problems of some devices before an edit, so that only what the edit breaks
/// is refused (a device already broken by a hand-written file does not stop an unrelated
/// edit).
#[derive(Debug, Default)]
pub struct Before(BTreeMap<String, Vec<Diagnostic>>);

/// Renders `tags` of `site` (secrets as stand-ins, as `validate` does) and remembers their
/// problems. Tags the site does not declare yet have none.
pub fn before(env: &Env, site: &Site, tags: &[&str]) -> Before {
    Before(
        tags.iter()
            .filter(|t| site.device(t).is_some())
            .map(|t| (t.to_string(), problems(env, site, t)))
            .collect(),
    )
}

/// Renders `tags` of `site` as it stands after an edit; fails with every problem the
/// edit brought (template, line and what is missing), naming the devices.
pub fn still_render(env: &Env, site: &Site, tags: &[&str], before: &Before) -> Result<(), Error> {
    let mut diags = Diagnostics::default();
    let mut broken = Vec::new();
    for tag in tags {
        let old = before.0.get(*tag);
        let new: Vec<Diagnostic> = problems(env, site, tag)
            .into_iter()
            .filter(|d| !old.is_some_and(|o| o.contains(d)))
            .collect();
        if !new.is_empty() {
            broken.push(tag.to_string());
        }
        for d in new {
            diags.push(d);
        }
    }
    if diags.is_empty() {
        Ok(())
    } else {
        Err(Error::WouldBreak {
            devices: broken,
            problems: diags.sorted(),
        })
    }
}

fn problems(env: &Env, site: &Site, tag: &str) -> Vec<Diagnostic> {
    let stand_ins = Secrets::placeholders(site);
    match crate::resolve::resolve_with(site, tag, &env.vars, &stand_ins) {
        Ok(_) => Vec::new(),
        Err(d) => d.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_on_one_line() {
        assert_eq!(one_line("name", "  Ada Lovelace ").unwrap(), "Ada Lovelace");
        assert!(one_line("name", "   ").is_err());
        assert!(one_line("name", "Ada\nLovelace").is_err());
    }

    #[test]
    fn logins_and_emails() {
        for ok in ["alovelace", "ldubois-ngata", "_svc", "a1"] {
            assert!(username(ok).is_ok(), "{ok}");
        }
        for bad in ["bad user", "Ada", "1ada", "", "-x", &"a".repeat(33)] {
            assert!(username(bad).is_err(), "{bad}");
        }
        for ok in ["ada@example.org", "a.b+c@mail.example.co.uk"] {
            assert!(email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "not-an-email",
            "@example.org",
            "ada@",
            "ada@localhost",
            "a b@x.org",
            "ada@-x.org",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }
}
