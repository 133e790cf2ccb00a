//! The redirect session: one storable state machine that walks a check's redirect chain.
//!
//! ```text
//!     ┌──────────── the next hop needs another connection: Close, then Connect ◄──────────┐
//!     ▼                                                                                    │
//!  Connecting ──Connected──► Handshaking ──► Ready ──Transmit──► Awaiting ──head: 3xx──────┤
//!  (DNS + connect  (https only;    ▲          │                  (head deadline)            │
//!   deadline)       TLS deadline)  │          │                                    same origin and
//!                                  └── body read ── Draining ◄── keep-alive on both sides ──┘
//!
//!  Awaiting ──head: final status, or a Location under redirect_url──► Reading ──► Finished
//!                                                          (idle deadline)      (Close, then Done)
//! ```
//!
//! The caller (a driver) owns the socket, the clock and the buffers. It feeds [`Input`]s, each
//! with its monotonic `now`, through [`Session::handle_input`], and after every input drains
//! [`Session::poll_output`] until it says [`Output::Wait`] or [`Output::Done`]. `Transmit` bytes
//! are written into the caller's buffer. Nothing here allocates, reads a clock or panics on input.
//!
//! A stale kept-alive connection (the server closed it while idle, so the reused request got no
//! byte back) is retried once on a fresh connection, as browsers do.

use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;

use heapless::{String, Vec};

use crate::completion::{is_json_type, BodyKind, Completion};
use crate::cookie::{parse_cookie_date, CookieJar, Stored, DEFAULT_COOKIE_SLOTS};
use crate::error::{Error, TlsError, TransportError};
use crate::policy::Policy;
use crate::request::{write_request, ConnectionMode, Request};
use crate::response::{Part, ResponseError, ResponseReader, Step, DEFAULT_HEAD_CAPACITY};
use crate::time::{millis_u32, Instant, WallClock};
use crate::trace::{HopRecord, Trace};
use crate::url::{Scheme, Url, UrlError, DEFAULT_URL_CAPACITY};

/// Default capacity for the final response body.
pub const DEFAULT_BODY_CAPACITY: usize = 16 * 1024;
/// Default number of hops the trace keeps (10 redirects and the final response).
pub const DEFAULT_TRACE_HOPS: usize = 11;
/// Longest bearer token accepted.
pub const TOKEN_CAPACITY: usize = 2048;

/// What the driver tells the session. Every input comes with the caller's `now`.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// The connection asked for by the last `Connect` is up.
    Connected(ConnectionInfo),
    /// Bytes arrived from the server.
    Received(&'a [u8]),
    /// This many bytes of the last `Transmit` were written to the socket.
    Sent(usize),
    /// The server closed the connection (read returned 0).
    Eof,
    /// A `Wait { until }` deadline was reached.
    Timeout,
    /// The driver could not resolve, connect, or keep the connection.
    TransportFailed(TransportError),
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
    /// Open a connection (resolve over the pinned interface, connect), then feed `Connected`.
    Connect {
        /// `http` or `https`.
        scheme: Scheme,
        /// Host name or IP literal (IPv6 without brackets).
        host: &'s str,
        /// Port.
        port: u16,
        /// The request number this connection is for (1 for the first).
        hop: u8,
    },
    /// Send the first `len` bytes of the buffer passed to `poll_output`, then feed `Sent`.
    Transmit {
        /// Bytes to send.
        len: usize,
    },
    /// Close the current connection.
    Close,
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
    Connecting,
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    Handshaking,
    Ready,
    Awaiting,
    Draining,
    Reading,
    Finished,
}

#[derive(Clone, Copy, Debug, Default)]
struct Pending {
    close: bool,
    connect: bool,
    transmit: bool,
}

/// The redirect session. Capacities: `URL` bytes per URL, `HEAD` bytes of response head, `BODY`
/// bytes of final body, `COOKIES` cookie slots, `TRACE` hop records. Behaviour is the runtime
/// [`Policy`].
pub struct Session<
    const URL: usize = DEFAULT_URL_CAPACITY,
    const HEAD: usize = DEFAULT_HEAD_CAPACITY,
    const BODY: usize = DEFAULT_BODY_CAPACITY,
    const COOKIES: usize = DEFAULT_COOKIE_SLOTS,
    const TRACE: usize = DEFAULT_TRACE_HOPS,
