//! Converging devices: probe, plan, apply and verify, over one connection per device.

pub mod script;
