//! Plan or converge one device: group its resources by the device they run on (itself, or
//! another `via:`), open one connection per such device, run one script on it, and turn
//! the report into outcomes with diffs and digests. Blocking; the fleet layer runs it in
//! `spawn_blocking`. Never prints: progress goes to the observer, results are returned.
//!
//! Secrets: a sensitive resource's old content is never fetched, its change is shown as
//! [`SENSITIVE_CHANGE`] and no digest of it is kept; every text that comes back from a
//! device (command output, check output, diffs, stderr) passes the run's
//! [`Redactor`] before it enters a [`DeviceRun`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

use super::script::{self, Phase, TestPage, digest};
use crate::model::{Device, DeviceKind, ResourceKind, SoftwareAudit, Standing};
use crate::resolve::{Resolved, ResolvedResource};
use crate::secrets::Redactor;
use crate::site::Site;
use crate::transport::{HostKeyPins, RemoteSession, SshOptions, Target, Transport};

/// What a run may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Probe and report; change nothing.
    Plan,
    /// Probe, fix what differs, verify.
    Configure,
    /// Probe and report (like plan), ask printers over IPP, record the result.
    Audit,
    /// Upgrade the device's packages (`engine::software`; its run lists each package
    /// version changed as a resource).
    Upgrade,
}

pub use super::problem::{Problem, Problems, is_connection_failure};
pub use crate::model::{Outcome, ResourceStatus};

/// The state of one resource after the run (the model's [`ResourceStatus`]).
pub type Status = ResourceStatus;

/// The diff shown for a sensitive file or line whose content differs.
pub const SENSITIVE_CHANGE: &str = "content changed (sensitive)";

/// The output shown for a failed check whose command was rendered from a secret (its
/// output may quote the secret in a form the [`Redactor`] does not know).
pub const SENSITIVE_OUTPUT: &str = "output hidden (sensitive check)";

#[derive(Debug, Clone, Serialize)]
pub struct ResourceOutcome {
    pub name: String,
    pub kind: &'static str,
    /// The device the resource is applied on.
    pub on: String,
    pub status: Status,
    /// What differs, in a few words each ("missing", "content", "mode 0644 → 0600"),
    /// when it drifted or changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differs: Vec<String>,
    /// Unified diff, for files and lines whose content differs (a new file's against
    /// `/dev/null`); none when only metadata differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// sha256 of the content before and after (files), never the content itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_digest: Option<String>,
    /// `MODE OWNER GROUP` before a change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta_before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Rendered from a secret: no content, diff or digest of it is shown or kept.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckOutcome {
    pub name: String,
    pub passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// Everything about one device's run.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceRun {
    pub device: String,
    pub mode: Mode,
    pub outcome: Outcome,
    pub resources: Vec<ResourceOutcome>,
    pub verify: Vec<CheckOutcome>,
    /// SSH connections opened and exec channels used, over all devices worked on.
    pub connections: u32,
    pub channels: u32,
    pub elapsed_ms: u64,
    /// What went wrong, when the outcome is failed or unreachable.
    #[serde(flatten)]
    pub problems: Problems,
    /// What a printer said about itself over IPP (configure and audit of a printer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub printer: Option<crate::printer::PrinterStatus>,
    /// An audit's software: read by the device's own program, then compared with its
    /// last snapshot by the caller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub software: Option<SoftwareAudit>,
    /// An audit's word on the device's physical check and what is overdue (the caller's,
    /// from the store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standing: Option<Standing>,
}

impl DeviceRun {
    pub fn count(&self, status: Status) -> usize {
        self.resources.iter().filter(|r| r.status == status).count()
    }
}

/// Where a run is, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// A printer asked over IPP, directly, whether it answers (before its print server is
    /// worked on).
    Asking,
    Connecting,
    Probing,
    Applying,
    Verifying,
}

/// Connection settings shared by every device of a run.
#[derive(Clone)]
pub struct Options {
    pub ssh: SshOptions,
    pub pins: Arc<dyn HostKeyPins>,
    /// How many times to try again when a device cannot be reached (connection refused,
    /// no answer); waits 0.5 s, 1 s, 2 s, ... between tries. Other failures are not retried.
    pub retries: u32,
    /// After configuring a printer, print a test page through its queue and wait for it.
    pub test_page: bool,
    /// How devices are reached: [`crate::transport::Ssh`], or a local fake in tests.
    pub transport: Arc<dyn Transport>,
    /// Print servers found down (their cupsd does not answer) during this rollout, shared
    /// by its devices: a printer whose queue is on one is failed without connecting.
    pub down_print_servers: Arc<Mutex<BTreeSet<String>>>,
    /// Hides the run's secret values in everything that comes back from devices.
    pub redactor: Redactor,
    /// How printers are asked about themselves ([`crate::printer::Ipp`], within the
    /// connect timeout).
    pub printers: Arc<dyn crate::printer::PrinterQuery>,
}

