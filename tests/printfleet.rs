//! Printer fleets at scale on the lab: many printers' queues changed over one connection
//! to the print server per batch (counted in its sshd's log), a dead printer and a
//! print server that dies mid-rollout (clear, fast, resumable). Real cupsd, real
//! ippeveprinter printers, no mocks.

use std::time::{Duration, Instant};

use crate::support::{LabSite, SiteCopy, done, ndjson, poll};

pub(crate) const PRINTERS: &str = "PRN-*,LABP-*";

/// Sessions the print server's sshd accepted so far.
pub(crate) fn print_server_logins(lab: &LabSite) -> usize {
    let ps = lab.lab.print_server.as_ref().expect("print server");
    let log = lab.lab.device(&ps.device).unwrap().log_file();
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .matches("Accepted publickey")
        .count()
}

/// Queues the print server has (asked over SSH: one more login).
fn queues(lab: &LabSite) -> usize {
    let ps = lab.lab.print_server.as_ref().expect("print server");
    lab.ssh(
        &ps.device,
        &format!("CUPS_SERVER={} lpstat -v 2>/dev/null || true", ps.address),
    )
    .lines()
    .filter(|l| l.starts_with("device for "))
    .count()
}

#[test]
fn fifty_five_printers_roll_out_over_one_connection_per_batch() {
    let lab = LabSite::up_with_printers(SiteCopy::example(), 55);
    let before = print_server_logins(&lab);
    let started = Instant::now();
    let run = lab.run(&[
        "--format",
        "json",
        "configure",
        "--all",
        "--limit",
        PRINTERS,
        "--batch",
        "25",
    ]);
    let took = started.elapsed();
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let results = done(&ndjson(&run));
    assert_eq!(results.len(), 55);
    assert!(results.iter().all(|(_, o)| o == "changed"), "{results:?}");
    // Three batches (25, 25, 5): three sessions on the print server, not 55.
    assert_eq!(print_server_logins(&lab) - before, 3, "took {took:?}");
    assert_eq!(queues(&lab), 55);
    eprintln!("55 printers, first rollout: {took:?}");

    let before = print_server_logins(&lab);
    let started = Instant::now();
    let again = lab.run(&[
        "--format",
        "json",
        "configure",
        "--all",
        "--limit",
        PRINTERS,
    ]);
    eprintln!("55 printers, re-run: {:?}", started.elapsed());
    assert_eq!(again.code(), 0, "{}{}", again.stdout(), again.stderr());
    assert!(
        done(&ndjson(&again)).iter().all(|(_, o)| o == "ok"),
        "{}",
        again.stdout()
    );
    assert_eq!(print_server_logins(&lab) - before, 1);
}

