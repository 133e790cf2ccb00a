//! A scenario builder for session tests: scripted servers keyed by origin, virtual time, and a
//! log of everything the session asked the "network" to do, with the request bytes visible.
//!
//! The harness plays the driver: it answers `Connect` (after `connect_ms` of virtual time),
//! captures every `Transmit` (and checks it parses back with httparse), replies with the next
//! scripted response for that origin (split into pieces if asked), and turns `Wait` into a jump
//! of the virtual clock followed by `Timeout`. Suites run far faster than real time.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};

use phonecheck_engine::session::Field;
use phonecheck_engine::{
    ConnectionInfo, Error, Input, Instant, Output, Policy, ResponseBody, Scheme, Session,
    TransportError,
};

/// What a scripted server does with one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Send these bytes and keep the connection open.
    Bytes(Vec<u8>),
    /// Send these bytes, then close.
    BytesThenEof(Vec<u8>),
    /// Close without answering.
    Eof,
    /// Never answer.
    Silence,
    /// The socket breaks.
    Fail(TransportError),
}

enum Delivery {
    Connected,
    Bytes(Vec<u8>),
    Eof,
    Fail(TransportError),
}

/// What happens when the session connects to an origin.
#[derive(Clone, Debug)]
pub enum ConnectPlan {
    Accept,
    Hang,
    Fail(TransportError),
}

/// One thing the session asked the network to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Connect {
        scheme: Scheme,
        host: String,
        port: u16,
        hop: u8,
    },
    Request(String),
    Close,
}

/// The owned result of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub result: Result<(u16, u8), Error>,
    pub body: String,
    pub fields: Vec<(String, String)>,
    pub envelope: String,
    pub debug_envelope: String,
    pub log: Vec<Event>,
    pub elapsed_ms: u64,
}

impl Finished {
    pub fn requests(&self) -> Vec<&str> {
        self.log
            .iter()
            .filter_map(|e| match e {
                Event::Request(r) => Some(r.as_str()),
                _ => None,
            })
            .collect()
    }

    pub fn connects(&self) -> Vec<(String, u16)> {
        self.log
            .iter()
            .filter_map(|e| match e {
                Event::Connect { host, port, .. } => Some((host.clone(), *port)),
                _ => None,
            })
            .collect()
    }

    /// The request lines ("GET /x HTTP/1.1" with the Host) in order.
    pub fn targets(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| {
                let line = r.lines().next().unwrap_or("");
                let host = header(r, "Host").unwrap_or_default();
                format!("{host} {line}")
            })
            .collect()
    }

    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn error(&self) -> Option<Error> {
        self.result.err()
    }
}

