//! Recording one check: everything a driver and its session said to each other, kept so the
//! check can be replayed offline ([`super::replay`]) and exported as HAR ([`super::har`]).
//!
//! ```text
//!  driver loop ──Output / Input (with the engine's `now`)──► Recorder ──► Recording ──► .jsonl
//!  session tap ──Request / ResponseHead / Decrypted ─► TapSink ─┘   (redacted at the end)
//! ```
//!
//! A [`Recorder`] is a library type: any driver loop switches it on by passing every output it
//! polls and every input it feeds (the blocking driver does, through
//! [`super::blocking::run_check_recorded`]); it costs nothing when not passed. It never touches
//! what goes on the wire: it copies what the driver already handles, and the session tap it
//! needs only observes.
//!
//! The file format (versioned JSON lines, one event a line, payloads as text or base64) and the
//! redaction rules are documented in `docs/recording.md`; [`Recording::to_jsonl`] and
//! [`Recording::parse`] are the only places that know it. Redaction ([`Recording::redact`])
//! replaces each secret value by a placeholder of the same length, everywhere it appears, so no
//! length, offset or `Content-Length` changes and a redacted recording replays exactly.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use phonecheck_engine::trace::{is_secret_key, looks_like_credential};
use phonecheck_engine::{
    ConnectionInfo, HopRecord, Input, Limits, Output, Policy, Tap, Timeouts, TransportError,
};
use serde_json::{json, Map, Value};

use super::CheckOptions;

/// The version of the recording format this build writes and reads.
pub const FORMAT_VERSION: u64 = 1;

/// The transmit buffer the drivers poll outputs into: a replay must use the same size, since it
/// decides how a request is cut into `Transmit`s.
pub const TRANSMIT_BUFFER: usize = 16 * 1024;

/// One thing that happened between a driver and its session, at `t` (the engine's monotonic
/// milliseconds). Outputs, inputs and tap events, in the order they happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Output: open connection `conn`.
    Connect {
        /// When.
        t: u64,
        /// The connection.
        conn: u32,
        /// `http` or `https`.
        scheme: String,
        /// Host name or IP literal.
        host: String,
        /// Port.
        port: u16,
        /// The hop the connection is for.
        hop: u8,
    },
    /// Output: send bytes (ciphertext on an https connection; kept only where replay needs it).
    Transmit {
        /// When.
        t: u64,
        /// The connection.
        conn: u32,
        /// How many bytes.
        len: usize,
        /// The bytes, when kept.
        bytes: Option<Vec<u8>>,
    },
    /// Output: close `conn`.
    Close {
        /// When.
        t: u64,
        /// The connection.
        conn: u32,
    },
    /// Output: a finished hop's record (the JSON of [`hop_json`]).
    Hop {
        /// When.
        t: u64,
        /// The record.
        record: Value,
    },
    /// Output: nothing to do until `until`.
    Wait {
        /// When.
        t: u64,
        /// The deadline.
        until: u64,
    },
    /// Output: the check is over.
    Done {
        /// When.
        t: u64,
    },
    /// Input: `conn` is up.
    Connected {
        /// When.
        t: u64,
        /// The connection.
        conn: u32,
        /// The server's address.
        remote: Option<SocketAddr>,
        /// Ours.
        local: Option<SocketAddr>,
        /// Name resolution, microseconds.
        dns_us: Option<u64>,
        /// TCP connect, microseconds.
        connect_us: Option<u64>,
    },
    /// Input: the socket took `len` bytes of the last `Transmit`.
    Sent {
        /// When.
        t: u64,
        /// The connection.
        conn: u32,
        /// Bytes written.
        len: usize,
    },
    /// Input: bytes arrived (ciphertext on https; kept only where replay needs it).
    Received {
        /// When.
        t: u64,
        /// The connection.
        conn: u32,
        /// How many bytes.
        len: usize,
        /// The bytes, when kept.
        bytes: Option<Vec<u8>>,
    },
    /// Input: the server closed the connection.
    Eof {
        /// When.
        t: u64,
        /// The connection.
        conn: u32,
    },
    /// Input: the driver could not resolve, connect or keep `conn`.
    Failed {
        /// When.
        t: u64,
        /// The connection.
        conn: u32,
        /// What failed.
        error: TransportError,
        /// How long a failed name lookup took (the driver adds it to the hop record).
        dns_ms: Option<u32>,
    },
    /// Input: a `Wait` deadline passed.
    Timeout {
        /// When.
        t: u64,
    },
    /// Tap: hop `hop`'s request as the engine wrote it (plaintext, also over https).
    Request {
        /// When.
        t: u64,
        /// The hop.
        hop: u8,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Tap: hop `hop`'s response head.
    ResponseHead {
        /// When.
        t: u64,
        /// The hop.
        hop: u8,
        /// The head.
        bytes: Vec<u8>,
    },
    /// Tap: what the last `Received` on a TLS connection decrypted to.
    Decrypted {
        /// When.
        t: u64,
        /// The connection.
        conn: u32,
        /// The plaintext.
        bytes: Vec<u8>,
        /// Whether the handshake is done.
        handshake_done: bool,
        /// Whether the server sent `close_notify`.
        peer_closed: bool,
    },
}

impl Event {
    /// When it happened (engine milliseconds).
    pub fn t(&self) -> u64 {
        match self {
            Event::Connect { t, .. }
            | Event::Transmit { t, .. }
            | Event::Close { t, .. }
            | Event::Hop { t, .. }
            | Event::Wait { t, .. }
            | Event::Done { t }
            | Event::Connected { t, .. }
            | Event::Sent { t, .. }
            | Event::Received { t, .. }
            | Event::Eof { t, .. }
            | Event::Failed { t, .. }
            | Event::Timeout { t }
            | Event::Request { t, .. }
            | Event::ResponseHead { t, .. }
            | Event::Decrypted { t, .. } => *t,
        }
    }

    /// The connection it concerns, if one.
    pub fn conn(&self) -> Option<u32> {
        match self {
            Event::Connect { conn, .. }
            | Event::Transmit { conn, .. }
            | Event::Close { conn, .. }
            | Event::Connected { conn, .. }
            | Event::Sent { conn, .. }
            | Event::Received { conn, .. }
            | Event::Eof { conn, .. }
            | Event::Failed { conn, .. }
            | Event::Decrypted { conn, .. } => Some(*conn),
            _ => None,
        }
    }

    /// Whether the driver fed it to the session (the rest came out of the session).
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            Event::Connected { .. }
                | Event::Sent { .. }
                | Event::Received { .. }
                | Event::Eof { .. }
                | Event::Failed { .. }
                | Event::Timeout { .. }
        )
    }

    /// The `e` member of its line.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Connect { .. } => "connect",
            Event::Transmit { .. } => "transmit",
            Event::Close { .. } => "close",
            Event::Hop { .. } => "hop",
            Event::Wait { .. } => "wait",
            Event::Done { .. } => "done",
            Event::Connected { .. } => "connected",
            Event::Sent { .. } => "sent",
            Event::Received { .. } => "received",
            Event::Eof { .. } => "eof",
            Event::Failed { .. } => "failed",
            Event::Timeout { .. } => "timeout",
            Event::Request { .. } => "request",
            Event::ResponseHead { .. } => "response_head",
            Event::Decrypted { .. } => "decrypted",
        }
    }
}

