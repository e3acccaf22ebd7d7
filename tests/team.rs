//! A team on one fleet: two CSPs, each with a checkout of the same site on a machine of
//! their own (`DESKREADY_MACHINE`), sharing one PostgreSQL store (a private cluster started
//! by the test), configuring real lab devices. What one does, the other sees at once;
//! a device one holds is refused to the other naming who; a lease whose holder died is
//! taken over once it expires.

use std::time::Duration;

use deskready::lab::Cluster;

use crate::support::site::tempdir;
use crate::support::{LabSite, SiteCopy, Test, wait_until};

/// One CSP: their checkout, name, machine and the team store.
struct Csp<'a> {
    site: &'a std::path::Path,
    name: &'a str,
    machine: &'a str,
    store: &'a str,
}

impl Csp<'_> {
    fn test(&self) -> Test {
        Test::new()
            .site(self.site)
            .env("DESKREADY_STORE", self.store)
            .env("DESKREADY_OPERATOR", self.name)
            .env("DESKREADY_MACHINE", self.machine)
            .env("DESKREADY_LEASE_SECS", "3")
    }

    fn run(&self, args: &[&str]) -> crate::support::Run {
        self.test().args(args).success()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        self.test()
            .args(["--format", "json"])
            .args(args)
            .success()
            .json()
    }
}

/// The stage `tag` has in `status --format json`.
fn stage_of(csp: &Csp<'_>, tag: &str) -> Option<String> {
    let status = csp.json(&["status"]);
    let devices = status.as_array().cloned().unwrap_or_default();
    devices
        .iter()
        .find(|d| d["device"] == tag)
        .and_then(|d| d["stage"].as_str().map(str::to_string))
}

