//! A whole [`Session`] driven by an operation sequence, the way a multiplexing driver and a
//! hostile network can drive it, with the invariants checked after every step.
//!
//! The first two bytes choose the set-up: connection slots lent (1–4) and `max_connections`
//! (1–4), `max_redirects` (0–7), connection reuse, the first URL (http on two origins, or
//! https), an access token, a redirect prefix, small or roomy storage, a wall clock, and a clock
//! that starts near the end of `u64`. Then each operation is one of: bytes from the server on
//! any open connection, cut anywhere; `Sent` for any part of a pending `Transmit` (0 too);
//! `Connected`; `Eof`; `TransportFailed`; `Timeout` at the announced deadline or too early;
//! time jumping forward; raw garbage on a connection; inputs for connections already closed.
//! After every input the outputs are drained, each poll with a buffer of a fuzz-chosen size
//! (0 too).
//!
//! The simulated servers answer every complete request with a response built from templates
//! chosen by the input: redirects (301–308, HTTP/1.0 and 1.1, after a `100 Continue`, with
//! `Connection: close`, with a body framed by length, chunks or the close) to one of three
//! origins or relative, cross-scheme, forbidden-scheme or prefix Locations; final `200`s with
//! a JSON code; `204`; a redirect without Location; `Transfer-Encoding` with `Content-Length`;
//! `Set-Cookie`s that must stay host-only or must be refused; garbage; silence.
//!
//! Invariants (a panic names the one that broke):
//!
//! - **hops**: no `Connect`, request or `Hop` beyond `max_redirects + 1`; at most one stale
//!   retry per hop, so at most `2 × (max_redirects + 1)` requests;
//! - **schemes**: every `Connect` is for the session's current URL (scheme, host, port), which
//!   is the first URL or a Location the servers sent resolved against the URL it answered; no
//!   request bytes ever go over an https connection (TLS is not configured: fail closed);
//! - **requests**: every complete request a server sees parses with httparse as
//!   `GET <target> HTTP/1.1` with exactly one `Host` naming the connection's origin, for exactly
//!   the session's current URL; none is sent before the previous response on that connection was
//!   read; `Authorization` only to the first URL's origin; no cookie the servers set that must
//!   not come back (host-only cookies to another host, `Secure` ones over http, `Domain`s that
//!   were refused);
//! - **pool**: connections open at once (from `Connect` to `Close`) never exceed
//!   `min(max_connections, slots lent)`; `Connect` names a new connection; `Transmit` only on a
//!   connected, open connection with no `Transmit` pending; no `Transmit` or `Close` after its
//!   `Close`;
//! - **deadlines**: a `Wait` is never in the past nor past the check's whole deadline; an input
//!   at or after the announced deadline ends the check with a timeout error, and no input
//!   before it does (the announced deadline is the real one: it does not move back behind the
//!   driver's back);
//! - **the end**: the session ends by the deadlines once inputs stop; every connection is
//!   closed before `Done`, `open_connections()` is 0 after it, and after `Done` nothing but
//!   `Done` comes out, whatever is fed.

extern crate std;

use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

use crate::error::{Error, TlsError, TransportError};
use crate::session::{ConnectionInfo, Input, Output, Session};
use crate::storage::{Buffers, Connection};
use crate::time::{Instant, WallClock};
use crate::trace::ConnId;
use crate::url::{Scheme, Url};
use crate::Policy;

use super::Source;

