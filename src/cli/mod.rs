//! Command-line interface: clap structs, one file per command; each maps its arguments to a
//! use case's settings (`crate::ops`), calls it and renders the typed result. Exit codes
//! come from `ops::ExitStatus`. Library code never prints; this module is the only one that
//! does (with the displays of `crate::report`). Nothing below it imports it.
#![allow(clippy::print_stdout, clippy::print_stderr)] // the CLI is where output is printed

mod audit;
mod converge;
mod devices;
mod history;
pub mod lab;
mod leases;
mod lifecycle;
mod receive;
mod rekey;
mod render;
mod report;
mod store;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::engine::device::Mode;
use crate::load::Diagnostics;
use crate::model::Stage;
use crate::ops::{self, Env, ExitStatus};
pub(crate) use crate::report::table::table;

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
    Validate(validate::Args),
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
    /// Lists who holds which device right now (leases: holder, machine, purpose, expiry).
    Locks(leases::LocksArgs),
    /// Breaks a device's lease on purpose (journaled with the reason).
    Unlock(leases::UnlockArgs),
    /// The state store itself: copy it to a team (PostgreSQL) store.
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// Writes the store's receipts and assignments as inventory YAML (for review, or for
    /// moving off a team store).
    Export(store::ExportArgs),
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

/// How a command failed: a use case's typed error, or (for the lab) an edge error.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The arguments are wrong; nothing was changed.
    #[error("{0}")]
    BadInput(String),
    /// The site files have problems; nothing was changed.
    #[error("{0}")]
    Site(Diagnostics),
    /// A use case failed.
    #[error(transparent)]
    Op(#[from] ops::Error),
    /// Something else went wrong while doing the work.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl Failure {
    /// The exit status of this failure's class (the codes are in [`ExitStatus::code`]).
    fn exit_status(&self) -> ExitStatus {
        match self {
            Failure::BadInput(_) | Failure::Site(_) => ExitStatus::BadInput,
            Failure::Op(e) => e.exit_status(),
            Failure::Other(_) => ExitStatus::Failed,
        }
    }

    fn diagnostics(&self) -> Option<&Diagnostics> {
        match self {
            Failure::Site(d) | Failure::Op(ops::Error::Site(d)) => Some(d),
            _ => None,
        }
    }
}

/// An error and its causes, as one line ("cannot write x: No such file or directory").
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(&format!(": {s}"));
        source = s.source();
    }
    out
}

/// Everything a command needs from the global options.
pub struct Ctx {
    pub env: Env,
    pub format: Format,
}

impl std::ops::Deref for Ctx {
    type Target = Env;
    fn deref(&self) -> &Env {
        &self.env
    }
}

/// Prints `json` for `--format json`, else `text` as one line.
fn say(ctx: &Ctx, text: impl std::fmt::Display, json: serde_json::Value) {
    match ctx.format {
        Format::Json => println!("{json}"),
        Format::Text => println!("{text}"),
    }
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
            f.exit_status().into()
        }
    }
}

fn report_failure(f: &Failure, format: Format) {
    let refused = f.exit_status() == ExitStatus::Refused;
    match (format, f.diagnostics()) {
        (Format::Json, Some(d)) => {
            println!("{}", serde_json::json!({ "ok": false, "errors": d.0 }));
        }
        (Format::Json, None) => {
            println!("{}", serde_json::json!({ "ok": false, "error": chain(f) }));
        }
        (Format::Text, Some(d)) => {
            for diag in d.iter() {
                eprintln!("error: {diag}");
            }
            eprintln!(
                "{} problem{} in the site; nothing was changed",
                d.len(),
                if d.len() == 1 { "" } else { "s" }
            );
        }
        (Format::Text, None) if refused => eprintln!("refused: {f}"),
        (Format::Text, None) => eprintln!("error: {}", chain(f)),
    }
}

pub fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let vars = cli
        .vars
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    let ctx = Ctx {
        env: Env {
            site_dir: std::path::absolute(&cli.site).unwrap_or(cli.site),
            vars,
            operator: cli
                .operator
                .filter(|o| !o.is_empty())
                .unwrap_or_else(login_name),
        },
        format: cli.format,
    };
    let status = match cli.command {
        Command::Validate(a) => validate::run(&ctx, a),
        Command::Render(a) => render::run(&ctx, a),
        Command::Devices(a) => devices::run(&ctx, a),
        Command::Plan(a) => converge::run(&ctx, a, Mode::Plan),
        Command::Configure(a) => converge::run(&ctx, a, Mode::Configure),
        Command::Rekey(a) => rekey::run(&ctx, a),
        Command::Lab(c) => return lab::run(&ctx, c),
        Command::Receive(a) => receive::run(&ctx, a),
        Command::Assign(a) => lifecycle::assign(&ctx, a),
        Command::Deliver(a) => lifecycle::deliver(&ctx, a),
        Command::Return(a) => lifecycle::give_back(&ctx, a),
        Command::Repair(a) => lifecycle::with_reason(&ctx, a, Stage::InRepair),
        Command::Retire(a) => lifecycle::with_reason(&ctx, a, Stage::Retired),
        Command::Note(a) => lifecycle::note(&ctx, a),
        Command::History(a) => history::history(&ctx, a),
        Command::Status(a) => history::status(&ctx, a),
        Command::Audit(a) => audit::audit(&ctx, a),
        Command::Seen(a) => audit::seen(&ctx, a),
        Command::Report(a) => report::run(&ctx, a),
        Command::Locks(a) => leases::locks(&ctx, a),
        Command::Unlock(a) => leases::unlock(&ctx, a),
        Command::Store(c) => store::run(&ctx, c),
        Command::Export(a) => store::export(&ctx, a),
    }?;
    Ok(status.into())
}
