//! Real servers for end-to-end tests: a scripted HTTP/1.1 server (plain or TLS) that records
//! every request with the address it came from, and a DNS server that answers from a table and
//! logs who asked.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use simple_dns::rdata::{RData, A, AAAA};
use simple_dns::{Packet, PacketFlag, ResourceRecord, CLASS, QTYPE, RCODE, TYPE};

/// What the scripted server does for one request.
#[derive(Clone, Debug)]
pub enum Script {
    /// Send these bytes (the connection stays open unless they say `Connection: close`).
    Respond(Vec<u8>),
    /// Send nothing and keep the connection open.
    Hang,
    /// Close the connection without answering.
    Close,
    /// Answer with the peer's address as JSON: `{"peer":"ip:port"}`.
    EchoPeer,
}

/// A request the server received.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Who sent it.
    pub peer: SocketAddr,
    /// The request head as text.
    pub head: String,
}

/// A scripted HTTP server on its own thread.
pub struct ScriptedServer {
    /// Where it listens.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<Mutex<usize>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ScriptedServer {
    /// Listens on `bind` and answers requests with `script`, in order, across connections.
    pub fn start(
        bind: SocketAddr,
        script: Vec<Script>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Self {
        let listener = TcpListener::bind(bind).expect("bind scripted server");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("local addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let script = Arc::new(Mutex::new(script.into_iter()));
        let thread = {
            let (seen, connections, stop) = (seen.clone(), connections.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut workers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, peer)) => {
                            *connections.lock().unwrap() += 1;
                            let (seen, script, tls, stop) =
                                (seen.clone(), script.clone(), tls.clone(), stop.clone());
                            workers.push(std::thread::spawn(move || {
                                let _ = serve_connection(stream, peer, &seen, &script, tls, &stop);
                            }));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
                for w in workers {
                    let _ = w.join();
                }
            })
        };
        ScriptedServer {
            addr,
            seen,
            connections,
            stop,
            thread: Some(thread),
        }
    }

    /// Requests received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        *self.connections.lock().unwrap()
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    seen: &Mutex<Vec<Seen>>,
    script: &Mutex<std::vec::IntoIter<Script>>,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_millis(100)))?;
    let mut io: Box<dyn Stream> = match tls {
        Some(config) => {
            let conn = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
            Box::new(rustls::StreamOwned::new(conn, stream))
        }
        None => Box::new(stream),
    };
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let n = match io.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => return Err(e),
        };
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head: Vec<u8> = pending.drain(..end + 4).collect();
            seen.lock().unwrap().push(Seen {
                peer,
                head: String::from_utf8_lossy(&head).into_owned(),
            });
            let next = script.lock().unwrap().next().unwrap_or(Script::Close);
            match next {
                Script::Respond(bytes) => {
                    io.write_all(&bytes)?;
                    io.flush()?;
                    if String::from_utf8_lossy(&bytes)
                        .to_ascii_lowercase()
                        .contains("connection: close")
                    {
                        return Ok(());
                    }
                }
                Script::EchoPeer => {
                    let body = format!(r#"{{"peer":"{peer}"}}"#);
                    let text = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    io.write_all(text.as_bytes())?;
                    io.flush()?;
                }
                Script::Hang => loop {
                    if stop.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    std::thread::sleep(Duration::from_millis(20));
                },
                Script::Close => return Ok(()),
            }
        }
    }
}

/// A 3xx with a Location.
pub fn redirect(status: u16, location: &str) -> Script {
    Script::Respond(
        format!("HTTP/1.1 {status} Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n")
            .into_bytes(),
    )
}

/// A JSON response.
pub fn json(status: u16, body: &str) -> Script {
    Script::Respond(
        format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

/// A DNS server answering A/AAAA from a table, logging `(asker, name, qtype)`.
pub struct DnsServer {
    /// Where it listens.
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<(SocketAddr, String, String)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DnsServer {
    /// Serves `records` (name → addresses) on `bind`; other names get NXDOMAIN.
    pub fn start(bind: SocketAddr, records: HashMap<String, Vec<IpAddr>>) -> Self {
        Self::start_with(bind, records, false)
    }

    /// Like `start`; with `truncate_udp`, UDP answers come back empty with the TC flag set and
    /// the full answers are served over TCP on the same port (RFC 7766 framing).
    pub fn start_with(
        bind: SocketAddr,
        records: HashMap<String, Vec<IpAddr>>,
        truncate_udp: bool,
    ) -> Self {
        let socket = UdpSocket::bind(bind).expect("bind DNS server");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let addr = socket.local_addr().expect("local addr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let tcp = truncate_udp.then(|| {
            let listener = TcpListener::bind(addr).expect("bind DNS server over TCP");
            listener.set_nonblocking(true).expect("nonblocking");
            let (log, stop, records) = (log.clone(), stop.clone(), records.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok((mut stream, from)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    let _ = stream.set_nonblocking(false);
                    let mut len = [0u8; 2];
                    if stream.read_exact(&mut len).is_err() {
                        continue;
                    }
                    let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    if stream.read_exact(&mut query).is_err() {
                        continue;
                    }
                    if let Some((reply, name, qtype)) = answer(&query, &records, false) {
                        log.lock()
                            .unwrap()
                            .push((from, name, format!("{qtype}/tcp")));
                        let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                        framed.extend_from_slice(&reply);
                        let _ = stream.write_all(&framed);
                    }
                }
            })
        });
        let thread = {
            let (log, stop) = (log.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 1500];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, from)) = socket.recv_from(&mut buf) else {
                        continue;
                    };
                    if let Some((reply, name, qtype)) = answer(&buf[..n], &records, truncate_udp) {
                        log.lock().unwrap().push((from, name, qtype));
                        let _ = socket.send_to(&reply, from);
                    }
                }
                if let Some(tcp) = tcp {
                    let _ = tcp.join();
                }
            })
        };
        DnsServer {
            addr,
            log,
            stop,
            thread: Some(thread),
        }
    }

    /// `(asker, name, qtype)` for every query so far.
    pub fn log(&self) -> Vec<(SocketAddr, String, String)> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer(
    query: &[u8],
    records: &HashMap<String, Vec<IpAddr>>,
    truncate: bool,
) -> Option<(Vec<u8>, String, String)> {
    let q = Packet::parse(query).ok()?;
    let question = q.questions.first()?.clone();
    let name = question
        .qname
        .to_string()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let mut reply = Packet::new_reply(q.id());
    reply.set_flags(PacketFlag::RECURSION_AVAILABLE);
    reply.questions.push(question.clone());
    let qtype = match question.qtype {
        QTYPE::TYPE(TYPE::A) => "A",
        QTYPE::TYPE(TYPE::AAAA) => "AAAA",
        _ => "other",
    };
    match records.get(&name) {
        _ if truncate => reply.set_flags(PacketFlag::TRUNCATION),
        None => *reply.rcode_mut() = RCODE::NameError,
        Some(addrs) => {
            for ip in addrs {
                let rdata = match (ip, qtype) {
                    (IpAddr::V4(v4), "A") => RData::A(A {
                        address: u32::from(*v4),
                    }),
                    (IpAddr::V6(v6), "AAAA") => RData::AAAA(AAAA {
                        address: u128::from(*v6),
                    }),
                    _ => continue,
                };
                reply.answers.push(ResourceRecord::new(
                    question.qname.clone(),
                    CLASS::IN,
                    60,
                    rdata,
                ));
            }
        }
    }
    Some((reply.build_bytes_vec().ok()?, name, qtype.to_string()))
}
