//! The transport against real sshd devices from the lab: isolation, exec, host-key pinning,
//! unreachable and silent addresses, refused keys, and a clean `down`.

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use deskready::lab::Lab;
use deskready::transport::{
    FilePins, HostKeyPins, Session, SshOptions, Target, TransportError, shell_quote,
};

use crate::support::TestLab;
use crate::support::procs::live_processes_mentioning;
use crate::support::ssh::{fingerprint as openssh_fingerprint, keygen, ok, quick};

#[test]
fn writes_on_one_device_stay_on_that_device() {
    let lab = TestLab::new("ISO", 2);
    let mut one = lab.session(0);
    let mut two = lab.session(1);
    for path in [
        "/etc/deskready-test",
        "/root/deskready-test",
        "/tmp/deskready-test",
        // deskready's run directory (its programs' files): each device's own, as on
        // real machines
        "/run/deskready/deskready-test",
    ] {
        ok(
            &mut one,
            &format!("echo device-one > {}", shell_quote(path)),
        );
        assert_eq!(
            ok(&mut one, &format!("cat {}", shell_quote(path))),
            "device-one\n"
        );
        let seen = ok(
            &mut two,
            &format!(
                "test -e {} && echo present || echo absent",
                shell_quote(path)
            ),
        );
        assert_eq!(
            seen, "absent\n",
            "{path} written on device 1 is visible on device 2"
        );
        assert!(
            !Path::new(path).exists(),
            "{path} written on device 1 is visible on the host"
        );
        let landed = lab.devices[0].host_path(path).unwrap();
        assert_eq!(std::fs::read_to_string(&landed).unwrap(), "device-one\n");
    }
    // The device still sees the host's system (overlay, not an empty /etc).
    assert!(ok(&mut two, "cat /etc/os-release").contains("Debian"));
    // Its home is its own and empty: no host ~/.bashrc runs on each exec.
    assert_eq!(ok(&mut two, "ls -A /root"), "");
    // Its run directory is root's only, as a program would have made it.
    assert_eq!(ok(&mut two, "stat -c '%U %a' /run/deskready"), "root 700\n");
}

#[test]
fn run_feeds_stdin_and_captures_status_stdout_stderr() {
    let lab = TestLab::new("RUN", 1);
    let mut s = lab.session(0);

    let out = s
        .run("cat > /etc/x && cat /etc/x", b"line one\nline two\n")
        .unwrap();
    assert_eq!(out.status, 0);
    assert_eq!(out.stdout, b"line one\nline two\n");
    assert!(out.stderr.is_empty());

    let out = s.run("echo to-out; echo to-err >&2; exit 3", b"").unwrap();
    assert_eq!(out.status, 3);
    assert_eq!(out.stdout, b"to-out\n");
    assert_eq!(out.stderr, b"to-err\n");

    // Several MB both ways through one channel at once: no deadlock, nothing lost.
    let big: Vec<u8> = (0..4_000_000u32).map(|i| (i % 251) as u8).collect();
    let out = s.run("cat; cat /etc/os-release >&2", &big).unwrap();
    assert_eq!(out.status, 0);
    assert!(
        out.stdout == big,
        "stdout differs from stdin ({} bytes)",
        out.stdout.len()
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("Debian"));

    // A value that would be a command if unquoted stays a literal word.
    let out = s
        .run(
            &format!(
                "printf %s {}",
                shell_quote("x'; touch /etc/owned; echo '$(id)")
            ),
            b"",
        )
        .unwrap();
    assert_eq!(out.stdout, b"x'; touch /etc/owned; echo '$(id)");
    assert_eq!(
        ok(&mut s, "test -e /etc/owned && echo owned || echo safe"),
        "safe\n"
    );

    // A command that does not read its stdin still finishes.
    assert_eq!(s.run("exit 0", &big).unwrap().status, 0);

    // Killed by a signal: 128 + signal number, like a shell.
    assert_eq!(s.run("kill -TERM $$", b"").unwrap().status, 128 + 15);

    assert_eq!(s.channels_opened(), 7);
}

