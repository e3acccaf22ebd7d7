//! `deskready schedule add|list|remove|run|install`: jobs that run a deskready command
//! later (after hours, at weekends). The command line of a job is checked here with the
//! CLI's own definition (a typo is refused with clap's own message) and only the
//! subcommands in `ops::schedule::ALLOWED` may be scheduled.

use std::path::PathBuf;

use clap::CommandFactory;
use clap::parser::ValueSource;

use super::{Cli, Ctx, Failure, Format, say, table};
use crate::ops::ExitStatus;
use crate::ops::schedule::{self, JobEvent, Timing};
use crate::ops::select::Selection;
use crate::store::{JobOutcome, JobRun, Schedule};

#[derive(Debug, clap::Subcommand)]
pub enum ScheduleCommand {
    /// Adds a job: a deskready command to run at a time (--at), every week or day
    /// (--every), when its devices' maintenance window next opens (--in-window), or each
    /// time it opens (--every-window).
    #[command(after_help = "Examples:
  deskready schedule add \"upgrade --group floor3 --security-only\" --at \"sat 22:00\"
  deskready schedule add \"configure --group floor4\" --at \"2026-11-28 22:00\" --timezone Europe/London
  deskready schedule add \"audit --all\" --every \"sun 03:00\"      # weekly
  deskready schedule add \"configure --group print-servers\" --in-window
  deskready schedule add \"upgrade --group floor3 --security-only\" --every-window

Times: `now`; `22:00` (the next 22:00: today if still ahead, else tomorrow); `sat 22:00`
(the next Saturday at 22:00: today if it is Saturday before 22:00, else the coming one;
`sat,sun 06:00` the next of either); `2026-11-28 22:00`. They are read in --timezone, else
the site's default (deskready.yaml `defaults: timezone:`), else this machine's zone.
A job may start at most --grace late (default 1h; --in-window, --every-window: while its
window is open); later it is recorded missed, not run. An --every-window job never starts
after the window it was due in closed, whatever --grace says (a night the clocks change is
an hour shorter or longer, and each opening is checked as it is). It runs once per
opening of the window: then (or when missed) it is next due at the window's next opening.")]
    Add(AddArgs),
    /// Lists the jobs: id, command, when, next due, last run and how it ended.
    #[command(after_help = "Examples:
  deskready schedule list
  deskready --format json schedule list")]
    List(ListArgs),
    /// Removes a job (its past runs stay recorded).
    #[command(after_help = "Examples:
  deskready schedule remove 3")]
    Remove(RemoveArgs),
    /// Runs every job due now, each once (even with several schedulers on a team store);
    /// for cron or a systemd timer (see `schedule install`).
    #[command(after_help = "Examples:
  deskready schedule run                       # what is due now, then exit
  deskready --format json schedule run         # NDJSON: the jobs' events and their output

Exit codes: 0 every job run succeeded (or none was due), 3 a job was refused (such as
outside its maintenance window) and none failed, 1 a job failed.")]
    Run(RunArgs),
    /// Writes a systemd service and timer (or, with --cron, a cron file) that run
    /// `deskready schedule run` in this site every few minutes.
    #[command(after_help = "Examples:
  deskready schedule install                          # into .deskready/schedule/
  deskready schedule install --dir /etc/systemd/system --minutes 2
  deskready schedule install --cron --user csp        # /etc/cron.d form")]
    Install(InstallArgs),
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("when").required(true).args(["at", "every", "in_window", "every_window"])))]
pub struct AddArgs {
    /// The deskready command to run, as one argument: "configure --group floor3".
    #[arg(value_name = "COMMAND")]
    pub command: String,
    /// Once, at this time: `now`, `22:00`, `sat 22:00` or `2026-11-28 22:00`.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Again and again: `sat 22:00` (weekly, `sat,sun 22:00`) or `22:00` (daily).
    #[arg(long, value_name = "TIME")]
    pub every: Option<String>,
    /// Once, when the maintenance window of the command's devices next opens (they must
    /// share one).
    #[arg(long)]
    pub in_window: bool,
    /// Again and again: each time the maintenance window of the command's devices opens,
    /// once per opening (they must share one).
    #[arg(long)]
    pub every_window: bool,
    /// The time zone of --at and --every (IANA, such as Europe/London); default: this
    /// machine's.
    #[arg(long, value_name = "ZONE", value_parser = parse_zone)]
    pub timezone: Option<String>,
    /// How late the job may still start (`30m`, `2h`, `1d`); later it is missed. Default:
    /// 1h; with --in-window or --every-window, while the window is open.
    #[arg(long, value_name = "DURATION", value_parser = parse_grace)]
    pub grace: Option<i64>,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {}

#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    /// The job's id (see `schedule list`).
    pub id: i64,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {}

#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// Where to write the files (default: the site's .deskready/schedule/).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Run the due jobs every this many minutes.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub minutes: u32,
    /// The units' (or cron file's) name.
    #[arg(long, default_value = "deskready-schedule", value_name = "NAME")]
    pub name: String,
    /// A cron file (/etc/cron.d form) instead of systemd units.
    #[arg(long)]
    pub cron: bool,
    /// The user the jobs run as (whose SSH key reaches the devices); default root.
    #[arg(long, value_name = "LOGIN")]
    pub user: Option<String>,
}

