//! Software over a device's life, on full lab devices (Debian with systemd and a dpkg of
//! their own) pointed at a signed apt repository the test builds and serves ([`AptRepo`]):
//! a "stable" suite from Acme and a "stable-security" suite from "Acme Security" with a
//! newer version of one package. The inventory matches `dpkg-query` and sees a package
//! installed by hand; `upgrades` finds the newer versions, flags the security one and
//! refreshes the index only with `--refresh`; `upgrade` moves the devices in batches with
//! every change journaled, and a second run changes nothing; a delivered device outside
//! its maintenance window is refused. A scheduled upgrade due now runs once from `schedule
//! run`, and is refused outside its window like one run by hand.

use std::collections::BTreeSet;

use crate::support::SiteCopy;
use crate::support::aptrepo::{AptRepo, Pkg};
use crate::support::lab::TestLab;
use crate::support::site::closed_window;

/// Acme's repository on the lab's own address: acme-tool 1.0-1 (stable) with its security
/// fix 1.0-2 (stable-security), acme-extra 1.0-1 and 1.1-1 (stable).
pub(crate) fn acme_repo(lab: &TestLab) -> AptRepo {
    let host = lab.device(&lab.name(0)).unwrap().host.clone();
    AptRepo::builder()
        .suite(
            "stable",
            "Acme",
            vec![
                Pkg::new("acme-tool", "1.0-1"),
                Pkg::new("acme-extra", "1.0-1"),
                Pkg::new("acme-extra", "1.1-1"),
                Pkg::new("acme-flaky", "1.0-1"),
                flaky("1.1-1"),
            ],
        )
        .suite(
            "stable-security",
            "Acme Security",
            vec![Pkg::new("acme-tool", "1.0-2")],
        )
        .on(&host)
        .serve()
}

/// acme-flaky at `version`, whose configuration fails the first time on a device (its
/// `postinst` exits 1 once), leaving dpkg half-done.
fn flaky(version: &str) -> Pkg {
    let mut p = Pkg::new("acme-flaky", version);
    p.postinst = Some(
        "#!/bin/sh\nif [ \"$1\" = configure ] && [ ! -e /var/lib/acme-flaky-failed ]; then\n\
         touch /var/lib/acme-flaky-failed; echo 'acme-flaky: cannot configure' >&2; exit 1\nfi\nexit 0\n"
            .into(),
    );
    p
}

/// Points device `tag` at `repo` alone (by hand, as a CSP would) and installs acme-tool
/// 1.0-1 from it.
pub(crate) fn point_at(lab: &TestLab, tag: &str, repo: &AptRepo) {
    lab.ssh(
        tag,
        &format!(
            "rm -f /etc/apt/sources.list && mkdir -p /etc/apt/keyrings && \
             cat > /etc/apt/keyrings/acme.asc <<'EOF'\n{key}EOF\n\
             cat > /etc/apt/sources.list.d/acme.sources <<'EOF'\n\
             Types: deb\nURIs: {url}\nSuites: stable stable-security\nComponents: main\n\
             Signed-By: /etc/apt/keyrings/acme.asc\nEOF\n\
             apt-get update -q >/dev/null && \
             DEBIAN_FRONTEND=noninteractive apt-get install -y -q acme-tool=1.0-1 >/dev/null",
            key = repo.key,
            url = repo.url
        ),
    );
}

/// The site: the lab's devices on a profile whose maintenance window is closed now.
pub(crate) fn site_of(lab: &TestLab) -> SiteCopy {
    let site = SiteCopy::empty();
    site.write(
        "profiles/desk.yaml",
        &format!(
            "name: desk\ndescription: A desk computer\nkinds: [laptop]\n{}\
             resources:\n  - directory: /etc/deskready\n    mode: \"0755\"\n",
            closed_window()
        ),
    );
    site.write("templates/handoff.md.tera", "# Your desk computer\n");
    site.write(
        "inventory/groups.yaml",
        "groups:\n  floor3:\n    description: Third floor\n",
    );
    let mut inv = String::from("devices:\n");
    for (i, d) in lab.devices.iter().enumerate() {
        inv.push_str(&format!(
            "  {name}:\n    kind: laptop\n    model: lab\n    serial: S{i}\n    \
             ssh: {{ host: {host}, port: {port}, user: root, identity: {key} }}\n    \
             profile: desk\n    groups: [floor3]\n    \
             assignee: {{ name: Ivo Petrov, username: ipetrov, email: ipetrov@example.org }}\n    \
             location: {{ site: HQ, floor: 3, desk: \"3-2{i}\" }}\n",
            name = d.name,
            host = d.host,
            port = d.port,
            key = lab.key_file.display(),
        ));
    }
    site.write("inventory/lab.yaml", &inv);
    let tags: Vec<String> = lab.devices.iter().map(|d| d.name.clone()).collect();
    site.test()
        .args(["receive", "--scan"])
        .stdin(tags.join("\n"))
        .success();
    site
}

