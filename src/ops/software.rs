//! Software over a device's life: `software` (what is installed on devices, stored as a
//! snapshot, with what changed since the last one and whether deskready did it),
//! `upgrades` (what apt would upgrade, which are security updates, how old the package
//! index is; refreshed only when asked) and `upgrade` (a rollout that upgrades packages,
//! journaling every version change, bound by maintenance windows). Never prints.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use super::rollout::{self, ConvergeSettings, Prepared, SshSettings};
use super::select::Selection;
use super::{Env, Error};
use crate::engine::device::{
    DeviceRun, Mode, Options, Problem, Problems, ResourceOutcome, Status, Step,
};
use crate::engine::fleet::{Admission, Bookkeeper, Job, MaxFail, Settings, WorkError};
use crate::engine::software::{self as engine, Read, Upgrade};
use crate::model::{
    Outcome, Package, Pending, SoftwareChange, Stage, check_package_name, software_changes,
};
use crate::resolve::Resolved;
use crate::site::Site;
use crate::store::{Entry, Holder, Purpose, Store, StoreError, UpgradeMark};

/// `software` and `upgrades`.
#[derive(Debug, Clone, Default)]
pub struct ReadSettings {
    pub selection: Selection,
    /// Devices at once.
    pub parallel: usize,
    /// Refresh the package index first (`upgrades --refresh`).
    pub refresh: bool,
    pub ssh: SshSettings,
}

/// A change since the last snapshot, and who made it when deskready did.
pub use crate::model::Attributed;

/// One device's inventory.
#[derive(Debug, Clone, Serialize)]
pub struct InventoryRow {
    pub device: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub packages: Vec<Package>,
    /// When the snapshot compared with was taken (`None`: this is the first).
    pub previous_at: Option<String>,
    pub changes: Vec<Attributed>,
}

/// One device's waiting upgrades.
#[derive(Debug, Clone, Serialize)]
pub struct PendingRow {
    pub device: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the device was asked (RFC 3339, UTC); `None`: never.
    pub asked_at: Option<String>,
    /// The package index's age then, in seconds (`None`: no index, or never asked).
    pub index_age: Option<i64>,
    pub pending: Vec<Pending>,
    /// The index refresh asked for failed, with what apt said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_failed: Option<String>,
}

impl PendingRow {
    pub fn security(&self) -> usize {
        self.pending.iter().filter(|p| p.security).count()
    }
}

/// The fleet's waiting upgrades.
#[derive(Debug, Clone, Serialize)]
pub struct Upgrades {
    pub devices: Vec<PendingRow>,
    /// Devices with security updates waiting.
    pub with_security: Vec<String>,
    /// Devices with any upgrade waiting.
    pub with_upgrades: Vec<String>,
    /// The device whose package index is oldest, and its age in seconds.
    pub oldest_index: Option<(String, i64)>,
    /// Devices with no package index at all.
    pub no_index: Vec<String>,
}

impl Upgrades {
    fn of(devices: Vec<PendingRow>) -> Upgrades {
        let asked = |r: &&PendingRow| r.asked_at.is_some() && r.outcome.succeeded();
        let with_security = devices
            .iter()
            .filter(asked)
            .filter(|r| r.security() > 0)
            .map(|r| r.device.clone())
            .collect();
        let with_upgrades = devices
            .iter()
            .filter(asked)
            .filter(|r| !r.pending.is_empty())
            .map(|r| r.device.clone())
            .collect();
        let oldest_index = devices
            .iter()
            .filter(asked)
            .filter_map(|r| r.index_age.map(|a| (r.device.clone(), a)))
            .max_by_key(|(_, a)| *a);
        let no_index = devices
            .iter()
            .filter(asked)
            .filter(|r| r.index_age.is_none())
            .map(|r| r.device.clone())
            .collect();
        Upgrades {
            devices,
            with_security,
            with_upgrades,
            oldest_index,
            no_index,
        }
    }
}

