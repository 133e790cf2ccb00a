//! Replaying a recording offline: a fresh session is fed the recorded inputs at the recorded
//! times, in the recorded order, and everything it does is compared with what the recording
//! says it did. The first difference is a [`Divergence`] (hop, connection, byte offset); with
//! none, the session's envelope is the one the original run printed.
//!
//! ```text
//!  Recording ──inputs at their times──► Session ──outputs, taps──► Recorder ──► compare ──► Divergence?
//!                                         │ https: ciphertext ⇄ an in-process TLS peer (below)
//!                                         ▼
//!                                      Report (envelope with the recorded driver additions)
//! ```
//!
//! Plain http connections are replayed byte for byte: the recorded bytes go in, and every byte
//! the engine asks to send must be the recorded one. A TLS handshake cannot be replayed that way
//! (each side's randomness differs), so for an https connection whose handshake finished the
//! replay plays the server itself: an in-process rustls server, with a throwaway CA that only
//! this replay trusts, the recorded TLS version, ALPN and resumption, re-encrypts the recorded
//! plaintext and hands it to the engine at the recorded times. The engine's own TLS layer runs,
//! and the plaintext it decrypts and the requests it writes are compared. An https connection
//! whose handshake never finished (a plain HTTP server on an https port, an alert) is replayed
//! from its recorded bytes; one that failed after the server's encrypted flight (a certificate
//! refused under TLS 1.3) cannot be reproduced and shows as a divergence. `docs/recording.md`
//! says what a replay can and cannot show.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use phonecheck_engine::{
    ConnId, Hosted, Input, Instant, Output, Session, Tap, TlsSettings, WallClock,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::StoresServerSessions;
use rustls::{ServerConfig, ServerConnection};

use super::record::{connection_info, Event, Recorder, Recording, TRANSMIT_BUFFER};
use super::{failure, finish, KeptHop, Report};

/// Where a replay first differs from its recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// The recording's line (1-based) the engine did not reproduce.
    pub line: usize,
    /// The hop the session was on.
    pub hop: u8,
    /// The connection concerned, if one.
    pub conn: Option<u32>,
    /// The byte offset of the first difference, in the request, response head, decrypted
    /// stream or envelope named by `what`.
    pub offset: Option<usize>,
    /// What differs.
    pub what: String,
    /// What the recording has.
    pub expected: String,
    /// What the engine did instead.
    pub found: String,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "replay diverged at hop {}", self.hop)?;
        if let Some(conn) = self.conn {
            write!(f, ", connection #{conn}")?;
        }
        if let Some(offset) = self.offset {
            write!(f, ", byte {offset}")?;
        }
        write!(
            f,
            " (recording line {}): {}\n  recorded: {}\n  engine:   {}",
            self.line, self.what, self.expected, self.found
        )
    }
}

/// Why a replay could not run at all (the recording is fine as a file).
#[derive(Debug)]
pub enum ReplayError {
    /// The recording has no ending: the check never finished while it was recorded.
    Unfinished,
    /// The in-process TLS peer could not be set up.
    TlsPeer(String),
    /// A recorded input needs a payload the recording does not keep.
    MissingPayload {
        /// The line.
        line: usize,
    },
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::Unfinished => {
                write!(
                    f,
                    "the recording has no \"end\" line: nothing to compare with"
                )
            }
            ReplayError::TlsPeer(e) => write!(f, "setting up the replay's TLS peer: {e}"),
            ReplayError::MissingPayload { line } => write!(
                f,
                "line {line}: this input's bytes are needed to replay it but are not recorded"
            ),
        }
    }
}

impl std::error::Error for ReplayError {}

/// What a replay gives: the envelope when it ran to the end, or the first divergence.
#[derive(Debug)]
pub struct Replayed {
    /// The session's report (also when it diverged only in the envelope).
    pub report: Option<Report>,
    /// The first difference, if any.
    pub divergence: Option<Divergence>,
}

