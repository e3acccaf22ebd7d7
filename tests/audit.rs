//! Audits on the lab: drift with diffs and exit codes, unreachable devices, physical audits
//! due and overdue, and the fleet report rendered by a real headless browser.

use deskready::store::{Entry, Store};

use crate::support::{LabSite, SiteCopy};

#[test]
fn audit_reports_clean_drift_and_unreachable_with_their_exit_codes() {
    let mut lab = LabSite::up(SiteCopy::example());
    for tag in ["LAP-0001", "LAP-0002", "LAP-0003"] {
        assert_eq!(lab.run(&["configure", tag]).code(), 0);
    }
    let clean = lab.run(&["audit", "LAP-0001"]);
    assert_eq!(clean.code(), 0, "{}", clean.stdout());
    assert!(
        clean
            .stdout()
            .contains("LAP-0001: clean (13 of 13 resources as the profile says)"),
        "{}",
        clean.stdout()
    );

    lab.ssh(
        "LAP-0002",
        "sed -i 's/3-02/3-77/' /etc/deskready/owner.conf",
    );
    let drift = lab.run(&["audit", "LAP-0002"]);
    assert_eq!(drift.code(), 4, "{}", drift.stdout());
    let out = drift.stdout();
    assert!(out.contains("  drifted      owner card\n"), "{out}");
    assert!(
        out.contains("-desk      = 3-77\n") && out.contains("+desk      = 3-02\n"),
        "{out}"
    );
    assert!(
        out.contains("LAP-0002: DRIFT: 1 of 13 resources differ from the profile"),
        "{out}"
    );
    // Audit changes nothing.
    assert!(
        lab.ssh("LAP-0002", "cat /etc/deskready/owner.conf")
            .contains("3-77")
    );

    lab.lab.stop_device("LAP-0003").unwrap();
    let gone = lab.run(&[
        "audit",
        "LAP-0001",
        "LAP-0002",
        "LAP-0003",
        "--connect-timeout",
        "3",
    ]);
    assert_eq!(
        gone.code(),
        5,
        "unreachable wins over drift: {}",
        gone.stdout()
    );
    assert!(
        gone.stdout().contains("\nLAP-0003  unreachable "),
        "{}",
        gone.stdout()
    );

    // Each audit is in the journal with its result, time and operator.
    let store = Store::open(&lab.site.file(".deskready")).unwrap();
    let audits: Vec<Entry> = store
        .history("LAP-0002")
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "audit")
        .collect();
    assert_eq!(audits[0].subject.as_deref(), Some("drift"));
    assert_eq!(audits[0].message.as_deref(), Some("drifted: owner card"));
    assert_eq!(audits[0].operator, "test-csp");
    let last = store.latest_of_kind("audit").unwrap();
    let lap3 = last.iter().find(|e| e.tag == "LAP-0003").unwrap();
    assert_eq!(lap3.subject.as_deref(), Some("unreachable"));
}

/// A `seen` entry `days` ago, as if a CSP had walked past then.
fn seen_days_ago(store: &Store, tag: &str, days: i64) {
    let mut e = Entry::new(tag, "test-csp", "seen")
        .subject("at its place")
        .message("seen at its desk");
    let t = jiff::Timestamp::now().as_second() - days * 86_400;
    e.at = deskready::time::rfc3339(t);
    store.record(&[e]).unwrap();
}

