//! Full devices: a Debian system booted with systemd as PID 1 in `systemd-nspawn`, each an
//! overlay (its own upper directory) on one shared base root made once per machine by
//! `scripts/lab-base`. A full device has its own services, users and dpkg database; it
//! shares the host's network, so its own sshd listens on the device's own loopback address
//! (a drop-in in its `/etc/ssh/sshd_config.d/`), with its own host key and the operator's
//! key in root's `authorized_keys`. Owns the base root's place, each device's upper
//! directory, the nspawn command line, and starting and stopping the containers (TERM to
//! systemd-nspawn shuts the container down cleanly; the lab waits until it is gone).
//!
//! Never writes into the base root and never signals a process whose command line does
//! not carry this lab's full-device marker. Imports no lab file but `sshd`, `process` and
//! `error`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::error::{LabError, io_err};
use super::process::{Processes, full_marker, is_marked, run_checked};
use super::sshd::{LabDevice, keygen};

/// Where the base root is looked for when `DESKREADY_LAB_BASE` does not say.
pub const DEFAULT_BASE: &str = "/var/cache/deskready-lab/bookworm";
/// The environment variable naming another base root.
pub const BASE_ENV: &str = "DESKREADY_LAB_BASE";
const NSPAWN: &str = "systemd-nspawn";
/// How long a container gets to shut down after TERM before KILL.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// The shared base root, checked to hold systemd and sshd. It is made by
/// `scripts/lab-base` (debootstrap), never by the lab itself.
pub(super) fn base_root() -> Result<PathBuf, LabError> {
    let base = std::env::var_os(BASE_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_BASE));
    let complete = base.join("lib/systemd/systemd").exists() && base.join("usr/sbin/sshd").exists();
    if !complete {
        return Err(LabError::NoBaseRoot { path: base });
    }
    let text = base.to_string_lossy();
    if text.contains([':', ',']) || text.chars().any(char::is_whitespace) {
        return Err(LabError::BadDir {
            dir: base,
            reason: "a base root path with ':', ',' or whitespace cannot be an overlay layer"
                .into(),
        });
    }
    Ok(base)
}

/// Each device's upper directory: the sshd drop-in (its address), its host key (made once,
/// kept across starts) and the operator's key for root.
pub(super) fn prepare(key_file: &Path, devices: &[&LabDevice]) -> Result<(), LabError> {
    let operator_pub = key_file.with_extension("pub");
    for d in devices {
        let upper = d.dir.join("upper");
        let dropins = upper.join("etc/ssh/sshd_config.d");
        let ssh_dir = upper.join("root/.ssh");
        for dir in [&dropins, &ssh_dir] {
            fs::create_dir_all(dir).map_err(io_err("create", dir))?;
        }
        // Root's home and its .ssh as Debian has them (the upper layer's modes win).
        for dir in [upper.join("root"), ssh_dir.clone()] {
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                .map_err(io_err("set the mode of", &dir))?;
        }
        let auth = ssh_dir.join("authorized_keys");
        fs::copy(&operator_pub, &auth).map_err(io_err("copy the operator key to", &auth))?;
        let conf = dropins.join("00-deskready-lab.conf");
        fs::write(&conf, sshd_dropin(d)).map_err(io_err("write", &conf))?;
        let key = d.host_key_file();
        if !key.exists() || !key.with_extension("pub").exists() {
            let _ = fs::remove_file(&key);
            let _ = fs::remove_file(key.with_extension("pub"));
            run_checked(
                keygen(&key, &format!("deskready-lab-{}", d.name)),
                &format!("ssh-keygen (host key of {})", d.name),
            )?;
        }
    }
    Ok(())
}

/// Boots the device's container and records the pid of its systemd-nspawn; does not wait.
pub(super) fn spawn(procs: &Processes, base: &Path, d: &mut LabDevice) -> Result<(), LabError> {
    let cmd = nspawn_command(base, d);
    d.pid = procs.spawn(&d.name, cmd, &d.log_file(), || {
        format!("starting full device {}", d.name)
    })?;
    Ok(())
}

