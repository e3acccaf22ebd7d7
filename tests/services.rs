//! Full lab devices (Debian with systemd in systemd-nspawn): the lab brings them up and
//! down; `service` resources and handlers converge real systemd units on them.

use crate::support::lab::TestLab;
use crate::support::procs::live_processes_mentioning;
use crate::support::{LabSite, Run, SiteCopy};

#[test]
fn a_full_device_boots_systemd_and_goes_down_cleanly() {
    let lab = TestLab::full("FULLUP", 1);
    let name = lab.name(0);
    assert_eq!(lab.status(), vec![(name.clone(), true)]);
    assert_eq!(lab.ssh(&name, "cat /proc/1/comm").trim(), "systemd");
    let pid = lab.device(&name).unwrap().pid;
    lab.down().unwrap();
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[test]
fn lab_up_full_runs_the_first_devices_as_full_ones_and_lab_down_stops_them() {
    let lab = LabSite::up_full_unreceived(SiteCopy::example(), 1);
    let status = lab.test().args(["lab", "status"]).success().stdout();
    let full: Vec<&str> = status
        .lines()
        .filter(|l| l.ends_with("running (full)"))
        .collect();
    assert_eq!(full.len(), 1, "{status}");
    assert!(full[0].starts_with("LAP-0001 "), "{status}");
    assert_eq!(lab.ssh("LAP-0001", "cat /proc/1/comm"), "systemd\n");
    assert_ne!(lab.ssh("LAP-0002", "cat /proc/1/comm"), "systemd\n");
    let json = lab
        .test()
        .args(["--format", "json", "lab", "status"])
        .success()
        .json();
    assert_eq!(json["devices"][0]["full"], true);
    let marker = format!("{}/full/", lab.lab.dir.display());
    assert_eq!(live_processes_mentioning(&marker).len(), 1);
    lab.test()
        .args(["lab", "down"])
        .success()
        .stdout_has("lab down: 11 devices stopped");
    assert_eq!(live_processes_mentioning(&marker), Vec::<u32>::new());
}

/// A unit the profile writes: it counts its starts in /var/lib/drdemo-starts and refuses
/// to start while its config says `broken`.
const UNIT: &str = r#"[Unit]
Description=deskready demo service
[Service]
ExecStartPre=/bin/sh -c 'echo start >> /var/lib/drdemo-starts; if grep -q broken /etc/drdemo.conf; then echo "drdemo: config is broken" >&2; exit 1; fi'
ExecStart=/bin/sleep infinity
[Install]
WantedBy=multi-user.target
"#;

/// A site with one device, the lab's full device, on profile `svc`: the unit, its config
/// (`vars.greeting`) notifying `restart drdemo`, the service running and enabled, and a
/// command that kills the device's program when `vars.die` is `yes` (once: it leaves
/// /root/died behind).
fn site(lab: &TestLab) -> SiteCopy {
    let d = lab.device(&lab.name(0)).unwrap();
    let site = SiteCopy::empty();
    site.write(
        "inventory/devices.yaml",
        &format!(
            "devices:\n  {name}:\n    kind: desktop\n    model: lab\n    serial: S1\n    \
             ssh: {{ host: {host}, port: {port}, user: root, identity: {key} }}\n    \
             profile: svc\n    vars: {{ greeting: hello, die: \"no\" }}\n",
            name = d.name,
            host = d.host,
            port = d.port,
            key = lab.key_file.display(),
        ),
    );
    site.write(
        "profiles/svc.yaml",
        &format!(
            r#"name: svc
resources:
  - file: /etc/systemd/system/drdemo.service
    content: |
{unit}
    notify: [restart drdemo]
  - file: /etc/drdemo.conf
    content: "{{{{ vars.greeting }}}}\n"
    notify: [restart drdemo]
  - name: die between the change and the restart
    # Kills this run's program on the device ($$ is its shell), as a cut run would.
    command: 'touch /root/died; kill -KILL $$'
    creates: /root/died
    unless: "test {{{{ vars.die }}}} = no"
  - service: drdemo
    state: running
    enabled: true
handlers:
  - service: drdemo
    action: restart
"#,
            unit = UNIT
                .lines()
                .map(|l| format!("      {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    );
    site.test()
        .args(["receive", "--scan"])
        .stdin(d.name.clone())
        .success();
    site
}

fn starts(lab: &TestLab) -> usize {
    lab.ssh(
        &lab.name(0),
        "cat /var/lib/drdemo-starts 2>/dev/null || true",
    )
    .lines()
    .count()
}

fn statuses(run: &Run) -> Vec<(String, String)> {
    for v in run.ndjson() {
        if v["event"] == "done" {
            return v["run"]["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r["name"].as_str().unwrap().to_string(),
                        r["status"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
        }
    }
    panic!("no done event: {}{}", run.stdout(), run.stderr());
}

fn status_of(run: &Run, name: &str) -> String {
    statuses(run)
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no resource {name} in {:?}", statuses(run)))
        .1
}

#[test]
fn a_service_is_started_and_enabled_then_left_alone_and_restarted_once_per_change() {
    let lab = TestLab::full("SVC", 1);
    let tag = lab.name(0);
    let site = site(&lab);

    let plan = site.run(&["plan", &tag]);
    assert!(
        plan.stdout().contains("would start, enable drdemo"),
        "{}{}",
        plan.stdout(),
        plan.stderr()
    );
    let first = site.run(&["--format", "json", "configure", &tag]);
    assert_eq!(first.code(), 0, "{}{}", first.stdout(), first.stderr());
    assert_eq!(status_of(&first, "service drdemo"), "changed");
    assert_eq!(status_of(&first, "restart drdemo"), "changed");
    assert_eq!(lab.ssh(&tag, "systemctl is-active drdemo"), "active\n");
    assert_eq!(lab.ssh(&tag, "systemctl is-enabled drdemo"), "enabled\n");
    let after_first = starts(&lab);

    // Nothing to change: no start, no restart.
    let second = site.run(&["--format", "json", "configure", &tag]);
    assert_eq!(second.code(), 0, "{}{}", second.stdout(), second.stderr());
    assert!(
        statuses(&second).iter().all(|(_, s)| s == "ok"),
        "{:?}",
        statuses(&second)
    );
    assert_eq!(starts(&lab), after_first);

    // A config change: plan says it would restart; configure restarts exactly once.
    site.edit(
        "inventory/devices.yaml",
        "greeting: hello",
        "greeting: bonjour",
    );
    site.test()
        .args(["plan", &tag])
        .success()
        .stdout_has("would restart drdemo");
    let third = site.run(&["--format", "json", "configure", &tag]);
    assert_eq!(third.code(), 0, "{}{}", third.stdout(), third.stderr());
    assert_eq!(status_of(&third, "file /etc/drdemo.conf"), "changed");
    assert_eq!(status_of(&third, "restart drdemo"), "changed");
    assert_eq!(starts(&lab), after_first + 1);
    site.test()
        .args(["history", &tag])
        .success()
        .stdout_has("restart drdemo");

    // A stopped service is started (and nothing restarts it on top).
    lab.ssh(&tag, "systemctl stop drdemo");
    let fourth = site.run(&["--format", "json", "configure", &tag]);
    assert_eq!(fourth.code(), 0, "{}{}", fourth.stdout(), fourth.stderr());
    assert_eq!(status_of(&fourth, "service drdemo"), "changed");
    assert_eq!(status_of(&fourth, "restart drdemo"), "ok");
    assert_eq!(starts(&lab), after_first + 2);
    assert_eq!(lab.ssh(&tag, "systemctl is-active drdemo"), "active\n");
}

#[test]
fn a_unit_that_fails_to_start_fails_with_its_journal_lines() {
    let lab = TestLab::full("SVCBAD", 1);
    let tag = lab.name(0);
    let site = site(&lab);
    site.edit(
        "inventory/devices.yaml",
        "greeting: hello",
        "greeting: broken",
    );
    let run = site.run(&["configure", &tag]);
    assert_ne!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    assert!(
        run.stdout().contains("drdemo: config is broken"),
        "the unit's journal is in the failure: {}{}",
        run.stdout(),
        run.stderr()
    );
    assert_ne!(
        lab.ssh(&tag, "systemctl is-active drdemo || true"),
        "active\n"
    );
}

#[test]
fn a_run_killed_between_the_change_and_the_restart_restarts_on_the_next_run() {
    let lab = TestLab::full("SVCCUT", 1);
    let tag = lab.name(0);
    let site = site(&lab);
    let first = site.run(&["configure", &tag]);
    assert_eq!(first.code(), 0, "{}{}", first.stdout(), first.stderr());
    let before = starts(&lab);

    // The config changes, then the program dies before its handlers.
    site.edit(
        "inventory/devices.yaml",
        "greeting: hello",
        "greeting: hola",
    );
    site.edit("inventory/devices.yaml", "die: \"no\"", "die: \"yes\"");
    let cut = site.run(&["configure", &tag]);
    assert_ne!(cut.code(), 0, "{}{}", cut.stdout(), cut.stderr());
    assert_eq!(lab.ssh(&tag, "cat /etc/drdemo.conf"), "hola\n");
    assert_eq!(starts(&lab), before, "not restarted yet");

    // Nothing differs any more, yet the restart is still owed: plan shows it, the next
    // run does it, once.
    site.test()
        .args(["plan", &tag])
        .success()
        .stdout_has("would restart drdemo (pending from an earlier run)");
    let next = site.run(&["--format", "json", "configure", &tag]);
    assert_eq!(next.code(), 0, "{}{}", next.stdout(), next.stderr());
    assert_eq!(status_of(&next, "file /etc/drdemo.conf"), "ok");
    assert_eq!(status_of(&next, "restart drdemo"), "changed");
    assert_eq!(starts(&lab), before + 1);
    let again = site.run(&["--format", "json", "configure", &tag]);
    assert_eq!(status_of(&again, "restart drdemo"), "ok");
    assert_eq!(starts(&lab), before + 1);
}

#[test]
fn unknown_handlers_and_bad_units_are_located_validation_errors() {
    let site = SiteCopy::example();
    site.edit(
        "profiles/laptop-base.yaml",
        "  - directory: /etc/deskready\n",
        "  - service: \"-x\"\n  - directory: /etc/deskready\n    notify: [restart sshd]\n",
    );
    let text = site.read("profiles/laptop-base.yaml");
    site.write(
        "profiles/laptop-base.yaml",
        &format!("{text}handlers:\n  - service: ssh\n  - name: mystery\n    action: restart\n"),
    );
    let run = site.run(&["validate"]);
    assert_ne!(run.code(), 0);
    let errors = run.errors();
    let has = |needle: &str| errors.iter().any(|e| e.contains(needle));
    assert!(
        has(
            "profiles/laptop-base.yaml:24:14: resources[2].notify[0]: unknown handler `restart sshd`; did you mean `restart ssh`?"
        ),
        "{errors:#?}"
    );
    assert!(
        has(
            "profiles/laptop-base.yaml:22:5: resources[1].service: `-x` is not a service name: it starts with '-'"
        ),
        "{errors:#?}"
    );
    assert!(
        has("handlers[1]: a handler needs `service` or `command`"),
        "{errors:#?}"
    );
}
