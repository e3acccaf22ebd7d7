//! Rollouts shared by several machines: `configure --queue` puts one job per device into
//! the store and `deskready worker` processes (each its own "machine" through
//! `DESKREADY_MACHINE`) take them, against real lab devices and a real PostgreSQL cluster
//! (or the SQLite store). Each device is configured exactly once, by counting the journal
//! and the run's device rows; a worker killed mid-job loses nothing once its lease
//! expires; the threshold stops the queue for every worker; `--resume` works from a
//! queued run.

use std::time::Duration;

use deskready::lab::{Cluster, Lab};
use deskready::model::{Outcome, Stage};
use deskready::store::{Location, RunStatus, Store};

use crate::support::{LabSite, Running, SiteCopy, Test, TestLab, wait_until};

/// The example site with `extra` lab laptops (LAB-0001, ...), every one received, against
/// the store at `store` (`None`: the site's SQLite store).
struct Fleet {
    lab: LabSite,
    store: Option<String>,
}

impl Fleet {
    fn up(site: SiteCopy, extra: usize, store: Option<String>) -> Fleet {
        let mut up = site
            .test()
            .args(["lab", "up", "--devices", &extra.to_string()]);
        if let Some(url) = &store {
            up = up.env("DESKREADY_STORE", url);
        }
        up.success();
        let lab = Lab::load(&site.path().join(".deskready/lab")).unwrap_or_else(|e| {
            let _ = site.run(&["lab", "down"]);
            panic!("lab state: {e}")
        });
        let fleet = Fleet {
            lab: LabSite {
                lab: TestLab::adopt(lab),
                site,
            },
            store,
        };
        fleet
            .cmd("csp", "desk")
            .args(["receive", "--scan"])
            .stdin(fleet.tags(extra).join("\n"))
            .success();
        fleet
    }

    fn tags(&self, n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("LAB-{i:04}")).collect()
    }

    /// `deskready` as `operator` on machine `machine`, with 3-second leases.
    fn cmd(&self, operator: &str, machine: &str) -> Test {
        let t = self
            .lab
            .test()
            .env("DESKREADY_OPERATOR", operator)
            .env("DESKREADY_MACHINE", machine)
            .env("DESKREADY_LEASE_SECS", "3");
        match &self.store {
            Some(url) => t.env("DESKREADY_STORE", url),
            None => t,
        }
    }

    /// A worker on machine `machine` that ends when no job is left.
    fn worker(&self, machine: &str, extra: &[&str]) -> Running {
        self.cmd("worker", machine)
            .args(["worker", "--until-empty", "--parallel", "8"])
            .args(extra)
            .spawn()
    }

    fn store(&self) -> Store {
        match &self.store {
            Some(url) => Store::open_at(&Location::postgres(url).unwrap()).unwrap(),
            None => self.lab.store(),
        }
    }

    /// How many times `tag`'s journal says a configure of run `run` started, and how many
    /// of its rows run `run` wrote.
    fn configures(&self, store: &Store, tag: &str, run: i64) -> (usize, usize) {
        let h = store.history(tag).unwrap();
        let started = h
            .iter()
            .filter(|e| e.kind == "configure" && e.message.as_deref() == Some("configure started"))
            .count();
        let of_run = h.iter().filter(|e| e.run_id == Some(run)).count();
        (started, of_run)
    }
}

/// The number of jobs a worker said it ran ("worker: 37 jobs run, 0 failed").
fn jobs_run(out: &str) -> usize {
    out.lines()
        .find_map(|l| {
            l.strip_prefix("worker: ")
                .and_then(|l| l.split_once(" job"))
                .and_then(|(n, _)| n.parse().ok())
        })
        .unwrap_or_else(|| panic!("no summary in\n{out}"))
}

