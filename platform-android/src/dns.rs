//! Name resolution over the cellular network, in the order Android allows:
//! `android_res_nquery` (API 29) first, because it returns the DNS response code, then
//! `android_getaddrinfofornetwork` (API 23) when the first is missing or fails locally. Both run
//! under the caller's deadline.
//!
//! ```text
//!  host ─► IP literal? ─► res_nquery A + AAAA ─► poll both fds until the deadline ─► res_nresult
//!                           │ unavailable (API < 29),                 │ first addresses: wait
//!                           │ or a local error (not the network's,    │ 50 ms for the other
//!                           │ not a timeout)                          ▼ family, cancel the rest
//!                           └─► getaddrinfofornetwork on a worker thread, waited for until
//!                               the deadline (it has no timeout of its own)
//!  addresses: IPv6 and IPv4 interleaved, IPv6 first (RFC 8305)
//! ```
//!
//! `getaddrinfofornetwork` folds nearly every DNS failure into `EAI_NODATA`, so a failure there
//! says "did not resolve" and no more; `res_nquery` tells NXDOMAIN from SERVFAIL from no records.
//! Neither path ever asks the default network: both name the handle.

use std::ffi::CString;
use std::fmt;
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use phonecheck_linux::net::dns::parse_answer;
use phonecheck_linux::net::socket::poll_readable;
use simple_dns::TYPE;

use crate::ndk::{DnsQuery, Errno, GaiError, Ndk, NetHandle, QueryError};

/// After the first usable answer, how long to wait for the other family (RFC 8305 §3).
const RESOLUTION_DELAY: Duration = Duration::from_millis(50);

/// Room for one answer: the largest DNS message (TCP framing allows 65 535 bytes).
const ANSWER_ROOM: usize = 65_535;

/// Which call produced the addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// No query: the host is an IP literal.
    Literal,
    /// `android_res_nquery` / `android_res_nresult`.
    ResNquery,
    /// `android_getaddrinfofornetwork`, after res_nquery was missing or failed locally.
    Getaddrinfo,
}

impl Via {
    /// The NDK call's name, for traces.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Literal => "literal",
            Via::ResNquery => "android_res_nquery",
            Via::Getaddrinfo => "android_getaddrinfofornetwork",
        }
    }
}

/// A successful lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lookup {
    /// Addresses in connect order.
    pub addrs: Vec<IpAddr>,
    /// The call that found them.
    pub via: Via,
}

/// Why a name did not resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsFailure {
    /// The name cannot be asked for (it contains a NUL byte).
    BadName,
    /// res_nquery's answer carried this error response code (3 NXDOMAIN, 2 SERVFAIL, 5 REFUSED).
    Rcode(u8),
    /// The name exists but has no A or AAAA records.
    NoRecords,
    /// No answer before the deadline; `via` was still waiting.
    Timeout {
        /// The call that was still waiting.
        via: Via,
    },
    /// res_nquery failed with this errno and there was no fallback for it (a network error,
    /// or no time left).
    Query(Errno),
    /// The getaddrinfo fallback failed.
    Getaddrinfo(GaiError),
    /// getaddrinfo was not asked: this many earlier lookups are still blocked in it past their
    /// deadlines (each holds a thread), so DNS over this network is not answering.
    TooManyHanging(usize),
    /// The getaddrinfo worker thread ended without an answer (it panicked).
    WorkerLost,
}

impl DnsFailure {
    /// Whether the failure is the deadline's.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            DnsFailure::Timeout { .. } | DnsFailure::TooManyHanging(_)
        )
    }
}

