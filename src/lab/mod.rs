//! Simulated devices on this machine: the [`Lab`] type, its one `impl` home. A lab is light
//! devices (one sshd per device, each on its own loopback address and in its own mount
//! namespace) and full devices (Debian booted with systemd in systemd-nspawn, over a shared
//! base root, each with its own sshd on its own loopback address), optionally a private print server (cupsd) and printers (ippeveprinter), all
//! under one directory and holding one address slot. This file owns the lab's life cycle
//! (up, load, status, down, stopping and starting one device or printer) and delegates
//! every piece of work to the files below; it never touches a process it did not start
//! (every kill is checked against `/proc/PID/cmdline`).
//!
//! One concern per file; a file imports only files listed after it (no cycles):
//! - `state`: `lab.json`, what is saved and loaded.
//! - `full`: full devices, their base root, upper directories and systemd-nspawn.
//! - `sshd`: light devices, their sshd, configs and keys.
//! - `printers`: ippeveprinter, DNS-SD.
//! - `print_server`: the private cupsd.
//! - `namespace`: mount namespaces, overlays and bind mounts.
//! - `slots`: address slots, device addresses.
//! - `process`: spawning with a log, waiting until ready, wait-then-kill, `/proc`.
//! - `error`: [`LabError`].
//! - `database`: a private PostgreSQL cluster ([`Cluster`]); imports nothing of the lab.

mod database;
mod error;
mod full;
mod namespace;
mod print_server;
mod printers;
mod process;
mod reach;
mod slots;
mod sshd;
mod state;

pub use database::{Cluster, ClusterError};
pub use error::LabError;
pub use full::{BASE_ENV, DEFAULT_BASE};
pub use print_server::{PRINT_SERVER_PORT_BASE, PrintServer, print_server_port};
pub use printers::{
    LabPrinter, MAX_PRINTERS, PRINTER_PORT_BASE, PrinterSpec, answers_ipp, ensure_dnssd,
    printer_port,
};
pub use reach::answers;
pub use slots::{MAX_DEVICES, device_host};
pub use sshd::{LAB_PORT, LabDevice, LabDeviceSpec};

use std::borrow::Cow;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::transport::Target;
use error::io_err;
use process::Processes;
use state::LabState;

/// How long print processes (cupsd, printers) get to exit after TERM before KILL.
const PRINT_GRACE: Duration = Duration::from_secs(5);

/// A lab: simulated devices under one directory, holding one address slot.
#[derive(Debug)]
pub struct Lab {
    pub dir: PathBuf,
    /// The operator's private key; every device authorizes its public half for root.
    pub key_file: PathBuf,
    pub devices: Vec<LabDevice>,
    /// Address slot s: device i listens on 127.(100+s).(i/250).(1+i%250):2222.
    pub slot: u32,
    /// Simulated printers (ippeveprinter); printer i listens on 127.0.0.1:20000+slot*100+i.
    pub printers: Vec<LabPrinter>,
    /// The private cupsd, listening on its device's address (none in older lab.json files).
    pub print_server: Option<PrintServer>,
    /// sshd, cupsd and ippeveprinter processes this process spawned, reaped when stopped.
    processes: Processes,
}

