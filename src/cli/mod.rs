//! Command-line interface: clap structs, one file per command; each maps its arguments to a
//! use case's settings (`crate::ops`), calls it and renders the typed result. Exit codes
//! come from `ops::ExitStatus`. Library code never prints; this module is the only one that
//! does (with the displays of `crate::report`). Nothing below it imports it.
#![allow(clippy::print_stdout, clippy::print_stderr)] // the CLI is where output is printed

mod audit;
mod config;
mod converge;
mod devices;
mod help;
mod history;
pub mod lab;
mod leases;
mod lifecycle;
mod printers;
mod queue;
mod receive;
mod rekey;
mod render;
mod report;
mod schedule;
mod software;
mod store;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::engine::device::Mode;
use crate::load::Diagnostics;
use crate::ops::{self, Env, ExitStatus};
pub(crate) use crate::report::table::table;

/// deskready takes IT hardware from received, through configured over SSH, to delivered.
#[derive(Debug, Parser)]
#[command(
    name = "deskready",
    version,
    about,
    after_help = "Examples:
  deskready validate                               # check the site
  deskready receive --csv delivery.csv             # accept a delivery
  deskready assign LAP-0003 --to 'Ada Lovelace' --desk 3-14 --email ada@example.org
  deskready plan LAP-0003                          # what would change (changes nothing)
  deskready configure LAP-0003                     # make it so
  deskready deliver LAP-0003                       # hand it over, with a handoff sheet

Defaults for options can live in the site's deskready.yaml (see README).
Exit codes: 0 done, 1 the work failed, 2 bad input, 3 refused by the device's state,
4 drift (audit, plan --exit-code), 5 unreachable (audit), 130 interrupted."
)]
pub struct Cli {
    /// The site directory (holding profiles/, templates/, inventory/).
    #[arg(long, global = true, default_value = ".", env = "DESKREADY_SITE", help_heading = GLOBAL)]
    pub site: PathBuf,
    /// Output format: text for people, json for programs (NDJSON during rollouts).
    #[arg(long, global = true, value_enum, default_value_t = Format::Text, help_heading = GLOBAL)]
    pub format: Format,
    /// Set a variable for this run, above every other layer (repeatable): --var KEY=VALUE.
    #[arg(long = "var", global = true, value_name = "KEY=VALUE", value_parser = parse_var, help_heading = GLOBAL)]
    pub vars: Vec<(String, String)>,
    /// Who is doing this, for the journal (default: $DESKREADY_OPERATOR, else the login name).
    #[arg(long, global = true, env = "DESKREADY_OPERATOR", help_heading = GLOBAL)]
    pub operator: Option<String>,
    /// When to colour the output: `auto` on a terminal unless NO_COLOR is set, `always`
    /// (even into a pipe, whatever NO_COLOR says), `never`.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto, value_name = "WHEN", help_heading = GLOBAL)]
    pub color: Color,
    #[command(subcommand)]
    pub command: Command,
}

/// The heading of the options every command takes.
const GLOBAL: &str = "Global options";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load the whole site and render every template for every device; report every problem.
    #[command(after_help = "Examples:
  deskready validate                  # exit 0 only when the site is clean
  deskready validate --secrets        # also fetch every declared secret
  deskready --format json validate    # the problems as JSON")]
    Validate(validate::Args),
    /// Print what would be written to a device.
    #[command(after_help = "Examples:
  deskready render LAP-0003
  deskready render LAP-0003 --resource 'file /etc/deskready/owner.conf'")]
    Render(render::Args),
    /// List devices with kind, profile, assignee and location.
    #[command(after_help = "Examples:
  deskready devices
  deskready devices --group floor4")]
    Devices(devices::Args),
    /// Show what configuring a device would change (with diffs); changes nothing.
    Plan(converge::PlanArgs),
    /// Make a device match its profile over SSH, then run its verify checks.
    Configure(converge::Args),
    /// Accept a device's new SSH host key on purpose (after a reinstall).
    #[command(after_help = "Examples:
  deskready rekey LAP-0003
  deskready rekey LAP-0003 --fingerprint SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8

