//! plan and configure against real sshd devices in a lab the test brings up itself.

use std::time::{Duration, SystemTime};

use crate::support::{LabSite, Run, SiteCopy, ssh, wait_until};

/// The device's run from `--format json` output: the `run` of its `done` event (NDJSON).
fn json(run: &Run) -> serde_json::Value {
    let out = run.stdout();
    for line in out.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if v["event"] == "done" {
            return v["run"].clone();
        }
    }
    panic!("no done event in: {out}{}", run.stderr());
}

fn statuses(v: &serde_json::Value) -> Vec<(String, String)> {
    v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn configure_a_laptop_then_rerun_changes_nothing_then_plan_finds_a_hand_edit() {
    let lab = LabSite::up(SiteCopy::example());
    let first = lab.run(&["--format", "json", "configure", "LAP-0001"]);
    assert_eq!(first.code(), 0, "{}{}", first.stdout(), first.stderr());
    let v = json(&first);
    assert_eq!(v["outcome"], "changed");
    assert!(
        statuses(&v)
            .iter()
            .any(|(n, s)| n == "owner card" && s == "changed")
    );
    assert_eq!(v["verify"].as_array().unwrap().len(), 3);
    assert!(
        v["verify"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["passed"] == true),
        "{v:#}"
    );
    // What the profile said is on the device.
    let card = lab.ssh("LAP-0001", "cat /etc/deskready/owner.conf");
    assert!(
        card.contains("owner     = Amira Haddad\n") && card.contains("desk      = 3-01\n"),
        "{card}"
    );
    assert_eq!(lab.ssh("LAP-0001", "cat /etc/hostname"), "lap-0001\n");
    assert!(lab.ssh("LAP-0001", "id ahaddad").contains("ahaddad"));
    assert_eq!(lab.ssh("LAP-0001", "stat -c %a /opt/engineering"), "775\n");
    let mtimes =
        "stat -c '%n %Y.%y' /etc/hostname /etc/deskready/owner.conf /etc/gitconfig /etc/issue.net";
    let before = lab.ssh("LAP-0001", mtimes);

    // Second run: nothing to change, and nothing rewritten. Once a file written now gets a
    // later mtime (to the second) than all four, a rewrite cannot keep their mtimes.
    let newest: u64 = before
        .lines()
        .map(|l| {
            let seconds = l.split_whitespace().nth(1).unwrap().split('.').next();
            seconds.unwrap().parse::<u64>().unwrap()
        })
        .max()
        .unwrap();
    let probe = lab.host_path("LAP-0001", "/tmp").join("mtime-probe");
    wait_until(
        "the clock to pass the files' mtimes",
        Duration::from_secs(5),
        || {
            std::fs::write(&probe, b"").unwrap();
            let written = std::fs::metadata(&probe).unwrap().modified().unwrap();
            let secs = written
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            (secs > newest).then_some(())
        },
    );
    let second = lab.run(&["configure", "LAP-0001"]);
    assert_eq!(second.code(), 0, "{}", second.stderr());
    assert!(
        second.stdout().contains("LAP-0001: nothing changed (13 of 13 resources already as the profile says); 3 of 3 checks passed (1 connection, 1 exec channel,"),
        "{}",
        second.stdout()
    );
    assert_eq!(
        lab.ssh("LAP-0001", mtimes),
        before,
        "files were rewritten on a run with no changes"
    );

    // A hand edit shows up in plan as a diff, and plan leaves it there.
    lab.ssh(
        "LAP-0001",
        "sed -i 's/3-01/3-42/' /etc/deskready/owner.conf",
    );
    let plan = lab.run(&["plan", "LAP-0001"]);
    assert_eq!(plan.code(), 0, "{}", plan.stderr());
    let out = plan.stdout();
    assert!(out.contains("  would change owner card\n"), "{out}");
    assert!(
        out.contains("\n               -desk      = 3-42\n               +desk      = 3-01\n"),
        "{out}"
    );
    assert!(
        out.contains("LAP-0001: 1 of 13 resources would change"),
        "{out}"
    );
    assert!(
        lab.ssh("LAP-0001", "cat /etc/deskready/owner.conf")
            .contains("3-42")
    );
    // configure puts it back.
    let fix = json(&lab.run(&["--format", "json", "configure", "LAP-0001"]));
    assert_eq!(
        statuses(&fix)
            .iter()
            .filter(|(_, s)| s == "changed")
            .count(),
        1
    );
    assert!(
        lab.ssh("LAP-0001", "cat /etc/deskready/owner.conf")
            .contains("desk      = 3-01")
    );
}

#[test]
fn exec_channels_do_not_grow_with_the_number_of_resources() {
    let site = SiteCopy::example();
    let mut many = String::from("name: many\nkinds: [laptop]\nresources:\n");
    for i in 0..40 {
        many.push_str(&format!(
            "  - file: /etc/many/f{i}\n    content: \"{i} {{{{ device.tag }}}}\\n\"\n"
        ));
    }
    many = many.replace("resources:\n", "resources:\n  - directory: /etc/many\n");
    site.write("profiles/many.yaml", &many);
    site.write(
        "profiles/few.yaml",
        "name: few\nkinds: [laptop]\nresources:\n  - file: /etc/few\n    content: one\n",
    );
    site.edit(
        "inventory/laptops.yaml",
        "    profile: laptop-engineering\n    assignee: { name: Amira",
        "    profile: many\n    assignee: { name: Amira",
    );
    site.edit(
        "inventory/laptops.yaml",
        "    profile: laptop-engineering\n    assignee: { name: Bruno",
        "    profile: few\n    assignee: { name: Bruno",
    );
    let lab = LabSite::up(site);
    for tag in ["LAP-0001", "LAP-0002"] {
        for _ in 0..2 {
            let v = json(&lab.run(&["--format", "json", "configure", tag]));
            assert_eq!(v["connections"], 1, "{tag}: {v:#}");
            assert_eq!(v["channels"], 1, "{tag}: {v:#}");
        }
    }
    let v = json(&lab.run(&["--format", "json", "plan", "LAP-0001"]));
    assert_eq!(v["resources"].as_array().unwrap().len(), 41);
    assert_eq!(v["channels"], 1);
}

#[test]
fn hostile_assignee_and_desk_are_written_literally_and_never_run() {
    let site = SiteCopy::example();
    site.edit(
        "inventory/laptops.yaml",
        "assignee: { name: Chen Wei, username: cwei, email: cwei@example.org }",
        "assignee: { name: \"x'; touch /tmp/owned; echo '\", username: cwei, email: cwei@example.org }",
    );
    site.edit(
        "inventory/laptops.yaml",
        "location: { site: HQ, floor: 3, desk: \"3-07\" }",
        "location: { site: HQ, floor: 3, desk: \"$(touch /tmp/owned-desk)`touch /tmp/owned-tick`\" }",
    );
    let lab = LabSite::up(site);
    let run = lab.run(&["configure", "LAP-0003"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let card = lab.ssh("LAP-0003", "cat /etc/deskready/owner.conf");
    assert!(
        card.contains("owner     = x'; touch /tmp/owned; echo '\n"),
        "{card}"
    );
    assert!(
        card.contains("desk      = $(touch /tmp/owned-desk)`touch /tmp/owned-tick`\n"),
        "{card}"
    );
    // The comment of the user account carries the name literally too.
    assert!(
        lab.ssh("LAP-0003", "getent passwd cwei")
            .contains("x'; touch /tmp/owned; echo '")
    );
    assert_eq!(lab.ssh("LAP-0003", "ls -A /tmp | grep owned || true"), "");
    for f in ["/tmp/owned", "/tmp/owned-desk", "/tmp/owned-tick"] {
        assert!(!std::path::Path::new(f).exists(), "{f} on the host");
    }
}

#[test]
fn a_stopped_device_is_unreachable_within_the_connect_timeout() {
    let mut lab = LabSite::up(SiteCopy::example());
    lab.lab.stop_device("LAP-0004").unwrap();
    let addr = lab.lab.device("LAP-0004").unwrap().address();
    let started = std::time::Instant::now();
    let run = lab.run(&[
        "--format",
        "json",
        "configure",
        "LAP-0004",
        "--connect-timeout",
        "3",
    ]);
    // Refused at once; the bound only proves it does not hang (the timeout is 3 s).
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(run.code(), 1);
    let v = json(&run);
    assert_eq!(v["outcome"], "unreachable");
    assert_eq!(
        v["errors"][0],
        format!("cannot reach LAP-0004 at {addr}: connection refused")
    );
    let text = lab.run(&["configure", "LAP-0004"]);
    assert!(
        text.stdout().contains(&format!(
            "  error: cannot reach LAP-0004 at {addr}: connection refused\nLAP-0004: unreachable"
        )),
        "{}",
        text.stdout()
    );
}

#[test]
fn a_wrong_key_is_refused_with_a_message_naming_what_was_tried() {
    let lab = LabSite::up(SiteCopy::example());
    let key = lab.site.file("wrong-key");
    ssh::keygen(&key);
    let generated = lab.site.read("inventory/lab.generated.yaml");
    let operator = lab.lab.key_file.display().to_string();
    lab.site.write(
        "inventory/lab.generated.yaml",
        &generated.replace(&operator, &key.display().to_string()),
    );
    let addr = lab.lab.device("LAP-0005").unwrap().address();
    let run = lab.run(&["--format", "json", "configure", "LAP-0005"]);
    assert_eq!(run.code(), 1);
    let v = json(&run);
    assert_eq!(v["outcome"], "failed");
    assert_eq!(
        v["errors"][0],
        format!(
            "LAP-0005 at {addr} refused authentication for user root (tried key {})",
            key.display()
        )
    );
}

#[test]
fn a_changed_host_key_is_refused_until_rekey() {
    let mut lab = LabSite::up(SiteCopy::example());
    assert_eq!(lab.run(&["configure", "LAP-0006"]).code(), 0);
    // The key pinned on first contact, as the device's own sshd reports it.
    let key = lab
        .lab
        .device("LAP-0006")
        .unwrap()
        .host_key_file()
        .with_extension("pub");
    let old = ssh::fingerprint(&key);
    lab.lab.replace_host_key("LAP-0006").unwrap();
    let addr = lab.lab.device("LAP-0006").unwrap().address();
    let run = lab.run(&["--format", "json", "configure", "LAP-0006"]);
    assert_eq!(run.code(), 1);
    let err = json(&run)["errors"][0].as_str().unwrap().to_string();
    let prefix = format!("host key of LAP-0006 at {addr} changed: pinned {old}, presented SHA256:");
    assert!(err.starts_with(&prefix), "{err}");
    assert!(err.ends_with("; if the device was reinstalled on purpose, accept the new key with `deskready rekey LAP-0006`"), "{err}");
    // A fingerprint other than the one the device has: refused, the old pin stays.
    let wrong = format!("SHA256:{}", "A".repeat(43));
    let refused = lab.run(&["rekey", "LAP-0006", "--fingerprint", &wrong]);
    assert_eq!(refused.code(), 3, "{}", refused.stderr());
    assert!(
        refused
            .stderr()
            .contains(&format!("not the {wrong} given; nothing was pinned")),
        "{}",
        refused.stderr()
    );
    assert_eq!(
        lab.run(&["configure", "LAP-0006"]).code(),
        1,
        "still refused"
    );
    let bad = lab.run(&["rekey", "LAP-0006", "--fingerprint", "abc"]);
    assert_eq!(bad.code(), 2, "{}", bad.stderr());
    // The fingerprint read on the device itself: accepted.
    let new = ssh::fingerprint(&key);
    let rekey = lab.run(&["rekey", "LAP-0006", "--fingerprint", &new]);
    assert_eq!(rekey.code(), 0, "{}", rekey.stderr());
    assert!(
        rekey.stdout().contains(&format!("(was {old})")),
        "{}",
        rekey.stdout()
    );
    assert_eq!(lab.run(&["configure", "LAP-0006"]).code(), 0);
}

#[test]
fn a_rekey_that_cannot_log_in_pins_nothing() {
    let mut lab = LabSite::up(SiteCopy::example());
    let key = lab.site.file("wrong-key");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(st.success());
    let generated = lab.site.read("inventory/lab.generated.yaml");
    let operator = lab.lab.key_file.display().to_string();
    lab.site.write(
        "inventory/lab.generated.yaml",
        &generated.replace(&operator, &key.display().to_string()),
    );
    // The key is presented, but the login fails: the presented key must not be trusted.
    let rekey = lab.run(&["rekey", "LAP-0005"]);
    assert_eq!(rekey.code(), 1, "{}", rekey.stdout());
    assert!(
        rekey.stderr().contains("refused authentication"),
        "{}",
        rekey.stderr()
    );
    lab.site.write("inventory/lab.generated.yaml", &generated);
    lab.lab.replace_host_key("LAP-0005").unwrap();
    // Nothing was pinned by the failed rekey, so the first contact pins the key it meets.
    let run = lab.run(&["configure", "LAP-0005"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let history = lab.run(&["history", "LAP-0005"]);
    assert!(!history.stdout().contains("rekey"), "{}", history.stdout());
}

#[test]
fn a_failing_command_reports_its_exit_code_and_stderr() {
    let site = SiteCopy::example();
    site.edit(
        "profiles/laptop-base.yaml",
        "  - package: cups-client\n",
        "  - package: cups-client\n  - name: enrol\n    command: echo starting; echo 'enrolment server said no' >&2; exit 7\n  - file: /etc/deskready/after\n    content: never\n",
    );
    let lab = LabSite::up(site);
    let run = lab.run(&["configure", "LAP-0007"]);
    assert_eq!(run.code(), 1);
    let out = run.stdout();
    assert!(
        out.contains("  FAILED       enrol\n               enrolment server said no\n"),
        "{out}"
    );
    assert!(
        out.contains("  skipped      file /etc/deskready/after\n"),
        "{out}"
    );
    assert!(
        out.contains(
            "LAP-0007: FAILED: enrol failed on LAP-0007 with exit code 7: enrolment server said no"
        ),
        "{out}"
    );
    assert_eq!(
        lab.ssh("LAP-0007", "test -e /etc/deskready/after; echo $?"),
        "1\n"
    );
}

#[test]
fn a_template_error_touches_nothing() {
    let lab = LabSite::up(SiteCopy::example());
    lab.site.edit(
        "templates/laptop/owner.conf.tera",
        "{{ location.desk }}",
        "{{ location.room }}",
    );
    let run = lab.run(&["configure", "LAP-0008"]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr()
            .contains("error: templates/laptop/owner.conf.tera:11:25: in `{{ location.room }}`"),
        "{}",
        run.stderr()
    );
    // Never contacted: no host key pinned, nothing written, still received.
    use deskready::transport::HostKeyPins;
    let store = deskready::store::Store::open(&lab.site.file(".deskready")).unwrap();
    assert_eq!(store.pinned("LAP-0008").unwrap(), None);
    assert_eq!(
        store.stage("LAP-0008").unwrap().unwrap().stage,
        deskready::model::Stage::Received
    );
    assert!(!lab.host_path("LAP-0008", "/etc/deskready").exists());
}

#[test]
fn a_failing_verify_check_fails_the_run_and_names_the_check() {
    let site = SiteCopy::example();
    site.edit(
        "profiles/laptop-base.yaml",
        "verify:\n",
        "verify:\n  - name: docking station firmware is current\n    command: echo 'firmware 1.2 < 1.4'; false\n",
    );
    let lab = LabSite::up(site);
    let run = lab.run(&["configure", "LAP-0009"]);
    assert_eq!(run.code(), 1);
    let out = run.stdout();
    assert!(out.contains("  verify FAIL  docking station firmware is current\n               firmware 1.2 < 1.4\n"), "{out}");
    assert!(out.contains("LAP-0009: FAILED: verify check `docking station firmware is current` failed (exit code 1)"), "{out}");
}

#[test]
fn a_login_user_other_than_root_works_through_sudo() {
    let lab = LabSite::up(SiteCopy::example());
    lab.ssh(
        "LAP-0010",
        "useradd --create-home --password '*' csp && mkdir -p /etc/sudoers.d && echo 'csp ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/csp && chmod 0440 /etc/sudoers.d/csp",
    );
    // The lab authorizes the operator key for every user; log in as csp instead of root.
    let generated = lab.site.read("inventory/lab.generated.yaml");
    let host = lab.lab.device("LAP-0010").unwrap().host.clone();
    let from = format!("host: {host}, port: 2222, user: root,");
    assert!(generated.contains(&from), "{generated}");
    lab.site.write(
        "inventory/lab.generated.yaml",
        &generated.replace(&from, &format!("host: {host}, port: 2222, user: csp,")),
    );
    let run = lab.run(&["configure", "LAP-0010"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    assert_eq!(
        lab.ssh("LAP-0010", "stat -c '%U %a' /etc/deskready/owner.conf"),
        "root 644\n"
    );
    assert!(
        lab.run(&["configure", "LAP-0010"])
            .stdout()
            .contains("nothing changed")
    );
    // Without sudo rights the run fails, and says why.
    lab.ssh("LAP-0010", "rm /etc/sudoers.d/csp");
    let run = lab.run(&["configure", "LAP-0010"]);
    assert_eq!(run.code(), 1);
    assert!(
        run.stdout().contains("  error: the script on LAP-0010 stopped early with exit code 1: sudo: a password is required (csp is not root on LAP-0010: it needs passwordless sudo there, or log in as root)\n"),
        "{}",
        run.stdout()
    );
    assert!(
        run.stdout().contains("(1 connection, 1 exec channel,"),
        "{}",
        run.stdout()
    );
}

#[test]
fn a_missing_package_is_installed_with_apt_on_the_device_only() {
    let site = SiteCopy::example();
    site.edit(
        "profiles/laptop-base.yaml",
        "  - package: cups-client\n",
        "  - package: cups-client\n  - package: hello\n",
    );
    let lab = LabSite::up(site);
    let plan = lab.run(&["plan", "LAP-0004"]);
    assert!(
        plan.stdout().contains("  would change package hello\n"),
        "{}",
        plan.stdout()
    );
    let run = lab.run(&[
        "--format",
        "json",
        "configure",
        "LAP-0004",
        "--command-timeout",
        "300",
    ]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let v = json(&run);
    assert!(
        statuses(&v).contains(&("package hello".into(), "changed".into())),
        "{v:#}"
    );
    assert!(
        statuses(&v).contains(&("package cups-client".into(), "ok".into())),
        "{v:#}"
    );
    assert_eq!(lab.ssh("LAP-0004", "hello"), "Hello, world!\n");
    // Installed on the device, not on this machine.
    assert!(!std::path::Path::new("/usr/bin/hello").exists());
    assert!(
        lab.run(&["configure", "LAP-0004"])
            .stdout()
            .contains("nothing changed")
    );
}