/// The SSH target of `tag`, or why there is none.
pub fn target_of(site: &Site, tag: &str) -> Result<Target, String> {
    let d = site
        .device(tag)
        .ok_or_else(|| format!("unknown device `{tag}`"))?;
    let ssh = d.address.ssh.as_ref().ok_or_else(|| {
        if d.address.uri.is_some() {
            format!("{tag} is reached at its IPP URI, not over SSH; its resources run `via:` a print server")
        } else {
            format!("{tag} has no `ssh:` address in the inventory")
        }
    })?;
    let identity = ssh.identity.as_ref().map(|p| {
        let p = std::path::PathBuf::from(p);
        if p.is_relative() {
            site.root.join(p)
        } else {
            p
        }
    });
    Ok(Target {
        device: tag.to_string(),
        host: ssh.host.clone(),
        port: ssh.port,
        user: ssh.user.clone(),
        identity,
    })
}

/// A device's run before anything ran: every supported resource ok, the others
/// unsupported.
pub(super) fn initial_run(resolved: &Resolved, mode: Mode) -> DeviceRun {
    let tag = resolved.device.as_str();
    DeviceRun {
        device: tag.to_string(),
        mode,
        outcome: Outcome::Ok,
        resources: resolved
            .resources
            .iter()
            .map(|r| ResourceOutcome {
                name: r.name().to_string(),
                kind: r.kind().keyword(),
                on: r.resource.via.clone().unwrap_or_else(|| tag.to_string()),
                status: if script::supported(r.kind()) {
                    Status::Ok
                } else {
                    Status::Unsupported
                },
                differs: Vec::new(),
                diff: None,
                old_digest: None,
                new_digest: r
                    .content()
                    .filter(|_| !r.sensitive)
                    .map(|c| digest(c.as_bytes())),
                meta_before: None,
                exit_code: None,
                message: (!script::supported(r.kind())).then(|| {
                    format!(
                        "{} resources are not supported yet; left alone",
                        r.kind().keyword()
                    )
                }),
                sensitive: r.sensitive,
            })
            .collect(),
        verify: Vec::new(),
        connections: 0,
        channels: 0,
        elapsed_ms: 0,
        problems: Problems::default(),
        printer: None,
        software: None,
        standing: None,
    }
}

/// Plans or converges `resolved` on its device(s).
pub fn run(
    site: &Site,
    resolved: &Resolved,
    mode: Mode,
    opts: &Options,
    observe: &(dyn Fn(&str, Step) + Sync),
) -> DeviceRun {
    let started = Instant::now();
    let tag = resolved.device.as_str();
    let mut run = initial_run(resolved, mode);

    // Resources by the device they run on; the device itself first.
    let mut by_target: BTreeMap<(bool, String), Vec<(usize, &ResolvedResource)>> = BTreeMap::new();
    for (i, r) in resolved.resources.iter().enumerate() {
        if script::supported(r.kind()) {
            let on = run.resources[i].on.clone();
            by_target.entry((on != tag, on)).or_default().push((i, r));
        }
    }
    let checks: Vec<(usize, &str)> = if mode == Mode::Configure {
        resolved
            .verify
            .iter()
            .enumerate()
            .map(|(j, c)| (j, c.command.as_str()))
            .collect()
    } else {
        Vec::new()
    };
    if !checks.is_empty() {
        by_target.entry((false, tag.to_string())).or_default();
    }
    // An audit reads a device's software in its own program, over the same connection
    // (a device reached only over IPP has none to read).
    let reads_software =
        mode == Mode::Audit && site.device(tag).is_some_and(|d| d.address.ssh.is_some());
    if reads_software {
        by_target.entry((false, tag.to_string())).or_default();
    }

    let mut unreachable = false;
    // A printer is asked over IPP before its queue is touched: one that does not answer
    // costs one connect timeout (in parallel with the others) and never takes the print
    // server's queue lock.
    let printer = match site.device(tag) {
        Some(d) if mode != Mode::Plan && d.kind == DeviceKind::Printer => {
            d.address.uri.as_deref().map(|uri| (d, uri))
        }
        _ => None,
    };
    let mut answered = None;
    if mode == Mode::Configure
        && let Some((d, uri)) = printer
    {
        observe(tag, Step::Asking);
        match opts.printers.ask(uri) {
            Ok(status) => answered = Some(status),
            Err(e) => {
                run.verify.push(no_ipp_answer(d, uri, &e));
                unreachable = true;
                by_target.clear();
                for r in &mut run.resources {
                    if r.status != Status::Unsupported {
                        r.status = Status::Unreached;
                    }
                }
            }
        }
    }
    for ((_, on), items) in by_target {
        let own = on == tag;
        if let Some(problem) = known_down(&on, &items, opts) {
            run.problems.push(problem);
            mark_unreached(&mut run, &items);
            continue;
        }
        let phase = if mode == Mode::Configure {
            Phase::Converge
        } else {
            Phase::Plan
        };
        let target_checks: &[(usize, &str)] = if own { &checks } else { &[] };
        let tail: &[&'static str] = if own && reads_software {
            &script::software::AUDIT
        } else {
            &[]
        };
        match run_on(site, &on, phase, &items, target_checks, tail, opts, observe) {
            Ok((report, channels)) => {
                run.connections += 1;
                run.channels += channels;
                if own && reads_software {
                    run.software = Some(super::software::audited(
                        &script::software::parse(report.software.as_bytes()),
                        &opts.redactor,
                    ));
                }
                absorb(&mut run, &items, &report, &opts.redactor);
                note_down(&mut run, &on, &items, &report, opts);
                if own {
                    for (j, c) in resolved.verify.iter().enumerate() {
                        if let Some(r) = report.checks.get(&j) {
                            run.verify.push(CheckOutcome {
                                name: c.name.clone(),
                                passed: r.passed,
                                exit_code: r.exit_code,
                                output: r.output.as_deref().map(|o| {
                                    if c.sensitive {
                                        SENSITIVE_OUTPUT.to_string()
                                    } else {
                                        opts.redactor.redact(o)
                                    }
                                }),
                            });
                        }
                    }
                }
                if !report.complete {
                    run.problems.push(Problem::BrokeOff { on: on.clone() });
                }
            }
            Err(RunError::NotRun(problem)) => {
                unreachable |= problem.is_unreachable();
                run.problems.push(problem);
                mark_unreached(&mut run, &items);
            }
            Err(RunError::Cut(problem, report, channels)) => {
                run.connections += 1;
                run.channels += channels;
                run.problems.push(problem);
                // What it reported on happened (a file it changed is journaled); the
                // rest was not reached, or was cut off and killed on the device. Its
                // checks did not all run: none is reported.
                let (told, untold): (Vec<_>, Vec<_>) = items
                    .iter()
                    .copied()
                    .partition(|(i, _)| report.resources.contains_key(i));
                absorb(&mut run, &told, &report, &opts.redactor);
                note_down(&mut run, &on, &told, &report, opts);
                mark_unreached(&mut run, &untold);
            }
        }
    }

    if !unreachable && let Some((d, uri)) = printer {
        observe(tag, Step::Verifying);
        let (checks, status) = verify_printer(site, resolved, d, uri, opts, answered);
        run.printer = status;
        // A printer that does not answer is unreachable, as a device that does not answer SSH.
        if checks.first().is_some_and(|c| !c.passed) {
            unreachable = true;
        }
        run.verify.extend(checks);
    }

    conclude(&mut run, unreachable);
    run.elapsed_ms = started.elapsed().as_millis() as u64;
    run
}

