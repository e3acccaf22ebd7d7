//! Scheduled jobs: `schedule add` (a deskready command line and when to run it: `--at`,
//! `--every`, `--in-window`, the next opening of its devices' maintenance window, or
//! `--every-window`, each opening of that window),
//! `list`, `remove`, `run` (what is due now) and `install` (a systemd timer and service, or
//! a cron file, that runs `schedule run` every few minutes).
//!
//! `run` claims one due job at a time in the store (exactly once across every scheduler
//! of a team store, see `store::schedules`) and runs it by starting this same binary again
//! with the stored command line in the site: the command behaves, refuses (a maintenance
//! window), prints and exits exactly as when a CSP types it, and its exit code is kept. The
//! rollout's run record it made is found by its machine and process and linked to the
//! job's run. A job found due longer ago than its grace (the machines were off) is not
//! run but recorded `missed`; a recurring one then moves on to its next time (missed
//! times are never caught up one by one). A job due at each opening of a maintenance
//! window keeps the window (days, hours, zone) as it was when added, in its `every`
//! (`window sat 22:00-06:00`); once claimed it is next due at the window's next opening
//! after the one open now closes, so it runs at most once per window.
//!
//! Must not: print (events go to the caller), parse a command line (the CLI validates it
//! with its own definition before it gets here).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use jiff::Timestamp;

use super::select::Selection;
use super::{Env, Error, ExitStatus};
use crate::model::{When, Window, local_time, time_zone};
use crate::store::{Claimed, Holder, JobOutcome, JobRun, NewSchedule, Schedule};

/// Subcommands a job may run: rollouts that change or read devices and never ask
/// anything.
pub const ALLOWED: &[&str] = &["configure", "audit", "upgrade", "software", "upgrades"];

/// How late a job may start, by default: an hour.
pub const DEFAULT_GRACE_SECS: i64 = 3600;

/// When a job runs.
#[derive(Debug, Clone)]
pub enum Timing {
    /// Once: `now`, `sat 22:00`, `2026-11-28 22:00`.
    At(String),
    /// Again and again: `sat 22:00` (weekly) or `22:00` (daily).
    Every(String),
    /// Once, when the maintenance window of the command's devices next opens.
    InWindow,
    /// Again and again: each time the maintenance window of the command's devices opens.
    EveryWindow,
}

/// The most a clock change moves local time (a window on that night is this much longer).
const DST_SHIFT_SECS: i64 = 3600;

/// How a job due at each opening of a maintenance window keeps it in its `every`:
/// `window sat,sun 22:00-06:00` (the zone is the job's).
const WINDOW_EVERY: &str = "window ";

/// `schedule add`.
#[derive(Debug, Clone)]
pub struct AddSettings {
    /// The command line (without the program and `--site`), checked by the CLI.
    pub argv: Vec<String>,
    /// Its subcommand.
    pub command: String,
    /// The devices the command names, when it names any.
    pub selection: Option<Selection>,
    pub timing: Timing,
    /// The time zone its times are read in (IANA); `None`: this machine's.
    pub timezone: Option<String>,
    /// Seconds it may start late; `None`: an hour ([`DEFAULT_GRACE_SECS`]), or for
    /// `--in-window` and `--every-window` as long as the window stays open.
    pub grace: Option<i64>,
}

/// A job added.
#[derive(Debug, Clone)]
pub struct Added {
    pub schedule: Schedule,
    /// The maintenance window it is timed by (`--in-window`, `--every-window`), described.
    pub window: Option<String>,
}

/// The name of the time zone `s` asks for, checked; else this machine's.
fn zone_name(s: Option<&str>) -> Result<String, Error> {
    match s {
        Some(name) => {
            time_zone(name).map_err(|e| Error::BadInput(e.to_string()))?;
            Ok(name.to_string())
        }
        None => jiff::tz::TimeZone::system()
            .iana_name()
            .map(str::to_string)
            .ok_or_else(|| {
                Error::BadInput(
                    "cannot tell this machine's time zone by name: give --timezone (such as Europe/London)"
                        .into(),
                )
            }),
    }
}