/// The devices of `selection` that are reached over SSH (a printer has no packages); a
/// device named on its own that is not is bad input.
fn ssh_devices(site: &Site, selection: &Selection) -> Result<Vec<String>, Error> {
    let tags = selection.tags(site)?;
    let mut out = Vec::new();
    for t in tags {
        let d = site.device(&t).expect("selected from the site");
        if d.address.ssh.is_some() {
            out.push(t);
        } else if selection.devices.contains(&t) {
            return Err(Error::BadInput(format!(
                "{t} is not reached over SSH: it has no packages deskready can list"
            )));
        }
    }
    Ok(out)
}

/// Runs `f` for every tag, `parallel` at a time; results in the tags' order.
fn each<T: Send>(tags: &[String], parallel: usize, f: impl Fn(&str) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<T>>> =
        tags.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..parallel.clamp(1, tags.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(tag) = tags.get(i) else { break };
                    let out = f(tag);
                    *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(out);
                }
            });
        }
    });
    slots
        .into_iter()
        .filter_map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect()
}

/// How a device that could not be read ended.
fn failed(p: &Problem) -> Outcome {
    if p.is_unreachable() {
        Outcome::Unreachable
    } else {
        Outcome::Failed
    }
}

/// A store or lease error on one device as its outcome: a held device is refused.
fn store_failed(e: &StoreError) -> Outcome {
    match e {
        StoreError::Refused(_) | StoreError::Locked { .. } => Outcome::Refused,
        _ => Outcome::Failed,
    }
}

/// `software`: every selected device's installed packages, stored as a snapshot, with
/// what changed since its last one.
pub fn inventory(env: &Env, s: &ReadSettings) -> Result<Vec<InventoryRow>, Error> {
    let site = env.load_site()?;
    let store = env.open_store()?;
    let tags = ssh_devices(&site, &s.selection)?;
    if tags.is_empty() {
        return Err(Error::BadInput(
            "no devices selected: name devices, or use --group or --all".into(),
        ));
    }
    let opts = s.ssh.options(store.clone());
    Ok(each(&tags, s.parallel, |tag| {
        let mut row = InventoryRow {
            device: tag.to_string(),
            outcome: Outcome::Ok,
            error: None,
            packages: Vec::new(),
            previous_at: None,
            changes: Vec::new(),
        };
        if let Err((outcome, e)) = inventory_one(env, &site, &store, &opts, &mut row) {
            row.outcome = outcome;
            row.error = Some(e);
        }
        row
    }))
}

fn inventory_one(
    env: &Env,
    site: &Site,
    store: &Store,
    opts: &Options,
    row: &mut InventoryRow,
) -> Result<(), (Outcome, String)> {
    let tag = row.device.clone();
    let se = |e: StoreError| (store_failed(&e), e.to_string());
    let _held = store
        .lock(&tag, &Holder::doing(&env.operator, Purpose::Software))
        .map_err(se)?;
    let read = Read {
        installed: true,
        ..Read::default()
    };
    let found = engine::read(site, &tag, read, opts, &|_, _| {})
        .map_err(|p| (failed(&p), p.to_string()))?;
    row.packages = found.installed.unwrap_or_default();
    let compared = record_inventory(store, &env.operator, &tag, &row.packages).map_err(se)?;
    row.previous_at = compared.previous_at;
    row.changes = compared.changes;
    if row.previous_at.is_some() && !row.changes.is_empty() {
        row.outcome = Outcome::Changed;
    }
    Ok(())
}

/// What a device's packages were compared with: its last snapshot's time (`None`: none,
/// this list is its first) and every change since, with who made it.
pub(super) struct Compared {
    pub previous_at: Option<String>,
    pub changes: Vec<Attributed>,
}

