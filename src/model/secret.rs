//! Secrets as a site declares them: a name and where its value comes from.
//!
//! Owns only the declaration (by reference: an environment variable, a file, a command);
//! never holds a value. Fetching values, and hiding them again, is `crate::secrets`.

use std::path::PathBuf;
use std::time::Duration;

use super::Origin;

/// How long a secret's command may run when its declaration sets no `timeout`.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a secret's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretSource {
    /// The controller's environment variable of this name.
    Env(String),
    /// A file on the controller, readable by its owner only.
    File(PathBuf),
    /// A program and its arguments (a password manager's CLI), run without a shell; the
    /// value is its standard output, less one trailing newline.
    Command {
        argv: Vec<String>,
        #[serde(skip)]
        timeout: Duration,
    },
}

impl std::fmt::Display for SecretSource {
    /// Names the source for messages ("environment variable WIFI_PSK"); never a value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Env(var) => write!(f, "environment variable {var}"),
            SecretSource::File(path) => write!(f, "file {}", path.display()),
            SecretSource::Command { argv, .. } => write!(f, "command `{}`", argv.join(" ")),
        }
    }
}

/// One entry of an inventory's `secrets:` section.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Secret {
    pub name: String,
    pub source: SecretSource,
    #[serde(skip)]
    pub origin: Origin,
}

/// A secret name is used as `secret.NAME` in templates: a letter or `_`, then letters,
/// digits and `_`.
pub fn valid_secret_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The secrets a piece of template text refers to, as `secret.NAME`, `secret["NAME"]` or
/// `secret['NAME']` inside `{{ }}` or `{% %}`, with the byte offset of each reference.
pub fn secret_references(text: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut rest = 0;
    while let Some(open) = find_open(&text[rest..]) {
        let start = rest + open + 2;
        let close = if text[rest + open..].starts_with("{{") {
            "}}"
        } else {
            "%}"
        };
        let end = text[start..].find(close).map_or(text.len(), |i| start + i);
        scan_expression(&text[start..end], start, &mut out);
        rest = (end + 2).min(text.len());
    }
    out
}

fn find_open(text: &str) -> Option<usize> {
    match (text.find("{{"), text.find("{%")) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn scan_expression(expr: &str, base: usize, out: &mut Vec<(String, usize)>) {
    let bytes = expr.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut from = 0;
    while let Some(i) = expr[from..].find("secret") {
        let at = from + i;
        from = at + "secret".len();
        if at > 0 && (ident(bytes[at - 1]) || bytes[at - 1] == b'.') {
            continue;
        }
        let after = &expr[from..];
        let name = if let Some(rest) = after.strip_prefix('.') {
            let n = rest.bytes().take_while(|b| ident(*b)).count();
            &rest[..n]
        } else if let Some(rest) = after.strip_prefix("[\"").or(after.strip_prefix("['")) {
            rest.find(['"', '\'']).map_or("", |n| &rest[..n])
        } else {
            continue;
        };
        if !name.is_empty() {
            out.push((name.to_string(), base + at));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<String> {
        secret_references(text)
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    #[test]
    fn references_are_found_inside_expressions_only() {
        assert_eq!(
            names("psk={{ secret.wifi_psk }} key={{ secret['vpn'] | upper }} secret.x"),
            ["wifi_psk", "vpn"]
        );
        assert_eq!(
            names("{% if secret.a and secret[\"b\"] %}x{% endif %}"),
            ["a", "b"]
        );
        assert!(names("{{ mysecret.x }} {{ vars.secret.y }} {{ secret }}").is_empty());
        let text = "ab {{ secret.k }}";
        assert_eq!(secret_references(text), [("k".to_string(), 6)]);
    }

    #[test]
    fn names_are_identifiers() {
        assert!(valid_secret_name("wifi_psk"));
        assert!(valid_secret_name("_x1"));
        assert!(!valid_secret_name("1x"));
        assert!(!valid_secret_name("wifi-psk"));
        assert!(!valid_secret_name(""));
    }
}
