//! The life of a device from the command line, against a lab and a real SQLite store:
//! receive, assign, configure, deliver, history; refused moves; runs that die or collide.

use std::time::Duration;

use deskready::model::Stage;

use crate::support::procs::{cmdline, descendants};
use crate::support::{LabSite, Run, SiteCopy, wait_until};

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout())
        .unwrap_or_else(|e| panic!("{e}: {}{}", run.stdout(), run.stderr()))
}

fn hash_files(site: &SiteCopy, names: &[&str]) -> Vec<Vec<u8>> {
    names
        .iter()
        .map(|n| std::fs::read(site.file(n)).unwrap())
        .collect()
}

#[test]
fn onboarding_a_new_hire_laptop_from_the_command_line() {
    let lab = LabSite::up_unreceived(SiteCopy::example());
    let hand_written = [
        "inventory/laptops.yaml",
        "inventory/printers.yaml",
        "inventory/groups.yaml",
    ];
    let before = hash_files(&lab.site, &hand_written);

    // Receive: one by its tag, a packing list, and a scanner's tags.
    let one = lab.run(&[
        "receive",
        "LAP-0001",
        "--serial",
        "PF400001",
        "--model",
        "Dell Latitude 7450",
    ]);
    assert_eq!(one.code(), 0, "{}", one.stderr());
    assert_eq!(one.stdout(), "LAP-0001 received\n");
    lab.site.write(
        "delivery.csv",
        "asset_tag,serial,model,kind,mac,assignee,email,site,desk,floor,profile\nLAP-0002,PF400002,Lenovo ThinkPad T14 Gen 5,laptop,8c:16:45:2a:0b:02,,,,,,\nLAP-0100,PF400100,Dell Latitude 7450,laptop,8c:16:45:2a:0b:64,Kai Nakamura,knakamura@example.org,HQ,3-20,3,laptop-base\n",
    );
    let csv = lab.run(&[
        "receive",
        "--csv",
        lab.site.file("delivery.csv").to_str().unwrap(),
    ]);
    assert_eq!(csv.code(), 0, "{}", csv.stderr());
    assert_eq!(
        csv.stdout(),
        "LAP-0002 received\nLAP-0100 received (added to inventory/received.yaml)\n"
    );
    let scan = lab.run_stdin(&["receive", "--scan"], "LAP-0003\n\nLAP-0004\nLAP-0999\n");
    assert_eq!(scan.code(), 2, "one tag was unknown: bad input");
    assert_eq!(scan.stdout(), "LAP-0003 received\nLAP-0004 received\n");
    assert!(
        scan.stderr()
            .starts_with("line 4: unknown device `LAP-0999`"),
        "{}",
        scan.stderr()
    );
    // The new device is in the tool's own file; hand-written files are untouched.
    let received = lab.site.read("inventory/received.yaml");
    assert!(
        received.contains("LAP-0100:") && received.contains("name: Kai Nakamura"),
        "{received}"
    );
    assert_eq!(hash_files(&lab.site, &hand_written), before);

    // Assign, configure: the template uses the assignment.
    let assign = lab.run(&[
        "assign",
        "LAP-0001",
        "--to",
        "Amira Haddad",
        "--desk",
        "3-05",
    ]);
    assert_eq!(
        assign.stdout(),
        "LAP-0001: assigned to Amira Haddad (ahaddad), desk 3-05\n",
        "{}",
        assign.stderr()
    );
    let conf = lab.run(&["configure", "LAP-0001"]);
    assert_eq!(conf.code(), 0, "{}{}", conf.stdout(), conf.stderr());
    assert!(
        lab.ssh("LAP-0001", "cat /etc/deskready/owner.conf")
            .contains("desk      = 3-05\n")
    );

    // Deliver, with the handoff sheet.
    let deliver = lab.run(&["deliver", "LAP-0001"]);
    assert_eq!(deliver.code(), 0, "{}", deliver.stderr());
    let out = deliver.stdout();
    assert!(
        out.starts_with("LAP-0001: delivered to Amira Haddad at desk 3-05\n"),
        "{out}"
    );
    // The delivery says how to record the person's acceptance, the step that comes next.
    assert!(
        out.contains(
            "\nnext: once Amira Haddad has the device and the sheet, record it: deskready accept LAP-0001 --by 'Amira Haddad'\n"
        ),
        "{out}"
    );
    let md_path = lab.site.file(".deskready/handoff/LAP-0001.md");
    let html_path = lab.site.file(".deskready/handoff/LAP-0001.html");
    assert!(
        out.contains(&format!("handoff sheet: {}\n", md_path.display())),
        "{out}"
    );
    assert!(
        out.contains(&format!("handoff sheet: {}\n", html_path.display())),
        "{out}"
    );
    let md = std::fs::read_to_string(&md_path).unwrap();
    assert!(md.starts_with("# Your laptop, Amira Haddad\n"), "{md}");
    assert!(
        md.contains("| Your desk | HQ, floor 3, desk 3-05 |"),
        "{md}"
    );
    assert!(
        md.contains("| `floor3-bay1` | HP Color LaserJet Pro M454dw | bay 1 |"),
        "{md}"
    );
    assert!(
        md.contains("- git\n") && md.contains("- cups-client\n"),
        "{md}"
    );
    assert!(
        md.contains("| Handed over | 20") && md.contains(" by test-csp |"),
        "{md}"
    );
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(
        html.contains("<h1>Your laptop, Amira Haddad</h1>")
            && html.contains("<td><code>floor3-bay1</code></td>"),
        "{html}"
    );

    // A note by another operator, then the whole history.
    let note = lab.run(&[
        "--operator",
        "Jo Park",
        "note",
        "LAP-0001",
        "gave her a spare charger",
    ]);
    assert_eq!(note.code(), 0);
    let h = json(&lab.run(&["--format", "json", "history", "LAP-0001"]));
    assert_eq!(h["stage"], "delivered");
    let rows = h["history"].as_array().unwrap();
    let steps: Vec<String> = rows
        .iter()
        .filter(|r| r["kind"] != "resource" && r["kind"] != "verify")
        .map(|r| match r["kind"].as_str().unwrap() {
            "stage" => format!(
                "{}->{}",
                r["stage_from"].as_str().unwrap(),
                r["stage_to"].as_str().unwrap()
            ),
            k => k.to_string(),
        })
        .collect();
    assert_eq!(
        steps,
        [
            "received",
            "expected->received",
            "assigned",
            "configure",
            "received->configuring",
            "configure",
            "configuring->configured",
            "delivered",
            "configured->delivered",
            "note"
        ]
    );
    assert!(rows.iter().any(|r| r["kind"] == "resource"
        && r["subject"] == "owner card"
        && r["new_digest"].as_str().is_some_and(|d| d.len() == 64)));
    assert_eq!(rows.iter().filter(|r| r["kind"] == "verify").count(), 3);
    for r in &rows[..rows.len() - 1] {
        assert_eq!(r["operator"], "test-csp", "{r}");
        assert!(
            deskready::time::parse(r["at"].as_str().unwrap()).is_some(),
            "{r}"
        );
    }
    assert_eq!(rows.last().unwrap()["operator"], "Jo Park");
    assert_eq!(rows.last().unwrap()["message"], "gave her a spare charger");
    // Digests only: no file content in the journal.
    assert!(!serde_json::to_string(&h).unwrap().contains("helpdesk  ="));

    let text = lab.run(&["history", "LAP-0001"]).stdout();
    assert!(text.starts_with("LAP-0001: delivered\nWHEN "), "{text}");
    assert!(
        text.contains("  test-csp  stage configured -> delivered\n"),
        "{text}"
    );

    let st = json(&lab.run(&["--format", "json", "status", "--stage", "delivered"]));
    let tags: Vec<&str> = st
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["device"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["LAP-0001"]);
    let st = json(&lab.run(&["--format", "json", "status", "--group", "new-hires"]));
    let row = st
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["device"] == "LAP-0006")
        .unwrap()
        .clone();
    assert_eq!(row["stage"], "expected");
}

