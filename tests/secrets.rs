//! A secret's value never leaves the controller in the clear: not in plan, configure (text
//! or NDJSON), history, status, the reports, the state store (database and WAL), nor in
//! the device's temp directories after a run cut off mid-way. Checked on a real lab.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use crate::support::procs::descendants;
use crate::support::{LabSite, SiteCopy, wait_until};

/// The secret; grepped for everywhere. Long and unusual, so a hit is never a coincidence.
const SECRET: &str = "Psk-7c1e-kumquat-Zebra-93";

/// Every file under `dir` whose bytes contain `needle`.
fn files_holding(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            let Ok(md) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if md.is_dir() {
                stack.push(p);
            } else if md.is_file()
                && std::fs::read(&p)
                    .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
            {
                hits.push(p.display().to_string());
            }
        }
    }
    hits
}

/// The files holding the secret in the run directory `dir` for commands' error output (a
/// device's, seen from the host) that a program which has ended left there (a running one
/// may hold its output until its end).
fn left_in_run_dir(dir: &Path) -> Vec<String> {
    files_holding(dir, SECRET)
        .into_iter()
        .filter(|p| {
            let name = p.rsplit('/').next().unwrap_or_default();
            let pid = name.split('.').next().unwrap_or_default();
            !Path::new(&format!("/proc/{pid}")).exists()
        })
        .collect()
}

fn assert_hidden(what: &str, text: &str) {
    assert!(!text.contains(SECRET), "{what} shows the secret:\n{text}");
}

/// The example site with LAP-0002 on a profile that writes the secret into a file, runs a
/// command with it (which fails and prints it when `vars.fail` is `yes`), checks it, and
/// can pause (`vars.pause` seconds) after the file is staged.
fn site_with_secret(secret_file: &Path) -> SiteCopy {
    let site = SiteCopy::example();
    site.write(
        "inventory/secrets.yaml",
        &format!(
            "secrets:\n  wifi_psk: {{ file: {} }}\n  unused: {{ env: DESKREADY_TEST_NEVER_SET }}\n",
            secret_file.display()
        ),
    );
    site.write(
        "profiles/wifi.yaml",
        r#"name: wifi
vars: { fail: "no", pause: "0" }
resources:
  - directory: /etc/deskready
    mode: "0755"
  - file: /etc/deskready/wifi.conf
    template: wifi.conf.tera
    mode: "0600"
  - name: pause
    command: "sleep {{ vars.pause }}"
    unless: "test {{ vars.pause }} = 0"
  - command: "echo out {{ secret.wifi_psk }}; echo err {{ secret.wifi_psk | upper }} >&2; exit 3"
    unless: "test {{ vars.fail }} = no"
verify:
  - name: psk is set
    command: "echo check {{ secret.wifi_psk }}; test {{ vars.fail }} = no"
"#,
    );
    site.write(
        "templates/wifi.conf.tera",
        "network={\n  ssid=\"office\"\n  psk=\"{{ secret.wifi_psk }}\"\n}\n",
    );
    site.edit(
        "inventory/laptops.yaml",
        "    profile: laptop-engineering\n    assignee: { name: Bruno",
        "    profile: wifi\n    assignee: { name: Bruno",
    );
    site
}

