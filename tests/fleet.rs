//! Rollouts over many lab devices: failures among healthy devices, canary batches with a
//! failure threshold, resume, retries, NDJSON, Ctrl-C, and maintenance windows.

use std::time::{Duration, Instant};

use deskready::model::Stage;
use deskready::store::Store;

use crate::support::{LabSite, SiteCopy, done, ndjson, wait_until};

fn store(lab: &LabSite) -> Store {
    Store::open(&lab.site.file(".deskready")).unwrap()
}

#[test]
fn a_failing_device_among_healthy_ones_fails_alone_and_ndjson_streams() {
    let mut lab = LabSite::up(SiteCopy::example());
    lab.lab.stop_device("LAP-0004").unwrap();
    let run = lab.run(&[
        "--format",
        "json",
        "configure",
        "--group",
        "floor3",
        "--connect-timeout",
        "3",
    ]);
    assert_eq!(run.code(), 1, "one device failed");
    let ev = ndjson(&run);
    assert_eq!(ev.first().unwrap()["event"], "start");
    assert_eq!(ev.first().unwrap()["devices"], 5);
    assert!(
        ev.iter()
            .any(|e| e["event"] == "phase" && e["phase"] == "applying")
    );
    assert_eq!(
        done(&ev),
        [
            ("LAP-0001".into(), "changed".into()),
            ("LAP-0002".into(), "changed".into()),
            ("LAP-0003".into(), "changed".into()),
            ("LAP-0004".into(), "unreachable".into()),
            ("LAP-0005".into(), "changed".into()),
        ]
    );
    let finish = ev.last().unwrap();
    assert_eq!(finish["event"], "finish");
    assert_eq!(finish["status"], "completed");
    assert_eq!(finish["totals"]["changed"], 4);
    assert_eq!(finish["totals"]["unreachable"], 1);
    // Text: a recap table with totals.
    let text = lab.run(&["configure", "--group", "floor3", "--connect-timeout", "3"]);
    let out = text.stdout();
    assert!(out.contains("\nLAP-0001  ok "), "{out}");
    assert!(out.contains("\nLAP-0004  unreachable "), "{out}");
    assert!(
        out.contains(
            "5 devices: 4 ok, 0 changed, 0 failed, 1 unreachable, 0 refused, 0 not started"
        ),
        "{out}"
    );
}

#[test]
fn the_threshold_stops_new_batches_and_resume_finishes_only_the_rest() {
    let mut lab = LabSite::up(SiteCopy::example());
    // Sorted by tag: the canary batch is LAP-0001 alone.
    lab.lab.stop_device("LAP-0001").unwrap();
    let run = lab.run(&[
        "configure",
        "--all",
        "--limit",
        "LAP-*",
        "--batch",
        "1,3",
        "--max-fail",
        "10%",
        "--connect-timeout",
        "3",
    ]);
    assert_eq!(run.code(), 1);
    let out = run.stdout();
    assert!(out.contains("batch 1: 1 device\n"), "{out}");
    assert!(
        !out.contains("batch 2:"),
        "no batch after the threshold: {out}"
    );
    assert!(out.contains("stopped: 1 device failed in batch 1, more than the 0 allowed by --max-fail; no further device was started"), "{out}");
    assert!(
        out.contains(
            "10 devices: 0 ok, 0 changed, 0 failed, 1 unreachable, 0 refused, 9 not started"
        ),
        "{out}"
    );
    let s = store(&lab);
    assert_eq!(
        s.last_run("configure").unwrap().unwrap().status,
        deskready::model::RunStatus::Stopped
    );
    assert_eq!(
        s.stage("LAP-0002").unwrap().unwrap().stage,
        Stage::Received,
        "never touched"
    );

    // The device comes back; resume redoes the failed one and the ones not reached.
    lab.lab.start_device("LAP-0001").unwrap();
    let resume = lab.run(&["--format", "json", "configure", "--resume"]);
    assert_eq!(resume.code(), 0, "{}{}", resume.stdout(), resume.stderr());
    let ev = ndjson(&resume);
    assert_eq!(ev[0]["devices"], 10);
    assert!(done(&ev).iter().all(|(_, o)| o == "changed"));
    // Now one fails again: resume redoes only it.
    lab.lab.stop_device("LAP-0007").unwrap();
    let all = lab.run(&[
        "configure",
        "--all",
        "--limit",
        "LAP-*",
        "--connect-timeout",
        "3",
    ]);
    assert_eq!(all.code(), 1);
    lab.lab.start_device("LAP-0007").unwrap();
    let ev = ndjson(&lab.run(&["--format", "json", "configure", "--resume"]));
    assert_eq!(done(&ev), [("LAP-0007".into(), "ok".into())]);
    let again = lab.run(&["configure", "--resume"]);
    assert_eq!(again.code(), 0);
    assert!(
        again
            .stdout()
            .starts_with("nothing to resume: the last configure of every device succeeded"),
        "{}",
        again.stdout()
    );
}

