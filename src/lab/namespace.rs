//! Mount namespaces of light devices: each device sees private overlays over the system
//! directories (the host's content, its own writes), empty private /root, /home and /tmp,
//! a private deskready run directory (`/run/deskready`) and its staged files on a private
//! tmpfs. Owns the mount list (an fstab), the command
//! that enters a fresh namespace, where a device's writes land on the host, and finding the
//! processes left inside a device's namespace.
//!
//! Knows nothing of sshd beyond the name of the directory it stages; never signals a
//! process it was not handed or found in a namespace of one it was handed. Imports no lab
//! file but `process` and `error`.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::error::LabError;
use super::process::{proc_alive, proc_start_time, signal};
use crate::shell::quote;

/// Directories each device sees through a private overlay: the host's content, its own writes.
const OVERLAID: [&str; 5] = ["/etc", "/usr", "/var", "/opt", "/srv"];
/// Directories each device gets empty and private.
const PRIVATE: [&str; 3] = ["root", "home", "tmp"];
/// Where, inside a device's namespace, its staged files are mounted.
pub(super) const NS_STAGE: &str = "/run/deskready-lab";
/// deskready's run directory on a device (its programs' files for commands' error output,
/// print servers' locks).
const RUN: &str = "/run/deskready";
/// Where, on the host (on its tmpfs /run, as a device's is), each light device's own run
/// directory is: `RUNS/<device address>`. A real device has a run directory of its own;
/// were the devices to share the host's, each program would look through every other
/// device's files (and 50 devices' programs at once make that many).
const RUNS: &str = "/run/deskready-lab-run";

/// The host directory that the light device at address `host` sees as `/run/deskready`:
/// kept while the device stops and starts (as a machine's /run is until it reboots), made
/// anew when its lab comes up ([`fresh_run_dir`]), removed when it goes down.
pub(super) fn run_dir(host: &str) -> PathBuf {
    Path::new(RUNS).join(host)
}

/// The run directory of the light device at `host`, empty, root's only (as a device's
/// first program makes it).
pub(super) fn fresh_run_dir(host: &str) -> Result<(), LabError> {
    remove_run_dir(host)?;
    make_run_dir(host)
}

/// The run directory of the light device at `host`, made (root's only) when missing.
pub(super) fn make_run_dir(host: &str) -> Result<(), LabError> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = run_dir(host);
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(RUNS).map_err(super::error::io_err("create", Path::new(RUNS)))?;
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(super::error::io_err("create", &dir))
}

/// Removes the run directory of the light device at `host` (nothing when there is none).
pub(super) fn remove_run_dir(host: &str) -> Result<(), LabError> {
    let dir = run_dir(host);
    match fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(super::error::io_err("remove", &dir)(e))
        }
        _ => Ok(()),
    }
}

/// Refuses a lab directory that overlay mount options or sshd options cannot carry, or that
/// every device would overlay.
pub(super) fn check_lab_dir(dir: &Path) -> Result<(), LabError> {
    let bad = |reason: String| LabError::BadDir {
        dir: dir.to_path_buf(),
        reason,
    };
    let text = dir
        .to_str()
        .ok_or_else(|| bad("the path is not UTF-8".into()))?;
    if let Some(c) = text
        .chars()
        .find(|c| matches!(c, ',' | ':' | '"' | '\\') || c.is_control())
    {
        return Err(bad(format!(
            "the path contains {c:?}, which overlay mount options and sshd options cannot carry"
        )));
    }
    for top in OVERLAID {
        if dir.starts_with(top) {
            return Err(bad(format!(
                "it is under {top}, which every device overlays; use a directory elsewhere \
                 (e.g. under /tmp, /root or /home)"
            )));
        }
    }
    Ok(())
}

/// The directories under a device's directory `dev_dir` that its mounts use: overlay upper
/// and work layers, private /root, /home and /tmp.
pub(super) fn layer_dirs(dev_dir: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for top in OVERLAID {
        let top = top.trim_start_matches('/');
        dirs.push(dev_dir.join("upper").join(top));
        dirs.push(dev_dir.join("work").join(top));
    }
    for p in PRIVATE {
        dirs.push(dev_dir.join(p));
    }
    dirs
}

