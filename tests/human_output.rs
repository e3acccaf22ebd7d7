//! Snapshots of what a CSP reads: validate's located errors, a plan's diffs, an audit's
//! drift, a rollout's recap, a device's history and the fleet's status. The snapshots live
//! in `tests/snapshots/`; review changes with `cargo insta review` or by re-running with
//! `INSTA_UPDATE=always` and reading the diff. Filters (support::snap) replace times, temp
//! paths, durations, lab addresses and ports, so a snapshot is the same on every run.
//!
//! These add to the assertions of the other modules; they do not replace them.

use insta::assert_snapshot;

use crate::support::snap::{realign, settings};
use crate::support::{LabSite, SiteCopy};

#[test]
fn validate_on_a_valid_site() {
    let site = SiteCopy::example();
    let run = site.test().arg("validate").success();
    settings(site.path()).bind(|| assert_snapshot!("validate_ok", run.stdout()));
}

#[test]
fn validate_reports_every_problem_located() {
    let site = SiteCopy::example();
    site.edit(
        "inventory/printers.yaml",
        "kind: print-server",
        "kind: printserver",
    );
    site.edit(
        "inventory/laptops.yaml",
        "    profile: laptop-base\n    assignee: { name: Chen Wei",
        "    profle: laptop-base\n    assignee: { name: Chen Wei",
    );
    site.edit(
        "templates/laptop/owner.conf.tera",
        "{{ location.desk }}",
        "{{ location.desks }}",
    );
    site.edit(
        "profiles/laptop-base.yaml",
        "kinds: [laptop]\n",
        "kinds: [laptop]\nextends: laptop-engineering\n",
    );
    site.edit(
        "profiles/laptop-base.yaml",
        "    template: common/hostname.tera\n    mode: \"0644\"",
        "    template: common/hostname.tera\n    mode: 644",
    );
    site.write("inventory/extra.yaml", "devices:\n  LAP-0100: [1, 2\n");
    let run = site.test().arg("validate").code(2);
    assert_eq!(run.stdout(), "");
    settings(site.path()).bind(|| assert_snapshot!("validate_errors", run.stderr()));
}

#[test]
fn plan_shows_diffs_audit_shows_drift_and_history_tells_it_all() {
    let lab = LabSite::up(SiteCopy::example());
    lab.test().args(["configure", "LAP-0001"]).success();
    lab.ssh(
        "LAP-0001",
        "sed -i 's/3-01/3-42/' /etc/deskready/owner.conf && echo 'queue stray' >> /etc/deskready/printers.conf",
    );
    let plan = lab.test().args(["plan", "LAP-0001"]).success();
    let audit = lab.test().args(["audit", "LAP-0001"]).code(4);
    lab.test().args(["configure", "LAP-0001"]).success();
    lab.test().args(["deliver", "LAP-0001"]).success();
    lab.test()
        .args([
            "--operator",
            "Jo Park",
            "note",
            "LAP-0001",
            "gave her a spare charger",
        ])
        .success();
    let history = lab.test().args(["history", "LAP-0001"]).success();
    settings(lab.site.path()).bind(|| {
        assert_snapshot!("plan_diff", plan.stdout());
        assert_snapshot!("audit_drift", audit.stdout());
        assert_snapshot!("history", history.stdout());
    });
}

#[test]
fn a_rollout_recap_and_the_fleet_status() {
    let site = SiteCopy::example();
    // A window closed now, so the next opening is a date whatever the time of day.
    site.close_laptop_window();
    let mut lab = LabSite::up(site);
    lab.lab.stop_device("LAP-0004").unwrap();
    // One at a time: the event lines come in one order.
    let rollout = lab
        .test()
        .args([
            "configure",
            "--group",
            "floor3",
            "--parallel",
            "1",
            "--connect-timeout",
            "3",
        ])
        .code(1);
    lab.test().args(["deliver", "LAP-0002"]).success();
    lab.test()
        .args(["repair", "LAP-0003", "--reason", "cracked hinge"])
        .success();
    let status = lab
        .test()
        .args(["status", "--group", "floor3"])
        .success()
        .stdout();
    // The unreachable device's error names its address, whose width differs from lab to
    // lab: replaced, and the table re-padded.
    let addr = lab.lab.device("LAP-0004").unwrap().address();
    // The footnotes under the table are not cells.
    let status = status.replace(&addr, "[ADDR]");
    let (rows, notes): (Vec<&str>, Vec<&str>) = status.lines().partition(|l| !l.starts_with('['));
    let status = format!("{}{}\n", realign(&rows.join("\n")), notes.join("\n"));
    settings(lab.site.path()).bind(|| {
        assert_snapshot!("rollout_recap", rollout.stdout());
        assert_snapshot!("status", status);
    });
}