/// Stores `packages`, just read from `tag`, as `software` does (the caller holds the
/// device's lease): an upgrade of it cut off before its end is settled first (what it
/// changed is its run's); the list is compared with the last snapshot, each change
/// attributed from the journal; the look is a journal row, and the list a new snapshot
/// unless it is the same as the last one.
pub(super) fn record_inventory(
    store: &Store,
    operator: &str,
    tag: &str,
    packages: &[Package],
) -> Result<Compared, StoreError> {
    if let Some(mark) = store.upgrade_mark(tag)? {
        // An upgrade cut off before its end: what it changed is its.
        store.settle_upgrade(tag, mark.run_id, &cut_off_rows(&mark, packages), None)?;
    }
    let mut compared = Compared {
        previous_at: None,
        changes: Vec::new(),
    };
    let previous = store.software_snapshots(tag, 1)?;
    if let Some(prev) = previous.first() {
        let before: Vec<Package> = serde_json::from_str(&prev.packages).unwrap_or_default();
        compared.previous_at = Some(prev.at.clone());
        compared.changes = attributed(store, tag, &before, packages, &prev.at)?;
    }
    let mut msg = format!(
        "inventory: {}",
        crate::words::count(packages.len(), "package")
    );
    if compared.previous_at.is_some() {
        if compared.changes.is_empty() {
            msg.push_str("; nothing changed since the last inventory");
        } else {
            let said: Vec<String> = compared
                .changes
                .iter()
                .map(|a| {
                    let by = if a.by.is_some() {
                        " (by deskready)"
                    } else {
                        ""
                    };
                    format!("{}{by}", a.change.describe())
                })
                .collect();
            msg.push_str(&format!("; since the last inventory: {}", said.join(", ")));
        }
    }
    let entry = Entry::new(tag, operator, "software")
        .subject("inventory")
        .message(msg);
    // A list the same as the last one is not stored again: the snapshots are the device's
    // software as it changed, and the journal row says when it was looked at.
    if compared.previous_at.is_some() && compared.changes.is_empty() {
        store.record(&[entry])?;
    } else {
        let json = serde_json::to_string(packages).unwrap_or_else(|_| "[]".into());
        store.record_software(tag, operator, &json, &[entry])?;
    }
    Ok(compared)
}

/// What changed on `tag` from `before` to `now`, each change attributed from the device's
/// journal since `since` (when `before` was taken).
pub(super) fn attributed(
    store: &Store,
    tag: &str,
    before: &[Package],
    now: &[Package],
    since: &str,
) -> Result<Vec<Attributed>, StoreError> {
    let changes = software_changes(before, now);
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let journal: Vec<Entry> = store
        .history(tag)?
        .into_iter()
        .filter(|e| e.at.as_str() >= since)
        .collect();
    Ok(changes
        .into_iter()
        .map(|c| Attributed {
            by: by_deskready(&c, &journal),
            change: c,
        })
        .collect())
}

/// Stores the upgrades `tag` has waiting, as `upgrades` does (without a refresh).
pub(super) fn record_waiting(
    store: &Store,
    tag: &str,
    index_age: Option<i64>,
    pending: &[Pending],
) -> Result<(), StoreError> {
    let json = serde_json::to_string(pending).unwrap_or_else(|_| "[]".into());
    store.record_pending(tag, index_age, &json)
}

/// Who made `change` when deskready's journal since the last snapshot has it: an upgrade's
/// row (`software`, about the package) or a configure's package resource.
fn by_deskready(change: &SoftwareChange, journal: &[Entry]) -> Option<String> {
    let name = change.name();
    let resource = format!("package {name}");
    journal
        .iter()
        .rev()
        .find(|e| {
            let about = match e.kind.as_str() {
                "software" => e.subject.as_deref() == Some(name),
                "resource" => e.subject.as_deref() == Some(resource.as_str()),
                _ => false,
            };
            let msg = e.message.as_deref().unwrap_or("");
            about
                && match change.now() {
                    Some(v) => msg.ends_with(&format!(" {v}")),
                    None => msg.contains("removed ") || msg.contains("purged "),
                }
        })
        .map(|e| {
            let what = if e.kind == "software" {
                "upgrade"
            } else {
                "configure"
            };
            match e.run_id {
                Some(run) => format!("deskready {what} (run {run}, {})", e.operator),
                None => format!("deskready {what} ({})", e.operator),
            }
        })
}

