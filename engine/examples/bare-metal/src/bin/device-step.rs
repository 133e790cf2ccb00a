//! The engine as a firmware links it for the PhoneCheck device step: the same five-request
//! chain as `src/main.rs`, hop records ignored, and the result read from the completion (HTTP
//! status and the `code` field; an error as its SDK code) and printed over semihosting. No
//! envelope, no error texts, no integer formatting: its size is the engine's flash cost
//! (`run.sh` reports it next to the other programs').
#![no_std]
#![no_main]

use core::net::SocketAddr;

use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::{debug, hio};
use phonecheck_engine::{
    ConnId, ConnectionInfo, Field, FieldValue, Input, Instant, Output, Policy, Session, Small,
};
use static_cell::ConstStaticCell;

#[path = "../chain.rs"]
mod chain;
use chain::{PIECE, REPLIES};

static STORAGE: ConstStaticCell<Small> = ConstStaticCell::new(Small::new());
static SESSION: ConstStaticCell<Option<Session<'static>>> = ConstStaticCell::new(None);

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
            Output::Done(Ok(done)) => {
                // The firmware sends these two to its backend, which exchanges the code.
                let ok = done.http_status == 200;
                print(if ok { b"status: 200\n" } else { b"status: not 200\n" });
                match done.field(Field::Code) {
                    Some(FieldValue::Json(code) | FieldValue::Query(code)) => {
                        print(b"code: ");
                        print(code.as_bytes());
                        print(b"\n");
                    }
                    None => fail(b"no code in the result"),
                }
                break;
            }
            Output::Done(Err(e)) => {
                print(b"error: ");
                print(e.code().as_str().as_bytes());
                fail(b"the check failed")
            }
            Output::Close { .. } | Output::Hop(_) => None,
        };
        if let Some(input) = input {
            session.handle_input(Instant::from_millis(now), input);
        }
    }
    print(b"device-step check ok\n");
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