fn parse_zone(s: &str) -> Result<String, String> {
    crate::model::time_zone(s)
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

/// `30m`, `2h`, `1d`, `90s` (or plain seconds) as seconds.
fn parse_grace(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, ""), |i| s.split_at(i));
    let n: i64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration; expected such as 30m, 2h or 1d"))?;
    let per = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "`{s}` is not a duration; expected such as 30m, 2h or 1d"
            ));
        }
    };
    Ok(n * per)
}

/// Splits a command line as a shell would (words, '…' and "…" quoting, backslashes),
/// without expanding anything.
fn split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err("a ' is not closed".into()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => w.push(c),
                            None => return Err("a \" is not closed".into()),
                        },
                        Some(c) => w.push(c),
                        None => return Err("a \" is not closed".into()),
                    }
                }
            }
            '\\' => {
                if let Some(c) = chars.next() {
                    word.get_or_insert_with(String::new).push(c);
                }
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

/// The argument values `id` of `m`, when its command has such an argument.
fn strings(m: &clap::ArgMatches, id: &str) -> Vec<String> {
    m.try_get_many::<String>(id)
        .ok()
        .flatten()
        .map(|v| v.cloned().collect())
        .unwrap_or_default()
}

/// A job's command line checked by the CLI's own definition: its subcommand and the
/// devices it names (`None` when it names none).
fn check(line: &str) -> Result<(Vec<String>, String, Option<Selection>), Failure> {
    let refuse = |why: String| Failure::BadInput(format!("cannot schedule `{line}`: {why}"));
    let mut argv = split(line).map_err(refuse)?;
    if argv.first().is_some_and(|a| a == "deskready") {
        argv.remove(0);
    }
    if argv.is_empty() {
        return Err(refuse(format!(
            "no command; a job runs one of: {}",
            schedule::ALLOWED.join(", ")
        )));
    }
    let matches = Cli::command()
        .try_get_matches_from(std::iter::once("deskready".to_string()).chain(argv.iter().cloned()))
        .map_err(|e| {
            let text = e.render().to_string();
            let text: Vec<&str> = text
                .trim()
                .lines()
                .filter(|l| !l.starts_with("For more information"))
                .collect();
            let text = text.join("\n");
            refuse(
                text.trim()
                    .strip_prefix("error: ")
                    .unwrap_or(text.trim())
                    .to_string(),
            )
        })?;
    let (name, sub) = matches.subcommand().expect("clap requires a subcommand");
    if !schedule::ALLOWED.contains(&name) {
        return Err(refuse(format!(
            "`{name}` cannot be scheduled; a job runs one of: {}",
            schedule::ALLOWED.join(", ")
        )));
    }
    for (id, why) in [
        ("site", "a job runs in the site it is scheduled in"),
        (
            "format",
            "a job writes in the format `schedule run` is given",
        ),
        (
            "operator",
            "a job runs as the CSP who scheduled it (`schedule add --operator`)",
        ),
    ] {
        if matches.value_source(id) == Some(ValueSource::CommandLine) {
            return Err(refuse(format!("--{id} is not for a job: {why}")));
        }
    }
    let selection = Selection {
        devices: strings(sub, "devices"),
        groups: strings(sub, "group"),
        all: sub
            .try_get_one::<bool>("all")
            .ok()
            .flatten()
            .copied()
            .unwrap_or(false),
        limit: strings(sub, "limit"),
    };
    let named = !selection.devices.is_empty() || !selection.groups.is_empty() || selection.all;
    Ok((argv, name.to_string(), named.then_some(selection)))
}

pub(super) fn run(ctx: &Ctx, c: ScheduleCommand) -> Result<ExitStatus, Failure> {
    match c {
        ScheduleCommand::Add(a) => add(ctx, a),
        ScheduleCommand::List(_) => list(ctx),
        ScheduleCommand::Remove(a) => remove(ctx, a),
        ScheduleCommand::Run(_) => run_due(ctx),
        ScheduleCommand::Install(a) => install(ctx, a),
    }
}

fn add(ctx: &Ctx, a: AddArgs) -> Result<ExitStatus, Failure> {
    let (argv, command, selection) = check(&a.command)?;
    let timing = match (a.at, a.every, a.every_window) {
        (Some(at), _, _) => Timing::At(at),
        (_, Some(every), _) => Timing::Every(every),
        (_, _, true) => Timing::EveryWindow,
        _ => Timing::InWindow,
    };
    let added = schedule::add(
        ctx,
        &schedule::AddSettings {
            argv,
            command,
            selection,
            timing,
            timezone: a.timezone,
            grace: a.grace,
        },
    )?;
    let job = &added.schedule;
    let due = schedule::due_local(job).unwrap_or_default();
    let mut text = format!(
        "scheduled job {}: deskready {} ({}), next due {due}",
        job.id,
        schedule::shown(&job.argv),
        job.written
    );
    if let Some(w) = &added.window {
        let when = if job.every.is_some() {
            "each time"
        } else {
            "when"
        };
        text.push_str(&format!("\n  {when} the maintenance window {w} opens"));
        if job
            .due
            .is_some_and(|d| d < jiff::Timestamp::now().as_second())
        {
            text.push_str(" (open now: due since it opened)");
        }
    }
    text.push_str(
        "\n  `deskready schedule run` runs it once due (see `deskready schedule install`)",
    );
    let mut json = job_json(job);
    json["window"] = serde_json::json!(added.window);
    say(ctx, text, json);
    Ok(ExitStatus::Success)
}

fn job_json(job: &Schedule) -> serde_json::Value {
    serde_json::json!({
        "id": job.id,
        "command": job.argv,
        "when": job.written,
        "every": job.every,
        "timezone": job.timezone,
        "grace_secs": job.grace,
        "due": job.due.map(crate::time::rfc3339),
        "due_local": schedule::due_local(job),
        "operator": job.operator,
        "created_at": job.created_at,
        "last_run": job.last.as_ref().map(run_json),
    })
}

fn run_json(r: &JobRun) -> serde_json::Value {
    serde_json::json!({
        "id": r.id,
        "schedule": r.schedule_id,
        "due": crate::time::rfc3339(r.due),
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "machine": r.host,
        "pid": r.pid,
        "outcome": r.outcome,
        "exit_code": r.exit_code,
        "run_id": r.run_id,
        "message": r.message,
    })
}

/// How a run ended, in a few words: `succeeded (exit 0, run 12)`.
fn ended(r: &JobRun) -> String {
    let mut parts = Vec::new();
    if let Some(c) = r.exit_code {
        parts.push(format!("exit {c}"));
    }
    if let Some(id) = r.run_id {
        parts.push(format!("run {id}"));
    }
    if r.outcome == JobOutcome::Running {
        parts.push(format!("by pid {} on {}", r.pid, r.host));
    }
    if parts.is_empty() {
        r.outcome.as_str().to_string()
    } else {
        format!("{} ({})", r.outcome.as_str(), parts.join(", "))
    }
}

fn list(ctx: &Ctx) -> Result<ExitStatus, Failure> {
    let jobs = schedule::list(ctx)?;
    let json: Vec<serde_json::Value> = jobs.iter().map(job_json).collect();
    let text = if jobs.is_empty() {
        "no scheduled jobs".to_string()
    } else {
        let rows: Vec<[String; 6]> = jobs
            .iter()
            .map(|j| {
                [
                    j.id.to_string(),
                    schedule::shown(&j.argv),
                    j.written.clone(),
                    schedule::due_local(j).unwrap_or_else(|| "-".into()),
                    j.last
                        .as_ref()
                        .map_or("-".into(), |r| crate::time::local_at(&r.started_at)),
                    j.last.as_ref().map_or("-".into(), ended),
                ]
            })
            .collect();
        table(
            &["ID", "COMMAND", "WHEN", "NEXT DUE", "LAST RUN", "OUTCOME"],
            &rows,
        )
        .trim_end()
        .to_string()
    };
    say(ctx, text, serde_json::Value::Array(json));
    Ok(ExitStatus::Success)
}

fn remove(ctx: &Ctx, a: RemoveArgs) -> Result<ExitStatus, Failure> {
    let job = schedule::remove(ctx, a.id)?;
    // A run in progress is not stopped: it goes on to its end and is recorded.
    let running = job
        .last
        .as_ref()
        .filter(|r| r.outcome == crate::store::JobOutcome::Running);
    let mut text = format!(
        "removed job {}: deskready {} ({})",
        job.id,
        schedule::shown(&job.argv),
        job.written
    );
    if let Some(r) = running {
        text.push_str(&format!(
            "; its run in progress (since {}, on {}, pid {}) is not stopped and goes on to its end",
            r.started_at, r.host, r.pid
        ));
    }
    say(
        ctx,
        text,
        serde_json::json!({"removed": job.id, "running": running.is_some()}),
    );
    Ok(ExitStatus::Success)
}

fn run_due(ctx: &Ctx) -> Result<ExitStatus, Failure> {
    let program = std::env::current_exe().map_err(anyhow::Error::from)?;
    let json = ctx.format == Format::Json;
    let global = if json {
        vec!["--format".to_string(), "json".to_string()]
    } else {
        Vec::new()
    };
    let mut on = |e: JobEvent| match e {
        JobEvent::Started { schedule: job, run } => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"event": "job-start", "schedule": job.id, "command": job.argv, "run": run_json(&run)})
                );
            } else {
                println!(
                    "job {}: deskready {} (due {}, scheduled by {})",
                    job.id,
                    schedule::shown(&job.argv),
                    crate::time::local_at(&crate::time::rfc3339(run.due)),
                    job.operator
                );
            }
        }
        JobEvent::Ended { schedule: job, run } => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"event": "job-end", "schedule": job.id, "run": run_json(&run)})
                );
            } else {
                println!("job {}: {}", job.id, ended(&run));
            }
        }
        JobEvent::Missed { schedule: job, run } => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"event": "job-missed", "schedule": job.id, "run": run_json(&run)})
                );
            } else {
                println!(
                    "job {}: deskready {}: missed: {}",
                    job.id,
                    schedule::shown(&job.argv),
                    run.message.unwrap_or_default()
                );
            }
        }
        JobEvent::Stderr(line) => eprintln!("{line}"),
    };
    let ran = schedule::run_due(ctx, &schedule::RunSettings { program, global }, &mut on)?;
    if ran.runs.is_empty() && !json {
        println!("no job is due");
    }
    Ok(ran.exit_status())
}

