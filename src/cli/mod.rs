//! Command-line interface: clap structs, one file per command; maps results to output and
//! exit codes. Library code never prints; this module is the only one that does.

mod converge;
mod devices;
pub mod lab;
mod rekey;
mod render;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::load::Diagnostics;
use crate::model::Vars;
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
    /// Something went wrong while doing the work. Exit code 1.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Failure::BadInput(_) | Failure::Site(_) => 2,
            Failure::Other(_) => 1,
        }
    }
}

/// Everything a command needs from the global options.
pub struct Ctx {
    pub site_dir: PathBuf,
    pub format: Format,
    pub vars: Vars,
}

impl Ctx {
    /// Loads the site or fails with every problem in it.
    pub fn load_site(&self) -> Result<Site, Failure> {
        crate::load::load_site(&self.site_dir).map_err(Failure::Site)
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
        site_dir: cli.site,
        format: cli.format,
        vars,
    };
    match cli.command {
        Command::Validate => validate::run(&ctx),
        Command::Render(a) => render::run(&ctx, a),
        Command::Devices(a) => devices::run(&ctx, a),
        Command::Plan(a) => converge::run(&ctx, a, crate::engine::device::Mode::Plan),
        Command::Configure(a) => converge::run(&ctx, a, crate::engine::device::Mode::Configure),
        Command::Rekey(a) => rekey::run(&ctx, a),
        Command::Lab(c) => lab::run(&ctx, c),
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
