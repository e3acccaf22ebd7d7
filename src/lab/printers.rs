//! The lab's simulated printers: one `ippeveprinter` per printer, keeping every job in its
//! spool directory under `<lab>/print/printers/<name>/`. Printers listen on 127.0.0.1 (and
//! every other address) on ports unique to the lab's address slot: 20000 + slot*100 + i.
//! Owns [`PrinterSpec`], [`LabPrinter`], printer names and ports, starting printers and
//! waiting until they answer IPP, and DNS-SD ([`ensure_dnssd`]).
//!
//! ippeveprinter cannot run without DNS-SD ("Unable to initialize DNS-SD", `-r off` does not
//! help), so the lab starts the system D-Bus daemon and avahi-daemon when they are not
//! running. Those two are machine services: started once, shared by every lab, and never
//! stopped by the lab. The spool directory is on ippeveprinter's command line: that is how
//! the lab tells its own printers from others' (stopping is the lab's, with cupsd). Does not
//! record anything (the caller saves the lab's state); imports no lab file but `slots`,
//! `process` and `error`.

use std::fs::{self, OpenOptions};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::error::{LabError, io_err};
use super::process::{NotReady, Processes, log_tail, run_checked};
use super::slots::SLOT_DIR;

/// Printer i of the lab in slot s listens on PRINTER_PORT_BASE + s*100 + i.
pub const PRINTER_PORT_BASE: u16 = 20000;
/// Printers of a lab with a port in the slot's block; any further ones get a free port
/// of [`EXTRA_PORTS`].
pub(super) const BLOCK_PRINTERS: usize = 100;
/// At most this many printers per lab.
pub const MAX_PRINTERS: usize = 400;
const IPPEVEPRINTER: &str = "ippeveprinter";
const AVAHI_SOCKET: &str = "/run/avahi-daemon/socket";
const DBUS_SOCKET: &str = "/run/dbus/system_bus_socket";

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

    /// The printer's key among the lab's processes.
    fn key(&self) -> String {
        format!("printer/{}", self.name)
    }
}

/// The port of printer `index` in the lab holding `slot`.
pub fn printer_port(slot: u32, index: usize) -> u16 {
    PRINTER_PORT_BASE + (slot as u16) * 100 + index as u16
}

/// Refuses too many printers, names that are not file names, names listed twice, and
/// control characters in what ippeveprinter advertises.
pub(super) fn validate_printers(printers: &[PrinterSpec]) -> Result<(), LabError> {
    if printers.len() > MAX_PRINTERS {
        return Err(LabError::BadPrinter {
            name: printers[MAX_PRINTERS].name.clone(),
            reason: format!(
                "a lab holds at most {MAX_PRINTERS} printers ({} asked)",
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

/// Ports for printers beyond a slot's block: above the print servers' ports, below the
/// system's ephemeral range (32768 and up, where outgoing connections take their ports).
const EXTRA_PORTS: std::ops::Range<u16> = 30100..32768;

/// A port of [`EXTRA_PORTS`] free on every address right now and not in `taken`, searched
/// from a place that depends on the slot.
fn extra_port(slot: u32, taken: &std::collections::HashSet<u16>) -> Option<u16> {
    let span = (EXTRA_PORTS.end - EXTRA_PORTS.start) as u32;
    (0..span)
        .map(|k| EXTRA_PORTS.start + ((slot * 331 + k) % span) as u16)
        .find(|p| !taken.contains(p) && std::net::TcpListener::bind(("0.0.0.0", *p)).is_ok())
}

/// The printers of the lab in `dir` holding `slot`, not started (pid 0).
pub(super) fn new_printers(dir: &Path, slot: u32, printers: &[PrinterSpec]) -> Vec<LabPrinter> {
    let mut taken = std::collections::HashSet::new();
    printers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let port = if i < BLOCK_PRINTERS {
                printer_port(slot, i)
            } else {
                extra_port(slot, &taken).unwrap_or_else(|| printer_port(slot, i % BLOCK_PRINTERS))
            };
            taken.insert(port);
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

/// Starts the printer's ippeveprinter and records its pid; does not wait. Refuses when
/// another process holds its port.
pub(super) fn spawn(procs: &Processes, p: &mut LabPrinter) -> Result<(), LabError> {
    fs::create_dir_all(&p.spool).map_err(io_err("create", &p.spool))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], p.port));
    if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
        return Err(LabError::PrinterPortTaken {
            printer: p.name.clone(),
            port: p.port,
        });
    }
    // -2: two-sided printing supported, like the office printers it stands for (the
    // queue's PPD gets a Duplex option, `sides-supported` lists two-sided-*).
    let mut cmd = Command::new(IPPEVEPRINTER);
    cmd.arg("-2")
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
        .arg(&p.name);
    p.pid = procs.spawn(&p.key(), cmd, &p.log_file(), || {
        format!("starting printer {} ({IPPEVEPRINTER})", p.name)
    })?;
    Ok(())
}

/// Sets the printer's supply levels through its web page (`GET /supplies?supply0=L...`).
pub(super) fn set_supplies(p: &LabPrinter, levels: &[u8]) -> Result<(), LabError> {
    use std::io::{Read, Write};
    let query: Vec<String> = levels
        .iter()
        .enumerate()
        .map(|(k, l)| format!("supply{k}={}", l.min(&100)))
        .collect();
    let what = || format!("setting the supplies of printer {}", p.name);
    let fail = |detail: String| LabError::Command {
        what: what(),
        detail,
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], p.port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| fail(e.to_string()))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| fail(e.to_string()))?;
    write!(
        s,
        "GET /supplies?{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
        query.join("&"),
        p.port
    )
    .map_err(|e| fail(e.to_string()))?;
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    if answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200") {
        Ok(())
    } else {
        Err(fail(format!(
            "the printer answered: {}",
            answer.lines().next().unwrap_or("nothing")
        )))
    }
}

