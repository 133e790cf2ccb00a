//! The cellular network an app hands over by its handle, as the shared driver's
//! [`Network`]: every socket bound with `android_setsocknetwork` before it connects, every name
//! resolved through [`crate::dns`] on the same handle, and each failure told in terms an app
//! developer can act on.
//!
//! ```text
//!  driver ─ ready() ──────► handle 0? refuse. Else bind a throwaway socket: is the network there?
//!         ─ resolve() ────► dns::resolve (res_nquery, then getaddrinfo); failed? bind again to
//!         │                 tell "network gone" (ENONET) from "name did not resolve"
//!         ─ tcp_socket() ─► socket(), android_setsocknetwork(handle, fd), non-blocking
//!  every failure ─► Failure (kept as the check's last) ─► NetFailure { TransportError, detail }
//! ```
//!
//! Fail closed: handle 0 (`NETWORK_UNSPECIFIED`) would mean "the default network", which may be
//! Wi-Fi, so it is refused; a socket that cannot be bound is never used unbound.

use std::fmt;
use std::io;
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use phonecheck_engine::TransportError;
use phonecheck_linux::driver::{NetFailure, Network, Resolved};
use phonecheck_linux::net::socket::{classify, SocketError};
use socket2::{Domain, Protocol, Socket, Type};

use crate::dns::{self, DnsFailure, Via};
use crate::ndk::{Errno, Ndk, NetHandle};

/// Why the cellular network could not be used, with what the app should do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Handle 0: no network was passed.
    NoHandle,
    /// `ENONET`: the network is gone (it disconnected, or the app released its request).
    NetworkGone(NetHandle),
    /// `EPERM` / `EACCES`: the app may not use this network (an always-on VPN that does not let
    /// apps bypass it, or the app is restricted in the background).
    NotPermitted(NetHandle),
    /// `EINVAL`: the number is not a network handle.
    NotANetwork(NetHandle),
    /// Binding failed with another errno.
    Bind(NetHandle, Errno),
    /// The name did not resolve over the network.
    Dns {
        /// The host name.
        host: String,
        /// Why.
        failure: DnsFailure,
    },
}

impl Failure {
    /// What the engine hears.
    pub fn kind(&self) -> TransportError {
        match self {
            Failure::NoHandle
            | Failure::NetworkGone(_)
            | Failure::NotPermitted(_)
            | Failure::NotANetwork(_) => TransportError::NoDataConnectivity,
            Failure::Bind(_, e) => classify(&io::Error::from_raw_os_error(*e as i32)),
            Failure::Dns { failure, .. } if failure.is_timeout() => TransportError::DnsTimeout,
            Failure::Dns { .. } => TransportError::DnsFailed,
        }
    }

    fn from_bind(handle: NetHandle, e: Errno) -> Failure {
        match e {
            Errno::ENONET => Failure::NetworkGone(handle),
            Errno::EPERM | Errno::EACCES => Failure::NotPermitted(handle),
            Errno::EINVAL => Failure::NotANetwork(handle),
            other => Failure::Bind(handle, other),
        }
    }