The fingerprint is the one the device itself shows on its console:
  ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub")]
    Rekey(rekey::Args),
    /// Accept delivered hardware: one device, a packing list (--csv) or scanned tags (--scan).
    Receive(receive::Args),
    /// Record who a device is for and at which desk (used by templates).
    #[command(after_help = "Examples:
  deskready assign LAP-0003 --to 'Ada Lovelace' --desk 3-14 --email ada@example.org
  deskready assign LAP-0003 --email ada.lovelace@example.org   # just the email
  deskready assign LAP-0003 --desk 4-02                        # just the desk
  deskready assign LAP-0003 --language fr                      # their sheet in French

The devices are rendered with the new assignment first; what would break them is refused.")]
    Assign(lifecycle::AssignArgs),
    /// Give a device deskready added to the inventory another profile (checked by
    /// rendering it).
    SetProfile(lifecycle::SetProfileArgs),
    /// Hand a configured device to its person; writes their handoff sheet.
    #[command(after_help = "Examples:
  deskready deliver LAP-0003
  deskready deliver LAP-0003 --desk 4-02      # handed over somewhere else
  deskready deliver LAP-0003 --paper letter --accepted-by 'Ada Lovelace'")]
    Deliver(lifecycle::DeliverArgs),
    /// Record that the person received a delivered device and its handoff sheet.
    #[command(after_help = "Examples:
  deskready accept LAP-0003 --by 'Ada Lovelace'
  deskready accept LAP-0003 --by 'Ada Lovelace' --signature signed.png   # kept beside the sheet")]
    Accept(lifecycle::AcceptArgs),
    /// A delivered device comes back from its user, ready for the next one.
    #[command(after_help = "Examples:
  deskready return LAP-0003
  deskready return LAP-0003 --by 'Ada Lovelace' --condition 'scratched lid'
  deskready return LAP-0003 --skip-device          # it cannot be reached: hooks skipped
  deskready receive --scan --returned < tags.txt   # many, with a scanner")]
    Return(lifecycle::ReturnArgs),
    /// Send a device to repair, with what is wrong and what the repair involves.
    #[command(after_help = "Examples:
  deskready repair LAP-0003 --fault 'cracked hinge'
  deskready repair LAP-0003 --fault 'dead battery' --parts battery --rma RMA-5521 \\
      --cost '120.50 EUR' --technician 'Dell on-site'
  deskready receive LAP-0003 --outcome 'battery replaced'   # back from repair")]
    Repair(lifecycle::RepairArgs),
    /// Retire a device for good.
    #[command(after_help = "Examples:
  deskready retire LAP-0003 --reason 'end of lease'
  deskready retire PRN-0007 --reason 'scrapped' --skip-device")]
    Retire(lifecycle::RetireArgs),
    /// Add a remark to a device's journal ("replaced the battery").
    #[command(after_help = "Examples:
  deskready note LAP-0003 'replaced the battery'")]
    Note(lifecycle::NoteArgs),
    /// A device's journal: every stage change, change, check and note, with who and when.
    #[command(after_help = "Examples:
  deskready history LAP-0003
  deskready --format json history LAP-0003")]
    History(history::HistoryArgs),
    /// Every device with its stage, assignee, location and last change.
    #[command(after_help = "Examples:
  deskready status
  deskready status --stage configure-failed
  deskready status --group floor4
  deskready status --unaccepted --older-than 7d
  deskready status --warranty-expiring 90d")]
    Status(history::StatusArgs),
    /// Probe devices against their profiles, read their software and upgrades waiting,
    /// and record the result (changes nothing); or, with --due / --overdue, list devices
    /// whose physical audit is near or past.
    #[command(after_help = "Examples:
  deskready audit LAP-0003
  deskready audit --group floor4
  deskready audit --overdue            # physical audits past (exit 4 when any)

