//! [`AptRepo`]: a signed apt repository a test builds in its own temporary directory and
//! serves over HTTP on a loopback address, the way a maker publishes software: packages made
//! with `dpkg-deb`, indexes with `apt-ftparchive`, signed (`InRelease`, `Release.gpg`) with a
//! throwaway gpg key made for the test. Full lab devices share the host's network, so they
//! reach it at [`AptRepo::url`].
//!
//! Suites are added one by one ([`RepoBuilder::suite`]) with their own origin and label, so
//! a second version or a "security" suite is one more line. [`Pkg::service`] makes a tiny
//! package with a systemd unit, its daemon (which counts its starts) and a config file:
//!
//! ```text
//! let repo = AptRepo::builder()
//!     .suite("stable", "Acme", vec![Pkg::service("acme-vpn", "1.0-1"), Pkg::service("acme-vpn", "1.1-1")])
//!     .suite("stable-security", "Acme Security", vec![Pkg::service("acme-vpn", "1.1-2")])
//!     .on(&lab_device_host)
//!     .serve();
//! // a source: uris: repo.url, suites: stable stable-security, components: main,
//! // key: the site's copy of repo.key, or key_url: repo.file_url("archive-key.asc") with
//! // fingerprint: repo.fingerprint; a .deb: repo.deb("acme-vpn", "1.0-1") -> (url, sha256).
//! ```
//!
//! The HTTP server is a thread of the test process (stopped on drop, even when the test
//! panics); the gpg agent is stopped as soon as the repository is signed. Never touches
//! the host's own apt configuration.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::lab::TestLab;

/// One Debian package to build.
#[derive(Clone, Debug)]
pub(crate) struct Pkg {
    pub name: String,
    pub version: String,
    /// Files it ships: path on the device, content, mode.
    pub files: Vec<(String, String, u32)>,
    /// Which of its files are configuration files (dpkg keeps local changes).
    pub conffiles: Vec<String>,
    /// Its `postinst` maintainer script, when it has one.
    pub postinst: Option<String>,
}

impl Pkg {
    /// A package with no files but its documentation.
    pub(crate) fn new(name: &str, version: &str) -> Pkg {
        Pkg {
            name: name.into(),
            version: version.into(),
            files: vec![(
                format!("/usr/share/doc/{name}/version"),
                format!("{version}\n"),
                0o644,
            )],
            conffiles: Vec::new(),
            postinst: None,
        }
    }

    /// A service the way makers ship one: `/lib/systemd/system/NAME.service` running
    /// `/usr/sbin/NAMEd`, which appends a line to `/var/lib/NAME/starts` each time it starts
    /// (so tests count starts), and `/etc/NAME/NAME.conf` (a configuration file) holding
    /// `server = vpn.example.org`. No maintainer scripts: the profile enables and starts it.
    pub(crate) fn service(name: &str, version: &str) -> Pkg {
        let mut p = Pkg::new(name, version);
        p.files.push((
            format!("/usr/sbin/{name}d"),
            format!(
                "#!/bin/sh\n# {name} {version}: a stand-in daemon for tests\n\
                 mkdir -p /var/lib/{name}\necho \"start {version}\" >> /var/lib/{name}/starts\n\
                 exec sleep infinity\n"
            ),
            0o755,
        ));
        p.files.push((
            format!("/lib/systemd/system/{name}.service"),
            format!(
                "[Unit]\nDescription={name} (a test package)\n\n[Service]\n\
                 ExecStart=/usr/sbin/{name}d\n\n[Install]\nWantedBy=multi-user.target\n"
            ),
            0o644,
        ));
        let conf = format!("/etc/{name}/{name}.conf");
        p.files
            .push((conf.clone(), "server = vpn.example.org\n".into(), 0o644));
        p.conffiles.push(conf);
        p
    }

    /// A package whose configuration hangs the first time on a device (its `postinst`
    /// sleeps 600 s, after leaving `/var/lib/NAME-hung`), as a maintainer script waiting
    /// for what never comes does; the next configuration (`dpkg --configure -a`) just ends.
    pub(crate) fn hanging(name: &str, version: &str) -> Pkg {
        let mut p = Pkg::new(name, version);
        p.postinst = Some(format!(
            "#!/bin/sh\nif [ \"$1\" = configure ] && [ ! -e /var/lib/{name}-hung ]; then\n\
             touch /var/lib/{name}-hung; sleep 600\nfi\nexit 0\n"
        ));
        p
    }

    /// What of apt's and dpkg's work on this package still runs on lab device `tag`: apt-get,
    /// dpkg, its `postinst` and what that runs (`sleep`), by process name (`comm`, at most
    /// 15 bytes), one a line; empty when none runs.
    pub(crate) fn still_at_work(&self, lab: &TestLab, tag: &str) -> String {
        let mut script = format!("{}.postinst", self.name);
        script.truncate(15);
        let names: Vec<String> = ["apt-get", "dpkg", &script, "sleep"]
            .iter()
            .map(|n| format!("-e {}", deskready::shell::quote(n)))
            .collect();
        lab.ssh(
            tag,
            &format!(
                "cat /proc/[0-9]*/comm 2>/dev/null | grep -x {}; true",
                names.join(" ")
            ),
        )
    }

