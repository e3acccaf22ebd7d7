//! The lab's print side: one private `cupsd` (the print server) and one `ippeveprinter` per
//! simulated printer, all under `<lab>/print/`.
//!
//! cupsd runs on this machine (not in a device namespace) but listens on the print-server
//! device's own lab address, so commands run over SSH on that device reach it with
//! `CUPS_SERVER=HOST:PORT` (PORT = 30000 + slot; cupsd also listens on 127.0.0.1:PORT, see
//! [`print_server_port`]). Every 127.0.0.0/8 client may administer it without
//! authentication. Printers listen on 127.0.0.1 (and every other address) on ports unique
//! to the lab's address slot: 20000 + slot*100 + i.
//!
//! ippeveprinter cannot run without DNS-SD ("Unable to initialize DNS-SD", `-r off` does not
//! help), so the lab starts the system D-Bus daemon and avahi-daemon when they are not
//! running. Those two are machine services: started once, shared by every lab, and never
//! stopped by the lab.
//!
//! Every process here carries `<lab>/print/` on its command line (cupsd's config paths,
//! ippeveprinter's spool directory): that is how the lab tells its own from others'.

use std::fs::{self, OpenOptions};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Lab, LabError, io_err, log_tail, proc_alive, proc_cmdline, signal, slots};

/// The lab in slot s runs its cupsd on port PRINT_SERVER_PORT_BASE + s, on the print-server
/// device's address and on 127.0.0.1 (see [`print_server_port`]).
pub const PRINT_SERVER_PORT_BASE: u16 = 30000;
/// Printer i of the lab in slot s listens on PRINTER_PORT_BASE + s*100 + i.
pub const PRINTER_PORT_BASE: u16 = 20000;
/// At most this many printers per lab (their ports must stay inside the slot's block).
pub const MAX_PRINTERS: usize = 100;
const CUPSD: &str = "/usr/sbin/cupsd";
const IPPEVEPRINTER: &str = "ippeveprinter";
const AVAHI_SOCKET: &str = "/run/avahi-daemon/socket";
const DBUS_SOCKET: &str = "/run/dbus/system_bus_socket";
const SERVER_KEY: &str = "print-server";

/// A printer to simulate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrinterSpec {
    pub name: String,
    pub make: String,
    pub model: String,
    pub location: String,
}

impl PrinterSpec {
    pub fn new(
        name: impl Into<String>,
        make: impl Into<String>,
        model: impl Into<String>,
        location: impl Into<String>,
    ) -> Self {
        PrinterSpec {
            name: name.into(),
            make: make.into(),
            model: model.into(),
            location: location.into(),
        }
    }
}

/// One running (or stopped) simulated printer: an `ippeveprinter` keeping every job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabPrinter {
    pub name: String,
    pub make: String,
    pub model: String,
    pub location: String,
    pub port: u16,
    /// `ipp://127.0.0.1:PORT/ipp/print`
    pub uri: String,
    /// Where the printer keeps the documents of every job it received (`-k`).
    pub spool: PathBuf,
    pub pid: u32,
}

impl LabPrinter {
    /// `<lab>/print/printers/<name>`: the spool directory and the log.
    pub fn dir(&self) -> PathBuf {
        self.spool
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// What the printer wrote to stdout and stderr.
    pub fn log_file(&self) -> PathBuf {
        self.dir().join("ippeveprinter.log")
    }

    /// Every document file in the spool directory, sorted.
    pub fn spooled_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = fs::read_dir(&self.spool)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.is_file())
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }
}

/// The lab's print server: a private cupsd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrintServer {
    /// The lab device that is the print server (cupsd listens on its address).
    pub device: String,
    /// `HOST:PORT` cupsd listens on: the value for `CUPS_SERVER`.
    pub address: String,
    /// `<lab>/print/server`: config (etc/), spool, cache, state, logs (log/error_log).
    pub dir: PathBuf,
    pub pid: u32,
}

impl PrintServer {
    pub fn error_log(&self) -> PathBuf {
        self.dir.join("log/error_log")
    }

    /// The port cupsd listens on (on the device's address and on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.address
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or(0)
    }

    fn listen_addresses(&self) -> Vec<SocketAddr> {
        let own: SocketAddr = self.address.parse().expect("lab addresses are IPv4");
        vec![own, SocketAddr::from(([127, 0, 0, 1], self.port()))]
    }

    fn stdout_log(&self) -> PathBuf {
        self.dir.join("log/cupsd.out")
    }
}

