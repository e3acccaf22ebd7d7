//! Software installed the maker's way, on full lab devices (Debian with systemd and a dpkg
//! of their own) from a signed apt repository the test builds and serves on its loopback
//! address ([`AptRepo`]): apt sources with their keys, pinned versions, `.deb` files checked
//! against their sha256, the index refreshed only when needed, removal; and the example
//! site's `laptop-vpn` profile end to end (install, configure, run, restart once per change,
//! a cut run's restart done by the next run); an install cut off in a hung maintainer
//! script leaves no dpkg running on the device.

use crate::support::aptrepo::{AptRepo, Pkg};
use crate::support::lab::TestLab;
use crate::support::{Run, SiteCopy};

/// A repository on the lab's own address with the Acme VPN client in two versions.
fn acme_repo(lab: &TestLab) -> AptRepo {
    let host = lab.device(&lab.name(0)).unwrap().host.clone();
    AptRepo::builder()
        .suite(
            "stable",
            "Acme",
            vec![
                Pkg::service("acme-vpn", "1.0-1"),
                Pkg::service("acme-vpn", "1.1-1"),
            ],
        )
        .on(&host)
        .serve()
}

/// The device sees no repository but the test's: the base's Debian mirror is taken out
/// (a test never reaches the internet).
fn offline(lab: &TestLab) {
    lab.ssh(&lab.name(0), "rm -f /etc/apt/sources.list");
}

/// The lab's full device in `site`'s inventory, on `profile`, with `vars`; received.
fn add_device(lab: &TestLab, site: &SiteCopy, profile: &str, vars: &str) {
    let d = lab.device(&lab.name(0)).unwrap();
    site.write(
        "inventory/lab.yaml",
        &format!(
            "devices:\n  {name}:\n    kind: laptop\n    model: lab\n    serial: S1\n    \
             ssh: {{ host: {host}, port: {port}, user: root, identity: {key} }}\n    \
             profile: {profile}\n    \
             assignee: {{ name: Ivo Petrov, username: ipetrov, email: ipetrov@example.org }}\n    \
             location: {{ site: HQ, floor: 3, desk: \"3-20\" }}\n    \
             vars: {{ {vars} }}\n",
            name = d.name,
            host = d.host,
            port = d.port,
            key = lab.key_file.display(),
        ),
    );
    site.test()
        .args(["receive", "--scan"])
        .stdin(d.name.clone())
        .success();
}

