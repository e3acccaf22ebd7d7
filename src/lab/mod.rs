//! Simulated devices on this machine: one sshd per device, each on its own loopback address
//! and in its own mount namespace (overlays over the system directories, private homes and
//! /tmp). Owns starting, stopping and recording those processes; it never touches a process
//! it did not start (every kill is checked against `/proc/PID/cmdline`).

mod print;
mod slots;

pub use print::{
    LabPrinter, MAX_PRINTERS, PRINT_SERVER_PORT_BASE, PRINTER_PORT_BASE, PrintServer, PrinterSpec,
    answers_ipp, ensure_dnssd, print_server_port, printer_port,
};

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::transport::{Target, shell_quote};

/// Every device listens on this port of its own address.
pub const LAB_PORT: u16 = 2222;
/// At most this many devices per lab (addresses 127.(100+s).(0..=255).(1..=250)).
pub const MAX_DEVICES: usize = 250 * 256;
/// Directories each device sees through a private overlay: the host's content, its own writes.
const OVERLAID: [&str; 5] = ["/etc", "/usr", "/var", "/opt", "/srv"];
/// Directories each device gets empty and private.
const PRIVATE: [&str; 3] = ["root", "home", "tmp"];
/// Where, inside a device's namespace, its sshd files are mounted.
const NS_STAGE: &str = "/run/deskready-lab";
const SSHD: &str = "/usr/sbin/sshd";
const STATE_FILE: &str = "lab.json";

/// A device to simulate, named by its asset tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabDeviceSpec {
    pub name: String,
}

impl LabDeviceSpec {
    pub fn new(name: impl Into<String>) -> Self {
        LabDeviceSpec { name: name.into() }
    }
}

/// One running (or stopped) simulated device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabDevice {
    pub name: String,
    pub host: String,
    pub port: u16,
    /// `<lab>/devices/<name>`: sshd files, overlay layers, private homes and /tmp.
    pub dir: PathBuf,
    /// The sshd listener (sh execs it, so the spawned pid is sshd).
    pub pid: u32,
}

impl LabDevice {
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The device's private host key (regenerate it to simulate a reinstall).
    pub fn host_key_file(&self) -> PathBuf {
        self.dir.join("sshd/hostkey")
    }

    /// What the device's sshd wrote to stderr.
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("sshd.log")
    }

    /// Where the device's writes to `path` (under /etc, /usr, /var, /opt, /srv, /root, /home
    /// or /tmp) land on the host; `None` for paths the device shares with the host.
    pub fn host_path(&self, path: &str) -> Option<PathBuf> {
        let rel = path.strip_prefix('/')?;
        let (top, rest) = rel.split_once('/').unwrap_or((rel, ""));
        let base = if OVERLAID.contains(&format!("/{top}").as_str()) {
            self.dir.join("upper").join(top)
        } else if PRIVATE.contains(&top) {
            self.dir.join(top)
        } else {
            return None;
        };
        Some(if rest.is_empty() {
            base
        } else {
            base.join(rest)
        })
    }
}

/// A lab: simulated devices under one directory, holding one address slot.
#[derive(Debug, Serialize, Deserialize)]
pub struct Lab {
    pub dir: PathBuf,
    /// The operator's private key; every device authorizes its public half for root.
    pub key_file: PathBuf,
    pub devices: Vec<LabDevice>,
    /// Address slot s: device i listens on 127.(100+s).(i/250).(1+i%250):2222.
    pub slot: u32,
    /// Simulated printers (ippeveprinter); printer i listens on 127.0.0.1:20000+slot*100+i.
    #[serde(default)]
    pub printers: Vec<LabPrinter>,
    /// The private cupsd, listening on its device's address (none in older lab.json files).
    #[serde(default)]
    pub print_server: Option<PrintServer>,
    /// sshd, cupsd and ippeveprinter processes this process spawned, reaped when stopped.
    #[serde(skip)]
    children: Mutex<HashMap<String, Child>>,
}