/// Where the writes of the device in `dev_dir` at address `host` to `path` (under /etc, /usr,
/// /var, /opt, /srv, /root, /home, /tmp or /run/deskready) land on the host; `None` for
/// paths the device shares with the host.
pub(super) fn host_path(dev_dir: &Path, host: &str, path: &str) -> Option<PathBuf> {
    if let Some(rest) = path.strip_prefix(RUN)
        && (rest.is_empty() || rest.starts_with('/'))
    {
        return Some(PathBuf::from(format!(
            "{}{rest}",
            run_dir(host).to_string_lossy()
        )));
    }
    let rel = path.strip_prefix('/')?;
    let (top, rest) = rel.split_once('/').unwrap_or((rel, ""));
    let base = if OVERLAID.contains(&format!("/{top}").as_str()) {
        dev_dir.join("upper").join(top)
    } else if PRIVATE.contains(&top) {
        dev_dir.join(top)
    } else {
        return None;
    };
    Some(if rest.is_empty() {
        base
    } else {
        base.join(rest)
    })
}

/// The mounts of device `name` (directory `dev_dir`, address `host`), in order, as an fstab
/// for one `mount --all --fstab` (one process for all mounts instead of one per mount: that
/// is what makes 500 devices start quickly).
///
/// Overlays first (their layers are named by host paths), then its run directory
/// ([`run_dir`]) on `/run/deskready`, then `dev_dir/<staged>` on `NS_STAGE/<staged>` of a
/// private tmpfs, and only then the private /root, /home and /tmp (which may hide the lab
/// directory itself).
pub(super) fn fstab(name: &str, dev_dir: &Path, host: &str, staged: &str) -> String {
    // fstab fields are separated by whitespace; octal escapes carry it inside a field.
    let esc = |p: &Path| {
        p.to_string_lossy()
            .replace('\\', "\\134")
            .replace(' ', "\\040")
            .replace('\t', "\\011")
    };
    let mut lines = vec![format!(
        "# deskready lab device {name}: mounted in its private namespace at every start"
    )];
    for top in OVERLAID {
        if !Path::new(top).is_dir() {
            continue;
        }
        let name = top.trim_start_matches('/');
        lines.push(format!(
            "overlay {top} overlay lowerdir={top},upperdir={},workdir={} 0 0",
            esc(&dev_dir.join("upper").join(name)),
            esc(&dev_dir.join("work").join(name))
        ));
    }
    lines.push(format!("{} {RUN} none bind 0 0", esc(&run_dir(host))));
    lines.push(format!(
        "deskready-lab {NS_STAGE} tmpfs size=1m,mode=0755 0 0"
    ));
    lines.push(format!(
        "{} {NS_STAGE}/{staged} none bind,X-mount.mkdir 0 0",
        esc(&dev_dir.join(staged))
    ));
    for p in PRIVATE {
        let target = format!("/{p}");
        if Path::new(&target).is_dir() {
            lines.push(format!("{} {target} none bind 0 0", esc(&dev_dir.join(p))));
        }
    }
    lines.push(String::new());
    lines.join("\n")
}

/// `<mounts> && exec <exec>`: what runs inside the fresh namespace (`exec` is a shell
/// command line, its words already quoted).
pub(super) fn script(fstab: &Path, exec: &str) -> String {
    format!(
        "mount --all --fstab {} && exec {exec}",
        quote(&fstab.to_string_lossy())
    )
}

/// `unshare --mount --propagation private sh -c <script>`: a process in a fresh mount
/// namespace that mounts `fstab` and then becomes `exec` (so its pid is `exec`'s).
pub(super) fn command(fstab: &Path, exec: &str) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(script(fstab, exec));
    cmd
}

/// Makes sure the directories every namespace mounts on exist on the host (`/run/deskready`
/// root's only, as a program on the host would make it).
pub(super) fn prepare_host() -> Result<(), LabError> {
    use std::os::unix::fs::DirBuilderExt;
    fs::create_dir_all(NS_STAGE).map_err(super::error::io_err("create", Path::new(NS_STAGE)))?;
    match fs::DirBuilder::new().mode(0o700).create(RUN) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            Err(super::error::io_err("create", Path::new(RUN))(e))
        }
        _ => Ok(()),
    }
}