/// The run number in "queued run 7: ..." or the start line "..., run 7".
fn run_of(out: &str) -> i64 {
    let after = out
        .split("run ")
        .nth(1)
        .unwrap_or_else(|| panic!("no run in\n{out}"));
    after
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

#[test]
fn two_workers_share_a_hundred_device_rollout_each_device_configured_once() {
    let cluster = Cluster::start().unwrap();
    let fleet = Fleet::up(SiteCopy::example(), 100, Some(cluster.url()));
    let tags = fleet.tags(100);
    let mut starter = fleet
        .cmd("ana", "ana-laptop")
        .args(["configure", "--all", "--limit", "LAB-*", "--queue"])
        .spawn();
    let first = starter.wait_for_line(Duration::from_secs(60), |l| l.contains("run "));
    assert!(
        first.contains("configure: 100 devices in 1 batch (100), by workers"),
        "{first}"
    );
    let run = run_of(&first);
    let a = fleet.worker("worker-a", &[]);
    let b = fleet.worker("worker-b", &[]);
    let (a, b) = (a.wait(), b.wait());
    let started = starter.wait();
    assert_eq!(
        started.code(),
        0,
        "{}\n{}",
        started.stdout(),
        started.stderr()
    );
    assert_eq!(a.code(), 0, "{}{}", a.stdout(), a.stderr());
    assert_eq!(b.code(), 0, "{}{}", b.stdout(), b.stderr());
    // Both took jobs, and between them every one, once.
    let (ja, jb) = (jobs_run(&a.stdout()), jobs_run(&b.stdout()));
    assert!(ja > 0 && jb > 0, "a ran {ja}, b ran {jb}");
    assert_eq!(ja + jb, 100);
    // The starting command's recap lists all 100.
    let out = started.stdout();
    for t in &tags {
        assert!(out.contains(&format!("\n{t}  changed ")), "{t} in\n{out}");
    }
    assert!(
        out.contains(
            "100 devices: 0 ok, 100 changed, 0 failed, 0 unreachable, 0 refused, 0 not started"
        ),
        "{out}"
    );
    // The record: the run completed, every device's row, one configure each, tied to it.
    let store = fleet.store();
    let last = store.last_run("configure").unwrap().unwrap();
    assert_eq!((last.id, last.status), (run, RunStatus::Completed));
    assert_eq!(last.devices.len(), 100);
    assert!(
        last.devices
            .iter()
            .all(|(_, o)| *o == Some(Outcome::Changed)),
        "{:?}",
        last.devices
    );
    for t in &tags {
        let (started, of_run) = fleet.configures(&store, t, run);
        assert_eq!(started, 1, "{t} configured {started} times");
        assert!(of_run >= 3, "{t}: {of_run} rows of run {run}");
        assert_eq!(store.stage(t).unwrap().unwrap().stage, Stage::Configured);
    }
    assert!(store.locks().unwrap().is_empty());
    assert_eq!(store.jobs_left().unwrap(), 0);
}

#[test]
fn a_worker_killed_mid_job_loses_nothing_its_device_is_taken_over_after_its_lease() {
    let cluster = Cluster::start().unwrap();
    let fleet = Fleet::up(SiteCopy::slow_example(), 4, Some(cluster.url()));
    let queued = fleet
        .cmd("ana", "ana-laptop")
        .args([
            "configure",
            "--all",
            "--limit",
            "LAB-*",
            "--queue",
            "--detach",
        ])
        .success();
    let out = queued.stdout();
    assert!(out.starts_with("queued run "), "{out}");
    let run = run_of(&out);
    // A worker whose device's first step sleeps: killed while it configures LAB-0001.
    let a = fleet
        .cmd("worker", "worker-a")
        .args(["--var", "nap=60", "worker", "--parallel", "1"])
        .spawn();
    wait_until(
        "LAB-0001 to be configuring",
        Duration::from_secs(60),
        || {
            fleet
                .store()
                .stage("LAB-0001")
                .unwrap()
                .is_some_and(|r| r.stage == Stage::Configuring)
                .then_some(())
        },
    );
    a.kill();
    // Another machine's worker takes the rest at once, and LAB-0001 once its lease expired.
    let b = fleet.worker("worker-b", &["--var", "nap=0"]).wait();
    assert_eq!(b.code(), 0, "{}{}", b.stdout(), b.stderr());
    assert_eq!(jobs_run(&b.stdout()), 4, "{}", b.stdout());
    assert!(
        b.stdout().contains(&format!(
            "run {run}: LAB-0001 taken over from worker on worker-a (pid"
        )),
        "{}",
        b.stdout()
    );
    // Followed afterwards: the whole run, as a rollout's recap.
    let watched = fleet
        .cmd("ana", "ana-laptop")
        .args(["configure", "--watch", &run.to_string()])
        .success();
    let out = watched.stdout();
    assert!(
        out.contains(
            "4 devices: 0 ok, 4 changed, 0 failed, 0 unreachable, 0 refused, 0 not started"
        ),
        "{out}"
    );
    let store = fleet.store();
    let last = store.last_run("configure").unwrap().unwrap();
    assert_eq!(last.status, RunStatus::Completed);
    assert!(
        last.devices
            .iter()
            .all(|(_, o)| *o == Some(Outcome::Changed)),
        "{:?}",
        last.devices
    );
    for t in fleet.tags(4) {
        assert_eq!(store.stage(&t).unwrap().unwrap().stage, Stage::Configured);
    }
    // The killed worker's configure is in LAB-0001's journal, failed when its lease expired,
    // then the one that finished it.
    let h = store.history("LAB-0001").unwrap();
    assert!(
        h.iter().any(|e| e.kind == "stage"
            && e.stage_to.as_deref() == Some("configure-failed")
            && e.message
                .as_deref()
                .is_some_and(|m| m.contains("stopped renewing its lease"))),
        "{h:#?}"
    );
    assert_eq!(fleet.configures(&store, "LAB-0001", run).0, 2);
    for t in ["LAB-0002", "LAB-0003", "LAB-0004"] {
        assert_eq!(fleet.configures(&store, t, run).0, 1, "{t}");
    }
}

#[test]
fn the_threshold_stops_the_queue_for_every_worker() {
    let cluster = Cluster::start().unwrap();
    let mut fleet = Fleet::up(SiteCopy::example(), 6, Some(cluster.url()));
    // The first batch is the one unreachable device alone, so that what the threshold stops
    // does not depend on which worker takes a job first.
    fleet.lab.lab.stop_device("LAB-0001").unwrap();
    let mut starter = fleet
        .cmd("ana", "ana-laptop")
        .args([
            "configure",
            "--all",
            "--limit",
            "LAB-*",
            "--queue",
            "--batch",
            "1,2",
            "--max-fail",
            "0",
            "--connect-timeout",
            "3",
        ])
        .spawn();
    starter.wait_for_line(Duration::from_secs(60), |l| l.contains("run "));
    let a = fleet.worker("worker-a", &[]);
    let b = fleet.worker("worker-b", &[]);
    let (a, b) = (a.wait(), b.wait());
    let started = starter.wait();
    let out = started.stdout();
    assert_eq!(started.code(), 1, "{out}{}", started.stderr());
    assert!(
        out.contains("1 device failed in batch 1, more than the 0 allowed by --max-fail; no further device was started"),
        "{out}"
    );
    assert!(
        out.contains(
            "6 devices: 0 ok, 0 changed, 0 failed, 1 unreachable, 0 refused, 5 not started"
        ),
        "{out}"
    );
    // Neither worker started a device of a later batch.
    assert_eq!(jobs_run(&a.stdout()) + jobs_run(&b.stdout()), 1);
    let store = fleet.store();
    let last = store.last_run("configure").unwrap().unwrap();
    assert_eq!(last.status, RunStatus::Stopped);
    for t in ["LAB-0002", "LAB-0003", "LAB-0004", "LAB-0005", "LAB-0006"] {
        assert_eq!(
            store.stage(t).unwrap().unwrap().stage,
            Stage::Received,
            "{t}"
        );
        assert!(
            last.devices
                .contains(&(t.to_string(), Some(Outcome::NotStarted)))
        );
    }
}

#[test]
fn one_worker_on_the_sqlite_store_and_resume_from_a_queued_run() {
    let mut fleet = Fleet::up(SiteCopy::example(), 3, None);
    fleet.lab.lab.stop_device("LAB-0003").unwrap();
    let queued = fleet
        .cmd("ana", "desk")
        .args([
            "--format",
            "json",
            "configure",
            "--all",
            "--limit",
            "LAB-*",
            "--queue",
            "--detach",
            "--connect-timeout",
            "3",
        ])
        .success()
        .json();
    assert_eq!(queued["devices"], 3, "{queued}");
    let run = queued["run_id"].as_i64().unwrap();
    // Followed, then left with Ctrl-C before any worker came: the jobs stay queued.
    let mut following = fleet
        .cmd("ana", "desk")
        .args(["configure", "--watch", &run.to_string()])
        .spawn();
    following.wait_for_line(Duration::from_secs(30), |l| l.contains("by workers"));
    following.signal(libc::SIGINT);
    let left = following.wait();
    assert_eq!(left.code(), 130, "{}{}", left.stdout(), left.stderr());
    assert!(
        left.stdout().contains(&format!(
            "Ctrl-C: no longer following run {run}; its 3 jobs left stay queued for the workers"
        )),
        "{}",
        left.stdout()
    );
    assert_eq!(fleet.store().jobs_left().unwrap(), 3);
    let worker = fleet.worker("desk", &[]).wait();
    assert_eq!(worker.code(), 1, "a job failed: {}", worker.stdout());
    assert!(
        worker
            .stdout()
            .contains(&format!("run {run}: LAB-0003 unreachable")),
        "{}",
        worker.stdout()
    );
    let watched = fleet
        .cmd("ana", "desk")
        .args(["configure", "--watch", &run.to_string()])
        .output();
    assert_eq!(watched.code(), 1);
    assert!(
        watched
            .stdout()
            .contains("3 devices: 0 ok, 2 changed, 0 failed, 1 unreachable"),
        "{}",
        watched.stdout()
    );
    // --resume redoes what the queued run did not finish, like any run's.
    fleet.lab.lab.start_device("LAB-0003").unwrap();
    let resumed = fleet
        .cmd("ana", "desk")
        .args(["--format", "json", "configure", "--resume"])
        .success();
    let events = crate::support::ndjson(&resumed);
    assert_eq!(
        crate::support::done(&events),
        [("LAB-0003".to_string(), "changed".to_string())]
    );
    let store = fleet.store();
    for t in fleet.tags(3) {
        assert_eq!(store.stage(&t).unwrap().unwrap().stage, Stage::Configured);
    }
}

#[test]
fn two_workers_on_one_sqlite_store_configure_each_device_once() {
    let fleet = Fleet::up(SiteCopy::example(), 12, None);
    let queued = fleet
        .cmd("ana", "desk")
        .args([
            "--format",
            "json",
            "configure",
            "--all",
            "--limit",
            "LAB-*",
            "--queue",
            "--detach",
        ])
        .success()
        .json();
    let run = queued["run_id"].as_i64().unwrap();
    // Two processes on this machine, one SQLite file.
    let a = fleet
        .cmd("worker", "desk")
        .args(["worker", "--until-empty", "--parallel", "4"])
        .spawn();
    let b = fleet
        .cmd("worker", "desk")
        .args(["worker", "--until-empty", "--parallel", "4"])
        .spawn();
    let (a, b) = (a.wait(), b.wait());
    assert_eq!(a.code(), 0, "{}{}", a.stdout(), a.stderr());
    assert_eq!(b.code(), 0, "{}{}", b.stdout(), b.stderr());
    assert_eq!(jobs_run(&a.stdout()) + jobs_run(&b.stdout()), 12);
    let store = fleet.store();
    let last = store.last_run("configure").unwrap().unwrap();
    assert_eq!((last.id, last.status), (run, RunStatus::Completed));
    assert!(
        last.devices
            .iter()
            .all(|(_, o)| *o == Some(Outcome::Changed)),
        "{:?}",
        last.devices
    );
    for t in fleet.tags(12) {
        assert_eq!(fleet.configures(&store, &t, run).0, 1, "{t}");
        assert_eq!(store.stage(&t).unwrap().unwrap().stage, Stage::Configured);
    }
    assert_eq!(store.jobs_left().unwrap(), 0);
}

/// A window of every day that opens at the start of the first minute at least 20 seconds
/// from now (UTC) and stays open 10 minutes.
fn window_opening_soon() -> (String, jiff::Timestamp) {
    let soon = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(80))
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC);
    let opens = soon.with().second(0).subsec_nanosecond(0).build().unwrap();
    let closes = opens
        .checked_add(jiff::SignedDuration::from_mins(10))
        .unwrap();
    (
        format!(
            "maintenance_window: {{ days: [mon, tue, wed, thu, fri, sat, sun], start: \"{}\", end: \"{}\", timezone: UTC }}\n",
            opens.strftime("%H:%M"),
            closes.strftime("%H:%M")
        ),
        opens.timestamp(),
    )
}

