//! The fault suite of the remote program on one device: devices whose shell, login shell or
//! tools differ from Debian's, whose disk is full or read-only, whose targets are symbolic
//! links, runs cut off part way, a print queue lock others could take. Each test brings up a
//! lab with a profile of its own and checks the device's own state as well as what
//! deskready says. (Network and timeout faults: `faults`.)

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::support::faults;
use crate::support::procs::descendants;
use crate::support::{LabSite, Run, SiteCopy, wait_until};

/// The one device of these labs.
const TAG: &str = "FLT-0001";

/// A lab of one device configured by a profile with these `resources` (YAML list items,
/// indented by two spaces) and `verify` checks (the same, or empty).
fn lab_with(resources: &str, verify: &str) -> LabSite {
    let site = SiteCopy::empty();
    site.write(
        "inventory/devices.yaml",
        &format!(
            "devices:\n  {TAG}:\n    kind: laptop\n    model: Test Laptop\n    serial: FLT1\n    \
             ssh: {{ host: 10.99.0.1, user: root }}\n    profile: faulty\n"
        ),
    );
    write_profile(&site, resources, verify);
    LabSite::up(site)
}

/// (Re)writes the profile of the lab's device.
fn write_profile(site: &SiteCopy, resources: &str, verify: &str) {
    let verify = if verify.is_empty() {
        String::new()
    } else {
        format!("verify:\n{verify}")
    };
    site.write(
        "profiles/faulty.yaml",
        &format!("name: faulty\nkinds: [laptop]\nresources:\n{resources}{verify}"),
    );
}

/// The device's run from `--format json` output (the `run` of its `done` event).
fn done_run(run: &Run) -> serde_json::Value {
    run.ndjson()
        .into_iter()
        .find(|e| e["event"] == "done")
        .map(|e| e["run"].clone())
        .unwrap_or_else(|| panic!("no done event: {}{}", run.stdout(), run.stderr()))
}

fn ok(run: &Run) {
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
}