impl fmt::Display for DnsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsFailure::BadName => f.write_str("the host name contains a NUL byte"),
            DnsFailure::Rcode(3) => f.write_str(
                "the name does not exist (NXDOMAIN from the cellular network's DNS server)",
            ),
            DnsFailure::Rcode(code) => write!(
                f,
                "the cellular network's DNS server answered with an error (rcode {code}{})",
                match code {
                    2 => " SERVFAIL",
                    5 => " REFUSED",
                    _ => "",
                }
            ),
            DnsFailure::NoRecords => f.write_str("the name has no A or AAAA records"),
            DnsFailure::Timeout { via } => write!(
                f,
                "no DNS answer over the cellular network before the deadline ({})",
                via.as_str()
            ),
            DnsFailure::Query(e) => write!(f, "android_res_nquery failed: {e}"),
            DnsFailure::Getaddrinfo(GaiError::NoData) => f.write_str(
                "the name did not resolve over the cellular network (android_getaddrinfofornetwork: \
                 EAI_NODATA, which Android gives for any DNS failure: no such name, no records, \
                 a server failure or a timeout)",
            ),
            DnsFailure::TooManyHanging(n) => write!(
                f,
                "{n} earlier android_getaddrinfofornetwork calls are still blocked past their \
                 deadlines; DNS over the cellular network is not answering"
            ),
            DnsFailure::WorkerLost => f.write_str(
                "the getaddrinfo worker thread ended without an answer (a bug; please report it)",
            ),
            DnsFailure::Getaddrinfo(e) => {
                write!(f, "android_getaddrinfofornetwork failed: {e}")
            }
        }
    }
}

/// Resolves `host` over `network` before `deadline`.
pub fn resolve(
    ndk: &Arc<dyn Ndk>,
    network: NetHandle,
    host: &str,
    deadline: Instant,
) -> Result<Lookup, DnsFailure> {
    if let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Ok(Lookup {
            addrs: vec![ip],
            via: Via::Literal,
        });
    }
    let name = CString::new(host).map_err(|_| DnsFailure::BadName)?;
    match nquery(ndk.as_ref(), network, &name, host, deadline) {
        Step::Done(result) => result,
        Step::FallBack => getaddrinfo(ndk, network, name, deadline),
    }
}

enum Step {
    Done(Result<Lookup, DnsFailure>),
    FallBack,
}

/// Whether a res_nquery errno is the network's (or the deadline's), which getaddrinfo would
/// only repeat, rather than the call's own.
fn final_errno(e: Errno) -> bool {
    matches!(
        e,
        Errno::ENONET
            | Errno::EPERM
            | Errno::EACCES
            | Errno::ENETDOWN
            | Errno::ENETUNREACH
            | Errno::ETIMEDOUT
    )
}

/// A query that is cancelled unless it was finished.
struct Pending<'n> {
    ndk: &'n dyn Ndk,
    query: Option<DnsQuery>,
    qtype: TYPE,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if let Some(q) = self.query.take() {
            self.ndk.res_cancel(q);
        }
    }
}

/// What one family's query came to.
#[derive(Debug)]
enum Answered {
    Addrs(Vec<IpAddr>),
    Rcode(u8),
    Failed(Errno),
}

