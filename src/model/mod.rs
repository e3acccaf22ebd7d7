//! Pure types of the domain: devices, groups, profiles and their resources, stages, and the
//! outcome vocabulary.
//!
//! Nothing here reads files or talks to devices; `load` builds these from YAML and
//! `resolve` turns them into concrete per-device work.

mod audit;
mod cost;
mod device;
mod guide;
pub mod language;
mod outcome;
mod profile;
mod secret;
mod software;
mod stage;
mod when;
mod window;

pub use audit::{Attributed, SoftwareAudit, Standing};
pub use cost::Cost;
pub use device::{Address, Device, DeviceKind, Group, Location, Person, Purchase, SshAddress};
pub use guide::{Guide, GuideText, GuideView, Link, ResourceGuides};
pub use outcome::{AuditResult, Due, Outcome, ResourceStatus, RunStatus, UnknownWord};
pub use profile::{
    AptKey, Check, Deb, FileSource, Handler, HandlerAction, Presence, Profile, Resource,
    ResourceKind, ServiceState,
};
pub use secret::{
    DEFAULT_COMMAND_TIMEOUT, Secret, SecretSource, secret_references, valid_secret_name,
};
pub use software::{
    Change as SoftwareChange, Package, Pending, changes as software_changes, check_package_name,
    compare_versions,
};
pub use stage::{MoveRefused, Stage, check_move, refusal, stage_name};
pub use when::{When, WhenError, time_zone};
pub use window::{DAYS as WINDOW_DAYS, Window, WindowError, local as local_time};

/// Free variables: YAML values keyed by name, merged by precedence.
pub type Vars = serde_json::Map<String, serde_json::Value>;

/// A 1-based line and column in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// Where something was declared: a site file (relative path), line and column.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Origin {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// The key path inside the file (`resources[2].template`).
    pub path: String,
}
