//! Secret values of one run: fetched from their sources when a command needs rendered
//! content, offered to templates as `secret.NAME`, and hidden again by a [`Redactor`] in
//! every text that came from a device or a command before it is stored or shown.
//!
//! Owns fetching (environment, owner-only files, commands run without a shell under a
//! timeout) and redaction. It must never put a value into an error, a `Debug` output or
//! anything serialised: errors name the secret and its source only. Declarations are
//! `model::Secret`, loaded by `load`; which rendered text is sensitive is decided in
//! `resolve`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::load::diag::{Diagnostic, Diagnostics};
use crate::model::{FileSource, Origin, Secret, SecretSource, secret_references};
use crate::site::Site;

/// Secret files larger than this are refused (a secret is a password or a key, not data).
const MAX_FILE: u64 = 1024 * 1024;

/// What a secret's value is replaced with wherever it would be shown: `[secret NAME]`.
pub fn marker(name: &str) -> String {
    format!("[secret {name}]")
}

/// The values of a run's secrets, by name. `Debug` shows the names only.
#[derive(Clone, Default)]
pub struct Secrets {
    values: BTreeMap<String, String>,
    /// The values are markers, not fetched (validate, render without --show-secrets).
    placeholders: bool,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("names", &self.values.keys().collect::<Vec<_>>())
            .field("placeholders", &self.placeholders)
            .finish()
    }
}

impl Secrets {
    /// No secrets: templates that use one fail to render, naming it.
    pub fn none() -> Secrets {
        Secrets::default()
    }

    /// Every declared secret stands for its marker `[secret NAME]`; nothing is fetched.
    /// For checking that templates render (validate) and for showing where secrets go.
    pub fn placeholders(site: &Site) -> Secrets {
        Secrets {
            values: site
                .secrets
                .keys()
                .map(|n| (n.clone(), marker(n)))
                .collect(),
            placeholders: true,
        }
    }

    /// Fetches the secrets named in `names` (each must be declared), or returns every
    /// secret that could not be fetched.
    pub fn fetch<'a>(
        site: &Site,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Secrets, SecretErrors> {
        let mut values = BTreeMap::new();
        let mut errors = Vec::new();
        for name in names {
            let Some(secret) = site.secrets.get(name) else {
                continue; // undeclared references were refused when the site loaded
            };
            match fetch_one(&secret.source) {
                Ok(v) => {
                    values.insert(name.to_string(), v);
                }
                Err(problem) => errors.push(SecretError::new(secret, problem)),
            }
        }
        if errors.is_empty() {
            Ok(Secrets {
                values,
                placeholders: false,
            })
        } else {
            Err(SecretErrors(errors))
        }
    }

    /// Fetches the secrets that the devices `tags` use ([`needed`]).
    pub fn fetch_for(site: &Site, tags: &[&str]) -> Result<Secrets, SecretErrors> {
        let names = needed(site, tags);
        Secrets::fetch(site, names.iter().map(String::as_str))
    }

    /// A secret given directly (tests, and callers that got the value elsewhere).
    pub fn with(mut self, name: &str, value: &str) -> Secrets {
        self.values.insert(name.to_string(), value.to_string());
        self
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The values are markers rather than fetched values.
    pub fn are_placeholders(&self) -> bool {
        self.placeholders
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// The object templates see as `secret`.
    pub(crate) fn context_value(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.values
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
        )
    }

    /// The same names with other values: text rendered with both that differs depends
    /// on a secret.
    pub(crate) fn alternate_value(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.values
                .keys()
                .map(|k| {
                    let alt = format!("[other value of secret {k}]");
                    (k.clone(), serde_json::Value::String(alt))
                })
                .collect(),
        )
    }

    /// Whether `text` holds one of the values as is.
    pub(crate) fn appears_in(&self, text: &str) -> bool {
        self.values
            .values()
            .any(|v| !v.is_empty() && text.contains(v.as_str()))
    }