/// The run's problems from its failed resources and checks, and its outcome.
pub(super) fn conclude(run: &mut DeviceRun, unreachable: bool) {
    for r in &run.resources {
        if r.status == Status::Failed {
            run.problems.push(Problem::ResourceFailed {
                resource: r.name.clone(),
                on: r.on.clone(),
                exit_code: r.exit_code,
                message: r.message.clone(),
            });
        }
    }
    for c in &run.verify {
        if !c.passed {
            run.problems.push(Problem::CheckFailed {
                check: c.name.clone(),
                exit_code: c.exit_code,
                output: c.output.clone(),
            });
        }
    }
    run.outcome = if unreachable {
        Outcome::Unreachable
    } else if !run.problems.is_empty() {
        Outcome::Failed
    } else if run
        .resources
        .iter()
        .any(|r| matches!(r.status, Status::Changed | Status::Drift))
    {
        Outcome::Changed
    } else {
        Outcome::Ok
    };
}

/// A printer asked over IPP: it answers, it is the model the inventory says; and with
/// `--test-page`, a page printed through its queue completes.
pub(super) fn verify_printer(
    site: &Site,
    resolved: &Resolved,
    d: &Device,
    uri: &str,
    opts: &Options,
    answered: Option<crate::printer::PrinterStatus>,
) -> (Vec<CheckOutcome>, Option<crate::printer::PrinterStatus>) {
    let mut out = Vec::new();
    let status = match answered.map_or_else(|| opts.printers.ask(uri), Ok) {
        Ok(s) => s,
        Err(e) => {
            out.push(no_ipp_answer(d, uri, &e));
            return (out, None);
        }
    };
    out.push(CheckOutcome {
        name: "printer answers over IPP".into(),
        passed: true,
        exit_code: None,
        output: Some(status.describe()),
    });
    let same = crate::printer::same_model(&status.make_and_model, &d.model);
    out.push(CheckOutcome {
        name: "printer is the model in the inventory".into(),
        passed: same,
        exit_code: None,
        output: (!same).then(|| {
            format!(
                "{} at {uri} reports itself as \"{}\", but the inventory says \"{}\"",
                d.tag, status.make_and_model, d.model
            )
        }),
    });
    if opts.test_page && same {
        out.push(test_page(site, resolved, d, opts));
    }
    (out, Some(status))
}

/// The failed check of a printer that does not answer over IPP.
pub(super) fn no_ipp_answer(d: &Device, uri: &str, e: &str) -> CheckOutcome {
    CheckOutcome {
        name: "printer answers over IPP".into(),
        passed: false,
        exit_code: None,
        output: Some(format!("{} at {uri} does not answer over IPP: {e}", d.tag)),
    }
}