#[test]
fn a_secret_is_never_shown_nor_stored() {
    let (_keys, file) = secret_file();
    let lab = LabSite::up(site_with_secret(&file));
    let mut outputs: Vec<(String, String)> = Vec::new();
    let mut keep = |what: &str, run: &crate::support::Run| {
        outputs.push((format!("{what} (stdout)"), run.stdout()));
        outputs.push((format!("{what} (stderr)"), run.stderr()));
    };

    // validate fetches nothing: the unset variable of `unused` is no problem...
    lab.test().arg("validate").success();
    // ...unless asked to.
    let asked = lab.test().args(["validate", "--secrets"]).code(2);
    assert_eq!(
        asked.errors(),
        [
            "inventory/secrets.yaml:3:3: secrets.unused: cannot get secret `unused` from environment variable DESKREADY_TEST_NEVER_SET: it is not set"
        ]
    );

    let first = lab.test().args(["configure", "LAP-0002"]).success();
    keep("configure", &first);
    // The secret did reach the device, where it belongs.
    let on_device =
        std::fs::read_to_string(lab.host_path("LAP-0002", "/etc/deskready/wifi.conf")).unwrap();
    assert!(on_device.contains(SECRET), "{on_device}");

    // A hand edit of the sensitive file: plan says it changed, without its content.
    lab.ssh(
        "LAP-0002",
        "sed -i 's/office/guest/' /etc/deskready/wifi.conf",
    );
    let plan = lab.test().args(["plan", "LAP-0002"]).success();
    assert!(
        plan.stdout().contains("content changed (sensitive)"),
        "{}",
        plan.stdout()
    );
    keep("plan", &plan);
    let plan_json = lab
        .test()
        .args(["--format", "json", "plan", "LAP-0002"])
        .success();
    keep("plan --format json", &plan_json);

    // A failing command and check that print the secret (as is and transformed).
    let failed = lab
        .test()
        .args(["--var", "fail=yes", "configure", "LAP-0002"])
        .code(1);
    assert!(
        failed.stdout().contains("[secret wifi_psk]")
            || failed.stderr().contains("[secret wifi_psk]"),
        "{}{}",
        failed.stdout(),
        failed.stderr()
    );
    keep("failing configure", &failed);
    let failed_json = lab
        .test()
        .args([
            "--format",
            "json",
            "--var",
            "fail=yes",
            "configure",
            "LAP-0002",
        ])
        .code(1);
    keep("failing configure --format json", &failed_json);
    // The failing command's error output was kept on the device only while its program
    // ran.
    let run = lab.lab.device("LAP-0002").unwrap();
    let run = run.host_path("/run/deskready").expect("a light device's");
    assert!(run.is_dir(), "{run:?}");
    assert_eq!(left_in_run_dir(&run.join("err")), Vec::<String>::new());

    for args in [
        &["history", "LAP-0002"][..],
        &["--format", "json", "history", "LAP-0002"],
        &["status"],
        &["--format", "json", "status"],
        &["render", "LAP-0002"],
        &["--format", "json", "render", "LAP-0002"],
        &["--format", "json", "report"],
    ] {
        let run = lab.test().args(args).output();
        keep(&args.join(" "), &run);
    }
    let html = lab.site.file("report.html");
    lab.test().args(["report", "--html"]).arg(&html).success();
    outputs.push((
        "report --html".into(),
        std::fs::read_to_string(&html).unwrap(),
    ));

    for (what, text) in &outputs {
        assert_hidden(what, text);
    }
    // Nothing of the state store holds it either (database, WAL, anything beside them).
    let state = lab.site.file(".deskready");
    let stored: Vec<String> = files_holding(&state, SECRET)
        .into_iter()
        .filter(|p| !p.contains("/lab/"))
        .collect();
    assert!(stored.is_empty(), "stored in the clear: {stored:?}");
    assert!(state.join("state.db").exists());

    // render shows the secret only when asked.
    let shown = lab
        .test()
        .args([
            "render",
            "LAP-0002",
            "--resource",
            "file /etc/deskready/wifi.conf",
            "--show-secrets",
        ])
        .success();
    assert!(shown.stdout().contains(SECRET));
}

/// A file that holds the secret, owner-only, and the directory it is in.
fn secret_file() -> (tempfile::TempDir, std::path::PathBuf) {
    let keys = tempfile::tempdir().unwrap();
    let file = keys.path().join("wifi.psk");
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    (keys, file)
}

/// Starts a configure of LAP-0002 that pauses after staging its files; returns once the
/// secret is staged in the device's temp directory.
fn start_paused(lab: &LabSite, tmp: &Path, secs: u32) -> crate::support::Running {
    let running = lab
        .test()
        .args(["--var", &format!("pause={secs}"), "configure", "LAP-0002"])
        .spawn();
    wait_until(
        "the secret staged on the device",
        Duration::from_secs(30),
        || (!files_holding(tmp, SECRET).is_empty()).then_some(()),
    );
    running
}

