//! The live view of a rollout on a terminal (the only place naming indicatif): a run
//! header, an overall bar (mode, batch, counts; an ETA only once enough devices ended to
//! mean something, and the wait instead while devices wait for their maintenance window),
//! one line per device in flight (named by the device itself, with the device its work is
//! on, such as a printer's print server), and each device's result printed above the bars
//! as it ends. The overall bar counts the devices that ended; those not started are named
//! in its message, not counted as done. Bars go to standard error, results to standard
//! output. No other output.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{result_line, start_line, step_word, style, text, verb};
use crate::engine::device::Mode;
use crate::engine::fleet::{Event, Totals};
use crate::model::Outcome;

/// Devices that must have ended before an ETA is shown: at least this many, and at least
/// a tenth of the rollout.
const ETA_AFTER: usize = 3;

pub(super) struct Bars {
    multi: MultiProgress,
    overall: Option<ProgressBar>,
    devices: HashMap<String, ProgressBar>,
    /// Devices waiting for their maintenance window, with when it opens.
    waiting: HashMap<String, jiff::Timestamp>,
    totals: Totals,
    /// Devices that ended (not counting those not started).
    done: usize,
    total: usize,
    batches: usize,
    started: Instant,
}

impl Bars {
    pub(super) fn new() -> Bars {
        Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            overall: None,
            devices: HashMap::new(),
            waiting: HashMap::new(),
            totals: Totals::default(),
            done: 0,
            total: 0,
            batches: 0,
            started: Instant::now(),
        }
    }

    /// Runs `f` (which prints) with the bars out of the way, then draws them again.
    pub(super) fn above<R>(&self, f: impl FnOnce() -> R) -> R {
        self.multi.suspend(f)
    }

    pub(super) fn show(&mut self, e: &Event, mode: Mode) {
        match e {
            Event::Start {
                devices,
                batches,
                parallel,
                run_id,
                ..
            } => {
                let header = start_line(mode, *devices, batches, *parallel, *run_id);
                self.above(|| super::out(&format!("{}\n", style::bold(&header))));
                self.total = *devices;
                self.batches = batches.len();
                self.started = Instant::now();
                let overall = self.multi.add(ProgressBar::new(*devices as u64));
                overall.set_style(
                    ProgressStyle::with_template("{spinner} {prefix} [{bar:30}] {pos}/{len} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                overall.set_prefix(verb(mode));
                overall.enable_steady_tick(Duration::from_millis(120));
                self.overall = Some(overall);
                self.refresh();
            }
            Event::Batch { index, .. } => {
                if let Some(o) = &self.overall
                    && self.batches > 1
                {
                    o.set_prefix(format!("{} batch {index}/{}", verb(mode), self.batches));
                }
            }
            Event::Phase { device, on, phase } => {
                self.waiting.remove(device);
                let what = match on {
                    Some(on) => format!("{} (via {on})", step_word(*phase)),
                    None => step_word(*phase).to_string(),
                };
                self.device_line(device, what);
                self.refresh();
            }
            Event::Waiting { device, until } => {
                if let Ok(t) = until.parse::<jiff::Timestamp>() {
                    self.waiting.insert(device.clone(), t);
                }
                self.device_line(
                    device,
                    format!(
                        "waiting for its maintenance window (opens {})",
                        crate::time::local_at(until)
                    ),
                );
                self.refresh();
            }
            Event::Done { row, run } => {
                if let Some(b) = self.devices.remove(&row.device) {
                    b.finish_and_clear();
                }
                self.waiting.remove(&row.device);
                self.totals.add(row.outcome);
                // The bar counts devices that ended; one not started is said apart (in
                // the message), never as progress.
                if row.outcome != Outcome::NotStarted {
                    self.done += 1;
                    if let Some(o) = &self.overall {
                        o.inc(1);
                    }
                }
                let line = result_line(row, run.as_deref(), mode);
                let block = match run {
                    Some(run) => text::device_compact(run, &line),
                    None => format!("{line}\n"),
                };
                if row.outcome != Outcome::NotStarted {
                    self.above(|| super::out(&block));
                }
                self.refresh();
            }
            Event::Stopped { reason } => {
                self.above(|| super::out(&format!("stopped: {reason}\n")));
            }
            Event::PrintServerDown { .. } | Event::Finish { .. } => {}
        }
    }

    /// Redraws the overall bar's message: counts, then the wait or the ETA.
    pub(super) fn refresh(&self) {
        let Some(o) = &self.overall else { return };
        let t = &self.totals;
        let mut parts = vec![
            style::outcome_err(Outcome::Ok, &format!("{} ok", t.ok)),
            style::outcome_err(
                Outcome::Changed,
                &format!("{} changed", t.changed + t.drift),
            ),
            style::outcome_err(Outcome::Failed, &format!("{} failed", t.failed)),
            style::outcome_err(
                Outcome::Unreachable,
                &format!("{} unreachable", t.unreachable),
            ),
        ];
        if t.refused > 0 {
            parts.push(style::outcome_err(
                Outcome::Refused,
                &format!("{} refused", t.refused),
            ));
        }
        if t.not_started > 0 {
            parts.push(format!("{} not started", t.not_started));
        }
        let mut msg = parts.join(", ");
        let now = jiff::Timestamp::now();
        if let Some(next) = self.waiting.values().min() {
            let secs = next.duration_since(now).as_secs().max(0) as u64;
            msg.push_str(&format!(
                "; {} waiting for a window (next opens {}, in {})",
                self.waiting.len(),
                crate::time::local_at(&next.to_string()),
                crate::time::span(secs)
            ));
        } else if let Some(eta) = self.eta() {
            msg.push_str(&format!(
                "; about {} left",
                crate::time::span(eta.as_secs())
            ));
        }
        o.set_message(msg);
    }

    /// The time left, once enough devices ended for an estimate to mean something.
    fn eta(&self) -> Option<Duration> {
        let left = self
            .total
            .saturating_sub(self.done + self.totals.not_started);
        if left == 0 || self.done < ETA_AFTER.max(self.total.div_ceil(10)) {
            return None;
        }
        Some(
            self.started
                .elapsed()
                .mul_f64(left as f64 / self.done as f64),
        )
    }

    /// The spinner line of a device in flight.
    fn device_line(&mut self, device: &str, what: String) {
        let multi = &self.multi;
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

    /// Clears every bar (the rollout ended, or the process is about to).
    pub(super) fn clear(&mut self) {
        for (_, b) in self.devices.drain() {
            b.finish_and_clear();
        }
        if let Some(o) = self.overall.take() {
            o.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fleet::RecapRow;

    fn done(device: &str, outcome: Outcome) -> Event {
        Event::Done {
            row: RecapRow {
                device: device.into(),
                outcome,
                changed: 0,
                changes: Vec::new(),
                elapsed_ms: 0,
                error: None,
                print_server_down: None,
            },
            run: None,
        }
    }

    #[test]
    fn the_overall_bar_counts_what_ended_and_names_what_was_not_started() {
        let mut bars = Bars::new();
        bars.multi.set_draw_target(ProgressDrawTarget::hidden());
        bars.show(
            &Event::Start {
                mode: Mode::Configure,
                run_id: None,
                devices: 4,
                batches: vec![2, 2],
                parallel: 2,
            },
            Mode::Configure,
        );
        bars.show(&done("PRN-1", Outcome::Changed), Mode::Configure);
        bars.show(&done("PRN-2", Outcome::Unreachable), Mode::Configure);
        bars.show(&done("PRN-3", Outcome::NotStarted), Mode::Configure);
        bars.show(&done("PRN-4", Outcome::NotStarted), Mode::Configure);
        let o = bars.overall.as_ref().unwrap();
        assert_eq!((o.position(), o.length()), (2, Some(4)));
        let msg = o.message();
        assert!(
            msg.contains("1 unreachable") && msg.contains("2 not started"),
            "{msg}"
        );
        // Nothing is left to wait for: no ETA.
        assert_eq!(bars.eta(), None);
        bars.clear();
    }
}