#[test]
fn a_dead_printer_and_a_print_server_dying_mid_rollout_are_clear_fast_and_resumable() {
    let mut lab = LabSite::up_with_printers(SiteCopy::example(), 30);
    let ps = lab.lab.print_server.clone().expect("print server");
    lab.lab.stop_printer("LABP-0007").ok();
    let dead = lab
        .lab
        .printers
        .iter()
        .find(|p| !lab.lab.printer_running(&p.name))
        .map(|p| p.name.clone());
    let running = lab.spawn(&[
        "--format",
        "json",
        "configure",
        "--all",
        "--limit",
        PRINTERS,
        "--connect-timeout",
        "3",
    ]);
    // Some queues made, then the print server's cupsd dies.
    let made = poll(Duration::from_secs(120), Duration::from_millis(100), || {
        (queues(&lab) >= 3).then_some(())
    });
    assert!(made.is_some(), "no queue was made within 120 s");
    let killed_at = Instant::now();
    lab.lab.stop_print_server().unwrap();
    let run = running.wait();
    let after_kill = killed_at.elapsed();
    assert_eq!(run.code(), 1, "{}{}", run.stdout(), run.stderr());
    // Found at once for every later queue: not 20 retries per queue.
    assert!(after_kill < Duration::from_secs(30), "{after_kill:?}");
    let events = ndjson(&run);
    let results = done(&events);
    assert_eq!(results.len(), 30, "{results:?}");
    if let Some(dead) = &dead {
        assert!(
            results.contains(&(dead.clone(), "unreachable".into())),
            "{results:?}"
        );
    }
    let down: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "print_server_down")
        .collect();
    assert_eq!(down.len(), 1, "{}", run.stdout());
    assert_eq!(down[0]["server"], ps.device.as_str());
    let not_done = down[0]["printers"].as_array().unwrap().len();
    assert!(not_done > 0, "{:#}", down[0]);
    let changed = results.iter().filter(|(_, o)| o == "changed").count();
    eprintln!(
        "cupsd killed: {changed} changed, {not_done} reported once as on a down print server, {after_kill:?} after the kill"
    );

    // `lab status` shows the print server and every printer, up or down.
    let status = lab.run(&["--format", "json", "lab", "status"]).json();
    assert_eq!(status["print_server"]["device"], ps.device.as_str());
    assert_eq!(status["print_server"]["up"], false, "{status:#}");
    let up = |name: &str| {
        status["printers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["printer"] == name)
            .map(|p| p["up"].as_bool().unwrap())
    };
    assert_eq!(up("PRN-0301"), Some(true), "{status:#}");
    if let Some(dead) = &dead {
        assert_eq!(up(dead), Some(false), "{status:#}");
    }
    let text = lab.run(&["lab", "status"]).stdout();
    assert!(
        text.lines()
            .any(|l| l.starts_with(&format!("{} cupsd", ps.device))
                && l.ends_with("DOWN (print server)")),
        "{text}"
    );

    // Both back: --resume finishes every printer that did not succeed, and only those.
    lab.lab.start_print_server().unwrap();
    if let Some(dead) = &dead {
        lab.lab.start_printer(dead).unwrap();
    }
    let resume = lab.run(&["--format", "json", "configure", "--resume"]);
    assert_eq!(resume.code(), 0, "{}{}", resume.stdout(), resume.stderr());
    let redone = done(&ndjson(&resume));
    assert_eq!(redone.len(), 30 - changed, "{redone:?}");
    assert!(
        redone.iter().all(|(_, o)| o == "changed" || o == "ok"),
        "{redone:?}"
    );
    assert_eq!(queues(&lab), 30);
}

