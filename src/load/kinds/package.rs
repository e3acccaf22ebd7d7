//! `package`: a package name, as Debian policy spells one (checked here when written
//! plainly, and again by resolve once a template expression in it is rendered).

use super::{Cx, Spec};
use crate::load::raw::RawResource;
use crate::model::ResourceKind;

pub(super) const SPEC: Spec = Spec {
    keyword: "package",
    settings: &[],
    absent_settings: &[],
    build,
};

fn build(r: RawResource, cx: &mut Cx<'_>) -> Option<ResourceKind> {
    let package = r.package?;
    if !package.contains("{{")
        && let Some(msg) = bad_package_name(&package)
    {
        cx.error("package", msg);
        return None;
    }
    Some(ResourceKind::Package { package })
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
