//! The floor: the least an SSH tool can do for the benchmark's workload.
//!
//! Usage: bench-floor KEY MANIFEST
//! MANIFEST has one line per device: `HOST:PORT<TAB>SCRIPT_FILE`. For every device, all at
//! once (one thread each), it opens one TCP connection, does the SSH handshake and public-key
//! auth as root with KEY, opens ONE exec channel running `sh -s`, writes the pre-rendered
//! script on its stdin, and reads stdout to the end. Host keys are not checked.
//! The scripts (bench/lib/prepare.py) decide how much work is done on the device; each ends
//! with `BENCH changed=N` (resources written or run), summed in the summary line.
//! Prints one line per failed device and a summary; exit 1 when any device failed.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

fn run(addr: &str, key: &Path, script: &[u8]) -> Result<(i32, String), String> {
    let tcp = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    tcp.set_nodelay(true).ok();
    let mut sess = ssh2::Session::new().map_err(|e| format!("session: {e}"))?;
    sess.set_tcp_stream(tcp);
    sess.set_timeout(600_000);
    sess.handshake().map_err(|e| format!("handshake: {e}"))?;
    sess.userauth_pubkey_file("root", None, key, None)
        .map_err(|e| format!("auth: {e}"))?;
    let mut ch = sess.channel_session().map_err(|e| format!("channel: {e}"))?;
    ch.exec("sh -s").map_err(|e| format!("exec: {e}"))?;
    ch.write_all(script).map_err(|e| format!("write: {e}"))?;
    ch.send_eof().map_err(|e| format!("eof: {e}"))?;
    let mut out = String::new();
    ch.read_to_string(&mut out).map_err(|e| format!("read: {e}"))?;
    ch.wait_close().map_err(|e| format!("close: {e}"))?;
    let code = ch.exit_status().map_err(|e| format!("status: {e}"))?;
    Ok((code, out))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: bench-floor KEY MANIFEST");
        std::process::exit(2);
    }
    let key = std::path::PathBuf::from(&args[1]);
    let manifest = std::fs::read_to_string(&args[2]).expect("read manifest");
    let jobs: Vec<(String, Vec<u8>)> = manifest
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (addr, file) = l.split_once('\t').expect("HOST:PORT<TAB>SCRIPT");
            (addr.to_string(), std::fs::read(file).expect("read script"))
        })
        .collect();
    let start = Instant::now();
    let handles: Vec<_> = jobs
        .into_iter()
        .map(|(addr, script)| {
            let key = key.clone();
            std::thread::spawn(move || {
                let t = Instant::now();
                let r = run(&addr, &key, &script);
                (addr, r, t.elapsed())
            })
        })
        .collect();
    let (mut ok, mut failed, mut changed) = (0, 0, 0u64);
    let mut slowest = Duration::ZERO;
    for h in handles {
        let (addr, r, took) = h.join().expect("thread");
        slowest = slowest.max(took);
        match r {
            Ok((0, out)) => {
                ok += 1;
                // The script ends with "BENCH changed=N".
                if let Some(n) = out.lines().rev().find_map(|l| l.strip_prefix("BENCH changed=")) {
                    changed += n.trim().parse::<u64>().unwrap_or(0);
                }
            }
            Ok((code, out)) => {
                failed += 1;
                eprintln!("{addr}: exit {code}: {}", out.trim());
            }
            Err(e) => {
                failed += 1;
                eprintln!("{addr}: {e}");
            }
        }
    }
    println!(
        "floor: {ok} ok, {failed} failed, {changed} resources written or run, wall {:.3}s, slowest device {:.3}s",
        start.elapsed().as_secs_f64(),
        slowest.as_secs_f64()
    );
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
