//! Light devices: one sshd per device, on its own loopback address and in its own mount
//! namespace. Owns the device types ([`LabDeviceSpec`], [`LabDevice`], light or full),
//! device names and addresses, the operator key and host keys, each light device's sshd
//! config, starting and stopping those sshds, and waiting until any device (light or full)
//! accepts connections.
//!
//! Does not record anything (the caller saves the lab's state) and never touches a process
//! that does not carry this lab's marker. Imports no lab file but `namespace`, `slots`,
//! `process` and `error`.

use std::collections::{HashSet, VecDeque};
use std::fs;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{LabError, io_err};
use super::namespace::{self, Members, NS_STAGE};
use super::process::{NotReady, Processes, device_marker, is_marked, log_tail, run_checked};
use super::slots::{MAX_DEVICES, device_host};
use crate::shell::quote;

/// Every device listens on this port of its own address.
pub const LAB_PORT: u16 = 2222;
const SSHD: &str = "/usr/sbin/sshd";
/// The directory of a device's sshd files, staged into its namespace.
const STAGED: &str = "sshd";
/// A full device's host key, under its directory (its sshd's own `/etc/ssh` key).
const FULL_HOST_KEY: &str = "upper/etc/ssh/ssh_host_ed25519_key";

/// A device to simulate, named by its asset tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabDeviceSpec {
    pub name: String,
    /// A full device (Debian with systemd as PID 1 in systemd-nspawn) instead of a light
    /// one (an sshd in a mount namespace).
    #[serde(default)]
    pub full: bool,
}

impl LabDeviceSpec {
    /// A light device.
    pub fn new(name: impl Into<String>) -> Self {
        LabDeviceSpec {
            name: name.into(),
            full: false,
        }
    }

    /// A full device: its own systemd, services, users and dpkg database.
    pub fn full(name: impl Into<String>) -> Self {
        LabDeviceSpec {
            name: name.into(),
            full: true,
        }
    }
}

/// One running (or stopped) simulated device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabDevice {
    pub name: String,
    pub host: String,
    pub port: u16,
    /// `<lab>/devices/<name>`: sshd files, overlay layers, private homes and /tmp; for a
    /// full device `<lab>/full/<name>`, whose `upper/` holds everything the device wrote.
    pub dir: PathBuf,
    /// The sshd listener (sh execs it, so the spawned pid is sshd); for a full device, its
    /// systemd-nspawn.
    pub pid: u32,
    /// A full device (see [`LabDeviceSpec::full`]); false in files written before they existed.
    #[serde(default)]
    pub full: bool,
}

impl LabDevice {
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The device's private host key (regenerate it to simulate a reinstall).
    pub fn host_key_file(&self) -> PathBuf {
        if self.full {
            self.dir.join(FULL_HOST_KEY)
        } else {
            self.dir.join("sshd/hostkey")
        }
    }

    /// What the device's sshd (for a full device, its systemd-nspawn) wrote to stderr.
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("sshd.log")
    }

    /// Where the device's writes to `path` (under /etc, /usr, /var, /opt, /srv, /root, /home
    /// or /tmp) land on the host; `None` for paths the device shares with the host.
    /// A full device keeps every path it writes private, in its upper directory (what it
    /// did not write is the shared base root's, and has no host path of its own).
    pub fn host_path(&self, path: &str) -> Option<PathBuf> {
        if self.full {
            let rel = path.strip_prefix('/')?;
            return Some(self.dir.join("upper").join(rel));
        }
        namespace::host_path(&self.dir, &self.host, path)
    }

    fn fstab_file(&self) -> PathBuf {
        self.dir.join("fstab")
    }
}

/// Refuses too many devices, names that are not file names, and names listed twice.
pub(super) fn validate_specs(devices: &[LabDeviceSpec]) -> Result<(), LabError> {
    if devices.len() > MAX_DEVICES {
        return Err(LabError::BadDevice {
            name: devices[MAX_DEVICES].name.clone(),
            reason: format!("a lab holds at most {MAX_DEVICES} devices"),
        });
    }
    let mut seen = HashSet::new();
    for d in devices {
        let ok = !d.name.is_empty()
            && !d.name.starts_with('.')
            && d.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            return Err(LabError::BadDevice {
                name: d.name.clone(),
                reason: "a device name is letters, digits, '-', '_' and '.', not starting with '.'"
                    .into(),
            });
        }
        if !seen.insert(d.name.as_str()) {
            return Err(LabError::BadDevice {
                name: d.name.clone(),
                reason: "the name is listed twice".into(),
            });
        }
    }
    Ok(())
}

