//! Per-device leases: one command that changes a device or its record at a time (configure,
//! audit, assign, deliver, return, repair, retire, note, receive, seen, rekey). A lease names
//! its holder (operator, machine, process and its start time), what it is doing, and when it
//! expires unless renewed; a thread of the holding process renews every lease it holds while
//! the work runs. A refusal says who holds the device; a lease whose process is gone (on this
//! machine) or whose expiry has passed (on any machine) is taken over, and the journal says
//! so. Leases are rows, never database advisory locks. Knows nothing of the commands.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::db::{Db, Row, Tx, args};
use super::{Entry, Store, StoreError, insert_entry, now, unix_now};

/// How long a lease lasts unless renewed (seconds); `DESKREADY_LEASE_SECS` overrides it.
pub const LEASE_SECS: i64 = 60;

/// The lease time of this process.
pub fn lease_secs() -> i64 {
    std::env::var("DESKREADY_LEASE_SECS")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(LEASE_SECS)
}

/// What a lock's holder is doing to the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Configure,
    Audit,
    Assign,
    Deliver,
    Return,
    Repair,
    Retire,
    Note,
    Receive,
    Seen,
    Rekey,
    Accept,
    Software,
    Upgrade,
}

impl Purpose {
    pub const ALL: &'static [Purpose] = &[
        Purpose::Configure,
        Purpose::Audit,
        Purpose::Assign,
        Purpose::Deliver,
        Purpose::Return,
        Purpose::Repair,
        Purpose::Retire,
        Purpose::Note,
        Purpose::Receive,
        Purpose::Seen,
        Purpose::Rekey,
        Purpose::Accept,
        Purpose::Software,
        Purpose::Upgrade,
    ];

    /// The stored word (the command's name).
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Configure => "configure",
            Purpose::Audit => "audit",
            Purpose::Assign => "assign",
            Purpose::Deliver => "deliver",
            Purpose::Return => "return",
            Purpose::Repair => "repair",
            Purpose::Retire => "retire",
            Purpose::Note => "note",
            Purpose::Receive => "receive",
            Purpose::Seen => "seen",
            Purpose::Rekey => "rekey",
            Purpose::Accept => "accept",
            Purpose::Software => "software",
            Purpose::Upgrade => "upgrade",
        }
    }

    /// A stored word; an unknown one (from a newer deskready) reads as configure, the
    /// longest-running purpose.
    pub fn parse(s: &str) -> Purpose {
        Purpose::ALL
            .iter()
            .copied()
            .find(|p| p.as_str() == s)
            .unwrap_or(Purpose::Configure)
    }

    /// "LAP-1 is being {this} by ...".
    fn participle(self) -> &'static str {
        match self {
            Purpose::Configure => "configured",
            Purpose::Audit => "audited",
            Purpose::Assign => "assigned",
            Purpose::Deliver => "delivered",
            Purpose::Return => "returned",
            Purpose::Repair => "sent to repair",
            Purpose::Retire => "retired",
            Purpose::Note => "noted",
            Purpose::Receive => "received",
            Purpose::Seen => "recorded as seen",
            Purpose::Rekey => "rekeyed",
            Purpose::Accept => "recorded as accepted",
            Purpose::Software => "inventoried",
            Purpose::Upgrade => "upgraded",
        }
    }
}

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub operator: String,
    pub host: String,
    pub pid: u32,
    /// The process's start time (clock ticks since boot), against pid reuse.
    pub start_time: u64,
    pub since: String,
    pub purpose: Purpose,
    /// When the lease ends unless renewed (Unix seconds; 0: never by time).
    pub expires: i64,
}

impl Holder {
    /// This process, configuring for `operator`.
    pub fn me(operator: &str) -> Holder {
        Holder::doing(operator, Purpose::Configure)
    }

    /// This process, acting for `operator` to do `purpose`.
    pub fn doing(operator: &str, purpose: Purpose) -> Holder {
        let pid = std::process::id();
        Holder {
            operator: operator.to_string(),
            host: hostname(),
            pid,
            start_time: start_time(pid).unwrap_or(0),
            since: now(),
            purpose,
            expires: unix_now() + lease_secs(),
        }
    }

    /// The refusal of another command that wants `device` while this holder has it.
    pub fn refusal(&self, device: &str) -> StoreError {
        StoreError::Locked {
            device: device.to_string(),
            holder: self.describe(),
            doing: self.purpose.participle(),
            until: if self.purpose == Purpose::Configure {
                "that run ends"
            } else {
                "that command ends"
            },
        }
    }

