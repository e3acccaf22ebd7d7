//! The README's exit-code table is true: this test reads the table from README.md and,
//! for every row, runs the real binary in situations that must end with that code, on
//! several commands each (a site without a lab for most; a lab for plan and Ctrl-C).
//! A row without a case here, or a case whose code is not in the table, fails the test.

use std::collections::BTreeMap;
use std::time::Duration;

use deskready::model::Stage;
use deskready::store::{Entry, Store};

use crate::support::{LabSite, SiteCopy, Test};

/// The codes of the README's "### Exit codes" table, with their meaning.
fn readme_codes() -> BTreeMap<i32, String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("\n### Exit codes\n")
        .nth(1)
        .expect("README has an `### Exit codes` section");
    let mut codes = BTreeMap::new();
    for line in section.lines().skip_while(|l| !l.starts_with('|')) {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if let Some(code) = cells
            .get(1)
            .and_then(|c| c.trim_matches('`').parse::<i32>().ok())
        {
            codes.insert(code, cells.get(2).copied().unwrap_or_default().to_string());
        }
    }
    codes
}

/// A site without a lab: its devices' addresses answer nothing, fast.
fn offline_site() -> SiteCopy {
    let site = SiteCopy::example();
    site.test().args(["receive", "LAP-0001"]).success();
    site
}

#[test]
fn every_row_of_the_readme_exit_code_table_holds() {
    let codes = readme_codes();
    assert_eq!(
        codes.keys().copied().collect::<Vec<_>>(),
        [0, 1, 2, 3, 4, 5, 130],
        "{codes:?}"
    );
    let mut checked: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    let mut expect = |code: i32, test: Test, what: &str| {
        assert!(
            codes.contains_key(&code),
            "exit {code} is not in the README table"
        );
        test.code(code);
        checked.entry(code).or_default().push(what.to_string());
    };

    // Without a lab.
    let site = offline_site();
    expect(0, site.test().arg("validate"), "validate of a clean site");
    expect(
        0,
        site.test().args(["audit", "--overdue"]),
        "audit --overdue, none",
    );
    expect(0, site.test().args(["completions", "bash"]), "completions");
    let fast = ["--connect-timeout", "1"];
    expect(
        1,
        site.test().args(["configure", "LAP-0001"]).args(fast),
        "configure, unreachable",
    );
    expect(
        1,
        site.test().args(["plan", "LAP-0001"]).args(fast),
        "plan, unreachable",
    );
    expect(
        5,
        site.test().args(["audit", "LAP-0001"]).args(fast),
        "audit, unreachable",
    );
    expect(
        2,
        site.test().args(["assign", "LAP-0003", "--to", ""]),
        "assign, empty name",
    );
    expect(
        2,
        site.test().args([
            "assign",
            "LAP-0003",
            "--to",
            "Ada Lovelace",
            "--desk",
            "3-14",
        ]),
        "assign, would break the templates",
    );
    expect(
        2,
        site.test().args(["receive", "--scan"]).stdin("LAP-0999\n"),
        "receive --scan, unknown tag",
    );
    expect(
        2,
        site.test().args(["seen", "--scan"]).stdin("LAP-0999\n"),
        "seen --scan, unknown tag",
    );
    expect(
        2,
        site.test().args(["configure", "--dry-run", "LAP-0001"]),
        "unknown option",
    );
    expect(
        2,
        site.test().args(["history", "LAP-9999"]),
        "unknown device",
    );
    expect(
        2,
        Test::new().site(site.file("nowhere")).arg("validate"),
        "validate, no site",
    );
    expect(
        3,
        site.test().args(["receive", "LAP-0001"]),
        "receive, already received",
    );
    expect(
        3,
        site.test().args(["receive", "--scan"]).stdin("LAP-0001\n"),
        "receive --scan, already received",
    );
    expect(
        3,
        site.test().args(["deliver", "LAP-0001"]),
        "deliver, not configured",
    );
    expect(
        3,
        site.test().args(["configure", "LAP-0003"]),
        "configure, never received",
    );
    expect(
        2,
        site.test().args([
            "repair",
            "LAP-0001",
            "--fault",
            "cracked hinge",
            "--cost",
            "120.50",
        ]),
        "repair, a cost without its currency",
    );
    expect(
        3,
        site.test()
            .args(["accept", "LAP-0001", "--by", "Ada Lovelace"]),
        "accept, not delivered",
    );
    let store = Store::open(&site.file(".deskready")).unwrap();
    let mut seen = Entry::new("LAP-0001", "test-csp", "seen")
        .subject("at its place")
        .message("seen at its desk");
    seen.at = deskready::time::rfc3339(jiff::Timestamp::now().as_second() - 400 * 86_400);
    store.record(&[seen]).unwrap();
    expect(
        4,
        site.test().args(["audit", "--overdue"]),
        "audit --overdue, one overdue",
    );
    expect(
        4,
        site.test().args(["audit", "--due"]),
        "audit --due, one overdue",
    );

    // On a lab: plan --exit-code, and Ctrl-C.
    let lab = LabSite::up(SiteCopy::example());
    lab.test().args(["configure", "LAP-0002"]).success();
    expect(
        0,
        lab.test().args(["plan", "--exit-code", "LAP-0002"]),
        "plan --exit-code, converged",
    );
    expect(
        0,
        lab.test().args(["plan", "LAP-0003"]),
        "plan with changes, no --exit-code",
    );
    expect(
        4,
        lab.test().args(["plan", "--exit-code", "LAP-0003"]),
        "plan --exit-code, changes",
    );
    expect(
        4,
        lab.test()
            .args(["plan", "--exit-code", "LAP-0002", "LAP-0003"]),
        "plan --exit-code of a fleet, changes",
    );
    expect(0, lab.test().args(["audit", "LAP-0002"]), "audit, clean");
    lab.site.edit(
        "profiles/laptop-base.yaml",
        "resources:\n",
        "resources:\n  - name: slow step\n    command: sleep 30\n    creates: /etc/deskready-never\n",
    );
    let mut child = lab.spawn(&["configure", "LAP-0003"]);
    lab.wait_for_stage("LAP-0003", Stage::Configuring);
    child.signal(libc::SIGINT);
    child.wait_for_line(Duration::from_secs(10), |l| {
        l.starts_with("Ctrl-C: no further device")
    });
    child.signal(libc::SIGINT);
    let run = child.wait();
    assert_eq!(run.code(), 130, "{}{}", run.stdout(), run.stderr());
    checked
        .entry(130)
        .or_default()
        .push("configure, Ctrl-C twice".into());

    for code in codes.keys() {
        assert!(
            checked.contains_key(code),
            "README row for exit {code} has no case here"
        );
    }
    eprintln!("exit codes checked: {checked:#?}");
}
