//! A write cut off by a dying device leaves the old file or the new one, never a mix.

use std::path::Path;
use std::time::Duration;

use crate::support::procs::descendants;
use crate::support::{LabSite, SiteCopy, poll};

/// Lines of the generated file (200 x 1000 in the template): about 9 MB.
const LINES: usize = 200_000;

/// A test on a file's path and size.
type Matcher = dyn Fn(&Path, u64) -> bool;

/// Waits until a file matching `pred` exists under `dir` (recursively), then returns.
/// Checks as often as it can: the window to catch is a few milliseconds.
fn wait_for(dir: &Path, pred: &Matcher, limit: Duration) -> bool {
    poll(limit, Duration::ZERO, || {
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
                    return Some(());
                }
            }
        }
        None
    })
    .is_some()
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
    // The device reads the whole transfer into `program` of its staging directory.
    let staging: Box<Matcher> = Box::new(|p: &Path, len: u64| {
        p.file_name().is_some_and(|n| n == "program")
            && p.to_string_lossy().contains("/deskready.")
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
            let child = lab
                .test()
                .args(["--var", &format!("generation={g}"), "configure", "LAP-0002"])
                .spawn();
            let seen = wait_for(dir, pred.as_ref(), Duration::from_secs(20));
            let pid = lab.lab.device("LAP-0002").unwrap().pid;
            for p in descendants(pid) {
                unsafe { libc::kill(p as i32, libc::SIGKILL) };
            }
            let out = child.wait();
            let now = generation_of(&std::fs::read_to_string(&target).unwrap());
            eprintln!(
                "{what}, generation {g}: seen={seen}, exit {:?}, file is generation {now}",
                out.output.status.code()
            );
            lab.lab.start_device("LAP-0002").unwrap();
            if seen && out.output.status.code() != Some(0) {
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
    // Nor any staged copy of a cut-off run in the device's /tmp.
    let staged: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("deskready."))
        .collect();
    assert_eq!(staged, Vec::<String>::new());
}
