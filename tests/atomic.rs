//! A write cut off by a dying device leaves the old file or the new one, never a mix.

mod sitekit;

use std::path::Path;
use std::time::{Duration, Instant};

use sitekit::{LabSite, SiteCopy};

/// Lines of the generated file (200 x 1000 in the template): about 9 MB.
const LINES: usize = 200_000;

/// Every process below `root` (children, grandchildren, ...), by walking /proc.
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let ppid: u32 = after
            .split(' ')
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        parent_of.push((pid, ppid));
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out
}

/// A test on a file's path and size.
type Matcher = dyn Fn(&Path, u64) -> bool;

/// Waits until a file matching `pred` exists under `dir` (recursively), then returns.
fn wait_for(dir: &Path, pred: &Matcher, limit: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                let Ok(md) = std::fs::symlink_metadata(&p) else {
                    continue;
                };
                if md.is_dir() {
                    stack.push(p);
                } else if pred(&p, md.len()) {
                    return true;
                }
            }
        }
        std::thread::yield_now();
    }
    false
}

/// The whole file is one generation: every line of it, and all of its lines.
fn generation_of(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), LINES, "a partial file: {} lines", lines.len());
    let first = lines[0].split(' ').next().unwrap().to_string();
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(
            *l,
            format!("{first} line {i} of a large generated file"),
            "a mixed file at line {i}"
        );
    }
    first
}

#[test]
fn killing_the_device_mid_write_leaves_the_old_or_the_new_file() {
    let site = SiteCopy::example();
    site.write(
        "profiles/big.yaml",
        "name: big\nvars: { generation: A }\nresources:\n  - file: /srv/big.txt\n    template: big.tera\n",
    );
    site.write(
        "templates/big.tera",
        "{% for o in range(end=200) %}{% for n in range(end=1000) %}{{ vars.generation }} line {{ o * 1000 + n }} of a large generated file\n{% endfor %}{% endfor %}",
    );
    site.edit(
        "inventory/laptops.yaml",
        "    profile: laptop-engineering\n    assignee: { name: Bruno",
        "    profile: big\n    assignee: { name: Bruno",
    );
    let mut lab = LabSite::up(site);
    let first = lab.run(&["configure", "LAP-0002"]);
    assert_eq!(first.code(), 0, "{}{}", first.stdout(), first.stderr());
    let target = lab.host_path("LAP-0002", "/srv/big.txt");
    assert_eq!(
        generation_of(&std::fs::read_to_string(&target).unwrap()),
        "A"
    );

    let tmp = lab.host_path("LAP-0002", "/tmp");
    let srv = lab.host_path("LAP-0002", "/srv");
    let staging: Box<Matcher> = Box::new(|p: &Path, len: u64| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('f'))
            && len > 1_000_000
    });
    let beside: Box<Matcher> =
        Box::new(|p: &Path, _| p.to_string_lossy().contains(".big.txt.deskready-"));
    // Phase 1 cuts the transfer (content being staged on the device); phase 2 cuts the copy
    // into the temp file beside the target, just before the rename. The copy takes a few
    // milliseconds, so a phase is tried until the kill lands inside it (at most 5 times).
    let mut generation = b'B';
    for (what, dir, pred) in [
        ("staging", &tmp, &staging),
        ("temp beside the target", &srv, &beside),
    ] {
        let mut cut = false;
        for _attempt in 0..5 {
            let g = (generation as char).to_string();
            generation += 1;
            let child = std::process::Command::new(env!("CARGO_BIN_EXE_deskready"))
                .arg("--site")
                .arg(lab.site.path())
                .args(["--var", &format!("generation={g}"), "configure", "LAP-0002"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let seen = wait_for(dir, pred.as_ref(), Duration::from_secs(20));
            let pid = lab.lab.device("LAP-0002").unwrap().pid;
            for p in descendants(pid) {
                unsafe { libc::kill(p as i32, libc::SIGKILL) };
            }
            let out = child.wait_with_output().unwrap();
            let now = generation_of(&std::fs::read_to_string(&target).unwrap());
            eprintln!(
                "{what}, generation {g}: seen={seen}, exit {:?}, file is generation {now}",
                out.status.code()
            );
            lab.lab.start_device("LAP-0002").unwrap();
            if seen && out.status.code() != Some(0) {
                cut = true;
                break;
            }
        }
        assert!(cut, "never cut a run during {what}");
    }
    // And a run that is not cut off completes the new generation.
    let last = lab.run(&["--var", "generation=D", "configure", "LAP-0002"]);
    assert_eq!(last.code(), 0, "{}{}", last.stdout(), last.stderr());
    assert_eq!(
        generation_of(&std::fs::read_to_string(&target).unwrap()),
        "D"
    );
    // No temp file of a cut-off run is left beside the target.
    let left: Vec<_> = std::fs::read_dir(&srv)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, [std::ffi::OsString::from("big.txt")]);
}
