//! deskready: takes IT hardware from received, through configured over SSH, to delivered.
//!
//! The library owns every capability; `src/main.rs` only turns [`cli::main`] into an exit code.

pub mod audit;
pub mod cli;
pub mod engine;
pub mod handoff;
pub mod lab;
pub mod load;
pub mod model;
pub mod owned;
pub mod printer;
pub mod render;
pub mod report;
pub mod resolve;
pub mod secrets;
pub mod shell;
pub mod site;
pub mod store;
pub mod time;
pub mod transport;
