//! The handoff sheet a person receives with their device: rendered from the site's
//! `templates/handoff.md.tera` as Markdown, and as HTML made from that Markdown (print CSS
//! for A4 and Letter, guide images embedded); [`pdf`] prints that HTML to a PDF. The
//! getting-started section comes from the guides of what the device got ([`guides`]).
//! Writes no sheet itself (`ops::deliver` does); only [`pdf::print`] writes its PDF.

pub mod pdf;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{GuideView, Origin, ResourceKind};
use crate::render::TemplateError;
use crate::resolve::{self, Resolved};
use crate::site::Site;

/// The template every site provides for handoff sheets.
pub const TEMPLATE: &str = "handoff.md.tera";

/// When, where and by whom a device was handed over.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// RFC 3339, UTC (as recorded).
    pub at: String,
    /// The same time as the person reads it: local time of the device's `timezone`
    /// variable, else of this machine ("2026-11-26 18:03 Europe/London").
    pub local: String,
    pub by: String,
    pub desk: Option<String>,
    /// The sheet's version: 1 for the device's first handoff, 2 for the next...
    pub sheet_version: usize,
}

/// The sheet in both forms.
pub struct Sheet {
    pub markdown: String,
    pub html: String,
    /// The getting-started guides it shows, in order.
    pub guides: Vec<SheetGuide>,
}

/// One getting-started guide as the sheet shows it: in the person's language where the
/// guide has it, its text rendered for the device.
#[derive(Debug, Clone, Serialize)]
pub struct SheetGuide {
    pub title: String,
    pub steps: Vec<String>,
    pub links: Vec<crate::model::Link>,
    /// The image file, relative to the site (embedded in the HTML).
    pub image: Option<String>,
    /// What it is about: `profile NAME`, or the resource's name.
    pub about: String,
    /// The language of the text shown, when not the default.
    pub lang: Option<String>,
}

/// `at` (RFC 3339) in the local time of `tz_name` (an IANA zone), else of this machine.
pub fn local_time(at: &str, tz_name: Option<&str>) -> String {
    let Ok(ts) = at.parse::<jiff::Timestamp>() else {
        return at.to_string();
    };
    let named = tz_name.and_then(|n| {
        jiff::tz::TimeZone::get(n)
            .ok()
            .map(|tz| (tz, n.to_string()))
    });
    let (tz, name) = named.unwrap_or_else(|| {
        let tz = jiff::tz::TimeZone::system();
        let name = tz.iana_name().unwrap_or("local time").to_string();
        (tz, name)
    });
    crate::model::local_time(&ts.to_zoned(tz), &name)
}

/// The guides of what `resolved`'s device got, in `language` where they have it: its
/// profiles' own guides (root profile first; a child's guide replaces its parent's of the
/// same title), then those of each resource it got, in the order of its resources.
pub fn guides(
    site: &Site,
    resolved: &Resolved,
    language: Option<&str>,
) -> Vec<(GuideView, String, Origin)> {
    let chain: Vec<&crate::model::Profile> = resolved
        .profiles
        .iter()
        .filter_map(|n| site.profiles.get(n))
        .collect();
    let mut out: Vec<(GuideView, String, Origin)> = Vec::new();
    let mut add = |v: GuideView, about: String, origin: Origin| match out
        .iter_mut()
        .find(|(g, _, _)| g.title == v.title)
    {
        Some(slot) => *slot = (v, about, origin),
        None => out.push((v, about, origin)),
    };
    for p in &chain {
        for g in &p.guide {
            add(
                g.view(language),
                format!("profile {}", p.name),
                g.origin.clone(),
            );
        }
    }
    for r in &resolved.resources {
        let Some(rg) = chain
            .iter()
            .flat_map(|p| p.resource_guides.iter())
            .find(|rg| rg.origin == r.resource.origin)
        else {
            continue;
        };
        for g in &rg.guides {
            add(g.view(language), rg.resource.clone(), g.origin.clone());
        }
    }
    out
}

/// The sheet's template context: the device's plus `delivery`, `software` and `files`.
fn sheet_context(
    site: &Site,
    device: &crate::model::Device,
    resolved: &Resolved,
    delivery: &Delivery,
) -> tera::Context {
    let mut ctx = resolve::context(site, device, &resolved.vars);
    ctx.insert("delivery", delivery);
    let software: Vec<&str> = resolved
        .resources
        .iter()
        .filter_map(|r| match r.kind() {
            ResourceKind::Package {
                package,
                state: crate::model::Presence::Present,
                ..
            } => Some(package.as_str()),
            _ => None,
        })
        .collect();
    ctx.insert("software", &software);
    let files: Vec<&str> = resolved
        .resources
        .iter()
        .filter_map(|r| match r.kind() {
            ResourceKind::File { path, .. } => Some(path.as_str()),
            _ => None,
        })
        .collect();
    ctx.insert("files", &files);
    ctx
}

