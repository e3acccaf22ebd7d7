//! The one integration test target: every file beside this one is a module of it, and
//! `support` is the one harness they share (the binary, site copies, labs, SSH, polling).
//! Run one module with `cargo test --test integration converge::`.
//!
//! Tests check behaviour through the real `deskready` binary, real labs (sshd, cupsd,
//! printers) and the few library APIs that set up or look into those labs; nothing here
//! reaches into other library internals.
#![allow(clippy::print_stdout, clippy::print_stderr)] // tests report what they saw

mod support;

mod absent;
mod atomic;
mod audit;
mod converge;
mod device_faults;
mod exit_codes;
mod faults;
mod faults_control;
mod fleet;
mod handoff;
mod help;
mod hooks;
mod human_output;
mod input;
mod lifecycle;
mod packages;
mod printers;
mod printfleet;
mod printlab;
mod printqueue;
mod printservice;
mod queue;
mod render;
mod schedule;
mod screens;
mod secrets;
mod secrets_cut;
mod services;
mod software;
mod team;
mod transport;
mod tutorial;
mod validate;
