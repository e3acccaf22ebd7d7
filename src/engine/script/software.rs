//! The programs that read and upgrade a device's software outside any resource (see
//! [software.sh](software.sh)): built like every program (watchdog, preamble, quoted calls)
//! and read back from their `@@SW…` lines. Knows nothing of the store or of what the
//! lines mean beyond their framing.

use std::collections::BTreeMap;

use super::writer::Writer;
use super::{PREAMBLE, Script, WATCHDOG};

const SOFTWARE: &str = include_str!("software.sh");

/// What an audit's program runs after its probes to read the software (`sw_audit`: the
/// installed packages, the index's age and what apt would upgrade, never refreshing the
/// index nor stopping the program): raw program text for [`super::build_with`]; its lines
/// are read back with [`parse`].
pub const AUDIT: [&str; 2] = [SOFTWARE, "sw_audit"];

/// What a read program asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Read {
    /// The installed packages (and where apt has them from).
    pub installed: bool,
    /// The upgrades apt would make, and the index's age.
    pub pending: bool,
    /// Refresh the package index first.
    pub refresh: bool,
}

/// Which packages an upgrade program upgrades.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upgrade {
    /// Everything apt would upgrade (a dist-upgrade).
    All,
    /// The packages whose candidate comes from a security archive.
    Security,
    /// These packages (names checked by the caller), when installed.
    Only(Vec<String>),
}

fn program(body: impl FnOnce(&mut Writer)) -> Script {
    let mut w = Writer::new();
    w.raw(WATCHDOG).raw(PREAMBLE).raw(SOFTWARE);
    w.raw("need dpkg-query dpkg apt-get base64 awk");
    body(&mut w);
    w.raw("echo @@END");
    let text = w.finish();
    Script {
        stdin: text.clone().into_bytes(),
        text,
    }
}

/// The program that reads what `what` asks; read back with [`parse`].
pub fn read(what: Read) -> Script {
    program(|w| {
        if what.refresh {
            w.raw("sw_refresh");
        }
        if what.installed {
            w.call("sw_list", ["now", "1"]);
        }
        if what.pending {
            w.raw("sw_index");
            w.raw("sw_pending");
        }
    })
}

/// The program that lists the installed packages as dpkg has them (tag `now`); read back
/// with [`parse`].
pub fn listing() -> Script {
    program(|w| {
        w.call("sw_list", ["now", "0"]);
    })
}

/// The program that upgrades; read back with [`parse`].
pub fn upgrade(what: &Upgrade) -> Script {
    program(|w| match what {
        Upgrade::All => {
            w.call("sw_upgrade", ["all"]);
        }
        Upgrade::Security => {
            w.call("sw_upgrade", ["security"]);
        }
        Upgrade::Only(names) => {
            w.call(
                "sw_upgrade",
                std::iter::once("only").chain(names.iter().map(String::as_str)),
            );
        }
    })
}

/// What a program said, by line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Said {
    /// dpkg's list by tag (`now`, `before`, `after`).
    pub dpkg: BTreeMap<String, String>,
    /// `apt list --installed` by tag.
    pub apt: BTreeMap<String, String>,
    /// The index's newest refresh and the device's clock, epoch seconds (0: no index).
    pub index: Option<(i64, i64)>,
    /// A refresh asked for: `Err` with what apt said when it failed.
    pub refresh: Option<Result<(), String>>,
    /// The simulated dist-upgrade's output.
    pub simulation: Option<String>,
    /// The simulation failed, with the end of what apt said.
    pub simulation_failed: Option<String>,
    /// What `dpkg --audit` found (`before`/`after` the upgrade): `healed`, `broken` (not
    /// mended) or `busy` (another process holds dpkg's lock), and what it said.
    pub heal: Vec<(String, String, String)>,
    /// The upgrade's exit code and the end of apt's output.
    pub upgrade: Option<(i32, String)>,
    /// Programs the device lacks (nothing ran).
    pub missing_tools: Vec<String>,
    /// An audit's read: the tool the device has not (`dpkg-query`: nothing was read;
    /// `apt-get`: the packages were, the upgrades waiting were not).
    pub lacks: Option<String>,
    /// It reached its end.
    pub complete: bool,
}

fn text(b64: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Reads a software program's output.
pub fn parse(stdout: &[u8]) -> Said {
    let out = String::from_utf8_lossy(stdout);
    let mut said = Said::default();
    for line in out.lines() {
        let (head, rest) = line.split_once(' ').unwrap_or((line, ""));
        match head {
            "@@END" => said.complete = true,
            "@@NEED" => said.missing_tools = rest.split_whitespace().map(String::from).collect(),
            "@@SWP" | "@@SWA" => {
                let (tag, b64) = rest.split_once(' ').unwrap_or((rest, ""));
                let into = if head == "@@SWP" {
                    &mut said.dpkg
                } else {
                    &mut said.apt
                };
                into.insert(tag.to_string(), text(b64));
            }
            "@@SWI" => {
                let mut w = rest.split_whitespace().map(|x| x.parse::<i64>().ok());
                if let (Some(Some(a)), Some(Some(b))) = (w.next(), w.next()) {
                    said.index = Some((a, b));
                }
            }
            "@@SWU" => {
                said.refresh = Some(match rest.split_once(' ') {
                    None if rest == "ok" => Ok(()),
                    Some((_, b64)) => Err(text(b64)),
                    None => Err(String::new()),
                });
            }
            "@@SWN" => said.lacks = Some(rest.trim().to_string()),
            "@@SWS" => said.simulation = Some(text(rest)),
            "@@SWF" => said.simulation_failed = Some(text(rest)),
            "@@SWH" => {
                let mut w = rest.splitn(3, ' ');
                let (when, how, b64) = (
                    w.next().unwrap_or(""),
                    w.next().unwrap_or(""),
                    w.next().unwrap_or(""),
                );
                said.heal
                    .push((when.to_string(), how.to_string(), text(b64)));
            }
            "@@SWR" => {
                let (rc, b64) = rest.split_once(' ').unwrap_or((rest, ""));
                said.upgrade = Some((rc.trim().parse().unwrap_or(-1), text(b64)));
            }
            _ => {}
        }
    }
    said
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_reach_the_program_quoted() {
        let s = upgrade(&Upgrade::Only(vec!["acme-vpn".into(), "g++".into()]));
        assert!(
            s.text.contains("\nsw_upgrade 'only' 'acme-vpn' 'g++'\n"),
            "{}",
            s.text
        );
        assert!(s.text.trim_end().ends_with("echo @@END"));
        let r = read(Read {
            installed: true,
            pending: true,
            refresh: false,
        });
        assert!(!r.text.contains("\nsw_refresh\n"));
        assert!(r.text.contains("\nsw_pending\n"));
    }

    #[test]
    fn the_lines_are_read_back() {
        use base64::Engine;
        let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let out = format!(
            "noise\n@@SWP now {}\n@@SWI 100 160\n@@SWU failed {}\n@@SWH after healed {}\n@@SWR 100 {}\n@@END\n",
            b("ii \ta\tall\t1\n"),
            b("no net"),
            b("a half done"),
            b("E: boom")
        );
        let said = parse(out.as_bytes());
        assert_eq!(said.dpkg["now"], "ii \ta\tall\t1\n");
        assert_eq!(said.index, Some((100, 160)));
        assert_eq!(said.refresh, Some(Err("no net".into())));
        assert_eq!(
            said.heal,
            [("after".into(), "healed".into(), "a half done".into())]
        );
        assert_eq!(said.upgrade, Some((100, "E: boom".into())));
        assert!(said.complete);
    }
}
