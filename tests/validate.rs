//! `deskready validate` on the example site and on broken copies of it: every problem is
//! reported with file, line, column, key path and what is allowed, and none of them panics.

use crate::support::{SiteCopy, Test};

/// Runs validate on `site`, expects exit code 2, and returns the error lines.
fn errors_of(site: &SiteCopy) -> Vec<String> {
    let run = site.test().arg("validate").code(2);
    assert!(!run.stderr().contains("panicked"), "{}", run.stderr());
    run.errors()
}

fn assert_has(errors: &[String], expected: &str) {
    assert!(
        errors.iter().any(|e| e == expected),
        "expected the error\n  {expected}\nbut got\n  {}",
        errors.join("\n  ")
    );
}

#[test]
fn the_example_site_is_valid() {
    let site = SiteCopy::example();
    let run = site.test().arg("validate").success();
    assert_eq!(
        run.stdout().trim_end().rsplit_once(": ").unwrap().1,
        "17 devices, 5 profiles, 10 templates"
    );
}

#[test]
fn malformed_yaml() {
    let site = SiteCopy::example();
    site.write("inventory/extra.yaml", "devices:\n  LAP-0100: [1, 2\n");
    assert_has(
        &errors_of(&site),
        "inventory/extra.yaml:3:1: malformed YAML: while parsing a flow sequence, expected ',' or ']'",
    );
}

#[test]
fn a_file_that_cannot_be_read_comes_first_and_what_it_declares_is_said_missing_because_of_it() {
    let site = SiteCopy::example();
    site.edit(
        "inventory/laptops.yaml",
        "    profile: laptop-base\n    assignee: { name: Chen Wei",
        "    profile: laptop-base\n    profile: laptop-base\n    assignee: { name: Chen Wei",
    );
    // A file sorted before it names a device it declares.
    site.write(
        "inventory/lab.generated.yaml",
        "overrides:\n  LAP-0001:\n    ssh: { host: 127.0.0.1, port: 2222 }\n",
    );
    let errors = errors_of(&site);
    assert!(
        errors[0].starts_with("inventory/laptops.yaml:") && errors[0].contains("malformed YAML: "),
        "{errors:#?}"
    );
    let unknown = errors
        .iter()
        .find(|e| {
            e.starts_with(
                "inventory/lab.generated.yaml:2:3: overrides.LAP-0001: unknown device `LAP-0001`",
            )
        })
        .unwrap_or_else(|| panic!("{errors:#?}"));
    assert!(
        unknown.ends_with(" (inventory/laptops.yaml could not be read: it may declare it)"),
        "{unknown}"
    );
}

#[test]
fn unknown_key_suggests_the_close_one() {
    let site = SiteCopy::example();
    site.edit(
        "inventory/laptops.yaml",
        "    profile: laptop-base\n    assignee: { name: Chen Wei",
        "    profle: laptop-base\n    assignee: { name: Chen Wei",
    );
    assert_has(
        &errors_of(&site),
        "inventory/laptops.yaml:30:5: devices.LAP-0003.profle: unknown key `profle`; did you mean `profile`? allowed: kind, model, serial, mac, ssh, uri, profile, assignee, location, groups, vars, purchase_date, warranty_until, supplier, order",
    );
}

#[test]
fn missing_required_field() {
    let site = SiteCopy::example();
    site.edit(
        "inventory/laptops.yaml",
        "    model: Dell Latitude 7450\n    serial: PF400003\n",
        "    serial: PF400003\n",
    );
    assert_has(
        &errors_of(&site),
        "inventory/laptops.yaml:24:3: devices.LAP-0003: missing required key `model`",
    );
}