    fn net_failure(&self) -> NetFailure {
        NetFailure {
            kind: self.kind(),
            detail: self.to_string(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::NoHandle => f.write_str(
                "no cellular network was given (network handle 0): request a network with \
                 TRANSPORT_CELLULAR and NET_CAPABILITY_INTERNET (ConnectivityManager.requestNetwork, \
                 permission CHANGE_NETWORK_STATE) and pass its Network.getNetworkHandle()",
            ),
            Failure::NetworkGone(h) => write!(
                f,
                "the cellular network (handle {h}) is gone (ENONET): it disconnected or its \
                 request was released; request the cellular network again and retry with the \
                 new handle, keeping the request until the check returns"
            ),
            Failure::NotPermitted(h) => write!(
                f,
                "this app may not use the cellular network (handle {h}) (EPERM): usually an \
                 always-on VPN that does not allow apps to bypass it, or background data \
                 restrictions; ask the user to allow the app outside the VPN (or to turn the VPN \
                 off) and retry"
            ),
            Failure::NotANetwork(h) => write!(
                f,
                "{h} is not a network handle (EINVAL): pass Network.getNetworkHandle() of the \
                 network ConnectivityManager gave for the cellular request"
            ),
            Failure::Bind(h, e) => write!(
                f,
                "android_setsocknetwork on the cellular network (handle {h}) failed: {e}"
            ),
            Failure::Dns { host, failure } => write!(f, "resolving {host}: {failure}"),
        }
    }
}

/// A cellular network by handle, over an [`Ndk`].
#[derive(Debug)]
pub struct AndroidNetwork {
    ndk: Arc<dyn Ndk>,
    handle: NetHandle,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    last_failure: Option<Failure>,
    last_via: Option<Via>,
}

impl AndroidNetwork {
    /// The network `handle`, reached through `ndk`.
    pub fn new(ndk: Arc<dyn Ndk>, handle: NetHandle) -> Self {
        AndroidNetwork {
            ndk,
            handle,
            state: Mutex::new(State::default()),
        }
    }

    /// The handle.
    pub fn handle(&self) -> NetHandle {
        self.handle
    }

    /// The last failure reported to the driver (the one that ended a failed check).
    pub fn last_failure(&self) -> Option<Failure> {
        self.state.lock().ok().and_then(|s| s.last_failure.clone())
    }

    /// The call that answered the last name lookup.
    pub fn last_dns_via(&self) -> Option<Via> {
        self.state.lock().ok().and_then(|s| s.last_via)
    }

    fn record(&self, failure: Failure) -> Failure {
        if let Ok(mut s) = self.state.lock() {
            s.last_failure = Some(failure.clone());
        }
        failure
    }

    /// Binds `socket` to the network.
    fn bind(&self, socket: &Socket) -> Result<(), Failure> {
        if self.handle == NetHandle::UNSPECIFIED {
            return Err(Failure::NoHandle);
        }
        self.ndk
            .set_socket_network(self.handle, socket.as_fd())
            .map_err(|e| Failure::from_bind(self.handle, e))
    }

    /// Whether the network is there: binding a socket that is never used asks the platform
    /// without sending anything.
    fn probe(&self) -> Result<(), Failure> {
        if self.handle == NetHandle::UNSPECIFIED {
            return Err(Failure::NoHandle);
        }
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(|e| {
            Failure::Bind(self.handle, Errno::from_raw(e.raw_os_error().unwrap_or(0)))
        })?;
        self.bind(&socket)
    }
}

impl Network for AndroidNetwork {
    fn label(&self) -> Option<String> {
        // An interface name is what the driver's label means; Android gives the app none.
        None
    }

    fn ready(&self) -> Result<(), NetFailure> {
        self.probe().map_err(|f| self.record(f).net_failure())
    }

    fn resolve(&self, host: &str, _port: u16, deadline: Instant) -> Result<Resolved, NetFailure> {
        match dns::resolve(&self.ndk, self.handle, host, deadline) {
            Ok(lookup) => {
                if let Ok(mut s) = self.state.lock() {
                    s.last_via = Some(lookup.via);
                }
                Ok(Resolved {
                    addrs: lookup.addrs,
                    queried: lookup.via != Via::Literal,
                })
            }
            Err(failure) => {
                // getaddrinfo's EAI_NODATA (and a res_nquery errno) may hide a network that
                // went away during the lookup: a bind says so plainly.
                let failure = match self.probe() {
                    Err(gone) => gone,
                    Ok(()) => Failure::Dns {
                        host: host.to_string(),
                        failure,
                    },
                };
                Err(self.record(failure).net_failure())
            }
        }
    }

    fn resolve_without_query(&self, host: &str, _port: u16) -> Option<Resolved> {
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()
            .map(|ip| Resolved {
                addrs: vec![ip],
                queried: false,
            })
    }