#[test]
fn physical_audits_due_and_overdue_follow_the_site_interval() {
    let lab = LabSite::up(SiteCopy::example());
    // The example site: every 180 days, looking 30 days ahead.
    let store = Store::open(&lab.site.file(".deskready")).unwrap();
    seen_days_ago(&store, "LAP-0001", 200); // overdue by 20 days
    seen_days_ago(&store, "LAP-0002", 160); // due in 20 days
    seen_days_ago(&store, "LAP-0003", 10); // fine
    let due: serde_json::Value =
        serde_json::from_str(&lab.run(&["--format", "json", "audit", "--due"]).stdout()).unwrap();
    let listed: Vec<(&str, &str)> = due
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["device"].as_str().unwrap(), p["status"].as_str().unwrap()))
        .collect();
    assert_eq!(listed, [("LAP-0001", "overdue"), ("LAP-0002", "due")]);
    // An overdue audit is a finding (exit 4, as drift is), for cron and monitors.
    let overdue = lab.test().args(["audit", "--overdue"]).code(4);
    let out = overdue.stdout();
    lab.test().args(["audit", "--due"]).code(4);
    assert!(out.contains("LAP-0001  overdue by 20 days"), "{out}");
    assert!(!out.contains("LAP-0002"), "{out}");
    // Times as people read them (local), not RFC 3339.
    let rfc = |w: &str| w.len() == 20 && w.contains('T') && w.ends_with('Z');
    assert!(!out.split_whitespace().any(rfc), "{out}");
    // Named devices, a group or --limit narrow the list; an unknown tag is an error.
    let one = lab.test().args(["audit", "--due", "LAP-0002"]).success();
    assert!(
        one.stdout().contains("LAP-0002  due in 20 days") && !one.stdout().contains("LAP-0001"),
        "{}",
        one.stdout()
    );
    lab.test()
        .args(["audit", "--due", "--group", "floor4"])
        .success()
        .stdout_has("0 devices due or overdue");
    lab.test()
        .args(["audit", "--due", "--all", "--limit", "LAP-0001"])
        .code(4)
        .stdout_has("1 device due or overdue");
    lab.test()
        .args(["audit", "--due", "LAP-9999"])
        .code(2)
        .stderr_has("unknown device `LAP-9999`");
    // Seeing it now clears it; seeing it elsewhere says so.
    lab.test()
        .args(["seen", "LAP-0001", "--desk", "4-10"])
        .output()
        .stdout_is("LAP-0001: seen at desk 4-10; it belongs at desk 3-01\n");
    assert!(
        !lab.test()
            .args(["audit", "--overdue"])
            .success()
            .stdout()
            .contains("LAP-0001")
    );
    // Scan mode, as when walking a floor with a barcode scanner.
    let scan = lab
        .test()
        .args(["seen", "--scan"])
        .stdin("LAP-0002\nLAP-0999\n")
        .code(2)
        .stdout_is("LAP-0002: seen at its desk 3-02\n");
    assert!(
        scan.stderr()
            .starts_with("line 2: unknown device `LAP-0999`"),
        "{}",
        scan.stderr()
    );
    let due: serde_json::Value =
        serde_json::from_str(&lab.run(&["--format", "json", "audit", "--due"]).stdout()).unwrap();
    assert_eq!(due, serde_json::json!([]));
}