impl Lab {
    /// Starts one sshd per light device and one container per full device in `dir` and
    /// waits until every one accepts connections.
    /// Refuses when a lab in `dir` (if there is one) still runs any process; the lab
    /// recorded there when none does.
    pub fn refuse_if_running(dir: &Path) -> Result<Option<Lab>, LabError> {
        if !state::exists(dir) {
            return Ok(None);
        }
        let old = Lab::load(dir)?;
        let running = old.status().iter().filter(|(_, up)| *up).count() + old.print_running();
        if running > 0 {
            return Err(LabError::AlreadyRunning {
                dir: fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()),
                running,
            });
        }
        Ok(Some(old))
    }

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
        sshd::validate_specs(devices)?;
        printers::validate_printers(printers)?;
        let server_index = match print_server {
            Some(name) => Some(devices.iter().position(|d| d.name == name).ok_or_else(|| {
                LabError::BadDevice {
                    name: name.to_string(),
                    reason: "the print server must be one of the lab's devices".into(),
                }
            })?),
            None => None,
        };
        fs::create_dir_all(dir).map_err(io_err("create", dir))?;
        let dir = fs::canonicalize(dir).map_err(io_err("resolve", dir))?;
        namespace::check_lab_dir(&dir)?;

        if state::exists(&dir) {
            let old = Lab::refuse_if_running(&dir)?.expect("a lab's state exists");
            old.down()?;
        }

        sshd::prepare_host()?;
        let key_file = sshd::operator_key(&dir)?;
        let slot = slots::allocate(&dir)?;
        let print_server = server_index
            .map(|i| print_server::new(&dir, slot, &device_host(slot, i), &devices[i].name));
        let mut lab = Lab {
            devices: sshd::new_devices(&dir, slot, devices),
            printers: printers::new_printers(&dir, slot, printers),
            dir,
            key_file,
            slot,
            print_server,
            processes: Processes::default(),
        };
        match lab.start_devices().and_then(|()| lab.start_print()) {
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
        let state = state::load(&dir)?;
        Ok(Lab {
            dir: state.dir.into_owned(),
            key_file: state.key_file.into_owned(),
            devices: state.devices.into_owned(),
            slot: state.slot,
            printers: state.printers.into_owned(),
            print_server: state.print_server.map(Cow::into_owned),
            processes: Processes::default(),
        })
    }

    /// Each device and whether its sshd is running.
    pub fn status(&self) -> Vec<(String, bool)> {
        self.devices
            .iter()
            .map(|d| (d.name.clone(), self.is_running(d)))
            .collect()
    }

    /// Whether the device's sshd (light) or container (full) is running.
    fn is_running(&self, d: &LabDevice) -> bool {
        if d.full {
            full::is_running(&self.dir, d.pid)
        } else {
            sshd::is_running(&self.dir, d.pid)
        }
    }

    /// Stops these devices: light ones (their sshd and what runs in their namespaces) and
    /// full ones (a clean shutdown of each container, waited for).
    fn stop_devices(&self, devices: &[&LabDevice]) -> Result<(), LabError> {
        let entries = |full: bool| -> Vec<(String, u32)> {
            devices
                .iter()
                .filter(|d| d.full == full)
                .map(|d| (d.name.clone(), d.pid))
                .collect()
        };
        let light = sshd::stop(&self.processes, &self.dir, &entries(false));
        let full = full::stop(&self.processes, &self.dir, &entries(true));
        light.and(full)
    }

    /// Prepares and spawns one device (light or full); does not wait.
    fn spawn_device(&mut self, index: usize) -> Result<(), LabError> {
        let d = &mut self.devices[index];
        if d.full {
            let base = full::base_root()?;
            full::prepare(&self.key_file, &[d])?;
            full::spawn(&self.processes, &base, d)
        } else {
            sshd::prepare(&self.key_file, &[d])?;
            sshd::spawn(&self.processes, &self.dir, d)
        }
    }

    /// Stops every sshd of this lab (and whatever still runs in its devices' namespaces),
    /// shuts its full devices down (waiting until each is gone), stops its cupsd and its
    /// printers, releases the address slot and removes the state file and the light
    /// devices' run directories (what a reboot clears). Device files, queues and spooled
    /// jobs are kept. avahi-daemon and dbus-daemon are
    /// machine services and keep running.
    pub fn down(&self) -> Result<(), LabError> {
        let print = self.stop_print();
        let result = self
            .stop_devices(&self.devices.iter().collect::<Vec<_>>())
            .and(print);
        if result.is_ok() {
            let light: Vec<&LabDevice> = self.devices.iter().filter(|d| !d.full).collect();
            sshd::remove_run_dirs(&light)?;
            state::remove(&self.dir)?;
            slots::release(self.slot, &self.dir);
        }
        result
    }

    /// Stops one device (it becomes unreachable); its address and files are kept.
    pub fn stop_device(&mut self, name: &str) -> Result<(), LabError> {
        self.stop_devices(&[self.device(name)?])?;
        self.save()
    }

    /// Starts a stopped device again: same address, same host key file. Waits until it
    /// accepts connections. Does nothing when it is running.
    pub fn start_device(&mut self, name: &str) -> Result<(), LabError> {
        let index = self.index(name)?;
        if self.is_running(&self.devices[index]) {
            return Ok(());
        }
        self.spawn_device(index)?;
        self.save()?;
        sshd::wait_listening(&self.processes, &[&self.devices[index]])
    }

    /// Simulates a reinstall: stops the device, gives it a new host key, starts it again.
    pub fn replace_host_key(&mut self, name: &str) -> Result<(), LabError> {
        self.stop_device(name)?;
        let d = self.device(name)?;
        if d.full {
            full::remove_host_key(d)?;
        } else {
            sshd::remove_host_key(d)?;
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
        self.stop_print_pids(&[printers::process_entry(&self.printers[i])])?;
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
        printers::spawn(&self.processes, &mut self.printers[i])?;
        self.save()?;
        printers::wait(&self.processes, &[&self.printers[i]])
    }

    /// Sets printer `name`'s supply levels (percent, in the order it lists its supplies:
    /// stock ippeveprinter has a waste toner tank, then black toner) through its
    /// `/supplies` page, as a service engineer would; its state reasons follow
    /// (`marker-waste-almost-full-report`, `toner-low-report`...). A printer with extra
    /// attributes ([`Lab::set_printer_attrs`]) serves only the supplies its lines give:
    /// its page accepts the levels and changes nothing it serves.
    pub fn set_supplies(&self, name: &str, levels: &[u8]) -> Result<(), LabError> {
        let i = self.printer_index(name)?;
        printers::set_supplies(&self.printers[i], levels)
    }

    /// Restarts printer `name` serving these extra attributes (ATTR lines of ipptool's
    /// `--ippserver` format: page counters, firmware, serial, `marker-*`) instead of the
    /// ones it served, as a printer that printed, was updated or was replaced would; no
    /// lines makes it a stock printer again. Same port, same spool; waits until it answers.
    pub fn set_printer_attrs(&mut self, name: &str, lines: &[String]) -> Result<(), LabError> {
        let i = self.printer_index(name)?;
        let p = &self.printers[i];
        let spec = PrinterSpec::new(&p.name, &p.make, &p.model, &p.location)
            .with_attrs(lines.iter().cloned());
        printers::validate_printers(std::slice::from_ref(&spec))?;
        self.stop_printer(name)?;
        self.printers[i].attrs = spec.attrs;
        self.start_printer(name)
    }

    /// Stops the print server's cupsd (its scheduler no longer answers); its queues and
    /// configuration are kept.
    pub fn stop_print_server(&mut self) -> Result<(), LabError> {
        let Some(server) = &self.print_server else {
            return Ok(());
        };
        self.stop_print_pids(&[print_server::process_entry(server)])?;
        if let Some(server) = &mut self.print_server {
            server.pid = 0;
        }
        self.save()
    }

    /// Starts a stopped print server again (same address, same queues) and waits until it
    /// serves. Does nothing when it is running or there is none.
    pub fn start_print_server(&mut self) -> Result<(), LabError> {
        if self.print_server_running() {
            return Ok(());
        }
        let Some(server) = &mut self.print_server else {
            return Ok(());
        };
        print_server::spawn(&self.processes, &self.dir, server)?;
        self.save()?;
        match &self.print_server {
            Some(server) => print_server::wait(&self.processes, server),
            None => Ok(()),
        }
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

    fn printer_index(&self, name: &str) -> Result<usize, LabError> {
        self.printers
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| LabError::UnknownPrinter {
                name: name.to_string(),
                dir: self.dir.clone(),
            })
    }

    fn save(&self) -> Result<(), LabError> {
        state::save(&LabState {
            dir: Cow::Borrowed(&self.dir),
            key_file: Cow::Borrowed(&self.key_file),
            devices: Cow::Borrowed(&self.devices),
            slot: self.slot,
            printers: Cow::Borrowed(&self.printers),
            print_server: self.print_server.as_ref().map(Cow::Borrowed),
        })
    }

    /// Starts every device and waits until all accept connections. Pids are recorded as
    /// soon as they exist, so a failure part way leaves a state `down` can clean up.
    fn start_devices(&mut self) -> Result<(), LabError> {
        let light: Vec<&LabDevice> = self.devices.iter().filter(|d| !d.full).collect();
        sshd::fresh_run_dirs(&light)?;
        sshd::prepare(&self.key_file, &light)?;
        let full: Vec<&LabDevice> = self.devices.iter().filter(|d| d.full).collect();
        let base = if full.is_empty() {
            None
        } else {
            let base = full::base_root()?;
            full::prepare(&self.key_file, &full)?;
            Some(base)
        };
        for d in &mut self.devices {
            let spawned = match &base {
                Some(base) if d.full => full::spawn(&self.processes, base, d),
                _ => sshd::spawn(&self.processes, &self.dir, d),
            };
            if let Err(e) = spawned {
                let _ = self.save();
                return Err(e);
            }
        }
        self.save()?;
        sshd::wait_listening(&self.processes, &self.devices.iter().collect::<Vec<_>>())
    }

    /// Starts cupsd and every printer, waits until all answer. Pids are recorded as soon
    /// as they exist, so a failure part way leaves a state `down` can clean up.
    fn start_print(&mut self) -> Result<(), LabError> {
        if self.print_server.is_none() && self.printers.is_empty() {
            return Ok(());
        }
        print_server::prepare_print_dir(&self.dir)?;
        if !self.printers.is_empty() {
            ensure_dnssd()?;
        }
        for p in &mut self.printers {
            if let Err(e) = printers::spawn(&self.processes, p) {
                let _ = self.save();
                return Err(e);
            }
        }
        if let Some(server) = &mut self.print_server
            && let Err(e) = print_server::spawn(&self.processes, &self.dir, server)
        {
            let _ = self.save();
            return Err(e);
        }
        self.save()?;
        // ippeveprinter sometimes fails to register with avahi when many printers start at
        // once on a busy machine ("Unable to initialize DNS-SD", or avahi's D-Bus glue
        // aborting): such a printer is started again, up to 3 times in all.
        let mut again = 0;
        loop {
            match printers::wait(&self.processes, &self.printers.iter().collect::<Vec<_>>()) {
                Err(LabError::PrinterExited { printer, log, .. })
                    if again < 3 && (log.contains("DNS-SD") || log.contains("vahi")) =>
                {
                    again += 1;
                    let i = self.printer_index(&printer)?;
                    printers::spawn(&self.processes, &mut self.printers[i])?;
                    self.save()?;
                }
                other => {
                    other?;
                    break;
                }
            }
        }
        match &self.print_server {
            Some(server) => print_server::wait(&self.processes, server),
            None => Ok(()),
        }
    }

    /// Whether `pid` is a live cupsd or ippeveprinter of this lab.
    fn is_print_process(&self, pid: u32) -> bool {
        process::is_marked(pid, &process::print_marker(&self.dir))
    }

    /// How many print processes (cupsd, printers) of this lab are running.
    fn print_running(&self) -> usize {
        let server = self.print_server.iter().map(|s| s.pid);
        server
            .chain(self.printers.iter().map(|p| p.pid))
            .filter(|pid| self.is_print_process(*pid))
            .count()
    }

    /// Stops cupsd and every printer of this lab, together.
    fn stop_print(&self) -> Result<(), LabError> {
        let mut pids: Vec<(String, u32)> =
            self.printers.iter().map(printers::process_entry).collect();
        pids.extend(self.print_server.as_ref().map(print_server::process_entry));
        self.stop_print_pids(&pids)
    }

    /// TERM, then KILL after [`PRINT_GRACE`], to each listed process that is one of this
    /// lab's print processes.
    fn stop_print_pids(&self, pids: &[(String, u32)]) -> Result<(), LabError> {
        self.processes
            .terminate(pids, PRINT_GRACE, |pid| self.is_print_process(pid))
            .map_err(|(what, pid)| LabError::PrintDidNotStop { what, pid })
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Devices outlive the Lab value (a CLI `lab up` exits, the devices stay); only
        // reap children that already exited so they do not linger as zombies.
        self.processes.reap_exited();
    }
}

#[cfg(test)]
mod tests {
    /// The lab's files in the order of the header above: each may import only those after it.
    const LAYERS: [(&str, &str); 9] = [
        ("state", include_str!("state.rs")),
        ("full", include_str!("full.rs")),
        ("sshd", include_str!("sshd.rs")),
        ("printers", include_str!("printers.rs")),
        ("print_server", include_str!("print_server.rs")),
        ("namespace", include_str!("namespace.rs")),
        ("slots", include_str!("slots.rs")),
        ("process", include_str!("process.rs")),
        ("error", include_str!("error.rs")),
    ];

    #[test]
    fn a_lab_file_imports_only_the_files_after_it() {
        for (i, (name, text)) in LAYERS.iter().enumerate() {
            for (at, _) in text.match_indices("super::") {
                let rest = &text[at + "super::".len()..];
                let item: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '*')
                    .collect();
                // `*`: a test module's `use super::*` (its own file).
                let allowed = item == "*" || LAYERS[i + 1..].iter().any(|(n, _)| *n == item);
                assert!(
                    allowed,
                    "{name}.rs imports super::{item}: a lab file imports only the files after \
                     it (named one by one), never mod.rs"
                );
            }
        }
    }
}