/// What the check was asked to do: enough to start an identical session.
#[derive(Clone, Debug)]
pub struct CheckInputs {
    /// The check URL.
    pub url: String,
    /// The policy, as far as it is data (the public-suffix rule is named, not stored).
    pub policy: Policy,
    /// The redirect prefix.
    pub redirect_url: Option<String>,
    /// The OAuth `state` the redirect URL must carry (CAMARA), redacted like the query values
    /// it is compared with.
    pub expected_state: Option<String>,
    /// A placeholder of the token's length (the token itself is never recorded).
    pub access_token: Option<String>,
    /// The session's start (engine milliseconds).
    pub start: u64,
    /// The wall clock at the start, seconds (what the session was given) and milliseconds (for
    /// HAR times).
    pub wall_unix_ms: Option<u64>,
    /// `device_info` for the envelope's `debug` object.
    pub device_info: Option<Vec<(String, String)>>,
}

/// How the check ended: the envelope printed and the driver's additions to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ending {
    /// The envelope, one line of JSON.
    pub envelope: String,
    /// The members the driver added (`detail`, `interface`), in order.
    pub extra: Vec<(String, String)>,
}

/// One recorded check.
#[derive(Clone, Debug)]
pub struct Recording {
    /// Whether secrets were replaced by placeholders.
    pub redacted: bool,
    /// The engine that recorded it (`phonecheck/x.y.z`).
    pub engine: String,
    /// What the check was asked to do.
    pub check: CheckInputs,
    /// What happened, in order.
    pub events: Vec<Event>,
    /// How it ended (absent when the recording was cut short).
    pub ending: Option<Ending>,
}

/// A copy of one tap event, made inside the session's call and collected by the driver.
#[derive(Clone, Debug)]
enum Tapped {
    Request(u8, Vec<u8>),
    ResponseHead(u8, Vec<u8>),
    Decrypted(u32, Vec<u8>, bool, bool),
}

/// Where the session's tap leaves copies for the recorder (the tap must be `Send` and runs while
/// the session is borrowed, so it cannot write into the recorder itself).
#[derive(Clone, Debug, Default)]
pub struct TapSink(Arc<Mutex<Vec<Tapped>>>);

impl TapSink {
    /// Keeps a copy of `tap`.
    pub fn push(&self, tap: Tap<'_>) {
        let copy = match tap {
            Tap::Request { hop, bytes } => Tapped::Request(hop, bytes.to_vec()),
            Tap::ResponseHead { hop, head } => Tapped::ResponseHead(hop, head.to_vec()),
            Tap::Decrypted {
                conn,
                bytes,
                handshake_done,
                peer_closed,
            } => Tapped::Decrypted(conn.0, bytes.to_vec(), handshake_done, peer_closed),
        };
        if let Ok(mut list) = self.0.lock() {
            list.push(copy);
        }
    }

    fn take(&self) -> Vec<Tapped> {
        self.0
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }
}

/// Records one check as a driver runs it. See the module documentation.
#[derive(Debug)]
pub struct Recorder {
    check: CheckInputs,
    token: Option<String>,
    events: Vec<Event>,
    sink: TapSink,
    keep_secrets: bool,
    /// The engine time of the last input: outputs are stamped with it (the engine has no other
    /// notion of when they happen), so a replay stamps them identically.
    last_t: u64,
    ending: Option<Ending>,
}

impl Recorder {
    /// A recorder for a check with these options; `keep_secrets` keeps cookie values, codes and
    /// secret query values (the access token is replaced either way).
    pub fn new(opts: &CheckOptions, keep_secrets: bool) -> Self {
        Recorder {
            check: CheckInputs {
                url: opts.url.clone(),
                policy: opts.policy,
                redirect_url: opts.redirect_url.clone(),
                expected_state: opts.expected_state.clone(),
                access_token: None,
                start: 0,
                wall_unix_ms: None,
                device_info: opts.device_info.clone(),
            },
            token: opts.access_token.clone(),
            events: Vec::new(),
            sink: TapSink::default(),
            keep_secrets,
            last_t: 0,
            ending: None,
        }
    }

    /// A recorder for a replay of a check with these inputs (nothing to redact: the inputs
    /// come from a recording).
    pub fn replaying(check: CheckInputs) -> Self {
        Recorder {
            check,
            token: None,
            events: Vec::new(),
            sink: TapSink::default(),
            keep_secrets: true,
            last_t: 0,
            ending: None,
        }
    }

    /// The sink the session's tap must feed.
    pub fn sink(&self) -> TapSink {
        self.sink.clone()
    }

    /// The session started at `start`, with this wall clock (milliseconds since the epoch).
    pub fn started(&mut self, start: phonecheck_engine::Instant, wall_unix_ms: Option<u64>) {
        self.check.start = start.as_millis();
        self.last_t = self.check.start;
        self.check.wall_unix_ms = wall_unix_ms;
    }

    /// The driver fed `input` at `now`.
    pub fn input(
        &mut self,
        now: phonecheck_engine::Instant,
        input: &Input<'_>,
        dns_ms: Option<u32>,
    ) {
        let t = now.as_millis().max(self.last_t);
        self.last_t = t;
        let event = match *input {
            Input::Connected { conn, info } => Event::Connected {
                t,
                conn: conn.0,
                remote: info.remote,
                local: info.local,
                dns_us: info.dns.map(micros),
                connect_us: info.connect.map(micros),
            },
            Input::Sent { conn, len } => Event::Sent {
                t,
                conn: conn.0,
                len,
            },
            Input::Received { conn, bytes } => Event::Received {
                t,
                conn: conn.0,
                len: bytes.len(),
                bytes: Some(bytes.to_vec()),
            },
            Input::Eof { conn } => Event::Eof { t, conn: conn.0 },
            Input::TransportFailed { conn, error } => Event::Failed {
                t,
                conn: conn.0,
                error,
                dns_ms,
            },
            Input::Timeout => Event::Timeout { t },
        };
        self.events.push(event);
    }

    /// Collects the tap events the last input caused (call after feeding it).
    pub fn taps(&mut self) {
        self.drain(self.last_t);
    }