/// The CUPS server a print queue among `items` names ('' for the device's own cupsd).
fn cups_of(items: &[(usize, &ResolvedResource)]) -> Option<String> {
    items.iter().find_map(|(_, r)| match r.kind() {
        ResourceKind::PrintQueue { server, .. } => Some(server.clone().unwrap_or_default()),
        _ => None,
    })
}

/// When `on` is a print server already found down in this rollout and `items` are only
/// print queues there: the problem to report without connecting.
pub(super) fn known_down(
    on: &str,
    items: &[(usize, &ResolvedResource)],
    opts: &Options,
) -> Option<Problem> {
    let all_queues = !items.is_empty()
        && items
            .iter()
            .all(|(_, r)| matches!(r.kind(), ResourceKind::PrintQueue { .. }));
    let down = opts
        .down_print_servers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(on);
    (all_queues && down).then(|| Problem::PrintServerDown {
        server: on.to_string(),
        cups: cups_of(items).unwrap_or_default(),
    })
}

/// Queues whose print server said its scheduler does not answer: not reached, one
/// problem for the server, remembered for the rest of the rollout.
pub(super) fn note_down(
    run: &mut DeviceRun,
    on: &str,
    items: &[(usize, &ResolvedResource)],
    report: &script::Report,
    opts: &Options,
) {
    let down: Vec<usize> = items
        .iter()
        .map(|(i, _)| *i)
        .filter(|i| report.resources.get(i).is_some_and(|o| o.print_server_down))
        .collect();
    if down.is_empty() {
        return;
    }
    for i in &down {
        run.resources[*i].status = Status::Unreached;
        run.resources[*i].exit_code = None;
    }
    opts.down_print_servers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(on.to_string());
    // The scheduler that did not answer: the one the queues found down were reached at.
    let at: Vec<(usize, &ResolvedResource)> = items
        .iter()
        .filter(|(i, _)| down.contains(i))
        .copied()
        .collect();
    run.problems.push(Problem::PrintServerDown {
        server: on.to_string(),
        cups: cups_of(&at).unwrap_or_default(),
    });
}

/// Prints a page through the device's queue on its print server and waits for the job.
fn test_page(site: &Site, resolved: &Resolved, d: &Device, opts: &Options) -> CheckOutcome {
    let name = "test page printed".to_string();
    let failed = |msg: String| CheckOutcome {
        name: name.clone(),
        passed: false,
        exit_code: None,
        output: Some(msg),
    };
    let Some((queue, server, on)) = resolved.resources.iter().find_map(|r| match r.kind() {
        ResourceKind::PrintQueue { queue, server, .. } if !r.resource.absent => Some((
            queue.clone(),
            server.clone().unwrap_or_default(),
            r.resource.via.clone()?,
        )),
        _ => None,
    }) else {
        return failed(format!(
            "{} has no print_queue resource to print through",
            d.tag
        ));
    };
    let program = script::test_page(&server, &queue, &d.tag);
    let target = match target_of(site, &on) {
        Ok(t) => t,
        Err(e) => return failed(e),
    };
    let mut session = match opts
        .transport
        .connect(&target, &opts.ssh, opts.pins.as_ref())
    {
        Ok(s) => s,
        Err(e) => return failed(e.to_string()),
    };
    let out = match session.run(
        &program.command_within(opts.ssh.command_timeout),
        &program.stdin,
    ) {
        Ok(o) => o,
        Err(e) => return failed(e.to_string()),
    };
    match TestPage::parse(&out.stdout) {
        TestPage::Completed { job } => CheckOutcome {
            name,
            passed: true,
            exit_code: None,
            output: Some(format!("job {job} completed on queue {queue} (via {on})")),
        },
        TestPage::TimedOut { job } => failed(format!(
            "job {job} on queue {queue} did not complete within 60s"
        )),
        TestPage::Refused { why } => failed(format!("lp on {on} refused the page: {why}")),
    }
}

/// A retired printer's queue removed (`remove`), or a returned one's disabled, on the print
/// server its `print_queue` resource names: the queue, the print server, and what became
/// of it; `None` when the device has no such resource.
pub fn drop_queue(
    site: &Site,
    resolved: &Resolved,
    remove: bool,
    opts: &Options,
) -> Option<(String, String, script::QueueDropped)> {
    let (queue, server, on) = resolved.resources.iter().find_map(|r| match r.kind() {
        ResourceKind::PrintQueue { queue, server, .. } => Some((
            queue.clone(),
            server.clone().unwrap_or_default(),
            r.resource
                .via
                .clone()
                .unwrap_or_else(|| resolved.device.clone()),
        )),
        _ => None,
    })?;
    let failed = |why: String| {
        Some((
            queue.clone(),
            on.clone(),
            script::QueueDropped::Failed { why },
        ))
    };
    let target = match target_of(site, &on) {
        Ok(t) => t,
        Err(e) => return failed(e),
    };
    let mut session = match opts
        .transport
        .connect(&target, &opts.ssh, opts.pins.as_ref())
    {
        Ok(s) => s,
        Err(e) => return failed(e.to_string()),
    };
    let program = script::queue_drop(&server, &queue, remove);
    match session.run(
        &program.command_within(opts.ssh.command_timeout),
        &program.stdin,
    ) {
        Ok(out) => Some((
            queue.clone(),
            on.clone(),
            script::QueueDropped::parse(&out.stdout),
        )),
        Err(e) => failed(e.to_string()),
    }
}

