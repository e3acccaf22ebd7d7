//! Asking a printer itself over IPP (Get-Printer-Attributes): does it answer, what is it,
//! where does it say it is, how full are its supplies. Blocking; run inside the fleet's
//! blocking tasks. Verification of printers uses it after their queue is configured.

use std::time::Duration;

use ipp::prelude::*;

/// What a printer says about itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PrinterStatus {
    /// `idle`, `processing` or `stopped`.
    pub state: String,
    pub state_reasons: Vec<String>,
    pub make_and_model: String,
    pub location: String,
    /// Supply name and level in percent (-1: unknown, as printers report it).
    pub supplies: Vec<(String, i32)>,
}

impl PrinterStatus {
    /// `idle; HP Color LaserJet Pro M454dw; at "HQ floor 3, bay 1"; supplies: black 80%`
    pub fn describe(&self) -> String {
        let mut s = format!("{}; {}", self.state, self.make_and_model);
        if !self.location.is_empty() {
            s.push_str(&format!("; at \"{}\"", self.location));
        }
        if !self.supplies.is_empty() {
            let sup: Vec<String> = self
                .supplies
                .iter()
                .map(|(n, l)| {
                    if *l >= 0 {
                        format!("{n} {l}%")
                    } else {
                        format!("{n} unknown")
                    }
                })
                .collect();
            s.push_str(&format!("; supplies: {}", sup.join(", ")));
        }
        let reasons: Vec<&String> = self
            .state_reasons
            .iter()
            .filter(|r| r.as_str() != "none")
            .collect();
        if !reasons.is_empty() {
            s.push_str(&format!(
                "; reasons: {}",
                reasons
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        s
    }
}

fn texts(v: &IppValue) -> Vec<String> {
    match v {
        IppValue::Array(items) => items.iter().map(|i| i.to_string()).collect(),
        other => vec![other.to_string()],
    }
}

fn ints(v: &IppValue) -> Vec<i32> {
    match v {
        IppValue::Array(items) => items.iter().flat_map(ints).collect(),
        IppValue::Integer(i) | IppValue::Enum(i) => vec![*i],
        _ => vec![],
    }
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
    let client = IppClient::builder(parsed).request_timeout(timeout).build();
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
    let state = match get("printer-state").and_then(|v| ints(&v).first().copied()) {
        Some(3) => "idle",
        Some(4) => "processing",
        Some(5) => "stopped",
        _ => "unknown",
    };
    let names = get("marker-names").map(|v| texts(&v)).unwrap_or_default();
    let levels = get("marker-levels").map(|v| ints(&v)).unwrap_or_default();
    Ok(PrinterStatus {
        state: state.to_string(),
        state_reasons: get("printer-state-reasons")
            .map(|v| texts(&v))
            .unwrap_or_default(),
        make_and_model: get("printer-make-and-model")
            .map(|v| v.to_string())
            .unwrap_or_default(),
        location: get("printer-location")
            .map(|v| v.to_string())
            .unwrap_or_default(),
        supplies: names.into_iter().zip(levels).collect(),
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
