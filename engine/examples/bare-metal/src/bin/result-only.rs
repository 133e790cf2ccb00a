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

#[path = "../chain.rs"]
mod chain;
use chain::{PIECE, REPLIES};

static STORAGE: ConstStaticCell<Small> = ConstStaticCell::new(Small::new());
static SESSION: ConstStaticCell<Option<Session<'static>>> = ConstStaticCell::new(None);
static ENVELOPE: ConstStaticCell<[u8; 512]> = ConstStaticCell::new([0; 512]);

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
    if session
        .set_access_token("sk-test-0123456789abcdef")
        .is_err()
    {
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
