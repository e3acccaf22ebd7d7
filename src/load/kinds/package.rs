//! `package`: a package name, as Debian policy spells one (checked here when written
//! plainly, and again by resolve once a template expression in it is rendered); the maker's
//! way of installing it (a pinned `version`, a `.deb` from a URL with its required
//! `sha256`, debconf `preseed` answers, how old the package index may be), or
//! `state: absent` (with `purge`). Only checks what is written; never looks at a device.

use super::{Cx, Spec};
use crate::load::raw::RawResource;
use crate::model::{Deb, Presence, ResourceKind};

pub(super) const SPEC: Spec = Spec {
    keyword: "package",
    settings: &[
        "state",
        "version",
        "deb",
        "sha256",
        "preseed",
        "purge",
        "index_max_age",
    ],
    absent_settings: &["purge", "index_max_age"],
    build,
};

/// How old the package index may be before an install refreshes it, when not written.
pub(crate) const DEFAULT_INDEX_MAX_AGE: u64 = 24 * 3600;

/// The types a debconf answer may have (debconf-devel(7)).
const DEBCONF_TYPES: &[&str] = &[
    "string",
    "password",
    "boolean",
    "select",
    "multiselect",
    "note",
    "text",
    "title",
    "error",
    "seen",
];

fn build(r: RawResource, cx: &mut Cx<'_>) -> Option<ResourceKind> {
    let package = r.package?;
    let mut ok = true;
    if !package.contains("{{")
        && let Some(msg) = bad_package_name(&package)
    {
        cx.error("package", msg);
        ok = false;
    }
    let state = cx.presence();
    let version = match r.version {
        None => None,
        Some(v) => match v.as_str() {
            Some(s) if s.contains("{{") => Some(s.to_string()),
            Some(s) => match bad_version(s) {
                None => Some(s.to_string()),
                Some(why) => {
                    cx.error("version", format!("`{s}` is not a Debian version: {why}"));
                    ok = false;
                    None
                }
            },
            None => {
                cx.error(
                    "version",
                    "a version is quoted text such as \"1.2.3-1\" (unquoted, YAML may read it as a number: 1.10 becomes 1.1)",
                );
                ok = false;
                None
            }
        },
    };
    let deb = match (r.deb, r.sha256) {
        (None, None) => None,
        (None, Some(_)) => {
            cx.error(
                "sha256",
                "`sha256` is the checksum of a `.deb`; it goes with `deb: URL`",
            );
            ok = false;
            None
        }
        (Some(_), None) => {
            cx.error(
                "deb",
                "a `.deb` needs its `sha256` (as its maker publishes it): deskready installs no download it cannot check",
            );
            ok = false;
            None
        }
        (Some(url), Some(sum)) => {
            let sum_ok = sum.contains("{{") || bad_sha256(&sum).is_none();
            let url_ok = url.contains("{{") || bad_url(&url).is_none();
            if !url_ok {
                cx.error("deb", bad_url(&url).unwrap_or_default());
            }
            if !sum_ok {
                cx.error("sha256", bad_sha256(&sum).unwrap_or_default());
            }
            ok &= sum_ok && url_ok;
            Some(Deb {
                url,
                sha256: sum.to_ascii_lowercase(),
            })
        }
    };
    let preseed = r.preseed.unwrap_or_default();
    for (i, line) in preseed.iter().enumerate() {
        if let Some(why) = bad_preseed(line) {
            let at = format!("preseed[{i}]");
            cx.error(&at, format!("`{line}` is not a debconf answer: {why}"));
            ok = false;
        }
    }
    let purge = r.purge.unwrap_or(false);
    // What only describes a package to install was refused under `state: absent` with
    // every kind's settings (`SPEC.absent_settings`).
    if state == Presence::Present && purge {
        cx.error(
            "purge",
            "`purge` goes with `state: absent` (it removes the package's configuration files too)",
        );
        ok = false;
    }
    let index_max_age = match r.index_max_age {
        None => DEFAULT_INDEX_MAX_AGE,
        Some(v) => match duration_secs(&v) {
            Ok(s) => s,
            Err(msg) => {
                cx.error("index_max_age", msg);
                ok = false;
                0
            }
        },
    };
    ok.then_some(ResourceKind::Package {
        package,
        state,
        version,
        deb,
        preseed,
        purge,
        index_max_age,
    })
}

/// Why `name` is not a Debian package name (`[a-z0-9][a-z0-9+.-]+`), or None when it is
/// one. The name reaches apt-get and dpkg-query on the device: one starting with `-`
/// would be an option, and a version (`=1.2`) or an architecture (`:amd64`) is not
/// probed the way it is installed.
pub(crate) fn bad_package_name(name: &str) -> Option<String> {
    let b = name.as_bytes();
    let ok = b.len() >= 2
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"+.-".contains(c));
    (!ok).then(|| {
        format!(
            "`{name}` is not a Debian package name; package names are at least two lower case letters, digits, `+`, `.` and `-`, starting with a letter or a digit (no version or architecture)"
        )
    })
}

