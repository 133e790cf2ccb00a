//! The blocking driver: runs one engine `Session` over pinned sockets with `poll`, the real
//! monotonic clock for deadlines and the real wall clock for certificates.
//!
//! ```text
//!  Session ──Connect──► check interface ─► pinned DNS ─► connect race ──Connected / TransportFailed──┐
//!     ▲    ──Transmit─► write (poll POLLOUT) ─────────────────────────────────Sent──────────────────┤
//!     │    ──Wait─────► poll POLLIN until the deadline ── Received / Eof / Timeout ─────────────────┤
//!     └────────────────────────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! Every failure the session hears about keeps its OS-level detail here, so the envelope can say
//! exactly what went wrong (`detail`, an additive field).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::time::{Duration, Instant as StdInstant, SystemTime, UNIX_EPOCH};

use nix::poll::{poll, PollFd, PollFlags};
use phonecheck_engine::trace::HopRecord;
use phonecheck_engine::{
    ConnectionInfo, ErrorCode, Input, Instant, Output, Policy, Session, TlsSettings,
    TransportError, WallClock,
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

/// Runs a check. `device_info` adds the `debug` object; `on_hop` hears about each hop as it ends.
pub fn run_check(
    opts: &CheckOptions,
    device_info: Option<&[(&str, &str)]>,
    on_hop: &mut dyn FnMut(&HopRecord<{ phonecheck_engine::url::DEFAULT_URL_CAPACITY }>),
) -> Report {
    let clock = Clock(StdInstant::now());
    let start = clock.now();
    let session: Result<Session, _> = Session::new(opts.url.as_bytes(), opts.policy, start);
    let mut session = match session {
        Ok(s) => s,
        Err(e) => return failure(e.code(), &e.to_string(), None),
    };
    session = session.with_tls(opts.tls.clone());
    if let Ok(d) = SystemTime::now().duration_since(UNIX_EPOCH) {
        session = session.with_wall_clock(WallClock {
            at: start,
            unix_secs: d.as_secs(),
        });
    }
    if let Some(token) = &opts.access_token {
        session = match session.with_access_token(token) {
            Ok(s) => s,
            Err(e) => return failure(e.code(), &e.to_string(), None),
        };
    }
    if let Some(prefix) = &opts.redirect_url {
        session = match session.with_redirect_url(prefix) {
            Ok(s) => s,
            Err(e) => return failure(e.code(), &e.to_string(), None),
        };
    }

    let mut driver = Driver {
        opts,
        clock,
        conn: None,
        detail: None,
        reported: 0,
    };
    let mut out = vec![0u8; 32 * 1024];
    let mut rbuf = vec![0u8; 16 * 1024];
    loop {
        let output = session.poll_output(&mut out);
        let input = match output {
            Output::Connect { host, port, .. } => {
                let host = host.to_string();
                // DNS and connect block; they may not outlive the session's own deadline.
                let limit = session.poll_timeout().map(|t| clock.to_std(t));
                driver.connect(&host, port, limit)
            }
            Output::Transmit { len } => {
                driver.transmit(out.get(..len).unwrap_or_default(), session.poll_timeout())
            }
            Output::Close => {
                driver.conn = None;
                continue;
            }
            Output::Wait { until } => driver.wait(until, &mut rbuf),
            Output::Done(_) => break,
        };
        let now = clock.now();
        match input {
            Step::Connected(info) => session.handle_input(now, Input::Connected(info)),
            Step::Sent(n) => session.handle_input(now, Input::Sent(n)),
            Step::Received(n) => {
                session.handle_input(now, Input::Received(rbuf.get(..n).unwrap_or_default()))
            }
            Step::Eof => session.handle_input(now, Input::Eof),
            Step::Timeout => session.handle_input(now, Input::Timeout),
            Step::Failed(e) => session.handle_input(now, Input::TransportFailed(e)),
        }
        driver.report_hops(&session, on_hop);
    }
    driver.report_hops(&session, on_hop);
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
    conn: Option<Socket>,
    /// The OS-level story of the last failure.
    detail: Option<String>,
    /// Hops already reported to `on_hop`.
    reported: usize,
}

impl Driver<'_> {
    fn fail(&mut self, kind: TransportError, detail: String) -> Step {
        self.detail = Some(detail);
        Step::Failed(kind)
    }

    fn connect(&mut self, host: &str, port: u16, limit: Option<StdInstant>) -> Step {
        self.conn = None;
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
                self.conn = Some(c.socket);
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

    fn transmit(&mut self, bytes: &[u8], deadline: Option<Instant>) -> Step {
        let deadline = deadline.map_or_else(
            || StdInstant::now() + Duration::from_secs(5),
            |d| self.clock.to_std(d),
        );
        let Some(socket) = self.conn.as_ref() else {
            return self.fail(
                TransportError::ConnectionReset,
                "no connection to send on".into(),
            );
        };
        let mut sent = 0;
        while sent < bytes.len() {
            match (&*socket).write(bytes.get(sent..).unwrap_or_default()) {
                Ok(0) => {
                    return self.fail(TransportError::ConnectionReset, "send wrote nothing".into())
                }
                Ok(n) => sent += n,
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
        Step::Sent(sent)
    }

    fn wait(&mut self, until: Instant, rbuf: &mut [u8]) -> Step {
        let deadline = self.clock.to_std(until);
        let Some(socket) = self.conn.as_ref() else {
            std::thread::sleep(deadline.saturating_duration_since(StdInstant::now()));
            return Step::Timeout;
        };
        loop {
            match (&*socket).read(rbuf) {
                Ok(0) => return Step::Eof,
                Ok(n) => return Step::Received(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.fail(classify(&e), format!("receiving: {e}")),
            }
            if StdInstant::now() >= deadline {
                return Step::Timeout;
            }
            let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, poll_timeout(deadline)) {
                Ok(0) => return Step::Timeout,
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return self.fail(TransportError::Other, format!("poll: {e}")),
            }
        }
    }

    fn report_hops(
        &mut self,
        session: &Session,
        on_hop: &mut dyn FnMut(&HopRecord<{ phonecheck_engine::url::DEFAULT_URL_CAPACITY }>),
    ) {
        let hops = session.trace().hops();
        while let Some(hop) = hops.get(self.reported) {
            if hop.timings.total_ms.is_none() {
                break;
            }
            on_hop(hop);
            self.reported += 1;
        }
    }

    fn finish(&self, session: &Session, device_info: Option<&[(&str, &str)]>) -> Report {
        let mut buf = vec![0u8; 64 * 1024];
        let written = match session.write_envelope(&mut buf, device_info) {
            Ok(n) => Ok(n),
            Err(phonecheck_engine::envelope::EnvelopeError::BufferTooSmall { needed }) => {
                buf.resize(needed, 0);
                session.write_envelope(&mut buf, device_info)
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