    /// The session handed out `output`; `buf` is the transmit buffer.
    pub fn output(&mut self, output: &Output<'_>, buf: &[u8]) {
        let t = self.last_t;
        // Taps fire inside the call that produced the output, so they come first.
        self.drain(t);
        let event = match output {
            Output::Connect {
                conn,
                scheme,
                host,
                port,
                hop,
            } => Event::Connect {
                t,
                conn: conn.0,
                scheme: scheme_name(*scheme).to_string(),
                host: host.to_string(),
                port: *port,
                hop: *hop,
            },
            Output::Transmit { conn, len } => Event::Transmit {
                t,
                conn: conn.0,
                len: *len,
                bytes: Some(buf.get(..*len).unwrap_or_default().to_vec()),
            },
            Output::Close { conn } => Event::Close { t, conn: conn.0 },
            Output::Hop(record) => Event::Hop {
                t,
                record: hop_json(record),
            },
            Output::Wait { until } => Event::Wait {
                t,
                until: until.as_millis(),
            },
            Output::Done(_) => Event::Done { t },
        };
        self.events.push(event);
    }

    /// Moves the tap's copies into the event list, joining the pieces of one request.
    fn drain(&mut self, t: u64) {
        for tapped in self.sink.take() {
            match tapped {
                Tapped::Request(hop, bytes) => {
                    if let Some(Event::Request {
                        hop: last,
                        bytes: have,
                        ..
                    }) = self.events.last_mut()
                    {
                        if *last == hop {
                            have.extend_from_slice(&bytes);
                            continue;
                        }
                    }
                    self.events.push(Event::Request { t, hop, bytes });
                }
                Tapped::ResponseHead(hop, bytes) => {
                    self.events.push(Event::ResponseHead { t, hop, bytes })
                }
                Tapped::Decrypted(conn, bytes, handshake_done, peer_closed) => {
                    self.events.push(Event::Decrypted {
                        t,
                        conn,
                        bytes,
                        handshake_done,
                        peer_closed,
                    })
                }
            }
        }
    }

    /// The events recorded so far (the replayer compares its own with the recording's).
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The driver printed `envelope`, with these additions of its own.
    pub fn end(&mut self, envelope: &str, extra: &[(&str, &str)]) {
        self.drain(self.last_t);
        self.ending = Some(Ending {
            envelope: envelope.to_string(),
            extra: extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
    }

    /// The recording, redacted unless secrets are kept (the access token is replaced in any
    /// case). Without [`Recorder::end`] it has no ending and cannot be replayed.
    pub fn finish(mut self) -> Recording {
        self.drain(self.last_t);
        let mut recording = Recording {
            redacted: !self.keep_secrets,
            engine: format!("phonecheck/{}", env!("CARGO_PKG_VERSION")),
            check: self.check,
            events: self.events,
            ending: self.ending,
        };
        recording.redact(self.token.as_deref(), self.keep_secrets);
        recording.drop_ciphertext();
        recording
    }
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u128::from(u64::MAX)) as u64
}

fn scheme_name(s: phonecheck_engine::Scheme) -> &'static str {
    match s {
        phonecheck_engine::Scheme::Https => "https",
        _ => "http",
    }
}

/// A hop record as JSON: the engine's fields, with the URL as recorded (the driver's copy).
pub fn hop_json(record: &HopRecord<'_>) -> Value {
    let i = record.info;
    let t = &i.timings;
    json!({
        "hop": i.hop,
        "url": record.url.as_str(),
        "status": i.status,
        "scheme_switch": i.scheme_switch,
        "reused": i.reused,
        "conn": i.conn.0,
        "remote": i.remote.map(|a| a.to_string()),
        "local": i.local.map(|a| a.to_string()),
        "tls": i.tls.map(|tls| json!({
            "version": tls.version,
            "alpn_http11": tls.alpn_http11,
            "resumed": tls.resumed,
        })),
        "timings_ms": {
            "dns": t.dns_ms, "connect": t.connect_ms, "tls": t.tls_ms,
            "first_byte": t.first_byte_ms, "total": t.total_ms,
        },
        "bytes_in": i.bytes_in,
        "bytes_out": i.bytes_out,
        "cookies_sent": i.cookies_sent.as_str(),
        "cookies_set": i.cookies_set.as_str(),
    })
}

/// The names transport errors have in recordings.
const TRANSPORT_ERRORS: &[(TransportError, &str)] = &[
    (TransportError::NoDataConnectivity, "no_data_connectivity"),
    (TransportError::NoRoute, "no_route"),
    (TransportError::DnsFailed, "dns_failed"),
    (TransportError::DnsTimeout, "dns_timeout"),
    (TransportError::ConnectionRefused, "connection_refused"),
    (TransportError::ConnectTimeout, "connect_timeout"),
    (TransportError::ConnectionReset, "connection_reset"),
    (TransportError::PinDenied, "pin_denied"),
    (TransportError::OutOfSockets, "out_of_sockets"),
    (TransportError::Other, "other"),
];

fn transport_error_name(e: TransportError) -> &'static str {
    TRANSPORT_ERRORS
        .iter()
        .find(|(k, _)| *k == e)
        .map_or("other", |(_, n)| n)
}

/// Why a recording could not be read.
#[derive(Debug)]
pub enum RecordingError {
    /// The file could not be read or written.
    Io {
        /// The file.
        path: String,
        /// What the OS said.
        error: std::io::Error,
    },
    /// The first line is not a phonecheck recording header.
    NotARecording {
        /// What the first line starts with.
        found: String,
    },
    /// A format version this build does not read.
    UnsupportedVersion {
        /// The file's version.
        found: u64,
    },
    /// A line that is not what the format says.
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The recording stops before its `end` line (the check was cut short, or the file was).
    Truncated {
        /// Lines read.
        lines: usize,
    },
}

impl fmt::Display for RecordingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordingError::Io { path, error } => write!(f, "{path}: {error}"),
            RecordingError::NotARecording { found } => write!(
                f,
                "not a phonecheck recording: the first line should be \
                 {{\"phonecheck_recording\":{FORMAT_VERSION},…}} but starts with {found:?}"
            ),
            RecordingError::UnsupportedVersion { found } => write!(
                f,
                "recording format version {found} is not supported by this phonecheck \
                 (it reads version {FORMAT_VERSION}); replay it with the phonecheck that made it"
            ),
            RecordingError::Malformed { line, reason } => write!(f, "line {line}: {reason}"),
            RecordingError::Truncated { lines } => write!(
                f,
                "the recording ends after {lines} lines without its \"end\" line (cut short?)"
            ),
        }
    }
}

impl std::error::Error for RecordingError {}

/// Payload bytes as a member: readable text when they are printable UTF-8, else base64.
fn put_bytes(map: &mut Map<String, Value>, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text)
            if text
                .chars()
                .all(|c| !c.is_control() || matches!(c, '\r' | '\n' | '\t')) =>
        {
            map.insert("text".into(), Value::String(text.to_string()));
        }
        _ => {
            map.insert(
                "b64".into(),
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
            );
        }
    }
}

fn endpoint(a: Option<SocketAddr>) -> Value {
    a.map_or(Value::Null, |a| Value::String(a.to_string()))
}