/// The devices of the lab in `dir` holding `slot`, not started (pid 0).
pub(super) fn new_devices(dir: &Path, slot: u32, specs: &[LabDeviceSpec]) -> Vec<LabDevice> {
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| LabDevice {
            name: spec.name.clone(),
            host: device_host(slot, i),
            port: LAB_PORT,
            dir: dir
                .join(if spec.full { "full" } else { "devices" })
                .join(&spec.name),
            pid: 0,
            full: spec.full,
        })
        .collect()
}

/// How many user (and group) ids each light device has to itself.
const IDS_PER_DEVICE: u64 = 20;

/// The host's `login.defs` with the user and group id range of the light device at `host`
/// (`127.(100+slot).(i/250).(1+i%250)`): a range no other light device on this machine
/// uses. Light devices share the host's process table, and `userdel` refuses an account
/// while any process with its uid runs; with one range for all, one lab's processes of
/// uid 1000 would block another lab's account removal.
fn own_ids(host_defs: &str, host: &str) -> String {
    const KEYS: [&str; 4] = ["UID_MIN", "UID_MAX", "GID_MIN", "GID_MAX"];
    let octets: Vec<u64> = host.split('.').filter_map(|o| o.parse().ok()).collect();
    let n = match octets[..] {
        [_, a, b, c] => a.saturating_sub(100) * 1000 + (b * 250 + c.saturating_sub(1)) % 1000,
        _ => 0,
    };
    let first = 10_000 + n * IDS_PER_DEVICE;
    let last = first + IDS_PER_DEVICE - 1;
    let mut out: String = host_defs
        .lines()
        .filter(|l| !KEYS.contains(&l.split_whitespace().next().unwrap_or("")))
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str(&format!(
        "# deskready lab: this device's own id range\n\
         UID_MIN {first}\nUID_MAX {last}\nGID_MIN {first}\nGID_MAX {last}\n"
    ));
    out
}

/// Installs openssh-server when sshd is missing; creates the directories sshd and the
/// namespaces need on the host.
pub(super) fn prepare_host() -> Result<(), LabError> {
    ensure_sshd()?;
    fs::create_dir_all("/run/sshd").map_err(io_err("create", Path::new("/run/sshd")))?;
    namespace::prepare_host()
}

/// The operator's key pair in `<lab>/keys/operator[.pub]`, generated when missing; returns
/// the private key's path.
pub(super) fn operator_key(lab_dir: &Path) -> Result<PathBuf, LabError> {
    let keys = lab_dir.join("keys");
    fs::create_dir_all(&keys).map_err(io_err("create", &keys))?;
    let key_file = keys.join("operator");
    if !key_file.exists() || !keys.join("operator.pub").exists() {
        let _ = fs::remove_file(&key_file);
        let _ = fs::remove_file(keys.join("operator.pub"));
        run_checked(
            keygen(&key_file, "deskready-operator"),
            "ssh-keygen (operator key)",
        )?;
    }
    Ok(key_file)
}

/// Directories, host keys and sshd configs for these devices (host keys in parallel);
/// every device authorizes the public half of `key_file`.
pub(super) fn prepare(key_file: &Path, devices: &[&LabDevice]) -> Result<(), LabError> {
    let operator_pub = key_file.with_extension("pub");
    let mut keygens = Vec::new();
    for d in devices {
        let sshd_dir = d.dir.join(STAGED);
        let dirs = std::iter::once(sshd_dir.clone()).chain(namespace::layer_dirs(&d.dir));
        for dir in dirs {
            fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        }
        let auth = sshd_dir.join("authorized_keys");
        fs::copy(&operator_pub, &auth).map_err(io_err("copy the operator key to", &auth))?;
        let fstab = d.fstab_file();
        fs::write(&fstab, namespace::fstab(&d.name, &d.dir, &d.host, STAGED))
            .map_err(io_err("write", &fstab))?;
        namespace::make_run_dir(&d.host)?;
        let cfg = sshd_dir.join("sshd_config");
        fs::write(&cfg, sshd_config(d)).map_err(io_err("write", &cfg))?;
        let defs = d.dir.join("upper/etc/login.defs");
        let host_defs = fs::read_to_string("/etc/login.defs").unwrap_or_default();
        fs::write(&defs, own_ids(&host_defs, &d.host)).map_err(io_err("write", &defs))?;
        let key = d.host_key_file();
        if !key.exists() || !key.with_extension("pub").exists() {
            let _ = fs::remove_file(&key);
            let _ = fs::remove_file(key.with_extension("pub"));
            keygens.push((
                d.name.clone(),
                keygen(&key, &format!("deskready-lab-{}", d.name)),
            ));
        }
    }
    // A few ssh-keygen processes at a time (a sliding window): fast, without flooding
    // the process table.
    let window = std::thread::available_parallelism().map_or(2, |n| n.get()) * 2;
    let mut running: VecDeque<(String, Child)> = VecDeque::new();
    let failed = |name: &str, detail: String| LabError::Command {
        what: format!("ssh-keygen (host key of {name})"),
        detail,
    };
    let finish = |(name, child): (String, Child)| -> Result<(), LabError> {
        let out = child
            .wait_with_output()
            .map_err(|e| failed(&name, e.to_string()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(failed(
                &name,
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ))
        }
    };
    for (name, mut cmd) in keygens {
        if running.len() >= window {
            finish(running.pop_front().expect("window is not empty"))?;
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| failed(&name, e.to_string()))?;
        running.push_back((name, child));
    }
    for job in running {
        finish(job)?;
    }
    Ok(())
}

/// Gives these light devices empty run directories (`/run/deskready`), as a boot does.
pub(super) fn fresh_run_dirs(devices: &[&LabDevice]) -> Result<(), LabError> {
    devices
        .iter()
        .try_for_each(|d| namespace::fresh_run_dir(&d.host))
}

/// Removes the run directories of these light devices (they have stopped).
pub(super) fn remove_run_dirs(devices: &[&LabDevice]) -> Result<(), LabError> {
    devices
        .iter()
        .try_for_each(|d| namespace::remove_run_dir(&d.host))
}

/// Removes the device's host key pair, so the next start generates a new one.
pub(super) fn remove_host_key(d: &LabDevice) -> Result<(), LabError> {
    let key = d.host_key_file();
    for f in [key.clone(), key.with_extension("pub")] {
        match fs::remove_file(&f) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("remove", &f)(e)),
        }
    }
    Ok(())
}

