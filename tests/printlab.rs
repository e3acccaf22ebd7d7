//! The lab's print side, for real: a private cupsd on the print-server device's address,
//! ippeveprinter printers, commands run over SSH on the print server. No mocks.

use std::time::{Duration, Instant};

use deskready::lab::{PrinterSpec, answers_ipp};

use crate::support::procs::live_processes_mentioning;
use crate::support::ssh::ok;
use crate::support::{TestLab, poll};

fn printers(n: usize) -> Vec<PrinterSpec> {
    (1..=n)
        .map(|i| {
            PrinterSpec::new(
                format!("PRN-{i:04}"),
                "ACME",
                format!("LaserJet {i}"),
                "Floor 3",
            )
        })
        .collect()
}

fn print_lab(prefix: &str, n_printers: usize) -> TestLab {
    let names = vec![format!("{prefix}-PS"), format!("{prefix}-PC")];
    TestLab::with_printers(&names, &names[0], &printers(n_printers))
}

#[test]
fn a_queue_made_over_ssh_prints_to_the_simulated_printer() {
    let lab = print_lab("PQ", 1);
    let server = lab.print_server.clone().expect("a print server");
    let printer = lab.printer("PRN-0001").unwrap().clone();
    assert_eq!(
        printer.uri,
        format!("ipp://127.0.0.1:{}/ipp/print", printer.port)
    );
    let mut s = lab.session_to(&server.device);
    let env = format!("CUPS_SERVER={}", server.address);

    let started = Instant::now();
    ok(
        &mut s,
        &format!(
            "{env} lpadmin -p q1 -E -v {} -m everywhere -L 'HQ floor 3, bay 1' \
             -D 'Printer one' -o printer-is-shared=false -o sides=two-sided-long-edge \
             -o media=iso_a4_210x297mm -u allow:alice,bob",
            printer.uri
        ),
    );
    eprintln!("lpadmin -m everywhere took {:?}", started.elapsed());

    let v = ok(&mut s, &format!("{env} lpstat -v q1"));
    eprintln!("--- lpstat -v q1\n{v}---");
    assert!(v.contains(&printer.uri), "{v}");
    let o = ok(&mut s, &format!("{env} lpoptions -p q1"));
    eprintln!("--- lpoptions -p q1\n{o}---");
    assert!(o.contains("printer-location='HQ floor 3, bay 1'"), "{o}");
    let l = ok(&mut s, &format!("{env} lpoptions -p q1 -l | head"));
    eprintln!("--- lpoptions -p q1 -l | head\n{l}---");
    assert!(l.contains("PageSize/Media Size:"), "{l}");

    // lpadmin maps -o only onto PPD keywords: media=/sides= above change nothing; the
    // PPD options PageSize/Duplex do, and media-default/sides-default follow them.
    ok(
        &mut s,
        &format!("{env} lpadmin -p q1 -o PageSize=A4 -o Duplex=DuplexNoTumble"),
    );
    ok(
        &mut s,
        &format!("{env} lpadmin -p q1 -D \"Bob's \\\"best\\\" printer\""),
    );
    let o = ok(&mut s, &format!("{env} lpoptions -p q1"));
    eprintln!("--- lpoptions -p q1 (A4, duplex, quotes)\n{o}---");
    assert!(o.contains(r#"printer-info='Bob's "best" printer'"#), "{o}");
    // cupsd may take a moment to show the new defaults: ask until it does (or give up).
    let duplex = "Duplex/Duplex: None *DuplexNoTumble DuplexTumble";
    let mut l = String::new();
    let shown = poll(Duration::from_secs(30), Duration::from_millis(200), || {
        l = ok(&mut s, &format!("{env} lpoptions -p q1 -l"));
        l.contains(duplex).then_some(())
    });
    eprintln!("--- lpoptions -p q1 -l\n{l}---");
    assert!(shown.is_some() && l.contains(duplex), "{l}");

    ok(&mut s, "printf 'hello from the lab\\n' > /tmp/somefile");
    let job = ok(&mut s, &format!("{env} lp -U alice -d q1 /tmp/somefile"));
    eprintln!("lp: {job}");
    let spooled = poll(Duration::from_secs(30), Duration::from_millis(200), || {
        let files = printer.spooled_files();
        (!files.is_empty()).then_some(files)
    });
    assert!(
        spooled.is_some(),
        "no job reached {} in 30 s; cupsd log: {}",
        printer.spool.display(),
        std::fs::read_to_string(server.error_log()).unwrap_or_default()
    );
    eprintln!("spooled: {:?}", spooled.unwrap());
}

#[test]
fn a_stopped_printer_does_not_answer_until_started() {
    let mut lab = print_lab("PS", 2);
    let uri = lab.printer("PRN-0002").unwrap().uri.clone();
    let spool = lab.printer("PRN-0002").unwrap().spool.clone();
    let port = lab.printer("PRN-0002").unwrap().port;
    assert!(answers_ipp(&uri, 5));
    lab.stop_printer("PRN-0002").unwrap();
    assert!(!lab.printer_running("PRN-0002"));
    assert!(!answers_ipp(&uri, 2), "a stopped printer answered");
    assert!(answers_ipp(&lab.printer("PRN-0001").unwrap().uri, 5));
    lab.start_printer("PRN-0002").unwrap();
    let p = lab.printer("PRN-0002").unwrap();
    assert_eq!((p.port, &p.spool), (port, &spool));
    assert!(answers_ipp(&uri, 5));
    assert!(lab.printer("PRN-9999").is_err());
}

#[test]
fn down_stops_only_this_labs_print_processes() {
    let a = print_lab("PA", 2);
    let b = print_lab("PB", 2);
    let (pa, pb) = (
        a.printer("PRN-0001").unwrap(),
        b.printer("PRN-0001").unwrap(),
    );
    assert_ne!(pa.port, pb.port);
    assert_ne!(
        a.print_server.as_ref().unwrap().address,
        b.print_server.as_ref().unwrap().address
    );
    let a_marker = format!("{}/print/", a.dir.display());
    let b_marker = format!("{}/print/", b.dir.display());
    assert_eq!(
        live_processes_mentioning(&a_marker).len(),
        3,
        "cupsd + 2 printers"
    );
    assert_eq!(live_processes_mentioning(&b_marker).len(), 3);
    let b_uri = pb.uri.clone();
    let a_uri = pa.uri.clone();
    drop(a);
    assert_eq!(live_processes_mentioning(&a_marker), Vec::<u32>::new());
    assert!(!answers_ipp(&a_uri, 2));
    assert_eq!(live_processes_mentioning(&b_marker).len(), 3);
    assert!(answers_ipp(&b_uri, 5));
    b.down().unwrap();
    assert_eq!(live_processes_mentioning(&b_marker), Vec::<u32>::new());
}

#[test]
fn the_print_server_must_be_a_lab_device() {
    let dir = tempfile::tempdir().unwrap();
    let err = deskready::lab::Lab::up_with(
        dir.path(),
        &[deskready::lab::LabDeviceSpec::new("X-1")],
        Some("NOPE"),
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("NOPE"), "{err}");
}

#[test]
fn a_loaded_lab_stops_the_print_processes_it_records() {
    let lab = print_lab("PL", 1);
    let marker = format!("{}/print/", lab.dir.display());
    let loaded = deskready::lab::Lab::load(&lab.dir).unwrap();
    assert_eq!(loaded.printers, lab.printers);
    assert_eq!(loaded.print_server, lab.print_server);
    assert!(loaded.printer_running("PRN-0001") && loaded.print_server_running());
    loaded.down().unwrap();
    assert_eq!(live_processes_mentioning(&marker), Vec::<u32>::new());
}

#[test]
fn lab_down_says_it_stopped_the_print_server_and_the_printers() {
    let site = crate::support::SiteCopy::example();
    // Taken down even when an assertion fails.
    struct Down<'a>(&'a crate::support::SiteCopy);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            let _ = self.0.run(&["lab", "down"]);
        }
    }
    let _down = Down(&site);
    site.test()
        .args(["lab", "up", "--printers", "2"])
        .success()
        .stdout_has("; 2 printers simulated\n");
    let marker = format!("{}/", site.file(".deskready/lab/print").display());
    assert_eq!(
        live_processes_mentioning(&marker).len(),
        3,
        "cupsd + 2 printers"
    );
    // A second `lab up` is refused and leaves the site pointed at the lab that runs.
    let generated = site.read("inventory/lab.generated.yaml");
    site.test()
        .args(["lab", "up", "--printers", "2"])
        .code(1)
        .stderr_has("a lab is already running in ");
    assert_eq!(site.read("inventory/lab.generated.yaml"), generated);
    assert_eq!(live_processes_mentioning(&marker).len(), 3);
    site.test().args(["lab", "down"]).success().stdout_is(
        "lab down: 11 devices, print server PS-0001's cupsd and 2 printers stopped; inventory/lab.generated.yaml removed\n",
    );
    assert_eq!(live_processes_mentioning(&marker), Vec::<u32>::new());
}