    /// Hides every value of these secrets (nothing, for placeholders).
    pub fn redactor(&self) -> Redactor {
        if self.placeholders {
            return Redactor::default();
        }
        Redactor::new(self.values.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

/// The secrets the devices `tags` refer to: `secret.NAME` in a profile of their chains
/// (any text field of a resource or check), or in a template one of those resources
/// uses, or in a template such a template names (include, import, extends).
pub fn needed(site: &Site, tags: &[&str]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut profiles = BTreeSet::new();
    let mut templates = Vec::new();
    for tag in tags {
        let Some(profile) = site.device(tag).and_then(|d| d.profile.as_deref()) else {
            continue;
        };
        for p in site.profile_chain(profile) {
            if !profiles.insert(p.name.clone()) {
                continue;
            }
            for text in json_strings(&serde_json::to_value(&p.resources).unwrap_or_default())
                .into_iter()
                .chain(json_strings(
                    &serde_json::to_value(&p.verify).unwrap_or_default(),
                ))
            {
                names.extend(secret_references(&text).into_iter().map(|(n, _)| n));
            }
            for r in &p.resources {
                if let crate::model::ResourceKind::File {
                    source: FileSource::Template(t),
                    ..
                } = &r.kind
                {
                    templates.push(t.clone());
                }
            }
        }
    }
    let all: Vec<&str> = site.templates.names().collect();
    let mut seen = BTreeSet::new();
    while let Some(t) = templates.pop() {
        if !seen.insert(t.clone()) {
            continue;
        }
        let Some(text) = site.templates.source(&t) else {
            continue;
        };
        names.extend(secret_references(text).into_iter().map(|(n, _)| n));
        for other in &all {
            if text.contains(&format!("\"{other}\"")) || text.contains(&format!("'{other}'")) {
                templates.push((*other).to_string());
            }
        }
    }
    names.retain(|n| site.secrets.contains_key(n));
    names
}

fn json_strings(v: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::String(s) => out.push(s.clone()),
            serde_json::Value::Array(a) => stack.extend(a),
            serde_json::Value::Object(o) => stack.extend(o.values()),
            _ => {}
        }
    }
    out
}

/// Why a secret could not be fetched; never holds its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretProblem {
    #[error("it is not set")]
    EnvMissing,
    #[error("its value is not UTF-8 text")]
    NotText,
    #[error("its value is empty")]
    Empty,
    #[error("cannot read it: {0}")]
    Unreadable(String),
    #[error(
        "it can be read or changed by group or others (mode {mode:04o}); a secret file must be its owner's only: chmod 600 {path}"
    )]
    Exposed { mode: u32, path: String },
    #[error("it is larger than 1 MiB; a secret file holds one password or key")]
    TooLarge,
    #[error("cannot start it: {0}")]
    Spawn(String),
    #[error("it did not finish within {0} s (raise `timeout:` if it waits for a person)")]
    TimedOut(u64),
    #[error("it failed with exit status {status}{}", stderr_tail(.stderr))]
    Failed { status: i32, stderr: String },
}

fn stderr_tail(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

/// A secret that could not be fetched: which, where it is declared, from what, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{}:{}: {}: cannot get secret `{name}` from {from}: {problem}",
    .origin.file, .origin.line, .origin.column, .origin.path)]
pub struct SecretError {
    pub name: String,
    pub from: SecretSource,
    pub origin: Origin,
    pub problem: SecretProblem,
}

impl SecretError {
    fn new(secret: &Secret, problem: SecretProblem) -> SecretError {
        SecretError {
            name: secret.name.clone(),
            from: secret.source.clone(),
            origin: secret.origin.clone(),
            problem,
        }
    }

    /// The same, as a located problem of the site.
    pub fn to_diagnostic(&self) -> Diagnostic {
        Diagnostic {
            file: self.origin.file.clone(),
            line: self.origin.line,
            column: self.origin.column,
            path: self.origin.path.clone(),
            message: format!(
                "cannot get secret `{}` from {}: {}",
                self.name, self.from, self.problem
            ),
        }
    }
}

/// Every secret of a run that could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SecretErrors(pub Vec<SecretError>);

impl std::fmt::Display for SecretErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl From<SecretErrors> for Diagnostics {
    fn from(e: SecretErrors) -> Diagnostics {
        Diagnostics(e.0.iter().map(SecretError::to_diagnostic).collect())
    }
}

fn fetch_one(source: &SecretSource) -> Result<String, SecretProblem> {
    let value = match source {
        SecretSource::Env(var) => match std::env::var_os(var) {
            None => return Err(SecretProblem::EnvMissing),
            Some(v) => v.into_string().map_err(|_| SecretProblem::NotText)?,
        },
        SecretSource::File(path) => {
            let meta =
                std::fs::metadata(path).map_err(|e| SecretProblem::Unreadable(e.to_string()))?;
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o077 != 0 {
                return Err(SecretProblem::Exposed {
                    mode,
                    path: crate::shell::quote(&path.display().to_string()),
                });
            }
            if meta.len() > MAX_FILE {
                return Err(SecretProblem::TooLarge);
            }
            let bytes =
                std::fs::read(path).map_err(|e| SecretProblem::Unreadable(e.to_string()))?;
            trim_newline(String::from_utf8(bytes).map_err(|_| SecretProblem::NotText)?)
        }
        SecretSource::Command { argv, timeout } => run(argv, *timeout)?,
    };
    if value.is_empty() {
        return Err(SecretProblem::Empty);
    }
    Ok(value)
}

/// One trailing newline (`\n` or `\r\n`) is the end of the line, not part of the secret.
fn trim_newline(mut s: String) -> String {
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    s
}

