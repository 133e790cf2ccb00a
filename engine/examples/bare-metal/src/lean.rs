//! What the small programs in `src/bin/` share: the session they build (statics, the policy,
//! the token), the loop that plays the scripted chain through it, and output over semihosting
//! with the failure and fault handlers. `step-harness.rs` uses only the output part, so its
//! size is the part of `device-step.rs` that is not the engine.
#![allow(dead_code)] // each program uses its own part of this module

use core::net::SocketAddr;

use cortex_m_rt::{exception, ExceptionFrame};
use cortex_m_semihosting::{debug, hio};
use phonecheck_engine::{
    Completion, ConnId, ConnectionInfo, Error, Input, Instant, Output, Policy, Session, Small,
};
use static_cell::ConstStaticCell;

use crate::chain::{PIECE, REPLIES};

static STORAGE: ConstStaticCell<Small> = ConstStaticCell::new(Small::new());
static SESSION: ConstStaticCell<Option<Session<'static>>> = ConstStaticCell::new(None);

/// The session for the chain, built in its static slot and configured (once: the statics are
/// taken).
pub fn session() -> &'static mut Session<'static> {
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
    session
}

/// Plays the driver and the servers until the session is done, then hands `done` the result.
/// Connections succeed at once, every `Transmit` is taken whole, replies arrive `PIECE` bytes
/// at a time, and the clock moves 3 ms a step.
pub fn play(session: &mut Session<'_>, done: impl FnOnce(Result<Completion<'_>, Error>)) {
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
            Output::Done(result) => return done(result),
            Output::Close { .. } | Output::Hop(_) => None,
        };
        if let Some(input) = input {
            session.handle_input(Instant::from_millis(now), input);
        }
    }
}

/// Writes `bytes` to the host's stdout (semihosting); nothing if the host has none.
pub fn print(bytes: &[u8]) {
    if let Ok(mut out) = hio::hstdout() {
        let _ = out.write_all(bytes);
    }
}

/// Prints why and exits QEMU with a failure status.
pub fn fail(why: &[u8]) -> ! {
    print(b"FAIL: ");
    print(why);
    print(b"\n");
    exit(debug::EXIT_FAILURE)
}

/// Exits QEMU with `status`.
pub fn exit(status: debug::ExitStatus) -> ! {
    debug::exit(status);
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
