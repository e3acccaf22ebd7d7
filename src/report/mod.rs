//! Displays of a rollout's event stream, one task owning the output: indicatif progress on
//! a terminal (`progress.rs`: a run header, an overall bar with the batch, counts and an
//! ETA once it means something, a line per device in flight), plain lines otherwise,
//! NDJSON (one event per line, written as it happens, stamped with its time and the
//! schema version) for `--format json`. Either way, each device of a fleet is listed when
//! it ends, with what would change, changed or drifted ([`text::device_compact`]). The
//! engine never prints; only these consumers do. Output of a rollout goes through [`out`]
//! and [`err`], which never fail: a reader that went away (`configure | head`) stops the
//! output, never the work.
#![allow(clippy::print_stdout, clippy::print_stderr)] // progress lines are printed as events arrive

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::engine::device::{DeviceRun, Mode};
use crate::engine::fleet::{Event, RecapRow, Totals};
use crate::model::{Outcome, RunStatus};

mod progress;
/// How events are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// Progress bars (a terminal).
    Progress,
    /// One line per device event.
    Lines,
    /// One JSON object per event.
    Ndjson,
    /// Nothing while running (one device: its full report is printed at the end).
    Quiet,
}

impl Display {
    /// Progress on a terminal, lines elsewhere, NDJSON for JSON.
    pub fn choose(json: bool, quiet: bool) -> Display {
        if json {
            Display::Ndjson
        } else if quiet {
            Display::Quiet
        } else if std::io::stderr().is_terminal() {
            Display::Progress
        } else {
            Display::Lines
        }
    }
}

/// The version of the NDJSON event schema (`schema_version` in every event): raised when
/// a field changes meaning or goes away, not when one is added.
pub const EVENT_SCHEMA_VERSION: u32 = 1;

/// What owns the terminal while a rollout runs, shared by the display and whoever else
/// must say something meanwhile (Ctrl-C): text goes above the progress bars, which are
/// cleared when the display ends or the process is about to.
#[derive(Clone, Default)]
pub struct Screen {
    bars: Arc<Mutex<Option<progress::Bars>>>,
}

impl Screen {
    /// Writes `text` to standard output, above the progress bars when they show.
    pub fn say(&self, text: &str) {
        let bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        match bars.as_ref() {
            Some(b) => b.above(|| out(text)),
            None => out(text),
        }
    }

    /// Writes `text` to standard error, above the progress bars when they show.
    pub fn say_err(&self, text: &str) {
        let bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        match bars.as_ref() {
            Some(b) => b.above(|| err(text)),
            None => err(text),
        }
    }

    /// Clears the progress bars for good (the rollout ended, or the process is ending).
    pub fn clear(&self) {
        if let Some(mut b) = self.bars.lock().unwrap_or_else(|e| e.into_inner()).take() {
            b.clear();
        }
    }
}

/// Consumes events until the stream ends. Returns the device runs kept for a final report
/// (only in Quiet mode, for a single device).
pub async fn consume(
    display: Display,
    mut rx: mpsc::UnboundedReceiver<Event>,
    screen: Screen,
) -> Vec<DeviceRun> {
    let mut kept = Vec::new();
    let mut mode = Mode::Configure;
    // The bars' wait and ETA are redrawn as time passes, not only as events come.
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        let e = tokio::select! {
            e = rx.recv() => match e {
                Some(e) => e,
                None => break,
            },
            _ = tick.tick() => {
                if let Some(b) = screen.bars.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                    b.refresh();
                }
                continue;
            }
        };
        if let Event::Start { mode: m, .. } = &e {
            mode = *m;
        }
        match display {
            Display::Ndjson => ndjson(&e),
            Display::Quiet => {
                if let Event::Done { run: Some(run), .. } = e {
                    kept.push(*run);
                }
            }
            Display::Lines => lines(&e, mode),
            Display::Progress => {
                let mut bars = screen.bars.lock().unwrap_or_else(|e| e.into_inner());
                if let Event::Start { .. } = &e {
                    *bars = Some(progress::Bars::new());
                }
                if let Some(b) = bars.as_mut() {
                    b.show(&e, mode);
                }
            }
        }
    }
    screen.clear();
    kept
}

/// One event as a line of JSON, with when it happened and the schema version.
fn ndjson(e: &Event) {
    let mut v = serde_json::to_value(e).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        let at = jiff::Timestamp::now()
            .round(jiff::Unit::Millisecond)
            .unwrap_or_else(|_| jiff::Timestamp::now());
        o.insert("at".into(), at.to_string().into());
        o.insert("schema_version".into(), EVENT_SCHEMA_VERSION.into());
    }
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, &v);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

