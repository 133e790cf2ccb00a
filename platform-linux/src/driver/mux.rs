//! The multiplexed driver: one thread runs many checks at once (test rigs run thousands a day
//! across many modems). Every check has its own `Session`, storage, deadlines and connection pool;
//! their sockets are polled together with `mio` (epoll).
//!
//! ```text
//!  jobs ──► up to C running checks ◄── storage pool (C × Hosted, reused via into_buffers)
//!              │ Session outputs
//!              ├─ Connect ──► DNS worker threads (Network::resolve may block) ──► mio Waker
//!              │             └─► non-blocking connect race (stagger, next address on failure)
//!              ├─ Transmit ─► write what the socket takes; the rest when it is writable again
//!              ├─ Wait ─────► the check's deadline joins the poll timeout
//!              └─ Done ─────► Report (on_done), storage back to the pool, next job starts
//!  mio::Poll ──► readable / writable / connected events, routed by token to (check, connection)
//! ```
//!
//! A check that fails, stalls or talks to a hostile server only ever touches its own state; the
//! loop never blocks on one check (DNS, the one blocking call, runs on worker threads). Running
//! out of file descriptors fails that connection with `TransportError::OutOfSockets` and the
//! other checks go on.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant as StdInstant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use phonecheck_engine::{
    Buffers, ConnId, ConnectionInfo, HopRecord, Hosted, Input, Output, Session, TransportError,
};

use super::{
    finish, start, CheckOptions, Clock, KeptHop, NetFailure, Network, Report, Resolved,
    CONNECTION_STAGGER,
};
use crate::net::socket::{classify, start_connect};

/// How many checks run at once, and how many threads answer DNS for them.
#[derive(Clone, Copy, Debug)]
pub struct MuxOptions {
    /// Checks in flight at once.
    pub concurrency: usize,
    /// DNS worker threads (`Network::resolve` may block until its deadline).
    pub dns_workers: usize,
}

impl Default for MuxOptions {
    fn default() -> Self {
        MuxOptions {
            concurrency: 100,
            dns_workers: 4,
        }
    }
}

const WAKER: Token = Token(0);

/// A name to resolve for one connection of one check.
struct DnsJob {
    slot: usize,
    serial: u64,
    conn: ConnId,
    network: Arc<dyn Network>,
    host: String,
    port: u16,
    deadline: StdInstant,
}

struct DnsDone {
    slot: usize,
    serial: u64,
    conn: ConnId,
    port: u16,
    took: Duration,
    result: Result<Resolved, NetFailure>,
}

enum ConnState {
    Resolving,
    Connecting {
        attempts: Vec<(TcpStream, SocketAddr, Token)>,
        next: Vec<SocketAddr>,
        next_start: StdInstant,
        dns: Option<Duration>,
        started: StdInstant,
        last_error: Option<NetFailure>,
    },
    Open {
        stream: TcpStream,
        token: Token,
        /// Bytes the session handed out that the socket has not taken yet.
        unsent: Vec<u8>,
    },
}

struct Conn {
    id: ConnId,
    state: ConnState,
}

struct Check<'a> {
    job: usize,
    /// Distinguishes this check from an earlier one in the same slot (late DNS answers).
    serial: u64,
    session: Session<'a>,
    opts: CheckOptions,
    clock: Clock,
    conns: Vec<Conn>,
    hops: Vec<KeptHop>,
    detail: Option<String>,
    /// The session's next deadline.
    wake: Option<StdInstant>,
}

impl Check<'_> {
    /// The connection failed: keep the OS-level story and tell the session.
    fn fail(&mut self, conn: ConnId, error: TransportError, detail: String) {
        self.detail = Some(detail);
        let now = self.clock.now();
        self.session
            .handle_input(now, Input::TransportFailed { conn, error });
    }
}

