//! Fuzz harness bodies (feature `fuzzing`): one function per cargo-fuzz target in `fuzz/`, each
//! taking the fuzzer's bytes and **panicking when an invariant breaks** (that is how a fuzzer
//! sees a bug). The same functions run on stable in `tests/fuzz_replay.rs`, which replays every
//! input kept in `fuzz/seeds/<target>/` (the `regress-*` ones are inputs that once found a bug),
//! so whatever a fuzzer found stays fixed under `cargo test`.
//!
//! Never part of a normal build: the feature is only turned on by the engine's own tests and by
//! the fuzz crate. It needs `std` (the oracles: the `url` crate, serde_json, and plain `Vec`s).
//!
//! | target | what it checks |
//! |---|---|
//! | [`session_ops`] | a whole session driven by operation sequences over several connections (see its docs) |
//! | [`session_chain`] | a session fed a hostile server's bytes always ends, within the hop bound |
//! | [`response_reader`] | never panics; reading in two pieces gives what reading whole gives |
//! | [`chunked`] | the chunked decoder, fed in pieces, against a plain whole-input reference decoder |
//! | [`cookie_jar`] | the jar as Set-Cookie / request operations against a reference model |
//! | [`set_cookie`] | arbitrary Set-Cookie values never panic the jar |
//! | [`url_resolve`] | whole resolved URLs against the `url` crate, after the documented differences |
//! | [`json_scan`] | every document the scanner accepts, serde_json accepts too |
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

extern crate std;

mod chunked;
mod cookie_jar;
mod session_ops;
mod url_resolve;

use std::vec::Vec;

pub use chunked::chunked;
pub use cookie_jar::cookie_jar;
pub use session_ops::session_ops;
pub use url_resolve::url_resolve;

use crate::cookie::CookieJar;
use crate::response::{ResponseError, ResponseReader, Step};
use crate::url::Url;
use crate::{ConnId, ConnectionInfo, Input, Instant, Output, Policy, Session, Small};

/// A harness body: the fuzzer's bytes in, a panic when an invariant breaks.
pub type Target = fn(&[u8]);

/// Every target by its cargo-fuzz name, for the replay test.
pub const TARGETS: &[(&str, Target)] = &[
    ("session_ops", session_ops),
    ("session_chain", session_chain),
    ("response_reader", response_reader),
    ("chunked", chunked),
    ("cookie_jar", cookie_jar),
    ("set_cookie", set_cookie),
    ("url_resolve", url_resolve),
    ("json_scan", json_scan),
];

/// Reads decisions off the fuzzer's bytes, like `arbitrary`'s `Unstructured`: once they run
/// out, every decision is 0.
#[derive(Debug)]
pub(crate) struct Source<'a> {
    data: &'a [u8],
}

impl<'a> Source<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Source { data }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub(crate) fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// A number below `n` (0 when `n` is 0 or 1).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        match n {
            0 | 1 => 0,
            2..=256 => usize::from(self.byte()) % n,
            _ => (usize::from(self.byte()) << 8 | usize::from(self.byte())) % n,
        }
    }

    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// Up to `max` raw bytes (a length byte, then the bytes).
    pub(crate) fn bytes(&mut self, max: usize) -> &'a [u8] {
        let n = self.below(max + 1).min(self.data.len());
        let (taken, rest) = self.data.split_at(n);
        self.data = rest;
        taken
    }
}

/// The JSON scanner never panics, and every document it accepts serde_json accepts too (so the
/// envelope can embed it verbatim).
pub fn json_scan(data: &[u8]) {
    if crate::json::scan(data, |_, _| {}).is_ok() {
        assert!(
            serde_json::from_slice::<serde_json::Value>(data).is_ok(),
            "the scanner accepted what serde_json refuses: {:?}",
            std::string::String::from_utf8_lossy(data)
        );
    }
}

fn read_response(input: &[u8], cut: usize) -> Result<(u16, Vec<u8>, bool), ResponseError> {
    let mut reader: ResponseReader<16> = ResponseReader::new(2048, false);
    let mut stage = [0u8; 2048];
    let mut body = Vec::new();
    let (a, b) = input.split_at(cut.min(input.len()));
    for piece in [a, b] {
        let mut rest = piece;
        loop {
            let (n, step) = reader.step(&mut stage, rest)?;
            match step {
                Step::NeedMore => break,
                Step::Body(data) => body.extend_from_slice(data),
                Step::Complete => return Ok((reader.status(), body, true)),
                Step::Head(head) => {
                    // What the session reads from a head agrees with the head's own lines.
                    assert_eq!(head.location(), head.header_values("location").last());
                    if head.has_set_cookie() {
                        assert!(head.set_cookies().count() >= 1, "Set-Cookie values lost");
                    }
                }
                Step::Informational(_) => {}
            }
            rest = &rest[n..];
        }
    }
    reader.eof()?;
    Ok((reader.status(), body, reader.is_complete()))
}

/// The response reader on arbitrary bytes: never panics, reading the bytes in two pieces (split
/// where the first byte says) gives exactly what reading them whole gives, and a head's
/// `Location` and `Set-Cookie` values agree with its header lines.
pub fn response_reader(data: &[u8]) {
    let Some((&cut, input)) = data.split_first() else {
        return;
    };
    assert_eq!(
        read_response(input, usize::from(cut)),
        read_response(input, input.len())
    );
}

/// Arbitrary Set-Cookie values (one per line) never panic the jar, and what it sends back has
/// a non-empty name.
pub fn set_cookie(data: &[u8]) {
    let url = Url::<256>::parse(b"https://a.mno.example/p/q").expect("url");
    let url = url.as_ref();
    let mut area = [0u8; 512];
    let mut jar = CookieJar::new(&mut area);
    for header in data.split(|&b| b == b'\n') {
        let _ = jar.store(header, &url, Instant::from_millis(5), Some(1_000_000), None);
        assert!(jar.used() <= jar.capacity());
    }
    jar.for_url(&url, Instant::from_millis(6)).each(|name, _| {
        assert!(!name.is_empty());
    });
}

/// A whole session fed a hostile server: the input is cut into responses and pieces (at 0xff
/// bytes), and its bytes also decide how much of each write the "socket" takes. The session
/// never panics, never exceeds the hop bound, never uses a closed connection, and always ends
/// with `Done` with no connection open.
pub fn session_chain(data: &[u8]) {
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
}
