//! `assign`: record who a device is for and at which desk, in the tool-owned
//! `inventory/assignments.yaml` (or a team store's assignments; checked by loading the
//! site) and the journal; the assignment is put back when the journal cannot be written.
//! Also owns editing assignments for deliver and return. Never prints.

use serde_yaml::Mapping;

use super::records::Before;
use super::undo::UndoStack;
use super::{Env, Error, guard, hold, known_device};
use crate::model::{Person, Stage};
use crate::store::{Entry, Purpose, Store};

/// Who gets the device, and where. Every field left out keeps what the device has: with
/// only `email`, just the email of its assignee changes.
#[derive(Debug, Clone, Default)]
pub struct AssignSettings {
    pub device: String,
    /// The person's full name (default: its assignee's).
    pub to: Option<String>,
    /// Default: the device's desk.
    pub desk: Option<String>,
    /// Their login name (default: the one they had, else made from their name).
    pub username: Option<String>,
    pub email: Option<String>,
    /// The language of their handoff sheet (default: the one they had).
    pub language: Option<String>,
}

/// What was recorded.
#[derive(Debug, Clone)]
pub struct Assigned {
    pub device: String,
    pub person: Person,
    pub desk: String,
    /// The journal's wording ("assigned to Ada Lovelace (alovelace), desk 3.14").
    pub message: String,
    /// It was configured for its assignment before this one: configure it again before it
    /// is delivered (`deliver` refuses until then).
    pub configure_again: bool,
}

/// A login made from a person's name: the first letter of the first name and the whole
/// last name, lowercase ASCII, accents dropped, hyphens kept ("Ada Lovelace" ->
/// "alovelace", "Léa Dubois-Ngata" -> "ldubois-ngata"). `None` when the name has no
/// letters to make one of (a name in a non-Latin script: give `--username`).
pub fn default_username(name: &str) -> Option<String> {
    let words: Vec<String> = ascii_fold(name)
        .split_whitespace()
        .map(|w| {
            let w: String = w
                .to_ascii_lowercase()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            w.trim_matches('-').to_string()
        })
        .filter(|w| w.chars().any(|c| c.is_ascii_lowercase()))
        .collect();
    let login = match words.as_slice() {
        [] => return None,
        [one] => one.clone(),
        [first, .., last] => format!("{}{last}", &first[..1]),
    };
    let login: String = login
        .trim_start_matches(|c: char| !c.is_ascii_lowercase())
        .chars()
        .take(32)
        .collect();
    Some(login.trim_end_matches('-').to_string())
}

/// `name` in ASCII letters where it has Latin ones: accents dropped (NFD, then the
/// combining marks left out) and the letters that do not decompose spelled out.
fn ascii_fold(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    use unicode_normalization::char::is_combining_mark;
    let mut out = String::new();
    for c in name.nfd().filter(|c| !is_combining_mark(*c)) {
        match c {
            'ß' => out.push_str("ss"),
            'æ' | 'Æ' => out.push_str("ae"),
            'œ' | 'Œ' => out.push_str("oe"),
            'ø' | 'Ø' => out.push('o'),
            'ł' | 'Ł' => out.push('l'),
            'đ' | 'Đ' | 'ð' | 'Ð' => out.push('d'),
            'þ' | 'Þ' => out.push_str("th"),
            'ı' => out.push('i'),
            '\u{2010}' | '\u{2011}' | '\u{2013}' => out.push('-'),
            c => out.push(c),
        }
    }
    out
}

/// The subject of an `assigned` journal row after which the device is to be configured
/// again before `deliver`.
pub(super) const CONFIGURE_AGAIN: &str = "(configure again)";

/// What a configure of `tag` in `site` would write and check (secrets as stand-ins), as
/// text to compare; `None` when it does not render.
fn rendered(env: &Env, site: &crate::site::Site, tag: &str) -> Option<String> {
    let stand_ins = crate::secrets::Secrets::placeholders(site);
    let r = crate::resolve::resolve_with(site, tag, &env.vars, &stand_ins).ok()?;
    serde_json::to_string(&(&r.resources, &r.verify)).ok()
}

/// The assignment override of `person` at `desk`.
pub(super) fn assignment(person: &Person, desk: &str) -> Result<Mapping, Error> {
    let mut m = Mapping::new();
    m.insert("assignee".into(), serde_yaml::to_value(person)?);
    m.insert("desk".into(), desk.into());
    Ok(m)
}

/// Writes `tag`'s assignment override (or removes it when `assignment` is None) where the
/// store keeps assignments (see [`super::records`]), checking the site still loads. Returns
/// what it was, to put back if a later step fails, and whether anything changed.
pub(super) fn set_assignment(
    env: &Env,
    store: &Store,
    tag: &str,
    assignment: Option<Mapping>,
) -> Result<(Before, bool), Error> {
    super::records::set_assignment(env, store, tag, assignment)
}

/// Registers putting the assignment back to `before`.
pub(super) fn undo_assignment<'a>(
    undo: &mut UndoStack<'a>,
    env: &'a Env,
    store: &'a Store,
    before: Before,
) {
    undo.push(move || super::records::restore_assignment(env, store, before));
}

