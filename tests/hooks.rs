//! Return and retire hooks on the lab: `return` runs the profile's `on_return` on the device
//! (the example laptops remove the departing person's account and home) and journals it;
//! a device that cannot be reached refuses the return and nothing changes, until
//! `--skip-device` records it with the hooks journaled as skipped; a hook that fails
//! refuses the move after journaling what it did.

use crate::support::{LabSite, SiteCopy};
use deskready::model::Stage;

/// Assigns `tag` to Amira Haddad (ahaddad), configures it (its profile makes her account)
/// and delivers it.
fn delivered(lab: &LabSite, tag: &str) {
    lab.test()
        .args([
            "assign",
            tag,
            "--to",
            "Amira Haddad",
            "--desk",
            "3-05",
            "--email",
            "ahaddad@example.org",
        ])
        .success();
    let conf = lab.run(&["configure", tag]);
    assert_eq!(conf.code(), 0, "{}{}", conf.stdout(), conf.stderr());
    lab.test().args(["deliver", tag]).success();
    assert_eq!(lab.ssh(tag, "id -un ahaddad"), "ahaddad\n");
}

fn journal(lab: &LabSite, tag: &str) -> Vec<(String, String)> {
    lab.store()
        .history(tag)
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, e.message.unwrap_or_default()))
        .collect()
}

#[test]
fn return_removes_the_departing_persons_account_and_home_and_journals_it() {
    let lab = LabSite::up(SiteCopy::example());
    delivered(&lab, "LAP-0001");
    lab.ssh("LAP-0001", "touch /home/ahaddad/thesis.txt");
    // The profile now uses a secret this shell cannot fetch: the hooks do not need it, so
    // the return does not either.
    lab.site.write(
        "inventory/secrets.yaml",
        "secrets:\n  wifi_psk: { env: DESKREADY_TEST_NEVER_SET }\n",
    );
    lab.site.edit(
        "profiles/laptop-base.yaml",
        "resources:\n",
        "resources:\n  - file: /etc/wifi.conf\n    content: \"psk={{ secret.wifi_psk }}\\n\"\n",
    );
    assert_ne!(
        lab.run(&["plan", "LAP-0001"]).code(),
        0,
        "the secret cannot be fetched"
    );

    let ret = lab.run(&["return", "LAP-0001"]);
    assert_eq!(ret.code(), 0, "{}{}", ret.stdout(), ret.stderr());
    assert!(
        ret.stdout()
            .starts_with("LAP-0001: on_return on LAP-0001: 1 changed, 0 already done\n"),
        "{}",
        ret.stdout()
    );
    assert_eq!(
        lab.ssh("LAP-0001", "getent passwd ahaddad || echo gone"),
        "gone\n"
    );
    assert_eq!(
        lab.ssh("LAP-0001", "test -e /home/ahaddad || echo gone"),
        "gone\n"
    );
    lab.wait_for_stage("LAP-0001", Stage::Received);
    let j = journal(&lab, "LAP-0001");
    let has = |kind: &str, text: &str| j.iter().any(|(k, m)| k == kind && m.contains(text));
    assert!(
        has(
            "resource",
            "changed user on LAP-0001: removed user ahaddad and its home /home/ahaddad"
        ),
        "{j:#?}"
    );
    assert!(has("hooks", "on_return on LAP-0001: 1 changed"), "{j:#?}");
    assert!(has("returned", "returned by Amira Haddad"), "{j:#?}");
}

#[test]
fn an_unreachable_device_refuses_return_until_skip_device_records_the_hooks_skipped() {
    let mut lab = LabSite::up(SiteCopy::example());
    delivered(&lab, "LAP-0003");
    let before = journal(&lab, "LAP-0003");
    let assignments = lab.site.read("inventory/assignments.yaml");
    lab.lab.stop_device("LAP-0003").unwrap();

    let refused = lab.run(&["return", "LAP-0003", "--connect-timeout", "3"]);
    assert_eq!(
        refused.code(),
        3,
        "{}{}",
        refused.stdout(),
        refused.stderr()
    );
    let err = refused.stderr();
    assert!(
        err.starts_with("refused: LAP-0003 could not be reached to run its on_return hooks ("),
        "{err}"
    );
    assert!(
        err.contains("nothing was changed. When the device cannot be reached, `deskready return LAP-0003 --skip-device` records the move without them"),
        "{err}"
    );
    // Nothing changed: stage, assignment and journal as they were.
    assert_eq!(journal(&lab, "LAP-0003"), before);
    assert_eq!(lab.site.read("inventory/assignments.yaml"), assignments);
    assert_eq!(
        lab.store().stage("LAP-0003").unwrap().unwrap().stage,
        Stage::Delivered
    );

    let skipped = lab.run(&["return", "LAP-0003", "--skip-device"]);
    assert_eq!(
        skipped.code(),
        0,
        "{}{}",
        skipped.stdout(),
        skipped.stderr()
    );
    assert!(
        skipped.stdout().starts_with(
            "LAP-0003: on_return skipped (--skip-device): not run on the device: departing account\n"
        ),
        "{}",
        skipped.stdout()
    );
    assert_eq!(
        lab.store().stage("LAP-0003").unwrap().unwrap().stage,
        Stage::Received
    );
    let j = journal(&lab, "LAP-0003");
    assert!(
        j.iter().any(|(k, m)| k == "hooks"
            && m == "on_return skipped (--skip-device): not run on the device: departing account"),
        "{j:#?}"
    );
}

#[test]
fn a_failed_hook_refuses_the_retirement_and_journals_it() {
    let lab = LabSite::up(SiteCopy::example());
    // A retire hook that cannot succeed: removing a directory the device has as a file.
    let text = lab.site.read("profiles/laptop-base.yaml");
    lab.site.write(
        "profiles/laptop-base.yaml",
        &format!(
            "{text}on_retire:\n  - name: wipe data\n    directory: /etc/hostname\n    state: absent\n  - command: touch /root/retire-ran\n"
        ),
    );
    lab.test().args(["configure", "LAP-0003"]).success();
    let run = lab.run(&["retire", "LAP-0003", "--reason", "end of lease"]);
    assert_eq!(run.code(), 3, "{}{}", run.stdout(), run.stderr());
    assert!(
        run.stderr().starts_with(
            "refused: on_retire hook failed on LAP-0003: wipe data: /etc/hostname is not a directory deskready removes"
        ),
        "{}",
        run.stderr()
    );
    assert_eq!(
        lab.store().stage("LAP-0003").unwrap().unwrap().stage,
        Stage::Configured
    );
    assert_eq!(
        lab.ssh("LAP-0003", "test -e /root/retire-ran || echo not-run"),
        "not-run\n",
        "the hooks after a failed one are skipped"
    );
    let j = journal(&lab, "LAP-0003");
    assert!(
        j.iter()
            .any(|(k, m)| k == "hooks" && m.starts_with("on_retire failed on LAP-0003: wipe data")),
        "{j:#?}"
    );
}
