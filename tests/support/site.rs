//! [`SiteCopy`]: the repository's example site (or an empty one) copied into a temporary
//! directory, edited per test, and `deskready --site DIR` run against it.
//!
//! Never writes to the repository's own site.

use std::path::{Path, PathBuf};

use super::cmd::{Run, Test};

pub(crate) struct SiteCopy {
    pub dir: tempfile::TempDir,
}

impl SiteCopy {
    /// The example site whose laptops run a slow first step: `sleep {{ vars.nap }}`
    /// (`--var nap=N`; 30 s unless given).
    pub(crate) fn slow_example() -> SiteCopy {
        let site = SiteCopy::example();
        site.edit(
            "profiles/laptop-base.yaml",
            "resources:\n",
            "resources:\n  - name: slow step\n    command: sleep {{ vars.nap }}\n    creates: /etc/deskready-never\n",
        );
        site.edit(
            "profiles/laptop-base.yaml",
            "vars:\n",
            "vars:\n  nap: \"30\"\n",
        );
        site
    }

    /// The repository's example site (profiles/, templates/, inventory/ and the guides'
    /// images in templates/guides/), without the files a lab generated in it.
    pub(crate) fn example() -> SiteCopy {
        let dir = tempdir();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        for sub in ["profiles", "templates", "inventory"] {
            copy_dir(&repo.join(sub), &dir.path().join(sub));
        }
        SiteCopy { dir }
    }

    /// An empty site with the three directories.
    pub(crate) fn empty() -> SiteCopy {
        let dir = tempdir();
        for sub in ["profiles", "templates", "inventory"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        SiteCopy { dir }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn file(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub(crate) fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.file(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    pub(crate) fn write(&self, rel: &str, text: &str) {
        let p = self.file(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// Replaces the one occurrence of `from` in `rel` with `to`.
    pub(crate) fn edit(&self, rel: &str, from: &str, to: &str) {
        let text = self.read(rel);
        assert_eq!(
            text.matches(from).count(),
            1,
            "`{from}` must occur once in {rel}"
        );
        self.write(rel, &text.replacen(from, to, 1));
    }

    /// Makes the laptops' maintenance window (in profile laptop-base) one that is closed
    /// now: 00:00-00:01 UTC on the day after today.
    pub(crate) fn close_laptop_window(&self) {
        let text = self.read("profiles/laptop-base.yaml");
        let start = text.find("maintenance_window:").unwrap();
        let end =
            text.find("timezone: Europe/London\n").unwrap() + "timezone: Europe/London\n".len();
        self.write(
            "profiles/laptop-base.yaml",
            &format!("{}{}{}", &text[..start], closed_window(), &text[end..]),
        );
    }

    /// `deskready --site DIR`, to add arguments to and run.
    pub(crate) fn test(&self) -> Test {
        Test::new().site(self.path())
    }

    /// Runs `deskready --site DIR ARGS...`, whatever its exit code.
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        self.test().args(args).output()
    }

    /// Runs `deskready --site DIR ARGS...` with `stdin` as standard input.
    pub(crate) fn run_stdin(&self, args: &[&str], stdin: &str) -> Run {
        self.test().args(args).stdin(stdin).output()
    }
}

/// A temporary directory (short names: lab sockets live below it).
pub(crate) fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if !entry.file_name().to_string_lossy().contains(".generated.") {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A maintenance window that is closed now: 00:00-00:01 UTC on the day after today.
pub(crate) fn closed_window() -> String {
    let tomorrow = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .tomorrow()
        .unwrap();
    let day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        [(tomorrow.weekday().to_monday_one_offset() - 1) as usize];
    format!(
        "maintenance_window: {{ days: [{day}], start: \"00:00\", end: \"00:01\", timezone: UTC }}\n"
    )
}
