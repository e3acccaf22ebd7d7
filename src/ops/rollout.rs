//! Rollouts: `plan`, `configure` and drift `audit` over selected devices. Preparing one
//! selects the devices (or, with `--resume`, every device whose last configure did not
//! succeed, whatever ran since), resolves every device before any is touched, admits delivered devices by their
//! maintenance window (a `--now` override is written to the journal) and starts the run
//! record; running it drives the engine's fleet and finishes the record. The caller owns
//! the tokio runtime, Ctrl-C and the display of the event stream.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::Error;
use super::select::Selection;
use crate::engine::device::{Mode, Options};
use crate::engine::fleet::{self, Admission, Event, Job, MaxFail, RecapRow, Settings, Size, Stop};
use crate::load::Diagnostics;
use crate::model::{Stage, local_time};
use crate::resolve::Resolved;
use crate::secrets::Secrets;
use crate::site::Site;
use crate::store::{Entry, LastConfigure, RunStatus, Store};
use crate::transport::SshOptions;

/// Connection settings of every command that reaches devices.
#[derive(Debug, Clone)]
pub struct SshSettings {
    /// Waiting for a device to answer and complete the SSH handshake.
    pub connect_timeout: Duration,
    /// A device's whole run once connected.
    pub command_timeout: Duration,
}

impl Default for SshSettings {
    /// The command line's defaults: 10 s to connect, 600 s for a device's run.
    fn default() -> Self {
        SshSettings {
            connect_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(600),
        }
    }
}

impl SshSettings {
    /// Connection options, pinning host keys in `store`.
    pub fn options(&self, store: Arc<Store>) -> Options {
        Options {
            ssh: SshOptions {
                connect_timeout: self.connect_timeout,
                command_timeout: self.command_timeout,
                use_agent: true,
            },
            pins: store,
            retries: 0,
            test_page: false,
            transport: Arc::new(crate::transport::Ssh),
            down_print_servers: Default::default(),
            redactor: crate::secrets::Redactor::none(),
            printers: Arc::new(crate::printer::Ipp {
                timeout: self.connect_timeout,
            }),
        }
    }
}

/// `plan` and `configure`.
#[derive(Debug, Clone)]
pub struct ConvergeSettings {
    /// [`Mode::Plan`] or [`Mode::Configure`].
    pub mode: Mode,
    pub selection: Selection,
    /// Redo every device whose last configure did not succeed.
    pub resume: bool,
    /// Devices at once.
    pub parallel: usize,
    /// Canary batch sizes as written (`1,5,25%`).
    pub batches: Vec<String>,
    /// Failure threshold as written (`N` or `P%`).
    pub max_fail: Option<String>,
    /// Retries of an unreachable device.
    pub retries: u32,
    /// Change delivered devices outside their maintenance window.
    pub now: bool,
    /// Wait for delivered devices' maintenance windows.
    pub wait: bool,
    /// Print a test page after configuring a printer.
    pub test_page: bool,
    pub ssh: SshSettings,
}

/// Drift `audit`.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    pub selection: Selection,
    pub parallel: usize,
    pub ssh: SshSettings,
}

/// What preparing a rollout found.
pub enum Prepared {
    /// `--resume`: the last configure of every (selected) device succeeded.
    NothingToResume,
    /// Ready to run.
    Ready(Box<Rollout>),
}

/// A rollout ready to run: devices resolved and admitted, run record started.
pub struct Rollout {
    site: Site,
    store: Arc<Store>,
    jobs: Vec<Job>,
    settings: Settings,
    run_id: Option<i64>,
    /// Journal rows to write when a device's configure starts (under its lock): `--now`
    /// outside its maintenance window.
    notes: HashMap<String, Entry>,
    /// A configure's settings, to admit devices again before each later batch.
    converge: Option<ConvergeSettings>,
    /// The store's side of a rollout that keeps books of its own (an upgrade); else a
    /// configure's or an audit's [`super::configure::Books`].
    books: Option<Arc<dyn fleet::Bookkeeper>>,
    /// Devices of a group or `--all` it leaves out, and why (an audit: not in use).
    left_out: Vec<(String, String)>,
}

/// How a rollout ended.
pub struct Finished {
    /// One row per device, in the order they finished.
    pub rows: Vec<RecapRow>,
    pub status: RunStatus,
}

