//! Name resolution over the pinned interface.
//!
//! `getaddrinfo` has no interface argument, so a system lookup could leave over Wi-Fi. Instead
//! A and AAAA queries go from a UDP socket pinned like the check's own sockets, to the bearer's
//! DNS servers (given with `--dns`, or read from ModemManager), with TCP when an answer comes back
//! truncated. Messages are built and parsed with `simple-dns`.
//!
//! ```text
//!  host ──► --resolve override? ──► IP literal? ──► A + AAAA to every server at once ──► first
//!           (curl's HOST:PORT:ADDR)                  (truncated: again over TCP)           good
//!                                                                                          answers,
//!  addresses, IPv6 and IPv4 interleaved (RFC 8305) ◄─────────────────────────────────────── merged
//! ```

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::str::FromStr;
use std::time::{Duration, Instant};

use simple_dns::rdata::RData;
use simple_dns::{Name, Packet, PacketFlag, Question, CLASS, QCLASS, QTYPE, RCODE, TYPE};
use socket2::{Domain, Type};

use crate::net::socket::{
    connect_race, pinned_socket, poll_readable, Binding, ConnectError, SocketError,
};

/// After the first usable answer, how long to wait for the other family (RFC 8305 §3).
const RESOLUTION_DELAY: Duration = Duration::from_millis(50);

/// A curl-style `--resolve HOST:PORT:ADDR` override.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    /// Host name (compared case-insensitively).
    pub host: String,
    /// Port it applies to.
    pub port: u16,
    /// Addresses to use.
    pub addrs: Vec<IpAddr>,
}

impl FromStr for Override {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.splitn(3, ':');
        let (Some(host), Some(port), Some(addrs)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!(
                "--resolve wants HOST:PORT:ADDR[,ADDR...], got {s:?}"
            ));
        };
        let port = port
            .parse()
            .map_err(|_| format!("--resolve: bad port in {s:?}"))?;
        let addrs = addrs
            .split(',')
            .map(|a| {
                a.trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| format!("--resolve: bad address in {s:?}"))?;
        Ok(Override {
            host: host.to_ascii_lowercase(),
            port,
            addrs,
        })
    }
}

/// Parses a `--dns` value: an address, with an optional port (`[v6]:port` or `v4:port`).
pub fn parse_dns_server(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    s.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("--dns wants an IP address (optionally with :port), got {s:?}"))
}

/// Why a name did not resolve.
#[derive(Debug)]
pub enum DnsError {
    /// No DNS server is known for the interface.
    NoServers,
    /// No server answered before the deadline.
    Timeout,
    /// The name does not exist.
    NxDomain,
    /// The name exists but has no A or AAAA records.
    NoRecords,
    /// The servers answered with an error code.
    ServerFailure(u8),
    /// Every DNS server refused the query at once (ICMP port unreachable: nothing listens there).
    Refused(Vec<SocketAddr>),
    /// A socket failure (the interface went away, no route, ...).
    Socket(SocketError),
}

impl std::fmt::Display for DnsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DnsError::NoServers => f.write_str(
                "no DNS server for the interface: pass --dns ADDR (ModemManager gave none)",
            ),
            DnsError::Timeout => f.write_str("no DNS server answered in time"),
            DnsError::NxDomain => f.write_str("the name does not exist (NXDOMAIN)"),
            DnsError::NoRecords => f.write_str("the name has no A or AAAA records"),
            DnsError::ServerFailure(code) => write!(f, "the DNS server answered with rcode {code}"),
            DnsError::Refused(servers) => {
                let list: Vec<String> = servers.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "no DNS server listens at {} (port unreachable): check --dns",
                    list.join(", ")
                )
            }
            DnsError::Socket(e) => write!(f, "DNS socket: {e}"),
        }
    }
}

impl std::error::Error for DnsError {}