fn nquery(
    ndk: &dyn Ndk,
    network: NetHandle,
    name: &CString,
    host: &str,
    deadline: Instant,
) -> Step {
    let mut pending = Vec::new();
    let mut start_error = None;
    for qtype in [TYPE::A, TYPE::AAAA] {
        match ndk.res_nquery(network, name, u16::from(qtype), 0) {
            Ok(q) => pending.push(Pending {
                ndk,
                query: Some(q),
                qtype,
            }),
            Err(QueryError::Unavailable) => return Step::FallBack,
            Err(QueryError::Os(e)) => start_error = Some(e),
        }
    }
    if pending.is_empty() {
        return after_errno(start_error);
    }
    let mut answers: Vec<Answered> = Vec::new();
    let mut stop_at = deadline;
    let mut buf = vec![0u8; ANSWER_ROOM];
    while pending.iter().any(|p| p.query.is_some()) && Instant::now() < stop_at {
        let fds: Vec<_> = pending
            .iter()
            .filter_map(|p| p.query.as_ref())
            .map(|q| q.as_fd())
            .collect();
        let ready = match poll_readable(&fds, stop_at) {
            Ok(Some(ready)) => ready,
            Ok(None) => break,
            Err(Errno::EINTR) => continue,
            Err(e) => return Step::Done(Err(DnsFailure::Query(e))),
        };
        let mut ready = ready.into_iter();
        for p in pending.iter_mut().filter(|p| p.query.is_some()) {
            if !ready.next().unwrap_or(false) {
                continue;
            }
            let Some(query) = p.query.take() else {
                continue;
            };
            let answered = match ndk.res_nresult(query, &mut buf) {
                Ok(reply) if reply.rcode != 0 => Answered::Rcode(reply.rcode),
                Ok(reply) => {
                    let bytes = buf.get(..reply.len).unwrap_or_default();
                    let addrs = parse_answer(bytes, host, p.qtype)
                        .map(|a| a.addrs)
                        .unwrap_or_default();
                    if !addrs.is_empty() {
                        stop_at = stop_at.min(Instant::now() + RESOLUTION_DELAY);
                    }
                    Answered::Addrs(addrs)
                }
                Err(e) => Answered::Failed(e),
            };
            answers.push(answered);
        }
    }
    let still_waiting = pending.iter().any(|p| p.query.is_some());
    drop(pending);
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for a in &answers {
        if let Answered::Addrs(addrs) = a {
            for ip in addrs {
                if ip.is_ipv6() {
                    v6.push(*ip);
                } else {
                    v4.push(*ip);
                }
            }
        }
    }
    if !v4.is_empty() || !v6.is_empty() {
        return Step::Done(Ok(Lookup {
            addrs: interleave(v6, v4),
            via: Via::ResNquery,
        }));
    }
    // NXDOMAIN says the most, then another error code, then "no records".
    let rcodes: Vec<u8> = answers
        .iter()
        .filter_map(|a| match a {
            Answered::Rcode(c) => Some(*c),
            _ => None,
        })
        .collect();
    if rcodes.contains(&3) {
        return Step::Done(Err(DnsFailure::Rcode(3)));
    }
    if let Some(&code) = rcodes.first() {
        return Step::Done(Err(DnsFailure::Rcode(code)));
    }
    // "No records" only when both families were asked: one that could not even be asked
    // (a local errno) leaves it to getaddrinfo, which asks both.
    if answers.iter().any(|a| matches!(a, Answered::Addrs(_)))
        && !still_waiting
        && start_error.is_none()
    {
        return Step::Done(Err(DnsFailure::NoRecords));
    }
    if still_waiting || Instant::now() >= deadline {
        return Step::Done(Err(DnsFailure::Timeout {
            via: Via::ResNquery,
        }));
    }
    let errno = answers.iter().find_map(|a| match a {
        Answered::Failed(e) => Some(*e),
        _ => None,
    });
    after_errno(errno.or(start_error))
}

/// Where a res_nquery errno leads: Android's resolver giving up is a timeout (as the deadline
/// would be), the network's errors end the lookup, the call's own go to getaddrinfo.
fn after_errno(e: Option<Errno>) -> Step {
    match e {
        Some(Errno::ETIMEDOUT) => Step::Done(Err(DnsFailure::Timeout {
            via: Via::ResNquery,
        })),
        Some(e) if final_errno(e) => Step::Done(Err(DnsFailure::Query(e))),
        _ => Step::FallBack,
    }
}

/// getaddrinfo lookups that may be blocked at once past their deadlines.
const MAX_HANGING_LOOKUPS: usize = 16;

