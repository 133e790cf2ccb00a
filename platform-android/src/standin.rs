//! The NDK's multinetwork calls over plain Linux, so that everything above [`Ndk`] runs on a
//! host against real sockets: a handle names a Linux interface, `android_setsocknetwork` becomes
//! `SO_BINDTODEVICE`, `android_res_nquery` sends one query from a UDP socket pinned the same way
//! to the network's DNS server and hands back that socket's fd, and
//! `android_getaddrinfofornetwork` runs phonecheck-linux's pinned resolver. Built for every
//! target but Android; the host build of the library (tests, the desktop JVM) uses it.
//!
//! ```text
//!  handle ─► StandInNetwork { interface, dns, permitted }   (none: the network is gone)
//!  set_socket_network ─► EPERM if not permitted; SO_BINDTODEVICE; ENODEV (interface gone) ─► ENONET
//!  res_nquery ─► pinned UDP socket connected to dns[0], query sent, fd returned (poll it)
//!  res_nresult ─► recv, rcode from the header; res_cancel ─► close
//!  getaddrinfo_for_network ─► pinned A + AAAA; every failure folded into EAI_NODATA, as Android does
//! ```
//!
//! What it decides like the platform would, it decides from its table: a handle that is not in
//! it answers `ENONET`, one marked not permitted answers `EPERM` (as netd does for a VPN that
//! allows no bypass); `Api29::Missing` plays a device older than API 29. Every call is logged, so
//! tests can see the order the shared logic used.

use std::collections::HashMap;
use std::ffi::CStr;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::BorrowedFd;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use phonecheck_linux::net::dns::{build_query, random_id, Resolver};
use phonecheck_linux::net::socket::{pinned_socket, Binding};
use simple_dns::TYPE;
use socket2::{Domain, SockRef, Type};

use crate::ndk::{DnsQuery, Errno, GaiError, Ndk, NetHandle, QueryError, Reply};

/// How long the stand-in's getaddrinfo tries (Android's resolver has its own retry budget; the
/// caller's deadline still bounds the wait).
const GETADDRINFO_BUDGET: Duration = Duration::from_secs(10);

/// One network the stand-in knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StandInNetwork {
    /// The Linux interface that plays the cellular network.
    pub interface: String,
    /// Its DNS servers (res_nquery asks the first; getaddrinfo all of them).
    pub dns: Vec<SocketAddr>,
    /// Whether this app may use it (false: every bind answers `EPERM`).
    pub permitted: bool,
}

impl StandInNetwork {
    /// A usable network on `interface` with DNS at `dns`.
    pub fn new(interface: &str, dns: Vec<SocketAddr>) -> Self {
        StandInNetwork {
            interface: interface.to_string(),
            dns,
            permitted: true,
        }
    }
}

/// Which of the API 29 DNS calls the stand-in device has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api29 {
    /// Present and working.
    Present,
    /// Missing (a device older than Android 10).
    Missing,
    /// Present, but every `android_res_nquery` fails with this errno.
    Failing(Errno),
}

/// One NDK call the stand-in answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call {
    /// The NDK function's name.
    pub function: &'static str,
    /// The handle it was given (0 for calls that take none).
    pub network: NetHandle,
}

/// The stand-in NDK.
#[derive(Debug)]
pub struct StandIn {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    networks: HashMap<NetHandle, StandInNetwork>,
    api29: Api29,
    calls: Vec<Call>,
    panic_on: Option<NetHandle>,
}

impl Default for StandIn {
    fn default() -> Self {
        StandIn {
            inner: Mutex::new(Inner {
                networks: HashMap::new(),
                api29: Api29::Present,
                calls: Vec::new(),
                panic_on: None,
            }),
        }
    }
}

/// Environment variables that describe the stand-in device to a host build loaded by a
/// program that cannot call Rust (the desktop JVM test).
pub mod env {
    /// `HANDLE=IFACE@DNS[,DNS...][;...]`, e.g. `100=lo@127.0.0.1:5353`.
    pub const NETWORKS: &str = "PHONECHECK_STANDIN_NETWORKS";
    /// `missing` plays a device older than API 29.
    pub const API29: &str = "PHONECHECK_STANDIN_API29";
    /// A PEM file that replaces the trusted roots (a test CA).
    pub const CA: &str = "PHONECHECK_STANDIN_CA";
    /// A handle whose `android_setsocknetwork` panics: proves that a panic does not cross the
    /// JNI or C boundary.
    pub const PANIC_HANDLE: &str = "PHONECHECK_STANDIN_PANIC_HANDLE";
}