Exit codes: 0 clean, 4 drift (or an overdue physical audit), 5 a device could not be
reached, 1 an audit failed.")]
    Audit(audit::AuditArgs),
    /// Printers in service as they last said over IPP (audit them to ask): state, supply
    /// levels, pages, firmware, serial. Exit code 6 when one needs attention.
    #[command(after_help = "Examples:
  deskready audit --group floor3-printers && deskready printers
  deskready --format json printers     # supplies, pages in 30 days, what needs attention

Exit codes: 0 nothing needs attention, 6 a printer needs attention (stopped, an error or
warning, a supply low or a waste receptacle almost full).")]
    Printers(printers::Args),
    /// What is installed on devices (name, version, architecture, origin), stored as a
    /// snapshot, with what changed since the last one and whether deskready did it.
    Software(software::SoftwareArgs),
    /// The upgrades waiting on devices, which are security updates, and how old each
    /// package index is (refreshed only with --refresh).
    Upgrades(software::UpgradesArgs),
    /// Upgrade devices' packages as a rollout (batches, --max-fail, --resume, windows);
    /// every version change journaled.
    Upgrade(software::UpgradeArgs),
    /// Record that a CSP saw a device (at its desk, or --desk where it was instead).
    #[command(after_help = "Examples:
  deskready seen LAP-0003
  deskready seen LAP-0003 --desk 4-10      # it was somewhere else
  deskready seen --scan < tags.txt         # walking a floor with a scanner")]
    Seen(audit::SeenArgs),
    /// The fleet report: stages (chart), drift, physical audits due, activity, histories;
    /// as one self-contained HTML file (--html FILE) or JSON.
    #[command(after_help = "Examples:
  deskready report --html fleet.html
  deskready --format json report")]
    Report(report::Args),
    /// Lists who holds which device right now (leases: holder, machine, purpose, expiry).
    #[command(after_help = "Examples:
  deskready locks
  deskready --format json locks")]
    Locks(leases::LocksArgs),
    /// Breaks a device's lease on purpose (journaled with the reason).
    #[command(after_help = "Examples:
  deskready unlock LAP-0042 --reason \"the laptop that held it crashed\"")]
    Unlock(leases::UnlockArgs),
    /// Take jobs of queued rollouts (`configure --queue`) from the store and run them.
    #[command(after_help = "Examples:
  deskready worker                      # take queued jobs until Ctrl-C
  deskready worker --parallel 16        # 16 devices at once on this machine
  deskready worker --until-empty        # from cron or a test: end when no job is left

Run it on any number of machines that reach the devices and share the store. Exit codes:
0 every job it ran succeeded, 1 one failed, 130 interrupted (Ctrl-C).")]
    Worker(queue::WorkerArgs),
    /// The state store itself: copy it to a team (PostgreSQL) store.
    #[command(subcommand)]
    #[command(after_help = "Examples:
  deskready store copy --to postgres://deskready@db.example.org/deskready")]
    Store(store::StoreCommand),
    /// Writes the store's receipts and assignments as inventory YAML (for review, or for
    /// moving off a team store).
    #[command(after_help = "Examples:
  deskready export
  deskready export --dir /tmp/review")]
    Export(store::ExportArgs),
    /// Jobs that run a deskready command later: after hours, at weekends, in a maintenance
    /// window (add, list, remove; run what is due; install a systemd timer or cron file).
    #[command(subcommand)]
    #[command(after_help = "Examples:
  deskready schedule add \"upgrade --group floor3 --security-only\" --at \"sat 22:00\"
  deskready schedule list
  deskready schedule install     # a systemd timer that runs `deskready schedule run`")]
    Schedule(schedule::ScheduleCommand),
    /// Simulated devices on this machine: real sshd per device, for demos and tests.
    #[command(subcommand)]
    #[command(after_help = "Examples:
  deskready lab up
  deskready lab up --printers 6 --full 1
  deskready lab status
  deskready lab down")]
    Lab(lab::LabCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = "Examples:
  deskready completions bash > /etc/bash_completion.d/deskready
  deskready completions zsh > ~/.zfunc/_deskready
  deskready completions fish > ~/.config/fish/completions/deskready.fish")]
    Completions(help::CompletionsArgs),
    /// Print the manual page (roff), or write one page per command into a directory.
    #[command(after_help = "Examples:
  deskready man | man -l -
  deskready man --dir /usr/local/share/man/man1")]
    Man(help::ManArgs),
}

