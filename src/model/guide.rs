//! Getting-started material written once by the support team: a title, short steps, links
//! and an image file from the site, with optional variants per language. A profile carries
//! guides of its own and per resource; the handoff sheet shows those of what a device got.
//!
//! Pure data: loading (and checking that an image exists) is `load::guide`, choosing and
//! rendering for a person is `handoff`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Origin;

/// A link shown under a guide's steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub title: String,
    pub url: String,
}

/// One guide entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Guide {
    pub title: String,
    pub steps: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    /// An image file of the site, relative to its root (`templates/guides/vpn.png`);
    /// checked to exist when the site loads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Variants by language code (`fr`, `pt-BR`): what they set replaces the default.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub lang: BTreeMap<String, GuideText>,
    #[serde(skip)]
    pub origin: Origin,
}

/// A guide's text in one language; what is left out comes from the default.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct GuideText {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<Vec<Link>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// A guide as one person reads it: the variant of their language, else the default.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuideView {
    pub title: String,
    pub steps: Vec<String>,
    pub links: Vec<Link>,
    pub image: Option<String>,
    /// The language of the variant chosen; `None` for the default text.
    pub lang: Option<String>,
}

impl Guide {
    /// The guide in `language` when it has that variant (`pt-BR` also matches a `pt`
    /// variant), else the default text.
    pub fn view(&self, language: Option<&str>) -> GuideView {
        let chosen = language.and_then(|l| {
            self.lang.get_key_value(l).or_else(|| {
                l.split_once('-')
                    .and_then(|(base, _)| self.lang.get_key_value(base))
            })
        });
        let mut v = GuideView {
            title: self.title.clone(),
            steps: self.steps.clone(),
            links: self.links.clone(),
            image: self.image.clone(),
            lang: None,
        };
        if let Some((code, t)) = chosen {
            v.lang = Some(code.clone());
            if let Some(x) = &t.title {
                v.title = x.clone();
            }
            if let Some(x) = &t.steps {
                v.steps = x.clone();
            }
            if let Some(x) = &t.links {
                v.links = x.clone();
            }
            if let Some(x) = &t.image {
                v.image = Some(x.clone());
            }
        }
        v
    }
}

/// The guides a profile attaches to one of its resources.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceGuides {
    /// The resource's name as written.
    pub resource: String,
    /// Where the resource is declared: a device got it when one of its resolved resources
    /// comes from here.
    #[serde(skip)]
    pub origin: Origin,
    pub guides: Vec<Guide>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_language_variant_replaces_what_it_sets() {
        let mut g = Guide {
            title: "Printing".into(),
            steps: vec!["Press Ctrl+P".into()],
            links: vec![],
            image: Some("guides/print.png".into()),
            lang: BTreeMap::new(),
            origin: Origin::default(),
        };
        g.lang.insert(
            "fr".into(),
            GuideText {
                title: Some("Imprimer".into()),
                ..GuideText::default()
            },
        );
        assert_eq!(g.view(None).title, "Printing");
        assert_eq!(g.view(Some("de")).title, "Printing");
        let fr = g.view(Some("fr-CA"));
        assert_eq!(
            (fr.title.as_str(), fr.lang.as_deref()),
            ("Imprimer", Some("fr"))
        );
        assert_eq!(fr.steps, ["Press Ctrl+P"]);
        assert_eq!(fr.image.as_deref(), Some("guides/print.png"));
    }
}
