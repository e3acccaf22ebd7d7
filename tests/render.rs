//! `deskready render` and `devices` on the example site, and the precedence of variables.

use crate::support::SiteCopy;

#[test]
fn render_a_laptop_shows_its_files_filled_in() {
    let site = SiteCopy::example();
    let out = site.test().args(["render", "LAP-0006"]).success().stdout();
    assert!(
        out.starts_with("# LAP-0006 (profile laptop-base)\n"),
        "{out}"
    );
    // Owner card: the assignee and desk of this laptop.
    assert!(out.contains("  owner     = Fatima Zahra\n"), "{out}");
    assert!(out.contains("  desk      = 4-02\n"), "{out}");
    // Printers config: the queues of floor 4, and only those.
    assert!(
        out.contains("  queue floor4-bay1  # HP Color LaserJet Pro M454dw, bay 1\n"),
        "{out}"
    );
    assert!(
        out.contains("  queue floor4-room  # Brother HL-L6400DW, print room\n"),
        "{out}"
    );
    assert!(!out.contains("floor3-bay1"), "{out}");
    // CUPS client points at the print server.
    assert!(out.contains("  ServerName 10.20.0.10:631\n"), "{out}");
    // Commands quote the data they carry.
    assert!(
        out.contains("  command: useradd --create-home --comment 'Fatima Zahra' 'fzahra'\n"),
        "{out}"
    );
}

#[test]
fn render_one_file_prints_its_content_alone() {
    let site = SiteCopy::example();
    site.test()
        .args(["render", "LAP-0001", "--resource", "file /etc/hostname"])
        .success()
        .stdout_is("lap-0001\n");
    site.test()
        .args(["render", "LAP-0001", "--resource", "git defaults"])
        .output()
        .stdout_is(
        "# Managed by deskready for Amira Haddad.\n[user]\n\tname = Amira Haddad\n\temail = ahaddad@example.org\n[url \"https://git.eng.example.org/\"]\n\tinsteadOf = corp:\n"
    );
}

#[test]
fn render_a_printer_shows_its_queue_on_the_print_server() {
    let site = SiteCopy::example();
    site.test().args(["render", "PRN-0402"]).success().stdout_is(
        "# PRN-0402 (profile printer-ipp)\n\n== queue (via PS-0001)\n  print_queue: floor4-bay2\n  uri: ipp://10.20.4.25/ipp/print\n  server: localhost:631\n  location: HQ floor 4, bay 2\n  description: Brother HL-L6400DW (PRN-0402)\n  shared: false\n  option Duplex: DuplexNoTumble\n  option PageSize: A4\n"
    );
}

#[test]
fn render_json_carries_the_rendered_content() {
    let site = SiteCopy::example();
    let v = site
        .test()
        .args(["--format", "json", "render", "PS-0001"])
        .success()
        .json();
    let register = v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "queue register")
        .expect("queue register");
    let content = register["content"].as_str().unwrap();
    assert_eq!(
        content.lines().filter(|l| l.starts_with("queue ")).count(),
        6,
        "{content}"
    );
}

#[test]
fn render_unknown_device_or_resource_is_a_clear_error() {
    let site = SiteCopy::example();
    let run = site.test().args(["render", "LAP-0011"]).code(2);
    assert!(
        run.stderr()
            .starts_with("error: unknown device `LAP-0011`; did you mean `LAP-0010`?"),
        "{}",
        run.stderr()
    );
    let run = site
        .test()
        .args(["render", "LAP-0001", "--resource", "owner crd"])
        .code(2);
    assert!(
        run.stderr()
            .starts_with("error: unknown resource `owner crd`; did you mean `owner card`?"),
        "{}",
        run.stderr()
    );
}

#[test]
fn devices_lists_a_group() {
    let site = SiteCopy::example();
    site.test()
        .args(["devices", "--group", "floor3-printers"])
        .success()
        .stdout_is(
        "DEVICE    KIND     PROFILE      ASSIGNEE  LOCATION\nPRN-0301  printer  printer-ipp  -         HQ / floor 3\nPRN-0302  printer  printer-ipp  -         HQ / floor 3\nPRN-0303  printer  printer-ipp  -         HQ / floor 3\n"
    );
    let run = site.run(&["--format", "json", "devices"]);
    let v: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 17);
    site.test().args(["devices", "--group", "floor9"]).code(2);
}

/// parent profile < profile < group (in the device's order) < device < --var
#[test]
fn variable_precedence() {
    let site = SiteCopy::empty();
    site.write(
        "profiles/base.yaml",
        "name: base\nvars: { a: base, b: base, c: base, d: base, e: base }\nresources:\n  - file: /etc/vars\n    content: \"{{ vars.a }} {{ vars.b }} {{ vars.c }} {{ vars.d }} {{ vars.e }}\"\n",
    );
    site.write(
        "profiles/child.yaml",
        "name: child\nextends: base\nvars: { b: child, c: child, d: child, e: child }\n",
    );
    site.write(
        "inventory/site.yaml",
        "groups:\n  g1: { vars: { c: g1, d: g1, e: g1 } }\n  g2: { vars: { c: g2 } }\ndevices:\n  D-1:\n    kind: desktop\n    model: M\n    profile: child\n    groups: [g1, g2]\n    vars: { d: device, e: device }\n",
    );
    let run = site.run(&["render", "D-1", "--resource", "file /etc/vars"]);
    assert_eq!(
        run.stdout(),
        "base child g2 device device",
        "{}",
        run.stderr()
    );
    let run = site.run(&[
        "--var",
        "e=cli",
        "render",
        "D-1",
        "--resource",
        "file /etc/vars",
    ]);
    assert_eq!(run.stdout(), "base child g2 device cli", "{}", run.stderr());
}

#[test]
fn a_child_profile_replaces_its_parents_resource_of_the_same_name() {
    let site = SiteCopy::empty();
    site.write(
        "profiles/base.yaml",
        "name: base\nresources:\n  - name: motd\n    file: /etc/motd\n    content: parent\n  - directory: /etc/x\n",
    );
    site.write(
        "profiles/child.yaml",
        "name: child\nextends: base\nresources:\n  - name: motd\n    file: /etc/motd\n    content: child\n",
    );
    site.write(
        "inventory/site.yaml",
        "devices:\n  D-1: { kind: desktop, model: M, profile: child }\n",
    );
    let run = site.run(&["--format", "json", "render", "D-1"]);
    let v: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    let names: Vec<&str> = v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["motd", "directory /etc/x"]);
    assert_eq!(v["resources"][0]["content"], "child");
}