fn policy_json(p: &Policy) -> Value {
    let ns = |d: Duration| d.as_nanos().min(u128::from(u64::MAX)) as u64;
    let t = &p.timeouts;
    let l = &p.limits;
    json!({
        "max_redirects": p.max_redirects,
        "allow_http_start": p.allow_http_start,
        "reuse_connections": p.reuse_connections,
        "max_connections": p.max_connections,
        "platform": p.platform,
        "raw_trace": p.raw_trace,
        "public_suffix": p.public_suffix.map(|_| "psl"),
        "require_https": p.require_https,
        "html_is_interaction": p.html_is_interaction,
        "timeouts_ns": {
            "dns": ns(t.dns), "connect": ns(t.connect), "tls_handshake": ns(t.tls_handshake),
            "response_head": ns(t.response_head), "idle": ns(t.idle), "total": ns(t.total),
        },
        "limits": {
            "max_head_bytes": l.max_head_bytes,
            "max_redirect_body_bytes": l.max_redirect_body_bytes,
            "max_final_body_bytes": l.max_final_body_bytes,
            "max_discard_bytes": l.max_discard_bytes,
        },
    })
}

impl Event {
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("t".into(), json!(self.t()));
        m.insert("e".into(), json!(self.kind()));
        if let Some(conn) = self.conn() {
            m.insert("conn".into(), json!(conn));
        }
        match self {
            Event::Connect {
                scheme,
                host,
                port,
                hop,
                ..
            } => {
                m.insert("scheme".into(), json!(scheme));
                m.insert("host".into(), json!(host));
                m.insert("port".into(), json!(port));
                m.insert("hop".into(), json!(hop));
            }
            Event::Transmit { len, bytes, .. } | Event::Received { len, bytes, .. } => {
                m.insert("len".into(), json!(len));
                if let Some(b) = bytes {
                    put_bytes(&mut m, b);
                }
            }
            Event::Hop { record, .. } => {
                m.insert("record".into(), record.clone());
            }
            Event::Wait { until, .. } => {
                m.insert("until".into(), json!(until));
            }
            Event::Connected {
                remote,
                local,
                dns_us,
                connect_us,
                ..
            } => {
                m.insert("remote".into(), endpoint(*remote));
                m.insert("local".into(), endpoint(*local));
                m.insert("dns_us".into(), json!(dns_us));
                m.insert("connect_us".into(), json!(connect_us));
            }
            Event::Sent { len, .. } => {
                m.insert("len".into(), json!(len));
            }
            Event::Failed { error, dns_ms, .. } => {
                m.insert("error".into(), json!(transport_error_name(*error)));
                if let Some(ms) = dns_ms {
                    m.insert("dns_ms".into(), json!(ms));
                }
            }
            Event::Request { hop, bytes, .. } | Event::ResponseHead { hop, bytes, .. } => {
                m.insert("hop".into(), json!(hop));
                put_bytes(&mut m, bytes);
            }
            Event::Decrypted {
                bytes,
                handshake_done,
                peer_closed,
                ..
            } => {
                put_bytes(&mut m, bytes);
                m.insert("handshake_done".into(), json!(handshake_done));
                m.insert("peer_closed".into(), json!(peer_closed));
            }
            Event::Close { .. }
            | Event::Done { .. }
            | Event::Eof { .. }
            | Event::Timeout { .. } => {}
        }
        Value::Object(m)
    }
}

impl Recording {
    /// The recording as the file holds it: JSON lines (see `docs/recording.md`).
    pub fn to_jsonl(&self) -> String {
        let mut lines = Vec::with_capacity(self.events.len() + 3);
        lines.push(json!({
            "phonecheck_recording": FORMAT_VERSION,
            "engine": self.engine,
            "secrets": if self.redacted { "redacted" } else { "kept" },
            "transmit_buffer": TRANSMIT_BUFFER,
        }));
        let c = &self.check;
        lines.push(json!({
            "e": "check",
            "url": c.url,
            "redirect_url": c.redirect_url,
            "expected_state": c.expected_state,
            "access_token": c.access_token,
            "start": c.start,
            "wall_unix_ms": c.wall_unix_ms,
            "device_info": c.device_info.as_ref().map(|d| d.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>()),
            "policy": policy_json(&c.policy),
        }));
        lines.extend(self.events.iter().map(Event::to_json));
        if let Some(end) = &self.ending {
            lines.push(json!({
                "e": "end",
                "envelope": end.envelope,
                "extra": end.extra.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
            }));
        }
        let mut out = String::new();
        for line in lines {
            out.push_str(&line.to_string());
            out.push('\n');
        }
        out
    }

    /// Writes the recording to `path`.
    pub fn write(&self, path: &std::path::Path) -> Result<(), RecordingError> {
        std::fs::write(path, self.to_jsonl()).map_err(|error| RecordingError::Io {
            path: path.display().to_string(),
            error,
        })
    }

    /// Reads a recording from `path`.
    pub fn read(path: &std::path::Path) -> Result<Recording, RecordingError> {
        let text = std::fs::read(path).map_err(|error| RecordingError::Io {
            path: path.display().to_string(),
            error,
        })?;
        let text = String::from_utf8(text).map_err(|e| RecordingError::Malformed {
            line: 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count(),
            reason: "not UTF-8 text".into(),
        })?;
        Recording::parse(&text)
    }

