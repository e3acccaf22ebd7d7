//! Faults on the real lab: a command that outlives its timeout, a connection dropped under
//! a running program, a black-hole address, a changed host key, a dead printer and a dead
//! print server. Each checks what the device is left with (its processes, its files), what
//! is recorded (journal, stage, run), and that the time spent is bounded.

use std::time::{Duration, Instant};

use crate::support::procs::live_processes_mentioning;
use crate::support::{LabSite, Run, SiteCopy, poll};

/// A name no other test (or other test run on this machine) uses, for a copy of `sleep`
/// whose processes can be found in /proc.
fn sleeper_name(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("deskready-{what}-{}-{nanos}", std::process::id())
}

/// The example site whose engineering laptops end their profile with a command that runs
/// a uniquely named copy of `sleep` for 1000 s (after every file has been written).
fn site_with_a_long_command(sleeper: &str) -> LabSite {
    let site = SiteCopy::example();
    site.edit(
        "profiles/laptop-engineering.yaml",
        "  - package: git\n",
        &format!(
            "  - package: git\n  - name: long job\n    command: cp /bin/sleep /tmp/{sleeper} && /tmp/{sleeper} 1000\n"
        ),
    );
    LabSite::up(site)
}

/// The `run` of the `done` event of `device` in NDJSON output.
fn device_run(run: &Run, device: &str) -> serde_json::Value {
    run.ndjson()
        .into_iter()
        .find(|e| e["event"] == "done" && e["device"] == device)
        .unwrap_or_else(|| {
            panic!(
                "no done event for {device}: {}{}",
                run.stdout(),
                run.stderr()
            )
        })["run"]
        .clone()
}

/// Waits until no process on this machine (the lab's devices share its process table)
/// carries `marker`; panics naming them otherwise.
fn wait_until_gone(marker: &str, limit: Duration) {
    let left = poll(limit, Duration::from_millis(100), || {
        live_processes_mentioning(marker).is_empty().then_some(())
    });
    assert!(
        left.is_some(),
        "still running on the device after {limit:?}: {:?}",
        live_processes_mentioning(marker)
    );
}

