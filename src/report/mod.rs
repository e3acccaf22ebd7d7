//! Displays of a rollout's event stream, one task owning the output: indicatif progress on
//! a terminal (an overall bar with counts and ETA, a line per device in flight), plain
//! lines otherwise, NDJSON (one event per line, written as it happens) for `--format json`.
//! The engine never prints; only these consumers do. Output of a rollout goes through
//! [`out`] and [`err`], which never fail: a reader that went away (`configure | head`)
//! stops the output, never the work.
#![allow(clippy::print_stdout, clippy::print_stderr)] // progress lines are printed as events arrive

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;

use crate::engine::device::{DeviceRun, Mode};
use crate::engine::fleet::{Event, RecapRow, Totals};
use crate::model::Outcome;

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

/// Consumes events until the stream ends. `describe` renders a finished device's full
/// report (used for plans shown as lines). Returns the device runs kept for a final
/// report (only in Quiet mode, for a single device).
pub async fn consume(
    display: Display,
    mut rx: mpsc::UnboundedReceiver<Event>,
    describe: fn(&DeviceRun) -> String,
) -> Vec<DeviceRun> {
    let mut kept = Vec::new();
    let mut bars = Bars::default();
    let mut mode = Mode::Configure;
    while let Some(e) = rx.recv().await {
        if let Event::Start { mode: m, .. } = &e {
            mode = *m;
        }
        match display {
            Display::Ndjson => {
                let mut out = std::io::stdout().lock();
                let _ = serde_json::to_writer(&mut out, &e);
                let _ = out.write_all(b"\n");
                let _ = out.flush();
            }
            Display::Quiet => {
                if let Event::Done { run: Some(run), .. } = e {
                    kept.push(*run);
                }
            }
            Display::Lines => lines(&e, mode, describe),
            Display::Progress => bars.show(&e, mode),
        }
    }
    bars.clear();
    kept
}

fn lines(e: &Event, mode: Mode, describe: fn(&DeviceRun) -> String) {
    let verb = verb(mode);
    let line = match e {
        Event::Start {
            devices,
            batches,
            parallel,
            run_id,
            ..
        } => format!(
            "{verb}: {} in {} ({}), {parallel} at a time{}",
            crate::words::count(*devices, "device"),
            crate::words::count_as(batches.len(), "batch", "batches"),
            batches
                .iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            run_id.map(|r| format!(", run {r}")).unwrap_or_default()
        ),
        Event::Batch { index, size } => {
            format!("batch {index}: {}", crate::words::count(*size, "device"))
        }
        Event::Waiting { device, until } => {
            format!("{device} waiting for its maintenance window (opens {until})")
        }
        Event::Phase { device, phase } => format!(
            "{device} {}",
            serde_json::to_value(phase)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        ),
        Event::Done { row, run } => {
            let mut l = format!(
                "{} {} ({:.2}s)",
                row.device,
                row.outcome.as_str(),
                row.elapsed_ms as f64 / 1000.0
            );
            if let Some(err) = &row.error {
                l.push_str(&format!(": {}", table::one_line(err)));
            }
            if mode == Mode::Plan
                && let Some(run) = run
            {
                l = describe(run).trim_end().to_string();
            }
            l
        }
        Event::Stopped { reason } => format!("stopped: {reason}"),
        // Said once, in the recap.
        Event::PrintServerDown { .. } | Event::Finish { .. } => return,
    };
    out(&format!("{line}\n"));
}

#[derive(Default)]
struct Bars {
    multi: Option<MultiProgress>,
    overall: Option<ProgressBar>,
    devices: HashMap<String, ProgressBar>,
    totals: Totals,
}

impl Bars {
    fn show(&mut self, e: &Event, mode: Mode) {
        match e {
            Event::Start { devices, .. } => {
                let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
                let overall = multi.add(ProgressBar::new(*devices as u64));
                overall.set_style(
                    ProgressStyle::with_template(
                        "{spinner} {prefix} [{bar:30}] {pos}/{len} {msg} (ETA {eta})",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                overall.set_prefix(verb(mode));
                overall.enable_steady_tick(Duration::from_millis(120));
                self.overall = Some(overall);
                self.multi = Some(multi);
            }
            Event::Phase { device, phase } => {
                let what = serde_json::to_value(phase)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                self.device_line(device, what);
            }
            Event::Waiting { device, until } => {
                self.device_line(device, format!("waiting for its window (opens {until})"));
            }
            Event::Done { row, .. } => {
                if let Some(b) = self.devices.remove(&row.device) {
                    b.finish_and_clear();
                }
                self.totals = add(std::mem::take(&mut self.totals), row.outcome);
                if let Some(o) = &self.overall {
                    o.inc(1);
                    let t = &self.totals;
                    o.set_message(format!(
                        "ok {} changed {} failed {} unreachable {}",
                        t.ok,
                        t.changed,
                        t.failed + t.refused,
                        t.unreachable
                    ));
                    if !row.outcome.succeeded()
                        && row.outcome != Outcome::NotStarted
                        && let Some(m) = &self.multi
                    {
                        let _ = m.println(format!(
                            "{} {}: {}",
                            row.device,
                            row.outcome.as_str(),
                            table::one_line(row.error.as_deref().unwrap_or(""))
                        ));
                    }
                }
            }
            Event::Stopped { reason } => {
                if let Some(m) = &self.multi {
                    let _ = m.println(format!("stopped: {reason}"));
                }
            }
            _ => {}
        }
    }

    /// The spinner line of a device in flight.
    fn device_line(&mut self, device: &str, what: String) {
        let Some(multi) = &self.multi else { return };
        let bar = self.devices.entry(device.to_string()).or_insert_with(|| {
            let b = multi.add(ProgressBar::new_spinner());
            b.set_style(
                ProgressStyle::with_template("  {spinner} {prefix:12} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.set_prefix(device.to_string());
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        bar.set_message(what);
    }

    fn clear(&mut self) {
        for (_, b) in self.devices.drain() {
            b.finish_and_clear();
        }
        if let Some(o) = self.overall.take() {
            o.finish_and_clear();
        }
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
    }
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

/// The recap table and totals, as text.
pub fn recap(rows: &[RecapRow], elapsed_ms: u64) -> String {
    let table: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            [
                r.device.clone(),
                r.outcome.as_str().to_string(),
                format!("{:.2}s", r.elapsed_ms as f64 / 1000.0),
                r.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut out = table::table(&["DEVICE", "RESULT", "TIME", "DETAIL"], &table);
    let t = rows
        .iter()
        .fold(Totals::default(), |t, r| add(t, r.outcome));
    out.push_str(&format!(
        "{}: {} ok, {} changed, {}{} failed, {} unreachable, {} refused, {} not started ({:.1}s)\n",
        crate::words::count(rows.len(), "device"),
        t.ok,
        t.changed,
        if t.drift > 0 {
            format!("{} drift, ", t.drift)
        } else {
            String::new()
        },
        t.failed,
        t.unreachable,
        t.refused,
        t.not_started,
        elapsed_ms as f64 / 1000.0
    ));
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
    out
}
pub mod fleet;
pub mod table;
pub mod text;