#[test]
fn with_wait_a_delivered_device_waits_in_the_queue_for_its_window() {
    let site = SiteCopy::example();
    let lab = LabSite::up(site);
    assert_eq!(lab.run(&["configure", "LAP-0003"]).code(), 0);
    assert_eq!(lab.run(&["deliver", "LAP-0003"]).code(), 0);
    let (window, opens) = window_opening_soon();
    let text = lab.site.read("profiles/laptop-base.yaml");
    let start = text.find("maintenance_window:").unwrap();
    let end = text.find("timezone: Europe/London\n").unwrap() + "timezone: Europe/London\n".len();
    lab.site.write(
        "profiles/laptop-base.yaml",
        &format!("{}{}{}", &text[..start], window, &text[end..]),
    );
    let queued = lab
        .test()
        .args([
            "--format",
            "json",
            "configure",
            "LAP-0003",
            "LAP-0004",
            "--queue",
            "--detach",
            "--wait",
        ])
        .success()
        .json();
    let run = queued["run_id"].as_i64().unwrap();
    let mut worker = lab
        .test()
        .env("DESKREADY_OPERATOR", "worker")
        .args(["worker", "--until-empty", "--parallel", "2"])
        .spawn();
    // The delivered laptop goes back to the queue; the other one (not delivered) is done.
    let line = worker.wait_for_line(Duration::from_secs(60), |l| l.contains("LAP-0003"));
    assert!(
        line.contains(&format!(
            "run {run}: LAP-0003 waits for its maintenance window (opens "
        )) && line.trim_end().ends_with("); back in the queue"),
        "{line}"
    );
    let still = lab.store();
    assert_eq!(
        still.stage("LAP-0003").unwrap().unwrap().stage,
        Stage::Delivered
    );
    wait_until("LAP-0004's job to be done", Duration::from_secs(30), || {
        (lab.store().jobs_left().unwrap() == 1).then_some(())
    });
    // The worker waits with no job, and is seen to (`configure --watch` lists it).
    let idle = lab.store().queue_progress(run).unwrap().unwrap().idle;
    assert!(
        idle.len() == 1 && idle[0].starts_with("worker on "),
        "{idle:?}"
    );
    assert!(
        jiff::Timestamp::now() < opens,
        "the window opened too soon for the test"
    );
    // Once the window opens, the worker takes it again and configures it (nothing to change).
    let done = worker.wait();
    assert_eq!(done.code(), 0, "{}{}", done.stdout(), done.stderr());
    assert!(jiff::Timestamp::now() >= opens);
    let out = done.stdout();
    assert!(out.contains(&format!("run {run}: LAP-0003 ok")), "{out}");
    assert!(
        out.contains(&format!("run {run}: LAP-0004 changed")),
        "{out}"
    );
    assert!(out.contains("worker: 2 jobs run, 0 failed"), "{out}");
    // Ended: no longer listed.
    assert_eq!(
        lab.store().queue_progress(run).unwrap().unwrap().idle,
        Vec::<String>::new()
    );
    let store = lab.store();
    let last = store.last_run("configure").unwrap().unwrap();
    assert_eq!((last.id, last.status), (run, RunStatus::Completed));
    // Configured at its desk: still delivered; its journal has the run's one configure.
    assert_eq!(
        store.stage("LAP-0003").unwrap().unwrap().stage,
        Stage::Delivered
    );
    let h = store.history("LAP-0003").unwrap();
    let of_run: Vec<_> = h.iter().filter(|e| e.run_id == Some(run)).collect();
    assert!(
        of_run.len() == 1
            && of_run[0].kind == "configure"
            && of_run[0]
                .message
                .as_deref()
                .is_some_and(|m| m.starts_with("configure ok: nothing changed")),
        "{h:#?}"
    );
}