    /// The `.deb` file name, as a pool holds it.
    pub(crate) fn file_name(&self) -> String {
        format!("{}_{}_all.deb", self.name, self.version)
    }
}

/// A suite of the repository: its name, where its Release says it comes from, and its
/// packages (several versions of one package may be in the same suite).
#[derive(Clone, Debug)]
pub(crate) struct Suite {
    pub name: String,
    pub origin: String,
    pub label: String,
    pub packages: Vec<Pkg>,
}

/// What to build: suites, then [`RepoBuilder::serve`].
#[derive(Default)]
pub(crate) struct RepoBuilder {
    suites: Vec<Suite>,
    address: Option<String>,
}

impl RepoBuilder {
    /// Adds suite `name` (component `main`) from `origin`, with `packages`.
    pub(crate) fn suite(mut self, name: &str, origin: &str, packages: Vec<Pkg>) -> Self {
        self.suites.push(Suite {
            name: name.into(),
            origin: origin.into(),
            label: origin.into(),
            packages,
        });
        self
    }

    /// Serves on this loopback address (a free port is picked); 127.0.0.1 otherwise.
    pub(crate) fn on(mut self, address: &str) -> Self {
        self.address = Some(address.into());
        self
    }

    /// Builds, signs and serves the repository.
    pub(crate) fn serve(self) -> AptRepo {
        let dir = tempfile::Builder::new()
            .prefix("deskready-apt-")
            .tempdir()
            .expect("temp dir");
        let root = dir.path().join("www");
        let gnupg = dir.path().join("g");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&gnupg).unwrap();
        std::fs::set_permissions(&gnupg, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        let agent = Agent(gnupg.clone());
        run(Command::new("gpg").args(gpg_args(&gnupg)).args([
            "--passphrase",
            "",
            "--quick-gen-key",
            "deskready test archive <archive@example.invalid>",
            "ed25519",
            "sign",
            "never",
        ]));
        let listing = run(Command::new("gpg")
            .args(gpg_args(&gnupg))
            .args(["--with-colons", "--list-keys"]));
        let fingerprint = listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .map(|l| l.trim_matches(':').to_string())
            .expect("the key's fingerprint");
        let key = run(Command::new("gpg")
            .args(gpg_args(&gnupg))
            .args(["--armor", "--export"]));
        std::fs::write(root.join("archive-key.asc"), &key).unwrap();
        let mut debs = Vec::new();
        for suite in &self.suites {
            let pool = root.join("pool").join(&suite.name);
            std::fs::create_dir_all(&pool).unwrap();
            for p in &suite.packages {
                let deb = pool.join(p.file_name());
                build_deb(p, &dir.path().join("build"), &deb);
                debs.push((p.clone(), deb));
            }
            let bin = root.join(format!("dists/{}/main/binary-{}", suite.name, arch()));
            std::fs::create_dir_all(&bin).unwrap();
            let packages = run(Command::new("apt-ftparchive")
                .current_dir(&root)
                .args(["packages", &format!("pool/{}", suite.name)]));
            std::fs::write(bin.join("Packages"), packages).unwrap();
            let dist = root.join("dists").join(&suite.name);
            let o = |k: &str, v: &str| format!("-oAPT::FTPArchive::Release::{k}={v}");
            let release = run(Command::new("apt-ftparchive")
                .current_dir(&root)
                .arg(o("Origin", &suite.origin))
                .arg(o("Label", &suite.label))
                .arg(o("Suite", &suite.name))
                .arg(o("Codename", &suite.name))
                .arg(o("Components", "main"))
                .arg(o("Architectures", &arch()))
                .args(["release", &format!("dists/{}", suite.name)]));
            std::fs::write(dist.join("Release"), release).unwrap();
            run(Command::new("gpg").args(gpg_args(&gnupg)).args([
                "--clearsign",
                "-o",
                &dist.join("InRelease").display().to_string(),
                &dist.join("Release").display().to_string(),
            ]));
            run(Command::new("gpg").args(gpg_args(&gnupg)).args([
                "--armor",
                "--detach-sign",
                "-o",
                &dist.join("Release.gpg").display().to_string(),
                &dist.join("Release").display().to_string(),
            ]));
        }
        drop(agent);
        let server = Server::start(self.address.as_deref().unwrap_or("127.0.0.1"), root.clone());
        AptRepo {
            url: format!("http://{}/", server.address),
            fingerprint,
            key: String::from_utf8(key.into_bytes()).unwrap(),
            debs,
            server,
            root,
            _dir: dir,
        }
    }
}

/// A built, signed repository being served.
pub(crate) struct AptRepo {
    /// `http://ADDRESS:PORT/`: the repository's root (dists/, pool/, archive-key.asc).
    pub url: String,
    /// The signing key's fingerprint (40 upper-case hex digits).
    pub fingerprint: String,
    /// The signing key, ASCII-armored (also served as `archive-key.asc`).
    pub key: String,
    /// Every package built, with its `.deb` file.
    pub debs: Vec<(Pkg, PathBuf)>,
    server: Server,
    root: PathBuf,
    _dir: tempfile::TempDir,
}