/// Prepares `plan` or `configure`.
pub fn converge(env: &super::Env, s: &ConvergeSettings) -> Result<Prepared, Error> {
    let (batches, max_fail) = rules(s)?;
    let site = env.load_site()?;
    let store = env.open_store()?;
    let Some(tags) = selected(&site, &store, s)? else {
        return Ok(Prepared::NothingToResume);
    };

    let (mut resolved, secrets) = resolve_all(env, &site, &tags)?;
    // A printer whose queue was renamed: its old queue goes after the new one is made.
    super::printer_queue::renames(&site, &store, &mut resolved)?;
    let now = jiff::Timestamp::now();
    let mut jobs = Vec::new();
    let mut notes = HashMap::new();
    for r in resolved {
        let admission = if s.mode == Mode::Configure {
            let (admission, note) = admission(&site, &store, &r.device, now, s, &env.operator)?;
            if let Some(note) = note {
                notes.insert(r.device.clone(), note);
            }
            admission
        } else {
            Admission::Go
        };
        jobs.push(Job {
            resolved: r,
            admission,
        });
    }
    let mut ssh = s.ssh.options(store.clone());
    ssh.retries = s.retries;
    ssh.test_page = s.test_page;
    ssh.redactor = secrets.redactor();
    let settings = Settings {
        mode: s.mode,
        parallel: s.parallel.max(1),
        batches,
        max_fail,
        operator: env.operator.clone(),
        ssh,
    };
    let run_id = match s.mode {
        Mode::Configure => Some(store.start_run("configure", &env.operator, &tags)?),
        Mode::Plan | Mode::Audit | Mode::Upgrade => None,
    };
    Ok(Prepared::Ready(Box::new(Rollout {
        site,
        store,
        jobs,
        settings,
        run_id,
        notes,
        converge: (s.mode == Mode::Configure).then(|| s.clone()),
        books: None,
        left_out: Vec::new(),
    })))
}

/// The devices a configure (or plan) works on: those selected, or with `--resume` those
/// to redo among them; `None`: `--resume` found nothing to redo.
pub(super) fn selected(
    site: &Site,
    store: &Store,
    s: &ConvergeSettings,
) -> Result<Option<Vec<String>>, Error> {
    let mut tags = s.selection.tags(site)?;
    if s.resume {
        if s.mode == Mode::Plan {
            return Err(Error::BadInput("--resume goes with configure".into()));
        }
        let last = store.last_configures()?;
        if last.is_empty() {
            return Err(Error::BadInput(
                "there is no earlier configure run to resume".into(),
            ));
        }
        let redo = to_resume(site, store, &last)?;
        if tags.is_empty() {
            tags = redo;
        } else {
            tags.retain(|t| redo.contains(t));
        }
        if tags.is_empty() {
            return Ok(None);
        }
    }
    if tags.is_empty() {
        return Err(Error::BadInput(
            "no devices selected: name devices, or use --group, --all or --resume".into(),
        ));
    }
    Ok(Some(tags))
}

/// The batch sizes and failure threshold as written, checked.
pub(super) fn rules(s: &ConvergeSettings) -> Result<(Vec<Size>, Option<MaxFail>), Error> {
    let batches = batch_sizes(&s.batches)?;
    let max_fail = s
        .max_fail
        .as_deref()
        .map(MaxFail::parse)
        .transpose()
        .map_err(|e| Error::BadInput(format!("--max-fail {e}")))?;
    Ok((batches, max_fail))
}

/// `--batch` as written (configure's and upgrade's), checked.
pub(super) fn batch_sizes(written: &[String]) -> Result<Vec<Size>, Error> {
    written
        .iter()
        .map(|b| batch_size(b))
        .collect::<Result<_, _>>()
        .map_err(|e| Error::BadInput(format!("--batch {e}")))
}

/// One batch size: a number of devices (at least 1) or a percentage.
pub fn batch_size(written: &str) -> Result<Size, String> {
    match Size::parse(written)? {
        Size::Count(0) => Err(format!(
            "`{}`: a batch holds at least 1 device (a number from 1, or a percentage such as 25%)",
            written.trim()
        )),
        size => Ok(size),
    }
}

/// What `--resume` redoes: every device of the site whose last configure (in whichever run)
/// did not succeed and whose stage lets it be configured now (not retired, in repair, or
/// being configured by another run).
pub fn to_resume(site: &Site, store: &Store, last: &[LastConfigure]) -> Result<Vec<String>, Error> {
    let mut redo = Vec::new();
    for l in last.iter().filter(|l| !l.succeeded()) {
        if site.device(&l.device).is_none() {
            continue;
        }
        let stage = store.stage(&l.device)?.map(|r| r.stage);
        if Stage::can_move(stage, Stage::Configuring) {
            redo.push(l.device.clone());
        }
    }
    Ok(redo)
}