const START_URLS: &[&str] = &[
    "http://a.test/start",
    "http://b.test:8080/start?x=1",
    "http://a.test/start",
    "https://c.test/start",
];
const LOCATIONS: &[&str] = &[
    "http://a.test/hop?n=1",
    "http://b.test:8080/p/q",
    "https://c.test/secure",
    "/rel?x=1",
    "next",
    "../up/",
    "//b.test:8080/net",
    "",
    "http://A.TEST:80/./x/../y",
    "http://b.test:8080/done?code=42&state=s",
    "http://b.test:8080/done/deeper?code=7",
    "http://b.test:8080/doneX",
    "tel:+447700900001",
    "http:nohost",
    "?only-query",
    "#frag",
    "http://[::1]:8080/v6",
    "http://127.0.0.1/ip",
    "http://a.test/%0d%0a?\u{7f}",
    "http://user@a.test/",
    "http://a.test/a/very/long/path/that/goes/on/and/on/and/on/until/it/does/not/fit/in/a/small/url/area/at/all?with=a&long=query&string=yes",
];
#[cfg_attr(not(feature = "redirect-url"), allow(dead_code))]
const PREFIX: &str = "http://b.test:8080/done";
const TOKEN: &str = "tok-secret";
const JSON: &str = r#"{"check_id":"c-1","code":"4711"}"#;
const JUMPS_MS: &[u64] = &[
    1, 10, 100, 999, 4_999, 5_000, 5_001, 9_999, 10_000, 19_999, 20_000, 60_000,
];
const FAILURES: &[TransportError] = &[
    TransportError::ConnectionReset,
    TransportError::ConnectionRefused,
    TransportError::DnsFailed,
    TransportError::NoDataConnectivity,
    TransportError::ConnectTimeout,
];

/// One connection as the driver and its server see it.
#[derive(Debug)]
struct Conn {
    id: ConnId,
    scheme: Scheme,
    host: String,
    port: u16,
    connected: bool,
    closed: bool,
    /// The driver saw the socket end (EOF or a failure): nothing more is fed for it.
    dead: bool,
    /// Bytes of the last `Transmit`, not yet reported `Sent`.
    pending: Option<Vec<u8>>,
    /// What the server has received and not yet parsed as a whole request.
    inbox: Vec<u8>,
    /// What the server has sent and the driver not yet delivered.
    outbox: Vec<u8>,
}

