//! Which devices a command works on: asset tags, groups, every device, then `--limit`
//! patterns. Knows the site only; never the store.

use super::{Error, known_device, known_group};
use crate::site::Site;

/// The devices a command names.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Devices by asset tag.
    pub devices: Vec<String>,
    /// Every device of these groups.
    pub groups: Vec<String>,
    /// Every device of the site.
    pub all: bool,
    /// Only tags matching one of these globs (`LAP-00*`).
    pub limit: Vec<String>,
}

impl Selection {
    /// The selected tags, in the order named, each once.
    pub fn tags(&self, site: &Site) -> Result<Vec<String>, Error> {
        let mut out: Vec<String> = Vec::new();
        for d in &self.devices {
            out.push(known_device(site, d)?.tag.clone());
        }
        for g in &self.groups {
            known_group(site, g)?;
            out.extend(site.group_members(g).map(|d| d.tag.clone()));
        }
        if self.all {
            out.extend(site.devices.keys().cloned());
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|t| seen.insert(t.clone()));
        if !self.limit.is_empty() {
            let pats: Vec<glob::Pattern> = self
                .limit
                .iter()
                .map(|p| {
                    glob::Pattern::new(p.trim())
                        .map_err(|e| Error::BadInput(format!("--limit `{p}`: {e}")))
                })
                .collect::<Result<_, _>>()?;
            let before = std::mem::take(&mut out);
            out = before
                .iter()
                .filter(|t| pats.iter().any(|p| p.matches(t)))
                .cloned()
                .collect();
            if out.is_empty() && !before.is_empty() {
                return Err(Error::BadInput(unmatched(&self.limit, &before)));
            }
        }
        Ok(out)
    }
}

/// Why `--limit` left nothing: its patterns, and the devices they were matched against.
fn unmatched(limit: &[String], selected: &[String]) -> String {
    let pats: Vec<String> = limit.iter().map(|p| format!("`{}`", p.trim())).collect();
    let mut shown: Vec<&str> = selected.iter().take(5).map(String::as_str).collect();
    if selected.len() > shown.len() {
        shown.push("…");
    }
    format!(
        "--limit {} matched none of the {} selected device{} ({}); a pattern matches asset tags, such as LAP-00*",
        pats.join(", "),
        selected.len(),
        if selected.len() == 1 { "" } else { "s" },
        shown.join(", ")
    )
}