/// Runs `argv` without a shell (stdin closed), killing it after `timeout`; its stdout.
fn run(argv: &[String], timeout: Duration) -> Result<String, SecretProblem> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| SecretProblem::Spawn("no program given".into()))?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| SecretProblem::Spawn(e.to_string()))?;
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                // The readers end when the pipes close; a grandchild holding them open
                // is not waited for.
                return Err(SecretProblem::TimedOut(timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(SecretProblem::Spawn(e.to_string())),
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if !status.success() {
        use std::os::unix::process::ExitStatusExt;
        let code = status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        // The first line of stderr says why ("ldap is not in the password store");
        // stdout is never shown.
        let first = String::from_utf8_lossy(&stderr)
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .chars()
            .take(200)
            .collect();
        return Err(SecretProblem::Failed {
            status: code,
            stderr: first,
        });
    }
    Ok(trim_newline(
        String::from_utf8(stdout).map_err(|_| SecretProblem::NotText)?,
    ))
}

/// Replaces every secret value of a run with `[secret NAME]` in text that came from a
/// device or a command, ignoring ASCII case (so `| upper` output is caught too). Other
/// transformations (base64, hashes, parts of a value) cannot be recognised: commands
/// should not print their secrets. Cheap to clone; `Debug` shows names only.
#[derive(Clone, Default)]
pub struct Redactor {
    /// (text to find in ASCII lower case, replacement), longest first.
    needles: Arc<Vec<(String, String)>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("needles", &self.needles.len())
            .finish()
    }
}

/// Lines of a multi-line secret at least this long are hidden on their own too (a key
/// file's lines in a command's partial output).
const MIN_LINE: usize = 8;

