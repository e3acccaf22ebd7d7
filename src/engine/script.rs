//! The remote side of converging: one POSIX shell script per device and phase.
//!
//! [`build`] writes a script that probes every resource (plan) or probes and fixes every
//! resource then runs the verify checks (converge), all in ONE exec channel. File contents
//! travel on the channel's stdin, raw, and are staged into a private temp directory before
//! anything else happens, so the script never has to talk while the controller is still
//! writing. Every value in the script goes through [`crate::shell::quote`]; everything the
//! device reports back that came from files or commands is base64, so no output can be
//! mistaken for the protocol. [`parse`] reads the report.
//!
//! Protocol lines (stdout), one per event, `i` a resource index and `j` a check index:
//! `@@R i ok|drift|changed|failed CODE|skipped`, `@@O i BASE64` (old content of a drifted
//! file), `@@M i MODE OWNER GROUP` (metadata before a change), `@@E i BASE64` (tail of a
//! failed command's stderr), `@@V j pass|fail CODE`, `@@VE j BASE64` (output of a failed
//! check), `@@END`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::model::ResourceKind;
use crate::resolve::ResolvedResource;
use crate::shell::quote;

/// What the script does with each resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Probe only: report drift, change nothing.
    Plan,
    /// Probe, fix what drifted, then run the verify checks.
    Converge,
}

/// Files larger than this are not sent back for diffs.
pub const DIFF_LIMIT: u64 = 1 << 20;

/// A script and the bytes to feed it on stdin after the script itself.
#[derive(Debug, Clone)]
pub struct Script {
    pub text: String,
    /// The script's own bytes, then the staged file contents.
    pub stdin: Vec<u8>,
}

/// The exec command that runs a [`Script`]: it reads exactly `{N}` bytes of script from
/// stdin into a temp file and runs it, leaving the rest of stdin (file contents) to the
/// script. The script travels on stdin because an exec request is limited to a few tens of
/// kilobytes, and a profile with many resources makes a longer script.
pub const BOOTSTRAP: &str = "s=$(mktemp) && head -c {N} > \"$s\" && exec sh \"$s\" \"$s\"";

/// sha256 of `bytes`, as lowercase hex.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether this build of deskready can probe and fix a resource kind.
pub fn supported(kind: &ResourceKind) -> bool {
    !matches!(kind, ResourceKind::Service { .. })
}

/// A print queue's settings as the probe reads them back, one `key=value` per line: what
/// the queue should look like, compared with what the print server reports.
pub fn queue_state(kind: &ResourceKind) -> Option<String> {
    let ResourceKind::PrintQueue {
        uri,
        location,
        description,
        shared,
        options,
        allowed_users,
        ..
    } = kind
    else {
        return None;
    };
    let mut users = allowed_users.clone();
    users.sort();
    let mut lines = vec![
        format!("uri={uri}"),
        format!("location={}", location.as_deref().unwrap_or("")),
        format!("description={}", description.as_deref().unwrap_or("")),
        format!("shared={shared}"),
        format!("allowed_users={}", users.join(",")),
    ];
    lines.extend(options.iter().map(|(k, v)| format!("option {k}={v}")));
    Some(lines.join("\n"))
}