#[test]
fn a_run_no_worker_takes_is_said_stalled_and_cancel_ends_it() {
    let fleet = Fleet::up(SiteCopy::example(), 3, None);
    let queued = fleet
        .cmd("ana", "desk")
        .args([
            "--format",
            "json",
            "configure",
            "--all",
            "--limit",
            "LAB-*",
            "--queue",
            "--detach",
        ])
        .success()
        .json();
    let run = queued["run_id"].as_i64().unwrap();
    // No worker: the follower says so once the jobs have waited a while.
    let mut following = fleet
        .cmd("ana", "desk")
        .args(["configure", "--watch", &run.to_string()])
        .spawn();
    let line = following.wait_for_line(Duration::from_secs(30), |l| l.contains("no worker"));
    assert!(
        line.contains(&format!(
            "run {run}: 3 jobs waiting and no worker holds a job of this run: is `deskready worker` running on a machine with this store?"
        )),
        "{line}"
    );
    // Cancelled from another checkout's command: every job ends not started, the run stopped.
    fleet
        .cmd("bo", "desk")
        .args(["configure", "--cancel", &run.to_string()])
        .success()
        .stdout_has(&format!(
            "cancelled run {run}: its jobs no worker had taken end not started"
        ));
    let followed = following.wait();
    assert_eq!(
        followed.code(),
        1,
        "{}{}",
        followed.stdout(),
        followed.stderr()
    );
    let out = followed.stdout();
    assert!(
        out.contains(&format!(
            "cancelled by bo (configure --cancel {run}): no further device was started"
        )),
        "{out}"
    );
    assert!(
        out.contains(
            "3 devices: 0 ok, 0 changed, 0 failed, 0 unreachable, 0 refused, 3 not started"
        ),
        "{out}"
    );
    let store = fleet.store();
    let last = store.last_run("configure").unwrap().unwrap();
    assert_eq!((last.id, last.status), (run, RunStatus::Stopped));
    assert_eq!(store.jobs_left().unwrap(), 0);
    // A worker finds nothing; cancelling again, or a run that does not exist, is refused.
    let worker = fleet.worker("desk", &[]).wait();
    assert_eq!(jobs_run(&worker.stdout()), 0);
    fleet
        .cmd("bo", "desk")
        .args(["configure", "--cancel", &run.to_string()])
        .code(3)
        .stderr_has(&format!(
            "queued run {run} has ended already; nothing to cancel"
        ));
    fleet
        .cmd("bo", "desk")
        .args(["configure", "--cancel", "999"])
        .code(2)
        .stderr_has("there is no queued run 999 in the store");
    for t in fleet.tags(3) {
        assert_eq!(store.stage(&t).unwrap().unwrap().stage, Stage::Received);
    }
}