    /// Parses a recording's text.
    pub fn parse(text: &str) -> Result<Recording, RecordingError> {
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l))
            .filter(|(_, l)| !l.trim().is_empty());
        let Some((_, first)) = lines.next() else {
            return Err(RecordingError::NotARecording {
                found: String::new(),
            });
        };
        let header: Value =
            serde_json::from_str(first).map_err(|_| RecordingError::NotARecording {
                found: first.chars().take(40).collect(),
            })?;
        let version = header
            .get("phonecheck_recording")
            .and_then(Value::as_u64)
            .ok_or_else(|| RecordingError::NotARecording {
                found: first.chars().take(40).collect(),
            })?;
        if version != FORMAT_VERSION {
            return Err(RecordingError::UnsupportedVersion { found: version });
        }
        let redacted = header.get("secrets").and_then(Value::as_str) != Some("kept");
        let engine = header
            .get("engine")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let buffer = header.get("transmit_buffer").and_then(Value::as_u64);
        if buffer.is_some_and(|b| b != TRANSMIT_BUFFER as u64) {
            return Err(RecordingError::Malformed {
                line: 1,
                reason: format!(
                    "transmit_buffer {} is not the {TRANSMIT_BUFFER} bytes this build's drivers use",
                    buffer.unwrap_or_default()
                ),
            });
        }
        let mut check = None;
        let mut events = Vec::new();
        let mut ending = None;
        let mut count = 1;
        for (n, line) in lines {
            count = n;
            let v: Value = serde_json::from_str(line).map_err(|e| RecordingError::Malformed {
                line: n,
                reason: format!("not JSON: {e}"),
            })?;
            let r = Fields { v: &v, line: n };
            if ending.is_some() {
                return Err(r.bad("a line after the \"end\" line"));
            }
            match r.str("e")? {
                "check" if check.is_none() => check = Some(r.check()?),
                "check" => return Err(r.bad("a second \"check\" line")),
                _ if check.is_none() => return Err(r.bad("an event before the \"check\" line")),
                "end" => {
                    ending = Some(Ending {
                        envelope: r.str("envelope")?.to_string(),
                        extra: r.pairs("extra")?.unwrap_or_default(),
                    })
                }
                _ => events.push(r.event()?),
            }
        }
        let check = check.ok_or(RecordingError::Truncated { lines: count })?;
        if ending.is_none() {
            return Err(RecordingError::Truncated { lines: count });
        }
        Ok(Recording {
            redacted,
            engine,
            check,
            events,
            ending,
        })
    }

    /// Connections that were https, by id.
    pub fn https_conns(&self) -> BTreeSet<u32> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Connect { conn, scheme, .. } if scheme == "https" => Some(*conn),
                _ => None,
            })
            .collect()
    }

    /// https connections whose handshake finished: their ciphertext is not needed to replay
    /// them (the replay makes its own), so it is not kept.
    pub fn secured_conns(&self) -> BTreeSet<u32> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Decrypted {
                    conn,
                    handshake_done: true,
                    ..
                } => Some(*conn),
                _ => None,
            })
            .collect()
    }

    fn drop_ciphertext(&mut self) {
        let secured = self.secured_conns();
        for e in &mut self.events {
            if let Event::Transmit { conn, bytes, .. } | Event::Received { conn, bytes, .. } = e {
                if secured.contains(conn) {
                    *bytes = None;
                }
            }
        }
    }

    /// Replaces secrets by same-length placeholders, consistently across every byte stream of
    /// the recording. The access token is always replaced; with `keep_secrets`, nothing else.
    pub fn redact(&mut self, token: Option<&str>, keep_secrets: bool) {
        let mut r = Redactor::default();
        if let Some(token) = token.filter(|t| !t.is_empty()) {
            let placeholder = r.add(token.as_bytes());
            self.check.access_token = String::from_utf8(placeholder).ok();
        }
        // The expected state is compared with the redirect URL's `state=` once decoded: it
        // must become whatever that value became, not a placeholder of its own.
        let state = self.check.expected_state.take();
        // The engine compared it with a `Location:` header's `state=` as the server wrote it
        // (its percent-encoding may differ from the authorization URL's).
        let in_location = state.as_deref().and_then(|s| self.location_state(s));
        if !keep_secrets {
            self.for_each_stream(&mut |bytes| r.discover(bytes));
        }
        self.for_each_stream(&mut |bytes| r.apply(bytes, keep_secrets));
        self.check.expected_state = state.map(|s| match &in_location {
            Some(raw) => r.as_in_query(raw, &s, keep_secrets),
            None => r.as_in_query(&s, &s, keep_secrets),
        });
    }

    /// The raw `state=` value of a recorded `Location:` header that decodes to `state`.
    fn location_state(&self, state: &str) -> Option<String> {
        self.events.iter().rev().find_map(|e| {
            let Event::ResponseHead { bytes, .. } = e else {
                return None;
            };
            let head = String::from_utf8_lossy(bytes);
            let location = head.lines().find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.trim()
                    .eq_ignore_ascii_case("location")
                    .then(|| value.trim().to_string())
            })?;
            let query = location.split_once('?')?.1;
            let query = query.split('#').next().unwrap_or(query);
            query.split('&').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                // Percent-decoding as the engine does it: a '+' stays a '+'.
                let decoded =
                    url::form_urlencoded::parse(format!("v={}", v.replace('+', "%2B")).as_bytes())
                        .next()
                        .map(|(_, d)| d.into_owned())?;
                (k == "state" && decoded == state).then(|| v.to_string())
            })
        })
    }

    /// Calls `f` with each byte stream of the recording, pieces of one stream joined (a secret
    /// may be cut across two reads), then puts the pieces back.
    fn for_each_stream(&mut self, f: &mut dyn FnMut(&mut Vec<u8>)) {
        // Streams by key: (kind, conn or hop).
        let mut streams: BTreeMap<(u8, u32), Vec<(usize, usize)>> = BTreeMap::new();
        for (i, e) in self.events.iter().enumerate() {
            let (key, len) = match e {
                Event::Transmit {
                    conn,
                    bytes: Some(b),
                    ..
                } => ((0, *conn), b.len()),
                Event::Received {
                    conn,
                    bytes: Some(b),
                    ..
                } => ((1, *conn), b.len()),
                Event::Decrypted { conn, bytes, .. } => ((2, *conn), bytes.len()),
                Event::Request { hop, bytes, .. } => ((3, u32::from(*hop)), bytes.len()),
                Event::ResponseHead { hop, bytes, .. } => ((4, u32::from(*hop)), bytes.len()),
                _ => continue,
            };
            streams.entry(key).or_default().push((i, len));
        }
        for pieces in streams.values() {
            let mut joined = Vec::new();
            for (i, _) in pieces {
                if let Some(b) = self.events.get(*i).and_then(event_bytes) {
                    joined.extend_from_slice(b);
                }
            }
            f(&mut joined);
            let mut at = 0;
            for (i, len) in pieces {
                if let Some(b) = self.events.get_mut(*i).and_then(event_bytes_mut) {
                    if let Some(src) = joined.get(at..at + len) {
                        b.copy_from_slice(src);
                    }
                }
                at += len;
            }
        }
        let mut text = |s: &mut String| {
            let mut b = std::mem::take(s).into_bytes();
            f(&mut b);
            *s = String::from_utf8(b).unwrap_or_default();
        };
        text(&mut self.check.url);
        if let Some(p) = self.check.redirect_url.as_mut() {
            text(p);
        }
        if let Some(s) = self.check.expected_state.as_mut() {
            text(s);
        }
        for e in &mut self.events {
            if let Event::Hop { record, .. } = e {
                if let Some(Value::String(url)) = record.get_mut("url") {
                    text(url);
                }
            }
        }
        if let Some(end) = self.ending.as_mut() {
            text(&mut end.envelope);
            for (_, v) in &mut end.extra {
                text(v);
            }
        }
    }
}

fn event_bytes(e: &Event) -> Option<&Vec<u8>> {
    match e {
        Event::Transmit { bytes: Some(b), .. } | Event::Received { bytes: Some(b), .. } => Some(b),
        Event::Decrypted { bytes, .. }
        | Event::Request { bytes, .. }
        | Event::ResponseHead { bytes, .. } => Some(bytes),
        _ => None,
    }
}

