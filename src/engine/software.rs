//! One device's software over one connection and one program: what is installed, what
//! apt would upgrade and how old its package index is (reads, the index refreshed only when
//! asked), an audit's read (done by the audit's own program, [`audited`]), and an upgrade
//! with what it changed. Blocking, like [`super::device::run`];
//! returns typed results and never prints, stores or decides stages.

use serde::Serialize;

use super::device::{Options, Problem, RunError, Step, connect_to};
use super::script::software::{self as program, Said};
pub use super::script::software::{Read, Upgrade};
use crate::model::{Package, Pending, SoftwareAudit, SoftwareChange, software_changes};
use crate::site::Site;
use crate::transport::RemoteSession;

/// What a read found on one device.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceSoftware {
    pub device: String,
    /// Installed packages, sorted by name then architecture (when asked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installed: Option<Vec<Package>>,
    /// The upgrades apt would make (when asked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending: Option<Vec<Pending>>,
    /// The package index's age (seconds, by the device's clock) when asked; `None` in it:
    /// the device has no index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_age: Option<Option<i64>>,
    /// A refresh of the index that failed, with what apt said (the rest is from the index
    /// as it was).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_failed: Option<String>,
    /// apt could not say what it would upgrade (a broken source, say), with what it said:
    /// `pending` is then unknown, not empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_failed: Option<String>,
}

/// What an upgrade did on one device.
#[derive(Debug, Clone, Serialize)]
pub struct Upgraded {
    pub device: String,
    /// Every package version change, from the lists before and after.
    pub changes: Vec<SoftwareChange>,
    /// apt's exit code (0 when nothing was to be done).
    pub exit_code: i32,
    /// The end of what apt said, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// dpkg found half-done (`before` the upgrade, or `after` a failed one): whether
    /// `dpkg --configure -a` mended it, and what `dpkg --audit` said.
    pub dpkg_repairs: Vec<DpkgRepair>,
    /// The installed packages after it.
    pub after: Vec<Package>,
}

/// What `dpkg --audit` found, and whether `dpkg --configure -a` mended it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DpkgRepair {
    /// `before` the upgrade or `after` it failed.
    pub when: String,
    pub healed: bool,
    /// Another process held dpkg's lock: nothing was tried.
    pub busy: bool,
    pub audit: String,
}

impl Upgraded {
    /// It did what it was asked and left dpkg healthy.
    pub fn succeeded(&self) -> bool {
        self.exit_code == 0 && self.dpkg_repairs.iter().all(|r| r.healed)
    }
}

/// Connects to `tag`.
fn connect(
    site: &Site,
    tag: &str,
    opts: &Options,
    observe: &(dyn Fn(&str, Step) + Sync),
) -> Result<Box<dyn RemoteSession>, Problem> {
    let (session, _target) = connect_to(site, tag, opts, observe).map_err(|e| match e {
        RunError::NotRun(p) | RunError::Cut(p, _, _) => p,
    })?;
    Ok(session)
}

