//! The SSH session: connect with timeouts, check the pinned host key before authenticating,
//! authenticate, and run commands one exec channel each. The only module that names ssh2
//! (and, in `key`, libssh2 itself).

mod key;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest, Sha256};
use ssh2::{BlockDirections, Channel, ErrorCode, MethodType};

use super::{
    ExecOutput, HostKeyPins, Pin, RemoteSession, SshOptions, Target, Transport, TransportError,
    shell_quote,
};

const LIBSSH2_ERROR_TIMEOUT: i32 = -9;
const LIBSSH2_ERROR_EAGAIN: i32 = -37;

/// The SSH transport: every device over its own ssh2 [`Session`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Ssh;

impl Transport for Ssh {
    fn connect(
        &self,
        target: &Target,
        opts: &SshOptions,
        pins: &dyn HostKeyPins,
    ) -> Result<Box<dyn RemoteSession>, TransportError> {
        Ok(Box::new(Session::connect(target, opts, pins)?))
    }
}

impl RemoteSession for Session {
    fn run(&mut self, command: &str, stdin: &[u8]) -> Result<ExecOutput, TransportError> {
        Session::run(self, command, stdin)
    }
    fn partial_stdout(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.partial)
    }
    fn channels_opened(&self) -> u32 {
        Session::channels_opened(self)
    }
    fn device(&self) -> &str {
        Session::device(self)
    }
    fn address(&self) -> &str {
        Session::address(self)
    }
}

/// One authenticated SSH connection to one device.
pub struct Session {
    sess: ssh2::Session,
    fd: i32,
    device: String,
    address: String,
    user: String,
    command_timeout: Duration,
    channels: u32,
    host_key: Pin,
    /// What the last failed `run` received on stdout before it failed.
    partial: Vec<u8>,
    /// The connection was cut (a timeout or an error mid-command): nothing more runs on it.
    cut: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("device", &self.device)
            .field("address", &self.address)
            .field("user", &self.user)
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

/// The operating system's reason for an I/O error, lowercase, without "(os error N)".
fn os_reason(e: &io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error") {
        Some(i) => &text[..i],
        None => &text,
    };
    text.to_lowercase()
}

fn is_eagain(e: &ssh2::Error) -> bool {
    e.code() == ErrorCode::Session(LIBSSH2_ERROR_EAGAIN)
}

fn is_timeout(e: &ssh2::Error) -> bool {
    e.code() == ErrorCode::Session(LIBSSH2_ERROR_TIMEOUT)
}

fn millis(d: Duration) -> u32 {
    d.as_millis().clamp(1, u32::MAX as u128) as u32
}

/// Host-key algorithms that yield a key of `key_type`.
fn algorithms_for(key_type: &str) -> Vec<&str> {
    match key_type {
        "ssh-rsa" => vec!["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
        other => vec![other],
    }
}

/// The key type named at the start of an SSH public key blob (`ssh-ed25519`, ...).
fn blob_key_type(blob: &[u8]) -> Option<String> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    let name = blob.get(4..4 + len)?;
    String::from_utf8(name.to_vec()).ok()
}

/// OpenSSH's fingerprint format: `SHA256:` and the unpadded base64 of the key blob's digest.
pub(crate) fn fingerprint(blob: &[u8]) -> String {
    let digest = Sha256::digest(blob);
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    )
}

impl Session {
    /// Connects, checks (or pins, on first contact) the host key, then authenticates.
    ///
    /// A key different from the pinned one is refused before any credential is offered.
    pub fn connect(
        target: &Target,
        opts: &SshOptions,
        pins: &dyn HostKeyPins,
    ) -> Result<Session, TransportError> {
        let device = target.device.clone();
        let address = target.address();
        if super::aborted() {
            return Err(TransportError::Aborted { device, address });
        }
        let deadline = Instant::now() + opts.connect_timeout;
        let timeout_err = || TransportError::ConnectTimeout {
            device: device.clone(),
            address: address.clone(),
            timeout: opts.connect_timeout,
        };
        let ssh_err = |action: &'static str, e: ssh2::Error| TransportError::Ssh {
            device: device.clone(),
            address: address.clone(),
            action,
            message: e.message().to_string(),
        };

        let tcp = tcp_connect(target, &address, opts.connect_timeout, deadline)?;
        let _ = tcp.set_nodelay(true);
        let fd = tcp.as_raw_fd();