#[test]
fn wrong_type() {
    let site = SiteCopy::example();
    site.edit(
        "inventory/laptops.yaml",
        "ssh: { host: 10.20.3.103, user: root }",
        "ssh: { host: 10.20.3.103, port: twenty-two, user: root }",
    );
    assert_has(
        &errors_of(&site),
        "inventory/laptops.yaml:29:31: devices.LAP-0003.ssh.port: invalid type: string \"twenty-two\", expected a whole number from 0 to 65535",
    );
}

#[test]
fn unknown_device_kind_lists_the_kinds() {
    let site = SiteCopy::example();
    site.edit(
        "inventory/printers.yaml",
        "kind: print-server",
        "kind: printserver",
    );
    assert_has(
        &errors_of(&site),
        "inventory/printers.yaml:4:5: devices.PS-0001.kind: unknown value `printserver`; did you mean `print-server`? allowed: laptop, desktop, workstation, thin-client, printer, print-server, server",
    );
}

#[test]
fn duplicate_asset_tag_across_files() {
    let site = SiteCopy::example();
    site.write(
        "inventory/delivery.yaml",
        "devices:\n  LAP-0003:\n    kind: laptop\n    model: Dell Latitude 7450\n    profile: laptop-base\n",
    );
    let errors = errors_of(&site);
    // Files load in name order: delivery.yaml first, so laptops.yaml holds the duplicate.
    assert_has(
        &errors,
        "inventory/laptops.yaml:24:3: devices.LAP-0003: asset tag `LAP-0003` is already declared at inventory/delivery.yaml:2; asset tags are unique across all inventory files",
    );
}

#[test]
fn a_serial_number_or_mac_address_of_two_devices() {
    let site = SiteCopy::example();
    // LAP-0004 with LAP-0001's serial (in other case) and LAP-0002's MAC (written with `-`).
    site.edit(
        "inventory/laptops.yaml",
        "    serial: PF400004\n    mac: \"8c:16:45:2a:0b:04\"",
        "    serial: pf400001\n    mac: \"8C-16-45-2A-0B-02\"",
    );
    let errors = errors_of(&site);
    assert_has(
        &errors,
        "inventory/laptops.yaml:37:5: devices.LAP-0004.serial: serial PF400001 is also LAP-0001's (inventory/laptops.yaml:4); one device has one serial: correct the typo, or remove the device declared twice",
    );
    assert_has(
        &errors,
        "inventory/laptops.yaml:38:5: devices.LAP-0004.mac: mac 8c:16:45:2a:0b:02 is also LAP-0002's (inventory/laptops.yaml:14); one device has one mac: correct the typo, or remove the device declared twice",
    );
    // A packing list that would declare a device a second time under another tag is
    // refused, and nothing is written.
    let site = SiteCopy::example();
    site.write(
        "delivery.csv",
        "asset_tag,serial,model,kind,profile\nLAP-301,PF400001,Dell Latitude 7450,laptop,laptop-base\n",
    );
    let csv = site.file("delivery.csv").display().to_string();
    site.test()
        .args(["receive", "--csv", &csv])
        .code(2)
        .stderr_has("serial PF400001 is also LAP-0001's (inventory/laptops.yaml:4)");
    assert!(!site.file("inventory/received.yaml").exists());
}

#[test]
fn unknown_profile() {
    let site = SiteCopy::example();
    site.edit(
        "inventory/laptops.yaml",
        "    profile: laptop-base\n    assignee: { name: Chen Wei",
        "    profile: laptop-engineer\n    assignee: { name: Chen Wei",
    );
    assert_has(
        &errors_of(&site),
        "inventory/laptops.yaml:30:5: devices.LAP-0003.profile: unknown profile `laptop-engineer`; did you mean `laptop-engineering`? allowed: laptop-base, laptop-engineering, laptop-vpn, print-server, printer-ipp",
    );
}