#[test]
fn the_html_report_renders_in_a_headless_browser() {
    let lab = LabSite::up(SiteCopy::example());
    for tag in ["LAP-0001", "LAP-0002", "LAP-0006"] {
        assert_eq!(lab.run(&["configure", tag]).code(), 0);
    }
    assert_eq!(lab.run(&["deliver", "LAP-0006"]).code(), 0);
    lab.ssh("LAP-0002", "echo stray >> /etc/deskready/printers.conf");
    assert_eq!(lab.run(&["audit", "LAP-0002"]).code(), 4);
    let store = Store::open(&lab.site.file(".deskready")).unwrap();
    seen_days_ago(&store, "LAP-0001", 400);

    let html = lab.site.file("report.html");
    let run = lab.run(&["report", "--html", html.to_str().unwrap()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert!(
        run.stdout()
            .contains("1 drifted at their last audit; 1 physical audits due or overdue; 0 printers needing attention"),
        "{}",
        run.stdout()
    );
    let json: serde_json::Value =
        serde_json::from_str(&lab.run(&["--format", "json", "report"]).stdout()).unwrap();
    let stages: std::collections::HashMap<String, u64> = json["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s[0].as_str().unwrap().to_string(), s[1].as_u64().unwrap()))
        .collect();
    assert_eq!(stages["configured"], 2);
    assert_eq!(stages["delivered"], 1);
    assert_eq!(json["drifted"][0]["tag"], "LAP-0002");
    // Self-contained: nothing fetched.
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        !page.contains("http://") || !page.contains("src=\"http"),
        "external assets"
    );
    assert!(
        !page.contains("<script") && !page.contains("<link"),
        "external assets"
    );

    // A real browser renders it.
    let profile = tempfile::tempdir().unwrap();
    let shot = lab.site.file("report.png");
    let chrome = |extra: &[&str]| {
        std::process::Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1280,1600",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(format!("file://{}", html.display()))
            .output()
            .expect("chromium (installed by scripts/test)")
    };
    let dom = chrome(&["--dump-dom"]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("<svg id=\"stage-chart\""),
        "no chart in the rendered page"
    );
    assert_eq!(dom.matches("class=\"bar\"").count(), 8, "a bar per stage");
    for id in [
        "drifted",
        "physical-audits",
        "printers",
        "recent",
        "devices",
    ] {
        assert!(
            dom.contains(&format!("<table id=\"{id}\"")),
            "no table {id}"
        );
    }
    assert!(dom.contains("dev-LAP-0006"), "per-device history");
    let out = chrome(&[&format!("--screenshot={}", shot.display())]);
    assert!(
        shot.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Not blank: many distinct colours (text, bars, table borders).
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let bytes = &buf[..info.buffer_size()];
    let step = info.color_type.samples();
    let colours: std::collections::HashSet<&[u8]> = bytes.chunks(step).collect();
    assert!(
        colours.len() > 20,
        "the screenshot looks blank ({} colours)",
        colours.len()
    );
}

/// The `run` of `tag`'s `done` event in an audit's NDJSON.
fn audited_run(events: &[serde_json::Value], tag: &str) -> serde_json::Value {
    events
        .iter()
        .find(|e| e["event"] == "done" && e["device"] == tag)
        .unwrap_or_else(|| panic!("no done event for {tag}: {events:?}"))["run"]
        .clone()
}

#[test]
fn an_audit_reads_software_and_upgrades_in_its_own_program_and_keeps_the_snapshot() {
    use crate::software::{acme_repo, point_at, site_of};
    use crate::support::lab::TestLab;

    let lab = TestLab::full("AUS", 1);
    let a = lab.name(0);
    let repo = acme_repo(&lab);
    point_at(&lab, &a, &repo);
    let site = site_of(&lab);
    site.test().args(["configure", &a]).success();

    // The first audit: one connection, one program; the packages stored as the first
    // snapshot; the upgrades waiting from the index as it is (nothing fetched).
    let reads = repo.requests_for("/InRelease");
    let first = site
        .test()
        .args(["--format", "json", "audit", &a])
        .success()
        .ndjson();
    assert_eq!(repo.requests_for("/InRelease"), reads, "no index refresh");
    let run = audited_run(&first, &a);
    assert_eq!(run["connections"], 1, "{run}");
    assert_eq!(run["channels"], 1, "{run}");
    let sw = &run["software"];
    assert!(sw["packages"].as_u64().unwrap() > 50, "{sw}");
    assert!(sw["previous_at"].is_null(), "its first snapshot: {sw}");
    assert!(sw["index_age"].is_i64(), "{sw}");
    assert_eq!(sw["security"], 1, "{sw}");
    let waiting: Vec<(&str, bool)> = sw["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap(),
                p["security"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(waiting, [("acme-tool", true)]);
    assert!(run["standing"]["last_seen"].is_null(), "{run}");
    assert!(run["standing"]["next_check"].is_string(), "{run}");
    assert_eq!(run["standing"]["overdue"], serde_json::json!([]));

    // `software` compares with the audit's snapshot: nothing changed since.
    site.test()
        .args(["software", &a])
        .success()
        .stdout_has("nothing changed since the last inventory");

    // A package installed by hand: the next audit says it changed, not by deskready, and
    // that acme-extra's newer version waits too.
    lab.ssh(
        &a,
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q acme-extra=1.0-1 >/dev/null",
    );
    let reads = repo.requests_for("/InRelease");
    let second = site.test().args(["audit", &a]).success();
    assert_eq!(repo.requests_for("/InRelease"), reads, "no index refresh");
    let out = second.stdout();
    for needle in [
        "; since the last snapshot (",
        "\n               installed acme-extra 1.0-1 (not by deskready)\n",
        "               not by deskready since the first snapshot (",
        "): installed acme-extra 1.0-1\n",
        "  upgrades     2 waiting, 1 security: acme-tool 1.0-1 → 1.0-2; package index ",
        "  last seen    never (`deskready seen` records it); next physical check due ",
        "  overdue      nothing\n",
        &format!(
            "{a}: clean (1 of 1 resources as the profile says) (1 connection, 1 exec channel, "
        ),
    ] {
        assert!(out.contains(needle), "{needle}:\n{out}");
    }
    // The snapshot and the upgrades waiting are the store's, as `software` and `upgrades`
    // keep them: the fleet as last asked, and the report.
    site.test()
        .args(["software", &a])
        .success()
        .stdout_has("nothing changed since the last inventory");
    site.test()
        .args(["upgrades"])
        .code(4)
        .stdout_has(&format!("1 with security updates ({a})"));
    let report = site
        .test()
        .args(["--format", "json", "report"])
        .success()
        .json();
    let asked = &report["software"]["upgrades"]["devices"][0];
    assert_eq!(asked["device"], a.as_str(), "{report}");
    assert_eq!(asked["pending"].as_array().unwrap().len(), 2, "{asked}");
    assert!(
        report["software"]["packages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "acme-extra"),
        "the report's software is the audit's snapshot"
    );
    // Each device says its own: packages as last listed, upgrades as last asked.
    let device = &report["devices"][0];
    assert_eq!(device["device"], a.as_str());
    assert!(
        device["software"]["packages"].as_u64().unwrap() > 50,
        "{device}"
    );
    assert_eq!(device["upgrades"]["waiting"], 2, "{device}");
    assert_eq!(device["upgrades"]["security"], 1, "{device}");
    let html = site.file("report.html");
    site.test()
        .args(["report", "--html", html.to_str().unwrap()])
        .success();
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<th>Upgrades waiting</th>"), "{page}");
    assert!(page.contains("<td>2, 1 security ("), "{page}");
}

#[test]
fn an_audit_of_a_device_without_dpkg_or_apt_says_so_and_succeeds() {
    use crate::software::site_of;
    use crate::support::lab::TestLab;

    // Light devices see this machine's /usr through an overlay of their own: one loses
    // dpkg-query, the other apt-get.
    let lab = TestLab::new("AUL", 2);
    let (a, b) = (lab.name(0), lab.name(1));
    lab.ssh(&a, "mv /usr/bin/dpkg-query /usr/bin/dpkg-query.off");
    lab.ssh(&b, "mv /usr/bin/apt-get /usr/bin/apt-get.off");
    let site = site_of(&lab);
    // Deliveries are due for acceptance at once.
    site.write(
        "inventory/groups.yaml",
        "settings:\n  accept_within_days: 0\ngroups:\n  floor3:\n    description: Third floor\n",
    );
    site.test().args(["configure", &a, &b]).success();
    site.test()
        .env("DESKREADY_BROWSER", "/bin/false")
        .args(["deliver", &b])
        .success();
    let store = deskready::store::Store::open(&site.file(".deskready")).unwrap();
    seen_days_ago(&store, &a, 400); // the site's default interval: a year

    let out = site.test().args(["audit", &a]).success().stdout();
    for needle in [
        "  software     not read (no dpkg on the device)\n",
        "  last seen    ",
        ": seen at its desk; next physical check due ",
        " (overdue by 35 days)\n",
        "  overdue      physical check, by 35 days\n",
        &format!("{a}: clean (1 of 1 resources as the profile says)"),
    ] {
        assert!(out.contains(needle), "{needle}:\n{out}");
    }
    assert!(
        store.first_software(&a).unwrap().is_none(),
        "nothing stored"
    );
    let out = site.test().args(["audit", &b]).success().stdout();
    for needle in [
        " (its first snapshot)\n",
        "  upgrades     not read (no apt-get on the device)\n",
        "  overdue      acceptance by Ivo Petrov, delivered today\n",
    ] {
        assert!(out.contains(needle), "{needle}:\n{out}");
    }
    assert!(store.first_software(&b).unwrap().is_some());
    // A fleet's listing names what is overdue; JSON says why the software was not read.
    let events = site
        .test()
        .args(["--format", "json", "audit", "--group", "floor3"])
        .success()
        .ndjson();
    let run = audited_run(&events, &a);
    assert_eq!(
        run["software"]["not_read"], "no dpkg on the device",
        "{run}"
    );
    assert_eq!(
        run["standing"]["overdue"],
        serde_json::json!(["physical check, by 35 days"])
    );
    assert_eq!(run["standing"]["check"], "overdue");
    assert!(audited_run(&events, &b)["software"]["pending"].is_null());
    site.test()
        .args(["audit", "--group", "floor3"])
        .success()
        .stdout_has("  overdue      physical check, by 35 days\n");
}

#[test]
fn a_groups_audit_leaves_out_devices_never_received_or_retired_and_says_so() {
    let lab = LabSite::up_unreceived(SiteCopy::example());
    // Of floor 3's five laptops, two are received and one of them is configured, a third
    // is retired, two have not arrived yet.
    lab.test()
        .args(["receive", "--scan"])
        .stdin("LAP-0001\nLAP-0002\nLAP-0004\n")
        .success();
    lab.test().args(["configure", "LAP-0001"]).success();
    lab.test()
        .args([
            "retire",
            "LAP-0004",
            "--reason",
            "broken screen",
            "--skip-device",
        ])
        .success();
    let run = lab
        .test()
        .args(["--format", "json", "audit", "--group", "floor3"])
        .output();
    let audited: Vec<String> = run
        .ndjson()
        .iter()
        .filter(|e| e["event"] == "done")
        .map(|e| e["device"].as_str().unwrap().to_string())
        .collect();
    assert!(
        audited.contains(&"LAP-0001".to_string()) && audited.contains(&"LAP-0002".to_string()),
        "{audited:?}"
    );
    assert!(
        !audited.contains(&"LAP-0003".to_string()) && !audited.contains(&"LAP-0004".to_string()),
        "{audited:?}"
    );
    // In text, the recap is followed by what was left out and why.
    lab.test()
        .args(["audit", "--group", "floor3"])
        .output()
        .stderr_has(
            "left out, not in use: LAP-0003 (never received), LAP-0004 (retired), LAP-0005 (never received)\n",
        );
    // Named, a device is audited whatever its stage.
    let named = lab
        .test()
        .args([
            "--format",
            "json",
            "audit",
            "LAP-0003",
            "--connect-timeout",
            "1",
        ])
        .output();
    assert!(
        named
            .ndjson()
            .iter()
            .any(|e| e["event"] == "done" && e["device"] == "LAP-0003"),
        "{}",
        named.stdout()
    );
}