/// The journal rows of an upgrade that was cut off before its end (`mark`: the packages
/// the device had when it started), from the packages it has now: each version change, and
/// a row saying the run was cut off; all the run's, by its operator.
fn cut_off_rows(mark: &UpgradeMark, now: &[Package]) -> Vec<Entry> {
    let before: Vec<Package> = serde_json::from_str(&mark.packages).unwrap_or_default();
    let changes = software_changes(&before, now);
    let mut rows: Vec<Entry> = changes
        .iter()
        .map(|c| {
            Entry::new(&mark.tag, &mark.operator, "software")
                .subject(c.name())
                .message(c.describe())
        })
        .collect();
    rows.push(
        Entry::new(&mark.tag, &mark.operator, "upgrade")
            .subject("interrupted")
            .message(format!(
                "upgrade interrupted: run {} was cut off before its end (started {}); found after it: {}",
                mark.run_id,
                mark.at,
                crate::words::count(changes.len(), "package version change")
            )),
    );
    rows.into_iter().map(|e| with_run(e, mark.run_id)).collect()
}

/// `upgrades`: with devices selected, asks each (refreshing its index when asked) and
/// stores the answer; with none, what every device said when last asked.
pub fn upgrades(env: &Env, s: &ReadSettings) -> Result<Upgrades, Error> {
    let site = env.load_site()?;
    let store = env.open_store()?;
    let nothing =
        s.selection.devices.is_empty() && s.selection.groups.is_empty() && !s.selection.all;
    if nothing {
        if s.refresh {
            return Err(Error::BadInput(
                "--refresh asks devices: name devices, or use --group or --all".into(),
            ));
        }
        return Ok(report(&site, &store)?.upgrades);
    }
    let tags = ssh_devices(&site, &s.selection)?;
    if tags.is_empty() {
        return Err(Error::BadInput("no devices selected".into()));
    }
    let opts = s.ssh.options(store.clone());
    let rows = each(&tags, s.parallel, |tag| {
        let mut row = PendingRow {
            device: tag.to_string(),
            outcome: Outcome::Ok,
            error: None,
            asked_at: None,
            index_age: None,
            pending: Vec::new(),
            refresh_failed: None,
        };
        if let Err((outcome, e)) = pending_one(env, &site, &store, &opts, s.refresh, &mut row) {
            row.outcome = outcome;
            row.error = Some(e);
        }
        row
    });
    Ok(Upgrades::of(rows))
}

fn pending_one(
    env: &Env,
    site: &Site,
    store: &Store,
    opts: &Options,
    refresh: bool,
    row: &mut PendingRow,
) -> Result<(), (Outcome, String)> {
    let tag = row.device.clone();
    let se = |e: StoreError| (store_failed(&e), e.to_string());
    let _held = store
        .lock(&tag, &Holder::doing(&env.operator, Purpose::Software))
        .map_err(se)?;
    let read = Read {
        pending: true,
        refresh,
        ..Read::default()
    };
    let found = engine::read(site, &tag, read, opts, &|_, _| {})
        .map_err(|p| (failed(&p), p.to_string()))?;
    if let Some(said) = &found.pending_failed {
        // Not "nothing waits": apt could not tell, and the last answer stays as it was.
        let last = said
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err((
            Outcome::Failed,
            format!("apt cannot say what it would upgrade on {tag}: {last}"),
        ));
    }
    row.asked_at = Some(crate::store::now());
    row.index_age = found.index_age.flatten();
    row.pending = found.pending.unwrap_or_default();
    row.refresh_failed = found.refresh_failed;
    record_waiting(store, &tag, row.index_age, &row.pending).map_err(se)?;
    if refresh {
        let msg = match &row.refresh_failed {
            None => "refreshed the package index".to_string(),
            Some(e) => format!(
                "refreshing the package index failed: {}",
                e.lines().last().unwrap_or("")
            ),
        };
        store
            .record(&[Entry::new(&tag, &env.operator, "software")
                .subject("index")
                .message(msg)])
            .map_err(se)?;
    }
    if let Some(said) = &row.refresh_failed {
        // What apt said last, so the CSP sees why without --format json.
        let last = said
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        row.outcome = Outcome::Failed;
        row.error = Some(if last.is_empty() {
            "refreshing the package index failed (the upgrades listed are the old index's)".into()
        } else {
            format!(
                "refreshing the package index failed (the upgrades listed are the old index's): {last}"
            )
        });
    }
    Ok(())
}

