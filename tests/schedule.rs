//! Scheduled jobs on the real lab: a configure scheduled for now runs once from
//! `schedule run` (the device configured, the rollout's run linked to the job, a second
//! `schedule run` doing nothing); two schedulers started at once against one PostgreSQL
//! store run each due job exactly once; a scheduled configure of a delivered device
//! outside its maintenance window is refused and reported; a job due at each opening of
//! its devices' window runs once in the window open now and is next due at the next
//! opening; a bad job is refused before anything is stored; `schedule install` writes
//! units systemd accepts.

use deskready::lab::Cluster;

use crate::support::{LabSite, SiteCopy, Test};

/// The jobs of `schedule list --format json`.
fn jobs(test: Test) -> Vec<serde_json::Value> {
    test.args(["--format", "json", "schedule", "list"])
        .success()
        .json()
        .as_array()
        .unwrap()
        .clone()
}

/// How many times `tag` moved to `configured`, by its journal.
fn configured_moves(test: Test, tag: &str) -> usize {
    let h = test
        .args(["--format", "json", "history", tag])
        .success()
        .json();
    let entries = h["history"].as_array().unwrap().clone();
    entries
        .iter()
        .filter(|e| e["stage_to"] == "configured")
        .count()
}

#[test]
fn a_job_due_now_runs_once_and_is_recorded_with_its_run() {
    let lab = LabSite::up(SiteCopy::example());
    lab.test()
        .args(["schedule", "add", "configure LAP-0003", "--at", "now"])
        .success()
        .stdout_has("scheduled job 1: deskready configure LAP-0003 (at now), next due ");
    let listed = jobs(lab.test());
    assert_eq!(listed.len(), 1);
    assert!(listed[0]["last_run"].is_null(), "{listed:?}");

    let ran = lab.test().args(["schedule", "run"]).success();
    let out = ran.stdout();
    assert!(
        out.starts_with("job 1: deskready configure LAP-0003 (due "),
        "{out}"
    );
    assert!(out.contains("scheduled by test-csp)\n"), "{out}");
    // The command's own output follows, then how it ended, with the rollout's run.
    assert!(out.contains("LAP-0003"), "{out}");
    let ended = out.lines().last().unwrap();
    assert!(ended.starts_with("job 1: succeeded (exit 0, run "), "{out}");
    let stage = lab.store().stage("LAP-0003").unwrap().unwrap().stage;
    assert_eq!(stage, deskready::model::Stage::Configured);
    let run = lab.store().last_run("configure").unwrap().unwrap();
    assert_eq!(ended, format!("job 1: succeeded (exit 0, run {})", run.id));
    assert_eq!(run.operator, "test-csp (schedule 1)");

    let listed = jobs(lab.test());
    let last = &listed[0]["last_run"];
    assert_eq!(last["outcome"], "succeeded", "{listed:?}");
    assert_eq!(last["exit_code"], 0);
    assert_eq!(last["run_id"], run.id);
    assert!(listed[0]["due"].is_null(), "ran once: {listed:?}");
    let text = lab.test().args(["schedule", "list"]).success().stdout();
    assert!(text.starts_with("ID  COMMAND"), "{text}");
    assert!(text.contains("succeeded (exit 0, run "), "{text}");

    // Nothing is due any more: a second scheduler does nothing.
    lab.test()
        .args(["schedule", "run"])
        .success()
        .stdout_is("no job is due\n");
    assert_eq!(configured_moves(lab.test(), "LAP-0003"), 1);
    assert_eq!(
        lab.store().last_run("configure").unwrap().unwrap().id,
        run.id
    );

    // Removed, it is gone from the list; removing it again is an error.
    lab.test()
        .args(["schedule", "remove", "1"])
        .success()
        .stdout_is("removed job 1: deskready configure LAP-0003 (at now)\n");
    lab.test()
        .args(["schedule", "remove", "1"])
        .code(2)
        .stderr_has("error: there is no scheduled job 1");
    assert!(jobs(lab.test()).is_empty());

    // A job removed while it runs: its run goes on (and is recorded), and removing says so.
    lab.test()
        .args(["schedule", "add", "configure LAP-0003", "--at", "now"])
        .success();
    let me = deskready::store::Holder::me("test-csp");
    let claimed = lab
        .store()
        .claim_due(jiff::Timestamp::now().as_second(), &me, &|_| None)
        .unwrap()
        .expect("due");
    let removed = lab
        .test()
        .args(["--format", "json", "schedule", "remove", "2"])
        .success()
        .json();
    assert_eq!(removed, serde_json::json!({"removed": 2, "running": true}));
    lab.store()
        .finish_job_run(
            claimed.run.id,
            deskready::store::JobOutcome::Succeeded,
            Some(0),
            None,
            None,
        )
        .unwrap();
}