/// Runs every job, `concurrency` at a time, on this thread; `on_done` gets each report (with
/// the job's index) as its check ends, in the order they end.
pub fn run_many(
    jobs: &mut dyn Iterator<Item = CheckOptions>,
    options: MuxOptions,
    on_done: &mut dyn FnMut(usize, Report),
) -> io::Result<()> {
    let concurrency = options.concurrency.max(1);
    let mut storages: Vec<Box<Hosted>> = (0..concurrency).map(|_| Box::default()).collect();
    let mut free: Vec<Buffers<'_>> = storages.iter_mut().map(|s| s.buffers()).collect();

    let mut poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let (job_tx, job_rx) = channel::<DnsJob>();
    let (done_tx, done_rx) = channel::<DnsDone>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let workers: Vec<_> = (0..options.dns_workers.max(1))
        .map(|_| spawn_dns_worker(job_rx.clone(), done_tx.clone(), waker.clone()))
        .collect();
    drop(done_tx);

    let mut mux = Mux {
        checks: (0..concurrency).map(|_| None).collect(),
        tokens: HashMap::new(),
        next_token: 1,
        next_serial: 0,
        dns: job_tx,
        out: vec![0u8; 16 * 1024],
        rbuf: vec![0u8; 16 * 1024],
    };
    let mut events = Events::with_capacity(1024);
    let mut job_index = 0usize;
    let mut jobs_left = true;
    loop {
        // Start checks while there is room.
        while jobs_left && !free.is_empty() {
            let Some(opts) = jobs.next() else {
                jobs_left = false;
                break;
            };
            let index = job_index;
            job_index += 1;
            let Some(buffers) = free.pop() else { break };
            let Some(slot) = mux.checks.iter().position(Option::is_none) else {
                free.push(buffers);
                break;
            };
            let clock = Clock(StdInstant::now());
            let mut holder = None;
            if let Err((e, back)) = start(&mut holder, buffers, &opts, clock) {
                let label = opts.network.label();
                on_done(
                    index,
                    super::failure(e.code(), &e.to_string(), label.as_deref()),
                );
                // The storage goes back to the pool either way.
                match (back, holder.take()) {
                    (Some(b), _) => free.push(b),
                    (None, Some(s)) => free.push(s.into_buffers()),
                    (None, None) => {}
                }
                continue;
            }
            let Some(session) = holder else { continue };
            mux.next_serial += 1;
            let serial = mux.next_serial;
            if let Some(cell) = mux.checks.get_mut(slot) {
                *cell = Some(Check {
                    job: index,
                    serial,
                    session,
                    opts,
                    clock,
                    conns: Vec::new(),
                    hops: Vec::new(),
                    detail: None,
                    wake: None,
                });
            }
            mux.drive(slot, poll.registry(), &mut free, on_done);
        }
        if mux.checks.iter().all(Option::is_none) {
            break;
        }

        let now = StdInstant::now();
        let wake = mux
            .checks
            .iter()
            .flatten()
            .flat_map(|c| {
                c.wake
                    .into_iter()
                    .chain(c.conns.iter().filter_map(next_start))
            })
            .min();
        let timeout = wake.map(|w| w.saturating_duration_since(now));
        match poll.poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let mut touched = vec![false; mux.checks.len()];
        for event in events.iter() {
            if event.token() == WAKER {
                continue;
            }
            if let Some(&(slot, conn)) = mux.tokens.get(&event.token()) {
                mux.on_ready(slot, conn, event.token(), poll.registry());
                if let Some(t) = touched.get_mut(slot) {
                    *t = true;
                }
            }
        }
        while let Ok(done) = done_rx.try_recv() {
            let slot = done.slot;
            if mux.on_resolved(done, poll.registry()) {
                if let Some(t) = touched.get_mut(slot) {
                    *t = true;
                }
            }
        }
        // Checks with news, a passed deadline or a due connection attempt get a turn.
        let now = StdInstant::now();
        for (slot, &was_touched) in touched.iter().enumerate() {
            let Some(check) = mux.checks.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            let attempt_due = check
                .conns
                .iter()
                .any(|c| next_start(c).is_some_and(|t| now >= t));
            let deadline_passed = check.wake.is_some_and(|w| now >= w);
            if !(was_touched || attempt_due || deadline_passed) {
                continue;
            }
            for i in 0..check.conns.len() {
                let (tokens, next_token) = (&mut mux.tokens, &mut mux.next_token);
                start_due_attempts(check, i, now, poll.registry(), tokens, slot, next_token);
            }
            let count = check.conns.len();
            for i in (0..count).rev() {
                mux.settle_connect(slot, i);
            }
            let Some(check) = mux.checks.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            if deadline_passed {
                let t = check.clock.now();
                check.session.handle_input(t, Input::Timeout);
            }
            mux.drive(slot, poll.registry(), &mut free, on_done);
        }
    }
    drop(mux);
    for w in workers {
        let _ = w.join();
    }
    drop(free);
    drop(storages);
    Ok(())
}