impl StandIn {
    /// A device with no networks.
    pub fn new() -> Self {
        Self::default()
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds (or replaces) the network `handle`.
    pub fn add(&self, handle: NetHandle, network: StandInNetwork) {
        self.inner().networks.insert(handle, network);
    }

    /// The network `handle` disconnects: later calls answer `ENONET`.
    pub fn remove(&self, handle: NetHandle) {
        self.inner().networks.remove(&handle);
    }

    /// Allows or forbids the app the network `handle`.
    pub fn set_permitted(&self, handle: NetHandle, permitted: bool) {
        if let Some(n) = self.inner().networks.get_mut(&handle) {
            n.permitted = permitted;
        }
    }

    /// Which API 29 calls the device has.
    pub fn set_api29(&self, api29: Api29) {
        self.inner().api29 = api29;
    }

    /// Makes `android_setsocknetwork` on `handle` panic.
    pub fn panic_on(&self, handle: NetHandle) {
        self.inner().panic_on = Some(handle);
    }

    /// The calls answered so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.inner().calls.clone()
    }

    /// The device the environment describes (see [`mod@env`]), and the PEM of its trusted roots
    /// when one is set. A malformed variable is an error that names it.
    pub fn from_env() -> Result<(StandIn, Option<Vec<u8>>), String> {
        let standin = StandIn::new();
        if let Ok(spec) = std::env::var(env::NETWORKS) {
            for (handle, network) in parse_networks(&spec)? {
                standin.add(handle, network);
            }
        }
        match std::env::var(env::API29).as_deref() {
            Ok("missing") => standin.set_api29(Api29::Missing),
            Ok("present") | Err(_) => {}
            Ok(other) => {
                return Err(format!(
                    "{}: want missing or present, got {other:?}",
                    env::API29
                ))
            }
        }
        if let Ok(h) = std::env::var(env::PANIC_HANDLE) {
            let h = h
                .parse()
                .map_err(|_| format!("{}: not a handle: {h:?}", env::PANIC_HANDLE))?;
            standin.panic_on(NetHandle(h));
        }
        let ca = match std::env::var(env::CA) {
            Ok(path) => {
                Some(std::fs::read(&path).map_err(|e| format!("{}: {path}: {e}", env::CA))?)
            }
            Err(_) => None,
        };
        Ok((standin, ca))
    }

    /// Logs a call and returns the network, as the platform would see it.
    fn lookup(&self, function: &'static str, network: NetHandle) -> Result<StandInNetwork, Errno> {
        let mut inner = self.inner();
        inner.calls.push(Call { function, network });
        let panic = inner.panic_on == Some(network) && function == "android_setsocknetwork";
        let found = inner.networks.get(&network).cloned();
        drop(inner);
        if panic {
            panic!("stand-in: android_setsocknetwork on handle {network} panics, as asked");
        }
        let found = found.ok_or(Errno::ENONET)?;
        if !found.permitted {
            return Err(Errno::EPERM);
        }
        Ok(found)
    }

    fn log(&self, function: &'static str, network: NetHandle) {
        self.inner().calls.push(Call { function, network });
    }
}

/// Parses [`env::NETWORKS`].
fn parse_networks(spec: &str) -> Result<Vec<(NetHandle, StandInNetwork)>, String> {
    let bad = |what: &str| {
        format!(
            "{}: {what} in {spec:?} (want HANDLE=IFACE@DNS[,DNS...];...)",
            env::NETWORKS
        )
    };
    let mut out = Vec::new();
    for entry in spec.split(';').filter(|e| !e.trim().is_empty()) {
        let (handle, rest) = entry.trim().split_once('=').ok_or_else(|| bad("no ="))?;
        let handle: u64 = handle
            .parse()
            .map_err(|_| bad("a handle that is not a number"))?;
        let (interface, dns) = rest.split_once('@').unwrap_or((rest, ""));
        let dns = dns
            .split(',')
            .filter(|d| !d.is_empty())
            .map(|d| d.parse::<SocketAddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| bad("a DNS server that is not IP:PORT"))?;
        if interface.is_empty() {
            return Err(bad("an empty interface"));
        }
        out.push((NetHandle(handle), StandInNetwork::new(interface, dns)));
    }
    Ok(out)
}

fn errno_of(e: &io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(Errno::EIO as i32))
}