/// Replays `rec`. See the module documentation.
pub fn replay(rec: &Recording) -> Result<Replayed, ReplayError> {
    let ending = rec.ending.as_ref().ok_or(ReplayError::Unfinished)?;
    let https = rec.https_conns();
    let peer = if https.is_empty() {
        None
    } else {
        Some(TlsPeer::new(rec)?)
    };
    let check = &rec.check;
    let extra: Vec<(&str, &str)> = ending
        .extra
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();

    let mut recorder = Recorder::replaying(check.clone());
    let sink = recorder.sink();
    let mut tap = move |t: Tap<'_>| sink.push(t);
    let mut storage = Box::new(Hosted::new());
    let mut slot = None;
    let start = Instant::from_millis(check.start);
    let session = match Session::try_new_in(
        &mut slot,
        storage.buffers(),
        check.url.as_bytes(),
        check.policy,
        start,
    ) {
        Ok(s) => s,
        Err((e, _)) => {
            let interface = extra.iter().find(|(k, _)| *k == "interface").map(|p| p.1);
            let report = failure(e.code(), &e.to_string(), interface);
            return Ok(compare_envelope(rec, report, ending.envelope.as_str()));
        }
    };
    if let Some(peer) = &peer {
        let tls = TlsSettings::with_ring()
            .with_roots_der(&[peer.ca.as_ref()])
            .map_err(|e| ReplayError::TlsPeer(e.to_string()))?;
        session.set_tls(tls);
    }
    if let Some(ms) = check.wall_unix_ms {
        session.set_wall_clock(WallClock {
            at: start,
            unix_secs: ms / 1000,
        });
    }
    let mut setup = Ok(());
    if let Some(token) = &check.access_token {
        setup = setup.and(session.set_access_token(token));
    }
    if let Some(prefix) = &check.redirect_url {
        setup = setup.and(session.set_redirect_url(prefix));
    }
    if let Some(state) = &check.expected_state {
        setup = setup.and(session.set_expected_state(state));
    }
    if let Err(e) = setup {
        let interface = extra.iter().find(|(k, _)| *k == "interface").map(|p| p.1);
        let report = failure(e.code(), &e.to_string(), interface);
        return Ok(compare_envelope(rec, report, ending.envelope.as_str()));
    }
    session.set_tap(&mut tap);
    recorder.started(start, check.wall_unix_ms);

    let mut r = Run {
        rec,
        https,
        peers: HashMap::new(),
        peer,
        pending: VecDeque::new(),
        seen: 0,
        last_transmit: HashMap::new(),
        hops: Vec::new(),
        failed_dns: (0, None),
        done: false,
    };
    let mut out = vec![0u8; TRANSMIT_BUFFER];
    let divergence = r.run(session, &mut recorder, &mut out)?;
    if let Some(d) = divergence {
        return Ok(Replayed {
            report: None,
            divergence: Some(d),
        });
    }
    let hops = std::mem::take(&mut r.hops);
    let report = finish(
        session,
        hops,
        check.device_info.as_deref(),
        &extra,
        std::time::Duration::ZERO,
    );
    Ok(compare_envelope(rec, report, ending.envelope.as_str()))
}

fn compare_envelope(rec: &Recording, report: Report, recorded: &str) -> Replayed {
    let divergence = (report.envelope != recorded).then(|| {
        let at = first_difference(recorded.as_bytes(), report.envelope.as_bytes());
        Divergence {
            line: rec.events.len() + 3,
            hop: report.hops.last().map_or(1, |h| h.info.hop),
            conn: None,
            offset: Some(at),
            what: "the envelope differs".into(),
            expected: snippet(recorded.as_bytes(), at),
            found: snippet(report.envelope.as_bytes(), at),
        }
    });
    Replayed {
        report: Some(report),
        divergence,
    }
}

/// The replay's state between the recording and the session.
struct Run<'r> {
    rec: &'r Recording,
    https: BTreeSet<u32>,
    /// The in-process TLS server of each replayed https connection.
    peers: HashMap<u32, ServerConnection>,
    peer: Option<TlsPeer>,
    /// What the session did that is not yet matched against the recording.
    pending: VecDeque<Event>,
    /// Events of the replay's recorder already moved to `pending` (or skipped: inputs).
    seen: usize,
    /// Per connection: the last `Transmit` as recorded (length) and as replayed (bytes).
    last_transmit: HashMap<u32, (usize, Vec<u8>)>,
    hops: Vec<KeptHop>,
    failed_dns: (u32, Option<u32>),
    done: bool,
}

