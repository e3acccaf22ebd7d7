//! `package`: a Debian package installed.

use super::Kind;
use crate::engine::script::writer::Writer;
use crate::model::ResourceKind;
use crate::resolve::ResolvedResource;

pub(super) struct Package;

impl Kind for Package {
    fn helpers(&self) -> &'static str {
        include_str!("package.sh")
    }
    fn write(&self, w: &mut Writer, i: usize, r: &ResolvedResource) {
        if let ResourceKind::Package { package } = r.kind() {
            w.call("step package_res", [&i.to_string(), package]);
        }
    }
}
