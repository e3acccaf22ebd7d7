//! Where a site's store is: SQLite in the site's `.deskready/` (the default), or a
//! PostgreSQL database named by `DESKREADY_STORE=postgres://…` or by the site's
//! `settings.store`. The password comes from the environment (`DESKREADY_STORE`'s own URL,
//! `PGPASSWORD`) or an owner-only file (`DESKREADY_STORE_PASSWORD_FILE`), never from the
//! site's YAML; and it is never shown: messages use [`PgTarget::shown`].
//!
//! Must not: open anything but the password file; connecting is [`PgTarget::connect`].

use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::StoreError;

/// The environment variable that names a team store (it wins over the site's setting).
pub const STORE_ENV: &str = "DESKREADY_STORE";
/// The environment variable naming an owner-only file holding the store's password.
pub const PASSWORD_FILE_ENV: &str = "DESKREADY_STORE_PASSWORD_FILE";

/// Where a store is.
#[derive(Clone, Debug)]
pub enum Location {
    /// `state.db` in this directory.
    Sqlite(PathBuf),
    Postgres(Box<PgTarget>),
}

/// A PostgreSQL database and how to log in to it.
#[derive(Clone)]
pub struct PgTarget {
    config: postgres::Config,
    shown: String,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

/// Whether `s` names a PostgreSQL store.
pub fn is_postgres_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

impl Location {
    /// The store of the site whose state directory is `state_dir`: `DESKREADY_STORE` when
    /// set, else the site's `settings.store` (`site_setting`), else SQLite in `state_dir`.
    pub fn choose(state_dir: &Path, site_setting: Option<&str>) -> Result<Location, StoreError> {
        if let Ok(url) = std::env::var(STORE_ENV)
            && !url.is_empty()
        {
            if url == "sqlite" {
                return Ok(Location::Sqlite(state_dir.to_path_buf()));
            }
            return PgTarget::parse(&url, true).map(|t| Location::Postgres(Box::new(t)));
        }
        match site_setting {
            Some(url) => PgTarget::parse(url, false).map(|t| Location::Postgres(Box::new(t))),
            None => Ok(Location::Sqlite(state_dir.to_path_buf())),
        }
    }

    /// `postgres://…` (a password allowed: it comes from the caller's environment or
    /// command line, not a file under review).
    pub fn postgres(url: &str) -> Result<Location, StoreError> {
        PgTarget::parse(url, true).map(|t| Location::Postgres(Box::new(t)))
    }

    /// For messages: the file, or the address without its password.
    pub fn shown(&self) -> String {
        match self {
            Location::Sqlite(dir) => dir.join("state.db").display().to_string(),
            Location::Postgres(pg) => pg.shown.clone(),
        }
    }
}

impl PgTarget {
    /// Parses `url`; `password_allowed` is false for the site's own setting, whose file is
    /// reviewed and shared.
    pub fn parse(url: &str, password_allowed: bool) -> Result<PgTarget, StoreError> {
        if !is_postgres_url(url) {
            return Err(StoreError::Setting(format!(
                "a team store is named postgres://USER@HOST[:PORT]/DATABASE (or postgresql://…); `{}` is not",
                redact_url(url)
            )));
        }
        let mut config = postgres::Config::from_str(url).map_err(|e| {
            StoreError::Setting(format!(
                "cannot read the store address {}: {e}",
                redact_url(url)
            ))
        })?;
        if config.get_password().is_some() && !password_allowed {
            return Err(StoreError::Setting(format!(
                "the site's store setting holds a password; remove it from {} and give it in PGPASSWORD or a file named by {PASSWORD_FILE_ENV}",
                redact_url(url)
            )));
        }
        if config.get_password().is_none()
            && let Some(p) = password_from_env()?
        {
            config.password(p);
        }
        if config.get_dbname().is_none() {
            return Err(StoreError::Setting(format!(
                "the store address {} names no database (postgres://USER@HOST/DATABASE)",
                redact_url(url)
            )));
        }
        config.application_name("deskready");
        config.connect_timeout(std::time::Duration::from_secs(10));
        let shown = shown(&config);
        Ok(PgTarget { config, shown })
    }