/// `upgrade`.
#[derive(Debug, Clone, Default)]
pub struct UpgradeSettings {
    pub selection: Selection,
    /// Redo every device whose last upgrade did not succeed.
    pub resume: bool,
    /// Only the packages whose candidate comes from a security archive.
    pub security_only: bool,
    /// Only these packages (each a Debian package name).
    pub packages: Vec<String>,
    pub parallel: usize,
    pub batches: Vec<String>,
    pub max_fail: Option<String>,
    pub retries: u32,
    /// Upgrade delivered devices even outside their maintenance window.
    pub now: bool,
    /// Wait for delivered devices' maintenance windows.
    pub wait: bool,
    pub ssh: SshSettings,
}

/// Prepares an upgrade rollout: the devices selected (or to resume), each admitted by its
/// maintenance window as a configure is, and its run record started.
pub fn upgrade(env: &Env, s: &UpgradeSettings) -> Result<Prepared, Error> {
    for p in &s.packages {
        check_package_name(p).map_err(|e| Error::BadInput(format!("--packages: {e}")))?;
    }
    if s.security_only && !s.packages.is_empty() {
        return Err(Error::BadInput(
            "--security-only and --packages do not go together: name the packages, or let deskready pick the security updates".into(),
        ));
    }
    let what = if !s.packages.is_empty() {
        Upgrade::Only(s.packages.clone())
    } else if s.security_only {
        Upgrade::Security
    } else {
        Upgrade::All
    };
    let batches = super::rollout::batch_sizes(&s.batches)?;
    let site = env.load_site()?;
    let store = env.open_store()?;
    let mut tags = ssh_devices(&site, &s.selection)?;
    if s.resume {
        let last = store.last_outcomes("upgrade")?;
        if last.is_empty() {
            return Err(Error::BadInput(
                "there is no earlier upgrade run to resume".into(),
            ));
        }
        let redo: Vec<String> = last
            .iter()
            .filter(|l| !l.succeeded() && site.device(&l.device).is_some())
            .map(|l| l.device.clone())
            .collect();
        if tags.is_empty() {
            tags = redo;
        } else {
            tags.retain(|t| redo.contains(t));
        }
        if tags.is_empty() {
            return Ok(Prepared::NothingToResume);
        }
    }
    if tags.is_empty() {
        return Err(Error::BadInput(
            "no devices selected: name devices, or use --group, --all or --resume".into(),
        ));
    }
    let max_fail = s
        .max_fail
        .as_deref()
        .map(MaxFail::parse)
        .transpose()
        .map_err(|e| Error::BadInput(format!("--max-fail {e}")))?;
    // The windows are judged as a configure's: the same settings, read for --now / --wait.
    let windows = ConvergeSettings {
        mode: Mode::Upgrade,
        selection: s.selection.clone(),
        resume: s.resume,
        parallel: s.parallel,
        batches: s.batches.clone(),
        max_fail: s.max_fail.clone(),
        retries: s.retries,
        now: s.now,
        wait: s.wait,
        test_page: false,
        ssh: s.ssh.clone(),
    };
    let now = jiff::Timestamp::now();
    let mut jobs = Vec::new();
    let mut notes = HashMap::new();
    for tag in &tags {
        let (admission, note) =
            rollout::admission(&site, &store, tag, now, &windows, &env.operator)?;
        if let Some(note) = note {
            notes.insert(tag.clone(), note);
        }
        jobs.push(Job {
            resolved: Resolved {
                device: tag.clone(),
                profiles: Vec::new(),
                vars: Default::default(),
                resources: Vec::new(),
                verify: Vec::new(),
            },
            admission,
        });
    }
    let mut ssh = s.ssh.options(store.clone());
    ssh.retries = s.retries;
    let settings = Settings {
        mode: Mode::Upgrade,
        parallel: s.parallel.max(1),
        batches,
        max_fail,
        operator: env.operator.clone(),
        ssh,
    };
    let run_id = store.start_run("upgrade", &env.operator, &tags)?;
    // Later batches are admitted again, against the site as loaded now.
    let recheck_site = Arc::new(env.load_site()?);
    let books = Arc::new(UpgradeBooks {
        store: store.clone(),
        run_id,
        what,
        notes,
        recheck: Box::new({
            let (site, store) = (recheck_site, store.clone());
            let operator = env.operator.clone();
            move |tag: &str| {
                rollout::admission(
                    &site,
                    &store,
                    tag,
                    jiff::Timestamp::now(),
                    &windows,
                    &operator,
                )
                .ok()
                .map(|(a, _)| a)
            }
        }),
    });
    Ok(Prepared::Ready(Box::new(rollout::with_books(
        site,
        store,
        jobs,
        settings,
        Some(run_id),
        books,
    ))))
}