    /// Whether the lease still binds: not expired, and its process still runs (on this
    /// machine; a process on another machine is known only by its renewals).
    pub fn is_alive(&self) -> bool {
        if self.is_expired() {
            return false;
        }
        if self.host != hostname() {
            return true;
        }
        start_time(self.pid) == Some(self.start_time)
    }

    /// Whether its expiry has passed without a renewal.
    pub fn is_expired(&self) -> bool {
        self.expires != 0 && self.expires < unix_now()
    }

    /// When the lease expires, RFC 3339 (or "never" for a lock of an older deskready).
    pub fn expires_at(&self) -> String {
        if self.expires == 0 {
            "never".into()
        } else {
            crate::time::rfc3339(self.expires)
        }
    }

    /// Whether this process holds it.
    pub fn is_mine(&self) -> bool {
        let pid = std::process::id();
        self.pid == pid && self.host == hostname() && Some(self.start_time) == start_time(pid)
    }

    pub fn describe(&self) -> String {
        format!(
            "{} on {} (pid {}) since {}",
            self.operator, self.host, self.pid, self.since
        )
    }
}

/// This machine's name in leases and runs: `DESKREADY_MACHINE` when set (machines that share
/// a hostname, such as containers), else the kernel's hostname.
pub(super) fn hostname() -> String {
    if let Ok(m) = std::env::var("DESKREADY_MACHINE")
        && !m.trim().is_empty()
    {
        return m.trim().to_string();
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Field 22 of /proc/PID/stat: when the process started.
pub(super) fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    // After the name: state is field 3, so start time (22) is index 19 here.
    let state = after.split(' ').next()?;
    if state == "Z" {
        return None;
    }
    after.split(' ').nth(19)?.parse().ok()
}

/// The leases this store holds, renewed by a thread while any is held.
pub(super) struct Leases {
    held: Arc<Mutex<HashMap<String, Holder>>>,
    renewer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The lease time, seconds.
    secs: Arc<AtomicI64>,
}

impl Default for Leases {
    fn default() -> Self {
        Leases {
            held: Arc::default(),
            renewer: Mutex::default(),
            secs: Arc::new(AtomicI64::new(lease_secs())),
        }
    }
}

impl Leases {
    pub(super) fn secs(&self) -> i64 {
        self.secs.load(Ordering::Relaxed)
    }

    fn add(&self, db: &Arc<Db>, tag: &str, holder: &Holder) {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(tag.to_string(), holder.clone());
        let mut renewer = self.renewer.lock().unwrap_or_else(|e| e.into_inner());
        if renewer.as_ref().is_none_or(|h| h.is_finished()) {
            let held = Arc::downgrade(&self.held);
            let db = Arc::downgrade(db);
            let secs = self.secs.clone();
            *renewer = std::thread::Builder::new()
                .name("deskready-leases".into())
                .spawn(move || renew_while_held(&db, &held, &secs))
                .ok();
        }
    }

    fn remove(&self, tag: &str) {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(tag);
    }
}

/// Renews the held leases every third of the lease time until none is held or the store is
/// gone.
fn renew_while_held(db: &Weak<Db>, held: &Weak<Mutex<HashMap<String, Holder>>>, secs: &AtomicI64) {
    loop {
        let lease = secs.load(Ordering::Relaxed);
        std::thread::sleep(std::time::Duration::from_millis(
            (lease * 1000 / 3).max(200) as u64,
        ));
        let (Some(db), Some(held)) = (db.upgrade(), held.upgrade()) else {
            return;
        };
        let leases: Vec<(String, Holder)> = held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(t, h)| (t.clone(), h.clone()))
            .collect();
        if leases.is_empty() {
            return;
        }
        let expires = unix_now() + lease;
        let _ = db.write(|tx| {
            for (tag, h) in &leases {
                tx.execute(
                    "UPDATE locks SET expires = $1 WHERE tag = $2 AND host = $3 AND pid = $4 AND start_time = $5",
                    args![expires, tag, h.host, h.pid, h.start_time as i64],
                )?;
            }
            Ok(())
        });
    }
}

/// Releases its lease when dropped.
pub struct LockGuard<'a> {
    store: &'a Store,
    tag: String,
    holder: Holder,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        self.store.leases.remove(&self.tag);
        let h = &self.holder;
        let _ = self.store.db.write(|tx| {
            tx.execute(
                "DELETE FROM locks WHERE tag = $1 AND host = $2 AND pid = $3 AND start_time = $4",
                args![self.tag, h.host, h.pid, h.start_time as i64],
            )
        });
    }
}