> {
    policy: Policy,
    state: State,
    pending: Pending,
    /// The URL being requested (after a redirect decision: the next one).
    url: Url<URL>,
    /// Where `Authorization` may go: the first URL's origin, when a token was given.
    auth_origin: Option<Url<URL>>,
    token: String<TOKEN_CAPACITY>,
    redirect_prefix: String<URL>,
    wall: Option<WallClock>,
    hop: u8,
    redirects: u8,
    reader: ResponseReader<HEAD>,
    body: Vec<u8, BODY>,
    body_kind: BodyKind,
    body_truncated: bool,
    discarded: u64,
    final_status: u16,
    jar: CookieJar<COOKIES>,
    trace: Trace<URL, TRACE>,
    #[cfg(feature = "tls")]
    tls: crate::tls::TlsLink,
    conn_open: bool,
    conn_keep_alive: bool,
    hop_reused: bool,
    retried_stale: bool,
    hop_bytes_in: u64,
    now: Instant,
    deadline_total: Instant,
    deadline_phase: Option<Instant>,
    hop_started: Instant,
    phase_started: Instant,
    result: Option<Error>,
}

impl<
        const URL: usize,
        const HEAD: usize,
        const BODY: usize,
        const COOKIES: usize,
        const TRACE: usize,
    > fmt::Debug for Session<URL, HEAD, BODY, COOKIES, TRACE>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("state", &self.state)
            .field("hop", &self.hop)
            .field("url", &self.url)
            .field(
                "token",
                &if self.token.is_empty() {
                    "none"
                } else {
                    "<redacted>"
                },
            )
            .finish()
    }
}