/// Waits until the device's /tmp holds no program temp directory (`deskready.*`, with
/// its staged contents); panics describing what is left otherwise.
fn no_temp_dirs_left(lab: &LabSite, device: &str) {
    let tmp = lab.host_path(device, "/tmp");
    let listing = || -> Vec<String> {
        std::fs::read_dir(&tmp)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("deskready."))
            .collect()
    };
    let left = poll(Duration::from_secs(5), Duration::from_millis(100), || {
        listing().is_empty().then_some(())
    });
    if left.is_none() {
        let names = listing();
        let mut info = String::new();
        for n in &names {
            let d = tmp.join(n);
            let pid = std::fs::read_to_string(d.join("pid")).unwrap_or_default();
            let files: Vec<String> = std::fs::read_dir(&d)
                .map(|r| {
                    r.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            let cmd = crate::support::procs::cmdline(pid.trim().parse().unwrap_or(0));
            info.push_str(&format!("{n}: pid {pid:?} {cmd:?} files {files:?}\n"));
        }
        panic!("a temp directory of the cut program is left in {tmp:?}:\n{info}");
    }
}

/// The device's journal, as `history --format json` shows it.
fn history(lab: &LabSite, device: &str) -> serde_json::Value {
    lab.run(&["--format", "json", "history", device]).json()
}

fn resource_rows(h: &serde_json::Value) -> Vec<(String, String)> {
    h["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "resource")
        .map(|r| {
            (
                r["subject"].as_str().unwrap_or("").to_string(),
                r["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_command_timeout_is_honoured_once_kills_the_remote_work_and_keeps_what_changed() {
    let sleeper = sleeper_name("timeout");
    let lab = site_with_a_long_command(&sleeper);
    let started = Instant::now();
    let run = lab.run(&[
        "--format",
        "json",
        "configure",
        "LAP-0001",
        "--command-timeout",
        "5",
    ]);
    let took = started.elapsed();
    assert_eq!(run.code(), 1, "{}{}", run.stdout(), run.stderr());
    // The timeout ends the run once: well under twice the timeout (it was 2x before).
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(10),
        "took {took:?}"
    );
    let v = device_run(&run, "LAP-0001");
    assert_eq!(v["outcome"], "failed", "{v:#}");
    assert_eq!(v["problems"][0]["kind"], "timed-out", "{v:#}");
    let address = lab.lab.target("LAP-0001").unwrap().address();
    assert_eq!(
        v["errors"][0],
        format!("command on LAP-0001 at {address} did not finish within 5s")
    );
    // What the device reported before the cut stands; the cut command was not finished.
    let status = |name: &str| {
        v["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no resource {name}: {v:#}"))["status"]
            .clone()
    };
    assert_eq!(status("owner card"), "changed");
    assert_eq!(status("long job"), "unreached");

    // The whole remote process group is gone, the sleep included, and so is the
    // program's temp directory with its staged contents.
    wait_until_gone(&sleeper, Duration::from_secs(5));
    no_temp_dirs_left(&lab, "LAP-0001");

    // Recorded: the device failed, and the file the run rewrote is in the journal.
    let h = history(&lab, "LAP-0001");
    assert_eq!(h["stage"], "configure-failed", "{h:#}");
    let rows = resource_rows(&h);
    assert!(
        rows.iter()
            .any(|(s, m)| s == "owner card" && m.starts_with("changed file on LAP-0001")),
        "{rows:?}"
    );
    let summary = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|r| r["kind"] == "configure")
        .unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        summary.starts_with("configure failed: ") && !summary.contains(": 0 changed"),
        "{summary}"
    );
    assert_eq!(
        lab.ssh(
            "LAP-0001",
            "grep -c 'Amira Haddad' /etc/deskready/owner.conf"
        ),
        "1\n"
    );
}

/// The parent of `pid` (None once it is gone).
fn parent_of(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|p| p.trim().parse().ok())
}

/// The nearest ancestor of `pid` whose command is sshd: the device's sshd serving the
/// connection the process runs under.
fn serving_sshd(pid: u32) -> u32 {
    let mut p = pid;
    while let Some(parent) = parent_of(p) {
        let comm = std::fs::read_to_string(format!("/proc/{parent}/comm")).unwrap_or_default();
        if comm.trim_end().starts_with("sshd") {
            return parent;
        }
        assert!(parent > 1, "no sshd above process {pid}");
        p = parent;
    }
    panic!("process {pid} is gone")
}

#[test]
fn a_connection_dropped_mid_run_is_recorded_and_its_remote_work_killed() {
    let sleeper = sleeper_name("dropped");
    let lab = site_with_a_long_command(&sleeper);
    let running = lab
        .test()
        .args(["--format", "json", "configure", "LAP-0001"])
        .spawn();
    let sleeping = crate::support::wait_until(
        "the long command to start on the device",
        Duration::from_secs(60),
        || live_processes_mentioning(&sleeper).first().copied(),
    );
    // The device's sshd serving this run dies (as when the device's SSH service is
    // killed or restarted); the device itself stays up.
    let sshd = serving_sshd(sleeping);
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &sshd.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = Instant::now();
    let run = running.wait();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the controller noticed the cut only after {:?}",
        started.elapsed()
    );
    assert_eq!(run.code(), 1, "{}{}", run.stdout(), run.stderr());
    let v = device_run(&run, "LAP-0001");
    assert_eq!(v["outcome"], "failed", "{v:#}");
    let address = lab.lab.target("LAP-0001").unwrap().address();
    assert_eq!(
        v["errors"][0],
        format!(
            "connection to LAP-0001 at {address} was lost while a command ran: the device \
             closed the connection"
        )
    );
    assert_eq!(v["problems"][0]["kind"], "connection-lost", "{v:#}");

    // Nothing the run started is left on the device.
    wait_until_gone(&sleeper, Duration::from_secs(5));
    no_temp_dirs_left(&lab, "LAP-0001");

    // Recorded: the run, the device's failure, and what it changed before the cut.
    let h = history(&lab, "LAP-0001");
    assert_eq!(h["stage"], "configure-failed", "{h:#}");
    assert!(
        resource_rows(&h)
            .iter()
            .any(|(s, m)| s == "owner card" && m.starts_with("changed file on LAP-0001")),
        "{h:#}"
    );
    let resume = lab.run(&[
        "--format",
        "json",
        "configure",
        "--resume",
        "--command-timeout",
        "3",
    ]);
    assert_eq!(
        crate::support::done(&resume.ndjson()),
        [("LAP-0001".to_string(), "failed".to_string())],
        "the interrupted device is the one to resume: {}",
        resume.stdout()
    );
    wait_until_gone(&sleeper, Duration::from_secs(5));
}

