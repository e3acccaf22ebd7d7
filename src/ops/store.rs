//! `store copy --to postgres://…`: moving a site to a team store. Every row of the site's
//! store is copied into an empty PostgreSQL database and verified (counts and digests per
//! table); an embedded store's receipts and assignments, which live in the site's two
//! tool-owned files, become the team store's rows. Never prints.

use super::{Env, Error, records};
use crate::owned::{ASSIGNMENTS, RECEIVED, read_section};
use crate::store::{Location, Record, Store, TableCopy};

/// What was copied.
#[derive(Debug, Clone)]
pub struct Copied {
    /// The store copied from (its file or address).
    pub from: String,
    /// The store copied to (its address, never its password).
    pub to: String,
    pub tables: Vec<TableCopy>,
    /// Receipts and assignments taken from the site's files into the team store.
    pub imported: Vec<(&'static str, usize)>,
}

/// Copies the site's store to the PostgreSQL database at `url`.
pub fn copy(env: &Env, url: &str) -> Result<Copied, Error> {
    let from = env.open_store()?;
    let target = Store::open_at(&Location::postgres(url)?)?;
    let tables = from.copy_to(&target)?;
    let mut imported = Vec::new();
    if !records::in_store(&from) {
        for (record, rel, section) in [
            (Record::Receipt, RECEIVED, "devices"),
            (Record::Assignment, ASSIGNMENTS, "overrides"),
        ] {
            let map = read_section(&env.site_dir, rel, section);
            let mut n = 0;
            for (k, v) in map {
                let Some(tag) = k.as_str() else { continue };
                let text = serde_yaml::to_string(&v)?;
                target.set_record(record, tag, Some(&text), &env.operator, &[])?;
                n += 1;
            }
            imported.push((rel, n));
        }
    }
    Ok(Copied {
        from: from.describe().to_string(),
        to: target.describe().to_string(),
        tables,
        imported,
    })
}
