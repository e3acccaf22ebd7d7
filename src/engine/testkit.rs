//! Helpers for the engine's fast tests: a small site on disk whose devices are reached
//! through the local transport, resources that write into a temp root, and options that
//! use the fake. Test-only; never talks to a real device.

use std::path::Path;
use std::sync::Arc;

use super::device::Options;
use crate::model::{FileSource, Origin, Resource, ResourceKind};
use crate::resolve::{Resolved, ResolvedResource};
use crate::site::Site;
use crate::transport::{Local, MemoryPins, SshOptions};

/// A site of laptops `tags`, each with an SSH address the local transport ignores.
pub(crate) fn site(dir: &Path, tags: &[&str]) -> Site {
    std::fs::create_dir_all(dir.join("inventory")).unwrap();
    std::fs::create_dir_all(dir.join("profiles")).unwrap();
    let mut yaml = String::from("devices:\n");
    for (i, t) in tags.iter().enumerate() {
        yaml.push_str(&format!(
            "  {t}:\n    kind: laptop\n    model: Test Book\n    ssh: {{ host: 127.0.0.{}, user: root }}\n",
            i + 2
        ));
    }
    std::fs::write(dir.join("inventory/devices.yaml"), yaml).unwrap();
    crate::load::load_site(dir).unwrap_or_else(|d| panic!("{d:?}"))
}

/// A resource of `kind` named `name`.
pub(crate) fn resource(name: &str, kind: ResourceKind) -> ResolvedResource {
    ResolvedResource {
        resource: Resource {
            name: name.into(),
            kind,
            via: None,
            notify: Vec::new(),
            absent: false,
            origin: Origin::default(),
            key_origins: Default::default(),
        },
        template: None,
        sensitive: false,
    }
}

/// A file at `path` holding `content`.
pub(crate) fn file(path: &Path, content: &str) -> ResolvedResource {
    resource(
        &format!("file {}", path.display()),
        ResourceKind::File {
            path: path.display().to_string(),
            source: FileSource::Content(content.into()),
            mode: None,
            owner: None,
            group: None,
        },
    )
}

/// Device `tag`'s work: `resources`, no checks.
pub(crate) fn resolved(tag: &str, resources: Vec<ResolvedResource>) -> Resolved {
    Resolved {
        device: tag.into(),
        profiles: Vec::new(),
        vars: Default::default(),
        resources,
        verify: Vec::new(),
    }
}

/// Options that reach devices through `local`.
pub(crate) fn options(local: Arc<Local>, retries: u32) -> Options {
    Options {
        ssh: SshOptions {
            use_agent: false,
            ..Default::default()
        },
        pins: Arc::new(MemoryPins::new()),
        retries,
        test_page: false,
        transport: local,
        down_print_servers: Default::default(),
        redactor: crate::secrets::Redactor::none(),
    }
}
