//! The blocking driver: runs one engine `Session` on the calling thread, over sockets from the
//! [`Network`](super::Network), with `poll`, the real monotonic clock for deadlines and the real wall clock for
//! certificates. The session keeps up to `Policy::max_connections` connections open; the driver
//! holds their sockets by `ConnId` and polls them together.
//!
//! ```text
//!  Session ──Connect{conn}──► network ready? ─► resolve ─► connect race ──Connected / TransportFailed──┐
//!     ▲    ──Transmit{conn}─► write what the socket takes (poll POLLOUT) ────────────Sent────────────────┤
//!     │    ──Close{conn}────► drop the socket                                                          │
//!     │    ──Hop(record)────► keep it (debug object) and tell the caller (-v lines)                    │
//!     │    ──Wait───────────► poll every socket for POLLIN until the deadline ── Received / Eof / Timeout
//!     └────────────────────────────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! Every failure the session hears about keeps its OS-level detail here, so the envelope can say
//! exactly what went wrong (`detail`, an additive member).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::time::{Duration, Instant as StdInstant};

use nix::poll::{poll, PollFd, PollFlags};
use phonecheck_engine::{
    ConnId, ConnectionInfo, HopRecord, Hosted, Input, Instant, Output, Tap, TransportError,
};
use socket2::Socket;

use super::record::{Recorder, TRANSMIT_BUFFER};
use super::{finish, start_at, CheckOptions, Clock, KeptHop, Report, CONNECTION_STAGGER};
use crate::net::socket::{classify, connect_race, poll_timeout, ConnectError};

