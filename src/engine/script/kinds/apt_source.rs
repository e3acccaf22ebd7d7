//! `apt_source`: a maker's apt repository in deb822 form and its signing key (see
//! `apt_source.sh`). The `.sources` text is written here, so a diff shows it; the key is
//! sent as its armored text, or fetched by the device from its URL, and its fingerprint
//! checked there before anything is changed. A changed source leaves a mark that makes the
//! next install refresh the package index (`package.sh`).

use super::{Content, Kind};
use crate::engine::script::protocol::Observed;
use crate::engine::script::{digest, writer::Writer};
use crate::model::{AptKey, Presence, ResourceKind};
use crate::resolve::ResolvedResource;

pub(super) struct AptSource;

/// Where apt reads deb822 sources from.
const SOURCES_DIR: &str = "/etc/apt/sources.list.d";
/// Where keys of sources managed locally live (Debian's advice since apt 2.4).
const KEYRINGS_DIR: &str = "/etc/apt/keyrings";

/// The source file of source `name`.
fn sources_path(name: &str) -> String {
    format!("{SOURCES_DIR}/{name}.sources")
}

/// The deb822 text of an apt source, as apt reads it.
pub(crate) fn sources_text(r: &ResolvedResource) -> Option<String> {
    let ResourceKind::AptSource {
        apt_source,
        uris,
        suites,
        components,
        architectures,
        ..
    } = r.kind()
    else {
        return None;
    };
    let mut t = String::from("Types: deb\n");
    t.push_str(&format!("URIs: {}\n", uris.join(" ")));
    t.push_str(&format!("Suites: {}\n", suites.join(" ")));
    if !components.is_empty() {
        t.push_str(&format!("Components: {}\n", components.join(" ")));
    }
    if !architectures.is_empty() {
        t.push_str(&format!("Architectures: {}\n", architectures.join(" ")));
    }
    t.push_str(&format!("Signed-By: {KEYRINGS_DIR}/{apt_source}.gpg\n"));
    Some(t)
}

impl Kind for AptSource {
    fn tools(&self) -> &'static [&'static str] {
        &[
            "cat",
            "chmod",
            "cmp",
            "head",
            "mkdir",
            "mv",
            "od",
            "sed",
            "sha1sum",
            "sha256sum",
            "stat",
            "sync",
            "tr",
        ]
    }
    fn helpers(&self) -> &'static str {
        include_str!("apt_source.sh")
    }
    fn write(&self, w: &mut Writer, i: usize, r: &ResolvedResource, _content: Content) {
        let ResourceKind::AptSource {
            apt_source,
            state,
            key,
            fingerprint,
            ..
        } = r.kind()
        else {
            return;
        };
        let text = sources_text(r).unwrap_or_default();
        let (mode, key) = match key {
            AptKey::Url(u) => ("url", u.as_str()),
            AptKey::Text(t) | AptKey::File(t) => ("text", t.as_str()),
        };
        let state = match state {
            Presence::Present => "present",
            Presence::Absent => "absent",
        };
        w.call(
            "step apt_source_res",
            [
                i.to_string().as_str(),
                apt_source,
                state,
                &text,
                &digest(text.as_bytes()),
                mode,
                key,
                fingerprint.as_deref().unwrap_or_default(),
            ],
        );
    }
    fn wanted(&self, r: &ResolvedResource, _old: Option<&str>) -> Option<(String, String)> {
        match r.kind() {
            ResourceKind::AptSource {
                apt_source,
                state: Presence::Present,
                ..
            } => Some((sources_path(apt_source), sources_text(r)?)),
            _ => None,
        }
    }
    /// What would be written or removed (the key, the source), as the device said it.
    fn differs(&self, _r: &ResolvedResource, obs: &Observed) -> Vec<String> {
        super::said(obs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testkit;
    use crate::shell::quote;

    /// The example site's key: its fingerprint as `gpg --show-keys` prints it.
    const EXAMPLE_KEY: &str = include_str!("../../../../templates/vendor/acme-archive-key.asc");
    const EXAMPLE_FPR: &str = "3690A0CAAA9A7D3FD1E0DB8D670F63EF913C8B21";

    /// Runs `script` after the helpers in a local `sh`, in a temp directory as `$T`.
    fn sh(script: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "T={}\n{}\n{script}",
            quote(&dir.path().display().to_string()),
            AptSource.helpers()
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(text)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn the_device_computes_a_keys_fingerprint_armored_or_not() {
        let key = quote(EXAMPLE_KEY);
        let fpr = sh(&format!(
            "printf '%s\\n' {key} > \"$T/a\"; key_dearmor \"$T/a\" \"$T/k\"; key_fpr \"$T/k\"; echo \"$got\"\n\
             key_dearmor \"$T/k\" \"$T/b\"; key_fpr \"$T/b\"; echo \"$got\"\n\
             echo 'not a key' > \"$T/c\"; key_fpr \"$T/c\"; echo \"[$got]\""
        ));
        assert_eq!(fpr, format!("{EXAMPLE_FPR}\n{EXAMPLE_FPR}\n[]\n"));
    }

    #[test]
    fn the_sources_file_is_deb822_with_its_key() {
        let r = testkit::resource(
            "acme",
            ResourceKind::AptSource {
                apt_source: "acme".into(),
                state: Presence::Present,
                uris: vec![
                    "https://a.example/debian".into(),
                    "https://b.example/debian".into(),
                ],
                suites: vec!["stable".into()],
                components: vec!["main".into(), "non-free".into()],
                architectures: vec!["amd64".into()],
                key: AptKey::Text(EXAMPLE_KEY.into()),
                fingerprint: None,
            },
        );
        assert_eq!(
            sources_text(&r).unwrap(),
            "Types: deb\nURIs: https://a.example/debian https://b.example/debian\nSuites: stable\n\
             Components: main non-free\nArchitectures: amd64\nSigned-By: /etc/apt/keyrings/acme.gpg\n"
        );
    }
}