/// What went wrong with the lab; every message names the device or directory concerned.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot use lab directory {}: {reason}", dir.display())]
    BadDir { dir: PathBuf, reason: String },
    #[error("cannot simulate device {name:?}: {reason}")]
    BadDevice { name: String, reason: String },
    #[error(
        "a lab is already running in {} ({running} device(s) up); run `deskready lab down` first",
        dir.display()
    )]
    AlreadyRunning { dir: PathBuf, running: usize },
    #[error("no lab in {} (no {STATE_FILE}); start one with `deskready lab up`", dir.display())]
    NoLab { dir: PathBuf },
    #[error("lab state {} is unreadable: {source}", path.display())]
    BadState {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("no device {name} in the lab in {}", dir.display())]
    UnknownDevice { name: String, dir: PathBuf },
    #[error(
        "all 100 lab address slots in {} are taken by running labs; stop a lab you no longer need",
        slots::SLOT_DIR
    )]
    NoSlot,
    #[error("{what} failed: {detail}")]
    Command { what: String, detail: String },
    #[error(
        "device {device} at {address} did not start: sshd exited ({status}); its log says: {log}"
    )]
    DeviceExited {
        device: String,
        address: String,
        status: String,
        log: String,
    },
    #[error(
        "device {device} at {address} does not accept connections after {}s; see {}",
        timeout.as_secs(), log.display()
    )]
    NotListening {
        device: String,
        address: String,
        timeout: Duration,
        log: PathBuf,
    },
    #[error("device {device} (sshd pid {pid}) did not stop")]
    DidNotStop { device: String, pid: u32 },
    #[error("cannot simulate printer {name:?}: {reason}")]
    BadPrinter { name: String, reason: String },
    #[error("no printer {name} in the lab in {}", dir.display())]
    UnknownPrinter { name: String, dir: PathBuf },
    #[error(
        "printer {printer} cannot start: port {port} on 127.0.0.1 is already taken by another process"
    )]
    PrinterPortTaken { printer: String, port: u16 },
    #[error(
        "printer {printer} on port {port} did not start: ippeveprinter exited ({status}); its log says: {log}"
    )]
    PrinterExited {
        printer: String,
        port: u16,
        status: String,
        log: String,
    },
    #[error(
        "printer {printer} does not answer IPP at {uri} after {}s; see {}",
        timeout.as_secs(), log.display()
    )]
    PrinterNotAnswering {
        printer: String,
        uri: String,
        timeout: Duration,
        log: PathBuf,
    },
    #[error(
        "the print server at {address} did not start: cupsd exited ({status}); its logs say: {log}"
    )]
    PrintServerExited {
        address: String,
        status: String,
        log: String,
    },
    #[error(
        "the print server at {address} does not accept connections after {}s; see {}",
        timeout.as_secs(), log.display()
    )]
    PrintServerNotListening {
        address: String,
        timeout: Duration,
        log: PathBuf,
    },
    #[error("{what} (pid {pid}) did not stop")]
    PrintDidNotStop { what: String, pid: u32 },
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> LabError + 'a {
    move |source| LabError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// 127.(100+slot).(i/250).(1+i%250)
pub fn device_host(slot: u32, index: usize) -> String {
    format!("127.{}.{}.{}", 100 + slot, index / 250, 1 + index % 250)
}

impl Lab {
    /// Starts one sshd per device in `dir` and waits until every one accepts connections.
    /// Refuses when a lab is already running in `dir`. Keys, host keys and what devices
    /// wrote survive `down` and are reused by the next `up`.
    pub fn up(dir: &Path, devices: &[LabDeviceSpec]) -> Result<Lab, LabError> {
        Lab::up_with(dir, devices, None, &[])
    }

