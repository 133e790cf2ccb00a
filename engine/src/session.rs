//! The redirect session: one state machine that walks a check's redirect chain over a pool of
//! connections, keeping only state. Every buffer is lent by the caller ([`crate::storage`]).
//!
//! ```text
//!              ┌──────────── redirect: drain its body, keep the connection idle in the pool ──┐
//!              ▼                                                                               │
//!  Start ──idle connection to the origin? ──yes──────────────────────────────┐                 │
//!    │ no: Connect { conn } (after closing the least recently used idle one) │                 │
//!    ▼                                                                       ▼                 │
//!  Connecting ──Connected──► Handshaking (https) ──► Awaiting: Transmit in pieces, then head ──┤
//!  (DNS + connect deadline)  (TLS deadline)          (head deadline)                           │
//!                                                        │ 3xx with a Location ────────────────┘
//!                                                        │ final status, or the redirect prefix
//!                                                        ▼
//!                                       Reading (idle deadline) ──► Finished: Hop, Close…, Done
//! ```
//!
//! The caller (a driver) owns the sockets, the clock and the buffers. It feeds [`Input`]s, each
//! with its monotonic `now` and the connection it concerns, through [`Session::handle_input`],
//! and after every input drains [`Session::poll_output`] until it says [`Output::Wait`] or
//! [`Output::Done`]. Every finished hop comes out once as [`Output::Hop`]; the session keeps only
//! the counters the result needs. Nothing here allocates (without TLS), reads a clock or panics
//! on input.
//!
//! A request goes out in as many `Transmit`s as the caller's buffer and socket need: `Sent(n)`
//! may report any part of what was handed out, and the next `Transmit` resumes there. The
//! request's bytes are produced again from the session's state at each step, so nothing is
//! staged and a request of any size passes through a buffer of any size.
//!
//! A stale kept-alive connection (the server closed it while idle, so the reused request got no
//! byte back) is retried once on a fresh connection, as browsers do.

use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;

use crate::completion::{is_html_type, is_json_type, BodyKind, Completion};
use crate::cookie::{parse_cookie_date, CookieJar, Stored};
use crate::error::{Error, TlsError, TransportError};
use crate::policy::{Policy, MAX_REDIRECTS};
use crate::pool::{self, Connection, Life};
use crate::request::{write_request_at, ConnectionMode, Request};
use crate::response::{Head, Part, ResponseError, ResponseReader, Step};
use crate::storage::{Area, Buffers};
use crate::time::{millis_u32, Instant, WallClock};
use crate::trace::{ConnId, Counters, HopInfo, HopRecord, HopUrl, Tap};
use crate::url::{join_to, parse_into, query_value_is, Parts, Scheme, UrlError, UrlRef};

/// The largest TLS record payload (RFC 8446 §5.1).
#[cfg(feature = "tls")]
const MAX_TLS_PLAINTEXT: usize = 16 * 1024;

#[cfg(feature = "tls")]
extern crate alloc;

/// The most connection slots a session uses, whatever the caller lends.
pub const MAX_POOL: usize = 32;

/// What the driver tells the session. Every input comes with the caller's `now`.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// The connection asked for by `Connect { conn, .. }` is up.
    Connected {
        /// The connection.
        conn: ConnId,
        /// What the driver learned while connecting.
        info: ConnectionInfo,
    },
    /// Bytes arrived from the server.
    Received {
        /// The connection.
        conn: ConnId,
        /// The bytes.
        bytes: &'a [u8],
    },
    /// This many bytes of the last `Transmit` on `conn` were written (0 too).
    Sent {
        /// The connection.
        conn: ConnId,
        /// Bytes written.
        len: usize,
    },
    /// The server closed the connection (read returned 0).
    Eof {
        /// The connection.
        conn: ConnId,
    },
    /// The driver could not resolve, connect, or keep the connection.
    TransportFailed {
        /// The connection.
        conn: ConnId,
        /// What failed.
        error: TransportError,
    },
    /// A `Wait { until }` deadline was reached.
    Timeout,
}

/// What the driver learned while connecting, for the trace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The server's address.
    pub remote: Option<SocketAddr>,
    /// Our address on the pinned interface.
    pub local: Option<SocketAddr>,
    /// Time spent resolving the host.
    pub dns: Option<Duration>,
    /// Time spent in TCP connect (else the session measures `Connect` to `Connected`).
    pub connect: Option<Duration>,
}

/// What the session asks the driver to do.
#[derive(Debug)]
pub enum Output<'s> {
    /// Open connection `conn` (resolve over the pinned interface, connect), then feed
    /// `Connected` (or `TransportFailed`).
    Connect {
        /// The new connection's name in later inputs and outputs.
        conn: ConnId,
        /// `http` or `https`.
        scheme: Scheme,
        /// Host name or IP literal (IPv6 without brackets).
        host: &'s str,
        /// Port.
        port: u16,
        /// The request number this connection is for (1 for the first).
        hop: u8,
    },
    /// Send the first `len` bytes of the buffer passed to `poll_output` on `conn`, then feed
    /// `Sent` with how many were written.
    Transmit {
        /// The connection.
        conn: ConnId,
        /// Bytes to send.
        len: usize,
    },
    /// Close connection `conn`; the session will not mention it again.
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// A hop finished: its record, for a driver that keeps a trace.
    Hop(HopRecord<'s>),
    /// Nothing to do until input arrives or `until` passes (then feed `Timeout`).
    Wait {
        /// The nearest deadline.
        until: Instant,
    },
    /// The check is over.
    Done(Result<Completion<'s>, Error>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// The current hop needs a connection.
    Start,
    Connecting,
    #[cfg(feature = "tls")]
    Handshaking,
    /// The request is going out (in pieces) and the head is awaited.
    Awaiting,
    /// A redirect was decided; its body is read to keep the connection.
    Draining,
    /// The final body is being read.
    Reading,
    Finished,
}

/// The URL area: two slots (the current URL and the next), then values copied in at its end.
struct UrlArea<'a> {
    area: &'a mut [u8],
    slot_len: usize,
    /// Start of the values at the end of the area.
    tail: usize,
    /// The slot of the URL being requested.
    cur: usize,
    parts: [Option<Parts>; 2],
}

impl<'a> UrlArea<'a> {
    fn slot(&self, i: usize) -> UrlRef<'_> {
        let parts = self.parts.get(i).copied().flatten().unwrap_or(Parts::EMPTY);
        let start = i * self.slot_len;
        let text = self
            .area
            .get(start..start + self.slot_len)
            .unwrap_or_default();
        UrlRef::from_parts(text, parts)
    }

    fn current(&self) -> UrlRef<'_> {
        self.slot(self.cur)
    }

    /// Resolves `reference` against the current URL into the other slot.
    fn join(&mut self, reference: &[u8]) -> Result<(), UrlError> {
        let cur = self
            .parts
            .get(self.cur)
            .copied()
            .flatten()
            .unwrap_or(Parts::EMPTY);
        let next = 1 - self.cur;
        // Split borrows: the text is in `area`, the parts beside it.
        let UrlArea {
            area,
            slot_len,
            parts,
            ..
        } = self;
        let (a, rest) = area.split_at_mut((*slot_len).min(area.len()));
        let b = rest.get_mut(..*slot_len).unwrap_or_default();
        let (cur_text, other) = if next == 1 { (a, b) } else { (b, a) };
        let (text, scratch) = cur_text.split_at_mut(cur.len().min(cur_text.len()));
        let base = UrlRef::from_parts(text, cur);
        let mut scrap = None;
        let slot = parts.get_mut(next).unwrap_or(&mut scrap);
        join_to(&base, reference, other, scratch, slot)
    }

    /// Checks that `n` more bytes fit at the end while slot 0 keeps the first URL.
    fn reserve(&self, n: usize) -> Result<(), Error> {
        let first = self.parts[0].map_or(0, |p| p.len());
        let have = self.tail.saturating_sub(2 * first);
        if n > have {
            return Err(Error::Storage {
                area: Area::Url,
                needed: self.area.len() - have + n,
                have: self.area.len(),
            });
        }
        Ok(())
    }

    /// Moves `len` bytes from `at` in the area to its end (after `reserve`); slots shrink.
    fn push_tail(&mut self, at: usize, len: usize) -> (usize, usize) {
        let start = self.tail.saturating_sub(len);
        if at + len <= self.area.len() {
            crate::cursor::move_any(self.area, at..at + len, start);
        }
        self.tail = start;
        self.slot_len = start / 2;
        (start, len)
    }

    /// Copies `bytes` to the end of the area (through the second slot, free before the check
    /// starts); slots shrink. Refused when they do not fit whole in that slot or beside the
    /// first URL, so nothing already at the end is overwritten.
    fn push_tail_bytes(&mut self, bytes: &[u8]) -> Result<(usize, usize), Error> {
        self.reserve(bytes.len())?;
        let staging = self.slot_len;
        let too_small = Error::Storage {
            area: Area::Url,
            needed: self.area.len() - self.slot_len + bytes.len(),
            have: self.area.len(),
        };
        if bytes.len() > self.slot_len {
            return Err(too_small);
        }
        self.area
            .get_mut(staging..staging + bytes.len())
            .ok_or(too_small)?
            .copy_from_slice(bytes);
        Ok(self.push_tail(staging, bytes.len()))
    }

    fn other_slot(&self) -> usize {
        1 - self.cur
    }

    fn tail_str(&self, (start, len): (usize, usize)) -> &str {
        self.area
            .get(start..start + len)
            .and_then(|t| core::str::from_utf8(t).ok())
            .unwrap_or("")
    }
}