#[test]
fn command_timeout_is_enforced() {
    let lab = TestLab::new("SLOW", 1);
    let target = lab.target(&lab.name(0)).unwrap();
    let opts = SshOptions {
        command_timeout: Duration::from_secs(1),
        ..quick()
    };
    let mut s = Session::connect(&target, &opts, &deskready::transport::MemoryPins::new()).unwrap();
    let start = Instant::now();
    let err = s.run("sleep 10", b"").unwrap_err();
    // Ends at the 1 s limit, not when `sleep 10` would: bounded well below 10 s so a busy
    // machine does not fail it.
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "took {:?}",
        start.elapsed()
    );
    assert!(
        matches!(err, TransportError::CommandTimeout { .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "command on SLOW-0001 at {} did not finish within 1s",
            target.address()
        )
    );
}

#[test]
fn host_keys_are_pinned_on_first_contact_and_a_changed_key_is_refused() {
    let mut lab = TestLab::new("PIN", 1);
    let name = lab.name(0);
    let site = tempfile::tempdir().unwrap();
    let pins = FilePins::new(site.path().join(".deskready/host_keys"));
    let target = lab.target(&name).unwrap();
    let address = target.address();

    // First contact pins the key, in OpenSSH's fingerprint format.
    let s = Session::connect(&target, &quick(), &pins).unwrap();
    let first = pins
        .pinned(&name)
        .unwrap()
        .expect("pinned on first contact");
    assert_eq!(&first, s.host_key());
    assert_eq!(first.key_type, "ssh-ed25519");
    let key_pub = lab.devices[0].host_key_file().with_extension("pub");
    assert_eq!(first.fingerprint, openssh_fingerprint(&key_pub));
    let text = std::fs::read_to_string(pins.path()).unwrap();
    assert_eq!(text, format!("{name} ssh-ed25519 {}\n", first.fingerprint));
    drop(s);

    // Same key: accepted.
    Session::connect(&target, &quick(), &pins).unwrap();

    // The device is "reinstalled": new host key, same address.
    lab.replace_host_key(&name).unwrap();
    let presented = openssh_fingerprint(&key_pub);
    assert_ne!(presented, first.fingerprint);
    let err = Session::connect(&target, &quick(), &pins).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "host key of {name} at {address} changed: pinned {}, presented {presented}; if the \
             device was reinstalled on purpose, accept the new key with `deskready rekey {name}`",
            first.fingerprint
        )
    );
    // Refused before authenticating: the pin is unchanged and the device logged no login.
    assert_eq!(pins.pinned(&name).unwrap(), Some(first.clone()));
    let log = std::fs::read_to_string(lab.devices[0].log_file()).unwrap();
    assert!(
        !log.contains("Accepted publickey"),
        "authenticated anyway: {log}"
    );

    // Re-keyed on purpose: forget, then the next contact pins the new key.
    pins.forget(&name).unwrap();
    Session::connect(&target, &quick(), &pins).unwrap();
    assert_eq!(pins.pinned(&name).unwrap().unwrap().fingerprint, presented);
}

#[test]
fn a_stopped_device_is_unreachable_quickly() {
    let mut lab = TestLab::new("OFF", 2);
    let name = lab.name(0);
    let target = lab.target(&name).unwrap();
    lab.stop_device(&name).unwrap();
    assert_eq!(
        lab.status(),
        vec![(name.clone(), false), (lab.name(1), true)]
    );

    let start = Instant::now();
    let err =
        Session::connect(&target, &quick(), &deskready::transport::MemoryPins::new()).unwrap_err();
    // A refused connection must not wait out the connect timeout (the bound is the
    // timeout itself, not a speed target: timings on a busy machine vary).
    assert!(
        start.elapsed() < quick().connect_timeout,
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(
        err.to_string(),
        format!(
            "cannot reach {name} at {}: connection refused",
            target.address()
        )
    );

    // Started again: same address, same host key, reachable.
    let pins = deskready::transport::MemoryPins::new();
    lab.start_device(&name).unwrap();
    Session::connect(&target, &quick(), &pins).unwrap();
    let key_pub = lab.devices[0].host_key_file().with_extension("pub");
    assert_eq!(
        pins.pinned(&name).unwrap().unwrap().fingerprint,
        openssh_fingerprint(&key_pub)
    );
}

#[test]
fn an_address_that_never_answers_times_out_within_the_connect_timeout() {
    // Accepts TCP (the kernel does) but never speaks SSH.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let target = Target {
        device: "LAP-0001".into(),
        host: "127.0.0.1".into(),
        port,
        user: "root".into(),
        identity: None,
    };
    let opts = SshOptions {
        connect_timeout: Duration::from_secs(1),
        ..quick()
    };
    let start = Instant::now();
    let err =
        Session::connect(&target, &opts, &deskready::transport::MemoryPins::new()).unwrap_err();
    let took = start.elapsed();
    // The 1 s timeout ends the wait (a connect without one waits minutes); the bound
    // leaves room for a busy machine.
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(
        err.to_string(),
        format!("cannot reach LAP-0001 at 127.0.0.1:{port}: no answer within 1s")
    );
    drop(listener);

    // A non-routed address: either no answer within the timeout or an immediate OS refusal,
    // never a hang past the connect timeout.
    let target = Target {
        host: "10.255.255.1".into(),
        port: 22,
        ..target
    };
    let start = Instant::now();
    let err =
        Session::connect(&target, &opts, &deskready::transport::MemoryPins::new()).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    assert!(
        err.to_string()
            .starts_with("cannot reach LAP-0001 at 10.255.255.1:22: "),
        "{err}"
    );
}

