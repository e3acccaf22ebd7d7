//! Labs for tests, always taken down: [`TestLab`] guards one lab (every sshd, cupsd and
//! printer stopped on drop, even when the test panics), whether the test brought it up
//! through the library or `deskready lab up` did; [`LabSite`] is a site copy with its lab up
//! and its devices received.
//!
//! Only this file brings labs up or down for tests.

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;

use deskready::lab::{Lab, LabDeviceSpec, PrinterSpec};
use deskready::transport::Session;

use super::cmd::{Run, Test};
use super::site::SiteCopy;
use super::ssh;

/// A lab that is brought down when dropped, even when a test panics.
pub(crate) struct TestLab {
    lab: Lab,
    /// The lab's own temporary directory when the test made one; removed after
    /// `Drop::drop` ran `down()`.
    _dir: Option<tempfile::TempDir>,
}

impl TestLab {
    /// Devices named `<prefix>-0001`, `<prefix>-0002`, ...
    pub(crate) fn new(prefix: &str, count: usize) -> TestLab {
        let names: Vec<String> = (1..=count).map(|i| format!("{prefix}-{i:04}")).collect();
        Self::with_names(&names)
    }

    /// Full devices (Debian booted with systemd in systemd-nspawn) named `<prefix>-0001`, ...
    /// Needs the base root `scripts/lab-base` makes.
    pub(crate) fn full(prefix: &str, count: usize) -> TestLab {
        let specs: Vec<LabDeviceSpec> = (1..=count)
            .map(|i| LabDeviceSpec::full(format!("{prefix}-{i:04}")))
            .collect();
        let dir = lab_dir();
        let lab = Lab::up(dir.path(), &specs).unwrap_or_else(|e| panic!("lab up: {e}"));
        TestLab {
            lab,
            _dir: Some(dir),
        }
    }

    pub(crate) fn with_names(names: &[String]) -> TestLab {
        let dir = lab_dir();
        let specs: Vec<LabDeviceSpec> = names.iter().map(LabDeviceSpec::new).collect();
        let lab = Lab::up(dir.path(), &specs).unwrap_or_else(|e| panic!("lab up: {e}"));
        TestLab {
            lab,
            _dir: Some(dir),
        }
    }

    /// Devices `names`, a print server on device `print_server` and these printers.
    pub(crate) fn with_printers(
        names: &[String],
        print_server: &str,
        printers: &[PrinterSpec],
    ) -> TestLab {
        let dir = lab_dir();
        let specs: Vec<LabDeviceSpec> = names.iter().map(LabDeviceSpec::new).collect();
        let lab = Lab::up_with(dir.path(), &specs, Some(print_server), printers)
            .unwrap_or_else(|e| panic!("lab up: {e}"));
        TestLab {
            lab,
            _dir: Some(dir),
        }
    }

    /// Guards a lab brought up elsewhere (by `deskready lab up`, in a site).
    pub(crate) fn adopt(lab: Lab) -> TestLab {
        TestLab { lab, _dir: None }
    }

    /// The name of device `i`.
    pub(crate) fn name(&self, i: usize) -> String {
        self.lab.devices[i].name.clone()
    }

    /// Connects to device `i` with fresh in-memory pins and short timeouts.
    pub(crate) fn session(&self, i: usize) -> Session {
        ssh::connect(&self.lab, &self.name(i))
    }

    /// Connects to the device named `name`.
    pub(crate) fn session_to(&self, name: &str) -> Session {
        ssh::connect(&self.lab, name)
    }

    /// Runs `command` as root on device `name` (status must be 0); returns its stdout.
    pub(crate) fn ssh(&self, name: &str, command: &str) -> String {
        ssh::run(&self.lab, name, command)
    }
}

fn lab_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("deskready-lab-")
        .tempdir()
        .expect("temp dir")
}

impl Deref for TestLab {
    type Target = Lab;
    fn deref(&self) -> &Lab {
        &self.lab
    }
}

impl DerefMut for TestLab {
    fn deref_mut(&mut self) -> &mut Lab {
        &mut self.lab
    }
}

