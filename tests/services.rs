//! Full lab devices (Debian with systemd in systemd-nspawn): the lab brings them up and
//! down; `service` resources and handlers converge real systemd units on them.

use crate::support::lab::TestLab;

#[test]
fn a_full_device_boots_systemd_and_goes_down_cleanly() {
    let lab = TestLab::full("FULLUP", 1);
    let name = lab.name(0);
    assert_eq!(lab.status(), vec![(name.clone(), true)]);
    assert_eq!(lab.ssh(&name, "cat /proc/1/comm").trim(), "systemd");
    let pid = lab.device(&name).unwrap().pid;
    lab.down().unwrap();
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}