/// Prepares a drift audit (probes only; recorded per device, no run record).
pub fn audit(env: &super::Env, s: &AuditSettings) -> Result<Rollout, Error> {
    let site = env.load_site()?;
    let store = env.open_store()?;
    let mut tags = s.selection.tags(&site)?;
    if tags.is_empty() {
        return Err(Error::BadInput(
            "no devices selected: name devices, or use --group or --all (or --due / --overdue)"
                .into(),
        ));
    }
    // A group or `--all` audits the devices in use: one never received (not there yet)
    // or retired is left out, and said so; one named is audited all the same.
    let mut left_out = Vec::new();
    let mut kept = Vec::new();
    for tag in tags.drain(..) {
        let stage = store.stage(&tag)?.map(|r| r.stage);
        match stage {
            None | Some(Stage::Retired) if !s.selection.devices.contains(&tag) => {
                let why = if stage.is_none() {
                    "never received"
                } else {
                    "retired"
                };
                left_out.push((tag, why.to_string()));
            }
            _ => kept.push(tag),
        }
    }
    let tags = kept;
    if tags.is_empty() {
        return Err(Error::BadInput(format!(
            "no device of the selection is in use: {}",
            left_out
                .iter()
                .map(|(t, why)| format!("{t} ({why})"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let (resolved, secrets) = resolve_all(env, &site, &tags)?;
    let mut ssh = s.ssh.options(store.clone());
    ssh.redactor = secrets.redactor();
    let jobs: Vec<Job> = resolved
        .into_iter()
        .map(|r| Job {
            resolved: r,
            admission: Admission::Go,
        })
        .collect();
    let settings = Settings {
        mode: Mode::Audit,
        parallel: s.parallel.max(1),
        batches: Vec::new(),
        max_fail: None,
        operator: env.operator.clone(),
        ssh,
    };
    Ok(Rollout {
        site,
        store,
        jobs,
        settings,
        run_id: None,
        notes: HashMap::new(),
        converge: None,
        books: None,
        left_out,
    })
}

/// A rollout whose devices' work and records are `books`' (an upgrade): `jobs` already
/// admitted, `run_id` its run record.
pub(super) fn with_books(
    site: Site,
    store: Arc<Store>,
    jobs: Vec<Job>,
    settings: Settings,
    run_id: Option<i64>,
    books: Arc<dyn fleet::Bookkeeper>,
) -> Rollout {
    Rollout {
        site,
        store,
        jobs,
        settings,
        run_id,
        notes: HashMap::new(),
        converge: None,
        books: Some(books),
        left_out: Vec::new(),
    }
}

/// Gives up a rollout at once (a second Ctrl-C), in the record: see [`Store::abandon`].
/// The caller then ends the process, which closes the SSH sessions and cuts the remote
/// work.
pub struct Aborter {
    store: Arc<Store>,
    run_id: Option<i64>,
    operator: String,
}

impl Aborter {
    /// Records the devices this process is configuring as `configure-failed` with
    /// `reason`, releases their locks and ends the run interrupted.
    pub fn abort(&self, reason: &str) -> Result<(), Error> {
        Ok(self.store.abandon(self.run_id, &self.operator, reason)?)
    }
}

impl Rollout {
    /// What aborts this rollout in the record.
    pub fn aborter(&self) -> Aborter {
        Aborter {
            store: self.store.clone(),
            run_id: self.run_id,
            operator: self.settings.operator.clone(),
        }
    }

    /// How many devices it works on.
    pub fn devices(&self) -> usize {
        self.jobs.len()
    }

    /// The devices of a group or `--all` it leaves out, each with why (its stage).
    pub fn left_out(&self) -> &[(String, String)] {
        &self.left_out
    }

    /// How many devices at once.
    pub fn parallel(&self) -> usize {
        self.settings.parallel
    }

    /// Runs it until done or `stop`ped, sending events to `events`; then finishes the run
    /// record.
    pub async fn run(
        self,
        stop: Stop,
        events: mpsc::UnboundedSender<Event>,
    ) -> Result<Finished, Error> {
        let site = Arc::new(self.site);
        let recheck = self.converge.map(|s| {
            let (site, store) = (site.clone(), self.store.clone());
            let operator = self.settings.operator.clone();
            Box::new(move |tag: &str| {
                admission(&site, &store, tag, jiff::Timestamp::now(), &s, &operator)
                    .ok()
                    .map(|(a, _)| a)
            }) as Box<dyn Fn(&str) -> Option<Admission> + Send + Sync>
        });
        let books: Arc<dyn fleet::Bookkeeper> = match self.books {
            Some(books) => books,
            None => Arc::new(super::configure::Books {
                store: self.store.clone(),
                run_id: self.run_id,
                notes: self.notes,
                recheck,
            }),
        };
        let (rows, status) = fleet::rollout(
            site,
            books,
            self.jobs,
            self.settings,
            self.run_id,
            stop,
            events,
        )
        .await;
        if let Some(id) = self.run_id {
            self.store.finish_run(id, status)?;
        }
        Ok(Finished { rows, status })
    }
}

/// Fetches the secrets the devices use, then resolves every device: a secret that cannot
/// be fetched, or one template error anywhere, stops all before any device is touched.
/// Also returns the secrets, whose redactor the run must use.
pub fn resolve_all(
    env: &super::Env,
    site: &Site,
    tags: &[String],
) -> Result<(Vec<Resolved>, Secrets), Error> {
    let wanted: Vec<&str> = tags.iter().map(String::as_str).collect();
    let secrets =
        Secrets::fetch_for(site, &wanted).map_err(|e| Error::Site(Diagnostics::from(e)))?;
    let mut diags = Diagnostics::default();
    let mut resolved = Vec::new();
    for t in tags {
        match crate::resolve::resolve_with(site, t, &env.vars, &secrets) {
            Ok(r) => resolved.push(r),
            Err(d) => d.0.into_iter().for_each(|x| diags.push(x)),
        }
    }
    if !diags.is_empty() {
        return Err(Error::Site(diags.sorted()));
    }
    Ok((resolved, secrets))
}

/// Whether `tag` may be changed now: delivered devices only inside their maintenance
/// window, unless `--now` (with the journal row that says so, written when its configure
/// starts) or `--wait`.
pub(super) fn admission(
    site: &Site,
    store: &Store,
    tag: &str,
    now: jiff::Timestamp,
    s: &ConvergeSettings,
    operator: &str,
) -> Result<(Admission, Option<Entry>), Error> {
    let device = site.device(tag).expect("selected from the site");
    let (own, note) = admission_of(site, store, tag, tag, now, s, operator)?;
    if !matches!(own, Admission::Go) || device.kind != crate::model::DeviceKind::Printer {
        return Ok((own, note));
    }
    // A printer's queue is changed on its print server: that server's window too.
    let Some(server) = site.print_server(device) else {
        return Ok((own, note));
    };
    let (theirs, their_note) = admission_of(site, store, &server.tag, tag, now, s, operator)?;
    Ok((theirs, note.or(their_note)))
}

/// Whether device `whose` (the device itself, or the print server its queue is on) lets
/// `tag` be changed now: delivered devices (in service) only inside their maintenance
/// window, unless `--now` (the note, written in `tag`'s journal) or `--wait`.
fn admission_of(
    site: &Site,
    store: &Store,
    whose: &str,
    tag: &str,
    now: jiff::Timestamp,
    s: &ConvergeSettings,
    operator: &str,
) -> Result<(Admission, Option<Entry>), Error> {
    if !store.at_desk(whose)? {
        return Ok((Admission::Go, None));
    }
    let device = site.device(whose).expect("a device of the site");
    let Some((window, source)) = site.window_of(device) else {
        return Ok((Admission::Go, None));
    };
    let subject = if whose == tag {
        format!("{tag} is at its desk (delivered) and")
    } else {
        format!("{tag}'s queue is on print server {whose}, which is in service (delivered) and")
    };
    if window.contains(now) {
        return Ok((Admission::Go, None));
    }
    let next = window.next_open(now);
    if s.now {
        let whose_window = if whose == tag {
            "its maintenance window".to_string()
        } else {
            format!("print server {whose}'s maintenance window")
        };
        let note = Entry::new(tag, operator, "note").message(format!(
            "changed outside {whose_window} ({}, from {source}) with --now",
            window.describe()
        ));
        return Ok((Admission::Go, Some(note)));
    }
    let admission = match (s.wait, next) {
        (true, Some(at)) => Admission::WaitUntil {
            until: at.timestamp(),
        },
        (_, next) => Admission::Refuse(format!(
            "{subject} outside its maintenance window ({}, from {source}); it next opens {}; use --now to change it anyway, or --wait to wait for it",
            window.describe(),
            next.map_or("never".to_string(), |z| local_time(&z, &window.tz_name))
        )),
    };
    Ok((admission, None))
}
