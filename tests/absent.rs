//! Removal and accounts on the lab: `state: absent` removes what it names (file,
//! directory, line, service unit, print queue, user) and plan says so first; `user`
//! converges comment, shell, home and groups on full devices (real useradd, usermod,
//! userdel); bad input is a located validation error.

use crate::support::lab::TestLab;
use crate::support::{LabSite, Run, SiteCopy};

/// A site whose one device is the lab's full device `lab.name(0)`, on profile `p` with
/// these resources (YAML list items, indented by two spaces).
fn full_site(lab: &TestLab, resources: &str) -> SiteCopy {
    let d = lab.device(&lab.name(0)).unwrap();
    let site = SiteCopy::empty();
    site.write(
        "inventory/devices.yaml",
        &format!(
            "devices:\n  {name}:\n    kind: desktop\n    model: lab\n    serial: S1\n    \
             ssh: {{ host: {host}, port: {port}, user: root, identity: {key} }}\n    \
             profile: p\n",
            name = d.name,
            host = d.host,
            port = d.port,
            key = lab.key_file.display(),
        ),
    );
    site.write(
        "profiles/p.yaml",
        &format!("name: p\nresources:\n{resources}"),
    );
    site.test()
        .args(["receive", "--scan"])
        .stdin(d.name.clone())
        .success();
    site
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

/// Configures `tag` (JSON) and returns each resource's status, failing on a failed run.
fn configure(site: &SiteCopy, tag: &str) -> Vec<(String, String)> {
    let run = site.run(&["--format", "json", "configure", tag]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    statuses(&run)
}

fn all_ok(site: &SiteCopy, tag: &str) {
    let st = configure(site, tag);
    assert!(
        st.iter().all(|(_, s)| s == "ok"),
        "a second run changes nothing: {st:?}"
    );
}

fn plan(site: &SiteCopy, tag: &str) -> String {
    let run = site.run(&["plan", tag]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    run.stdout()
}

#[test]
fn a_user_is_created_converged_and_removed_with_its_home() {
    let lab = TestLab::full("USR", 1);
    let tag = lab.name(0);
    let site = full_site(
        &lab,
        "  - user: alice\n    comment: Alice Example\n    shell: /bin/bash\n    groups: [audio, video]\n",
    );
    let out = plan(&site, &tag);
    assert!(
        out.contains("would create user alice (comment 'Alice Example', shell /bin/bash, groups audio, video)"),
        "{out}"
    );
    assert_eq!(
        lab.ssh(&tag, "getent passwd alice || true"),
        "",
        "plan changed nothing"
    );
    configure(&site, &tag);
    let pw = lab.ssh(&tag, "getent passwd alice");
    assert!(
        pw.ends_with(":Alice Example:/home/alice:/bin/bash\n"),
        "{pw}"
    );
    assert_eq!(lab.ssh(&tag, "id -nG alice"), "alice audio video\n");
    assert_eq!(lab.ssh(&tag, "test -d /home/alice && echo yes"), "yes\n");
    all_ok(&site, &tag);

    // Changed by hand: the shell goes back; a group given by other means is kept.
    lab.ssh(
        &tag,
        "usermod -s /bin/sh alice && usermod -aG plugdev alice && gpasswd -d alice video",
    );
    let out = plan(&site, &tag);
    assert!(
        out.contains("would change user alice: shell /bin/sh -> /bin/bash, add to groups video"),
        "{out}"
    );
    configure(&site, &tag);
    assert!(
        lab.ssh(&tag, "getent passwd alice")
            .ends_with(":/bin/bash\n")
    );
    assert_eq!(lab.ssh(&tag, "id -nG alice"), "alice audio video plugdev\n");

    // Exactly these groups, a new comment and home: one usermod, the home moved.
    lab.ssh(&tag, "touch /home/alice/notes");
    site.edit(
        "profiles/p.yaml",
        "groups: [audio, video]",
        "groups: [audio]\n    exact_groups: true\n    home: /home/alice2",
    );
    site.edit("profiles/p.yaml", "Alice Example", "Alice Exemplar");
    let out = plan(&site, &tag);
    assert!(
        out.contains("would change user alice: comment 'Alice Example' -> 'Alice Exemplar', home /home/alice -> /home/alice2 (moved), remove from groups video, plugdev"),
        "{out}"
    );
    configure(&site, &tag);
    assert_eq!(lab.ssh(&tag, "id -nG alice"), "alice audio\n");
    assert!(
        lab.ssh(&tag, "getent passwd alice")
            .contains(":Alice Exemplar:/home/alice2:")
    );
    assert_eq!(lab.ssh(&tag, "ls /home/alice2"), "notes\n");
    all_ok(&site, &tag);
    let history = site.run(&["history", &tag]).stdout();
    assert!(
        history.contains("remove from groups video, plugdev"),
        "journaled: {history}"
    );

    // A group the device lacks: a clear failure that changes nothing.
    site.edit(
        "profiles/p.yaml",
        "groups: [audio]",
        "groups: [audio, nosuchgroup]",
    );
    let bad = site.run(&["configure", &tag]);
    assert_ne!(bad.code(), 0);
    assert!(
        bad.stdout()
            .contains("no such group on this device: nosuchgroup"),
        "{}{}",
        bad.stdout(),
        bad.stderr()
    );
    assert_eq!(lab.ssh(&tag, "id -nG alice"), "alice audio\n");
    // Exactly no supplementary group.
    site.edit(
        "profiles/p.yaml",
        "groups: [audio, nosuchgroup]",
        "groups: []",
    );
    let out = plan(&site, &tag);
    assert!(
        out.contains("would change user alice: remove from groups audio\n"),
        "{out}"
    );
    configure(&site, &tag);
    assert_eq!(lab.ssh(&tag, "id -nG alice"), "alice\n");
    all_ok(&site, &tag);

    // Absent, with the home: plan says so, configure removes both, the next run is ok.
    site.write(
        "profiles/p.yaml",
        "name: p\nresources:\n  - user: alice\n    state: absent\n    remove_home: true\n",
    );
    let out = plan(&site, &tag);
    assert!(
        out.contains("would remove user alice and its home /home/alice2"),
        "{out}"
    );
    configure(&site, &tag);
    assert_eq!(lab.ssh(&tag, "getent passwd alice || echo gone"), "gone\n");
    assert_eq!(lab.ssh(&tag, "test -e /home/alice2 || echo gone"), "gone\n");
    all_ok(&site, &tag);
    let history = site.run(&["history", &tag]).stdout();
    assert!(
        history.contains("removed user alice and its home /home/alice2"),
        "{history}"
    );
}

#[test]
fn a_user_removed_without_remove_home_keeps_the_home() {
    let lab = TestLab::full("USRK", 1);
    let tag = lab.name(0);
    let site = full_site(&lab, "  - user: bob\n");
    configure(&site, &tag);
    assert_eq!(lab.ssh(&tag, "id -nG bob"), "bob\n");
    site.write(
        "profiles/p.yaml",
        "name: p\nresources:\n  - user: bob\n    state: absent\n",
    );
    assert!(plan(&site, &tag).contains("would remove user bob\n"));
    configure(&site, &tag);
    assert_eq!(lab.ssh(&tag, "getent passwd bob || echo gone"), "gone\n");
    assert_eq!(lab.ssh(&tag, "test -d /home/bob && echo kept"), "kept\n");
    all_ok(&site, &tag);
}

const UNIT: &str = "[Unit]\\nDescription=deskready absent demo\\n[Service]\\nExecStart=/bin/sleep infinity\\n[Install]\\nWantedBy=multi-user.target\\n";

#[test]
fn absent_removes_files_directories_lines_and_a_local_service_unit() {
    let lab = TestLab::full("ABS", 1);
    let tag = lab.name(0);
    let present = format!(
        "  - file: /etc/drabs.conf\n    content: \"x = 1\\n\"\n  - directory: /opt/drabs\n  - file: /opt/drabs/data\n    content: \"d\\n\"\n  - name: kept line\n    line: \"keep me\"\n    path: /etc/drabs.list\n  - name: dropped line\n    line: \"drop me\"\n    path: /etc/drabs.list\n  - file: /etc/systemd/system/drabs.service\n    content: \"{UNIT}\"\n  - service: drabs\n    enabled: true\n"
    );
    let site = full_site(&lab, &present);
    configure(&site, &tag);
    assert_eq!(lab.ssh(&tag, "systemctl is-active drabs"), "active\n");
    assert_eq!(lab.ssh(&tag, "cat /etc/drabs.list"), "keep me\ndrop me\n");

    site.write(
        "profiles/p.yaml",
        "name: p\nresources:\n  - file: /etc/drabs.conf\n    state: absent\n  - directory: /opt/drabs\n    state: absent\n  - name: dropped line\n    line: \"drop me\"\n    path: /etc/drabs.list\n    state: absent\n  - service: drabs\n    state: absent\n",
    );
    let out = plan(&site, &tag);
    for want in [
        "would remove /etc/drabs.conf",
        "would remove directory /opt/drabs and everything in it",
        "-drop me",
        "would stop, disable drabs and remove /etc/systemd/system/drabs.service",
    ] {
        assert!(out.contains(want), "plan shows `{want}`: {out}");
    }
    assert!(out.contains("4 of 4 resources would change"), "{out}");
    assert_eq!(
        lab.ssh(&tag, "systemctl is-active drabs"),
        "active\n",
        "plan changed nothing"
    );

    let st = configure(&site, &tag);
    assert!(st.iter().all(|(_, s)| s == "changed"), "{st:?}");
    assert_eq!(
        lab.ssh(&tag, "test -e /etc/drabs.conf || echo gone"),
        "gone\n"
    );
    assert_eq!(lab.ssh(&tag, "test -e /opt/drabs || echo gone"), "gone\n");
    assert_eq!(lab.ssh(&tag, "cat /etc/drabs.list"), "keep me\n");
    assert_eq!(
        lab.ssh(
            &tag,
            "test -e /etc/systemd/system/drabs.service || echo gone"
        ),
        "gone\n"
    );
    assert_ne!(
        lab.ssh(&tag, "systemctl is-active drabs || true"),
        "active\n"
    );
    assert_eq!(
        lab.ssh(&tag, "systemctl is-enabled drabs 2>/dev/null || echo no"),
        "no\n"
    );
    all_ok(&site, &tag);
    let history = site.run(&["history", &tag]).stdout();
    for want in [
        "removed /etc/drabs.conf",
        "stopped, disabled drabs and removed /etc/systemd/system/drabs.service",
    ] {
        assert!(history.contains(want), "journaled `{want}`: {history}");
    }
}

#[test]
fn a_service_whose_unit_file_a_resource_removed_first_is_still_stopped_and_disabled() {
    let lab = TestLab::full("ABSORD", 1);
    let tag = lab.name(0);
    let site = full_site(
        &lab,
        &format!(
            "  - file: /etc/systemd/system/drord.service\n    content: \"{UNIT}\"\n  - service: drord\n    enabled: true\n"
        ),
    );
    configure(&site, &tag);
    assert_eq!(lab.ssh(&tag, "systemctl is-active drord"), "active\n");
    // The unit's file goes first, in the same run, then the service.
    site.write(
        "profiles/p.yaml",
        "name: p\nresources:\n  - file: /etc/systemd/system/drord.service\n    state: absent\n  - service: drord\n    state: absent\n",
    );
    let st = configure(&site, &tag);
    assert!(st.iter().all(|(_, s)| s == "changed"), "{st:?}");
    assert_ne!(
        lab.ssh(&tag, "systemctl is-active drord || true"),
        "active\n"
    );
    assert_eq!(
        lab.ssh(
            &tag,
            "ls /etc/systemd/system/multi-user.target.wants/ | grep -c drord || true"
        ),
        "0\n",
        "no link left to start it at boot"
    );
    all_ok(&site, &tag);
}

#[test]
fn a_packaged_unit_is_stopped_and_disabled_but_its_file_stays() {
    let lab = TestLab::full("ABSPKG", 1);
    let tag = lab.name(0);
    // dpkg's own timer, enabled and running on the base root: its unit file is dpkg's.
    let unit = "dpkg-db-backup.timer";
    let site = full_site(&lab, &format!("  - service: {unit}\n    state: absent\n"));
    assert_eq!(
        lab.ssh(&tag, &format!("systemctl is-active {unit}")),
        "active\n"
    );
    let file = lab.ssh(
        &tag,
        &format!("systemctl show -p FragmentPath --value {unit}"),
    );
    assert!(
        file.starts_with("/lib/systemd/") || file.starts_with("/usr/lib/systemd/"),
        "{file}"
    );
    let out = plan(&site, &tag);
    assert!(
        out.contains(&format!("would stop, disable {unit}\n")),
        "{out}"
    );
    configure(&site, &tag);
    assert_ne!(
        lab.ssh(&tag, &format!("systemctl is-active {unit} || true")),
        "active\n"
    );
    assert_eq!(
        lab.ssh(&tag, &format!("systemctl is-enabled {unit} || true")),
        "disabled\n"
    );
    assert_eq!(
        lab.ssh(&tag, &format!("test -f {} && echo kept", file.trim())),
        "kept\n"
    );
    all_ok(&site, &tag);
}

#[test]
fn a_print_queue_is_removed_when_its_printer_retires() {
    let lab = LabSite::up_with_printers(SiteCopy::example(), 1);
    let printer = lab.lab.printers[0].name.clone();
    let on_server = |cmd: &str| {
        let server = lab.lab.print_server.as_ref().unwrap().address.clone();
        lab.ssh("PS-0001", &format!("CUPS_SERVER={server} {cmd}"))
    };
    let run = lab.run(&["configure", &printer]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let queues = on_server("lpstat -v");
    assert_eq!(queues.lines().count(), 1, "{queues}");
    let retire = lab.run(&["retire", &printer, "--reason", "end of lease"]);
    assert_eq!(retire.code(), 0, "{}{}", retire.stdout(), retire.stderr());
    assert!(
        retire.stdout().contains(&format!(
            "{printer}: on_retire on {printer}: 1 changed, 0 already done\n"
        )),
        "{}",
        retire.stdout()
    );
    assert_eq!(
        on_server("lpstat -v 2>&1 || true")
            .lines()
            .filter(|l| l.starts_with("device for"))
            .count(),
        0
    );
    let history = lab.run(&["history", &printer]).stdout();
    assert!(history.contains("removed print queue"), "{history}");
}

#[test]
fn a_print_queue_absent_in_resources_is_removed_and_plan_says_so() {
    let lab = LabSite::up_with_printers(SiteCopy::example(), 1);
    let printer = lab.lab.printers[0].name.clone();
    assert_eq!(lab.run(&["configure", &printer]).code(), 0);
    lab.site.edit(
        "profiles/printer-ipp.yaml",
        "    uri: \"{{ device.uri }}\"\n    location:",
        "    state: absent\n    location:",
    );
    // What describes a queue to make has no place in one to remove: a located error.
    let bad = lab.run(&["validate"]);
    assert_ne!(bad.code(), 0);
    assert!(
        bad.errors()
            .iter()
            .any(|e| e
                .contains("resources[0].location: `location` does not go with `state: absent`")),
        "{:?}",
        bad.errors()
    );
    let text = lab.site.read("profiles/printer-ipp.yaml");
    let start = text.find("    location:").unwrap();
    let end = text.find("# What `retire` does").unwrap();
    lab.site.write(
        "profiles/printer-ipp.yaml",
        &format!("{}{}", &text[..start], &text[end..]),
    );
    let plan = lab.run(&["plan", &printer]);
    let queue = plan.stdout();
    assert!(
        queue.contains("would remove print queue "),
        "{queue}{}",
        plan.stderr()
    );
    let run = lab.run(&["configure", &printer]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    assert!(
        run.stdout().contains("removed print queue"),
        "{}",
        run.stdout()
    );
    let again = lab.run(&["configure", &printer]);
    assert!(
        again.stdout().contains("nothing changed"),
        "{}",
        again.stdout()
    );
}

#[test]
fn bad_users_and_states_are_located_validation_errors() {
    let site = SiteCopy::example();
    site.edit(
        "profiles/laptop-base.yaml",
        "  - directory: /etc/deskready\n",
        "  - directory: /etc/deskready\n  - user: Bad Name\n  - user: ok\n    shell: bash\n    groups: [audio, \"-x\"]\n  - file: /etc/a\n    state: running\n  - file: /etc/b\n    content: x\n    state: absent\n  - user: x\n    remove_home: true\n  - service: cups\n    state: present\n  - command: 'true'\n    state: absent\n  - directory: /\n    state: absent\n  - service: foo\n    state: sleeping\n",
    );
    site.edit(
        "profiles/laptop-base.yaml",
        "    remove_home: true\nverify:",
        "    remove_home: true\n  - name: notifying hook\n    file: /etc/c\n    state: absent\n    notify: [restart ssh]\nverify:",
    );
    let run = site.run(&["validate"]);
    assert_ne!(run.code(), 0);
    let errors = run.errors();
    for want in [
        "profiles/laptop-base.yaml:23:5: resources[2].user: `Bad Name` is not a user name: it must start with a lower case letter or `_`",
        "profiles/laptop-base.yaml:25:5: resources[3].shell: `bash` is not a login shell: it is not an absolute path (e.g. /bin/bash)",
        "profiles/laptop-base.yaml:26:21: resources[3].groups[1]: `-x` is not a group name: it must start with a lower case letter or `_`",
        "resources[4].state: a `file` resource cannot be `running`; its state is present (the default) or absent",
        "resources[5].content: `content` does not go with `state: absent`; allowed with an absent `file`: name, via, notify, state",
        "resources[6].remove_home: `remove_home` goes with `state: absent`",
        "resources[7].state: a `service` resource cannot be `present`; its state is running (the default), stopped or absent",
        "resources[8].state: `state` does not go with a `command` resource",
        "resources[9].directory: `/` cannot be absent: name the directory to remove",
        "resources[10].state: unknown value `sleeping`; allowed: present, absent, running, stopped",
        "profiles/laptop-base.yaml:120:5: on_return[1].notify: `on_return` runs no handlers",
    ] {
        assert!(
            errors.iter().any(|e| e.contains(want)),
            "missing `{want}` in {errors:#?}"
        );
    }
}