#[test]
fn a_job_whose_device_left_the_site_is_refused_and_the_others_go_on() {
    let fleet = Fleet::up(SiteCopy::example(), 3, None);
    let queued = fleet
        .cmd("ana", "desk")
        .args([
            "--format",
            "json",
            "configure",
            "--all",
            "--limit",
            "LAB-*",
            "--queue",
            "--detach",
        ])
        .success()
        .json();
    let run = queued["run_id"].as_i64().unwrap();
    // Between queueing and working, LAB-0002 is taken out of the site.
    let site = &fleet.lab.site;
    let text = site.read("inventory/lab.generated.yaml");
    let start = text.find("  LAB-0002:\n").unwrap();
    let end = text.find("  LAB-0003:\n").unwrap();
    site.write(
        "inventory/lab.generated.yaml",
        &format!("{}{}", &text[..start], &text[end..]),
    );
    let worker = fleet.worker("desk", &[]).wait();
    assert_eq!(worker.code(), 1, "{}{}", worker.stdout(), worker.stderr());
    let out = worker.stdout();
    assert!(
        out.contains(&format!(
            "run {run}: LAB-0002 refused: LAB-0002 is not a device of this worker's site"
        )),
        "{out}"
    );
    assert!(out.contains("worker: 3 jobs run, 1 failed"), "{out}");
    let store = fleet.store();
    let last = store.last_run("configure").unwrap().unwrap();
    assert_eq!(last.status, RunStatus::Completed);
    assert_eq!(
        last.devices,
        [
            ("LAB-0001".to_string(), Some(Outcome::Changed)),
            ("LAB-0002".to_string(), Some(Outcome::Refused)),
            ("LAB-0003".to_string(), Some(Outcome::Changed)),
        ]
    );
    assert_eq!(
        store.stage("LAB-0002").unwrap().unwrap().stage,
        Stage::Received
    );
}