#[test]
fn supply_levels_and_state_reasons_are_read_back_after_the_printer_changes_them() {
    let mut lab = LabSite::up_with_printers(SiteCopy::example(), 6);
    let run = lab.run(&["configure", "PRN-0301", "PRN-0302"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    // Stock supplies: nothing needs attention.
    let view = lab.run(&["--format", "json", "printers"]);
    assert_eq!(view.code(), 0, "{}{}", view.stdout(), view.stderr());
    let rows = view.json();
    let row = |rows: &serde_json::Value, tag: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["tag"] == tag)
            .cloned()
            .unwrap()
    };
    let before = row(&rows, "PRN-0301");
    assert_eq!(before["state"], "idle", "{before:#}");
    let levels = |r: &serde_json::Value| -> Vec<(String, i64)> {
        r["supplies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().to_string(),
                    s["level"].as_i64().unwrap_or(-1),
                )
            })
            .collect()
    };
    assert_eq!(
        levels(&before),
        [
            ("Toner Waste Tank".to_string(), 25),
            ("Black Toner".into(), 75)
        ]
    );
    // A printer never asked is listed as such.
    assert!(row(&rows, "PRN-0303")["observed_at"].is_null());

    // The waste tank fills up, the toner runs low: an audit reads it back.
    lab.lab.set_supplies("PRN-0301", &[95, 5]).unwrap();
    let audit = lab.run(&["audit", "PRN-0301"]);
    assert_eq!(audit.code(), 0, "{}{}", audit.stdout(), audit.stderr());
    let view = lab.run(&["--format", "json", "printers"]);
    assert_eq!(view.code(), 6, "needs attention: {}", view.stdout());
    let after = row(&view.json(), "PRN-0301");
    assert_eq!(
        levels(&after),
        [
            ("Toner Waste Tank".to_string(), 95),
            ("Black Toner".into(), 5)
        ]
    );
    let reasons: Vec<&str> = after["state_reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        reasons.contains(&"toner-low-report")
            && reasons.contains(&"marker-waste-almost-full-report"),
        "{reasons:?}"
    );
    assert_eq!(
        after["attention"],
        serde_json::json!(["Toner Waste Tank 95% full", "Black Toner low (5%)"])
    );
    assert_eq!(
        row(&view.json(), "PRN-0302")["attention"],
        serde_json::json!([])
    );
    let text = lab.run(&["printers"]);
    assert_eq!(text.code(), 6);
    assert!(
        text.stdout()
            .contains("Toner Waste Tank 95% full; Black Toner low (5%)"),
        "{}",
        text.stdout()
    );
    // When it was asked, as people read times.
    assert!(text.stdout().lines().next().unwrap().contains("AS OF"));
    let asked = deskready::time::local_at(after["observed_at"].as_str().unwrap());
    assert!(text.stdout().contains(&asked), "{}", text.stdout());

    // Switched off: what it said last is not how it is; its last audit found it silent.
    lab.lab.stop_printer("PRN-0302").unwrap();
    assert_eq!(lab.run(&["audit", "PRN-0302"]).code(), 5);
    let one = lab.run(&["--format", "json", "printers", "PRN-0302"]);
    assert_eq!(one.code(), 6, "{}", one.stdout());
    let rows = one.json();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows:#}");
    let silent = row(&rows, "PRN-0302");
    assert!(
        silent["attention"][0]
            .as_str()
            .unwrap()
            .starts_with("did not answer at its last audit ("),
        "{silent:#}"
    );
    // A printer that answers again is as it says.
    lab.lab.start_printer("PRN-0302").unwrap();
    assert_eq!(lab.run(&["audit", "PRN-0302"]).code(), 0);
    let rows = lab
        .run(&["--format", "json", "printers", "--group", "floor3-printers"])
        .json();
    assert_eq!(row(&rows, "PRN-0302")["attention"], serde_json::json!([]));
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["tag"].as_str().unwrap().starts_with("PRN-030")),
        "{rows:#}"
    );
}