/// The processes living in the mount namespaces of some devices, each remembered with its
/// start time so a reused pid is never hit.
pub(super) struct Members(Vec<(u32, Option<u64>)>);

impl Members {
    /// Every process in the mount namespace of one of `pids` (other than this process's
    /// own namespace). Take them while `pids` still hold their namespaces: a freed
    /// namespace id can be reused by a new one.
    pub(super) fn of(pids: impl IntoIterator<Item = u32>) -> Members {
        let own_ns = mount_ns(std::process::id());
        let namespaces: HashSet<u64> = pids
            .into_iter()
            .filter_map(mount_ns)
            .filter(|ns| Some(*ns) != own_ns)
            .collect();
        Members(
            namespace_members(&namespaces)
                .into_iter()
                .map(|pid| (pid, proc_start_time(pid)))
                .collect(),
        )
    }

    /// Asks every member to stop (TERM).
    pub(super) fn terminate(&self) {
        for (pid, _) in &self.0 {
            signal(*pid, libc::SIGTERM);
        }
    }

    /// KILLs the members still running (the same processes: same pid, same start time).
    pub(super) fn kill_survivors(self) {
        for (pid, started) in self.0 {
            if proc_alive(pid) && proc_start_time(pid) == started {
                signal(pid, libc::SIGKILL);
            }
        }
    }
}

fn mount_ns(pid: u32) -> Option<u64> {
    let link = fs::read_link(format!("/proc/{pid}/ns/mnt")).ok()?;
    let s = link.to_str()?;
    s.strip_prefix("mnt:[")?.strip_suffix(']')?.parse().ok()
}

/// Every process living in one of these mount namespaces.
fn namespace_members(namespaces: &HashSet<u64>) -> Vec<u32> {
    if namespaces.is_empty() {
        return Vec::new();
    }
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| mount_ns(*pid).is_some_and(|ns| namespaces.contains(&ns)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_dirs() {
        assert!(check_lab_dir(Path::new("/tmp/lab")).is_ok());
        let err = check_lab_dir(Path::new("/var/lab"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("under /var"), "{err}");
        assert!(check_lab_dir(Path::new("/tmp/a,b")).is_err());
    }

    #[test]
    fn fstab_escapes_whitespace_and_script_quotes_the_fstab() {
        let dev = Path::new("/tmp/it's a lab/devices/LAP-0001");
        let fstab = fstab("LAP-0001", dev, "127.100.0.1", "sshd");
        assert!(
            fstab.contains("/tmp/it's\\040a\\040lab/devices/LAP-0001/root /root none bind 0 0\n"),
            "{fstab}"
        );
        assert!(
            fstab.contains(
                "/tmp/it's\\040a\\040lab/devices/LAP-0001/sshd /run/deskready-lab/sshd none \
                 bind,X-mount.mkdir 0 0\n"
            ),
            "{fstab}"
        );
        assert!(
            fstab.contains("/run/deskready-lab-run/127.100.0.1 /run/deskready none bind 0 0\n"),
            "{fstab}"
        );
        let s = script(&dev.join("fstab"), "true");
        assert_eq!(
            s,
            r"mount --all --fstab '/tmp/it'\''s a lab/devices/LAP-0001/fstab' && exec true"
        );
    }

    #[test]
    fn host_paths() {
        let dev = Path::new("/lab/devices/X");
        assert_eq!(
            host_path(dev, "h", "/etc/deskready-test"),
            Some(PathBuf::from("/lab/devices/X/upper/etc/deskready-test"))
        );
        assert_eq!(
            host_path(dev, "h", "/tmp/a"),
            Some(PathBuf::from("/lab/devices/X/tmp/a"))
        );
        assert_eq!(host_path(dev, "h", "/proc/x"), None);
        assert_eq!(
            host_path(dev, "127.100.0.1", "/run/deskready/err"),
            Some(PathBuf::from("/run/deskready-lab-run/127.100.0.1/err"))
        );
        assert_eq!(host_path(dev, "h", "/run/deskready-x"), None);
        assert_eq!(layer_dirs(dev).len(), 2 * OVERLAID.len() + PRIVATE.len());
    }
}