fn statuses(run: &Run) -> Vec<(String, String)> {
    for v in run.ndjson() {
        if v["event"] == "done" {
            return v["run"]["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r["name"].as_str().unwrap().to_string(),
                        r["status"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
        }
    }
    panic!("no done event: {}{}", run.stdout(), run.stderr());
}

fn status_of(run: &Run, name: &str) -> String {
    statuses(run)
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no resource {name} in {:?}", statuses(run)))
        .1
}

/// The messages of resource `name` in a run's `done` event.
fn message_of(run: &Run, name: &str) -> String {
    for v in run.ndjson() {
        if v["event"] == "done" {
            for r in v["run"]["resources"].as_array().unwrap() {
                if r["name"] == name {
                    return r["message"].as_str().unwrap_or_default().to_string();
                }
            }
        }
    }
    panic!("no resource {name}: {}{}", run.stdout(), run.stderr());
}

fn configure(site: &SiteCopy, tag: &str) -> Run {
    let run = site.run(&["--format", "json", "configure", tag]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    run
}

/// Lines in the service's start log (its daemon appends one per start).
fn starts(lab: &TestLab) -> usize {
    lab.ssh(
        &lab.name(0),
        "cat /var/lib/acme-vpn/starts 2>/dev/null || true",
    )
    .lines()
    .count()
}

/// This machine's Debian architecture (the lab's devices share it).
fn arch() -> String {
    let out = std::process::Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn installed_version(lab: &TestLab, package: &str) -> String {
    lab.ssh(
        &lab.name(0),
        &format!(
            "dpkg-query -W -f='${{db:Status-Abbrev}}${{Version}}' {package} 2>/dev/null || true"
        ),
    )
}

#[test]
fn the_vpn_profile_installs_from_the_makers_repository_and_restarts_once_per_change() {
    let lab = TestLab::full("VPN", 1);
    let tag = lab.name(0);
    let repo = acme_repo(&lab);
    offline(&lab);
    let site = SiteCopy::example();
    // The example ships an example key; the test's repository is signed by its own.
    site.write("templates/vendor/acme-archive-key.asc", &repo.key);
    // Dies (once) between the config change and the restart when `vars.die` is yes.
    site.edit(
        "profiles/laptop-vpn.yaml",
        "  - service: acme-vpn\n    state: running\n",
        "  - name: die between the change and the restart\n    command: 'touch /root/died; kill -KILL $$'\n    creates: /root/died\n    unless: \"test {{ vars.die }} = no\"\n  - service: acme-vpn\n    state: running\n",
    );
    add_device(
        &lab,
        &site,
        "laptop-vpn",
        &format!(
            "acme_repo: \"{}\", vpn_server: vpn1.example.org, die: \"no\"",
            repo.url
        ),
    );

    let plan = site.test().args(["plan", &tag]).success();
    for needle in [
        "would write the key and the source of apt source acme",
        "+Signed-By: /etc/apt/keyrings/acme.gpg",
        "would install acme-vpn 1.0-1",
        "would start, enable acme-vpn",
    ] {
        assert!(
            plan.stdout().contains(needle),
            "{needle}: {}",
            plan.stdout()
        );
    }
    assert_eq!(installed_version(&lab, "acme-vpn"), "");

    let first = configure(&site, &tag);
    for name in [
        "acme repository",
        "package acme-vpn",
        "vpn config",
        "service acme-vpn",
    ] {
        assert_eq!(status_of(&first, name), "changed", "{name}");
    }
    assert_eq!(
        message_of(&first, "package acme-vpn"),
        "installed acme-vpn 1.0-1"
    );
    assert_eq!(installed_version(&lab, "acme-vpn"), "ii 1.0-1");
    assert_eq!(lab.ssh(&tag, "systemctl is-active acme-vpn"), "active\n");
    assert_eq!(lab.ssh(&tag, "systemctl is-enabled acme-vpn"), "enabled\n");
    assert!(
        lab.ssh(&tag, "cat /etc/acme-vpn/acme-vpn.conf")
            .contains("server = vpn1.example.org\n")
    );
    assert_eq!(
        lab.ssh(&tag, "debconf-show acme-vpn 2>/dev/null | tr -d ' *'"),
        "acme-vpn/server:vpn1.example.org\n",
        "the installer's question was answered"
    );
    let index_reads = repo.requests_for("/InRelease");
    assert!(index_reads >= 1, "the source's index was read");
    let after_first = starts(&lab);

    // Nothing to change: no install, no index refresh, no start, no restart.
    let second = configure(&site, &tag);
    assert!(
        statuses(&second).iter().all(|(_, s)| s == "ok"),
        "{:?}",
        statuses(&second)
    );
    assert_eq!(repo.requests_for("/InRelease"), index_reads);
    assert_eq!(starts(&lab), after_first);

    // A config change restarts the service exactly once.
    site.edit("inventory/lab.yaml", "vpn_server: vpn1", "vpn_server: vpn2");
    site.test()
        .args(["plan", &tag])
        .success()
        .stdout_has("would restart acme-vpn");
    let third = configure(&site, &tag);
    assert_eq!(status_of(&third, "vpn config"), "changed");
    assert_eq!(status_of(&third, "restart acme-vpn"), "changed");
    assert_eq!(status_of(&third, "package acme-vpn"), "ok");
    assert_eq!(starts(&lab), after_first + 1);

    // A run killed between the change and the restart: the next run restarts, once.
    site.edit("inventory/lab.yaml", "vpn_server: vpn2", "vpn_server: vpn3");
    site.edit("inventory/lab.yaml", "die: \"no\"", "die: \"yes\"");
    let cut = site.run(&["configure", &tag]);
    assert_ne!(cut.code(), 0, "{}{}", cut.stdout(), cut.stderr());
    assert!(
        lab.ssh(&tag, "cat /etc/acme-vpn/acme-vpn.conf")
            .contains("vpn3")
    );
    assert_eq!(starts(&lab), after_first + 1, "not restarted yet");
    site.test()
        .args(["plan", &tag])
        .success()
        .stdout_has("would restart acme-vpn (pending from an earlier run)");
    let next = configure(&site, &tag);
    assert_eq!(status_of(&next, "vpn config"), "ok");
    assert_eq!(status_of(&next, "restart acme-vpn"), "changed");
    assert_eq!(starts(&lab), after_first + 2);

    // A new pinned version: an upgrade from the index it already has (no refresh), the
    // profile's config kept.
    site.edit(
        "profiles/laptop-vpn.yaml",
        "acme_vpn_version: \"1.0-1\"",
        "acme_vpn_version: \"1.1-1\"",
    );
    site.test()
        .args(["plan", &tag])
        .success()
        .stdout_has("would upgrade acme-vpn 1.0-1 to 1.1-1");
    let upgrade = configure(&site, &tag);
    assert_eq!(status_of(&upgrade, "package acme-vpn"), "changed");
    assert_eq!(
        message_of(&upgrade, "package acme-vpn"),
        "upgraded acme-vpn 1.0-1 to 1.1-1"
    );
    assert_eq!(status_of(&upgrade, "vpn config"), "ok");
    assert_eq!(installed_version(&lab, "acme-vpn"), "ii 1.1-1");
    let after_upgrade = repo.requests_for("/InRelease");
    assert_eq!(after_upgrade, index_reads);
    site.test()
        .args(["history", &tag])
        .success()
        .stdout_has("package acme-vpn");

    // A changed source: the next install reads it (only it) before installing, even
    // though the index is not old.
    site.edit(
        "profiles/laptop-vpn.yaml",
        "    components: main\n",
        &format!("    components: main\n    architectures: [{}]\n", arch()),
    );
    site.edit(
        "profiles/laptop-vpn.yaml",
        "acme_vpn_version: \"1.1-1\"",
        "acme_vpn_version: \"1.0-1\"",
    );
    let resourced = configure(&site, &tag);
    assert_eq!(status_of(&resourced, "acme repository"), "changed");
    assert_eq!(
        message_of(&resourced, "package acme-vpn"),
        "downgraded acme-vpn 1.1-1 to 1.0-1"
    );
    let index_reads = repo.requests_for("/InRelease");
    assert!(index_reads > after_upgrade, "the changed source was read");

    // An index older than the resource allows (here: any age) is refreshed before an
    // install, and only then.
    site.edit(
        "profiles/laptop-vpn.yaml",
        "acme_vpn_version: \"1.0-1\"",
        "acme_vpn_version: \"1.1-1\"",
    );
    site.edit(
        "profiles/laptop-vpn.yaml",
        "    version: \"{{ vars.acme_vpn_version }}\"\n",
        "    version: \"{{ vars.acme_vpn_version }}\"\n    index_max_age: 0\n",
    );
    let down = configure(&site, &tag);
    assert_eq!(
        message_of(&down, "package acme-vpn"),
        "upgraded acme-vpn 1.0-1 to 1.1-1"
    );
    let refreshed = repo.requests_for("/InRelease");
    assert!(refreshed > index_reads, "the old index was refreshed");
    configure(&site, &tag);
    assert_eq!(
        repo.requests_for("/InRelease"),
        refreshed,
        "nothing to install"
    );
}

/// A site of its own for one full device on profile `p`, whose resources are `resources`.
fn own_site(lab: &TestLab, resources: &str) -> SiteCopy {
    let site = SiteCopy::empty();
    site.write(
        "profiles/p.yaml",
        &format!("name: p\nresources:\n{resources}"),
    );
    add_device(lab, &site, "p", "x: \"1\"");
    site
}

#[test]
fn a_deb_and_a_key_from_urls_are_checked_before_anything_changes_and_absent_removes() {
    let lab = TestLab::full("DEB", 1);
    let tag = lab.name(0);
    let repo = acme_repo(&lab);
    offline(&lab);
    let (url, sum) = repo.deb("acme-vpn", "1.0-1");
    let wrong = "0".repeat(64);

    // A .deb whose checksum does not match: a clear failure, nothing installed.
    let site = own_site(
        &lab,
        &format!("  - package: acme-vpn\n    deb: {url}\n    sha256: \"{wrong}\"\n"),
    );
    site.test()
        .args(["plan", &tag])
        .success()
        .stdout_has(&format!("would install acme-vpn from {url}"));
    let bad = site.run(&["--format", "json", "configure", &tag]);
    assert_ne!(bad.code(), 0, "{}{}", bad.stdout(), bad.stderr());
    assert_eq!(status_of(&bad, "package acme-vpn"), "failed");
    let why = message_of(&bad, "package acme-vpn");
    assert!(
        why.contains(&format!("could not download {url} with sha256 {wrong}")),
        "{why}"
    );
    assert_eq!(installed_version(&lab, "acme-vpn"), "");

    // The right checksum: installed; then nothing to do.
    site.edit("profiles/p.yaml", &wrong, &sum);
    let good = configure(&site, &tag);
    assert_eq!(status_of(&good, "package acme-vpn"), "changed");
    assert_eq!(installed_version(&lab, "acme-vpn"), "ii 1.0-1");
    let again = configure(&site, &tag);
    assert_eq!(status_of(&again, "package acme-vpn"), "ok");

    // A key from a URL whose fingerprint is not the pinned one: refused, nothing written.
    let other = "1234 5678 9ABC DEF0 1234  5678 9ABC DEF0 1234 5678";
    site.write(
        "profiles/p.yaml",
        &format!(
            "name: p\nresources:\n  - apt_source: acme\n    uris: {}\n    suites: stable\n    components: main\n    key_url: {}\n    fingerprint: \"{other}\"\n",
            repo.url,
            repo.file_url("archive-key.asc")
        ),
    );
    let refused = site.run(&["--format", "json", "configure", &tag]);
    assert_ne!(refused.code(), 0);
    let why = message_of(&refused, "apt_source acme");
    assert!(
        why.contains(&format!(
            "the key of apt source acme is a key with fingerprint {}, not the pinned 123456789ABCDEF0123456789ABCDEF012345678; nothing was changed",
            repo.fingerprint
        )),
        "{why}"
    );
    assert_eq!(
        lab.ssh(&tag, "ls /etc/apt/sources.list.d /etc/apt/keyrings"),
        "/etc/apt/keyrings:\n\n/etc/apt/sources.list.d:\n"
    );

    // The pinned fingerprint: the key is fetched and written; apt reads the source with it.
    site.edit("profiles/p.yaml", other, &repo.fingerprint);
    let fetched = configure(&site, &tag);
    assert_eq!(status_of(&fetched, "apt_source acme"), "changed");
    lab.ssh(
        &tag,
        "apt-get update -q >/dev/null && apt-cache policy acme-vpn | grep -q 1.1-1",
    );
    assert_eq!(status_of(&configure(&site, &tag), "apt_source acme"), "ok");

    // Absent: the package purged (its config files too), the source and its key removed.
    site.write(
        "profiles/p.yaml",
        "name: p\nresources:\n  - package: acme-vpn\n    state: absent\n    purge: true\n  - apt_source: acme\n    state: absent\n",
    );
    site.test()
        .args(["plan", &tag])
        .success()
        .stdout_has("would purge acme-vpn 1.0-1")
        .stdout_has("would remove apt source acme and its key");
    let removed = configure(&site, &tag);
    assert_eq!(status_of(&removed, "package acme-vpn"), "changed");
    assert_eq!(status_of(&removed, "apt_source acme"), "changed");
    assert_eq!(installed_version(&lab, "acme-vpn"), "");
    assert_eq!(
        lab.ssh(
            &tag,
            "ls /etc/acme-vpn /etc/apt/sources.list.d/acme.sources 2>&1 || true"
        )
        .matches("No such file")
        .count(),
        2
    );
    let quiet = configure(&site, &tag);
    assert!(
        statuses(&quiet).iter().all(|(_, s)| s == "ok"),
        "{:?}",
        statuses(&quiet)
    );

    // A source whose key is not the one its repository is signed with: apt refuses the
    // repository, the install fails saying so, and nothing is installed.
    site.write(
        "templates/other.asc",
        &SiteCopy::example().read("templates/vendor/acme-archive-key.asc"),
    );
    site.write(
        "profiles/p.yaml",
        &format!(
            "name: p\nresources:\n  - apt_source: acme\n    uris: {}\n    suites: stable\n    components: main\n    key: other.asc\n  - package: acme-vpn\n",
            repo.url
        ),
    );
    let unsigned = site.run(&["--format", "json", "configure", &tag]);
    assert_ne!(unsigned.code(), 0, "{}", unsigned.stdout());
    assert_eq!(status_of(&unsigned, "package acme-vpn"), "failed");
    let why = message_of(&unsigned, "package acme-vpn");
    assert!(why.starts_with("apt-get update failed\n"), "{why}");
    assert!(why.contains("NO_PUBKEY"), "{why}");
    assert_eq!(installed_version(&lab, "acme-vpn"), "");
}

/// Every bad package or apt source setting is a located validation error, all in one run.
#[test]
fn bad_package_and_source_settings_are_located_validation_errors() {
    let site = SiteCopy::example();
    site.edit(
        "profiles/laptop-vpn.yaml",
        "resources:\n",
        r#"resources:
  - apt_source: nokey
    uris: https://apt.example.org/debian
    suites: stable
    components: main
  - apt_source: fetched
    uris: https://apt.example.org/debian
    suites: stable
    components: main
    key_url: https://apt.example.org/key.asc
  - apt_source: pinned
    uris: [https://apt.example.org/debian]
    suites: stable
    components: main
    key: vendor/acme-archive-key.asc
    fingerprint: "12 34"
  - package: agent
    deb: https://downloads.example.org/agent_2.0_amd64.deb
  - package: tool
    version: 1.10
  - package: other
    version: "v2"
  - package: old-tool
    purge: true
  - package: gone
    state: stopped
  - package: vpn2
    preseed:
      - "vpn2 vpn2/server strng x"
    index_max_age: soon
  - package: vpn3
    versoin: "1.0"
  - apt_source: acme2
    uris: https://apt.example.org/debian
    suites: stable
    key: vendor/acme-archive-key.as
  - apt_source: flat
    uris: ftp://apt.example.org/debian
    suites: ./
    components: main
    key: vendor/acme-archive-key.asc
  - package: gone2
    state: absent
    version: "1.0"
  - apt_source: old
    state: absent
    uris: https://apt.example.org/debian
"#,
    );
    let run = site.test().arg("validate").code(2);
    assert!(!run.stderr().contains("panicked"), "{}", run.stderr());
    let errors = run.errors();
    for expected in [
        "profiles/laptop-vpn.yaml:18:5: resources[0]: an `apt_source` needs its maker's signing key: `key` (an armored key under templates/) or `key_url` with its `fingerprint`; deskready adds no source apt cannot check",
        "profiles/laptop-vpn.yaml:26:5: resources[1].key_url: a key downloaded from `key_url` needs its pinned `fingerprint` (as the maker publishes it), checked before the key is trusted",
        "profiles/laptop-vpn.yaml:32:5: resources[2].fingerprint: `12 34` is not a key fingerprint; expected 40 hexadecimal digits (64 for a v6 key), spaces allowed, as `gpg --show-keys` prints it",
        "profiles/laptop-vpn.yaml:34:5: resources[3].deb: a `.deb` needs its `sha256` (as its maker publishes it): deskready installs no download it cannot check",
        "profiles/laptop-vpn.yaml:36:5: resources[4].version: a version is quoted text such as \"1.2.3-1\" (unquoted, YAML may read it as a number: 1.10 becomes 1.1)",
        "profiles/laptop-vpn.yaml:38:5: resources[5].version: `v2` is not a Debian version: it starts with a digit (after an epoch such as `1:`)",
        "profiles/laptop-vpn.yaml:40:5: resources[6].purge: `purge` goes with `state: absent` (it removes the package's configuration files too)",
        "profiles/laptop-vpn.yaml:42:5: resources[7].state: a `package` resource cannot be `stopped`; its state is present (the default) or absent",
        "profiles/laptop-vpn.yaml:45:9: resources[8].preseed[0]: `vpn2 vpn2/server strng x` is not a debconf answer: `strng` is not a debconf type; allowed: string, password, boolean, select, multiselect, note, text, title, error, seen",
        "profiles/laptop-vpn.yaml:46:5: resources[8].index_max_age: `soon` is not a duration; write seconds or a number with s, m, h or d (`30m`, `6h`, `1d`)",
        "profiles/laptop-vpn.yaml:52:5: resources[10].key: key `vendor/acme-archive-key.as` does not exist under templates/; did you mean `vendor/acme-archive-key.asc`?",
        "profiles/laptop-vpn.yaml:54:5: resources[11].uris: `ftp://apt.example.org/debian` is not a URL a device downloads from; expected http://... or https://...",
        "profiles/laptop-vpn.yaml:56:5: resources[11].components: a suite ending in `/` is a flat repository, which has no `components`",
        "profiles/laptop-vpn.yaml:60:5: resources[12].version: `version` does not go with `state: absent`; allowed with an absent `package`: name, via, notify, state, purge, index_max_age",
        "profiles/laptop-vpn.yaml:63:5: resources[13].uris: `uris` does not go with `state: absent`; allowed with an absent `apt_source`: name, via, notify, state",
    ] {
        assert!(
            errors.iter().any(|e| e == expected),
            "expected the error\n  {expected}\nbut got\n  {}",
            errors.join("\n  ")
        );
    }
    assert!(
        errors.iter().any(|e| e.starts_with(
            "profiles/laptop-vpn.yaml:48:5: resources[9].versoin: unknown key `versoin`; did you mean `version`?"
        )),
        "{errors:#?}"
    );
}

/// A key under templates/ must be an armored public key; a rendered version is checked
/// once rendered.
#[test]
fn a_key_that_is_not_armored_and_a_rendered_bad_version_are_refused() {
    let site = SiteCopy::example();
    site.write("templates/vendor/acme-archive-key.asc", "not a key\n");
    site.edit(
        "profiles/laptop-vpn.yaml",
        "acme_vpn_version: \"1.0-1\"",
        "acme_vpn_version: \"latest\"",
    );
    site.write(
        "inventory/lab.yaml",
        "devices:\n  LAP-0900:\n    kind: laptop\n    model: lab\n    ssh: { host: 10.0.0.9, user: root }\n    profile: laptop-vpn\n    assignee: { name: A B, username: ab, email: ab@example.org }\n",
    );
    let errors = site.test().arg("validate").code(2).errors();
    let expected = "profiles/laptop-vpn.yaml:24:5: resources[0].key: templates/vendor/acme-archive-key.asc is not an ASCII-armored public key (its first line is `-----BEGIN PGP PUBLIC KEY BLOCK-----`); export it with `gpg --armor --export`";
    assert!(errors.iter().any(|e| e == expected), "{errors:#?}");
    site.write(
        "templates/vendor/acme-archive-key.asc",
        &SiteCopy::example().read("templates/vendor/acme-archive-key.asc"),
    );
    let errors = site.test().arg("validate").code(2).errors();
    assert!(
        errors.iter().any(|e| e
            == "profiles/laptop-vpn.yaml:26:5: resources[1].version: `latest` is not a Debian version: it starts with a digit (after an epoch such as `1:`) (rendering for LAP-0900)"),
        "{errors:#?}"
    );
}

#[test]
fn an_install_cut_off_in_a_hung_maintainer_script_leaves_nothing_running() {
    let lab = TestLab::full("PKH", 1);
    let tag = lab.name(0);
    let host = lab.device(&tag).unwrap().host.clone();
    let hang = Pkg::hanging("acme-hang", "1.0-1");
    let repo = AptRepo::builder()
        .suite("stable", "Acme", vec![hang.clone()])
        .on(&host)
        .serve();
    offline(&lab);
    let site = SiteCopy::empty();
    site.write("templates/acme.asc", &repo.key);
    site.write(
        "profiles/p.yaml",
        &format!(
            "name: p\nresources:\n  - apt_source: acme\n    uris: {}\n    suites: stable\n    components: main\n    key: acme.asc\n  - package: acme-hang\n",
            repo.url
        ),
    );
    add_device(&lab, &site, "p", "x: \"1\"");

    // apt runs dpkg, and dpkg the postinst, in a session of their own: the command timeout
    // ends them with the program all the same.
    let started = std::time::Instant::now();
    let cut = site.run(&[
        "--format",
        "json",
        "configure",
        &tag,
        "--command-timeout",
        "30",
    ]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    let said = format!("{}{}", cut.stdout(), cut.stderr());
    assert_ne!(cut.code(), 0, "{said}");
    assert!(said.contains(" did not finish within 30s"), "{said}");
    assert_eq!(
        lab.ssh(&tag, "ls /var/lib/acme-hang-hung"),
        "/var/lib/acme-hang-hung\n",
        "cut off while the postinst hung"
    );
    let ended = crate::support::poll(
        std::time::Duration::from_secs(15),
        std::time::Duration::from_millis(200),
        || {
            hang.still_at_work(&lab, &tag)
                .trim()
                .is_empty()
                .then_some(())
        },
    );
    assert!(
        ended.is_some(),
        "still running on {tag} after the cut:\n{}",
        hang.still_at_work(&lab, &tag)
    );
    // dpkg's locks are free: dpkg itself takes them (and then has nothing to remove).
    lab.ssh(&tag, "dpkg --remove acme-never-installed 2>/dev/null");
    let left = installed_version(&lab, "acme-hang");
    assert!(left.starts_with("iF"), "half-configured: {left}");

    // The next upgrade finishes dpkg's work; then the profile holds.
    site.test().args(["upgrade", &tag]).success();
    site.test()
        .args(["history", &tag])
        .success()
        .stdout_has("`dpkg --configure -a` finished it before the upgrade");
    assert_eq!(lab.ssh(&tag, "dpkg --audit"), "", "dpkg is healthy");
    assert_eq!(installed_version(&lab, "acme-hang"), "ii 1.0-1");
    let again = configure(&site, &tag);
    assert_eq!(status_of(&again, "package acme-hang"), "ok");
}
