//! Per-device locks: one command that changes a device or its record at a time (configure,
//! audit, assign, deliver, return, repair, retire, note, receive, seen, rekey). A lock names its
//! holder (operator, host, process and its start time) and what it is doing, so that a
//! refusal says who holds the device and a lock left by a dead process is recognised and
//! taken over instead of honoured. Knows nothing of the commands themselves.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Entry, Store, StoreError, insert_entry, now};

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

    /// Whether the holding process still runs (on this host; a lock from another host is
    /// assumed alive).
    pub fn is_alive(&self) -> bool {
        if self.host != hostname() {
            return true;
        }
        start_time(self.pid) == Some(self.start_time)
    }

    pub fn describe(&self) -> String {
        format!(
            "{} on {} (pid {}) since {}",
            self.operator, self.host, self.pid, self.since
        )
    }
}

pub(super) fn hostname() -> String {
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

/// Releases its lock when dropped.
pub struct LockGuard<'a> {
    store: &'a Store,
    tag: String,
    holder: Holder,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        let conn = self.store.conn();
        let _ = conn.execute(
            "DELETE FROM locks WHERE tag = ?1 AND pid = ?2 AND start_time = ?3",
            params![self.tag, self.holder.pid, self.holder.start_time as i64],
        );
    }
}

impl Store {
    /// Takes `tag`'s lock for `holder`, or says who has it. A lock whose process is gone is
    /// taken over, and the journal says so.
    pub fn lock(&self, tag: &str, holder: &Holder) -> Result<LockGuard<'_>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: Option<Holder> = tx
            .query_row(
                "SELECT operator, host, pid, start_time, since, purpose FROM locks WHERE tag = ?1",
                params![tag],
                holder_row,
            )
            .optional()?;
        if let Some(h) = existing {
            if h.is_alive() {
                return Err(h.refusal(tag));
            }
            tx.execute("DELETE FROM locks WHERE tag = ?1", params![tag])?;
            insert_entry(
                &tx,
                &Entry::new(tag, &holder.operator, "lock").message(format!(
                    "took over the lock left by {} (that process is gone)",
                    h.describe()
                )),
            )?;
        }
        tx.execute(
            "INSERT INTO locks (tag, operator, host, pid, start_time, since, purpose) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                tag,
                holder.operator,
                holder.host,
                holder.pid,
                holder.start_time as i64,
                holder.since,
                holder.purpose.as_str()
            ],
        )?;
        tx.commit()?;
        drop(conn);
        Ok(LockGuard {
            store: self,
            tag: tag.to_string(),
            holder: holder.clone(),
        })
    }

    /// Every lock and its holder.
    pub fn locks(&self) -> Result<Vec<(String, Holder)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT operator, host, pid, start_time, since, purpose, tag FROM locks ORDER BY tag",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(6)?, holder_row(r)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Takes the locks of every device in `tags` for `holder`, or none of them: the first
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

/// A holder from `operator, host, pid, start_time, since, purpose` columns.
fn holder_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Holder> {
    Ok(Holder {
        operator: r.get(0)?,
        host: r.get(1)?,
        pid: r.get(2)?,
        start_time: r.get::<_, i64>(3)? as u64,
        since: r.get(4)?,
        purpose: Purpose::parse(&r.get::<_, String>(5)?),
    })
}