#[test]
fn lab_printer_switches_a_printer_off_and_on_and_sets_its_supplies() {
    let site = crate::support::SiteCopy::example();
    struct Down<'a>(&'a crate::support::SiteCopy);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            let _ = self.0.run(&["lab", "down"]);
        }
    }
    let _down = Down(&site);
    site.test().args(["lab", "up", "--printers", "2"]).success();
    site.test().args(["receive", "PRN-0301"]).success();
    site.test().args(["configure", "PRN-0301"]).success();
    site.test()
        .args(["lab", "printer", "PRN-0301", "--supplies", "95,5"])
        .success()
        .stdout_is("lab printer PRN-0301: supplies set to 95%, 5%\n");
    site.test().args(["audit", "PRN-0301"]).success();
    site.test()
        .args(["printers", "PRN-0301"])
        .code(6)
        .stdout_has("Toner Waste Tank 95% full; Black Toner low (5%)");
    // The fleet report shows it too, first among the printers.
    let html = site.file("report.html");
    site.test()
        .args(["report", "--html", html.to_str().unwrap()])
        .success()
        .stdout_has("; 1 printers needing attention\n");
    let page = std::fs::read_to_string(&html).unwrap();
    let table = &page[page
        .find("<table id=\"printers\">")
        .expect("a printers table")..];
    let first = &table[table.find("<tr class=").expect("a row needing attention")..];
    assert!(
        first.starts_with("<tr class=\"attention\"><td><a href=\"#dev-PRN-0301\">PRN-0301</a>")
            && first[..first.find("</tr>").unwrap()].contains("Black Toner low (5%)"),
        "{table}"
    );
    site.test()
        .args(["lab", "printer", "PRN-0301", "--stop"])
        .success()
        .stdout_is("lab printer PRN-0301: stopped\n");
    site.test().args(["audit", "PRN-0301"]).code(5);
    site.test()
        .args(["lab", "printer", "PRN-0301", "--start"])
        .success()
        .stdout_is("lab printer PRN-0301: started\n");
    site.test().args(["audit", "PRN-0301"]).success();
    // Bad input: an unknown printer, a level over 100, no action.
    site.test()
        .args(["lab", "printer", "PRN-0999", "--stop"])
        .code(1)
        .stderr_has("PRN-0999");
    site.test()
        .args(["lab", "printer", "PRN-0301", "--supplies", "95,105"])
        .code(2)
        .stderr_has("105 is not in 0..=100");
    site.test()
        .args(["lab", "printer", "PRN-0301"])
        .code(2)
        .stderr_has("--stop");
}