pub(super) enum RunError {
    /// Not connected, or the program could not be run.
    NotRun(Problem),
    /// Cut off while running (timed out, connection lost), or ended before its end (killed
    /// on the device, a shell error, contents that did not all arrive), after reporting
    /// on none or some resources: what it reported, and the channels used.
    Cut(Problem, Box<script::Report>, u32),
}

/// Connects to `on`, trying again as the options say.
pub(super) fn connect_to(
    site: &Site,
    on: &str,
    opts: &Options,
    observe: &(dyn Fn(&str, Step) + Sync),
) -> Result<(Box<dyn RemoteSession>, Target), RunError> {
    let target = target_of(site, on).map_err(|message| {
        RunError::NotRun(Problem::NoAddress {
            device: on.to_string(),
            message,
        })
    })?;
    observe(on, Step::Connecting);
    let mut attempt = 0;
    let session: Box<dyn RemoteSession> = loop {
        match opts
            .transport
            .connect(&target, &opts.ssh, opts.pins.as_ref())
        {
            Ok(s) => break s,
            Err(e) if is_connection_failure(&e) && attempt < opts.retries => {
                opts.transport
                    .back_off(std::time::Duration::from_millis(500 << attempt.min(4)));
                attempt += 1;
            }
            Err(e) => return Err(RunError::NotRun(e.into())),
        }
    };
    Ok((session, target))
}

