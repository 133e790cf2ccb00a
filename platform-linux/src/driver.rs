//! The blocking driver: runs one engine `Session` over pinned sockets with `poll`, the real
//! monotonic clock for deadlines and the real wall clock for certificates. The session keeps up
//! to `Policy::max_connections` connections open; the driver holds their sockets by `ConnId`
//! and polls them together.
//!
//! ```text
//!  Session ──Connect{conn}──► check interface ─► pinned DNS ─► connect race ──Connected / TransportFailed──┐
//!     ▲    ──Transmit{conn}─► write what the socket takes (poll POLLOUT) ──────────────Sent──────────────────┤
//!     │    ──Close{conn}────► drop the socket                                                                │
//!     │    ──Hop(record)────► keep it (debug object) and tell the caller (-v lines)                          │
//!     │    ──Wait───────────► poll every socket for POLLIN until the deadline ── Received / Eof / Timeout ──┤
//!     └──────────────────────────────────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! Every failure the session hears about keeps its OS-level detail here, so the envelope can say
//! exactly what went wrong (`detail`, an additive field).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::time::{Duration, Instant as StdInstant, SystemTime, UNIX_EPOCH};

use nix::poll::{poll, PollFd, PollFlags};
use phonecheck_engine::{
    ConnId, ConnectionInfo, ErrorCode, HopInfo, HopRecord, Hosted, Input, Instant, Output, Policy,
    Session, TlsSettings, TransportError, WallClock,
};
use serde_json::Value;
use socket2::Socket;

use crate::dns::{DnsError, Resolver};
use crate::socket::{classify, connect_race, poll_timeout, Binding, ConnectError};

/// Delay between starting connection attempts to successive addresses (RFC 8305 suggests 250 ms).
pub const CONNECTION_STAGGER: Duration = Duration::from_millis(250);

/// Everything one check needs.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// The `check_url`.
    pub url: String,
    /// Redirect rules, deadlines, limits.
    pub policy: Policy,
    /// Where sockets are pinned.
    pub binding: Binding,
    /// Pinned DNS.
    pub resolver: Resolver,
    /// TLS provider and roots.
    pub tls: TlsSettings,
    /// Bearer token for the first origin.
    pub access_token: Option<String>,
    /// Stop at a Location with this prefix.
    pub redirect_url: Option<String>,
}

/// The outcome of a check, ready for the edge.
#[derive(Clone, Debug)]
pub struct Report {
    /// The SDK-compatible envelope (with `debug` when asked for).
    pub envelope: Value,
    /// The error code, when the check failed.
    pub code: Option<ErrorCode>,
    /// The final status, when a final response arrived.
    pub http_status: Option<u16>,
}

/// Monotonic time as the engine sees it: milliseconds since the driver started.
#[derive(Clone, Copy, Debug)]
struct Clock(StdInstant);

impl Clock {
    fn now(&self) -> Instant {
        Instant::from_millis(self.0.elapsed().as_millis() as u64)
    }
    fn to_std(self, t: Instant) -> StdInstant {
        self.0 + Duration::from_millis(t.as_millis())
    }
}

/// The policy every Linux check starts from: `linux` in `User-Agent`, and cookie domains checked
/// against the public suffix list.
pub fn linux_policy() -> Policy {
    Policy {
        platform: "linux",
        public_suffix: Some(is_public_suffix),
        ..Policy::default()
    }
}

/// Whether `domain` is a public suffix (`com`, `co.uk`) by the `psl` crate's copy of the list.
/// Names under an unlisted top-level domain (`mno.test`) are not refused.
pub fn is_public_suffix(domain: &[u8]) -> bool {
    psl::suffix(domain).is_some_and(|s| s.is_known() && s.as_bytes().eq_ignore_ascii_case(domain))
}

/// A hop record the driver keeps for the `debug` object.
#[derive(Clone, Debug)]
pub struct KeptHop {
    /// The hop's URL.
    pub url: String,
    /// The rest of the record.
    pub info: HopInfo,
}