/// Where the redirect prefix lives and how to compare with it.
#[derive(Clone, Copy, Debug)]
struct Prefix {
    at: (usize, usize),
    /// Its parts when it is an http(s) URL (then compared part by part).
    parts: Option<Parts>,
}

/// The check's state, apart from the receive area (borrowed separately so a parsed head can
/// point into it while the rest is updated).
struct Core<'a> {
    policy: Policy,
    /// The policy's platform holds no control byte (checked once, on 64-bit targets; the
    /// request writer checks it on every hop otherwise).
    platform_clean: bool,
    urls: UrlArea<'a>,
    jar: CookieJar<'a>,
    tap: Option<&'a mut (dyn FnMut(Tap<'_>) + Send)>,
    conns: &'a mut [Connection],
    pool_size: usize,
    reader: ResponseReader,
    #[cfg(feature = "tls")]
    tls: crate::tls::TlsContext,
    wall: Option<WallClock>,
    token: Option<(usize, usize)>,
    /// Where `Authorization` may go: the first URL's origin (its host in the URL area's tail).
    auth: Option<(Scheme, u16, (usize, usize))>,
    prefix: Option<Prefix>,
    /// The `state` the redirect URL's query must carry (in the URL area's tail).
    expected_state: Option<(usize, usize)>,

    state: State,
    /// The current hop's connection slot.
    active: Option<usize>,
    /// A stale connection is being retried: take a fresh one even if an idle one fits.
    force_new: bool,
    retried_stale: bool,
    hop: u8,
    redirects: u8,
    info: HopInfo,
    /// The hop's record waits to be handed out; then the next hop starts (unless finished).
    hop_pending: bool,
    advance_pending: bool,
    prev_scheme: Option<Scheme>,

    req_total: usize,
    req_done: usize,
    /// Bytes handed out in a `Transmit` and not yet confirmed by `Sent`.
    in_flight: Option<usize>,
    /// A closing connection whose `close_notify` bytes were handed out, awaiting `Sent`.
    #[cfg(feature = "tls")]
    closing_flight: Option<ConnId>,
    /// Set whenever a slot is marked `Closing`, cleared once none is: every poll looks for
    /// closes, and most polls have none to hand out.
    closing: bool,
    req_at: Instant,
    keep_alive_sent: bool,

    body_len: usize,
    body_kind: BodyKind,
    body_truncated: bool,
    discarded: u64,
    final_status: u16,
    counters: Counters,
    hop_bytes_in: u64,
    next_conn: u32,
    use_seq: u32,

    now: Instant,
    deadline_total: Instant,
    deadline_phase: Option<Instant>,
    hop_started: Instant,
    phase_started: Instant,
    result: Option<Error>,
}

/// The redirect session over storage lent by the caller. Behaviour is the run-time [`Policy`].
pub struct Session<'a> {
    core: Core<'a>,
    recv: &'a mut [u8],
}

impl fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("state", &self.core.state)
            .field("hop", &self.core.hop)
            .field("url", &self.core.urls.current())
            .field(
                "token",
                &if self.core.token.is_some() {
                    "<redacted>"
                } else {
                    "none"
                },
            )
            .finish()
    }
}

/// What `poll_output` hands out, decided before anything is borrowed for it.
enum Action {
    Hop,
    Close(ConnId),
    Connect(ConnId),
    Transmit(ConnId, usize),
    Wait(Instant),
    Done,
}

/// The checked parts of a new session, between `prepare` and `assemble`.
struct Ready<'a> {
    url: &'a mut [u8],
    receive: &'a mut [u8],
    cookies: &'a mut [u8],
    connections: &'a mut [Connection],
    pool_size: usize,
    slot_len: usize,
    tail: usize,
    parts: Parts,
}

/// What a response head decided.
enum HeadNext {
    /// Keep reading (a final body, or a redirect body to drain).
    Read,
    /// The Location is under the redirect prefix: stop with its query as the result.
    Stop,
    /// The hop is over (a redirect whose connection is not kept).
    HopDone,
}

impl<'a> Session<'a> {
    /// Starts a check of `check_url` at `now`, keeping everything in `buffers`. The first
    /// output will be `Connect`. The session is returned by value (about 1 KiB); to build it
    /// straight into memory of your own (a `static`, a heap slot), use [`Session::new_in`].
    pub fn new(
        buffers: Buffers<'a>,
        check_url: &[u8],
        policy: Policy,
        now: Instant,
    ) -> Result<Self, Error> {
        let ready = Self::prepare(buffers, check_url, policy).map_err(|(e, _)| e)?;
        Ok(Self::assemble(ready, policy, now))
    }

