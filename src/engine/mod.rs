//! Converging devices: probe, plan, apply and verify, over one connection per device.

pub mod batch;
pub mod device;
pub mod fleet;
pub mod problem;
pub mod script;
pub mod software;
#[cfg(test)]
mod testkit;