/// Builds the script for `resources` (each with its index in the device's resource list)
/// and, for converge, the verify `checks` (index, command).
pub fn build(
    phase: Phase,
    resources: &[(usize, &ResolvedResource)],
    checks: &[(usize, &str)],
) -> Script {
    let mut s = String::new();
    let mut stdin = Vec::new();
    s.push_str(PREAMBLE);
    // Stage every file's new content first: the controller writes all of stdin before the
    // script says anything. One size check for all of it.
    if phase == Phase::Converge {
        let mut total = 0;
        for (i, r) in resources {
            if let Some(content) = r.content()
                && supported(r.kind())
            {
                let n = content.len();
                total += n;
                let _ = writeln!(s, "head -c {n} > \"$T/f{i}\"");
                stdin.extend_from_slice(content.as_bytes());
            }
        }
        if total > 0 {
            let _ = writeln!(
                s,
                "[ \"$(cat \"$T\"/f* | wc -c)\" -eq {total} ] || {{ echo '@@STAGE short'; exit 98; }}"
            );
        }
    }
    // Every path's digest and metadata, read once for all resources.
    let mut sums = Vec::new();
    let mut stats = Vec::new();
    for (_, r) in resources {
        match r.kind() {
            ResourceKind::File { path, .. } => {
                sums.push(quote(path));
                stats.push(quote(path));
            }
            ResourceKind::Directory { path, .. } | ResourceKind::Line { path, .. } => {
                stats.push(quote(path))
            }
            _ => {}
        }
    }
    if !sums.is_empty() {
        let _ = writeln!(
            s,
            "sha256sum -- {} > \"$T/sums\" 2>/dev/null",
            sums.join(" ")
        );
    }
    if !stats.is_empty() {
        let _ = writeln!(
            s,
            "stat -c '%a %U %G %s %n' -- {} > \"$T/stats\" 2>/dev/null",
            stats.join(" ")
        );
    }
    for (i, r) in resources {
        if !supported(r.kind()) {
            continue;
        }
        let _ = writeln!(s, "\n# {}", r.name().replace('\n', " "));
        s.push_str("if [ \"$failed\" = 1 ]; then echo \"@@R ");
        let _ = write!(s, "{i}");
        s.push_str(" skipped\"; else\n");
        resource(&mut s, phase, *i, r);
        s.push_str("fi\n");
    }
    if phase == Phase::Converge {
        for (j, cmd) in checks {
            let _ = writeln!(
                s,
                "if [ \"$failed\" = 0 ]; then (eval {}) </dev/null >\"$T/v{j}\" 2>&1; rc=$?; \
                 if [ $rc = 0 ]; then echo '@@V {j} pass'; else echo \"@@V {j} fail $rc\"; \
                 printf '@@VE {j} '; tail -n 20 \"$T/v{j}\" | base64 -w0; echo; fi; fi",
                quote(cmd)
            );
        }
    }
    s.push_str("echo @@END\n");
    let mut all = s.clone().into_bytes();
    all.extend_from_slice(&stdin);
    Script {
        text: s,
        stdin: all,
    }
}

