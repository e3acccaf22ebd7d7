//! Printer fleets at scale on the lab: many printers' queues changed over one connection
//! to the print server per batch (counted in its sshd's log), a dead printer and a
//! print server that dies mid-rollout (clear, fast, resumable). Real cupsd, real
//! ippeveprinter printers, no mocks.

use std::time::{Duration, Instant};

use crate::support::{LabSite, SiteCopy, done, ndjson, poll};

const PRINTERS: &str = "PRN-*,LABP-*";

/// Sessions the print server's sshd accepted so far.
fn print_server_logins(lab: &LabSite) -> usize {
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
    let lab = LabSite::up_with_printers(SiteCopy::example(), 6);
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
}