/// A TCP address that takes no connection and answers nothing: a listener with a full
/// accept queue drops every further SYN, as a firewall that drops packets does. Dropping
/// the returned values ends it.
fn black_hole() -> (u16, Vec<std::net::TcpStream>, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket calls on a socket this function owns; the address struct is
    // fully initialised before use.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    addr.sin_family = libc::AF_INET as libc::sa_family_t;
    addr.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let rc = unsafe { libc::bind(fd, (&raw const addr).cast(), len) };
    assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
    assert_eq!(unsafe { libc::listen(fd, 0) }, 0);
    let mut bound: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut blen = len;
    let rc = unsafe { libc::getsockname(fd, (&raw mut bound).cast(), &mut blen) };
    assert_eq!(rc, 0);
    let port = u16::from_be(bound.sin_port);
    // Fill the accept queue (never accepted): from now on SYNs are dropped.
    let mut fillers = Vec::new();
    while let Ok(s) = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(300),
    ) {
        fillers.push(s);
        assert!(fillers.len() < 8, "the listener keeps accepting");
    }
    (port, fillers, owned)
}

#[test]
fn a_black_hole_address_costs_one_connect_timeout_with_a_clear_message() {
    let lab = LabSite::up(SiteCopy::example());
    let (port, _fillers, _listener) = black_hole();
    let d = lab.lab.device("LAP-0002").unwrap();
    lab.site.edit(
        "inventory/lab.generated.yaml",
        &format!("host: {}, port: {}", d.host, d.port),
        &format!("host: 127.0.0.1, port: {port}"),
    );
    let started = Instant::now();
    let run = lab.run(&[
        "--format",
        "json",
        "configure",
        "LAP-0002",
        "--connect-timeout",
        "2",
    ]);
    let took = started.elapsed();
    assert_eq!(run.code(), 1, "{}{}", run.stdout(), run.stderr());
    // One connect timeout: not less (it did wait), not a kernel's minutes-long retry.
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(4),
        "took {took:?}"
    );
    let v = device_run(&run, "LAP-0002");
    assert_eq!(v["outcome"], "unreachable", "{v:#}");
    assert_eq!(v["problems"][0]["kind"], "connect-timeout");
    assert_eq!(
        v["errors"][0],
        format!("cannot reach LAP-0002 at 127.0.0.1:{port}: no answer within 2s")
    );
    assert_eq!(history(&lab, "LAP-0002")["stage"], "configure-failed");
}

