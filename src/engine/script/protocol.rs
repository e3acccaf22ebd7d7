//! The protocol between a device's program and the controller: one line per event on
//! stdout, each starting with `@@`. Parsed into types here, once; nothing else reads the
//! words. Everything that came from files or commands travels base64, so no output can
//! be mistaken for a protocol line.
//!
//! `i` is a resource index and `j` a check index:
//! `@@R i ok|drift|changed|failed CODE|skipped`, `@@O i BASE64` (old content of a drifted
//! file), or for printable text read by the shell `@@OL i LINE` (a line of it and its
//! newline), `@@OP i TEXT` (its last line, with no newline) and `@@OT i SIZE` (its end:
//! the old content is the lines sent, when they add up to SIZE bytes), `@@C i` (a sensitive file's content or queue's settings differ; they are
//! never sent), `@@S i SHA256 SIZE` (a changed file's digest and size before, whatever
//! its size), `@@M i MODE OWNER GROUP` (metadata before a change), `@@E i BASE64` (tail
//! of a failed command's stderr), `@@V j pass|fail CODE`, `@@VE j BASE64` (output of a failed
//! check), `@@NEED TOOL...` (programs the device lacks; nothing was run), `@@PSDOWN i`
//! (resource `i`'s print server's scheduler does not answer; nothing was tried), `@@END`;
//! an audit's software read adds `software.sh`'s `@@SW…` lines, kept as they came;
//! a test page says `@@TP ok|timeout ID` or `@@TP failed WHY`.

use std::collections::BTreeMap;

use base64::Engine as _;

use crate::model::ResourceStatus;

/// One protocol line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// `@@R`: how resource `i` ended.
    Resource {
        i: usize,
        status: ResourceStatus,
        exit_code: Option<i32>,
    },
    /// `@@O`: resource `i`'s content before (None when not valid base64).
    Old { i: usize, bytes: Option<Vec<u8>> },
    /// `@@OL` / `@@OP`: a line of resource `i`'s content before, sent as text, with its
    /// newline (`newline`) or as the last line without one.
    OldLine {
        i: usize,
        text: String,
        newline: bool,
    },
    /// `@@OT`: the end of resource `i`'s content sent as text lines, `size` bytes in all.
    OldEnd { i: usize, size: usize },
    /// `@@S`: resource `i`'s sha256 and size before.
    Before { i: usize, sha256: String, size: u64 },
    /// `@@NEED`: the programs the device lacks.
    Need { tools: Vec<String> },
    /// `@@M`: resource `i`'s `MODE OWNER GROUP` before.
    Meta { i: usize, meta: String },
    /// `@@C`: sensitive resource `i`'s content differs (what it holds is not sent).
    Differs { i: usize },
    /// `@@E`: the tail of resource `i`'s failed command's stderr.
    Stderr { i: usize, text: Option<String> },
    /// `@@V`: check `j` passed or failed.
    Check {
        j: usize,
        passed: bool,
        exit_code: Option<i32>,
    },
    /// `@@VE`: a failed check's output.
    CheckOutput { j: usize, text: Option<String> },
    /// `@@PSDOWN`: resource `i`'s print server (its cupsd) does not answer.
    PrintServerDown { i: usize },
    /// `@@END`: the program reached its end.
    End,
}

/// What a test page program said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestPage {
    Completed { job: String },
    TimedOut { job: String },
    Refused { why: String },
}

fn b64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()
}

fn text(s: &str) -> Option<String> {
    b64(s).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// A resource's word: a word the program does not say reads as failed.
fn status(word: &str) -> ResourceStatus {
    match word {
        "ok" => ResourceStatus::Ok,
        "drift" => ResourceStatus::Drift,
        "changed" => ResourceStatus::Changed,
        "skipped" => ResourceStatus::Skipped,
        _ => ResourceStatus::Failed,
    }
}

impl Line {
    /// Reads one line of output; `None` for anything that is not a protocol line.
    pub fn parse(line: &str) -> Option<Line> {
        if line == "@@END" {
            return Some(Line::End);
        }
        if let Some(tools) = line.strip_prefix("@@NEED ") {
            return Some(Line::Need {
                tools: tools.split_whitespace().map(str::to_string).collect(),
            });
        }
        let mut parts = line.splitn(3, ' ');
        let (tag, idx) = (parts.next()?, parts.next()?);
        let rest = parts.next().unwrap_or("");
        let n: usize = idx.parse().ok()?;
        let mut words = rest.split(' ');
        Some(match tag {
            "@@R" => Line::Resource {
                i: n,
                status: status(words.next().unwrap_or("")),
                exit_code: words.next().and_then(|c| c.parse().ok()),
            },
            "@@O" => Line::Old {
                i: n,
                bytes: b64(rest),
            },
            "@@OL" | "@@OP" => Line::OldLine {
                i: n,
                text: rest.to_string(),
                newline: tag == "@@OL",
            },
            "@@OT" => Line::OldEnd {
                i: n,
                size: words.next()?.parse().ok()?,
            },
            "@@S" => Line::Before {
                i: n,
                sha256: words.next()?.to_string(),
                size: words.next()?.parse().ok()?,
            },
            "@@C" => Line::Differs { i: n },
            "@@M" => Line::Meta {
                i: n,
                meta: rest.to_string(),
            },
            "@@E" => Line::Stderr {
                i: n,
                text: text(rest),
            },
            "@@V" => Line::Check {
                j: n,
                passed: words.next() == Some("pass"),
                exit_code: words.next().and_then(|c| c.parse().ok()),
            },
            "@@VE" => Line::CheckOutput {
                j: n,
                text: text(rest),
            },
            "@@PSDOWN" => Line::PrintServerDown { i: n },
            _ => return None,
        })
    }
}

/// What became of a retired or returned printer's queue (`@@Q ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueDropped {
    Removed,
    Disabled,
    /// There was no such queue.
    Absent,
    /// The print server's scheduler does not answer.
    ServerDown,
    Failed {
        why: String,
    },
}