/// A second checkout of `site`: its reviewed files, not its `.deskready/`.
fn checkout(site: &std::path::Path) -> tempfile::TempDir {
    let dir = tempdir();
    for sub in ["profiles", "templates", "inventory"] {
        let out = std::process::Command::new("cp")
            .arg("-r")
            .arg(site.join(sub))
            .arg(dir.path().join(sub))
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    dir
}

#[test]
fn two_csps_on_two_checkouts_share_one_postgres_store() {
    let cluster = Cluster::start().unwrap();
    let url = cluster.url();
    let lab = LabSite::up_unreceived(SiteCopy::slow_example());
    let other = checkout(lab.site.path());
    let ana = Csp {
        site: lab.site.path(),
        name: "ana",
        machine: "ana-laptop",
        store: &url,
    };
    let bo = Csp {
        site: other.path(),
        name: "bo",
        machine: "bo-laptop",
        store: &url,
    };
    let (d1, d2) = (lab.lab.name(0), lab.lab.name(1));

    // Receive on one, seen on the other.
    ana.run(&["receive", &d1]);
    ana.run(&["receive", &d2]);
    assert_eq!(stage_of(&bo, &d1).as_deref(), Some("received"));
    let history = bo.run(&["history", &d1]).stdout();
    assert!(history.contains("ana"), "{history}");

    // A device no file declares, received by bo: a receipt in the store, no YAML written.
    // One that would not render (no profile) is refused as a file's receipt is.
    let refused = bo
        .test()
        .args([
            "receive",
            "LAP-9001",
            "--serial",
            "SN9001",
            "--model",
            "ThinkPad T14",
            "--kind",
            "laptop",
        ])
        .output();
    assert_eq!(refused.code(), 2, "{}", refused.stderr());
    assert!(
        refused.stderr().contains("LAP-9001 has no profile"),
        "{}",
        refused.stderr()
    );
    assert_eq!(stage_of(&ana, "LAP-9001"), None);
    let csv = other.path().join("delivery.csv");
    // With it, a declared device whose packing-list row gives a warranty its inventory
    // entry lacks: kept in the store's assignments, seen by the other CSP.
    let d3 = lab.lab.name(2);
    let devices = bo.json(&["devices"]);
    let third = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["tag"] == d3.as_str())
        .unwrap()
        .clone();
    assert!(third.get("warranty_until").is_none(), "{third}");
    std::fs::write(
        &csv,
        format!(
            "asset_tag,serial,model,kind,profile,assignee,email,site,floor,desk,warranty_until
             LAP-9001,SN9001,ThinkPad T14,laptop,laptop-base,Ana Lima,ana@example.org,HQ,3,3-30,
             {d3},{},{},{},,,,,,,2029-06-30
",
            third["serial"].as_str().unwrap(),
            third["model"].as_str().unwrap(),
            third["kind"].as_str().unwrap()
        ),
    )
    .unwrap();
    bo.run(&["receive", "--csv", csv.to_str().unwrap()]);
    assert!(!other.path().join("inventory/received.yaml").exists());
    assert!(!other.path().join("inventory/assignments.yaml").exists());
    let warranty = |csp: &Csp<'_>| {
        csp.json(&["devices"])
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["tag"] == d3.as_str())
            .unwrap()["warranty_until"]
            .clone()
    };
    assert_eq!(warranty(&ana), "2029-06-30");
    let history = ana.run(&["history", &d3]).stdout();
    assert!(
        history.contains(
            "warranty_until 2029-06-30 (warranty_until kept in the team store's assignments)"
        ),
        "{history}"
    );
    // Assigned and then its assignment changed: the warranty stays.
    ana.run(&[
        "assign",
        &d3,
        "--to",
        "Bea Sousa",
        "--desk",
        "3-31",
        "--email",
        "bsousa@example.org",
    ]);
    ana.run(&["assign", &d3, "--desk", "3-32"]);
    assert_eq!(warranty(&bo), "2029-06-30");
    // Its profile changed by the other CSP, in the store's receipt.
    ana.run(&["set-profile", "LAP-9001", "laptop-engineering"]);
    assert!(!lab.site.file("inventory/received.yaml").exists());
    let devices = ana.json(&["devices"]);
    assert!(
        devices
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["tag"] == "LAP-9001"),
        "{devices}"
    );

    // Assign on one: the other's site has the assignee, without a git merge.
    ana.run(&[
        "assign",
        &d1,
        "--to",
        "Ada Lovelace",
        "--desk",
        "4-12",
        "--email",
        "ada@example.org",
    ]);
    assert!(!lab.site.file("inventory/assignments.yaml").exists());
    let devices = bo.json(&["devices"]);
    let dev = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["tag"] == d1.as_str())
        .unwrap()
        .clone();
    assert!(dev.to_string().contains("Ada Lovelace"), "{dev}");

    // Configure and deliver on one, seen by status and history on the other.
    ana.run(&["configure", &d1, "--var", "nap=0"]);
    assert_eq!(stage_of(&bo, &d1).as_deref(), Some("configured"));
    ana.run(&["deliver", &d1]);
    assert_eq!(stage_of(&bo, &d1).as_deref(), Some("delivered"));
    let history = bo.run(&["history", &d1]).stdout();
    for word in ["received", "assigned", "configured", "delivered"] {
        assert!(history.contains(word), "{word} in {history}");
    }

    // A configure of a device the other holds is refused, naming who, also after the
    // holder's lease time has passed several times (renewed while the work runs).
    let running = ana
        .test()
        .args(["configure", &d2, "--var", "nap=60"])
        .spawn();
    wait_until("ana holds the device", Duration::from_secs(60), || {
        let locks = bo.json(&["locks"]);
        locks["locks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["device"] == d2.as_str() && l["operator"] == "ana")
            .then_some(())
    });
    let started = std::time::Instant::now();
    wait_until("two lease times", Duration::from_secs(30), || {
        (started.elapsed() > Duration::from_secs(7)).then_some(())
    });
    let refused = bo
        .test()
        .args(["configure", &d2, "--var", "nap=0"])
        .output();
    let err = refused.stderr();
    assert!(
        err.contains(&format!(
            "{d2} is being configured by ana on ana-laptop (pid {})",
            running.id()
        )),
        "exit {}: {err}",
        refused.code()
    );

    // Ana's machine dies: the lease is no longer renewed, expires, and bo takes over.
    running.signal(libc::SIGKILL);
    let _ = running.wait();
    wait_until(
        "the lease to expire and bo to take over",
        Duration::from_secs(60),
        || {
            let run = bo
                .test()
                .args(["configure", &d2, "--var", "nap=0"])
                .output();
            (run.code() == 0).then_some(())
        },
    );
    assert_eq!(stage_of(&ana, &d2).as_deref(), Some("configured"));
    let history = ana.run(&["history", &d2]).stdout();
    assert!(
        history.contains("stopped renewing its lease")
            || history.contains("took over the lease of ana on ana-laptop"),
        "{history}"
    );

    // The store's receipts and assignments, exported as YAML for review.
    let out = tempdir();
    bo.run(&["export", "--dir", out.path().to_str().unwrap()]);
    let received = std::fs::read_to_string(out.path().join("inventory/received.yaml")).unwrap();
    assert!(
        received.contains("LAP-9001")
            && received.contains("SN9001")
            && received.contains("laptop-engineering"),
        "{received}"
    );
    let assigned = std::fs::read_to_string(out.path().join("inventory/assignments.yaml")).unwrap();
    assert!(assigned.contains("Ada Lovelace"), "{assigned}");
}