/// Polls until each listed printer answers a Get-Printer-Attributes request.
pub(super) fn wait(procs: &Processes, printers: &[&LabPrinter]) -> Result<(), LabError> {
    let timeout = Duration::from_secs(20).max(Duration::from_millis(200) * printers.len() as u32);
    let keys: Vec<String> = printers.iter().map(|p| p.key()).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    procs
        .wait_ready(&keys, timeout, Duration::from_millis(50), |i| {
            let p = printers[i];
            let addr = SocketAddr::from(([127, 0, 0, 1], p.port));
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
                && answers_ipp(&p.uri, 5)
        })
        .map_err(|e| match e {
            NotReady::Exited { index, status } => LabError::PrinterExited {
                printer: printers[index].name.clone(),
                port: printers[index].port,
                status,
                log: log_tail(&printers[index].log_file()),
            },
            NotReady::TimedOut { index } => LabError::PrinterNotAnswering {
                printer: printers[index].name.clone(),
                uri: printers[index].uri.clone(),
                timeout,
                log: printers[index].log_file(),
            },
        })
}

/// The printer's (key, pid) among the lab's processes, for stopping it.
pub(super) fn process_entry(p: &LabPrinter) -> (String, u32) {
    (p.key(), p.pid)
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

/// Makes sure the system D-Bus daemon and avahi-daemon run (ippeveprinter needs DNS-SD).
/// Machine services: started when missing, never stopped by the lab. Serialized between
/// labs (threads and processes) by a lock file.
pub fn ensure_dnssd() -> Result<(), LabError> {
    if UnixStream::connect(AVAHI_SOCKET).is_ok() {
        return Ok(());
    }
    let lock_dir = Path::new(SLOT_DIR);
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
        run_checked(cmd, "dbus-daemon --system --fork")?;
        wait_socket(DBUS_SOCKET, "dbus-daemon")?;
    }
    let mut cmd = Command::new("avahi-daemon");
    cmd.args(["-D", "--no-drop-root", "--no-rlimits"]);
    run_checked(cmd, "avahi-daemon -D --no-drop-root --no-rlimits")?;
    wait_socket(AVAHI_SOCKET, "avahi-daemon")
}

/// Polls until a daemon (which forked away, so it is not one of the lab's processes)
/// accepts connections on its socket.
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
        let specs: Vec<PrinterSpec> = (0..401)
            .map(|i| PrinterSpec::new(format!("p{i}"), "ACME", "M", "L"))
            .collect();
        let err = validate_printers(&specs).unwrap_err().to_string();
        assert!(err.contains("at most 400 printers"), "{err}");
        assert!(validate_printers(&specs[..400]).is_ok());
        let bad = [PrinterSpec::new("a b", "x", "y", "z")];
        assert!(validate_printers(&bad).is_err());
    }
}