#[test]
fn a_changed_host_key_is_refused_with_the_rekey_hint_and_nothing_runs() {
    let mut lab = LabSite::up(SiteCopy::example());
    assert_eq!(lab.run(&["configure", "LAP-0003"]).code(), 0);
    lab.ssh(
        "LAP-0003",
        "echo 'edited by hand' >> /etc/deskready/owner.conf",
    );
    let card = lab.ssh("LAP-0003", "cat /etc/deskready/owner.conf");
    lab.lab.replace_host_key("LAP-0003").unwrap();
    let log = lab.lab.device("LAP-0003").unwrap().log_file();
    let logins = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .matches("Accepted publickey")
            .count()
    };
    let before = logins();
    let run = lab.run(&["--format", "json", "configure", "LAP-0003"]);
    assert_eq!(run.code(), 1, "{}{}", run.stdout(), run.stderr());
    let v = device_run(&run, "LAP-0003");
    assert_eq!(v["problems"][0]["kind"], "host-key-changed", "{v:#}");
    let error = v["errors"][0].as_str().unwrap();
    assert!(
        error.ends_with(
            "; if the device was reinstalled on purpose, accept the new key with `deskready rekey LAP-0003`"
        ),
        "{error}"
    );
    assert_eq!(
        (v["connections"].as_u64(), v["channels"].as_u64()),
        (Some(0), Some(0))
    );
    // Refused before logging in: no login, nothing changed on the device.
    assert_eq!(logins(), before, "logged in despite the changed key");
    assert!(
        v["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "unreached"),
        "{v:#}"
    );
    // (Read through the device's own files: an SSH login would need the new key pinned.)
    let on_disk = std::fs::read_to_string(lab.host_path("LAP-0003", "/etc/deskready/owner.conf"));
    assert_eq!(on_disk.unwrap(), card);
}

const PRINTERS: &str = "PRN-*,LABP-*";

/// The queues the print server of `lab` has (`lpstat -v`).
fn queues(lab: &LabSite) -> String {
    let ps = lab.lab.print_server.as_ref().expect("print server");
    lab.ssh(
        &ps.device,
        &format!("CUPS_SERVER={} lpstat -v 2>/dev/null || true", ps.address),
    )
}

