//! The smallest complete driver: a `Session` over blocking std sockets, the loop the README
//! shows. It starts a two-hop chain on 127.0.0.1 (a redirect, then a JSON answer with a code)
//! and follows it:
//!
//! ```sh
//! cargo run -p phonecheck-engine --example drive
//! ```
//!
//! A real driver pins every socket to the mobile interface, resolves names over it, polls all
//! open sockets at once and enforces `Wait { until }` with a timer; see `phonecheck-linux`.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant as StdInstant};

use phonecheck_engine::{ConnectionInfo, Field, Hosted, Input, Instant, Output, Policy, Session};

/// Two servers on loopback: the "API" redirects to the "operator", which answers with a code.
fn start_chain() -> String {
    let operator = TcpListener::bind("127.0.0.1:0").expect("bind");
    let api = TcpListener::bind("127.0.0.1:0").expect("bind");
    let operator_url = format!("http://{}/he?c=1", operator.local_addr().expect("addr"));
    let check_url = format!(
        "http://{}/check/1/redirect",
        api.local_addr().expect("addr")
    );
    let serve = |listener: TcpListener, answer: String| {
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = s.write_all(answer.as_bytes());
            }
        })
    };
    serve(
        api,
        format!("HTTP/1.1 302 Found\r\nLocation: {operator_url}\r\nContent-Length: 0\r\n\r\n"),
    );
    let body = r#"{"check_id":"c-1","code":"4711"}"#;
    serve(
        operator,
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    check_url
}

fn main() {
    let check_url = start_chain();
    let started = StdInstant::now();
    let now = || Instant::from_millis(started.elapsed().as_millis() as u64);

    let mut storage = Box::new(Hosted::new()); // or a `static`, or the stack
    let policy = Policy {
        platform: "example",
        allow_http_start: true, // the loopback chain is plain http
        ..Policy::default()
    };
    let mut session = Session::new(storage.buffers(), check_url.as_bytes(), policy, now())
        .expect("a valid check URL");
    let mut sockets: HashMap<_, TcpStream> = HashMap::new();
    let mut buf = [0u8; 1024]; // any size: requests stream through it
    let mut rbuf = [0u8; 4096];
    let mut reading = None;
    loop {
        match session.poll_output(&mut buf) {
            Output::Connect {
                conn, host, port, ..
            } => {
                let input = match TcpStream::connect((host, port)) {
                    Ok(s) => {
                        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                        sockets.insert(conn, s);
                        Input::Connected {
                            conn,
                            info: ConnectionInfo::default(),
                        }
                    }
                    Err(_) => Input::TransportFailed {
                        conn,
                        error: phonecheck_engine::TransportError::ConnectionRefused,
                    },
                };
                session.handle_input(now(), input);
            }
            Output::Transmit { conn, len } => {
                let written = sockets
                    .get_mut(&conn)
                    .and_then(|s| s.write(&buf[..len]).ok())
                    .unwrap_or(0);
                reading = Some(conn);
                session.handle_input(now(), Input::Sent { conn, len: written });
            }
            Output::Close { conn } => {
                sockets.remove(&conn);
            }
            Output::Hop(record) => {
                println!(
                    "hop {}: {} -> {:?}",
                    record.info.hop, record.url, record.info.status
                );
            }
            Output::Wait { .. } => {
                // One request at a time: read from the connection that last sent.
                let input = match reading.and_then(|c| sockets.get_mut(&c).map(|s| (c, s))) {
                    Some((conn, s)) => match s.read(&mut rbuf) {
                        Ok(0) => Input::Eof { conn },
                        Ok(n) => {
                            session.handle_input(
                                now(),
                                Input::Received {
                                    conn,
                                    bytes: &rbuf[..n],
                                },
                            );
                            continue;
                        }
                        Err(_) => Input::Timeout,
                    },
                    None => Input::Timeout,
                };
                session.handle_input(now(), input);
            }
            Output::Done(result) => {
                match result {
                    Ok(done) => println!(
                        "done: {} after {} hops, code {}",
                        done.http_status,
                        done.hops,
                        done.field(Field::Code)
                            .map_or("-".into(), |c| c.to_string())
                    ),
                    Err(e) => println!("failed: {e}"),
                }
                break;
            }
        }
    }
    let mut out = [0u8; 1024];
    let n = session.write_envelope(&mut out).expect("fits");
    println!("{}", String::from_utf8_lossy(&out[..n]));
}