/// A finished lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// Addresses in connect order (IPv6 and IPv4 interleaved, IPv6 first).
    pub addrs: Vec<IpAddr>,
    /// The server that answered, if a query was sent.
    pub server: Option<SocketAddr>,
}

/// A resolver whose every packet leaves through `binding`.
#[derive(Clone, Debug)]
pub struct Resolver {
    /// Where queries go out.
    pub binding: Binding,
    /// DNS servers to ask.
    pub servers: Vec<SocketAddr>,
    /// `--resolve` overrides.
    pub overrides: Vec<Override>,
}

impl Resolver {
    /// The addresses for `host` when no query is needed: a `--resolve` override or an IP
    /// literal.
    pub fn answer_without_query(&self, host: &str, port: u16) -> Option<Vec<IpAddr>> {
        if let Some(o) = self
            .overrides
            .iter()
            .find(|o| o.port == port && o.host.eq_ignore_ascii_case(host))
        {
            return Some(o.addrs.clone());
        }
        host.parse::<IpAddr>().ok().map(|ip| vec![ip])
    }

    /// Resolves `host` for a connection to `port`, within `deadline`.
    pub fn resolve(&self, host: &str, port: u16, deadline: Instant) -> Result<Resolved, DnsError> {
        if let Some(addrs) = self.answer_without_query(host, port) {
            return Ok(Resolved {
                addrs,
                server: None,
            });
        }
        if self.servers.is_empty() {
            return Err(DnsError::NoServers);
        }
        self.query_all(host, deadline)
    }

    fn query_all(&self, host: &str, deadline: Instant) -> Result<Resolved, DnsError> {
        let mut sockets = Vec::new();
        let mut last_socket_error = None;
        let mut refused_at_send = Vec::new();
        let id_a = random_id();
        let id_aaaa = id_a.wrapping_add(1);
        let query_a = build_query(id_a, host, TYPE::A)?;
        let query_aaaa = build_query(id_aaaa, host, TYPE::AAAA)?;
        for server in &self.servers {
            let socket: UdpSocket =
                match pinned_socket(Domain::for_address(*server), Type::DGRAM, &self.binding) {
                    Ok(s) => s.into(),
                    Err(e) => {
                        last_socket_error = Some(e);
                        continue;
                    }
                };
            // Connected, so an ICMP port unreachable comes back as ECONNREFUSED on this socket
            // (and replies from anyone else are dropped by the kernel).
            let sent = socket
                .connect(server)
                .and_then(|()| socket.send(&query_a))
                .and_then(|_| socket.send(&query_aaaa));
            match sent {
                Ok(_) => sockets.push((socket, *server)),
                // The first query's ICMP port unreachable can already fail the second send.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    refused_at_send.push(*server)
                }
                Err(e) => {
                    last_socket_error = Some(SocketError {
                        kind: crate::net::socket::classify(&e),
                        source: e,
                        during: "DNS query",
                    })
                }
            }
        }
        if sockets.is_empty() {
            if !refused_at_send.is_empty() && last_socket_error.is_none() {
                return Err(DnsError::Refused(refused_at_send));
            }
            return Err(last_socket_error.map_or(DnsError::NoServers, DnsError::Socket));
        }

