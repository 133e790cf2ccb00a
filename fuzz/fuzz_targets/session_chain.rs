//! A whole session fed a hostile server: the fuzz input is cut into responses and pieces, and
//! its bytes also decide how much of each write the "socket" takes. The session never panics,
//! never exceeds the hop bound, never uses a closed connection, and always ends with Done.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phonecheck_engine::{ConnId, ConnectionInfo, Input, Instant, Output, Policy, Session, Small};

fuzz_target!(|data: &[u8]| {
    let policy = Policy {
        allow_http_start: true,
        max_redirects: 4,
        max_connections: 2,
        ..Policy::default()
    };
    let mut storage = Small::new();
    let Ok(mut session) = Session::new(
        storage.buffers(),
        b"http://api.example/start",
        policy,
        Instant::from_millis(0),
    ) else {
        return;
    };
    // Pieces separated by 0xff bytes; each piece is delivered as one Received.
    let mut pieces = data.split(|&b| b == 0xff);
    let mut buf = [0u8; 97];
    let mut now = 0u64;
    let mut requests = 0;
    let mut sending = ConnId::default();
    let mut closed: Vec<ConnId> = Vec::new();
    let mut take = data.iter().copied().cycle();
    for _ in 0..20_000 {
        now += 1;
        let t = Instant::from_millis(now);
        let input = match session.poll_output(&mut buf) {
            Output::Connect { conn, .. } => {
                assert!(!closed.contains(&conn));
                Input::Connected {
                    conn,
                    info: ConnectionInfo::default(),
                }
            }
            Output::Transmit { conn, len } => {
                assert!(!closed.contains(&conn));
                if conn != sending {
                    requests += 1;
                    sending = conn;
                }
                let part = usize::from(take.next().unwrap_or(255));
                Input::Sent {
                    conn,
                    len: part.min(len),
                }
            }
            Output::Close { conn } => {
                assert!(!closed.contains(&conn));
                closed.push(conn);
                continue;
            }
            Output::Hop(record) => {
                assert!(record.info.hop <= 6, "hop bound");
                continue;
            }
            Output::Wait { until } => match pieces.next() {
                Some(piece) => Input::Received {
                    conn: sending,
                    bytes: piece,
                },
                None => {
                    now = until.as_millis().max(now);
                    Input::Eof { conn: sending }
                }
            },
            Output::Done(_) => {
                assert!(requests <= 5 + 1, "hop bound (one stale retry allowed)");
                assert_eq!(session.open_connections(), 0);
                return;
            }
        };
        session.handle_input(t, input);
    }
    panic!("the session did not finish");
});
