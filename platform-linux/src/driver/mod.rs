//! Running engine sessions on a std platform, over a small [`Network`] trait: open a TCP socket
//! bound to the mobile network, resolve a name over it, say whether it is there. Linux plugs in
//! [`crate::net::LinuxNetwork`]; the Android crate plugs in its network handle.
//!
//! ```text
//!  CheckOptions ──► blocking::run_check ──► Report      one check, one thread (SDKs, `open`)
//!  CheckOptions* ─► mux::run_many ───────► Report*      many checks, one thread (test rigs)
//!                      │  Session outputs ↔ sockets from Network::tcp_socket, polled together
//!                      └─ names via Network::resolve (blocking: on the DNS worker threads)
//! ```
//!
//! Results are typed ([`Report`]): the engine writes the SDK envelope once, with the driver's
//! additions (the interface, the OS-level detail of a failure) as extra members; the PhoneCheck
//! fields are read from the engine's completion, not from JSON.

pub mod blocking;
pub mod har;
pub mod mux;
pub mod record;
#[cfg(feature = "replay")]
pub mod replay;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use phonecheck_engine::envelope::EnvelopeError;
use phonecheck_engine::{
    ErrorCode, Field, HopInfo, HopRecord, Policy, Session, TlsSettings, TransportError,
};
use socket2::{Domain, Socket};

pub use blocking::{run_check, run_check_recorded, run_check_with_tap};

use crate::net::socket::SocketError;

/// Delay between starting connection attempts to successive addresses (RFC 8305 suggests 250 ms).
pub const CONNECTION_STAGGER: Duration = Duration::from_millis(250);

/// The mobile network a platform offers the driver.
pub trait Network: Send + Sync + std::fmt::Debug {
    /// What the network is called in traces (an interface name), if anything.
    fn label(&self) -> Option<String>;
    /// Whether the network can carry traffic now; why not, if it cannot.
    fn ready(&self) -> Result<(), NetFailure>;
    /// Resolves `host` (for a connection to `port`) over the mobile network before `deadline`.
    fn resolve(&self, host: &str, port: u16, deadline: Instant) -> Result<Resolved, NetFailure>;
    /// The answer for `host` when it needs no query (an IP literal, a configured override), so
    /// the multiplexed driver need not hand it to a DNS worker.
    fn resolve_without_query(&self, _host: &str, _port: u16) -> Option<Resolved> {
        None
    }
    /// A fresh non-blocking TCP socket of `family`, bound to the mobile network, not connected.
    fn tcp_socket(&self, family: Domain) -> Result<Socket, SocketError>;
    /// A connection attempt on one of its sockets failed with `error`: the platform may know
    /// better what that means (on Android, `EPERM` is an app not allowed on the network and
    /// `ENONET` a network that went away). `None` keeps the generic reading.
    fn connect_failed(&self, _error: &std::io::Error) -> Option<NetFailure> {
        None
    }
}

/// The failure to report for a failed connection attempt to `target`: the network's own
/// reading of `error` if it has one, else `kind` and `error`'s text.
pub(crate) fn connect_failure(
    network: &dyn Network,
    error: &std::io::Error,
    kind: TransportError,
    shown: &dyn std::fmt::Display,
    target: &dyn std::fmt::Display,
) -> NetFailure {
    match network.connect_failed(error) {
        Some(f) => NetFailure {
            kind: f.kind,
            detail: format!("connecting to {target}: {}", f.detail),
        },
        None => NetFailure {
            kind,
            detail: format!("connecting to {target}: {shown}"),
        },
    }
}

/// Addresses for a name, in the order to try them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// IPv6 and IPv4 interleaved, IPv6 first.
    pub addrs: Vec<IpAddr>,
    /// Whether a DNS query was made (not an override or an IP literal).
    pub queried: bool,
}

/// A network-level failure: the engine's kind and the OS-level story.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetFailure {
    /// What the engine hears.
    pub kind: TransportError,
    /// What happened, for the envelope's `detail`.
    pub detail: String,
}