/// The value of header `name` in a request text.
pub fn header(request: &str, name: &str) -> Option<String> {
    request.split("\r\n").skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// A scripted network and the session's start parameters.
pub struct Scenario {
    pub url: String,
    pub policy: Policy,
    pub token: Option<String>,
    pub redirect_url: Option<String>,
    servers: HashMap<(String, u16), VecDeque<Reply>>,
    connect_plans: HashMap<(String, u16), ConnectPlan>,
    pub connect_ms: u64,
    pub reply_ms: u64,
    /// Split every reply at these offsets (sorted, deduplicated by the harness).
    pub cuts: Vec<usize>,
}

impl Scenario {
    pub fn new(url: &str) -> Self {
        Scenario {
            url: url.to_string(),
            policy: Policy {
                platform: "test",
                ..Policy::default()
            },
            token: None,
            redirect_url: None,
            servers: HashMap::new(),
            connect_plans: HashMap::new(),
            connect_ms: 10,
            reply_ms: 20,
            cuts: Vec::new(),
        }
    }

    /// Queues a reply from `host:port` for the next request that reaches it.
    pub fn reply(mut self, host: &str, port: u16, reply: Reply) -> Self {
        self.servers
            .entry((host.to_string(), port))
            .or_default()
            .push_back(reply);
        self
    }

    /// Queues raw response text (kept alive).
    pub fn respond(self, host: &str, port: u16, text: &str) -> Self {
        self.reply(host, port, Reply::Bytes(text.as_bytes().to_vec()))
    }

    pub fn on_connect(mut self, host: &str, port: u16, plan: ConnectPlan) -> Self {
        self.connect_plans.insert((host.to_string(), port), plan);
        self
    }

    pub fn policy(mut self, f: impl FnOnce(&mut Policy)) -> Self {
        f(&mut self.policy);
        self
    }

    pub fn token(mut self, t: &str) -> Self {
        self.token = Some(t.to_string());
        self
    }

    pub fn redirect_url(mut self, p: &str) -> Self {
        self.redirect_url = Some(p.to_string());
        self
    }

    pub fn split_at(mut self, cuts: &[usize]) -> Self {
        self.cuts = cuts.to_vec();
        self
    }

    /// Runs the check to the end.
    pub fn run(mut self) -> Finished {
        let start = Instant::from_millis(1_000);
        let mut session: Session = match Session::new(self.url.as_bytes(), self.policy, start) {
            Ok(s) => s,
            Err(e) => {
                return Finished {
                    result: Err(e),
                    body: String::new(),
                    fields: Vec::new(),
                    envelope: String::new(),
                    debug_envelope: String::new(),
                    log: Vec::new(),
                    elapsed_ms: 0,
                }
            }
        };
        if let Some(t) = &self.token {
            session = session.with_access_token(t).unwrap();
        }
        if let Some(p) = &self.redirect_url {
            session = session.with_redirect_url(p).unwrap();
        }

        let mut now = start.as_millis();
        let mut log = Vec::new();
        let mut current: Option<(String, u16)> = None;
        let mut buf = vec![0u8; 8192];
        // Deliveries scheduled on the virtual clock, in arrival order.
        let mut arrivals: VecDeque<(u64, Delivery)> = VecDeque::new();

        for _ in 0..100_000 {
            match session.poll_output(&mut buf) {
                Output::Connect {
                    scheme,
                    host,
                    port,
                    hop,
                } => {
                    log.push(Event::Connect {
                        scheme,
                        host: host.to_string(),
                        port,
                        hop,
                    });
                    let key = (host.to_string(), port);
                    let at = now + self.connect_ms;
                    match self
                        .connect_plans
                        .get(&key)
                        .cloned()
                        .unwrap_or(ConnectPlan::Accept)
                    {
                        ConnectPlan::Accept => {
                            current = Some(key);
                            arrivals.push_back((at, Delivery::Connected));
                        }
                        ConnectPlan::Hang => {}
                        ConnectPlan::Fail(e) => arrivals.push_back((at, Delivery::Fail(e))),
                    }
                }
                Output::Transmit { len } => {
                    let bytes = buf[..len].to_vec();
                    check_parses(&bytes);
                    log.push(Event::Request(String::from_utf8(bytes).unwrap()));
                    session.handle_input(Instant::from_millis(now), Input::Sent(len));
                    let key = current.clone().expect("transmit without connection");
                    let reply = self
                        .servers
                        .get_mut(&key)
                        .and_then(VecDeque::pop_front)
                        .unwrap_or(Reply::Eof);
                    let at = now + self.reply_ms;
                    match reply {
                        Reply::Bytes(b) => {
                            for piece in pieces(&b, &self.cuts) {
                                arrivals.push_back((at, Delivery::Bytes(piece)));
                            }
                        }
                        Reply::BytesThenEof(b) => {
                            for piece in pieces(&b, &self.cuts) {
                                arrivals.push_back((at, Delivery::Bytes(piece)));
                            }
                            arrivals.push_back((at, Delivery::Eof));
                        }
                        Reply::Eof => arrivals.push_back((at, Delivery::Eof)),
                        Reply::Silence => {}
                        Reply::Fail(e) => arrivals.push_back((at, Delivery::Fail(e))),
                    }
                }
                Output::Close => {
                    log.push(Event::Close);
                    current = None;
                    arrivals.clear();
                }
                Output::Wait { until } => {
                    assert!(until.as_millis() >= now, "deadline in the past");
                    match arrivals.front() {
                        Some((at, _)) if *at <= until.as_millis() => {
                            let (at, delivery) = arrivals.pop_front().unwrap();
                            now = now.max(at);
                            let t = Instant::from_millis(now);
                            match delivery {
                                Delivery::Connected => session
                                    .handle_input(t, Input::Connected(ConnectionInfo::default())),
                                Delivery::Bytes(b) => session.handle_input(t, Input::Received(&b)),
                                Delivery::Eof => session.handle_input(t, Input::Eof),
                                Delivery::Fail(e) => {
                                    session.handle_input(t, Input::TransportFailed(e))
                                }
                            }
                        }
                        _ => {
                            now = until.as_millis();
                            session.handle_input(Instant::from_millis(now), Input::Timeout);
                        }
                    }
                }
                Output::Done(result) => {
                    let result = result.map(|c| (c, c.http_status, c.hops));
                    let (body, fields) = match &result {
                        Ok((c, _, _)) => {
                            let body = match c.body {
                                ResponseBody::Json(s) => s.to_string(),
                                ResponseBody::RedirectQuery(q) => format!("?{q}"),
                                ResponseBody::Other { raw, truncated } => format!(
                                    "{}{}",
                                    String::from_utf8_lossy(raw),
                                    if truncated { "…" } else { "" }
                                ),
                                ResponseBody::Empty => String::new(),
                            };
                            let fields = Field::ALL
                                .iter()
                                .filter_map(|f| {
                                    c.field(*f).map(|v| (f.key().to_string(), v.to_string()))
                                })
                                .collect();
                            (body, fields)
                        }
                        Err(_) => (String::new(), Vec::new()),
                    };
                    let result = result.map(|(_, s, h)| (s, h));
                    let mut env = vec![0u8; 64 * 1024];
                    let n = session.write_envelope(&mut env, None).unwrap();
                    let envelope = String::from_utf8(env[..n].to_vec()).unwrap();
                    let n = session
                        .write_envelope(&mut env, Some(&[("platform", "test")]))
                        .unwrap();
                    let debug_envelope = String::from_utf8(env[..n].to_vec()).unwrap();
                    return Finished {
                        result,
                        body,
                        fields,
                        envelope,
                        debug_envelope,
                        log,
                        elapsed_ms: now - start.as_millis(),
                    };
                }
            }
        }
        panic!("scenario did not finish: {log:?}");
    }
}

fn pieces(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = cuts
        .iter()
        .copied()
        .filter(|&c| c > 0 && c < bytes.len())
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::new();
    let mut start = 0;
    for c in cuts.into_iter().chain(std::iter::once(bytes.len())) {
        if c > start {
            out.push(bytes[start..c].to_vec());
            start = c;
        }
    }
    out
}

/// Every request the session writes must parse back as a complete GET.
fn check_parses(bytes: &[u8]) {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let status = req.parse(bytes).expect("request parses");
    assert_eq!(status, httparse::Status::Complete(bytes.len()));
    assert_eq!(req.method, Some("GET"));
    assert!(req.path.unwrap().starts_with('/'));
}

/// A 3xx response with a Location and an empty body.
pub fn redirect(status: u16, location: &str) -> String {
    format!("HTTP/1.1 {status} Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n")
}

/// A 200 JSON response.
pub fn json(status: u16, body: &str) -> String {
    format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}
