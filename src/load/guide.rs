//! `guide:` entries of a profile and of its resources: one mapping or a list of them, each
//! with a title, steps, links, an image file of the site and language variants (`lang:`).
//! Every problem is located; an image that is not in the site is refused here, when the
//! site loads, not when a sheet is printed. Reads nothing but the image's metadata.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::SourceFile;
use super::diag::Diagnostics;
use super::locate::join_key;
use crate::model::{Guide, GuideText, Link};

/// Image files a sheet can show (HTML and PDF).
const IMAGE_TYPES: &[&str] = &["png", "jpg", "jpeg", "gif", "svg", "webp"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGuide {
    title: String,
    #[serde(default)]
    steps: Vec<String>,
    #[serde(default)]
    links: Vec<Link>,
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    lang: BTreeMap<String, RawGuideText>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGuideText {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    steps: Option<Vec<String>>,
    #[serde(default)]
    links: Option<Vec<Link>>,
    #[serde(default)]
    image: Option<String>,
}

/// The guides written at `path` of `file` (a mapping, or a list of mappings).
pub(super) fn build(
    value: serde_yaml::Value,
    path: &str,
    file: &SourceFile,
    root: &Path,
    diags: &mut Diagnostics,
) -> Vec<Guide> {
    let items: Vec<(String, serde_yaml::Value)> = match value {
        serde_yaml::Value::Sequence(seq) => seq
            .into_iter()
            .enumerate()
            .map(|(i, v)| (format!("{path}[{i}]"), v))
            .collect(),
        serde_yaml::Value::Null => Vec::new(),
        v => vec![(path.to_string(), v)],
    };
    let mut out: Vec<Guide> = Vec::new();
    for (at, v) in items {
        let Some(raw) = file.parse::<RawGuide>(v, &at, diags) else {
            continue;
        };
        let mut ok = true;
        if raw.title.trim().is_empty() {
            diags.push(file.diag(&join_key(&at, "title"), "a guide needs a title"));
            ok = false;
        }
        if out.iter().any(|g| g.title == raw.title) {
            diags.push(file.diag(
                &join_key(&at, "title"),
                format!(
                    "a guide titled `{}` is already declared here; give one of them another title",
                    raw.title
                ),
            ));
            ok = false;
        }
        ok &= check_links(&raw.links, &join_key(&at, "links"), file, diags);
        if let Some(img) = &raw.image {
            ok &= check_image(img, &join_key(&at, "image"), file, root, diags);
        }
        let mut lang = BTreeMap::new();
        for (code, t) in raw.lang {
            let lp = join_key(&join_key(&at, "lang"), &code);
            if let Err(e) = crate::model::language::check(&code) {
                diags.push(file.diag(&lp, e));
                ok = false;
                continue;
            }
            if let Some(links) = &t.links {
                ok &= check_links(links, &join_key(&lp, "links"), file, diags);
            }
            if let Some(img) = &t.image {
                ok &= check_image(img, &join_key(&lp, "image"), file, root, diags);
            }
            lang.insert(
                code,
                GuideText {
                    title: t.title,
                    steps: t.steps,
                    links: t.links,
                    image: t.image,
                },
            );
        }
        if ok {
            out.push(Guide {
                title: raw.title,
                steps: raw.steps,
                links: raw.links,
                image: raw.image,
                lang,
                origin: file.origin(&at),
            });
        }
    }
    out
}

fn check_links(links: &[Link], path: &str, file: &SourceFile, diags: &mut Diagnostics) -> bool {
    let mut ok = true;
    for (i, l) in links.iter().enumerate() {
        let allowed = ["https://", "http://", "mailto:", "tel:"];
        if !allowed.iter().any(|p| l.url.starts_with(p)) {
            diags.push(file.diag(
                &join_key(&format!("{path}[{i}]"), "url"),
                format!(
                    "`{}` is not a link a reader can follow; expected https://..., http://..., mailto:... or tel:...",
                    l.url
                ),
            ));
            ok = false;
        }
    }
    ok
}

/// An image is a file inside the site (relative path, no `..`) of a type a sheet shows.
fn check_image(
    img: &str,
    path: &str,
    file: &SourceFile,
    root: &Path,
    diags: &mut Diagnostics,
) -> bool {
    let rel = Path::new(img);
    if img.is_empty()
        || rel.is_absolute()
        || rel
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        diags.push(file.diag(
            path,
            format!("`{img}` is not a path inside the site; write it relative to the site directory, such as templates/guides/vpn.png"),
        ));
        return false;
    }
    let ext = rel
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if !IMAGE_TYPES.contains(&ext.as_str()) {
        diags.push(file.diag(
            path,
            format!(
                "`{img}` is not an image a sheet can show; allowed types: {}",
                IMAGE_TYPES.join(", ")
            ),
        ));
        return false;
    }
    if !root.join(rel).is_file() {
        diags.push(file.diag(
            path,
            format!(
                "image `{img}` does not exist in the site (looked for {})",
                root.join(rel).display()
            ),
        ));
        return false;
    }
    true
}
