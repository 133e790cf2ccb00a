//! The mobile network on Linux: sockets pinned to the cellular interface, DNS over it, and how
//! to find that interface. [`LinuxNetwork`] is the driver's [`Network`] for Linux.
//!
//! ```text
//!  iface (which interface is cellular, is it ready) ─┐
//!  mmcli (ModemManager: bearer interface, DNS)  ─────┼─► LinuxNetwork { binding, resolver }
//!  socket (SO_BINDTODEVICE, errno → TransportError) ─┤        │ Network::tcp_socket / resolve
//!  dns (A/AAAA over pinned UDP, TCP on truncation) ──┘        ▼
//!                                                     driver (blocking or multiplexed)
//! ```

pub mod dns;
pub mod iface;
pub mod mmcli;
pub mod socket;

use std::time::Instant;

use phonecheck_engine::{Policy, TransportError};
use socket2::{Domain, Socket, Type};

use crate::driver::{NetFailure, Network, Resolved};
use dns::{DnsError, Resolver};
use socket::{pinned_socket, Binding, SocketError};

/// The cellular interface on Linux: every socket pinned with `SO_BINDTODEVICE`, DNS to the
/// bearer's servers over the same interface.
#[derive(Clone, Debug)]
pub struct LinuxNetwork {
    /// Where sockets are pinned.
    pub binding: Binding,
    /// Pinned DNS.
    pub resolver: Resolver,
}

impl Network for LinuxNetwork {
    fn label(&self) -> Option<String> {
        self.binding.interface().map(str::to_string)
    }

    fn ready(&self) -> Result<(), NetFailure> {
        match self.binding.interface().and_then(interface_problem) {
            Some(problem) => Err(NetFailure {
                kind: TransportError::NoDataConnectivity,
                detail: problem,
            }),
            None => Ok(()),
        }
    }

    fn resolve(&self, host: &str, port: u16, deadline: Instant) -> Result<Resolved, NetFailure> {
        match self.resolver.resolve(host, port, deadline) {
            Ok(r) => Ok(Resolved {
                addrs: r.addrs,
                queried: r.server.is_some(),
            }),
            Err(e) => {
                let kind = match &e {
                    DnsError::Timeout => TransportError::DnsTimeout,
                    DnsError::Socket(s) => s.kind,
                    _ => TransportError::DnsFailed,
                };
                Err(NetFailure {
                    kind,
                    detail: format!("resolving {host}: {e}"),
                })
            }
        }
    }

    fn resolve_without_query(&self, host: &str, port: u16) -> Option<Resolved> {
        self.resolver
            .answer_without_query(host, port)
            .map(|addrs| Resolved {
                addrs,
                queried: false,
            })
    }

    fn tcp_socket(&self, family: Domain) -> Result<Socket, SocketError> {
        pinned_socket(family, Type::STREAM, &self.binding)
    }
}

/// Why the interface cannot carry traffic right now, if it cannot.
pub fn interface_problem(name: &str) -> Option<String> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return None;
    };
    let mut seen = false;
    let mut up = false;
    for a in addrs.filter(|a| a.interface_name == name) {
        seen = true;
        up |= a.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP);
    }
    match (seen, up) {
        (false, _) => Some(format!("interface {name} does not exist")),
        (true, false) => Some(format!("interface {name} is down")),
        _ => None,
    }
}

/// The policy every Linux check starts from: `linux` in `User-Agent`, and cookie domains checked
/// against the public suffix list.
pub fn linux_policy() -> Policy {
    Policy {
        platform: "linux",
        public_suffix: Some(is_public_suffix),
        ..Policy::default()
    }
}

/// Whether `domain` is a public suffix (`com`, `co.uk`) by the `psl` crate's copy of the list.
/// Names under an unlisted top-level domain (`mno.test`) are not refused.
pub fn is_public_suffix(domain: &[u8]) -> bool {
    psl::suffix(domain).is_some_and(|s| s.is_known() && s.as_bytes().eq_ignore_ascii_case(domain))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_suffixes_come_from_the_list() {
        assert!(is_public_suffix(b"com"));
        assert!(is_public_suffix(b"co.uk"));
        assert!(!is_public_suffix(b"mno.co.uk"));
        assert!(!is_public_suffix(b"mno.test"));
        assert!(linux_policy().public_suffix.is_some());
    }
}