/// An interface that has disappeared is, to an app, a network that has gone.
fn gone_if_missing(e: Errno) -> Errno {
    if e == Errno::ENODEV {
        Errno::ENONET
    } else {
        e
    }
}

impl Ndk for StandIn {
    fn set_socket_network(&self, network: NetHandle, socket: BorrowedFd<'_>) -> Result<(), Errno> {
        let sock = SockRef::from(&socket);
        if network == NetHandle::UNSPECIFIED {
            // Android: handle 0 clears the binding (the default network again).
            self.log("android_setsocknetwork", network);
            return sock.bind_device(None).map_err(|e| errno_of(&e));
        }
        let found = self.lookup("android_setsocknetwork", network)?;
        sock.bind_device(Some(found.interface.as_bytes()))
            .map_err(|e| gone_if_missing(errno_of(&e)))
    }

    fn res_nquery(
        &self,
        network: NetHandle,
        name: &CStr,
        rtype: u16,
        _flags: u32,
    ) -> Result<DnsQuery, QueryError> {
        let api29 = self.inner().api29;
        match api29 {
            Api29::Missing => return Err(QueryError::Unavailable),
            Api29::Failing(e) => {
                self.log("android_res_nquery", network);
                return Err(QueryError::Os(e));
            }
            Api29::Present => {}
        }
        let found = self
            .lookup("android_res_nquery", network)
            .map_err(QueryError::Os)?;
        let server = *found.dns.first().ok_or(QueryError::Os(Errno::EIO))?;
        let host = name.to_str().map_err(|_| QueryError::Os(Errno::EINVAL))?;
        let query = build_query(random_id(), host, TYPE::from(rtype))
            .map_err(|_| QueryError::Os(Errno::EINVAL))?;
        let binding = Binding::Interface(found.interface);
        let socket: UdpSocket = pinned_socket(Domain::for_address(server), Type::DGRAM, &binding)
            .map_err(|e| QueryError::Os(gone_if_missing(errno_of(&e.source))))?
            .into();
        socket
            .connect(server)
            .and_then(|()| socket.send(&query))
            .map_err(|e| QueryError::Os(errno_of(&e)))?;
        Ok(DnsQuery::new(socket.into()))
    }

    fn res_nresult(&self, query: DnsQuery, answer: &mut [u8]) -> Result<Reply, Errno> {
        self.log("android_res_nresult", NetHandle::UNSPECIFIED);
        let socket = UdpSocket::from(query.into_fd());
        socket.set_nonblocking(true).map_err(|e| errno_of(&e))?;
        let n = socket.recv(answer).map_err(|e| errno_of(&e))?;
        let rcode = answer.get(3).map_or(0, |b| b & 0x0f);
        Ok(Reply { rcode, len: n })
    }

    fn res_cancel(&self, query: DnsQuery) {
        self.log("android_res_cancel", NetHandle::UNSPECIFIED);
        drop(query.into_fd());
    }

    fn getaddrinfo_for_network(
        &self,
        network: NetHandle,
        host: &CStr,
    ) -> Result<Vec<IpAddr>, GaiError> {
        // Android's answer for a network that is gone or denied is a DNS failure like any
        // other: EAI_NODATA.
        let found = self
            .lookup("android_getaddrinfofornetwork", network)
            .map_err(|_| GaiError::NoData)?;
        let host = host.to_str().map_err(|_| GaiError::NoName)?;
        let resolver = Resolver {
            binding: Binding::Interface(found.interface),
            servers: found.dns,
            overrides: Vec::new(),
        };
        resolver
            .resolve(host, 0, Instant::now() + GETADDRINFO_BUDGET)
            .map(|r| r.addrs)
            .map_err(|_| GaiError::NoData)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_describes_networks() {
        let nets = parse_networks("100=lo@127.0.0.1:5353,[::1]:53; 7=wwan0").unwrap();
        assert_eq!(nets.len(), 2);
        assert_eq!(nets[0].0, NetHandle(100));
        assert_eq!(nets[0].1.interface, "lo");
        assert_eq!(nets[0].1.dns.len(), 2);
        assert_eq!(nets[1].1.dns, Vec::<SocketAddr>::new());
        assert!(parse_networks("x=lo").unwrap_err().contains(env::NETWORKS));
        assert!(parse_networks("1=lo@nowhere").is_err());
        assert!(parse_networks("1=@127.0.0.1:53").is_err());
    }
}
