//! `apt_source`: a maker's apt repository as a deb822 source
//! (`/etc/apt/sources.list.d/NAME.sources`): its `uris`, `suites` and `components`, and
//! the signing key apt checks it with, which is required: `key` (an ASCII-armored key
//! under templates/) or `key_url` with a pinned `fingerprint`. Only checks what is
//! written; never looks at a device.

use super::{Cx, Spec};
use crate::load::raw::RawResource;
use crate::model::{AptKey, Presence, ResourceKind};

pub(super) const SPEC: Spec = Spec {
    keyword: "apt_source",
    settings: &[
        "state",
        "uris",
        "suites",
        "components",
        "architectures",
        "key",
        "key_url",
        "fingerprint",
    ],
    absent_settings: &[],
    build,
};

/// The first line of an ASCII-armored public key.
const ARMOR: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";

fn build(r: RawResource, cx: &mut Cx<'_>) -> Option<ResourceKind> {
    let name = r.apt_source?;
    let mut ok = true;
    if !name.contains("{{")
        && let Some(why) = bad_source_name(&name)
    {
        cx.error("apt_source", why);
        ok = false;
    }
    let state = cx.presence();
    let words = |w: Option<crate::load::raw::Words>| w.map(|w| w.into_vec()).unwrap_or_default();
    let uris = words(r.uris);
    let suites = words(r.suites);
    let components = words(r.components);
    let architectures = words(r.architectures);
    let fingerprint = match r.fingerprint {
        Some(f) if f.contains("{{") => Some(f),
        Some(f) => match normal_fingerprint(&f) {
            Some(n) => Some(n),
            None => {
                cx.error(
                    "fingerprint",
                    format!(
                        "`{f}` is not a key fingerprint; expected 40 hexadecimal digits (64 for a v6 key), spaces allowed, as `gpg --show-keys` prints it"
                    ),
                );
                ok = false;
                None
            }
        },
        None => None,
    };
    let key = match (r.key, r.key_url) {
        (Some(_), Some(_)) => {
            cx.error(
                "key_url",
                "an `apt_source` takes `key` (a file under templates/) or `key_url`, not both",
            );
            return None;
        }
        (Some(k), None) => {
            if !cx.templates.exists(&k) {
                let names: Vec<&str> = cx.templates.names().collect();
                let mut msg = format!("key `{k}` does not exist under templates/");
                if let Some(s) = crate::load::diag::did_you_mean(&k, names.iter().copied()) {
                    msg.push_str(&format!("; did you mean `{s}`?"));
                }
                cx.error("key", msg);
                return None;
            }
            if !cx
                .templates
                .source(&k)
                .is_some_and(|t| t.trim_start().starts_with(ARMOR))
            {
                cx.error(
                    "key",
                    format!(
                        "templates/{k} is not an ASCII-armored public key (its first line is `{ARMOR}`); export it with `gpg --armor --export`"
                    ),
                );
                return None;
            }
            AptKey::File(k)
        }
        (None, Some(url)) => {
            if !url.contains("{{")
                && let Some(why) = super::package::bad_url(&url)
            {
                cx.error("key_url", why);
                ok = false;
            }
            if fingerprint.is_none() && ok {
                cx.error(
                    "key_url",
                    "a key downloaded from `key_url` needs its pinned `fingerprint` (as the maker publishes it), checked before the key is trusted",
                );
                ok = false;
            }
            AptKey::Url(url)
        }
        (None, None) if state == Presence::Absent => AptKey::Text(String::new()),
        (None, None) => {
            cx.error(
                "",
                "an `apt_source` needs its maker's signing key: `key` (an armored key under templates/) or `key_url` with its `fingerprint`; deskready adds no source apt cannot check",
            );
            return None;
        }
    };
    if state == Presence::Present {
        if uris.is_empty() {
            cx.error("", "an `apt_source` resource needs `uris`");
            ok = false;
        }
        for u in uris.iter().filter(|u| !u.contains("{{")) {
            if let Some(why) = super::package::bad_url(u) {
                cx.error("uris", why);
                ok = false;
            }
        }
        if suites.is_empty() {
            cx.error(
                "",
                "an `apt_source` resource needs `suites` (`bookworm`, `stable`, or a path ending in `/` for a flat repository)",
            );
            ok = false;
        }
        let flat = suites.iter().any(|s| s.ends_with('/'));
        if flat && !components.is_empty() {
            cx.error(
                "components",
                "a suite ending in `/` is a flat repository, which has no `components`",
            );
            ok = false;
        } else if !flat && components.is_empty() && !suites.is_empty() {
            cx.error(
                "",
                "an `apt_source` resource needs `components` (such as `main`) unless its suite is a path ending in `/`",
            );
            ok = false;
        }
    }
    ok.then_some(ResourceKind::AptSource {
        apt_source: name,
        state,
        uris,
        suites,
        components,
        architectures,
        key,
        fingerprint,
    })
}

/// Why `name` cannot name a file under sources.list.d (apt reads only names of letters,
/// digits, `_`, `-` and `.`), or None.
pub(crate) fn bad_source_name(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    (!ok).then(|| {
        format!(
            "`{name}` is not an apt source name; it names /etc/apt/sources.list.d/NAME.sources, so it is letters, digits, `_`, `-` and `.` (apt ignores other files)"
        )
    })
}

/// A fingerprint as the device compares it (upper-case hex, no spaces), or None.
pub(crate) fn normal_fingerprint(f: &str) -> Option<String> {
    let hex: String = f.chars().filter(|c| !c.is_whitespace()).collect();
    ((hex.len() == 40 || hex.len() == 64) && hex.bytes().all(|c| c.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_fingerprints() {
        assert_eq!(bad_source_name("acme-vpn_1.x"), None);
        assert!(bad_source_name("acme vpn").is_some());
        assert!(bad_source_name("../x").is_some());
        assert_eq!(
            normal_fingerprint("a1b2 C3D4 a1b2 C3D4 a1b2  C3D4 a1b2 C3D4 a1b2 C3D4").as_deref(),
            Some("A1B2C3D4A1B2C3D4A1B2C3D4A1B2C3D4A1B2C3D4")
        );
        assert_eq!(normal_fingerprint("A1B2"), None);
        assert_eq!(normal_fingerprint(&"g".repeat(40)), None);
    }
}