const PREAMBLE: &str = r#"set -u
# $1 is this script's own temp file (see BOOTSTRAP); it is already open, so remove it.
[ $# -ge 1 ] && rm -f -- "$1"
umask 022
export LC_ALL=C
T=$(mktemp -d) || { echo '@@FATAL mktemp'; exit 97; }
trap 'rm -rf "$T"' EXIT
failed=0
: > "$T/sums"; : > "$T/stats"
# sum_of PATH: $got = PATH's sha256 when the script started ('' when it did not exist)
sum_of() { got=; while read -r h n; do if [ "$n" = "$1" ]; then got=$h; return 0; fi; done < "$T/sums"; }
# stat_of PATH: $got = "MODE OWNER GROUP" and $size, when the script started ('' if none)
stat_of() {
  got=; size=0
  while read -r a u g z n; do if [ "$n" = "$1" ]; then got="$a $u $g"; size=$z; return 0; fi; done < "$T/stats"
}
# old I PATH SIZE: send a file's current content for a diff (when not too large)
old() {
  if [ -f "$2" ] && [ "$3" -le 1048576 ]; then
    printf '@@O %s ' "$1"; base64 -w0 < "$2"; echo
  fi
}
# tmpname PATH: $t = a temp file beside PATH, for an atomic rename; first removes temp
# files that an earlier run cut off (a dropped connection) left beside PATH
tmpname() {
  d=${1%/*}; [ -n "$d" ] || d=/; b=${1##*/}
  for x in "$d/.$b.deskready-"*; do [ -e "$x" ] && rm -f -- "$x"; done
  t="$d/.$b.deskready-$$"
}
# cups CMD...: a CUPS client command, against $cs when set (the print server's cupsd)
cups() { if [ -n "${cs:-}" ]; then CUPS_SERVER="$cs" "$@"; else "$@"; fi; }
# pq_state QUEUE OPTION...: the queue's settings as deskready compares them; fails when
# there is no such queue
pq_state() {
  cups lpstat -v "$1" >/dev/null 2>&1 || return 1
  printf 'uri=%s\n' "$(cups lpstat -v "$1" 2>/dev/null | sed -n 's/^device for [^:]*: //p')"
  pl=$(cups lpstat -l -p "$1" 2>/dev/null)
  printf 'location=%s\n' "$(printf '%s\n' "$pl" | sed -n 's/^\tLocation: //p')"
  printf 'description=%s\n' "$(printf '%s\n' "$pl" | sed -n 's/^\tDescription: //p')"
  po=" $(cups lpoptions -p "$1" 2>/dev/null) "
  case "$po" in *" printer-is-shared=true "*) printf 'shared=true\n' ;; *) printf 'shared=false\n' ;; esac
  printf 'allowed_users=%s\n' "$(printf '%s\n' "$pl" | awk '/^\tUsers allowed:/ {f=1; next} f && /^\t\t/ {sub(/^\t\t/, ""); print; next} {f=0}' | grep -v '^(all)$' | sort | paste -sd, -)"
  pq=$1; shift
  if [ $# -gt 0 ]; then
    pd=$(cups lpoptions -p "$pq" -l 2>/dev/null)
    for k in "$@"; do
      printf 'option %s=%s\n' "$k" "$(printf '%s\n' "$pd" | sed -n "s/^$k\/[^:]*:.* \*\([^ ]*\).*/\1/p" | head -n 1)"
    done
  fi
}
# fail I RC ERRFILE
fail() { echo "@@R $1 failed $2"; printf '@@E %s ' "$1"; tail -n 20 "$3" | base64 -w0; echo; failed=1; }
"#;

/// The `case` pattern that metadata read by `stat_of` ("MODE OWNER GROUP") must match:
/// `*` for what the profile leaves open.
fn meta_pattern(mode: Option<u32>, owner: Option<&str>, group: Option<&str>) -> String {
    let part = |v: Option<String>| v.map_or("*".to_string(), |v| quote(&v));
    format!(
        "{}' '{}' '{}",
        part(mode.map(|m| format!("{m:o}"))),
        part(owner.map(str::to_string)),
        part(group.map(str::to_string))
    )
}

/// `install` options for mode, owner and group: the profile's, else those of the file
/// being replaced (`$cm`, `$co`, `$cg`), else 0644 and the defaults.
fn install_opts(mode: Option<u32>, owner: Option<&str>, group: Option<&str>) -> String {
    let mut o = vec![match mode {
        Some(m) => format!("-m {}", quote(&format!("{m:o}"))),
        None => "-m \"$cm\"".to_string(),
    }];
    o.push(match owner {
        Some(v) => format!("-o {}", quote(v)),
        None => "${co:+-o \"$co\"}".to_string(),
    });
    o.push(match group {
        Some(v) => format!("-g {}", quote(v)),
        None => "${cg:+-g \"$cg\"}".to_string(),
    });
    o.join(" ")
}

