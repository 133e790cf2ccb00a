//! The connection pool: the caller lends a slice of [`Connection`] slots, and each slot holds one
//! connection's state, keyed by origin (scheme, host, port).
//!
//! ```text
//!  next hop's origin ──► idle slot with that origin? ──yes──► reuse it (no connect, no handshake)
//!                              │ no
//!                              ▼
//!                       a free slot? ──no──► close the least recently used idle slot
//!                              │ yes              (Output::Close, then the slot is free)
//!                              ▼
//!                       Output::Connect { conn: new ConnId, .. }
//! ```
//!
//! Only one request is in flight at a time (a redirect chain is sequential); the other open
//! connections wait idle for a later hop to the same origin. Each connection has its own TLS
//! state; the check's resumption store is shared through the session's TLS context.

use core::fmt;
use core::net::SocketAddr;

use crate::trace::{ConnId, TlsInfo};
use crate::url::{Scheme, UrlRef, MAX_HOST_LEN};

/// Where a slot's connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Life {
    /// No connection.
    Free,
    /// `Connect` was handed out; waiting for `Connected`.
    Connecting,
    /// Open; carrying the current hop's request.
    Busy,
    /// Open and kept for a later hop.
    Idle,
    /// To be closed: `Close` not handed out yet.
    Closing,
}

/// A socket address as a connection slot keeps it. `Option<SocketAddr>` would spell "none"
/// with a non-zero tag; here all zeros is "none", so an empty slot, and a storage preset in a
/// `static`, is all zeros and costs no flash (it lands in `.bss`, not `.data`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SlotAddr {
    /// 0: none, 4 or 6.
    family: u8,
    port: u16,
    ip: [u8; 16],
    flowinfo: u32,
    scope_id: u32,
}

impl SlotAddr {
    pub(crate) const NONE: SlotAddr = SlotAddr {
        family: 0,
        port: 0,
        ip: [0; 16],
        flowinfo: 0,
        scope_id: 0,
    };

    pub(crate) fn get(&self) -> Option<SocketAddr> {
        match self.family {
            4 => {
                let [a, b, c, d, ..] = self.ip;
                Some(SocketAddr::from(([a, b, c, d], self.port)))
            }
            6 => Some(SocketAddr::V6(core::net::SocketAddrV6::new(
                self.ip.into(),
                self.port,
                self.flowinfo,
                self.scope_id,
            ))),
            _ => None,
        }
    }
}

impl From<Option<SocketAddr>> for SlotAddr {
    // Out of line where speed is favoured: inlined, its byte-wise build of `ip` spread into
    // the caller's copy of the same address, which then went byte by byte too (some 50
    // instructions a copy). Inlined on 32-bit, where the call would cost flash.
    #[cfg_attr(target_pointer_width = "64", inline(never))]
    fn from(addr: Option<SocketAddr>) -> Self {
        match addr {
            None => SlotAddr::NONE,
            Some(SocketAddr::V4(v4)) => {
                let [a, b, c, d] = v4.ip().octets();
                let ip = [a, b, c, d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
                SlotAddr {
                    family: 4,
                    port: v4.port(),
                    ip,
                    flowinfo: 0,
                    scope_id: 0,
                }
            }
            Some(SocketAddr::V6(v6)) => SlotAddr {
                family: 6,
                port: v6.port(),
                ip: v6.ip().octets(),
                flowinfo: v6.flowinfo(),
                scope_id: v6.scope_id(),
            },
        }
    }
}

/// A connection's TLS summary as its slot keeps it: `Option<TlsInfo>` would put its "none" in
/// a `bool`'s spare values (non-zero); here "none" is a null version, so all zeros.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SlotTls {
    version: Option<&'static str>,
    alpn_http11: bool,
    resumed: bool,
}

impl SlotTls {
    pub(crate) const NONE: SlotTls = SlotTls {
        version: None,
        alpn_http11: false,
        resumed: false,
    };

    #[cfg(feature = "tls")]
    pub(crate) fn get(&self) -> Option<TlsInfo> {
        self.version.map(|version| TlsInfo {
            version,
            alpn_http11: self.alpn_http11,
            resumed: self.resumed,
        })
    }
}

impl From<Option<TlsInfo>> for SlotTls {
    fn from(info: Option<TlsInfo>) -> Self {
        match info {
            None => SlotTls::NONE,
            Some(i) => SlotTls {
                version: Some(i.version),
                alpn_http11: i.alpn_http11,
                resumed: i.resumed,
            },
        }
    }
}