/// Every guide `resolved`'s device would show, in every language it is written in,
/// rendered for the device (with a stand-in delivery): each that does not render is a
/// located problem ending in "(rendering for TAG)". For `validate`.
pub fn guide_problems(site: &Site, resolved: &Resolved) -> Vec<crate::load::Diagnostic> {
    let Some(device) = site.device(&resolved.device) else {
        return Vec::new();
    };
    let delivery = Delivery {
        at: "1970-01-01T00:00:00Z".into(),
        local: "1970-01-01 00:00 UTC".into(),
        by: "deskready".into(),
        desk: device.location.desk.clone(),
        sheet_version: 1,
    };
    let ctx = sheet_context(site, device, resolved, &delivery);
    let mut languages: Vec<Option<&str>> = vec![None];
    let chain: Vec<&crate::model::Profile> = resolved
        .profiles
        .iter()
        .filter_map(|n| site.profiles.get(n))
        .collect();
    for p in &chain {
        let all = p
            .guide
            .iter()
            .chain(p.resource_guides.iter().flat_map(|r| r.guides.iter()));
        for g in all {
            for code in g.lang.keys() {
                if !languages.contains(&Some(code.as_str())) {
                    languages.push(Some(code.as_str()));
                }
            }
        }
    }
    let mut out: Vec<crate::load::Diagnostic> = Vec::new();
    for lang in languages {
        for (v, _, origin) in guides(site, resolved, lang) {
            for text in std::iter::once(&v.title).chain(v.steps.iter()) {
                if let Err(e) = site.templates.render_str(text, &ctx) {
                    let d = crate::load::Diagnostic {
                        file: origin.file.clone(),
                        line: origin.line,
                        column: origin.column,
                        path: origin.path.clone(),
                        message: format!(
                            "guide `{}`: {} (rendering for {})",
                            v.title, e.message, device.tag
                        ),
                    };
                    if !out.contains(&d) {
                        out.push(d);
                    }
                }
            }
        }
    }
    out
}

/// Renders the sheet for `resolved`'s device. The context is the device's template
/// context plus `delivery`, `software` (the packages its profile installs) and `files`
/// (the files it manages).
pub fn render(site: &Site, resolved: &Resolved, delivery: &Delivery) -> Result<Sheet, String> {
    if !site.templates.exists(TEMPLATE) {
        return Err(format!(
            "the site has no templates/{TEMPLATE}; deliver renders the handoff sheet from it"
        ));
    }
    let device = site
        .device(&resolved.device)
        .ok_or_else(|| format!("unknown device {}", resolved.device))?;
    let mut ctx = sheet_context(site, device, resolved, delivery);
    let language = device.assignee.as_ref().and_then(|a| a.language.as_deref());
    let mut sheet_guides = Vec::new();
    for (v, about, origin) in guides(site, resolved, language) {
        let at = |e: TemplateError| {
            format!(
                "{}:{}:{}: guide `{}`: {}",
                origin.file, origin.line, origin.column, v.title, e.message
            )
        };
        let render = |t: &str| site.templates.render_str(t, &ctx).map_err(at);
        sheet_guides.push(SheetGuide {
            title: render(&v.title)?,
            steps: v
                .steps
                .iter()
                .map(|s| render(s))
                .collect::<Result<_, _>>()?,
            links: v.links.clone(),
            image: v.image.clone(),
            about,
            lang: v.lang.clone(),
        });
    }
    ctx.insert("guides", &sheet_guides);
    let template = template_for(site, language);
    let markdown = site
        .templates
        .render(&template, &ctx)
        .map_err(|e: TemplateError| {
            format!(
                "templates/{}:{}:{}: {}",
                e.template.unwrap_or_default(),
                e.pos.line,
                e.pos.col,
                e.message
            )
        })?;
    // The page's title is the sheet's own heading, in the template's words and language.
    let title = match first_heading(&markdown) {
        Some(h) => format!("{h} ({})", device.tag),
        None => match device.assignee.as_ref() {
            Some(a) => format!("{}: {}", device.tag, a.name),
            None => device.tag.clone(),
        },
    };
    let lang = template_language(&template);
    let mut images = BTreeMap::new();
    for g in &sheet_guides {
        if let Some(img) = &g.image {
            let path = site.root.join(img);
            let bytes = std::fs::read(&path)
                .map_err(|e| format!("cannot read guide image {}: {e}", path.display()))?;
            images.insert(img.clone(), data_uri(img, &bytes));
        }
    }
    Ok(Sheet {
        html: to_html_with(lang, &title, &markdown, &images),
        markdown,
        guides: sheet_guides,
    })
}

