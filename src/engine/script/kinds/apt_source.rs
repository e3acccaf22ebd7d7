//! `apt_source`: a maker's apt repository in deb822 form and its signing key (see
//! `apt_source.sh`). The `.sources` text is written here, so a diff shows it; the key is
//! sent as its armored text, or fetched by the device from its URL, and its fingerprint
//! checked there before anything is changed. A changed source leaves a mark that makes the
//! next install refresh the package index (`package.sh`).

use super::{Content, Kind};
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
}
