//! Per-device locks: one configure at a time. A lock names its holder (operator, host,
//! process and its start time) so that a lock left by a dead process is recognised and
//! taken over instead of honoured.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Entry, Store, StoreError, insert_entry, now};

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub operator: String,
    pub host: String,
    pub pid: u32,
    /// The process's start time (clock ticks since boot), against pid reuse.
    pub start_time: u64,
    pub since: String,
}

impl Holder {
    /// This process, acting for `operator`.
    pub fn me(operator: &str) -> Holder {
        let pid = std::process::id();
        Holder {
            operator: operator.to_string(),
            host: hostname(),
            pid,
            start_time: start_time(pid).unwrap_or(0),
            since: now(),
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

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Field 22 of /proc/PID/stat: when the process started.
fn start_time(pid: u32) -> Option<u64> {
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
                "SELECT operator, host, pid, start_time, since FROM locks WHERE tag = ?1",
                params![tag],
                |r| {
                    Ok(Holder {
                        operator: r.get(0)?,
                        host: r.get(1)?,
                        pid: r.get(2)?,
                        start_time: r.get::<_, i64>(3)? as u64,
                        since: r.get(4)?,
                    })
                },
            )
            .optional()?;
        if let Some(h) = existing {
            if h.is_alive() {
                return Err(StoreError::Locked {
                    device: tag.to_string(),
                    holder: h.describe(),
                });
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
            "INSERT INTO locks (tag, operator, host, pid, start_time, since) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                tag,
                holder.operator,
                holder.host,
                holder.pid,
                holder.start_time as i64,
                holder.since
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
        let mut stmt =
            conn.prepare("SELECT tag, operator, host, pid, start_time, since FROM locks")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                Holder {
                    operator: r.get(1)?,
                    host: r.get(2)?,
                    pid: r.get(3)?,
                    start_time: r.get::<_, i64>(4)? as u64,
                    since: r.get(5)?,
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