impl Conn {
    /// The `Host` header value for this connection's origin.
    fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == self.scheme.default_port() {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

#[derive(Debug)]
struct Model {
    conns: Vec<Conn>,
    /// `min(max_connections, slots lent)`.
    pool: usize,
    max_hops: u8,
    now: u64,
    /// The check's whole deadline.
    end: u64,
    last_until: Option<u64>,
    done: bool,
    requests: usize,
    /// The first URL and every Location resolved against the URL it answered.
    allowed: Vec<String>,
    /// No garbage was sent, so `allowed` is complete and responses are well framed.
    trusted: bool,
    start_origin: (Scheme, String, u16),
    token: bool,
    /// `SESSION_OPS_TRACE` is set: every input and output goes to stderr (to read a finding).
    trace: bool,
}

/// An output, owned, so the session can be asked questions while it is checked.
#[derive(Debug)]
enum Out {
    Connect {
        conn: ConnId,
        scheme: Scheme,
        host: String,
        port: u16,
        hop: u8,
    },
    Transmit {
        conn: ConnId,
        bytes: Vec<u8>,
    },
    Close {
        conn: ConnId,
    },
    Hop {
        hop: u8,
    },
    Wait {
        until: u64,
    },
    Done(Result<u8, Error>),
}

fn is_timeout(e: &Error) -> bool {
    matches!(
        e,
        Error::CheckTimeout { .. }
            | Error::ConnectTimeout { .. }
            | Error::ResponseTimeout { .. }
            | Error::IdleTimeout { .. }
            | Error::Tls {
                error: TlsError::HandshakeTimeout,
                ..
            }
    )
}

/// The host part of a cookie name, so the server can tell who set a host-only cookie.
fn tag(host: &str) -> String {
    host.replace(['.', ':'], "_")
}

/// RFC 6265 §5.1.3.
fn domain_matches(host: &str, domain: &str) -> bool {
    host == domain || host.ends_with(&format!(".{domain}"))
}

/// See the module docs.
pub fn session_ops(data: &[u8]) {
    let mut src = Source::new(data);
    let (c0, c1) = (src.byte(), src.byte());
    let slots = 1 + usize::from(c0 & 3);
    let max_connections = 1 + ((c0 >> 2) & 3);
    let max_redirects = (c0 >> 4) & 7;
    let start_url = START_URLS[usize::from(c1 & 3)];
    let (token, prefix, small, wall) = (c1 & 4 != 0, c1 & 8 != 0, c1 & 16 != 0, c1 & 32 != 0);
    // A build without the redirect-URL feature has no prefix to set.
    let prefix = prefix && cfg!(feature = "redirect-url");
    let start = if c1 & 0xc0 == 0xc0 {
        u64::MAX - 10_000
    } else {
        1_000
    };
    let policy = Policy {
        allow_http_start: true,
        max_redirects,
        max_connections,
        reuse_connections: c0 & 0x80 == 0,
        platform: "fuzz",
        ..Policy::default()
    };
    let (url_len, receive_len, cookies_len) = if small {
        (2 * 200, 600, 160)
    } else {
        (2 * 1024 + 256, 4096, 1024)
    };
    let mut url_area = vec![0u8; url_len];
    let mut receive = vec![0u8; receive_len];
    let mut cookies = vec![0u8; cookies_len];
    let mut connections: Vec<Connection> = (0..slots).map(|_| Connection::new()).collect();
    let buffers = Buffers {
        url: &mut url_area,
        receive: &mut receive,
        cookies: &mut cookies,
        connections: &mut connections,
    };
    let Ok(mut session) = Session::new(
        buffers,
        start_url.as_bytes(),
        policy,
        Instant::from_millis(start),
    ) else {
        panic!("the harness's first URL and policy are valid");
    };
    if token && session.set_access_token(TOKEN).is_err() {
        return;
    }
    #[cfg(feature = "redirect-url")]
    if prefix && session.set_redirect_url(PREFIX).is_err() {
        return;
    }
    if wall {
        session.set_wall_clock(WallClock {
            at: Instant::from_millis(start),
            unix_secs: 1_600_000_000,
        });
    }
    let first = session.current_url();
    let mut m = Model {
        conns: Vec::new(),
        pool: slots.min(usize::from(max_connections)),
        max_hops: max_redirects + 1,
        now: start,
        end: start.saturating_add(policy.timeouts.total.as_millis() as u64),
        last_until: None,
        done: false,
        requests: 0,
        allowed: vec![first.as_str().to_string()],
        trusted: true,
        start_origin: (first.scheme(), first.host().to_string(), first.port()),
        token,
        trace: std::env::var_os("SESSION_OPS_TRACE").is_some(),
    };
    if m.trace {
        std::eprintln!("{policy:?}\nslots {slots}, first URL {start_url}, token {token}, prefix {prefix}, small {small}, wall {wall}, start {start} ms");
    }

    drain(&mut session, &mut m, &mut src);
    let mut steps = 0;
    while !src.is_empty() && steps < 4_000 {
        steps += 1;
        step(&mut session, &mut m, &mut src);
    }
    // Inputs stopped: the deadlines end the check.
    for _ in 0..32 {
        if m.done {
            break;
        }
        if let Some(until) = m.last_until {
            m.now = m.now.max(until);
        }
        feed(&mut session, &mut m, &mut src, Input::Timeout);
    }
    assert!(m.done, "the session did not end at its deadlines");
    // After Done, whatever comes in, only Done comes out.
    let last = m.conns.last().map_or(ConnId(1), |c| c.id);
    m.now = m.now.saturating_add(1);
    feed(&mut session, &mut m, &mut src, Input::Timeout);
    let bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    feed(
        &mut session,
        &mut m,
        &mut src,
        Input::Received { conn: last, bytes },
    );
    feed(&mut session, &mut m, &mut src, Input::Eof { conn: last });
    assert_eq!(session.open_connections(), 0);
}

/// Picks one connection that passes `keep`, if any.
fn pick(m: &Model, src: &mut Source<'_>, keep: impl Fn(&Conn) -> bool) -> Option<usize> {
    let candidates: Vec<usize> = (0..m.conns.len()).filter(|&i| keep(&m.conns[i])).collect();
    if candidates.is_empty() {
        return None;
    }
    Some(candidates[src.below(candidates.len())])
}

fn step(session: &mut Session<'_>, m: &mut Model, src: &mut Source<'_>) {
    let live = |c: &Conn| c.connected && !c.closed && !c.dead;
    match src.below(16) {
        0..=3 | 14 | 15 => {
            let Some(i) = pick(m, src, |c| live(c) && !c.outbox.is_empty()) else {
                return;
            };
            let conn = &mut m.conns[i];
            let n = 1 + src.below(conn.outbox.len());
            let bytes: Vec<u8> = conn.outbox.drain(..n).collect();
            let id = conn.id;
            feed(
                session,
                m,
                src,
                Input::Received {
                    conn: id,
                    bytes: &bytes,
                },
            );
        }
        op @ (4 | 5) => {
            let Some(i) = pick(m, src, |c| c.pending.is_some()) else {
                return;
            };
            let pending = m.conns[i].pending.take().unwrap_or_default();
            let n = if op == 4 {
                src.below(pending.len() + 1)
            } else {
                pending.len()
            };
            server_receives(session, m, src, i, &pending[..n]);
            let conn = m.conns[i].id;
            feed(session, m, src, Input::Sent { conn, len: n });
        }
        6 => {
            let Some(i) = pick(m, src, |c| !c.connected && !c.closed && !c.dead) else {
                return;
            };
            m.conns[i].connected = true;
            let conn = m.conns[i].id;
            let info = ConnectionInfo::default();
            feed(session, m, src, Input::Connected { conn, info });
        }
        7 => {
            let Some(i) = pick(m, src, live) else { return };
            m.conns[i].dead = true;
            let conn = m.conns[i].id;
            feed(session, m, src, Input::Eof { conn });
        }
        8 => {
            let Some(i) = pick(m, src, |c| !c.closed && !c.dead) else {
                return;
            };
            m.conns[i].dead = true;
            let conn = m.conns[i].id;
            let error = src.pick(FAILURES);
            feed(session, m, src, Input::TransportFailed { conn, error });
        }
        9 => {
            if let Some(until) = m.last_until {
                m.now = m.now.max(until);
            }
            feed(session, m, src, Input::Timeout);
        }
        10 => m.now = m.now.saturating_add(src.pick(JUMPS_MS)),
        11 => {
            let Some(i) = pick(m, src, live) else { return };
            let bytes = src.bytes(64);
            m.trusted = false;
            let conn = m.conns[i].id;
            feed(session, m, src, Input::Received { conn, bytes });
        }
        12 => {
            // Something late about a connection already closed (or never known).
            let conn = match pick(m, src, |c| c.closed) {
                Some(i) => m.conns[i].id,
                None => ConnId(u32::MAX - 1),
            };
            let bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
            let input = match src.below(5) {
                0 => Input::Received { conn, bytes },
                1 => Input::Eof { conn },
                2 => Input::Sent { conn, len: 1 },
                3 => Input::TransportFailed {
                    conn,
                    error: TransportError::ConnectionReset,
                },
                _ => Input::Connected {
                    conn,
                    info: ConnectionInfo::default(),
                },
            };
            feed(session, m, src, input);
        }
        _ => feed(session, m, src, Input::Timeout),
    }
}

/// Feeds one input at the model's `now`, checks the deadline rules, and drains the outputs.
fn feed(session: &mut Session<'_>, m: &mut Model, src: &mut Source<'_>, input: Input<'_>) {
    let was_done = m.done;
    let announced = m.last_until;
    if m.trace {
        match input {
            Input::Received { conn, bytes } => std::eprintln!(
                "{} ms  in  Received {conn:?} {:?}",
                m.now,
                String::from_utf8_lossy(bytes)
            ),
            _ => std::eprintln!("{} ms  in  {input:?}", m.now),
        }
    }
    session.handle_input(Instant::from_millis(m.now), input);
    if !was_done {
        let timed_out = matches!(session.outcome(), Some(Err(e)) if is_timeout(&e));
        if let Some(until) = announced {
            if m.now >= until {
                assert!(
                    timed_out,
                    "{input:?} at {} ms, at or after the announced deadline {until} ms, did \
                     not end the check with a timeout: {:?}",
                    m.now,
                    session.outcome().map(|r| r.map(|c| c.hops))
                );
            } else {
                assert!(
                    !timed_out,
                    "{input:?} at {} ms timed out before the announced deadline {until} ms: {:?}",
                    m.now,
                    session.outcome().map(|r| r.map(|c| c.hops))
                );
            }
        }
    }
    drain(session, m, src);
}

fn buffer_size(src: &mut Source<'_>) -> usize {
    match src.byte() {
        0 => 1024,
        1 => 0,
        b @ 2..=63 => usize::from(b) % 17,
        b @ 64..=127 => usize::from(b),
        _ => 512,
    }
}

fn poll(session: &mut Session<'_>, size: usize) -> Out {
    let mut buf = vec![0u8; size];
    match session.poll_output(&mut buf) {
        Output::Connect {
            conn,
            scheme,
            host,
            port,
            hop,
        } => Out::Connect {
            conn,
            scheme,
            host: host.to_string(),
            port,
            hop,
        },
        Output::Transmit { conn, len } => {
            assert!(
                (1..=size).contains(&len),
                "Transmit of {len} bytes through a buffer of {size}"
            );
            Out::Transmit {
                conn,
                bytes: buf[..len].to_vec(),
            }
        }
        Output::Close { conn } => Out::Close { conn },
        Output::Hop(record) => Out::Hop {
            hop: record.info.hop,
        },
        Output::Wait { until } => Out::Wait {
            until: until.as_millis(),
        },
        Output::Done(result) => Out::Done(result.map(|c| c.hops)),
    }
}

/// Polls outputs until `Wait` or `Done`, checking each.
fn drain(session: &mut Session<'_>, m: &mut Model, src: &mut Source<'_>) {
    for _ in 0..256 {
        let size = buffer_size(src);
        let out = poll(session, size);
        if m.done {
            assert!(matches!(out, Out::Done(_)), "{out:?} after Done");
            assert_eq!(session.open_connections(), 0, "connections open after Done");
            return;
        }
        let ends = matches!(out, Out::Wait { .. } | Out::Done(_));
        if m.trace {
            match &out {
                Out::Transmit { conn, bytes } => std::eprintln!(
                    "{} ms  out Transmit {conn:?} {:?} (buffer {size})",
                    m.now,
                    String::from_utf8_lossy(bytes)
                ),
                _ => std::eprintln!("{} ms  out {out:?} (buffer {size})", m.now),
            }
        }
        match out {
            Out::Connect {
                conn,
                scheme,
                host,
                port,
                hop,
            } => {
                assert!(hop <= m.max_hops, "Connect for hop {hop} > {}", m.max_hops);
                assert!(
                    m.conns.iter().all(|c| c.id != conn),
                    "Connect names {conn:?} again"
                );
                let url = session.current_url();
                assert_eq!(
                    (scheme, host.as_str(), port),
                    (url.scheme(), url.host(), url.port()),
                    "Connect is not for the current URL {url:?}"
                );
                if m.trusted {
                    assert!(
                        m.allowed.iter().any(|a| a == url.as_str()),
                        "Connect for {url:?}, which no server sent: {:?}",
                        m.allowed
                    );
                }
                m.conns.push(Conn {
                    id: conn,
                    scheme,
                    host,
                    port,
                    connected: false,
                    closed: false,
                    dead: false,
                    pending: None,
                    inbox: Vec::new(),
                    outbox: Vec::new(),
                });
            }
            Out::Transmit { conn, bytes } => {
                let Some(c) = m.conns.iter_mut().find(|c| c.id == conn) else {
                    panic!("Transmit on {conn:?}, never connected");
                };
                assert!(!c.closed, "Transmit on {conn:?} after its Close");
                assert!(c.connected, "Transmit on {conn:?} before Connected");
                assert_eq!(
                    c.scheme,
                    Scheme::Http,
                    "request bytes in the clear on an https connection"
                );
                assert!(
                    c.pending.is_none(),
                    "Transmit on {conn:?} before the last one's Sent"
                );
                c.pending = Some(bytes);
            }
            Out::Close { conn } => {
                let Some(c) = m.conns.iter_mut().find(|c| c.id == conn) else {
                    panic!("Close of {conn:?}, never opened");
                };
                assert!(!c.closed, "Close of {conn:?} twice");
                c.closed = true;
                c.pending = None;
            }
            Out::Hop { hop } => assert!(hop <= m.max_hops, "Hop {hop} > {}", m.max_hops),
            Out::Wait { until } => {
                assert!(
                    until >= m.now,
                    "Wait until {until} ms, already past at {}",
                    m.now
                );
                assert!(
                    until <= m.end,
                    "Wait until {until} ms, past the check's deadline"
                );
                m.last_until = Some(until);
            }
            Out::Done(result) => {
                m.done = true;
                let open: Vec<ConnId> =
                    m.conns.iter().filter(|c| !c.closed).map(|c| c.id).collect();
                assert!(open.is_empty(), "Done with {open:?} never closed");
                assert_eq!(session.open_connections(), 0, "connections open at Done");
                if let Ok(hops) = result {
                    assert!(hops <= m.max_hops, "{hops} hops > {}", m.max_hops);
                }
            }
        }
        let open = m.conns.iter().filter(|c| !c.closed).count();
        assert!(
            open <= m.pool,
            "{open} connections open, pool of {}",
            m.pool
        );
        assert!(session.open_connections() <= m.pool);
        if ends {
            return;
        }
    }
    panic!("256 outputs without Wait or Done");
}

/// The server of connection `i` receives `bytes`: each complete request is checked and
/// answered.
fn server_receives(
    session: &Session<'_>,
    m: &mut Model,
    src: &mut Source<'_>,
    i: usize,
    bytes: &[u8],
) {
    m.conns[i].inbox.extend_from_slice(bytes);
    loop {
        let conn = &m.conns[i];
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        let n = match req.parse(&conn.inbox) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return,
            Err(e) => panic!(
                "the server got bytes that are no HTTP request ({e:?}): {:?}",
                String::from_utf8_lossy(&conn.inbox)
            ),
        };
        assert_eq!(req.method, Some("GET"));
        assert_eq!(req.version, Some(1));
        let target = req.path.unwrap_or_default().to_string();
        assert!(target.starts_with('/'), "target {target:?}");
        let values = |name: &str| -> Vec<String> {
            req.headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).into_owned())
                .collect()
        };
        let hosts = values("host");
        assert_eq!(hosts, [conn.authority()], "Host of a request on {conn:?}");
        let url = format!("http://{}{target}", conn.authority());
        let current = session.current_url();
        assert_eq!(
            url,
            current.as_str(),
            "a request for another URL than the hop's"
        );
        if m.trusted {
            assert!(
                m.allowed.contains(&url),
                "request for {url}, which no server sent"
            );
            assert!(
                conn.outbox.is_empty(),
                "a request on {:?} before the previous response was read",
                conn.id
            );
        }
        assert!(
            session.hop() <= m.max_hops,
            "request in hop {} > {}",
            session.hop(),
            m.max_hops
        );
        let connection = values("connection");
        assert!(
            connection == ["keep-alive"] || connection == ["close"],
            "Connection: {connection:?}"
        );
        let auth = values("authorization");
        if !auth.is_empty() {
            let origin = (conn.scheme, conn.host.clone(), conn.port);
            assert!(m.token, "Authorization without a token");
            assert_eq!(origin, m.start_origin, "the token went to another origin");
            assert_eq!(auth, [format!("Bearer {TOKEN}")]);
        }
        let cookie_headers = values("cookie");
        assert!(cookie_headers.len() <= 1, "several Cookie headers");
        // (Garbage from the "server" can set any cookie: the rules hold for the templates'.)
        for pair in cookie_headers.iter().flat_map(|h| h.split("; ")) {
            if !m.trusted {
                break;
            }
            let name = pair.split('=').next().unwrap_or_default();
            let ok = if let Some(setter) = name.strip_prefix("ho_") {
                setter == tag(&conn.host)
            } else if name == "dom_a" {
                domain_matches(&conn.host, "a.test")
            } else {
                !name.starts_with("bad_")
            };
            assert!(ok, "cookie {pair:?} sent to {url}");
        }
        m.requests += 1;
        assert!(
            m.requests <= 2 * usize::from(m.max_hops),
            "{} requests for at most {} hops",
            m.requests,
            m.max_hops
        );
        let host = conn.host.clone();
        m.conns[i].inbox.drain(..n);
        let (bytes, location, garbage) = response(src, &host);
        if m.trace {
            std::eprintln!(
                "server got {url}, answers {:?}",
                String::from_utf8_lossy(&bytes)
            );
        }
        m.conns[i].outbox.extend_from_slice(&bytes);
        if garbage {
            m.trusted = false;
        }
        if let Some(location) = location {
            let base = Url::<4096>::parse(url.as_bytes()).expect("the request's URL parses");
            if let Ok(next) = base.join(location.as_bytes()) {
                m.allowed.push(next.as_str().to_string());
            }
        }
    }
}