impl Redactor {
    /// A redactor for `(name, value)` pairs. Besides each value as is, it hides its
    /// shell-quoted form and, for a value of several lines, each line of at least 8
    /// characters.
    pub fn new<'a>(secrets: impl IntoIterator<Item = (&'a str, &'a str)>) -> Redactor {
        let mut needles: Vec<(String, String)> = Vec::new();
        for (name, value) in secrets {
            if value.is_empty() {
                continue;
            }
            let m = marker(name);
            needles.push((value.to_ascii_lowercase(), m.clone()));
            let quoted = crate::shell::quote(value);
            if !quoted.contains(value) {
                needles.push((quoted.to_ascii_lowercase(), m.clone()));
            }
            if value.contains('\n') {
                for line in value.lines().map(str::trim) {
                    if line.chars().count() >= MIN_LINE {
                        needles.push((line.to_ascii_lowercase(), m.clone()));
                    }
                }
            }
        }
        needles.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        needles.dedup_by(|a, b| a.0 == b.0);
        Redactor {
            needles: Arc::new(needles),
        }
    }

    /// Hides nothing.
    pub fn none() -> Redactor {
        Redactor::default()
    }

    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// `text` with every secret replaced by its marker.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (needle, m) in self.needles.iter() {
            // ASCII lower-casing keeps every byte where it was, so positions found in
            // `lower` are character boundaries of `out` too.
            let lower = out.to_ascii_lowercase();
            if !lower.contains(needle.as_str()) {
                continue;
            }
            let mut next = String::with_capacity(out.len());
            let mut last = 0;
            for (at, _) in lower.match_indices(needle.as_str()) {
                next.push_str(&out[last..at]);
                next.push_str(m);
                last = at + needle.len();
            }
            next.push_str(&out[last..]);
            out = next;
        }
        out
    }

    /// Bytes from a device (decoded as UTF-8, lossily), redacted.
    pub fn redact_bytes(&self, bytes: &[u8]) -> String {
        self.redact(&String::from_utf8_lossy(bytes))
    }

    /// Whether `text` holds a secret.
    pub fn reveals(&self, text: &str) -> bool {
        let lower = text.to_ascii_lowercase();
        self.needles.iter().any(|(n, _)| lower.contains(n.as_str()))
    }

    /// Redacts every string (and object key) of a JSON value in place.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        if self.is_empty() {
            return;
        }
        match value {
            serde_json::Value::String(s) if self.reveals(s) => *s = self.redact(s),
            serde_json::Value::Array(a) => a.iter_mut().for_each(|v| self.redact_json(v)),
            serde_json::Value::Object(o) => {
                let old = std::mem::take(o);
                for (k, mut v) in old {
                    self.redact_json(&mut v);
                    o.insert(self.redact(&k), v);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_markers_longest_first() {
        let r = Redactor::new([("short", "hunter2"), ("long", "hunter2-and-more")]);
        assert_eq!(
            r.redact("a hunter2-and-more b hunter2 c"),
            "a [secret long] b [secret short] c"
        );
        assert!(r.reveals("xhunter2x"));
        assert!(!r.reveals("hunter"));
        assert_eq!(r.redact("nothing here"), "nothing here");
        // Case is ignored (a value shown through `| upper`); other text keeps its own.
        assert_eq!(
            r.redact("ÄÖ HUNTER2 é Hunter2"),
            "ÄÖ [secret short] é [secret short]"
        );
    }

    #[test]
    fn quoted_forms_and_lines_of_long_values_are_hidden() {
        let r = Redactor::new([("q", "it's"), ("key", "-----BEGIN-----\nAAAABBBBCCCC\nxy")]);
        assert_eq!(r.redact("echo 'it'\\''s'"), "echo [secret q]");
        assert_eq!(
            r.redact("partial: AAAABBBBCCCC end"),
            "partial: [secret key] end"
        );
        // Short lines are not hidden alone (they would hide ordinary text).
        assert_eq!(r.redact("xy"), "xy");
    }

    #[test]
    fn json_strings_and_keys_are_redacted() {
        let r = Redactor::new([("psk", "s3cr3t-psk")]);
        let mut v = serde_json::json!({"out": ["ok s3cr3t-psk"], "s3cr3t-psk": 1, "n": 2});
        r.redact_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"out": ["ok [secret psk]"], "[secret psk]": 1, "n": 2})
        );
    }

    #[test]
    fn empty_values_and_debug_reveal_nothing() {
        let r = Redactor::new([("e", "")]);
        assert!(r.is_empty());
        let s = Secrets::none().with("psk", "s3cr3t-psk");
        assert!(!format!("{s:?}").contains("s3cr3t"));
        assert!(!format!("{:?}", s.redactor()).contains("s3cr3t"));
    }

    fn spec(source: SecretSource) -> Secret {
        Secret {
            name: "k".into(),
            source,
            origin: Origin {
                file: "inventory/secrets.yaml".into(),
                line: 3,
                column: 3,
                path: "secrets.k".into(),
            },
        }
    }

    #[test]
    fn env_values_are_read_and_a_missing_variable_is_named() {
        // SAFETY: this test alone uses these variable names.
        unsafe { std::env::set_var("DESKREADY_TEST_SECRET_SET", "from-env") };
        let got = fetch_one(&SecretSource::Env("DESKREADY_TEST_SECRET_SET".into()));
        assert_eq!(got.unwrap(), "from-env");
        let s = spec(SecretSource::Env("DESKREADY_TEST_SECRET_UNSET".into()));
        let e = SecretError::new(&s, fetch_one(&s.source).unwrap_err());
        assert_eq!(
            e.to_string(),
            "inventory/secrets.yaml:3:3: secrets.k: cannot get secret `k` from environment variable DESKREADY_TEST_SECRET_UNSET: it is not set"
        );
    }

    #[test]
    fn files_must_be_their_owners_only_and_lose_one_newline() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("vpn.key");
        std::fs::write(&p, "vpn-value\n\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let s = spec(SecretSource::File(p.clone()));
        let e = SecretError::new(&s, fetch_one(&s.source).unwrap_err());
        let msg = e.to_string();
        assert!(
            msg.starts_with(
                "inventory/secrets.yaml:3:3: secrets.k: cannot get secret `k` from file "
            ),
            "{msg}"
        );
        assert!(
            msg.ends_with(&format!(
                "it can be read or changed by group or others (mode 0644); a secret file must be its owner's only: chmod 600 '{}'",
                p.display()
            )),
            "{msg}"
        );
        assert!(!msg.contains("vpn-value"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(fetch_one(&s.source).unwrap(), "vpn-value\n");
        let missing = SecretSource::File(dir.path().join("nope"));
        assert!(matches!(
            fetch_one(&missing),
            Err(SecretProblem::Unreadable(_))
        ));
    }

    #[test]
    fn commands_run_without_a_shell_and_are_bounded() {
        let cmd = |argv: &[&str], secs| SecretSource::Command {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            timeout: Duration::from_secs(secs),
        };
        // No shell: `$HOME` and `;` reach printf as they are.
        assert_eq!(
            fetch_one(&cmd(&["printf", "%s\\n", "a;$HOME"], 5)).unwrap(),
            "a;$HOME"
        );
        assert_eq!(
            fetch_one(&cmd(&["sh", "-c", "echo not found >&2; exit 3"], 5)),
            Err(SecretProblem::Failed {
                status: 3,
                stderr: "not found".into()
            })
        );
        let start = Instant::now();
        assert_eq!(
            fetch_one(&cmd(&["sleep", "30"], 1)),
            Err(SecretProblem::TimedOut(1))
        );
        assert!(start.elapsed() < Duration::from_secs(10));
        assert_eq!(fetch_one(&cmd(&["true"], 5)), Err(SecretProblem::Empty));
        assert!(matches!(
            fetch_one(&cmd(&["/nonexistent/pass"], 5)),
            Err(SecretProblem::Spawn(_))
        ));
    }
}