#[test]
fn ctrl_c_stops_a_worker_taking_jobs_and_twice_leaves_its_job_to_be_taken_over() {
    let fleet = Fleet::up(SiteCopy::slow_example(), 3, None);
    let queued = fleet
        .cmd("ana", "desk")
        .args([
            "--format",
            "json",
            "configure",
            "--all",
            "--limit",
            "LAB-*",
            "--queue",
            "--detach",
        ])
        .success()
        .json();
    let run = queued["run_id"].as_i64().unwrap();
    let configuring = |tag: &str| {
        fleet
            .store()
            .stage(tag)
            .unwrap()
            .is_some_and(|r| r.stage == Stage::Configuring)
            .then_some(())
    };
    // Once: the job under way finishes, no further one is taken.
    let mut a = fleet
        .cmd("worker", "desk")
        .args(["--var", "nap=2", "worker", "--parallel", "1"])
        .spawn();
    wait_until(
        "LAB-0001 to be configuring",
        Duration::from_secs(60),
        || configuring("LAB-0001"),
    );
    a.signal(libc::SIGINT);
    a.wait_for_line(Duration::from_secs(10), |l| {
        l.starts_with("Ctrl-C: no further job will be taken")
    });
    let a = a.wait();
    assert_eq!(a.code(), 130, "{}{}", a.stdout(), a.stderr());
    assert!(
        a.stdout().contains(&format!("run {run}: LAB-0001 changed")),
        "{}",
        a.stdout()
    );
    assert_eq!(jobs_run(&a.stdout()), 1);
    assert_eq!(fleet.store().jobs_left().unwrap(), 2);
    // Twice: it ends at once; its device is taken over once its lease expired.
    let mut b = fleet
        .cmd("worker", "desk")
        .args(["--var", "nap=60", "worker", "--parallel", "1"])
        .spawn();
    wait_until(
        "LAB-0002 to be configuring",
        Duration::from_secs(60),
        || configuring("LAB-0002"),
    );
    b.signal(libc::SIGINT);
    b.wait_for_line(Duration::from_secs(10), |l| {
        l.starts_with("Ctrl-C: no further job will be taken")
    });
    b.signal(libc::SIGINT);
    let b = b.wait();
    assert_eq!(b.code(), 130, "{}{}", b.stdout(), b.stderr());
    let c = fleet.worker("desk", &["--var", "nap=0"]).wait();
    assert_eq!(c.code(), 0, "{}{}", c.stdout(), c.stderr());
    assert!(
        c.stdout().contains(&format!(
            "run {run}: LAB-0002 taken over from worker on desk (pid"
        )),
        "{}",
        c.stdout()
    );
    assert_eq!(jobs_run(&c.stdout()), 2);
    let store = fleet.store();
    let last = store.last_run("configure").unwrap().unwrap();
    assert_eq!((last.id, last.status), (run, RunStatus::Completed));
    for t in fleet.tags(3) {
        assert_eq!(
            store.stage(&t).unwrap().unwrap().stage,
            Stage::Configured,
            "{t}"
        );
    }
    assert_eq!(fleet.configures(&store, "LAB-0002", run).0, 2);
}

