//! Sockets pinned to the mobile data interface, and the connect race over them.
//!
//! Every socket is created, pinned with `SO_BINDTODEVICE` exactly once, and only then connected
//! or used. Since Linux 5.7 pinning a fresh socket needs no capability; the kernel then routes
//! the socket's traffic only through that device, so a cellular default route with a worse metric
//! than Wi-Fi still carries it. A socket that cannot be pinned is an error: there is no unpinned
//! fallback. [`Binding::Unpinned`] exists for development only and the CLI says so loudly.
//!
//! ```text
//!  addresses (v6, v4, v6, ...)  ──► start connect #1 ──(stagger)──► start connect #2 ...
//!                                        │                              │
//!                                        └────── first to finish wins ◄─┘   (others dropped)
//! ```

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use phonecheck_engine::TransportError;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// How sockets are bound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Binding {
    /// Pinned to this interface with `SO_BINDTODEVICE`.
    Interface(String),
    /// Not pinned: the system's routing decides. Development only.
    Unpinned,
}

impl Binding {
    /// The interface name, when pinned.
    pub fn interface(&self) -> Option<&str> {
        match self {
            Binding::Interface(name) => Some(name),
            Binding::Unpinned => None,
        }
    }
}

/// A socket failure with the errno that caused it, mapped to what the engine understands.
#[derive(Debug)]
pub struct SocketError {
    /// The engine's view.
    pub kind: TransportError,
    /// The underlying error.
    pub source: io::Error,
    /// What was being done.
    pub during: &'static str,
}

impl std::fmt::Display for SocketError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} during {}: {}", self.kind, self.during, self.source)
    }
}

impl std::error::Error for SocketError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Maps an OS error to the engine's transport error kinds.
pub fn classify(e: &io::Error) -> TransportError {
    match e.raw_os_error() {
        Some(
            libc_errno::ENODEV | libc_errno::ENETDOWN | libc_errno::ENXIO | libc_errno::ENONET,
        ) => TransportError::NoDataConnectivity,
        Some(libc_errno::ENETUNREACH | libc_errno::EHOSTUNREACH | libc_errno::EADDRNOTAVAIL) => {
            TransportError::NoRoute
        }
        Some(libc_errno::ECONNREFUSED) => TransportError::ConnectionRefused,
        Some(libc_errno::ETIMEDOUT) => TransportError::ConnectTimeout,
        Some(libc_errno::ECONNRESET | libc_errno::EPIPE | libc_errno::ECONNABORTED) => {
            TransportError::ConnectionReset
        }
        Some(libc_errno::EMFILE | libc_errno::ENFILE) => TransportError::OutOfSockets,
        _ => TransportError::Other,
    }
}

/// The errno values used here (nix re-exports them; named once for readability).
mod libc_errno {
    use nix::errno::Errno;
    pub const ENODEV: i32 = Errno::ENODEV as i32;
    pub const ENONET: i32 = Errno::ENONET as i32;
    pub const ENETDOWN: i32 = Errno::ENETDOWN as i32;
    pub const ENXIO: i32 = Errno::ENXIO as i32;
    pub const ENETUNREACH: i32 = Errno::ENETUNREACH as i32;
    pub const EHOSTUNREACH: i32 = Errno::EHOSTUNREACH as i32;
    pub const EADDRNOTAVAIL: i32 = Errno::EADDRNOTAVAIL as i32;
    pub const ECONNREFUSED: i32 = Errno::ECONNREFUSED as i32;
    pub const ETIMEDOUT: i32 = Errno::ETIMEDOUT as i32;
    pub const ECONNRESET: i32 = Errno::ECONNRESET as i32;
    pub const EPIPE: i32 = Errno::EPIPE as i32;
    pub const ECONNABORTED: i32 = Errno::ECONNABORTED as i32;
    pub const EMFILE: i32 = Errno::EMFILE as i32;
    pub const ENFILE: i32 = Errno::ENFILE as i32;
    pub const EPERM: i32 = Errno::EPERM as i32;
    pub const EACCES: i32 = Errno::EACCES as i32;
    pub const EINPROGRESS: i32 = Errno::EINPROGRESS as i32;
}

fn err(during: &'static str) -> impl Fn(io::Error) -> SocketError {
    move |source| SocketError {
        kind: classify(&source),
        source,
        during,
    }
}

