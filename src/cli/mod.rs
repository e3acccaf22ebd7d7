//! Command-line interface: clap structs, one file per command; maps results to output and
//! exit codes. Library code never prints; this module is the only one that does.

mod audit;
mod converge;
mod devices;
mod history;
pub mod lab;
mod lifecycle;
mod receive;
mod rekey;
mod render;
mod report;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::load::Diagnostics;
use crate::model::Vars;
pub use history::describe as describe_entry;

use crate::site::Site;

/// deskready takes IT hardware from received, through configured over SSH, to delivered.
#[derive(Debug, Parser)]
#[command(name = "deskready", version, about)]
pub struct Cli {
    /// The site directory (holding profiles/, templates/, inventory/).
    #[arg(long, global = true, default_value = ".", env = "DESKREADY_SITE")]
    pub site: PathBuf,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Set a variable for this run, above every other layer (repeatable): --var KEY=VALUE.
    #[arg(long = "var", global = true, value_name = "KEY=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// Who is doing this, for the journal (default: $DESKREADY_OPERATOR, else the login name).
    #[arg(long, global = true, env = "DESKREADY_OPERATOR")]
    pub operator: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load the whole site and render every template for every device; report every problem.
    Validate,
    /// Print what would be written to a device.
    Render(render::Args),
    /// List devices with kind, profile, assignee and location.
    Devices(devices::Args),
    /// Show what configuring a device would change (with diffs); changes nothing.
    Plan(converge::Args),
    /// Make a device match its profile over SSH, then run its verify checks.
    Configure(converge::Args),
    /// Accept a device's new SSH host key on purpose (after a reinstall).
    Rekey(rekey::Args),
    /// Accept delivered hardware: one device, a packing list (--csv) or scanned tags (--scan).
    Receive(receive::Args),
    /// Record who a device is for and at which desk (used by templates).
    Assign(lifecycle::AssignArgs),
    /// Hand a configured device to its person; writes their handoff sheet.
    Deliver(lifecycle::DeliverArgs),
    /// A delivered device comes back from its user, ready for the next one.
    Return(lifecycle::DeviceArg),
    /// Send a device to repair.
    Repair(lifecycle::ReasonArgs),
    /// Retire a device for good.
    Retire(lifecycle::ReasonArgs),
    /// Add a remark to a device's journal ("replaced the battery").
    Note(lifecycle::NoteArgs),
    /// A device's journal: every stage change, change, check and note, with who and when.
    History(history::HistoryArgs),
    /// Every device with its stage, assignee, location and last change.
    Status(history::StatusArgs),
    /// Probe devices against their profiles and record the result (changes nothing); or,
    /// with --due / --overdue, list devices whose physical audit is near or past. Exit code
    /// 0 clean, 4 drift, 5 a device could not be reached, 1 an audit failed.
    Audit(audit::AuditArgs),
    /// Record that a CSP saw a device (at its desk, or --desk where it was instead).
    Seen(audit::SeenArgs),
    /// The fleet report: stages (chart), drift, physical audits due, activity, histories;
    /// as one self-contained HTML file (--html FILE) or JSON.
    Report(report::Args),
    /// Simulated devices on this machine: real sshd per device, for demos and tests.
    #[command(subcommand)]
    Lab(lab::LabCommand),
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

/// How a command failed; decides the exit code.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The site or the arguments are wrong; nothing was changed. Exit code 2.
    #[error("{0}")]
    BadInput(String),
    /// The site files have problems. Exit code 2.
    #[error("{0}")]
    Site(Diagnostics),
    /// The device's state does not allow it (an illegal stage move, a lock held by another
    /// run, outside its maintenance window). Nothing was changed. Exit code 3.
    #[error("{0}")]
    Refused(String),
    /// Something went wrong while doing the work. Exit code 1.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Failure {
        use crate::store::StoreError;
        match e {
            StoreError::Refused(_) | StoreError::Locked { .. } => Failure::Refused(e.to_string()),
            other => Failure::Other(other.into()),
        }
    }
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Failure::BadInput(_) | Failure::Site(_) => 2,
            Failure::Refused(_) => 3,
            Failure::Other(_) => 1,
        }
    }
}

/// Everything a command needs from the global options.
pub struct Ctx {
    pub site_dir: PathBuf,
    pub format: Format,
    pub vars: Vars,
    /// Who is doing this, for the journal.
    pub operator: String,
}

impl Ctx {
    /// Loads the site or fails with every problem in it.
    pub fn load_site(&self) -> Result<Site, Failure> {
        crate::load::load_site(&self.site_dir).map_err(Failure::Site)
    }