#[test]
fn dead_printers_cost_one_connect_timeout_each_in_parallel_and_leave_the_queues_alone() {
    let mut lab = LabSite::up_with_printers(SiteCopy::example(), 6);
    let dead = ["PRN-0401", "PRN-0303"];
    for p in dead {
        lab.lab.stop_printer(p).unwrap();
    }
    let run = lab.run(&[
        "--format",
        "json",
        "configure",
        "--all",
        "--limit",
        PRINTERS,
        "--connect-timeout",
        "3",
    ]);
    assert_eq!(run.code(), 1, "{}{}", run.stdout(), run.stderr());
    let events = run.ndjson();
    for e in events.iter().filter(|e| e["event"] == "done") {
        let device = e["device"].as_str().unwrap();
        if dead.contains(&device) {
            assert_eq!(e["outcome"], "unreachable", "{e:#}");
            // Asked over IPP before any queue work: one connect timeout at most, never
            // the minute an lpadmin against a dead printer takes.
            assert!(e["elapsed_ms"].as_u64().unwrap() < 3000 + 2000, "{e:#}");
            let uri = lab.lab.printer(device).unwrap().uri.clone();
            assert!(
                e["error"].as_str().unwrap().starts_with(&format!(
                    "verify check `printer answers over IPP` failed: {device} at {uri} does not answer over IPP: "
                )),
                "{e:#}"
            );
            let statuses: Vec<&str> = e["run"]["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["status"].as_str().unwrap())
                .collect();
            assert!(statuses.iter().all(|s| *s == "unreached"), "{e:#}");
            assert_eq!(e["run"]["connections"], 0, "{e:#}");
        } else {
            assert_eq!(e["outcome"], "changed", "{e:#}");
        }
    }
    // Their queues were not touched on the print server; the others' were made.
    let made = queues(&lab);
    for p in &lab.lab.printers {
        let has = made.contains(&format!(": {}\n", p.uri));
        assert_eq!(has, !dead.contains(&p.name.as_str()), "{}: {made}", p.name);
    }
    for p in dead {
        lab.lab.start_printer(p).unwrap();
    }
    let resume = lab.run(&["--format", "json", "configure", "--resume"]);
    assert_eq!(resume.code(), 0, "{}{}", resume.stdout(), resume.stderr());
    assert_eq!(
        crate::support::done(&resume.ndjson()),
        [
            ("PRN-0303".to_string(), "changed".to_string()),
            ("PRN-0401".to_string(), "changed".to_string())
        ]
    );
}

#[test]
fn a_dead_print_server_is_found_once_and_its_printers_reported_together() {
    let mut lab = LabSite::up_with_printers(SiteCopy::example(), 6);
    lab.lab.stop_print_server().unwrap();
    let ps = lab.lab.print_server.as_ref().unwrap().clone();
    let started = Instant::now();
    let run = lab.run(&[
        "configure",
        "--all",
        "--limit",
        PRINTERS,
        "--connect-timeout",
        "3",
        "--parallel",
        "2",
    ]);
    let took = started.elapsed();
    assert_eq!(run.code(), 1, "{}{}", run.stdout(), run.stderr());
    // Found at once: not a retried lpadmin per printer (that was 30 s each, one by one).
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let out = run.stdout();
    let printers: Vec<String> = lab.lab.printers.iter().map(|p| p.name.clone()).collect();
    let mut sorted = printers.clone();
    sorted.sort();
    let line = format!(
        "print server {} is down (its scheduler does not answer): the queues of 6 printers were not changed: {}; once it is back, `configure --resume` finishes them\n",
        ps.device,
        sorted.join(", ")
    );
    assert_eq!(out.matches(&line).count(), 1, "{out}");
    let problem = format!(
        "print server {} is down: its scheduler (cupsd at {}) does not answer; the queue was not changed",
        ps.device, ps.address
    );
    for p in &printers {
        let h = history(&lab, p);
        assert_eq!(h["stage"], "configure-failed", "{p}: {h:#}");
        assert!(out.contains(&problem), "{out}");
    }
    // JSON says it once too, as one event naming every printer.
    let json = lab.run(&[
        "--format",
        "json",
        "configure",
        "--all",
        "--limit",
        PRINTERS,
        "--connect-timeout",
        "3",
    ]);
    let events = json.ndjson();
    let down: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "print_server_down")
        .collect();
    assert_eq!(down.len(), 1, "{}", json.stdout());
    assert_eq!(down[0]["server"], ps.device.as_str());
    assert_eq!(down[0]["printers"], serde_json::json!(sorted));
    for e in events.iter().filter(|e| e["event"] == "done") {
        assert_eq!(e["outcome"], "failed", "{e:#}");
        assert_eq!(e["error"], problem.as_str(), "{e:#}");
        assert_eq!(e["print_server_down"], ps.device.as_str(), "{e:#}");
    }

    // Back up: resume finishes every printer.
    lab.lab.start_print_server().unwrap();
    let resume = lab.run(&["--format", "json", "configure", "--resume"]);
    assert_eq!(resume.code(), 0, "{}{}", resume.stdout(), resume.stderr());
    let results = crate::support::done(&resume.ndjson());
    assert_eq!(results.len(), 6, "{results:?}");
    assert!(results.iter().all(|(_, o)| o == "changed"), "{results:?}");
}

#[test]
fn a_controller_that_goes_away_leaves_nothing_running_on_the_device() {
    let sleeper = sleeper_name("gone");
    let lab = site_with_a_long_command(&sleeper);
    let running = lab.test().args(["configure", "LAP-0001"]).spawn();
    crate::support::wait_until(
        "the long command to start on the device",
        Duration::from_secs(60),
        || live_processes_mentioning(&sleeper).first().copied(),
    );
    // The controller dies without a word (kill -9, a closed laptop lid, a lost network):
    // its connections close, and the device's watchdog kills what the run started.
    running.kill();
    wait_until_gone(&sleeper, Duration::from_secs(5));
    no_temp_dirs_left(&lab, "LAP-0001");
}
