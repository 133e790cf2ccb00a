//! The NDK's multinetwork calls as this crate uses them: one trait, [`Ndk`], with one method per
//! C function, in the C functions' own terms (a network handle, an fd, an errno, an `EAI_*`
//! code). Everything above it — handle validation, the DNS order, the error mapping, the
//! deadlines — is ordinary Rust that runs the same on a phone and on a Linux host.
//!
//! ```text
//!  network.rs / dns.rs (shared logic)
//!        │  set_socket_network   res_nquery ─► poll(fd) ─► res_nresult | res_cancel
//!        │  getaddrinfo_for_network (on a worker thread, for its deadline)
//!        ▼
//!  Ndk ──┬─ android.rs  (target_os = "android"): libandroid, the API 29 calls via dlsym
//!        └─ standin.rs  (other targets): a handle names a Linux interface; SO_BINDTODEVICE,
//!                       DNS over UDP sockets pinned to it (tests and the desktop JVM)
//! ```
//!
//! Nothing here decides anything: an implementation reports what the platform said, and
//! [`crate::network`] turns it into what the engine and the app hear.

#[cfg(target_os = "android")]
pub mod android;

use std::ffi::CStr;
use std::fmt;
use std::net::IpAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

pub use nix::errno::Errno;

/// A network as `android.net.Network.getNetworkHandle()` names it (`net_handle_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NetHandle(pub u64);

impl NetHandle {
    /// `NETWORK_UNSPECIFIED`: binding to it means "the default network", which may be Wi-Fi,
    /// so this crate refuses it.
    pub const UNSPECIFIED: NetHandle = NetHandle(0);
}

impl fmt::Display for NetHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A DNS query in flight (`android_res_nquery`'s fd). It becomes readable when the answer is
/// there; it is finished by [`Ndk::res_nresult`] or [`Ndk::res_cancel`], which consume it.
#[derive(Debug)]
pub struct DnsQuery(OwnedFd);

impl DnsQuery {
    /// Wraps the fd an implementation's query returned.
    pub fn new(fd: OwnedFd) -> Self {
        DnsQuery(fd)
    }

    /// The fd, for an implementation that finishes the query.
    pub fn into_fd(self) -> OwnedFd {
        self.0
    }
}

impl AsFd for DnsQuery {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// Why `android_res_nquery` did not start a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryError {
    /// The device has no such call (before API 29): the caller falls back.
    Unavailable,
    /// The call failed with this errno.
    Os(Errno),
}

/// A finished `android_res_nresult`: the DNS response code and the answer's length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The response code of the answer (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, ...).
    pub rcode: u8,
    /// Bytes of the answer written to the caller's buffer.
    pub len: usize,
}

/// What `android_getaddrinfofornetwork` returned instead of addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GaiError {
    /// `EAI_NODATA`: Android's resolver gives this for nearly every DNS failure (no such name,
    /// no records, a server failure, a timeout), so it says little.
    NoData,
    /// `EAI_NONAME`.
    NoName,
    /// `EAI_AGAIN`: a temporary failure.
    Again,
    /// `EAI_FAIL`: a permanent failure.
    Fail,
    /// `EAI_MEMORY`.
    Memory,
    /// `EAI_SYSTEM` with this errno.
    System(Errno),
    /// Any other `EAI_*` code.
    Other(i32),
}

impl fmt::Display for GaiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GaiError::NoData => f.write_str("EAI_NODATA"),
            GaiError::NoName => f.write_str("EAI_NONAME"),
            GaiError::Again => f.write_str("EAI_AGAIN"),
            GaiError::Fail => f.write_str("EAI_FAIL"),
            GaiError::Memory => f.write_str("EAI_MEMORY"),
            GaiError::System(e) => write!(f, "EAI_SYSTEM ({e})"),
            GaiError::Other(code) => write!(f, "EAI code {code}"),
        }
    }
}

/// The multinetwork calls of the NDK (`<android/multinetwork.h>`).
pub trait Ndk: Send + Sync + fmt::Debug + 'static {
    /// `android_setsocknetwork` (API 23): every packet of `socket` goes over `network`.
    fn set_socket_network(&self, network: NetHandle, socket: BorrowedFd<'_>) -> Result<(), Errno>;

    /// `android_res_nquery` (API 29): starts a query for `name`'s records of type `rtype` (class
    /// IN) over `network`.
    fn res_nquery(
        &self,
        network: NetHandle,
        name: &CStr,
        rtype: u16,
        flags: u32,
    ) -> Result<DnsQuery, QueryError>;

    /// `android_res_nresult` (API 29): the answer of a query whose fd is readable, into
    /// `answer`. Consumes the query.
    fn res_nresult(&self, query: DnsQuery, answer: &mut [u8]) -> Result<Reply, Errno>;

    /// `android_res_cancel` (API 29): abandons a query. Consumes it.
    fn res_cancel(&self, query: DnsQuery);

    /// `android_getaddrinfofornetwork` (API 23), for a stream socket; blocks for as long as the
    /// platform's resolver takes.
    fn getaddrinfo_for_network(
        &self,
        network: NetHandle,
        host: &CStr,
    ) -> Result<Vec<IpAddr>, GaiError>;
}