#[test]
fn a_retired_printers_queue_is_removed_and_a_returned_ones_disabled() {
    let lab = LabSite::up_with_printers(SiteCopy::example(), 6);
    let run = lab.run(&["configure", "PRN-0301", "PRN-0302", "PRN-0303"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let ps = lab.lab.print_server.clone().expect("print server");
    let lpstat = |args: &str| {
        lab.ssh(
            &ps.device,
            &format!("CUPS_SERVER={} lpstat {args} 2>&1 || true", ps.address),
        )
    };
    assert!(lpstat("-v").contains("device for floor3-bay1: "));
    let history = |tag: &str| {
        let h = lab.run(&["--format", "json", "history", tag]).json();
        h["history"].as_array().unwrap().clone()
    };

    // The example profile's on_retire hook names the queue: the hook removes it, once,
    // and deskready's own removal stays out of it.
    let retire = lab.run(&["retire", "PRN-0301", "--reason", "drum failed"]);
    assert_eq!(retire.code(), 0, "{}{}", retire.stdout(), retire.stderr());
    assert!(
        retire
            .stdout()
            .contains("on_retire on PRN-0301: 1 changed, 0 already done"),
        "{}",
        retire.stdout()
    );
    let v = lpstat("-v");
    assert!(!v.contains("device for floor3-bay1: "), "{v}");
    assert!(v.contains("device for floor3-bay2: "), "{v}");
    let rows = history("PRN-0301");
    assert!(!rows.iter().any(|e| e["kind"] == "queue"), "{rows:#?}");

    // A profile without such a hook: deskready removes the queue itself.
    lab.site.edit(
        "profiles/printer-ipp.yaml",
        "on_retire:\n  - name: queue\n    print_queue: '{{ device.queue }}'\n    via: '{{ print_server.tag }}'\n    server: '{{ print_server.vars.cups_server }}'\n    state: absent\n",
        "",
    );
    let retire = lab.run(&["retire", "PRN-0303", "--reason", "fuser failed"]);
    assert_eq!(retire.code(), 0, "{}{}", retire.stdout(), retire.stderr());
    let v = lpstat("-v");
    assert!(!v.contains("device for floor3-room: "), "{v}");
    assert!(v.contains("device for floor3-bay2: "), "{v}");
    let rows = history("PRN-0303");
    assert!(
        rows.iter().any(|e| e["kind"] == "queue"
            && e["message"] == format!("removed queue floor3-room on {}", ps.device)),
        "{rows:#?}"
    );

    // Returned (after delivery): its queue stays, stopped and refusing jobs.
    let assign = lab.run(&[
        "assign",
        "PRN-0302",
        "--to",
        "Floor 3 team",
        "--desk",
        "HQ-3-PRN",
    ]);
    assert_eq!(assign.code(), 0, "{}{}", assign.stdout(), assign.stderr());
    let deliver = lab.run(&[
        "--var",
        "helpdesk_phone=x1234",
        "--var",
        "helpdesk_email=it@example.org",
        "--var",
        "spot=bay 0",
        "deliver",
        "PRN-0302",
    ]);
    assert_eq!(
        deliver.code(),
        0,
        "{}{}",
        deliver.stdout(),
        deliver.stderr()
    );
    let back = lab.run(&["return", "PRN-0302"]);
    assert_eq!(back.code(), 0, "{}{}", back.stdout(), back.stderr());
    let p = lpstat("-p floor3-bay2");
    assert!(p.contains("disabled"), "{p}");
    let a = lpstat("-a floor3-bay2");
    assert!(a.contains("not accepting"), "{a}");
}

#[test]
fn a_print_server_in_service_outside_its_window_refuses_a_printer_rollout() {
    let lab = LabSite::up_with_printers(SiteCopy::example(), 6);
    // The print server is in service (delivered); the print-servers group's window is
    // weekends 06:00-22:00, Europe/London: pinned closed below with a window that never
    // contains now.
    let run = lab.run(&["configure", "PS-0001"]);
    assert!(run.code() == 0 || run.code() == 1, "{}", run.stderr());
    let assign = lab.run(&["assign", "PS-0001", "--to", "IT team", "--desk", "HQ-1-SRV"]);
    assert_eq!(assign.code(), 0, "{}{}", assign.stdout(), assign.stderr());
    let deliver = lab.run(&[
        "--var",
        "helpdesk_phone=x1234",
        "--var",
        "helpdesk_email=it@example.org",
        "--var",
        "spot=bay 0",
        "deliver",
        "PS-0001",
    ]);
    assert_eq!(
        deliver.code(),
        0,
        "{}{}",
        deliver.stdout(),
        deliver.stderr()
    );
    let now = jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::UTC);
    let closed = now.date().yesterday().unwrap().weekday();
    let day =
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][closed.to_monday_zero_offset() as usize];
    lab.site.edit(
        "inventory/groups.yaml",
        r#"maintenance_window: { days: [sat, sun], start: "06:00", end: "22:00", timezone: Europe/London }"#,
        &format!(r#"maintenance_window: {{ days: [{day}], start: "01:00", end: "01:01", timezone: UTC }}"#),
    );
    let refused = lab.run(&["--format", "json", "configure", "PRN-0301", "PRN-0302"]);
    assert_ne!(refused.code(), 0, "{}", refused.stdout());
    let results = done(&ndjson(&refused));
    assert_eq!(
        results,
        [
            ("PRN-0301".to_string(), "refused".to_string()),
            ("PRN-0302".into(), "refused".into())
        ]
    );
    assert!(
        refused.stdout().contains(
            "PRN-0301's queue is on print server PS-0001, which is in service (delivered) and outside its maintenance window"
        ),
        "{}",
        refused.stdout()
    );
    assert_eq!(queues(&lab), 0, "nothing was changed on the print server");
    // --now goes ahead, and says so in the printer's journal.
    let now_run = lab.run(&["configure", "PRN-0301", "--now"]);
    assert_eq!(
        now_run.code(),
        0,
        "{}{}",
        now_run.stdout(),
        now_run.stderr()
    );
    assert_eq!(queues(&lab), 1);
}

#[test]
fn an_ipps_printer_is_asked_over_tls() {
    let lab = LabSite::up_with_printers(SiteCopy::example(), 6);
    let uri = lab.lab.printer("PRN-0302").unwrap().uri.clone();
    let tls = uri.replace("ipp://", "ipps://");
    lab.site.edit(
        "inventory/lab.generated.yaml",
        &format!("uri: {uri}\n"),
        &format!("uri: {tls}\n"),
    );
    let audit = lab.run(&["--format", "json", "audit", "PRN-0302"]);
    let events = ndjson(&audit);
    let done = events
        .iter()
        .find(|e| e["event"] == "done" && e["device"] == "PRN-0302")
        .unwrap_or_else(|| panic!("{}{}", audit.stdout(), audit.stderr()));
    assert_ne!(done["outcome"], "unreachable", "{done:#}");
    let view = lab.run(&["--format", "json", "printers"]).json();
    let row = view
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["tag"] == "PRN-0302")
        .unwrap()
        .clone();
    assert_eq!(row["state"], "idle", "{row:#}");
}

