//! `package`: a Debian package installed.

use super::{Content, Kind};
use crate::engine::script::writer::Writer;
use crate::model::ResourceKind;
use crate::resolve::ResolvedResource;

pub(super) struct Package;

impl Kind for Package {
    fn tools(&self) -> &'static [&'static str] {
        &["apt-get", "dpkg-query"]
    }
    fn helpers(&self) -> &'static str {
        include_str!("package.sh")
    }
    fn write(&self, w: &mut Writer, i: usize, r: &ResolvedResource, _content: Content) {
        if let ResourceKind::Package { package } = r.kind() {
            w.call("step package_res", [&i.to_string(), package]);
        }
    }
}