impl Run<'_> {
    fn run(
        &mut self,
        session: &mut Session<'_>,
        recorder: &mut Recorder,
        out: &mut [u8],
    ) -> Result<Option<Divergence>, ReplayError> {
        let events = &self.rec.events;
        for (i, expected) in events.iter().enumerate() {
            let line = i + 3;
            if expected.is_input() {
                if let Some(extra) = self.pending.front() {
                    return Ok(Some(self.diverge(
                        session,
                        line,
                        extra.conn(),
                        None,
                        "the engine did something the recording does not have here",
                        &summary(expected),
                        &summary(extra),
                    )));
                }
                if let Some(d) = self.feed(session, recorder, i, expected)? {
                    return Ok(Some(d));
                }
                continue;
            }
            if self.pending.is_empty() {
                if self.done {
                    return Ok(Some(self.diverge(
                        session,
                        line,
                        expected.conn(),
                        None,
                        "the engine finished; the recording goes on",
                        &summary(expected),
                        "done",
                    )));
                }
                self.poll(session, recorder, out);
            }
            let Some(found) = self.pending.pop_front() else {
                continue;
            };
            if let Some(d) = self.compare(session, line, expected, &found) {
                return Ok(Some(d));
            }
        }
        let line = events.len() + 3;
        if let Some(extra) = self.pending.front() {
            return Ok(Some(self.diverge(
                session,
                line,
                extra.conn(),
                None,
                "the recording ran out; the engine went on",
                "the end of the recording",
                &summary(extra),
            )));
        }
        if !self.done {
            self.poll(session, recorder, out);
            let found = self
                .pending
                .front()
                .map_or_else(|| "nothing".to_string(), summary);
            return Ok(Some(self.diverge(
                session,
                line,
                None,
                None,
                "the recording ran out before the engine finished",
                "the end of the recording",
                &found,
            )));
        }
        Ok(None)
    }

    /// Takes one output from the session (and the taps its call caused).
    fn poll(&mut self, session: &mut Session<'_>, recorder: &mut Recorder, out: &mut [u8]) {
        let output = session.poll_output(out);
        recorder.output(&output, out);
        match &output {
            Output::Hop(record) => {
                let mut info = record.info.clone();
                if info.timings.dns_ms.is_none() && info.conn.0 == self.failed_dns.0 {
                    info.timings.dns_ms = self.failed_dns.1;
                }
                self.hops.push(KeptHop {
                    url: record.url.to_string(),
                    info,
                });
            }
            Output::Transmit { conn, len } => {
                let bytes = out.get(..*len).unwrap_or_default().to_vec();
                let recorded = self.last_transmit.get(&conn.0).map_or(0, |t| t.0);
                self.last_transmit.insert(conn.0, (recorded, bytes));
            }
            Output::Done(_) => self.done = true,
            _ => {}
        }
        self.take_new(recorder, false);
    }

    /// Moves the replay recorder's new events to `pending` (skipping the input just fed).
    fn take_new(&mut self, recorder: &Recorder, skip_first: bool) {
        let new = recorder.events().get(self.seen..).unwrap_or_default();
        self.pending
            .extend(new.iter().skip(usize::from(skip_first)).cloned());
        self.seen = recorder.events().len();
    }

    /// Feeds the input recorded at `events[i]`.
    fn feed(
        &mut self,
        session: &mut Session<'_>,
        recorder: &mut Recorder,
        i: usize,
        event: &Event,
    ) -> Result<Option<Divergence>, ReplayError> {
        let line = i + 3;
        let now = Instant::from_millis(event.t());
        let mut wire = Vec::new();
        let input = match event {
            Event::Connected { conn, .. } => {
                if let Some(peer) = &self.peer {
                    if self.rec.secured_conns().contains(conn) {
                        let config = peer.config(self.rec, *conn)?;
                        let server = ServerConnection::new(config)
                            .map_err(|e| ReplayError::TlsPeer(e.to_string()))?;
                        self.peers.insert(*conn, server);
                    }
                }
                Input::Connected {
                    conn: ConnId(*conn),
                    info: connection_info(event).unwrap_or_default(),
                }
            }
            Event::Sent { conn, len, .. } if self.https.contains(conn) => {
                // Ciphertext lengths need not match the recording's: say the socket took as
                // much of this Transmit as it took of the recorded one.
                let (recorded, bytes) = self.last_transmit.get(conn).cloned().unwrap_or_default();
                let took = if *len >= recorded {
                    bytes.len()
                } else {
                    (*len).min(bytes.len())
                };
                if let Some(server) = self.peers.get_mut(conn) {
                    if let Err(e) = to_server(server, bytes.get(..took).unwrap_or_default()) {
                        return Ok(Some(self.diverge(
                            session,
                            line,
                            Some(*conn),
                            None,
                            "the replay's TLS peer refused the engine's records",
                            "records the peer accepts",
                            &e,
                        )));
                    }
                }
                Input::Sent {
                    conn: ConnId(*conn),
                    len: took,
                }
            }
            Event::Sent { conn, len, .. } => Input::Sent {
                conn: ConnId(*conn),
                len: *len,
            },
            Event::Received { conn, bytes, .. } => {
                if let Some(server) = self.peers.get_mut(conn) {
                    let next = self.rec.events.get(i + 1);
                    if let Some(Event::Decrypted {
                        conn: c,
                        bytes: plain,
                        handshake_done,
                        peer_closed,
                        ..
                    }) = next
                    {
                        if c == conn {
                            let tls12 = self
                                .peer
                                .as_ref()
                                .is_some_and(|p| p.version(self.rec, *conn) == "TLSv1.2");
                            if *handshake_done || tls12 {
                                from_server(server, &mut wire);
                            }
                            if *handshake_done && !plain.is_empty() {
                                let _ = server.writer().write_all(plain);
                                from_server(server, &mut wire);
                            }
                            if *peer_closed {
                                server.send_close_notify();
                                from_server(server, &mut wire);
                            }
                        }
                    }
                } else {
                    wire = bytes.clone().ok_or(ReplayError::MissingPayload { line })?;
                }
                Input::Received {
                    conn: ConnId(*conn),
                    bytes: &wire,
                }
            }
            Event::Eof { conn, .. } => Input::Eof {
                conn: ConnId(*conn),
            },
            Event::Failed {
                conn,
                error,
                dns_ms,
                ..
            } => {
                self.failed_dns = (*conn, *dns_ms);
                Input::TransportFailed {
                    conn: ConnId(*conn),
                    error: *error,
                }
            }
            _ => Input::Timeout,
        };
        recorder.input(now, &input, None);
        session.handle_input(now, input);
        recorder.taps();
        self.take_new(recorder, true);
        Ok(None)
    }

    /// Compares one thing the engine did with what the recording has.
    fn compare(
        &mut self,
        session: &Session<'_>,
        line: usize,
        expected: &Event,
        found: &Event,
    ) -> Option<Divergence> {
        let differ = |what: &str, at: Option<usize>, e: &[u8], f: &[u8]| {
            Some((
                what.to_string(),
                at,
                at.map_or_else(
                    || String::from_utf8_lossy(e).into_owned(),
                    |a| snippet(e, a),
                ),
                at.map_or_else(
                    || String::from_utf8_lossy(f).into_owned(),
                    |a| snippet(f, a),
                ),
            ))
        };
        let bytes = |what: &str, e: &[u8], f: &[u8]| {
            (e != f).then(|| {
                let at = first_difference(e, f);
                (what.to_string(), Some(at), snippet(e, at), snippet(f, at))
            })
        };
        let result = match (expected, found) {
            (
                Event::Transmit {
                    conn: ec,
                    len: el,
                    bytes: eb,
                    ..
                },
                Event::Transmit {
                    conn: fc,
                    bytes: fb,
                    ..
                },
            ) if ec == fc => {
                if let Some(t) = self.last_transmit.get_mut(ec) {
                    t.0 = *el;
                }
                match (self.https.contains(ec), eb, fb) {
                    // Ciphertext: the plaintext requests are compared through the tap instead.
                    (true, _, _) => None,
                    (false, Some(e), Some(f)) => bytes("the bytes the engine sends differ", e, f),
                    _ => None,
                }
            }
            (
                Event::Request {
                    hop: eh, bytes: e, ..
                },
                Event::Request {
                    hop: fh, bytes: f, ..
                },
            ) if eh == fh => bytes("the engine's request differs", e, f),
            (
                Event::ResponseHead {
                    hop: eh, bytes: e, ..
                },
                Event::ResponseHead {
                    hop: fh, bytes: f, ..
                },
            ) if eh == fh => bytes("the response head the engine read differs", e, f),
            (
                Event::Decrypted {
                    conn: ec,
                    bytes: e,
                    handshake_done: ed,
                    peer_closed: ep,
                    ..
                },
                Event::Decrypted {
                    conn: fc,
                    bytes: f,
                    handshake_done: fd,
                    peer_closed: fp,
                    ..
                },
            ) if ec == fc => {
                bytes("the plaintext the engine decrypted differs", e, f).or_else(|| {
                    (ed != fd || ep != fp).then(|| {
                        (
                            "the TLS state after this read differs".to_string(),
                            None,
                            format!("handshake done {ed}, peer closed {ep}"),
                            format!("handshake done {fd}, peer closed {fp}"),
                        )
                    })
                })
            }
            (Event::Hop { record: e, .. }, Event::Hop { record: f, .. }) => {
                let field = e.as_object().and_then(|eo| {
                    eo.iter()
                        .find(|(k, v)| f.get(k.as_str()) != Some(*v))
                        .map(|(k, _)| k.clone())
                });
                field.and_then(|k| {
                    differ(
                        &format!("the hop record's {k:?} differs"),
                        None,
                        e.get(&k)
                            .map(|v| v.to_string())
                            .unwrap_or_default()
                            .as_bytes(),
                        f.get(&k)
                            .map(|v| v.to_string())
                            .unwrap_or_default()
                            .as_bytes(),
                    )
                })
            }
            (e, f) if same_kind(e, f) && strip_t(e) == strip_t(f) => None,
            (e, f) => differ(
                "the engine did something else",
                None,
                summary(e).as_bytes(),
                summary(f).as_bytes(),
            ),
        };
        // A request has no connection of its own: it goes out on the next `Transmit`'s.
        let conn = expected.conn().or_else(|| {
            self.rec
                .events
                .get(line.saturating_sub(3)..)
                .unwrap_or_default()
                .iter()
                .find_map(|e| match e {
                    Event::Transmit { conn, .. } => Some(*conn),
                    _ => None,
                })
        });
        result.map(|(what, offset, e, f)| self.diverge(session, line, conn, offset, &what, &e, &f))
    }

    #[allow(clippy::too_many_arguments)]
    fn diverge(
        &self,
        session: &Session<'_>,
        line: usize,
        conn: Option<u32>,
        offset: Option<usize>,
        what: &str,
        expected: &str,
        found: &str,
    ) -> Divergence {
        Divergence {
            line,
            hop: session.hop(),
            conn,
            offset,
            what: what.to_string(),
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }
}