/// A new non-blocking socket for `family`, pinned according to `binding`.
pub fn pinned_socket(domain: Domain, ty: Type, binding: &Binding) -> Result<Socket, SocketError> {
    let protocol = if ty == Type::STREAM {
        Protocol::TCP
    } else {
        Protocol::UDP
    };
    let socket = Socket::new(domain, ty, Some(protocol)).map_err(err("socket creation"))?;
    if let Binding::Interface(name) = binding {
        socket
            .bind_device(Some(name.as_bytes()))
            .map_err(|source| {
                let kind = match source.raw_os_error() {
                    Some(libc_errno::EPERM | libc_errno::EACCES) => TransportError::PinDenied,
                    _ => classify(&source),
                };
                SocketError {
                    kind,
                    source,
                    during: "SO_BINDTODEVICE",
                }
            })?;
    }
    socket
        .set_nonblocking(true)
        .map_err(err("set_nonblocking"))?;
    Ok(socket)
}

/// Milliseconds until `deadline` as a poll timeout (zero when past).
pub fn poll_timeout(deadline: Instant) -> PollTimeout {
    let left = deadline.saturating_duration_since(Instant::now());
    // Round up so a poll never returns just before its deadline and spins.
    let ms = left.as_micros().div_ceil(1000);
    PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
}

/// Which of `fds` are readable (or in error), waiting until `deadline`: `Ok(None)` when the
/// deadline passed with none ready; an interrupted wait is `Err(EINTR)`, for the caller to retry.
pub fn poll_readable(
    fds: &[std::os::fd::BorrowedFd<'_>],
    deadline: Instant,
) -> Result<Option<Vec<bool>>, nix::errno::Errno> {
    use nix::poll::{poll, PollFd, PollFlags};
    let mut polled: Vec<PollFd<'_>> = fds
        .iter()
        .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
        .collect();
    match poll(&mut polled, poll_timeout(deadline))? {
        0 => Ok(None),
        _ => Ok(Some(
            polled
                .iter()
                .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                .collect(),
        )),
    }
}

/// Why no connection was made.
#[derive(Debug)]
pub enum ConnectError {
    /// Nothing connected before the deadline.
    Timeout,
    /// Every address failed; the last failure.
    Failed(SocketError),
}

/// A connected TCP socket.
#[derive(Debug)]
pub struct Connected {
    /// The socket (non-blocking, `TCP_NODELAY`).
    pub socket: Socket,
    /// Which address answered.
    pub remote: SocketAddr,
    /// Our address.
    pub local: Option<SocketAddr>,
}

/// Connects to the first of `addrs` that answers, starting the next attempt every `stagger`
/// while earlier ones are still pending (RFC 8305 style), until `deadline`.
pub fn connect_race(
    addrs: &[SocketAddr],
    open: &dyn Fn(Domain) -> Result<Socket, SocketError>,
    stagger: Duration,
    deadline: Instant,
) -> Result<Connected, ConnectError> {
    let mut pending: Vec<(Socket, SocketAddr)> = Vec::new();
    let mut next = addrs.iter();
    let mut last_error: Option<SocketError> = None;
    let mut next_start = Instant::now();
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(ConnectError::Timeout);
        }
        if now >= next_start {
            if let Some(addr) = next.next() {
                match start_connect(*addr, open) {
                    Ok(socket) => pending.push((socket, *addr)),
                    Err(e) => last_error = Some(e),
                }
                next_start = now + stagger;
                if pending.is_empty() {
                    // This address failed at once: try the next one without waiting.
                    next_start = now;
                    continue;
                }
            } else if pending.is_empty() {
                return Err(ConnectError::Failed(last_error.unwrap_or_else(|| {
                    SocketError {
                        kind: TransportError::DnsFailed,
                        source: io::Error::new(
                            io::ErrorKind::NotFound,
                            "no addresses to connect to",
                        ),
                        during: "connect",
                    }
                })));
            }
        }
        let wake = if next.len() > 0 {
            next_start.min(deadline)
        } else {
            deadline
        };
        let ready: Vec<bool> = {
            let mut fds: Vec<PollFd<'_>> = pending
                .iter()
                .map(|(s, _)| PollFd::new(s.as_fd(), PollFlags::POLLOUT))
                .collect();
            match poll(&mut fds, poll_timeout(wake)) {
                Ok(_) => fds
                    .iter()
                    .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                    .collect(),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    return Err(ConnectError::Failed(err("poll")(io::Error::from(e))));
                }
            }
        };
        let mut i = 0;
        let mut ready = ready.into_iter();
        while i < pending.len() {
            if !ready.next().unwrap_or(false) {
                i += 1;
                continue;
            }
            let (socket, addr) = pending.remove(i);
            match socket.take_error() {
                Ok(None) => {
                    socket
                        .set_tcp_nodelay(true)
                        .map_err(|e| ConnectError::Failed(err("TCP_NODELAY")(e)))?;
                    let local = socket.local_addr().ok().and_then(|a| a.as_socket());
                    return Ok(Connected {
                        socket,
                        remote: addr,
                        local,
                    });
                }
                Ok(Some(e)) | Err(e) => {
                    last_error = Some(err("connect")(e));
                    // A failed attempt lets the next one start now.
                    next_start = Instant::now();
                }
            }
        }
    }
}