/// What dpkg-query on the device lists as installed: (name, version).
fn dpkg_installed(lab: &TestLab, tag: &str) -> BTreeSet<(String, String)> {
    lab.ssh(
        tag,
        "dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Version}\\n'",
    )
    .lines()
    .filter(|l| l.starts_with("ii ") || l.starts_with("hi "))
    .map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        (w[1].to_string(), w[2].to_string())
    })
    .collect()
}

fn version_of(lab: &TestLab, tag: &str, package: &str) -> String {
    lab.ssh(
        tag,
        &format!("dpkg-query -W -f='${{Version}}' {package} 2>/dev/null || true"),
    )
}

/// The messages of `tag`'s journal rows of kind `software` about packages.
fn software_rows(site: &SiteCopy, tag: &str) -> Vec<String> {
    let h = site
        .test()
        .args(["--format", "json", "history", tag])
        .success()
        .json();
    h["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "software" && e["run_id"].is_i64())
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn software_is_listed_upgrades_are_found_and_rolled_out_in_batches() {
    let lab = TestLab::full("SW", 2);
    let (a, b) = (lab.name(0), lab.name(1));
    let repo = acme_repo(&lab);
    point_at(&lab, &a, &repo);
    point_at(&lab, &b, &repo);
    let site = site_of(&lab);

    // The inventory lists what dpkg-query lists, with where apt has each from.
    let first = site
        .test()
        .args(["--format", "json", "software", &a])
        .success()
        .json();
    let listed: BTreeSet<(String, String)> = first[0]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(listed, dpkg_installed(&lab, &a));
    let tool = first[0]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "acme-tool")
        .unwrap()
        .clone();
    assert_eq!(tool["version"], "1.0-1");
    assert_eq!(tool["origin"], "stable");
    assert!(first[0]["previous_at"].is_null(), "its first inventory");

    // A package installed by hand, not by deskready, shows as a change.
    lab.ssh(
        &a,
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q acme-extra=1.0-1 >/dev/null",
    );
    site.test()
        .args(["software", &a])
        .success()
        .stdout_has("since the last inventory (")
        .stdout_has("\n  installed acme-extra 1.0-1 (not by deskready)\n");

    // Pending upgrades, from the index as it is: nothing is fetched.
    let reads = repo.requests_for("/InRelease");
    let found = site
        .test()
        .args(["--format", "json", "upgrades", "--group", "floor3"])
        .code(4)
        .json();
    assert_eq!(repo.requests_for("/InRelease"), reads, "no refresh");
    let of = |tag: &str| {
        found["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["device"] == tag)
            .unwrap()
            .clone()
    };
    let pending_a = of(&a)["pending"].as_array().unwrap().clone();
    let said: Vec<(String, String, String, bool)> = pending_a
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().into(),
                p["current"].as_str().unwrap().into(),
                p["candidate"].as_str().unwrap().into(),
                p["security"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        said,
        [
            ("acme-extra".into(), "1.0-1".into(), "1.1-1".into(), false),
            ("acme-tool".into(), "1.0-1".into(), "1.0-2".into(), true),
        ]
    );
    assert!(
        pending_a[1]["from"]
            .as_str()
            .unwrap()
            .contains("stable-security")
    );
    assert!(of(&a)["index_age"].is_i64(), "{}", of(&a));
    assert_eq!(of(&b)["pending"].as_array().unwrap().len(), 1);
    assert_eq!(found["with_security"], serde_json::json!([a, b]));
    // --refresh reads the index again.
    site.test()
        .args(["upgrades", &a, "--refresh"])
        .code(4)
        .stdout_has("acme-tool")
        .stdout_has("with security updates");
    assert!(repo.requests_for("/InRelease") > reads, "refreshed");
    // Without devices: what they said when last asked.
    site.test()
        .args(["upgrades"])
        .code(4)
        .stdout_has(&format!("2 with security updates ({a}, {b})"));

    // Security updates only, on one device: a scheduled job due now, run once.
    site.test()
        .args([
            "schedule",
            "add",
            &format!("upgrade {a} --security-only"),
            "--at",
            "now",
        ])
        .success();
    let ran = site.test().args(["schedule", "run"]).success();
    assert!(
        ran.stdout().contains("upgraded acme-tool 1.0-1 → 1.0-2")
            && ran.stdout().contains("job 1: succeeded (exit 0, run "),
        "{}",
        ran.stdout()
    );
    site.test()
        .args(["schedule", "run"])
        .success()
        .stdout_is("no job is due\n");
    assert_eq!(version_of(&lab, &a, "acme-tool"), "1.0-2");
    assert_eq!(version_of(&lab, &a, "acme-extra"), "1.0-1");

    // The rest, in batches of one.
    let run = site
        .test()
        .args(["upgrade", "--group", "floor3", "--batch", "1"])
        .success();
    for needle in [
        "in 2 batches (1, 1)",
        "batch 2: 1 device",
        "2 devices: 0 ok, 2 changed",
    ] {
        assert!(run.stdout().contains(needle), "{needle}: {}", run.stdout());
    }
    assert_eq!(version_of(&lab, &a, "acme-extra"), "1.1-1");
    assert_eq!(version_of(&lab, &b, "acme-tool"), "1.0-2");
    // Every version change is in the device's journal.
    assert_eq!(
        software_rows(&site, &a),
        [
            "upgraded acme-tool 1.0-1 → 1.0-2",
            "upgraded acme-extra 1.0-1 → 1.1-1"
        ]
    );
    assert_eq!(
        software_rows(&site, &b),
        ["upgraded acme-tool 1.0-1 → 1.0-2"]
    );
    site.test()
        .args(["history", &a])
        .success()
        .stdout_has("upgraded acme-extra 1.0-1 → 1.1-1");

    // A second run changes nothing.
    site.test()
        .args(["upgrade", "--group", "floor3", "--batch", "1"])
        .success()
        .stdout_has("2 devices: 2 ok, 0 changed");
    assert_eq!(software_rows(&site, &a).len(), 2);
    assert_eq!(software_rows(&site, &b).len(), 1);

    // The inventory says deskready made those changes.
    let inv = site.test().args(["software", &a]).success();
    assert!(
        inv.stdout()
            .contains("  upgraded acme-tool 1.0-1 → 1.0-2 (by deskready upgrade (run "),
        "{}",
        inv.stdout()
    );
    // Looked at again: nothing changed, and no second copy of the same list is kept.
    let store = deskready::store::Store::open(&site.file(".deskready")).unwrap();
    let kept = store.software_snapshots(&a, 10).unwrap().len();
    site.test()
        .args(["software", &a])
        .success()
        .stdout_has(" packages; nothing changed since the last inventory (");
    assert_eq!(store.software_snapshots(&a, 10).unwrap().len(), kept);
    assert_eq!(kept, 3, "the first list, the one by hand, the one upgraded");

    // The report's software section: per package, how many devices and which versions.
    let report = site
        .test()
        .args(["--format", "json", "report"])
        .success()
        .json();
    let extra = report["software"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "acme-extra")
        .unwrap()
        .clone();
    assert_eq!(extra["devices"], 1);
    assert_eq!(extra["versions"], serde_json::json!([["1.1-1", 1]]));
    let html = site.file("fleet.html");
    site.test()
        .args(["report", "--html", html.to_str().unwrap()])
        .success();
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<table id=\"software\">"), "{page}");
    assert!(page.contains("id=\"upgrades-summary\""), "{page}");

    // An upgrade that fails leaves dpkg healthy, and says so; --resume redoes it.
    lab.ssh(
        &a,
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q acme-flaky=1.0-1 >/dev/null",
    );
    let failed = site
        .test()
        .args(["upgrade", &a, "--packages", "acme-flaky"])
        .code(1);
    assert!(
        failed
            .stdout()
            .contains("FAILED: apt-get upgrade failed on ")
            && failed
                .stdout()
                .contains("dpkg was mended (dpkg --configure -a)"),
        "{}",
        failed.stdout()
    );
    assert_eq!(lab.ssh(&a, "dpkg --audit"), "", "dpkg is healthy");
    assert_eq!(version_of(&lab, &a, "acme-flaky"), "1.1-1");
    let journal = site.test().args(["history", &a]).success();
    assert!(
        journal
            .stdout()
            .contains("the upgrade left dpkg half-done (")
            && journal
                .stdout()
                .contains("upgraded acme-flaky 1.0-1 → 1.1-1"),
        "{}",
        journal.stdout()
    );
    site.test()
        .args(["upgrade", "--resume"])
        .success()
        .stdout_has("nothing to upgrade");
    site.test()
        .args(["upgrade", "--resume"])
        .success()
        .stdout_has("nothing to resume");

    // A delivered device is upgraded only in its maintenance window.
    site.test().args(["configure", &b]).success();
    site.test().args(["deliver", &b]).success();
    let refused = site.test().args(["upgrade", &b]).code(3);
    assert!(
        refused.stderr().starts_with(&format!(
            "refused: {b} is at its desk (delivered) and outside its maintenance window ("
        )),
        "{}",
        refused.stderr()
    );
    // Scheduled, it is refused the same way, and the schedule says so.
    site.test()
        .args(["schedule", "add", &format!("upgrade {b}"), "--at", "now"])
        .success();
    let ran = site.test().args(["schedule", "run"]).code(3);
    assert!(
        ran.stdout().contains("job 2: refused (exit 3, run "),
        "{}",
        ran.stdout()
    );
    let listed = site
        .test()
        .args(["--format", "json", "schedule", "list"])
        .success()
        .json();
    assert_eq!(listed[1]["last_run"]["outcome"], "refused", "{listed}");
}