        let mut v4: Option<Answer> = None;
        let mut v6: Option<Answer> = None;
        let mut server_used = None;
        let mut stop_at = deadline;
        let mut buf = vec![0u8; 4096];
        let mut refused: Vec<SocketAddr> = Vec::new();
        while v4.is_none() || v6.is_none() {
            if Instant::now() >= stop_at {
                break;
            }
            if refused.len() == sockets.len() {
                // Every server said no at once (ICMP port unreachable): no point waiting.
                refused.extend(refused_at_send);
                return Err(DnsError::Refused(refused));
            }
            let fds: Vec<_> = sockets.iter().map(|(s, _)| s.as_fd()).collect();
            let ready = match poll_readable(&fds, stop_at) {
                Ok(Some(ready)) => ready,
                Ok(None) => break,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(DnsError::Socket(socket_error(io::Error::from(e)))),
            };
            for (i, (socket, server)) in sockets.iter().enumerate() {
                if !ready.get(i).copied().unwrap_or(false) || refused.contains(server) {
                    continue;
                }
                let n = match socket.recv(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                        refused.push(*server);
                        continue;
                    }
                    Err(e) => return Err(DnsError::Socket(socket_error(e))),
                };
                let bytes = buf.get(..n).unwrap_or_default();
                // The ID is checked before anything else is done with a reply: a stray one
                // (even a truncated one) must not start a TCP fallback.
                let Some(id) = reply_id(bytes) else { continue };
                let (slot, qtype) = if id == id_a {
                    (&mut v4, TYPE::A)
                } else if id == id_aaaa {
                    (&mut v6, TYPE::AAAA)
                } else {
                    continue;
                };
                if slot.is_some() {
                    continue;
                }
                let Some(mut answer) = parse_answer(bytes, host, qtype) else {
                    continue;
                };
                if answer.truncated {
                    // A failed fallback fails this family only; the other may still answer.
                    answer = self
                        .query_tcp(*server, host, qtype, deadline)
                        .unwrap_or(Answer {
                            rcode: 2,
                            ..Answer::default()
                        });
                }
                if !answer.addrs.is_empty() {
                    server_used = Some(*server);
                    stop_at = stop_at.min(Instant::now() + RESOLUTION_DELAY);
                }
                *slot = Some(answer);
            }
        }
        merge(v6, v4, server_used)
    }

    fn query_tcp(
        &self,
        server: SocketAddr,
        host: &str,
        qtype: TYPE,
        deadline: Instant,
    ) -> Result<Answer, DnsError> {
        let open = |d| pinned_socket(d, Type::STREAM, &self.binding);
        let conn = connect_race(&[server], &open, Duration::from_secs(1), deadline).map_err(
            |e| match e {
                ConnectError::Timeout => DnsError::Timeout,
                ConnectError::Failed(e) => DnsError::Socket(e),
            },
        )?;
        let socket = conn.socket;
        let id = random_id();
        let query = build_query(id, host, qtype)?;
        let mut framed = (query.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&query);
        let mut stream = std::net::TcpStream::from(socket);
        stream
            .set_nonblocking(false)
            .map_err(|e| DnsError::Socket(socket_error(e)))?;
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| DnsError::Socket(socket_error(e)))?;
        stream
            .set_write_timeout(Some(left))
            .map_err(|e| DnsError::Socket(socket_error(e)))?;
        stream
            .write_all(&framed)
            .map_err(|e| DnsError::Socket(socket_error(e)))?;
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).map_err(timeout_or_socket)?;
        let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut reply).map_err(timeout_or_socket)?;
        match (reply_id(&reply), parse_answer(&reply, host, qtype)) {
            (Some(rid), Some(answer)) if rid == id => Ok(answer),
            _ => Err(DnsError::ServerFailure(1)),
        }
    }
}

fn timeout_or_socket(e: io::Error) -> DnsError {
    if matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ) {
        DnsError::Timeout
    } else {
        DnsError::Socket(socket_error(e))
    }
}

fn socket_error(e: io::Error) -> SocketError {
    SocketError {
        kind: crate::net::socket::classify(&e),
        source: e,
        during: "DNS",
    }
}

/// A random query ID (RFC 5452: IDs must not be guessable).
pub fn random_id() -> u16 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish() as u16
}