#[test]
fn a_queued_run_stores_no_secret() {
    const SECRET: &str = "Queue-5d2f-persimmon-Okapi-71";
    let site = SiteCopy::example();
    site.write(
        "inventory/secrets.yaml",
        "secrets:\n  wifi_psk: { env: DESKREADY_TEST_QUEUE_PSK }\n",
    );
    site.write(
        "profiles/wifi.yaml",
        "name: wifi\nresources:\n  - directory: /etc/deskready\n    mode: \"0755\"\n  - file: /etc/deskready/wifi.conf\n    template: wifi.conf.tera\n    mode: \"0600\"\n",
    );
    site.write("templates/wifi.conf.tera", "psk={{ secret.wifi_psk }}\n");
    site.edit(
        "inventory/laptops.yaml",
        "    profile: laptop-engineering\n    assignee: { name: Bruno",
        "    profile: wifi\n    assignee: { name: Bruno",
    );
    let lab = LabSite::up(site);
    let queued = lab
        .test()
        .env("DESKREADY_TEST_QUEUE_PSK", SECRET)
        .args(["configure", "LAP-0002", "--queue", "--detach"])
        .success();
    assert!(!queued.stdout().contains(SECRET));
    let worker = lab
        .test()
        .env("DESKREADY_TEST_QUEUE_PSK", SECRET)
        .args(["worker", "--until-empty"])
        .success();
    assert!(
        worker.stdout().contains("LAP-0002 changed"),
        "{}",
        worker.stdout()
    );
    assert!(!worker.stdout().contains(SECRET) && !worker.stderr().contains(SECRET));
    let on_device = crate::support::ssh::run(&lab.lab, "LAP-0002", "cat /etc/deskready/wifi.conf");
    assert_eq!(on_device, format!("psk={SECRET}\n"));
    // Neither the queue's settings nor anything else in the store holds it.
    for e in std::fs::read_dir(lab.site.file(".deskready"))
        .unwrap()
        .flatten()
    {
        let p = e.path();
        if p.is_file() {
            let bytes = std::fs::read(&p).unwrap();
            assert!(
                !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
                "{} holds the secret",
                p.display()
            );
        }
    }
}

