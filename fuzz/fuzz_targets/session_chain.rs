//! A whole session fed a hostile server: the fuzz input is cut into responses and pieces. The
//! session never panics, never exceeds the hop bound, and always ends with Done.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phonecheck_engine::{ConnectionInfo, Input, Instant, Output, Policy, Session};

fuzz_target!(|data: &[u8]| {
    let policy = Policy {
        allow_http_start: true,
        max_redirects: 4,
        ..Policy::default()
    };
    let mut session: Session<256, 1024, 1024, 4, 4> =
        match Session::new(b"http://api.example/start", policy, Instant::from_millis(0)) {
            Ok(s) => s,
            Err(_) => return,
        };
    // Pieces separated by 0xff bytes; each piece is delivered as one Received.
    let mut pieces = data.split(|&b| b == 0xff);
    let mut buf = [0u8; 2048];
    let mut now = 0u64;
    let mut requests = 0;
    for _ in 0..10_000 {
        now += 1;
        let t = Instant::from_millis(now);
        let input = match session.poll_output(&mut buf) {
            Output::Connect { .. } => Input::Connected(ConnectionInfo::default()),
            Output::Transmit { len } => {
                requests += 1;
                Input::Sent(len)
            }
            Output::Close => continue,
            Output::Wait { until } => match pieces.next() {
                Some(piece) => Input::Received(piece),
                None => {
                    now = until.as_millis().max(now);
                    Input::Eof
                }
            },
            Output::Done(_) => {
                assert!(requests <= 5 + 1, "hop bound (one stale retry allowed)");
                return;
            }
        };
        session.handle_input(t, input);
    }
    panic!("the session did not finish");
});