impl QueueDropped {
    /// Reads the program's `@@Q` line; no line is a failure.
    pub fn parse(stdout: &[u8]) -> QueueDropped {
        let text = String::from_utf8_lossy(stdout);
        let Some(line) = text.lines().find_map(|l| l.strip_prefix("@@Q ")) else {
            return QueueDropped::Failed {
                why: "the program said nothing about the queue".into(),
            };
        };
        match line.split_once(' ').unwrap_or((line, "")) {
            ("removed", _) => QueueDropped::Removed,
            ("disabled", _) => QueueDropped::Disabled,
            ("absent", _) => QueueDropped::Absent,
            ("down", _) => QueueDropped::ServerDown,
            (_, why) => QueueDropped::Failed {
                why: base64::Engine::decode(&base64::engine::general_purpose::STANDARD, why.trim())
                    .map(|b| String::from_utf8_lossy(&b).trim().to_string())
                    .unwrap_or_default(),
            },
        }
    }
}

impl TestPage {
    /// Reads a test page program's output; no answer reads as refused.
    pub fn parse(stdout: &[u8]) -> TestPage {
        let out = String::from_utf8_lossy(stdout);
        let line = out
            .lines()
            .find(|l| l.starts_with("@@TP "))
            .unwrap_or("@@TP failed no answer");
        let mut w = line.splitn(3, ' ').skip(1);
        match (w.next(), w.next()) {
            (Some("ok"), Some(id)) => TestPage::Completed { job: id.into() },
            (Some("timeout"), Some(id)) => TestPage::TimedOut { job: id.into() },
            (_, rest) => TestPage::Refused {
                why: rest.unwrap_or("").into(),
            },
        }
    }
}

/// What the device reported about one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Failed until the program says otherwise.
    pub status: ResourceStatus,
    pub exit_code: Option<i32>,
    /// Content before the change (files and lines), when sent.
    pub old: Option<Vec<u8>>,
    /// `MODE OWNER GROUP` before the change.
    pub meta: Option<String>,
    /// sha256 and size of the content before the change (files), sent whatever the size.
    pub before: Option<(String, u64)>,
    /// Tail of the failed command's stderr.
    pub stderr: Option<String>,
    /// Its print server's scheduler did not answer: nothing was tried.
    pub print_server_down: bool,
    /// A sensitive resource's content differs (its old content is never sent).
    pub differs: bool,
}

