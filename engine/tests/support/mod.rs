//! A scenario builder for session tests: scripted servers keyed by origin, virtual time, and a
//! log of everything the session asked the "network" to do, with the request bytes visible.
//!
//! The harness plays the driver: it answers `Connect` (after `connect_ms` of virtual time),
//! captures every request (and checks it parses back with httparse), replies with the next
//! scripted response for that origin (split into pieces if asked), and turns `Wait` into a jump
//! of the virtual clock followed by `Timeout`. Suites run far faster than real time.
//!
//! https origins are served by a real rustls server in the test process, with certificates from
//! a CA made at run time; the session trusts only that CA. TLS handshake records travel with no
//! virtual delay, so timings in assertions are the scripted connect and reply delays.
#![allow(dead_code)]

#[path = "../../../tests/src/pki.rs"]
pub mod pki;

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::sync::Arc;

use phonecheck_engine::completion::Field;
use phonecheck_engine::{
    ConnId, ConnectionInfo, Error, HopInfo, HopRecord, Hosted, Input, Instant, Output, Policy,
    ResponseBody, Scheme, Session, TlsSettings, TransportError, WallClock,
};
use pki::{LeafOptions, TestPki};

/// What a scripted server does with one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Send these bytes and keep the connection open.
    Bytes(Vec<u8>),
    /// Send these bytes, then close (over TLS: `close_notify`, then the TCP close).
    BytesThenEof(Vec<u8>),
    /// Send these bytes, then cut the TCP connection (over TLS: no `close_notify`).
    BytesThenCut(Vec<u8>),
    /// Put these bytes on the wire as they are, even on a TLS connection.
    Wire(Vec<u8>),
    /// Close without answering.
    Eof,
    /// Never answer.
    Silence,
    /// The socket breaks.
    Fail(TransportError),
}

#[derive(Clone)]
enum TlsServer {
    Real(Arc<rustls::ServerConfig>),
    Raw,
}

/// The server end of one connection.
#[derive(Debug)]
struct ServerEnd {
    key: (String, u16),
    tls: Option<rustls::ServerConnection>,
    /// Request bytes not yet answered.
    pending: Vec<u8>,
    /// Scripted replies are raw bytes on the wire (no HTTP parsing of requests).
    raw: bool,
    sni_logged: bool,
    /// The client's `close_notify` arrived.
    notified: bool,
}

enum Delivery {
    Connected,
    Bytes(Vec<u8>),
    Eof,
    Fail(TransportError),
}

/// Where the harness's buffers and storage come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// The `Hosted` preset.
    Hosted,
    /// The `Small` preset.
    Small,
}

/// What happens when the session connects to an origin.
#[derive(Clone, Debug)]
pub enum ConnectPlan {
    Accept,
    Hang,
    Fail(TransportError),
}

/// One thing the session asked the network to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Connect {
        scheme: Scheme,
        host: String,
        port: u16,
        hop: u8,
    },
    Request(String),
    Close,
}

/// A hop record the harness kept (owned copy of `Output::Hop`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kept {
    pub url: String,
    pub info: HopInfo,
}

/// The owned result of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub result: Result<(u16, u8), Error>,
    pub body: String,
    pub fields: Vec<(String, String)>,
    pub envelope: String,
    pub debug_envelope: String,
    pub log: Vec<Event>,
    /// The SNI each TLS server saw, per https connection.
    pub snis: Vec<Option<String>>,
    pub elapsed_ms: u64,
    /// The hop records, in the order they came out.
    pub hops: Vec<Kept>,
    /// Connections opened, TLS handshakes and full (not resumed) handshakes.
    pub connections: u16,
    pub tls_handshakes: u16,
    pub tls_resumed: u16,
    /// The most connections the session had open at once.
    pub max_open: usize,
    /// TLS connections whose server saw the client's `close_notify`.
    pub close_notifies: usize,
}

