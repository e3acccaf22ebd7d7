//! docs/tutorial.md is run as written: every fenced block marked `sh test`, line by line
//! and in order, on a copy of the example site with `deskready` on `PATH`, starting and
//! taking down a real lab. A command that fails fails the test, naming the line.

use std::path::Path;
use std::process::Command;

use crate::support::SiteCopy;

/// The commands of the blocks marked `sh test`, with their line numbers in the page.
fn commands(page: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut in_block = false;
    for (i, line) in page.lines().enumerate() {
        let t = line.trim();
        if let Some(info) = t.strip_prefix("```") {
            if in_block {
                in_block = false;
            } else {
                let words: Vec<&str> = info.split_whitespace().collect();
                in_block = words.first() == Some(&"sh") && words.contains(&"test");
            }
            continue;
        }
        if in_block && !t.is_empty() && !t.starts_with('#') {
            out.push((i + 1, t.to_string()));
        }
    }
    out
}

/// Takes the lab the tutorial started down, even when a step failed.
struct LabDown<'a>(&'a SiteCopy);

impl Drop for LabDown<'_> {
    fn drop(&mut self) {
        let _ = self.0.run(&["lab", "down"]);
    }
}

#[test]
fn the_tutorial_runs_as_written_on_a_lab() {
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/tutorial.md"))
            .unwrap();
    let steps = commands(&page);
    assert!(
        steps.len() > 20,
        "the tutorial lost its commands: {steps:?}"
    );
    assert_eq!(steps.last().unwrap().1, "deskready lab down");
    let site = SiteCopy::example();
    let _down = LabDown(&site);
    let bin = Path::new(env!("CARGO_BIN_EXE_deskready")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for (line, cmd) in &steps {
        let mut c = Command::new("sh");
        c.arg("-c").arg(cmd).current_dir(site.path());
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("DESKREADY_") {
                c.env_remove(k);
            }
        }
        let out = c
            .env("PATH", &path)
            .env("DESKREADY_OPERATOR", "Sam (service desk)")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docs/tutorial.md:{line}: `{cmd}` failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // What the page says happened did.
    let pdf = site.file(".deskready/handoff/LAP-0006.pdf");
    assert!(pdf.exists(), "no PDF sheet");
    assert!(site.file("report.html").exists());
    let h = site
        .test()
        .args(["--format", "json", "history", "LAP-0006"])
        .success()
        .json();
    assert_eq!(h["handoffs"][0]["accepted_by"], "Fatima Zahra");
    assert_eq!(h["repairs"][0]["outcome"], "hinge replaced");
}
