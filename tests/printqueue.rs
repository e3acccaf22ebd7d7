//! Queued printer rollouts on the lab: a worker takes the jobs of printers whose queues are
//! on one print server together and runs them as ONE program there, as a direct rollout
//! does (one SSH login on the print server, counted in its sshd's log; one
//! CUPS-Get-Printers, counted in cupsd's access log), each printer then with its own
//! journal rows, stage and run row; two workers on a real PostgreSQL configure each printer
//! exactly once; a print server whose cupsd is dead fails its printers together, once,
//! reported as the print server's; a worker killed mid-group leaves every job of the group
//! to be taken over; `--max-fail` counts each printer of a group. Real cupsd, real
//! ippeveprinter printers, real PostgreSQL, no mocks.

use std::time::{Duration, Instant};

use deskready::lab::{Cluster, Lab};
use deskready::model::{Outcome, Stage};
use deskready::store::{Location, RunStatus, Store};

use crate::printfleet::{PRINTERS, cupsd_requests, print_server_logins};
use crate::support::{LabSite, SiteCopy, Test, TestLab, done, ndjson, wait_until};

/// The example site's lab with the print server and `printers` printers, every device
/// received, against the store at `store` (`None`: the site's SQLite store).
struct PrintLab {
    lab: LabSite,
    store: Option<String>,
}

impl PrintLab {
    fn up(printers: usize, store: Option<String>) -> PrintLab {
        let site = SiteCopy::example();
        let mut up = site
            .test()
            .args(["lab", "up", "--printers", &printers.to_string()]);
        if let Some(url) = &store {
            up = up.env("DESKREADY_STORE", url);
        }
        up.success();
        let lab = Lab::load(&site.path().join(".deskready/lab")).unwrap_or_else(|e| {
            let _ = site.run(&["lab", "down"]);
            panic!("lab state: {e}")
        });
        let lab = PrintLab {
            lab: LabSite {
                lab: TestLab::adopt(lab),
                site,
            },
            store,
        };
        let devices = lab
            .cmd("desk")
            .args(["--format", "json", "devices"])
            .success()
            .json();
        let tags: Vec<&str> = devices
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["tag"].as_str().unwrap())
            .collect();
        lab.cmd("desk")
            .args(["receive", "--scan"])
            .stdin(tags.join("\n"))
            .success();
        lab
    }

    /// `deskready` on machine `machine`, against the lab's store.
    fn cmd(&self, machine: &str) -> Test {
        let t = self
            .lab
            .test()
            .env("DESKREADY_OPERATOR", "ana")
            .env("DESKREADY_MACHINE", machine);
        match &self.store {
            Some(url) => t.env("DESKREADY_STORE", url),
            None => t,
        }
    }

    fn store(&self) -> Store {
        match &self.store {
            Some(url) => Store::open_at(&Location::postgres(url).unwrap()).unwrap(),
            None => self.lab.store(),
        }
    }

    /// The lab's printers, by tag.
    fn printers(&self) -> Vec<String> {
        let mut tags: Vec<String> = self
            .lab
            .lab
            .printers
            .iter()
            .map(|p| p.name.clone())
            .collect();
        tags.sort();
        tags
    }

    /// Queues a configure of every printer (`extra` arguments added); its run's id.
    fn queue(&self, extra: &[&str]) -> i64 {
        let queued = self
            .cmd("desk")
            .args([
                "--format",
                "json",
                "configure",
                "--all",
                "--limit",
                PRINTERS,
            ])
            .args(["--queue", "--detach"])
            .args(extra)
            .success()
            .json();
        queued["run_id"].as_i64().unwrap()
    }

    /// Checks that each of `printers` was configured exactly once in run `run`, with its
    /// own rows: the start, each queue change, a summary, its run row `outcome`.
    fn each_configured_once(&self, run: i64, printers: &[String], outcome: Outcome) {
        let store = self.store();
        let last = store.last_run("configure").unwrap().unwrap();
        assert_eq!((last.id, last.status), (run, RunStatus::Completed));
        assert_eq!(last.devices.len(), printers.len(), "{:?}", last.devices);
        for t in printers {
            assert!(
                last.devices.contains(&(t.clone(), Some(outcome))),
                "{t}: {:?}",
                last.devices
            );
            let h = store.history(t).unwrap();
            let of_run: Vec<_> = h.iter().filter(|e| e.run_id == Some(run)).collect();
            // A configure that changed nothing leaves one row instead of its start.
            let started = of_run
                .iter()
                .filter(|e| {
                    e.kind == "configure"
                        && e.message.as_deref().is_some_and(|m| {
                            m == "configure started"
                                || m.starts_with("configure ok: nothing changed")
                        })
                })
                .count();
            assert_eq!(started, 1, "{t} configured {started} times: {of_run:#?}");
            if outcome == Outcome::Changed {
                assert!(
                    of_run.iter().any(|e| e.kind == "resource"
                        && e.message
                            .as_deref()
                            .is_some_and(|m| m.starts_with("changed print_queue"))),
                    "{t}: {of_run:#?}"
                );
                assert!(
                    of_run.iter().any(|e| e.kind == "configure"
                        && e.message
                            .as_deref()
                            .is_some_and(|m| m.starts_with("configure changed:"))),
                    "{t}: {of_run:#?}"
                );
                assert_eq!(store.stage(t).unwrap().unwrap().stage, Stage::Configured);
            }
        }
        assert!(store.locks().unwrap().is_empty());
        assert_eq!(store.jobs_left().unwrap(), 0);
    }
}