/// The names in a directory of the device (as the host sees its writes), sorted.
fn names_in(lab: &LabSite, dir: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(lab.host_path(TAG, dir))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The staging directories left in the device's /tmp.
fn staging_left(lab: &LabSite) -> Vec<String> {
    names_in(lab, "/tmp")
        .into_iter()
        .filter(|n| n.starts_with("deskready."))
        .collect()
}

/// A text of `kib` KiB (short seeds), different for each `seed`.
fn text(seed: &str, kib: usize) -> String {
    (0..kib * 32)
        .map(|n| format!("{:<31}\n", format!("{seed} line {n}")))
        .collect::<String>()
}

/// A `file:` resource with inline content (YAML block scalar, two-space indented items).
fn file_resource(path: &str, content: &str, extra: &str) -> String {
    let body: String = content.lines().map(|l| format!("      {l}\n")).collect();
    format!("  - file: {path}\n{extra}    content: |\n{body}")
}

#[test]
fn a_device_whose_sh_is_busybox_is_configured_then_has_nothing_to_change() {
    // Larger than any read-ahead buffer: a tool reading stdin ahead would lose the rest.
    let big = text("big", 256);
    let resources = format!(
        "{}{}  - directory: /srv/app\n    mode: \"0750\"\n  - line: \"x = 1\"\n    path: /srv/app/list\n",
        file_resource("/srv/app-a.conf", "a = 1\n", "    mode: \"0600\"\n"),
        file_resource("/srv/app-big.txt", &big, ""),
    );
    let lab = lab_with(
        &resources,
        "  - name: sh is busybox\n    command: sh --help 2>&1 | grep -q BusyBox\n",
    );
    faults::busybox_sh(&lab.lab, TAG);
    let plan = lab.run(&["plan", TAG]);
    ok(&plan);
    let first = lab.run(&["configure", TAG]);
    ok(&first);
    assert!(
        first.stdout().contains("1 of 1 checks passed"),
        "{}",
        first.stdout()
    );
    assert_eq!(lab.ssh(TAG, "cat /srv/app-big.txt"), big);
    assert_eq!(
        lab.ssh(TAG, "stat -c %a /srv/app-a.conf /srv/app"),
        "600\n750\n"
    );
    assert_eq!(lab.ssh(TAG, "cat /srv/app/list"), "x = 1\n");
    let second = lab.run(&["configure", TAG]);
    ok(&second);
    assert!(
        second
            .stdout()
            .contains("nothing changed (4 of 4 resources already as the profile says)"),
        "{}",
        second.stdout()
    );
    assert_eq!(staging_left(&lab), Vec::<String>::new());
}

#[test]
fn a_root_whose_login_shell_is_csh_is_configured() {
    let lab = lab_with(
        &format!(
            "{}  - command: echo ran >> /srv/ran\n    creates: /srv/ran\n",
            file_resource("/srv/motd", "hello from $(csh) `and` 'quotes'\n", "")
        ),
        "",
    );
    faults::root_login_shell(&lab.lab, TAG, "/bin/csh");
    // csh would choke on sh syntax given to it unwrapped.
    assert_eq!(lab.ssh(TAG, "echo $shell"), "/bin/csh\n");
    ok(&lab.run(&["plan", TAG]));
    ok(&lab.run(&["configure", TAG]));
    assert_eq!(
        lab.ssh(TAG, "cat /srv/motd"),
        "hello from $(csh) `and` 'quotes'\n"
    );
    let again = lab.run(&["configure", TAG]);
    ok(&again);
    assert!(
        again.stdout().contains("nothing changed"),
        "{}",
        again.stdout()
    );
    assert_eq!(staging_left(&lab), Vec::<String>::new());
}

#[test]
fn profile_commands_guards_and_checks_do_not_inherit_nounset() {
    let lab = lab_with(
        "  - name: proxy settings\n    command: echo ran >> /srv/proxy-runs\n    unless: test -z \"$PROXY\"\n",
        "  - name: no proxy\n    command: test -z \"$PROXY\"\n",
    );
    for _ in 0..2 {
        let run = lab.run(&["configure", TAG]);
        ok(&run);
        assert!(
            run.stdout().contains("1 of 1 checks passed"),
            "{}",
            run.stdout()
        );
    }
    assert!(
        !lab.host_path(TAG, "/srv/proxy-runs").exists(),
        "the guard held, so the command never ran"
    );
}

#[test]
fn a_device_without_sha256sum_gets_one_error_naming_it_and_no_change() {
    let lab = lab_with(&file_resource("/srv/app.conf", "a = 1\n", ""), "");
    faults::remove_tool(&lab.lab, TAG, "sha256sum");
    let message = "FLT-0001 lacks sha256sum, which deskready needs there; install it and run again";
    for cmd in ["plan", "configure"] {
        let run = lab.run(&[cmd, TAG]);
        assert_ne!(run.code(), 0, "{cmd}: {}", run.stdout());
        assert!(run.stdout().contains(message), "{cmd}: {}", run.stdout());
        // One problem, of its own kind.
        let run = lab.run(&["--format", "json", cmd, TAG]);
        let done = done_run(&run);
        assert_eq!(
            done["problems"].as_array().map(Vec::len),
            Some(1),
            "{done:#}"
        );
        assert_eq!(done["problems"][0]["kind"], "missing-tools");
        assert_eq!(done["problems"][0]["message"], message);
    }
    assert!(!lab.host_path(TAG, "/srv/app.conf").exists());
    assert_eq!(staging_left(&lab), Vec::<String>::new());
}

/// Sets (`+i`) or clears (`-i`) the immutable attribute of a host path: an immutable
/// directory takes no new entry, not even root's.
fn chattr(path: &std::path::Path, flag: &str) {
    let st = std::process::Command::new("chattr")
        .arg(flag)
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success(), "chattr {flag} {}", path.display());
}

#[test]
fn a_run_that_writes_nothing_makes_nothing_in_the_devices_temp_directory() {
    let lab = lab_with(
        &format!(
            "  - directory: /srv/app\n{}  - name: stamp\n    command: date > /srv/app/stamp\n    \
             creates: /srv/app/stamp\n  - line: \"x = 1\"\n    path: /srv/app/list\n",
            file_resource("/srv/app/app.conf", "small\n", "    mode: \"0640\"\n")
        ),
        "  - name: the file is there\n    command: grep -q small /srv/app/app.conf\n",
    );
    ok(&lab.run(&["configure", TAG]));
    assert_eq!(staging_left(&lab), Vec::<String>::new());
    // From here on the device's /tmp takes no new entry: a run that needed a staging
    // directory would fail.
    let tmp = lab.host_path(TAG, "/tmp");
    chattr(&tmp, "+i");
    let plan = lab.run(&["plan", TAG]);
    let again = lab.run(&["configure", TAG]);
    chattr(&tmp, "-i");
    ok(&plan);
    ok(&again);
    assert!(
        again.stdout().contains("nothing changed"),
        "{}",
        again.stdout()
    );
    assert_eq!(
        std::fs::read_to_string(lab.host_path(TAG, "/srv/app/list")).unwrap(),
        "x = 1\n"
    );
}