    /// Like [`Lab::up`], plus a print server and printers. `print_server` names the device
    /// whose address the private cupsd listens on (port 30000+slot, also on 127.0.0.1); each printer is an
    /// ippeveprinter on 127.0.0.1:20000+slot*100+i keeping every job in its spool
    /// directory. Starts avahi-daemon (and the system D-Bus daemon) when printers need
    /// them and they are not running; those stay running after `down`.
    pub fn up_with(
        dir: &Path,
        devices: &[LabDeviceSpec],
        print_server: Option<&str>,
        printers: &[PrinterSpec],
    ) -> Result<Lab, LabError> {
        validate_specs(devices)?;
        print::validate_printers(printers)?;
        if let Some(name) = print_server
            && !devices.iter().any(|d| d.name == name)
        {
            return Err(LabError::BadDevice {
                name: name.to_string(),
                reason: "the print server must be one of the lab's devices".into(),
            });
        }
        fs::create_dir_all(dir).map_err(io_err("create", dir))?;
        let dir = fs::canonicalize(dir).map_err(io_err("resolve", dir))?;
        validate_dir(&dir)?;

        if dir.join(STATE_FILE).exists() {
            let old = Lab::load(&dir)?;
            let running = old.status().iter().filter(|(_, up)| *up).count() + old.print_running();
            if running > 0 {
                return Err(LabError::AlreadyRunning { dir, running });
            }
            old.down()?;
        }

        ensure_sshd()?;
        for d in ["/run/sshd", NS_STAGE] {
            fs::create_dir_all(d).map_err(io_err("create", Path::new(d)))?;
        }
        let keys = dir.join("keys");
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

        let slot = slots::allocate(&dir)?;
        let print_server = print_server.map(|name| {
            let i = devices
                .iter()
                .position(|d| d.name == name)
                .expect("checked");
            print::new_print_server(&dir, slot, &device_host(slot, i), name)
        });
        let mut lab = Lab {
            dir: dir.clone(),
            key_file,
            devices: devices
                .iter()
                .enumerate()
                .map(|(i, spec)| LabDevice {
                    name: spec.name.clone(),
                    host: device_host(slot, i),
                    port: LAB_PORT,
                    dir: dir.join("devices").join(&spec.name),
                    pid: 0,
                })
                .collect(),
            slot,
            printers: print::new_printers(&dir, slot, printers),
            print_server,
            children: Mutex::new(HashMap::new()),
        };
        match lab.start_all().and_then(|()| lab.start_print()) {
            Ok(()) => Ok(lab),
            Err(e) => {
                let _ = lab.down();
                Err(e)
            }
        }
    }

    /// The lab recorded in `dir/lab.json`.
    pub fn load(dir: &Path) -> Result<Lab, LabError> {
        let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let path = dir.join(STATE_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(LabError::NoLab { dir }),
            Err(e) => return Err(io_err("read", &path)(e)),
        };
        serde_json::from_str(&text).map_err(|source| LabError::BadState { path, source })
    }

    /// Each device and whether its sshd is running.
    pub fn status(&self) -> Vec<(String, bool)> {
        self.devices
            .iter()
            .map(|d| (d.name.clone(), self.is_ours(d.pid)))
            .collect()
    }

