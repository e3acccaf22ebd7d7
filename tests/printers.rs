//! Printer fleets on the lab: queues made on a real cupsd through the print server device,
//! printers simulated by ippeveprinter and asked over IPP, test pages in their spools.

use crate::support::{LabSite, SiteCopy, TestLab, done, ndjson};

/// Runs a CUPS client command on the print server device against its cupsd.
fn on_print_server(lab: &LabSite, command: &str) -> String {
    let server = lab
        .lab
        .print_server
        .as_ref()
        .expect("print server")
        .address
        .clone();
    lab.ssh("PS-0001", &format!("CUPS_SERVER={server} {command}"))
}

const PRINTERS: &str = "PRN-*,LABP-*";

/// A lab of the example site with its print server and `printers` printers.
fn print_lab(printers: usize) -> LabSite {
    LabSite::up_with_printers(SiteCopy::example(), printers)
}

/// The end of the print server's cupsd log, for failure messages.
fn server_log(lab: &LabSite) -> String {
    let ps = lab.lab.print_server.as_ref().expect("print server");
    let log = std::fs::read_to_string(ps.dir.join("log/error_log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

#[test]
fn a_rollout_of_ten_printers_makes_every_queue_and_a_rerun_changes_nothing() {
    let lab = print_lab(10);
    let run = lab.run(&[
        "--format",
        "json",
        "configure",
        "--all",
        "--limit",
        PRINTERS,
    ]);
    assert_eq!(
        run.code(),
        0,
        "{}{}\nprint server log:\n{}",
        run.stdout(),
        run.stderr(),
        server_log(&lab)
    );
    let ev = ndjson(&run);
    let results = done(&ev);
    assert_eq!(results.len(), 10);
    assert!(results.iter().all(|(_, o)| o == "changed"), "{results:?}");
    // Every queue on the print server, with the printer's URI and location.
    let queues = on_print_server(&lab, "lpstat -v");
    for p in &lab.lab.printers {
        let site = deskready::load::load_site(lab.site.path()).unwrap();
        let queue = deskready::resolve::queue_name(
            site.device(&p.name).unwrap(),
            &deskready::resolve::merged_vars(&site, site.device(&p.name).unwrap()),
        );
        assert!(
            queues.contains(&format!("device for {queue}: {}\n", p.uri)),
            "{queue} -> {}: {queues}",
            p.uri
        );
    }
    let info = on_print_server(&lab, "lpstat -l -p floor4-bay2");
    assert!(info.contains("\tLocation: HQ floor 4, bay 2\n"), "{info}");
    assert!(
        info.contains("\tDescription: Brother HL-L6400DW (PRN-0402)\n"),
        "{info}"
    );
    // Each printer's phases, in order: asked over IPP directly (once), then its work on
    // the print server (connecting once, via the server).
    for p in &lab.lab.printers {
        let phases: Vec<(String, String)> = ev
            .iter()
            .filter(|e| e["event"] == "phase" && e["device"] == p.name.as_str())
            .map(|e| {
                (
                    e["phase"].as_str().unwrap().to_string(),
                    e["on"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        let of = |phase: &str| {
            phases
                .iter()
                .filter(|(f, _)| f == phase)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            of("asking"),
            [&("asking".to_string(), String::new())],
            "{phases:?}"
        );
        assert_eq!(of("connecting").len(), 1, "{phases:?}");
        assert_eq!(of("connecting")[0].1, "PS-0001", "{phases:?}");
        assert_eq!(phases[0].0, "asking", "{phases:?}");
    }
    // Each printer was asked over IPP after its queue was made.
    let prn = ev
        .iter()
        .find(|e| e["event"] == "done" && e["device"] == "PRN-0402")
        .unwrap();
    let checks = prn["run"]["verify"].as_array().unwrap();
    assert_eq!(checks[0]["name"], "printer answers over IPP");
    assert_eq!(checks[0]["passed"], true);
    assert_eq!(checks[1]["name"], "printer is the model in the inventory");
    assert_eq!(checks[1]["passed"], true);

    let again = lab.run(&[
        "--format",
        "json",
        "configure",
        "--all",
        "--limit",
        PRINTERS,
    ]);
    assert_eq!(again.code(), 0);
    assert!(
        done(&ndjson(&again)).iter().all(|(_, o)| o == "ok"),
        "{}",
        again.stdout()
    );
}

#[test]
fn a_queue_changed_by_hand_is_found_by_plan_and_fixed_by_configure() {
    let lab = print_lab(6);
    assert_eq!(
        lab.run(&["configure", "--all", "--limit", PRINTERS]).code(),
        0
    );
    let other = lab.lab.printer("PRN-0403").unwrap().uri.clone();
    on_print_server(
        &lab,
        &format!("lpadmin -p floor3-bay2 -L 'Basement' -v {other}"),
    );
    let plan = lab.run(&["plan", "PRN-0302"]);
    let out = plan.stdout();
    assert!(out.contains("  would change queue (on PS-0001)\n"), "{out}");
    assert!(out.contains(&format!("-uri={other}\n")), "{out}");
    assert!(
        out.contains(&format!(
            "+uri={}\n",
            lab.lab.printer("PRN-0302").unwrap().uri
        )),
        "{out}"
    );
    assert!(
        out.contains("-location=Basement\n") && out.contains("+location=HQ floor 3, bay 2\n"),
        "{out}"
    );
    // plan changed nothing.
    assert!(on_print_server(&lab, "lpstat -l -p floor3-bay2").contains("\tLocation: Basement\n"));
    let fix = lab.run(&["configure", "PRN-0302"]);
    assert_eq!(fix.code(), 0, "{}{}", fix.stdout(), fix.stderr());
    assert!(
        fix.stdout().contains("PRN-0302: changed 1 of 1 resources"),
        "{}",
        fix.stdout()
    );
    assert!(
        on_print_server(&lab, "lpstat -l -p floor3-bay2")
            .contains("\tLocation: HQ floor 3, bay 2\n")
    );
    // Others were left alone.
    assert!(
        lab.run(&["plan", "--all", "--limit", PRINTERS])
            .stdout()
            .contains("6 devices: 0 would change, 6 nothing to change (")
    );
}

#[test]
fn a_stopped_printer_fails_verification_alone_and_resume_finishes_it() {
    let mut lab = print_lab(6);
    lab.lab.stop_printer("PRN-0401").unwrap();
    let run = lab.run(&[
        "--format",
        "json",
        "configure",
        "--all",
        "--limit",
        PRINTERS,
        "--connect-timeout",
        "3",
    ]);
    assert_eq!(run.code(), 1);
    let ev = ndjson(&run);
    let results = done(&ev);
    assert_eq!(
        results.iter().filter(|(_, o)| o == "changed").count(),
        5,
        "{results:?}"
    );
    assert!(
        results.contains(&("PRN-0401".into(), "unreachable".into())),
        "{results:?}"
    );
    let e = ev
        .iter()
        .find(|e| e["event"] == "done" && e["device"] == "PRN-0401")
        .unwrap();
    let uri = lab.lab.printer("PRN-0401").unwrap().uri.clone();
    let err = e["error"].as_str().unwrap();
    assert!(
        err.contains(&format!("verify check `printer answers over IPP` failed: PRN-0401 at {uri} does not answer over IPP: ")),
        "{err}"
    );
    lab.lab.start_printer("PRN-0401").unwrap();
    let resume = lab.run(&["--format", "json", "configure", "--resume"]);
    assert_eq!(resume.code(), 0, "{}{}", resume.stdout(), resume.stderr());
    assert_eq!(
        done(&ndjson(&resume)).len(),
        1,
        "only the failed printer is redone"
    );
    assert_eq!(done(&ndjson(&resume))[0].0, "PRN-0401");
}

#[test]
fn a_printer_of_another_model_fails_verification() {
    let lab = print_lab(6);
    // The inventory now says another model than the device that answers at that URI.
    lab.site.edit(
        "inventory/printers.yaml",
        "model: Brother HL-L6400DW\n    serial: VNB00005",
        "model: Brother HL-L5100DN\n    serial: VNB00005",
    );
    let run = lab.run(&["configure", "PRN-0402"]);
    assert_eq!(run.code(), 1);
    let uri = lab.lab.printer("PRN-0402").unwrap().uri.clone();
    assert!(
        run.stdout().contains(&format!("  verify FAIL  printer is the model in the inventory\n               PRN-0402 at {uri} reports itself as \"Brother HL-L6400DW\", but the inventory says \"Brother HL-L5100DN\"\n")),
        "{}",
        run.stdout()
    );
}

#[test]
fn a_test_page_reaches_the_printers_spool() {
    let lab = print_lab(6);
    let run = lab.run(&["configure", "PRN-0303", "--test-page"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    assert!(
        run.stdout().contains("  verify pass  test page printed\n"),
        "{}",
        run.stdout()
    );
    let spool = lab.lab.printer("PRN-0303").unwrap().spool.clone();
    let files: Vec<String> = std::fs::read_dir(&spool)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        files.iter().any(|f| f.contains("deskready_test_page")),
        "{files:?}"
    );
}

/// The phases each `phase` event of `ev` gave `device`, in order.
fn phases_of(ev: &[serde_json::Value], device: &str) -> Vec<String> {
    ev.iter()
        .filter(|e| e["event"] == "phase" && e["device"] == device)
        .map(|e| e["phase"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn a_printer_that_does_not_answer_is_only_asked_and_its_history_says_what_happened() {
    let mut lab = print_lab(3);
    let dead = lab.lab.printers[0].name.clone();
    let others: Vec<String> = lab.lab.printers[1..]
        .iter()
        .map(|p| p.name.clone())
        .collect();
    lab.lab.stop_printer(&dead).unwrap();
    let mut args = vec!["--format", "json", "configure", "--connect-timeout", "3"];
    args.push(&dead);
    args.extend(others.iter().map(String::as_str));
    let run = lab.run(&args);
    assert_eq!(run.code(), 1, "{}{}", run.stdout(), run.stderr());
    let ev = ndjson(&run);
    let results = done(&ev);
    assert!(
        results.contains(&(dead.clone(), "unreachable".into())),
        "{results:?}"
    );
    // Its queue was left out: it was asked, and nothing of the print server's work is its.
    assert_eq!(phases_of(&ev, &dead), ["asking"], "{ev:?}");
    for p in &others {
        let phases = phases_of(&ev, p);
        for step in ["asking", "connecting", "applying", "verifying"] {
            assert_eq!(
                phases.iter().filter(|f| *f == step).count(),
                1,
                "{p}: {phases:?}"
            );
        }
    }
    // A printer that did not answer has no exit code: its history says what happened.
    let history = lab.run(&["history", &dead]).stdout();
    assert!(!history.contains("exit code"), "{history}");
    let uri = lab.lab.printer(&dead).unwrap().uri.clone();
    assert!(
        history
            .lines()
            .any(|l| l.contains("printer answers over IPP")
                && l.contains(&format!(
                    "failed: {dead} at {uri} does not answer over IPP: "
                ))),
        "{history}"
    );
}

#[test]
fn a_print_server_back_on_another_port_keeps_its_queues_and_fails_no_printer() {
    let mut lab = print_lab(2);
    let names: Vec<String> = lab.lab.printers.iter().map(|p| p.name.clone()).collect();
    let mut all = vec!["--format", "json", "configure"];
    all.extend(names.iter().map(String::as_str));
    let first = lab.run(&all);
    assert_eq!(first.code(), 0, "{}{}", first.stdout(), first.stderr());
    let printer = lab.lab.printers[0].name.clone();
    let before = lab.store().printer_queue(&printer).unwrap().expect("queue");
    // The lab down and up again: the print server keeps its tag, its cupsd another port.
    lab.site.test().args(["lab", "down"]).success();
    lab.site
        .test()
        .args(["lab", "up", "--printers", "2"])
        .success();
    let again =
        deskready::lab::Lab::load(&lab.site.path().join(".deskready/lab")).unwrap_or_else(|e| {
            let _ = lab.site.run(&["lab", "down"]);
            panic!("lab state: {e}")
        });
    // The old guard's lab is already down (and its state file is the new lab's now).
    std::mem::forget(std::mem::replace(&mut lab.lab, TestLab::adopt(again)));
    let now = lab
        .lab
        .print_server
        .as_ref()
        .expect("print server")
        .address
        .clone();
    assert_ne!(before.server, now, "the print server moved");

    // Nothing of the queue remembered at the old address is planned, nothing is down.
    let plan = lab.run(&["plan", &printer]);
    assert_eq!(plan.code(), 0, "{}{}", plan.stdout(), plan.stderr());
    assert!(!plan.stdout().contains("old name"), "{}", plan.stdout());
    assert!(!plan.stdout().contains("is down"), "{}", plan.stdout());
    // Every printer's queue is made on the print server as it is now.
    let run = lab.run(&all);
    assert_eq!(
        run.code(),
        0,
        "{}{}\nprint server log:\n{}",
        run.stdout(),
        run.stderr(),
        server_log(&lab)
    );
    let results = done(&ndjson(&run));
    assert!(
        results.iter().all(|(_, o)| o == "ok" || o == "changed"),
        "{results:?}"
    );
    assert!(on_print_server(&lab, "lpstat -v").contains(&before.queue));
    // The queue is the same one, remembered where its print server answers now; no move.
    let after = lab.store().printer_queue(&printer).unwrap().expect("queue");
    assert_eq!((&after.via, &after.queue), (&before.via, &before.queue));
    assert_eq!(after.server, now);
    let history = lab.run(&["history", &printer]).stdout();
    assert!(!history.contains("moved queue"), "{history}");
    assert!(!history.contains("old name"), "{history}");

    // A queue of another name remembered at the old address (made before the move, on the
    // same print server) is removed where that print server answers now.
    on_print_server(&lab, "lpadmin -p old-name -v ipp://127.0.0.1:9/ipp/print");
    assert!(on_print_server(&lab, "lpstat -v").contains("old-name"));
    let mut old = after.clone();
    (old.server, old.queue) = (before.server.clone(), "old-name".into());
    lab.store().set_printer_queue(&printer, &old).unwrap();
    let run = lab.run(&["configure", &printer]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    assert!(!on_print_server(&lab, "lpstat -v").contains("old-name"));
    let history = lab.run(&["history", &printer]).stdout();
    assert!(
        history.contains(&format!(
            "moved queue old-name on {0} to {1} on {0}",
            after.via, after.queue
        )),
        "{history}"
    );
    assert_eq!(
        lab.store().printer_queue(&printer).unwrap(),
        Some(after.clone())
    );

    // One remembered on a print server no longer in the inventory (at an address where
    // nothing answers) cannot be removed: no reason to fail, it is said and forgotten.
    let gone = deskready::store::PrinterQueue {
        via: "PS-0999".into(),
        server: before.server.clone(),
        queue: "gone-queue".into(),
    };
    lab.store().set_printer_queue(&printer, &gone).unwrap();
    let plan = lab.run(&["plan", &printer]);
    assert_eq!(plan.code(), 0, "{}{}", plan.stdout(), plan.stderr());
    assert!(!plan.stdout().contains("old name"), "{}", plan.stdout());
    let run = lab.run(&["configure", &printer]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let history = lab.run(&["history", &printer]).stdout();
    assert!(
        history.contains(&format!(
            "queue gone-queue on PS-0999 left as it was: PS-0999 is no longer in the inventory; now {} on {}",
            after.queue, after.via
        )),
        "{history}"
    );
    assert_eq!(lab.store().printer_queue(&printer).unwrap(), Some(after));
}
