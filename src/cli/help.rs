//! Help beyond `--help`: `deskready completions SHELL` (clap_complete) and `deskready man`
//! (clap_mangen), both generated from the clap definitions of this module's parent, and
//! the words for a command-line mistake (a `--dry-run` points at `plan`). Touches no site.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::CommandFactory;

use super::{Cli, Failure};
use crate::ops::ExitStatus;

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write deskready.1 and one page per command (deskready-plan.1, ...) into DIR instead
    /// of printing the main page.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub(super) fn completions(a: CompletionsArgs) -> Result<ExitStatus, Failure> {
    let mut cmd = Cli::command();
    clap_complete::generate(a.shell, &mut cmd, "deskready", &mut std::io::stdout());
    Ok(ExitStatus::Success)
}

pub(super) fn man(a: ManArgs) -> Result<ExitStatus, Failure> {
    let cmd = Cli::command();
    match a.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir).map_err(anyhow::Error::from)?;
            clap_mangen::generate_to(cmd, &dir).map_err(anyhow::Error::from)?;
            println!("manual pages written to {}", dir.display());
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .map_err(anyhow::Error::from)?;
            let _ = std::io::stdout().write_all(&out);
        }
    }
    Ok(ExitStatus::Success)
}

/// Reports a command line clap could not parse: `--help` and `--version` print and
/// succeed; a mistake is bad input (exit 2). A `--dry-run` where there is none points at
/// `plan`, the command that shows what would change and changes nothing.
pub(super) fn parse_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = Cli::command();
    let sub = args
        .iter()
        .find(|a| command.find_subcommand(a.as_str()).is_some())
        .cloned()
        .unwrap_or_default();
    if e.kind() == ErrorKind::UnknownArgument {
        if args.iter().any(|a| a == "--dry-run") {
            eprintln!("error: {}", dry_run_hint(&args, &sub));
            return ExitStatus::BadInput.into();
        }
        if sub == "plan"
            && let Some(flag) = args.iter().find(|a| CONFIGURE_ONLY.contains(&a.as_str()))
        {
            eprintln!(
                "error: {flag} is an option of configure, not plan (plan changes nothing, so it has no batches, threshold, windows, test pages or runs to resume)\n\nFor more information, try 'deskready plan --help'."
            );
            return ExitStatus::BadInput.into();
        }
    }
    let _ = e.print();
    if e.use_stderr() {
        ExitStatus::BadInput.into()
    } else {
        ExitStatus::Success.into()
    }
}

/// Options of `configure` that `plan` does not take.
const CONFIGURE_ONLY: &[&str] = &[
    "--resume",
    "--failed",
    "--batch",
    "--max-fail",
    "--now",
    "--wait",
    "--test-page",
];

/// What to use instead of a `--dry-run` that `sub` does not have.
fn dry_run_hint(args: &[String], sub: &str) -> String {
    if sub == "configure" {
        let plan: Vec<&str> = args
            .iter()
            .map(String::as_str)
            .filter(|a| *a != "--dry-run")
            .map(|a| if a == "configure" { "plan" } else { a })
            .collect();
        return format!(
            "configure has no --dry-run: `deskready {}` shows what it would change (with diffs) and changes nothing",
            plan.join(" ")
        );
    }
    let what = if sub.is_empty() { "this command" } else { sub };
    format!(
        "{what} has no --dry-run: it checks everything (rendering the devices it touches) before it writes, and a refused command changes nothing. To see what a configure would change: deskready plan DEVICE... (receive --csv FILE --dry-run checks a packing list)"
    )
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every command's help teaches: an example, and a description of every argument.
    #[test]
    fn every_command_has_an_example_and_every_option_a_description() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for sub in cmd.get_subcommands() {
                let name = format!("{path} {}", sub.get_name());
                if sub.get_after_help().is_none() && sub.get_name() != "help" {
                    missing.push(format!("{name}: no example (after_help)"));
                }
                for arg in sub.get_arguments() {
                    let id = arg.get_id().as_str();
                    if matches!(id, "help" | "version") {
                        continue;
                    }
                    if arg.get_help().is_none() {
                        missing.push(format!("{name} {id}: no description"));
                    }
                }
                walk(sub, &name, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "deskready", &mut missing);
        assert!(missing.is_empty(), "{}", missing.join("\n"));
    }
}