/// The columns [`holder_row`] reads.
const HOLDER_COLUMNS: &str = "operator, host, pid, start_time, since, purpose, expires";

impl Store {
    /// Takes `tag`'s lease for `holder`, or says who has it. A lease whose process is gone
    /// or whose time ran out is taken over, and the journal says so. The lease is renewed
    /// while the guard lives.
    pub fn lock(&self, tag: &str, holder: &Holder) -> Result<LockGuard<'_>, StoreError> {
        let mut holder = holder.clone();
        holder.expires = unix_now() + self.leases.secs();
        self.db.write(|tx| take(tx, tag, &holder))?;
        self.leases.add(&self.db, tag, &holder);
        Ok(LockGuard {
            store: self,
            tag: tag.to_string(),
            holder,
        })
    }

    /// Sets this store's lease time (seconds; `DESKREADY_LEASE_SECS` or [`LEASE_SECS`] by
    /// default): how long a lease it takes lasts without a renewal.
    pub fn set_lease_secs(&self, secs: i64) {
        self.leases.secs.store(secs.max(1), Ordering::Relaxed);
    }

    /// Every lease and its holder (expired ones included, until taken over).
    pub fn locks(&self) -> Result<Vec<(String, Holder)>, StoreError> {
        let rows = self.db.read(|tx| {
            tx.query(
                &format!("SELECT {HOLDER_COLUMNS}, tag FROM locks ORDER BY tag"),
                args![],
            )
        })?;
        rows.iter()
            .map(|r| Ok((r.get::<String>(7)?, holder_row(r)?)))
            .collect()
    }

    /// Takes the leases of every device in `tags` for `holder`, or none of them: the first
    /// one held by another live process is refused naming its holder.
    pub fn lock_all(
        &self,
        tags: &[String],
        holder: &Holder,
    ) -> Result<Vec<LockGuard<'_>>, StoreError> {
        let mut guards = Vec::with_capacity(tags.len());
        for t in tags {
            guards.push(self.lock(t, holder)?);
        }
        Ok(guards)
    }
}

/// Takes `tag`'s lease in the caller's transaction (see [`Store::lock`]).
fn take(tx: &mut Tx<'_>, tag: &str, holder: &Holder) -> Result<(), StoreError> {
    let existing = tx
        .query_opt(
            &format!("SELECT {HOLDER_COLUMNS} FROM locks WHERE tag = $1"),
            args![tag],
        )?
        .map(|r| holder_row(&r))
        .transpose()?;
    if let Some(h) = existing {
        if h.is_alive() {
            return Err(h.refusal(tag));
        }
        // As on open (`recover_interrupted`): a dead configure's device becomes
        // `configure-failed`, not left `configuring` with no lease (which nothing would
        // ever recover); the lease expired since this store was opened.
        super::recover::release_in(
            tx,
            tag,
            &h,
            &super::recover::interrupted(&h),
            &h.operator,
            None,
        )?;
        let why = if h.is_expired() {
            format!(
                "took over the lease of {} (it expired at {} without a renewal)",
                h.describe(),
                h.expires_at()
            )
        } else {
            format!(
                "took over the lock left by {} (that process is gone)",
                h.describe()
            )
        };
        insert_entry(tx, &Entry::new(tag, &holder.operator, "lock").message(why))?;
    }
    tx.execute(
        "INSERT INTO locks (tag, operator, host, pid, start_time, since, purpose, expires) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        args![
            tag,
            holder.operator,
            holder.host,
            holder.pid,
            holder.start_time as i64,
            holder.since,
            holder.purpose.as_str(),
            holder.expires
        ],
    )?;
    Ok(())
}