/// The store's side of an upgrade rollout: each device's lease, its journal (every
/// package version changed, dpkg mended, the result) and its run row.
struct UpgradeBooks {
    store: Arc<Store>,
    run_id: i64,
    what: Upgrade,
    /// `--now` outside a maintenance window, written with the device's result.
    notes: HashMap<String, Entry>,
    #[allow(clippy::type_complexity)]
    recheck: Box<dyn Fn(&str) -> Option<Admission> + Send + Sync>,
}

fn with_run(mut e: Entry, run_id: i64) -> Entry {
    e.run_id = Some(run_id);
    e
}

fn work_error(e: StoreError) -> WorkError {
    match e {
        StoreError::Refused(m) => WorkError::Refused(m.to_string()),
        e @ StoreError::Locked { .. } => WorkError::Refused(e.to_string()),
        e => WorkError::Failed(e.to_string()),
    }
}

impl Bookkeeper for UpgradeBooks {
    fn work(
        &self,
        site: &Site,
        resolved: &Resolved,
        settings: &Settings,
        observe: &(dyn Fn(&str, Step) + Sync),
    ) -> Result<DeviceRun, WorkError> {
        let tag = resolved.device.as_str();
        let operator = settings.operator.as_str();
        let _lock = self
            .store
            .lock(tag, &Holder::doing(operator, Purpose::Upgrade))
            .map_err(work_error)?;
        // Only a device in use: not one never received, in repair or retired.
        let stage = self.store.stage(tag).map_err(work_error)?.map(|r| r.stage);
        match stage {
            None => {
                return Err(WorkError::Refused(format!(
                    "{tag} has not been received: receive it first (only a device in use is upgraded)"
                )));
            }
            Some(s @ (Stage::InRepair | Stage::Retired)) => {
                return Err(WorkError::Refused(format!(
                    "{tag} is {s}: only a device in use is upgraded"
                )));
            }
            Some(_) => {}
        }
        let started = std::time::Instant::now();
        // The packages before it are remembered first, so that an upgrade cut off still has
        // its changes journaled (by the next `upgrade` or `software` of the device); an
        // earlier upgrade's that was cut off are journaled now.
        let mut marked = false;
        let done = match engine::begin(site, tag, &settings.ssh, observe) {
            Err(p) => Err(p),
            Ok(upgrading) => {
                let earlier = self
                    .store
                    .upgrade_mark(tag)
                    .map_err(work_error)?
                    .map(|m| cut_off_rows(&m, &upgrading.before))
                    .unwrap_or_default();
                let json = serde_json::to_string(&upgrading.before).unwrap_or_else(|_| "[]".into());
                self.store
                    .begin_upgrade(tag, self.run_id, operator, &json, &earlier)
                    .map_err(work_error)?;
                marked = true;
                upgrading.upgrade(&self.what, &settings.ssh, observe)
            }
        };
        let cut = done.is_err();
        let mut run = DeviceRun {
            device: tag.to_string(),
            mode: Mode::Upgrade,
            outcome: Outcome::Ok,
            resources: Vec::new(),
            verify: Vec::new(),
            connections: 1,
            channels: 1,
            elapsed_ms: 0,
            problems: Problems::default(),
            printer: None,
            software: None,
            standing: None,
        };
        let mut rows: Vec<Entry> = self.notes.get(tag).cloned().into_iter().collect();
        match done {
            Err(p) => {
                run.outcome = failed(&p);
                if run.outcome == Outcome::Unreachable {
                    run.connections = 0;
                    run.channels = 0;
                }
                run.problems.0.push(p);
            }
            Ok(u) => {
                for c in &u.changes {
                    run.resources.push(ResourceOutcome {
                        name: format!("package {}", c.name()),
                        kind: "package",
                        on: tag.to_string(),
                        status: Status::Changed,
                        differs: Vec::new(),
                        diff: None,
                        old_digest: None,
                        new_digest: None,
                        meta_before: None,
                        exit_code: None,
                        message: Some(c.describe()),
                        sensitive: false,
                    });
                    rows.push(
                        Entry::new(tag, operator, "software")
                            .subject(c.name())
                            .message(c.describe()),
                    );
                }
                for r in &u.dpkg_repairs {
                    let first = r.audit.lines().next().unwrap_or("");
                    let msg = match (r.when.as_str(), r.healed) {
                        _ if r.busy => format!(
                            "dpkg is busy {}: another process holds its lock, so nothing was mended or upgraded under it",
                            if r.when == "before" {
                                "before the upgrade"
                            } else {
                                "after the upgrade"
                            }
                        ),
                        ("before", true) => format!(
                            "dpkg was left half-done ({first}); `dpkg --configure -a` finished it before the upgrade"
                        ),
                        (_, true) => format!(
                            "the upgrade left dpkg half-done ({first}); `dpkg --configure -a` finished it"
                        ),
                        (_, false) => format!(
                            "dpkg is left half-done ({first}) and `dpkg --configure -a` did not finish it"
                        ),
                    };
                    rows.push(
                        Entry::new(tag, operator, "software")
                            .subject("dpkg")
                            .message(msg),
                    );
                }
                if u.succeeded() {
                    run.outcome = if u.changes.is_empty() {
                        Outcome::Ok
                    } else {
                        Outcome::Changed
                    };
                } else {
                    run.outcome = Outcome::Failed;
                    let busy = u.dpkg_repairs.iter().any(|r| r.busy);
                    let broken = u.dpkg_repairs.iter().any(|r| !r.healed && !r.busy);
                    let mut message = u
                        .output
                        .as_deref()
                        .map(|o| {
                            o.lines()
                                .filter(|l| !l.trim().is_empty())
                                .rev()
                                .take(3)
                                .collect::<Vec<_>>()
                                .into_iter()
                                .rev()
                                .collect::<Vec<_>>()
                                .join(" / ")
                        })
                        .unwrap_or_default();
                    if busy {
                        message.push_str("; dpkg is busy: another process holds its lock");
                    } else if broken {
                        message.push_str("; dpkg is left half-done");
                    } else if !u.dpkg_repairs.is_empty() {
                        message.push_str("; dpkg was mended (dpkg --configure -a)");
                    }
                    run.problems.0.push(Problem::ResourceFailed {
                        resource: "apt-get upgrade".into(),
                        on: tag.to_string(),
                        exit_code: (u.exit_code != 0).then_some(u.exit_code),
                        message: Some(message),
                    });
                }
            }
        }
        if marked {
            // The packages listed, then the upgrade: two programs on one connection.
            run.channels = 2;
        }
        run.elapsed_ms = started.elapsed().as_millis() as u64;
        let summary = match run.outcome {
            Outcome::Ok => "upgrade ok: nothing to upgrade".to_string(),
            Outcome::Changed => format!(
                "upgrade changed: {}",
                crate::words::count(run.resources.len(), "package version")
            ),
            o => format!("upgrade {o}: {}", run.problems.joined()),
        };
        rows.push(Entry::new(tag, operator, "upgrade").message(summary));
        let rows: Vec<Entry> = rows.into_iter().map(|e| with_run(e, self.run_id)).collect();
        let error = (!run.problems.is_empty()).then(|| run.problems.joined());
        let run_device = Some((self.run_id, tag, run.outcome, error.as_deref()));
        if marked && !cut {
            // It came back with its lists: every change is in `rows`.
            self.store
                .settle_upgrade(
                    tag,
                    self.run_id,
                    &rows,
                    Some((self.run_id, run.outcome, error.as_deref())),
                )
                .map_err(work_error)?;
        } else {
            // Cut off (or never started): what it changed is found by the next look.
            self.store
                .record_with(&rows, run_device)
                .map_err(work_error)?;
        }
        Ok(run)
    }