/// Connects to `on` and runs one script there (`tail` run after its resources); returns
/// the report and channels used.
#[allow(clippy::too_many_arguments)]
pub(super) fn run_on(
    site: &Site,
    on: &str,
    phase: Phase,
    items: &[(usize, &ResolvedResource)],
    checks: &[(usize, &str)],
    tail: &[&'static str],
    opts: &Options,
    observe: &(dyn Fn(&str, Step) + Sync),
) -> Result<(script::Report, u32), RunError> {
    let (mut session, target) = connect_to(site, on, opts, observe)?;
    observe(
        on,
        if phase == Phase::Plan {
            Step::Probing
        } else {
            Step::Applying
        },
    );
    let script = script::build_with(phase, items, checks, tail);
    run_script(session.as_mut(), &target, on, &script, opts)
}

/// Runs `script` in `session` on `on`; returns the report and channels used.
pub(super) fn run_script(
    session: &mut dyn RemoteSession,
    target: &Target,
    on: &str,
    script: &script::Script,
    opts: &Options,
) -> Result<(script::Report, u32), RunError> {
    let out = match session.run(
        &script.command_within(opts.ssh.command_timeout),
        &script.stdin,
    ) {
        Ok(out) => out,
        Err(e) => {
            // Cut off while running (a timeout, a dropped connection): what the device
            // reported until then still happened, and is kept.
            let report = script::parse(&session.partial_stdout());
            let channels = session.channels_opened();
            return Err(if report.resources.is_empty() {
                RunError::NotRun(e.into())
            } else {
                RunError::Cut(e.into(), Box::new(report), channels)
            });
        }
    };
    let report = script::parse(&out.stdout);
    if !report.missing_tools.is_empty() {
        // Nothing ran: every resource is unreached.
        return Err(RunError::Cut(
            Problem::MissingTools {
                on: on.to_string(),
                tools: report.missing_tools.clone(),
            },
            Box::new(report),
            session.channels_opened(),
        ));
    }
    if !report.complete {
        let stderr = opts.redactor.redact_bytes(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        let stderr_tail = lines[lines.len().saturating_sub(5)..].join(" / ");
        // sudo names itself on stderr when it refuses a user without passwordless sudo.
        let needs_sudo_as = stderr.contains("sudo:").then(|| target.user.clone());
        // What it reported until then happened (a file it changed is journaled).
        return Err(RunError::Cut(
            Problem::StoppedEarly {
                on: on.to_string(),
                exit_code: out.status,
                stderr_tail,
                needs_sudo_as,
            },
            Box::new(report),
            session.channels_opened(),
        ));
    }
    Ok((report, session.channels_opened()))
}

pub(super) fn mark_unreached(run: &mut DeviceRun, items: &[(usize, &ResolvedResource)]) {
    for (i, _) in items {
        run.resources[*i].status = Status::Unreached;
    }
}

/// Folds a script report into the resource outcomes, hiding secrets in what came back.
pub(super) fn absorb(
    run: &mut DeviceRun,
    items: &[(usize, &ResolvedResource)],
    report: &script::Report,
    redactor: &Redactor,
) {
    for (i, r) in items {
        let out = &mut run.resources[*i];
        let Some(obs) = report.resources.get(i) else {
            out.status = Status::Failed;
            out.message = Some("the device did not report on this resource".into());
            continue;
        };
        out.status = obs.status;
        out.exit_code = obs.exit_code;
        out.meta_before = obs.meta.clone();
        if let Some(stderr) = &obs.stderr {
            out.message = Some(redactor.redact(stderr));
        }
        if matches!(out.status, Status::Drift | Status::Changed) {
            out.differs = script::kinds::of(r.kind())
                .differs(r, obs)
                .iter()
                .map(|d| redactor.redact(d))
                .collect();
        }
        if r.sensitive {
            // Never fetched, never digested: only whether the content differs.
            out.diff = obs.differs.then(|| SENSITIVE_CHANGE.to_string());
            out.new_digest = None;
            continue;
        }
        if matches!(out.status, Status::Drift | Status::Changed) {
            let (diff, new_text) = match summary_of(r, obs) {
                Some(line) => (Some(line), None),
                None => diff_of(r, obs),
            };
            out.diff = diff.map(|d| redactor.redact(&d));
            if let Some(old) = &obs.old {
                out.old_digest = Some(digest(old));
            } else if let Some((sha, _)) = &obs.before {
                out.old_digest = Some(sha.clone());
            }
            if let Some(t) = new_text
                && script::kinds::of(r.kind()).digests_wanted()
            {
                out.new_digest = Some(digest(t.as_bytes()));
            }
        }
    }
}

/// One line instead of a diff for a file whose content changed and that is too large to
/// diff (more than [`script::DIFF_LIMIT`] on either side) or binary (not UTF-8, or with a
/// NUL byte): sizes and digests before and after.
fn summary_of(r: &ResolvedResource, obs: &script::Observed) -> Option<String> {
    let new = r.content()?;
    let new_sha = digest(new.as_bytes());
    let Some((old_sha, old_size)) = obs.before.as_ref() else {
        // A new file: nothing to compare, but too large to show.
        return (obs.old.is_none() && new.len() as u64 > script::DIFF_LIMIT).then(|| {
            format!(
                "large content, not shown: a new file of {} bytes (sha256 {}) in the profile",
                new.len(),
                &new_sha[..12]
            )
        });
    };
    let binary = |b: &[u8]| b.contains(&0) || std::str::from_utf8(b).is_err();
    let large = *old_size > script::DIFF_LIMIT || new.len() as u64 > script::DIFF_LIMIT;
    let old_binary = obs.old.as_deref().is_some_and(binary);
    if !large && !old_binary && !binary(new.as_bytes()) {
        return None;
    }
    Some(format!(
        "{} content differs, not shown: {} bytes (sha256 {}) on the device, {} bytes (sha256 {}) in the profile",
        if large { "large" } else { "binary" },
        old_size,
        &old_sha[..12.min(old_sha.len())],
        new.len(),
        &new_sha[..12],
    ))
}

/// A unified diff between what the device has and what the profile wants, and the
/// content the profile wants. A thing the device does not have is diffed against
/// `/dev/null`; one whose content is as wanted (only its metadata differs: the device
/// sent metadata but no content) has no diff.
fn diff_of(r: &ResolvedResource, obs: &script::Observed) -> (Option<String>, Option<String>) {
    let old_text = obs
        .old
        .as_deref()
        .map(|o| String::from_utf8_lossy(o).into_owned());
    let Some((path, new_text)) = script::kinds::of(r.kind()).wanted(r, old_text.as_deref()) else {
        return (None, None);
    };
    let sent_content = obs.old.is_some() || obs.before.is_some();
    if obs.meta.is_some() && !sent_content {
        return (None, Some(new_text)); // metadata only
    }
    let from = if obs.meta.is_none() && !sent_content {
        "/dev/null".to_string()
    } else {
        format!("{path} (on device)")
    };
    let old_text = old_text.unwrap_or_default();
    if old_text == new_text {
        return (None, Some(new_text));
    }
    let diff = similar::TextDiff::from_lines(&old_text, &new_text);
    let unified = diff
        .unified_diff()
        .context_radius(3)
        .header(&from, &format!("{path} (profile)"))
        .to_string();
    (Some(unified), Some(new_text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testkit;
    use crate::transport::{Behaviour, Local};
    use std::time::Duration;

    fn quiet(_: &str, _: Step) {}

    #[test]
    fn a_sensitive_file_shows_no_content_and_device_output_is_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let site = testkit::site(dir.path(), &["LAP-1"]);
        let local = Arc::new(Local::in_root(dir.path()));
        let mut opts = testkit::options(local, 0);
        opts.redactor = Redactor::new([("psk", "hunter2-psk")]);
        let target = dir.path().join("wifi.conf");
        std::fs::write(&target, "psk=old-hunter2-psk\n").unwrap();
        let mut wifi = testkit::file(&target, "psk=hunter2-psk\n");
        wifi.sensitive = true;
        let loud = testkit::resource(
            "loud",
            ResourceKind::Command {
                command: "echo said hunter2-psk >&2; exit 3".into(),
                creates: None,
                unless: None,
            },
        );
        let mut work = testkit::resolved("LAP-1", vec![wifi]);

        let plan = run(&site, &work, Mode::Plan, &opts, &quiet);
        let r = &plan.resources[0];
        assert_eq!(r.status, Status::Drift);
        assert_eq!(r.diff.as_deref(), Some(SENSITIVE_CHANGE));
        assert_eq!((&r.old_digest, &r.new_digest), (&None, &None));
        assert!(r.sensitive);

        work.resources.push(loud);
        let done = run(&site, &work, Mode::Configure, &opts, &quiet);
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            "psk=hunter2-psk\n"
        );
        assert_eq!(done.resources[0].diff.as_deref(), Some(SENSITIVE_CHANGE));
        assert_eq!(
            done.resources[1].message.as_deref(),
            Some("said [secret psk]\n")
        );
        let json = serde_json::to_string(&done).unwrap();
        assert!(!json.contains("hunter2"), "{json}");
        assert!(json.contains("[secret psk]"), "{json}");
    }

    #[test]
    fn configure_changes_then_finds_nothing_to_do_over_one_channel() {
        let dir = tempfile::tempdir().unwrap();
        let site = testkit::site(dir.path(), &["LAP-1"]);
        let local = Arc::new(Local::in_root(dir.path()));
        let opts = testkit::options(local.clone(), 0);
        let target = dir.path().join("motd");
        let work = testkit::resolved("LAP-1", vec![testkit::file(&target, "hello\n")]);

        let first = run(&site, &work, Mode::Configure, &opts, &quiet);
        assert_eq!(first.outcome, Outcome::Changed, "{:?}", first.problems);
        assert_eq!((first.connections, first.channels), (1, 1));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "hello\n");

        let plan = run(&site, &work, Mode::Plan, &opts, &quiet);
        assert_eq!(plan.outcome, Outcome::Ok);
        assert_eq!(plan.count(Status::Ok), 1);
        assert_eq!(local.connects("LAP-1"), 2);
    }

    #[test]
    fn a_mode_only_change_has_no_diff_and_a_new_file_is_diffed_against_dev_null() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let site = testkit::site(dir.path(), &["LAP-1"]);
        let local = Arc::new(Local::in_root(dir.path()));
        let opts = testkit::options(local, 0);
        let kept = dir.path().join("kept");
        std::fs::write(&kept, "same\n").unwrap();
        std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut mode_only = testkit::file(&kept, "same\n");
        if let ResourceKind::File { mode, .. } = &mut mode_only.resource.kind {
            *mode = Some(0o644);
        }
        let new = dir.path().join("new");
        let work = testkit::resolved("LAP-1", vec![mode_only, testkit::file(&new, "hello\n")]);

        let plan = run(&site, &work, Mode::Plan, &opts, &quiet);
        let (m, n) = (&plan.resources[0], &plan.resources[1]);
        assert_eq!(m.status, Status::Drift);
        assert_eq!(m.differs, ["mode 0600 → 0644"]);
        assert_eq!(m.diff, None);
        assert_eq!(n.differs, ["missing"]);
        let diff = n.diff.as_deref().unwrap();
        assert!(
            diff.starts_with(&format!("--- /dev/null\n+++ {} (profile)\n", new.display())),
            "{diff}"
        );
        assert!(diff.ends_with("+hello\n"), "{diff}");
    }

    #[test]
    fn an_unreachable_device_is_a_typed_problem() {
        let dir = tempfile::tempdir().unwrap();
        let site = testkit::site(dir.path(), &["LAP-1"]);
        let local = Arc::new(Local::in_root(dir.path()));
        local.set("LAP-1", Behaviour::Unreachable { times: u32::MAX });
        let work = testkit::resolved("LAP-1", vec![testkit::file(&dir.path().join("f"), "x")]);
        let r = run(
            &site,
            &work,
            Mode::Configure,
            &testkit::options(local.clone(), 2),
            &quiet,
        );
        assert_eq!(r.outcome, Outcome::Unreachable);
        assert_eq!(r.resources[0].status, Status::Unreached);
        assert_eq!(r.problems.len(), 1);
        assert_eq!(r.problems[0].kind(), "unreachable");
        assert!(r.problems[0].is_unreachable() && !r.problems[0].is_resource_or_check());
        assert_eq!(
            local.back_offs(),
            [Duration::from_millis(500), Duration::from_secs(1)]
        );
        assert_eq!(local.connects("LAP-1"), 3);
    }

    #[test]
    fn retries_reach_a_device_that_answers_late() {
        let dir = tempfile::tempdir().unwrap();
        let site = testkit::site(dir.path(), &["LAP-1"]);
        let local = Arc::new(Local::in_root(dir.path()));
        local.set("LAP-1", Behaviour::Unreachable { times: 1 });
        let work = testkit::resolved("LAP-1", vec![testkit::file(&dir.path().join("f"), "x")]);
        let r = run(
            &site,
            &work,
            Mode::Configure,
            &testkit::options(local.clone(), 3),
            &quiet,
        );
        assert_eq!(r.outcome, Outcome::Changed, "{:?}", r.problems);
        assert_eq!(local.back_offs(), [Duration::from_millis(500)]);
    }

    #[test]
    fn a_program_that_stops_early_names_sudo() {
        let dir = tempfile::tempdir().unwrap();
        let site = testkit::site(dir.path(), &["LAP-1"]);
        let local = Arc::new(Local::in_root(dir.path()));
        local.set(
            "LAP-1",
            Behaviour::Fail {
                status: 1,
                stderr: "sudo: a password is required\n".into(),
            },
        );
        let work = testkit::resolved("LAP-1", vec![testkit::file(&dir.path().join("f"), "x")]);
        let r = run(
            &site,
            &work,
            Mode::Configure,
            &testkit::options(local, 0),
            &quiet,
        );
        assert_eq!(r.outcome, Outcome::Failed);
        assert!(matches!(
            &r.problems[0],
            Problem::StoppedEarly { exit_code: 1, needs_sudo_as: Some(u), .. } if u == "root"
        ));
        assert_eq!(r.problems[0].kind(), "stopped-early");
        assert!(!dir.path().join("f").exists());
    }

    #[test]
    fn a_program_killed_on_the_device_keeps_what_it_changed() {
        let dir = tempfile::tempdir().unwrap();
        let site = testkit::site(dir.path(), &["LAP-1"]);
        let local = Arc::new(Local::in_root(dir.path()));
        let target = dir.path().join("motd");
        let later = dir.path().join("later");
        // The program ends without its end (as when the kernel's OOM killer takes it):
        // the file it changed first still changed.
        let work = testkit::resolved(
            "LAP-1",
            vec![
                testkit::file(&target, "hello\n"),
                testkit::resource(
                    "killer",
                    ResourceKind::Command {
                        command: "kill -KILL $$".into(),
                        creates: None,
                        unless: None,
                    },
                ),
                testkit::file(&later, "x"),
            ],
        );
        let r = run(
            &site,
            &work,
            Mode::Configure,
            &testkit::options(local, 0),
            &quiet,
        );
        assert_eq!(r.outcome, Outcome::Failed);
        assert!(
            matches!(&r.problems[0], Problem::StoppedEarly { exit_code: 137, .. }),
            "{:?}",
            r.problems
        );
        let statuses: Vec<Status> = r.resources.iter().map(|x| x.status).collect();
        assert_eq!(
            statuses,
            [Status::Changed, Status::Unreached, Status::Unreached]
        );
        assert!(r.resources[0].new_digest.is_some());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "hello\n");
        assert!(!later.exists());
    }

    #[test]
    fn a_failed_sensitive_check_hides_its_output() {
        let dir = tempfile::tempdir().unwrap();
        let site = testkit::site(dir.path(), &["LAP-1"]);
        let local = Arc::new(Local::in_root(dir.path()));
        let mut opts = testkit::options(local, 0);
        opts.redactor = Redactor::new([("psk", "hunter2 psk")]);
        let mut work = testkit::resolved("LAP-1", Vec::new());
        for (name, sensitive) in [("psk set", true), ("plain", false)] {
            work.verify.push(crate::model::Check {
                name: name.into(),
                command: "echo 'psk=hunter2%20psk'; exit 1".into(),
                sensitive,
                origin: Default::default(),
            });
        }
        let r = run(&site, &work, Mode::Configure, &opts, &quiet);
        let outputs: Vec<(&str, Option<&str>)> = r
            .verify
            .iter()
            .map(|c| (c.name.as_str(), c.output.as_deref()))
            .collect();
        assert_eq!(
            outputs,
            [
                ("psk set", Some(SENSITIVE_OUTPUT)),
                ("plain", Some("psk=hunter2%20psk\n"))
            ]
        );
        assert!(matches!(
            &r.problems[0],
            Problem::CheckFailed { output: Some(o), .. } if o == SENSITIVE_OUTPUT
        ));
    }

    #[test]
    fn a_failed_resource_and_check_are_typed() {
        let dir = tempfile::tempdir().unwrap();
        let site = testkit::site(dir.path(), &["LAP-1"]);
        let local = Arc::new(Local::in_root(dir.path()));
        let mut work = testkit::resolved(
            "LAP-1",
            vec![testkit::resource(
                "broken",
                ResourceKind::Command {
                    command: "echo nope >&2; exit 4".into(),
                    creates: None,
                    unless: None,
                },
            )],
        );
        let r = run(
            &site,
            &work,
            Mode::Configure,
            &testkit::options(local.clone(), 0),
            &quiet,
        );
        assert_eq!(r.outcome, Outcome::Failed);
        assert!(matches!(
            &r.problems[0],
            Problem::ResourceFailed { resource, exit_code: Some(4), .. } if resource == "broken"
        ));
        assert!(r.problems.iter().all(Problem::is_resource_or_check));

        work.resources.clear();
        work.verify.push(crate::model::Check {
            name: "answers".into(),
            command: "exit 2".into(),
            sensitive: false,
            origin: Default::default(),
        });
        let r = run(
            &site,
            &work,
            Mode::Configure,
            &testkit::options(local, 0),
            &quiet,
        );
        assert!(matches!(
            &r.problems[0],
            Problem::CheckFailed { check, exit_code: Some(2), .. } if check == "answers"
        ));
    }
}