fn same_kind(a: &Event, b: &Event) -> bool {
    a.kind() == b.kind()
}

/// An output's identity without its time (the times are compared through the inputs).
fn strip_t(e: &Event) -> String {
    let mut s = summary(e);
    if let Some(rest) = s.split_once(' ') {
        s = rest.1.to_string();
    }
    s
}

/// One event in a line, for a divergence report.
fn summary(e: &Event) -> String {
    let t = e.t();
    match e {
        Event::Connect {
            conn,
            scheme,
            host,
            port,
            hop,
            ..
        } => format!("t={t} connect #{conn} {scheme}://{host}:{port} for hop {hop}"),
        Event::Transmit { conn, len, .. } => format!("t={t} transmit {len} bytes on #{conn}"),
        Event::Close { conn, .. } => format!("t={t} close #{conn}"),
        Event::Hop { record, .. } => format!(
            "t={t} hop {} {} -> {}",
            record.get("hop").cloned().unwrap_or_default(),
            record.get("url").and_then(|u| u.as_str()).unwrap_or(""),
            record.get("status").cloned().unwrap_or_default()
        ),
        Event::Wait { until, .. } => format!("t={t} wait until {until}"),
        Event::Done { .. } => format!("t={t} done"),
        Event::Request { hop, bytes, .. } => {
            format!("t={t} request of hop {hop}: {}", first_line(bytes))
        }
        Event::ResponseHead { hop, bytes, .. } => {
            format!("t={t} response head of hop {hop}: {}", first_line(bytes))
        }
        Event::Decrypted { conn, bytes, .. } => {
            format!("t={t} {} bytes decrypted on #{conn}", bytes.len())
        }
        other => format!("t={t} {} {:?}", other.kind(), other.conn()),
    }
}