impl AptRepo {
    pub(crate) fn builder() -> RepoBuilder {
        RepoBuilder::default()
    }

    /// The URL of a file under the repository's root (`pool/stable/x.deb`).
    pub(crate) fn file_url(&self, rel: &str) -> String {
        format!("{}{rel}", self.url)
    }

    /// The URL and sha256 of the `.deb` of `name` at `version`.
    pub(crate) fn deb(&self, name: &str, version: &str) -> (String, String) {
        let (_, path) = self
            .debs
            .iter()
            .find(|(p, _)| p.name == name && p.version == version)
            .unwrap_or_else(|| panic!("no package {name} {version} in the repository"));
        let rel = path.strip_prefix(&self.root).unwrap().display().to_string();
        let sum = run(Command::new("sha256sum").arg(path));
        (
            self.file_url(&rel),
            sum.split(' ').next().unwrap().to_string(),
        )
    }

    /// How many requests for paths ending in `suffix` the server answered so far.
    pub(crate) fn requests_for(&self, suffix: &str) -> usize {
        self.server
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.ends_with(suffix))
            .count()
    }
}

fn arch() -> String {
    run(Command::new("dpkg").arg("--print-architecture"))
        .trim()
        .to_string()
}

fn gpg_args(home: &Path) -> Vec<String> {
    vec![
        "--homedir".into(),
        home.display().to_string(),
        "--batch".into(),
        "--yes".into(),
        "--quiet".into(),
        "--pinentry-mode".into(),
        "loopback".into(),
    ]
}

/// Stops the gpg agent of a home directory when dropped (even on panic).
struct Agent(PathBuf);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(&self.0)
            .args(["--kill", "all"])
            .status();
    }
}

/// Runs `cmd`, insists it succeeded, returns its stdout.
fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (is it installed? see scripts/deps.sh)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds `p` into `deb` with `dpkg-deb` in a scratch directory under `work`.
fn build_deb(p: &Pkg, work: &Path, deb: &Path) {
    let tree = work.join(format!("{}-{}", p.name, p.version));
    let _ = std::fs::remove_dir_all(&tree);
    std::fs::create_dir_all(tree.join("DEBIAN")).unwrap();
    for (path, content, mode) in &p.files {
        let f = tree.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, content).unwrap();
        std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(*mode)).unwrap();
    }
    std::fs::write(
        tree.join("DEBIAN/control"),
        format!(
            "Package: {}\nVersion: {}\nArchitecture: all\nMaintainer: deskready tests <tests@example.invalid>\n\
             Section: misc\nPriority: optional\nDescription: {} (a test package)\n A package built by deskready's tests.\n",
            p.name, p.version, p.name
        ),
    )
    .unwrap();
    if let Some(script) = &p.postinst {
        let f = tree.join("DEBIAN/postinst");
        std::fs::write(&f, script).unwrap();
        std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    if !p.conffiles.is_empty() {
        std::fs::write(tree.join("DEBIAN/conffiles"), p.conffiles.join("\n") + "\n").unwrap();
    }
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zgzip", "--build"])
        .arg(&tree)
        .arg(deb));
}

/// A static HTTP/1.1 server for one directory, in threads of the test process: each
/// connection answered in order (keep-alive, as apt uses it), GET and HEAD only.
struct Server {
    address: String,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(host: &str, root: PathBuf) -> Server {
        let listener = TcpListener::bind((host, 0)).expect("bind the repository's address");
        let address = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (s, l) = (stop.clone(), log.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (root, log) = (root.clone(), l.clone());
                std::thread::spawn(move || serve(conn, &root, &log));
            }
        });
        Server {
            address,
            stop,
            log,
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accepting thread, which then sees the flag.
        let _ = TcpStream::connect(&self.address);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers the requests of one connection until the client closes it.
fn serve(conn: TcpStream, root: &Path, log: &Mutex<Vec<String>>) {
    let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(30)));
    let mut out = match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    };
    let mut reader = BufReader::new(conn);
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request).unwrap_or(0) == 0 {
            return;
        }
        // The headers: read and ignored.
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h.trim().is_empty() {
                break;
            }
        }
        let mut words = request.split_whitespace();
        let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or("/"));
        let path = target.split('?').next().unwrap_or("/").to_string();
        log.lock().unwrap().push(path.clone());
        let file = (!path.contains(".."))
            .then(|| root.join(path.trim_start_matches('/')))
            .filter(|f| f.is_file())
            .and_then(|f| std::fs::read(f).ok());
        let (status, body) = match file {
            Some(b) => ("200 OK", b),
            None => ("404 Not Found", b"not found\n".to_vec()),
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n\r\n",
            body.len()
        );
        let sent = out.write_all(head.as_bytes()).and_then(|()| {
            if method == "HEAD" {
                Ok(())
            } else {
                out.write_all(&body)
            }
        });
        if sent.is_err() {
            return;
        }
    }
}