#[test]
fn connection_failures_are_retried_and_other_failures_are_not() {
    let site = SiteCopy::example();
    site.edit(
        "profiles/laptop-base.yaml",
        "verify:\n",
        "verify:\n  - name: fails on LAP-0009\n    command: test {{ device.tag }} != LAP-0009\n",
    );
    let mut lab = LabSite::up(site);
    lab.lab.stop_device("LAP-0008").unwrap();
    let mut child = lab
        .test()
        .args([
            "--format",
            "json",
            "configure",
            "LAP-0008",
            "LAP-0009",
            "--retries",
            "4",
            "--connect-timeout",
            "2",
        ])
        .spawn();
    // Its first try is refused at once (the device is down); then it waits to retry.
    child.wait_for_line(Duration::from_secs(30), |l| {
        l.contains("\"event\":\"phase\"") && l.contains("\"device\":\"LAP-0008\"")
    });
    lab.lab.start_device("LAP-0008").unwrap(); // back while deskready waits to retry
    let ev = child.wait().ndjson();
    let dones: Vec<&serde_json::Value> = ev.iter().filter(|e| e["event"] == "done").collect();
    let lap8 = dones.iter().find(|e| e["device"] == "LAP-0008").unwrap();
    assert_eq!(lap8["outcome"], "changed", "reached on a retry: {lap8}");
    let lap9 = dones.iter().find(|e| e["device"] == "LAP-0009").unwrap();
    assert_eq!(lap9["outcome"], "failed");
    // A failed check is not a connection failure: one connection, and none of the 7.5 s
    // that four retries would wait (0.5 + 1 + 2 + 4).
    assert!(lap9["elapsed_ms"].as_u64().unwrap() < 6000, "{lap9}");
    assert_eq!(lap9["run"]["connections"], 1);
}

#[test]
fn ctrl_c_lets_running_devices_finish_and_records_the_run_as_interrupted() {
    let site = SiteCopy::example();
    site.edit("profiles/laptop-base.yaml", "resources:\n", "resources:\n  - name: slow step\n    command: sleep 2\n    creates: /etc/deskready-never\n");
    let lab = LabSite::up(site);
    let child = lab
        .test()
        .args(["configure", "--all", "--limit", "LAP-*", "--parallel", "2"])
        .spawn();
    wait_until("LAP-0002 configuring", Duration::from_secs(30), || {
        (store(&lab).stage("LAP-0002").unwrap().map(|r| r.stage) == Some(Stage::Configuring))
            .then_some(())
    });
    child.signal(libc::SIGINT);
    let out = child.wait();
    let text = out.stdout();
    assert_eq!(out.output.status.code(), Some(130), "interrupted: {text}");
    assert!(
        text.contains(
            "stopped: interrupted (Ctrl-C): no further device was started; running ones finished"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "10 devices: 0 ok, 2 changed, 0 failed, 0 unreachable, 0 refused, 8 not started"
        ),
        "{text}"
    );
    let s = store(&lab);
    assert_eq!(
        s.stage("LAP-0001").unwrap().unwrap().stage,
        Stage::Configured,
        "finished cleanly"
    );
    assert_eq!(
        s.stage("LAP-0002").unwrap().unwrap().stage,
        Stage::Configured,
        "finished cleanly"
    );
    assert_eq!(s.stage("LAP-0003").unwrap().unwrap().stage, Stage::Received);
    assert_eq!(
        s.last_run("configure").unwrap().unwrap().status,
        deskready::model::RunStatus::Interrupted
    );
}

