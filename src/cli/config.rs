//! Defaults for command-line options from the site's `deskready.yaml` (read by
//! `crate::load::config`): which options may have one, each value checked by the option's
//! own parser with a located error, and the clap command with those defaults in place.
//! The command line and `DESKREADY_*` variables still win. Prints nothing.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::CommandFactory;

use super::Cli;
use crate::load::config::{self, OptionDefault};
use crate::load::diag::unknown;
use crate::load::{Diagnostic, Diagnostics};

/// Options a site may set a default for (as on the command line, without `--`).
pub(super) const OPTIONS: &[&str] = &[
    "format",
    "parallel",
    "retries",
    "batch",
    "max-fail",
    "connect-timeout",
    "command-timeout",
    "timezone",
];

/// The site directory the command line names (`--site`, else `$DESKREADY_SITE`, else
/// the current directory), found before parsing so that its defaults can apply.
fn site_of(args: &[OsString]) -> PathBuf {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        if a == "--" {
            break;
        }
        if a == "--site" {
            if let Some(v) = it.next() {
                return PathBuf::from(v);
            }
        } else if let Some(v) = a.strip_prefix("--site=") {
            return PathBuf::from(v);
        }
    }
    std::env::var_os("DESKREADY_SITE")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("."), PathBuf::from)
}

/// The clap command, with the defaults of the site `args` name; or every problem of its
/// `deskready.yaml`.
pub(super) fn command(args: &[OsString]) -> Result<clap::Command, Diagnostics> {
    let defaults = config::read(&site_of(args))?;
    let mut cmd = Cli::command();
    if defaults.is_empty() {
        return Ok(cmd);
    }
    let mut diags = Diagnostics::default();
    for d in &defaults {
        match check(&cmd, d) {
            Ok(long) => cmd = with_default(cmd, long, &d.value),
            Err(message) => diags.push(Diagnostic::new(
                config::FILE,
                d.pos,
                format!("defaults.{}", d.key),
                message,
            )),
        }
    }
    if diags.is_empty() {
        Ok(cmd)
    } else {
        Err(diags.sorted())
    }
}

/// The option `d` names (its long name), once its value suits it.
fn check(cmd: &clap::Command, d: &OptionDefault) -> Result<&'static str, String> {
    let key = d.key.replace('_', "-");
    let Some(long) = OPTIONS.iter().copied().find(|o| *o == key) else {
        return Err(unknown("option", &d.key, OPTIONS));
    };
    let arg = find(cmd, long).ok_or_else(|| format!("no command takes --{long}"))?;
    // The option's own parser judges the value: a command with only this option, given it.
    let value = d.value.clone();
    clap::Command::new("deskready")
        .arg(arg.clone().global(false).required(false))
        .try_get_matches_from(["deskready".to_string(), format!("--{long}={value}")])
        .map_err(|e| first_line(&e.to_string()))?;
    match long {
        "batch" => {
            for size in d.value.split(',') {
                crate::ops::rollout::batch_size(size.trim())?;
            }
        }
        "max-fail" => {
            crate::engine::fleet::MaxFail::parse(&d.value)?;
        }
        _ => {}
    }
    Ok(long)
}

/// The first command (the root, then the subcommands, depth first) with the option `long`.
fn find<'a>(cmd: &'a clap::Command, long: &str) -> Option<&'a clap::Arg> {
    if let Some(a) = cmd.get_arguments().find(|a| a.get_long() == Some(long)) {
        return Some(a);
    }
    cmd.get_subcommands().find_map(|s| find(s, long))
}

/// `cmd` with `value` as the default of option `long`, wherever it is taken.
fn with_default(mut cmd: clap::Command, long: &str, value: &str) -> clap::Command {
    // clap keeps defaults as 'static text; a process reads its site's defaults once.
    let value: &'static str = Box::leak(value.to_string().into_boxed_str());
    let ids: Vec<String> = cmd
        .get_arguments()
        .filter(|a| a.get_long() == Some(long))
        .map(|a| a.get_id().to_string())
        .collect();
    for id in ids {
        cmd = cmd.mut_arg(id, |a| a.default_value(value));
    }
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, |s| with_default(s, long, value));
    }
    cmd
}

/// The first line of a clap error, without its `error: ` prefix.
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_string()
}
