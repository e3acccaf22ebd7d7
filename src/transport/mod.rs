//! Reaching devices: the only place that names ssh2 is `ssh.rs`.