fn first_line(b: &[u8]) -> String {
    let end = b
        .iter()
        .position(|&c| c == b'\r' || c == b'\n')
        .unwrap_or(b.len());
    String::from_utf8_lossy(b.get(..end).unwrap_or_default()).into_owned()
}

fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b.iter())
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}

/// Up to 40 bytes around `at`, escaped, for a person to compare.
fn snippet(b: &[u8], at: usize) -> String {
    let start = at.saturating_sub(20);
    let end = (at + 20).min(b.len());
    let piece = b.get(start..end).unwrap_or_default();
    format!(
        "{}{:?}{}",
        if start > 0 { "…" } else { "" },
        String::from_utf8_lossy(piece),
        if end < b.len() { "…" } else { "" }
    )
}

/// Ciphertext from the engine into the replay's TLS server; its plaintext is not needed (the
/// engine's requests are compared through the tap).
fn to_server(server: &mut ServerConnection, mut bytes: &[u8]) -> Result<(), String> {
    while !bytes.is_empty() {
        match server.read_tls(&mut bytes) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
        server.process_new_packets().map_err(|e| e.to_string())?;
    }
    let mut sink = Vec::new();
    let _ = server.reader().read_to_end(&mut sink);
    Ok(())
}

/// Everything the replay's TLS server has to send.
fn from_server(server: &mut ServerConnection, wire: &mut Vec<u8>) {
    while server.wants_write() {
        if server.write_tls(wire).is_err() {
            break;
        }
    }
}

