//! The one support module of the integration tests: running the real `deskready` binary
//! ([`Test`]), copies of the example site ([`SiteCopy`]), labs that are always taken down
//! ([`TestLab`], [`LabSite`]), a signed apt repository served on a loopback address
//! ([`aptrepo`]), SSH into lab devices ([`ssh`]), faults injected into one
//! device ([`faults`]), processes ([`procs`]) and polling for a condition ([`wait_until`]).
//!
//! It must not reach into the library beyond what the tests already use (the lab and the
//! transport): behaviour is checked through the binary.

#![allow(dead_code)]

pub(crate) mod aptrepo;
pub(crate) mod cmd;
pub(crate) mod faults;
pub(crate) mod lab;
pub(crate) mod procs;
pub(crate) mod site;
pub(crate) mod snap;
pub(crate) mod ssh;

use std::time::{Duration, Instant};

pub(crate) use cmd::{Run, Running, Test};
pub(crate) use lab::{LabSite, TestLab};
pub(crate) use site::SiteCopy;

/// Checks `check` every `every` until it gives a value or `limit` has passed; `None` then.
/// A zero `every` only yields between checks (for windows of a few milliseconds).
pub(crate) fn poll<T>(
    limit: Duration,
    every: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let started = Instant::now();
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if started.elapsed() >= limit {
            return None;
        }
        if every.is_zero() {
            std::thread::yield_now();
        } else {
            std::thread::sleep(every);
        }
    }
}

/// Waits until `check` gives a value (checked every 20 ms), or panics after `limit` naming
/// `what` was awaited.
pub(crate) fn wait_until<T>(what: &str, limit: Duration, check: impl FnMut() -> Option<T>) -> T {
    poll(limit, Duration::from_millis(20), check)
        .unwrap_or_else(|| panic!("waited {limit:?} for {what}, in vain"))
}

/// Every line of NDJSON output, parsed (each line must be one JSON object).
pub(crate) fn ndjson(run: &Run) -> Vec<serde_json::Value> {
    run.ndjson()
}

/// The (device, outcome) of every `done` event, sorted by device.
pub(crate) fn done(events: &[serde_json::Value]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = events
        .iter()
        .filter(|e| e["event"] == "done")
        .map(|e| {
            (
                e["device"].as_str().unwrap().to_string(),
                e["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}
