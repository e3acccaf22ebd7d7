//! Colour for what a CSP reads: whether to use it (`--color auto|always|never`, `NO_COLOR`,
//! a terminal or not, per output stream) and the few styles deskready uses (results,
//! diff lines, dim notes). Every styled text reads the same without colour: colour only
//! repeats what the words say. Plain ANSI sequences; no printing here.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::model::{Outcome, ResourceStatus};

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set (to anything but the empty string) or
    /// `TERM` is `dumb`.
    Auto,
    /// Always, even into a file or a pipe (and whatever `NO_COLOR` says: an explicit
    /// request wins over the environment).
    Always,
    /// Never.
    Never,
}

/// The choice made for this process (0 auto, 1 always, 2 never).
static CHOICE: AtomicU8 = AtomicU8::new(0);

/// Sets the colour choice for this process (the CLI's `--color`).
pub fn set_color(choice: ColorChoice) {
    let v = match choice {
        ColorChoice::Auto => 0,
        ColorChoice::Always => 1,
        ColorChoice::Never => 2,
    };
    CHOICE.store(v, Ordering::Relaxed);
}

/// An output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Whether text written to `stream` is coloured.
pub fn enabled(stream: Stream) -> bool {
    match CHOICE.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let terminal = match stream {
                Stream::Stdout => std::io::stdout().is_terminal(),
                Stream::Stderr => std::io::stderr().is_terminal(),
            };
            auto(
                terminal,
                std::env::var_os("NO_COLOR").as_deref(),
                std::env::var_os("TERM").as_deref(),
            )
        }
    }
}

/// The `auto` rule: a terminal, `NO_COLOR` unset or empty (as no-color.org says), and a
/// terminal that is not `dumb`.
fn auto(
    terminal: bool,
    no_color: Option<&std::ffi::OsStr>,
    term: Option<&std::ffi::OsStr>,
) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty()) && term.is_none_or(|t| t != "dumb")
}

const RESET: &str = "\x1b[0m";

/// `text` in the SGR style `code` on standard output, when colour is on there.
fn paint(code: &str, text: &str) -> String {
    paint_on(Stream::Stdout, code, text)
}

fn paint_on(stream: Stream, code: &str, text: &str) -> String {
    if enabled(stream) && !text.is_empty() {
        format!("\x1b[{code}m{text}{RESET}")
    } else {
        text.to_string()
    }
}

const GREEN: &str = "32";
const YELLOW: &str = "33";
const RED: &str = "31";
const MAGENTA: &str = "35";
const CYAN: &str = "36";
const DIM: &str = "2";
const BOLD: &str = "1";

fn outcome_code(o: Outcome) -> &'static str {
    match o {
        Outcome::Ok => GREEN,
        Outcome::Changed | Outcome::Drift => YELLOW,
        Outcome::Failed | Outcome::Unreachable => RED,
        Outcome::Refused => MAGENTA,
        Outcome::NotStarted => DIM,
    }
}

/// `text` (a device's result) in its outcome's colour, for standard output.
pub fn outcome(o: Outcome, text: &str) -> String {
    paint(outcome_code(o), text)
}

/// `text` (a device's result) in its outcome's colour, for standard error.
pub fn outcome_err(o: Outcome, text: &str) -> String {
    paint_on(Stream::Stderr, outcome_code(o), text)
}

/// `text` (a resource's label) in its status's colour.
pub fn status(s: ResourceStatus, text: &str) -> String {
    let code = match s {
        ResourceStatus::Ok => GREEN,
        ResourceStatus::Changed | ResourceStatus::Drift => YELLOW,
        ResourceStatus::Failed | ResourceStatus::Unreached => RED,
        ResourceStatus::Skipped | ResourceStatus::Unsupported => DIM,
    };
    paint(code, text)
}

/// A line of a unified diff: added green, removed red, hunk headers cyan.
pub fn diff_line(line: &str) -> String {
    if line.starts_with("+++") || line.starts_with("---") {
        paint(BOLD, line)
    } else if line.starts_with('+') {
        paint(GREEN, line)
    } else if line.starts_with('-') {
        paint(RED, line)
    } else if line.starts_with("@@") {
        paint(CYAN, line)
    } else {
        line.to_string()
    }
}

/// A note that matters less than what is around it.
pub fn dim(text: &str) -> String {
    paint(DIM, text)
}

/// A heading.
pub fn bold(text: &str) -> String {
    paint(BOLD, text)
}

/// A heading on standard error.
pub fn bold_err(text: &str) -> String {
    paint_on(Stream::Stderr, BOLD, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn auto_colours_a_terminal_unless_no_color_or_a_dumb_terminal() {
        assert!(auto(true, None, Some(OsStr::new("xterm"))));
        assert!(auto(true, Some(OsStr::new("")), None));
        assert!(!auto(true, Some(OsStr::new("1")), None));
        assert!(!auto(true, None, Some(OsStr::new("dumb"))));
        assert!(!auto(false, None, None));
    }
}
