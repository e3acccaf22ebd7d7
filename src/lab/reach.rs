//! Whether the lab's print server and printers answer: a TCP connection to the port they
//! listen on, within a short timeout (on loopback a stopped one refuses at once). Used by
//! `lab status`; imports nothing of the lab.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// How long one connection may take.
const TIMEOUT: Duration = Duration::from_millis(500);

/// Whether something accepts a TCP connection at `address` (`HOST:PORT`).
pub fn answers(address: &str) -> bool {
    let addrs: Vec<SocketAddr> = match address.to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(_) => return false,
    };
    addrs
        .iter()
        .any(|a| TcpStream::connect_timeout(a, TIMEOUT).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_answers_and_a_closed_port_does_not() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        assert!(answers(&addr));
        drop(l);
        assert!(!answers(&addr));
        assert!(!answers("not an address"));
    }
}