/// The port of the print server of the lab holding `slot`.
///
/// Not 631: cupsd calls every loopback client's server "localhost" and advertises
/// `printer-uri-supported = ipp://localhost:PORT/printers/Q` with the port of its loopback
/// listener. Clients follow that URI (lpoptions -l fetches the PPD there), so cupsd also
/// listens on 127.0.0.1 on a port unique to the lab; on 631 they would reach the host's own
/// cupsd or nothing ("No printer-uri found").
pub fn print_server_port(slot: u32) -> u16 {
    PRINT_SERVER_PORT_BASE + slot as u16
}

/// A port free on both `host` and 127.0.0.1 right now, chosen by the system. A print
/// server started right after another one on the same address and port (the next lab
/// in the same slot) was seen to stop answering lpadmin; a port of its own avoids that.
fn fresh_port(host: &str) -> Option<u16> {
    for _ in 0..20 {
        let l = std::net::TcpListener::bind(("127.0.0.1", 0)).ok()?;
        let port = l.local_addr().ok()?.port();
        if std::net::TcpListener::bind((host, port)).is_ok() {
            return Some(port);
        }
    }
    None
}

/// The port of printer `index` in the lab holding `slot`.
pub fn printer_port(slot: u32, index: usize) -> u16 {
    PRINTER_PORT_BASE + (slot as u16) * 100 + index as u16
}

pub(super) fn validate_printers(printers: &[PrinterSpec]) -> Result<(), LabError> {
    if printers.len() > MAX_PRINTERS {
        return Err(LabError::BadPrinter {
            name: printers[MAX_PRINTERS].name.clone(),
            reason: format!(
                "a lab holds at most {MAX_PRINTERS} printers ({} asked): each lab has a block \
                 of {MAX_PRINTERS} ports",
                printers.len()
            ),
        });
    }
    let mut seen = std::collections::HashSet::new();
    for p in printers {
        let ok = !p.name.is_empty()
            && !p.name.starts_with('.')
            && p.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            return Err(LabError::BadPrinter {
                name: p.name.clone(),
                reason: "a printer name is letters, digits, '-', '_' and '.', not starting \
                         with '.'"
                    .into(),
            });
        }
        for (what, v) in [
            ("make", &p.make),
            ("model", &p.model),
            ("location", &p.location),
        ] {
            if v.chars().any(char::is_control) {
                return Err(LabError::BadPrinter {
                    name: p.name.clone(),
                    reason: format!("its {what} contains a control character"),
                });
            }
        }
        if !seen.insert(p.name.as_str()) {
            return Err(LabError::BadPrinter {
                name: p.name.clone(),
                reason: "the name is listed twice".into(),
            });
        }
    }
    Ok(())
}

pub(super) fn new_printers(dir: &Path, slot: u32, printers: &[PrinterSpec]) -> Vec<LabPrinter> {
    printers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let port = printer_port(slot, i);
            LabPrinter {
                name: p.name.clone(),
                make: p.make.clone(),
                model: p.model.clone(),
                location: p.location.clone(),
                port,
                uri: format!("ipp://127.0.0.1:{port}/ipp/print"),
                spool: dir
                    .join("print")
                    .join("printers")
                    .join(&p.name)
                    .join("spool"),
                pid: 0,
            }
        })
        .collect()
}

/// Where a lab's cupsd keeps its queues, spool, cache and logs: a directory of its own
/// under the system temp directory. cupsd does part of its work as user `lp`, which must
/// reach these directories; the lab directory itself may sit below directories `lp`
/// cannot enter (a 0700 temp dir, a home), whose modes the lab must not change.
fn print_runtime_dir(lab_dir: &Path, slot: u32) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    lab_dir.hash(&mut h);
    std::env::temp_dir()
        .join("deskready-print")
        .join(format!("slot{slot:02}-{:016x}", h.finish()))
}

pub(super) fn new_print_server(dir: &Path, slot: u32, host: &str, device: &str) -> PrintServer {
    PrintServer {
        device: device.to_string(),
        address: format!(
            "{host}:{}",
            fresh_port(host).unwrap_or_else(|| print_server_port(slot))
        ),
        dir: print_runtime_dir(dir, slot),
        pid: 0,
    }
}

