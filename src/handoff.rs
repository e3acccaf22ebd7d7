//! The handoff sheet a person receives with their device: rendered from the site's
//! `templates/handoff.md.tera` as Markdown, and as HTML made from that Markdown.

use serde::Serialize;

use crate::model::ResourceKind;
use crate::render::TemplateError;
use crate::resolve::{self, Resolved};
use crate::site::Site;

/// The template every site provides for handoff sheets.
pub const TEMPLATE: &str = "handoff.md.tera";

/// When, where and by whom a device was handed over.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub at: String,
    pub by: String,
    pub desk: Option<String>,
}

/// The sheet in both forms.
pub struct Sheet {
    pub markdown: String,
    pub html: String,
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
    let markdown = site
        .templates
        .render(TEMPLATE, &ctx)
        .map_err(|e: TemplateError| {
            format!(
                "templates/{}:{}:{}: {}",
                e.template.unwrap_or_default(),
                e.pos.line,
                e.pos.col,
                e.message
            )
        })?;
    let title = format!(
        "{} for {}",
        device.tag,
        device.assignee.as_ref().map_or("", |a| a.name.as_str())
    );
    Ok(Sheet {
        html: to_html(&title, &markdown),
        markdown,
    })
}

/// A self-contained HTML page from Markdown.
pub fn to_html(title: &str, markdown: &str) -> String {
    let parser = pulldown_cmark::Parser::new_ext(markdown, pulldown_cmark::Options::ENABLE_TABLES);
    let mut body = String::new();
    pulldown_cmark::html::push_html(&mut body, parser);
    let title = title
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n<style>\nbody {{ font-family: system-ui, sans-serif; max-width: 44rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; color: #1d2430; }}\ntable {{ border-collapse: collapse; }}\nth, td {{ border: 1px solid #c9d1dc; padding: .3rem .6rem; text-align: left; }}\ncode {{ background: #eef2f6; padding: 0 .2rem; }}\n</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )
}