/// Runs `script` in `session`, reads it back.
fn run_in(
    session: &mut dyn RemoteSession,
    tag: &str,
    script: &super::script::Script,
    opts: &Options,
    step: Step,
    observe: &(dyn Fn(&str, Step) + Sync),
) -> Result<Said, Problem> {
    observe(tag, step);
    let out = session
        .run(
            &script.command_within(opts.ssh.command_timeout),
            &script.stdin,
        )
        .map_err(Problem::from)?;
    let said = program::parse(&out.stdout);
    if !said.missing_tools.is_empty() {
        return Err(Problem::MissingTools {
            on: tag.to_string(),
            tools: said.missing_tools,
        });
    }
    if !said.complete {
        let stderr = opts.redactor.redact_bytes(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        return Err(Problem::StoppedEarly {
            on: tag.to_string(),
            exit_code: out.status,
            stderr_tail: lines[lines.len().saturating_sub(5)..].join(" / "),
            needs_sudo_as: None,
        });
    }
    Ok(said)
}

/// Connects to `tag`, runs `script`, reads it back.
fn run(
    site: &Site,
    tag: &str,
    script: &super::script::Script,
    opts: &Options,
    step: Step,
    observe: &(dyn Fn(&str, Step) + Sync),
) -> Result<Said, Problem> {
    let mut session = connect(site, tag, opts, observe)?;
    run_in(session.as_mut(), tag, script, opts, step, observe)
}

/// Reads what `what` asks from device `tag`.
pub fn read(
    site: &Site,
    tag: &str,
    what: Read,
    opts: &Options,
    observe: &(dyn Fn(&str, Step) + Sync),
) -> Result<DeviceSoftware, Problem> {
    let said = run(
        site,
        tag,
        &program::read(what),
        opts,
        Step::Probing,
        observe,
    )?;
    let installed = what.installed.then(|| {
        packages(
            said.dpkg.get("now").map_or("", String::as_str),
            said.apt.get("now").map(String::as_str),
        )
    });
    let pending = what
        .pending
        .then(|| pending(said.simulation.as_deref().unwrap_or("")));
    let index_age = what.pending.then(|| {
        said.index
            .filter(|(newest, _)| *newest > 0)
            .map(|(newest, now)| (now - newest).max(0))
    });
    Ok(DeviceSoftware {
        device: tag.to_string(),
        installed,
        pending,
        index_age,
        refresh_failed: said.refresh.and_then(Result::err),
        pending_failed: said.simulation_failed.map(|o| opts.redactor.redact(&o)),
    })
}

/// An audit's software from what its program said (`sw_audit`, run after its probes):
/// the installed packages and, from the index as it is, the upgrades waiting; what apt
/// said passes `redactor`.
pub fn audited(said: &Said, redactor: &crate::secrets::Redactor) -> SoftwareAudit {
    if said.lacks.as_deref() == Some("dpkg-query") {
        return SoftwareAudit::not_read("no dpkg on the device");
    }
    let Some(dpkg) = said.dpkg.get("now") else {
        return SoftwareAudit::not_read("the program ended before it read the software");
    };
    let installed = packages(dpkg, said.apt.get("now").map(String::as_str));
    let mut out = SoftwareAudit {
        packages: installed.len(),
        installed,
        ..SoftwareAudit::default()
    };
    if said.lacks.is_some() {
        // No apt-get: the packages are known, the upgrades waiting are not.
        return out;
    }
    out.index_age = said
        .index
        .filter(|(newest, _)| *newest > 0)
        .map(|(newest, now)| (now - newest).max(0));
    if let Some(failed) = &said.simulation_failed {
        out.pending_failed = Some(redactor.redact(failed));
    } else if let Some(simulation) = &said.simulation {
        let waiting = pending(simulation);
        out.security = waiting.iter().filter(|p| p.security).count();
        out.pending = Some(waiting);
    }
    out
}

/// A device connected to for an upgrade, with the packages it has before it (so that the
/// caller can remember them before anything changes).
pub struct Upgrading {
    session: Box<dyn RemoteSession>,
    tag: String,
    /// The installed packages now.
    pub before: Vec<Package>,
}

/// Connects to `tag` for an upgrade and lists its packages (the first of the session's two
/// programs); [`Upgrading::upgrade`] runs the upgrade itself.
pub fn begin(
    site: &Site,
    tag: &str,
    opts: &Options,
    observe: &(dyn Fn(&str, Step) + Sync),
) -> Result<Upgrading, Problem> {
    let mut session = connect(site, tag, opts, observe)?;
    let said = run_in(
        session.as_mut(),
        tag,
        &program::listing(),
        opts,
        Step::Probing,
        observe,
    )?;
    Ok(Upgrading {
        session,
        tag: tag.to_string(),
        before: packages(said.dpkg.get("now").map_or("", String::as_str), None),
    })
}

impl Upgrading {
    /// Upgrades the device as `what` says, in the same session.
    pub fn upgrade(
        mut self,
        what: &Upgrade,
        opts: &Options,
        observe: &(dyn Fn(&str, Step) + Sync),
    ) -> Result<Upgraded, Problem> {
        let tag = self.tag.clone();
        let said = run_in(
            self.session.as_mut(),
            &tag,
            &program::upgrade(what),
            opts,
            Step::Applying,
            observe,
        )?;
        Ok(upgraded(&tag, &said, opts))
    }
}

/// Upgrades device `tag` as `what` says.
pub fn upgrade(
    site: &Site,
    tag: &str,
    what: &Upgrade,
    opts: &Options,
    observe: &(dyn Fn(&str, Step) + Sync),
) -> Result<Upgraded, Problem> {
    let said = run(
        site,
        tag,
        &program::upgrade(what),
        opts,
        Step::Applying,
        observe,
    )?;
    Ok(upgraded(tag, &said, opts))
}

fn upgraded(tag: &str, said: &Said, opts: &Options) -> Upgraded {
    let list = |t: &str| packages(said.dpkg.get(t).map_or("", String::as_str), None);
    let (before, after) = (list("before"), list("after"));
    let (exit_code, output) = said.upgrade.clone().unwrap_or((-1, String::new()));
    Upgraded {
        device: tag.to_string(),
        changes: software_changes(&before, &after),
        exit_code,
        output: (exit_code != 0).then(|| opts.redactor.redact(&output)),
        dpkg_repairs: said
            .heal
            .iter()
            .cloned()
            .map(|(when, how, audit)| DpkgRepair {
                when,
                healed: how == "healed",
                busy: how == "busy",
                audit,
            })
            .collect(),
        after,
    }
}

/// The installed packages in dpkg-query's lines (`STATUS\tNAME\tARCH\tVERSION`), with
/// where apt has each from (`apt list --installed`): sorted by name and architecture.
pub fn packages(dpkg: &str, apt: Option<&str>) -> Vec<Package> {
    let origins: std::collections::HashMap<(String, String), String> = apt
        .unwrap_or("")
        .lines()
        .filter_map(|l| {
            // `acme-vpn/stable,now 1.0-1 all [installed]`
            let (name, rest) = l.split_once('/')?;
            let mut w = rest.split_whitespace();
            let (archives, _version, arch) = (w.next()?, w.next()?, w.next()?);
            let from: Vec<&str> = archives.split(',').filter(|a| *a != "now").collect();
            let origin = if from.is_empty() {
                "local".to_string()
            } else {
                from.join(",")
            };
            Some(((name.to_string(), arch.to_string()), origin))
        })
        .collect();
    let mut out: Vec<Package> = dpkg
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let (status, name, arch, version) = (f.next()?, f.next()?, f.next()?, f.next()?);
            // Not installed, or only its configuration left: not on the device.
            if matches!(status.chars().nth(1), Some('n' | 'c') | None) || name.is_empty() {
                return None;
            }
            let origin = origins
                .get(&(name.to_string(), arch.to_string()))
                .cloned()
                .unwrap_or_default();
            Some(Package {
                name: name.to_string(),
                arch: arch.to_string(),
                version: version.to_string(),
                origin,
            })
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The upgrades in a simulated dist-upgrade: its `Inst` lines,
/// `Inst NAME [CURRENT] (CANDIDATE LABEL:ARCHIVE[, …] [ARCH])`.
pub fn pending(simulation: &str) -> Vec<Pending> {
    let mut out: Vec<Pending> = simulation
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("Inst ")?;
            let (name, rest) = rest.split_once(' ')?;
            let rest = rest.trim_start();
            let (current, rest) = match rest.strip_prefix('[') {
                Some(r) => {
                    let (c, r) = r.split_once(']')?;
                    (Some(c.to_string()), r.trim_start())
                }
                None => (None, rest),
            };
            let inner = rest.strip_prefix('(')?;
            let inner = &inner[..inner.rfind(')')?];
            let (candidate, from) = inner.split_once(' ').unwrap_or((inner, ""));
            let (from, arch) = match from.rfind(" [") {
                Some(i) => (&from[..i], from[i + 2..].trim_end_matches(']')),
                None => (from, ""),
            };
            Some(Pending {
                name: name.to_string(),
                arch: arch.to_string(),
                current,
                candidate: candidate.to_string(),
                from: from.to_string(),
                security: from.to_lowercase().contains("security"),
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_packages_and_their_archives() {
        let dpkg = "ii \tacme-vpn\tall\t1.0-1\nrc \told\tall\t0.1\nii \tlibc6\tamd64\t2.36-9\nun \tgone\tall\t\n";
        let apt = "Listing...\nacme-vpn/stable,now 1.0-1 all [installed]\nlibc6/now 2.36-9 amd64 [installed,local]\n";
        let p = packages(dpkg, Some(apt));
        let got: Vec<(&str, &str, &str)> = p
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.origin.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("acme-vpn", "1.0-1", "stable"),
                ("libc6", "2.36-9", "local")
            ]
        );
    }

    #[test]
    fn an_audits_read_says_what_the_device_lacks() {
        use base64::Engine;
        let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let none = crate::secrets::Redactor::none();
        let read = |out: String| audited(&program::parse(out.as_bytes()), &none);
        assert_eq!(
            read("@@SWN dpkg-query\n".into()).not_read.as_deref(),
            Some("no dpkg on the device")
        );
        let no_apt = read(format!(
            "@@SWP now {}\n@@SWN apt-get\n",
            b("ii \tacme-tool\tall\t1.0-1\n")
        ));
        assert_eq!((no_apt.not_read, no_apt.packages), (None, 1));
        assert_eq!(no_apt.pending, None);
        let all = read(format!(
            "@@SWP now {}\n@@SWI 100 160\n@@SWS {}\n",
            b("ii \tacme-tool\tall\t1.0-1\n"),
            b("Inst acme-tool [1.0-1] (1.0-2 Acme Security:stable-security [all])\n")
        ));
        assert_eq!(all.index_age, Some(60));
        assert_eq!((all.pending.map(|p| p.len()), all.security), (Some(1), 1));
        assert!(
            read(String::new()).not_read.is_some(),
            "a program cut before its read"
        );
    }

    #[test]
    fn pending_upgrades_and_which_are_security() {
        let sim = "NOTE: This is only a simulation!\n\
            Inst acme-tool [1.0-1] (1.0-2 Acme Security:stable-security [all])\n\
            Inst acme-extra [1.0-1] (1.1-1 Acme:stable [all]) []\n\
            Inst newdep (2.0 Debian:12.5/stable, Debian:12.5/stable-updates [amd64])\n\
            Conf acme-tool (1.0-2 Acme Security:stable-security [all])\n";
        let p = pending(sim);
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].name, "acme-extra");
        assert!(!p[0].security);
        assert_eq!(p[1].name, "acme-tool");
        assert_eq!(p[1].current.as_deref(), Some("1.0-1"));
        assert_eq!(p[1].candidate, "1.0-2");
        assert_eq!(p[1].from, "Acme Security:stable-security");
        assert_eq!(p[1].arch, "all");
        assert!(p[1].security);
        assert_eq!(p[2].current, None);
        assert_eq!(p[2].from, "Debian:12.5/stable, Debian:12.5/stable-updates");
    }
}