pub fn assign(env: &Env, s: &AssignSettings) -> Result<Assigned, Error> {
    let to =
        s.to.as_deref()
            .map(|n| guard::one_line("--to", n))
            .transpose()?;
    let desk = s
        .desk
        .as_deref()
        .map(|d| guard::one_line("--desk", d))
        .transpose()?;
    if let Some(u) = &s.username {
        guard::username(u)?;
    }
    if let Some(e) = &s.email {
        guard::email(e)?;
    }
    if let Some(l) = &s.language
        && let Err(e) = crate::model::language::check(l)
    {
        return Err(Error::BadInput(format!("--language: {e}")));
    }
    if to.is_none()
        && desk.is_none()
        && s.username.is_none()
        && s.email.is_none()
        && s.language.is_none()
    {
        return Err(Error::BadInput(
            "nothing to assign: give --to PERSON and --desk DESK, or one of --email, --username, --desk, --language to change just that".into(),
        ));
    }
    let site = env.load_site()?;
    let d = known_device(&site, &s.device)?;
    let store = env.open_store()?;
    let _held = hold(env, &store, &d.tag, Purpose::Assign)?;
    let stage = store.stage(&d.tag)?.map(|r| r.stage);
    if stage == Some(Stage::Retired) {
        return Err(Error::Refused(format!(
            "{} is retired; a retired device is not assigned",
            d.tag
        )));
    }
    // At someone's desk, a device changes hands by `return` first.
    if stage == Some(Stage::Delivered)
        && let (Some(new), Some(old)) = (&to, &d.assignee)
        && *new != old.name
    {
        return Err(Error::Refused(format!(
            "{} is delivered to {}; to give it to {new}, record its return first (deskready return {}), then assign it",
            d.tag, old.name, d.tag
        )));
    }
    let Some(name) = to
        .clone()
        .or_else(|| d.assignee.as_ref().map(|p| p.name.clone()))
    else {
        return Err(Error::BadInput(format!(
            "{} has no assignee yet; give --to PERSON (and --desk DESK)",
            d.tag
        )));
    };
    let Some(desk) = desk.clone().or_else(|| d.location.desk.clone()) else {
        return Err(Error::BadInput(format!(
            "{} has no desk yet; give --desk DESK",
            d.tag
        )));
    };
    // The same person keeps their login and email; a new person gets a login made up.
    let same = d.assignee.as_ref().filter(|p| p.name == name);
    let username = match s
        .username
        .clone()
        .or_else(|| same.and_then(|p| p.username.clone()))
    {
        Some(u) => u,
        None => default_username(&name).ok_or_else(|| {
            Error::BadInput(format!(
                "cannot make a login from {name:?}; give one with --username"
            ))
        })?,
    };
    let person = Person {
        name: name.clone(),
        username: Some(username.clone()),
        email: s
            .email
            .clone()
            .or_else(|| same.and_then(|p| p.email.clone())),
        language: s
            .language
            .clone()
            .or_else(|| same.and_then(|p| p.language.clone())),
    };
    // Given what it already has, nothing is written and nothing is journaled.
    if d.assignee.as_ref() == Some(&person) && d.location.desk.as_deref() == Some(desk.as_str()) {
        return Ok(Assigned {
            device: d.tag.clone(),
            message: format!(
                "already assigned to {name} ({username}), desk {desk}; nothing changed"
            ),
            person,
            desk,
            configure_again: false,
        });
    }
    let checked = guard::before(env, &site, &[&d.tag]);
    let was = rendered(env, &site, &d.tag);
    let mut undo = UndoStack::new();
    let (before, _) = set_assignment(env, &store, &d.tag, Some(assignment(&person, &desk)?))?;
    undo_assignment(&mut undo, env, &store, before);
    let after = env.load_site()?;
    guard::still_render(env, &after, &[&d.tag], &checked)?;
    // Configured for the assignment it had, and what it would be configured with now
    // differs (a login, an owner card): configured again before it is delivered.
    let configure_again = matches!(stage, Some(Stage::Configured | Stage::Delivered))
        && rendered(env, &after, &d.tag) != was;
    let message = if to.is_some() {
        format!("assigned to {name} ({username}), desk {desk}")
    } else {
        let mut changed = Vec::new();
        if let Some(e) = &s.email {
            changed.push(format!("email {e}"));
        }
        if let Some(u) = &s.username {
            changed.push(format!("username {u}"));
        }
        if let Some(k) = &s.desk {
            changed.push(format!("desk {k}"));
        }
        if let Some(l) = &s.language {
            changed.push(format!("language {l}"));
        }
        format!(
            "assignment of {name} ({username}) updated: {}",
            changed.join(", ")
        )
    };
    let mut entry = Entry::new(&d.tag, &env.operator, "assigned").message(&message);
    if configure_again {
        entry = entry.subject(CONFIGURE_AGAIN);
    }
    store.record(&[entry])?;
    undo.commit();
    Ok(Assigned {
        device: d.tag.clone(),
        person,
        desk,
        configure_again,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::default_username;

    #[test]
    fn logins_from_names() {
        for (name, login) in [
            ("Ada Lovelace", Some("alovelace")),
            ("Léa Dubois-Ngata", Some("ldubois-ngata")),
            ("Émile Zola", Some("ezola")),
            ("Jürgen Großmann", Some("jgrossmann")),
            ("Søren Kierkegaard", Some("skierkegaard")),
            ("Cher", Some("cher")),
            ("Zoë", Some("zoe")),
            ("王伟", None),
        ] {
            assert_eq!(default_username(name).as_deref(), login, "{name}");
        }
    }
}
