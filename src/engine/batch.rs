//! A print server's queues for a batch of printers: the printers asked over IPP in
//! parallel (each bounded by the connect timeout), then ONE connection to the print server
//! and ONE program changing every answering printer's queue, its report split back into
//! one [`DeviceRun`] per printer. Blocking; the fleet runs it in `spawn_blocking`. Never
//! prints; knows no store (the fleet's bookkeeper holds each printer's lock around it).
//!
//! A printer that does not answer costs one connect timeout, in parallel with the others,
//! and is left out of the program: it never holds the print server. The steps of the
//! program (connecting, applying) are told as each working printer's, never as the print
//! server's own: `observe` hears only the printers' tags. A print server found
//! down (no connection, or its scheduler not answering, also when it dies mid-program)
//! is one problem per printer, and the rollout reports it once for all of them.

use std::collections::BTreeMap;
use std::time::Instant;

use super::device::{
    self, DeviceRun, Mode, Options, Problem, RunError, Status, Step, absorb, conclude, connect_to,
    initial_run, mark_unreached, no_ipp_answer, note_down, run_script, verify_printer,
};
use super::script::{self, Phase};
use crate::model::DeviceKind;
use crate::printer::{PrinterQuery, PrinterStatus};
use crate::resolve::{Resolved, ResolvedResource};
use crate::site::Site;

/// Printers asked over IPP at once.
const ASK_AT_ONCE: usize = 32;

/// The device all of `resolved`'s work runs on when that is another device (`via:`), it
/// is a printer reached at its URI with no checks of its own: its runs can share a program
/// with other printers' on that device. `None` for any other device.
pub fn batch_key(site: &Site, resolved: &Resolved) -> Option<String> {
    let d = site.device(&resolved.device)?;
    if d.kind != DeviceKind::Printer || d.address.ssh.is_some() || !resolved.verify.is_empty() {
        return None;
    }
    let mut on: Option<&str> = None;
    for r in resolved
        .resources
        .iter()
        .filter(|r| script::supported(r.kind()))
    {
        let via = r.resource.via.as_deref()?;
        if on.is_some_and(|o| o != via) {
            return None;
        }
        on = Some(via);
    }
    on.map(str::to_string)
}

/// Asks every printer of `uris` over IPP at once (at most [`ASK_AT_ONCE`] at a time), each
/// within `query`'s timeout.
#[allow(clippy::type_complexity)]
pub fn ask_all(
    query: &dyn PrinterQuery,
    uris: &[&str],
) -> Vec<(Result<PrinterStatus, String>, std::time::Duration)> {
    let mut out: Vec<Option<(Result<PrinterStatus, String>, std::time::Duration)>> =
        vec![None; uris.len()];
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots = std::sync::Mutex::new(&mut out);
    std::thread::scope(|s| {
        for _ in 0..ASK_AT_ONCE.min(uris.len()) {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(uri) = uris.get(k) else { break };
                    let asked = Instant::now();
                    let answer = query.ask(uri);
                    slots.lock().unwrap_or_else(|e| e.into_inner())[k] =
                        Some((answer, asked.elapsed()));
                }
            });
        }
    });
    out.into_iter()
        .map(|a| a.unwrap_or_else(|| (Err("not asked".into()), Default::default())))
        .collect()
}

