//! Faults injected into one lab device, for tests of how deskready behaves under them.
//! Every fault changes only that device's view of the machine: it is made inside the
//! device's own mount namespace (`nsenter -t <its sshd> -m`), or in its private overlay of
//! /etc and /usr over SSH, so the host and the other devices never see it. Faults last
//! until the device's sshd stops (a namespace's mounts die with it); overlay changes
//! last as long as the device's files.
//!
//! Never brings labs up or down (see `lab`), never touches a process of its own.

use std::process::Command;

use deskready::lab::Lab;
use deskready::shell::quote;

use super::ssh;

/// The busybox binary of Debian's `busybox-static` package (`scripts/deps.sh`).
pub(crate) const BUSYBOX: &str = "/bin/busybox";

/// Runs `script` with `sh` inside the mount namespace of lab device `name`; panics with
/// its stderr when it fails.
pub(crate) fn in_namespace(lab: &Lab, name: &str, script: &str) {
    let pid = lab
        .device(name)
        .unwrap_or_else(|e| panic!("no lab device {name}: {e}"))
        .pid;
    let out = Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-m", "sh", "-c", script])
        .output()
        .expect("nsenter");
    assert!(
        out.status.success(),
        "in {name}'s namespace, {script:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes busybox the device's `/bin/sh` (a bind mount over what `/bin/sh` names). Since
/// busybox's own shell prefers its applets, the programs that shell runs also get
/// busybox's `head`, `sha256sum`, `stat`, ... as a busybox-based device would.
pub(crate) fn busybox_sh(lab: &Lab, name: &str) {
    assert!(
        std::path::Path::new(BUSYBOX).exists(),
        "{BUSYBOX} is missing: install busybox-static (scripts/deps.sh)"
    );
    in_namespace(
        lab,
        name,
        &format!("mount --bind {} /bin/sh", quote(BUSYBOX)),
    );
}

/// Gives root on the device another login shell (in the device's own /etc/passwd).
pub(crate) fn root_login_shell(lab: &Lab, name: &str, shell: &str) {
    assert!(
        std::path::Path::new(shell).exists(),
        "{shell} is missing (scripts/deps.sh installs csh)"
    );
    ssh::run(
        lab,
        name,
        &format!(
            "usermod -s {} root && grep '^root:' /etc/passwd",
            quote(shell)
        ),
    );
}

/// Removes `tool` (a program under /usr/bin) from the device only (its /usr overlay).
pub(crate) fn remove_tool(lab: &Lab, name: &str, tool: &str) {
    ssh::run(
        lab,
        name,
        &format!("rm -f {}", quote(&format!("/usr/bin/{tool}"))),
    );
}

/// Mounts a tmpfs of `kib` KiB at `dir` in the device (a nearly full disk), creating `dir`.
pub(crate) fn tiny_disk(lab: &Lab, name: &str, dir: &str, kib: u32) {
    in_namespace(
        lab,
        name,
        &format!(
            "mkdir -p {d} && mount -t tmpfs -o size={kib}k deskready-full {d}",
            d = quote(dir)
        ),
    );
}

/// Fills the tmpfs at `dir` (see [`tiny_disk`]) until it has no room left.
pub(crate) fn fill(lab: &Lab, name: &str, dir: &str) {
    in_namespace(
        lab,
        name,
        &format!(
            "dd if=/dev/zero of={f} bs=1k 2>/dev/null; test -s {f}",
            f = quote(&format!("{dir}/.filler"))
        ),
    );
}

/// Makes `dir` read-only in the device (a read-only bind mount of itself).
pub(crate) fn read_only(lab: &Lab, name: &str, dir: &str) {
    in_namespace(
        lab,
        name,
        &format!(
            "mount --bind {d} {d} && mount -o remount,bind,ro {d}",
            d = quote(dir)
        ),
    );
}
