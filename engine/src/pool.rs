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
    pub(crate) remote: Option<SocketAddr>,
    pub(crate) local: Option<SocketAddr>,
    pub(crate) tls_info: Option<TlsInfo>,
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
            remote: None,
            local: None,
            tls_info: None,
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
            && self.host.get(..usize::from(self.host_len)) == Some(url.host_bytes())
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
        self.remote = None;
        self.local = None;
        self.tls_info = None;
        #[cfg(feature = "tls")]
        {
            self.tls = None;
        }
    }

    /// Forgets the connection (after its `Close` was handed out).
    pub(crate) fn release(&mut self) {
        self.life = Life::Free;
        self.reusable = false;
        #[cfg(feature = "tls")]
        {
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