/// The probe (and for converge, the fix) of one resource. Digests and metadata of paths
/// come from one `sha256sum` and one `stat` at the start (`sum_of`, `stat_of`), so a
/// resource that is already right costs no process on the device.
fn resource(s: &mut String, phase: Phase, i: usize, r: &ResolvedResource) {
    let fix = phase == Phase::Converge;
    match r.kind() {
        ResourceKind::File {
            path,
            mode,
            owner,
            group,
            ..
        } => {
            let content = r.content().unwrap_or_default();
            let pattern = meta_pattern(*mode, owner.as_deref(), group.as_deref());
            let _ = writeln!(s, "p={}", quote(path));
            let _ = writeln!(
                s,
                "sum_of \"$p\"; if [ \"$got\" = {} ]; then c=0; else c=1; fi",
                digest(content.as_bytes())
            );
            let _ = writeln!(
                s,
                "stat_of \"$p\"; m=$got; md=0; if [ -n \"$m\" ]; then case \"$m\" in {pattern}) ;; *) md=1 ;; esac; fi"
            );
            let _ = writeln!(
                s,
                "if [ $c = 0 ] && [ $md = 0 ]; then echo '@@R {i} ok'; else"
            );
            let _ = writeln!(s, "  [ -n \"$m\" ] && echo \"@@M {i} $m\"");
            let _ = writeln!(s, "  [ $c = 1 ] && old {i} \"$p\" \"$size\"");
            if !fix {
                let _ = writeln!(s, "  echo '@@R {i} drift'");
            } else {
                // Content: a temp file beside the target made by `install` (mode and owner
                // set), synced, renamed. Unspecified metadata is kept from the file replaced.
                let _ = writeln!(
                    s,
                    "  if [ -n \"$m\" ]; then cm=${{m%% *}}; r=${{m#* }}; co=${{r%% *}}; cg=${{r#* }}; else cm=644; co=; cg=; fi"
                );
                let _ = writeln!(
                    s,
                    "  if [ $c = 1 ]; then tmpname \"$p\"; \
                     {{ install {} -- \"$T/f{i}\" \"$t\" && sync \"$t\" && mv -f \"$t\" \"$p\"; }} 2>\"$T/e{i}\" || {{ rm -f \"$t\"; fail {i} 1 \"$T/e{i}\"; }}",
                    install_opts(*mode, owner.as_deref(), group.as_deref())
                );
                let mut set = Vec::new();
                if let Some(m) = mode {
                    set.push(format!("chmod {} \"$p\"", quote(&format!("{m:o}"))));
                }
                match (owner, group) {
                    (Some(o), Some(g)) => {
                        set.push(format!("chown {} \"$p\"", quote(&format!("{o}:{g}"))))
                    }
                    (Some(o), None) => set.push(format!("chown {} \"$p\"", quote(o))),
                    (None, Some(g)) => set.push(format!("chgrp {} \"$p\"", quote(g))),
                    (None, None) => {}
                }
                if set.is_empty() {
                    set.push("true".into());
                }
                let _ = writeln!(
                    s,
                    "  else {{ {}; }} 2>\"$T/e{i}\" || fail {i} 1 \"$T/e{i}\"; fi",
                    set.join(" && ")
                );
                let _ = writeln!(s, "  [ \"$failed\" = 1 ] || echo '@@R {i} changed'");
            }
            s.push_str("fi\n");
        }
        ResourceKind::Directory {
            path,
            mode,
            owner,
            group,
        } => {
            let pattern = meta_pattern(*mode, owner.as_deref(), group.as_deref());
            let _ = writeln!(s, "p={}", quote(path));
            let _ = writeln!(
                s,
                "stat_of \"$p\"; m=$got; dd=1; if [ -d \"$p\" ]; then case \"$m\" in {pattern}) dd=0 ;; esac; fi"
            );
            let _ = writeln!(s, "if [ $dd = 0 ]; then echo '@@R {i} ok'; else");
            let _ = writeln!(s, "  [ -n \"$m\" ] && echo \"@@M {i} $m\"");
            if fix {
                let mut opts = Vec::new();
                if let Some(m) = mode {
                    opts.push(format!("-m {}", quote(&format!("{m:o}"))));
                }
                if let Some(o) = owner {
                    opts.push(format!("-o {}", quote(o)));
                }
                if let Some(g) = group {
                    opts.push(format!("-g {}", quote(g)));
                }
                let _ = writeln!(
                    s,
                    "  install -d {} -- \"$p\" 2>\"$T/e{i}\" && echo '@@R {i} changed' || fail {i} 1 \"$T/e{i}\"",
                    opts.join(" ")
                );
            } else {
                let _ = writeln!(s, "  echo '@@R {i} drift'");
            }
            s.push_str("fi\n");
        }
        ResourceKind::Line { path, line } => {
            let _ = writeln!(s, "p={}; l={}", quote(path), quote(line));
            let _ = writeln!(
                s,
                "if grep -qxF -e \"$l\" -- \"$p\" 2>/dev/null; then echo '@@R {i} ok'; else"
            );
            let _ = writeln!(s, "  stat_of \"$p\"; old {i} \"$p\" \"$size\"");
            if fix {
                // Copy (keeping mode and owner), end the last line, add ours, rename.
                let _ = writeln!(
                    s,
                    "  tmpname \"$p\"; {{ {{ [ ! -e \"$p\" ] || cp -p -- \"$p\" \"$t\"; }} && \
                     {{ [ ! -s \"$t\" ] || sed -i -e '$a\\' \"$t\"; }} && \
                     printf '%s\\n' \"$l\" >> \"$t\" && sync \"$t\" && mv -f \"$t\" \"$p\"; }} 2>\"$T/e{i}\" \
                     && echo '@@R {i} changed' || {{ rm -f \"$t\"; fail {i} 1 \"$T/e{i}\"; }}"
                );
            } else {
                let _ = writeln!(s, "  echo '@@R {i} drift'");
            }
            s.push_str("fi\n");
        }
        ResourceKind::Command {
            command,
            creates,
            unless,
        } => {
            // Profile commands run in a subshell with `eval`: shell syntax as written,
            // without starting another shell.
            let mut guards = Vec::new();
            if let Some(c) = creates {
                guards.push(format!("[ -e {} ]", quote(c)));
            }
            if let Some(u) = unless {
                guards.push(format!("(eval {}) </dev/null >/dev/null 2>&1", quote(u)));
            }
            let guard = if guards.is_empty() {
                "false".to_string()
            } else {
                guards.join(" || ")
            };
            let _ = writeln!(s, "if {guard}; then echo '@@R {i} ok'; else");
            if fix {
                let _ = writeln!(
                    s,
                    "  (eval {}) </dev/null >/dev/null 2>\"$T/e{i}\"; rc=$?; \
                     if [ $rc = 0 ]; then echo '@@R {i} changed'; else fail {i} $rc \"$T/e{i}\"; fi",
                    quote(command)
                );
            } else {
                let _ = writeln!(s, "  echo '@@R {i} drift'");
            }
            s.push_str("fi\n");
        }
        ResourceKind::Package { package } => {
            let _ = writeln!(
                s,
                "if dpkg-query -W -f='${{Status}}' {} 2>/dev/null | grep -q 'ok installed'; then echo '@@R {i} ok'; else",
                quote(package)
            );
            if fix {
                let _ = writeln!(
                    s,
                    "  DEBIAN_FRONTEND=noninteractive apt-get install -y -q {} </dev/null >/dev/null 2>\"$T/e{i}\"; rc=$?; \
                     if [ $rc = 0 ]; then echo '@@R {i} changed'; else fail {i} $rc \"$T/e{i}\"; fi",
                    quote(package)
                );
            } else {
                let _ = writeln!(s, "  echo '@@R {i} drift'");
            }
            s.push_str("fi\n");
        }
        ResourceKind::User {
            user,
            comment,
            shell,
            groups,
        } => {
            let _ = writeln!(
                s,
                "if id -u {} >/dev/null 2>&1; then echo '@@R {i} ok'; else",
                quote(user)
            );
            if fix {
                let mut args = vec!["useradd".to_string(), "--create-home".into()];
                if let Some(c) = comment {
                    args.push("--comment".into());
                    args.push(quote(c));
                }
                if let Some(sh) = shell {
                    args.push("--shell".into());
                    args.push(quote(sh));
                }
                if !groups.is_empty() {
                    args.push("--groups".into());
                    args.push(quote(&groups.join(",")));
                }
                args.push("--".into());
                args.push(quote(user));
                let _ = writeln!(
                    s,
                    "  {} </dev/null >/dev/null 2>\"$T/e{i}\"; rc=$?; \
                     if [ $rc = 0 ]; then echo '@@R {i} changed'; else fail {i} $rc \"$T/e{i}\"; fi",
                    args.join(" ")
                );
            } else {
                let _ = writeln!(s, "  echo '@@R {i} drift'");
            }
            s.push_str("fi\n");
        }
        ResourceKind::PrintQueue {
            queue,
            uri,
            server,
            location,
            description,
            shared,
            options,
            allowed_users,
        } => {
            let want = queue_state(r.kind()).unwrap_or_default();
            let keys: Vec<String> = options.keys().map(|k| quote(k)).collect();
            let _ = writeln!(
                s,
                "cs={}; q={}; want={}",
                quote(server.as_deref().unwrap_or("")),
                quote(queue),
                quote(&want)
            );
            let _ = writeln!(s, "have=$(pq_state \"$q\" {}); exists=$?", keys.join(" "));
            let _ = writeln!(
                s,
                "if [ $exists = 0 ] && [ \"$have\" = \"$want\" ]; then echo '@@R {i} ok'; else"
            );
            let _ = writeln!(
                s,
                "  [ $exists = 0 ] && {{ printf '@@O {i} '; printf '%s\\n' \"$have\" | base64 -w0; echo; }}"
            );
            if fix {
                let mut args = vec![
                    "-v".to_string(),
                    quote(uri),
                    "-L".into(),
                    quote(location.as_deref().unwrap_or("")),
                    "-D".into(),
                    quote(description.as_deref().unwrap_or("")),
                    "-o".into(),
                    quote(&format!("printer-is-shared={shared}")),
                ];
                for (k, v) in options {
                    args.push("-o".into());
                    args.push(quote(&format!("{k}={v}")));
                }
                args.push("-u".into());
                args.push(quote(&if allowed_users.is_empty() {
                    "allow:all".to_string()
                } else {
                    format!("allow:{}", allowed_users.join(","))
                }));
                let args = args.join(" ");
                // A new queue is created first and takes the printer's own capabilities
                // (IPP Everywhere: the printer must answer); settings are applied once its
                // driver exists, since lpadmin ignores driver options given with -m. A
                // driver without the options asked for (made while the printer was off) is
                // made again. A busy cupsd answers "Service Unavailable": every step is
                // tried again, up to 20 times, 0.5 s apart, until the queue reads back right.
                // Queue changes on one print server take turns (flock): many `lpadmin -m
                // everywhere` at once were seen to stall cupsd for half a minute.
                let _ = writeln!(
                    s,
                    "  {{ flock 9; n=0; while :; do rc=0; \
                       if ! cups lpstat -v \"$q\" >/dev/null 2>&1; then \
                         cups lpadmin -p \"$q\" -E -v {uri} -m everywhere </dev/null >/dev/null 2>\"$T/e{i}\" || rc=$?; \
                       elif pq_state \"$q\" {keys} | grep -q '^option [^=]*=$'; then \
                         cups lpadmin -p \"$q\" -v {uri} -m everywhere </dev/null >/dev/null 2>\"$T/e{i}\" || rc=$?; fi; \
                       [ $rc != 0 ] || cups lpadmin -p \"$q\" {args} </dev/null >/dev/null 2>\"$T/e{i}\" || rc=$?; \
                       [ $rc != 0 ] || [ \"$(pq_state \"$q\" {keys})\" != \"$want\" ] || break; \
                       n=$((n + 1)); [ $n -lt 20 ] || break; sleep 0.5; \
                     done; }} 9>/tmp/.deskready-print-queues.lock",
                    uri = quote(uri),
                    keys = keys.join(" ")
                );
                let _ = writeln!(
                    s,
                    "  if [ $rc != 0 ]; then fail {i} $rc \"$T/e{i}\"; \
                     elif [ \"$(pq_state \"$q\" {keys})\" = \"$want\" ]; then echo '@@R {i} changed'; \
                     else pq_state \"$q\" {keys} > \"$T/h{i}\"; \
                     {{ echo 'the print server did not keep these settings (wanted):'; printf '%s\\n' \"$want\" | grep -vxF -f \"$T/h{i}\"; }} > \"$T/e{i}\"; \
                     fail {i} 1 \"$T/e{i}\"; fi",
                    keys = keys.join(" ")
                );
            } else {
                let _ = writeln!(s, "  echo '@@R {i} drift'");
            }
            s.push_str("fi\n");
        }
        ResourceKind::Service { .. } => {}
    }
}