impl Lab {
    /// The printer named `name`.
    pub fn printer(&self, name: &str) -> Result<&LabPrinter, LabError> {
        Ok(&self.printers[self.printer_index(name)?])
    }

    /// Whether the printer's ippeveprinter is running.
    pub fn printer_running(&self, name: &str) -> bool {
        self.printer(name)
            .is_ok_and(|p| self.is_print_process(p.pid))
    }

    /// Whether the print server's cupsd is running.
    pub fn print_server_running(&self) -> bool {
        self.print_server
            .as_ref()
            .is_some_and(|s| self.is_print_process(s.pid))
    }

    /// Stops one printer: it no longer answers IPP. Port and spool are kept.
    pub fn stop_printer(&mut self, name: &str) -> Result<(), LabError> {
        let i = self.printer_index(name)?;
        let key = printer_key(name);
        self.stop_print_pids(&[(key, self.printers[i].pid)])?;
        self.printers[i].pid = 0;
        self.save()
    }

    /// Starts a stopped printer again (same port, same spool) and waits until it answers
    /// IPP. Does nothing when it is running.
    pub fn start_printer(&mut self, name: &str) -> Result<(), LabError> {
        let i = self.printer_index(name)?;
        if self.is_print_process(self.printers[i].pid) {
            return Ok(());
        }
        ensure_dnssd()?;
        self.spawn_printer(i)?;
        self.save()?;
        self.wait_printers(&[i])
    }