/// The line that opens a rollout: what, how many devices, batches (when more than one),
/// parallelism and the run's number.
fn start_line(
    mode: Mode,
    devices: usize,
    batches: &[usize],
    parallel: usize,
    run_id: Option<i64>,
) -> String {
    let verb = verb(mode);
    let batches = if batches.len() > 1 || (rolls_out(mode) && !batches.is_empty()) {
        format!(
            " in {} batch{} ({})",
            batches.len(),
            if batches.len() == 1 { "" } else { "es" },
            batches
                .iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        String::new()
    };
    // A queued run's devices are worked on by its workers, at their own pace.
    let pace = if parallel == 0 {
        "by workers".to_string()
    } else {
        format!("{parallel} at a time")
    };
    format!(
        "{verb}: {}{batches}, {pace}{}",
        devices_word(devices),
        run_id.map(|r| format!(", run {r}")).unwrap_or_default()
    )
}

/// "1 device", "5 devices".
fn devices_word(n: usize) -> String {
    crate::words::count(n, "device")
}

/// A device's result as one line: its tag, what happened in the mode's words, how long it
/// took, and why it failed.
fn result_line(row: &RecapRow, run: Option<&DeviceRun>, mode: Mode) -> String {
    let of = |n: usize| {
        run.map_or(String::new(), |r| {
            format!(
                " {n} of {} resource{}",
                r.resources.len(),
                if r.resources.len() == 1 { "" } else { "s" }
            )
        })
    };
    let said = match (mode, row.outcome) {
        (Mode::Plan, Outcome::Drift | Outcome::Changed) => {
            format!("would change{}", of(row.changed))
        }
        (Mode::Plan, Outcome::Ok) => "nothing to change".into(),
        (Mode::Audit, Outcome::Drift | Outcome::Changed) => format!("drifted:{}", of(row.changed)),
        (Mode::Audit, Outcome::Ok) => "clean".into(),
        (_, o) => o.as_str().to_string(),
    };
    let mut l = format!(
        "{} {} ({:.2}s)",
        row.device,
        style::outcome(row.outcome, &said),
        row.elapsed_ms as f64 / 1000.0
    );
    if let Some(err) = &row.error {
        l.push_str(&format!(": {}", table::one_line(err)));
    }
    l
}

fn lines(e: &Event, mode: Mode) {
    let line = match e {
        Event::Start {
            devices,
            batches,
            parallel,
            run_id,
            ..
        } => start_line(mode, *devices, batches, *parallel, *run_id),
        Event::Batch { index, size } => {
            if !rolls_out(mode) {
                return;
            }
            format!("batch {index}: {}", devices_word(*size))
        }
        Event::Waiting { device, until } => {
            format!(
                "{device} waiting for its maintenance window (opens {})",
                crate::time::local_at(until)
            )
        }
        Event::Phase { device, on, phase } => format!(
            "{device} {}{}",
            step_word(*phase),
            on.as_ref()
                .map(|o| format!(" (via {o})"))
                .unwrap_or_default()
        ),
        Event::Done { row, run } => {
            let line = result_line(row, run.as_deref(), mode);
            match run {
                Some(run) => text::device_compact(run, &line).trim_end().to_string(),
                None => line,
            }
        }
        Event::Stopped { reason } => format!("stopped: {reason}"),
        // Said once, in the recap.
        Event::PrintServerDown { .. } | Event::Finish { .. } => return,
    };
    out(&format!("{line}\n"));
}

/// A device's step as a word.
fn step_word(step: crate::engine::device::Step) -> &'static str {
    use crate::engine::device::Step;
    match step {
        Step::Asking => "asking",
        Step::Connecting => "connecting",
        Step::Probing => "probing",
        Step::Applying => "applying",
        Step::Verifying => "verifying",
    }
}

fn add(mut t: Totals, r: Outcome) -> Totals {
    t.add(r);
    t
}

fn verb(mode: Mode) -> &'static str {
    match mode {
        Mode::Plan => "plan",
        Mode::Configure => "configure",
        Mode::Audit => "audit",
        Mode::Upgrade => "upgrade",
    }
}

/// A rollout that changes devices in batches (and can be resumed): configure, upgrade.
fn rolls_out(mode: Mode) -> bool {
    matches!(mode, Mode::Configure | Mode::Upgrade)
}

/// Writes `text` to standard output and flushes it; a closed or failing output is ignored
/// (with SIGPIPE ignored, a reader that went away is an error here, not the end of the
/// process).
pub fn out(text: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_bytes()).and_then(|()| o.flush());
}