/// A recursive query for `host`'s `qtype` records, as bytes on the wire.
pub fn build_query(id: u16, host: &str, qtype: TYPE) -> Result<Vec<u8>, DnsError> {
    let mut packet = Packet::new_query(id);
    packet.set_flags(PacketFlag::RECURSION_DESIRED);
    let name = Name::new(host).map_err(|_| DnsError::NxDomain)?;
    packet.questions.push(Question::new(
        name,
        QTYPE::TYPE(qtype),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    packet.build_bytes_vec().map_err(|_| DnsError::NxDomain)
}

/// What one reply says: the addresses for the asked name, the response code, truncation.
#[derive(Clone, Debug, Default)]
pub struct Answer {
    /// Addresses owned by the asked name or its CNAME chain, in the reply's order.
    pub addrs: Vec<IpAddr>,
    /// The response code (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, ...).
    pub rcode: u8,
    /// The TC flag: the full answer needs TCP.
    pub truncated: bool,
}

/// The ID of a DNS message: its first two bytes.
fn reply_id(bytes: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]))
}

/// Parses a reply to a `qtype` query for `host`. A reply to another question is ignored; of
/// the answers, only addresses owned by `host` or by a name its CNAME chain leads to count.
pub fn parse_answer(bytes: &[u8], host: &str, qtype: TYPE) -> Option<Answer> {
    let packet = Packet::parse(bytes).ok()?;
    let asked = packet.questions.first()?;
    let same_name = |name: &Name<'_>, want: &str| {
        name.to_string()
            .trim_end_matches('.')
            .eq_ignore_ascii_case(want.trim_end_matches('.'))
    };
    if !same_name(&asked.qname, host) || asked.qtype != QTYPE::TYPE(qtype) {
        return None;
    }
    let mut answer = Answer {
        rcode: rcode_number(packet.rcode()),
        truncated: packet.has_flags(PacketFlag::TRUNCATION),
        ..Answer::default()
    };
    // Follow the CNAME chain from the asked name (bounded: a loop ends it).
    let mut owners = vec![host.trim_end_matches('.').to_ascii_lowercase()];
    for _ in 0..8 {
        let before = owners.len();
        for record in &packet.answers {
            if let RData::CNAME(target) = &record.rdata {
                let target = target
                    .0
                    .to_string()
                    .trim_end_matches('.')
                    .to_ascii_lowercase();
                if owners.iter().any(|o| same_name(&record.name, o)) && !owners.contains(&target) {
                    owners.push(target);
                }
            }
        }
        if owners.len() == before {
            break;
        }
    }
    for record in &packet.answers {
        if !owners.iter().any(|o| same_name(&record.name, o)) {
            continue;
        }
        match (&record.rdata, qtype) {
            (RData::A(a), TYPE::A) => answer.addrs.push(IpAddr::V4(Ipv4Addr::from(a.address))),
            (RData::AAAA(a), TYPE::AAAA) => {
                answer.addrs.push(IpAddr::V6(Ipv6Addr::from(a.address)))
            }
            _ => {}
        }
    }
    Some(answer)
}

fn rcode_number(r: RCODE) -> u8 {
    match r {
        RCODE::NoError => 0,
        RCODE::FormatError => 1,
        RCODE::ServerFailure => 2,
        RCODE::NameError => 3,
        RCODE::NotImplemented => 4,
        RCODE::Refused => 5,
        _ => 2,
    }
}