/// Everything one check needs. Its `Debug` leaves the access token out.
#[derive(Clone)]
pub struct CheckOptions {
    /// The `check_url`.
    pub url: String,
    /// Redirect rules, deadlines, limits.
    pub policy: Policy,
    /// The mobile network.
    pub network: Arc<dyn Network>,
    /// TLS provider and roots.
    pub tls: TlsSettings,
    /// Bearer token for the first origin.
    pub access_token: Option<String>,
    /// Stop at a Location with this prefix.
    pub redirect_url: Option<String>,
    /// The OAuth `state` the redirect_url's query must carry (CAMARA); see
    /// `Session::set_expected_state`.
    pub expected_state: Option<String>,
    /// `device_info` for the envelope's `debug` object; `None` leaves it out.
    pub device_info: Option<Vec<(String, String)>>,
}

impl std::fmt::Debug for CheckOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckOptions")
            .field("url", &self.url)
            .field("policy", &self.policy)
            .field("network", &self.network)
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "REDACTED"),
            )
            .field("redirect_url", &self.redirect_url)
            .field("expected_state", &self.expected_state)
            .field("device_info", &self.device_info)
            .finish_non_exhaustive()
    }
}

/// A hop record the driver keeps for the `debug` object.
#[derive(Clone, Debug)]
pub struct KeptHop {
    /// The hop's URL.
    pub url: String,
    /// The rest of the record.
    pub info: HopInfo,
}

/// The outcome of one check, as typed values; `envelope` is the SDK JSON the engine wrote.
#[derive(Clone, Debug)]
pub struct Report {
    /// The SDK-compatible envelope (with `debug` when asked for), one line of JSON.
    pub envelope: String,
    /// The error code, when the check failed.
    pub code: Option<ErrorCode>,
    /// The final status, when a final response arrived.
    pub http_status: Option<u16>,
    /// The PhoneCheck fields of the result (`check_id`, `code`, ...), decoded.
    pub fields: Vec<(Field, String)>,
    /// The hops, in order.
    pub hops: Vec<KeptHop>,
    /// Wall time of the device step.
    pub elapsed: Duration,
}

impl Report {
    /// A PhoneCheck field of the result (`Field::Code` is the one the backend needs).
    pub fn field(&self, field: Field) -> Option<&str> {
        self.fields
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, v)| v.as_str())
    }

    /// The envelope as a JSON value, for a consumer that wants to look inside it.
    pub fn envelope_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.envelope).unwrap_or(serde_json::Value::Null)
    }

    /// The exit status for this report: 0 when a final HTTP response arrived, else one per
    /// error code.
    pub fn exit_code(&self) -> i32 {
        exit_code(self)
    }
}

/// Writes the finished session's report: the envelope (the engine writes it, with `extra`
/// members), the typed fields and the hops.
pub(crate) fn finish(
    session: &Session<'_>,
    hops: Vec<KeptHop>,
    device_info: Option<&[(String, String)]>,
    extra: &[(&str, &str)],
    elapsed: Duration,
) -> Report {
    let records: Vec<HopRecord<'_>> = hops
        .iter()
        .map(|h| HopRecord {
            url: phonecheck_engine::HopUrl::new(h.url.as_bytes()),
            info: &h.info,
        })
        .collect();
    let info: Option<Vec<(&str, &str)>> =
        device_info.map(|d| d.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect());
    let write = |buf: &mut [u8]| {
        session.write_envelope_with(buf, info.as_deref().map(|i| (records.as_slice(), i)), extra)
    };
    let mut buf = vec![0u8; 16 * 1024];
    let written = match write(&mut buf) {
        Err(EnvelopeError::BufferTooSmall { needed }) => {
            buf.resize(needed, 0);
            write(&mut buf)
        }
        other => other,
    };
    let envelope = written
        .ok()
        .and_then(|n| String::from_utf8(buf.get(..n).unwrap_or_default().to_vec()).ok())
        .unwrap_or_else(|| {
            r#"{"error":"sdk_error","error_description":"could not write the result"}"#.into()
        });
    let (code, http_status, fields) = match session.outcome() {
        Some(Ok(done)) => {
            let fields = Field::ALL
                .iter()
                .filter_map(|f| done.field(*f).map(|v| (*f, v.to_string())))
                .collect();
            (None, Some(done.http_status), fields)
        }
        Some(Err(e)) => (Some(e.code()), None, Vec::new()),
        None => (Some(ErrorCode::SdkError), None, Vec::new()),
    };
    drop(records);
    Report {
        envelope,
        code,
        http_status,
        fields,
        hops,
        elapsed,
    }
}