/// Runs a check. `device_info` adds the `debug` object; `on_hop` hears about each hop as it ends.
pub fn run_check(
    opts: &CheckOptions,
    device_info: Option<&[(&str, &str)]>,
    on_hop: &mut dyn FnMut(HopRecord<'_>),
) -> Report {
    let clock = Clock(StdInstant::now());
    let start = clock.now();
    let mut storage = Box::new(Hosted::new());
    let mut session = match Session::new(storage.buffers(), opts.url.as_bytes(), opts.policy, start)
    {
        Ok(s) => s,
        Err(e) => return failure(e.code(), &e.to_string(), None),
    };
    session.set_tls(opts.tls.clone());
    if let Ok(d) = SystemTime::now().duration_since(UNIX_EPOCH) {
        session.set_wall_clock(WallClock {
            at: start,
            unix_secs: d.as_secs(),
        });
    }
    if let Some(token) = &opts.access_token {
        if let Err(e) = session.set_access_token(token) {
            return failure(e.code(), &e.to_string(), None);
        }
    }
    if let Some(prefix) = &opts.redirect_url {
        if let Err(e) = session.set_redirect_url(prefix) {
            return failure(e.code(), &e.to_string(), None);
        }
    }

    let mut driver = Driver {
        opts,
        clock,
        sockets: Vec::new(),
        detail: None,
        hops: Vec::new(),
    };
    let mut out = vec![0u8; 16 * 1024];
    let mut rbuf = vec![0u8; 16 * 1024];
    loop {
        let output = session.poll_output(&mut out);
        let (conn, step) = match output {
            Output::Connect {
                conn, host, port, ..
            } => {
                let host = host.to_string();
                // DNS and connect block; they may not outlive the session's own deadline.
                let limit = session.poll_timeout().map(|t| clock.to_std(t));
                (conn, driver.connect(conn, &host, port, limit))
            }
            Output::Transmit { conn, len } => {
                let deadline = session.poll_timeout();
                (
                    conn,
                    driver.transmit(conn, out.get(..len).unwrap_or_default(), deadline),
                )
            }
            Output::Close { conn } => {
                driver.sockets.retain(|(c, _)| *c != conn);
                continue;
            }
            Output::Hop(record) => {
                on_hop(record);
                driver.hops.push(KeptHop {
                    url: record.url.to_string(),
                    info: record.info.clone(),
                });
                continue;
            }
            Output::Wait { until } => driver.wait(until, &mut rbuf),
            Output::Done(_) => break,
        };
        let now = clock.now();
        let input = match step {
            Step::Connected(info) => Input::Connected { conn, info },
            Step::Sent(len) => Input::Sent { conn, len },
            Step::Received(n) => Input::Received {
                conn,
                bytes: rbuf.get(..n).unwrap_or_default(),
            },
            Step::Eof => Input::Eof { conn },
            Step::Timeout => Input::Timeout,
            Step::Failed(error) => Input::TransportFailed { conn, error },
        };
        session.handle_input(now, input);
    }
    driver.finish(&session, device_info)
}

/// What the driver did in answer to one output.
enum Step {
    Connected(ConnectionInfo),
    Sent(usize),
    Received(usize),
    Eof,
    Timeout,
    Failed(TransportError),
}

struct Driver<'o> {
    opts: &'o CheckOptions,
    clock: Clock,
    /// The open connections' sockets.
    sockets: Vec<(ConnId, Socket)>,
    /// The OS-level story of the last failure.
    detail: Option<String>,
    /// The hop records, for the `debug` object.
    hops: Vec<KeptHop>,
}