/// What the device reported about one resource.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    /// `ok`, `drift`, `changed`, `failed`, `skipped`.
    pub status: String,
    pub exit_code: Option<i32>,
    /// Content before the change (files and lines), when sent.
    pub old: Option<Vec<u8>>,
    /// `MODE OWNER GROUP` before the change.
    pub meta: Option<String>,
    /// Tail of the failed command's stderr.
    pub stderr: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckResult {
    pub passed: bool,
    pub exit_code: Option<i32>,
    pub output: Option<String>,
}

/// The report of one script run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub resources: BTreeMap<usize, Observed>,
    pub checks: BTreeMap<usize, CheckResult>,
    /// The script reached its end.
    pub complete: bool,
}

/// Reads a script's stdout.
pub fn parse(stdout: &[u8]) -> Report {
    let b64 = |s: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .ok()
    };
    let text = |s: &str| b64(s).map(|b| String::from_utf8_lossy(&b).into_owned());
    let mut rep = Report::default();
    for line in String::from_utf8_lossy(stdout).lines() {
        let mut parts = line.splitn(3, ' ');
        let (Some(tag), Some(idx)) = (parts.next(), parts.next()) else {
            if line == "@@END" {
                rep.complete = true;
            }
            continue;
        };
        let rest = parts.next().unwrap_or("");
        let Ok(i) = idx.parse::<usize>() else {
            continue;
        };
        match tag {
            "@@R" => {
                let r = rep.resources.entry(i).or_default();
                let mut w = rest.split(' ');
                r.status = w.next().unwrap_or("").to_string();
                r.exit_code = w.next().and_then(|c| c.parse().ok());
            }
            "@@O" => rep.resources.entry(i).or_default().old = b64(rest),
            "@@M" => rep.resources.entry(i).or_default().meta = Some(rest.to_string()),
            "@@E" => rep.resources.entry(i).or_default().stderr = text(rest),
            "@@V" => {
                let c = rep.checks.entry(i).or_default();
                let mut w = rest.split(' ');
                c.passed = w.next() == Some("pass");
                c.exit_code = w.next().and_then(|c| c.parse().ok());
            }
            "@@VE" => rep.checks.entry(i).or_default().output = text(rest),
            _ => {}
        }
    }
    rep
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FileSource, Origin, Resource};

    fn res(name: &str, kind: ResourceKind) -> ResolvedResource {
        ResolvedResource {
            resource: Resource {
                name: name.into(),
                kind,
                via: None,
                origin: Origin::default(),
                key_origins: Default::default(),
            },
            template: None,
            sensitive: false,
        }
    }

    fn file(path: &str, content: &str, mode: Option<u32>) -> ResolvedResource {
        res(
            path,
            ResourceKind::File {
                path: path.into(),
                source: FileSource::Content(content.into()),
                mode,
                owner: None,
                group: None,
            },
        )
    }

    /// Runs a script in a local shell, the way the device's shell runs it.
    fn run(phase: Phase, rs: &[ResolvedResource], checks: &[&str]) -> Report {
        let indexed: Vec<(usize, &ResolvedResource)> = rs.iter().enumerate().collect();
        let checks: Vec<(usize, &str)> = checks.iter().copied().enumerate().collect();
        let script = build(phase, &indexed, &checks);
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(BOOTSTRAP.replace("{N}", &script.text.len().to_string()))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&script.stdin)
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let rep = parse(&out.stdout);
        assert!(
            rep.complete,
            "script did not finish:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        rep
    }

    fn statuses(rep: &Report) -> Vec<String> {
        rep.resources.values().map(|o| o.status.clone()).collect()
    }

    #[test]
    fn converge_then_nothing_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let rs = vec![
            res(
                "dir",
                ResourceKind::Directory {
                    path: format!("{d}/etc/app"),
                    mode: Some(0o750),
                    owner: None,
                    group: None,
                },
            ),
            file(&format!("{d}/etc/app/app.conf"), "a = 1\n", Some(0o640)),
            res(
                "line",
                ResourceKind::Line {
                    path: format!("{d}/etc/app/list"),
                    line: "x = $(touch owned)".into(),
                },
            ),
            res(
                "cmd",
                ResourceKind::Command {
                    command: format!("echo hi > {}", quote(&format!("{d}/made"))),
                    creates: Some(format!("{d}/made")),
                    unless: None,
                },
            ),
        ];
        let first = run(Phase::Converge, &rs, &[]);
        assert_eq!(statuses(&first), ["changed"; 4]);
        let conf = std::path::Path::new(&d).join("etc/app/app.conf");
        assert_eq!(std::fs::read_to_string(&conf).unwrap(), "a = 1\n");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&conf).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert_eq!(
            std::fs::read_to_string(format!("{d}/etc/app/list")).unwrap(),
            "x = $(touch owned)\n"
        );
        assert!(
            !std::path::Path::new("owned").exists()
                && !std::path::Path::new(&d).join("owned").exists()
        );
        let mtime = std::fs::metadata(&conf).unwrap().modified().unwrap();

        let second = run(Phase::Converge, &rs, &[]);
        assert_eq!(statuses(&second), ["ok"; 4]);
        assert_eq!(std::fs::metadata(&conf).unwrap().modified().unwrap(), mtime);
    }

    #[test]
    fn plan_reports_drift_with_old_content_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("motd");
        std::fs::write(&p, "old text\n").unwrap();
        let rs = vec![file(&p.display().to_string(), "new text\n", None)];
        let rep = run(Phase::Plan, &rs, &[]);
        assert_eq!(rep.resources[&0].status, "drift");
        assert_eq!(rep.resources[&0].old.as_deref(), Some(&b"old text\n"[..]));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "old text\n");
    }

    #[test]
    fn metadata_only_drift_is_fixed_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, "same\n").unwrap();
        let rs = vec![file(&p.display().to_string(), "same\n", Some(0o600))];
        let rep = run(Phase::Converge, &rs, &[]);
        assert_eq!(rep.resources[&0].status, "changed");
        assert!(rep.resources[&0].old.is_none(), "content did not change");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn a_failed_command_reports_code_and_stderr_and_stops_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let later = dir.path().join("later");
        let rs = vec![
            res(
                "bad",
                ResourceKind::Command {
                    command: "echo first >&2; echo 'no such thing' >&2; exit 3".into(),
                    creates: None,
                    unless: None,
                },
            ),
            file(&later.display().to_string(), "x", None),
        ];
        let rep = run(Phase::Converge, &rs, &["true"]);
        assert_eq!(rep.resources[&0].status, "failed");
        assert_eq!(rep.resources[&0].exit_code, Some(3));
        assert_eq!(
            rep.resources[&0].stderr.as_deref(),
            Some("first\nno such thing\n")
        );
        assert_eq!(rep.resources[&1].status, "skipped");
        assert!(!later.exists());
        assert!(rep.checks.is_empty(), "checks do not run after a failure");
    }

    #[test]
    fn checks_pass_and_fail_with_their_output() {
        let rep = run(Phase::Converge, &[], &["true", "echo nope; exit 1"]);
        assert!(rep.checks[&0].passed);
        assert!(!rep.checks[&1].passed);
        assert_eq!(rep.checks[&1].exit_code, Some(1));
        assert_eq!(rep.checks[&1].output.as_deref(), Some("nope\n"));
    }

    #[test]
    fn hostile_paths_and_contents_stay_literal() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("it's a $(file) `x`");
        let content = "'; touch owned; echo '\n@@R 0 ok\n";
        let rs = vec![file(&p.display().to_string(), content, None)];
        let rep = run(Phase::Converge, &rs, &[]);
        assert_eq!(rep.resources[&0].status, "changed");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), content);
        assert!(!std::path::Path::new("owned").exists());
    }
}