        let mut sess = ssh2::Session::new().map_err(|e| ssh_err("starting a session", e))?;
        sess.set_tcp_stream(tcp);
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(timeout_err());
        }
        sess.set_timeout(millis(remaining));

        let pinned = pins.pinned(&device)?;
        if let Some(pin) = &pinned {
            // Ask for the pinned kind of key first so a device with several keys does not
            // look changed just because another algorithm was negotiated.
            if let Ok(supported) = sess.supported_algs(MethodType::HostKey) {
                let mut prefs: Vec<&str> = algorithms_for(&pin.key_type)
                    .into_iter()
                    .filter(|a| supported.contains(a))
                    .collect();
                if !prefs.is_empty() {
                    let rest: Vec<&str> = supported
                        .iter()
                        .copied()
                        .filter(|a| !prefs.contains(a))
                        .collect();
                    prefs.extend(rest);
                    let _ = sess.method_pref(MethodType::HostKey, &prefs.join(","));
                }
            }
        }
        sess.handshake().map_err(|e| {
            if is_timeout(&e) || Instant::now() >= deadline {
                timeout_err()
            } else {
                ssh_err("exchanging keys", e)
            }
        })?;

        let (blob, _) = sess.host_key().ok_or_else(|| TransportError::Ssh {
            device: device.clone(),
            address: address.clone(),
            action: "exchanging keys",
            message: "the server presented no host key".into(),
        })?;
        let presented = Pin {
            key_type: blob_key_type(blob).unwrap_or_else(|| "unknown".into()),
            fingerprint: fingerprint(blob),
        };
        match pinned {
            Some(pin) if pin != presented => {
                return Err(TransportError::HostKeyChanged {
                    device: device.clone(),
                    address: address.clone(),
                    pinned: pin.fingerprint,
                    presented: presented.fingerprint,
                });
            }
            Some(_) => {}
            // First contact; another run may have pinned another key meanwhile.
            None => pins.pin(&device, &presented).map_err(|e| match e {
                TransportError::HostKeyChanged {
                    pinned, presented, ..
                } => TransportError::HostKeyChanged {
                    device: device.clone(),
                    address: address.clone(),
                    pinned,
                    presented,
                },
                e => e,
            })?,
        }

        authenticate(&sess, target, opts, &device, &address)?;

        sess.set_timeout(millis(opts.command_timeout));
        Ok(Session {
            sess,
            fd,
            device,
            address,
            user: target.user.clone(),
            command_timeout: opts.command_timeout,
            channels: 0,
            host_key: presented,
            partial: Vec::new(),
            cut: false,
        })
    }

    /// Runs `command` in ONE exec channel, feeding `stdin` then EOF; returns exit status,
    /// stdout and stderr. When the user is not root the command runs as
    /// `sudo -n sh -c '<command>'`. The whole call is bounded by the command timeout.
    ///
    /// When the command times out or the connection breaks while it runs, the connection
    /// is cut at once (the socket is shut down, so nothing waits for the device to agree):
    /// the device's sshd then ends the session, which is what a program started by a
    /// [`crate::engine::script`] bootstrap watches for to kill its remote work. The stdout
    /// received until then is kept for [`Session::partial_stdout`]; the session runs
    /// nothing more.
    pub fn run(&mut self, command: &str, stdin: &[u8]) -> Result<ExecOutput, TransportError> {
        self.partial.clear();
        if self.cut {
            return Err(TransportError::Ssh {
                device: self.device.clone(),
                address: self.address.clone(),
                action: "opening a channel",
                message: "the connection was cut by an earlier timeout or error".into(),
            });
        }
        let command = remote_command(&self.user, command);
        let deadline = Instant::now() + self.command_timeout;
        self.sess.set_blocking(false);
        let mut stdout = Vec::new();
        let result = self.run_nonblocking(&command, stdin, deadline, &mut stdout);
        if result.is_err() {
            self.cut_connection();
            self.partial = stdout;
        }
        self.sess.set_blocking(true);
        result
    }

    /// What the last `run` received on stdout before it failed (a timeout, a dropped
    /// connection); empty after a run that returned its output. Takes it.
    pub fn partial_stdout(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.partial)
    }

    /// Shuts the socket down both ways: libssh2 then fails at once instead of waiting for
    /// the device to close channels, and the device's sshd sees the connection end.
    fn cut_connection(&mut self) {
        self.cut = true;
        // SAFETY: the fd belongs to the session's TcpStream, open as long as `sess` lives;
        // shutdown does not close it, so it is still closed exactly once, on drop.
        unsafe { libc::shutdown(self.fd, libc::SHUT_RDWR) };
    }

    /// How many exec channels this session has opened.
    pub fn channels_opened(&self) -> u32 {
        self.channels
    }

    /// The host key the device presented (and that matched its pin).
    pub fn host_key(&self) -> &Pin {
        &self.host_key
    }

    pub fn device(&self) -> &str {
        &self.device
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    fn ssh_err(&self, action: &'static str, e: ssh2::Error) -> TransportError {
        TransportError::Ssh {
            device: self.device.clone(),
            address: self.address.clone(),
            action,
            message: e.message().to_string(),
        }
    }

    /// The connection broke while reading a command's output.
    fn lost(&self, e: io::Error) -> TransportError {
        let reason = match os_reason(&e) {
            // libssh2's words for "the peer closed the socket".
            r if r.contains("transport read") || r.contains("socket disconnect") => {
                "the device closed the connection".to_string()
            }
            r => r,
        };
        TransportError::ConnectionLost {
            device: self.device.clone(),
            address: self.address.clone(),
            reason,
        }
    }

    fn timeout_err(&self) -> TransportError {
        TransportError::CommandTimeout {
            device: self.device.clone(),
            address: self.address.clone(),
            timeout: self.command_timeout,
        }
    }

    /// Waits until the socket is ready in the direction libssh2 is blocked on, or the
    /// deadline passes, or every session is aborted. Bounded to a short slice so data
    /// libssh2 already queued is not missed and an abort is seen within it.
    fn wait(&self, deadline: Instant) -> Result<(), TransportError> {
        if super::aborted() {
            return Err(TransportError::Aborted {
                device: self.device.clone(),
                address: self.address.clone(),
            });
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(self.timeout_err());
        }
        let slice = (deadline - now).min(Duration::from_millis(100));
        let events = match self.sess.block_directions() {
            BlockDirections::Outbound => libc::POLLOUT,
            BlockDirections::Both => libc::POLLIN | libc::POLLOUT,
            _ => libc::POLLIN,
        };
        let mut fds = libc::pollfd {
            fd: self.fd,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd, owned by this frame; the fd lives as long as `sess`.
        unsafe { libc::poll(&mut fds, 1, slice.as_millis().max(1) as libc::c_int) };
        Ok(())
    }

    /// Retries a non-blocking libssh2 call until it stops saying "would block".
    fn retry<T>(
        &self,
        deadline: Instant,
        action: &'static str,
        mut f: impl FnMut() -> Result<T, ssh2::Error>,
    ) -> Result<T, TransportError> {
        loop {
            match f() {
                Ok(v) => return Ok(v),
                Err(e) if is_eagain(&e) => self.wait(deadline)?,
                Err(e) => return Err(self.ssh_err(action, e)),
            }
        }
    }

    fn run_nonblocking(
        &mut self,
        command: &str,
        stdin: &[u8],
        deadline: Instant,
        stdout: &mut Vec<u8>,
    ) -> Result<ExecOutput, TransportError> {
        let sess = self.sess.clone();
        let mut channel = self.retry(deadline, "opening a channel", || sess.channel_session())?;
        self.channels += 1;
        self.retry(deadline, "starting the command", || channel.exec(command))?;

        let mut stderr = Vec::new();
        let mut written = 0usize;
        let mut eof_sent = false;
        let mut out_done = false;
        let mut err_done = false;
        let mut buf = vec![0u8; 64 * 1024];
        while !(out_done && err_done) {
            let mut progress = false;
            if written < stdin.len() {
                match channel.write(&stdin[written..]) {
                    Ok(n) => {
                        written += n;
                        progress |= n > 0;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    // The command stopped reading (exited, closed stdin): drop the rest.
                    Err(_) => written = stdin.len(),
                }
            } else if !eof_sent {
                match channel.send_eof() {
                    Ok(()) => {
                        eof_sent = true;
                        progress = true;
                    }
                    Err(e) if is_eagain(&e) => {}
                    Err(_) => eof_sent = true,
                }
            }
            if !out_done {
                progress |= read_stream(&mut channel, 0, &mut buf, stdout, &mut out_done)
                    .map_err(|e| self.lost(e))?;
            }
            if !err_done {
                progress |= read_stream(&mut channel, 1, &mut buf, &mut stderr, &mut err_done)
                    .map_err(|e| self.lost(e))?;
            }
            if !progress && channel.read_window().available == 0 {
                self.wait(deadline)?;
            }
        }
        self.retry(deadline, "closing the channel", || channel.close())?;
        self.retry(deadline, "closing the channel", || channel.wait_close())?;
        let mut status = channel
            .exit_status()
            .map_err(|e| self.ssh_err("reading the exit status", e))?;
        if let Ok(sig) = channel.exit_signal()
            && let Some(name) = sig.exit_signal
        {
            status = 128 + signal_number(&name).unwrap_or(0);
        }
        Ok(ExecOutput {
            status,
            stdout: std::mem::take(stdout),
            stderr,
        })
    }
}

/// What is executed for `user`: the command itself for root, else `sudo -n sh -c '<command>'`.
pub(crate) fn remote_command(user: &str, command: &str) -> String {
    if user == "root" {
        command.to_string()
    } else {
        format!("sudo -n sh -c {}", shell_quote(command))
    }
}

/// One non-blocking read of `stream` into `into`; sets `done` at end of stream.
/// Returns whether anything happened.
fn read_stream(
    channel: &mut Channel,
    stream: i32,
    buf: &mut [u8],
    into: &mut Vec<u8>,
    done: &mut bool,
) -> io::Result<bool> {
    let mut s = channel.stream(stream);
    match s.read(buf) {
        Ok(0) => {
            // libssh2 also answers 0 when it processed a non-data packet.
            if channel.eof() {
                *done = true;
                Ok(true)
            } else {
                Ok(false)
            }
        }
        Ok(n) => {
            into.extend_from_slice(&buf[..n]);
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(e),
    }
}

fn signal_number(name: &str) -> Option<i32> {
    Some(match name.trim_start_matches("SIG") {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "ABRT" => 6,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        _ => return None,
    })
}

fn tcp_connect(
    target: &Target,
    address: &str,
    timeout: Duration,
    deadline: Instant,
) -> Result<TcpStream, TransportError> {
    let unreachable = |reason: String| TransportError::Unreachable {
        device: target.device.clone(),
        address: address.to_string(),
        reason,
    };
    let addrs: Vec<SocketAddr> = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| unreachable(format!("cannot resolve {}: {}", target.host, os_reason(&e))))?
        .collect();
    if addrs.is_empty() {
        return Err(unreachable(format!("{} has no address", target.host)));
    }
    let mut last = None;
    for addr in addrs {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&addr, remaining) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) if e.kind() != io::ErrorKind::TimedOut => unreachable(os_reason(&e)),
        _ => TransportError::ConnectTimeout {
            device: target.device.clone(),
            address: address.to_string(),
            timeout,
        },
    })
}