    fn printer_index(&self, name: &str) -> Result<usize, LabError> {
        self.printers
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| LabError::UnknownPrinter {
                name: name.to_string(),
                dir: self.dir.clone(),
            })
    }

    /// What every print process of this lab carries on its command line.
    fn print_marker(&self) -> String {
        print_marker(&self.dir)
    }

    /// Whether `pid` is a live cupsd or ippeveprinter of this lab.
    pub(super) fn is_print_process(&self, pid: u32) -> bool {
        pid != 0
            && proc_alive(pid)
            && proc_cmdline(pid).is_some_and(|c| c.contains(&self.print_marker()))
    }

    /// How many print processes (cupsd, printers) of this lab are running.
    pub(super) fn print_running(&self) -> usize {
        let server = self.print_server.iter().map(|s| s.pid);
        server
            .chain(self.printers.iter().map(|p| p.pid))
            .filter(|pid| self.is_print_process(*pid))
            .count()
    }

    /// Starts cupsd and every printer, waits until all answer. Pids are recorded as soon
    /// as they exist, so a failure part way leaves a state `down` can clean up.
    pub(super) fn start_print(&mut self) -> Result<(), LabError> {
        if self.print_server.is_none() && self.printers.is_empty() {
            return Ok(());
        }
        // cupsd runs filters and backends as lp: they must traverse the lab directory.
        let mode = fs::metadata(&self.dir)
            .map_err(io_err("inspect", &self.dir))?
            .permissions()
            .mode();
        if mode & 0o011 != 0o011 {
            fs::set_permissions(&self.dir, fs::Permissions::from_mode(mode | 0o011))
                .map_err(io_err("make traversable", &self.dir))?;
        }
        let print = self.dir.join("print");
        fs::create_dir_all(&print).map_err(io_err("create", &print))?;
        fs::set_permissions(&print, fs::Permissions::from_mode(0o755))
            .map_err(io_err("make traversable", &print))?;

        if !self.printers.is_empty() {
            ensure_dnssd()?;
        }
        let all: Vec<usize> = (0..self.printers.len()).collect();
        for &i in &all {
            if let Err(e) = self.spawn_printer(i) {
                let _ = self.save();
                return Err(e);
            }
        }
        if self.print_server.is_some()
            && let Err(e) = self.spawn_cupsd()
        {
            let _ = self.save();
            return Err(e);
        }
        self.save()?;
        self.wait_printers(&all)?;
        self.wait_cupsd()
    }

    fn spawn_printer(&mut self, index: usize) -> Result<(), LabError> {
        let p = self.printers[index].clone();
        fs::create_dir_all(&p.spool).map_err(io_err("create", &p.spool))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], p.port));
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Err(LabError::PrinterPortTaken {
                printer: p.name.clone(),
                port: p.port,
            });
        }
        let log_path = p.log_file();
        let log = fs::File::create(&log_path).map_err(io_err("create", &log_path))?;
        let log2 = log.try_clone().map_err(io_err("open", &log_path))?;
        // -2: two-sided printing supported, like the office printers it stands for (the
        // queue's PPD gets a Duplex option, `sides-supported` lists two-sided-*).
        let child = Command::new(IPPEVEPRINTER)
            .arg("-2")
            .arg("-k")
            .arg("-d")
            .arg(&p.spool)
            .arg("-M")
            .arg(&p.make)
            .arg("-m")
            .arg(&p.model)
            .arg("-l")
            .arg(&p.location)
            .arg("-p")
            .arg(p.port.to_string())
            .arg(&p.name)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0)
            .spawn()
            .map_err(|e| LabError::Command {
                what: format!("starting printer {} ({IPPEVEPRINTER})", p.name),
                detail: e.to_string(),
            })?;
        self.printers[index].pid = child.id();
        self.children
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(printer_key(&p.name), child);
        Ok(())
    }

    /// Polls until each listed printer answers a Get-Printer-Attributes request.
    fn wait_printers(&self, indices: &[usize]) -> Result<(), LabError> {
        let timeout =
            Duration::from_secs(20).max(Duration::from_millis(200) * indices.len() as u32);
        let deadline = Instant::now() + timeout;
        for &i in indices {
            let p = &self.printers[i];
            let addr = SocketAddr::from(([127, 0, 0, 1], p.port));
            loop {
                if let Some(status) = self.exited(&printer_key(&p.name)) {
                    return Err(LabError::PrinterExited {
                        printer: p.name.clone(),
                        port: p.port,
                        status,
                        log: log_tail(&p.log_file()),
                    });
                }
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
                    && answers_ipp(&p.uri, 5)
                {
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(LabError::PrinterNotAnswering {
                        printer: p.name.clone(),
                        uri: p.uri.clone(),
                        timeout,
                        log: p.log_file(),
                    });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }

    fn spawn_cupsd(&mut self) -> Result<(), LabError> {
        let server = self.print_server.clone().expect("a print server");
        // Runtime directories (reachable by lp) in server.dir; the configuration files in
        // the lab directory, so that cupsd's command line names the lab (see `down`).
        let etc = server.dir.join("etc");
        let conf_dir = self.dir.join("print").join("server");
        let owned: Vec<PathBuf> = ["spool", "spool/tmp", "cache", "state", "log"]
            .iter()
            .map(|d| server.dir.join(d))
            .collect();
        for d in std::iter::once(&etc)
            .chain(&owned)
            .chain(std::iter::once(&conf_dir))
        {
            fs::create_dir_all(d).map_err(io_err("create", d))?;
        }
        let top = server
            .dir
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        for d in [&top, &server.dir, &etc] {
            fs::set_permissions(d, fs::Permissions::from_mode(0o755))
                .map_err(io_err("make traversable", d))?;
        }
        let tmp = server.dir.join("spool/tmp");
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777))
            .map_err(io_err("set the mode of", &tmp))?;
        let conf = conf_dir.join("cupsd.conf");
        fs::write(&conf, cupsd_conf(&server.address, server.port()))
            .map_err(io_err("write", &conf))?;
        let files = conf_dir.join("cups-files.conf");
        fs::write(&files, cups_files_conf(&server.dir)).map_err(io_err("write", &files))?;
        let mut chown = Command::new("chown");
        chown.arg("-R").arg("lp:lp").args(&owned);
        super::run_checked(chown, "chown -R lp:lp (print server directories)")?;

        for addr in server.listen_addresses() {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Err(LabError::Command {
                    what: format!("starting the print server ({CUPSD})"),
                    detail: format!("{addr} is already taken by another process"),
                });
            }
        }
        let out_path = server.stdout_log();
        let out = fs::File::create(&out_path).map_err(io_err("create", &out_path))?;
        let out2 = out.try_clone().map_err(io_err("open", &out_path))?;
        let child = Command::new(CUPSD)
            .arg("-f")
            .arg("-c")
            .arg(&conf)
            .arg("-s")
            .arg(&files)
            // No system D-Bus: cupsd would register every queue's colour profiles with the
            // machine's colord, where the queues of parallel labs collide and cupsd blocks
            // for D-Bus's 25 s call timeout (seen as lpadmin failing to connect).
            .env(
                "DBUS_SYSTEM_BUS_ADDRESS",
                "unix:path=/nonexistent/deskready-lab-no-dbus",
            )
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(out2)
            .process_group(0)
            .spawn()
            .map_err(|e| LabError::Command {
                what: format!("starting the print server ({CUPSD})"),
                detail: e.to_string(),
            })?;
        if let Some(s) = self.print_server.as_mut() {
            s.pid = child.id();
        }
        self.children
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(SERVER_KEY.to_string(), child);
        Ok(())
    }

    fn wait_cupsd(&self) -> Result<(), LabError> {
        let Some(server) = &self.print_server else {
            return Ok(());
        };
        let timeout = Duration::from_secs(20);
        let deadline = Instant::now() + timeout;
        let addrs = server.listen_addresses();
        loop {
            if let Some(status) = self.exited(SERVER_KEY) {
                let mut log = log_tail(&server.stdout_log());
                log.push_str(" | ");
                log.push_str(&log_tail(&server.error_log()));
                return Err(LabError::PrintServerExited {
                    address: server.address.clone(),
                    status,
                    log,
                });
            }
            // Listening is not serving: cupsd accepts connections before its scheduler
            // answers requests, so also ask it (`lpstat -r`) before calling it ready.
            if addrs
                .iter()
                .all(|a| TcpStream::connect_timeout(a, Duration::from_millis(200)).is_ok())
                && scheduler_answers(&server.address)
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(LabError::PrintServerNotListening {
                    address: server.address.clone(),
                    timeout,
                    log: server.error_log(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops cupsd and every printer of this lab.
    pub(super) fn stop_print(&self) -> Result<(), LabError> {
        let mut pids: Vec<(String, u32)> = self
            .printers
            .iter()
            .map(|p| (printer_key(&p.name), p.pid))
            .collect();
        if let Some(s) = &self.print_server {
            pids.push((SERVER_KEY.to_string(), s.pid));
        }
        self.stop_print_pids(&pids)
    }

    /// TERM, then KILL after 5 s, to each listed process that is one of this lab's.
    fn stop_print_pids(&self, pids: &[(String, u32)]) -> Result<(), LabError> {
        let remaining: Vec<(String, u32)> = pids
            .iter()
            .filter(|(_, pid)| self.is_print_process(*pid))
            .cloned()
            .collect();
        for (_, pid) in &remaining {
            signal(*pid, libc::SIGTERM);
        }
        self.await_exit(remaining, Duration::from_secs(5), |pid| {
            self.is_print_process(pid)
        })
        .map_err(|(what, pid)| LabError::PrintDidNotStop { what, pid })?;
        for (key, _) in pids {
            self.reap(key, 0);
        }
        Ok(())
    }
}

fn printer_key(name: &str) -> String {
    format!("printer/{name}")
}

pub(super) fn print_marker(dir: &Path) -> String {
    format!("{}/print/", dir.display())
}

/// Whether the cupsd at `address` (`HOST:PORT`) says its scheduler is running.
fn scheduler_answers(address: &str) -> bool {
    Command::new("lpstat")
        .arg("-r")
        .env("CUPS_SERVER", address)
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| {
            o.status.success()
                && String::from_utf8_lossy(&o.stdout).contains("scheduler is running")
        })
}

/// Whether an IPP printer answers Get-Printer-Attributes within `timeout_secs`.
pub fn answers_ipp(uri: &str, timeout_secs: u32) -> bool {
    Command::new("ipptool")
        .args(["-q", "-T", &timeout_secs.to_string(), uri])
        .arg("get-printer-attributes.test")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn cupsd_conf(address: &str, port: u16) -> String {
    format!(
        "# deskready lab print server: written by `deskready lab`, rewritten at every start\n\
         Listen {address}\n\
         Listen 127.0.0.1:{port}\n\
         ServerAlias *\n\
         LogLevel info\n\
         MaxLogSize 0\n\
         WebInterface No\n\
         Browsing No\n\
         BrowseLocalProtocols none\n\
         DefaultAuthType None\n\
         <Location />\n\
         \x20 Order allow,deny\n\
         \x20 Allow 127.0.0.0/8\n\
         </Location>\n\
         <Location /admin>\n\
         \x20 Order allow,deny\n\
         \x20 Allow 127.0.0.0/8\n\
         </Location>\n\
         <Policy default>\n\
         \x20 <Limit All>\n\
         \x20   Order deny,allow\n\
         \x20 </Limit>\n\
         </Policy>\n"
    )
}

fn cups_files_conf(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "# deskready lab print server: written by `deskready lab`, rewritten at every start\n\
         ServerRoot {d}/etc\n\
         RequestRoot {d}/spool\n\
         CacheDir {d}/cache\n\
         StateDir {d}/state\n\
         TempDir {d}/spool/tmp\n\
         ErrorLog {d}/log/error_log\n\
         AccessLog {d}/log/access_log\n\
         PageLog {d}/log/page_log\n\
         Printcap {d}/state/printcap\n\
         User lp\n\
         Group lp\n\
         SystemGroup root\n\
         Sandboxing Relaxed\n"
    )
}

/// Makes sure the system D-Bus daemon and avahi-daemon run (ippeveprinter needs DNS-SD).
/// Machine services: started when missing, never stopped by the lab. Serialized between
/// labs (threads and processes) by a lock file.
pub fn ensure_dnssd() -> Result<(), LabError> {
    if UnixStream::connect(AVAHI_SOCKET).is_ok() {
        return Ok(());
    }
    let lock_dir = Path::new(slots::SLOT_DIR);
    fs::create_dir_all(lock_dir).map_err(io_err("create", lock_dir))?;
    let lock_path = lock_dir.join(".dnssd");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_err("open", &lock_path))?;
    // SAFETY: flock on a descriptor owned by `lock`; released when it is closed.
    unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
    if UnixStream::connect(AVAHI_SOCKET).is_ok() {
        return Ok(());
    }
    if UnixStream::connect(DBUS_SOCKET).is_err() {
        fs::create_dir_all("/run/dbus").map_err(io_err("create", Path::new("/run/dbus")))?;
        // A pid file left by a dead daemon makes dbus-daemon refuse to start.
        let _ = fs::remove_file("/run/dbus/pid");
        let mut cmd = Command::new("dbus-daemon");
        cmd.args(["--system", "--fork"]);
        super::run_checked(cmd, "dbus-daemon --system --fork")?;
        wait_socket(DBUS_SOCKET, "dbus-daemon")?;
    }
    let mut cmd = Command::new("avahi-daemon");
    cmd.args(["-D", "--no-drop-root", "--no-rlimits"]);
    super::run_checked(cmd, "avahi-daemon -D --no-drop-root --no-rlimits")?;
    wait_socket(AVAHI_SOCKET, "avahi-daemon")
}

fn wait_socket(path: &str, what: &str) -> Result<(), LabError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(path).is_err() {
        if Instant::now() >= deadline {
            return Err(LabError::Command {
                what: what.to_string(),
                detail: format!("{path} does not accept connections after 10s"),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printer_ports_stay_in_the_slot_block() {
        assert_eq!(printer_port(0, 0), 20000);
        assert_eq!(printer_port(3, 99), 20399);
        assert_eq!(printer_port(99, 99), 29999);
    }

    #[test]
    fn too_many_printers_are_refused() {
        let specs: Vec<PrinterSpec> = (0..101)
            .map(|i| PrinterSpec::new(format!("p{i}"), "ACME", "M", "L"))
            .collect();
        let err = validate_printers(&specs).unwrap_err().to_string();
        assert!(err.contains("at most 100 printers"), "{err}");
        assert!(validate_printers(&specs[..100]).is_ok());
        let bad = [PrinterSpec::new("a b", "x", "y", "z")];
        assert!(validate_printers(&bad).is_err());
    }

    #[test]
    fn old_lab_state_without_printers_loads() {
        let lab: Lab = serde_json::from_str(
            r#"{"dir":"/tmp/l","key_file":"/tmp/l/keys/operator","devices":[],"slot":3}"#,
        )
        .unwrap();
        assert!(lab.printers.is_empty());
        assert!(lab.print_server.is_none());
    }

    #[test]
    fn cupsd_listens_on_the_device_address() {
        let c = cupsd_conf("127.105.0.1:30005", 30005);
        assert!(c.contains("Listen 127.105.0.1:30005\nListen 127.0.0.1:30005\n"));
        assert!(c.contains("ServerAlias *\n"));
        let f = cups_files_conf(Path::new("/tmp/lab/print/server"));
        assert!(f.contains("ServerRoot /tmp/lab/print/server/etc\n"));
        assert!(f.contains("User lp\n"));
    }
}
