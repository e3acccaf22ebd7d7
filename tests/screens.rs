//! What a CSP sees around a rollout, through the real binary on the lab, on a terminal
//! (a pseudo-terminal made by util-linux `script`) and off one: every device of a plan
//! with what would change and how, an audit's drift named per resource, the live view
//! (run header, no early ETA, results above the bars, the bars cleared, colour only when
//! wanted), Ctrl-C on a terminal, a no-op configure's one journal row, stamped JSON
//! events and the lab's print server and printers in `lab status`.

use std::time::Duration;

use insta::assert_snapshot;

use crate::support::cmd::{plain, screen};
use crate::support::procs::{cmdline, descendants, live_processes_mentioning};
use crate::support::snap::settings;
use crate::support::{LabSite, SiteCopy, wait_until};

/// Whether `text` holds an SGR colour sequence (foreground 30-37).
fn coloured(text: &str) -> bool {
    text.match_indices("\x1b[3").any(|(i, _)| {
        let rest = &text.as_bytes()[i + 3..];
        rest.len() >= 2 && rest[0].is_ascii_digit() && rest[1] == b'm'
    })
}

/// The lines of `text` that say what would change on a device (its resource lines).
fn resource_lines(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("  would change ") || l.starts_with("LAP-"))
        // A device's result line, not its row in the recap table.
        .filter(|l| !l.starts_with("LAP-") || (l.contains(" would change ") && !l.contains("  ")))
        .map(|l| {
            // Durations differ from run to run.
            l.split(" (").next().unwrap_or(l).to_string()
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_group_plan_shows_every_device_and_what_would_change_on_a_terminal_as_off_one() {
    let lab = LabSite::up(SiteCopy::example());
    lab.test()
        .args(["configure", "LAP-0001", "LAP-0002"])
        .success();
    // A mode-only change on one device, a content change on the other; LAP-0003 to 0005
    // were never configured (their files are new).
    lab.ssh("LAP-0001", "chmod 600 /etc/deskready/owner.conf");
    lab.ssh(
        "LAP-0002",
        "sed -i 's/3-02/3-99/' /etc/deskready/owner.conf",
    );

    let tty = lab
        .test()
        .terminal()
        .args(["plan", "--group", "floor3"])
        .success();
    let screen = plain(&tty.screen());
    let off = lab.test().args(["plan", "--group", "floor3"]).success();
    let lines = off.stdout();

    for text in [&screen, &lines] {
        assert!(
            text.contains("LAP-0001 would change 1 of 13 resources ("),
            "{text}"
        );
        assert!(
            text.contains("  would change owner card: mode 0600 → 0644\n"),
            "{text}"
        );
        assert!(
            text.contains("  would change owner card: content\n")
                && text.contains("-desk      = 3-99\n")
                && text.contains("+desk      = 3-02\n"),
            "{text}"
        );
        // A new file is diffed against /dev/null, and a long diff is folded.
        assert!(
            text.contains("  would change owner card: missing\n")
                && text.contains("--- /dev/null\n")
                && text.contains(" more line")
                && text.contains(" (`deskready plan LAP-0003` shows them all)"),
            "{text}"
        );
        assert!(
            text.contains("5 devices: 5 would change, 0 nothing to change ("),
            "{text}"
        );
    }
    // The mode-only change shows no diff: no hunk of the whole file.
    let lap1 = lines
        .split("LAP-0001 would change")
        .nth(1)
        .unwrap()
        .split("\nLAP-")
        .next()
        .unwrap();
    assert!(!lap1.contains("@@"), "{lap1}");
    // The same devices and resources on a terminal as off one.
    assert_eq!(resource_lines(&screen), resource_lines(&lines));
    assert!(screen.contains("plan: 5 devices, 64 at a time"), "{screen}");

    // One device: what differs under the resource, and no diff for a mode.
    let one = lab.test().args(["plan", "LAP-0001"]).success().stdout();
    assert!(
        one.contains("  would change owner card\n               mode 0600 → 0644\nLAP-0001: 1 of 13 resources would change"),
        "{one}"
    );

    // Audit: the recap names the resource and how it drifted, in audit words.
    let audit = lab
        .test()
        .args(["audit", "LAP-0001", "LAP-0002", "--parallel", "1"])
        .code(4)
        .stdout();
    settings(lab.site.path()).bind(|| assert_snapshot!("audit_group", audit));
    let row = audit
        .lines()
        .find(|l| l.starts_with("LAP-0001  drift"))
        .unwrap_or_else(|| panic!("{audit}"));
    assert!(row.ends_with("owner card: mode 0600 → 0644"), "{audit}");
    let row = audit
        .lines()
        .find(|l| l.starts_with("LAP-0002  drift"))
        .unwrap_or_else(|| panic!("{audit}"));
    assert!(row.ends_with("owner card: content"), "{audit}");
    assert!(audit.contains("2 devices: 2 drifted, 0 clean ("), "{audit}");
    for word in ["changed", "refused", "not started", "batch"] {
        assert!(!audit.contains(word), "`{word}` in an audit: {audit}");
    }
}

#[test]
fn a_rollout_on_a_terminal_has_a_header_results_above_the_bars_and_colour_when_wanted() {
    let lab = LabSite::up(SiteCopy::example());
    let run = lab
        .test()
        .terminal()
        .args(["configure", "--group", "floor3", "--color", "always"])
        .success();
    let coloured_screen = run.screen();
    let screen = plain(&coloured_screen);
    assert!(
        screen.contains("configure: 5 devices in 1 batch (5), 64 at a time, run 1"),
        "{screen}"
    );
    // Each device with what changed, then the recap; the bars are gone at the end.
    for tag in ["LAP-0001", "LAP-0002", "LAP-0003", "LAP-0004", "LAP-0005"] {
        assert!(screen.contains(&format!("{tag} ")), "{screen}");
    }
    assert!(screen.contains("owner card: missing"), "{screen}");
    assert!(
        !screen.contains("(ETA") && !screen.contains(" left"),
        "{screen}"
    );
    let tail = screen.trim_end().lines().last().unwrap_or("").to_string();
    assert!(
        tail.starts_with(
            "5 devices: 0 ok, 5 changed, 0 failed, 0 unreachable, 0 refused, 0 not started ("
        ),
        "the recap is the last thing on the screen: {tail:?}\n{screen}"
    );
    assert!(coloured(&coloured_screen), "{coloured_screen:?}");

    // NO_COLOR on a terminal, and --color never: no colour.
    let plain = lab
        .test()
        .terminal()
        .env("NO_COLOR", "1")
        .args(["plan", "--group", "floor3"])
        .success()
        .screen();
    assert!(!coloured(&plain), "{plain:?}");
    assert!(
        plain.contains("5 devices: 0 would change, 5 nothing to change"),
        "{plain}"
    );
    let never = lab
        .test()
        .terminal()
        .args(["plan", "LAP-0001", "--color", "never"])
        .success()
        .screen();
    assert!(!coloured(&never), "{never:?}");
    // --color always wins over NO_COLOR, and colours a pipe too.
    let forced = lab
        .test()
        .env("NO_COLOR", "1")
        .args(["plan", "--group", "floor3", "--color", "always"])
        .success()
        .stdout();
    assert!(coloured(&forced), "{forced:?}");
    // Off a terminal, by default: none.
    let piped = lab
        .test()
        .args(["plan", "--group", "floor3"])
        .success()
        .stdout();
    assert!(!coloured(&piped), "{piped:?}");
}

#[test]
fn ctrl_c_on_a_terminal_says_what_happens_clears_the_bars_and_tells_how_to_resume() {
    let sleeper = format!("deskready-screen-{}", std::process::id());
    let site = SiteCopy::example();
    site.edit(
        "profiles/laptop-base.yaml",
        "  - package: cups-client\n",
        &format!(
            "  - package: cups-client\n  - name: long job\n    command: cp /bin/sleep /tmp/{sleeper} && exec /tmp/{sleeper} 120\n"
        ),
    );
    let lab = LabSite::up(site);
    let mut child = lab
        .test()
        .terminal()
        .args([
            "configure",
            "LAP-0001",
            "LAP-0002",
            "LAP-0003",
            "--parallel",
            "2",
        ])
        .spawn();
    wait_until(
        "the long job on two devices",
        Duration::from_secs(60),
        || {
            let on = live_processes_mentioning(&sleeper)
                .into_iter()
                .filter(|p| cmdline(*p).is_some_and(|c| c.starts_with(&format!("/tmp/{sleeper} "))))
                .count();
            (on >= 2).then_some(())
        },
    );
    // deskready itself, under `script`.
    let bin = env!("CARGO_BIN_EXE_deskready");
    let pid = descendants(child.id())
        .into_iter()
        .find(|p| cmdline(*p).is_some_and(|c| c.starts_with(bin)))
        .expect("deskready under script");
    let int = || unsafe {
        libc::kill(pid as i32, libc::SIGINT);
    };
    int();
    child.wait_for_line(Duration::from_secs(10), |l| {
        screen(l).contains("Ctrl-C: no further device will be started")
    });
    int();
    let out = child.wait();
    let screen = plain(&out.screen());
    assert_eq!(out.code(), 130, "{screen}");
    assert!(
        screen.contains("Ctrl-C: no further device will be started"),
        "{screen}"
    );
    assert!(screen.contains("Ctrl-C again: aborting now"), "{screen}");
    assert!(
        screen.contains("the run was interrupted: `deskready configure --resume` redoes the 3 devices that did not succeed"),
        "{screen}"
    );
    let tail = screen.trim_end().lines().last().unwrap_or("").to_string();
    assert!(
        tail.contains("--resume"),
        "nothing (no bar) after the hint: {tail:?}\n{screen}"
    );
}

#[test]
fn a_configure_that_changes_nothing_journals_one_row_and_json_events_are_stamped() {
    let lab = LabSite::up(SiteCopy::example());
    lab.test().args(["configure", "LAP-0001"]).success();
    let rows = |lab: &LabSite| {
        lab.test()
            .args(["--format", "json", "history", "LAP-0001"])
            .success()
            .json()["history"]
            .as_array()
            .unwrap()
            .clone()
    };
    let before = rows(&lab);
    let since = lab.store().stage("LAP-0001").unwrap().unwrap();
    let again = lab
        .test()
        .args(["--format", "json", "configure", "LAP-0001"])
        .success();
    let after = rows(&lab);
    assert_eq!(after.len(), before.len() + 1, "{after:#?}");
    let last = after.last().unwrap();
    assert_eq!(last["kind"], "configure");
    let msg = last["message"].as_str().unwrap();
    assert!(
        msg.starts_with("configure ok: nothing changed (13 of 13 resources as the profile says); 3 checks passed: hostname is the asset tag, owner card names the assignee, git knows the engineer;"),
        "{msg}"
    );
    assert!(last["run_id"].as_i64().is_some(), "{last}");
    // Its stage and since are as they were.
    assert_eq!(lab.store().stage("LAP-0001").unwrap().unwrap(), since);

    // Every event: when, and the schema version.
    for line in again.stdout().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["schema_version"], 1, "{line}");
        let at = v["at"].as_str().unwrap_or_else(|| panic!("{line}"));
        assert!(at.parse::<jiff::Timestamp>().is_ok(), "{line}");
    }

    // A run that changes something keeps its full record.
    lab.ssh("LAP-0001", "chmod 600 /etc/deskready/owner.conf");
    lab.test().args(["configure", "LAP-0001"]).success();
    let full = rows(&lab);
    let kinds: Vec<&str> = full[after.len()..]
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "configure",
            "stage",
            "resource",
            "verify",
            "verify",
            "verify",
            "configure",
            "stage"
        ]
    );
    assert_eq!(full[after.len() + 1]["stage_to"], "configuring");

    // People read local times; JSON keeps RFC 3339.
    let text = lab.test().args(["history", "LAP-0001"]).success().stdout();
    let second = text.lines().nth(2).unwrap();
    assert!(
        second.as_bytes()[10] == b' ' && second.as_bytes()[4] == b'-',
        "{text}"
    );
    assert!(full[0]["at"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn lab_status_shows_the_print_server_and_printers_up_or_down_and_rollouts_name_the_printer() {
    let mut lab = LabSite::up_with_printers(SiteCopy::example(), 2);
    let printer = lab.lab.printers[0].name.clone();
    let other = lab.lab.printers[1].name.clone();
    let status = lab.test().args(["lab", "status"]).success().stdout();
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("PS-0001 cupsd ") && l.ends_with("running (print server)")),
        "{status}"
    );
    for p in [&printer, &other] {
        assert!(
            status
                .lines()
                .any(|l| l.starts_with(&format!("{p} ")) && l.ends_with("running (printer)")),
            "{status}"
        );
    }
    // A rollout's lines name the printer whose queue is made on the print server.
    let run = lab.test().args(["configure", &printer]).success().stdout();
    assert!(!run.contains("PS-0001 applying"), "{run}");
    let run = lab
        .test()
        .args(["configure", &other, &printer, "--connect-timeout", "3"])
        .output()
        .stdout();
    assert!(
        run.contains(&format!("{other} applying (via PS-0001)\n")),
        "{run}"
    );

    lab.lab.stop_printer(&printer).unwrap();
    let status = lab.test().args(["lab", "status"]).success().stdout();
    assert!(
        status
            .lines()
            .any(|l| l.starts_with(&format!("{printer} ")) && l.ends_with("DOWN (printer)")),
        "{status}"
    );
    let json = lab
        .test()
        .args(["--format", "json", "lab", "status"])
        .success()
        .json();
    assert_eq!(json["print_server"]["up"], true, "{json}");
    let down: Vec<&str> = json["printers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["up"] == false)
        .map(|p| p["printer"].as_str().unwrap())
        .collect();
    assert_eq!(down, [printer.as_str()]);
}

#[test]
fn a_window_wait_on_a_terminal_shows_the_wait_not_an_eta_and_refused_is_not_failed() {
    let site = SiteCopy::example();
    site.close_laptop_window();
    let lab = LabSite::up(site);
    lab.test().args(["configure", "LAP-0003"]).success();
    lab.test().args(["deliver", "LAP-0003"]).success();
    let mut child = lab
        .test()
        .terminal()
        .args(["configure", "LAP-0003", "LAP-0004", "--wait"])
        .spawn();
    // LAP-0004 is configured and listed while LAP-0003 waits for tomorrow's window.
    child.wait_for_line(Duration::from_secs(60), |l| {
        plain(&screen(l)).contains("LAP-0004 changed (")
    });
    let bin = env!("CARGO_BIN_EXE_deskready");
    let pid = descendants(child.id())
        .into_iter()
        .find(|p| cmdline(*p).is_some_and(|c| c.starts_with(bin)))
        .expect("deskready under script");
    unsafe {
        libc::kill(pid as i32, libc::SIGINT);
    }
    let out = child.wait();
    let raw = plain(&out.stdout());
    // While it waited, the bar said for what and for how long, and gave no ETA.
    assert!(raw.contains("1 waiting for a window (next opens "), "{raw}");
    assert!(
        raw.contains("LAP-0003     waiting for its maintenance window (opens "),
        "{raw}"
    );
    assert!(!raw.contains(" left"), "no ETA while devices wait: {raw}");
    // Stopped while waiting: refused, counted apart from failed.
    assert!(raw.contains("0 failed, 0 unreachable, 1 refused"), "{raw}");
    let shown = plain(&out.screen());
    assert!(
        shown.contains("LAP-0003 refused (")
            && shown.contains("stopped while waiting for its maintenance window"),
        "{shown}"
    );
    assert_eq!(out.code(), 130, "{shown}");
}