fn event_bytes_mut(e: &mut Event) -> Option<&mut Vec<u8>> {
    match e {
        Event::Transmit { bytes: Some(b), .. } | Event::Received { bytes: Some(b), .. } => Some(b),
        Event::Decrypted { bytes, .. }
        | Event::Request { bytes, .. }
        | Event::ResponseHead { bytes, .. } => Some(bytes),
        _ => None,
    }
}

/// Secret values seen in a recording, each with its placeholder.
#[derive(Debug, Default)]
struct Redactor {
    map: HashMap<Vec<u8>, Vec<u8>>,
    /// Values long enough to be replaced wherever they appear, longest first.
    global: Vec<Vec<u8>>,
}

/// Shorter secrets are replaced only where they are recognised (a query value, a cookie, a
/// JSON member): replacing `4711` everywhere could change a port number.
const GLOBAL_MIN: usize = 8;

impl Redactor {
    /// Registers `value`, returning its placeholder: `R<n>` then `x`s, as long as the value.
    fn add(&mut self, value: &[u8]) -> Vec<u8> {
        if let Some(p) = self.map.get(value) {
            return p.clone();
        }
        let tag = format!("R{}", self.map.len() + 1).into_bytes();
        let mut placeholder: Vec<u8> = tag.into_iter().take(value.len()).collect();
        placeholder.resize(value.len(), b'x');
        if placeholder == value {
            placeholder.fill(b'y');
        }
        self.map.insert(value.to_vec(), placeholder.clone());
        if value.len() >= GLOBAL_MIN {
            self.global.push(value.to_vec());
            self.global.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
        placeholder
    }

    /// What a query value written `raw` (which decodes to `value`) was replaced by, decoded:
    /// its placeholder if it was found secret, else `value` with only the long secrets in it
    /// replaced (as any text).
    fn as_in_query(&self, raw: &str, value: &str, only_global: bool) -> String {
        if let Some(p) = self.map.get(raw.as_bytes()) {
            // Placeholders are plain ASCII letters: decoded, they are themselves.
            return String::from_utf8_lossy(p).into_owned();
        }
        let mut bytes = value.as_bytes().to_vec();
        self.apply(&mut bytes, only_global);
        String::from_utf8(bytes).unwrap_or_default()
    }

    fn discover(&mut self, bytes: &[u8]) {
        for (a, b) in secret_spans(bytes) {
            if let Some(v) = bytes.get(a..b) {
                let v = v.to_vec();
                self.add(&v);
            }
        }
    }

    fn apply(&self, bytes: &mut [u8], only_global: bool) {
        if !only_global {
            for (a, b) in secret_spans(bytes) {
                let Some(p) = bytes.get(a..b).and_then(|v| self.map.get(v)).cloned() else {
                    continue;
                };
                if let Some(dst) = bytes.get_mut(a..b) {
                    dst.copy_from_slice(&p);
                }
            }
        }
        for value in &self.global {
            let Some(p) = self.map.get(value) else {
                continue;
            };
            let mut i = 0;
            while i + value.len() <= bytes.len() {
                if bytes.get(i..i + value.len()) == Some(value.as_slice()) {
                    if let Some(dst) = bytes.get_mut(i..i + value.len()) {
                        dst.copy_from_slice(p);
                    }
                    i += value.len();
                } else {
                    i += 1;
                }
            }
        }
        // The token (registered first) is replaced wherever it appears, whatever its length.
        if only_global {
            for (value, p) in &self.map {
                if value.len() < GLOBAL_MIN {
                    replace_all(bytes, value, p);
                }
            }
        }
    }
}

fn replace_all(bytes: &mut [u8], value: &[u8], placeholder: &[u8]) {
    if value.is_empty() {
        return;
    }
    let mut i = 0;
    while i + value.len() <= bytes.len() {
        if bytes.get(i..i + value.len()) == Some(value) {
            if let Some(dst) = bytes.get_mut(i..i + value.len()) {
                dst.copy_from_slice(placeholder);
            }
            i += value.len();
        } else {
            i += 1;
        }
    }
}

/// Where secret values sit in `b`: secret query values, cookie values, credentials after an
/// `Authorization` scheme, secret JSON string members.
fn secret_spans(b: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    query_spans(b, &mut spans);
    header_spans(b, &mut spans);
    json_spans(b, &mut spans);
    spans
}

fn is_secret(name: &[u8], value: &[u8]) -> bool {
    let (Ok(name), Ok(value)) = (std::str::from_utf8(name), std::str::from_utf8(value)) else {
        return false;
    };
    // `REDACTED` is what the engine's own trace already shows in place of a secret.
    !value.is_empty()
        && value != "REDACTED"
        && (is_secret_key(name) || looks_like_credential(name, value))
}

fn query_spans(b: &[u8], spans: &mut Vec<(usize, usize)>) {
    let name_char =
        |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'~' | b'%');
    let value_end = |c: u8| {
        matches!(
            c,
            b'&' | b'#' | b' ' | b'"' | b'\'' | b'<' | b'>' | b'\r' | b'\n' | b'\t'
        )
    };
    for (i, &c) in b.iter().enumerate() {
        if c != b'?' && c != b'&' {
            continue;
        }
        let name_start = i + 1;
        let mut j = name_start;
        while b.get(j).is_some_and(|&c| name_char(c)) {
            j += 1;
        }
        if j == name_start || b.get(j) != Some(&b'=') {
            continue;
        }
        let value_start = j + 1;
        let mut k = value_start;
        while b.get(k).is_some_and(|&c| !value_end(c)) {
            k += 1;
        }
        if is_secret(
            b.get(name_start..j).unwrap_or_default(),
            b.get(value_start..k).unwrap_or_default(),
        ) {
            spans.push((value_start, k));
        }
    }
}

fn header_spans(b: &[u8], spans: &mut Vec<(usize, usize)>) {
    let mut start = 0;
    while start < b.len() {
        let end = b
            .get(start..)
            .and_then(|rest| rest.iter().position(|&c| c == b'\n'))
            .map_or(b.len(), |p| start + p);
        let line = b.get(start..end).unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(colon) = line.iter().position(|&c| c == b':') {
            let name = line.get(..colon).unwrap_or_default().to_ascii_lowercase();
            let value_at = start + colon + 1;
            let value = line.get(colon + 1..).unwrap_or_default();
            match name.as_slice() {
                b"cookie" => pairs(value, value_at, false, spans),
                b"set-cookie" => pairs(value, value_at, true, spans),
                b"authorization" | b"proxy-authorization" => {
                    let lead = value.iter().take_while(|c| **c == b' ').count();
                    let rest = value.get(lead..).unwrap_or_default();
                    let cred = rest.iter().position(|&c| c == b' ').map_or(0, |p| p + 1);
                    let a = value_at + lead + cred;
                    let e = value_at + value.len();
                    if e > a {
                        spans.push((a, e));
                    }
                }
                _ => {}
            }
        }
        start = end + 1;
    }
}