/// The number of jobs a worker said it ran (`worker_finish` event).
fn jobs_run(events: &[serde_json::Value]) -> usize {
    events
        .iter()
        .find(|e| e["event"] == "worker_finish")
        .and_then(|e| e["jobs"].as_u64())
        .unwrap_or_else(|| panic!("no worker_finish in {events:#?}")) as usize
}

#[test]
fn a_queued_printer_rollout_is_one_program_on_the_print_server() {
    let lab = PrintLab::up(20, None);
    let printers = lab.printers();
    assert_eq!(printers.len(), 20);
    let (logins, requests) = (
        print_server_logins(&lab.lab),
        cupsd_requests(&lab.lab).len(),
    );
    let run = lab.queue(&[]);
    let worked = lab
        .cmd("worker-a")
        .args(["--format", "json", "worker", "--until-empty"])
        .output();
    assert_eq!(worked.code(), 0, "{}{}", worked.stdout(), worked.stderr());
    let events = ndjson(&worked);
    let results = done(&events);
    assert_eq!(results.len(), 20, "{results:?}");
    assert!(results.iter().all(|(_, o)| o == "changed"), "{results:?}");
    assert_eq!(jobs_run(&events), 20);
    // One login on the print server and one listing of its queues, not one per printer.
    assert_eq!(print_server_logins(&lab.lab) - logins, 1);
    let new = cupsd_requests(&lab.lab)[requests..].to_vec();
    let count = |what: &str| new.iter().filter(|l| l.contains(what)).count();
    assert!(count("CUPS-Add-Modify-Printer") >= 20, "{new:#?}");
    // Its queues listed once, and once more to read back the ones changed.
    let listings = count("CUPS-Get-Printers");
    assert!((1..=2).contains(&listings), "{new:#?}");
    lab.each_configured_once(run, &printers, Outcome::Changed);

    // The re-run: one login, ONE CUPS-Get-Printers for every queue, nothing changed.
    let (logins, requests) = (
        print_server_logins(&lab.lab),
        cupsd_requests(&lab.lab).len(),
    );
    let run = lab.queue(&[]);
    let again = lab
        .cmd("worker-a")
        .args(["--format", "json", "worker", "--until-empty"])
        .output();
    assert_eq!(again.code(), 0, "{}{}", again.stdout(), again.stderr());
    let results = done(&ndjson(&again));
    assert_eq!(results.len(), 20, "{results:?}");
    assert!(results.iter().all(|(_, o)| o == "ok"), "{results:?}");
    assert_eq!(print_server_logins(&lab.lab) - logins, 1);
    let new = cupsd_requests(&lab.lab)[requests..].to_vec();
    let count = |what: &str| new.iter().filter(|l| l.contains(what)).count();
    assert_eq!(count("CUPS-Get-Printers"), 1, "{new:#?}");
    assert_eq!(count("CUPS-Add-Modify-Printer"), 0, "{new:#?}");
    lab.each_configured_once(run, &printers, Outcome::Ok);
}

#[test]
fn two_workers_on_postgres_configure_each_printer_once_grouped_by_print_server() {
    let cluster = Cluster::start().unwrap();
    let lab = PrintLab::up(20, Some(cluster.url()));
    let printers = lab.printers();
    let logins = print_server_logins(&lab.lab);
    let run = lab.queue(&[]);
    let worker = |machine: &str| {
        lab.cmd(machine)
            .args(["--format", "json", "worker", "--until-empty"])
            .spawn()
    };
    let (a, b) = (worker("worker-a"), worker("worker-b"));
    let (a, b) = (a.wait(), b.wait());
    assert_eq!(a.code(), 0, "{}{}", a.stdout(), a.stderr());
    assert_eq!(b.code(), 0, "{}{}", b.stdout(), b.stderr());
    let (ea, eb) = (ndjson(&a), ndjson(&b));
    assert_eq!(jobs_run(&ea) + jobs_run(&eb), 20);
    let mut results = done(&ea);
    results.extend(done(&eb));
    assert_eq!(results.len(), 20, "{results:?}");
    assert!(results.iter().all(|(_, o)| o == "changed"), "{results:?}");
    // The first claim takes every ready job of the print server at once (the others pass
    // over them, never splitting them): one program, not one per printer or per worker.
    let ran = [jobs_run(&ea), jobs_run(&eb)];
    assert!(ran.contains(&20) && ran.contains(&0), "{ran:?}");
    assert_eq!(print_server_logins(&lab.lab) - logins, 1);
    lab.each_configured_once(run, &printers, Outcome::Changed);
}