impl Default for Observed {
    fn default() -> Self {
        Observed {
            status: ResourceStatus::Failed,
            exit_code: None,
            old: None,
            meta: None,
            before: None,
            stderr: None,
            print_server_down: false,
            differs: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckResult {
    pub passed: bool,
    pub exit_code: Option<i32>,
    pub output: Option<String>,
}

/// The report of one program run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub resources: BTreeMap<usize, Observed>,
    pub checks: BTreeMap<usize, CheckResult>,
    /// The program reached its end.
    pub complete: bool,
    /// Programs the device lacks (the program stopped before running anything).
    pub missing_tools: Vec<String>,
    /// The `@@SW…` lines of an audit's software read, as they came (read by
    /// [`super::software::parse`]).
    pub software: String,
}

/// Reads a program's stdout. A last line without its newline (the connection was cut
/// while the device wrote it) is not read: `@@R 5 chan` says nothing yet.
pub fn parse(stdout: &[u8]) -> Report {
    let mut rep = Report::default();
    // old contents sent as text lines, until their `@@OT`
    let mut text_old: BTreeMap<usize, String> = BTreeMap::new();
    let text = String::from_utf8_lossy(stdout);
    let whole = text.rfind('\n').map_or("", |end| &text[..=end]);
    for line in whole.lines() {
        match Line::parse(line) {
            Some(Line::Resource {
                i,
                status,
                exit_code,
            }) => {
                let r = rep.resources.entry(i).or_default();
                r.status = status;
                r.exit_code = exit_code;
            }
            Some(Line::Old { i, bytes }) => rep.resources.entry(i).or_default().old = bytes,
            Some(Line::OldLine { i, text, newline }) => {
                let t = text_old.entry(i).or_default();
                t.push_str(&text);
                if newline {
                    t.push('\n');
                }
            }
            Some(Line::OldEnd { i, size }) => {
                let t = text_old.remove(&i).unwrap_or_default();
                rep.resources.entry(i).or_default().old = (t.len() == size).then(|| t.into_bytes());
            }
            Some(Line::Before { i, sha256, size }) => {
                rep.resources.entry(i).or_default().before = Some((sha256, size));
            }
            Some(Line::Need { tools }) => rep.missing_tools = tools,
            Some(Line::Meta { i, meta }) => rep.resources.entry(i).or_default().meta = Some(meta),
            Some(Line::Differs { i }) => rep.resources.entry(i).or_default().differs = true,
            Some(Line::Stderr { i, text }) => rep.resources.entry(i).or_default().stderr = text,
            Some(Line::Check {
                j,
                passed,
                exit_code,
            }) => {
                let c = rep.checks.entry(j).or_default();
                c.passed = passed;
                c.exit_code = exit_code;
            }
            Some(Line::CheckOutput { j, text }) => rep.checks.entry(j).or_default().output = text,
            Some(Line::PrintServerDown { i }) => {
                rep.resources.entry(i).or_default().print_server_down = true;
            }
            Some(Line::End) => rep.complete = true,
            None if line.starts_with("@@SW") => {
                rep.software.push_str(line);
                rep.software.push('\n');
            }
            None => {}
        }
    }
    rep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_into_types() {
        assert_eq!(
            Line::parse("@@R 3 failed 7"),
            Some(Line::Resource {
                i: 3,
                status: ResourceStatus::Failed,
                exit_code: Some(7)
            })
        );
        assert_eq!(
            Line::parse("@@V 0 pass"),
            Some(Line::Check {
                j: 0,
                passed: true,
                exit_code: None
            })
        );
        assert_eq!(
            Line::parse("@@O 1 aGk="),
            Some(Line::Old {
                i: 1,
                bytes: Some(b"hi".to_vec())
            })
        );
        assert_eq!(Line::parse("@@END"), Some(Line::End));
        assert_eq!(
            Line::parse("@@S 2 abc 31457280"),
            Some(Line::Before {
                i: 2,
                sha256: "abc".into(),
                size: 31_457_280
            })
        );
        assert_eq!(
            Line::parse("@@NEED sha256sum stat"),
            Some(Line::Need {
                tools: vec!["sha256sum".into(), "stat".into()]
            })
        );
        assert_eq!(
            Line::parse("@@PSDOWN 2"),
            Some(Line::PrintServerDown { i: 2 })
        );
        assert_eq!(Line::parse("hello world"), None);
        assert_eq!(Line::parse("@@R x ok"), None);
    }

    #[test]
    fn old_content_sent_as_text_lines_is_sealed_by_its_size() {
        let rep = parse(b"@@OL 2 a b\n@@OL 2 \n@@OP 2 @@R 2 ok\n@@OT 2 13\n@@R 2 changed\n");
        assert_eq!(
            rep.resources[&2].old.as_deref(),
            Some(&b"a b\n\n@@R 2 ok"[..])
        );
        assert_eq!(rep.resources[&2].status, ResourceStatus::Changed);
        let rep = parse(b"@@OT 1 0\n");
        assert_eq!(rep.resources[&1].old.as_deref(), Some(&b""[..]));
        // a line lost (or bytes changed on the way) leaves no old content at all
        let rep = parse(b"@@OL 1 abc\n@@OT 1 9\n");
        assert_eq!(rep.resources[&1].old, None);
    }

    #[test]
    fn an_audits_software_lines_are_kept_as_they_came() {
        let rep = parse(b"@@R 0 ok\n@@SWP now aGk=\n@@SWN apt-get\n@@END\n");
        assert_eq!(rep.software, "@@SWP now aGk=\n@@SWN apt-get\n");
        assert!(rep.complete);
        assert_eq!(rep.resources.len(), 1);
    }

    #[test]
    fn a_line_cut_before_its_end_is_not_read() {
        let rep = parse(b"@@R 0 changed\n@@R 1 ok\n@@R 2 chan");
        assert_eq!(rep.resources.len(), 2, "{rep:?}");
        assert_eq!(rep.resources[&0].status, ResourceStatus::Changed);
        assert!(!rep.resources.contains_key(&2));
        assert!(!parse(b"@@END").complete);
        assert!(parse(b"@@END\n").complete);
    }

    #[test]
    fn test_pages() {
        assert_eq!(
            TestPage::parse(b"noise\n@@TP ok q-12\n"),
            TestPage::Completed { job: "q-12".into() }
        );
        assert_eq!(
            TestPage::parse(b"@@TP failed lp: no such queue\n"),
            TestPage::Refused {
                why: "lp: no such queue".into()
            }
        );
        assert_eq!(
            TestPage::parse(b""),
            TestPage::Refused {
                why: "no answer".into()
            }
        );
    }
}