#[test]
fn unknown_group() {
    let site = SiteCopy::example();
    site.edit(
        "inventory/laptops.yaml",
        "groups: [new-hires, floor3]\n  LAP-0004",
        "groups: [new-hire, floor3]\n  LAP-0004",
    );
    assert_has(
        &errors_of(&site),
        "inventory/laptops.yaml:33:14: devices.LAP-0003.groups[0]: unknown group `new-hire`; did you mean `new-hires`? allowed: engineering, floor3, floor3-printers, floor4, floor4-printers, new-hires, print-servers",
    );
}

#[test]
fn extends_cycle() {
    let site = SiteCopy::example();
    site.edit(
        "profiles/laptop-base.yaml",
        "kinds: [laptop]\n",
        "kinds: [laptop]\nextends: laptop-engineering\n",
    );
    assert_has(
        &errors_of(&site),
        "profiles/laptop-base.yaml:6:1: extends: `extends` makes a cycle: laptop-base -> laptop-engineering -> laptop-base",
    );
}

#[test]
fn via_an_unknown_device() {
    let site = SiteCopy::example();
    site.edit(
        "profiles/printer-ipp.yaml",
        "via: \"{{ print_server.tag }}\"",
        "via: PS-0009",
    );
    assert_has(
        &errors_of(&site),
        "profiles/printer-ipp.yaml:15:5: resources[0].via: unknown device `PS-0009`; did you mean `PS-0001`? allowed: LAP-0001, LAP-0002, LAP-0003, LAP-0004, LAP-0005, LAP-0006, LAP-0007, LAP-0008, LAP-0009, LAP-0010, PRN-0301, PRN-0302, PRN-0303, PRN-0401, PRN-0402, PRN-0403, PS-0001",
    );
}

#[test]
fn template_that_does_not_exist() {
    let site = SiteCopy::example();
    site.edit(
        "profiles/laptop-base.yaml",
        "template: laptop/owner.conf.tera",
        "template: laptop/owner.tera",
    );
    assert_has(
        &errors_of(&site),
        "profiles/laptop-base.yaml:26:5: resources[2].template: template `laptop/owner.tera` does not exist under templates/; did you mean `laptop/owner.conf.tera`?",
    );
}

#[test]
fn template_with_an_undefined_variable_names_template_line_and_variable() {
    let site = SiteCopy::example();
    site.edit(
        "templates/laptop/owner.conf.tera",
        "{{ location.desk }}",
        "{{ location.desks }}",
    );
    assert_has(
        &errors_of(&site),
        "templates/laptop/owner.conf.tera:11:25: in `{{ location.desks }}`: field `desks` is not defined; available fields: desk, floor, site (rendering for LAP-0001 and 9 more)",
    );
}

#[test]
fn template_syntax_error() {
    let site = SiteCopy::example();
    site.edit(
        "templates/laptop/printers.conf.tera",
        "{% endfor -%}",
        "{% endfo -%}",
    );
    let errors = errors_of(&site);
    let e = errors
        .iter()
        .find(|e| e.starts_with("templates/laptop/printers.conf.tera:5:"))
        .unwrap_or_else(|| panic!("no located syntax error in {errors:#?}"));
    assert!(e.contains("endfo"), "{e}");
}

#[test]
fn required_input_missing_names_device_and_input() {
    let site = SiteCopy::example();
    site.edit(
        "inventory/laptops.yaml",
        "location: { site: HQ, floor: 3, desk: \"3-07\" }",
        "location: { site: HQ, floor: 3 }",
    );
    assert_has(
        &errors_of(&site),
        "inventory/laptops.yaml:24:3: devices.LAP-0003: LAP-0003 is missing required input `desk` (required by profile laptop-base); set it under `location:` on the device",
    );
}

#[test]
fn unquoted_mode_is_refused() {
    let site = SiteCopy::example();
    site.edit(
        "profiles/laptop-base.yaml",
        "    template: common/hostname.tera\n    mode: \"0644\"",
        "    template: common/hostname.tera\n    mode: 644",
    );
    assert_has(
        &errors_of(&site),
        "profiles/laptop-base.yaml:21:5: resources[0].mode: a mode is quoted octal text such as \"0644\" (unquoted, YAML may read it as a decimal number)",
    );
}

