//! Printers in service on the lab: what printers serving page counters, firmware, a serial
//! and `marker-*` supplies (ippeveprinter with an attributes file) say over IPP, as `audit`
//! reads it, the store keeps it and the `printers` view shows it.

use crate::support::{LabSite, SiteCopy};

/// Lines of a printer that counts its impressions, names its firmware and has a serial in
/// its device id.
fn counting(pages: u32, firmware: &str) -> Vec<String> {
    vec![
        format!("ATTR integer printer-impressions-completed {pages}"),
        format!("ATTR textWithoutLanguage printer-firmware-string-version \"{firmware}\""),
        "ATTR textWithoutLanguage printer-device-id \"MFG:Brother;MDL:HL-L6400DW;CMD:PWG,URF;SN:E73512K9N;\"".into(),
    ]
}

/// The `printers` view's row of `tag`.
fn row(rows: &serde_json::Value, tag: &str) -> serde_json::Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["tag"] == tag)
        .cloned()
        .unwrap_or_else(|| panic!("no row {tag} in {rows:#}"))
}

#[test]
fn counters_firmware_serial_and_marker_supplies_are_read_stored_and_shown() {
    let mut lab = LabSite::up_with_printers(SiteCopy::example(), 2);
    lab.lab
        .set_printer_attrs("PRN-0301", &counting(1234, "1.04 (build 2211)"))
        .unwrap();
    // A printer with only the older `marker-*` supplies, no `printer-supply`.
    let markers: Vec<String> = [
        "ATTR nameWithoutLanguage marker-names \"Black Toner\",\"Waste Toner Box\"",
        "ATTR integer marker-levels 8,92",
        "ATTR keyword marker-types \"toner\",\"waste-toner\"",
        "ATTR nameWithoutLanguage marker-colors \"#000000\",\"none\"",
    ]
    .map(String::from)
    .into();
    lab.lab.set_printer_attrs("PRN-0302", &markers).unwrap();

    // Queues made on such printers, then an audit asks each over IPP.
    let run = lab.run(&["configure", "PRN-0301", "PRN-0302"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let audit = lab.run(&["audit", "PRN-0301", "PRN-0302"]);
    assert_eq!(audit.code(), 0, "{}{}", audit.stdout(), audit.stderr());

    let view = lab.run(&["--format", "json", "printers"]);
    assert_eq!(
        view.code(),
        6,
        "the marker printer needs attention: {}",
        view.stdout()
    );
    let counted = row(&view.json(), "PRN-0301");
    assert_eq!(counted["pages"], 1234, "{counted:#}");
    assert_eq!(counted["firmware"], "1.04 (build 2211)", "{counted:#}");
    assert_eq!(counted["serial"], "E73512K9N", "{counted:#}");
    assert_eq!(counted["supplies"], serde_json::json!([]), "{counted:#}");
    assert_eq!(counted["attention"], serde_json::json!([]), "{counted:#}");
    let marked = row(&view.json(), "PRN-0302");
    let supplies: Vec<(String, String, i64, bool)> = marked["supplies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["kind"].as_str().unwrap().to_string(),
                s["level"].as_i64().unwrap_or(-1),
                s["fills"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        supplies,
        [
            ("Black Toner".to_string(), "toner".to_string(), 8, false),
            ("Waste Toner Box".into(), "waste-toner".into(), 92, true)
        ],
        "{marked:#}"
    );
    assert_eq!(
        marked["attention"],
        serde_json::json!(["Black Toner low (8%)", "Waste Toner Box 92% full"])
    );
    assert!(
        marked["pages"].is_null() && marked["firmware"].is_null(),
        "{marked:#}"
    );

    // The printer prints and its firmware is updated: the next audit reads the new
    // counter, the store keeps both, and the view counts the pages in between.
    lab.lab
        .set_printer_attrs("PRN-0301", &counting(1500, "1.05 (build 2302)"))
        .unwrap();
    let audit = lab.run(&["audit", "PRN-0301"]);
    assert_eq!(audit.code(), 0, "{}{}", audit.stdout(), audit.stderr());
    let seen = lab.store().printer_observations("PRN-0301").unwrap();
    let pages: Vec<Option<i64>> = seen.iter().map(|o| o.pages).collect();
    assert!(pages.ends_with(&[Some(1234), Some(1500)]), "{pages:?}");
    let last: serde_json::Value = serde_json::from_str(&seen.last().unwrap().status).unwrap();
    assert_eq!(last["firmware"], "1.05 (build 2302)", "{last:#}");
    assert_eq!(last["serial"], "E73512K9N", "{last:#}");

    let counted = row(
        &lab.run(&["--format", "json", "printers"]).json(),
        "PRN-0301",
    );
    assert_eq!(counted["pages"], 1500, "{counted:#}");
    assert_eq!(counted["pages_30_days"], 266, "{counted:#}");
    assert_eq!(counted["firmware"], "1.05 (build 2302)", "{counted:#}");
    let text = lab.run(&["printers"]).stdout();
    let line = text
        .lines()
        .find(|l| l.contains("PRN-0301"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("1500 (266 in 30 d)"), "{text}");
    assert!(
        text.contains("1.05 (build 2302)") && text.contains("E73512K9N"),
        "{text}"
    );
}
