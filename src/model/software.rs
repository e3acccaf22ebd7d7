//! Software on a device, as pure types: an installed package (name, architecture, version,
//! where apt has it from), an upgrade waiting for one, what changed between two lists of
//! packages, and the Debian rules for a package name. Reads nothing and talks to nothing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    /// `all`, `amd64`, ...
    pub arch: String,
    pub version: String,
    /// The archives (suites) apt has the installed version from, as `apt list` names them
    /// (`stable-security`, `bookworm`); `local` when no source has it, `""` when apt was
    /// not asked.
    pub origin: String,
}

impl Package {
    /// `name:arch`: a package's identity on a multi-arch system.
    pub fn key(&self) -> String {
        format!("{}:{}", self.name, self.arch)
    }
}

/// An upgrade apt would make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub name: String,
    pub arch: String,
    /// The installed version (`None`: apt would install it new, as a dependency).
    pub current: Option<String>,
    pub candidate: String,
    /// Where the candidate comes from, as apt says it (`Label:Archive`, comma-separated).
    pub from: String,
    /// The candidate comes from a security archive (its label or suite says `security`).
    pub security: bool,
}

/// What happened to one package between two lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "lowercase")]
pub enum Change {
    Installed {
        name: String,
        arch: String,
        version: String,
    },
    Removed {
        name: String,
        arch: String,
        version: String,
    },
    Upgraded {
        name: String,
        arch: String,
        from: String,
        to: String,
    },
    Downgraded {
        name: String,
        arch: String,
        from: String,
        to: String,
    },
}

impl Change {
    pub fn name(&self) -> &str {
        match self {
            Change::Installed { name, .. }
            | Change::Removed { name, .. }
            | Change::Upgraded { name, .. }
            | Change::Downgraded { name, .. } => name,
        }
    }

    /// The version it has now (`None`: removed).
    pub fn now(&self) -> Option<&str> {
        match self {
            Change::Installed { version, .. } => Some(version),
            Change::Upgraded { to, .. } | Change::Downgraded { to, .. } => Some(to),
            Change::Removed { .. } => None,
        }
    }

    /// In a few words: `installed acme-vpn 1.0-1`, `upgraded acme-vpn 1.0-1 → 1.1-1`.
    pub fn describe(&self) -> String {
        match self {
            Change::Installed { name, version, .. } => format!("installed {name} {version}"),
            Change::Removed { name, version, .. } => format!("removed {name} {version}"),
            Change::Upgraded { name, from, to, .. } => format!("upgraded {name} {from} → {to}"),
            Change::Downgraded { name, from, to, .. } => {
                format!("downgraded {name} {from} → {to}")
            }
        }
    }
}

/// What changed from `before` to `after`, by package name then architecture.
pub fn changes(before: &[Package], after: &[Package]) -> Vec<Change> {
    let index = |l: &[Package]| -> BTreeMap<(String, String), String> {
        l.iter()
            .map(|p| ((p.name.clone(), p.arch.clone()), p.version.clone()))
            .collect()
    };
    let (a, b) = (index(before), index(after));
    let mut out = Vec::new();
    for ((name, arch), old) in &a {
        match b.get(&(name.clone(), arch.clone())) {
            None => out.push(Change::Removed {
                name: name.clone(),
                arch: arch.clone(),
                version: old.clone(),
            }),
            Some(new) if new != old => {
                let (from, to) = (old.clone(), new.clone());
                let (name, arch) = (name.clone(), arch.clone());
                out.push(if newer(new, old) {
                    Change::Upgraded {
                        name,
                        arch,
                        from,
                        to,
                    }
                } else {
                    Change::Downgraded {
                        name,
                        arch,
                        from,
                        to,
                    }
                });
            }
            Some(_) => {}
        }
    }
    for ((name, arch), new) in &b {
        if !a.contains_key(&(name.clone(), arch.clone())) {
            out.push(Change::Installed {
                name: name.clone(),
                arch: arch.clone(),
                version: new.clone(),
            });
        }
    }
    out.sort_by(|x, y| x.name().cmp(y.name()));
    out
}

/// Whether Debian version `a` is newer than `b` (dpkg's ordering: epoch, upstream, revision).
fn newer(a: &str, b: &str) -> bool {
    compare_versions(a, b) == std::cmp::Ordering::Greater
}