#[test]
fn a_setting_that_does_not_go_with_the_kind() {
    let site = SiteCopy::example();
    site.edit(
        "profiles/laptop-base.yaml",
        "  - directory: /etc/deskready\n",
        "  - directory: /etc/deskready\n    creates: /etc/x\n",
    );
    assert_has(
        &errors_of(&site),
        "profiles/laptop-base.yaml:23:5: resources[1].creates: `creates` does not go with a `directory` resource; allowed with `directory`: name, via, notify, guide, mode, owner, group, state",
    );
}

#[test]
fn a_resource_with_two_kinds() {
    let site = SiteCopy::example();
    site.edit(
        "profiles/laptop-base.yaml",
        "  - package: cups-client\n",
        "  - package: cups-client\n    service: cups\n",
    );
    assert_has(
        &errors_of(&site),
        "profiles/laptop-base.yaml:76:5: resources[9].service: a resource has one kind, but this one has both `package` and `service`; split it in two",
    );
}

#[test]
fn validate_reports_every_problem_in_one_run() {
    let site = SiteCopy::example();
    site.edit(
        "inventory/printers.yaml",
        "kind: print-server",
        "kind: printserver",
    );
    site.edit(
        "templates/laptop/owner.conf.tera",
        "{{ location.desk }}",
        "{{ location.desks }}",
    );
    site.edit(
        "profiles/laptop-base.yaml",
        "kinds: [laptop]\n",
        "kinds: [laptop]\nextends: laptop-engineering\n",
    );
    site.write("inventory/extra.yaml", "devices:\n  LAP-0100: [1, 2\n");
    let errors = errors_of(&site);
    let files: std::collections::BTreeSet<&str> = errors
        .iter()
        .map(|e| e.split(':').next().unwrap())
        .collect();
    // Each problem is reported, whichever came first; templates that need the print
    // server (whose kind is now wrong) report it too.
    for f in [
        "inventory/extra.yaml",
        "inventory/printers.yaml",
        "profiles/laptop-base.yaml",
        "templates/laptop/owner.conf.tera",
    ] {
        assert!(files.contains(f), "no error in {f}: {errors:#?}");
    }
    let run = site.run(&["validate"]);
    assert!(
        run.stderr()
            .contains("problems in the site; nothing was changed")
    );
}

#[test]
fn json_output_lists_located_errors() {
    let site = SiteCopy::example();
    site.edit(
        "inventory/printers.yaml",
        "kind: print-server",
        "kind: printserver",
    );
    let run = site.run(&["--format", "json", "validate"]);
    assert_eq!(run.code(), 2);
    let v: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(v["ok"], false);
    let e = &v["errors"][0];
    assert_eq!(e["file"], "inventory/printers.yaml");
    assert_eq!(e["line"], 4);
    assert_eq!(e["column"], 5);
    assert_eq!(e["path"], "devices.PS-0001.kind");
}

#[test]
fn hostile_files_do_not_panic() {
    let site = SiteCopy::example();
    site.write("inventory/binary.yaml", "\u{0}\u{1}\u{2}garbage: [\n");
    site.write("inventory/empty.yaml", "");
    site.write("inventory/list.yaml", "- just\n- a list\n");
    site.write("profiles/scalar.yaml", "hello\n");
    let errors = errors_of(&site);
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("inventory/binary.yaml:")),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("inventory/list.yaml:1:1: ")),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("profiles/scalar.yaml:1:1: ")),
        "{errors:#?}"
    );
}

#[test]
fn a_directory_that_is_not_a_site() {
    let dir = tempfile::tempdir().unwrap();
    Test::new()
        .site(dir.path())
        .arg("validate")
        .code(2)
        .stderr_has("has no inventory/ directory");
}