#[test]
fn a_delivered_device_is_changed_only_in_its_window_unless_now() {
    let site = SiteCopy::example();
    site.close_laptop_window();
    let lab = LabSite::up(site);
    // Not yet delivered: windows do not apply.
    assert_eq!(lab.run(&["configure", "LAP-0003"]).code(), 0);
    assert_eq!(lab.run(&["deliver", "LAP-0003"]).code(), 0);
    let refused = lab.run(&["configure", "LAP-0003"]);
    assert_eq!(
        refused.code(),
        3,
        "{}{}",
        refused.stdout(),
        refused.stderr()
    );
    let err = refused.stderr();
    assert!(
        err.starts_with(
            "refused: LAP-0003 is at its desk (delivered) and outside its maintenance window ("
        ),
        "{err}"
    );
    assert!(
        err.contains(" 00:00-00:01 UTC, from profile laptop-base); it next opens 20"),
        "{err}"
    );
    assert!(
        err.ends_with(" 00:00 UTC; use --now to change it anyway, or --wait to wait for it\n"),
        "{err}"
    );
    assert_eq!(
        store(&lab).stage("LAP-0003").unwrap().unwrap().stage,
        Stage::Delivered,
        "unchanged"
    );
    // --now overrides, and says so in the journal.
    let now = lab.run(&["configure", "LAP-0003", "--now"]);
    assert_eq!(now.code(), 0, "{}{}", now.stdout(), now.stderr());
    // An upgrade in place leaves it delivered, so its window still binds it.
    assert_eq!(
        store(&lab).stage("LAP-0003").unwrap().unwrap().stage,
        Stage::Delivered
    );
    let h = store(&lab).history("LAP-0003").unwrap();
    assert!(h.iter().any(|e| {
        e.kind == "note"
            && e.message
                .as_deref()
                .unwrap_or("")
                .starts_with("changed outside its maintenance window (")
    }));
    // In a fleet, the delivered device is refused and the others go ahead.
    let fleet = lab.run(&["configure", "LAP-0003", "LAP-0004"]);
    assert_eq!(fleet.code(), 1);
    assert!(
        fleet.stdout().contains("\nLAP-0003  refused "),
        "{}",
        fleet.stdout()
    );
    assert!(
        fleet.stdout().contains("\nLAP-0004  "),
        "{}",
        fleet.stdout()
    );
    // status shows the next window.
    let st: serde_json::Value =
        serde_json::from_str(&lab.run(&["--format", "json", "status"]).stdout()).unwrap();
    let row = st
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["device"] == "LAP-0003")
        .unwrap()
        .clone();
    assert_eq!(row["maintenance_window"]["from"], "profile laptop-base");
    assert!(
        row["maintenance_window"]["next"]
            .as_str()
            .unwrap()
            .ends_with(" 00:00 UTC"),
        "{row}"
    );
}

#[test]
fn wait_holds_a_device_until_its_window_opens() {
    use deskready::engine::fleet::{self, Admission, Job, Settings, Stop};
    let lab = LabSite::up(SiteCopy::example());
    let site = std::sync::Arc::new(deskready::load::load_site(lab.site.path()).unwrap());
    let store = std::sync::Arc::new(store(&lab));
    let resolved = deskready::resolve::resolve(&site, "LAP-0005", &Default::default()).unwrap();
    let until = jiff::Timestamp::now() + jiff::SignedDuration::from_millis(1500);
    let settings = Settings {
        mode: deskready::engine::device::Mode::Configure,
        parallel: 4,
        batches: vec![],
        max_fail: None,
        operator: "test-csp".into(),
        ssh: deskready::engine::device::Options {
            ssh: deskready::transport::SshOptions {
                use_agent: false,
                ..Default::default()
            },
            pins: store.clone(),
            retries: 0,
            test_page: false,
            transport: std::sync::Arc::new(deskready::transport::Ssh),
            down_print_servers: Default::default(),
            redactor: Default::default(),
        },
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let started = Instant::now();
    let (rows, events) = rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let jobs = vec![Job {
            resolved,
            admission: Admission::WaitUntil { until },
        }];
        let books = std::sync::Arc::new(deskready::ops::configure::Books {
            store: store.clone(),
            run_id: None,
            notes: Default::default(),
        });
        let (rows, _) =
            fleet::rollout(site, books, jobs, settings, None, Stop::default(), tx).await;
        let mut events = Vec::new();
        while let Ok(e) = rx.try_recv() {
            events.push(serde_json::to_value(&e).unwrap());
        }
        (rows, events)
    });
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(rows[0].outcome, deskready::model::Outcome::Changed);
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "waiting" && e["device"] == "LAP-0005")
    );
}
