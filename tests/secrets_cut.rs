//! A command's error output that holds a secret does not outlive its program on the
//! device, however the run is cut while the command runs: the controller killed, or the
//! device's sshd killed. Checked on a real lab, in the device's own run directory
//! (`/run/deskready`, where its programs keep their commands' error output).
//!
//! Reads the run directory only; never touches a file there.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use crate::support::procs::descendants;
use crate::support::{LabSite, SiteCopy, wait_until};

/// The secret; grepped for in the run directory. Its own (the other secrets tests run
/// meanwhile), long and unusual, so a hit is never a coincidence.
const SECRET: &str = "Err-4d2a-persimmon-Quokka-57";

/// The files of the run directory `dir` (the device's, seen from the host) holding the
/// secret.
fn held(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            std::fs::read(e.path())
                .is_ok_and(|b| b.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()))
        })
        .map(|e| e.path().display().to_string())
        .collect()
}

/// The example site with LAP-0002 on a profile whose one command prints the secret on
/// its error output, then waits a minute.
fn site(secret_file: &Path) -> SiteCopy {
    let site = SiteCopy::example();
    site.write(
        "inventory/secrets.yaml",
        &format!(
            "secrets:\n  wifi_psk: {{ file: {} }}\n",
            secret_file.display()
        ),
    );
    site.write(
        "profiles/errcut.yaml",
        r#"name: errcut
resources:
  - command: "echo err {{ secret.wifi_psk }} >&2; sleep 60"
"#,
    );
    site.edit(
        "inventory/laptops.yaml",
        "    profile: laptop-engineering\n    assignee: { name: Bruno",
        "    profile: errcut\n    assignee: { name: Bruno",
    );
    site
}

#[test]
fn a_cut_commands_secret_error_output_is_emptied_on_the_device() {
    let keys = tempfile::tempdir().unwrap();
    let file = keys.path().join("wifi.psk");
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut lab = LabSite::up(site(&file));
    let run_dir = lab
        .lab
        .device("LAP-0002")
        .unwrap()
        .host_path("/run/deskready/err")
        .expect("a light device's run directory");
    let held = || held(&run_dir);
    for cut in ["the controller killed", "the device's sshd killed"] {
        let running = lab.test().args(["configure", "LAP-0002"]).spawn();
        wait_until(
            "the command's error output in the device's run directory",
            Duration::from_secs(30),
            || (!held().is_empty()).then_some(()),
        );
        if cut == "the controller killed" {
            assert_ne!(running.kill().code(), 0);
        } else {
            let sshd = lab.lab.device("LAP-0002").unwrap().pid;
            for pid in descendants(sshd) {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if comm.trim() == "sshd" {
                    // SAFETY: kill(2) on a process of the lab this test brought up.
                    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                }
            }
            assert_ne!(running.wait().code(), 0);
        }
        wait_until(
            &format!("the secret gone from the run directory, {cut}"),
            Duration::from_secs(30),
            || held().is_empty().then_some(()),
        );
        if cut != "the controller killed" {
            lab.lab.start_device("LAP-0002").unwrap();
        }
    }
}