/// `name=value` pairs separated by `;` (only the first for `Set-Cookie`): every value.
fn pairs(value: &[u8], at: usize, first_only: bool, spans: &mut Vec<(usize, usize)>) {
    let mut offset = 0;
    for part in value.split(|&c| c == b';') {
        if let Some(eq) = part.iter().position(|&c| c == b'=') {
            let v = part.get(eq + 1..).unwrap_or_default();
            let trail = v.iter().rev().take_while(|c| **c == b' ').count();
            let lead = v.iter().take_while(|c| **c == b' ').count();
            let a = at + offset + eq + 1 + lead;
            let e = at + offset + part.len() - trail;
            if e > a {
                spans.push((a, e));
            }
        }
        if first_only {
            break;
        }
        offset += part.len() + 1;
    }
}

fn json_spans(b: &[u8], spans: &mut Vec<(usize, usize)>) {
    let mut i = 0;
    while i < b.len() {
        if b.get(i) != Some(&b'"') {
            i += 1;
            continue;
        }
        let key_start = i + 1;
        let Some(key_len) = b
            .get(key_start..)
            .and_then(|r| r.iter().position(|&c| c == b'"' || c == b'\\'))
        else {
            return;
        };
        let key_end = key_start + key_len;
        let mut j = key_end + 1;
        while b.get(j).is_some_and(u8::is_ascii_whitespace) {
            j += 1;
        }
        if b.get(key_end) != Some(&b'"') || b.get(j) != Some(&b':') {
            i = key_end.max(i + 1);
            continue;
        }
        j += 1;
        while b.get(j).is_some_and(u8::is_ascii_whitespace) {
            j += 1;
        }
        if b.get(j) != Some(&b'"') {
            i = j;
            continue;
        }
        let value_start = j + 1;
        let mut k = value_start;
        while let Some(&c) = b.get(k) {
            if c == b'\\' {
                k += 2;
                continue;
            }
            if c == b'"' {
                break;
            }
            k += 1;
        }
        let k = k.min(b.len());
        if is_secret(
            b.get(key_start..key_end).unwrap_or_default(),
            b.get(value_start..k).unwrap_or_default(),
        ) {
            spans.push((value_start, k));
        }
        i = k + 1;
    }
}

/// Reads one line's members with errors that name the line.
struct Fields<'v> {
    v: &'v Value,
    line: usize,
}

