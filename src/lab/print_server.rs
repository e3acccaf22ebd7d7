//! The lab's print server: one private `cupsd`. It runs on this machine (not in a device
//! namespace) but listens on the print-server device's own lab address, so commands run over
//! SSH on that device reach it with `CUPS_SERVER=HOST:PORT` (cupsd also listens on
//! 127.0.0.1:PORT, see [`print_server_port`]). Every 127.0.0.0/8 client may administer it
//! without authentication. Owns [`PrintServer`], cupsd's configuration and runtime
//! directories, and starting cupsd and waiting until it serves.
//!
//! cupsd logs every request it serves in `log/access_log` (`AccessLogLevel all`), so that
//! tests can count what a rollout asked it.
//!
//! Its configuration sits under `<lab>/print/`, which is on cupsd's command line: that is
//! how the lab tells its own cupsd from others' (stopping is the lab's, with the printers).
//! Does not record anything (the caller saves the lab's state); imports no lab file but
//! `process` and `error`.

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{LabError, io_err};
use super::process::{NotReady, Processes, log_tail, run_checked};

/// The lab in slot s runs its cupsd on port PRINT_SERVER_PORT_BASE + s, on the print-server
/// device's address and on 127.0.0.1 (see [`print_server_port`]).
pub const PRINT_SERVER_PORT_BASE: u16 = 30000;
const CUPSD: &str = "/usr/sbin/cupsd";
/// cupsd's key among the lab's processes.
const KEY: &str = "print-server";

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

/// The print server of the lab in `dir` holding `slot`, on device `device` at `host`; not
/// started (pid 0).
pub(super) fn new(dir: &Path, slot: u32, host: &str, device: &str) -> PrintServer {
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

/// Makes `<lab>/print/` (cupsd's configuration, the printers' spools) reachable: cupsd
/// runs filters and backends as lp, which must traverse the lab directory.
pub(super) fn prepare_print_dir(lab_dir: &Path) -> Result<(), LabError> {
    let mode = fs::metadata(lab_dir)
        .map_err(io_err("inspect", lab_dir))?
        .permissions()
        .mode();
    if mode & 0o011 != 0o011 {
        fs::set_permissions(lab_dir, fs::Permissions::from_mode(mode | 0o011))
            .map_err(io_err("make traversable", lab_dir))?;
    }
    let print = lab_dir.join("print");
    fs::create_dir_all(&print).map_err(io_err("create", &print))?;
    fs::set_permissions(&print, fs::Permissions::from_mode(0o755))
        .map_err(io_err("make traversable", &print))
}

/// Writes cupsd's configuration and starts it, recording its pid; does not wait.
pub(super) fn spawn(
    procs: &Processes,
    lab_dir: &Path,
    server: &mut PrintServer,
) -> Result<(), LabError> {
    // Runtime directories (reachable by lp) in server.dir; the configuration files in
    // the lab directory, so that cupsd's command line names the lab (see `down`).
    let etc = server.dir.join("etc");
    let conf_dir = lab_dir.join("print").join("server");
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
    fs::write(&conf, cupsd_conf(&server.address, server.port())).map_err(io_err("write", &conf))?;
    let files = conf_dir.join("cups-files.conf");
    fs::write(&files, cups_files_conf(&server.dir)).map_err(io_err("write", &files))?;
    let mut chown = Command::new("chown");
    chown.arg("-R").arg("lp:lp").args(&owned);
    run_checked(chown, "chown -R lp:lp (print server directories)")?;

    let what = || format!("starting the print server ({CUPSD})");
    for addr in server.listen_addresses() {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Err(LabError::Command {
                what: what(),
                detail: format!("{addr} is already taken by another process"),
            });
        }
    }
    let mut cmd = Command::new(CUPSD);
    cmd.arg("-f")
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
        );
    server.pid = procs.spawn(KEY, cmd, &server.stdout_log(), what)?;
    Ok(())
}

/// Polls until cupsd accepts connections on both addresses and its scheduler answers.
pub(super) fn wait(procs: &Processes, server: &PrintServer) -> Result<(), LabError> {
    let timeout = Duration::from_secs(20);
    let addrs = server.listen_addresses();
    procs
        .wait_ready(&[KEY], timeout, Duration::from_millis(20), |_| {
            // Listening is not serving: cupsd accepts connections before its scheduler
            // answers requests, so also ask it (`lpstat -r`) before calling it ready.
            addrs
                .iter()
                .all(|a| TcpStream::connect_timeout(a, Duration::from_millis(200)).is_ok())
                && scheduler_answers(&server.address)
        })
        .map_err(|e| match e {
            NotReady::Exited { status, .. } => {
                let mut log = log_tail(&server.stdout_log());
                log.push_str(" | ");
                log.push_str(&log_tail(&server.error_log()));
                LabError::PrintServerExited {
                    address: server.address.clone(),
                    status,
                    log,
                }
            }
            NotReady::TimedOut { .. } => LabError::PrintServerNotListening {
                address: server.address.clone(),
                timeout,
                log: server.error_log(),
            },
        })
}

/// cupsd's (key, pid) among the lab's processes, for stopping it.
pub(super) fn process_entry(server: &PrintServer) -> (String, u32) {
    (KEY.to_string(), server.pid)
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

fn cupsd_conf(address: &str, port: u16) -> String {
    format!(
        "# deskready lab print server: written by `deskready lab`, rewritten at every start\n\
         Listen {address}\n\
         Listen 127.0.0.1:{port}\n\
         ServerAlias *\n\
         LogLevel info\n\
         AccessLogLevel all\n\
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

#[cfg(test)]
mod tests {
    use super::*;

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
