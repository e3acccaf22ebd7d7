//! The site's one Tera instance.