/// A holder from [`HOLDER_COLUMNS`].
pub(super) fn holder_row(r: &Row) -> Result<Holder, StoreError> {
    Ok(Holder {
        operator: r.get(0)?,
        host: r.get(1)?,
        pid: r.get(2)?,
        start_time: r.get::<i64>(3)? as u64,
        since: r.get(4)?,
        purpose: Purpose::parse(&r.get::<String>(5)?),
        expires: r.get(6)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Stage;
    use crate::store::conformance::both;

    both! {
    fn a_lease_is_renewed_while_held_and_an_expired_one_taken_over(fx: &Fixture) {
        let s = fx.open();
        s.set_lease_secs(1);
        let guard = s.lock("LAP-1", &Holder::me("ana")).unwrap();
        let first = s.locks().unwrap()[0].1.expires;
        // Renewed by the store's thread while the guard lives: never expires.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while s.locks().unwrap()[0].1.expires <= first {
            assert!(std::time::Instant::now() < until, "never renewed");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(s.lock("LAP-1", &Holder::me("bo")).is_err());
        drop(guard);

        // Another machine's lease that ran out: taken over, and journaled.
        s.transition("LAP-2", Stage::Received, "cy", None, &[]).unwrap();
        s.transition("LAP-2", Stage::Configuring, "cy", None, &[]).unwrap();
        s.sql(
            "INSERT INTO locks (tag, operator, host, pid, start_time, since, purpose, expires) VALUES ('LAP-2', 'cy', 'other-machine', 42, 1, '2026-11-24T00:00:00Z', 'configure', $1)",
            args![unix_now() - 5],
        );
        let err = s.lock("LAP-3", &Holder::me("bo"));
        assert!(err.is_ok());
        // On open, the expired configure is recovered: the device failed, the lease gone.
        let again = fx.open();
        let rec = again.stage("LAP-2").unwrap().unwrap();
        assert_eq!(rec.stage, Stage::ConfigureFailed);
        assert!(
            rec.last_error.as_deref().unwrap().contains("stopped renewing its lease"),
            "{rec:?}"
        );
        // A configure whose lease expires after the store was opened: the next lock takes
        // it over and recovers the device as opening would have (not left `configuring`).
        s.transition("LAP-5", Stage::Received, "cy", None, &[]).unwrap();
        s.transition("LAP-5", Stage::Configuring, "cy", None, &[]).unwrap();
        s.sql(
            "INSERT INTO locks (tag, operator, host, pid, start_time, since, purpose, expires) VALUES ('LAP-5', 'cy', 'other-machine', 42, 1, '2026-11-24T00:00:00Z', 'configure', $1)",
            args![unix_now() - 5],
        );
        let g5 = s.lock("LAP-5", &Holder::me("bo")).unwrap();
        let rec = s.stage("LAP-5").unwrap().unwrap();
        assert_eq!(rec.stage, Stage::ConfigureFailed);
        assert!(
            rec.last_error.as_deref().unwrap().contains("stopped renewing its lease"),
            "{rec:?}"
        );
        s.transition("LAP-5", Stage::Configuring, "bo", None, &[]).unwrap();
        drop(g5);
        // A live one from another machine binds until it expires; then it is taken over.
        s.sql(
            "INSERT INTO locks (tag, operator, host, pid, start_time, since, purpose, expires) VALUES ('LAP-4', 'cy', 'other-machine', 42, 1, '2026-11-24T00:00:00Z', 'assign', $1)",
            args![unix_now() + 1],
        );
        let err = s.lock("LAP-4", &Holder::me("bo")).err().unwrap().to_string();
        assert!(err.starts_with("LAP-4 is being assigned by cy on other-machine (pid 42)"), "{err}");
        let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let _g = loop {
            match s.lock("LAP-4", &Holder::me("bo")) {
                Ok(g) => break g,
                Err(_) => {
                    assert!(std::time::Instant::now() < until, "never expired");
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            }
        };
        let h = s.history("LAP-4").unwrap();
        assert!(
            h[0].message.as_deref().unwrap().starts_with("took over the lease of cy on other-machine (pid 42)"),
            "{h:?}"
        );
    }
    }

    both! {
    fn unlock_breaks_a_lease_and_says_so_in_the_journal(fx: &Fixture) {
        let s = fx.open();
        s.transition("LAP-1", Stage::Received, "ana", None, &[]).unwrap();
        s.sql(
            "INSERT INTO locks (tag, operator, host, pid, start_time, since, purpose, expires) VALUES ('LAP-1', 'cy', 'other-machine', 42, 1, '2026-11-24T00:00:00Z', 'configure', $1)",
            args![unix_now() + 600],
        );
        s.sql("UPDATE devices SET stage = 'configuring' WHERE tag = 'LAP-1'", args![]);
        let broken = s.unlock("LAP-1", "ana", "cy's laptop died").unwrap().unwrap();
        assert_eq!(broken.operator, "cy");
        assert!(s.locks().unwrap().is_empty());
        assert_eq!(s.stage("LAP-1").unwrap().unwrap().stage, Stage::ConfigureFailed);
        let last = s.history("LAP-1").unwrap().pop().unwrap();
        assert_eq!(last.kind, "lock");
        assert!(
            last.message.as_deref().unwrap().starts_with("ana broke the lease of cy on other-machine (pid 42)"),
            "{last:?}"
        );
        assert!(last.message.as_deref().unwrap().ends_with(": cy's laptop died"));
        assert!(s.unlock("LAP-1", "ana", "again").unwrap().is_none());
    }
    }
}