/// Why `v` is not a Debian version (`[EPOCH:]UPSTREAM[-REVISION]`, deb-version(7)), or
/// None when it is one.
pub(crate) fn bad_version(v: &str) -> Option<&'static str> {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) => (Some(e), r),
        None => (None, v),
    };
    if epoch.is_some_and(|e| e.is_empty() || !e.bytes().all(|c| c.is_ascii_digit())) {
        return Some("the epoch before `:` is a number");
    }
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((u, r)) => (u, Some(r)),
        None => (rest, None),
    };
    if !upstream.starts_with(|c: char| c.is_ascii_digit()) {
        return Some("it starts with a digit (after an epoch such as `1:`)");
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".+~".contains(c);
    if !upstream.chars().all(|c| allowed(c) || c == '-' || c == ':') {
        return Some("it holds only letters, digits and `.+~-:`");
    }
    if revision.is_some_and(|r| r.is_empty() || !r.chars().all(allowed)) {
        return Some("the revision after the last `-` is letters, digits and `.+~`");
    }
    None
}

/// Why `s` is not a sha256 (64 hex digits), or None.
pub(crate) fn bad_sha256(s: &str) -> Option<String> {
    (s.len() != 64 || !s.bytes().all(|c| c.is_ascii_hexdigit()))
        .then(|| format!("`{s}` is not a sha256; expected 64 hexadecimal digits"))
}

/// Why `url` is not one a device downloads from (http or https), or None.
pub(crate) fn bad_url(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.chars().any(|c| c.is_whitespace() || c.is_control()) => None,
        _ => Some(format!(
            "`{url}` is not a URL a device downloads from; expected http://... or https://..."
        )),
    }
}

/// Why `line` is not a `debconf-set-selections` line (`OWNER QUESTION TYPE VALUE`), or None.
fn bad_preseed(line: &str) -> Option<String> {
    if line.contains(['\n', '\r']) {
        return Some("it is one line".into());
    }
    if line.contains("{{") {
        return None;
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [_, _, ty, ..] if DEBCONF_TYPES.contains(ty) => None,
        [_, _, ty, ..] => Some(format!(
            "`{ty}` is not a debconf type; allowed: {}",
            DEBCONF_TYPES.join(", ")
        )),
        _ => Some("it is `OWNER QUESTION TYPE VALUE`, as debconf-set-selections reads it (e.g. `acme-vpn acme-vpn/server string vpn.example.org`)".into()),
    }
}

/// A duration written as a number of seconds or `N` + `s`, `m`, `h` or `d`.
fn duration_secs(v: &serde_yaml::Value) -> Result<u64, String> {
    if let Some(n) = v.as_u64() {
        return Ok(n);
    }
    let s = v.as_str().unwrap_or_default();
    let unit = match s.chars().last() {
        Some('s') => 1,
        Some('m') => 60,
        Some('h') => 3600,
        Some('d') => 86400,
        _ => 0,
    };
    let n = s.get(..s.len().saturating_sub(1)).unwrap_or_default();
    match n.parse::<u64>() {
        Ok(n) if unit > 0 => Ok(n * unit),
        _ => Err(format!(
            "`{}` is not a duration; write seconds or a number with s, m, h or d (`30m`, `6h`, `1d`)",
            serde_yaml::to_string(v).unwrap_or_default().trim()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_versions() {
        for good in [
            "1.2.3-1",
            "1:2.0~rc1-0+deb12u1",
            "2024.01",
            "0.9",
            "1.0-1-1",
        ] {
            assert_eq!(bad_version(good), None, "{good}");
        }
        for bad in [
            "v1.2", "1.2-", ":1.0", "a:1.0", "1.2 3", "-1", "1.2-b_c", "",
        ] {
            assert!(bad_version(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn preseed_lines_and_durations() {
        assert_eq!(bad_preseed("acme acme/server string vpn.example.org"), None);
        assert_eq!(bad_preseed("acme acme/start boolean true"), None);
        assert!(bad_preseed("acme acme/server vpn").is_some());
        assert!(bad_preseed("acme acme/server strng x").is_some());
        let d = |s: &str| duration_secs(&serde_yaml::from_str(s).unwrap());
        assert_eq!(d("90"), Ok(90));
        assert_eq!(d("30m"), Ok(1800));
        assert_eq!(d("1d"), Ok(86400));
        assert!(d("soon").is_err());
        assert!(d("1w").is_err());
    }
}