impl Sheet {
    /// The Markdown sheet as written in the folder `dir`: each guide image (a path in the
    /// site at `site_root`) linked from there, so that the sheet shows it where it lies
    /// (the HTML and PDF carry their images).
    pub fn markdown_in(&self, site_root: &std::path::Path, dir: &std::path::Path) -> String {
        let mut md = self.markdown.clone();
        let mut done: Vec<&str> = Vec::new();
        for img in self.guides.iter().filter_map(|g| g.image.as_deref()) {
            if done.contains(&img) {
                continue;
            }
            done.push(img);
            let from_dir = match dir.strip_prefix(site_root) {
                Ok(sub) => format!("{}{img}", "../".repeat(sub.components().count())),
                Err(_) => site_root.join(img).display().to_string(),
            };
            let link = if from_dir.contains([' ', '(', ')', '<', '>']) {
                format!("<{from_dir}>")
            } else {
                from_dir
            };
            md = md.replace(&format!("]({img})"), &format!("]({link})"));
        }
        md
    }
}

/// The sheet's template for a person reading `language`: the site's language version of
/// [`TEMPLATE`] (`handoff.fr.md.tera`, `handoff.pt-BR.md.tera`, else `handoff.pt.md.tera`
/// for `pt-BR`) when it has one, else [`TEMPLATE`].
pub fn template_for(site: &Site, language: Option<&str>) -> String {
    let Some(lang) = language else {
        return TEMPLATE.to_string();
    };
    let primary = lang.split('-').next().unwrap_or(lang);
    [lang, primary]
        .iter()
        .map(|l| TEMPLATE.replacen(".md.tera", &format!(".{l}.md.tera"), 1))
        .find(|t| site.templates.exists(t))
        .unwrap_or_else(|| TEMPLATE.to_string())
}

/// The language a sheet template is written in: `fr` for `handoff.fr.md.tera`; the
/// default [`TEMPLATE`] is English.
fn template_language(template: &str) -> &str {
    template
        .strip_prefix("handoff.")
        .and_then(|t| t.strip_suffix(".md.tera"))
        .unwrap_or("en")
}

/// The text of the first top-level heading (`# ...`) of `markdown`, when it has one.
fn first_heading(markdown: &str) -> Option<String> {
    use pulldown_cmark::{Event, HeadingLevel, Tag, TagEnd};
    let mut text: Option<String> = None;
    for e in pulldown_cmark::Parser::new(markdown) {
        match (&mut text, e) {
            (
                None,
                Event::Start(Tag::Heading {
                    level: HeadingLevel::H1,
                    ..
                }),
            ) => {
                text = Some(String::new());
            }
            (Some(t), Event::Text(s) | Event::Code(s)) => t.push_str(&s),
            (Some(t), Event::SoftBreak | Event::HardBreak) => t.push(' '),
            (Some(t), Event::End(TagEnd::Heading(_))) => {
                let t = t.trim().to_string();
                return (!t.is_empty()).then_some(t);
            }
            _ => {}
        }
    }
    None
}

/// A `data:` URI of an image file, so that the sheet is one self-contained file.
fn data_uri(name: &str, bytes: &[u8]) -> String {
    use base64::Engine as _;
    let ext = name
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mime = match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        _ => "application/octet-stream",
    };
    format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// The print rules: the page follows the printer's paper (A4 or Letter) with margins that
