//! The `secrets:` section of inventory files, and the secrets templates refer to.
//!
//! A secret is declared by reference only (an environment variable, a file, a command);
//! a value written in YAML is refused without repeating it. References (`secret.NAME`)
//! in profiles and templates must name a declared secret. Nothing here reads a secret's
//! value: fetching is `crate::secrets`, at the time a command needs rendered content.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::diag::{self, Diagnostic, Diagnostics};
use super::locate::{Pos, join_key};
use super::{SourceFile, entries, raw};
use crate::model::{
    DEFAULT_COMMAND_TIMEOUT, Secret, SecretSource, secret_references, valid_secret_name,
};
use crate::render::Templates;

/// The keys of one secret, for messages.
const SOURCES: &str = "`env: VARIABLE`, `file: /absolute/path` or `command: [program, arg, ...]`";

/// Adds the secrets of one inventory file's `secrets:` section to `out`.
pub(super) fn add(
    section: Option<serde_yaml::Mapping>,
    file: &SourceFile,
    out: &mut BTreeMap<String, Secret>,
    diags: &mut Diagnostics,
) {
    for (name, path, value) in entries(section, "secrets", file, diags) {
        if !valid_secret_name(&name) {
            diags.push(file.diag(
                &path,
                format!(
                    "secret name `{name}` is used as `secret.{name}` in templates, so it may hold only letters, digits and `_`, and not start with a digit"
                ),
            ));
            continue;
        }
        if !value.is_mapping() {
            // Never echo the value: it may be the secret itself.
            diags.push(file.diag(
                &path,
                format!(
                    "secret `{name}` must be declared by reference, never by value in YAML: write one of {SOURCES}"
                ),
            ));
            continue;
        }
        let Some(r) = file.parse::<raw::RawSecret>(value, &path, diags) else {
            continue;
        };
        if let Some(prev) = out.get(&name) {
            diags.push(file.diag(
                &path,
                format!(
                    "secret `{name}` is already declared at {}:{}",
                    prev.origin.file, prev.origin.line
                ),
            ));
            continue;
        }
        if let Some(source) = source(&name, r, &path, file, diags) {
            out.insert(
                name.clone(),
                Secret {
                    name,
                    source,
                    origin: file.origin(&path),
                },
            );
        }
    }
}

fn source(
    name: &str,
    r: raw::RawSecret,
    path: &str,
    file: &SourceFile,
    diags: &mut Diagnostics,
) -> Option<SecretSource> {
    let given = [r.env.is_some(), r.file.is_some(), r.command.is_some()];
    match given.iter().filter(|g| **g).count() {
        0 => {
            diags.push(file.diag(
                path,
                format!(
                    "secret `{name}` says nowhere to get its value from; give one of {SOURCES}"
                ),
            ));
            return None;
        }
        1 => {}
        _ => {
            diags.push(file.diag(
                path,
                format!(
                    "secret `{name}` gives more than one source; keep exactly one of `env`, `file`, `command`"
                ),
            ));
            return None;
        }
    }
    if r.timeout.is_some() && r.command.is_none() {
        diags.push(file.diag(
            &join_key(path, "timeout"),
            "`timeout` goes only with `command` (seconds the command may run)",
        ));
        return None;
    }
    if let Some(var) = r.env {
        if var.is_empty() || var.contains(['=', '\0']) {
            diags.push(file.diag(
                &join_key(path, "env"),
                format!("`{var}` is not an environment variable name"),
            ));
            return None;
        }
        return Some(SecretSource::Env(var));
    }
    if let Some(f) = r.file {
        let p = PathBuf::from(&f);
        if !p.is_absolute() {
            diags.push(file.diag(
                &join_key(path, "file"),
                format!(
                    "`{f}` is not an absolute path; a secret file lives outside the site (which people review and copy), named by its full path such as /etc/deskready/{name}"
                ),
            ));
            return None;
        }
        return Some(SecretSource::File(p));
    }
    let argv = r.command.unwrap_or_default();
    if argv.first().is_none_or(String::is_empty) {
        diags.push(file.diag(
            &join_key(path, "command"),
            "`command` is a list: the program, then its arguments (run without a shell), such as [pass, show, wifi]",
        ));
        return None;
    }
    let timeout = match r.timeout {
        None => DEFAULT_COMMAND_TIMEOUT,
        Some(0) => {
            diags.push(file.diag(
                &join_key(path, "timeout"),
                "the timeout is at least 1 second",
            ));
            return None;
        }
        Some(s) => Duration::from_secs(s),
    };
    Some(SecretSource::Command { argv, timeout })
}

