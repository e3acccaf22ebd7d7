//! Input that would break the site is refused before anything is written: `assign`
//! (names, logins, emails, and rendering the device with the new assignment), `receive`
//! (packing lists from other tools, `--dry-run`, new devices rendered, stages that refuse)
//! and `set-profile`; a stray scan never takes a delivered laptop back from its user.

use insta::assert_snapshot;

use crate::support::snap::settings;
use crate::support::{LabSite, SiteCopy};

/// The site's tool-owned files and the store's journal, to show nothing was written.
fn untouched(site: &SiteCopy) {
    assert!(!site.file("inventory/assignments.yaml").exists());
    assert!(!site.file("inventory/received.yaml").exists());
}

#[test]
fn assign_refuses_what_would_break_the_site_and_changes_nothing() {
    let site = SiteCopy::example();
    // No --email: the laptop's templates use it; refused at the template's line, with the
    // variable that is missing.
    let run = site
        .test()
        .args([
            "assign",
            "LAP-0003",
            "--to",
            "Ada Lovelace",
            "--desk",
            "3-14",
        ])
        .code(2);
    settings(site.path()).bind(|| assert_snapshot!("assign_would_break", run.stderr()));
    untouched(&site);
    site.test()
        .args(["assign", "LAP-0003", "--to", "", "--desk", "3-14"])
        .code(2)
        .stderr_is("error: --to is empty; give a value\n");
    site.test()
        .args([
            "assign",
            "LAP-0003",
            "--to",
            "Ada\nLovelace",
            "--desk",
            "3-14",
        ])
        .code(2)
        .stderr_is(
            "error: --to \"Ada\\nLovelace\" holds a control character (\\n); give it on one line\n",
        );
    site.test()
        .args([
            "assign",
            "LAP-0003",
            "--to",
            "Ada Lovelace",
            "--desk",
            "3-14",
        ])
        .args(["--username", "bad user", "--email", "ada@example.org"])
        .code(2)
        .stderr_has("error: username \"bad user\" is not a login name");
    site.test()
        .args(["assign", "LAP-0003", "--to", "Ada Lovelace", "--desk", "3-14"])
        .args(["--email", "not-an-email"])
        .code(2)
        .stderr_is("error: email \"not-an-email\" is not an email address; expected NAME@DOMAIN such as ada@example.org\n");
    untouched(&site);
    // The validate that would have failed still passes.
    site.test().arg("validate").success();

    // With the email it is recorded; then the email alone can change.
    site.test()
        .args([
            "assign",
            "LAP-0003",
            "--to",
            "Léa Dubois-Ngata",
            "--desk",
            "3-14",
        ])
        .args(["--email", "lea@example.org"])
        .success()
        .stdout_is("LAP-0003: assigned to Léa Dubois-Ngata (ldubois-ngata), desk 3-14\n");
    site.test()
        .args(["assign", "LAP-0003", "--email", "lea.dubois@example.org"])
        .success()
        .stdout_is("LAP-0003: assignment of Léa Dubois-Ngata (ldubois-ngata) updated: email lea.dubois@example.org\n");
    // What it already has changes nothing, and says so (no journal row).
    site.test()
        .args(["assign", "LAP-0003", "--email", "lea.dubois@example.org"])
        .args(["--desk", "3-14"])
        .success()
        .stdout_is("LAP-0003: already assigned to Léa Dubois-Ngata (ldubois-ngata), desk 3-14; nothing changed\n");
    let written = site.read("inventory/assignments.yaml");
    assert!(
        written.contains("name: Léa Dubois-Ngata\n      username: ldubois-ngata\n      email: lea.dubois@example.org\n    desk: 3-14\n"),
        "{written}"
    );
    site.test().arg("validate").success();
    let h = site
        .test()
        .args(["--format", "json", "history", "LAP-0003"])
        .success()
        .json();
    let rows = h["history"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{h}");
    // Nothing to assign is bad input, and so is a first assignment without a name.
    site.test()
        .args(["assign", "LAP-0003"])
        .code(2)
        .stderr_has("nothing to assign");
}

#[test]
fn a_packing_list_from_snipe_it_is_checked_dry_then_received() {
    let site = SiteCopy::example();
    site.write(
        "snipe.csv",
        "Asset Tag,Name,Serial,Model,Model No.,Category,Manufacturer,Status,Checked Out To,Location,Email,Purchase Date,Notes,profile,floor,desk\n\
         LAP-0200,lap-0200,PF400200,Dell Latitude 7450,7450,Laptops,Dell,Ready to Deploy,Léa Dubois-Ngata,HQ,lea@example.org,2026-11-01,,laptop-base,3,3-20\n\
         LAP-0201,lap-0201,PF400201,Dell Latitude 7450,7450,LAPTOP,Dell,Ready to Deploy,Kai Nakamura,HQ,kai@example.org,2026-11-01,,laptop-base,3,3-21\n",
    );
    let csv = site.file("snipe.csv").display().to_string();
    site.test()
        .args(["receive", "--csv", &csv, "--dry-run"])
        .success()
        .stdout_is(
            "LAP-0200 would be received (would be added to inventory/received.yaml)\n\
             LAP-0201 would be received (would be added to inventory/received.yaml)\n\
             nothing was written (--dry-run)\n",
        );
    untouched(&site);
    let st = site
        .test()
        .args(["--format", "json", "status", "--stage", "received"])
        .success()
        .json();
    assert_eq!(st, serde_json::json!([]));
    site.test()
        .args(["receive", "--csv", &csv])
        .success()
        .stdout_is(
            "LAP-0200 received (added to inventory/received.yaml)\n\
             LAP-0201 received (added to inventory/received.yaml)\n",
        );
    let written = site.read("inventory/received.yaml");
    assert!(
        written.contains("LAP-0200:\n    kind: laptop\n    model: Dell Latitude 7450\n    serial: PF400200\n    profile: laptop-base\n    purchase_date: 2026-11-01\n    assignee:\n      name: Léa Dubois-Ngata\n      username: ldubois-ngata\n      email: lea@example.org\n    location:\n      site: HQ\n"),
        "{written}"
    );
    site.test().arg("validate").success();
    // A second time: refused by the stage (3), and nothing changes.
    let before = site.read("inventory/received.yaml");
    site.test()
        .args(["receive", "--csv", &csv])
        .code(3)
        .stderr_has("LAP-0200 is already received");
    assert_eq!(site.read("inventory/received.yaml"), before);

    // The profile can change afterwards, checked by rendering it.
    site.test()
        .args(["set-profile", "LAP-0200", "laptop-engineering"])
        .success()
        .stdout_is("LAP-0200: profile laptop-engineering (was laptop-base)\n");
    site.test()
        .args(["set-profile", "LAP-0200", "printer-ipp"])
        .code(2)
        .stderr_has("profile `printer-ipp` applies to kinds printer; LAP-0200 is a laptop");
    site.test()
        .args(["set-profile", "LAP-0003", "laptop-engineering"])
        .code(2)
        .stderr_has("LAP-0003 is declared in inventory/laptops.yaml:24; set its `profile:` there");
    site.test().arg("validate").success();
}

#[test]
fn a_new_device_that_would_not_render_is_not_received() {
    let site = SiteCopy::example();
    // No profile: validate would fail on it.
    site.test()
        .args(["receive", "LAP-0300", "--serial", "S1", "--model", "M1", "--kind", "LAPTOP"])
        .code(2)
        .stderr_is(
            "error: inventory/received.yaml:4:3: devices.LAP-0300: LAP-0300 has no profile, so deskready does not know how to configure it; add `profile:` to it in the inventory\n\
             this would leave LAP-0300 unable to render; nothing was changed\n",
        );
    // A packing-list row whose person has no email: the template's line is named.
    site.write(
        "d.csv",
        "asset_tag,serial,model,kind,assignee,site,floor,desk,profile\nLAP-0301,S2,M2,laptop,Ada Lovelace,HQ,3,3-30,laptop-base\n",
    );
    let run = site
        .test()
        .args(["receive", "--csv", site.file("d.csv").to_str().unwrap()])
        .code(2);
    assert!(
        run.stderr().contains(
            "error: templates/laptop/owner.conf.tera:8:25: in `{{ assignee.email }}`: field `email` is not defined"
        ),
        "{}",
        run.stderr()
    );
    untouched(&site);
    site.test().arg("validate").success();
    // A declared device received with another profile than it has: the inventory says
    // which, nothing is received.
    site.test()
        .args(["receive", "LAP-0003", "--profile", "laptop-engineering"])
        .code(2)
        .stderr_has("LAP-0003 is declared in inventory/laptops.yaml:24 with profile laptop-base, but the delivery says laptop-engineering;");
    // Unknown columns are still errors; columns other tools write and deskready does not
    // keep are read past.
    site.write(
        "u.csv",
        "Asset Tag,Serial Number,Product Name,Device Type,Colour\n",
    );
    site.test()
        .args(["receive", "--csv", site.file("u.csv").to_str().unwrap()])
        .code(2)
        .stderr_has(":1: unknown column `colour`;");
}

#[test]
fn a_stray_scan_does_not_take_a_delivered_laptop_back() {
    let lab = LabSite::up(SiteCopy::example());
    lab.test().args(["configure", "LAP-0006"]).success();
    lab.test().args(["deliver", "LAP-0006"]).success();
    let hist = |lab: &LabSite| {
        lab.test()
            .args(["--format", "json", "history", "LAP-0006"])
            .success()
            .json()["history"]
            .as_array()
            .unwrap()
            .len()
    };
    let rows = hist(&lab);
    lab.test()
        .args(["receive", "--scan"])
        .stdin("LAP-0006\n")
        .code(3)
        .stderr_is("line 1: LAP-0006 is delivered (in service at its user's desk); receiving it would take it back from its user. If it came back, use `deskready return LAP-0006` (or receive it with --returned)\n");
    lab.test()
        .args(["receive", "LAP-0006"])
        .code(3)
        .stderr_has("refused: LAP-0006 is delivered (in service at its user's desk)");
    assert_eq!(hist(&lab), rows, "nothing recorded");
    let st = lab
        .test()
        .args(["--format", "json", "status", "--stage", "delivered"])
        .success()
        .json();
    assert_eq!(st[0]["device"], "LAP-0006");
    // Said on purpose: it came back, and is returned.
    lab.test()
        .args(["receive", "--scan", "--returned"])
        .stdin("LAP-0006\n")
        .success()
        .stdout_has("LAP-0006 received: returned by ");
    let st = lab
        .test()
        .args(["--format", "json", "status", "--stage", "received"])
        .success()
        .json();
    assert!(
        st.as_array()
            .unwrap()
            .iter()
            .any(|r| r["device"] == "LAP-0006"),
        "{st}"
    );
}

#[test]
fn a_mistyped_tag_at_receive_is_suggested_not_taken_for_a_new_device() {
    let site = SiteCopy::example();
    site.test()
        .args(["receive", "LAP-008"])
        .code(2)
        .stderr_is("error: LAP-008 is not in the inventory; did you mean `LAP-0008`? (a new device needs its serial, model, kind: with --serial, --model, --kind, or the CSV columns)\n");
    // One device's problems name its options, not a packing list's columns.
    site.test()
        .args(["receive", "LAP-0008", "--profile", "laptop-bse"])
        .code(2)
        .stderr_has("error: --profile: unknown profile `laptop-bse`; did you mean `laptop-base`?");
    // Scanned in lower case: suggested as it is declared.
    site.test()
        .args(["receive", "--scan"])
        .stdin("lap-0008\n")
        .code(2)
        .stderr_has("line 1: unknown device `lap-0008`; did you mean `LAP-0008`?");
    assert!(!site.file("inventory/received.yaml").exists());
    // A scan that read no tag at all (the scanner was not plugged in) says so.
    site.test()
        .args(["receive", "--scan"])
        .stdin("\n  \n")
        .code(2)
        .stderr_is("error: nothing was scanned: standard input held no asset tag (one per line); nothing was received\n");
}

#[test]
fn rollout_sizes_of_zero_are_refused_naming_the_option() {
    let site = SiteCopy::example();
    let zero_batch = "error: --batch `0`: a batch holds at least 1 device (a number from 1, or a percentage such as 25%)\n";
    site.test()
        .args(["configure", "--all", "--batch", "0,5"])
        .code(2)
        .stderr_is(zero_batch);
    site.test()
        .args(["upgrade", "--all", "--batch", "1,0"])
        .code(2)
        .stderr_is(zero_batch);
    for cmd in [
        &["configure", "--all"][..],
        &["plan", "--all"],
        &["upgrade", "--all"],
        &["upgrades", "--all"],
        &["software", "--all"],
        &["audit", "--all"],
        &["worker"],
    ] {
        site.test()
            .args(cmd)
            .args(["--parallel", "0"])
            .code(2)
            .stderr_has("error: invalid value '0' for '--parallel <N>': 0 devices at once would do nothing; give at least 1\n");
    }
    assert!(!site.file(".deskready").exists(), "nothing was written");
    // The site's defaults are checked by the same rules, where they are written.
    site.write(
        "deskready.yaml",
        "defaults:\n  parallel: 0\n  batch: [0, 5]\n",
    );
    site.test().arg("devices").code(2).stderr_is(
        "error: deskready.yaml:2:3: defaults.parallel: invalid value '0' for '--parallel <N>': 0 devices at once would do nothing; give at least 1\n\
         error: deskready.yaml:3:3: defaults.batch: `0`: a batch holds at least 1 device (a number from 1, or a percentage such as 25%)\n\
         2 problems in the site; nothing was changed\n",
    );
}

#[test]
fn a_limit_that_matches_none_of_the_devices_selected_says_so() {
    let site = SiteCopy::example();
    let all = site
        .test()
        .args(["--format", "json", "devices"])
        .success()
        .json();
    let n = all.as_array().unwrap().len();
    site.test()
        .args(["configure", "--all", "--limit", "PRM-*"])
        .code(2)
        .stderr_has(&format!(
            "error: --limit `PRM-*` matched none of the {n} selected devices (LAP-0001, "
        ));
    site.test()
        .args(["plan", "LAP-0001", "--limit", "PRN-*"])
        .code(2)
        .stderr_is("error: --limit `PRN-*` matched none of the 1 selected device (LAP-0001); a pattern matches asset tags, such as LAP-00*\n");
    // With nothing selected at all, that is what is said.
    site.test()
        .args(["configure", "--limit", "LAP-*"])
        .code(2)
        .stderr_has("no devices selected");
}

#[test]
fn seen_refuses_an_empty_desk_a_device_not_in_hand_and_an_empty_scan() {
    let site = SiteCopy::example();
    site.test()
        .args(["seen", "LAP-0008", "--desk", ""])
        .code(2)
        .stderr_is("error: --desk is empty; give a value\n");
    site.test()
        .args(["seen", "--scan", "--desk", " "])
        .stdin("LAP-0008\n")
        .code(2)
        .stderr_is("error: --desk is empty; give a value\n");
    // Never received: not in deskready's hands, so not where a CSP could check it.
    site.test()
        .args(["seen", "LAP-0001"])
        .code(3)
        .stderr_is("refused: LAP-0001 is expected (never received): it is not in deskready's hands, so it cannot be seen; receive it first: deskready receive LAP-0001\n");
    site.test()
        .args(["retire", "LAP-0002", "--reason", "lost"])
        .success();
    site.test()
        .args(["seen", "LAP-0002"])
        .code(3)
        .stderr_is("refused: LAP-0002 is retired: it is out of use and owes no physical audit\n");
    for input in ["", "\n  \n"] {
        site.test()
            .args(["seen", "--scan"])
            .stdin(input)
            .code(2)
            .stdout_is("")
            .stderr_is("error: nothing was scanned: standard input held no asset tag (one per line); nothing was recorded\n");
    }
    let store = deskready::store::Store::open(&site.file(".deskready")).unwrap();
    for tag in ["LAP-0001", "LAP-0002", "LAP-0008"] {
        assert!(
            !store.history(tag).unwrap().iter().any(|e| e.kind == "seen"),
            "{tag}: nothing recorded"
        );
    }
}

#[test]
fn paper_sizes_are_taken_in_any_case() {
    let site = SiteCopy::example();
    // The paper is accepted as the site writes it; LAP-0008 is then refused for its stage.
    for paper in ["A4", "a4", "Letter", "LETTER"] {
        let run = site
            .test()
            .args(["deliver", "LAP-0008", "--paper", paper])
            .code(3);
        assert!(
            !run.stderr().contains("--paper"),
            "{paper}: {}",
            run.stderr()
        );
    }
    site.test()
        .args(["deliver", "LAP-0008", "--paper", "A5"])
        .code(2)
        .stderr_has("invalid value 'A5' for '--paper <PAPER>'");
}

#[test]
fn a_language_is_an_iso_639_1_code_and_a_country_is_told_its_language() {
    let site = SiteCopy::example();
    site.test()
        .args(["assign", "LAP-0003", "--language", "jp"])
        .code(2)
        .stderr_is("error: --language: `jp` is not an ISO 639-1 language code (`jp` is a country); did you mean `ja` (Japanese)?\n");
    site.test()
        .args(["assign", "LAP-0003", "--language", "xq"])
        .code(2)
        .stderr_has("error: --language: `xq` is not an ISO 639-1 language code");
    untouched(&site);
    // The same check where the inventory gives a person's language.
    site.edit(
        "inventory/laptops.yaml",
        "assignee: { name: Chen Wei, username: cwei, email: cwei@example.org }",
        "assignee: { name: Chen Wei, username: cwei, email: cwei@example.org, language: jp }",
    );
    site.test()
        .arg("validate")
        .code(2)
        .stderr_has(".assignee.language: `jp` is not an ISO 639-1 language code (`jp` is a country); did you mean `ja` (Japanese)?\n");
    site.edit("inventory/laptops.yaml", "language: jp }", "language: ja }");
    site.test().arg("validate").success();
}

#[test]
fn empty_names_and_desks_name_their_option() {
    let site = SiteCopy::example();
    site.test()
        .args(["assign", "LAP-0003", "--to", "", "--desk", "3-14"])
        .code(2)
        .stderr_is("error: --to is empty; give a value\n");
    site.test()
        .args(["assign", "LAP-0003", "--desk", " "])
        .code(2)
        .stderr_is("error: --desk is empty; give a value\n");
    site.test()
        .args(["deliver", "LAP-0008", "--desk", ""])
        .code(2)
        .stderr_is("error: --desk is empty; give a value\n");
    untouched(&site);
}