#[test]
fn refused_moves_say_where_the_device_may_go() {
    let lab = LabSite::up(SiteCopy::example());
    lab.test().args(["deliver", "LAP-0002"]).code(3).stderr_is(
        "refused: LAP-0002 cannot go to delivered: it is received; from received it may go to: configuring, in-repair, retired; configure it first: deskready configure LAP-0002\n",
    );
    lab.test().args(["return", "LAP-0002"]).code(3).stderr_is(
        "refused: LAP-0002 is received; only a delivered device can be returned by its user\n",
    );
    lab.test()
        .args(["repair", "LAP-0002", "--reason", "cracked hinge"])
        .success();
    lab.test().args(["configure", "LAP-0002"]).code(3).stderr_is(
        "refused: LAP-0002 cannot go to configuring: it is in-repair; from in-repair it may go to: received, retired\n",
    );
    // Back from repair through receive, then configure works again.
    lab.test().args(["receive", "LAP-0002"]).success();
    lab.test().args(["configure", "LAP-0002"]).success();
    lab.test()
        .args(["retire", "LAP-0002", "--reason", "end of lease"])
        .success();
    lab.test().args(["configure", "LAP-0002"]).code(3).stderr_is(
        "refused: LAP-0002 cannot go to configuring: it is retired; from retired it may go to: nowhere (retired is final)\n",
    );
    // Nothing happened to the device on the refused runs: the journal ends with the retirement.
    let h = json(&lab.run(&["--format", "json", "history", "LAP-0002"]));
    let last = h["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["stage_from"].as_str(), last["stage_to"].as_str()),
        (Some("configured"), Some("retired"))
    );
    // An expected device is pointed at receive.
    let fresh = LabSite::up_unreceived(SiteCopy::example());
    let conf = fresh.test().args(["configure", "LAP-0003"]).code(3);
    assert!(
        conf.stderr().ends_with(
            "; receive it first: deskready receive LAP-0003 (or receive --scan / --csv)\n"
        ),
        "{}",
        conf.stderr()
    );
    lab.test().args(["deliver", "LAP-0004"]).code(3);
}