/// Every `secret.NAME` in a profile file's text values must name a declared secret.
pub(super) fn check_profile_refs(
    file: &SourceFile,
    value: &serde_yaml::Value,
    declared: &BTreeMap<String, Secret>,
    diags: &mut Diagnostics,
) {
    walk(value, "", &mut |path, text| {
        for (name, _) in secret_references(text) {
            if !declared.contains_key(&name) {
                diags.push(file.diag(path, unknown_secret(&name, declared)));
            }
        }
    });
}

/// Every `secret.NAME` in a template must name a declared secret.
pub(super) fn check_template_refs(
    templates: &Templates,
    declared: &BTreeMap<String, Secret>,
    diags: &mut Diagnostics,
) {
    for (name, text) in templates.sources() {
        for (secret, at) in secret_references(text) {
            if !declared.contains_key(&secret) {
                diags.push(Diagnostic::new(
                    format!("templates/{name}"),
                    pos_of(text, at),
                    "",
                    unknown_secret(&secret, declared),
                ));
            }
        }
    }
}

fn unknown_secret(name: &str, declared: &BTreeMap<String, Secret>) -> String {
    let names: Vec<&str> = declared.keys().map(String::as_str).collect();
    format!(
        "{} (secrets are declared under `secrets:` in an inventory file)",
        diag::unknown("secret", name, &names)
    )
}

/// The 1-based line and column of byte `at` in `text`.
fn pos_of(text: &str, at: usize) -> Pos {
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    Pos { line, col }
}