#[test]
fn two_schedulers_at_once_on_a_team_store_run_each_job_exactly_once() {
    let cluster = Cluster::start().unwrap();
    let url = cluster.url();
    let lab = LabSite::up_unreceived(SiteCopy::example());
    let team = |machine: &str| {
        lab.test()
            .env("DESKREADY_STORE", &url)
            .env("DESKREADY_MACHINE", machine)
    };
    team("ana-laptop")
        .args(["receive", "--scan"])
        .stdin("LAP-0003\nLAP-0004\n")
        .success();
    for tag in ["LAP-0003", "LAP-0004"] {
        team("ana-laptop")
            .args([
                "schedule",
                "add",
                &format!("configure {tag}"),
                "--at",
                "now",
            ])
            .success();
    }
    // Two machines' timers fire at the same moment.
    let a = team("csp-a").args(["schedule", "run"]).spawn();
    let b = team("csp-b").args(["schedule", "run"]).spawn();
    let (a, b) = (a.wait(), b.wait());
    assert_eq!(a.code(), 0, "{}{}", a.stdout(), a.stderr());
    assert_eq!(b.code(), 0, "{}{}", b.stdout(), b.stderr());
    let both = format!("{}{}", a.stdout(), b.stdout());
    for job in [1, 2] {
        let started = format!("job {job}: deskready configure");
        let ended = format!("job {job}: succeeded (exit 0, run ");
        assert_eq!(both.matches(&started).count(), 1, "{both}");
        assert_eq!(both.matches(&ended).count(), 1, "{both}");
    }
    let store =
        deskready::store::Store::open_at(&deskready::store::Location::postgres(&url).unwrap())
            .unwrap();
    for job in [1, 2] {
        let runs = store.schedule_runs(job).unwrap();
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert!(["csp-a", "csp-b"].contains(&runs[0].host.as_str()));
        assert!(runs[0].run_id.is_some(), "{runs:?}");
    }
    for tag in ["LAP-0003", "LAP-0004"] {
        assert_eq!(configured_moves(team("csp-a"), tag), 1, "{tag}");
    }
    let listed = jobs(team("csp-b"));
    assert!(
        listed
            .iter()
            .all(|j| j["last_run"]["outcome"] == "succeeded" && j["due"].is_null()),
        "{listed:?}"
    );
    // A third run, anywhere, finds nothing due.
    team("csp-a")
        .args(["schedule", "run"])
        .success()
        .stdout_is("no job is due\n");
}

#[test]
fn a_scheduled_configure_outside_the_window_is_refused_and_reported() {
    let site = SiteCopy::example();
    site.close_laptop_window();
    let lab = LabSite::up(site);
    lab.run(&["configure", "LAP-0003"]);
    assert_eq!(lab.run(&["deliver", "LAP-0003"]).code(), 0);
    lab.test()
        .args(["schedule", "add", "configure LAP-0003", "--at", "now"])
        .success();
    let ran = lab.test().args(["schedule", "run"]).code(3);
    assert!(
        ran.stderr().contains(
            "refused: LAP-0003 is at its desk (delivered) and outside its maintenance window ("
        ),
        "{}",
        ran.stderr()
    );
    // The rollout recorded its run, with the device refused: linked to the job.
    let run = lab.store().last_run("configure").unwrap().unwrap();
    assert_eq!(
        run.devices,
        [(
            "LAP-0003".to_string(),
            Some(deskready::model::Outcome::Refused)
        )]
    );
    assert!(
        ran.stdout()
            .ends_with(&format!("job 1: refused (exit 3, run {})\n", run.id)),
        "{}",
        ran.stdout()
    );
    let listed = jobs(lab.test());
    let last = &listed[0]["last_run"];
    assert_eq!(last["outcome"], "refused", "{listed:?}");
    assert_eq!(last["exit_code"], 3);
    assert_eq!(last["run_id"], run.id);
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .contains("outside its maintenance window"),
        "{last}"
    );
    assert_eq!(
        lab.store().stage("LAP-0003").unwrap().unwrap().stage,
        deskready::model::Stage::Delivered
    );
    // Refused once is done: it is not tried again.
    lab.test()
        .args(["schedule", "run"])
        .success()
        .stdout_is("no job is due\n");
}