#[test]
fn a_dead_cupsd_fails_its_queued_printers_together_once() {
    let mut lab = PrintLab::up(20, None);
    let ps = lab.lab.lab.print_server.clone().expect("print server");
    let printers = lab.printers();
    lab.lab.lab.stop_print_server().unwrap();
    let logins = print_server_logins(&lab.lab);
    let run = lab.queue(&["--connect-timeout", "10"]);
    let started = Instant::now();
    let worked = lab
        .cmd("worker-a")
        .args(["--format", "json", "worker", "--until-empty"])
        .output();
    let took = started.elapsed();
    assert_eq!(worked.code(), 1, "{}{}", worked.stdout(), worked.stderr());
    // Found once, by one program: within one connect timeout for all of them.
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(print_server_logins(&lab.lab) - logins, 1);
    let events = ndjson(&worked);
    let rows: Vec<&serde_json::Value> = events.iter().filter(|e| e["event"] == "done").collect();
    assert_eq!(rows.len(), 20, "{events:#?}");
    for r in &rows {
        assert_eq!(r["print_server_down"], ps.device.as_str(), "{r:#}");
        assert!(
            r["error"]
                .as_str()
                .is_some_and(|e| e.contains(&format!("print server {} is down", ps.device))),
            "{r:#}"
        );
    }
    // Following the run: the print server said once, with every printer it held back.
    let watched = lab
        .cmd("desk")
        .args(["--format", "json", "configure", "--watch", &run.to_string()])
        .output();
    assert_eq!(
        watched.code(),
        1,
        "{}{}",
        watched.stdout(),
        watched.stderr()
    );
    let down: Vec<serde_json::Value> = ndjson(&watched)
        .into_iter()
        .filter(|e| e["event"] == "print_server_down")
        .collect();
    assert_eq!(down.len(), 1, "{}", watched.stdout());
    assert_eq!(down[0]["server"], ps.device.as_str());
    let held: Vec<String> = down[0]["printers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    assert_eq!(held, printers);
    let text = lab
        .cmd("desk")
        .args(["configure", "--watch", &run.to_string()])
        .output();
    assert!(
        text.stdout().contains(&format!(
            "print server {} is down (its scheduler does not answer): the queues of 20 printers were not changed",
            ps.device
        )),
        "{}",
        text.stdout()
    );

    // Back: a queued --resume finishes every printer, again as one program.
    lab.lab.lab.start_print_server().unwrap();
    let logins = print_server_logins(&lab.lab);
    let resumed = lab
        .cmd("desk")
        .args([
            "--format",
            "json",
            "configure",
            "--resume",
            "--queue",
            "--detach",
        ])
        .success()
        .json();
    let run = resumed["run_id"].as_i64().unwrap();
    let worked = lab
        .cmd("worker-a")
        .args(["--format", "json", "worker", "--until-empty"])
        .output();
    assert_eq!(worked.code(), 0, "{}{}", worked.stdout(), worked.stderr());
    assert_eq!(print_server_logins(&lab.lab) - logins, 1);
    lab.each_configured_once(run, &printers, Outcome::Changed);
}

/// Holds a process stopped (SIGSTOP) until dropped (SIGCONT), even when the test fails.
struct Paused(u32);

impl Paused {
    fn new(pid: u32) -> Paused {
        // SAFETY: kill(2) with a pid of the lab's own cupsd; no memory is involved.
        unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
        Paused(pid)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::kill(self.0 as i32, libc::SIGCONT) };
    }
}