/// Whether `pid` is a live systemd-nspawn of a full device of the lab in `lab_dir`.
pub(super) fn is_running(lab_dir: &Path, pid: u32) -> bool {
    is_marked(pid, &full_marker(lab_dir))
}

/// Shuts the listed containers (device name, nspawn pid) of the lab in `lab_dir` down:
/// TERM to each systemd-nspawn (a clean shutdown of the system inside), waits until each
/// is gone, KILL after [`STOP_GRACE`].
pub(super) fn stop(
    procs: &Processes,
    lab_dir: &Path,
    pids: &[(String, u32)],
) -> Result<(), LabError> {
    procs
        .terminate(pids, STOP_GRACE, |pid| is_running(lab_dir, pid))
        .map_err(|(device, pid)| LabError::DidNotStop { device, pid })
}

/// Removes the device's host key pair, so the next start makes a new one.
pub(super) fn remove_host_key(d: &LabDevice) -> Result<(), LabError> {
    let key = d.host_key_file();
    for f in [key.clone(), key.with_extension("pub")] {
        match fs::remove_file(&f) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("remove", &f)(e)),
        }
    }
    Ok(())
}

/// The container's machine name: unique on this machine (addresses are), a valid hostname.
fn machine_name(d: &LabDevice) -> String {
    format!("dr-{}", d.host.replace('.', "-"))
}

/// The sshd drop-in: read before Debian's own settings (the first value of a setting wins).
fn sshd_dropin(d: &LabDevice) -> String {
    format!(
        "# deskready lab device {name}: written by `deskready lab`, rewritten at every start\n\
         ListenAddress {addr}\n\
         HostKey /etc/ssh/ssh_host_ed25519_key\n\
         PermitRootLogin prohibit-password\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         UseDNS no\n\
         MaxStartups 100:30:200\n\
         MaxSessions 100\n",
        name = d.name,
        addr = d.address(),
    )
}

/// `systemd-nspawn -D BASE --overlay=BASE:UPPER:/ --boot --register=no --keep-unit -M NAME`.
/// There is no systemd on a lab host to register with; the image lock is off because every
/// device boots from the same base (which none writes to).
fn nspawn_command(base: &Path, d: &LabDevice) -> Command {
    let upper = d.dir.join("upper");
    let mut cmd = Command::new(NSPAWN);
    cmd.arg("--quiet")
        .arg("-D")
        .arg(base)
        .arg(format!(
            "--overlay={}:{}:/",
            base.display(),
            upper.display()
        ))
        .args([
            "--boot",
            "--register=no",
            "--keep-unit",
            "--console=passive",
        ])
        .arg(format!("--machine={}", machine_name(d)))
        .env("SYSTEMD_NSPAWN_LOCK", "0");
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> LabDevice {
        LabDevice {
            name: "FULL-0001".into(),
            host: "127.100.0.1".into(),
            port: 2222,
            dir: PathBuf::from("/tmp/lab/full/FULL-0001"),
            pid: 0,
            full: true,
        }
    }

    #[test]
    fn the_command_line_carries_the_marker_and_a_unique_machine_name() {
        let d = device();
        let cmd = nspawn_command(Path::new("/var/cache/base"), &d);
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let line = args.join(" ");
        assert!(line.contains(&full_marker(Path::new("/tmp/lab"))), "{line}");
        assert!(
            line.contains("--overlay=/var/cache/base:/tmp/lab/full/FULL-0001/upper:/"),
            "{line}"
        );
        assert!(line.contains("--machine=dr-127-100-0-1"), "{line}");
        assert!(sshd_dropin(&d).contains("ListenAddress 127.100.0.1:2222\n"));
    }

    #[test]
    fn paths_land_in_the_upper_directory() {
        let d = device();
        assert_eq!(
            d.host_path("/etc/x.conf"),
            Some(PathBuf::from("/tmp/lab/full/FULL-0001/upper/etc/x.conf"))
        );
        assert_eq!(
            d.host_key_file(),
            PathBuf::from("/tmp/lab/full/FULL-0001/upper/etc/ssh/ssh_host_ed25519_key")
        );
    }
}
