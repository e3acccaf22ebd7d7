//! Faults of the control plane, on the real lab: commands racing a configure (or each
//! other) for one device, Ctrl-C once and twice, a closed standard output, a controller
//! killed mid-rollout, resume after other runs, multi-line errors in tables, and a damaged
//! state store.

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use deskready::model::{RunStatus, Stage};

use crate::support::procs::{cmdline, live_processes_mentioning};
use crate::support::{LabSite, SiteCopy, done, wait_until};

/// The kinds of `tag`'s journal rows, oldest first.
fn kinds(lab: &LabSite, tag: &str) -> Vec<String> {
    lab.store()
        .history(tag)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

/// Every stage row of `tag`'s journal continues from where the one before left the device,
/// by a legal move.
fn assert_stage_rows_legal(lab: &LabSite, tag: &str) {
    let mut at: Option<Stage> = None;
    for e in lab.store().history(tag).unwrap() {
        if e.kind != "stage" {
            continue;
        }
        let from = e.stage_from.as_deref().and_then(Stage::parse);
        let to = Stage::parse(e.stage_to.as_deref().unwrap()).unwrap();
        assert_eq!(
            from, at,
            "{tag}: a stage row starts where the last ended: {e:?}"
        );
        assert!(Stage::can_move(from, to), "{tag}: illegal move {e:?}");
        at = Some(to);
    }
    assert_eq!(
        lab.store().stage(tag).unwrap().map(|r| r.stage),
        at,
        "{tag}: its stage is where its journal says"
    );
}

#[test]
fn every_command_that_changes_a_device_is_refused_naming_the_configure_that_holds_it() {
    let lab = LabSite::up(SiteCopy::slow_example());
    let first = lab.spawn(&["--var", "nap=6", "configure", "LAP-0006"]);
    lab.wait_for_stage("LAP-0006", Stage::Configuring);
    let before = kinds(&lab, "LAP-0006");
    let others: &[&[&str]] = &[
        &[
            "assign",
            "LAP-0006",
            "--to",
            "Ada Lovelace",
            "--desk",
            "9-99",
        ],
        &["deliver", "LAP-0006"],
        &["return", "LAP-0006"],
        &["repair", "LAP-0006", "--reason", "cracked screen"],
        &["retire", "LAP-0006", "--reason", "lost"],
        &["note", "LAP-0006", "replaced the battery"],
        &["receive", "LAP-0006"],
        &["seen", "LAP-0006"],
        &["rekey", "LAP-0006", "--connect-timeout", "3"],
        &["configure", "LAP-0006"],
        &["audit", "LAP-0006"],
    ];
    let prefix = "refused: LAP-0006 is being configured by test-csp on ";
    let holder = format!(" (pid {}) since 20", first.id());
    for args in others {
        let run = lab.test().args(*args).code(3);
        let err = run.stderr();
        assert!(err.starts_with(prefix), "{args:?}: {err}");
        assert!(err.contains(&holder), "{args:?}: {err}");
        assert!(
            err.ends_with("; try again when that run ends\n"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(
        kinds(&lab, "LAP-0006"),
        before,
        "none of them wrote anything"
    );
    assert!(
        !lab.site.file("inventory/assignments.yaml").exists(),
        "assign changed no file"
    );
    let out = first.wait();
    assert_eq!(out.code(), 0, "{}{}", out.stdout(), out.stderr());
    // The configure recorded everything it changed.
    let s = lab.store();
    assert_eq!(
        s.stage("LAP-0006").unwrap().unwrap().stage,
        Stage::Configured
    );
    let h = s.history("LAP-0006").unwrap();
    assert!(h.iter().any(|e| e.kind == "resource"), "{h:?}");
    assert_eq!(h.last().unwrap().stage_to.as_deref(), Some("configured"));
    assert!(s.locks().unwrap().is_empty());
    // And once it is done, the others go ahead.
    lab.test()
        .args(["note", "LAP-0006", "replaced the battery"])
        .success();
}

#[test]
fn a_second_ctrl_c_aborts_running_devices_at_once_and_exits_130() {
    // Every laptop ends its base profile with a long job: a uniquely named copy of sleep,
    // after its files are written.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let sleeper = format!("deskready-abort-{}-{nanos}", std::process::id());
    let site = SiteCopy::example();
    site.edit(
        "profiles/laptop-base.yaml",
        "  - package: cups-client\n",
        &format!(
            "  - package: cups-client\n  - name: long job\n    command: cp /bin/sleep /tmp/{sleeper} && exec /tmp/{sleeper} 120\n"
        ),
    );
    let lab = LabSite::up(site);
    let started = Instant::now();
    let mut child = lab.spawn(&[
        "configure",
        "LAP-0001",
        "LAP-0002",
        "LAP-0003",
        "--parallel",
        "2",
    ]);
    let running = |n: usize| {
        let on = live_processes_mentioning(&sleeper)
            .into_iter()
            .filter(|p| cmdline(*p).is_some_and(|c| c.starts_with(&format!("/tmp/{sleeper} "))))
            .count();
        (on >= n).then_some(())
    };
    wait_until(
        "the long job on two devices",
        Duration::from_secs(60),
        || running(2),
    );
    child.signal(libc::SIGINT);
    child.wait_for_line(Duration::from_secs(10), |l| {
        l == "Ctrl-C: no further device will be started; the running ones finish (press Ctrl-C again to abort them now)"
    });
    let second = Instant::now();
    child.signal(libc::SIGINT);
    let out = child.wait();
    assert_eq!(out.code(), 130, "{}{}", out.stdout(), out.stderr());
    assert!(
        second.elapsed() < Duration::from_secs(10),
        "aborted promptly, not after the 120 s job: {:?}",
        second.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(100));
    let out = out.stdout_has("Ctrl-C again: aborting now: every device's session is closed; the devices being configured end configure-failed, the run is recorded interrupted\n");
    // The recap says so.
    let out = out.stdout_has(
        "stopped: aborted (Ctrl-C twice): no further device was started; running ones were cut\n",
    );
    out.stdout_has("3 devices: 0 ok, 0 changed, 2 failed, 0 unreachable, 0 refused, 1 not started");
    // The remote work is cut: no long job is left on the devices.
    wait_until(
        "the long jobs to be killed",
        Duration::from_secs(10),
        || live_processes_mentioning(&sleeper).is_empty().then_some(()),
    );
    let s = lab.store();
    let run = s.last_run("configure").unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Interrupted);
    for tag in ["LAP-0001", "LAP-0002"] {
        let rec = s.stage(tag).unwrap().unwrap();
        assert_eq!(rec.stage, Stage::ConfigureFailed, "{tag}");
        assert!(
            rec.last_error
                .as_deref()
                .unwrap()
                .starts_with("aborted by a second Ctrl-C while it ran"),
            "{rec:?}"
        );
        // What it changed before the cut is in its journal.
        let h = s.history(tag).unwrap();
        assert!(
            h.iter().any(|e| e.kind == "resource"
                && e.subject.as_deref() == Some("owner card")
                && e.message
                    .as_deref()
                    .unwrap_or("")
                    .starts_with("changed file")),
            "{tag}: {h:?}"
        );
    }
    assert_eq!(s.stage("LAP-0003").unwrap().unwrap().stage, Stage::Received);
    assert!(s.locks().unwrap().is_empty(), "no lock is left behind");
}

#[test]
fn a_first_ctrl_c_lets_running_devices_finish_says_so_and_exits_130() {
    let lab = LabSite::up(SiteCopy::slow_example());
    let mut child = lab.spawn(&[
        "--var",
        "nap=2",
        "configure",
        "LAP-0001",
        "LAP-0002",
        "LAP-0003",
        "--parallel",
        "1",
    ]);
    lab.wait_for_stage("LAP-0001", Stage::Configuring);
    child.signal(libc::SIGINT);
    child.wait_for_line(Duration::from_secs(10), |l| {
        l.starts_with("Ctrl-C: no further device")
    });
    let out = child.wait();
    assert_eq!(out.code(), 130, "{}{}", out.stdout(), out.stderr());
    let s = lab.store();
    assert_eq!(
        s.stage("LAP-0001").unwrap().unwrap().stage,
        Stage::Configured
    );
    assert_eq!(s.stage("LAP-0002").unwrap().unwrap().stage, Stage::Received);
    assert_eq!(
        s.last_run("configure").unwrap().unwrap().status,
        RunStatus::Interrupted
    );
}

#[test]
fn a_closed_standard_output_changes_nothing_for_the_devices() {
    let lab = LabSite::up(SiteCopy::slow_example());
    let mut child = Command::new(env!("CARGO_BIN_EXE_deskready"))
        .arg("--site")
        .arg(lab.site.path())
        .args([
            "--var",
            "nap=1",
            "configure",
            "--all",
            "--limit",
            "LAP-*",
            "--parallel",
            "3",
        ])
        .env_remove("DESKREADY_SITE")
        .env("DESKREADY_OPERATOR", "test-csp")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Like `| head -1`: read one line, then close the pipe.
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("configure: 10 devices"), "{first}");
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "not killed by SIGPIPE: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let s = lab.store();
    for i in 1..=10 {
        let tag = format!("LAP-{i:04}");
        assert_eq!(
            s.stage(&tag).unwrap().unwrap().stage,
            Stage::Configured,
            "{tag}"
        );
    }
    assert_eq!(
        s.last_run("configure").unwrap().unwrap().status,
        RunStatus::Completed
    );
}

#[test]
fn a_killed_controller_leaves_a_run_the_next_command_closes_and_resume_finishes() {
    let lab = LabSite::up(SiteCopy::slow_example());
    let child = lab.spawn(&[
        "configure",
        "LAP-0001",
        "LAP-0002",
        "LAP-0003",
        "--parallel",
        "1",
    ]);
    lab.wait_for_stage("LAP-0001", Stage::Configuring);
    child.kill(); // SIGKILL
    // Any next command closes the run: here `status`.
    lab.test().arg("status").success();
    let s = lab.store();
    let run = s.last_run("configure").unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Interrupted);
    assert!(run.finished_at.is_some());
    assert_eq!(
        s.stage("LAP-0001").unwrap().unwrap().stage,
        Stage::ConfigureFailed
    );
    // Resume redoes the device it cut and the two it never reached.
    let resume = lab.run(&[
        "--format",
        "json",
        "--var",
        "nap=0",
        "configure",
        "--resume",
    ]);
    assert_eq!(resume.code(), 0, "{}{}", resume.stdout(), resume.stderr());
    assert_eq!(
        done(&resume.ndjson()),
        [
            ("LAP-0001".into(), "changed".into()),
            ("LAP-0002".into(), "changed".into()),
            ("LAP-0003".into(), "changed".into()),
        ]
    );
}

#[test]
fn resume_redoes_every_device_whose_last_configure_failed_whatever_ran_since() {
    let mut lab = LabSite::up(SiteCopy::example());
    lab.lab.stop_device("LAP-0004").unwrap();
    lab.lab.stop_device("LAP-0007").unwrap();
    let all = lab.run(&[
        "configure",
        "--all",
        "--limit",
        "LAP-*",
        "--connect-timeout",
        "2",
    ]);
    assert_eq!(all.code(), 1);
    lab.lab.start_device("LAP-0004").unwrap();
    lab.lab.start_device("LAP-0007").unwrap();
    // Other runs since: one device alone, and one of the failed ones, which succeeds.
    lab.test().args(["configure", "LAP-0001"]).success();
    lab.test().args(["configure", "LAP-0007"]).success();
    let resume = lab.run(&["--format", "json", "configure", "--resume"]);
    assert_eq!(resume.code(), 0, "{}{}", resume.stdout(), resume.stderr());
    assert_eq!(
        done(&resume.ndjson()),
        [("LAP-0004".into(), "changed".into())]
    );
    lab.test()
        .args(["configure", "--resume"])
        .success()
        .stdout_is("nothing to resume: the last configure of every device succeeded\n");
}

#[test]
fn a_multi_line_error_is_one_line_in_tables_and_whole_in_history_and_json() {
    let site = SiteCopy::example();
    site.edit(
        "profiles/laptop-base.yaml",
        "resources:\n",
        "resources:\n  - name: picky step\n    command: \"test {{ device.tag }} != LAP-0002 || { echo first problem >&2; echo second problem >&2; exit 3; }\"\n",
    );
    let lab = LabSite::up(site);
    let run = lab.run(&["configure", "LAP-0001", "LAP-0002"]);
    assert_eq!(run.code(), 1, "{}{}", run.stdout(), run.stderr());
    let recap = run.stdout();
    let row = recap
        .lines()
        .find(|l| l.starts_with("LAP-0002  failed"))
        .unwrap_or_else(|| panic!("{recap}"));
    assert!(row.ends_with('…'), "{recap}");
    assert!(!recap.contains("second problem"), "{recap}");
    let detail = |l: &str| l.split_whitespace().next().map(str::to_string);
    // Every line of the recap is a row of the table, the totals, the resume hint, or a
    // resource listed under its device.
    for l in recap.lines() {
        let first = detail(l).unwrap_or_default();
        assert!(
            first == "DEVICE"
                || first.starts_with("LAP-")
                || first == "2"
                || first.starts_with("configure:")
                || first == "batch"
                || first == "`deskready"
                || l.starts_with("  "),
            "a line that is not a row: {l:?}\n{recap}"
        );
    }
    // status: one line per device.
    let status = lab.run(&["status"]);
    let out = status.stdout();
    let line = out
        .lines()
        .find(|l| l.starts_with("LAP-0002 "))
        .unwrap_or_else(|| panic!("{out}"));
    // The stage with a footnote mark; the error's first line in the footnote.
    assert!(line.contains(" configure-failed [1] "), "{line}");
    let note = out
        .lines()
        .find(|l| l.starts_with("[1] LAP-0002: "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        note.contains("picky step failed on LAP-0002 with exit code 3: ")
            && note.ends_with("… (`deskready history LAP-0002` has it all)"),
        "{note}"
    );
    assert!(!out.contains("second problem"), "{out}");
    assert_eq!(
        out.lines().filter(|l| !l.starts_with('[')).count(),
        1 + lab
            .run(&["--format", "json", "status"])
            .json()
            .as_array()
            .unwrap()
            .len(),
        "{out}"
    );
    // JSON and history: the whole text.
    let json = lab.run(&["--format", "json", "status"]).json();
    let err = json
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["device"] == "LAP-0002")
        .unwrap()["last_error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        err.contains("first problem") && err.contains("second problem"),
        "{err}"
    );
    assert!(err.contains('\n'), "{err}");
    let history = lab.run(&["history", "LAP-0002"]).stdout();
    let second = history
        .lines()
        .find(|l| l.contains("second problem"))
        .unwrap_or_else(|| panic!("{history}"));
    let column = history.lines().nth(1).unwrap().find("DETAIL").unwrap();
    assert_eq!(
        second.find("second problem"),
        Some(column),
        "continued under DETAIL:\n{history}"
    );
}

#[test]
fn a_damaged_state_store_is_refused_clearly_and_left_untouched() {
    let site = SiteCopy::example();
    site.test().args(["receive", "LAP-0001"]).success();
    site.test().args(["note", "LAP-0001", "first"]).success();
    let db = site.file(".deskready/state.db");
    let sound = std::fs::read(&db).unwrap();
    let damaged: [(&str, Vec<u8>); 2] = [
        ("garbage", {
            let mut g = sound.clone();
            for (i, b) in g.iter_mut().enumerate().take(4096) {
                *b = (i * 7 % 251) as u8;
            }
            g
        }),
        ("truncated", sound[..sound.len() / 2].to_vec()),
    ];
    for (what, bytes) in damaged {
        std::fs::write(&db, &bytes).unwrap();
        for args in [
            &["status"][..],
            &["note", "LAP-0001", "second"][..],
            &["history", "LAP-0001"][..],
            &["configure", "LAP-0001"][..],
        ] {
            let run = site.test().args(args).code(1);
            let err = run.stderr();
            assert!(
                err.starts_with(&format!(
                    "error: the state store {} is damaged (",
                    db.display()
                )),
                "{what} {args:?}: {err}"
            );
            assert!(
                err.contains("nothing was written to it. Restore it from a backup, or move it aside to start a new store"),
                "{what} {args:?}: {err}"
            );
            assert!(!err.contains("panicked"), "{err}");
            assert_eq!(
                std::fs::read(&db).unwrap(),
                bytes,
                "{what} {args:?}: unchanged"
            );
        }
    }
}

/// One command of the race, by its index and a marker that makes its journal row its own.
fn race_command(which: usize, n: usize) -> Vec<String> {
    let m = format!("race-{n}");
    let v: Vec<&str> = match which {
        0 => vec!["note", "LAP-0001", &m],
        1 => vec!["seen", "LAP-0001", "--desk", &m],
        2 => vec!["assign", "LAP-0001", "--to", "Amira Haddad", "--desk", &m],
        3 => vec!["repair", "LAP-0001", "--reason", &m],
        4 => vec!["receive", "LAP-0001"],
        5 => vec!["--var", "nap=0", "configure", "LAP-0001", "--now"],
        6 => vec!["deliver", "LAP-0001"],
        7 => vec!["return", "LAP-0001"],
        8 => vec!["rekey", "LAP-0001"],
        9 => vec!["audit", "LAP-0001"],
        _ => unreachable!(),
    };
    v.into_iter().map(str::to_string).collect()
}

/// LAP-0001's journal rows of `kind` written by the race's commands (a note only when it is
/// one of theirs: `configure --now` notes its own use).
fn rows_of(lab: &LabSite, kind: &str) -> usize {
    lab.store()
        .history("LAP-0001")
        .unwrap()
        .iter()
        .filter(|e| e.kind == kind)
        .filter(|e| kind != "note" || e.message.as_deref().is_some_and(|m| m.starts_with("race-")))
        // A configure's summary row (its start is written only when it changed something).
        .filter(|e| kind != "configure" || e.message.as_deref() != Some("configure started"))
        .count()
}

/// The journal kind each race command writes once when it succeeds.
const RACE_KINDS: [&str; 10] = [
    "note",
    "seen",
    "assigned",
    "repair",
    "received",
    "configure",
    "delivered",
    "returned",
    "rekey",
    "audit",
];

#[test]
fn two_operators_racing_every_pair_of_commands_lose_nothing_and_refusals_name_the_holder() {
    let lab = LabSite::up(SiteCopy::slow_example());
    let base: Vec<usize> = RACE_KINDS.iter().map(|k| rows_of(&lab, k)).collect();
    let mut succeeded = [0usize; 10];
    let mut lock_refusals = 0;
    let mut n = 0;
    for round in 0..2 {
        for a in 0..10 {
            for b in a..10 {
                let (ca, cb) = (race_command(a, n), race_command(b, n + 1));
                n += 2;
                let pa = lab.test().args(&ca).spawn();
                let pb = lab.test().args(&cb).spawn();
                let (ida, idb) = (pa.id(), pb.id());
                for (which, other, run) in [(a, idb, pa.wait()), (b, ida, pb.wait())] {
                    let err = run.stderr();
                    match run.code() {
                        3 if err.contains(" is being ") => {
                            lock_refusals += 1;
                            assert!(
                                err.contains(" by test-csp on ")
                                    && err.contains(&format!(" (pid {other}) since ")),
                                "round {round} {ca:?} / {cb:?}: a refusal names the holder: {err}"
                            );
                        }
                        // Done: a configure that failed and an audit that found drift
                        // (or failed) are recorded too.
                        0 => succeeded[which] += 1,
                        1 if which == 5 => succeeded[which] += 1,
                        1 | 4 | 5 if which == 9 => succeeded[which] += 1,
                        // Refused by the stage rules (a deliver of an unconfigured
                        // device, a receive of a received one): legal, nothing written.
                        1..=3 => {}
                        code => panic!("{ca:?} / {cb:?}: exit {code}: {err}"),
                    }
                }
            }
        }
    }
    eprintln!("race: {succeeded:?} succeeded, {lock_refusals} refused by a lock");
    assert!(lock_refusals > 0, "some pair overlapped");
    // No journal row lost, none written by a refused command.
    for (i, k) in RACE_KINDS.iter().enumerate() {
        let got = rows_of(&lab, k) - base[i];
        let want = succeeded[i];
        assert_eq!(got, want, "journal rows of kind {k}");
    }
    assert_stage_rows_legal(&lab, "LAP-0001");
    assert_eq!(lab.store().integrity_check().unwrap(), "ok");
    assert!(lab.store().locks().unwrap().is_empty());
}