/// Writes `text` to standard error; a closed or failing output is ignored.
pub fn err(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// One line for a print server found down, naming the printers it held back.
fn print_server_down(server: &str, printers: &[String]) -> String {
    format!(
        "print server {server} is down (its scheduler does not answer): the queues of {} printer{} were not changed: {}; once it is back, `configure --resume` finishes them",
        printers.len(),
        if printers.len() == 1 { "" } else { "s" },
        printers.join(", ")
    )
}

/// The recap of a rollout: a table (each device's result, time and detail: why it failed,
/// or what would change or drifted), the totals in the mode's words, the print servers
/// found down, and for a configure that left devices undone, how to redo them.
pub fn recap(mode: Mode, status: RunStatus, rows: &[RecapRow], elapsed_ms: u64) -> String {
    let table: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            let detail = match (&r.error, mode) {
                (Some(e), _) => e.clone(),
                (None, Mode::Plan | Mode::Audit) => changes_cell(&r.changes),
                (None, Mode::Configure | Mode::Upgrade) => String::new(),
            };
            [
                r.device.clone(),
                result_word(mode, r.outcome).to_string(),
                format!("{:.2}s", r.elapsed_ms as f64 / 1000.0),
                detail,
            ]
        })
        .collect();
    let mut out = table::table(&["DEVICE", "RESULT", "TIME", "DETAIL"], &table);
    let t = rows
        .iter()
        .fold(Totals::default(), |t, r| add(t, r.outcome));
    let secs = elapsed_ms as f64 / 1000.0;
    let n = devices_word(rows.len());
    out.push_str(&match mode {
        Mode::Configure | Mode::Upgrade => format!(
            "{n}: {} ok, {} changed, {}{} failed, {} unreachable, {} refused, {} not started ({secs:.1}s)\n",
            t.ok,
            t.changed,
            if t.drift > 0 { format!("{} drift, ", t.drift) } else { String::new() },
            t.failed,
            t.unreachable,
            t.refused,
            t.not_started,
        ),
        Mode::Plan | Mode::Audit => {
            let (changed, same) = if mode == Mode::Plan {
                ("would change", "nothing to change")
            } else {
                ("drifted", "clean")
            };
            let mut parts = vec![
                format!("{} {changed}", t.drift + t.changed),
                format!("{} {same}", t.ok),
            ];
            for (k, word) in [
                (t.failed, "failed"),
                (t.unreachable, "unreachable"),
                (t.refused, "refused"),
                (t.not_started, "not started"),
            ] {
                if k > 0 {
                    parts.push(format!("{k} {word}"));
                }
            }
            format!("{n}: {} ({secs:.1}s)\n", parts.join(", "))
        }
    });
    let mut down: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for r in rows {
        if let Some(server) = &r.print_server_down {
            down.entry(server).or_default().push(r.device.clone());
        }
    }
    for (server, mut printers) in down {
        printers.sort();
        out.push_str(&print_server_down(server, &printers));
        out.push('\n');
    }
    let undone = rows.iter().filter(|r| !r.outcome.succeeded()).count();
    if rolls_out(mode) && undone > 0 {
        let why = match status {
            RunStatus::Interrupted => "the run was interrupted: ",
            RunStatus::Stopped => "the run stopped: ",
            _ => "",
        };
        let which = if undone == 1 {
            "the device".to_string()
        } else {
            format!("the {undone} devices")
        };
        out.push_str(&format!(
            "{why}`deskready {} --resume` redoes {which} that did not succeed\n",
            verb(mode)
        ));
    }
    out
}

/// How long the recap's list of what would change or drifted may grow before the rest is
/// counted ("… and 6 more"); the device's listing above the recap has them all.
const CHANGES_CELL_CHARS: usize = 100;

/// What would change or drifted on a device, for its recap row: as many as fit.
fn changes_cell(changes: &[String]) -> String {
    let mut out = String::new();
    for (i, c) in changes.iter().enumerate() {
        let sep = if i == 0 { "" } else { "; " };
        if i > 0 && out.chars().count() + sep.len() + c.chars().count() > CHANGES_CELL_CHARS {
            out.push_str(&format!("; … and {} more", changes.len() - i));
            break;
        }
        out.push_str(sep);
        out.push_str(c);
    }
    out
}

/// A device's result in the recap, in the mode's words.
fn result_word(mode: Mode, o: Outcome) -> &'static str {
    match (mode, o) {
        (Mode::Plan, Outcome::Drift | Outcome::Changed) => "would change",
        (Mode::Plan, Outcome::Ok) => "nothing to change",
        (Mode::Audit, Outcome::Drift | Outcome::Changed) => "drift",
        (Mode::Audit, Outcome::Ok) => "clean",
        (_, o) => o.as_str(),
    }
}
pub mod audit;
pub mod fleet;
pub mod software;
pub mod style;
pub mod table;
pub mod text;