    /// [`Session::new`], building the session in `slot` (for example a `static` cell's
    /// `Option`), so neither a return value nor a move needs stack: creating one this way takes
    /// a few hundred bytes of stack beyond the slot and the storage.
    pub fn new_in<'s>(
        slot: &'s mut Option<Self>,
        buffers: Buffers<'a>,
        check_url: &[u8],
        policy: Policy,
        now: Instant,
    ) -> Result<&'s mut Self, Error> {
        let ready = Self::prepare(buffers, check_url, policy).map_err(|(e, _)| e)?;
        Ok(slot.insert(Self::assemble(ready, policy, now)))
    }

    /// [`Session::new_in`] that hands the buffers back when the session cannot start, for a
    /// driver that keeps a pool of storage.
    pub fn try_new_in<'s>(
        slot: &'s mut Option<Self>,
        buffers: Buffers<'a>,
        check_url: &[u8],
        policy: Policy,
        now: Instant,
    ) -> Result<&'s mut Self, (Error, Buffers<'a>)> {
        let ready = Self::prepare(buffers, check_url, policy)?;
        Ok(slot.insert(Self::assemble(ready, policy, now)))
    }

    /// Checks the policy and the storage, and puts the check URL in the first URL slot.
    fn prepare(
        buffers: Buffers<'a>,
        check_url: &[u8],
        policy: Policy,
    ) -> Result<Ready<'a>, (Error, Buffers<'a>)> {
        match Self::check(&mut { buffers }, check_url, policy) {
            // (The block above only moves `buffers` in and out: see `check`.)
            (Ok(checked), buffers) => {
                let Buffers {
                    url,
                    receive,
                    cookies,
                    connections,
                } = buffers;
                let (pool_size, slot_len, tail, parts) = checked;
                for c in connections.iter_mut() {
                    c.release();
                }
                Ok(Ready {
                    url,
                    receive,
                    cookies,
                    connections,
                    pool_size,
                    slot_len,
                    tail,
                    parts,
                })
            }
            (Err(e), buffers) => Err((e, buffers)),
        }
    }

    /// Checks the policy and the storage and parses the check URL into the first URL slot,
    /// keeping the buffers for the caller either way.
    #[allow(clippy::type_complexity)]
    fn check(
        buffers: &mut Buffers<'a>,
        check_url: &[u8],
        policy: Policy,
    ) -> (Result<(usize, usize, usize, Parts), Error>, Buffers<'a>) {
        let result = (|| {
            if policy.max_redirects > MAX_REDIRECTS {
                return Err(Error::PolicyOutOfRange {
                    field: "max_redirects",
                    max: u32::from(MAX_REDIRECTS),
                });
            }
            let pool_size = buffers
                .connections
                .len()
                .min(usize::from(policy.max_connections))
                .min(MAX_POOL);
            if pool_size == 0 {
                return Err(Error::Storage {
                    area: Area::Connections,
                    needed: 1,
                    have: 0,
                });
            }
            let url = &mut *buffers.url;
            let tail = url.len();
            let slot_len = tail / 2;
            let parts = {
                let (a, b) = url.split_at_mut(slot_len);
                parse_into(check_url, a, b).map_err(|error| Error::InvalidUrl { error })?
            };
            if UrlRef::from_parts(url, parts).scheme() == Scheme::Http
                && (!policy.allow_http_start || policy.require_https)
            {
                return Err(Error::InsecureStart);
            }
            Ok((pool_size, slot_len, tail, parts))
        })();
        (result, core::mem::take(buffers))
    }

    #[inline(always)]
    fn assemble(ready: Ready<'a>, policy: Policy, now: Instant) -> Self {
        let Ready {
            url,
            receive,
            cookies,
            connections,
            pool_size,
            slot_len,
            tail,
            parts,
        } = ready;
        Session {
            core: Core {
                policy,
                platform_clean: crate::scan::FAVOUR_SPEED
                    && !crate::scan::has_control(policy.platform.as_bytes()),
                urls: UrlArea {
                    area: url,
                    slot_len,
                    tail,
                    cur: 0,
                    parts: [Some(parts), None],
                },
                tap: None,
                jar: {
                    let mut jar = CookieJar::new(cookies);
                    jar.set_public_suffix_check(policy.public_suffix);
                    jar
                },
                conns: connections,
                pool_size,
                reader: ResponseReader::new(policy.limits.max_head_bytes, false),
                #[cfg(feature = "tls")]
                tls: crate::tls::TlsContext::default(),
                wall: None,
                token: None,
                auth: None,
                prefix: None,
                expected_state: None,
                state: State::Start,
                active: None,
                force_new: false,
                retried_stale: false,
                hop: 1,
                redirects: 0,
                info: HopInfo {
                    hop: 1,
                    ..HopInfo::default()
                },
                hop_pending: false,
                advance_pending: false,
                prev_scheme: None,
                req_total: 0,
                req_done: 0,
                in_flight: None,
                #[cfg(feature = "tls")]
                closing_flight: None,
                closing: false,
                req_at: now,
                keep_alive_sent: false,
                body_len: 0,
                body_kind: BodyKind::None,
                body_truncated: false,
                discarded: 0,
                final_status: 0,
                counters: Counters::default(),
                hop_bytes_in: 0,
                next_conn: 0,
                use_seq: 0,
                now,
                deadline_total: now + policy.timeouts.total,
                deadline_phase: None,
                hop_started: now,
                phase_started: now,
                result: None,
            },
            recv: receive,
        }
    }

    fn configurable(&self) -> Result<(), Error> {
        let c = &self.core;
        if c.state == State::Start && c.hop == 1 && c.active.is_none() && !c.hop_pending {
            Ok(())
        } else {
            Err(Error::AlreadyStarted)
        }
    }

    /// Sends `Authorization: Bearer <token>` to the first URL's origin (and nowhere else). The
    /// token is copied into the URL area. Once, before the first output.
    pub fn set_access_token(&mut self, token: &str) -> Result<(), Error> {
        self.configurable()?;
        if self.core.token.is_some() {
            return Err(Error::AlreadyStarted);
        }
        let urls = &mut self.core.urls;
        let first = urls.slot(0);
        let (scheme, port) = (first.scheme(), first.port());
        let (host_start, host_end) = first.parts().host_range();
        let host_len = host_end - host_start;
        urls.reserve(host_len + token.len())?;
        let host = urls.push_tail(host_start, host_len);
        let token_at = urls.push_tail_bytes(token.as_bytes())?;
        self.core.token = Some(token_at);
        self.core.auth = Some((scheme, port, host));
        Ok(())
    }

    /// Ends the check at the first `Location` under `prefix`, without requesting it; the result
    /// fields come from that Location's query string. An http(s) prefix matches a Location with
    /// the same scheme, host and port whose path continues it on a segment boundary; any other
    /// prefix (an app link) matches the Location's text the same way. Once, before the first
    /// output; copied into the URL area.
    #[cfg(feature = "redirect-url")]
    pub fn set_redirect_url(&mut self, prefix: &str) -> Result<(), Error> {
        self.configurable()?;
        if self.core.prefix.is_some() {
            return Err(Error::AlreadyStarted);
        }
        let urls = &mut self.core.urls;
        let staging = urls.slot_len;
        let first = urls.parts[0].map_or(0, |p| p.len());
        let parsed = {
            let (a, b) = urls.area.split_at_mut(staging);
            let scratch = a.get_mut(first..).unwrap_or_default();
            let out = b.get_mut(..staging).unwrap_or_default();
            parse_into(prefix.as_bytes(), out, scratch).ok()
        };
        let at = match parsed {
            // Written in the second slot (within it, by construction): move it to the end.
            Some(parts) => {
                urls.reserve(parts.len())?;
                urls.push_tail(staging, parts.len())
            }
            // Not an http(s) URL (an app link): kept as given.
            None => urls.push_tail_bytes(prefix.as_bytes())?,
        };
        self.core.prefix = Some(Prefix { at, parts: parsed });
        Ok(())
    }

    /// Requires the redirect URL's query (see [`Session::set_redirect_url`]) to carry
    /// `state=<state>` (percent-decoded), as an OAuth / OpenID Connect client must: anything
    /// else ends the check with [`Error::StateMismatch`]. Once, before the first output; copied
    /// into the URL area.
    #[cfg(feature = "redirect-url")]
    pub fn set_expected_state(&mut self, state: &str) -> Result<(), Error> {
        self.configurable()?;
        if self.core.expected_state.is_some() {
            return Err(Error::AlreadyStarted);
        }
        let at = self.core.urls.push_tail_bytes(state.as_bytes())?;
        self.core.expected_state = Some(at);
        Ok(())
    }

    /// Lets https hops run over TLS with these settings. Without it, an https hop fails with
    /// [`TlsError::NotConfigured`]: the engine never sends https traffic in the clear.
    #[cfg(feature = "tls")]
    pub fn set_tls(&mut self, settings: crate::tls::TlsSettings) {
        self.core.tls.configure(settings);
    }

    /// Shows `tap` every request as written and every response head as received (for `-vv`
    /// output; nothing is kept). Requests are produced once more for the tap, so set one only
    /// when someone reads it.
    pub fn set_tap(&mut self, tap: &'a mut (dyn FnMut(Tap<'_>) + Send)) {
        self.core.tap = Some(tap);
    }

    /// Gives the session the wall clock, for cookie `Expires` (and certificate validity).
    pub fn set_wall_clock(&mut self, wall: WallClock) {
        self.core.wall = Some(wall);
    }

    /// Ends the session and gives its storage back, to run the next check in it (a driver that
    /// runs many checks keeps a pool of storage this way). Open connections are forgotten: close
    /// their sockets first (drain `poll_output` to `Done`).
    pub fn into_buffers(self) -> Buffers<'a> {
        let Session { core, recv } = self;
        Buffers {
            url: core.urls.area,
            receive: recv,
            cookies: core.jar.into_area(),
            connections: core.conns,
        }
    }

    /// The request number reached (1 for the first); on failure, the hop that failed.
    pub fn hop(&self) -> u8 {
        self.core.hop
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.core.policy
    }

    /// The counters the result carries.
    pub fn counters(&self) -> Counters {
        self.core.counters
    }

    /// The URL being (or about to be) requested.
    pub fn current_url(&self) -> UrlRef<'_> {
        self.core.urls.current()
    }

    /// The cookie jar.
    pub fn cookies(&self) -> &CookieJar<'a> {
        &self.core.jar
    }

    /// How many connections are open (or opening) now.
    pub fn open_connections(&self) -> usize {
        self.core.conns.iter().filter(|c| c.is_open()).count()
    }

    /// Whether the check is over (`Done` may still be waiting to be polled).
    pub fn is_finished(&self) -> bool {
        self.core.state == State::Finished
    }

    /// The nearest deadline, if the check is still running.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.core.poll_timeout()
    }

    /// The result, once finished.
    pub fn outcome(&self) -> Option<Result<Completion<'_>, Error>> {
        if self.core.state != State::Finished {
            return None;
        }
        Some(match self.core.result {
            Some(e) => Err(e),
            None => Ok(self.completion()),
        })
    }

    fn completion(&self) -> Completion<'_> {
        let c = &self.core;
        Completion::interpret(
            c.final_status,
            c.hop,
            c.body_kind,
            self.recv.get(..c.body_len).unwrap_or_default(),
            c.body_truncated,
        )
    }

    /// Feeds one input at `now`. Deadlines are checked before the input is applied: an answer
    /// that arrives after the check's deadline does not count.
    #[cfg_attr(target_pointer_width = "64", inline)]
    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) {
        // A request's `Sent` on the active plain connection, one of every hop's two inputs:
        // where speed is favoured it is taken here, inlined into the driver's loop.
        if crate::scan::FAVOUR_SPEED {
            if let Input::Sent { conn, len } = input {
                if self.core.sent_quickly(now, conn, len) {
                    return;
                }
            }
        }
        self.handle_decided(now, input);
    }

    fn handle_decided(&mut self, now: Instant, input: Input<'_>) {
        if self.core.state == State::Finished {
            // Only the close_notify of a closing connection may still be going out.
            if let Input::Sent { conn, len } = input {
                self.core.on_sent(conn, len);
            }
            return;
        }
        self.core.now = self.core.now.max(now);
        self.core.check_deadlines();
        if self.core.state == State::Finished {
            return;
        }
        // Every hop's two inputs by plain tests first: they alternate, and a jump table's one
        // indirect jump predicts worse than two conditional branches.
        let result = if let Input::Received { conn, bytes } = input {
            self.on_received(conn, bytes)
        } else if let Input::Sent { conn, len } = input {
            self.core.on_sent(conn, len);
            Ok(())
        } else {
            match input {
                Input::Connected { conn, info } => self.core.on_connected(conn, info),
                Input::Eof { conn } => self.on_eof(conn),
                Input::TransportFailed { conn, error } => {
                    self.core.on_transport_failed(conn, error)
                }
                Input::Received { .. } | Input::Sent { .. } | Input::Timeout => Ok(()),
            }
        };
        if let Err(e) = result {
            self.core.fail(e);
        }
        if self.core.state != State::Finished {
            self.core.check_deadlines();
        }
    }

    /// The next thing for the driver to do. `buf` receives request bytes for `Transmit`; any
    /// size works (a request larger than `buf` goes out over several `Transmit`s).
    #[cfg_attr(target_pointer_width = "64", inline)]
    pub fn poll_output(&mut self, buf: &mut [u8]) -> Output<'_> {
        // The two outputs of every hop that need no decision, a hop's record and the wait for
        // a response: where speed is favoured they are handed out here, inlined into the
        // driver's loop, without the stack frame of the whole decision.
        if crate::scan::FAVOUR_SPEED {
            if self.core.take_hop_event() {
                return self.hop_output();
            }
            if let Some(until) = self.core.quiet_wait() {
                return Output::Wait { until };
            }
        }
        self.poll_decided(buf)
    }

    fn hop_output(&self) -> Output<'_> {
        let c = &self.core;
        Output::Hop(HopRecord {
            url: HopUrl::new(c.urls.current().as_bytes()),
            info: &c.info,
        })
    }

    fn poll_decided(&mut self, buf: &mut [u8]) -> Output<'_> {
        // Decide first, then borrow: the output may point into the session.
        let next = self.core.next_action(buf);
        let c = &self.core;
        match next {
            Action::Hop => self.hop_output(),
            Action::Close(conn) => Output::Close { conn },
            Action::Connect(conn) => {
                let url = c.urls.current();
                Output::Connect {
                    conn,
                    scheme: url.scheme(),
                    host: url.host(),
                    port: url.port(),
                    hop: c.hop,
                }
            }
            Action::Transmit(conn, len) => Output::Transmit { conn, len },
            Action::Wait(until) => Output::Wait { until },
            Action::Done => match c.result {
                Some(e) => Output::Done(Err(e)),
                None => Output::Done(Ok(self.completion())),
            },
        }
    }

    fn on_received(&mut self, conn: ConnId, bytes: &[u8]) -> Result<(), Error> {
        #[cfg_attr(not(feature = "tls"), allow(unused_variables))]
        let Some(slot) = self.core.active_slot_of(conn) else {
            if let Some(slot) = pool::find(self.core.conns, conn) {
                self.core.on_idle_bytes(slot, bytes);
            }
            return Ok(());
        };
        #[cfg(feature = "tls")]
        if self.core.conns.get(slot).is_some_and(|c| c.tls.is_some()) {
            return self.on_ciphertext(slot, bytes);
        }
        self.on_plaintext(bytes)
    }

    /// Ciphertext on the active https connection: decrypt, note a finished handshake, read on.
    #[cfg(feature = "tls")]
    fn on_ciphertext(&mut self, slot: usize, bytes: &[u8]) -> Result<(), Error> {
        let hop = self.core.hop;
        let Some(tls) = self.core.conns.get_mut(slot).and_then(|c| c.tls.as_mut()) else {
            return Ok(());
        };
        tls.receive(bytes)
            .map_err(|error| Error::Tls { hop, error })?;
        let done = tls.handshake_done();
        let info = tls.info();
        let peer_closed = tls.peer_closed();
        let plaintext = tls.take_plaintext();
        if let Some(tap) = self.core.tap.as_mut() {
            tap(Tap::Decrypted {
                conn: self
                    .core
                    .conns
                    .get(slot)
                    .map_or(ConnId::default(), |c| c.id),
                bytes: &plaintext,
                handshake_done: done,
                peer_closed,
            });
        }
        if self.core.state == State::Handshaking && done {
            let took = self.core.now.millis_u32_since(self.core.phase_started);
            self.core.info.timings.tls_ms = Some(took);
            self.core.info.tls = info;
            if let Some(c) = self.core.conns.get_mut(slot) {
                c.tls_info = info.into();
            }
            self.core.counters.tls_handshakes = self.core.counters.tls_handshakes.saturating_add(1);
            if info.is_some_and(|i| i.resumed) {
                self.core.counters.tls_resumed = self.core.counters.tls_resumed.saturating_add(1);
            }
            self.core.begin_request();
        }
        let result = self.on_plaintext(&plaintext);
        if let Some(tls) = self.core.conns.get_mut(slot).and_then(|c| c.tls.as_mut()) {
            tls.return_plaintext(plaintext);
        }
        result?;
        if peer_closed && self.core.active == Some(slot) && self.core.state != State::Finished {
            return self.on_eof_active();
        }
        Ok(())
    }

    fn on_plaintext(&mut self, input: &[u8]) -> Result<(), Error> {
        let c = &mut self.core;
        if !matches!(c.state, State::Awaiting | State::Draining | State::Reading) {
            return Ok(());
        }
        let hop = c.hop;
        if c.hop_bytes_in == 0 && !input.is_empty() {
            c.info.timings.first_byte_ms = Some(c.now.millis_u32_since(c.phase_started));
        }
        if c.state != State::Awaiting {
            c.deadline_phase = Some(c.now + c.policy.timeouts.idle);
        }
        let mut rest = input;
        let result = self.consume(&mut rest);
        // Count what the response used, not what followed it on an abandoned connection.
        let used = (input.len() - rest.len()) as u64;
        let c = &mut self.core;
        if c.hop == hop {
            c.hop_bytes_in += used;
            c.info.bytes_in += used;
        }
        result
    }

    /// Runs the response reader over `input`, advancing it past what was consumed.
    fn consume(&mut self, input: &mut &[u8]) -> Result<(), Error> {
        loop {
            let hop = self.core.hop;
            let limit = self.core.policy.limits.max_head_bytes.min(self.recv.len());
            self.core.reader.set_head_limit(limit);
            let stepped = self.core.reader.step(self.recv, input);
            // Borrowed where `step` wrote it: a copy of the head would reload it in wider
            // pieces than it was stored in, which stalls until those stores retire.
            let (n, step) = match &stepped {
                Ok((n, step)) => (*n, step),
                // The redirect is already decided; a broken body only costs the reuse.
                Err(_) if self.core.state == State::Draining => {
                    self.core.abandon_connection();
                    return Ok(());
                }
                Err(error) => return Err(Error::Response { hop, error: *error }),
            };
            match step {
                Step::NeedMore => {
                    *input = input.get(n..).unwrap_or_default();
                    return Ok(());
                }
                Step::Informational(_) => {}
                Step::Head(head) => {
                    let next = self.core.on_head(head)?;
                    let stop = matches!(next, HeadNext::Stop).then(|| query_place(head, input));
                    *input = input.get(n..).unwrap_or_default();
                    match (next, stop) {
                        (_, Some(place)) => return self.stop_at_redirect(place, input),
                        (HeadNext::HopDone, _) => return Ok(()),
                        _ => {}
                    }
                    if self.body_read_whole() {
                        return self.core.on_complete(!input.is_empty());
                    }
                    continue;
                }
                Step::Body(data) => {
                    self.on_body(data)?;
                    if !matches!(self.core.state, State::Draining | State::Reading) {
                        *input = input.get(n..).unwrap_or_default();
                        return Ok(());
                    }
                }
                Step::Complete => {
                    *input = input.get(n..).unwrap_or_default();
                    return self.core.on_complete(!input.is_empty());
                }
            }
            *input = input.get(n..).unwrap_or_default();
            if self.body_read_whole() {
                return self.core.on_complete(!input.is_empty());
            }
        }
    }

    /// Whether the response is complete without reading more: no body, or all of a body of
    /// known length read. Where speed is favoured the reader is completed here, sparing the
    /// round of `step` that would only say `Complete`; elsewhere that round says it.
    fn body_read_whole(&mut self) -> bool {
        crate::scan::FAVOUR_SPEED && self.core.reader.complete_if_read()
    }

    /// The redirect prefix matched: the Location's query (still in the receive area, or in the
    /// input it arrived in) becomes the result.
    fn stop_at_redirect(&mut self, place: QueryPlace, _rest: &[u8]) -> Result<(), Error> {
        let hop = self.core.hop;
        let limit = self
            .core
            .policy
            .limits
            .max_final_body_bytes
            .min(self.recv.len());
        let len = match place {
            QueryPlace::None => 0,
            QueryPlace::Staged { at, len } => {
                if len > limit {
                    return Err(Error::FinalBodyTooLarge {
                        hop,
                        limit: limit as u64,
                    });
                }
                crate::cursor::move_down(self.recv, at..at + len, 0);
                len
            }
            QueryPlace::Input { bytes } => {
                let len = bytes.len();
                if len > limit {
                    return Err(Error::FinalBodyTooLarge {
                        hop,
                        limit: limit as u64,
                    });
                }
                if let Some(dst) = self.recv.get_mut(..len) {
                    dst.copy_from_slice(bytes);
                }
                len
            }
        };
        if let Some(expected) = self.core.expected_state {
            let query = self.recv.get(..len).unwrap_or_default();
            let expected = self.core.urls.tail_str(expected);
            if !query_value_is(query, "state", expected) {
                return Err(Error::StateMismatch { hop });
            }
        }
        let c = &mut self.core;
        c.body_len = len;
        c.body_kind = BodyKind::RedirectQuery;
        c.end_hop_timing();
        c.finish();
        Ok(())
    }

    fn on_body(&mut self, data: &[u8]) -> Result<(), Error> {
        let c = &mut self.core;
        let hop = c.hop;
        let limits = c.policy.limits;
        if c.state == State::Draining {
            c.discarded += data.len() as u64;
            if c.discarded > limits.max_redirect_body_bytes {
                // Not worth draining for reuse: the next hop takes a fresh connection.
                c.abandon_connection();
            }
            return Ok(());
        }
        let limit = limits.max_final_body_bytes.min(self.recv.len());
        let room = limit.saturating_sub(c.body_len);
        let (keep, drop) = data.split_at(room.min(data.len()));
        if let Some(dst) = self.recv.get_mut(c.body_len..c.body_len + keep.len()) {
            dst.copy_from_slice(keep);
        }
        c.body_len += keep.len();
        if !drop.is_empty() {
            if c.body_kind == BodyKind::Json {
                return Err(Error::FinalBodyTooLarge {
                    hop,
                    limit: limit as u64,
                });
            }
            c.body_truncated = true;
            c.discarded += drop.len() as u64;
            if c.discarded > limits.max_discard_bytes {
                return Err(Error::FinalBodyTooLarge {
                    hop,
                    limit: limits.max_discard_bytes,
                });
            }
        }
        Ok(())
    }

    fn on_eof(&mut self, conn: ConnId) -> Result<(), Error> {
        let Some(slot) = pool::find(self.core.conns, conn) else {
            return Ok(());
        };
        if self.core.active != Some(slot) {
            self.core.close_slot(slot);
            return Ok(());
        }
        self.on_eof_active()
    }

    fn on_eof_active(&mut self) -> Result<(), Error> {
        let c = &mut self.core;
        let hop = c.hop;
        match c.state {
            State::Awaiting if c.may_retry_stale() => {
                c.retry_stale();
                Ok(())
            }
            State::Draining => {
                c.abandon_connection();
                Ok(())
            }
            #[cfg(feature = "tls")]
            State::Reading
                if c.reader.reads_until_close()
                    && c.active
                        .and_then(|slot| c.conns.get(slot))
                        .and_then(|conn| conn.tls.as_ref())
                        .is_some_and(|tls| !tls.peer_closed()) =>
            {
                Err(Error::Tls {
                    hop,
                    error: TlsError::TruncatedWithoutCloseNotify,
                })
            }
            State::Reading => match c.reader.eof() {
                Ok(()) => c.on_complete(false),
                Err(ResponseError::UnexpectedEof { part }) => Err(Error::ClosedEarly { hop, part }),
                Err(error) => Err(Error::Response { hop, error }),
            },
            State::Awaiting => Err(Error::ClosedEarly {
                hop,
                part: Part::Head,
            }),
            State::Connecting | State::Start => Err(Error::Transport {
                hop,
                error: TransportError::ConnectionReset,
            }),
            #[cfg(feature = "tls")]
            State::Handshaking => Err(Error::Tls {
                hop,
                error: TlsError::PeerClosedDuringHandshake,
            }),
            State::Finished => Ok(()),
        }
    }
}