fn default_keys() -> Vec<PathBuf> {
    let Some(home) = std::env::var_os("HOME") else {
        return Vec::new();
    };
    let ssh = Path::new(&home).join(".ssh");
    vec![ssh.join("id_ed25519"), ssh.join("id_rsa")]
}

/// `KEY.pub` beside a private key `KEY`, when it exists.
fn public_half(key: &Path) -> Option<PathBuf> {
    let mut name = key.file_name()?.to_os_string();
    name.push(".pub");
    let public = key.with_file_name(name);
    public.is_file().then_some(public)
}

fn authenticate(
    sess: &ssh2::Session,
    target: &Target,
    opts: &SshOptions,
    device: &str,
    address: &str,
) -> Result<(), TransportError> {
    let user = target.user.as_str();
    let mut tried: Vec<String> = Vec::new();
    let try_key = |path: &Path, tried: &mut Vec<String>| {
        // An ed25519 key signs from memory, decoded once per process (`key`). Otherwise
        // the public half from `KEY.pub` when it is there (as OpenSSH does): libssh2 then
        // decodes the private key once, to sign, rather than twice (deriving the public
        // key first); OpenSSL 3's key decoding is most of the controller's CPU per device.
        // A `.pub` that does not match the key fails, and the key is tried alone.
        if let Some(key) = key::load(path) {
            let mut raw = sess.raw();
            let session: *mut _ = &mut *raw;
            // SAFETY: the session is live and locked by `raw` for the whole call.
            let ok = unsafe { key::login(session.cast(), user, &key) };
            drop(raw);
            if ok && sess.authenticated() {
                return true;
            }
        }
        if let Some(public) = public_half(path)
            && sess
                .userauth_pubkey_file(user, Some(&public), path, None)
                .is_ok()
        {
            return sess.authenticated();
        }
        match sess.userauth_pubkey_file(user, None, path, None) {
            Ok(()) => {}
            Err(e) if e.code() == ErrorCode::Session(-16) => tried.push(format!(
                "key {} (unusable: {})",
                path.display(),
                e.message()
            )),
            Err(_) => tried.push(format!("key {}", path.display())),
        }
        sess.authenticated()
    };

    if let Some(identity) = &target.identity {
        if let Err(source) = std::fs::metadata(identity) {
            return Err(TransportError::KeyUnreadable {
                device: device.to_string(),
                path: identity.clone(),
                source,
            });
        }
        if try_key(identity, &mut tried) {
            return Ok(());
        }
    } else {
        if opts.use_agent {
            match try_agent(sess, user) {
                Ok(true) => return Ok(()),
                Ok(false) => tried.push("ssh-agent".into()),
                Err(why) => tried.push(format!("ssh-agent ({why})")),
            }
        }
        for key in default_keys() {
            if key.exists() && try_key(&key, &mut tried) {
                return Ok(());
            }
        }
        if tried.is_empty() {
            tried.push("nothing: no identity file given, no ssh-agent, no ~/.ssh/id_ed25519 or ~/.ssh/id_rsa".into());
        }
    }
    Err(TransportError::AuthRefused {
        device: device.to_string(),
        address: address.to_string(),
        user: user.to_string(),
        tried: tried.join(", "),
    })
}