/// getaddrinfo has no timeout of its own: it runs on a thread of its own and is waited for
/// until the deadline; a late answer is dropped with the thread.
fn getaddrinfo(
    ndk: &Arc<dyn Ndk>,
    network: NetHandle,
    name: CString,
    deadline: Instant,
) -> Result<Lookup, DnsFailure> {
    /// Worker threads still inside getaddrinfo; a lookup past its deadline keeps its thread
    /// until Android gives up, so a DNS server that never answers must not pile them up.
    static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
    struct InFlight;
    impl Drop for InFlight {
        fn drop(&mut self) {
            IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
        }
    }
    let running = IN_FLIGHT.fetch_add(1, Ordering::Relaxed);
    let in_flight = InFlight;
    if running >= MAX_HANGING_LOOKUPS {
        return Err(DnsFailure::TooManyHanging(running));
    }
    let (tx, rx) = mpsc::channel();
    let worker_ndk = Arc::clone(ndk);
    let spawned = std::thread::Builder::new()
        .name("phonecheck-getaddrinfo".into())
        .spawn(move || {
            let _held = in_flight;
            let _ = tx.send(worker_ndk.getaddrinfo_for_network(network, &name));
        });
    if spawned.is_err() {
        return Err(DnsFailure::Query(Errno::EAGAIN));
    }
    let left = deadline.saturating_duration_since(Instant::now());
    match rx.recv_timeout(left) {
        Ok(Ok(addrs)) if addrs.is_empty() => Err(DnsFailure::NoRecords),
        Ok(Ok(addrs)) => {
            let (v6, v4): (Vec<IpAddr>, Vec<IpAddr>) = addrs.into_iter().partition(|a| a.is_ipv6());
            Ok(Lookup {
                addrs: interleave(dedup(v6), dedup(v4)),
                via: Via::Getaddrinfo,
            })
        }
        Ok(Err(e)) => Err(DnsFailure::Getaddrinfo(e)),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(DnsFailure::Timeout {
            via: Via::Getaddrinfo,
        }),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(DnsFailure::WorkerLost),
    }
}

/// getaddrinfo lists an address once per socket type asked for; one is enough here.
fn dedup(addrs: Vec<IpAddr>) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::with_capacity(addrs.len());
    for a in addrs {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// IPv6 and IPv4 alternately, IPv6 first (RFC 8305 §4).
fn interleave(v6: Vec<IpAddr>, v4: Vec<IpAddr>) -> Vec<IpAddr> {
    let mut out = Vec::with_capacity(v6.len() + v4.len());
    let (mut a, mut b) = (v6.into_iter(), v4.into_iter());
    loop {
        match (a.next(), b.next()) {
            (None, None) => return out,
            (x, y) => out.extend(x.into_iter().chain(y)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_alternate_starting_with_ipv6() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let out = interleave(
            vec![ip("2001:db8::1"), ip("2001:db8::2")],
            vec![ip("192.0.2.1")],
        );
        assert_eq!(out, [ip("2001:db8::1"), ip("192.0.2.1"), ip("2001:db8::2")]);
        assert_eq!(dedup(vec![ip("192.0.2.1"), ip("192.0.2.1")]).len(), 1);
    }

    #[test]
    fn network_errnos_end_the_lookup_and_local_ones_fall_back() {
        assert!(final_errno(Errno::ENONET));
        assert!(final_errno(Errno::EPERM));
        assert!(final_errno(Errno::ETIMEDOUT));
        assert!(!final_errno(Errno::EIO));
        assert!(!final_errno(Errno::ENOSYS));
    }

    #[test]
    fn android_resolver_timeouts_are_timeouts_and_not_retried() {
        use crate::standin::{Api29, StandIn, StandInNetwork};
        let standin = Arc::new(StandIn::new());
        let h = NetHandle(5);
        standin.add(h, StandInNetwork::new("lo", Vec::new()));
        standin.set_api29(Api29::Failing(Errno::ETIMEDOUT));
        let ndk: Arc<dyn Ndk> = standin.clone();
        let deadline = Instant::now() + std::time::Duration::from_secs(2);
        let failure = resolve(&ndk, h, "operator.test", deadline).unwrap_err();
        assert_eq!(
            failure,
            DnsFailure::Timeout {
                via: Via::ResNquery
            }
        );
        assert!(failure.is_timeout());
        assert!(
            standin
                .calls()
                .iter()
                .all(|c| c.function != "android_getaddrinfofornetwork"),
            "{:?}",
            standin.calls()
        );
    }

    #[test]
    fn failures_say_what_android_said() {
        assert!(DnsFailure::Rcode(3).to_string().contains("NXDOMAIN"));
        assert!(DnsFailure::Rcode(2).to_string().contains("SERVFAIL"));
        assert!(DnsFailure::Getaddrinfo(GaiError::NoData)
            .to_string()
            .contains("EAI_NODATA"));
    }
}