/// dpkg's version comparison.
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    fn split(v: &str) -> (u64, &str, &str) {
        let (epoch, rest) = match v.split_once(':') {
            Some((e, r)) if e.chars().all(|c| c.is_ascii_digit()) => (e.parse().unwrap_or(0), r),
            _ => (0, v),
        };
        match rest.rsplit_once('-') {
            Some((u, r)) => (epoch, u, r),
            None => (epoch, rest, ""),
        }
    }
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| part(ua, ub))
        .then_with(|| part(ra, rb))
}

/// One part of a version, compared as dpkg does: runs of non-digits (`~` before anything,
/// letters before other characters) and runs of digits, in turn.
fn part(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let order = |c: Option<char>| -> i32 {
        match c {
            Some('~') => -1,
            None => 0,
            Some(c) if c.is_ascii_digit() => 0,
            Some(c) if c.is_ascii_alphabetic() => c as i32,
            Some(c) => c as i32 + 256,
        }
    };
    let (mut a, mut b) = (a.chars().peekable(), b.chars().peekable());
    loop {
        // The non-digit run.
        loop {
            let (x, y) = (
                a.peek().copied().filter(|c| !c.is_ascii_digit()),
                b.peek().copied().filter(|c| !c.is_ascii_digit()),
            );
            if x.is_none() && y.is_none() {
                break;
            }
            let (ox, oy) = (order(x), order(y));
            if ox != oy {
                return ox.cmp(&oy);
            }
            a.next();
            b.next();
        }
        // The digit run.
        let num = |it: &mut std::iter::Peekable<std::str::Chars<'_>>| {
            let mut n: u128 = 0;
            while let Some(c) = it.peek().copied().filter(char::is_ascii_digit) {
                n = n
                    .saturating_mul(10)
                    .saturating_add(u128::from(c as u8 - b'0'));
                it.next();
            }
            n
        };
        let (x, y) = (num(&mut a), num(&mut b));
        if x != y {
            return x.cmp(&y);
        }
        if a.peek().is_none() && b.peek().is_none() {
            return Ordering::Equal;
        }
    }
}

/// Checks a package name as Debian policy has it (§5.6.1): at least two characters,
/// lowercase letters, digits and `+ - .`, starting with a letter or digit.
pub fn check_package_name(name: &str) -> Result<(), String> {
    let ok_start = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'));
    if name.len() >= 2 && ok_start && ok_chars {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a Debian package name: at least two characters, lowercase letters, digits, `+`, `-` and `.`, starting with a letter or digit"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, version: &str) -> Package {
        Package {
            name: name.into(),
            arch: "all".into(),
            version: version.into(),
            origin: String::new(),
        }
    }

    #[test]
    fn versions_compare_as_dpkg_does() {
        use std::cmp::Ordering::*;
        for (a, b, o) in [
            ("1.0-1", "1.0-2", Less),
            ("1.1-1", "1.0-2", Greater),
            ("1.0~rc1-1", "1.0-1", Less),
            ("1:0.9", "2.0", Greater),
            ("1.0-1+deb12u1", "1.0-1", Greater),
            ("1.10", "1.9", Greater),
            ("1.0a", "1.0+", Less),
            ("2.36-9+deb12u4", "2.36-9+deb12u4", Equal),
        ] {
            assert_eq!(compare_versions(a, b), o, "{a} vs {b}");
        }
    }

    #[test]
    fn changes_name_each_package_once() {
        let before = [pkg("a", "1"), pkg("b", "1"), pkg("c", "2")];
        let after = [pkg("a", "2"), pkg("c", "1"), pkg("d", "1")];
        let said: Vec<String> = changes(&before, &after)
            .iter()
            .map(Change::describe)
            .collect();
        assert_eq!(
            said,
            [
                "upgraded a 1 → 2",
                "removed b 1",
                "downgraded c 2 → 1",
                "installed d 1"
            ]
        );
        assert!(changes(&after, &after).is_empty());
    }

    #[test]
    fn package_names_follow_debian_policy() {
        for ok in ["acme-vpn", "libc6", "g++", "0ad", "python3.11"] {
            assert!(check_package_name(ok).is_ok(), "{ok}");
        }
        for bad in ["a", "Acme", "-x", "a b", "x;rm", "ä1", ""] {
            assert!(check_package_name(bad).is_err(), "{bad}");
        }
    }
}