#[test]
fn package_names_are_checked_before_anything_runs() {
    let site = SiteCopy::empty();
    let run = site
        .test()
        .args(["upgrade", "--all", "--packages", "acme-vpn,x;reboot"])
        .code(2);
    assert!(
        run.stderr()
            .contains("--packages: `x;reboot` is not a Debian package name"),
        "{}",
        run.stderr()
    );
}

/// acme-slow at `version`, whose configuration waits while /run/acme-slow-hold exists, so
/// that an upgrade to it is cut off half-way.
fn slow(version: &str) -> Pkg {
    let mut p = Pkg::new("acme-slow", version);
    p.postinst =
        Some("#!/bin/sh\nwhile [ -e /run/acme-slow-hold ]; do sleep 0.2; done\nexit 0\n".into());
    p
}

/// Lets acme-slow's configuration go on on `tag`, and waits until no dpkg runs there (one
/// an upgrade cut off had started is ended with it; another apt's goes on).
fn release_slow(lab: &TestLab, tag: &str) {
    lab.ssh(tag, "rm -f /run/acme-slow-hold");
    let done = crate::support::poll(
        std::time::Duration::from_secs(60),
        std::time::Duration::from_millis(200),
        || {
            let said = lab.ssh(
                tag,
                "cat /proc/[0-9]*/comm 2>/dev/null | grep -qx -e dpkg -e apt-get && echo busy; true",
            );
            said.trim().is_empty().then_some(())
        },
    );
    assert!(done.is_some(), "dpkg still runs on {tag}");
}