impl Drop for TestLab {
    fn drop(&mut self) {
        if let Err(e) = self.lab.down() {
            eprintln!("lab down failed: {e}");
        }
    }
}

/// A site copy with its lab up (`deskready lab up`), taken down when dropped, even when
/// the test panics.
pub(crate) struct LabSite {
    /// Declared before `site`: fields drop in order, so the lab is down before the site's
    /// directory (which holds the lab) is removed.
    pub lab: TestLab,
    pub site: SiteCopy,
}

impl LabSite {
    /// The site's state store, opened as another process would.
    pub(crate) fn store(&self) -> deskready::store::Store {
        deskready::store::Store::open(&self.site.file(".deskready")).unwrap()
    }

    /// Waits (30 s at most) until `tag` is in `stage`.
    pub(crate) fn wait_for_stage(&self, tag: &str, stage: deskready::model::Stage) {
        super::wait_until(
            &format!("{tag} to reach {stage}"),
            std::time::Duration::from_secs(30),
            || {
                self.store()
                    .stage(tag)
                    .unwrap()
                    .is_some_and(|r| r.stage == stage)
                    .then_some(())
            },
        );
    }

    /// Starts deskready with `args` in the background.
    pub(crate) fn spawn(&self, args: &[&str]) -> super::Running {
        self.test().args(args).spawn()
    }
    /// A lab of `site` with every device received, as a scanner would.
    pub(crate) fn up(site: SiteCopy) -> LabSite {
        let lab = Self::up_unreceived(site);
        let tags: Vec<String> = lab.lab.devices.iter().map(|d| d.name.clone()).collect();
        lab.test()
            .args(["receive", "--scan"])
            .stdin(tags.join("\n"))
            .success();
        lab
    }

    /// A lab with the print server and `printers` simulated printers, every device received.
    pub(crate) fn up_with_printers(site: SiteCopy, printers: usize) -> LabSite {
        let lab = Self::bring_up(site, &["lab", "up", "--printers", &printers.to_string()]);
        let devices = lab
            .test()
            .args(["--format", "json", "devices"])
            .success()
            .json();
        let tags: Vec<&str> = devices
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["tag"].as_str().unwrap())
            .collect();
        lab.test()
            .args(["receive", "--scan"])
            .stdin(tags.join("\n"))
            .success();
        lab
    }

    /// A lab (`lab up --full N`) whose first `full` devices are full devices, none received.
    pub(crate) fn up_full_unreceived(site: SiteCopy, full: usize) -> LabSite {
        Self::bring_up(site, &["lab", "up", "--full", &full.to_string()])
    }

    /// A lab whose devices are not received yet.
    pub(crate) fn up_unreceived(site: SiteCopy) -> LabSite {
        Self::bring_up(site, &["lab", "up"])
    }

    fn bring_up(site: SiteCopy, args: &[&str]) -> LabSite {
        site.test().args(args).success();
        let lab = match Lab::load(&site.path().join(".deskready/lab")) {
            Ok(lab) => lab,
            Err(e) => {
                // Up, but not loadable here: still take it down before failing.
                let _ = site.run(&["lab", "down"]);
                panic!("lab state: {e}");
            }
        };
        LabSite {
            lab: TestLab::adopt(lab),
            site,
        }
    }

    /// `deskready --site DIR`, to add arguments to and run.
    pub(crate) fn test(&self) -> Test {
        self.site.test()
    }

    pub(crate) fn run_stdin(&self, args: &[&str], stdin: &str) -> Run {
        self.site.run_stdin(args, stdin)
    }

    pub(crate) fn run(&self, args: &[&str]) -> Run {
        self.site.run(args)
    }

    /// Runs `command` on device `tag` as root and returns its stdout (status must be 0).
    pub(crate) fn ssh(&self, tag: &str, command: &str) -> String {
        self.lab.ssh(tag, command)
    }

    /// Where device `tag`'s own copy of `path` lives on this machine.
    pub(crate) fn host_path(&self, tag: &str, path: &str) -> PathBuf {
        self.lab
            .device(tag)
            .expect("lab device")
            .host_path(path)
            .expect("a path the device keeps private")
    }
}