    /// The address without the password.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Connects (on a thread of its own when called inside an async runtime, which the
    /// blocking client cannot nest in).
    pub(super) fn connect(&self) -> Result<postgres::Client, StoreError> {
        let connect = || {
            self.config
                .connect(postgres::NoTls)
                .map_err(|source| StoreError::Connect {
                    store: self.shown.clone(),
                    source,
                })
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| match s.spawn(connect).join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            })
        } else {
            connect()
        }
    }
}

/// The password from `PGPASSWORD` or the owner-only file named by
/// `DESKREADY_STORE_PASSWORD_FILE`.
fn password_from_env() -> Result<Option<String>, StoreError> {
    if let Ok(p) = std::env::var("PGPASSWORD")
        && !p.is_empty()
    {
        return Ok(Some(p));
    }
    let Ok(file) = std::env::var(PASSWORD_FILE_ENV) else {
        return Ok(None);
    };
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&file).map_err(|e| {
        StoreError::Setting(format!("cannot read the store password file {file}: {e}"))
    })?;
    if meta.mode() & 0o077 != 0 {
        return Err(StoreError::Setting(format!(
            "the store password file {file} may be read by others (mode {:o}); chmod 600 it",
            meta.mode() & 0o777
        )));
    }
    let text = std::fs::read_to_string(&file).map_err(|e| {
        StoreError::Setting(format!("cannot read the store password file {file}: {e}"))
    })?;
    Ok(Some(text.trim_end_matches(['\n', '\r']).to_string()))
}

/// `postgres://user@host:port/db` (socket directories as `?host=/dir`), never a password.
fn shown(c: &postgres::Config) -> String {
    use postgres::config::Host;
    let user = c.get_user().map(|u| format!("{u}@")).unwrap_or_default();
    let mut hosts = Vec::new();
    let mut sockets = Vec::new();
    for (i, h) in c.get_hosts().iter().enumerate() {
        let port = c.get_ports().get(i).or(c.get_ports().first()).copied();
        match h {
            Host::Tcp(name) => hosts.push(match port {
                Some(p) if p != 5432 => format!("{name}:{p}"),
                _ => name.clone(),
            }),
            Host::Unix(dir) => sockets.push(dir.display().to_string()),
        }
    }
    let db = c.get_dbname().unwrap_or_default();
    let mut out = format!("postgres://{user}{}/{db}", hosts.join(","));
    if !sockets.is_empty() {
        out.push_str(&format!("?host={}", sockets.join(",")));
    }
    out
}

/// `url` with anything between `://` and `@` after a `:` replaced (for errors about a URL
/// that did not parse).
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let Some(at) = rest.find('@') else {
        return url.to_string();
    };
    let userinfo = &rest[..at];
    match userinfo.find(':') {
        Some(colon) => format!(
            "{}{}:[password]{}",
            &url[..scheme_end + 3],
            &userinfo[..colon],
            &rest[at..]
        ),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_never_shown_and_never_taken_from_the_site() {
        let t = PgTarget::parse("postgres://ana:s3cret@db.example:5433/fleet", true).unwrap();
        assert_eq!(t.shown(), "postgres://ana@db.example:5433/fleet");
        assert!(!format!("{t:?}").contains("s3cret"));
        let err = PgTarget::parse("postgres://ana:s3cret@db.example/fleet", false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("holds a password"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        let t = PgTarget::parse("postgresql:///fleet?host=/tmp/x&user=csp", false).unwrap();
        assert_eq!(t.shown(), "postgres://csp@/fleet?host=/tmp/x");
        assert_eq!(
            redact_url("postgres://a:b@c/d"),
            "postgres://a:[password]@c/d"
        );
    }
}