impl<
        const URL: usize,
        const HEAD: usize,
        const BODY: usize,
        const COOKIES: usize,
        const TRACE: usize,
    > Session<URL, HEAD, BODY, COOKIES, TRACE>
{
    /// Starts a check of `check_url` at `now`. The first output will be `Connect`.
    pub fn new(check_url: &[u8], policy: Policy, now: Instant) -> Result<Self, Error> {
        let url = Url::parse(check_url).map_err(|error| Error::InvalidUrl { error })?;
        if url.scheme() == Scheme::Http && !policy.allow_http_start {
            return Err(Error::InsecureStart);
        }
        let mut s = Session {
            policy,
            state: State::Connecting,
            pending: Pending::default(),
            url,
            auth_origin: None,
            token: String::new(),
            redirect_prefix: String::new(),
            wall: None,
            hop: 0,
            redirects: 0,
            reader: ResponseReader::new(policy.limits.max_head_bytes, false),
            body: Vec::new(),
            body_kind: BodyKind::None,
            body_truncated: false,
            discarded: 0,
            final_status: 0,
            jar: CookieJar::default(),
            trace: Trace::default(),
            #[cfg(feature = "tls")]
            tls: crate::tls::TlsLink::default(),
            conn_open: false,
            conn_keep_alive: false,
            hop_reused: false,
            retried_stale: false,
            hop_bytes_in: 0,
            now,
            deadline_total: now + policy.timeouts.total,
            deadline_phase: None,
            hop_started: now,
            phase_started: now,
            result: None,
        };
        s.begin_hop(false);
        s.pending.connect = true;
        Ok(s)
    }

    /// Sends `Authorization: Bearer <token>` to the first URL's origin (and nowhere else).
    pub fn with_access_token(mut self, token: &str) -> Result<Self, Error> {
        self.token.clear();
        self.token
            .push_str(token)
            .map_err(|_| Error::TokenTooLong {
                limit: TOKEN_CAPACITY,
            })?;
        self.auth_origin = Some(self.url.clone());
        Ok(self)
    }

    /// Ends the check at the first `Location` that starts with `prefix`, without requesting it;
    /// the result fields come from that Location's query string.
    pub fn with_redirect_url(mut self, prefix: &str) -> Result<Self, Error> {
        let normalised = Url::<URL>::parse(prefix.as_bytes());
        let text = match &normalised {
            Ok(u) => u.as_str(),
            Err(_) => prefix,
        };
        self.redirect_prefix.clear();
        self.redirect_prefix
            .push_str(text)
            .map_err(|_| Error::InvalidUrl {
                error: UrlError::TooLong { capacity: URL },
            })?;
        Ok(self)
    }

    /// Lets https hops run over TLS with these settings. Without it, an https hop fails with
    /// [`TlsError::NotConfigured`]: the engine never sends https traffic in the clear.
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, settings: crate::tls::TlsSettings) -> Self {
        self.tls.configure(settings);
        self
    }

    /// Gives the session the wall clock, for cookie `Expires` (and certificate validity).
    pub fn with_wall_clock(mut self, wall: WallClock) -> Self {
        self.wall = Some(wall);
        self
    }

    /// The request number reached (1 for the first); on failure, the hop that failed.
    pub fn hop(&self) -> u8 {
        self.hop
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The per-hop trace so far.
    pub fn trace(&self) -> &Trace<URL, TRACE> {
        &self.trace
    }

    /// The URL being (or about to be) requested.
    pub fn current_url(&self) -> &Url<URL> {
        &self.url
    }

    /// The cookie jar.
    pub fn cookies(&self) -> &CookieJar<COOKIES> {
        &self.jar
    }

    /// Whether the check is over (`Done` may still be waiting to be polled).
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    /// The nearest deadline, if the check is still running.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Finished {
            return None;
        }
        Some(match self.deadline_phase {
            Some(phase) => phase.min(self.deadline_total),
            None => self.deadline_total,
        })
    }

    /// The result, once finished.
    pub fn outcome(&self) -> Option<Result<Completion<'_>, Error>> {
        if self.state != State::Finished {
            return None;
        }
        Some(match self.result {
            Some(e) => Err(e),
            None => Ok(self.completion()),
        })
    }

    /// Feeds one input at `now`.
    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) {
        if self.state == State::Finished {
            return;
        }
        self.now = self.now.max(now);
        let result = match input {
            Input::Connected(info) => {
                self.on_connected(info);
                Ok(())
            }
            #[cfg(feature = "tls")]
            Input::Received(bytes) if self.tls.is_active() => self.on_ciphertext(bytes),
            Input::Received(bytes) => self.on_received(bytes),
            Input::Sent(n) => {
                if let Some(rec) = self.trace.hop_mut(self.hop) {
                    rec.bytes_out += n as u64;
                }
                Ok(())
            }
            Input::Eof => self.on_eof(),
            Input::Timeout => Ok(()),
            Input::TransportFailed(error) => self.on_transport_failed(error),
        };
        if let Err(e) = result {
            self.fail(e);
        }
        if self.state != State::Finished {
            self.check_deadlines();
        }
    }

    /// The next thing for the driver to do. `buf` receives request bytes for `Transmit`.
    pub fn poll_output(&mut self, buf: &mut [u8]) -> Output<'_> {
        if self.pending.close {
            self.pending.close = false;
            self.conn_open = false;
            #[cfg(feature = "tls")]
            self.tls.close();
            return Output::Close;
        }
        if self.state == State::Finished {
            self.pending = Pending::default();
            return match self.result {
                Some(e) => Output::Done(Err(e)),
                None => Output::Done(Ok(self.completion())),
            };
        }
        if self.pending.connect {
            self.pending.connect = false;
            self.state = State::Connecting;
            self.phase_started = self.now;
            self.deadline_phase =
                Some(self.now + self.policy.timeouts.dns + self.policy.timeouts.connect);
            return Output::Connect {
                scheme: self.url.scheme(),
                host: self.url.host(),
                port: self.url.port(),
                hop: self.hop,
            };
        }
        #[cfg(feature = "tls")]
        {
            let len = self.tls.take_outgoing(buf);
            if len > 0 {
                return Output::Transmit { len };
            }
        }
        if self.pending.transmit {
            self.pending.transmit = false;
            match self.write_request(buf).and_then(|len| self.seal(buf, len)) {
                Ok(len) => {
                    self.state = State::Awaiting;
                    self.reader.reset(false);
                    self.phase_started = self.now;
                    self.deadline_phase = Some(self.now + self.policy.timeouts.response_head);
                    return Output::Transmit { len };
                }
                Err(e) => {
                    self.fail(e);
                    return self.poll_output(buf);
                }
            }
        }
        Output::Wait {
            until: self.poll_timeout().unwrap_or(self.now),
        }
    }

    fn write_request(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        let keep_alive = self.policy.reuse_connections;
        let bearer = match &self.auth_origin {
            Some(origin) if origin.same_origin(&self.url) => Some(self.token.as_str()),
            _ => None,
        };
        let cookies = self.jar.for_url(&self.url, self.now);
        let req = Request {
            url: &self.url,
            platform: self.policy.platform,
            connection: if keep_alive {
                ConnectionMode::KeepAlive
            } else {
                ConnectionMode::Close
            },
            cookies: Some(&cookies),
            bearer_token: bearer,
        };
        let len = write_request(buf, &req).map_err(|error| Error::Request {
            hop: self.hop,
            error,
        })?;
        if let Some(rec) = self.trace.hop_mut(self.hop) {
            cookies.each(|name, _| rec.cookies_sent.push(name));
        }
        self.conn_keep_alive = keep_alive;
        Ok(len)
    }

    /// On an https hop, encrypts the request in `buf` and puts the first ciphertext there.
    #[cfg(feature = "tls")]
    fn seal(&mut self, buf: &mut [u8], len: usize) -> Result<usize, Error> {
        if !self.tls.is_active() {
            return Ok(len);
        }
        let hop = self.hop;
        self.tls
            .send(buf.get(..len).unwrap_or_default())
            .map_err(|error| Error::Tls { hop, error })?;
        Ok(self.tls.take_outgoing(buf))
    }

    #[cfg(not(feature = "tls"))]
    fn seal(&mut self, _buf: &mut [u8], len: usize) -> Result<usize, Error> {
        Ok(len)
    }

    /// A fresh connection to an https origin: start the handshake.
    #[cfg(feature = "tls")]
    fn start_tls(&mut self) -> Result<(), Error> {
        let hop = self.hop;
        self.tls
            .start(self.url.host(), self.wall, self.now)
            .map_err(|error| Error::Tls { hop, error })?;
        self.state = State::Handshaking;
        self.phase_started = self.now;
        self.deadline_phase = Some(self.now + self.policy.timeouts.tls_handshake);
        Ok(())
    }

    #[cfg(not(feature = "tls"))]
    fn start_tls(&mut self) -> Result<(), Error> {
        Err(Error::Tls {
            hop: self.hop,
            error: TlsError::NotConfigured,
        })
    }

    /// Ciphertext from an https connection: decrypt, note a finished handshake, read on.
    #[cfg(feature = "tls")]
    fn on_ciphertext(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let hop = self.hop;
        self.tls
            .receive(bytes)
            .map_err(|error| Error::Tls { hop, error })?;
        if self.state == State::Handshaking && self.tls.handshake_done() {
            let took = millis_u32(self.now.saturating_since(self.phase_started));
            let info = self.tls.info();
            if let Some(rec) = self.trace.hop_mut(hop) {
                rec.timings.tls_ms = Some(took);
                rec.tls = info;
            }
            self.trace.tls_handshakes = self.trace.tls_handshakes.saturating_add(1);
            self.state = State::Ready;
            self.deadline_phase = None;
            self.pending.transmit = true;
        }
        let plaintext = self.tls.take_plaintext();
        let result = self.on_received(&plaintext);
        self.tls.return_plaintext(plaintext);
        result?;
        if self.tls.peer_closed() && self.state != State::Finished {
            self.tls.close();
            return self.on_eof();
        }
        Ok(())
    }

    fn begin_hop(&mut self, reused: bool) {
        let previous = self
            .trace
            .hop_mut(self.hop)
            .map(|r| (r.url.scheme(), r.remote, r.local, r.tls));
        self.hop = self.hop.saturating_add(1);
        self.hop_reused = reused;
        self.hop_bytes_in = 0;
        self.hop_started = self.now;
        let mut record = HopRecord::new(self.hop, self.url.clone());
        record.reused = reused;
        record.scheme_switch = previous.is_some_and(|(s, ..)| s != self.url.scheme());
        if let (true, Some((_, remote, local, tls))) = (reused, previous) {
            // Same connection: same addresses and TLS session.
            record.remote = remote;
            record.local = local;
            record.tls = tls;
        }
        self.trace.begin(record);
    }

    fn end_hop_timing(&mut self) {
        let total = millis_u32(self.now.saturating_since(self.hop_started));
        if let Some(rec) = self.trace.hop_mut(self.hop) {
            rec.timings.total_ms = Some(total);
        }
    }

    fn on_connected(&mut self, info: ConnectionInfo) {
        if self.state != State::Connecting || self.pending.connect {
            return;
        }
        self.conn_open = true;
        self.trace.connections = self.trace.connections.saturating_add(1);
        let measured = self.now.saturating_since(self.phase_started);
        if let Some(rec) = self.trace.hop_mut(self.hop) {
            rec.remote = info.remote;
            rec.local = info.local;
            rec.timings.dns_ms = info.dns.map(millis_u32);
            rec.timings.connect_ms = Some(millis_u32(info.connect.unwrap_or(measured)));
        }
        if self.url.scheme() == Scheme::Https {
            if let Err(e) = self.start_tls() {
                self.fail(e);
            }
            return;
        }
        self.state = State::Ready;
        self.deadline_phase = None;
        self.pending.transmit = true;
    }

    fn on_received(&mut self, input: &[u8]) -> Result<(), Error> {
        if !matches!(
            self.state,
            State::Awaiting | State::Draining | State::Reading
        ) {
            return Ok(());
        }
        let hop = self.hop;
        if self.hop_bytes_in == 0 && !input.is_empty() {
            let ttfb = millis_u32(self.now.saturating_since(self.phase_started));
            if let Some(rec) = self.trace.hop_mut(hop) {
                rec.timings.first_byte_ms = Some(ttfb);
            }
        }
        if self.state != State::Awaiting {
            self.deadline_phase = Some(self.now + self.policy.timeouts.idle);
        }
        let mut rest = input;
        let result = self.consume(&mut rest);
        // Count what the response used, not what followed it on an abandoned connection.
        let used = (input.len() - rest.len()) as u64;
        if self.hop == hop {
            self.hop_bytes_in += used;
        }
        if let Some(rec) = self.trace.hop_mut(hop) {
            rec.bytes_in += used;
        }
        result
    }

    /// Runs the response reader over `input`, advancing it past what was consumed.
    fn consume(&mut self, input: &mut &[u8]) -> Result<(), Error> {
        let hop = self.hop;
        loop {
            let (n, step) = match self.reader.step(input) {
                Ok(r) => r,
                // The redirect is already decided; a broken body only costs the reuse.
                Err(_) if self.state == State::Draining => {
                    self.reconnect();
                    return Ok(());
                }
                Err(error) => return Err(Error::Response { hop, error }),
            };
            *input = input.get(n..).unwrap_or_default();
            match step {
                Step::NeedMore => return Ok(()),
                Step::Informational(_) => {}
                Step::Head => {
                    self.on_head()?;
                    if !matches!(self.state, State::Draining | State::Reading) {
                        return Ok(());
                    }
                }
                Step::Body(data) => {
                    self.on_body(data)?;
                    if self.state == State::Connecting {
                        return Ok(());
                    }
                }
                Step::Complete => return self.on_complete(!input.is_empty()),
            }
        }
    }

    fn on_head(&mut self) -> Result<(), Error> {
        let hop = self.hop;
        let status = self.reader.status();
        if let Some(rec) = self.trace.hop_mut(hop) {
            rec.status = Some(status);
        }
        self.store_cookies()?;
        self.deadline_phase = Some(self.now + self.policy.timeouts.idle);

        if !matches!(status, 301 | 302 | 303 | 307 | 308) {
            self.final_status = status;
            self.body_kind = if self.reader.header("content-type").is_some_and(is_json_type) {
                BodyKind::Json
            } else {
                BodyKind::Other
            };
            self.state = State::Reading;
            return Ok(());
        }

        let location = self
            .reader
            .header_values("location")
            .last()
            .map(<[u8]>::trim_ascii)
            .filter(|l| !l.is_empty())
            .ok_or(Error::MissingLocation { hop, status })?;

        if !self.redirect_prefix.is_empty() {
            let next = self.url.join(location).ok();
            let prefix = self.redirect_prefix.as_bytes();
            let hit = location.starts_with(prefix)
                || next
                    .as_ref()
                    .is_some_and(|u| u.as_str().as_bytes().starts_with(prefix));
            if hit {
                let query = location
                    .split(|&b| b == b'#')
                    .next()
                    .and_then(|l| {
                        l.iter()
                            .position(|&b| b == b'?')
                            .and_then(|i| l.get(i + 1..))
                    })
                    .unwrap_or_default();
                let limit = self.policy.limits.max_final_body_bytes.min(BODY);
                if query.len() > limit {
                    return Err(Error::FinalBodyTooLarge {
                        hop,
                        limit: limit as u64,
                    });
                }
                self.body.clear();
                let _ = self.body.extend_from_slice(query);
                self.body_kind = BodyKind::RedirectQuery;
                self.final_status = status;
                self.end_hop_timing();
                self.finish();
                return Ok(());
            }
        }

        let next = self.url.join(location).map_err(|error| match error {
            UrlError::UnsupportedScheme => Error::ForbiddenScheme { hop },
            error => Error::BadLocation { hop, error },
        })?;
        self.redirects = self.redirects.saturating_add(1);
        if self.redirects > self.policy.max_redirects {
            return Err(Error::TooManyRedirects {
                max: self.policy.max_redirects,
                hop,
            });
        }
        let reuse = self.policy.reuse_connections
            && self.conn_keep_alive
            && self.reader.server_keeps_alive()
            && next.same_origin(&self.url);
        self.end_hop_timing();
        self.url = next;
        if reuse {
            self.state = State::Draining;
            self.discarded = 0;
        } else {
            self.reconnect();
        }
        Ok(())
    }

    /// Leaves the current connection and asks for a new one for the next hop.
    fn reconnect(&mut self) {
        self.pending.close = self.conn_open;
        self.pending.connect = true;
        self.state = State::Connecting;
        self.deadline_phase = None;
        self.begin_hop(false);
    }

    fn store_cookies(&mut self) -> Result<(), Error> {
        let hop = self.hop;
        let server_date = self.reader.header("date").and_then(parse_cookie_date);
        let mut evicted = 0u16;
        let mut too_large = false;
        let rec = self.trace.hop_mut(hop);
        let mut names = rec.map(|r| &mut r.cookies_set);
        for value in self.reader.header_values("set-cookie") {
            match self
                .jar
                .store(value, &self.url, self.now, server_date, self.wall)
            {
                Ok(Stored::Evicted) => evicted += 1,
                Ok(_) => {}
                Err(_) => too_large = true,
            }
            if let Some(names) = names.as_deref_mut() {
                let name = value.split(|&b| b == b'=').next().unwrap_or_default();
                names.push(name.trim_ascii());
            }
        }
        self.trace.cookie_evictions = self.trace.cookie_evictions.saturating_add(evicted);
        if too_large {
            return Err(Error::CookieTooLarge {
                hop,
                limit: crate::cookie::DEFAULT_COOKIE_BYTES,
            });
        }
        Ok(())
    }

    fn on_body(&mut self, data: &[u8]) -> Result<(), Error> {
        let hop = self.hop;
        let limits = self.policy.limits;
        if self.state == State::Draining {
            self.discarded += data.len() as u64;
            if self.discarded > limits.max_redirect_body_bytes {
                // Not worth draining for reuse: take a fresh connection instead.
                self.reconnect();
            }
            return Ok(());
        }
        let limit = limits.max_final_body_bytes.min(BODY);
        let room = limit.saturating_sub(self.body.len());
        let (keep, drop) = data.split_at(room.min(data.len()));
        let _ = self.body.extend_from_slice(keep);
        if !drop.is_empty() {
            if self.body_kind == BodyKind::Json {
                return Err(Error::FinalBodyTooLarge {
                    hop,
                    limit: limit as u64,
                });
            }
            self.body_truncated = true;
            self.discarded += drop.len() as u64;
            if self.discarded > limits.max_discard_bytes {
                return Err(Error::FinalBodyTooLarge {
                    hop,
                    limit: limits.max_discard_bytes,
                });
            }
        }
        Ok(())
    }

    fn on_complete(&mut self, leftover: bool) -> Result<(), Error> {
        match self.state {
            State::Draining if leftover => {
                // Bytes after a complete response on an idle connection: do not trust it.
                self.hop_bytes_in = 0;
                self.reconnect();
            }
            State::Draining => {
                self.begin_hop(true);
                self.state = State::Ready;
                self.deadline_phase = None;
                self.pending.transmit = true;
            }
            State::Reading => {
                self.end_hop_timing();
                self.finish();
            }
            _ => {}
        }
        Ok(())
    }

    fn on_eof(&mut self) -> Result<(), Error> {
        let hop = self.hop;
        match self.state {
            State::Awaiting | State::Ready if self.may_retry_stale() => {
                self.retry_stale();
                Ok(())
            }
            State::Draining => {
                self.reconnect();
                Ok(())
            }
            State::Reading => match self.reader.eof() {
                Ok(()) => self.on_complete(false),
                Err(ResponseError::UnexpectedEof { part }) => Err(Error::ClosedEarly { hop, part }),
                Err(error) => Err(Error::Response { hop, error }),
            },
            State::Awaiting | State::Ready => Err(Error::ClosedEarly {
                hop,
                part: Part::Head,
            }),
            State::Connecting => Err(Error::Transport {
                hop,
                error: TransportError::ConnectionReset,
            }),
            State::Handshaking => Err(Error::Tls {
                hop,
                error: TlsError::PeerClosedDuringHandshake,
            }),
            State::Finished => Ok(()),
        }
    }

    fn on_transport_failed(&mut self, error: TransportError) -> Result<(), Error> {
        if matches!(self.state, State::Awaiting | State::Ready) && self.may_retry_stale() {
            self.retry_stale();
            return Ok(());
        }
        if self.state == State::Draining {
            self.reconnect();
            return Ok(());
        }
        Err(Error::Transport {
            hop: self.hop,
            error,
        })
    }

    fn may_retry_stale(&self) -> bool {
        self.hop_reused && self.hop_bytes_in == 0 && !self.retried_stale
    }

    fn retry_stale(&mut self) {
        self.retried_stale = true;
        self.hop_reused = false;
        if let Some(rec) = self.trace.hop_mut(self.hop) {
            rec.reused = false;
        }
        self.pending.close = true;
        self.pending.connect = true;
        self.state = State::Connecting;
        self.deadline_phase = None;
    }

    fn check_deadlines(&mut self) {
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
            State::Handshaking => Error::Tls {
                hop,
                error: TlsError::HandshakeTimeout,
            },
            State::Awaiting if !self.reader.has_head() => Error::ResponseTimeout { hop },
            _ => Error::IdleTimeout { hop },
        };
        self.fail(error);
    }

    fn finish(&mut self) {
        self.state = State::Finished;
        self.deadline_phase = None;
        self.pending.close = self.conn_open;
    }

    fn fail(&mut self, error: Error) {
        if self.state == State::Finished {
            return;
        }
        self.end_hop_timing();
        self.result = Some(error);
        self.finish();
    }

    fn completion(&self) -> Completion<'_> {
        Completion::interpret(
            self.final_status,
            self.hop,
            self.body_kind,
            &self.body,
            self.body_truncated,
        )
    }
}