    /// Stops every sshd of this lab (and whatever still runs in its devices' namespaces),
    /// its cupsd and its printers, releases the address slot and removes the state file.
    /// Device files, queues and spooled jobs are kept. avahi-daemon and dbus-daemon are
    /// machine services and keep running.
    pub fn down(&self) -> Result<(), LabError> {
        let print = self.stop_print();
        let pids: Vec<(String, u32)> = self
            .devices
            .iter()
            .map(|d| (d.name.clone(), d.pid))
            .collect();
        let result = self.stop_pids(&pids).and(print);
        let state = self.dir.join(STATE_FILE);
        if result.is_ok() {
            match fs::remove_file(&state) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("remove", &state)(e)),
            }
            slots::release(self.slot, &self.dir);
        }
        result
    }

    /// Stops one device (it becomes unreachable); its address and files are kept.
    pub fn stop_device(&mut self, name: &str) -> Result<(), LabError> {
        let pid = self.device(name)?.pid;
        self.stop_pids(&[(name.to_string(), pid)])?;
        self.save()
    }

    /// Starts a stopped device again: same address, same host key file. Waits until it
    /// accepts connections. Does nothing when it is running.
    pub fn start_device(&mut self, name: &str) -> Result<(), LabError> {
        let index = self.index(name)?;
        if self.is_ours(self.devices[index].pid) {
            return Ok(());
        }
        self.prepare(&[index])?;
        self.spawn(index)?;
        self.save()?;
        self.wait_listening(&[index])
    }

    /// Simulates a reinstall: stops the device, gives it a new host key, starts it again.
    pub fn replace_host_key(&mut self, name: &str) -> Result<(), LabError> {
        self.stop_device(name)?;
        let key = self.device(name)?.host_key_file();
        for f in [key.clone(), key.with_extension("pub")] {
            match fs::remove_file(&f) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("remove", &f)(e)),
            }
        }
        self.start_device(name)
    }

    /// How to reach a device: user root, the operator key.
    pub fn target(&self, name: &str) -> Option<Target> {
        let d = self.devices.iter().find(|d| d.name == name)?;
        Some(Target {
            device: d.name.clone(),
            host: d.host.clone(),
            port: d.port,
            user: "root".into(),
            identity: Some(self.key_file.clone()),
        })
    }

    pub fn device(&self, name: &str) -> Result<&LabDevice, LabError> {
        Ok(&self.devices[self.index(name)?])
    }

    fn index(&self, name: &str) -> Result<usize, LabError> {
        self.devices
            .iter()
            .position(|d| d.name == name)
            .ok_or_else(|| LabError::UnknownDevice {
                name: name.to_string(),
                dir: self.dir.clone(),
            })
    }

    fn save(&self) -> Result<(), LabError> {
        let path = self.dir.join(STATE_FILE);
        let tmp = self
            .dir
            .join(format!(".{STATE_FILE}.tmp.{}", std::process::id()));
        let text = serde_json::to_string_pretty(self).expect("lab state serializes");
        fs::write(&tmp, text).map_err(io_err("write", &tmp))?;
        fs::rename(&tmp, &path).map_err(io_err("write", &path))
    }

    /// The marker every sshd of this lab carries on its command line.
    fn marker(&self) -> String {
        lab_marker(&self.dir)
    }

    /// Whether `pid` is a live (not zombie) process started by this lab.
    /// Waits for signalled processes to exit (reaping them); after `grace`, SIGKILLs those
    /// still running for which `ours` holds, and gives up naming the first that survives
    /// even that.
    pub(crate) fn await_exit(
        &self,
        mut remaining: Vec<(String, u32)>,
        grace: Duration,
        ours: impl Fn(u32) -> bool,
    ) -> Result<(), (String, u32)> {
        let deadline = Instant::now() + grace;
        let mut killed = false;
        loop {
            remaining.retain(|(name, pid)| !self.reap(name, *pid));
            if remaining.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                if killed {
                    return Err(remaining[0].clone());
                }
                for (_, pid) in &remaining {
                    if ours(*pid) {
                        signal(*pid, libc::SIGKILL);
                    }
                }
                killed = true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn is_ours(&self, pid: u32) -> bool {
        pid != 0 && proc_alive(pid) && proc_cmdline(pid).is_some_and(|c| c.contains(&self.marker()))
    }

    fn start_all(&mut self) -> Result<(), LabError> {
        let all: Vec<usize> = (0..self.devices.len()).collect();
        self.prepare(&all)?;
        for &i in &all {
            if let Err(e) = self.spawn(i) {
                let _ = self.save();
                return Err(e);
            }
        }
        self.save()?;
        self.wait_listening(&all)
    }

    /// Directories, host keys and sshd configs for these devices (host keys in parallel).
    fn prepare(&self, indices: &[usize]) -> Result<(), LabError> {
        let operator_pub = self.key_file.with_extension("pub");
        let mut keygens = Vec::new();
        for &i in indices {
            let d = &self.devices[i];
            let sshd_dir = d.dir.join("sshd");
            let mut dirs = vec![sshd_dir.clone()];
            for top in OVERLAID {
                let top = top.trim_start_matches('/');
                dirs.push(d.dir.join("upper").join(top));
                dirs.push(d.dir.join("work").join(top));
            }
            for p in PRIVATE {
                dirs.push(d.dir.join(p));
            }
            for dir in &dirs {
                fs::create_dir_all(dir).map_err(io_err("create", dir))?;
            }
            let auth = sshd_dir.join("authorized_keys");
            fs::copy(&operator_pub, &auth).map_err(io_err("copy the operator key to", &auth))?;
            let fstab = d.dir.join("fstab");
            fs::write(&fstab, namespace_fstab(d)).map_err(io_err("write", &fstab))?;
            let cfg = sshd_dir.join("sshd_config");
            fs::write(&cfg, sshd_config(d)).map_err(io_err("write", &cfg))?;
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
        let mut running: std::collections::VecDeque<(String, Child)> = Default::default();
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

    /// Starts one device's sshd in a fresh mount namespace; does not wait.
    fn spawn(&mut self, index: usize) -> Result<(), LabError> {
        let d = &self.devices[index];
        let log_path = d.log_file();
        let log = fs::File::create(&log_path).map_err(io_err("create", &log_path))?;
        let log2 = log.try_clone().map_err(io_err("open", &log_path))?;
        let script = namespace_script(&self.dir, d);
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            // Its own process group: a Ctrl-C meant for the caller does not stop the lab.
            .process_group(0)
            .spawn()
            .map_err(|e| LabError::Command {
                what: format!("starting device {}", d.name),
                detail: e.to_string(),
            })?;
        let name = d.name.clone();
        self.devices[index].pid = child.id();
        self.children
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name, child);
        Ok(())
    }

    /// Polls until every listed device accepts TCP; fails naming the first that does not.
    fn wait_listening(&self, indices: &[usize]) -> Result<(), LabError> {
        let timeout = Duration::from_secs(20).max(Duration::from_millis(60) * indices.len() as u32);
        let deadline = Instant::now() + timeout;
        let mut pending: Vec<usize> = indices.to_vec();
        loop {
            let mut still = Vec::new();
            for &i in &pending {
                let d = &self.devices[i];
                let addr: SocketAddr = d.address().parse().expect("lab addresses are IPv4");
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    continue;
                }
                if let Some(status) = self.exited(&d.name) {
                    return Err(LabError::DeviceExited {
                        device: d.name.clone(),
                        address: d.address(),
                        status,
                        log: log_tail(&d.log_file()),
                    });
                }
                still.push(i);
            }
            pending = still;
            if pending.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let d = &self.devices[pending[0]];
                return Err(LabError::NotListening {
                    device: d.name.clone(),
                    address: d.address(),
                    timeout,
                    log: d.log_file(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// If this process spawned the device and it has exited, how it exited.
    fn exited(&self, name: &str) -> Option<String> {
        let mut children = self.children.lock().unwrap_or_else(|e| e.into_inner());
        let child = children.get_mut(name)?;
        match child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            _ => None,
        }
    }

    /// Stops the listed sshds and every process left in their namespaces: TERM, then KILL.
    fn stop_pids(&self, pids: &[(String, u32)]) -> Result<(), LabError> {
        let ours: Vec<(String, u32)> = pids
            .iter()
            .filter(|(_, pid)| self.is_ours(*pid))
            .cloned()
            .collect();
        let own_ns = mount_ns(std::process::id());
        let namespaces: HashSet<u64> = ours
            .iter()
            .filter_map(|(_, pid)| mount_ns(*pid))
            .filter(|ns| Some(*ns) != own_ns)
            .collect();
        // Sessions and commands still running inside the devices were started there by
        // this lab's sshds: the namespace is private to the device. Found while the sshds
        // still hold their namespaces (a freed namespace id can be reused by a new one),
        // and remembered with their start time so a reused pid is never hit.
        let members: Vec<(u32, Option<u64>)> = namespace_members(&namespaces)
            .into_iter()
            .map(|pid| (pid, proc_start_time(pid)))
            .collect();
        for (_, pid) in &ours {
            signal(*pid, libc::SIGTERM);
        }
        for (pid, _) in &members {
            signal(*pid, libc::SIGTERM);
        }
        self.await_exit(ours, Duration::from_secs(3), |pid| self.is_ours(pid))
            .map_err(|(device, pid)| LabError::DidNotStop { device, pid })?;
        for (pid, started) in members {
            if proc_alive(pid) && proc_start_time(pid) == started {
                signal(pid, libc::SIGKILL);
            }
        }
        // Children of this process whose pid is no longer ours (already dead): reap them.
        for (name, _) in pids {
            self.reap(name, 0);
        }
        Ok(())
    }

    /// Whether the device's sshd is gone (reaping it when this process is its parent).
    fn reap(&self, name: &str, pid: u32) -> bool {
        let mut children = self.children.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(child) = children.get_mut(name) {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => {
                    children.remove(name);
                    return true;
                }
                Ok(None) if child.id() == pid || pid == 0 => return false,
                Ok(None) => {}
            }
        }
        pid == 0 || !proc_alive(pid)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Devices outlive the Lab value (a CLI `lab up` exits, the devices stay); only
        // reap children that already exited so they do not linger as zombies.
        let mut children = self.children.lock().unwrap_or_else(|e| e.into_inner());
        children.retain(|_, c| !matches!(c.try_wait(), Ok(Some(_))));
    }
}

fn lab_marker(dir: &Path) -> String {
    format!("DESKREADY_LAB=\"{}\"", dir.display())
}

fn validate_specs(devices: &[LabDeviceSpec]) -> Result<(), LabError> {
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

fn validate_dir(dir: &Path) -> Result<(), LabError> {
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

/// The device's mounts, in order, as an fstab for one `mount --all --fstab` (one process
/// for all mounts instead of one per mount: that is what makes 500 devices start quickly).
///
/// Overlays first (their layers are named by host paths), then the device's sshd files on a
/// fixed path of a private tmpfs, and only then the private /root, /home and /tmp (which
/// may hide the lab directory itself).
fn namespace_fstab(d: &LabDevice) -> String {
    // fstab fields are separated by whitespace; octal escapes carry it inside a field.
    let esc = |p: &Path| {
        p.to_string_lossy()
            .replace('\\', "\\134")
            .replace(' ', "\\040")
            .replace('\t', "\\011")
    };
    let mut lines = vec![format!(
        "# deskready lab device {}: mounted in its private namespace at every start",
        d.name
    )];
    for top in OVERLAID {
        if !Path::new(top).is_dir() {
            continue;
        }
        let name = top.trim_start_matches('/');
        lines.push(format!(
            "overlay {top} overlay lowerdir={top},upperdir={},workdir={} 0 0",
            esc(&d.dir.join("upper").join(name)),
            esc(&d.dir.join("work").join(name))
        ));
    }
    lines.push(format!(
        "deskready-lab {NS_STAGE} tmpfs size=1m,mode=0755 0 0"
    ));
    lines.push(format!(
        "{} {NS_STAGE}/sshd none bind,X-mount.mkdir 0 0",
        esc(&d.dir.join("sshd"))
    ));
    for p in PRIVATE {
        let target = format!("/{p}");
        if Path::new(&target).is_dir() {
            lines.push(format!("{} {target} none bind 0 0", esc(&d.dir.join(p))));
        }
    }
    lines.push(String::new());
    lines.join("\n")
}

/// `<mounts> && exec sshd`, run by `unshare --mount --propagation private sh -c`.
fn namespace_script(lab_dir: &Path, d: &LabDevice) -> String {
    let env = format!("SetEnv {} DESKREADY_DEVICE={}", lab_marker(lab_dir), d.name);
    format!(
        "mount --all --fstab {} && exec {SSHD} -D -e -f {} -o {}",
        shell_quote(&d.dir.join("fstab").to_string_lossy()),
        shell_quote(&format!("{NS_STAGE}/sshd/sshd_config")),
        shell_quote(&env)
    )
}

fn keygen(path: &Path, comment: &str) -> Command {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path);
    cmd
}

fn run_checked(mut cmd: Command, what: &str) -> Result<(), LabError> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LabError::Command {
            what: what.to_string(),
            detail: e.to_string(),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(LabError::Command {
            what: what.to_string(),
            detail: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }
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

fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(5)..].join(" | ");
    if tail.is_empty() {
        "(nothing)".into()
    } else {
        tail
    }
}

/// `/proc/PID/cmdline` with NULs as spaces; `None` when unreadable or empty (zombie).
pub(crate) fn proc_cmdline(pid: u32) -> Option<String> {
    let mut buf = Vec::new();
    fs::File::open(format!("/proc/{pid}/cmdline"))
        .ok()?
        .read_to_end(&mut buf)
        .ok()?;
    if buf.is_empty() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&buf)
            .replace('\0', " ")
            .trim_end()
            .to_string(),
    )
}

/// `/proc/PID/stat` fields after the command name (field 3 onwards).
fn proc_stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_string).collect())
}