#[test]
fn a_bad_job_is_refused_and_nothing_is_stored() {
    let site = SiteCopy::example();
    let add = |args: &[&str]| site.test().args(["schedule", "add"]).args(args).code(2);
    add(&["configure --gruop floor3", "--at", "sat 22:00"])
        .stderr_has("error: cannot schedule `configure --gruop floor3`: unexpected argument '--gruop' found")
        .stderr_has("tip: a similar argument exists: '--group'");
    add(&["deliver LAP-0003", "--at", "sat 22:00"]).stderr_has(
        "error: cannot schedule `deliver LAP-0003`: `deliver` cannot be scheduled; a job runs one of: configure, audit, upgrade, software, upgrades",
    );
    add(&["configure --group floor9", "--at", "sat 22:00"]).stderr_has("unknown group `floor9`");
    add(&["configure --group floor3", "--at", "saturdy 22:00"])
        .stderr_has("error: unknown day `saturdy` in `saturdy 22:00`; allowed: mon, tue, wed, thu, fri, sat, sun");
    add(&["configure --group floor3", "--at", "sat 25:00"])
        .stderr_has("error: `25:00` is not a time of day; expected HH:MM such as 22:00");
    add(&[
        "configure --group floor3",
        "--at",
        "2020-01-04 22:00",
        "--timezone",
        "UTC",
    ])
    .stderr_has("error: `2020-01-04 22:00` (UTC) is in the past; give a time to come, or `now`");
    add(&[
        "configure --group floor3",
        "--at",
        "sat 22:00",
        "--timezone",
        "Mars/Olympus",
    ])
    .stderr_has("unknown time zone `Mars/Olympus`");
    add(&["configure --group floor3", "--every", "2027-01-02 22:00"])
        .stderr_has("repeats only as `HH:MM` (daily) or `DAY HH:MM` (weekly)");
    add(&["configure --group floor3"]).stderr_has("--at");
    add(&["configure LAP-0003 PS-0001", "--in-window"])
        .stderr_has("error: --in-window: the devices have different maintenance windows (LAP-0003: mon,tue,wed,thu,fri,sat,sun 19:00-07:00 Europe/London (from profile laptop-base); PS-0001: sat,sun 06:00-22:00 Europe/London (from group print-servers))");
    add(&["configure --resume", "--in-window"])
        .stderr_has("--in-window needs a command that names its devices");
    add(&["configure LAP-0003 PS-0001", "--every-window"])
        .stderr_has("error: --every-window: the devices have different maintenance windows (LAP-0003: mon,tue,wed,thu,fri,sat,sun 19:00-07:00 Europe/London (from profile laptop-base); PS-0001: sat,sun 06:00-22:00 Europe/London (from group print-servers)); schedule each window's devices on their own");
    add(&["configure LAP-0003 PRN-0301 PRN-0302", "--every-window"])
        .stderr_has("error: --every-window: PRN-0301, PRN-0302 have no maintenance window (declare one in its group or profile, or give --every)");
    add(&["configure PRN-0301", "--every-window"])
        .stderr_has("error: --every-window: PRN-0301 has no maintenance window (declare one in its group or profile, or give --every)");
    add(&["configure --resume", "--every-window"]).stderr_has(
        "error: --every-window needs a command that names its devices (DEVICE, --group, --all)",
    );
    add(&[
        "configure --group print-servers",
        "--in-window",
        "--every-window",
    ])
    .stderr_has("error: the argument '--in-window' cannot be used with '--every-window'");
    assert_eq!(
        site.test().args(["schedule", "list"]).success().stdout(),
        "no scheduled jobs\n"
    );
    assert!(!site.file(".deskready/state.db").exists() || jobs(site.test()).is_empty());
}