/// Where the query of a head's (last) Location is: in the input it arrived in, or staged at the
/// start of the receive area (so it can be moved to the front once the head is let go).
enum QueryPlace<'i> {
    None,
    Input { bytes: &'i [u8] },
    Staged { at: usize, len: usize },
}

fn query_place<'i>(head: &Head<'_>, input: &'i [u8]) -> QueryPlace<'i> {
    let Some(location) = head.header_values("location").last() else {
        return QueryPlace::None;
    };
    let location = location.split(|&b| b == b'#').next().unwrap_or_default();
    let Some(query) = location
        .iter()
        .position(|&b| b == b'?')
        .and_then(|q| location.get(q + 1..))
    else {
        return QueryPlace::None;
    };
    let start = query.as_ptr() as usize;
    let input_start = input.as_ptr() as usize;
    if (input_start..input_start + input.len()).contains(&start) {
        let at = start - input_start;
        return QueryPlace::Input {
            bytes: input.get(at..at + query.len()).unwrap_or_default(),
        };
    }
    // A staged head starts at the front of the receive area.
    let head_start = head.as_bytes().as_ptr() as usize;
    QueryPlace::Staged {
        at: start.saturating_sub(head_start),
        len: query.len(),
    }
}

impl Core<'_> {
    fn next_action(&mut self, buf: &mut [u8]) -> Action {
        #[cfg(feature = "tls")]
        if self.closing_flight.is_some() {
            // The driver owes the `Sent` for a close_notify: nothing else until then.
            return Action::Wait(self.poll_timeout().unwrap_or(self.now));
        }
        // Bounded: each failure below finishes the check, after which only closes remain.
        for _ in 0..4 {
            if self.take_hop_event() {
                return Action::Hop;
            }
            if self.advance_pending {
                self.advance_pending = false;
                if self.state != State::Finished {
                    self.begin_next_hop();
                }
            }
            if let Some((conn, len)) = self.take_close_notify(buf) {
                return Action::Transmit(conn, len);
            }
            if let Some(conn) = self.take_close() {
                return Action::Close(conn);
            }
            if self.state == State::Finished {
                return Action::Done;
            }
            if self.state == State::Start {
                match self.start_hop() {
                    Ok(Some((conn, _))) => return Action::Connect(conn),
                    Ok(None) if self.state == State::Finished => continue,
                    Ok(None) => {}
                    Err(e) => {
                        self.fail(e);
                        continue;
                    }
                }
                if let Some((conn, len)) = self.take_close_notify(buf) {
                    return Action::Transmit(conn, len);
                }
                if let Some(conn) = self.take_close() {
                    return Action::Close(conn);
                }
            }
            match self.transmit(buf) {
                Ok(Some((conn, len))) => return Action::Transmit(conn, len),
                Ok(None) => {}
                Err(e) => {
                    self.fail(e);
                    continue;
                }
            }
            return Action::Wait(self.poll_timeout().unwrap_or(self.now));
        }
        Action::Wait(self.now)
    }

    /// Whether the finished hop's record is the next output (then the hop is advanced on the
    /// poll after it). Not while a `close_notify`'s `Sent` is owed: that comes first.
    #[inline(always)]
    fn take_hop_event(&mut self) -> bool {
        #[cfg(feature = "tls")]
        if self.closing_flight.is_some() {
            return false;
        }
        if !self.hop_pending {
            return false;
        }
        self.hop_pending = false;
        self.advance_pending = true;
        true
    }

    /// The deadline to wait for when only input can move the check on: a request handed out
    /// whole (or a piece of it not yet `Sent`), no hop to advance, nothing to close. This is
    /// what [`Core::next_action`] decides after all its checks; any other case is left to it.
    #[inline(always)]
    fn quiet_wait(&self) -> Option<Instant> {
        if self.hop_pending || self.advance_pending || self.closing {
            return None;
        }
        #[cfg(feature = "tls")]
        if self.closing_flight.is_some() {
            return None;
        }
        if !matches!(
            self.state,
            State::Awaiting | State::Draining | State::Reading
        ) {
            return None;
        }
        if self.in_flight.is_none() {
            // TLS may have records to send whatever the state: the whole decision looks.
            #[cfg(feature = "tls")]
            if self
                .active
                .and_then(|slot| self.conns.get(slot))
                .is_none_or(|c| c.tls.is_some())
            {
                return None;
            }
            if self.state == State::Awaiting && self.req_done < self.req_total {
                return None;
            }
        }
        self.poll_timeout()
    }

    #[cfg_attr(target_pointer_width = "64", inline(always))]
    fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Finished {
            return None;
        }
        Some(match self.deadline_phase {
            Some(phase) => phase.min(self.deadline_total),
            None => self.deadline_total,
        })
    }

    /// The next connection waiting for its `Close` to be handed out; the slot is then free.
    fn take_close(&mut self) -> Option<ConnId> {
        if !self.closing {
            return None;
        }
        let Some(slot) = self.conns.iter_mut().find(|c| c.life == Life::Closing) else {
            self.closing = false;
            return None;
        };
        slot.release();
        Some(slot.id)
    }

    /// A TLS connection about to close sends `close_notify` first, in as many `Transmit`s as
    /// the socket needs; its `Close` follows. A socket that takes nothing ends the attempt.
    #[cfg(feature = "tls")]
    fn take_close_notify(&mut self, buf: &mut [u8]) -> Option<(ConnId, usize)> {
        if !self.closing {
            return None;
        }
        for c in self.conns.iter_mut().filter(|c| c.life == Life::Closing) {
            let Some(tls) = c.tls.as_mut() else { continue };
            if !tls.close() {
                continue;
            }
            let out = tls.outgoing();
            let len = out.len().min(buf.len());
            if let (Some(dst), Some(src)) = (buf.get_mut(..len), out.get(..len)) {
                dst.copy_from_slice(src);
            }
            self.closing_flight = Some(c.id);
            return Some((c.id, len));
        }
        None
    }

    #[cfg(not(feature = "tls"))]
    fn take_close_notify(&mut self, _buf: &mut [u8]) -> Option<(ConnId, usize)> {
        None
    }

    /// `Sent` for a connection that is closing: the `close_notify` bytes it took.
    #[cfg(feature = "tls")]
    fn on_close_notify_sent(&mut self, slot: usize, len: usize) {
        self.closing_flight = None;
        if let Some(tls) = self.conns.get_mut(slot).and_then(|c| c.tls.as_mut()) {
            let all = tls.outgoing().len();
            tls.consume_outgoing(if len == 0 { all } else { len });
        }
    }

    fn close_slot(&mut self, slot: usize) {
        if let Some(c) = self.conns.get_mut(slot) {
            if c.is_open() {
                c.life = Life::Closing;
                self.closing = true;
            }
        }
        if self.active == Some(slot) {
            self.active = None;
        }
    }

    fn new_conn_id(&mut self) -> ConnId {
        self.next_conn = self.next_conn.wrapping_add(1).max(1);
        ConnId(self.next_conn)
    }

    /// Finds the current hop a connection: an idle one to its origin, or a new one (the
    /// `Connect` to hand out). A full pool first closes its least recently used idle one.
    fn start_hop(&mut self) -> Result<Option<(ConnId, usize)>, Error> {
        self.use_seq = self.use_seq.wrapping_add(1);
        let url = self.urls.current();
        if !self.force_new && self.policy.reuse_connections {
            if let Some(slot) = pool::idle_for(self.conns, &url) {
                self.active = Some(slot);
                let seq = self.use_seq;
                if let Some(c) = self.conns.get_mut(slot) {
                    c.life = Life::Busy;
                    c.last_used = seq;
                    self.info.reused = true;
                    self.info.conn = c.id;
                    self.info.remote = c.remote.get();
                    self.info.local = c.local.get();
                    #[cfg(feature = "tls")]
                    {
                        self.info.tls = c.tls_info.get();
                    }
                }
                self.begin_request();
                return Ok(None);
            }
        }
        self.force_new = false;
        let slot = match pool::slot_for_new(self.conns, self.pool_size) {
            Ok(slot) => slot,
            Err(Some(lru)) => {
                // The Close goes out first; the slot is free when this is called again.
                self.close_slot(lru);
                return Ok(None);
            }
            Err(None) => {
                return Err(Error::Storage {
                    area: Area::Connections,
                    needed: self.pool_size + 1,
                    have: self.pool_size,
                })
            }
        };
        let id = self.new_conn_id();
        let seq = self.use_seq;
        let url = self.urls.current();
        if let Some(c) = self.conns.get_mut(slot) {
            c.open(id, &url, seq);
        }
        self.active = Some(slot);
        self.info.conn = id;
        self.info.reused = false;
        self.state = State::Connecting;
        self.phase_started = self.now;
        self.deadline_phase =
            Some(self.now + self.policy.timeouts.dns + self.policy.timeouts.connect);
        Ok(Some((id, slot)))
    }

    fn on_connected(&mut self, conn: ConnId, info: ConnectionInfo) -> Result<(), Error> {
        let Some(slot) = pool::find(self.conns, conn) else {
            return Ok(());
        };
        if self.active != Some(slot) || self.state != State::Connecting {
            return Ok(());
        }
        self.counters.connections = self.counters.connections.saturating_add(1);
        let measured = self.now.millis_u32_since(self.phase_started);
        self.info.remote = info.remote;
        self.info.local = info.local;
        self.info.timings.dns_ms = info.dns.map(millis_u32);
        self.info.timings.connect_ms = Some(info.connect.map_or(measured, millis_u32));
        let https = match self.conns.get_mut(slot) {
            Some(c) => {
                c.life = Life::Busy;
                c.remote = info.remote.into();
                c.local = info.local.into();
                c.scheme == Scheme::Https
            }
            None => false,
        };
        if https {
            return self.start_tls(slot);
        }
        self.begin_request();
        Ok(())
    }

    /// A fresh connection to an https origin: start the handshake.
    #[cfg(feature = "tls")]
    fn start_tls(&mut self, slot: usize) -> Result<(), Error> {
        let hop = self.hop;
        let url = self.urls.current();
        let tls = self
            .tls
            .connect(url.host(), self.wall, self.now)
            .map_err(|error| Error::Tls { hop, error })?;
        if let Some(c) = self.conns.get_mut(slot) {
            c.tls = Some(tls);
        }
        self.state = State::Handshaking;
        self.phase_started = self.now;
        self.deadline_phase = Some(self.now + self.policy.timeouts.tls_handshake);
        Ok(())
    }

    #[cfg(not(feature = "tls"))]
    fn start_tls(&mut self, _slot: usize) -> Result<(), Error> {
        Err(Error::Tls {
            hop: self.hop,
            error: TlsError::NotConfigured,
        })
    }

    /// The connection is ready: the request starts going out and the head is awaited.
    fn begin_request(&mut self) {
        self.state = State::Awaiting;
        self.reader.reset(false);
        self.req_at = self.now;
        self.req_done = 0;
        self.in_flight = None;
        self.keep_alive_sent = self.policy.reuse_connections;
        self.phase_started = self.now;
        self.deadline_phase = Some(self.now + self.policy.timeouts.response_head);
        // The length is learnt from the first write: no counting pass.
        self.req_total = usize::MAX;
        if !self.jar.is_empty() {
            let url = self.urls.current();
            let names = &mut self.info.cookies_sent;
            self.jar
                .for_url(&url, self.req_at)
                .each(|name, _| names.push(name));
        }
        self.tap_request();
    }

    /// Shows the tap this hop's request, produced once more in small pieces.
    fn tap_request(&mut self) {
        let Some(tap) = self.tap.take() else {
            return;
        };
        let mut piece = [0u8; 256];
        let mut offset = 0;
        // Bounded: a request is at most a few URL and cookie areas long.
        for _ in 0..4096 {
            match self.write_request_part(&mut piece, offset) {
                Ok((_, 0)) | Err(_) => break,
                Ok((_, n)) => {
                    tap(Tap::Request {
                        hop: self.hop,
                        bytes: piece.get(..n).unwrap_or_default(),
                    });
                    offset += n;
                }
            }
        }
        self.tap = Some(tap);
    }

    /// Writes the request's bytes from `offset` into `buf`: (whole length, bytes written).
    /// Inlined where speed is favoured: returned from a call, the pair would come back through
    /// memory, and its copy reloads it in one piece where it was stored in two, which waits
    /// for those stores to retire. One copy where flash is favoured.
    #[cfg_attr(target_pointer_width = "64", inline(always))]
    fn write_request_part(&self, buf: &mut [u8], offset: usize) -> Result<(usize, usize), Error> {
        let url = self.urls.current();
        let bearer = match self.auth {
            Some((scheme, port, host))
                if scheme == url.scheme()
                    && port == url.port()
                    && self.urls.tail_str(host) == url.host() =>
            {
                self.token.map(|t| self.urls.tail_str(t))
            }
            _ => None,
        };
        let cookies = self.jar.for_url(&url, self.req_at);
        // `begin_request` matched the jar for this hop already (at `req_at`, and the jar does
        // not change while a request goes out): most hops carry no cookie, and then the jar
        // is not searched again for every piece of the request.
        let any_cookie = self.info.cookies_sent.count() > 0;
        let req = Request {
            url: &url,
            platform: self.policy.platform,
            connection: if self.keep_alive_sent {
                ConnectionMode::KeepAlive
            } else {
                ConnectionMode::Close
            },
            cookies: if any_cookie { Some(&cookies) } else { None },
            bearer_token: bearer,
        };
        write_request_at(buf, &req, offset, self.platform_clean).map_err(|error| Error::Request {
            hop: self.hop,
            error,
        })
    }

    /// The next `Transmit` for the active connection, if there is one to hand out.
    fn transmit(&mut self, buf: &mut [u8]) -> Result<Option<(ConnId, usize)>, Error> {
        if self.in_flight.is_some() || buf.is_empty() {
            return Ok(None);
        }
        let Some(slot) = self.active else {
            return Ok(None);
        };
        let Some(id) = self.conns.get(slot).map(|c| c.id) else {
            return Ok(None);
        };
        #[cfg(feature = "tls")]
        if self.conns.get(slot).is_some_and(|c| c.tls.is_some()) {
            return self.transmit_tls(slot, id, buf);
        }
        if self.state != State::Awaiting || self.req_done >= self.req_total {
            return Ok(None);
        }
        let (total, written) = self.write_request_part(buf, self.req_done)?;
        self.req_total = total;
        if written == 0 {
            return Ok(None);
        }
        self.in_flight = Some(written);
        Ok(Some((id, written)))
    }

    /// On TLS: encrypt the next piece of the request, then hand out ciphertext.
    #[cfg(feature = "tls")]
    fn transmit_tls(
        &mut self,
        slot: usize,
        id: ConnId,
        buf: &mut [u8],
    ) -> Result<Option<(ConnId, usize)>, Error> {
        let hop = self.hop;
        let queued = self
            .conns
            .get(slot)
            .and_then(|c| c.tls.as_ref())
            .is_some_and(|t| !t.outgoing().is_empty());
        if !queued && self.state == State::Awaiting && self.req_done < self.req_total {
            // TLS allocates anyway: the plaintext goes into records of up to 16 KiB whatever
            // the caller's buffer, so the wire does not depend on it.
            let left = (self.req_total - self.req_done).min(MAX_TLS_PLAINTEXT);
            let mut plain = alloc::vec![0u8; left];
            let (total, written) = self.write_request_part(&mut plain, self.req_done)?;
            self.req_total = total;
            if let Some(tls) = self.conns.get_mut(slot).and_then(|c| c.tls.as_mut()) {
                tls.send(plain.get(..written).unwrap_or_default())
                    .map_err(|error| Error::Tls { hop, error })?;
            }
            self.req_done += written;
        }
        let Some(tls) = self.conns.get(slot).and_then(|c| c.tls.as_ref()) else {
            return Ok(None);
        };
        let out = tls.outgoing();
        let len = out.len().min(buf.len());
        if len == 0 {
            return Ok(None);
        }
        if let (Some(dst), Some(src)) = (buf.get_mut(..len), out.get(..len)) {
            dst.copy_from_slice(src);
        }
        self.in_flight = Some(len);
        Ok(Some((id, len)))
    }

    /// The active connection's slot, if `conn` is that connection: the one almost every input
    /// is for, found without a search. Ids are not reused within a check, so this is the slot
    /// `pool::find` would give.
    #[inline(always)]
    fn active_slot_of(&self, conn: ConnId) -> Option<usize> {
        self.active.filter(|&slot| {
            self.conns
                .get(slot)
                .is_some_and(|c| c.id == conn && c.life != Life::Free)
        })
    }

    /// `on_sent` for the request piece in flight on the active plain connection, when no
    /// deadline has passed at `now`: all that `handle_input` would do then. `false` (and nothing
    /// changed) in any other case, which the whole of `handle_input` takes.
    #[inline(always)]
    fn sent_quickly(&mut self, now: Instant, conn: ConnId, len: usize) -> bool {
        let now = self.now.max(now);
        if self.state == State::Finished
            || now >= self.deadline_total
            || self.deadline_phase.is_some_and(|deadline| now >= deadline)
        {
            return false;
        }
        #[cfg_attr(not(feature = "tls"), allow(unused_variables))]
        let (Some(slot), Some(handed)) = (self.active_slot_of(conn), self.in_flight) else {
            return false;
        };
        #[cfg(feature = "tls")]
        if self.closing_flight == Some(conn)
            || self.conns.get(slot).is_some_and(|c| c.tls.is_some())
        {
            return false;
        }
        self.now = now;
        self.in_flight = None;
        let n = len.min(handed);
        self.info.bytes_out += n as u64;
        self.req_done += n;
        true
    }

    fn on_sent(&mut self, conn: ConnId, len: usize) {
        let Some(slot) = pool::find(self.conns, conn) else {
            return;
        };
        #[cfg(feature = "tls")]
        if self.closing_flight == Some(conn) {
            self.on_close_notify_sent(slot, len);
            return;
        }
        if self.active != Some(slot) {
            return;
        }
        let Some(handed) = self.in_flight.take() else {
            return;
        };
        let n = len.min(handed);
        self.info.bytes_out += n as u64;
        #[cfg(feature = "tls")]
        if let Some(tls) = self.conns.get_mut(slot).and_then(|c| c.tls.as_mut()) {
            tls.consume_outgoing(n);
            return;
        }
        self.req_done += n;
    }

    /// Bytes on an idle connection: TLS records (a late session ticket) are taken in; anything
    /// that decrypts to data, or any plain data, means the connection cannot be trusted.
    fn on_idle_bytes(&mut self, slot: usize, bytes: &[u8]) {
        #[cfg(feature = "tls")]
        let id = self.conns.get(slot).map_or(ConnId::default(), |c| c.id);
        #[cfg(feature = "tls")]
        if let Some(tls) = self.conns.get_mut(slot).and_then(|c| c.tls.as_mut()) {
            let ok = tls.receive(bytes).is_ok() && !tls.peer_closed();
            let plaintext = tls.take_plaintext();
            if let Some(tap) = self.tap.as_mut() {
                tap(Tap::Decrypted {
                    conn: id,
                    bytes: &plaintext,
                    handshake_done: tls.handshake_done(),
                    peer_closed: tls.peer_closed(),
                });
            }
            let clean = ok && plaintext.is_empty();
            tls.return_plaintext(plaintext);
            if !clean {
                self.close_slot(slot);
            }
            return;
        }
        if !bytes.is_empty() {
            self.close_slot(slot);
        }
    }

    fn on_head(&mut self, head: &Head<'_>) -> Result<HeadNext, Error> {
        let hop = self.hop;
        let status = head.status;
        self.info.status = Some(status);
        if let Some(tap) = self.tap.as_mut() {
            tap(Tap::ResponseHead {
                hop,
                head: head.as_bytes(),
            });
        }
        let (location, content_type, date, set_cookie) = (
            head.location(),
            head.content_type(),
            head.date(),
            head.has_set_cookie(),
        );
        if set_cookie {
            self.store_cookies(head, date.and_then(parse_cookie_date))?;
        }
        self.deadline_phase = Some(self.now + self.policy.timeouts.idle);

        if !matches!(status, 301 | 302 | 303 | 307 | 308) {
            if self.policy.html_is_interaction
                && (200..300).contains(&status)
                && content_type.is_some_and(is_html_type)
            {
                return Err(Error::InteractionRequired { hop, status });
            }
            self.final_status = status;
            // What was drained from earlier redirects is no part of the final body's budget.
            self.discarded = 0;
            self.body_len = 0;
            self.body_kind = if content_type.is_some_and(is_json_type) {
                BodyKind::Json
            } else {
                BodyKind::Other
            };
            self.state = State::Reading;
            return Ok(HeadNext::Read);
        }

        // An empty Location is an empty reference: it resolves to the current URL (RFC 3986
        // §5.2), counted like any other redirect, so a self-loop ends at max_redirects.
        let location = location.ok_or(Error::MissingLocation { hop, status })?;
        let joined = self.urls.join(location);
        if self.prefix.is_some() && self.under_prefix(location, joined.is_ok()) {
            self.final_status = status;
            return Ok(HeadNext::Stop);
        }
        joined.map_err(|error| match error {
            UrlError::UnsupportedScheme => Error::ForbiddenScheme { hop },
            error => Error::BadLocation { hop, error },
        })?;
        if self.policy.require_https
            && self.urls.slot(self.urls.other_slot()).scheme() == Scheme::Http
        {
            return Err(Error::InsecureRedirect { hop });
        }
        self.redirects = self.redirects.saturating_add(1);
        if self.redirects > self.policy.max_redirects {
            return Err(Error::TooManyRedirects {
                max: self.policy.max_redirects,
                hop,
            });
        }
        let keep = self.policy.reuse_connections
            && self.keep_alive_sent
            && self.reader.server_keeps_alive()
            && self.req_done >= self.req_total;
        self.end_hop_timing();
        if keep {
            self.state = State::Draining;
            self.discarded = 0;
            return Ok(HeadNext::Read);
        }
        self.abandon_connection();
        Ok(HeadNext::HopDone)
    }

    /// Whether a redirect ends the check here (see `Session::set_redirect_url`). Never without
    /// the `redirect-url` feature, and then the whole stop-at-redirect path is left out.
    fn under_prefix(&self, location: &[u8], joined: bool) -> bool {
        let Some(prefix) = self.prefix.filter(|_| cfg!(feature = "redirect-url")) else {
            return false;
        };
        let text = self.urls.tail_str(prefix.at);
        match (prefix.parts, joined) {
            (Some(parts), true) => {
                let p = UrlRef::from_parts(text.as_bytes(), parts);
                let n = self.urls.slot(self.urls.other_slot());
                p.scheme() == n.scheme()
                    && p.port() == n.port()
                    && p.host() == n.host()
                    && continues_on_boundary(n.target().as_bytes(), p.target().as_bytes())
            }
            (Some(_), false) => false,
            (None, _) => continues_on_boundary(location, text.as_bytes()),
        }
    }

    #[cfg_attr(target_pointer_width = "64", inline(never))]
    fn store_cookies(&mut self, head: &Head<'_>, server_date: Option<u64>) -> Result<(), Error> {
        let hop = self.hop;
        let url = self.urls.current();
        let mut too_large = None;
        for value in head.set_cookies() {
            match self
                .jar
                .store(value, &url, self.now, server_date, self.wall)
            {
                Ok(Stored::Evicted) => {
                    self.counters.cookie_evictions =
                        self.counters.cookie_evictions.saturating_add(1)
                }
                Ok(_) => {}
                Err(e) => too_large = Some(e.needed),
            }
            let name = value.split(|&b| b == b'=').next().unwrap_or_default();
            self.info.cookies_set.push(name.trim_ascii());
        }
        if let Some(needed) = too_large {
            return Err(Error::CookieTooLarge {
                hop,
                limit: self.jar.capacity(),
                needed,
            });
        }
        Ok(())
    }

    #[cfg_attr(target_pointer_width = "64", inline(always))]
    fn on_complete(&mut self, leftover: bool) -> Result<(), Error> {
        match self.state {
            State::Draining if leftover => {
                // Bytes after a complete response on an idle connection: do not trust it.
                self.abandon_connection();
            }
            State::Draining => {
                if let Some(c) = self.active.and_then(|s| self.conns.get_mut(s)) {
                    c.life = Life::Idle;
                    c.reusable = true;
                }
                self.active = None;
                self.hop_done();
            }
            State::Reading => {
                self.end_hop_timing();
                self.finish();
            }
            _ => {}
        }
        Ok(())
    }

    /// The current hop's connection is not worth keeping: close it, and end the hop.
    fn abandon_connection(&mut self) {
        if let Some(slot) = self.active {
            self.close_slot(slot);
        }
        self.hop_done();
    }

    /// The redirect hop is over: its record goes out, then the next hop starts.
    fn hop_done(&mut self) {
        self.state = State::Start;
        self.deadline_phase = None;
        self.hop_pending = true;
    }

    fn begin_next_hop(&mut self) {
        self.prev_scheme = Some(self.urls.current().scheme());
        self.urls.cur = self.urls.other_slot();
        self.hop = self.hop.saturating_add(1);
        self.retried_stale = false;
        self.info = HopInfo {
            hop: self.hop,
            scheme_switch: self.prev_scheme != Some(self.urls.current().scheme()),
            ..HopInfo::default()
        };
        self.hop_bytes_in = 0;
        self.hop_started = self.now;
        self.state = State::Start;
    }

    fn end_hop_timing(&mut self) {
        self.info.timings.total_ms = Some(self.now.millis_u32_since(self.hop_started));
    }

    fn on_transport_failed(&mut self, conn: ConnId, error: TransportError) -> Result<(), Error> {
        let Some(slot) = pool::find(self.conns, conn) else {
            return Ok(());
        };
        if self.active != Some(slot) {
            self.close_slot(slot);
            return Ok(());
        }
        if self.state == State::Awaiting && self.may_retry_stale() {
            self.retry_stale();
            return Ok(());
        }
        if self.state == State::Draining {
            self.abandon_connection();
            return Ok(());
        }
        Err(Error::Transport {
            hop: self.hop,
            error,
        })
    }

    fn may_retry_stale(&self) -> bool {
        self.info.reused && self.hop_bytes_in == 0 && !self.retried_stale
    }

    fn retry_stale(&mut self) {
        self.retried_stale = true;
        self.force_new = true;
        self.info.reused = false;
        self.info.remote = None;
        self.info.local = None;
        self.info.tls = None;
        self.info.bytes_out = 0;
        self.info.cookies_sent = Default::default();
        if let Some(slot) = self.active {
            self.close_slot(slot);
        }
        self.state = State::Start;
        self.deadline_phase = None;
    }

    /// Called around every input: the test that nothing expired stays inline where speed is
    /// favoured, the failure out of line.
    #[cfg_attr(target_pointer_width = "64", inline)]
    fn check_deadlines(&mut self) {
        let expired = self.now >= self.deadline_total
            || self
                .deadline_phase
                .is_some_and(|deadline| self.now >= deadline);
        if expired {
            self.deadline_passed();
        }
    }

    #[cfg_attr(target_pointer_width = "64", inline(never))]
    fn deadline_passed(&mut self) {
        let hop = self.hop;
        if self.now >= self.deadline_total {
            self.fail(Error::CheckTimeout {
                hop,
                limit_ms: millis_u32(self.policy.timeouts.total),
            });
            return;
        }
        let Some(deadline) = self.deadline_phase else {
            return;
        };
        if self.now < deadline {
            return;
        }
        let error = match self.state {
            State::Connecting => Error::ConnectTimeout { hop },
            #[cfg(feature = "tls")]
            State::Handshaking => Error::Tls {
                hop,
                error: TlsError::HandshakeTimeout,
            },
            State::Awaiting if !self.reader.has_head() => Error::ResponseTimeout { hop },
            _ => Error::IdleTimeout { hop },
        };
        self.fail(error);
    }

    /// The check is over: every connection is closed, the last hop's record goes out, then
    /// `Done`.
    fn finish(&mut self) {
        self.state = State::Finished;
        self.deadline_phase = None;
        self.hop_pending = true;
        self.active = None;
        for c in self.conns.iter_mut() {
            if c.is_open() {
                c.life = Life::Closing;
                self.closing = true;
            }
        }
    }

    fn fail(&mut self, error: Error) {
        if self.state == State::Finished {
            return;
        }
        self.end_hop_timing();
        self.result = Some(error);
        self.finish();
    }
}

/// Whether `text` starts with `prefix` and goes on at a boundary: the end, `/`, `?` or `#`, or
/// the prefix itself ends with `/` (or has a query).
fn continues_on_boundary(text: &[u8], prefix: &[u8]) -> bool {
    if !text.starts_with(prefix) {
        return false;
    }
    if prefix.ends_with(b"/") || prefix.contains(&b'?') {
        return true;
    }
    matches!(text.get(prefix.len()), None | Some(b'/' | b'?' | b'#'))
}