/// Starts the device's sshd in a fresh mount namespace and records its pid; does not wait.
pub(super) fn spawn(procs: &Processes, lab_dir: &Path, d: &mut LabDevice) -> Result<(), LabError> {
    let cmd = namespace::command(&d.fstab_file(), &sshd_command(lab_dir, d));
    d.pid = procs.spawn(&d.name, cmd, &d.log_file(), || {
        format!("starting device {}", d.name)
    })?;
    Ok(())
}

/// Polls until every listed device accepts TCP; fails naming the first that does not.
pub(super) fn wait_listening(procs: &Processes, devices: &[&LabDevice]) -> Result<(), LabError> {
    // A full device boots a whole system first.
    let least = if devices.iter().any(|d| d.full) {
        Duration::from_secs(90)
    } else {
        Duration::from_secs(20)
    };
    let timeout = least.max(Duration::from_millis(60) * devices.len() as u32);
    let keys: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
    let addrs: Vec<SocketAddr> = devices
        .iter()
        .map(|d| d.address().parse().expect("lab addresses are IPv4"))
        .collect();
    procs
        .wait_ready(&keys, timeout, Duration::from_millis(20), |i| {
            TcpStream::connect_timeout(&addrs[i], Duration::from_millis(200)).is_ok()
        })
        .map_err(|e| match e {
            NotReady::Exited { index, status } => LabError::DeviceExited {
                device: devices[index].name.clone(),
                address: devices[index].address(),
                status,
                log: log_tail(&devices[index].log_file()),
            },
            NotReady::TimedOut { index } => LabError::NotListening {
                device: devices[index].name.clone(),
                address: devices[index].address(),
                timeout,
                log: devices[index].log_file(),
            },
        })
}

/// Whether `pid` is a live sshd of the lab in `lab_dir`.
pub(super) fn is_running(lab_dir: &Path, pid: u32) -> bool {
    is_marked(pid, &device_marker(lab_dir))
}

/// Stops the listed sshds (device name, pid) of the lab in `lab_dir` and every process left
/// in their namespaces: TERM, then KILL.
pub(super) fn stop(
    procs: &Processes,
    lab_dir: &Path,
    pids: &[(String, u32)],
) -> Result<(), LabError> {
    let ours = |pid: u32| is_running(lab_dir, pid);
    // Sessions and commands still running inside the devices were started there by this
    // lab's sshds: the namespace is private to the device.
    let members = Members::of(pids.iter().map(|(_, pid)| *pid).filter(|pid| ours(*pid)));
    members.terminate();
    procs
        .terminate(pids, Duration::from_secs(3), ours)
        .map_err(|(device, pid)| LabError::DidNotStop { device, pid })?;
    members.kill_survivors();
    Ok(())
}

fn sshd_config(d: &LabDevice) -> String {
    format!(
        "# deskready lab device {name}: written by `deskready lab`, rewritten at every start\n\
         ListenAddress {addr}\n\
         HostKey {NS_STAGE}/sshd/hostkey\n\
         PidFile {NS_STAGE}/sshd/sshd.pid\n\
         AuthorizedKeysFile {NS_STAGE}/sshd/authorized_keys\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         PermitRootLogin prohibit-password\n\
         UsePAM no\n\
         StrictModes no\n\
         UseDNS no\n\
         MaxStartups 100:30:200\n\
         MaxSessions 100\n\
         Subsystem sftp internal-sftp\n",
        name = d.name,
        addr = d.address(),
    )
}