fn next_start(conn: &Conn) -> Option<StdInstant> {
    match &conn.state {
        ConnState::Connecting {
            next, next_start, ..
        } if !next.is_empty() => Some(*next_start),
        _ => None,
    }
}

fn spawn_dns_worker(
    jobs: Arc<Mutex<Receiver<DnsJob>>>,
    done: Sender<DnsDone>,
    waker: Arc<Waker>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || loop {
        let job = {
            let Ok(rx) = jobs.lock() else { return };
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        let started = StdInstant::now();
        let result = job.network.resolve(&job.host, job.port, job.deadline);
        let answer = DnsDone {
            slot: job.slot,
            serial: job.serial,
            conn: job.conn,
            port: job.port,
            took: started.elapsed(),
            result,
        };
        if done.send(answer).is_err() {
            return;
        }
        let _ = waker.wake();
    })
}

/// Starts the connection attempts that are due: the first one, and each later address once the
/// stagger has passed or every earlier attempt has failed (RFC 8305).
#[allow(clippy::too_many_arguments)]
fn start_due_attempts(
    check: &mut Check<'_>,
    index: usize,
    now: StdInstant,
    registry: &mio::Registry,
    tokens: &mut HashMap<Token, (usize, ConnId)>,
    slot: usize,
    next_token: &mut usize,
) {
    let network = check.opts.network.clone();
    let Some(conn) = check.conns.get_mut(index) else {
        return;
    };
    let id = conn.id;
    let ConnState::Connecting {
        attempts,
        next,
        next_start,
        last_error,
        ..
    } = &mut conn.state
    else {
        return;
    };
    while !next.is_empty() && (attempts.is_empty() || now >= *next_start) {
        let addr = next.remove(0);
        let open = |family| network.tcp_socket(family);
        match start_connect(addr, &open) {
            Ok(socket) => {
                let mut stream = TcpStream::from_std(std::net::TcpStream::from(socket));
                let token = Token(*next_token);
                *next_token += 1;
                if let Err(e) = registry.register(&mut stream, token, Interest::WRITABLE) {
                    *last_error = Some(super::connect_failure(
                        network.as_ref(),
                        &e,
                        classify(&e),
                        &e,
                        &addr,
                    ));
                    continue;
                }
                tokens.insert(token, (slot, id));
                attempts.push((stream, addr, token));
                *next_start = now + CONNECTION_STAGGER;
            }
            Err(e) => {
                *last_error = Some(super::connect_failure(
                    network.as_ref(),
                    &e.source,
                    e.kind,
                    &e,
                    &addr,
                ));
            }
        }
    }
}

struct Mux<'a> {
    checks: Vec<Option<Check<'a>>>,
    tokens: HashMap<Token, (usize, ConnId)>,
    next_token: usize,
    next_serial: u64,
    dns: Sender<DnsJob>,
    out: Vec<u8>,
    rbuf: Vec<u8>,
}

