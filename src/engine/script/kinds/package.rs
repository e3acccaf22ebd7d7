//! `package`: a Debian package installed the maker's way (from the index at a pinned
//! version, or from a `.deb` checked against its sha256, with debconf answers), or removed
//! (see `package.sh`). The index is refreshed only before an install that needs it.

use super::{Content, Kind};
use crate::engine::script::protocol::Observed;
use crate::engine::script::writer::Writer;
use crate::model::{Presence, ResourceKind};
use crate::resolve::ResolvedResource;

pub(super) struct Package;

impl Kind for Package {
    fn tools(&self) -> &'static [&'static str] {
        &[
            "apt-get",
            "apt-cache",
            "date",
            "dpkg",
            "dpkg-deb",
            "dpkg-query",
            "mkdir",
            "stat",
        ]
    }
    fn helpers(&self) -> &'static str {
        include_str!("package.sh")
    }
    fn write(&self, w: &mut Writer, i: usize, r: &ResolvedResource, _content: Content) {
        let ResourceKind::Package {
            package,
            state,
            version,
            deb,
            preseed,
            purge,
            index_max_age,
        } = r.kind()
        else {
            return;
        };
        let state = match state {
            Presence::Present => "present",
            Presence::Absent => "absent",
        };
        let (url, sum) = deb
            .as_ref()
            .map(|d| (d.url.as_str(), d.sha256.as_str()))
            .unwrap_or_default();
        w.call(
            "step package_res",
            [
                i.to_string().as_str(),
                package,
                state,
                version.as_deref().unwrap_or_default(),
                url,
                sum,
                if *purge { "1" } else { "0" },
                &index_max_age.to_string(),
                &preseed.join("\n"),
            ],
        );
    }
    /// What would be installed, upgraded, downgraded or removed, as the device said it.
    fn differs(&self, _r: &ResolvedResource, obs: &Observed) -> Vec<String> {
        super::said(obs)
    }
}