/// suit both, nothing wider than the page, no guide or table row cut in two.
const PRINT_CSS: &str = "@page { margin: 14mm 16mm; }
@media print {
  body { max-width: none; margin: 0; padding: 0; font-size: 10.5pt; }
  h1, h2, h3 { break-after: avoid; page-break-after: avoid; }
  table, tr, img, .guide, li { break-inside: avoid; page-break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
  a[href^=\"http\"]::after { content: \" (\" attr(href) \")\"; font-size: 85%; }
}
img { max-width: 100%; max-height: 45mm; }
";

/// A self-contained HTML page from Markdown.
pub fn to_html(title: &str, markdown: &str) -> String {
    to_html_with("en", title, markdown, &BTreeMap::new())
}

/// A self-contained HTML page in language `lang` (`fr`) from Markdown; images whose source is a key of `images`
/// get its value (a `data:` URI) instead. A table header row with no text is left out
/// (Markdown tables need one; a key-value table has nothing to put in it).
pub fn to_html_with(
    lang: &str,
    title: &str,
    markdown: &str,
    images: &BTreeMap<String, String>,
) -> String {
    use pulldown_cmark::{CowStr, Event, Tag};
    let parser = pulldown_cmark::Parser::new_ext(markdown, pulldown_cmark::Options::ENABLE_TABLES)
        .map(|e| match e {
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            }) => {
                let dest_url = match images.get(dest_url.as_ref()) {
                    Some(uri) => CowStr::from(uri.clone()),
                    None => dest_url,
                };
                Event::Start(Tag::Image {
                    link_type,
                    dest_url,
                    title,
                    id,
                })
            }
            other => other,
        });
    let mut body = String::new();
    pulldown_cmark::html::push_html(&mut body, parser);
    let body = drop_empty_heads(&body);
    let escape = |t: &str| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let title = escape(title);
    let lang = escape(lang);
    format!(
        "<!doctype html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n<style>\nbody {{ font-family: system-ui, sans-serif; max-width: 44rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; color: #1d2430; }}\ntable {{ border-collapse: collapse; }}\nth, td {{ border: 1px solid #c9d1dc; padding: .3rem .6rem; text-align: left; }}\ncode {{ background: #eef2f6; padding: 0 .2rem; }}\n.guide {{ margin: 0 0 1rem; }}\n{PRINT_CSS}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )
}

/// Removes every `<thead>...</thead>` that holds no text.
fn drop_empty_heads(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find("<thead>") {
        let Some(len) = rest[start..].find("</thead>") else {
            break;
        };
        let end = start + len + "</thead>".len();
        let head = &rest[start..end];
        let mut text = String::new();
        let mut in_tag = false;
        for c in head.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        out.push_str(&rest[..start]);
        if !text.trim().is_empty() {
            out.push_str(head);
        }
        rest = rest[end..].trim_start_matches('\n');
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_in_its_templates_language_and_titled_by_its_heading() {
        assert_eq!(template_language("handoff.fr.md.tera"), "fr");
        assert_eq!(template_language("handoff.pt-BR.md.tera"), "pt-BR");
        assert_eq!(template_language(TEMPLATE), "en");
        assert_eq!(
            first_heading("intro\n\n# Votre ordinateur, *Léa*\n\n## Aide\n").as_deref(),
            Some("Votre ordinateur, Léa")
        );
        assert_eq!(first_heading("## Only a subheading\n"), None);
        let html = to_html_with("fr", "Votre \"PC\"", "# x\n", &BTreeMap::new());
        assert!(html.contains("<html lang=\"fr\">"), "{html}");
        assert!(
            html.contains("<title>Votre &quot;PC&quot;</title>"),
            "{html}"
        );
    }

    #[test]
    fn an_empty_table_head_is_left_out_and_a_real_one_kept() {
        let html = to_html(
            "t",
            "| | |\n|---|---|\n| a | b |\n\n| Q | P |\n|---|---|\n| c | d |\n",
        );
        assert_eq!(html.matches("<thead>").count(), 1, "{html}");
        assert!(html.contains("<th>Q</th>"), "{html}");
        assert!(html.contains("<td>a</td>"), "{html}");
    }

    #[test]
    fn the_markdown_sheet_links_its_images_from_where_it_is_written() {
        let guide = |image: &str| SheetGuide {
            title: "Printing".into(),
            steps: Vec::new(),
            links: Vec::new(),
            image: Some(image.into()),
            about: String::new(),
            lang: None,
        };
        let sheet = Sheet {
            markdown:
                "![Printing](templates/guides/printing.svg)\n![Git](templates/guides/git.svg)\n"
                    .into(),
            html: String::new(),
            guides: vec![
                guide("templates/guides/printing.svg"),
                guide("templates/guides/git.svg"),
            ],
        };
        let site = std::path::Path::new("/srv/site");
        assert_eq!(
            sheet.markdown_in(site, &site.join(".deskready/handoff")),
            "![Printing](../../templates/guides/printing.svg)\n![Git](../../templates/guides/git.svg)\n"
        );
        // A state folder outside the site: the image's whole path.
        assert_eq!(
            sheet.markdown_in(
                std::path::Path::new("/srv/my site"),
                std::path::Path::new("/var/lib/x")
            ),
            "![Printing](</srv/my site/templates/guides/printing.svg>)\n![Git](</srv/my site/templates/guides/git.svg>)\n"
        );
    }

    #[test]
    fn guide_images_are_embedded() {
        let mut images = BTreeMap::new();
        images.insert(
            "guides/vpn.png".to_string(),
            "data:image/png;base64,AAAA".to_string(),
        );
        let html = to_html_with("en", "t", "![VPN](guides/vpn.png)\n", &images);
        assert!(
            html.contains("src=\"data:image/png;base64,AAAA\""),
            "{html}"
        );
    }

    #[test]
    fn times_are_shown_in_the_named_zone() {
        assert_eq!(
            local_time("2026-07-01T12:30:00Z", Some("Europe/Paris")),
            "2026-07-01 14:30 Europe/Paris"
        );
    }
}
