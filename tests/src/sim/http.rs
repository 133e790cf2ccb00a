//! The simulator's HTTP plumbing: hyper 1 connections (plain or tokio-rustls), a small request
//! view for the handlers, and response builders.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Largest request body the simulator reads.
const MAX_BODY: usize = 64 * 1024;

/// What a handler sees of a request.
#[derive(Debug)]
pub struct Req {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// Query parameters, percent-decoded.
    pub query: HashMap<String, String>,
    /// The query as it came (still percent-encoded), for a hop that passes it on.
    pub raw_query: Option<String>,
    /// Headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
    /// The connection's source address.
    pub peer: SocketAddr,
}

impl Req {
    /// The client id and secret of HTTP Basic authentication (RFC 7617), if well formed.
    pub fn basic_credentials(&self) -> Option<(String, String)> {
        use base64::Engine as _;
        let raw = self
            .header("authorization")?
            .strip_prefix("Basic ")
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())?;
        let text = String::from_utf8(raw).ok()?;
        let (id, secret) = text.split_once(':')?;
        Some((id.to_string(), secret.to_string()))
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A response to send.
#[derive(Debug)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Resp {
    /// A body of `content_type`.
    pub fn with_type(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Resp {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body,
        }
    }
    /// `application/json`.
    pub fn json(status: u16, v: &Value) -> Self {
        Self::with_type(status, "application/json", v.to_string().into_bytes())
    }
    /// `application/hal+json`.
    pub fn hal(status: u16, v: &Value) -> Self {
        Self::with_type(status, "application/hal+json", v.to_string().into_bytes())
    }
    /// RFC 9457 `application/problem+json`.
    pub fn problem(status: u16, title: &str, detail: &str) -> Self {
        let v = serde_json::json!({"type": "about:blank", "title": title, "status": status, "detail": detail});
        Self::with_type(
            status,
            "application/problem+json",
            v.to_string().into_bytes(),
        )
    }
    /// `text/plain`.
    pub fn text(status: u16, text: &str) -> Self {
        Self::with_type(status, "text/plain", text.as_bytes().to_vec())
    }
    /// A redirect with an empty body.
    pub fn redirect(status: u16, location: &str) -> Self {
        Resp {
            status,
            headers: vec![("Location".into(), location.into())],
            body: Vec::new(),
        }
    }
}

/// One request the simulator served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Which server: `api`, `mno` or `he`.
    pub server: &'static str,
    /// Source address of the connection.
    pub peer: SocketAddr,
    /// Method.
    pub method: String,
    /// Path (query left out: it carries codes and tokens).
    pub path: String,
    /// Status sent.
    pub status: u16,
}

/// Hears about each request as it is answered.
pub type LiveLog = Arc<dyn Fn(&LogEntry) + Send + Sync>;

/// A request handler with the shared state.
pub type Handler = Arc<dyn Fn(&Req) -> Resp + Send + Sync>;

/// Log sink: the shared log plus an optional live printer.
#[derive(Clone)]
pub struct Log {
    pub(crate) entries: Arc<Mutex<Vec<LogEntry>>>,
    pub(crate) live: Option<LiveLog>,
}

/// Accepts connections until the runtime shuts down.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    name: &'static str,
    handler: Handler,
    log: Log,
) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        // Answers go out whole; without this, delayed ACKs cost the client 40 ms per hop.
        let _ = stream.set_nodelay(true);
        let (tls, handler, log) = (tls.clone(), handler.clone(), log.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let (handler, log) = (handler.clone(), log.clone());
                async move { Ok::<_, Infallible>(handle(req, peer, name, &handler, &log).await) }
            });
            let _ = match tls {
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(s) => {
                        http1::Builder::new()
                            .serve_connection(TokioIo::new(s), service)
                            .await
                    }
                    Err(_) => return,
                },
                None => {
                    http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                }
            };
        });
    }
}

async fn handle(
    req: Request<Incoming>,
    peer: SocketAddr,
    name: &'static str,
    handler: &Handler,
    log: &Log,
) -> Response<Full<Bytes>> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(parse_query).unwrap_or_default();
    let raw_query = req.uri().query().map(str::to_string);
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let resp = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(body) => {
            let r = Req {
                method: method.clone(),
                path: path.clone(),
                query,
                raw_query,
                headers,
                body: body.to_bytes(),
                peer,
            };
            handler(&r)
        }
        Err(_) => Resp::problem(413, "Payload Too Large", "request body too large"),
    };
    let entry = LogEntry {
        server: name,
        peer,
        method,
        path,
        status: resp.status,
    };
    if let Some(live) = &log.live {
        live(&entry);
    }
    if let Ok(mut entries) = log.entries.lock() {
        entries.push(entry);
    }
    let mut builder = Response::builder().status(resp.status);
    for (k, v) in &resp.headers {
        builder = builder.header(k, v);
    }
    builder
        .body(Full::new(Bytes::from(resp.body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// Parses `a=1&b=x%20y` into decoded pairs.
pub fn parse_query(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// `application/x-www-form-urlencoded` body into pairs (`+` is a space there).
pub fn form(body: &[u8]) -> HashMap<String, String> {
    parse_query(&String::from_utf8_lossy(body).replace('+', " "))
}

/// One `application/x-www-form-urlencoded` value decoded (`+` is a space).
pub fn form_decode(s: &str) -> String {
    percent_decode(&s.replace('+', " "))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            if let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).and_then(|&c| hex(c)),
                bytes.get(i + 2).and_then(|&c| hex(c)),
            ) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but unreserved characters (RFC 3986 §2.3).
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// IPv4-mapped IPv6 peers as plain IPv4, so the subscriber table matches either.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_form_decoding() {
        let q = parse_query("a=1&b=x%20y&c");
        assert_eq!(q["b"], "x y");
        assert_eq!(q["c"], "");
        assert_eq!(
            form(b"grant_type=client_credentials&scope=phone_check+coverage")["scope"],
            "phone_check coverage"
        );
        assert_eq!(percent_encode("a b/é"), "a%20b%2F%C3%A9");
        assert_eq!(parse_query("x=%E2%82%AC%")["x"], "€%");
    }
}
