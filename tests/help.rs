//! Help that teaches, through the binary: every command's `--help` has examples and keeps
//! the global options apart; `plan --help` offers only what plan does; shell completions
//! and the manual page; a `--dry-run` points at `plan`; the site's `deskready.yaml`
//! defaults apply and their mistakes are located.

use insta::assert_snapshot;

use crate::support::{SiteCopy, Test};

/// The command names of `deskready --help` (or of `deskready lab --help`).
fn commands(args: &[&str]) -> Vec<String> {
    let help = Test::new().args(args).arg("--help").success().stdout();
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn every_command_help_has_examples_and_global_options_apart() {
    let top = commands(&[]);
    assert!(top.len() >= 20, "{top:?}");
    for want in [
        "plan",
        "configure",
        "receive",
        "assign",
        "set-profile",
        "completions",
        "man",
    ] {
        assert!(top.iter().any(|c| c == want), "{want} in {top:?}");
    }
    let mut all: Vec<Vec<String>> = top.iter().map(|c| vec![c.clone()]).collect();
    for sub in commands(&["lab"]) {
        all.push(vec!["lab".into(), sub]);
    }
    for cmd in &all {
        let help = Test::new().args(cmd).arg("--help").success().stdout();
        assert!(
            help.contains("\nExamples:\n  deskready "),
            "{cmd:?}:\n{help}"
        );
        if cmd[0] != "lab" || cmd.len() > 1 {
            let global = help
                .find("Global options:")
                .unwrap_or_else(|| panic!("{cmd:?}: no Global options heading:\n{help}"));
            let local = help.find("Options:").unwrap();
            assert!(local < global, "{cmd:?}: local options first:\n{help}");
            assert!(
                !help[local..global].contains("--site"),
                "{cmd:?}: --site among the local options:\n{help}"
            );
        }
    }
    // plan lists no configure-only flag, and says why when one is given.
    let plan = Test::new().args(["plan", "--help"]).success().stdout();
    for flag in [
        "--resume",
        "--batch",
        "--max-fail",
        "--now",
        "--wait",
        "--test-page",
    ] {
        assert!(!plan.contains(flag), "plan --help offers {flag}:\n{plan}");
    }
    assert!(plan.contains("--exit-code"), "{plan}");
    Test::new()
        .args(["plan", "--all", "--resume"])
        .code(2)
        .stderr_has("error: --resume is an option of configure, not plan");
}

#[test]
fn the_help_of_receive_reads_well() {
    let help = Test::new().args(["receive", "--help"]).success().stdout();
    crate::support::snap::settings(std::path::Path::new("/no-site"))
        .bind(|| assert_snapshot!("receive_help", help));
}

#[test]
fn dry_run_points_at_plan() {
    Test::new()
        .args(["configure", "--group", "floor4", "--dry-run"])
        .code(2)
        .stderr_is("error: configure has no --dry-run: `deskready plan --group floor4` shows what it would change (with diffs) and changes nothing\n");
    Test::new()
        .args(["assign", "LAP-0001", "--dry-run"])
        .code(2)
        .stderr_has("To see what a configure would change: deskready plan DEVICE...");
}

#[test]
fn completions_and_the_manual_page() {
    let bash = Test::new().args(["completions", "bash"]).success().stdout();
    assert!(
        bash.contains("_deskready()") && bash.contains("set-profile"),
        "{bash}"
    );
    let zsh = Test::new().args(["completions", "zsh"]).success().stdout();
    assert!(zsh.starts_with("#compdef deskready"), "{zsh}");
    let fish = Test::new().args(["completions", "fish"]).success().stdout();
    assert!(fish.contains("complete -c deskready"), "{fish}");
    Test::new().args(["completions", "tcsh"]).code(2);

    let man = Test::new().arg("man").success().stdout();
    assert!(man.contains(".TH deskready 1"), "{man}");
    assert!(man.contains("deskready\\-receive"), "{man}");
    let dir = tempfile::tempdir().unwrap();
    Test::new().args(["man", "--dir"]).arg(dir.path()).success();
    for page in ["deskready.1", "deskready-plan.1", "deskready-lab-up.1"] {
        let text = std::fs::read_to_string(dir.path().join(page))
            .unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH "), "{page}: {text}");
    }
    // Where man(1) is installed, it reads the page.
    if std::process::Command::new("man")
        .arg("--version")
        .output()
        .is_ok()
    {
        let out = std::process::Command::new("man")
            .args(["-l", "-P", "cat"])
            .arg(dir.path().join("deskready-plan.1"))
            .env("MANWIDTH", "100")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("--exit-code"), "{text}");
    }
}

#[test]
fn site_defaults_apply_and_their_mistakes_are_located() {
    let site = SiteCopy::example();
    site.write(
        "deskready.yaml",
        "# this site's defaults\ndefaults:\n  parallel: 7\n  connect_timeout: 3\n  format: json\n",
    );
    let help = site.test().args(["configure", "--help"]).success().stdout();
    assert!(
        help.contains("[default: 7]") && help.contains("[default: 3]"),
        "{help}"
    );
    // format: json by default; the command line wins.
    let out = site.test().arg("devices").success().stdout();
    assert!(out.starts_with('['), "{out}");
    let out = site
        .test()
        .args(["--format", "text", "devices"])
        .success()
        .stdout();
    assert!(out.starts_with("DEVICE "), "{out}");
    site.write(
        "deskready.yaml",
        "defaults:\n  parallel: lots\n  paralel: 3\n  batch: [1, x]\n  max-fail: 10%\n",
    );
    site.test().arg("devices").code(2).stderr_is(
        "error: deskready.yaml:2:3: defaults.parallel: invalid value 'lots' for '--parallel <N>': invalid digit found in string\n\
         error: deskready.yaml:3:3: defaults.paralel: unknown option `paralel`; did you mean `parallel`? allowed: format, parallel, retries, batch, max-fail, connect-timeout, command-timeout, timezone\n\
         error: deskready.yaml:4:3: defaults.batch: `x` is not a number of devices (5) or a percentage (25%)\n\
         3 problems in the site; nothing was changed\n",
    );
    let json = site
        .test()
        .args(["--format", "json", "devices"])
        .code(2)
        .json();
    assert_eq!(json["ok"], false);
    assert_eq!(json["errors"][0]["file"], "deskready.yaml");
    assert_eq!(json["errors"][0]["line"], 2);
    assert_eq!(json["errors"][0]["path"], "defaults.parallel");
}

#[test]
fn a_missing_site_directory_has_no_position() {
    let dir = tempfile::tempdir().unwrap();
    let run = Test::new().site(dir.path()).arg("validate").code(2);
    assert!(
        run.stderr().starts_with(&format!(
            "error: inventory/: the site {} has no inventory/ directory",
            dir.path().display()
        )),
        "{}",
        run.stderr()
    );
    assert!(!run.stderr().contains(":0:0:"), "{}", run.stderr());
}
