//! Asking a printer itself over IPP (Get-Printer-Attributes): does it answer, what is it,
//! where does it say it is, its state and state reasons, how full its supplies are
//! (`printer-supply`, or `marker-*` where only those exist), its page counters, firmware
//! and serial, and whether it needs attention. Blocking; run inside the fleet's blocking
//! tasks. Verification and audit of printers use it; it never touches the store.

use std::time::Duration;

use ipp::prelude::*;

/// One supply of a printer (toner, ink, waste receptacle...).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Supply {
    /// What the printer calls it (`Black Toner`), else its type and colour.
    pub name: String,
    /// `toner`, `wasteToner`, `ink`... as reported ('' when not).
    #[serde(default)]
    pub kind: String,
    /// Percent full; `None` when the printer does not know (-1, -2, -3, or no value).
    pub level: Option<i32>,
    /// A receptacle that fills up (waste), rather than a supply that is used up.
    #[serde(default)]
    pub fills: bool,
}

impl Supply {
    /// Low (a consumed supply at 10 % or less) or almost full (a waste receptacle at 90 %
    /// or more).
    pub fn needs_attention(&self) -> bool {
        match self.level {
            Some(l) if self.fills => l >= 90,
            Some(l) => l <= 10,
            None => false,
        }
    }
}

/// What a printer says about itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PrinterStatus {
    /// `idle`, `processing` or `stopped`.
    pub state: String,
    pub state_reasons: Vec<String>,
    pub make_and_model: String,
    pub location: String,
    pub supplies: Vec<Supply>,
    /// Impressions (or pages) printed since it was made, when it counts them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

impl PrinterStatus {
    /// What needs someone's attention: a stopped printer, state reasons other than
    /// reports (`media-empty`, `door-open-error`, `toner-low-warning`), supplies low or
    /// almost full. Empty when none.
    pub fn attention(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.state == "stopped" {
            out.push("stopped".to_string());
        }
        for r in &self.state_reasons {
            if r != "none" && !r.ends_with("-report") && r != "paused" {
                out.push(r.clone());
            }
        }
        for s in self.supplies.iter().filter(|s| s.needs_attention()) {
            let level = s.level.unwrap_or_default();
            out.push(if s.fills {
                format!("{} {level}% full", s.name)
            } else {
                format!("{} low ({level}%)", s.name)
            });
        }
        out
    }