/// `tag`'s journal rows of its upgrades' version changes.
fn version_rows(site: &SiteCopy, tag: &str) -> Vec<String> {
    software_rows(site, tag)
        .into_iter()
        .filter(|m| m.starts_with("upgraded "))
        .collect()
}

#[test]
fn an_upgrade_cut_off_still_has_its_changes_journaled_as_its_own() {
    let lab = TestLab::full("SX", 1);
    let a = lab.name(0);
    let host = lab.device(&a).unwrap().host.clone();
    let repo = AptRepo::builder()
        .suite(
            "stable",
            "Acme",
            vec![Pkg::new("acme-slow", "1.0-1"), slow("1.1-1")],
        )
        .suite(
            "stable-security",
            "Acme Security",
            vec![Pkg::new("acme-tool", "1.0-1")],
        )
        .on(&host)
        .serve();
    point_at(&lab, &a, &repo);
    lab.ssh(
        &a,
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q acme-slow=1.0-1 >/dev/null",
    );
    let site = site_of(&lab);
    site.test().args(["software", &a]).success();

    // The upgrade's program is killed at its deadline while acme-slow is configured.
    lab.ssh(&a, "touch /run/acme-slow-hold");
    let cut = site
        .test()
        .args([
            "upgrade",
            &a,
            "--packages",
            "acme-slow",
            "--command-timeout",
            "15",
        ])
        .code(1);
    assert!(cut.stdout().contains("FAILED"), "{}", cut.stdout());
    assert_eq!(
        version_of(&lab, &a, "acme-slow"),
        "1.1-1",
        "unpacked before the cut"
    );
    release_slow(&lab, &a);

    // The next inventory finds the change, and it is the cut-off run's.
    let inv = site.test().args(["software", &a]).success();
    assert!(
        inv.stdout()
            .contains("  upgraded acme-slow 1.0-1 → 1.1-1 (by deskready upgrade (run 1, "),
        "{}",
        inv.stdout()
    );
    assert_eq!(
        version_rows(&site, &a),
        ["upgraded acme-slow 1.0-1 → 1.1-1"]
    );
    site.test()
        .args(["history", &a])
        .success()
        .stdout_has("upgrade interrupted: run 1 was cut off before its end (started ");

    // The next upgrade mends dpkg and journals nothing twice.
    site.test()
        .args(["upgrade", &a, "--packages", "acme-slow"])
        .success();
    assert_eq!(lab.ssh(&a, "dpkg --audit"), "", "dpkg is healthy");
    assert_eq!(
        version_rows(&site, &a),
        ["upgraded acme-slow 1.0-1 → 1.1-1"]
    );

    // Cut off again, the next upgrade journals it first.
    lab.ssh(
        &a,
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades acme-slow=1.0-1 >/dev/null",
    );
    site.test().args(["software", &a]).success();
    lab.ssh(&a, "touch /run/acme-slow-hold");
    site.test()
        .args([
            "upgrade",
            &a,
            "--packages",
            "acme-slow",
            "--command-timeout",
            "15",
        ])
        .code(1);
    release_slow(&lab, &a);
    site.test()
        .args(["upgrade", &a, "--packages", "acme-slow"])
        .success();
    let rows = version_rows(&site, &a);
    assert_eq!(
        rows,
        [
            "upgraded acme-slow 1.0-1 → 1.1-1",
            "upgraded acme-slow 1.0-1 → 1.1-1"
        ],
        "the second cut-off run's change, journaled once"
    );

    // Another apt at work on the device (dpkg's lock held): the upgrade fails naming it,
    // mends nothing under it and changes nothing.
    lab.ssh(
        &a,
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades acme-slow=1.0-1 >/dev/null",
    );
    lab.ssh(
        &a,
        "touch /run/acme-slow-hold && (DEBIAN_FRONTEND=noninteractive setsid apt-get install -y -q acme-slow=1.1-1 \
         </dev/null >/dev/null 2>&1 &)",
    );
    let busy = crate::support::poll(
        std::time::Duration::from_secs(60),
        std::time::Duration::from_millis(200),
        || {
            let s = lab.ssh(
                &a,
                "cat /proc/[0-9]*/comm 2>/dev/null | grep -x acme-slow.posti; true",
            );
            (!s.trim().is_empty()).then_some(())
        },
    );
    assert!(busy.is_some(), "the other apt did not start");
    let before = version_rows(&site, &a).len();
    let held = site
        .test()
        .args(["upgrade", &a, "--packages", "acme-slow"])
        .code(1);
    assert!(
        held.stdout().contains("It is held by process ")
            && held
                .stdout()
                .contains("dpkg is busy: another process holds its lock")
            && !held.stdout().contains("half-done"),
        "{}",
        held.stdout()
    );
    release_slow(&lab, &a);
    site.test()
        .args(["history", &a])
        .success()
        .stdout_has("dpkg is busy before the upgrade: another process holds its lock");
    assert_eq!(
        version_rows(&site, &a).len(),
        before,
        "nothing changed under it"
    );

    // A broken apt source: `upgrades` says so instead of "nothing waits", and so does an
    // upgrade of the security updates.
    lab.ssh(
        &a,
        "echo 'deb broken' > /etc/apt/sources.list.d/broken.list",
    );
    let said = site.test().args(["upgrades", &a]).code(1);
    let both = format!("{}{}", said.stdout(), said.stderr());
    assert!(
        both.contains(&format!("apt cannot say what it would upgrade on {a}: E: ")),
        "{both}"
    );
    let sec = site.test().args(["upgrade", &a, "--security-only"]).code(1);
    assert!(sec.stdout().contains("Malformed"), "{}", sec.stdout());
    // A source that cannot be fetched is a failed refresh (apt-get only warns).
    lab.ssh(
        &a,
        "echo 'deb [trusted=yes] http://127.0.0.1:9/ nowhere main' > /etc/apt/sources.list.d/broken.list",
    );
    let refresh = site.test().args(["upgrades", &a, "--refresh"]).code(1);
    let both = format!("{}{}", refresh.stdout(), refresh.stderr());
    assert!(
        both.contains("refreshing the package index failed"),
        "{both}"
    );
    // The summary says it failed, with what apt said when the row shows the old index's
    // upgrades.
    let summary = refresh.stdout().lines().last().unwrap_or("").to_string();
    assert!(summary.contains(&format!("; failed: {a}")), "{summary}");
    if !summary.contains(" 0 with upgrades waiting") {
        assert!(
            summary.contains(
                "refreshing the package index failed (the upgrades listed are the old index's): "
            ),
            "{summary}"
        );
    }
}