/// A `Set-Cookie` value, for a response from `host`.
fn set_cookie(src: &mut Source<'_>, host: &str) -> String {
    match src.below(9) {
        0 | 1 => format!("ho_{}=1; Path=/", tag(host)),
        2 => "bad_nodot=1; Domain=test".to_string(),
        3 => "bad_sec=1; Secure; Path=/".to_string(),
        4 => "bad_mismatch=1; Domain=other.example".to_string(),
        5 => "dom_a=1; Domain=A.TEST; Path=/".to_string(),
        6 => "p=1; Path=/p; Max-Age=1".to_string(),
        7 => "gone=1; Max-Age=0".to_string(),
        _ => format!("big={}", "x".repeat(300)),
    }
}

/// `body` chunked, in chunks of fuzz-chosen sizes, maybe with extensions and a trailer.
fn chunked(src: &mut Source<'_>, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let n = (1 + src.below(16)).min(rest.len());
        out.extend_from_slice(format!("{n:x}").as_bytes());
        if src.below(4) == 0 {
            out.extend_from_slice(b";ext=1");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
    }
    out.extend_from_slice(b"0\r\n");
    if src.below(4) == 0 {
        out.extend_from_slice(b"X-Trailer: 1\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Ends the head (the header lines are in `head`) and frames `body`: by length, by chunks, or
/// by the connection's close.
fn framed(src: &mut Source<'_>, mut head: Vec<u8>, body: &[u8]) -> Vec<u8> {
    match src.below(4) {
        0 | 3 => {
            head.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            head.extend_from_slice(body);
        }
        1 => {
            head.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            let chunks = chunked(src, body);
            head.extend_from_slice(&chunks);
        }
        _ => {
            head.extend_from_slice(b"\r\n");
            head.extend_from_slice(body);
        }
    }
    head
}

/// A response to a request for `host`: its bytes, its Location, and whether it is garbage.
fn response(src: &mut Source<'_>, host: &str) -> (Vec<u8>, Option<&'static str>, bool) {
    let kind = src.below(16);
    let mut head = Vec::new();
    let push = |head: &mut Vec<u8>, s: &str| head.extend_from_slice(s.as_bytes());
    match kind {
        0..=6 | 9 | 11 | 15 => {
            let status = src.pick(&[301, 302, 302, 303, 307, 308]);
            let version = if kind == 11 { "1.0" } else { "1.1" };
            if kind == 9 {
                push(&mut head, "HTTP/1.1 100 Continue\r\n\r\n");
            }
            let location = src.pick(LOCATIONS);
            push(
                &mut head,
                &format!("HTTP/{version} {status} Found\r\nLocation: {location}\r\n"),
            );
            for _ in 0..src.below(3) {
                let cookie = set_cookie(src, host);
                push(&mut head, &format!("Set-Cookie: {cookie}\r\n"));
            }
            if kind == 11 && src.below(2) == 0 {
                push(&mut head, "Connection: keep-alive\r\n");
            } else if src.below(4) == 0 {
                push(&mut head, "Connection: close\r\n");
            }
            if kind == 15 {
                push(&mut head, "Content-Length: 3\r\n");
                push(&mut head, "Transfer-Encoding: chunked\r\n\r\n");
                let chunks = chunked(src, b"abc");
                head.extend_from_slice(&chunks);
                return (head, Some(location), false);
            }
            let body = match src.below(4) {
                0 => "".to_string(),
                1 => "moved".to_string(),
                _ => "x".repeat(src.below(200)),
            };
            (framed(src, head, body.as_bytes()), Some(location), false)
        }
        7 | 8 => {
            push(&mut head, "HTTP/1.1 200 OK\r\n");
            if kind == 7 {
                push(&mut head, "Content-Type: application/json\r\n");
            } else {
                push(&mut head, "Content-Type: text/html\r\n");
            }
            for _ in 0..src.below(2) {
                let cookie = set_cookie(src, host);
                push(&mut head, &format!("Set-Cookie: {cookie}\r\n"));
            }
            (framed(src, head, JSON.as_bytes()), None, false)
        }
        10 => {
            let status = src.pick(&["204 No Content", "304 Not Modified"]);
            push(&mut head, &format!("HTTP/1.1 {status}\r\n\r\n"));
            (head, None, false)
        }
        12 => (src.bytes(80).to_vec(), None, true),
        13 => (Vec::new(), None, false),
        _ => {
            push(&mut head, "HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n");
            (head, None, false)
        }
    }
}
