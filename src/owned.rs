//! Inventory files deskready owns and rewrites: `inventory/received.yaml` (devices received
//! that no hand-written file declares) and `inventory/assignments.yaml` (who a device is
//! for and where, from `deskready assign`). Hand-written files are never rewritten.
//!
//! Every edit is checked: the new file is written, the whole site is loaded, and the old
//! file is put back when the site no longer loads, so a bad edit changes nothing.

use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use crate::load::Diagnostics;
use crate::site::Site;

pub const RECEIVED: &str = "inventory/received.yaml";
pub const ASSIGNMENTS: &str = "inventory/assignments.yaml";

const HEADER: &str = "# Written by deskready (receive, assign); edit with deskready, or move entries into a\n# hand-written inventory file and delete them here.\n";

/// The mapping under `section` of a tool-owned file (empty when the file does not exist).
pub fn read_section(site_dir: &Path, rel: &str, section: &str) -> Mapping {
    std::fs::read_to_string(site_dir.join(rel))
        .ok()
        .and_then(|t| serde_yaml::from_str::<Value>(&t).ok())
        .and_then(|v| v.get(section).and_then(Value::as_mapping).cloned())
        .unwrap_or_default()
}

/// The YAML text of a tool-owned file with one `section`.
pub fn render(section: &str, map: Mapping) -> String {
    let mut root = Mapping::new();
    root.insert(Value::String(section.into()), Value::Mapping(map));
    let body = serde_yaml::to_string(&Value::Mapping(root)).unwrap_or_default();
    format!("{HEADER}{body}")
}

/// Why a checked edit did not happen.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("{0}")]
    Site(Diagnostics),
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Replaces `rel` with `text` and loads the site; on any problem the old file is restored.
pub fn edit_checked(site_dir: &Path, rel: &str, text: &str) -> Result<Site, EditError> {
    let path = site_dir.join(rel);
    let old = std::fs::read(&path).ok();
    write_atomic(&path, text.as_bytes()).map_err(|source| EditError::Io {
        path: path.clone(),
        source,
    })?;
    match crate::load::load_site(site_dir) {
        Ok(site) => Ok(site),
        Err(d) => {
            let _ = match old {
                Some(bytes) => write_atomic(&path, &bytes),
                None => std::fs::remove_file(&path),
            };
            Err(EditError::Site(d))
        }
    }
}

/// Puts `rel` back to `bytes` (or removes it): undoes an edit when a later step failed.
pub fn restore(site_dir: &Path, rel: &str, bytes: Option<Vec<u8>>) {
    let path = site_dir.join(rel);
    let _ = match bytes {
        Some(b) => write_atomic(&path, &b),
        None => std::fs::remove_file(&path),
    };
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp-deskready");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