/// Plans, audits or converges `devices` (each with [`batch_key`] `on`) over one
/// connection to `on`; one run per device, in the order given.
pub fn run(
    site: &Site,
    on: &str,
    devices: &[&Resolved],
    mode: Mode,
    opts: &Options,
    observe: &(dyn Fn(&str, Step) + Sync),
) -> Vec<DeviceRun> {
    let started = Instant::now();
    let mut runs: Vec<DeviceRun> = devices.iter().map(|r| initial_run(r, mode)).collect();
    let mut unreachable = vec![false; devices.len()];

    // Every printer asked first, in parallel: one that does not answer is not worked on.
    let printers: Vec<Option<(&crate::model::Device, &str)>> = devices
        .iter()
        .map(|r| {
            let d = site.device(&r.device)?;
            (mode != Mode::Plan && d.kind == DeviceKind::Printer)
                .then_some(())
                .and(d.address.uri.as_deref().map(|u| (d, u)))
        })
        .collect();
    let asked: Vec<(usize, &str)> = printers
        .iter()
        .enumerate()
        .filter_map(|(k, p)| p.map(|(_, u)| (k, u)))
        .collect();
    for (k, _) in &asked {
        observe(&devices[*k].device, Step::Asking);
    }
    let uris: Vec<&str> = asked.iter().map(|(_, u)| *u).collect();
    let answers = ask_all(opts.printers.as_ref(), &uris);
    let mut answered: BTreeMap<usize, PrinterStatus> = BTreeMap::new();
    let mut took: BTreeMap<usize, u64> = BTreeMap::new();
    for ((k, uri), (answer, elapsed)) in asked.iter().zip(answers) {
        match answer {
            Ok(status) => {
                answered.insert(*k, status);
            }
            Err(e) => {
                let (d, _) = printers[*k].expect("asked");
                runs[*k].verify.push(no_ipp_answer(d, uri, &e));
                unreachable[*k] = true;
                // Its own cost: the one question it did not answer.
                took.insert(*k, elapsed.as_millis() as u64);
                for r in &mut runs[*k].resources {
                    if r.status != Status::Unsupported {
                        r.status = Status::Unreached;
                    }
                }
            }
        }
    }

    // Each working device's resources, numbered uniquely in the one program.
    let mut parts: Vec<(String, Vec<(usize, &ResolvedResource)>)> = Vec::new();
    let mut owner: Vec<(usize, usize)> = Vec::new(); // program index -> (device, resource)
    let mut working = Vec::new();
    for (k, r) in devices.iter().enumerate() {
        if unreachable[k] {
            continue;
        }
        let mut part = Vec::new();
        for (i, res) in r.resources.iter().enumerate() {
            if script::supported(res.kind()) {
                part.push((owner.len(), res));
                owner.push((k, i));
            }
        }
        if !part.is_empty() {
            working.push(k);
            // The model the printer says it is (else the inventory's): one driver each.
            let model = answered
                .get(&k)
                .map(|a| a.make_and_model.clone())
                .filter(|m| !m.is_empty())
                .or_else(|| site.device(&r.device).map(|d| d.model.clone()))
                .unwrap_or_default();
            parts.push((model, part));
        }
    }
    // The items of device k: (its own resource index, resource).
    let items_of = |k: usize| -> Vec<(usize, &ResolvedResource)> {
        owner
            .iter()
            .filter(|(d, _)| *d == k)
            .map(|(_, i)| (*i, &devices[k].resources[*i]))
            .collect()
    };
    // The report of device k, with its own resource indices.
    let report_of = |k: usize, report: &script::Report| -> script::Report {
        let mut own = script::Report {
            complete: report.complete,
            missing_tools: report.missing_tools.clone(),
            ..Default::default()
        };
        for (n, (d, i)) in owner.iter().enumerate() {
            if *d == k
                && let Some(o) = report.resources.get(&n)
            {
                own.resources.insert(*i, o.clone());
            }
        }
        own
    };

    if !working.is_empty() {
        let items0 = items_of(working[0]);
        if let Some(problem) = device::known_down(on, &items0, opts) {
            for &k in &working {
                runs[k].problems.push(problem.clone());
                mark_unreached(&mut runs[k], &items_of(k));
            }
        } else {
            let phase = if mode == Mode::Configure {
                Phase::Converge
            } else {
                Phase::Plan
            };
            // A step on the print server is each working printer's (via the server): a
            // printer left out is not said to connect or apply.
            let on_server = |_: &str, step: Step| {
                for &k in &working {
                    observe(&devices[k].device, step);
                }
            };
            let result =
                connect_to(site, on, opts, &on_server).and_then(|(mut session, target)| {
                    on_server(
                        on,
                        if phase == Phase::Plan {
                            Step::Probing
                        } else {
                            Step::Applying
                        },
                    );
                    let program = script::build_batch(phase, &parts);
                    run_script(session.as_mut(), &target, on, &program, opts)
                });
            for &k in &working {
                let items = items_of(k);
                let run = &mut runs[k];
                match &result {
                    Ok((report, channels)) => {
                        run.connections += 1;
                        run.channels += channels;
                        let own = report_of(k, report);
                        absorb(run, &items, &own, &opts.redactor);
                        note_down(run, on, &items, &own, opts);
                        if !own.complete {
                            run.problems.push(Problem::BrokeOff { on: on.to_string() });
                        }
                    }
                    Err(RunError::NotRun(problem)) => {
                        unreachable[k] |= problem.is_unreachable();
                        run.problems.push(problem.clone());
                        mark_unreached(run, &items);
                    }
                    Err(RunError::Cut(problem, report, channels)) => {
                        run.connections += 1;
                        run.channels += channels;
                        run.problems.push(problem.clone());
                        let own = report_of(k, report);
                        let (told, untold): (Vec<_>, Vec<_>) = items
                            .iter()
                            .copied()
                            .partition(|(i, _)| own.resources.contains_key(i));
                        absorb(run, &told, &own, &opts.redactor);
                        note_down(run, on, &told, &own, opts);
                        mark_unreached(run, &untold);
                    }
                }
            }
        }
    }

    for (k, r) in devices.iter().enumerate() {
        if !unreachable[k]
            && let Some((d, uri)) = printers[k]
        {
            observe(&r.device, Step::Verifying);
            let (checks, status) = verify_printer(site, r, d, uri, opts, answered.remove(&k));
            runs[k].printer = status;
            if checks.first().is_some_and(|c| !c.passed) {
                unreachable[k] = true;
            }
            runs[k].verify.extend(checks);
        }
        conclude(&mut runs[k], unreachable[k]);
        runs[k].elapsed_ms = took
            .get(&k)
            .copied()
            .unwrap_or_else(|| started.elapsed().as_millis() as u64);
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Answers for `ipp://ok/...` URIs once several questions are open at once (or after
    /// 5 s), and never for others.
    struct Overlapping {
        open: AtomicUsize,
        most: AtomicUsize,
    }

    impl PrinterQuery for Overlapping {
        fn ask(&self, uri: &str) -> Result<PrinterStatus, String> {
            let n = self.open.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(n, Ordering::SeqCst);
            let started = Instant::now();
            while self.most.load(Ordering::SeqCst) < 8
                && started.elapsed() < std::time::Duration::from_secs(5)
            {
                std::thread::yield_now();
            }
            self.open.fetch_sub(1, Ordering::SeqCst);
            if !uri.starts_with("ipp://ok/") {
                return Err("connection refused".into());
            }
            Ok(PrinterStatus {
                state: "idle".into(),
                state_reasons: vec![],
                make_and_model: uri.into(),
                location: String::new(),
                supplies: vec![],
                pages: None,
                firmware: None,
                serial: None,
            })
        }
    }

    #[test]
    fn printers_are_asked_at_once_and_answers_keep_their_order() {
        let q = Overlapping {
            open: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
        };
        let uris: Vec<String> = (0..40)
            .map(|i| {
                if i == 7 {
                    format!("ipp://dead/{i}")
                } else {
                    format!("ipp://ok/{i}")
                }
            })
            .collect();
        let refs: Vec<&str> = uris.iter().map(String::as_str).collect();
        let answers = ask_all(&q, &refs);
        assert!(q.most.load(Ordering::SeqCst) >= 8);
        assert!(q.most.load(Ordering::SeqCst) <= ASK_AT_ONCE);
        assert_eq!(answers.len(), 40);
        for (i, (a, _)) in answers.iter().enumerate() {
            match a {
                Ok(s) => assert_eq!(s.make_and_model, uris[i]),
                Err(_) => assert_eq!(i, 7),
            }
        }
    }
}