#[test]
fn leftovers_of_cut_runs_are_removed_and_a_terminated_run_cleans_its_staging() {
    let lab = lab_with(
        &format!(
            "{}  - name: slow step\n    command: sleep 60\n    unless: test ! -e /srv/go-slow\n",
            // (large enough to be staged: its program runs from a staging directory)
            file_resource("/srv/app.conf", &text("app", 96), "")
        ),
        "",
    );
    ok(&lab.run(&["configure", TAG]));
    // What runs cut off by a dying device leave: a temp file beside the target, and a
    // staging directory whose program is gone (no pid is that large).
    lab.ssh(
        TAG,
        "echo half > /srv/.app.conf.deskready-4242 && mkdir -m 700 /tmp/deskready.cutoff \
         && echo 999999999 > /tmp/deskready.cutoff/pid \
         && head -c 3000000 /dev/zero > /tmp/deskready.cutoff/program",
    );
    let plan = lab.run(&["plan", TAG]);
    ok(&plan);
    assert!(names_in(&lab, "/srv").contains(&".app.conf.deskready-4242".to_string()));
    let again = lab.run(&["configure", TAG]);
    ok(&again);
    assert!(
        again.stdout().contains("nothing changed"),
        "{}",
        again.stdout()
    );
    assert_eq!(names_in(&lab, "/srv"), ["app.conf"]);
    assert_eq!(staging_left(&lab), Vec::<String>::new());

    // A run terminated while a command runs removes its own staging directory, which is
    // private to root while it lives.
    lab.ssh(TAG, "touch /srv/go-slow");
    let slow = lab.test().args(["configure", TAG]).spawn();
    let tmp = lab.host_path(TAG, "/tmp");
    let staging = wait_until(
        "the run's staging directory",
        Duration::from_secs(20),
        || staging_left(&lab).into_iter().next(),
    );
    let mode = std::fs::metadata(tmp.join(&staging))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "{staging}");
    let pid: u32 = wait_until("the program's pid", Duration::from_secs(20), || {
        std::fs::read_to_string(tmp.join(&staging).join("pid"))
            .ok()
            .and_then(|p| p.trim().parse().ok())
    });
    wait_until("the slow step to start", Duration::from_secs(20), || {
        descendants(pid)
            .iter()
            .any(|p| {
                std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                    .is_ok_and(|c| c == "sleep\x0060\x00")
            })
            .then_some(())
    });
    for p in descendants(pid) {
        unsafe { libc::kill(p as i32, libc::SIGTERM) };
    }
    let out = slow.wait();
    assert_ne!(out.code(), 0, "{}", out.stdout());
    wait_until(
        "the staging directory to go",
        Duration::from_secs(10),
        || staging_left(&lab).is_empty().then_some(()),
    );
}

#[test]
fn a_symlinked_target_owned_by_root_is_written_through_and_kept() {
    let lab = lab_with(
        &format!(
            "{}{}",
            file_resource("/srv/link.conf", "new\n", "    mode: \"0640\"\n"),
            file_resource("/srv/user-link.conf", "mine\n", "")
        ),
        "",
    );
    lab.ssh(
        TAG,
        "echo old > /srv/real.conf && chmod 644 /srv/real.conf && ln -s real.conf /srv/link.conf \
         && echo theirs > /srv/other.conf && ln -s other.conf /srv/user-link.conf \
         && chown -h nobody /srv/user-link.conf",
    );
    let plan = lab.run(&["plan", TAG]);
    assert!(
        plan.stdout().contains("-old\n") && plan.stdout().contains("+new\n"),
        "{}",
        plan.stdout()
    );
    let first = lab.run(&["--format", "json", "configure", TAG]);
    let run = done_run(&first);
    assert_eq!(run["resources"][0]["status"], "changed", "{run:#}");
    assert_eq!(run["resources"][1]["status"], "failed", "{run:#}");
    let message = run["resources"][1]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(
            "/srv/user-link.conf is a symbolic link owned by nobody, not root: deskready does not write through it"
        ),
        "{message}"
    );
    assert_eq!(lab.ssh(TAG, "readlink /srv/link.conf"), "real.conf\n");
    assert_eq!(lab.ssh(TAG, "cat /srv/real.conf"), "new\n");
    assert_eq!(lab.ssh(TAG, "stat -c %a /srv/real.conf"), "640\n");
    assert_eq!(lab.ssh(TAG, "readlink /srv/user-link.conf"), "other.conf\n");
    assert_eq!(lab.ssh(TAG, "cat /srv/other.conf"), "theirs\n");
    let second = done_run(&lab.run(&["--format", "json", "configure", TAG]));
    assert_eq!(second["resources"][0]["status"], "ok", "{second:#}");
}

