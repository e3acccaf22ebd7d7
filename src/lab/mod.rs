//! Simulated devices on this machine: sshd per device in its own mount namespace.