/// One connection slot. Lend the session as many as it may keep open at once (see
/// [`crate::storage`]); a slot is about 300 bytes without TLS.
pub struct Connection {
    pub(crate) id: ConnId,
    pub(crate) life: Life,
    pub(crate) scheme: Scheme,
    pub(crate) port: u16,
    host: [u8; MAX_HOST_LEN],
    host_len: u8,
    /// When the slot was last used, on the session's use counter (for LRU eviction).
    pub(crate) last_used: u32,
    /// The request on it went out with `Connection: keep-alive` and the response allowed reuse.
    pub(crate) reusable: bool,
    pub(crate) remote: SlotAddr,
    pub(crate) local: SlotAddr,
    pub(crate) tls_info: SlotTls,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::tls::TlsBox>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id)
            .field("life", &self.life)
            .field("scheme", &self.scheme)
            .field("host", &self.host())
            .field("port", &self.port)
            .finish()
    }
}

impl Default for Connection {
    fn default() -> Self {
        Self::new()
    }
}

impl Connection {
    /// An empty slot.
    pub const fn new() -> Self {
        Connection {
            id: ConnId(0),
            life: Life::Free,
            scheme: Scheme::Http,
            port: 0,
            host: [0; MAX_HOST_LEN],
            host_len: 0,
            last_used: 0,
            reusable: false,
            remote: SlotAddr::NONE,
            local: SlotAddr::NONE,
            tls_info: SlotTls::NONE,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// The host this connection goes to.
    pub fn host(&self) -> &str {
        self.host
            .get(..usize::from(self.host_len))
            .and_then(|h| core::str::from_utf8(h).ok())
            .unwrap_or("")
    }

    /// Whether this slot's connection goes to `url`'s origin.
    pub(crate) fn serves(&self, url: &UrlRef<'_>) -> bool {
        self.scheme == url.scheme()
            && self.port == url.port()
            && self
                .host
                .get(..usize::from(self.host_len))
                .is_some_and(|host| crate::scan::bytes_eq(host, url.host_bytes()))
    }

    /// Takes the slot for a new connection to `url`'s origin.
    pub(crate) fn open(&mut self, id: ConnId, url: &UrlRef<'_>, now_seq: u32) {
        let host = url.host_bytes();
        // URL hosts are at most MAX_HOST_LEN bytes (checked when the URL was built).
        let len = host.len().min(MAX_HOST_LEN);
        if let (Some(dst), Some(src)) = (self.host.get_mut(..len), host.get(..len)) {
            dst.copy_from_slice(src);
        }
        self.host_len = len as u8;
        self.id = id;
        self.life = Life::Connecting;
        self.scheme = url.scheme();
        self.port = url.port();
        self.last_used = now_seq;
        self.reusable = false;
        self.remote = SlotAddr::NONE;
        self.local = SlotAddr::NONE;
        self.tls_info = SlotTls::NONE;
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            // Only then: dropping the box is a call, and most slots hold none.
            self.tls = None;
        }
    }

    /// Forgets the connection (after its `Close` was handed out).
    pub(crate) fn release(&mut self) {
        self.life = Life::Free;
        self.reusable = false;
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            // Only then: dropping the box is a call, and most slots hold none.
            self.tls = None;
        }
    }

    /// Whether the slot holds a connection the driver has (or is opening).
    pub(crate) fn is_open(&self) -> bool {
        matches!(self.life, Life::Connecting | Life::Busy | Life::Idle)
    }
}

/// The slot holding connection `id`, if it is still open.
pub(crate) fn find(conns: &[Connection], id: ConnId) -> Option<usize> {
    conns
        .iter()
        .position(|c| c.id == id && c.life != Life::Free)
}

/// An idle connection to `url`'s origin.
#[cfg_attr(target_pointer_width = "64", inline(always))]
pub(crate) fn idle_for(conns: &[Connection], url: &UrlRef<'_>) -> Option<usize> {
    conns
        .iter()
        .position(|c| c.life == Life::Idle && c.serves(url))
}

/// A free slot among the first `max`, else the least recently used idle one (to be closed).
pub(crate) fn slot_for_new(conns: &[Connection], max: usize) -> Result<usize, Option<usize>> {
    let usable = conns.get(..max).unwrap_or(conns);
    if let Some(i) = usable.iter().position(|c| c.life == Life::Free) {
        return Ok(i);
    }
    Err(usable
        .iter()
        .enumerate()
        .filter(|(_, c)| c.life == Life::Idle)
        .min_by_key(|(_, c)| c.last_used)
        .map(|(i, _)| i))
}

#[cfg(test)]
mod tests {
    #[test]
    fn slot_addresses_round_trip() {
        use core::net::{SocketAddr, SocketAddrV6};
        let v6 = SocketAddr::V6(SocketAddrV6::new(
            [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1].into(),
            443,
            7,
            3,
        ));
        for addr in [None, Some(SocketAddr::from(([192, 0, 2, 1], 80))), Some(v6)] {
            assert_eq!(super::SlotAddr::from(addr).get(), addr);
        }
    }

    #[test]
    fn slot_tls_summaries_round_trip() {
        let info = crate::trace::TlsInfo {
            version: "TLSv1.3",
            alpn_http11: true,
            resumed: true,
        };
        for tls in [None, Some(info)] {
            assert_eq!(super::SlotTls::from(tls).get(), tls);
        }
    }
}