#[test]
fn a_large_or_binary_file_gets_a_summary_not_a_diff_and_its_real_old_digest() {
    let sha = |s: &str| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(s.as_bytes()))[..12].to_string()
    };
    let a = text("A", 2048);
    let b = text("B", 2048);
    let resources = |big: &str| {
        format!(
            "{}{}",
            file_resource("/srv/big.txt", big, ""),
            file_resource("/srv/blob.bin", "text now\n", "")
        )
    };
    let lab = lab_with(&resources(&a), "");
    lab.ssh(TAG, "printf 'bin\\000ary' > /srv/blob.bin");
    let plan = lab.run(&["plan", TAG]);
    ok(&plan);
    let out = plan.stdout();
    assert!(out.len() < 4000, "a diff, not a summary: {out}");
    assert!(
        out.contains(&format!(
            "large content, not shown: a new file of {} bytes (sha256 {}) in the profile",
            a.len(),
            sha(&a)
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "binary content differs, not shown: 7 bytes (sha256 {}) on the device, 9 bytes (sha256 {}) in the profile",
            sha("bin\0ary"),
            sha("text now\n")
        )),
        "{out}"
    );
    ok(&lab.run(&["configure", TAG]));

    write_profile(&lab.site, &resources(&b), "");
    let plan = lab.run(&["plan", TAG]);
    ok(&plan);
    let out = plan.stdout();
    assert!(out.len() < 4000, "a diff, not a summary: {out}");
    assert!(
        out.contains(&format!(
            "large content differs, not shown: {} bytes (sha256 {}) on the device, {} bytes (sha256 {}) in the profile",
            a.len(),
            sha(&a),
            b.len(),
            sha(&b)
        )),
        "{out}"
    );
    ok(&lab.run(&["configure", TAG]));
    let history = lab.run(&["history", TAG]);
    assert!(
        history
            .stdout()
            .contains(&format!("[sha256 {} -> {}]", sha(&a), sha(&b))),
        "{}",
        history.stdout()
    );
}

#[test]
fn a_full_disk_or_a_read_only_target_fails_naming_the_file_and_leaves_nothing() {
    let lab = lab_with(
        &format!(
            "{}{}",
            file_resource("/srv/full/app.conf", &text("new", 200), ""),
            file_resource("/srv/ro/app.conf", "new\n", "")
        ),
        "",
    );
    faults::tiny_disk(&lab.lab, TAG, "/srv/full", 512);
    lab.ssh(
        TAG,
        "echo old > /srv/full/app.conf && mkdir -p /srv/ro && echo old > /srv/ro/app.conf",
    );
    faults::fill(&lab.lab, TAG, "/srv/full");
    faults::read_only(&lab.lab, TAG, "/srv/ro");

    let run = done_run(&lab.run(&["--format", "json", "configure", TAG]));
    assert_eq!(run["outcome"], "failed", "{run:#}");
    assert_eq!(run["resources"][0]["status"], "failed", "{run:#}");
    let message = run["resources"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("could not write /srv/full/app.conf: ")
            && message.contains("No space left on device"),
        "{message}"
    );
    assert_eq!(lab.ssh(TAG, "cat /srv/full/app.conf"), "old\n");
    assert_eq!(lab.ssh(TAG, "ls -A /srv/full"), ".filler\napp.conf\n");
    assert_eq!(staging_left(&lab), Vec::<String>::new());

    // With room again, the full disk's file is written and the read-only one fails.
    lab.ssh(TAG, "rm /srv/full/.filler");
    let run = done_run(&lab.run(&["--format", "json", "configure", TAG]));
    assert_eq!(run["resources"][0]["status"], "changed", "{run:#}");
    assert_eq!(run["resources"][1]["status"], "failed", "{run:#}");
    let message = run["resources"][1]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("could not write /srv/ro/app.conf: ")
            && message.contains("Read-only file system"),
        "{message}"
    );
    assert_eq!(lab.ssh(TAG, "cat /srv/ro/app.conf"), "old\n");
    assert_eq!(lab.ssh(TAG, "ls -A /srv/ro"), "app.conf\n");
    assert_eq!(staging_left(&lab), Vec::<String>::new());
}

#[test]
fn the_print_queue_lock_is_not_in_a_place_other_users_can_write() {
    let lab = LabSite::up_with_printers(SiteCopy::example(), 1);
    // Where the lock used to be, a local user aims a link at a file of root's.
    lab.ssh(
        "PS-0001",
        "echo precious > /etc/deskready-victim && ln -s /etc/deskready-victim /tmp/.deskready-print-queues.lock",
    );
    let printer = lab.lab.printers[0].name.clone();
    let run = lab.run(&["configure", &printer]);
    ok(&run);
    assert_eq!(
        lab.ssh("PS-0001", "cat /etc/deskready-victim"),
        "precious\n"
    );
    let server = &lab.lab.print_server.as_ref().expect("print server").address;
    let lock = format!("/run/deskready/print-queues-{server}.lock");
    assert_eq!(
        lab.ssh(
            "PS-0001",
            &format!(
                "stat -c '%U %a' /run/deskready {}",
                deskready::shell::quote(&lock)
            )
        ),
        "root 700\nroot 644\n"
    );
}