/// Runs one check; `on_hop` hears about each hop as it ends.
pub fn run_check(opts: &CheckOptions, on_hop: &mut dyn FnMut(HopRecord<'_>)) -> Report {
    run_check_with_tap(opts, on_hop, None)
}

/// [`run_check`], with `tap` shown every request and response head (`-vv`).
pub fn run_check_with_tap(
    opts: &CheckOptions,
    on_hop: &mut dyn FnMut(HopRecord<'_>),
    tap: Option<&mut (dyn FnMut(Tap<'_>) + Send)>,
) -> Report {
    run(opts, on_hop, tap, None)
}

/// [`run_check_with_tap`], with every output, input and tap event copied into `recorder`
/// (then [`Recorder::finish`] gives the recording). What goes on the wire is the same.
pub fn run_check_recorded(
    opts: &CheckOptions,
    on_hop: &mut dyn FnMut(HopRecord<'_>),
    tap: Option<&mut (dyn FnMut(Tap<'_>) + Send)>,
    recorder: &mut Recorder,
) -> Report {
    run(opts, on_hop, tap, Some(recorder))
}

fn run(
    opts: &CheckOptions,
    on_hop: &mut dyn FnMut(HopRecord<'_>),
    mut tap: Option<&mut (dyn FnMut(Tap<'_>) + Send)>,
    mut rec: Option<&mut Recorder>,
) -> Report {
    let clock = Clock(StdInstant::now());
    // The session has one tap: the recorder's sink and the caller's share it.
    let sink = rec.as_ref().map(|r| r.sink());
    let tapping = sink.is_some() || tap.is_some();
    let mut both = move |t: Tap<'_>| {
        if let Some(sink) = &sink {
            sink.push(t);
        }
        if let Some(tap) = tap.as_mut() {
            tap(t);
        }
    };
    let mut storage = Box::new(Hosted::new());
    let mut slot = None;
    let begun = clock.now();
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok();
    let session = match start_at(&mut slot, storage.buffers(), opts, begun, wall) {
        Ok(s) => s,
        Err((e, _)) => {
            let label = opts.network.label();
            let report = super::failure(e.code(), &e.to_string(), label.as_deref());
            if let Some(r) = rec {
                let extra: Vec<(&str, &str)> = label
                    .as_deref()
                    .map(|l| ("interface", l))
                    .into_iter()
                    .collect();
                r.started(begun, wall.map(|d| d.as_millis() as u64));
                r.end(&report.envelope, &extra);
            }
            return report;
        }
    };
    if tapping {
        session.set_tap(&mut both);
    }
    if let Some(r) = rec.as_deref_mut() {
        r.started(begun, wall.map(|d| d.as_millis() as u64));
    }
    let mut driver = Driver {
        opts,
        clock,
        sockets: Vec::new(),
        detail: None,
        hops: Vec::new(),
        failed_dns: (ConnId::default(), None),
    };
    let mut out = vec![0u8; TRANSMIT_BUFFER];
    let mut rbuf = vec![0u8; 16 * 1024];
    loop {
        let output = session.poll_output(&mut out);
        if let Some(r) = rec.as_deref_mut() {
            r.output(&output, &out);
        }
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
                let mut info = record.info.clone();
                // A hop whose connection failed has no Connected, so the engine never heard how
                // long the name took: the driver knows.
                if info.timings.dns_ms.is_none() && info.conn == driver.failed_dns.0 {
                    info.timings.dns_ms = driver.failed_dns.1;
                }
                on_hop(HopRecord {
                    url: record.url,
                    info: &info,
                });
                driver.hops.push(KeptHop {
                    url: record.url.to_string(),
                    info,
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
        if let Some(r) = rec.as_deref_mut() {
            let dns = (driver.failed_dns.0 == conn).then_some(driver.failed_dns.1);
            // Recorded before it is applied: the taps it causes follow it.
            r.input(now, &input, dns.flatten());
        }
        session.handle_input(now, input);
        if let Some(r) = rec.as_deref_mut() {
            r.taps();
        }
    }
    let label = opts.network.label();
    let failed = session.outcome().is_some_and(|o| o.is_err());
    let mut extra: Vec<(&str, &str)> = Vec::new();
    if let (true, Some(detail)) = (failed, driver.detail.as_deref()) {
        extra.push(("detail", detail));
    }
    if let Some(name) = label.as_deref() {
        extra.push(("interface", name));
    }
    let hops = std::mem::take(&mut driver.hops);
    let report = finish(
        session,
        hops,
        opts.device_info.as_deref(),
        &extra,
        clock.0.elapsed(),
    );
    if let Some(r) = rec {
        r.end(&report.envelope, &extra);
    }
    report
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
    /// The connection whose name resolution failed, and how long it took (ms).
    failed_dns: (ConnId, Option<u32>),
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
        let network = &self.opts.network;
        if let Err(f) = network.ready() {
            return self.fail(f.kind, f.detail);
        }
        let timeouts = self.opts.policy.timeouts;
        let dns_started = StdInstant::now();
        let cap = |t: StdInstant| limit.map_or(t, |l| t.min(l));
        let resolved = match network.resolve(host, port, cap(dns_started + timeouts.dns)) {
            Ok(r) => r,
            Err(f) => {
                let took = dns_started.elapsed();
                self.failed_dns = (conn, Some(took.as_millis().min(u32::MAX as u128) as u32));
                return self.fail(
                    f.kind,
                    format!("{} (after {} ms)", f.detail, took.as_millis()),
                );
            }
        };
        let dns = dns_started.elapsed();
        let addrs: Vec<SocketAddr> = resolved
            .addrs
            .iter()
            .map(|ip| SocketAddr::new(*ip, port))
            .collect();
        let connect_started = StdInstant::now();
        let open = |family| network.tcp_socket(family);
        match connect_race(
            &addrs,
            &open,
            CONNECTION_STAGGER,
            cap(connect_started + timeouts.connect),
        ) {
            Ok(c) => {
                let info = ConnectionInfo {
                    remote: Some(c.remote),
                    local: c.local,
                    dns: resolved.queried.then_some(dns),
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
                let target = format!("{host}:{port}");
                let f = super::connect_failure(network.as_ref(), &e.source, e.kind, &e, &target);
                self.fail(f.kind, f.detail)
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
}