#[test]
fn a_job_is_timed_by_its_window_or_a_weekly_time() {
    let site = SiteCopy::example();
    let added = site
        .test()
        .args([
            "--format",
            "json",
            "schedule",
            "add",
            "configure --group print-servers",
            "--in-window",
        ])
        .success()
        .json();
    assert_eq!(added["when"], "in-window");
    assert_eq!(added["timezone"], "Europe/London");
    assert_eq!(
        added["window"],
        "sat,sun 06:00-22:00 Europe/London (from group print-servers)"
    );
    // It may start late while the window is open (16 hours, less a minute, at most).
    let grace = added["grace_secs"].as_i64().unwrap();
    assert!((60..=16 * 3600 - 60).contains(&grace), "{added}");
    // Due when the window next opens (now, when it is open).
    let due_at: jiff::Timestamp = added["due"].as_str().unwrap().parse().unwrap();
    let local = due_at.to_zoned(jiff::tz::TimeZone::get("Europe/London").unwrap());
    let open_now = {
        let now =
            jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::get("Europe/London").unwrap());
        matches!(
            now.weekday(),
            jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday
        ) && now.hour() >= 6
            && now.hour() < 22
    };
    if !open_now {
        assert!(
            matches!(
                local.weekday(),
                jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday
            ) && local.hour() == 6
                && local.minute() == 0,
            "{local}"
        );
    }

    let weekly = site
        .test()
        .args([
            "--format",
            "json",
            "schedule",
            "add",
            "audit --group floor3",
            "--every",
            "sat 22:00",
            "--timezone",
            "Europe/Paris",
        ])
        .success()
        .json();
    assert_eq!(weekly["every"], "sat 22:00");
    let due_at: jiff::Timestamp = weekly["due"].as_str().unwrap().parse().unwrap();
    let local = due_at.to_zoned(jiff::tz::TimeZone::get("Europe/Paris").unwrap());
    assert_eq!(local.weekday(), jiff::civil::Weekday::Saturday);
    assert_eq!((local.hour(), local.minute()), (22, 0));
    assert!(due_at > jiff::Timestamp::now());
    assert!(due_at < jiff::Timestamp::now() + jiff::SignedDuration::from_hours(7 * 24 + 1));
    // The site's default time zone (deskready.yaml), checked like any default.
    site.write(
        "deskready.yaml",
        "defaults:\n  timezone: America/New_York\n",
    );
    let daily = site
        .test()
        .args([
            "--format",
            "json",
            "schedule",
            "add",
            "audit --all",
            "--every",
            "03:00",
        ])
        .success()
        .json();
    assert_eq!(daily["timezone"], "America/New_York");
    assert!(
        daily["due_local"]
            .as_str()
            .unwrap()
            .ends_with(" 03:00 America/New_York")
    );
    site.write("deskready.yaml", "defaults:\n  timezone: Mars/Olympus\n");
    site.test()
        .args(["schedule", "list"])
        .code(2)
        .stderr_has("error: deskready.yaml:2:3: defaults.timezone: invalid value 'Mars/Olympus' for '--timezone <ZONE>': unknown time zone `Mars/Olympus`");
    std::fs::remove_file(site.file("deskready.yaml")).unwrap();
    let text = site.test().args(["schedule", "list"]).success().stdout();
    assert!(text.contains("audit --group floor3"), "{text}");
    assert!(text.contains("every sat 22:00"), "{text}");
    assert!(text.contains(" 22:00 Europe/Paris"), "{text}");
}