#[test]
fn a_site_moves_to_a_team_store_with_every_row_and_its_setting_names_no_password() {
    let cluster = Cluster::start().unwrap();
    let url = cluster.url();
    let site = SiteCopy::example();
    // One CSP on the embedded store: a receipt (a new device must render, so it comes
    // with its person and place), an assignment, a note.
    let csv = site.path().join("delivery.csv");
    std::fs::write(
        &csv,
        "asset_tag,serial,model,kind,profile,assignee,email,site,floor,desk
         LAP-9001,SN9001,ThinkPad T14,laptop,laptop-base,Ana Lima,ana@example.org,HQ,3,3-30
",
    )
    .unwrap();
    site.run(&["receive", "--csv", csv.to_str().unwrap()]);
    site.run(&[
        "assign",
        "LAP-9001",
        "--to",
        "Ada Lovelace",
        "--desk",
        "4-12",
        "--email",
        "ada@example.org",
    ]);
    site.run(&["note", "LAP-9001", "sticker on the lid"]);
    assert!(site.file("inventory/received.yaml").exists());

    let copied = site.run(&["store", "copy", "--to", &url]).stdout();
    assert!(copied.contains("every row is there"), "{copied}");
    assert!(copied.contains(&format!("store: {url}")), "{copied}");
    let again = site
        .test()
        .args(["store", "copy", "--to", &url])
        .failure()
        .stderr();
    assert!(again.contains("is not empty"), "{again}");

    // The site switches by its setting; the two files are no longer read.
    let groups = site.read("inventory/groups.yaml");
    let with_store = |url: &str| {
        groups.replacen(
            "settings:\n",
            &format!("settings:\n  store: \"{url}\"\n"),
            1,
        )
    };
    site.write("inventory/groups.yaml", &with_store(&url));
    std::fs::remove_file(site.file("inventory/received.yaml")).unwrap();
    std::fs::remove_file(site.file("inventory/assignments.yaml")).unwrap();
    let history = site.run(&["history", "LAP-9001"]).stdout();
    for word in ["received", "assigned", "sticker on the lid"] {
        assert!(history.contains(word), "{word} in {history}");
    }
    let devices = site
        .test()
        .args(["--format", "json", "devices"])
        .success()
        .json();
    let dev = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["tag"] == "LAP-9001")
        .cloned()
        .unwrap();
    assert!(dev.to_string().contains("Ada Lovelace"), "{dev}");

    // A password in the site's setting is refused, and never shown.
    site.write(
        "inventory/groups.yaml",
        &with_store("postgres://deskready:hunter2@db.example/fleet"),
    );
    let err = site.test().args(["validate"]).failure().stderr();
    assert!(err.contains("holds a password"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}