/// Offers every key the agent holds. `Err` says why the agent could not be used.
fn try_agent(sess: &ssh2::Session, user: &str) -> Result<bool, String> {
    if std::env::var_os("SSH_AUTH_SOCK").is_none() {
        return Err("not running".into());
    }
    let mut agent = sess.agent().map_err(|e| e.message().to_string())?;
    agent.connect().map_err(|e| e.message().to_string())?;
    agent
        .list_identities()
        .map_err(|e| e.message().to_string())?;
    let ids = agent.identities().map_err(|e| e.message().to_string())?;
    if ids.is_empty() {
        return Err("no keys".into());
    }
    for id in &ids {
        if agent.userauth(user, id).is_ok() && sess.authenticated() {
            let _ = agent.disconnect();
            return Ok(true);
        }
    }
    let _ = agent.disconnect();
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_matches_openssh_format() {
        // ssh-keygen -lf prints SHA256 of the decoded blob in unpadded base64.
        let fp = fingerprint(b"abc");
        assert_eq!(fp, "SHA256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0");
    }

    #[test]
    fn key_type_from_blob() {
        let mut blob = 11u32.to_be_bytes().to_vec();
        blob.extend_from_slice(b"ssh-ed25519");
        blob.extend_from_slice(&[0, 0, 0, 32]);
        assert_eq!(blob_key_type(&blob).as_deref(), Some("ssh-ed25519"));
        assert_eq!(blob_key_type(&[0, 0]), None);
    }

    #[test]
    fn non_root_commands_go_through_sudo_as_one_word() {
        let command = "echo \"it's $(printf x)\" | tr x y; exit 4";
        assert_eq!(remote_command("root", command), command);
        let wrapped = remote_command("csp", command);
        let inner = wrapped
            .strip_prefix("sudo -n ")
            .expect("wrapped in sudo -n");
        assert_eq!(inner, format!("sh -c {}", shell_quote(command)));
        // Without sudo, the wrapped form behaves exactly like the command.
        let run = |script: &str| {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(script)
                .output()
                .unwrap()
        };
        let (direct, via) = (run(command), run(inner));
        assert_eq!(direct.stdout, b"it's y\n");
        assert_eq!(via.stdout, direct.stdout);
        assert_eq!(via.status.code(), Some(4));
    }

    #[test]
    fn os_reason_is_lowercase_without_code() {
        let e = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(os_reason(&e), "connection refused");
    }
}