impl Driver<'_> {
    fn fail(&mut self, kind: TransportError, detail: String) -> Step {
        self.detail = Some(detail);
        Step::Failed(kind)
    }

    fn socket(&self, conn: ConnId) -> Option<&Socket> {
        self.sockets
            .iter()
            .find(|(c, _)| *c == conn)
            .map(|(_, s)| s)
    }

    fn connect(&mut self, conn: ConnId, host: &str, port: u16, limit: Option<StdInstant>) -> Step {
        if let Binding::Interface(name) = &self.opts.binding {
            if let Some(problem) = interface_problem(name) {
                return self.fail(TransportError::NoDataConnectivity, problem);
            }
        }
        let timeouts = self.opts.policy.timeouts;
        let dns_started = StdInstant::now();
        let cap = |t: StdInstant| limit.map_or(t, |l| t.min(l));
        let resolved = match self
            .opts
            .resolver
            .resolve(host, port, cap(dns_started + timeouts.dns))
        {
            Ok(r) => r,
            Err(e) => {
                let kind = match &e {
                    DnsError::Timeout => TransportError::DnsTimeout,
                    DnsError::Socket(s) => s.kind,
                    _ => TransportError::DnsFailed,
                };
                return self.fail(kind, format!("resolving {host}: {e}"));
            }
        };
        let dns = dns_started.elapsed();
        let addrs: Vec<SocketAddr> = resolved
            .addrs
            .iter()
            .map(|ip| SocketAddr::new(*ip, port))
            .collect();
        let connect_started = StdInstant::now();
        match connect_race(
            &addrs,
            &self.opts.binding,
            CONNECTION_STAGGER,
            cap(connect_started + timeouts.connect),
        ) {
            Ok(c) => {
                let info = ConnectionInfo {
                    remote: Some(c.remote),
                    local: c.local,
                    dns: (resolved.server.is_some()).then_some(dns),
                    connect: Some(connect_started.elapsed()),
                };
                self.sockets.push((conn, c.socket));
                Step::Connected(info)
            }
            Err(ConnectError::Timeout) => self.fail(
                TransportError::ConnectTimeout,
                format!(
                    "connecting to {host}:{port} ({} addresses): timed out",
                    addrs.len()
                ),
            ),
            Err(ConnectError::Failed(e)) => {
                let kind = e.kind;
                self.fail(kind, format!("connecting to {host}:{port}: {e}"))
            }
        }
    }

    /// Writes what the socket takes now (waiting for room until the deadline); the session
    /// hands the rest out again.
    fn transmit(&mut self, conn: ConnId, bytes: &[u8], deadline: Option<Instant>) -> Step {
        let deadline = deadline.map_or_else(
            || StdInstant::now() + Duration::from_secs(5),
            |d| self.clock.to_std(d),
        );
        let Some(socket) = self.socket(conn) else {
            return self.fail(
                TransportError::ConnectionReset,
                "no connection to send on".into(),
            );
        };
        loop {
            match (&*socket).write(bytes) {
                Ok(0) if !bytes.is_empty() => {
                    return self.fail(TransportError::ConnectionReset, "send wrote nothing".into())
                }
                Ok(n) => return Step::Sent(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if StdInstant::now() >= deadline {
                        return Step::Timeout;
                    }
                    let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLOUT)];
                    let _ = poll(&mut fds, poll_timeout(deadline));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.fail(classify(&e), format!("sending: {e}")),
            }
        }
    }

    /// Waits for the first socket with something to read (or closed), or the deadline.
    fn wait(&mut self, until: Instant, rbuf: &mut [u8]) -> (ConnId, Step) {
        let deadline = self.clock.to_std(until);
        if self.sockets.is_empty() {
            std::thread::sleep(deadline.saturating_duration_since(StdInstant::now()));
            return (ConnId::default(), Step::Timeout);
        }
        loop {
            for i in 0..self.sockets.len() {
                let Some((conn, socket)) = self.sockets.get(i) else {
                    continue;
                };
                let conn = *conn;
                match (&*socket).read(rbuf) {
                    Ok(0) => return (conn, Step::Eof),
                    Ok(n) => return (conn, Step::Received(n)),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        return (conn, self.fail(classify(&e), format!("receiving: {e}")));
                    }
                }
            }
            if StdInstant::now() >= deadline {
                return (ConnId::default(), Step::Timeout);
            }
            let mut fds: Vec<PollFd<'_>> = self
                .sockets
                .iter()
                .map(|(_, s)| PollFd::new(s.as_fd(), PollFlags::POLLIN))
                .collect();
            match poll(&mut fds, poll_timeout(deadline)) {
                Ok(0) => return (ConnId::default(), Step::Timeout),
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => {
                    return (
                        ConnId::default(),
                        self.fail(TransportError::Other, format!("poll: {e}")),
                    )
                }
            }
        }
    }

    fn finish(&self, session: &Session<'_>, device_info: Option<&[(&str, &str)]>) -> Report {
        let records: Vec<HopRecord<'_>> = self
            .hops
            .iter()
            .map(|h| HopRecord {
                url: &h.url,
                info: &h.info,
            })
            .collect();
        let write = |buf: &mut [u8]| match device_info {
            Some(info) => session.write_debug_envelope(buf, records.as_slice(), info),
            None => session.write_envelope(buf),
        };
        let mut buf = vec![0u8; 64 * 1024];
        let written = match write(&mut buf) {
            Ok(n) => Ok(n),
            Err(phonecheck_engine::envelope::EnvelopeError::BufferTooSmall { needed }) => {
                buf.resize(needed, 0);
                write(&mut buf)
            }
            Err(e) => Err(e),
        };
        let mut envelope: Value = written
            .ok()
            .and_then(|n| serde_json::from_slice(buf.get(..n).unwrap_or_default()).ok())
            .unwrap_or_else(|| serde_json::json!({"error": "sdk_error", "error_description": "could not write the result"}));
        let outcome = session.outcome();
        let (code, http_status) = match &outcome {
            Some(Ok(done)) => (None, Some(done.http_status)),
            Some(Err(e)) => (Some(e.code()), None),
            None => (Some(ErrorCode::SdkError), None),
        };
        if let (Some(Err(_)), Some(detail), Some(map)) =
            (&outcome, &self.detail, envelope.as_object_mut())
        {
            map.insert("detail".into(), Value::String(detail.clone()));
        }
        if let (Some(name), Some(map)) = (self.opts.binding.interface(), envelope.as_object_mut()) {
            map.insert("interface".into(), Value::String(name.to_string()));
        }
        Report {
            envelope,
            code,
            http_status,
        }
    }
}

/// Why the interface cannot carry traffic right now, if it cannot.
pub fn interface_problem(name: &str) -> Option<String> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return None;
    };
    let mut seen = false;
    let mut up = false;
    for a in addrs.filter(|a| a.interface_name == name) {
        seen = true;
        up |= a.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP);
    }
    match (seen, up) {
        (false, _) => Some(format!("interface {name} does not exist")),
        (true, false) => Some(format!("interface {name} is down")),
        _ => None,
    }
}

/// A failure envelope for problems found before a session could start.
pub fn failure(code: ErrorCode, description: &str, interface: Option<&str>) -> Report {
    let mut envelope = serde_json::json!({
        "error": code.as_str(),
        "error_description": description,
    });
    if let (Some(name), Some(map)) = (interface, envelope.as_object_mut()) {
        map.insert("interface".into(), Value::String(name.to_string()));
    }
    Report {
        envelope,
        code: Some(code),
        http_status: None,
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_suffixes_come_from_the_list() {
        assert!(is_public_suffix(b"com"));
        assert!(is_public_suffix(b"co.uk"));
        assert!(!is_public_suffix(b"mno.co.uk"));
        assert!(!is_public_suffix(b"mno.test"));
        assert!(linux_policy().public_suffix.is_some());
    }
}
