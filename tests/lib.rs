//! The one integration test target: every file beside this one is a module of it, and
//! `support` is the one harness they share (the binary, site copies, labs, SSH, polling).
//! Run one module with `cargo test --test integration converge::`.
//!
//! Tests check behaviour through the real `deskready` binary, real labs (sshd, cupsd,
//! printers) and the few library APIs that set up or look into those labs; nothing here
//! reaches into other library internals.
#![allow(clippy::print_stdout, clippy::print_stderr)] // tests report what they saw

mod support;

mod atomic;
mod audit;
mod converge;
mod device_faults;
mod faults;
mod faults_control;
mod fleet;
mod human_output;
mod lifecycle;
mod printers;
mod printlab;
mod render;
mod secrets;
mod services;
mod team;
mod transport;
mod validate;