/// Adds a job: its time read (and in the future), its devices selected from the site (so a
/// group that does not exist is refused now, not on Saturday night); nothing is stored
/// when anything is wrong.
pub fn add(env: &Env, s: &AddSettings) -> Result<Added, Error> {
    if !ALLOWED.contains(&s.command.as_str()) {
        return Err(Error::BadInput(format!(
            "`{}` cannot be scheduled; a job runs one of: {}",
            s.command,
            ALLOWED.join(", ")
        )));
    }
    let now = Timestamp::now();
    let bad = |e: crate::model::WhenError| Error::BadInput(e.to_string());
    let mut tags = Vec::new();
    let mut site = None;
    if let Some(sel) = &s.selection {
        let loaded = env.load_site()?;
        tags = sel.tags(&loaded)?;
        if tags.is_empty() {
            return Err(Error::BadInput(format!(
                "`{}` selects no device",
                shown(&s.argv)
            )));
        }
        site = Some(loaded);
    }
    let mut grace = s.grace.unwrap_or(DEFAULT_GRACE_SECS);
    let (due, timezone, every, written, window) = match &s.timing {
        Timing::At(at) => {
            let when = When::parse(at).map_err(bad)?;
            let tz_name = zone_name(s.timezone.as_deref())?;
            let tz = time_zone(&tz_name).map_err(bad)?;
            let due = when
                .next_after(now, &tz)
                .ok_or_else(|| Error::BadInput(format!("`{at}` never comes")))?;
            if due < now - jiff::SignedDuration::from_secs(60) {
                return Err(Error::BadInput(format!(
                    "`{at}` ({tz_name}) is in the past; give a time to come, or `now`"
                )));
            }
            (due, tz_name, None, format!("at {}", at.trim()), None)
        }
        Timing::Every(every) => {
            let when = When::parse_recurring(every).map_err(bad)?;
            let tz_name = zone_name(s.timezone.as_deref())?;
            let tz = time_zone(&tz_name).map_err(bad)?;
            let due = when
                .next_after(now, &tz)
                .ok_or_else(|| Error::BadInput(format!("`{every}` never comes")))?;
            let every = every.split_whitespace().collect::<Vec<_>>().join(" ");
            (
                due,
                tz_name,
                Some(every.clone()),
                format!("every {every}"),
                None,
            )
        }
        Timing::InWindow | Timing::EveryWindow => {
            let recurring = matches!(s.timing, Timing::EveryWindow);
            let (flag, other) = if recurring {
                ("--every-window", "--every")
            } else {
                ("--in-window", "--at")
            };
            let site = site.as_ref().ok_or_else(|| {
                Error::BadInput(format!(
                    "{flag} needs a command that names its devices (DEVICE, --group, --all)"
                ))
            })?;
            let (window, source) = one_window(site, &tags, flag, other)?;
            let never = || {
                Error::BadInput(format!(
                    "the maintenance window {} never opens",
                    window.describe()
                ))
            };
            let open = window.next_open(now).ok_or_else(never)?;
            let described = format!("{} (from {source})", window.describe());
            let mut due = open.timestamp();
            if let Some((opened, closes)) = window.open_at(due) {
                if recurring {
                    // Due at each opening, this one (open now) first: it may start until
                    // the window closes, as at every later opening.
                    due = opened.timestamp();
                }
                if s.grace.is_none() {
                    // Late, but while the window is still open (a minute to spare), is in
                    // time. A recurring job's openings are checked against their own window
                    // when claimed (`missed`): a night the clocks change is an hour shorter
                    // or longer, so its grace only needs to cover the longest.
                    let extra = if recurring { DST_SHIFT_SECS } else { 0 };
                    grace = (closes.timestamp().as_second() - due.as_second() - 60 + extra).max(60);
                }
            }
            let (every, written) = if recurring {
                (
                    Some(format!("{WINDOW_EVERY}{}", window.days_and_hours())),
                    format!("every window {}", window.describe()),
                )
            } else {
                (None, "in-window".to_string())
            };
            (due, window.tz_name.clone(), every, written, Some(described))
        }
    };
    let store = env.open_store()?;
    let id = store.add_schedule(&NewSchedule {
        argv: s.argv.clone(),
        command: s.command.clone(),
        written,
        every,
        timezone,
        grace,
        due: due.as_second(),
        operator: env.operator.clone(),
    })?;
    let schedule = store
        .schedules()?
        .into_iter()
        .find(|j| j.id == id)
        .ok_or_else(|| Error::BadInput(format!("job {id} vanished as it was added")))?;
    Ok(Added { schedule, window })
}