impl Fields<'_> {
    fn bad(&self, reason: &str) -> RecordingError {
        RecordingError::Malformed {
            line: self.line,
            reason: reason.to_string(),
        }
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.v.get(key).filter(|v| !v.is_null())
    }

    fn str(&self, key: &str) -> Result<&str, RecordingError> {
        self.get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| self.bad(&format!("\"{key}\" is missing or not a string")))
    }

    fn opt_str(&self, key: &str) -> Result<Option<String>, RecordingError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.bad(&format!("\"{key}\" is not a string"))),
        }
    }

    fn u64(&self, key: &str) -> Result<u64, RecordingError> {
        self.get(key)
            .and_then(Value::as_u64)
            .ok_or_else(|| self.bad(&format!("\"{key}\" is missing or not a whole number")))
    }

    fn opt_u64(&self, key: &str) -> Result<Option<u64>, RecordingError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.bad(&format!("\"{key}\" is not a whole number"))),
        }
    }

    fn num<T: TryFrom<u64>>(&self, key: &str) -> Result<T, RecordingError> {
        T::try_from(self.u64(key)?).map_err(|_| self.bad(&format!("\"{key}\" is out of range")))
    }

    fn opt_bool(&self, key: &str) -> Result<Option<bool>, RecordingError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.bad(&format!("\"{key}\" is not true/false"))),
        }
    }

    fn bool(&self, key: &str) -> Result<bool, RecordingError> {
        self.get(key)
            .and_then(Value::as_bool)
            .ok_or_else(|| self.bad(&format!("\"{key}\" is missing or not true/false")))
    }

    fn addr(&self, key: &str) -> Result<Option<SocketAddr>, RecordingError> {
        self.opt_str(key)?
            .map(|s| {
                s.parse()
                    .map_err(|_| self.bad(&format!("\"{key}\" is not an address:port")))
            })
            .transpose()
    }

    /// `text` or `b64`, whichever is there.
    fn bytes(&self) -> Result<Option<Vec<u8>>, RecordingError> {
        if let Some(text) = self.opt_str("text")? {
            return Ok(Some(text.into_bytes()));
        }
        match self.opt_str("b64")? {
            Some(b) => base64::engine::general_purpose::STANDARD
                .decode(b.as_bytes())
                .map(Some)
                .map_err(|e| self.bad(&format!("\"b64\" is not base64: {e}"))),
            None => Ok(None),
        }
    }

    fn need_bytes(&self) -> Result<Vec<u8>, RecordingError> {
        self.bytes()?
            .ok_or_else(|| self.bad("the payload (\"text\" or \"b64\") is missing"))
    }

    fn pairs(&self, key: &str) -> Result<Option<Vec<(String, String)>>, RecordingError> {
        let Some(list) = self.get(key) else {
            return Ok(None);
        };
        let bad = || self.bad(&format!("\"{key}\" is not a list of [name, value] pairs"));
        let list = list.as_array().ok_or_else(bad)?;
        list.iter()
            .map(|p| match p.as_array().map(Vec::as_slice) {
                Some([Value::String(k), Value::String(v)]) => Ok((k.clone(), v.clone())),
                _ => Err(bad()),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    fn check(&self) -> Result<CheckInputs, RecordingError> {
        let p = self
            .get("policy")
            .ok_or_else(|| self.bad("\"policy\" is missing"))?;
        let pf = Fields {
            v: p,
            line: self.line,
        };
        let t = Fields {
            v: p.get("timeouts_ns")
                .ok_or_else(|| self.bad("\"policy.timeouts_ns\" is missing"))?,
            line: self.line,
        };
        let l = Fields {
            v: p.get("limits")
                .ok_or_else(|| self.bad("\"policy.limits\" is missing"))?,
            line: self.line,
        };
        let ns = |k: &str| t.u64(k).map(Duration::from_nanos);
        let platform: &'static str = match pf.str("platform")? {
            "linux" => "linux",
            "android" => "android",
            "" => "",
            // The policy holds a `&'static str`: one small string per replay.
            other => Box::leak(other.to_string().into_boxed_str()),
        };
        let public_suffix = match pf.opt_str("public_suffix")?.as_deref() {
            None => None,
            Some("psl") => {
                Some(crate::net::is_public_suffix as phonecheck_engine::cookie::PublicSuffixCheck)
            }
            Some(other) => return Err(self.bad(&format!("unknown public_suffix rule {other:?}"))),
        };
        let policy = Policy {
            max_redirects: pf.num("max_redirects")?,
            allow_http_start: pf.bool("allow_http_start")?,
            reuse_connections: pf.bool("reuse_connections")?,
            max_connections: pf.num("max_connections")?,
            platform,
            raw_trace: pf.bool("raw_trace")?,
            timeouts: Timeouts {
                dns: ns("dns")?,
                connect: ns("connect")?,
                tls_handshake: ns("tls_handshake")?,
                response_head: ns("response_head")?,
                idle: ns("idle")?,
                total: ns("total")?,
            },
            limits: Limits {
                max_head_bytes: l.num("max_head_bytes")?,
                max_redirect_body_bytes: l.u64("max_redirect_body_bytes")?,
                max_final_body_bytes: l.num("max_final_body_bytes")?,
                max_discard_bytes: l.u64("max_discard_bytes")?,
            },
            public_suffix,
            // Absent in recordings made before the CAMARA rules existed: they were off.
            require_https: pf.opt_bool("require_https")?.unwrap_or(false),
            html_is_interaction: pf.opt_bool("html_is_interaction")?.unwrap_or(false),
        };
        Ok(CheckInputs {
            url: self.str("url")?.to_string(),
            policy,
            redirect_url: self.opt_str("redirect_url")?,
            expected_state: self.opt_str("expected_state")?,
            access_token: self.opt_str("access_token")?,
            start: self.opt_u64("start")?.unwrap_or(0),
            wall_unix_ms: self.opt_u64("wall_unix_ms")?,
            device_info: self.pairs("device_info")?,
        })
    }

    fn event(&self) -> Result<Event, RecordingError> {
        let t = self.u64("t")?;
        let conn = || self.num::<u32>("conn");
        Ok(match self.str("e")? {
            "connect" => Event::Connect {
                t,
                conn: conn()?,
                scheme: match self.str("scheme")? {
                    s @ ("http" | "https") => s.to_string(),
                    other => return Err(self.bad(&format!("unknown scheme {other:?}"))),
                },
                host: self.str("host")?.to_string(),
                port: self.num("port")?,
                hop: self.num("hop")?,
            },
            "transmit" | "received" => {
                let len = self.num("len")?;
                let bytes = self.bytes()?;
                if bytes.as_ref().is_some_and(|b| b.len() != len) {
                    return Err(self.bad("\"len\" does not match the payload's length"));
                }
                if self.str("e")? == "transmit" {
                    Event::Transmit {
                        t,
                        conn: conn()?,
                        len,
                        bytes,
                    }
                } else {
                    Event::Received {
                        t,
                        conn: conn()?,
                        len,
                        bytes,
                    }
                }
            }
            "close" => Event::Close { t, conn: conn()? },
            "hop" => Event::Hop {
                t,
                record: self
                    .get("record")
                    .filter(|r| r.is_object())
                    .cloned()
                    .ok_or_else(|| self.bad("\"record\" is missing or not an object"))?,
            },
            "wait" => Event::Wait {
                t,
                until: self.u64("until")?,
            },
            "done" => Event::Done { t },
            "connected" => Event::Connected {
                t,
                conn: conn()?,
                remote: self.addr("remote")?,
                local: self.addr("local")?,
                dns_us: self.opt_u64("dns_us")?,
                connect_us: self.opt_u64("connect_us")?,
            },
            "sent" => Event::Sent {
                t,
                conn: conn()?,
                len: self.num("len")?,
            },
            "eof" => Event::Eof { t, conn: conn()? },
            "failed" => {
                let name = self.str("error")?;
                let error = TRANSPORT_ERRORS
                    .iter()
                    .find(|(_, n)| *n == name)
                    .map(|(e, _)| *e)
                    .ok_or_else(|| self.bad(&format!("unknown transport error {name:?}")))?;
                Event::Failed {
                    t,
                    conn: conn()?,
                    error,
                    dns_ms: self
                        .opt_u64("dns_ms")?
                        .map(|v| u32::try_from(v).unwrap_or(u32::MAX)),
                }
            }
            "timeout" => Event::Timeout { t },
            "request" => Event::Request {
                t,
                hop: self.num("hop")?,
                bytes: self.need_bytes()?,
            },
            "response_head" => Event::ResponseHead {
                t,
                hop: self.num("hop")?,
                bytes: self.need_bytes()?,
            },
            "decrypted" => Event::Decrypted {
                t,
                conn: conn()?,
                bytes: self.need_bytes()?,
                handshake_done: self.bool("handshake_done")?,
                peer_closed: self.bool("peer_closed")?,
            },
            other => return Err(self.bad(&format!("unknown event {other:?}"))),
        })
    }
}

/// The input an event stands for (with `bytes` for `Received`), for a driver that feeds it.
pub fn connection_info(e: &Event) -> Option<ConnectionInfo> {
    match e {
        Event::Connected {
            remote,
            local,
            dns_us,
            connect_us,
            ..
        } => Some(ConnectionInfo {
            remote: *remote,
            local: *local,
            dns: dns_us.map(Duration::from_micros),
            connect: connect_us.map(Duration::from_micros),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_found_where_they_sit() {
        let text = b"GET /cb?check_id=c1&code=abc123&x=1 HTTP/1.1\r\nCookie: a=1; sid=zz\r\nAuthorization: Bearer tok\r\n\r\n{\"code\":\"q\\\"w\",\"check_id\":\"c\"}";
        let spans: Vec<&[u8]> = secret_spans(text)
            .into_iter()
            .map(|(a, b)| &text[a..b])
            .collect();
        for want in [&b"abc123"[..], b"1", b"zz", b"tok", b"q\\\"w"] {
            assert!(spans.contains(&want), "{want:?} in {spans:?}");
        }
        assert!(!spans.contains(&&b"c1"[..]));
    }

    #[test]
    fn placeholders_keep_lengths_and_are_consistent() {
        let mut r = Redactor::default();
        let a = r.add(b"secret-one");
        let b = r.add(b"secret-two");
        assert_eq!(a.len(), 10);
        assert_ne!(a, b);
        assert_eq!(r.add(b"secret-one"), a);
        let mut text = b"x=secret-one;y=secret-two".to_vec();
        r.apply(&mut text, true);
        assert_eq!(text.len(), 25);
        assert!(!String::from_utf8_lossy(&text).contains("secret"));
    }

    #[test]
    fn bad_files_give_typed_errors() {
        assert!(matches!(
            Recording::parse(""),
            Err(RecordingError::NotARecording { .. })
        ));
        assert!(matches!(
            Recording::parse("hello\n"),
            Err(RecordingError::NotARecording { .. })
        ));
        assert!(matches!(
            Recording::parse("{\"phonecheck_recording\":99}\n"),
            Err(RecordingError::UnsupportedVersion { found: 99 })
        ));
        assert!(matches!(
            Recording::parse("{\"phonecheck_recording\":1}\n"),
            Err(RecordingError::Truncated { .. })
        ));
        assert!(matches!(
            Recording::parse("{\"phonecheck_recording\":1}\n{\"e\":\"sent\"}\n"),
            Err(RecordingError::Malformed { line: 2, .. })
        ));
    }
}