#[test]
fn an_upgrade_cut_off_in_a_hung_maintainer_script_leaves_nothing_running() {
    let lab = TestLab::full("SH", 1);
    let a = lab.name(0);
    let host = lab.device(&a).unwrap().host.clone();
    let hang = Pkg::hanging("acme-hang", "1.1-1");
    let repo = AptRepo::builder()
        .suite(
            "stable",
            "Acme",
            vec![Pkg::new("acme-hang", "1.0-1"), hang.clone()],
        )
        .suite(
            "stable-security",
            "Acme Security",
            vec![Pkg::new("acme-tool", "1.0-1")],
        )
        .on(&host)
        .serve();
    point_at(&lab, &a, &repo);
    lab.ssh(
        &a,
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q acme-hang=1.0-1 >/dev/null",
    );
    let site = site_of(&lab);
    site.test().args(["software", &a]).success();

    // apt runs dpkg, and dpkg the postinst, in a session of their own: the command timeout
    // ends them with the program all the same.
    let started = std::time::Instant::now();
    let cut = site
        .test()
        .args([
            "upgrade",
            &a,
            "--packages",
            "acme-hang",
            "--command-timeout",
            "30",
        ])
        .code(1);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    assert!(
        cut.stdout().contains(" did not finish within 30s"),
        "{}",
        cut.stdout()
    );
    assert_eq!(
        lab.ssh(&a, "ls /var/lib/acme-hang-hung"),
        "/var/lib/acme-hang-hung\n",
        "cut off while the postinst hung"
    );
    let ended = crate::support::poll(
        std::time::Duration::from_secs(15),
        std::time::Duration::from_millis(200),
        || hang.still_at_work(&lab, &a).trim().is_empty().then_some(()),
    );
    assert!(
        ended.is_some(),
        "still running on {a} after the cut:\n{}",
        hang.still_at_work(&lab, &a)
    );
    // dpkg's locks are free: dpkg itself takes them (and then has nothing to remove).
    lab.ssh(&a, "dpkg --remove acme-never-installed 2>/dev/null");
    assert_eq!(version_of(&lab, &a, "acme-hang"), "1.1-1", "unpacked");

    // What the cut run changed is still its own; the next upgrade mends dpkg and works.
    site.test()
        .args(["software", &a])
        .success()
        .stdout_has("  upgraded acme-hang 1.0-1 → 1.1-1 (by deskready upgrade (run 1, ");
    let next = site
        .test()
        .args(["upgrade", &a, "--packages", "acme-hang"])
        .success();
    assert!(!next.stdout().contains("busy"), "{}", next.stdout());
    site.test()
        .args(["history", &a])
        .success()
        .stdout_has("dpkg was left half-done (")
        .stdout_has("`dpkg --configure -a` finished it before the upgrade");
    assert_eq!(lab.ssh(&a, "dpkg --audit"), "", "dpkg is healthy");
    assert_eq!(
        lab.ssh(
            &a,
            "dpkg-query -W -f='${db:Status-Abbrev}${Version}' acme-hang"
        ),
        "ii 1.1-1"
    );
    assert_eq!(
        version_rows(&site, &a),
        ["upgraded acme-hang 1.0-1 → 1.1-1"]
    );
}