/// The one maintenance window that binds every device of `tags`, with where it is
/// declared; an error naming the devices when some have none or they differ (`flag` is
/// the option that asked, `other` the one to give instead).
fn one_window<'a>(
    site: &'a crate::site::Site,
    tags: &[String],
    flag: &str,
    other: &str,
) -> Result<(&'a crate::model::Window, String), Error> {
    let mut found: Vec<(String, Option<(&crate::model::Window, String)>)> = Vec::new();
    for t in tags {
        let device = site.device(t).expect("selected from the site");
        found.push((t.clone(), site.window_of(device)));
    }
    let without: Vec<&str> = found
        .iter()
        .filter(|(_, w)| w.is_none())
        .map(|(t, _)| t.as_str())
        .collect();
    if !without.is_empty() {
        return Err(Error::BadInput(format!(
            "{flag}: {} {} no maintenance window (declare one in its group or profile, or give {other})",
            without.join(", "),
            if without.len() == 1 { "has" } else { "have" }
        )));
    }
    let mut windows: Vec<(String, Vec<&str>)> = Vec::new();
    for (t, w) in &found {
        let (w, source) = w.as_ref().expect("checked above");
        let key = format!("{} (from {source})", w.describe());
        match windows.iter_mut().find(|(k, _)| *k == key) {
            Some((_, ts)) => ts.push(t),
            None => windows.push((key, vec![t])),
        }
    }
    let distinct: Vec<&crate::model::Window> = {
        let mut v: Vec<&crate::model::Window> = Vec::new();
        for (_, w) in &found {
            let w = w.as_ref().expect("checked above").0;
            if !v.contains(&w) {
                v.push(w);
            }
        }
        v
    };
    if distinct.len() > 1 {
        let parts: Vec<String> = windows
            .iter()
            .map(|(k, ts)| format!("{}: {k}", ts.join(", ")))
            .collect();
        return Err(Error::BadInput(format!(
            "{flag}: the devices have different maintenance windows ({}); schedule each window's devices on their own",
            parts.join("; ")
        )));
    }
    let (w, source) = found
        .into_iter()
        .next()
        .and_then(|(_, w)| w)
        .ok_or_else(|| Error::BadInput(format!("{flag}: no device selected")))?;
    Ok((w, source))
}