    /// Opens the site's state store. Host keys pinned in the plain file of earlier versions
    /// (`.deskready/host_keys`) move into it.
    pub fn open_store(&self) -> Result<std::sync::Arc<crate::store::Store>, Failure> {
        use crate::transport::HostKeyPins;
        let dir = crate::site::state_dir(&self.site_dir);
        let store = crate::store::Store::open(&dir)?;
        let legacy = dir.join("host_keys");
        if legacy.exists() {
            let file = crate::transport::FilePins::new(legacy.clone());
            for (tag, pin) in file.all().map_err(anyhow::Error::from)? {
                if store.pinned(&tag).map_err(anyhow::Error::from)?.is_none() {
                    store.pin(&tag, &pin).map_err(anyhow::Error::from)?;
                }
            }
            std::fs::rename(&legacy, dir.join("host_keys.imported"))
                .map_err(anyhow::Error::from)?;
        }
        Ok(std::sync::Arc::new(store))
    }
}

/// The device `tag` of `site`, or an error naming the tags there are.
pub fn known_device<'a>(site: &'a Site, tag: &str) -> Result<&'a crate::model::Device, Failure> {
    site.device(tag).ok_or_else(|| {
        let tags: Vec<&str> = site.devices.keys().map(String::as_str).collect();
        Failure::BadInput(crate::load::diag::unknown("device", tag, &tags))
    })
}

/// Fails when `site` has no group `name`, naming the groups there are.
pub fn known_group(site: &Site, name: &str) -> Result<(), Failure> {
    if site.groups.contains_key(name) {
        return Ok(());
    }
    let names: Vec<&str> = site.groups.keys().map(String::as_str).collect();
    Err(Failure::BadInput(crate::load::diag::unknown(
        "group", name, &names,
    )))
}

/// The login name of the user running deskready.
fn login_name() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Ok(v) = std::env::var(var)
            && !v.is_empty()
        {
            return v;
        }
    }
    // SAFETY: getpwuid returns a pointer into static storage or null; read at once.
    unsafe {
        let pw = libc::getpwuid(libc::getuid());
        if !pw.is_null() {
            return std::ffi::CStr::from_ptr((*pw).pw_name)
                .to_string_lossy()
                .into_owned();
        }
        format!("uid {}", libc::getuid())
    }
}

/// Parses the process arguments, runs the command and returns its exit code.
pub fn main() -> ExitCode {
    // Like other Unix tools, end quietly when the reader of our output goes away
    // (`deskready history X | head`) instead of panicking on a broken pipe.
    // SAFETY: called once at start-up, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let format = cli.format;
    match run(cli) {
        Ok(code) => code,
        Err(f) => {
            report_failure(&f, format);
            ExitCode::from(f.exit_code())
        }
    }
}

fn report_failure(f: &Failure, format: Format) {
    match (format, f) {
        (Format::Json, Failure::Site(d)) => {
            println!("{}", serde_json::json!({ "ok": false, "errors": d.0 }));
        }
        (Format::Json, other) => {
            println!(
                "{}",
                serde_json::json!({ "ok": false, "error": format!("{other:#}") })
            );
        }
        (Format::Text, Failure::Site(d)) => {
            for diag in d.iter() {
                eprintln!("error: {diag}");
            }
            eprintln!(
                "{} problem{} in the site; nothing was changed",
                d.len(),
                if d.len() == 1 { "" } else { "s" }
            );
        }
        (Format::Text, Failure::Other(e)) => eprintln!("error: {e:#}"),
        (Format::Text, Failure::Refused(m)) => eprintln!("refused: {m}"),
        (Format::Text, other) => eprintln!("error: {other}"),
    }
}

pub fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let vars = cli
        .vars
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    let ctx = Ctx {
        site_dir: std::path::absolute(&cli.site).unwrap_or(cli.site),
        format: cli.format,
        vars,
        operator: cli
            .operator
            .filter(|o| !o.is_empty())
            .unwrap_or_else(login_name),
    };
    match cli.command {
        Command::Validate => validate::run(&ctx),
        Command::Render(a) => render::run(&ctx, a),
        Command::Devices(a) => devices::run(&ctx, a),
        Command::Plan(a) => converge::run(&ctx, a, crate::engine::device::Mode::Plan),
        Command::Configure(a) => converge::run(&ctx, a, crate::engine::device::Mode::Configure),
        Command::Rekey(a) => rekey::run(&ctx, a),
        Command::Lab(c) => lab::run(&ctx, c),
        Command::Receive(a) => receive::run(&ctx, a),
        Command::Assign(a) => lifecycle::assign(&ctx, a),
        Command::Deliver(a) => lifecycle::deliver(&ctx, a),
        Command::Return(a) => lifecycle::give_back(&ctx, a),
        Command::Repair(a) => lifecycle::with_reason(&ctx, a, crate::model::Stage::InRepair),
        Command::Retire(a) => lifecycle::with_reason(&ctx, a, crate::model::Stage::Retired),
        Command::Note(a) => lifecycle::note(&ctx, a),
        Command::History(a) => history::history(&ctx, a),
        Command::Status(a) => history::status(&ctx, a),
        Command::Audit(a) => audit::audit(&ctx, a),
        Command::Seen(a) => audit::seen(&ctx, a),
        Command::Report(a) => report::run(&ctx, a),
    }
}

/// A plain left-aligned text table.
pub fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == N {
                l.push_str(cell);
            } else {
                l.push_str(&format!("{cell:<w$}  ", w = *w));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}