/// The replay's TLS server side: a CA made for this replay, one certificate for every https
/// host of the recording, and server settings per connection.
struct TlsPeer {
    ca: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
    sessions: Arc<Mutex<HashMap<Vec<u8>, Vec<u8>>>>,
}

impl TlsPeer {
    fn new(rec: &Recording) -> Result<TlsPeer, ReplayError> {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let err = |e: rcgen::Error| ReplayError::TlsPeer(e.to_string());
        let mut hosts: Vec<String> = rec
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Connect { scheme, host, .. } if scheme == "https" => Some(host.clone()),
                _ => None,
            })
            .collect();
        hosts.sort();
        hosts.dedup();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "phonecheck replay CA");
        let ca_key = KeyPair::generate().map_err(err)?;
        let ca = ca_params.self_signed(&ca_key).map_err(err)?;
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().map_err(err)?;
        let leaf = CertificateParams::new(hosts)
            .map_err(err)?
            .signed_by(&leaf_key, &issuer)
            .map_err(err)?;
        Ok(TlsPeer {
            ca: ca.der().clone(),
            chain: vec![leaf.der().clone()],
            key: leaf_key.serialize_der(),
            sessions: Arc::default(),
        })
    }

    /// The TLS details the recording's hop records give for `conn` (its first hop on it).
    fn tls_of(rec: &Recording, conn: u32) -> Option<&serde_json::Value> {
        rec.events.iter().find_map(|e| match e {
            Event::Hop { record, .. }
                if record.get("conn").and_then(|c| c.as_u64()) == Some(u64::from(conn))
                    && record.get("tls").is_some_and(|t| t.is_object()) =>
            {
                record.get("tls")
            }
            _ => None,
        })
    }

    fn version(&self, rec: &Recording, conn: u32) -> String {
        Self::tls_of(rec, conn)
            .and_then(|t| t.get("version"))
            .and_then(|v| v.as_str())
            .unwrap_or("TLSv1.3")
            .to_string()
    }

    fn config(&self, rec: &Recording, conn: u32) -> Result<Arc<ServerConfig>, ReplayError> {
        let tls = Self::tls_of(rec, conn);
        let flag = |k: &str| {
            tls.and_then(|t| t.get(k))
                .and_then(|v| v.as_bool())
                .unwrap_or(k == "alpn_http11")
        };
        let version = if self.version(rec, conn) == "TLSv1.2" {
            &rustls::version::TLS12
        } else {
            &rustls::version::TLS13
        };
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()));
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(&[version])
                .map_err(|e| ReplayError::TlsPeer(e.to_string()))?
                .with_no_client_auth()
                .with_single_cert(self.chain.clone(), key)
                .map_err(|e| ReplayError::TlsPeer(e.to_string()))?;
        if flag("alpn_http11") {
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
        }
        // Tickets from every connection are kept; only a connection that resumed when it was
        // recorded may use one, so the engine resumes exactly where it did.
        config.session_storage = Arc::new(Sessions {
            map: self.sessions.clone(),
            resume: flag("resumed"),
        });
        Ok(Arc::new(config))
    }
}

#[derive(Debug)]
struct Sessions {
    map: Arc<Mutex<HashMap<Vec<u8>, Vec<u8>>>>,
    resume: bool,
}

impl StoresServerSessions for Sessions {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.map.lock().map(|mut m| m.insert(key, value)).is_ok()
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        if !self.resume {
            return None;
        }
        self.map.lock().ok()?.get(key).cloned()
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        if !self.resume {
            return None;
        }
        self.map.lock().ok()?.remove(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}