#[test]
fn a_bad_packing_list_row_is_reported_by_line_and_nothing_is_received() {
    let site = SiteCopy::example();
    site.write(
        "delivery.csv",
        "asset_tag,serial,model,kind,mac\nLAP-0001,PF400001,Dell Latitude 7450,laptop,\nLAP-0200,PF9,Dell Latitude 7450,lapto,\nLAP-0201,PF10,Dell Latitude 7450,laptop,not-a-mac\nLAP-0003,WRONG,Dell Latitude 7450,laptop,\n",
    );
    let csv = site.file("delivery.csv").display().to_string();
    let run = site.run(&["receive", "--csv", &csv]);
    assert_eq!(run.code(), 2);
    assert_eq!(
        run.stderr(),
        format!(
            "error: {csv}:3: column `kind`: unknown value `lapto`; did you mean `laptop`? allowed: laptop, desktop, workstation, thin-client, printer, print-server, server\n\
             {csv}:4: column `mac`: `not-a-mac` is not a MAC address; expected six hex pairs such as 8c:16:45:2a:0b:11\n\
             {csv}:5: LAP-0003 is declared in inventory/laptops.yaml:24 with serial PF400003, but the delivery says WRONG; check the label, or correct the inventory\n\
             nothing from {csv} was received\n"
        )
    );
    assert!(!site.file("inventory/received.yaml").exists());
    let st = site.run(&["--format", "json", "status", "--stage", "received"]);
    assert_eq!(json(&st), serde_json::json!([]));
    // An unknown column is named, with the allowed ones.
    site.write("bad.csv", "asset_tag,serial,modle,kind\n");
    let run = site.run(&["receive", "--csv", site.file("bad.csv").to_str().unwrap()]);
    assert!(run.stderr().contains(":1: unknown column `modle`; did you mean `model`? allowed: asset_tag, serial, model, kind,"), "{}", run.stderr());
}

#[test]
fn a_configure_killed_mid_run_is_configure_failed_and_loses_nothing() {
    let lab = LabSite::up(SiteCopy::slow_example());
    let child = lab.spawn(&["configure", "LAP-0005"]);
    lab.wait_for_stage("LAP-0005", Stage::Configuring);
    // The slow step is running on the device.
    let device = lab.lab.device("LAP-0005").unwrap().pid;
    wait_until("the slow step on LAP-0005", Duration::from_secs(30), || {
        descendants(device)
            .into_iter()
            .any(|p| cmdline(p).is_some_and(|c| c == "sleep 30"))
            .then_some(())
    });
    child.kill(); // SIGKILL

    let st = json(&lab.run(&["--format", "json", "status"]));
    let row = st
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["device"] == "LAP-0005")
        .unwrap()
        .clone();
    assert_eq!(row["stage"], "configure-failed");
    let err = row["last_error"].as_str().unwrap();
    assert!(
        err.starts_with("the configure run by test-csp (pid ")
            && err.ends_with(") was interrupted before it finished"),
        "{err}"
    );
    let s = lab.store();
    assert_eq!(s.integrity_check().unwrap(), "ok");
    let kinds: Vec<String> = s
        .history("LAP-0005")
        .unwrap()
        .iter()
        .map(|e| e.kind.clone())
        .collect();
    assert_eq!(
        kinds,
        ["received", "stage", "configure", "stage", "stage"],
        "everything before the kill is kept"
    );
    // The lock of the dead run is gone: a new run (without the nap) completes.
    let again = lab.run(&["--var", "nap=0", "configure", "LAP-0005"]);
    assert_eq!(again.code(), 0, "{}{}", again.stdout(), again.stderr());
    assert_eq!(
        s.stage("LAP-0005").unwrap().unwrap().stage,
        Stage::Configured
    );
}

#[test]
fn a_second_configure_of_the_same_device_is_refused_naming_the_holder() {
    let lab = LabSite::up(SiteCopy::slow_example());
    let first = lab.spawn(&["--var", "nap=3", "configure", "LAP-0006"]);
    lab.wait_for_stage("LAP-0006", Stage::Configuring);
    let second = lab.run(&["configure", "LAP-0006"]);
    assert_eq!(second.code(), 3, "{}{}", second.stdout(), second.stderr());
    let err = second.stderr();
    let prefix = "refused: LAP-0006 is being configured by test-csp on ";
    assert!(err.starts_with(prefix), "{err}");
    assert!(
        err.contains(&format!(" (pid {}) since 20", first.id())),
        "{err}"
    );
    assert!(err.ends_with("; try again when that run ends\n"), "{err}");
    let out = first.wait();
    assert_eq!(out.output.status.code(), Some(0), "{}", out.stderr());
    // Another device is not held up by that lock.
    assert_eq!(
        lab.run(&["--var", "nap=0", "configure", "LAP-0007"]).code(),
        0
    );
}