    fn finished(&self, device: &str, outcome: Outcome, error: Option<&str>) {
        let _ = self
            .store
            .settle_run_device(self.run_id, device, outcome, error);
    }

    fn admit(&self, device: &str) -> Option<Admission> {
        (self.recheck)(device)
    }
}

/// What a finished software listing means for the exit status: a device that failed or
/// could not be reached is a failure; one held by another command, refused.
pub fn read_status<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>) -> super::ExitStatus {
    let all: Vec<&Outcome> = outcomes.into_iter().collect();
    if all
        .iter()
        .any(|o| matches!(o, Outcome::Failed | Outcome::Unreachable))
    {
        super::ExitStatus::Failed
    } else if all.iter().any(|o| **o == Outcome::Refused) {
        super::ExitStatus::Refused
    } else {
        super::ExitStatus::Success
    }
}

/// One package over the fleet, from every device's newest snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct PackageSpread {
    pub name: String,
    /// How many devices have it.
    pub devices: usize,
    /// Each version installed, with how many devices have it (newest first).
    pub versions: Vec<(String, usize)>,
}

/// The report's software section: every package over the fleet and the upgrades waiting.
#[derive(Debug, Clone, Serialize)]
pub struct SoftwareReport {
    /// Devices with a snapshot.
    pub inventoried: usize,
    pub packages: Vec<PackageSpread>,
    /// What every device had waiting when last asked.
    pub upgrades: Upgrades,
}