/// Whether `pid` exists and is not a zombie.
pub(crate) fn proc_alive(pid: u32) -> bool {
    match proc_stat_fields(pid) {
        Some(f) => f.first().is_some_and(|s| s != "Z" && s != "X"),
        None => false,
    }
}

/// The process's start time in clock ticks since boot (tells a reused pid apart).
pub(crate) fn proc_start_time(pid: u32) -> Option<u64> {
    proc_stat_fields(pid)?.get(19)?.parse().ok()
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

fn signal(pid: u32, sig: libc::c_int) {
    if pid > 1 {
        // SAFETY: plain kill(2) on a pid checked to belong to this lab.
        unsafe { libc::kill(pid as libc::pid_t, sig) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_fit_500_devices() {
        assert_eq!(device_host(0, 0), "127.100.0.1");
        assert_eq!(device_host(3, 249), "127.103.0.250");
        assert_eq!(device_host(3, 250), "127.103.1.1");
        assert_eq!(device_host(99, 499), "127.199.1.250");
        let all: HashSet<String> = (0..500).map(|i| device_host(7, i)).collect();
        assert_eq!(all.len(), 500);
    }

    #[test]
    fn rejects_bad_names_and_dirs() {
        assert!(validate_specs(&[LabDeviceSpec::new("LAP-0001")]).is_ok());
        assert!(validate_specs(&[LabDeviceSpec::new("../x")]).is_err());
        assert!(validate_specs(&[LabDeviceSpec::new("a b")]).is_err());
        assert!(validate_specs(&[LabDeviceSpec::new("A"), LabDeviceSpec::new("A")]).is_err());
        assert!(validate_dir(Path::new("/tmp/lab")).is_ok());
        let err = validate_dir(Path::new("/var/lab")).unwrap_err().to_string();
        assert!(err.contains("under /var"), "{err}");
        assert!(validate_dir(Path::new("/tmp/a,b")).is_err());
    }

    #[test]
    fn script_quotes_every_path() {
        let d = LabDevice {
            name: "LAP-0001".into(),
            host: "127.100.0.1".into(),
            port: 2222,
            dir: PathBuf::from("/tmp/it's a lab/devices/LAP-0001"),
            pid: 0,
        };
        let s = namespace_script(Path::new("/tmp/it's a lab"), &d);
        assert!(
            s.starts_with(r"mount --all --fstab '/tmp/it'\''s a lab/devices/LAP-0001/fstab' && "),
            "{s}"
        );
        let fstab = namespace_fstab(&d);
        assert!(
            fstab.contains("/tmp/it's\\040a\\040lab/devices/LAP-0001/root /root none bind 0 0\n"),
            "{fstab}"
        );
        assert!(s.ends_with(
            r#"-o 'SetEnv DESKREADY_LAB="/tmp/it'\''s a lab" DESKREADY_DEVICE=LAP-0001'"#
        ));
    }

    #[test]
    fn host_paths() {
        let d = LabDevice {
            name: "X".into(),
            host: "h".into(),
            port: 1,
            dir: PathBuf::from("/lab/devices/X"),
            pid: 0,
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