impl<'a> Mux<'a> {
    /// Polls the check's session until it waits (or is done), doing what it asks.
    fn drive(
        &mut self,
        slot: usize,
        registry: &mio::Registry,
        free: &mut Vec<Buffers<'a>>,
        on_done: &mut dyn FnMut(usize, Report),
    ) {
        for _ in 0..100_000 {
            let Some(check) = self.checks.get_mut(slot).and_then(Option::as_mut) else {
                return;
            };
            let now = check.clock.now();
            match check.session.poll_output(&mut self.out) {
                Output::Connect {
                    conn, host, port, ..
                } => {
                    let host = host.to_string();
                    if let Err(f) = check.opts.network.ready() {
                        check.fail(conn, f.kind, f.detail);
                        continue;
                    }
                    let deadline = check
                        .session
                        .poll_timeout()
                        .map_or_else(StdInstant::now, |t| check.clock.to_std(t));
                    check.conns.push(Conn {
                        id: conn,
                        state: ConnState::Resolving,
                    });
                    // Literals and overrides need no worker: connect at once.
                    if let Some(resolved) = check.opts.network.resolve_without_query(&host, port) {
                        let done = DnsDone {
                            slot,
                            serial: check.serial,
                            conn,
                            port,
                            took: Duration::ZERO,
                            result: Ok(resolved),
                        };
                        self.on_resolved(done, registry);
                        continue;
                    }
                    let job = DnsJob {
                        slot,
                        serial: check.serial,
                        conn,
                        network: check.opts.network.clone(),
                        host,
                        port,
                        deadline,
                    };
                    if self.dns.send(job).is_err() {
                        check.session.handle_input(
                            now,
                            Input::TransportFailed {
                                conn,
                                error: TransportError::Other,
                            },
                        );
                    }
                }
                Output::Transmit { conn, len } => {
                    let bytes = self.out.get(..len).unwrap_or_default();
                    let Some(c) = check.conns.iter_mut().find(|c| c.id == conn) else {
                        check
                            .session
                            .handle_input(now, Input::Sent { conn, len: 0 });
                        continue;
                    };
                    let ConnState::Open { stream, unsent, .. } = &mut c.state else {
                        check
                            .session
                            .handle_input(now, Input::Sent { conn, len: 0 });
                        continue;
                    };
                    match stream.write(bytes) {
                        Ok(n) => check
                            .session
                            .handle_input(now, Input::Sent { conn, len: n }),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            // Held until the socket is writable again; the session waits.
                            unsent.clear();
                            unsent.extend_from_slice(bytes);
                            check.wake =
                                check.session.poll_timeout().map(|t| check.clock.to_std(t));
                            return;
                        }
                        Err(e) => check.fail(conn, classify(&e), format!("sending: {e}")),
                    }
                }
                Output::Close { conn } => {
                    if let Some(i) = check.conns.iter().position(|c| c.id == conn) {
                        let c = check.conns.swap_remove(i);
                        forget(c, registry, &mut self.tokens);
                    }
                }
                Output::Hop(record) => check.hops.push(keep(record)),
                Output::Wait { until } => {
                    check.wake = Some(check.clock.to_std(until));
                    return;
                }
                Output::Done(_) => {
                    let Some(check) = self.checks.get_mut(slot).and_then(Option::take) else {
                        return;
                    };
                    self.finish(check, registry, free, on_done);
                    return;
                }
            }
        }
    }

    fn finish(
        &mut self,
        check: Check<'a>,
        registry: &mio::Registry,
        free: &mut Vec<Buffers<'a>>,
        on_done: &mut dyn FnMut(usize, Report),
    ) {
        let Check {
            job,
            session,
            opts,
            clock,
            conns,
            hops,
            detail,
            ..
        } = check;
        for c in conns {
            forget(c, registry, &mut self.tokens);
        }
        let label = opts.network.label();
        let failed = session.outcome().is_some_and(|o| o.is_err());
        let mut extra: Vec<(&str, &str)> = Vec::new();
        if let (true, Some(detail)) = (failed, detail.as_deref()) {
            extra.push(("detail", detail));
        }
        if let Some(name) = label.as_deref() {
            extra.push(("interface", name));
        }
        let report = finish(
            &session,
            hops,
            opts.device_info.as_deref(),
            &extra,
            clock.0.elapsed(),
        );
        free.push(session.into_buffers());
        on_done(job, report);
    }

    /// A DNS answer: start connecting, or fail the connection.
    fn on_resolved(&mut self, done: DnsDone, registry: &mio::Registry) -> bool {
        let Some(check) = self.checks.get_mut(done.slot).and_then(Option::as_mut) else {
            return false;
        };
        if check.serial != done.serial {
            return false;
        }
        let Some(index) = check.conns.iter().position(|c| c.id == done.conn) else {
            return false;
        };
        match done.result {
            Ok(resolved) => {
                let now = StdInstant::now();
                if let Some(c) = check.conns.get_mut(index) {
                    c.state = ConnState::Connecting {
                        attempts: Vec::new(),
                        next: resolved
                            .addrs
                            .iter()
                            .map(|ip| SocketAddr::new(*ip, done.port))
                            .collect(),
                        next_start: now,
                        dns: resolved.queried.then_some(done.took),
                        started: now,
                        last_error: None,
                    };
                }
                start_due_attempts(
                    check,
                    index,
                    now,
                    registry,
                    &mut self.tokens,
                    done.slot,
                    &mut self.next_token,
                );
                self.settle_connect(done.slot, index);
            }
            Err(f) => {
                check.conns.swap_remove(index);
                check.fail(done.conn, f.kind, f.detail);
            }
        }
        true
    }

    /// A connection whose attempts all failed (and has no address left) fails in the session.
    fn settle_connect(&mut self, slot: usize, index: usize) {
        let Some(check) = self.checks.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let Some(conn) = check.conns.get(index) else {
            return;
        };
        let ConnState::Connecting {
            attempts,
            next,
            last_error,
            ..
        } = &conn.state
        else {
            return;
        };
        if !attempts.is_empty() || !next.is_empty() {
            return;
        }
        let failure = last_error.clone().unwrap_or(NetFailure {
            kind: TransportError::DnsFailed,
            detail: "no addresses to connect to".into(),
        });
        let id = conn.id;
        check.conns.swap_remove(index);
        check.fail(id, failure.kind, failure.detail);
    }

    /// A socket event: a connect finished (or failed), data or a close arrived, room to write.
    fn on_ready(&mut self, slot: usize, id: ConnId, token: Token, registry: &mio::Registry) {
        let Some(check) = self.checks.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let Some(index) = check.conns.iter().position(|c| c.id == id) else {
            return;
        };
        let connecting = matches!(
            check.conns.get(index).map(|c| &c.state),
            Some(ConnState::Connecting { .. })
        );
        if connecting {
            self.on_connect_event(slot, index, token, registry);
            return;
        }
        self.on_stream_event(slot, index);
    }

    fn on_connect_event(
        &mut self,
        slot: usize,
        index: usize,
        token: Token,
        registry: &mio::Registry,
    ) {
        let Some(check) = self.checks.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let Some(conn) = check.conns.get_mut(index) else {
            return;
        };
        let id = conn.id;
        let ConnState::Connecting {
            attempts,
            dns,
            started,
            last_error,
            ..
        } = &mut conn.state
        else {
            return;
        };
        let Some(at) = attempts.iter().position(|(_, _, t)| *t == token) else {
            return;
        };
        let (mut stream, addr, token) = attempts.swap_remove(at);
        match stream.take_error() {
            Ok(None) if stream.peer_addr().is_ok() => {
                // Connected: the other attempts are dropped.
                for (mut other, _, t) in attempts.drain(..) {
                    let _ = registry.deregister(&mut other);
                    self.tokens.remove(&t);
                }
                let _ = stream.set_nodelay(true);
                let info = ConnectionInfo {
                    remote: Some(addr),
                    local: stream.local_addr().ok(),
                    dns: *dns,
                    connect: Some(started.elapsed()),
                };
                let _ = registry.reregister(
                    &mut stream,
                    token,
                    Interest::READABLE | Interest::WRITABLE,
                );
                conn.state = ConnState::Open {
                    stream,
                    token,
                    unsent: Vec::new(),
                };
                let now = check.clock.now();
                check
                    .session
                    .handle_input(now, Input::Connected { conn: id, info });
                // Data may already be waiting (edge-triggered: no second event for it).
                self.on_stream_event(slot, index);
            }
            Ok(None) => {
                // Not connected yet (a spurious wake-up): keep waiting.
                attempts.push((stream, addr, token));
            }
            Ok(Some(e)) | Err(e) => {
                let _ = registry.deregister(&mut stream);
                self.tokens.remove(&token);
                *last_error = Some(super::connect_failure(
                    check.opts.network.as_ref(),
                    &e,
                    classify(&e),
                    &e,
                    &addr,
                ));
                // The next address starts now rather than after the stagger.
                if let ConnState::Connecting { next_start, .. } = &mut conn.state {
                    *next_start = StdInstant::now();
                }
                let now = StdInstant::now();
                let (tokens, next_token) = (&mut self.tokens, &mut self.next_token);
                start_due_attempts(check, index, now, registry, tokens, slot, next_token);
                self.settle_connect(slot, index);
            }
        }
    }

    /// Reads everything the socket has (edge-triggered), and writes what was held back.
    fn on_stream_event(&mut self, slot: usize, index: usize) {
        let Some(check) = self.checks.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let Some(conn) = check.conns.get_mut(index) else {
            return;
        };
        let id = conn.id;
        let ConnState::Open { stream, unsent, .. } = &mut conn.state else {
            return;
        };
        if !unsent.is_empty() {
            match stream.write(unsent) {
                Ok(n) => {
                    unsent.clear();
                    let now = check.clock.now();
                    check
                        .session
                        .handle_input(now, Input::Sent { conn: id, len: n });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    unsent.clear();
                    check.fail(id, classify(&e), format!("sending: {e}"));
                    return;
                }
            }
        }
        loop {
            // The session may have closed this connection while reading (a complete response
            // on a connection it does not keep).
            let Some(conn) = check.conns.iter_mut().find(|c| c.id == id) else {
                return;
            };
            let ConnState::Open { stream, .. } = &mut conn.state else {
                return;
            };
            let result = stream.read(&mut self.rbuf);
            let now = check.clock.now();
            match result {
                Ok(0) => {
                    check.session.handle_input(now, Input::Eof { conn: id });
                    return;
                }
                Ok(n) => {
                    let bytes = self.rbuf.get(..n).unwrap_or_default();
                    check
                        .session
                        .handle_input(now, Input::Received { conn: id, bytes });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    check.fail(id, classify(&e), format!("receiving: {e}"));
                    return;
                }
            }
        }
    }
}

fn keep(record: HopRecord<'_>) -> KeptHop {
    KeptHop {
        url: record.url.to_string(),
        info: record.info.clone(),
    }
}

/// Deregisters and drops a connection's sockets.
fn forget(conn: Conn, registry: &mio::Registry, tokens: &mut HashMap<Token, (usize, ConnId)>) {
    match conn.state {
        ConnState::Resolving => {}
        ConnState::Connecting { attempts, .. } => {
            for (mut s, _, t) in attempts {
                let _ = registry.deregister(&mut s);
                tokens.remove(&t);
            }
        }
        ConnState::Open {
            mut stream, token, ..
        } => {
            let _ = registry.deregister(&mut stream);
            tokens.remove(&token);
        }
    }
}