/// The report's software section, from the store (devices of `site` only).
pub fn report(site: &Site, store: &Store) -> Result<SoftwareReport, StoreError> {
    use std::collections::BTreeMap;
    let snapshots: Vec<_> = store
        .latest_software()?
        .into_iter()
        .filter(|s| site.device(&s.tag).is_some())
        .collect();
    let mut spread: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut holders: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for snap in &snapshots {
        let packages: Vec<Package> = serde_json::from_str(&snap.packages).unwrap_or_default();
        for p in packages {
            *spread
                .entry(p.name.clone())
                .or_default()
                .entry(p.version.clone())
                .or_default() += 1;
            holders.entry(p.name).or_default().insert(snap.tag.clone());
        }
    }
    let packages = spread
        .into_iter()
        .map(|(name, versions)| {
            let mut versions: Vec<(String, usize)> = versions.into_iter().collect();
            versions.sort_by(|a, b| crate::model::compare_versions(&b.0, &a.0));
            PackageSpread {
                devices: holders.get(&name).map_or(0, |h| h.len()),
                name,
                versions,
            }
        })
        .collect();
    let rows = store
        .pending_upgrades()?
        .into_iter()
        .filter(|r| site.device(&r.tag).is_some())
        .map(|r| PendingRow {
            device: r.tag,
            outcome: Outcome::Ok,
            error: None,
            asked_at: Some(r.at),
            index_age: r.index_age,
            pending: serde_json::from_str(&r.pending).unwrap_or_default(),
            refresh_failed: None,
        })
        .collect();
    Ok(SoftwareReport {
        inventoried: snapshots.len(),
        packages,
        upgrades: Upgrades::of(rows),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_deskreadys_when_its_journal_has_it() {
        let change = SoftwareChange::Upgraded {
            name: "acme-tool".into(),
            arch: "all".into(),
            from: "1.0-1".into(),
            to: "1.0-2".into(),
        };
        let mut row = Entry::new("A", "ana", "software")
            .subject("acme-tool")
            .message("upgraded acme-tool 1.0-1 → 1.0-2");
        row.run_id = Some(4);
        assert_eq!(
            by_deskready(&change, &[row]).as_deref(),
            Some("deskready upgrade (run 4, ana)")
        );
        let configured = Entry::new("A", "bo", "resource")
            .subject("package acme-tool")
            .message("changed package on A: installed acme-tool 1.0-2");
        assert_eq!(
            by_deskready(&change, &[configured]).as_deref(),
            Some("deskready configure (bo)")
        );
        let other = Entry::new("A", "ana", "software")
            .subject("acme-tool")
            .message("upgraded acme-tool 0.9 → 1.0-1");
        assert_eq!(by_deskready(&change, &[other]), None);
    }
}
