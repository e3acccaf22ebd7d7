//! The lab's simulated printers: one `ippeveprinter` per printer, keeping every job in its
//! spool directory under `<lab>/print/printers/<name>/`. Printers listen on 127.0.0.1 (and
//! every other address) on ports unique to the lab's address slot: 20000 + slot*100 + i.
//! Owns [`PrinterSpec`], [`LabPrinter`], printer names and ports, starting printers and
//! waiting until they answer IPP, and DNS-SD ([`ensure_dnssd`]).
//!
//! A printer with extra attributes ([`PrinterSpec::with_attrs`]: page counters, firmware,
//! a serial in its device id, `marker-*`) is started with an attributes file (`-a`, ATTR
//! lines in ipptool's `--ippserver` format). ippeveprinter then takes the whole printer
//! description from that file and refuses `-2`, `-M` and `-m`: the file is what a stock
//! `ippeveprinter -2` describes ([`BASE_ATTRS`]), its make and model, and the extra lines.
//! Such a printer serves no `printer-supply` unless its lines give one (so `marker-*` lines
//! make a printer with only those), and its `/supplies` page does not change what it serves.
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
/// What a stock `ippeveprinter -2` describes about itself (media, sides, resolutions...),
/// for printers started with an attributes file.
const BASE_ATTRS: &str = include_str!("ippeveprinter-base.conf");

/// A printer to simulate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrinterSpec {
    pub name: String,
    pub make: String,
    pub model: String,
    pub location: String,
    /// Extra attributes it serves, as ATTR lines of ipptool's `--ippserver` format
    /// (`ATTR integer printer-impressions-completed 1234`); none for a stock printer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attrs: Vec<String>,
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
            attrs: Vec::new(),
        }
    }

    /// The same printer serving these extra ATTR lines too (see the module header).
    pub fn with_attrs<S: Into<String>>(mut self, lines: impl IntoIterator<Item = S>) -> Self {
        self.attrs = lines.into_iter().map(Into::into).collect();
        self
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
    /// Extra ATTR lines it serves (none for a stock printer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attrs: Vec<String>,
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

    /// The attributes file it is started with when it has extra attributes.
    pub fn attrs_file(&self) -> PathBuf {
        self.dir().join("attrs.conf")
    }

    /// The attributes file's text: the stock description, its make and model, its extra
    /// lines. A line of the stock description or the make and model is left out when an
    /// extra line gives the same attribute.
    fn attrs_text(&self) -> String {
        let name = |line: &str| line.split_whitespace().nth(2).map(str::to_string);
        let given: std::collections::HashSet<String> =
            self.attrs.iter().filter_map(|l| name(l)).collect();
        let quoted = |v: &str| format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""));
        let mut out = String::new();
        let mut skipping = false;
        for line in BASE_ATTRS.lines() {
            if line.starts_with("ATTR ") {
                skipping = name(line).is_some_and(|n| given.contains(&n));
            }
            if !skipping {
                out.push_str(line);
                out.push('\n');
            }
        }
        let own = [
            (
                "printer-make-and-model",
                format!("{} {}", self.make, self.model),
            ),
            (
                "printer-device-id",
                format!("MFG:{};MDL:{};CMD:PWG,URF;", self.make, self.model),
            ),
        ];
        for (attr, value) in own {
            if !given.contains(attr) {
                out.push_str(&format!(
                    "ATTR textWithoutLanguage {attr} {}\n",
                    quoted(&value)
                ));
            }
        }
        for line in &self.attrs {
            out.push_str(line);
            out.push('\n');
        }
        out
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
        for line in &p.attrs {
            if !line.starts_with("ATTR ")
                || line.split_whitespace().count() < 4
                || line.chars().any(char::is_control)
            {
                return Err(LabError::BadPrinter {
                    name: p.name.clone(),
                    reason: format!(
                        "`{line}` is not one `ATTR type name value` line of ipptool's \
                         --ippserver format"
                    ),
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
                attrs: p.attrs.clone(),
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
    let mut cmd = Command::new(IPPEVEPRINTER);
    cmd.arg("-k").arg("-d").arg(&p.spool);
    if p.attrs.is_empty() {
        // -2: two-sided printing supported, like the office printers it stands for (the
        // queue's PPD gets a Duplex option, `sides-supported` lists two-sided-*).
        cmd.arg("-2").arg("-M").arg(&p.make).arg("-m").arg(&p.model);
    } else {
        // The attributes file describes the whole printer (two-sided too); ippeveprinter
        // refuses -2, -M and -m with it.
        let file = p.attrs_file();
        fs::write(&file, p.attrs_text()).map_err(io_err("write", &file))?;
        cmd.arg("-a").arg(&file);
    }
    cmd.arg("-l")
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

    #[test]
    fn extra_attributes_follow_the_stock_description_and_replace_its_lines() {
        let spec = PrinterSpec::new("p1", "ACME", "LabJet \"9\"", "L").with_attrs([
            "ATTR integer printer-impressions-completed 1234",
            "ATTR textWithoutLanguage printer-device-id \"MFG:ACME;MDL:LabJet;SN:X1;\"",
        ]);
        assert!(validate_printers(std::slice::from_ref(&spec)).is_ok());
        let p = &new_printers(Path::new("/lab"), 0, &[spec])[0];
        assert_eq!(
            p.attrs_file(),
            Path::new("/lab/print/printers/p1/attrs.conf")
        );
        let text = p.attrs_text();
        assert!(text.contains("ATTR keyword sides-supported "), "{text}");
        assert!(
            text.contains(
                "ATTR textWithoutLanguage printer-make-and-model \"ACME LabJet \\\"9\\\"\"\n"
            ),
            "{text}"
        );
        assert_eq!(text.matches(" printer-device-id ").count(), 1, "{text}");
        assert!(text.ends_with("SN:X1;\"\n"), "{text}");
        assert!(!text.contains("printer-supply "), "{text}");

        let bad = PrinterSpec::new("p2", "ACME", "M", "L").with_attrs(["integer x 1"]);
        assert!(validate_printers(&[bad]).is_err());
        let two = PrinterSpec::new("p2", "ACME", "M", "L")
            .with_attrs(["ATTR integer x 1\nATTR integer y 2"]);
        assert!(validate_printers(&[two]).is_err());
    }
}