/// Calls `f` with the key path and text of every string in `value`.
fn walk(value: &serde_yaml::Value, path: &str, f: &mut dyn FnMut(&str, &str)) {
    match value {
        serde_yaml::Value::String(s) => f(path, s),
        serde_yaml::Value::Sequence(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(v, &format!("{path}[{i}]"), f);
            }
        }
        serde_yaml::Value::Mapping(m) => {
            for (k, v) in m {
                let key = match k {
                    serde_yaml::Value::String(s) => s.clone(),
                    other => serde_yaml::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                walk(v, &join_key(path, &key), f);
            }
        }
        serde_yaml::Value::Tagged(t) => walk(&t.value, path, f),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::pos_of;
    use crate::load::locate::Pos;
    use crate::model::SecretSource;

    /// A small site: one laptop of profile `p`, plus `files` (path, text).
    fn site(files: &[(&str, &str)]) -> (tempfile::TempDir, Result<crate::site::Site, Vec<String>>) {
        let dir = tempfile::tempdir().unwrap();
        let base = [
            (
                "inventory/devices.yaml",
                "devices:\n  LAP-1:\n    kind: laptop\n    model: M\n    profile: p\n",
            ),
            ("profiles/p.yaml", "name: p\nresources:\n  - package: vim\n"),
        ];
        for (name, text) in base.iter().chain(files) {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let site = crate::load::load_site(dir.path())
            .map_err(|d| d.iter().map(ToString::to_string).collect());
        (dir, site)
    }

    fn errors(files: &[(&str, &str)]) -> Vec<String> {
        site(files).1.expect_err("the site should not load")
    }

    #[test]
    fn each_source_is_declared_by_reference() {
        let (_d, site) = site(&[(
            "inventory/secrets.yaml",
            "secrets:\n  wifi_psk: { env: WIFI_PSK }\n  vpn_key: { file: /etc/deskready/vpn.key }\n  ldap: { command: [pass, show, ldap], timeout: 5 }\n  other: { command: [pw] }\n",
        )]);
        let site = site.unwrap();
        let s = &site.secrets;
        assert_eq!(s["wifi_psk"].source, SecretSource::Env("WIFI_PSK".into()));
        assert_eq!(
            s["vpn_key"].source,
            SecretSource::File("/etc/deskready/vpn.key".into())
        );
        assert_eq!(
            s["ldap"].source,
            SecretSource::Command {
                argv: vec!["pass".into(), "show".into(), "ldap".into()],
                timeout: Duration::from_secs(5)
            }
        );
        assert_eq!(
            s["other"].source,
            SecretSource::Command {
                argv: vec!["pw".into()],
                timeout: crate::model::DEFAULT_COMMAND_TIMEOUT
            }
        );
        assert_eq!(
            (s["vpn_key"].origin.file.as_str(), s["vpn_key"].origin.line),
            ("inventory/secrets.yaml", 3)
        );
    }

    #[test]
    fn a_value_written_in_yaml_is_refused_without_repeating_it() {
        let errs = errors(&[(
            "inventory/secrets.yaml",
            "secrets:\n  wifi_psk: hunter2-in-yaml\n",
        )]);
        assert_eq!(
            errs,
            [
                "inventory/secrets.yaml:2:3: secrets.wifi_psk: secret `wifi_psk` must be declared by reference, never by value in YAML: write one of `env: VARIABLE`, `file: /absolute/path` or `command: [program, arg, ...]`"
            ]
        );
    }

    #[test]
    fn bad_declarations_get_located_errors() {
        let errs = errors(&[(
            "inventory/secrets.yaml",
            "secrets:\n  a: { envv: A }\n  b: { env: B, file: /x }\n  c: {}\n  d: { file: keys/d.key }\n  e: { env: E, timeout: 3 }\n  f-g: { env: F }\n  h: { command: [] }\n  i: { command: [x], timeout: 0 }\n",
        )]);
        assert_eq!(
            errs,
            [
                "inventory/secrets.yaml:2:8: secrets.a.envv: unknown key `envv`; did you mean `env`? allowed: env, file, command, timeout",
                "inventory/secrets.yaml:3:3: secrets.b: secret `b` gives more than one source; keep exactly one of `env`, `file`, `command`",
                "inventory/secrets.yaml:4:3: secrets.c: secret `c` says nowhere to get its value from; give one of `env: VARIABLE`, `file: /absolute/path` or `command: [program, arg, ...]`",
                "inventory/secrets.yaml:5:8: secrets.d.file: `keys/d.key` is not an absolute path; a secret file lives outside the site (which people review and copy), named by its full path such as /etc/deskready/d",
                "inventory/secrets.yaml:6:16: secrets.e.timeout: `timeout` goes only with `command` (seconds the command may run)",
                "inventory/secrets.yaml:7:3: secrets.f-g: secret name `f-g` is used as `secret.f-g` in templates, so it may hold only letters, digits and `_`, and not start with a digit",
                "inventory/secrets.yaml:8:8: secrets.h.command: `command` is a list: the program, then its arguments (run without a shell), such as [pass, show, wifi]",
                "inventory/secrets.yaml:9:22: secrets.i.timeout: the timeout is at least 1 second",
            ]
        );
    }

    #[test]
    fn a_secret_is_declared_once_across_files() {
        let errs = errors(&[
            ("inventory/a.yaml", "secrets:\n  k: { env: K }\n"),
            ("inventory/b.yaml", "\nsecrets:\n  k: { env: K2 }\n"),
        ]);
        assert_eq!(
            errs,
            [
                "inventory/b.yaml:3:3: secrets.k: secret `k` is already declared at inventory/a.yaml:2"
            ]
        );
    }

    #[test]
    fn references_must_name_a_declared_secret() {
        let errs = errors(&[
            (
                "inventory/secrets.yaml",
                "secrets:\n  wifi_psk: { env: WIFI_PSK }\n",
            ),
            (
                "profiles/q.yaml",
                "name: q\nresources:\n  - file: /etc/x\n    content: \"{{ secret.wifi_pks }}\"\nverify:\n  - name: ok\n    command: test -n {{ secret.wifi_psk }}\n",
            ),
            ("templates/t.tera", "ssid=x\npsk={{ secret.nope }}\n"),
        ]);
        assert_eq!(
            errs,
            [
                "profiles/q.yaml:4:5: resources[0].content: unknown secret `wifi_pks`; did you mean `wifi_psk`? allowed: wifi_psk (secrets are declared under `secrets:` in an inventory file)",
                "templates/t.tera:2:8: unknown secret `nope`; allowed: wifi_psk (secrets are declared under `secrets:` in an inventory file)",
            ]
        );
    }

    #[test]
    fn positions_count_lines_and_columns_from_one() {
        assert_eq!(pos_of("ab\ncd {{", 6), Pos { line: 2, col: 4 });
        assert_eq!(pos_of("x", 0), Pos { line: 1, col: 1 });
    }
}
