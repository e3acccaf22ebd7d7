//! Located errors in site files: file, line, column, key path, and what is allowed.
//!
//! Loading collects every problem it finds into [`Diagnostics`] instead of stopping at the
//! first, so `deskready validate` reports all of them in one run.

use std::fmt;

use super::locate::Pos;

/// One problem in one site file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// The file, relative to the site directory (`inventory/devices.yaml`).
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// The key path inside the file (`devices.LAP-0001.profile`); empty for the whole file.
    pub path: String,
    /// What is wrong, and what is allowed.
    pub message: String,
}

impl Diagnostic {
    pub fn new(
        file: impl Into<String>,
        pos: Pos,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            file: file.into(),
            line: pos.line,
            column: pos.col,
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            // About a whole file or directory (one that is missing): no position to give.
            write!(f, "{}: ", self.file)?;
        } else {
            write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// How the problem of a YAML file that could not be read begins.
pub const MALFORMED: &str = "malformed YAML: ";

/// Every problem found while loading a site; the error type of [`super::load_site`].
#[derive(Debug, Clone, Default, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        if !self.0.contains(&d) {
            self.0.push(d);
        }
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }
    /// Sorted for stable output: files that could not be read at all first (what they
    /// declare is missing from everything else, so many of the rest may follow from them),
    /// then by file and line. An unknown device, when an inventory file could not be read,
    /// says that file may declare it.
    pub fn sorted(mut self) -> Self {
        let unread = |d: &Diagnostic| d.message.starts_with(MALFORMED);
        let broken: Vec<String> = self
            .0
            .iter()
            .filter(|d| unread(d) && d.file.starts_with("inventory/"))
            .map(|d| d.file.clone())
            .collect();
        if !broken.is_empty() {
            let note = format!(
                " ({} could not be read: it may declare it)",
                broken.join(", ")
            );
            for d in &mut self.0 {
                if d.message.starts_with("unknown device `") {
                    d.message.push_str(&note);
                }
            }
        }
        self.0.sort_by(|a, b| {
            (!unread(a), &a.file, a.line, a.column).cmp(&(!unread(b), &b.file, b.line, b.column))
        });
        self
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// The closest of `candidates` to `word`, when it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    // Case does not count (`lap-0008` is `LAP-0008`).
    let word = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&word, &c.to_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// "unknown X `w`; did you mean `y`? allowed: a, b, c"
pub fn unknown(what: &str, word: &str, allowed: &[&str]) -> String {
    let mut msg = format!("unknown {what} `{word}`");
    let suggestion = did_you_mean(word, allowed.iter().copied());
    if let Some(s) = suggestion {
        msg.push_str(&format!("; did you mean `{s}`?"));
    } else {
        msg.push(';');
    }
    if allowed.is_empty() {
        msg.push_str(&format!(" no {what}s are defined"));
    } else if allowed.len() > LISTED {
        // A long list (every asset tag of a fleet) helps nobody: the nearest few do.
        let mut ranked: Vec<(usize, &str)> = allowed
            .iter()
            .filter(|c| Some(**c) != suggestion)
            .map(|c| (strsim::levenshtein(word, c), *c))
            .collect();
        ranked.sort();
        let closest: Vec<&str> = suggestion
            .into_iter()
            .chain(ranked.iter().map(|(_, c)| *c))
            .take(CLOSEST)
            .collect();
        msg.push_str(&format!(
            " allowed (the {CLOSEST} closest of {}): {}, ...",
            allowed.len(),
            closest.join(", ")
        ));
    } else {
        msg.push_str(&format!(" allowed: {}", allowed.join(", ")));
    }
    msg
}

/// Up to this many allowed values are listed in full; beyond, the closest few.
const LISTED: usize = 20;
const CLOSEST: usize = 8;

/// Rewrites a serde error message into deskready's words: unknown keys and variants get
/// "did you mean" and the allowed list, Rust type names become plain words.
pub fn rewrite_serde_message(raw: &str) -> String {
    // serde_yaml appends " at line L column C"; the diagnostic carries the position itself.
    let msg = match raw.find(" at line ") {
        Some(i) => &raw[..i],
        None => raw,
    };
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        return rewrite_unknown("key", rest);
    }
    if let Some(rest) = msg.strip_prefix("unknown variant `") {
        return rewrite_unknown("value", rest);
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let field = rest.trim_end_matches('`');
        return format!("missing required key `{field}`");
    }
    let mut out = msg.to_string();
    for (rust, plain) in [
        ("expected u16", "expected a whole number from 0 to 65535"),
        ("expected u32", "expected a whole number"),
        ("expected u64", "expected a whole number"),
        ("expected a sequence", "expected a list"),
        (
            "expected a YAML mapping",
            "expected a mapping of keys to values",
        ),
        ("expected a map", "expected a mapping of keys to values"),
        ("expected a string", "expected text"),
        ("expected a boolean", "expected true or false"),
        ("invalid type: map", "invalid type: a mapping"),
        ("invalid type: sequence", "invalid type: a list"),
        ("invalid type: unit value", "invalid type: an empty value"),
    ] {
        out = out.replace(rust, plain);
    }
    out
}

/// `profle`, expected one of `a`, `b`  ->  unknown key `profle`; did you mean ...
fn rewrite_unknown(what: &str, rest: &str) -> String {
    let (word, tail) = rest.split_once('`').unwrap_or((rest, ""));
    let allowed: Vec<&str> = tail
        .split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s)
        .collect();
    unknown(what, word, &allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_gets_a_suggestion_and_the_allowed_list() {
        let m = rewrite_serde_message(
            "unknown field `profle`, expected one of `kind`, `profile`, `model` at line 3 column 5",
        );
        assert_eq!(
            m,
            "unknown key `profle`; did you mean `profile`? allowed: kind, profile, model"
        );
    }

    #[test]
    fn far_words_get_no_suggestion() {
        let m = rewrite_serde_message("unknown variant `zzz`, expected `laptop` or `printer`");
        assert_eq!(m, "unknown value `zzz`; allowed: laptop, printer");
    }

    #[test]
    fn long_lists_show_the_closest_few() {
        let tags: Vec<String> = (1..=38).map(|n| format!("LAP-{n:04}")).collect();
        let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
        let m = unknown("device", "LAP-0390", &tags);
        assert!(
            m.starts_with("unknown device `LAP-0390`; did you mean `LAP-00"),
            "{m}"
        );
        assert!(m.contains(" allowed (the 8 closest of 38): LAP-00"), "{m}");
        assert_eq!(m.matches("LAP-").count(), 1 + 1 + 8, "{m}");
    }

    #[test]
    fn types_are_named_plainly() {
        let m = rewrite_serde_message("invalid type: string \"x\", expected u16");
        assert_eq!(
            m,
            "invalid type: string \"x\", expected a whole number from 0 to 65535"
        );
    }
}
