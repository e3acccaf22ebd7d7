//! A private PostgreSQL cluster for a test, a demo or the benchmark: Debian's `postgresql`
//! binaries, `initdb` once per process into a template that each cluster copies, a
//! `postgres` server of its own listening only on a Unix socket in its own directory (no TCP
//! port to collide with anyone's), run as the unprivileged `postgres` user when we are
//! root. The server dies with the thread that started it (parent-death signal) and is
//! stopped, and its directory removed, when the [`Cluster`] drops, a failing test included.
//!
//! Must not: touch any cluster it did not create (templates of dead processes excepted,
//! found by the pid in their name), or listen on a network address.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Why a cluster could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "PostgreSQL's server programs are not installed (no /usr/lib/postgresql/*/bin/initdb); install the Debian package `postgresql`"
    )]
    NotInstalled,
    #[error("the user `postgres` to run PostgreSQL as does not exist (install `postgresql`)")]
    NoUser,
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} failed: {output}")]
    Failed { what: String, output: String },
    #[error("the PostgreSQL server in {dir} did not become ready in {secs} s; its log: {log}")]
    NotReady { dir: String, secs: u64, log: String },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::Io { what, source }
}

/// A running private cluster with one database, `deskready`, owned by the superuser
/// `deskready` (trust authentication on its socket).
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    server: Option<Child>,
}

/// The newest installed PostgreSQL's `bin` directory.
fn bin_dir() -> Result<PathBuf, ClusterError> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| ClusterError::NotInstalled)?
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, b)| b)
        .ok_or(ClusterError::NotInstalled)
}

/// The uid and gid to run the server as: `postgres` when we are root, else ourselves.
fn run_as() -> Result<Option<(u32, u32)>, ClusterError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = c"postgres";
    // SAFETY: getpwnam with a NUL-terminated name; the record is read before any other
    // getpw* call could reuse it.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err(ClusterError::NoUser);
    }
    // SAFETY: pw is non-null and points to a valid passwd record.
    Ok(Some(unsafe { ((*pw).pw_uid, (*pw).pw_gid) }))
}

fn command(program: &Path, owner: Option<(u32, u32)>) -> Command {
    let mut c = Command::new(program);
    if let Some((uid, gid)) = owner {
        c.uid(uid).gid(gid);
    }
    c.env_remove("PGPASSWORD").env("LC_ALL", "C.UTF-8");
    c
}

fn run(mut c: Command, what: &str) -> Result<(), ClusterError> {
    let out = c.stdin(Stdio::null()).output().map_err(io(what))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ClusterError::Failed {
            what: what.to_string(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        })
    }
}

fn chown(path: &Path, owner: Option<(u32, u32)>) -> Result<(), ClusterError> {
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .map_err(io(format!("chown {}", path.display())))?;
    }
    Ok(())
}

/// Where this process's template and clusters live.
fn root() -> PathBuf {
    std::env::temp_dir().join(format!("deskready-pg-{}", std::process::id()))
}

/// Removes the directories of processes that are gone (a killed test run's leftovers).
fn sweep_dead() {
    let Ok(rd) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("deskready-pg-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// `initdb`, once per process.
fn template() -> Result<PathBuf, ClusterError> {
    static TEMPLATE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| make_template().map_err(|e| e.to_string()))
        .clone()
        .map_err(|output| ClusterError::Failed {
            what: "initdb".into(),
            output,
        })
}

fn make_template() -> Result<PathBuf, ClusterError> {
    sweep_dead();
    let bin = bin_dir()?;
    let owner = run_as()?;
    let root = root();
    std::fs::create_dir_all(&root).map_err(io(format!("create {}", root.display())))?;
    chown(&root, owner)?;
    let data = root.join("template");
    let _ = std::fs::remove_dir_all(&data);
    let mut c = command(&bin.join("initdb"), owner);
    c.arg("-D")
        .arg(&data)
        .args([
            "-A",
            "trust",
            "-U",
            "deskready",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ])
        .arg("--no-sync")
        .current_dir(&root);
    run(c, "initdb")?;
    Ok(data)
}

impl Cluster {
    /// Starts a new cluster (a copy of this process's template) and creates the database.
    pub fn start() -> Result<Cluster, ClusterError> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let template = template()?;
        let bin = bin_dir()?;
        let owner = run_as()?;
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = root().join(format!("c{n}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(io(format!("create {}", dir.display())))?;
        chown(&dir, owner)?;
        let mut cluster = Cluster { dir, server: None };
        let data = cluster.dir.join("data");
        let mut cp = command(Path::new("cp"), owner);
        cp.arg("-a").arg(&template).arg(&data);
        run(cp, "copying the template cluster")?;
        let log =
            std::fs::File::create(cluster.dir.join("log")).map_err(io("create the server log"))?;
        chown(&cluster.dir.join("log"), owner)?;
        let mut server = command(&bin.join("postgres"), owner);
        server
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(&cluster.dir)
            .args([
                "-c",
                "listen_addresses=",
                "-c",
                "fsync=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=300",
                "-c",
                "shared_buffers=16MB",
            ])
            .current_dir(&cluster.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(io("the server log"))?)
            .stderr(log);
        // SAFETY: prctl only, between fork and exec; it runs after the uid change, which
        // would otherwise clear it.
        unsafe {
            server.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cluster.server = Some(server.spawn().map_err(io("start postgres"))?);
        cluster.wait_ready(&bin, Duration::from_secs(60))?;
        let mut createdb = command(&bin.join("createdb"), owner);
        createdb
            .arg("-h")
            .arg(&cluster.dir)
            .args(["-U", "deskready", "deskready"]);
        run(createdb, "createdb")?;
        Ok(cluster)
    }

    fn wait_ready(&mut self, bin: &Path, limit: Duration) -> Result<(), ClusterError> {
        let started = Instant::now();
        loop {
            if let Some(child) = self.server.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                break;
            }
            let ok = Command::new(bin.join("pg_isready"))
                .arg("-q")
                .arg("-h")
                .arg(&self.dir)
                .args(["-U", "deskready", "-d", "postgres"])
                .stdin(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(());
            }
            if started.elapsed() > limit {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(ClusterError::NotReady {
            dir: self.dir.display().to_string(),
            secs: limit.as_secs(),
            log: std::fs::read_to_string(self.dir.join("log")).unwrap_or_default(),
        })
    }

    /// The database's address: `postgres://deskready@/deskready?host=DIR` (no password:
    /// trust on a socket only root and `postgres` can reach).
    pub fn url(&self) -> String {
        format!(
            "postgres://deskready@/deskready?host={}",
            self.dir.display()
        )
    }

    /// The directory holding the server's socket, data and log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs `sql` through `psql` as the superuser; its output, unaligned, tuples only.
    pub fn psql(&self, sql: &str) -> Result<String, ClusterError> {
        let bin = bin_dir()?;
        let out = Command::new(bin.join("psql"))
            .arg("-h")
            .arg(&self.dir)
            .args([
                "-U",
                "deskready",
                "-d",
                "deskready",
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
            ])
            .arg("ON_ERROR_STOP=1")
            .arg("-c")
            .arg(sql)
            .env_remove("PGPASSWORD")
            .stdin(Stdio::null())
            .output()
            .map_err(io("psql"))?;
        if !out.status.success() {
            return Err(ClusterError::Failed {
                what: "psql".into(),
                output: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut child) = self.server.take() {
            // SIGQUIT: immediate shutdown (nothing here needs to survive).
            // SAFETY: kill on our own child's pid.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGQUIT);
            }
            let until = Instant::now() + Duration::from_secs(10);
            while Instant::now() < until {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