/// Interleaves IPv6 and IPv4 addresses (IPv6 first), or explains why there are none.
fn merge(
    v6: Option<Answer>,
    v4: Option<Answer>,
    server: Option<SocketAddr>,
) -> Result<Resolved, DnsError> {
    let six = v6.as_ref().map(|a| a.addrs.clone()).unwrap_or_default();
    let four = v4.as_ref().map(|a| a.addrs.clone()).unwrap_or_default();
    if six.is_empty() && four.is_empty() {
        return Err(match (&v6, &v4) {
            (None, None) => DnsError::Timeout,
            _ => {
                let codes: Vec<u8> = [&v6, &v4]
                    .iter()
                    .filter_map(|a| a.as_ref().map(|a| a.rcode))
                    .collect();
                if codes.contains(&3) {
                    DnsError::NxDomain
                } else if let Some(&c) = codes.iter().find(|&&c| c != 0) {
                    DnsError::ServerFailure(c)
                } else {
                    DnsError::NoRecords
                }
            }
        });
    }
    let mut addrs = Vec::with_capacity(six.len() + four.len());
    let (mut a, mut b) = (six.into_iter(), four.into_iter());
    loop {
        match (a.next(), b.next()) {
            (None, None) => break,
            (x, y) => addrs.extend(x.into_iter().chain(y)),
        }
    }
    Ok(Resolved { addrs, server })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_override_parsing() {
        let o: Override = "API.example:443:127.0.0.1,[::1]".parse().unwrap();
        assert_eq!(o.host, "api.example");
        assert_eq!(o.port, 443);
        assert_eq!(
            o.addrs,
            vec![
                "127.0.0.1".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        assert!("nohost".parse::<Override>().is_err());
        assert!("h:x:1.2.3.4".parse::<Override>().is_err());
    }

    #[test]
    fn dns_server_parsing() {
        assert_eq!(
            parse_dns_server("192.0.2.53").unwrap(),
            "192.0.2.53:53".parse().unwrap()
        );
        assert_eq!(
            parse_dns_server("127.0.0.1:5353").unwrap(),
            "127.0.0.1:5353".parse().unwrap()
        );
        assert_eq!(
            parse_dns_server("2001:db8::53").unwrap(),
            "[2001:db8::53]:53".parse().unwrap()
        );
        assert_eq!(
            parse_dns_server("[2001:db8::53]:54").unwrap(),
            "[2001:db8::53]:54".parse().unwrap()
        );
        assert!(parse_dns_server("dns.example").is_err());
    }

    #[test]
    fn merge_interleaves_v6_first() {
        let v6 = Answer {
            addrs: vec![
                "2001:db8::1".parse().unwrap(),
                "2001:db8::2".parse().unwrap(),
            ],
            ..Answer::default()
        };
        let v4 = Answer {
            addrs: vec!["192.0.2.1".parse().unwrap()],
            ..Answer::default()
        };
        let r = merge(Some(v6), Some(v4), None).unwrap();
        let shown: Vec<String> = r.addrs.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["2001:db8::1", "192.0.2.1", "2001:db8::2"]);
        let nx = Answer {
            rcode: 3,
            ..Answer::default()
        };
        assert!(matches!(
            merge(Some(nx.clone()), Some(nx), None),
            Err(DnsError::NxDomain)
        ));
        assert!(matches!(merge(None, None, None), Err(DnsError::Timeout)));
        assert!(matches!(
            merge(Some(Answer::default()), None, None),
            Err(DnsError::NoRecords)
        ));
    }

    #[test]
    fn queries_round_trip_through_the_codec() {
        let q = build_query(7, "mno.example", TYPE::AAAA).unwrap();
        let p = Packet::parse(&q).unwrap();
        assert_eq!(p.id(), 7);
        assert!(p.has_flags(PacketFlag::RECURSION_DESIRED));
        assert_eq!(p.questions[0].qname.to_string(), "mno.example");
    }

    // ---- the resolver against a scripted UDP server on loopback ----------------------------

    use simple_dns::rdata::{A, CNAME};
    use simple_dns::ResourceRecord;
    use std::net::TcpListener;

    /// What the scripted server sends for one query: (reply bytes) per (id, qtype).
    type Script = Box<dyn Fn(u16, TYPE) -> Vec<Vec<u8>> + Send>;

    /// A UDP server on 127.0.0.1 that answers the two queries of one lookup by `script`.
    fn scripted(script: Script) -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            for _ in 0..2 {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    return;
                };
                let q = Packet::parse(&buf[..n]).unwrap();
                let qtype = match q.questions[0].qtype {
                    QTYPE::TYPE(TYPE::AAAA) => TYPE::AAAA,
                    _ => TYPE::A,
                };
                for reply in script(q.id(), qtype) {
                    let _ = socket.send_to(&reply, from);
                }
            }
        });
        addr
    }

    fn reply(id: u16, qtype: TYPE, answers: &[(&str, RData<'static>)], truncated: bool) -> Vec<u8> {
        let mut p = Packet::new_reply(id);
        if truncated {
            p.set_flags(PacketFlag::TRUNCATION);
        }
        p.questions.push(Question::new(
            Name::new_unchecked("api.test"),
            QTYPE::TYPE(qtype),
            QCLASS::CLASS(CLASS::IN),
            false,
        ));
        for (name, rdata) in answers {
            p.answers.push(ResourceRecord::new(
                Name::new_unchecked(name),
                CLASS::IN,
                60,
                rdata.clone(),
            ));
        }
        p.build_bytes_vec().unwrap()
    }

    fn a(ip: [u8; 4]) -> RData<'static> {
        RData::A(A {
            address: u32::from(Ipv4Addr::from(ip)),
        })
    }

    fn resolver(server: SocketAddr) -> Resolver {
        Resolver {
            binding: Binding::Interface("lo".into()),
            servers: vec![server],
            overrides: Vec::new(),
        }
    }

    fn lookup(server: SocketAddr) -> Result<Resolved, DnsError> {
        resolver(server).resolve("api.test", 80, Instant::now() + Duration::from_secs(3))
    }

    #[test]
    fn a_stray_reply_with_a_wrong_id_is_ignored_before_anything_else() {
        // A truncated reply with the wrong ID comes first: it must not start a TCP fallback
        // (nothing listens for TCP there, so that would fail the lookup).
        let server = scripted(Box::new(|id, qtype| match qtype {
            TYPE::A => vec![
                reply(id ^ 0x5a5a, TYPE::A, &[], true),
                reply(id, TYPE::A, &[("api.test", a([127, 0, 0, 7]))], false),
            ],
            _ => vec![reply(id, qtype, &[], false)],
        }));
        let found = lookup(server).unwrap();
        assert_eq!(found.addrs, ["127.0.0.7".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn a_failed_aaaa_fallback_does_not_throw_away_a_good_a_answer() {
        let server = scripted(Box::new(|id, qtype| match qtype {
            TYPE::A => vec![reply(
                id,
                TYPE::A,
                &[("api.test", a([127, 0, 0, 8]))],
                false,
            )],
            // Truncated, and the TCP fallback finds nobody listening.
            _ => vec![reply(id, qtype, &[], true)],
        }));
        let found = lookup(server).unwrap();
        assert_eq!(found.addrs, ["127.0.0.8".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn only_addresses_of_the_name_and_its_cname_chain_count() {
        let server = scripted(Box::new(|id, qtype| match qtype {
            TYPE::A => vec![reply(
                id,
                TYPE::A,
                &[
                    (
                        "api.test",
                        RData::CNAME(CNAME(Name::new_unchecked("edge.test"))),
                    ),
                    ("edge.test", a([127, 0, 0, 2])),
                    ("evil.test", a([127, 0, 0, 9])),
                ],
                false,
            )],
            _ => vec![reply(id, qtype, &[("api.test", a([127, 0, 0, 10]))], false)],
        }));
        let found = lookup(server).unwrap();
        // The AAAA reply's A record and evil.test's address are not ours.
        assert_eq!(found.addrs, ["127.0.0.2".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn a_dns_server_that_is_not_there_is_an_immediate_error() {
        // Nothing listens on this UDP port: the kernel answers ICMP port unreachable.
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dead = probe.local_addr().unwrap();
        drop(probe);
        // A TCP listener is not a DNS server either; it only makes sure the port stays unused.
        let _guard = TcpListener::bind(dead);
        let started = Instant::now();
        let deadline = started + Duration::from_secs(10);
        let err = resolver(dead)
            .resolve("api.test", 80, deadline)
            .unwrap_err();
        assert!(matches!(err, DnsError::Refused(_)), "{err}");
        assert!(err.to_string().contains("--dns"));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "waited for the deadline"
        );
    }
}