    /// The supplies as `Black Toner 75%, Toner Waste Tank 25%`.
    pub fn supply_levels(&self) -> String {
        self.supplies
            .iter()
            .map(|s| match s.level {
                Some(l) => format!("{} {l}%", s.name),
                None => format!("{} unknown", s.name),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `idle; HP Color LaserJet Pro M454dw; at "HQ floor 3, bay 1"; supplies: black 80%`
    pub fn describe(&self) -> String {
        let mut s = format!("{}; {}", self.state, self.make_and_model);
        if !self.location.is_empty() {
            s.push_str(&format!("; at \"{}\"", self.location));
        }
        if !self.supplies.is_empty() {
            s.push_str(&format!("; supplies: {}", self.supply_levels()));
        }
        let reasons: Vec<&str> = self
            .state_reasons
            .iter()
            .filter(|r| r.as_str() != "none")
            .map(String::as_str)
            .collect();
        if !reasons.is_empty() {
            s.push_str(&format!("; reasons: {}", reasons.join(", ")));
        }
        s
    }
}

fn texts(v: &IppValue) -> Vec<String> {
    match v {
        IppValue::Array(items) => items.iter().flat_map(texts).collect(),
        IppValue::OctetString(b) => vec![String::from_utf8_lossy(b).into_owned()],
        // Out of band (unknown, no value): nothing, never a value.
        IppValue::Other { .. } | IppValue::NoValue => vec![],
        other => vec![other.to_string()],
    }
}

/// Integers of a value; out-of-band values ("unknown") are not integers.
fn ints(v: &IppValue) -> Vec<Option<i32>> {
    match v {
        IppValue::Array(items) => items.iter().flat_map(ints).collect(),
        IppValue::Integer(i) | IppValue::Enum(i) => vec![Some(*i)],
        _ => vec![None],
    }
}

/// A level as printers report it: -1, -2, -3 (unavailable, unknown, some left) are not
/// levels.
fn level(l: Option<i32>, max: Option<i32>) -> Option<i32> {
    let l = l.filter(|l| *l >= 0)?;
    match max.filter(|m| *m > 0) {
        Some(m) if m != 100 => Some(((l as i64 * 100) / m as i64) as i32),
        _ => Some(l),
    }
}

/// Supplies from `printer-supply` (`key=value;` pairs, one value per supply) with
/// `printer-supply-description` for their names.
pub fn parse_printer_supply(values: &[String], descriptions: &[String]) -> Vec<Supply> {
    values
        .iter()
        .enumerate()
        .map(|(k, v)| {
            let field = |key: &str| {
                v.split(';').find_map(|kv| {
                    let (k2, val) = kv.split_once('=')?;
                    (k2.trim() == key).then(|| val.trim().to_string())
                })
            };
            let kind = field("type").unwrap_or_default();
            let colour = field("colorantname").filter(|c| c != "unknown");
            let name = descriptions
                .get(k)
                .filter(|d| !d.is_empty())
                .cloned()
                .unwrap_or_else(|| match &colour {
                    Some(c) => format!("{c} {kind}"),
                    None => kind.clone(),
                });
            let num = |key: &str| field(key).and_then(|x| x.parse::<i32>().ok());
            Supply {
                name,
                fills: field("class").is_some_and(|c| c == "receptacleThatIsFilled")
                    || kind.starts_with("waste"),
                level: level(num("level"), num("maxcapacity")),
                kind,
            }
        })
        .collect()
}

/// Supplies from `marker-names`, `marker-levels` and `marker-types` (printers without
/// `printer-supply`).
pub fn parse_markers(names: &[String], levels: &[Option<i32>], types: &[String]) -> Vec<Supply> {
    names
        .iter()
        .enumerate()
        .map(|(k, n)| {
            let kind = types.get(k).cloned().unwrap_or_default();
            Supply {
                name: n.clone(),
                fills: kind.starts_with("waste"),
                level: level(levels.get(k).copied().flatten(), None),
                kind,
            }
        })
        .collect()
}

/// The serial number in an IEEE 1284 device id (`SN:` or `SERN:`).
fn serial_in_device_id(id: &str) -> Option<String> {
    id.split(';').find_map(|kv| {
        let (k, v) = kv.split_once(':')?;
        matches!(k.trim(), "SN" | "SERN" | "SERIALNUMBER")
            .then(|| v.trim().to_string())
            .filter(|v| !v.is_empty())
    })
}

/// How the engine asks printers about themselves: over IPP ([`Ipp`]), or a stand-in in
/// tests. The engine reaches devices only through its transports and this seam.
pub trait PrinterQuery: Send + Sync {
    /// What the printer at `uri` says about itself, or why it did not answer.
    fn ask(&self, uri: &str) -> Result<PrinterStatus, String>;
}

/// Asking over IPP (Get-Printer-Attributes), each printer within `timeout`.
#[derive(Debug, Clone, Copy)]
pub struct Ipp {
    pub timeout: Duration,
}

impl PrinterQuery for Ipp {
    fn ask(&self, uri: &str) -> Result<PrinterStatus, String> {
        query(uri, self.timeout)
    }
}

/// Asks the printer at `uri` (ipp:// or ipps://) for its state, within `timeout`.
pub fn query(uri: &str, timeout: Duration) -> Result<PrinterStatus, String> {
    let parsed: Uri = uri
        .parse()
        .map_err(|e| format!("`{uri}` is not a URI: {e}"))?;
    let op = IppOperationBuilder::get_printer_attributes(parsed.clone())
        .build()
        .map_err(|e| e.to_string())?;
    // ipps://: a printer's certificate is its own, self-signed, as printers ship: the
    // channel is encrypted, the printer is not authenticated by it.
    let client = IppClient::builder(parsed)
        .request_timeout(timeout)
        .ignore_tls_errors(true)
        .build();
    let resp = client.send(op).map_err(|e| e.to_string())?;
    if !resp.header().status_code().is_success() {
        return Err(format!(
            "the printer answered {:?}",
            resp.header().status_code()
        ));
    }
    let attrs = resp.attributes();
    let group = attrs
        .groups_of(DelimiterTag::PrinterAttributes)
        .next()
        .ok_or("the printer sent no printer attributes")?;
    let get = |name: &str| group.get(name).map(|a| a.value().clone());
    let state = match get("printer-state").and_then(|v| ints(&v).first().copied().flatten()) {
        Some(3) => "idle",
        Some(4) => "processing",
        Some(5) => "stopped",
        _ => "unknown",
    };
    let many = |name: &str| get(name).map(|v| texts(&v)).unwrap_or_default();
    let one = |name: &str| many(name).into_iter().next().filter(|s| !s.is_empty());
    let supply = many("printer-supply");
    let supplies = if supply.is_empty() {
        parse_markers(
            &many("marker-names"),
            &get("marker-levels").map(|v| ints(&v)).unwrap_or_default(),
            &many("marker-types"),
        )
    } else {
        parse_printer_supply(&supply, &many("printer-supply-description"))
    };
    let pages = [
        "printer-impressions-completed",
        "printer-pages-completed",
        "printer-media-sheets-completed",
    ]
    .iter()
    .find_map(|n| get(n).and_then(|v| ints(&v).first().copied().flatten()))
    .map(i64::from);
    Ok(PrinterStatus {
        state: state.to_string(),
        state_reasons: many("printer-state-reasons"),
        make_and_model: one("printer-make-and-model").unwrap_or_default(),
        location: one("printer-location").unwrap_or_default(),
        supplies,
        pages,
        firmware: one("printer-firmware-string-version")
            .or_else(|| one("printer-firmware-version")),
        serial: one("printer-serial-number")
            .or_else(|| one("printer-device-id").and_then(|d| serial_in_device_id(&d))),
    })
}

/// Whether a reported make and model is the inventory's model (case and spacing aside;
/// the make may be reported in front of the model).
pub fn same_model(reported: &str, inventory: &str) -> bool {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    let (r, i) = (norm(reported), norm(inventory));
    !i.is_empty() && (r == i || r.ends_with(&format!(" {i}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_compare_without_case_spacing_or_a_leading_make() {
        assert!(same_model(
            "HP Color LaserJet Pro M454dw",
            "HP Color LaserJet Pro M454dw"
        ));
        assert!(same_model("Brother  HL-L6400DW", "brother hl-l6400dw"));
        assert!(same_model("Brother HL-L6400DW", "HL-L6400DW"));
        assert!(!same_model("Brother HL-L6400DW", "HL-L5100DN"));
        assert!(!same_model("Brother HL-L6400DW", ""));
    }

    #[test]
    fn supplies_parse_with_unknown_levels_and_receptacles() {
        let s = parse_printer_supply(
            &[
                "index=1;class=receptacleThatIsFilled;type=wasteToner;unit=percent;maxcapacity=100;level=95;colorantname=unknown;".into(),
                "index=2;class=supplyThatIsConsumed;type=toner;unit=percent;maxcapacity=100;level=5;colorantname=black;".into(),
                "index=3;class=supplyThatIsConsumed;type=toner;maxcapacity=200;level=-3;colorantname=cyan;".into(),
                "index=4;class=supplyThatIsConsumed;type=toner;maxcapacity=200;level=50;colorantname=cyan;".into(),
            ],
            &["Toner Waste Tank".into(), "Black Toner".into()],
        );
        let levels: Vec<(&str, Option<i32>, bool)> = s
            .iter()
            .map(|x| (x.name.as_str(), x.level, x.fills))
            .collect();
        assert_eq!(
            levels,
            [
                ("Toner Waste Tank", Some(95), true),
                ("Black Toner", Some(5), false),
                ("cyan toner", None, false),
                ("cyan toner", Some(25), false),
            ]
        );
        let st = PrinterStatus {
            state: "idle".into(),
            state_reasons: vec![
                "marker-waste-almost-full-report".into(),
                "toner-low-report".into(),
                "media-empty-error".into(),
            ],
            make_and_model: "ACME".into(),
            location: String::new(),
            supplies: s,
            pages: None,
            firmware: None,
            serial: None,
        };
        assert_eq!(
            st.attention(),
            [
                "media-empty-error",
                "Toner Waste Tank 95% full",
                "Black Toner low (5%)"
            ]
        );
        let m = parse_markers(
            &["Black".into(), "Waste".into()],
            &[Some(-1), Some(92)],
            &["toner".into(), "waste-toner".into()],
        );
        assert_eq!(m[0].level, None);
        assert!(m[1].needs_attention());
        assert_eq!(
            serial_in_device_id("MFG:ACME;MDL:X;SN:VNB00001;"),
            Some("VNB00001".into())
        );
    }

    #[test]
    fn a_printer_that_does_not_answer_is_an_error() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let e = query(
            &format!("ipp://127.0.0.1:{port}/ipp/print"),
            Duration::from_secs(2),
        )
        .unwrap_err();
        assert!(!e.is_empty());
    }
}