/// The requests the print server's cupsd logged so far, one per line (the lab's cupsd logs
/// every request: `AccessLogLevel all`).
pub(crate) fn cupsd_requests(lab: &LabSite) -> Vec<String> {
    let ps = lab.lab.print_server.as_ref().expect("print server");
    std::fs::read_to_string(ps.dir.join("log/access_log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_rerun_reads_every_queue_in_one_request_and_changes_none() {
    let lab = LabSite::up_with_printers(SiteCopy::example(), 20);
    let first = lab.run(&["configure", "--all", "--limit", PRINTERS]);
    assert_eq!(first.code(), 0, "{}{}", first.stdout(), first.stderr());
    let (logins, requests) = (print_server_logins(&lab), cupsd_requests(&lab).len());
    let again = lab.run(&[
        "--format",
        "json",
        "configure",
        "--all",
        "--limit",
        PRINTERS,
    ]);
    assert_eq!(again.code(), 0, "{}{}", again.stdout(), again.stderr());
    let results = done(&ndjson(&again));
    assert_eq!(results.len(), 20);
    assert!(results.iter().all(|(_, o)| o == "ok"), "{results:?}");
    let sessions = print_server_logins(&lab) - logins;
    assert_eq!(sessions, 1);
    // Per program on the print server: ONE CUPS-Get-Printers for every queue's settings,
    // and the queues' PPDs (driver options) over one connection; no queue changed, and no
    // CUPS client per queue.
    let new = cupsd_requests(&lab)[requests..].to_vec();
    let count = |what: &str| new.iter().filter(|l| l.contains(what)).count();
    assert_eq!(count("CUPS-Get-Printers"), sessions, "{new:#?}");
    let ppds = new
        .iter()
        .filter(|l| l.contains("\"GET /printers/") && l.contains(".ppd HTTP/"))
        .count();
    assert!(ppds <= 20, "{new:#?}");
    assert_eq!(new.len(), sessions + ppds, "{new:#?}");
    assert_eq!(count("CUPS-Add-Modify-Printer"), 0, "{new:#?}");
    assert_eq!(count("CUPS-Delete-Printer"), 0, "{new:#?}");
}

#[test]
fn a_renamed_queue_moves_and_the_floors_laptops_follow() {
    let lab = LabSite::up_with_printers(SiteCopy::example(), 6);
    let ps = lab.lab.print_server.clone().expect("print server");
    let lpstat_v = || {
        lab.ssh(
            &ps.device,
            &format!("CUPS_SERVER={} lpstat -v 2>&1 || true", ps.address),
        )
    };
    let run = lab.run(&["configure", "PRN-0301", "PRN-0302", "LAP-0002"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let uri = lab
        .lab
        .printers
        .iter()
        .find(|p| p.name == "PRN-0301")
        .expect("PRN-0301 simulated")
        .uri
        .clone();
    assert!(
        lpstat_v().contains(&format!("device for floor3-bay1: {uri}\n")),
        "{}",
        lpstat_v()
    );
    let listed = || lab.ssh("LAP-0002", "cat /etc/deskready/printers.conf");
    assert!(listed().contains("queue floor3-bay1  #"), "{}", listed());

    // Renamed in the inventory: the next rollout makes the new queue and removes the old.
    lab.site.edit(
        "inventory/printers.yaml",
        "queue: floor3-bay1,",
        "queue: floor3-north,",
    );
    let plan = lab.run(&["plan", "PRN-0301"]);
    assert!(
        plan.stdout()
            .contains("would remove print queue floor3-bay1"),
        "{}",
        plan.stdout()
    );
    assert!(lpstat_v().contains("device for floor3-bay1: "));
    let run = lab.run(&["configure", "--all", "--limit", PRINTERS]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let v = lpstat_v();
    assert!(!v.contains("device for floor3-bay1: "), "{v}");
    assert!(
        v.contains(&format!("device for floor3-north: {uri}\n")),
        "{v}"
    );
    assert!(v.contains("device for floor3-bay2: "), "{v}");
    let h = lab.run(&["--format", "json", "history", "PRN-0301"]).json();
    let rows = h["history"].as_array().unwrap();
    assert!(
        rows.iter().any(|e| e["kind"] == "queue"
            && e["subject"] == "floor3-north"
            && e["message"]
                == format!(
                    "moved queue floor3-bay1 on {0} to floor3-north on {0}",
                    ps.device
                )),
        "{rows:#?}"
    );

    // Done once: the re-run changes nothing and journals no second move.
    let again = lab.run(&[
        "--format",
        "json",
        "configure",
        "--all",
        "--limit",
        PRINTERS,
    ]);
    assert_eq!(again.code(), 0, "{}{}", again.stdout(), again.stderr());
    assert!(
        done(&ndjson(&again)).iter().all(|(_, o)| o == "ok"),
        "{}",
        again.stdout()
    );
    assert_eq!(lpstat_v(), v);
    let h = lab.run(&["--format", "json", "history", "PRN-0301"]).json();
    let moves = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "queue")
        .count();
    assert_eq!(moves, 1);

    // The floor's laptops list the printers by queue: a re-render follows the rename.
    let run = lab.run(&["configure", "LAP-0002"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let l = listed();
    assert!(l.contains("queue floor3-north  #"), "{l}");
    assert!(!l.contains("floor3-bay1"), "{l}");
}

#[test]
fn a_queued_rollout_moves_a_renamed_queue_too() {
    let lab = LabSite::up_with_printers(SiteCopy::example(), 2);
    let ps = lab.lab.print_server.clone().expect("print server");
    let lpstat_v = || {
        lab.ssh(
            &ps.device,
            &format!("CUPS_SERVER={} lpstat -v 2>&1 || true", ps.address),
        )
    };
    let run = lab.run(&["configure", "PRN-0301"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    assert!(
        lpstat_v().contains("device for floor3-bay1: "),
        "{}",
        lpstat_v()
    );
    lab.site.edit(
        "inventory/printers.yaml",
        "queue: floor3-bay1,",
        "queue: floor3-north,",
    );
    let queued = lab.run(&["configure", "PRN-0301", "--queue", "--detach"]);
    assert_eq!(queued.code(), 0, "{}{}", queued.stdout(), queued.stderr());
    let worked = lab.run(&["worker", "--until-empty"]);
    assert_eq!(worked.code(), 0, "{}{}", worked.stdout(), worked.stderr());
    let v = lpstat_v();
    assert!(!v.contains("device for floor3-bay1: "), "{v}");
    assert!(v.contains("device for floor3-north: "), "{v}");
    let h = lab.run(&["history", "PRN-0301"]);
    assert!(
        h.stdout().contains(&format!(
            "moved queue floor3-bay1 on {0} to floor3-north on {0}",
            ps.device
        )),
        "{}",
        h.stdout()
    );
}