/// `unlock` of a device a worker is configuring: the lease is broken on purpose, the device
/// is `configure-failed` at once; the worker's job then cannot record it configured and
/// ends refused, saying why, and the run completes; a worker on a later run redoes it.
#[test]
fn unlock_of_a_device_a_worker_configures_ends_its_job_refused() {
    let fleet = Fleet::up(SiteCopy::slow_example(), 1, None);
    let queue = || {
        fleet
            .cmd("ana", "desk")
            .args([
                "--format",
                "json",
                "configure",
                "--all",
                "--limit",
                "LAB-*",
                "--queue",
                "--detach",
            ])
            .success()
            .json()["run_id"]
            .as_i64()
            .unwrap()
    };
    let run = queue();
    let a = fleet
        .cmd("worker", "desk")
        .args([
            "--var",
            "nap=4",
            "worker",
            "--parallel",
            "1",
            "--until-empty",
        ])
        .spawn();
    wait_until(
        "LAB-0001 to be configuring",
        Duration::from_secs(60),
        || {
            fleet
                .store()
                .stage("LAB-0001")
                .unwrap()
                .is_some_and(|r| r.stage == Stage::Configuring)
                .then_some(())
        },
    );
    fleet
        .cmd("bo", "desk")
        .args(["unlock", "LAB-0001", "--reason", "stuck"])
        .success()
        .stdout_has("LAB-0001: broke the lease of ana on desk (pid");
    let a = a.wait();
    assert_eq!(a.code(), 1, "{}{}", a.stdout(), a.stderr());
    assert!(
        a.stdout().contains(&format!(
            "run {run}: LAB-0001 refused: LAB-0001 cannot go to configured: it is configure-failed"
        )),
        "{}",
        a.stdout()
    );
    let store = fleet.store();
    let last = store.last_run("configure").unwrap().unwrap();
    assert_eq!(last.status, RunStatus::Completed);
    assert_eq!(
        last.devices,
        [("LAB-0001".to_string(), Some(Outcome::Refused))]
    );
    let st = store.stage("LAB-0001").unwrap().unwrap();
    assert_eq!(st.stage, Stage::ConfigureFailed);
    assert!(
        st.last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("bo broke the lease of ana")),
        "{st:?}"
    );
    // A later queued run configures it.
    let again = queue();
    let b = fleet.worker("desk", &["--var", "nap=0"]).wait();
    assert_eq!(b.code(), 0, "{}{}", b.stdout(), b.stderr());
    assert_eq!(
        store.stage("LAB-0001").unwrap().unwrap().stage,
        Stage::Configured
    );
    assert_eq!(
        store.last_run("configure").unwrap().unwrap().devices,
        [("LAB-0001".to_string(), Some(Outcome::Changed))],
        "run {again}"
    );
}

#[test]
fn a_dead_workers_job_of_a_cancelled_run_is_recorded_not_run_again() {
    let fleet = Fleet::up(SiteCopy::slow_example(), 2, None);
    let run = fleet
        .cmd("ana", "desk")
        .args([
            "--format",
            "json",
            "configure",
            "--all",
            "--limit",
            "LAB-*",
            "--queue",
            "--detach",
        ])
        .success()
        .json()["run_id"]
        .as_i64()
        .unwrap();
    let a = fleet
        .cmd("worker", "desk")
        .args(["--var", "nap=60", "worker", "--parallel", "1"])
        .spawn();
    wait_until(
        "LAB-0001 to be configuring",
        Duration::from_secs(60),
        || {
            fleet
                .store()
                .stage("LAB-0001")
                .unwrap()
                .is_some_and(|r| r.stage == Stage::Configuring)
                .then_some(())
        },
    );
    a.kill();
    fleet
        .cmd("bo", "desk")
        .args(["configure", "--cancel", &run.to_string()])
        .success();
    // Another worker finds the dead one's job once its lease expired: recorded, not run.
    let b = fleet.worker("desk", &["--var", "nap=0"]).wait();
    assert_eq!(b.code(), 1, "{}{}", b.stdout(), b.stderr());
    assert!(
        b.stdout().contains(&format!(
            "run {run}: LAB-0001 failed: worker on desk (pid"
        )) && b.stdout().contains(&format!(
            "stopped renewing its claim, and the run stopped since (cancelled by bo (configure --cancel {run}): no further device was started): not configured again"
        )),
        "{}",
        b.stdout()
    );
    let store = fleet.store();
    let last = store.last_run("configure").unwrap().unwrap();
    assert_eq!(last.status, RunStatus::Stopped);
    assert_eq!(
        last.devices,
        [
            ("LAB-0001".to_string(), Some(Outcome::Failed)),
            ("LAB-0002".to_string(), Some(Outcome::NotStarted)),
        ]
    );
    assert_eq!(fleet.configures(&store, "LAB-0001", run).0, 1, "not again");
    assert_eq!(
        store.stage("LAB-0001").unwrap().unwrap().stage,
        Stage::ConfigureFailed
    );
    assert_eq!(
        store.stage("LAB-0002").unwrap().unwrap().stage,
        Stage::Received
    );
}