    fn tcp_socket(&self, family: Domain) -> Result<Socket, SocketError> {
        let socket = Socket::new(family, Type::STREAM, Some(Protocol::TCP)).map_err(|source| {
            SocketError {
                kind: classify(&source),
                source,
                during: "socket creation",
            }
        })?;
        if let Err(failure) = self.bind(&socket) {
            let failure = self.record(failure);
            return Err(SocketError {
                kind: failure.kind(),
                source: io::Error::other(failure.to_string()),
                during: "android_setsocknetwork",
            });
        }
        socket.set_nonblocking(true).map_err(|source| SocketError {
            kind: classify(&source),
            source,
            during: "set_nonblocking",
        })?;
        Ok(socket)
    }

    /// A bound socket's `connect()` failed. Android refuses a connection from an app that may
    /// not use the network (Data Saver, background restrictions, a VPN without bypass) with
    /// `EPERM`, and a network that went away after the bind shows as `ENONET` or as no route;
    /// a second bind tells which.
    fn connect_failed(&self, error: &io::Error) -> Option<NetFailure> {
        let failure = match Errno::from_raw(error.raw_os_error()?) {
            Errno::ENONET => Failure::NetworkGone(self.handle),
            Errno::EPERM | Errno::EACCES => Failure::NotPermitted(self.handle),
            Errno::ENETUNREACH | Errno::ENETDOWN | Errno::EHOSTUNREACH => self.probe().err()?,
            _ => return None,
        };
        Some(self.record(failure).net_failure())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_failures_that_mean_the_network_are_read_as_such() {
        let standin = Arc::new(crate::standin::StandIn::new());
        let h = NetHandle(11);
        standin.add(h, crate::standin::StandInNetwork::new("lo", Vec::new()));
        let net = AndroidNetwork::new(standin.clone(), h);
        let errno = |e: Errno| io::Error::from_raw_os_error(e as i32);
        let denied = net.connect_failed(&errno(Errno::EPERM)).unwrap();
        assert_eq!(denied.kind, TransportError::NoDataConnectivity);
        assert!(denied.detail.contains("EPERM"), "{}", denied.detail);
        assert_eq!(net.last_failure(), Some(Failure::NotPermitted(h)));
        // No route while the network is still there: the generic reading stands.
        assert_eq!(net.connect_failed(&errno(Errno::ENETUNREACH)), None);
        // No route once it has gone: a bind says ENONET.
        standin.remove(h);
        let gone = net.connect_failed(&errno(Errno::ENETUNREACH)).unwrap();
        assert_eq!(gone.kind, TransportError::NoDataConnectivity);
        assert!(gone.detail.contains("ENONET"), "{}", gone.detail);
        assert_eq!(net.connect_failed(&errno(Errno::ECONNREFUSED)), None);
    }

    #[test]
    fn binding_failures_are_told_apart_and_all_mean_no_data_connectivity() {
        let h = NetHandle(7);
        let gone = Failure::from_bind(h, Errno::ENONET);
        let denied = Failure::from_bind(h, Errno::EPERM);
        assert_eq!(gone, Failure::NetworkGone(h));
        assert_eq!(denied, Failure::NotPermitted(h));
        assert_eq!(
            Failure::from_bind(h, Errno::EINVAL),
            Failure::NotANetwork(h)
        );
        for f in [&gone, &denied, &Failure::NoHandle] {
            assert_eq!(f.kind(), TransportError::NoDataConnectivity);
        }
        assert!(gone.to_string().contains("ENONET"));
        assert!(gone
            .to_string()
            .contains("request the cellular network again"));
        assert!(denied.to_string().contains("EPERM"));
        assert!(denied.to_string().contains("VPN"));
        assert_eq!(
            Failure::from_bind(h, Errno::EMFILE).kind(),
            TransportError::OutOfSockets
        );
    }
}