#[test]
fn a_key_the_device_does_not_know_is_refused() {
    let lab = TestLab::new("KEY", 1);
    let name = lab.name(0);
    let other = tempfile::tempdir().unwrap();
    let wrong = other.path().join("not-the-operator");
    keygen(&wrong);
    let target = Target {
        identity: Some(wrong.clone()),
        ..lab.target(&name).unwrap()
    };
    let err =
        Session::connect(&target, &quick(), &deskready::transport::MemoryPins::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{name} at {} refused authentication for user root (tried key {})",
            target.address(),
            wrong.display()
        )
    );

    let missing = other.path().join("missing");
    let target = Target {
        identity: Some(missing.clone()),
        ..target
    };
    let err =
        Session::connect(&target, &quick(), &deskready::transport::MemoryPins::new()).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "cannot read private key {} for {name}",
            missing.display()
        )),
        "{err}"
    );
}

#[test]
fn a_public_key_file_that_does_not_match_its_key_does_not_stop_the_key() {
    // `KEY.pub` is offered first when it is there; one that belongs to another key (a
    // stale copy) fails, and the key itself is tried alone.
    let lab = TestLab::new("PUB", 1);
    let name = lab.name(0);
    let own = lab.target(&name).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("operator");
    std::fs::copy(own.identity.as_ref().unwrap(), &key).unwrap();
    let other = dir.path().join("other");
    keygen(&other);
    std::fs::copy(
        dir.path().join("other.pub"),
        dir.path().join("operator.pub"),
    )
    .unwrap();
    let target = Target {
        identity: Some(key.clone()),
        ..own
    };
    let mut sess =
        Session::connect(&target, &quick(), &deskready::transport::MemoryPins::new()).unwrap();
    assert_eq!(ok(&mut sess, "echo in"), "in\n");
}

#[test]
fn an_rsa_key_logs_in_through_libssh2_and_an_ed25519_key_without_its_pub_file_too() {
    // ed25519 keys sign in memory; any other goes through libssh2's key-file login.
    let lab = TestLab::new("RSA", 1);
    let name = lab.name(0);
    let dir = tempfile::tempdir().unwrap();
    let rsa = dir.path().join("rsa");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f"])
        .arg(&rsa)
        .status()
        .unwrap();
    assert!(st.success());
    let public = std::fs::read_to_string(dir.path().join("rsa.pub")).unwrap();
    let mut admin = lab.session(0);
    ok(
        &mut admin,
        &format!(
            "printf '%s\\n' {} >> /run/deskready-lab/sshd/authorized_keys",
            shell_quote(public.trim())
        ),
    );
    let own = lab.target(&name).unwrap();
    let pins = deskready::transport::MemoryPins::new();
    let mut sess = Session::connect(
        &Target {
            identity: Some(rsa),
            ..own.clone()
        },
        &quick(),
        &pins,
    )
    .unwrap();
    assert_eq!(ok(&mut sess, "echo rsa"), "rsa\n");
    // The operator's ed25519 key alone (no .pub beside it).
    let bare = dir.path().join("operator");
    std::fs::copy(own.identity.as_ref().unwrap(), &bare).unwrap();
    let mut sess = Session::connect(
        &Target {
            identity: Some(bare),
            ..own
        },
        &quick(),
        &pins,
    )
    .unwrap();
    assert_eq!(ok(&mut sess, "echo ed"), "ed\n");
}