/// A failure envelope for problems found before a session could start.
pub fn failure(code: ErrorCode, description: &str, interface: Option<&str>) -> Report {
    let mut envelope = serde_json::json!({
        "error": code.as_str(),
        "error_description": description,
    });
    if let (Some(name), Some(map)) = (interface, envelope.as_object_mut()) {
        map.insert(
            "interface".into(),
            serde_json::Value::String(name.to_string()),
        );
    }
    Report {
        envelope: envelope.to_string(),
        code: Some(code),
        http_status: None,
        fields: Vec::new(),
        hops: Vec::new(),
        elapsed: Duration::ZERO,
    }
}

/// The exit status for a report: 0 when a final HTTP response arrived, else one per error code.
pub fn exit_code(report: &Report) -> i32 {
    match report.code {
        None => 0,
        Some(ErrorCode::NoDataConnectivity) => 3,
        Some(ErrorCode::ConnectionError) => 4,
        Some(ErrorCode::RedirectError) => 5,
        Some(ErrorCode::SdkError) => 6,
        Some(ErrorCode::InvalidScheme) => 7,
        Some(ErrorCode::StateMismatch) => 9,
        Some(ErrorCode::InteractionRequired) => 10,
    }
}

/// Milliseconds since the Unix epoch as RFC 3339 in UTC (`2024-05-01T12:00:00.123Z`), for the
/// batch lines' `timestamp` and HAR's `startedDateTime`.
pub fn utc_timestamp(ms: u64) -> String {
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    // Days to a civil date (proleptic Gregorian), after H. Hinnant's published algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// The device step's monotonic clock as the engine sees it: milliseconds since the driver
/// started.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock(pub(crate) Instant);

impl Clock {
    pub(crate) fn now(&self) -> phonecheck_engine::Instant {
        phonecheck_engine::Instant::from_millis(self.0.elapsed().as_millis() as u64)
    }
    pub(crate) fn to_std(self, t: phonecheck_engine::Instant) -> Instant {
        self.0 + Duration::from_millis(t.as_millis())
    }
}

/// Creates and configures a session for `opts` in `slot`, over `buffers`. When it cannot start,
/// the buffers come back: with the error, or (a setting refused after creation) in the session
/// left in `slot`.
#[allow(clippy::type_complexity)]
pub(crate) fn start<'a, 's>(
    slot: &'s mut Option<Session<'a>>,
    buffers: phonecheck_engine::Buffers<'a>,
    opts: &CheckOptions,
    clock: Clock,
) -> Result<
    &'s mut Session<'a>,
    (
        phonecheck_engine::Error,
        Option<phonecheck_engine::Buffers<'a>>,
    ),
> {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok();
    start_at(slot, buffers, opts, clock.now(), wall)
}

/// [`start`] at a given engine time and wall clock (a recorder notes both).
#[allow(clippy::type_complexity)]
pub(crate) fn start_at<'a, 's>(
    slot: &'s mut Option<Session<'a>>,
    buffers: phonecheck_engine::Buffers<'a>,
    opts: &CheckOptions,
    start: phonecheck_engine::Instant,
    wall: Option<Duration>,
) -> Result<
    &'s mut Session<'a>,
    (
        phonecheck_engine::Error,
        Option<phonecheck_engine::Buffers<'a>>,
    ),
> {
    let session = Session::try_new_in(slot, buffers, opts.url.as_bytes(), opts.policy, start)
        .map_err(|(e, b)| (e, Some(b)))?;
    session.set_tls(opts.tls.clone());
    if let Some(d) = wall {
        session.set_wall_clock(phonecheck_engine::WallClock {
            at: start,
            unix_secs: d.as_secs(),
        });
    }
    if let Some(token) = &opts.access_token {
        session.set_access_token(token).map_err(|e| (e, None))?;
    }
    if let Some(prefix) = &opts.redirect_url {
        session.set_redirect_url(prefix).map_err(|e| (e, None))?;
    }
    if let Some(state) = &opts.expected_state {
        session.set_expected_state(state).map_err(|e| (e, None))?;
    }
    Ok(session)
}