impl Finished {
    pub fn requests(&self) -> Vec<&str> {
        self.log
            .iter()
            .filter_map(|e| match e {
                Event::Request(r) => Some(r.as_str()),
                _ => None,
            })
            .collect()
    }

    pub fn connects(&self) -> Vec<(String, u16)> {
        self.log
            .iter()
            .filter_map(|e| match e {
                Event::Connect { host, port, .. } => Some((host.clone(), *port)),
                _ => None,
            })
            .collect()
    }

    /// The request lines ("GET /x HTTP/1.1" with the Host) in order.
    pub fn targets(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| {
                let line = r.lines().next().unwrap_or("");
                let host = header(r, "Host").unwrap_or_default();
                format!("{host} {line}")
            })
            .collect()
    }

    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn error(&self) -> Option<Error> {
        self.result.err()
    }
}

/// The value of header `name` in a request text.
pub fn header(request: &str, name: &str) -> Option<String> {
    request.split("\r\n").skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// A scripted network and the session's start parameters.
pub struct Scenario {
    pub url: String,
    pub policy: Policy,
    pub token: Option<String>,
    pub redirect_url: Option<String>,
    /// The `state` the redirect URL must carry (`Session::set_expected_state`).
    pub state: Option<String>,
    servers: HashMap<(String, u16), VecDeque<Reply>>,
    connect_plans: HashMap<(String, u16), ConnectPlan>,
    tls_servers: HashMap<(String, u16), TlsServer>,
    pub wall_clock: bool,
    pub tls: bool,
    /// Called with `true` before and `false` after every session call (for allocation counting).
    pub around_session: fn(bool),
    pub connect_ms: u64,
    pub reply_ms: u64,
    /// Split every reply at these offsets (sorted, deduplicated by the harness).
    pub cuts: Vec<usize>,
    /// The driver's transmit buffer size.
    pub buf_len: usize,
    /// The socket takes at most this many bytes per write (`Sent` reports what it took).
    pub send_chunk: Option<usize>,
    pub storage: Storage,
}

impl Scenario {
    pub fn new(url: &str) -> Self {
        Scenario {
            url: url.to_string(),
            policy: Policy {
                platform: "test",
                ..Policy::default()
            },
            token: None,
            redirect_url: None,
            state: None,
            servers: HashMap::new(),
            connect_plans: HashMap::new(),
            tls_servers: HashMap::new(),
            wall_clock: true,
            tls: true,
            around_session: |_| {},
            connect_ms: 10,
            reply_ms: 20,
            cuts: Vec::new(),
            buf_len: 8192,
            send_chunk: None,
            storage: Storage::Hosted,
        }
    }

    /// Takes every write partly: at most `n` bytes per `Transmit`.
    pub fn send_chunk(mut self, n: usize) -> Self {
        self.send_chunk = Some(n);
        self
    }

    /// Polls outputs with a buffer of `n` bytes.
    pub fn buffer(mut self, n: usize) -> Self {
        self.buf_len = n;
        self
    }

    /// Runs over the `Small` storage preset.
    pub fn small(mut self) -> Self {
        self.storage = Storage::Small;
        self
    }

    /// Queues a reply from `host:port` for the next request that reaches it.
    pub fn reply(mut self, host: &str, port: u16, reply: Reply) -> Self {
        self.servers
            .entry((host.to_string(), port))
            .or_default()
            .push_back(reply);
        self
    }

    /// Replaces the last reply queued for `host:port` with this response text.
    pub fn replace_last_reply(mut self, host: &str, port: u16, text: &str) -> Self {
        let queue = self.servers.entry((host.to_string(), port)).or_default();
        queue.pop_back();
        queue.push_back(Reply::Bytes(text.as_bytes().to_vec()));
        self
    }

    /// Queues raw response text (kept alive).
    pub fn respond(self, host: &str, port: u16, text: &str) -> Self {
        self.reply(host, port, Reply::Bytes(text.as_bytes().to_vec()))
    }

    pub fn on_connect(mut self, host: &str, port: u16, plan: ConnectPlan) -> Self {
        self.connect_plans.insert((host.to_string(), port), plan);
        self
    }

    /// Serves `host:port` over TLS with a certificate from `pki` made with `opts`.
    pub fn tls_server(
        mut self,
        host: &str,
        port: u16,
        pki: &'static TestPki,
        opts: LeafOptions,
    ) -> Self {
        self.tls_servers.insert(
            (host.to_string(), port),
            TlsServer::Real(pki.server_config(host, &opts)),
        );
        self
    }

    /// `host:port` is an https origin whose scripted replies are raw ciphertext (no TLS server).
    pub fn raw_tls(mut self, host: &str, port: u16) -> Self {
        self.tls_servers
            .insert((host.to_string(), port), TlsServer::Raw);
        self
    }

    pub fn without_tls(mut self) -> Self {
        self.tls = false;
        self
    }

    pub fn without_wall_clock(mut self) -> Self {
        self.wall_clock = false;
        self
    }

    pub fn policy(mut self, f: impl FnOnce(&mut Policy)) -> Self {
        f(&mut self.policy);
        self
    }

    pub fn token(mut self, t: &str) -> Self {
        self.token = Some(t.to_string());
        self
    }

    pub fn redirect_url(mut self, p: &str) -> Self {
        self.redirect_url = Some(p.to_string());
        self
    }

    pub fn state(mut self, s: &str) -> Self {
        self.state = Some(s.to_string());
        self
    }

    pub fn split_at(mut self, cuts: &[usize]) -> Self {
        self.cuts = cuts.to_vec();
        self
    }

    /// Runs the check to the end.
    pub fn run(self) -> Finished {
        match self.storage {
            Storage::Hosted => {
                let mut storage = Box::new(Hosted::new());
                self.run_with(storage.buffers())
            }
            Storage::Small => {
                let mut storage = Box::new(phonecheck_engine::Small::new());
                self.run_with(storage.buffers())
            }
        }
    }

    fn run_with(mut self, buffers: phonecheck_engine::Buffers<'_>) -> Finished {
        let start = Instant::from_millis(1_000);
        let failed = |e| Finished {
            result: Err(e),
            body: String::new(),
            fields: Vec::new(),
            envelope: String::new(),
            debug_envelope: String::new(),
            log: Vec::new(),
            snis: Vec::new(),
            elapsed_ms: 0,
            hops: Vec::new(),
            connections: 0,
            tls_handshakes: 0,
            tls_resumed: 0,
            max_open: 0,
            close_notifies: 0,
        };
        let mut session = match Session::new(buffers, self.url.as_bytes(), self.policy, start) {
            Ok(s) => s,
            Err(e) => return failed(e),
        };
        if let Some(t) = &self.token {
            if let Err(e) = session.set_access_token(t) {
                return failed(e);
            }
        }
        #[cfg(feature = "redirect-url")]
        {
            if let Some(p) = &self.redirect_url {
                if let Err(e) = session.set_redirect_url(p) {
                    return failed(e);
                }
            }
            if let Some(s) = &self.state {
                if let Err(e) = session.set_expected_state(s) {
                    return failed(e);
                }
            }
        }
        #[cfg(not(feature = "redirect-url"))]
        assert!(
            self.redirect_url.is_none() && self.state.is_none(),
            "this scenario needs the engine's redirect-url feature"
        );
        let settings = TlsSettings::with_ring()
            .with_roots_der(&[&pki::pki().ca_der])
            .unwrap();
        if self.tls {
            session.set_tls(settings);
        }
        if self.wall_clock {
            let unix_secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            session.set_wall_clock(WallClock {
                at: start,
                unix_secs,
            });
        }

        let mut now = start.as_millis();
        let mut log = Vec::new();
        let mut snis = Vec::new();
        let mut kept: Vec<Kept> = Vec::new();
        let mut servers: HashMap<ConnId, ServerEnd> = HashMap::new();
        let mut closed: Vec<ConnId> = Vec::new();
        let mut max_open = 0;
        let mut close_notifies = 0;
        let mut buf = vec![0u8; self.buf_len];
        // Deliveries scheduled on the virtual clock, kept in arrival order.
        let mut arrivals: VecDeque<(u64, ConnId, Delivery)> = VecDeque::new();
        let schedule =
            |arrivals: &mut VecDeque<(u64, ConnId, Delivery)>, at: u64, c: ConnId, d: Delivery| {
                let i = arrivals
                    .iter()
                    .position(|(t, _, _)| *t > at)
                    .unwrap_or(arrivals.len());
                arrivals.insert(i, (at, c, d));
            };

        let around = self.around_session;
        for _ in 0..100_000 {
            around(true);
            let output = session.poll_output(&mut buf);
            around(false);
            match output {
                Output::Connect {
                    conn,
                    scheme,
                    host,
                    port,
                    hop,
                } => {
                    assert!(!closed.contains(&conn), "connection id {conn} used again");
                    log.push(Event::Connect {
                        scheme,
                        host: host.to_string(),
                        port,
                        hop,
                    });
                    let key = (host.to_string(), port);
                    let at = now + self.connect_ms;
                    match self
                        .connect_plans
                        .get(&key)
                        .cloned()
                        .unwrap_or(ConnectPlan::Accept)
                    {
                        ConnectPlan::Accept => {
                            let tls = match scheme {
                                Scheme::Http => None,
                                Scheme::Https => Some(
                                    self.tls_servers
                                        .entry(key.clone())
                                        .or_insert_with(|| {
                                            TlsServer::Real(
                                                pki::pki()
                                                    .server_config(&key.0, &LeafOptions::default()),
                                            )
                                        })
                                        .clone(),
                                ),
                            };
                            servers.insert(
                                conn,
                                ServerEnd {
                                    key,
                                    raw: matches!(tls, Some(TlsServer::Raw)),
                                    tls: match tls {
                                        Some(TlsServer::Real(config)) => {
                                            Some(rustls::ServerConnection::new(config).unwrap())
                                        }
                                        _ => None,
                                    },
                                    pending: Vec::new(),
                                    sni_logged: false,
                                    notified: false,
                                },
                            );
                            max_open = max_open.max(servers.len());
                            schedule(&mut arrivals, at, conn, Delivery::Connected);
                        }
                        ConnectPlan::Hang => {
                            servers.insert(
                                conn,
                                ServerEnd {
                                    key,
                                    raw: true,
                                    tls: None,
                                    pending: Vec::new(),
                                    sni_logged: true,
                                    notified: false,
                                },
                            );
                        }
                        ConnectPlan::Fail(e) => {
                            schedule(&mut arrivals, at, conn, Delivery::Fail(e))
                        }
                    }
                }
                Output::Transmit { conn, len } => {
                    assert!(!closed.contains(&conn), "transmit on closed {conn}");
                    let taken = self.send_chunk.map_or(len, |c| c.min(len));
                    let wire = buf[..taken].to_vec();
                    feed(
                        &mut session,
                        around,
                        Instant::from_millis(now),
                        Input::Sent { conn, len: taken },
                    );
                    let end = servers.get_mut(&conn).expect("transmit without connection");
                    // What the server sends back at once (handshake records).
                    let mut at_once = Vec::new();
                    let mut plaintext = Vec::new();
                    let mut server_failed = false;
                    match end.tls.as_mut() {
                        Some(tls) => {
                            let mut rd = &wire[..];
                            while !rd.is_empty() {
                                tls.read_tls(&mut rd).unwrap();
                                match tls.process_new_packets() {
                                    Ok(state) if state.peer_has_closed() && !end.notified => {
                                        end.notified = true;
                                        close_notifies += 1;
                                    }
                                    Ok(_) => {}
                                    Err(_) => {
                                        server_failed = true;
                                        break;
                                    }
                                }
                            }
                            let _ = tls.reader().read_to_end(&mut plaintext);
                            while tls.wants_write() {
                                tls.write_tls(&mut at_once).unwrap();
                            }
                            // Once the whole ClientHello is in, the server answers it.
                            if !end.sni_logged && !at_once.is_empty() {
                                end.sni_logged = true;
                                snis.push(tls.server_name().map(str::to_string));
                            }
                        }
                        None => plaintext = wire,
                    }
                    for piece in pieces(&at_once, &self.cuts) {
                        schedule(&mut arrivals, now, conn, Delivery::Bytes(piece));
                    }
                    if server_failed {
                        schedule(&mut arrivals, now, conn, Delivery::Eof);
                        continue;
                    }
                    end.pending.extend_from_slice(&plaintext);
                    let at = now + self.reply_ms;
                    loop {
                        let request_len = if end.raw {
                            (!end.pending.is_empty()).then_some(end.pending.len())
                        } else {
                            find(&end.pending, b"\r\n\r\n").map(|i| i + 4)
                        };
                        let Some(n) = request_len else { break };
                        let request: Vec<u8> = end.pending.drain(..n).collect();
                        if !end.raw {
                            check_parses(&request);
                            log.push(Event::Request(String::from_utf8(request).unwrap()));
                        }
                        let reply = self
                            .servers
                            .get_mut(&end.key)
                            .and_then(VecDeque::pop_front)
                            .unwrap_or(Reply::Eof);
                        let (bytes, eof, notify, raw) = match reply {
                            Reply::Bytes(b) => (b, false, false, false),
                            Reply::BytesThenEof(b) => (b, true, true, false),
                            Reply::BytesThenCut(b) => (b, true, false, false),
                            Reply::Wire(b) => (b, false, false, true),
                            Reply::Eof => (Vec::new(), true, false, false),
                            Reply::Silence => (Vec::new(), false, false, false),
                            Reply::Fail(e) => {
                                schedule(&mut arrivals, at, conn, Delivery::Fail(e));
                                (Vec::new(), false, false, false)
                            }
                        };
                        let wire = match end.tls.as_mut() {
                            Some(tls) if !raw && (!bytes.is_empty() || notify) => {
                                tls.writer().write_all(&bytes).unwrap();
                                if notify {
                                    tls.send_close_notify();
                                }
                                let mut out = Vec::new();
                                while tls.wants_write() {
                                    tls.write_tls(&mut out).unwrap();
                                }
                                out
                            }
                            _ => bytes,
                        };
                        for piece in pieces(&wire, &self.cuts) {
                            schedule(&mut arrivals, at, conn, Delivery::Bytes(piece));
                        }
                        if eof {
                            schedule(&mut arrivals, at, conn, Delivery::Eof);
                        }
                    }
                }
                Output::Close { conn } => {
                    assert!(!closed.contains(&conn), "closed {conn} twice");
                    closed.push(conn);
                    log.push(Event::Close);
                    servers.remove(&conn);
                    arrivals.retain(|(_, c, _)| *c != conn);
                }
                Output::Hop(record) => kept.push(Kept {
                    url: record.url.to_string(),
                    info: record.info.clone(),
                }),
                Output::Wait { until } => {
                    assert!(until.as_millis() >= now, "deadline in the past");
                    match arrivals.front() {
                        Some((at, _, _)) if *at <= until.as_millis() => {
                            let (at, conn, delivery) = arrivals.pop_front().unwrap();
                            now = now.max(at);
                            let t = Instant::from_millis(now);
                            let input = match &delivery {
                                Delivery::Connected => Input::Connected {
                                    conn,
                                    info: ConnectionInfo::default(),
                                },
                                Delivery::Bytes(b) => Input::Received { conn, bytes: b },
                                Delivery::Eof => Input::Eof { conn },
                                Delivery::Fail(e) => Input::TransportFailed { conn, error: *e },
                            };
                            feed(&mut session, around, t, input);
                        }
                        _ => {
                            now = until.as_millis();
                            feed(
                                &mut session,
                                around,
                                Instant::from_millis(now),
                                Input::Timeout,
                            );
                        }
                    }
                }
                Output::Done(result) => {
                    let result = result.map(|c| (c, c.http_status, c.hops));
                    let (body, fields) = match &result {
                        Ok((c, _, _)) => {
                            let body = match c.body {
                                ResponseBody::Json(s) => s.to_string(),
                                ResponseBody::RedirectQuery(q) => format!("?{q}"),
                                ResponseBody::Other { raw, truncated } => format!(
                                    "{}{}",
                                    String::from_utf8_lossy(raw),
                                    if truncated { "…" } else { "" }
                                ),
                                ResponseBody::Empty => String::new(),
                            };
                            let fields = Field::ALL
                                .iter()
                                .filter_map(|f| {
                                    c.field(*f).map(|v| (f.key().to_string(), v.to_string()))
                                })
                                .collect();
                            (body, fields)
                        }
                        Err(_) => (String::new(), Vec::new()),
                    };
                    let result = result.map(|(_, s, h)| (s, h));
                    assert!(servers.is_empty(), "connections left open: {servers:?}");
                    assert_eq!(session.open_connections(), 0);
                    let mut env = vec![0u8; 256 * 1024];
                    let n = session.write_envelope(&mut env).unwrap();
                    let envelope = String::from_utf8(env[..n].to_vec()).unwrap();
                    let records: Vec<HopRecord<'_>> = kept
                        .iter()
                        .map(|k| HopRecord {
                            url: phonecheck_engine::HopUrl::new(k.url.as_bytes()),
                            info: &k.info,
                        })
                        .collect();
                    let n = session
                        .write_debug_envelope(&mut env, records.as_slice(), &[("platform", "test")])
                        .unwrap();
                    let debug_envelope = String::from_utf8(env[..n].to_vec()).unwrap();
                    let counters = session.counters();
                    return Finished {
                        result,
                        body,
                        fields,
                        envelope,
                        debug_envelope,
                        log,
                        snis,
                        elapsed_ms: now - start.as_millis(),
                        hops: kept,
                        connections: counters.connections,
                        tls_handshakes: counters.tls_handshakes,
                        tls_resumed: counters.tls_resumed,
                        max_open,
                        close_notifies,
                    };
                }
            }
        }
        panic!("scenario did not finish: {log:?}");
    }
}

fn feed(session: &mut Session<'_>, around: fn(bool), now: Instant, input: Input<'_>) {
    around(true);
    session.handle_input(now, input);
    around(false);
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn pieces(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = cuts
        .iter()
        .copied()
        .filter(|&c| c > 0 && c < bytes.len())
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::new();
    let mut start = 0;
    for c in cuts.into_iter().chain(std::iter::once(bytes.len())) {
        if c > start {
            out.push(bytes[start..c].to_vec());
            start = c;
        }
    }
    out
}

/// Every request the session writes must parse back as a complete GET.
fn check_parses(bytes: &[u8]) {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let status = req.parse(bytes).expect("request parses");
    assert_eq!(status, httparse::Status::Complete(bytes.len()));
    assert_eq!(req.method, Some("GET"));
    assert!(req.path.unwrap().starts_with('/'));
}

/// A 3xx response with a Location and an empty body.
pub fn redirect(status: u16, location: &str) -> String {
    format!("HTTP/1.1 {status} Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n")
}

/// A 200 JSON response.
pub fn json(status: u16, body: &str) -> String {
    format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}
