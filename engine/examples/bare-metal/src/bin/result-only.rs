//! The engine as a firmware that wants only the result: the same five-request chain as
//! `src/main.rs`, hop records ignored, the SDK envelope without its `debug` object written and
//! printed over semihosting. No integer formatting, no hop log, no request checks: its size is
//! the engine's flash cost for a PhoneCheck device step (`run.sh` reports it next to the main
//! program's).
#![no_std]
#![no_main]

use core::net::SocketAddr;

use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::{debug, hio};
use phonecheck_engine::{ConnId, ConnectionInfo, Input, Instant, Output, Policy, Session, Small};
use static_cell::ConstStaticCell;

static STORAGE: ConstStaticCell<Small> = ConstStaticCell::new(Small::new());
static SESSION: ConstStaticCell<Option<Session<'static>>> = ConstStaticCell::new(None);
static ENVELOPE: ConstStaticCell<[u8; 512]> = ConstStaticCell::new([0; 512]);

/// The server's side of the chain (as in `src/main.rs`), one response per request.
const REPLIES: [&[u8]; 5] = [
    b"HTTP/1.1 302 Found\r\nLocation: /two\r\nSet-Cookie: s=1; Path=/\r\nContent-Length: 3\r\n\r\nabc",
    b"HTTP/1.1 302 Found\r\nLocation: http://mno.example/three?x=1\r\nTransfer-Encoding: chunked\r\n\r\n3;e=1\r\nabc\r\n0\r\n\r\n",
    b"HTTP/1.1 307 Temporary Redirect\r\nLocation: ../four\r\nSet-Cookie: m=2; Expires=Wed, 01 Jan 2031 00:00:00 GMT\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 302 Found\r\nLocation: http://api.example/five\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
      11\r\n{\"check_id\":\"c1\",\r\n18\r\n\"code\":\"4711\",\"ttl\":300}\r\n0\r\n\r\n",
];

/// Bytes of a response fed per `Received`, as from a slow modem.
const PIECE: usize = 40;

#[entry]
fn main() -> ! {
    let policy = Policy {
        platform: "cortex-m",
        allow_http_start: true,
        ..Policy::default()
    };
    let created = Session::new_in(
        SESSION.take(),
        STORAGE.take().buffers(),
        b"http://api.example/one",
        policy,
        Instant::from_millis(0),
    );
    let Ok(session) = created else {
        fail(b"Session::new_in failed")
    };
    if session.set_access_token("sk-test-0123456789abcdef").is_err() {
        fail(b"set_access_token failed");
    }
    let mut tx = [0u8; 96];
    let (mut now, mut sending) = (0u64, ConnId::default());
    let (mut reply, mut offset) = (0usize, 0usize);
    loop {
        now += 3;
        let input = match session.poll_output(&mut tx) {
            Output::Connect { conn, .. } => Some(Input::Connected {
                conn,
                info: ConnectionInfo {
                    remote: Some(SocketAddr::from(([192, 0, 2, 10], 80))),
                    local: None,
                    dns: None,
                    connect: None,
                },
            }),
            Output::Transmit { conn, len } => {
                sending = conn;
                Some(Input::Sent { conn, len })
            }
            Output::Wait { .. } => {
                let Some(whole) = REPLIES.get(reply) else {
                    fail(b"the session waits past the script")
                };
                let end = (offset + PIECE).min(whole.len());
                let bytes = whole.get(offset..end).unwrap_or_default();
                (reply, offset) = if end == whole.len() {
                    (reply + 1, 0)
                } else {
                    (reply, end)
                };
                Some(Input::Received {
                    conn: sending,
                    bytes,
                })
            }
            Output::Done(_) => break,
            Output::Close { .. } | Output::Hop(_) => None,
        };
        if let Some(input) = input {
            session.handle_input(Instant::from_millis(now), input);
        }
    }
    let envelope = ENVELOPE.take();
    let Ok(n) = session.write_envelope(envelope) else {
        fail(b"the envelope did not fit")
    };
    print(b"envelope: ");
    print(envelope.get(..n).unwrap_or_default());
    print(b"\nresult-only check ok\n");
    debug::exit(debug::EXIT_SUCCESS);
    #[allow(clippy::empty_loop)]
    loop {}
}

fn print(bytes: &[u8]) {
    if let Ok(mut out) = hio::hstdout() {
        let _ = out.write_all(bytes);
    }
}

fn fail(why: &[u8]) -> ! {
    print(b"FAIL: ");
    print(why);
    print(b"\n");
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    fail(b"panic")
}

#[exception]
unsafe fn HardFault(_frame: &ExceptionFrame) -> ! {
    fail(b"hard fault")
}