fn install(ctx: &Ctx, a: InstallArgs) -> Result<ExitStatus, Failure> {
    let program = std::env::current_exe().map_err(anyhow::Error::from)?;
    let done = schedule::install(
        ctx,
        &schedule::InstallSettings {
            program,
            dir: a.dir,
            name: a.name,
            minutes: a.minutes,
            cron: a.cron,
            user: a.user,
        },
    )?;
    let mut text = String::new();
    for f in &done.files {
        text.push_str(&format!("wrote {}\n", f.display()));
    }
    text.push_str("to turn it on (as root):");
    for c in &done.enable {
        text.push_str(&format!("\n  {c}"));
    }
    say(
        ctx,
        text,
        serde_json::json!({"files": done.files, "enable": done.enable}),
    );
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_line_splits_as_a_shell_would() {
        assert_eq!(
            split("upgrade --group floor3 --packages 'a b',c \"d\\\"e\"").unwrap(),
            [
                "upgrade",
                "--group",
                "floor3",
                "--packages",
                "a b,c",
                "d\"e"
            ]
        );
        assert!(split("configure 'LAP").is_err());
        assert_eq!(parse_grace("90m").unwrap(), 5400);
        assert_eq!(parse_grace("2h").unwrap(), 7200);
        assert!(parse_grace("soon").is_err());
    }

    #[test]
    fn a_job_is_checked_by_the_cli_definition() {
        let (argv, name, sel) = check("configure --group floor3 --batch 1,25%").unwrap();
        assert_eq!(name, "configure");
        assert_eq!(argv[0], "configure");
        assert_eq!(sel.unwrap().groups, ["floor3"]);
        let (_, _, sel) = check("deskready configure --resume").unwrap();
        assert!(sel.is_none());
        let e = check("configure --gruop floor3").unwrap_err().to_string();
        assert!(
            e.starts_with(
                "cannot schedule `configure --gruop floor3`: unexpected argument '--gruop'"
            ),
            "{e}"
        );
        assert!(e.contains("--group"), "{e}");
        let e = check("deliver LAP-0001").unwrap_err().to_string();
        assert!(
            e.contains("`deliver` cannot be scheduled; a job runs one of: configure, audit"),
            "{e}"
        );
        let e = check("configure --all --site /elsewhere")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--site is not for a job"), "{e}");
        let e = check("configure --all --operator bo")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--operator is not for a job"), "{e}");
    }
}