/// A command line as a CSP would type it: each argument quoted only when it needs it.
pub fn shown(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/._-+:,=@%".contains(c));
            if plain {
                a.clone()
            } else {
                crate::shell::quote(a)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every job, by id, with its last run.
pub fn list(env: &Env) -> Result<Vec<Schedule>, Error> {
    Ok(env.open_store()?.schedules()?)
}

/// Removes job `id`; its past runs stay in the store.
pub fn remove(env: &Env, id: i64) -> Result<Schedule, Error> {
    let store = env.open_store()?;
    let job = store.schedules()?.into_iter().find(|j| j.id == id);
    match job {
        Some(job) if store.remove_schedule(id)? => Ok(job),
        _ => Err(Error::BadInput(format!(
            "there is no scheduled job {id}; `deskready schedule list` lists them"
        ))),
    }
}

/// `schedule run`: how to start a job's command.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// The deskready binary (this one).
    pub program: PathBuf,
    /// Global options to pass on (`--format json`), before the job's own arguments.
    pub global: Vec<String>,
}

/// What happens while `schedule run` works, for the caller to show.
#[derive(Debug, Clone)]
pub enum JobEvent {
    /// A job's command starts now (its own output follows).
    Started { schedule: Schedule, run: JobRun },
    /// A job's command ended.
    Ended { schedule: Schedule, run: JobRun },
    /// A job was due longer ago than its grace: recorded missed, not run.
    Missed { schedule: Schedule, run: JobRun },
    /// A line the running command wrote on its standard error.
    Stderr(String),
}

/// What `schedule run` did.
#[derive(Debug, Clone, Default)]
pub struct Ran {
    /// Every job it claimed, as it ended (missed ones included).
    pub runs: Vec<JobRun>,
}

impl Ran {
    /// 0 when every job it ran succeeded (or none was due; a missed job is not a failure),
    /// 3 when one was refused and none failed otherwise, else 1.
    pub fn exit_status(&self) -> ExitStatus {
        let ran = self.runs.iter().filter(|r| r.outcome != JobOutcome::Missed);
        let mut status = ExitStatus::Success;
        for r in ran {
            match r.outcome {
                JobOutcome::Succeeded | JobOutcome::Missed => {}
                JobOutcome::Refused if status == ExitStatus::Success => {
                    status = ExitStatus::Refused;
                }
                JobOutcome::Refused => {}
                JobOutcome::Running | JobOutcome::Failed => status = ExitStatus::Failed,
            }
        }
        status
    }
}

/// The time after `now` a recurring job is next due (`None` for a one-time job): its
/// recurring time read in its zone, or its window's next opening (see [`window_due`]).
/// The maintenance window a job due at each of its openings keeps, if it is one.
fn job_window(job: &Schedule) -> Option<Window> {
    let hours = job.every.as_deref()?.strip_prefix(WINDOW_EVERY)?;
    Window::parse_days_and_hours(hours, &job.timezone).ok()
}

/// Why a job due at `due` is not run when claimed at `now` (it is recorded missed): more
/// than its grace late or, for a job due at each opening of a window, the window that
/// opened at `due` no longer open (with a minute to spare), whatever the grace says: it
/// never starts after its window closed, on a night the clocks went forward too.
fn missed(job: &Schedule, due: i64, now: Timestamp) -> Option<String> {
    let now_s = now.as_second();
    if let Some(why) = crate::store::past_grace(job, due, now_s) {
        return Some(why);
    }
    let window = job_window(job)?;
    match window.open_at(now) {
        Some((opened, closes))
            if opened.timestamp().as_second() <= due
                && closes.timestamp().as_second() - now_s >= 60 =>
        {
            None
        }
        _ => Some(format!(
            "due {}, its window ({}) closed before it could start: not run",
            crate::time::rfc3339(due),
            window.describe()
        )),
    }
}

fn next_due(job: &Schedule, now: Timestamp) -> Option<i64> {
    let every = job.every.as_deref()?;
    if every.starts_with(WINDOW_EVERY) {
        return window_due(&job_window(job)?, job, now);
    }
    let tz = time_zone(&job.timezone).ok()?;
    When::parse_recurring(every)
        .ok()?
        .next_after(now, &tz)
        .map(|t| t.as_second())
}

/// When a job due at each opening of `window`, claimed at `now`, is next due: the
/// window's next opening after the one open now closes (or after `now`, when it is
/// closed), so it never runs twice in one window. When the claim is a miss (the machines
/// were off through the window it was due in) and a later opening of the window is open
/// now and still within its grace, that opening: it runs in this window, once, and
/// the openings between are not caught up.
fn window_due(window: &Window, job: &Schedule, now: Timestamp) -> Option<i64> {
    if let Some(due) = job.due {
        let open = window
            .open_at(now)
            .map(|(open, _)| open.timestamp().as_second());
        if let Some(open) = open
            && open > due
            && missed(job, due, now).is_some()
            && missed(job, open, now).is_none()
        {
            return Some(open);
        }
    }
    window
        .next_open_after(now)
        .map(|z| z.timestamp().as_second())
}

/// Runs every job due now, one after another, each claimed just before it runs (so that
/// several schedulers share the due jobs, each run once).
pub fn run_due(env: &Env, s: &RunSettings, on: &mut dyn FnMut(JobEvent)) -> Result<Ran, Error> {
    let store = env.open_store()?;
    let me = Holder::me(&env.operator);
    store.close_dead_job_runs(&me.host)?;
    let mut ran = Ran::default();
    loop {
        let now = Timestamp::now();
        let next = move |job: &Schedule| next_due(job, now);
        let late = move |job: &Schedule, due| missed(job, due, now);
        let Some(Claimed { schedule, run }) =
            store.claim_due_unless(now.as_second(), &me, &next, &late)?
        else {
            break;
        };
        if run.outcome == JobOutcome::Missed {
            ran.runs.push(run.clone());
            on(JobEvent::Missed { schedule, run });
            continue;
        }
        on(JobEvent::Started {
            schedule: schedule.clone(),
            run: run.clone(),
        });
        let (outcome, code, run_ids, message) = match start(env, s, &schedule, on) {
            Ok((pid, status, last)) => {
                let code = status
                    .code()
                    .map(i64::from)
                    .or_else(|| {
                        use std::os::unix::process::ExitStatusExt;
                        status.signal().map(|sig| 128 + i64::from(sig))
                    })
                    .unwrap_or(1);
                let outcome = match code {
                    0 => JobOutcome::Succeeded,
                    3 => JobOutcome::Refused,
                    _ => JobOutcome::Failed,
                };
                let runs = store.runs_of_process(&me.host, pid, &run.started_at)?;
                let message = (outcome != JobOutcome::Succeeded).then_some(last).flatten();
                (outcome, Some(code), runs, message)
            }
            Err(e) => (
                JobOutcome::Failed,
                None,
                Vec::new(),
                Some(format!("cannot start {}: {e}", s.program.display())),
            ),
        };
        let run_id = run_ids.last().copied();
        store.finish_job_run(run.id, outcome, code, run_id, message.as_deref())?;
        let ended = JobRun {
            finished_at: Some(crate::store::now()),
            outcome,
            exit_code: code,
            run_id,
            message,
            ..run
        };
        ran.runs.push(ended.clone());
        on(JobEvent::Ended {
            schedule,
            run: ended,
        });
    }
    Ok(ran)
}

/// Starts `job`'s command in the site, as its operator, and waits for it: its pid, how it
/// ended and the last line it wrote on standard error (a refusal's reason). Its standard
/// output goes where ours goes; its standard error is passed on line by line through `on`.
fn start(
    env: &Env,
    s: &RunSettings,
    job: &Schedule,
    on: &mut dyn FnMut(JobEvent),
) -> std::io::Result<(u32, std::process::ExitStatus, Option<String>)> {
    use std::io::BufRead;
    let mut child = Command::new(&s.program)
        .arg("--site")
        .arg(&env.site_dir)
        .arg("--operator")
        .arg(format!("{} (schedule {})", job.operator, job.id))
        .args(&s.global)
        .args(&job.argv)
        .current_dir(&env.site_dir)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let mut last = None;
    if let Some(err) = child.stderr.take() {
        for line in std::io::BufReader::new(err).split(b'\n') {
            let line = String::from_utf8_lossy(&line?).trim_end().to_string();
            if !line.trim().is_empty() {
                last = Some(line.chars().take(500).collect());
            }
            on(JobEvent::Stderr(line));
        }
    }
    let status = child.wait()?;
    Ok((pid, status, last))
}

/// The local time a job is due, in its zone: `2026-11-28 22:00 Europe/London`.
pub fn due_local(job: &Schedule) -> Option<String> {
    let due = Timestamp::from_second(job.due?).ok()?;
    let tz = time_zone(&job.timezone).ok()?;
    Some(local_time(&due.to_zoned(tz), &job.timezone))
}

/// `schedule install`.
#[derive(Debug, Clone)]
pub struct InstallSettings {
    /// The deskready binary the units run.
    pub program: PathBuf,
    /// Where to write them (default: the site's `.deskready/schedule/`).
    pub dir: Option<PathBuf>,
    /// The units' name (`deskready-schedule`).
    pub name: String,
    /// Every this many minutes.
    pub minutes: u32,
    /// A cron file instead of systemd units.
    pub cron: bool,
    /// The user the jobs run as (whose SSH key reaches the devices); root by default.
    pub user: Option<String>,
}

/// What `schedule install` wrote, and how to turn it on.
#[derive(Debug, Clone)]
pub struct Installed {
    pub files: Vec<PathBuf>,
    /// The commands that put the files in place and start them.
    pub enable: Vec<String>,
}

/// Writes a systemd service and timer (or a cron file) that run `deskready schedule run`
/// in this site every few minutes.
pub fn install(env: &Env, s: &InstallSettings) -> Result<Installed, Error> {
    if !(1..=59).contains(&s.minutes) {
        return Err(Error::BadInput(format!(
            "--minutes {}: expected 1 to 59",
            s.minutes
        )));
    }
    let name_ok = !s.name.is_empty()
        && s.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !name_ok {
        return Err(Error::BadInput(format!(
            "--name `{}`: use letters, digits, `-`, `_` and `.` only",
            s.name
        )));
    }
    if let Some(u) = &s.user
        && (u.is_empty()
            || !u
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
    {
        return Err(Error::BadInput(format!("--user `{u}` is not a login name")));
    }
    let site = &env.site_dir;
    let paths = [site.as_path(), s.program.as_path()];
    if paths
        .iter()
        .any(|p| p.to_string_lossy().chars().any(char::is_control))
    {
        return Err(Error::BadInput(
            "the site's or the program's path holds a control character; a unit cannot name it"
                .into(),
        ));
    }
    let dir = s
        .dir
        .clone()
        .unwrap_or_else(|| crate::site::state_dir(site).join("schedule"));
    std::fs::create_dir_all(&dir).map_err(|error| Error::Write {
        path: dir.clone(),
        error,
    })?;
    let write = |file: &str, text: &str| -> Result<PathBuf, Error> {
        let path = dir.join(file);
        std::fs::write(&path, text).map_err(|error| Error::Write {
            path: path.clone(),
            error,
        })?;
        Ok(path)
    };
    if s.cron {
        let file = format!("{}.cron", s.name.replace('.', "-"));
        let text = cron_file(
            site,
            &s.program,
            s.minutes,
            s.user.as_deref().unwrap_or("root"),
        );
        let path = write(&file, &text)?;
        let target = format!("/etc/cron.d/{}", s.name.replace('.', "-"));
        return Ok(Installed {
            enable: vec![format!(
                "install -m 0644 {} {}",
                crate::shell::quote(&path.to_string_lossy()),
                crate::shell::quote(&target)
            )],
            files: vec![path],
        });
    }
    let service = write(
        &format!("{}.service", s.name),
        &service_unit(site, &s.program, s.user.as_deref(), &s.name),
    )?;
    let timer = write(
        &format!("{}.timer", s.name),
        &timer_unit(site, s.minutes, &s.name),
    )?;
    let quoted = |p: &Path| crate::shell::quote(&p.to_string_lossy());
    Ok(Installed {
        enable: vec![
            format!(
                "cp {} {} /etc/systemd/system/",
                quoted(&service),
                quoted(&timer)
            ),
            "systemctl daemon-reload".into(),
            format!("systemctl enable --now {}.timer", s.name),
        ],
        files: vec![service, timer],
    })
}

/// One argument of a systemd `ExecStart=` line: bare when plain, else double-quoted with
/// `\` and `"` escaped; `%` (specifiers) and `$` (variables) doubled either way.
fn systemd_arg(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:,=@".contains(c));
    if plain {
        return arg.to_string();
    }
    let mut out = String::from("\"");
    for c in arg.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn service_unit(site: &Path, program: &Path, user: Option<&str>, name: &str) -> String {
    let site_s = site.to_string_lossy();
    let exec = [
        program.to_string_lossy().as_ref(),
        "--site",
        site_s.as_ref(),
        "schedule",
        "run",
    ]
    .iter()
    .map(|a| systemd_arg(a))
    .collect::<Vec<_>>()
    .join(" ");
    let user = user.map_or(String::new(), |u| format!("User={u}\n"));
    format!(
        "# Written by `deskready schedule install`: runs the site's due jobs (deskready schedule run).
[Unit]
Description=deskready scheduled jobs of {desc}
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
{user}WorkingDirectory={wd}
# A team store's password (PGPASSWORD or DESKREADY_STORE_PASSWORD_FILE), when it needs one.
EnvironmentFile=-/etc/deskready/{name}.env
ExecStart={exec}
",
        desc = site_s.replace('%', "%%"),
        wd = site_s.replace('%', "%%"),
    )
}

fn timer_unit(site: &Path, minutes: u32, name: &str) -> String {
    format!(
        "# Written by `deskready schedule install`: starts {name}.service every {minutes} minutes.
[Unit]
Description=deskready scheduled jobs of {desc}, every {minutes} minutes

[Timer]
OnCalendar=*:0/{minutes}
AccuracySec=30s
Persistent=true

[Install]
WantedBy=timers.target
",
        desc = site.to_string_lossy().replace('%', "%%"),
    )
}

/// A cron file (`/etc/cron.d` form, with the user): every `minutes`, in the site, output
/// appended to `.deskready/schedule.log`.
fn cron_file(site: &Path, program: &Path, minutes: u32, user: &str) -> String {
    let q = |p: &Path| crate::shell::quote(&p.to_string_lossy());
    let log = crate::site::state_dir(site).join("schedule.log");
    let line = format!(
        "cd {site} && {program} --site {site} schedule run >> {log} 2>&1",
        site = q(site),
        program = q(program),
        log = q(&log),
    );
    // In a crontab `%` ends the command: escaped.
    format!(
        "# Written by `deskready schedule install --cron`: runs the site's due jobs.\n*/{minutes} * * * * {user} {}\n",
        line.replace('%', "\\%")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_arguments_are_quoted_for_systemd() {
        assert_eq!(systemd_arg("/usr/bin/deskready"), "/usr/bin/deskready");
        assert_eq!(systemd_arg("/srv/my site"), "\"/srv/my site\"");
        assert_eq!(systemd_arg("a\"b\\c%d$e"), "\"a\\\"b\\\\c%%d$$e\"");
        let unit = service_unit(
            Path::new("/srv/it 100%"),
            Path::new("/usr/bin/deskready"),
            None,
            "x",
        );
        assert!(
            unit.contains("ExecStart=/usr/bin/deskready --site \"/srv/it 100%%\" schedule run\n"),
            "{unit}"
        );
        assert!(unit.contains("WorkingDirectory=/srv/it 100%%\n"), "{unit}");
        let cron = cron_file(
            Path::new("/srv/it 100%"),
            Path::new("/usr/bin/deskready"),
            5,
            "root",
        );
        assert!(
            cron.contains("*/5 * * * * root cd '/srv/it 100\\%' && '/usr/bin/deskready' --site"),
            "{cron}"
        );
    }

    #[test]
    fn a_window_job_is_next_due_at_the_next_opening_never_twice_in_one_window() {
        let london = |s: &str| {
            s.parse::<jiff::civil::DateTime>()
                .unwrap()
                .to_zoned(time_zone("Europe/London").unwrap())
                .unwrap()
                .timestamp()
        };
        let secs = |s: &str| london(s).as_second();
        let job = |due: &str| Schedule {
            id: 1,
            argv: vec!["configure".into(), "--all".into()],
            command: "configure".into(),
            written: "every window sat 22:00-06:00 Europe/London".into(),
            every: Some("window sat 22:00-06:00".into()),
            timezone: "Europe/London".into(),
            grace: 8 * 3600 - 60,
            due: Some(secs(due)),
            operator: "ana".into(),
            created_at: String::new(),
            last: None,
        };
        let next = |due: &str, now: &str| next_due(&job(due), london(now));
        // Run in its window (at once or late in it): next week's opening.
        assert_eq!(
            next("2026-11-28T22:00", "2026-11-28T22:01"),
            Some(secs("2026-12-05T22:00"))
        );
        assert_eq!(
            next("2026-11-28T22:00", "2026-11-29T05:58"),
            Some(secs("2026-12-05T22:00"))
        );
        // Missed with the window closed: its next opening.
        assert_eq!(
            next("2026-11-28T22:00", "2026-12-02T10:00"),
            Some(secs("2026-12-05T22:00"))
        );
        // Missed, found in a later window that is open: that opening (it runs now), not
        // the ones between.
        assert_eq!(
            next("2026-11-28T22:00", "2026-12-12T23:00"),
            Some(secs("2026-12-12T22:00"))
        );
        // ... and once that one is claimed, next week's.
        assert_eq!(
            next("2026-12-12T22:00", "2026-12-12T23:00"),
            Some(secs("2026-12-19T22:00"))
        );
        // Too late in that window to run: the next opening.
        let mut short = job("2026-11-28T22:00");
        short.grace = 600;
        assert_eq!(
            next_due(&short, london("2026-12-05T23:00")),
            Some(secs("2026-12-12T22:00"))
        );
        // Weekly times are as before.
        let weekly = Schedule {
            every: Some("sat 22:00".into()),
            ..job("2026-11-28T22:00")
        };
        assert_eq!(
            next_due(&weekly, london("2026-11-28T22:01")),
            Some(secs("2026-12-05T22:00"))
        );
    }

    #[test]
    fn a_window_job_starts_only_while_the_window_it_was_due_in_is_open_on_nights_the_clocks_change()
    {
        let london = |s: &str| {
            s.parse::<jiff::civil::DateTime>()
                .unwrap()
                .to_zoned(time_zone("Europe/London").unwrap())
                .unwrap()
                .timestamp()
        };
        let secs = |s: &str| london(s).as_second();
        // As `schedule add --every-window` makes it on an ordinary night: 8 hours, a minute
        // to spare, an hour more for the night the clocks go back.
        let job = |due: &str| Schedule {
            id: 1,
            argv: vec!["upgrade".into(), "--all".into()],
            command: "upgrade".into(),
            written: "every window sat 22:00-06:00 Europe/London".into(),
            every: Some("window sat 22:00-06:00".into()),
            timezone: "Europe/London".into(),
            grace: 9 * 3600 - 60,
            due: Some(secs(due)),
            operator: "ana".into(),
            created_at: String::new(),
            last: None,
        };
        let late = |due: &str, now: &str| missed(&job(due), secs(due), london(now));
        // An ordinary night: in time until a minute before 06:00, missed after.
        assert_eq!(late("2026-11-28T22:00", "2026-11-29T05:58"), None);
        let after = late("2026-11-28T22:00", "2026-11-29T06:30").expect("missed");
        assert!(after.contains("closed before it could start"), "{after}");
        // Clocks forward (29 March 2026, 01:00 -> 02:00): the window is 7 hours long, so
        // 06:30 is after it closed although only 7.5 hours passed.
        assert_eq!(late("2026-03-28T22:00", "2026-03-29T05:30"), None);
        assert!(late("2026-03-28T22:00", "2026-03-29T06:30").is_some());
        // Clocks back (25 October 2026, 02:00 -> 01:00): 9 hours long; 05:30 is 8.5 hours
        // after it opened and still in time.
        assert_eq!(late("2026-10-24T22:00", "2026-10-25T05:30"), None);
        assert!(late("2026-10-24T22:00", "2026-10-25T06:01").is_some());
        // A grace given shorter than the window still holds.
        let mut short = job("2026-11-28T22:00");
        short.grace = 600;
        assert!(missed(&short, secs("2026-11-28T22:00"), london("2026-11-28T23:00")).is_some());
        // Missed through that short night, found in the next opening: due then (and run).
        assert_eq!(
            next_due(&job("2026-03-28T22:00"), london("2026-04-04T23:00")),
            Some(secs("2026-04-04T22:00"))
        );
        // A job not due at a window is held by its grace alone.
        let weekly = Schedule {
            every: Some("sat 22:00".into()),
            grace: 3600,
            ..job("2026-11-28T22:00")
        };
        assert_eq!(
            missed(
                &weekly,
                secs("2026-11-28T22:00"),
                london("2026-11-28T22:59")
            ),
            None
        );
        assert!(
            missed(
                &weekly,
                secs("2026-11-28T22:00"),
                london("2026-11-28T23:01")
            )
            .is_some()
        );
    }

    fn run(outcome: JobOutcome) -> JobRun {
        JobRun {
            id: 1,
            schedule_id: 1,
            due: 0,
            started_at: String::new(),
            finished_at: None,
            host: String::new(),
            pid: 0,
            outcome,
            exit_code: None,
            run_id: None,
            message: None,
        }
    }

    #[test]
    fn the_exit_status_says_the_worst_job() {
        let of = |o: &[JobOutcome]| {
            Ran {
                runs: o.iter().map(|o| run(*o)).collect(),
            }
            .exit_status()
        };
        assert_eq!(of(&[]), ExitStatus::Success);
        assert_eq!(
            of(&[JobOutcome::Succeeded, JobOutcome::Missed]),
            ExitStatus::Success
        );
        assert_eq!(
            of(&[JobOutcome::Refused, JobOutcome::Succeeded]),
            ExitStatus::Refused
        );
        assert_eq!(
            of(&[JobOutcome::Refused, JobOutcome::Failed]),
            ExitStatus::Failed
        );
        assert_eq!(
            of(&[JobOutcome::Failed, JobOutcome::Refused]),
            ExitStatus::Failed
        );
    }
}