/// A fresh socket from `open`, connecting (non-blocking) to `addr`.
pub fn start_connect(
    addr: SocketAddr,
    open: &dyn Fn(Domain) -> Result<Socket, SocketError>,
) -> Result<Socket, SocketError> {
    let socket = open(Domain::for_address(addr))?;
    match socket.connect(&SockAddr::from(addr)) {
        Ok(()) => Ok(socket),
        Err(e) if e.raw_os_error() == Some(libc_errno::EINPROGRESS) => Ok(socket),
        Err(e) => Err(err("connect")(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn errno_classification() {
        let e = |n: nix::errno::Errno| io::Error::from_raw_os_error(n as i32);
        assert_eq!(
            classify(&e(nix::errno::Errno::ENODEV)),
            TransportError::NoDataConnectivity
        );
        assert_eq!(
            classify(&e(nix::errno::Errno::ENETUNREACH)),
            TransportError::NoRoute
        );
        assert_eq!(
            classify(&e(nix::errno::Errno::ECONNREFUSED)),
            TransportError::ConnectionRefused
        );
        assert_eq!(
            classify(&e(nix::errno::Errno::ECONNRESET)),
            TransportError::ConnectionReset
        );
    }

    #[test]
    fn pinned_to_loopback_connects_to_loopback() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let binding = Binding::Interface("lo".into());
        let deadline = Instant::now() + Duration::from_secs(2);
        let open = |d| pinned_socket(d, Type::STREAM, &binding);
        let c = connect_race(&[addr], &open, Duration::from_millis(250), deadline).unwrap();
        assert_eq!(c.remote, addr);
        assert_eq!(c.socket.device().unwrap().as_deref(), Some(&b"lo"[..]));
        assert!(c.socket.tcp_nodelay().unwrap());
    }

    #[test]
    fn missing_interface_is_no_data_connectivity_and_nothing_is_sent() {
        let binding = Binding::Interface("pcnosuch0".into());
        let e = pinned_socket(Domain::IPV4, Type::STREAM, &binding).unwrap_err();
        assert_eq!(e.kind, TransportError::NoDataConnectivity);
        assert_eq!(e.during, "SO_BINDTODEVICE");
    }

    #[test]
    fn refused_address_falls_through_to_the_next() {
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = closed.local_addr().unwrap();
        drop(closed);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let live = listener.local_addr().unwrap();
        let binding = Binding::Interface("lo".into());
        let open = |d| pinned_socket(d, Type::STREAM, &binding);
        let deadline = Instant::now() + Duration::from_secs(2);
        let c = connect_race(&[dead, live], &open, Duration::from_millis(250), deadline).unwrap();
        assert_eq!(c.remote, live);
        match connect_race(&[dead], &open, Duration::from_millis(250), deadline) {
            Err(ConnectError::Failed(e)) => assert_eq!(e.kind, TransportError::ConnectionRefused),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_failed_attempt_starts_the_next_address_without_waiting_the_stagger() {
        // RFC 8305 §5: a failure starts the next attempt at once. With a 10 s stagger, waiting
        // it would run into the 5 s deadline.
        let closed = TcpListener::bind("[::1]:0").unwrap();
        let dead = closed.local_addr().unwrap();
        drop(closed);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let live = listener.local_addr().unwrap();
        let binding = Binding::Interface("lo".into());
        let open = |d| pinned_socket(d, Type::STREAM, &binding);
        let deadline = Instant::now() + Duration::from_secs(5);
        let c = connect_race(&[dead, live], &open, Duration::from_secs(10), deadline)
            .expect("the second family connects before the deadline");
        assert_eq!(c.remote, live);
    }
}