#[test]
fn down_stops_every_process_of_the_lab() {
    // The guard still takes the lab down if an assertion below fails.
    let lab = TestLab::new("DOWN", 3);
    let dir = lab.dir.clone();
    let specs: Vec<_> = (1..=3)
        .map(|i| deskready::lab::LabDeviceSpec::new(format!("DOWN-{i:04}")))
        .collect();
    let marker = lab.dir.display().to_string();
    let pids: Vec<u32> = lab.devices.iter().map(|d| d.pid).collect();
    let run_dirs: Vec<_> = lab
        .devices
        .iter()
        .map(|d| d.host_path("/run/deskready").unwrap())
        .collect();
    assert!(run_dirs.iter().all(|d| d.is_dir()), "{run_dirs:?}");
    let live = live_processes_mentioning(&marker);
    for pid in &pids {
        assert!(live.contains(pid), "sshd {pid} is not running ({live:?})");
    }

    // A lab already running in the directory is refused.
    let err = Lab::up(&dir, &specs).unwrap_err();
    assert!(
        err.to_string().starts_with("a lab is already running in"),
        "{err}"
    );

    // State on disk: another process can load it and see the same devices running.
    let loaded = Lab::load(&dir).unwrap();
    assert_eq!(loaded.devices, lab.devices);
    assert!(loaded.status().iter().all(|(_, up)| *up));

    // Something left running inside a device (a detached session child).
    let target = lab.target("DOWN-0001").unwrap();
    let mut s =
        Session::connect(&target, &quick(), &deskready::transport::MemoryPins::new()).unwrap();
    ok(
        &mut s,
        // A uniquely named copy of sleep (in the device's private /tmp): `pgrep -x sleep`
        // would also match other sleep processes on this machine (PIDs are shared).
        "cp /bin/sleep /tmp/lab-sleeper; setsid /tmp/lab-sleeper 300 > /dev/null 2>&1 < /dev/null & echo started",
    );
    let sleeper = ok(&mut s, "pgrep -f '/tmp/lab-[s]leeper'")
        .trim()
        .to_string();
    assert!(!sleeper.is_empty());
    drop(s);

    lab.down().unwrap();
    assert_eq!(live_processes_mentioning(&marker), Vec::<u32>::new());
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
        assert!(stat.is_err(), "sshd {pid} still in /proc: {stat:?}");
    }
    for pid in sleeper.lines() {
        let alive = std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c.contains("sleep"));
        assert!(!alive, "a process left in the device ({pid}) survived down");
    }
    assert!(!dir.join("lab.json").exists());
    // What a reboot clears: the devices' run directories.
    for d in run_dirs {
        assert!(!d.exists(), "{d:?} is left");
    }
    assert!(matches!(
        Lab::load(&dir),
        Err(deskready::lab::LabError::NoLab { .. })
    ));
}

#[test]
fn fifty_devices_come_up_and_answer() {
    let start = Instant::now();
    let lab = TestLab::new("FLEET", 50);
    let up = start.elapsed();
    let start = Instant::now();
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let target = lab.target(&lab.name(i)).unwrap();
            std::thread::spawn(move || {
                let pins = deskready::transport::MemoryPins::new();
                let mut s =
                    Session::connect(&target, &quick(), &pins).unwrap_or_else(|e| panic!("{e}"));
                let out = s.run("echo $DESKREADY_DEVICE", b"").unwrap();
                (target.device, String::from_utf8(out.stdout).unwrap())
            })
        })
        .collect();
    for h in handles {
        let (device, said) = h.join().unwrap();
        assert_eq!(said.trim(), device);
    }
    eprintln!(
        "50 devices: up in {up:?}, all connected and ran a command in {:?}",
        start.elapsed()
    );
    // Correctness, not speed (speed is bench/'s job): bring-up must not hang.
    assert!(up < Duration::from_secs(120), "lab up took {up:?}");
}

#[test]
fn five_hundred_devices_fit_in_one_lab() {
    let start = Instant::now();
    let lab = TestLab::new("BIG", 500);
    let up = start.elapsed();
    let hosts: std::collections::HashSet<&str> =
        lab.devices.iter().map(|d| d.host.as_str()).collect();
    assert_eq!(hosts.len(), 500);
    // First, middle (third octet changes at 250) and last device answer over SSH.
    for i in [0, 249, 250, 499] {
        let mut s = lab.session(i);
        assert_eq!(ok(&mut s, "echo $DESKREADY_DEVICE").trim(), lab.name(i));
    }
    assert!(lab.status().iter().all(|(_, up)| *up));
    eprintln!("500 devices up in {up:?}");
}