#[test]
fn a_secret_file_others_can_read_is_refused_before_any_device_is_contacted() {
    let (_keys, file) = secret_file();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let site = site_with_secret(&file);
    // No lab: the secret is fetched (and refused) before any connection is tried.
    let run = site.test().args(["plan", "LAP-0002"]).code(2);
    assert_eq!(
        run.errors(),
        [format!(
            "inventory/secrets.yaml:2:3: secrets.wifi_psk: cannot get secret `wifi_psk` from file {0}: it can be read or changed by group or others (mode 0644); a secret file must be its owner's only: chmod 600 '{0}'",
            file.display()
        )]
    );
    assert_hidden(
        "plan with an exposed secret file",
        &(run.stdout() + &run.stderr()),
    );
    // A device that does not use the secret does not need it.
    let other = site.test().args(["render", "LAP-0001"]).success();
    assert_hidden("render of another device", &other.stdout());
}

#[test]
fn a_cut_run_leaves_no_staged_secret_on_the_device() {
    let (_keys, file) = secret_file();
    let mut lab = LabSite::up(site_with_secret(&file));
    let tmp = lab.host_path("LAP-0002", "/tmp");

    // A program that stages nothing (the secret's file is small: its program carries it)
    // runs straight from its channel: the secret is never written to the device's temp
    // directory, even while the program runs.
    let running = lab
        .test()
        .args(["--var", "pause=60", "configure", "LAP-0002"])
        .spawn();
    let sshd = lab.lab.device("LAP-0002").unwrap().pid;
    wait_until("the paused step to start", Duration::from_secs(30), || {
        descendants(sshd)
            .iter()
            .any(|p| {
                std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                    .is_ok_and(|c| c == "sleep\x0060\x00")
            })
            .then_some(())
    });
    assert_eq!(files_holding(&tmp, SECRET), Vec::<String>::new());
    assert_ne!(running.kill().code(), 0);
    // It made no directory for its command's output (that goes to the run directory),
    // and any it made goes with it.
    wait_until(
        "the cut program's directory removed",
        Duration::from_secs(30),
        || {
            std::fs::read_dir(&tmp)
                .unwrap()
                .flatten()
                .all(|e| !e.file_name().to_string_lossy().starts_with("deskready."))
                .then_some(())
        },
    );

    // A secret's file large enough to be staged: its content is in the device's temp
    // directory while the program runs.
    let filler: String = (0..3000)
        .map(|n| format!("# filler line {n:>40}\n"))
        .collect();
    lab.site.write(
        "templates/wifi.conf.tera",
        &format!(
            "{filler}network={{\n  ssid=\"office\"\n  psk=\"{{{{ secret.wifi_psk }}}}\"\n}}\n"
        ),
    );
    let gone = |what: &str| {
        wait_until(what, Duration::from_secs(30), || {
            files_holding(&tmp, SECRET).is_empty().then_some(())
        })
    };

    // The controller dies: the program on the device finds its connection gone when it
    // next writes (SIGPIPE) and removes what it staged.
    let run = start_paused(&lab, &tmp, 2).kill();
    assert_ne!(run.code(), 0);
    gone("the staged secret removed after the controller died");

    // The device's sshd dies (the listener and the session, killed outright); the
    // program outlives it and cleans up the same way.
    let running = start_paused(&lab, &tmp, 2);
    let sshd = lab.lab.device("LAP-0002").unwrap().pid;
    for pid in descendants(sshd) {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "sshd" {
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    }
    let out = running.wait();
    assert_ne!(out.code(), 0, "{}{}", out.stdout(), out.stderr());
    gone("the staged secret removed after sshd was killed");
    lab.lab.start_device("LAP-0002").unwrap();

    // The whole device stops mid-run (TERM, then KILL to what is left): what a program
    // killed outright left is removed by the next program on the device.
    let running = start_paused(&lab, &tmp, 60);
    lab.lab.stop_device("LAP-0002").unwrap();
    let out = running.wait();
    assert_ne!(out.code(), 0, "{}{}", out.stdout(), out.stderr());
    lab.lab.start_device("LAP-0002").unwrap();
    lab.test().args(["plan", "LAP-0002"]).success();
    gone("the staged secret removed by the next run");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left in the device's /tmp: {left:?}");
}