/// The sshd command line run inside the device's namespace; its `SetEnv` carries the lab's
/// marker (how the lab recognizes its sshds) and the device's name.
fn sshd_command(lab_dir: &Path, d: &LabDevice) -> String {
    let env = format!(
        "SetEnv {} DESKREADY_DEVICE={}",
        device_marker(lab_dir),
        d.name
    );
    format!(
        "{SSHD} -D -e -f {} -o {}",
        quote(&format!("{NS_STAGE}/{STAGED}/sshd_config")),
        quote(&env)
    )
}

pub(super) fn keygen(path: &Path, comment: &str) -> Command {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path);
    cmd
}

/// Installs openssh-server when sshd is missing.
fn ensure_sshd() -> Result<(), LabError> {
    if Path::new(SSHD).exists() {
        return Ok(());
    }
    let mut cmd = Command::new("apt-get");
    cmd.args(["install", "-y", "openssh-server"])
        .env("DEBIAN_FRONTEND", "noninteractive");
    run_checked(cmd, "apt-get install -y openssh-server")?;
    if Path::new(SSHD).exists() {
        Ok(())
    } else {
        Err(LabError::Command {
            what: "apt-get install -y openssh-server".into(),
            detail: format!("{SSHD} is still missing"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_light_device_has_user_ids_of_its_own() {
        let defs = "MAIL_DIR /var/mail\nUID_MIN\t\t\t 1000\nUID_MAX\t60000\nGID_MIN 1000\n";
        let a = own_ids(defs, "127.101.0.1");
        assert!(a.contains("MAIL_DIR /var/mail\n"), "{a}");
        assert!(!a.contains("1000\n"), "the host's range is gone: {a}");
        assert!(a.contains("UID_MIN 30000\nUID_MAX 30019\n"), "{a}");
        let b = own_ids(defs, "127.101.0.2");
        assert!(b.contains("UID_MIN 30020\n"), "{b}");
        let c = own_ids(defs, "127.102.0.1");
        assert!(c.contains("UID_MIN 50000\n"), "{c}");
    }

    #[test]
    fn rejects_bad_names() {
        assert!(validate_specs(&[LabDeviceSpec::new("LAP-0001")]).is_ok());
        assert!(validate_specs(&[LabDeviceSpec::new("../x")]).is_err());
        assert!(validate_specs(&[LabDeviceSpec::new("a b")]).is_err());
        assert!(validate_specs(&[LabDeviceSpec::new("A"), LabDeviceSpec::new("A")]).is_err());
    }

    #[test]
    fn script_quotes_every_path() {
        let d = LabDevice {
            name: "LAP-0001".into(),
            host: "127.100.0.1".into(),
            port: 2222,
            dir: PathBuf::from("/tmp/it's a lab/devices/LAP-0001"),
            pid: 0,
            full: false,
        };
        let s = namespace::script(
            &d.fstab_file(),
            &sshd_command(Path::new("/tmp/it's a lab"), &d),
        );
        assert!(
            s.starts_with(r"mount --all --fstab '/tmp/it'\''s a lab/devices/LAP-0001/fstab' && "),
            "{s}"
        );
        let fstab = namespace::fstab(&d.name, &d.dir, &d.host, STAGED);
        assert!(
            fstab.contains("/tmp/it's\\040a\\040lab/devices/LAP-0001/root /root none bind 0 0\n"),
            "{fstab}"
        );
        assert!(s.ends_with(
            r#"-o 'SetEnv DESKREADY_LAB="/tmp/it'\''s a lab" DESKREADY_DEVICE=LAP-0001'"#
        ));
        assert!(
            s.contains(" && exec /usr/sbin/sshd -D -e -f '/run/deskready-lab/sshd/sshd_config' "),
            "{s}"
        );
    }

    #[test]
    fn host_paths() {
        let d = LabDevice {
            name: "X".into(),
            host: "h".into(),
            port: 1,
            dir: PathBuf::from("/lab/devices/X"),
            pid: 0,
            full: false,
        };
        assert_eq!(
            d.host_path("/etc/deskready-test"),
            Some(PathBuf::from("/lab/devices/X/upper/etc/deskready-test"))
        );
        assert_eq!(
            d.host_path("/tmp/a"),
            Some(PathBuf::from("/lab/devices/X/tmp/a"))
        );
        assert_eq!(d.host_path("/proc/x"), None);
    }
}