#[test]
fn a_worker_killed_mid_group_leaves_every_printer_to_be_taken_over() {
    let cluster = Cluster::start().unwrap();
    let lab = PrintLab::up(12, Some(cluster.url()));
    let ps = lab.lab.lab.print_server.clone().expect("print server");
    let printers = lab.printers();
    let run = lab.queue(&[]);
    // The print server's cupsd stopped: the group's one program waits on it.
    let paused = Paused::new(ps.pid);
    let a = lab
        .cmd("worker-a")
        .env("DESKREADY_LEASE_SECS", "3")
        .args(["--format", "json", "worker", "--until-empty"])
        .spawn();
    wait_until(
        "every printer to be configuring",
        Duration::from_secs(60),
        || {
            let store = lab.store();
            printers
                .iter()
                .all(|t| {
                    store
                        .stage(t)
                        .unwrap()
                        .is_some_and(|r| r.stage == Stage::Configuring)
                })
                .then_some(())
        },
    );
    let killed = a.kill();
    assert!(done(&ndjson(&killed)).is_empty(), "{}", killed.stdout());
    drop(paused);
    // Another worker takes every job of the group over once the claims and leases expired,
    // and runs them as one program.
    let logins = print_server_logins(&lab.lab);
    let b = lab
        .cmd("worker-b")
        .env("DESKREADY_LEASE_SECS", "3")
        .args(["--format", "json", "worker", "--until-empty"])
        .output();
    assert_eq!(b.code(), 0, "{}{}", b.stdout(), b.stderr());
    let events = ndjson(&b);
    let taken_over = events
        .iter()
        .filter(|e| {
            e["event"] == "took"
                && e["taken_over"]
                    .as_str()
                    .is_some_and(|w| w.contains("worker-a"))
        })
        .count();
    assert_eq!(taken_over, printers.len(), "{}", b.stdout());
    let results = done(&events);
    assert!(results.iter().all(|(_, o)| o == "changed"), "{results:?}");
    assert_eq!(results.len(), printers.len());
    assert_eq!(print_server_logins(&lab.lab) - logins, 1);
    let store = lab.store();
    let last = store.last_run("configure").unwrap().unwrap();
    assert_eq!((last.id, last.status), (run, RunStatus::Completed));
    for t in &printers {
        assert!(
            last.devices.contains(&(t.clone(), Some(Outcome::Changed))),
            "{t}: {:?}",
            last.devices
        );
        assert_eq!(store.stage(t).unwrap().unwrap().stage, Stage::Configured);
        // The killed worker's configure, failed when its lease expired, then the one that
        // finished it.
        let h = store.history(t).unwrap();
        assert!(
            h.iter()
                .any(|e| e.stage_to.as_deref() == Some("configure-failed")
                    && e.message
                        .as_deref()
                        .is_some_and(|m| m.contains("stopped renewing its lease"))),
            "{t}: {h:#?}"
        );
    }
    assert!(store.locks().unwrap().is_empty());
}

#[test]
fn max_fail_counts_each_printer_of_a_print_servers_group() {
    let mut lab = PrintLab::up(10, None);
    let printers = lab.printers();
    // Named in this order: the first five are batch 1, two of them dead.
    for p in &printers[..2] {
        lab.lab.lab.stop_printer(p).unwrap();
    }
    let logins = print_server_logins(&lab.lab);
    let mut args: Vec<&str> = vec!["--format", "json", "configure"];
    args.extend(printers.iter().map(String::as_str));
    args.extend([
        "--batch",
        "5",
        "--max-fail",
        "1",
        "--connect-timeout",
        "2",
        "--queue",
        "--detach",
    ]);
    let queued = lab.cmd("desk").args(&args).success().json();
    let run = queued["run_id"].as_i64().unwrap();
    let worked = lab
        .cmd("worker-a")
        .args(["--format", "json", "worker", "--until-empty"])
        .output();
    assert_eq!(worked.code(), 1, "{}{}", worked.stdout(), worked.stderr());
    // Batch 1 as one program (the dead printers left out of it), then stopped.
    assert_eq!(print_server_logins(&lab.lab) - logins, 1);
    let store = lab.store();
    let last = store.last_run("configure").unwrap().unwrap();
    assert_eq!((last.id, last.status), (run, RunStatus::Stopped));
    let outcome = |t: &String| {
        last.devices
            .iter()
            .find(|(d, _)| d == t)
            .and_then(|(_, o)| *o)
    };
    for (i, t) in printers.iter().enumerate() {
        let want = match i {
            0 | 1 => Outcome::Unreachable,
            2..=4 => Outcome::Changed,
            _ => Outcome::NotStarted,
        };
        assert_eq!(outcome(t), Some(want), "{t}: {:?}", last.devices);
    }
    let watched = lab
        .cmd("desk")
        .args(["--format", "json", "configure", "--watch", &run.to_string()])
        .output();
    let stopped: Vec<serde_json::Value> = ndjson(&watched)
        .into_iter()
        .filter(|e| e["event"] == "stopped")
        .collect();
    assert_eq!(stopped.len(), 1, "{}", watched.stdout());
    assert_eq!(
        stopped[0]["reason"],
        "2 devices failed in batch 1, more than the 1 allowed by --max-fail; no further device was started"
    );
}