/// `--parallel`: how many devices at once, at least 1.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>().map_err(|e| e.to_string())? {
        0 => Err("0 devices at once would do nothing; give at least 1".into()),
        n => Ok(n),
    }
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
            Failure::Site(d)
            | Failure::Op(ops::Error::Site(d) | ops::Error::WouldBreak { problems: d, .. }) => {
                Some(d)
            }
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
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match config::command(&args) {
        Ok(cmd) => match cmd
            .try_get_matches_from(&args)
            .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m))
        {
            Ok(cli) => cli,
            Err(e) => return help::parse_error(e),
        },
        Err(diags) => {
            // The site's defaults are wrong: said like any site problem.
            let f = Failure::Site(diags);
            let json = args
                .windows(2)
                .any(|w| w[0] == "--format" && w[1] == "json")
                || args.iter().any(|a| a == "--format=json");
            report_failure(&f, if json { Format::Json } else { Format::Text });
            return f.exit_status().into();
        }
    };
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
            if let Failure::Op(e @ ops::Error::WouldBreak { .. }) = f {
                eprintln!("{e}");
                return;
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
    crate::report::style::set_color(match cli.color {
        Color::Auto => crate::report::style::ColorChoice::Auto,
        Color::Always => crate::report::style::ColorChoice::Always,
        Color::Never => crate::report::style::ColorChoice::Never,
    });
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
        Command::Plan(a) => converge::plan(&ctx, a),
        Command::Configure(a) => converge::run(&ctx, a, Mode::Configure),
        Command::Rekey(a) => rekey::run(&ctx, a),
        Command::Lab(c) => return lab::run(&ctx, c),
        Command::Receive(a) => receive::run(&ctx, a),
        Command::Assign(a) => lifecycle::assign(&ctx, a),
        Command::SetProfile(a) => lifecycle::set_profile(&ctx, a),
        Command::Deliver(a) => lifecycle::deliver(&ctx, a),
        Command::Return(a) => lifecycle::give_back(&ctx, a),
        Command::Accept(a) => lifecycle::accept(&ctx, a),
        Command::Repair(a) => lifecycle::repair(&ctx, a),
        Command::Retire(a) => lifecycle::retire(&ctx, a),
        Command::Note(a) => lifecycle::note(&ctx, a),
        Command::History(a) => history::history(&ctx, a),
        Command::Status(a) => history::status(&ctx, a),
        Command::Audit(a) => audit::audit(&ctx, a),
        Command::Printers(a) => printers::printers(&ctx, a),
        Command::Seen(a) => audit::seen(&ctx, a),
        Command::Software(a) => software::software(&ctx, a),
        Command::Upgrades(a) => software::upgrades(&ctx, a),
        Command::Upgrade(a) => software::upgrade(&ctx, a),
        Command::Report(a) => report::run(&ctx, a),
        Command::Locks(a) => leases::locks(&ctx, a),
        Command::Unlock(a) => leases::unlock(&ctx, a),
        Command::Store(c) => store::run(&ctx, c),
        Command::Worker(a) => queue::worker(&ctx, a),
        Command::Export(a) => store::export(&ctx, a),
        Command::Schedule(c) => schedule::run(&ctx, c),
        Command::Completions(a) => help::completions(a),
        Command::Man(a) => help::man(a),
    }?;
    Ok(status.into())
}