#[test]
fn install_writes_a_timer_and_service_systemd_accepts() {
    let site = SiteCopy::example();
    let dir = crate::support::site::tempdir();
    let out = site
        .test()
        .args(["schedule", "install", "--dir"])
        .arg(dir.path())
        .args(["--minutes", "10"])
        .success()
        .stdout();
    assert!(
        out.contains("systemctl enable --now deskready-schedule.timer"),
        "{out}"
    );
    let service = std::fs::read_to_string(dir.path().join("deskready-schedule.service")).unwrap();
    let timer = std::fs::read_to_string(dir.path().join("deskready-schedule.timer")).unwrap();
    let site_path = site.path().to_str().unwrap();
    assert!(
        service.contains(&format!(
            "ExecStart={} --site {site_path} schedule run\n",
            env!("CARGO_BIN_EXE_deskready")
        )),
        "{service}"
    );
    assert!(timer.contains("OnCalendar=*:0/10\n"), "{timer}");
    if std::path::Path::new("/usr/bin/systemd-analyze").exists() {
        let verify = std::process::Command::new("systemd-analyze")
            .arg("verify")
            .arg(dir.path().join("deskready-schedule.service"))
            .arg(dir.path().join("deskready-schedule.timer"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&verify.stderr);
        assert!(verify.status.success(), "{err}");
        let ours: Vec<&str> = err
            .lines()
            .filter(|l| l.contains("deskready-schedule"))
            .collect();
        assert!(ours.is_empty(), "{err}");
    }
    let cron = site
        .test()
        .args(["schedule", "install", "--cron", "--user", "csp", "--dir"])
        .arg(dir.path())
        .success()
        .stdout();
    assert!(cron.contains("/etc/cron.d/deskready-schedule"), "{cron}");
    let line = std::fs::read_to_string(dir.path().join("deskready-schedule.cron")).unwrap();
    assert!(
        line.contains(&format!("*/5 * * * * csp cd '{site_path}' && ")),
        "{line}"
    );
}

#[test]
fn a_job_found_later_than_its_grace_is_missed_not_run() {
    let site = SiteCopy::example();
    let added = site
        .test()
        .args([
            "--format",
            "json",
            "schedule",
            "add",
            "configure LAP-0003",
            "--at",
            "now",
            "--grace",
            "0s",
        ])
        .success()
        .json();
    let due: jiff::Timestamp = added["due"].as_str().unwrap().parse().unwrap();
    // The scheduler comes by after the due time (and its grace of nothing) has passed.
    crate::support::wait_until(
        "a second past its due time",
        std::time::Duration::from_secs(5),
        || (jiff::Timestamp::now() > due + jiff::SignedDuration::from_secs(1)).then_some(()),
    );
    let ran = site.test().args(["schedule", "run"]).success().stdout();
    assert!(
        ran.starts_with("job 1: deskready configure LAP-0003: missed: due "),
        "{ran}"
    );
    assert!(
        ran.contains("more than its grace (0 s) ago: not run"),
        "{ran}"
    );
    let listed = jobs(site.test());
    assert_eq!(listed[0]["last_run"]["outcome"], "missed");
    assert!(listed[0]["last_run"]["exit_code"].is_null());
    assert!(listed[0]["due"].is_null());
    // Nothing ran: no configure run, and nothing is due any more.
    let status = site
        .test()
        .args(["--format", "json", "status"])
        .success()
        .json();
    assert!(!status.to_string().contains("configured"), "{status}");
    site.test()
        .args(["schedule", "run"])
        .success()
        .stdout_is("no job is due\n");
}

/// Makes the laptops' maintenance window (in profile laptop-base) one that opened a minute
/// or two ago and stays open two hours, on today's day only (UTC): its opening, and the
/// window's days and hours as written (`fri 00:25-02:25`).
fn open_laptop_window(site: &SiteCopy) -> (jiff::Timestamp, String) {
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    let opens = now
        .with()
        .second(0)
        .subsec_nanosecond(0)
        .build()
        .unwrap()
        .checked_sub(jiff::SignedDuration::from_mins(1))
        .unwrap();
    let closes = opens
        .checked_add(jiff::SignedDuration::from_hours(2))
        .unwrap();
    let day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        [(opens.weekday().to_monday_one_offset() - 1) as usize];
    let (start, end) = (opens.strftime("%H:%M"), closes.strftime("%H:%M"));
    let text = site.read("profiles/laptop-base.yaml");
    let from = text.find("maintenance_window:").unwrap();
    let to = text.find("timezone: Europe/London\n").unwrap() + "timezone: Europe/London\n".len();
    site.write(
        "profiles/laptop-base.yaml",
        &format!(
            "{}maintenance_window: {{ days: [{day}], start: \"{start}\", end: \"{end}\", timezone: UTC }}\n{}",
            &text[..from],
            &text[to..]
        ),
    );
    (opens.timestamp(), format!("{day} {start}-{end}"))
}

#[test]
fn a_job_every_window_runs_once_in_the_window_open_now_and_is_next_due_at_its_next_opening() {
    let site = SiteCopy::example();
    let (opened, hours) = open_laptop_window(&site);
    let lab = LabSite::up(site);
    // Delivered: a configure is refused outside its window, so running proves it open.
    assert_eq!(lab.run(&["configure", "LAP-0003"]).code(), 0);
    assert_eq!(lab.run(&["deliver", "LAP-0003"]).code(), 0);
    let before = lab.store().last_run("configure").unwrap().unwrap().id;

    let added = lab
        .test()
        .args([
            "--format",
            "json",
            "schedule",
            "add",
            "configure LAP-0003",
            "--every-window",
        ])
        .success()
        .json();
    assert_eq!(
        added["when"],
        format!("every window {hours} UTC"),
        "{added}"
    );
    assert_eq!(added["every"], format!("window {hours}"), "{added}");
    assert_eq!(added["timezone"], "UTC");
    assert_eq!(
        added["window"],
        format!("{hours} UTC (from profile laptop-base)")
    );
    // Due at the opening of the window open now, and may start until it closes (each
    // opening is checked as it is; the grace covers one an hour longer, clocks going back).
    assert_eq!(added["due"], opened.to_string(), "{added}");
    assert_eq!(added["grace_secs"], 3 * 3600 - 60);

    let ran = lab.test().args(["schedule", "run"]).success();
    let out = ran.stdout();
    assert!(
        out.starts_with("job 1: deskready configure LAP-0003 (due "),
        "{out}"
    );
    let run = lab.store().last_run("configure").unwrap().unwrap();
    assert!(run.id > before);
    assert_eq!(run.operator, "test-csp (schedule 1)");
    assert_eq!(
        out.lines().last().unwrap(),
        format!("job 1: succeeded (exit 0, run {})", run.id),
        "{out}"
    );

    // Next due at the window's next opening: the same day and time a week on.
    let next = opened
        .checked_add(jiff::SignedDuration::from_hours(7 * 24))
        .unwrap();
    let listed = jobs(lab.test());
    assert_eq!(listed[0]["due"], next.to_string(), "{listed:?}");
    assert_eq!(listed[0]["last_run"]["outcome"], "succeeded");
    assert_eq!(listed[0]["last_run"]["run_id"], run.id);
    let text = lab.test().args(["schedule", "list"]).success().stdout();
    let row = text.lines().nth(1).unwrap();
    assert!(row.contains(&format!("every window {hours} UTC")), "{text}");
    assert!(
        row.contains(&format!(
            "{} UTC",
            next.to_zoned(jiff::tz::TimeZone::UTC)
                .strftime("%Y-%m-%d %H:%M")
        )),
        "{text}"
    );

    // The window is still open, and the job is not run twice in it.
    lab.test()
        .args(["schedule", "run"])
        .success()
        .stdout_is("no job is due\n");
    assert_eq!(lab.store().schedule_runs(1).unwrap().len(), 1);
    assert_eq!(
        lab.store().last_run("configure").unwrap().unwrap().id,
        run.id
    );
}

#[test]
fn two_schedulers_at_once_on_a_team_store_run_a_window_job_once_per_opening() {
    let cluster = Cluster::start().unwrap();
    let url = cluster.url();
    let site = SiteCopy::example();
    let (opened, _) = open_laptop_window(&site);
    let lab = LabSite::up_unreceived(site);
    let team = |machine: &str| {
        lab.test()
            .env("DESKREADY_STORE", &url)
            .env("DESKREADY_MACHINE", machine)
    };
    team("ana-laptop")
        .args(["receive", "--scan"])
        .stdin("LAP-0003\n")
        .success();
    team("ana-laptop")
        .args(["schedule", "add", "configure LAP-0003", "--every-window"])
        .success();
    let a = team("csp-a").args(["schedule", "run"]).spawn();
    let b = team("csp-b").args(["schedule", "run"]).spawn();
    let (a, b) = (a.wait(), b.wait());
    assert_eq!(a.code(), 0, "{}{}", a.stdout(), a.stderr());
    assert_eq!(b.code(), 0, "{}{}", b.stdout(), b.stderr());
    let both = format!("{}{}", a.stdout(), b.stdout());
    assert_eq!(
        both.matches("job 1: deskready configure").count(),
        1,
        "{both}"
    );
    assert_eq!(
        both.matches("job 1: succeeded (exit 0, run ").count(),
        1,
        "{both}"
    );
    assert_eq!(configured_moves(team("csp-a"), "LAP-0003"), 1);
    let listed = jobs(team("csp-b"));
    let next = opened
        .checked_add(jiff::SignedDuration::from_hours(7 * 24))
        .unwrap();
    assert_eq!(listed[0]["due"], next.to_string(), "{listed:?}");
    team("csp-a")
        .args(["schedule", "run"])
        .success()
        .stdout_is("no job is due\n");
}
