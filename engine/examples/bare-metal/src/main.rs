//! The engine on a Cortex-M4F core (QEMU's MPS2 AN386 board): a scripted PhoneCheck redirect
//! chain through a [`Session`] over the [`Small`] storage preset, with no heap, reported over
//! ARM semihosting.
//!
//! The chain, plain http, five requests over three connections (the `Small` preset has one
//! connection slot, so a change of origin closes the idle connection):
//!
//! ```text
//! 1 GET http://api.example/one          302 → /two                Set-Cookie s=1, 3-byte body
//! 2 GET http://api.example/two          302 → http://mno.example/three?x=1   chunked body
//!                                            (reuses connection 1, sends Cookie s=1)
//! 3 GET http://mno.example/three?x=1    307 → ../four             Set-Cookie m=2 (Expires 2031)
//! 4 GET http://mno.example/four         302 → http://api.example/five, Connection: close
//!                                            (reuses connection 2, sends Cookie m=2)
//! 5 GET http://api.example/five         200 application/json, chunked:
//!                                        {"check_id":"c1","code":"4711","ttl":300}
//! ```
//!
//! Responses arrive in 40-byte pieces and the socket takes 7 bytes less than each `Transmit`
//! offers, so heads are staged and requests resume mid-way, as on a slow modem. Time is a fake
//! clock that advances 3 ms per step.
//!
//! Stack use is measured by painting: the free stack (from `_stack_end`, the end of .bss, up to
//! the stack pointer) is filled with a pattern before the session exists, and the deepest word
//! that no longer holds it is found after create + configure and after the whole check
//! (including the envelope). Figures count from the top of the stack, so they include `main`'s
//! own frame and the reset handler's (the `Session` is in a static, built there by `Session::new_in`).
#![no_std]
#![no_main]

use core::fmt::{self, Write as _};
use core::net::SocketAddr;
use core::time::Duration;

use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::{debug, hprint, hprintln};
use phonecheck_engine::{
    ConnId, ConnectionInfo, Field, HopLog, Input, Instant, Output, Policy, Session, Small,
    WallClock,
};
use static_cell::ConstStaticCell;

mod chain;
use chain::{PIECE, REPLIES};

/// The session's storage: const-initialised, so it lands in .bss (zero) and costs no flash.
static STORAGE: ConstStaticCell<Small> = ConstStaticCell::new(Small::new());
/// The session itself, built in place by `Session::new_in`.
static SESSION: ConstStaticCell<Option<Session<'static>>> = ConstStaticCell::new(None);
/// Up to 8 hop records and 512 bytes of their URLs, for the envelope's `debug` object.
static HOPS: ConstStaticCell<HopLog<8, 512>> = ConstStaticCell::new(HopLog::new());
/// The JSON envelope.
static ENVELOPE: ConstStaticCell<[u8; 4096]> = ConstStaticCell::new([0; 4096]);
/// One hop's request as the socket took it, to check its headers.
static REQUEST: ConstStaticCell<[u8; 512]> = ConstStaticCell::new([0; 512]);

const CHECK_URL: &[u8] = b"http://api.example/one";
const TOKEN: &str = "sk-test-0123456789abcdef";
/// Never reached by this chain: the check ends on the JSON 200, not on a stop at a prefix.
const REDIRECT_URL: &str = "https://app.example/phonecheck/done";
/// 2026-01-01T00:00:00Z at the fake clock's origin.
const UNIX_AT_START: u64 = 1_767_225_600;

/// The headers each request must carry (`+`) or must not carry (`-`).
const EXPECT: [&[(bool, &[u8])]; 5] = [
    &[
        (
            true,
            b"\r\nAuthorization: Bearer sk-test-0123456789abcdef\r\n",
        ),
        (false, b"\r\nCookie:"),
    ],
    &[(true, b"\r\nCookie: s=1\r\n")],
    &[(false, b"\r\nAuthorization:"), (false, b"\r\nCookie:")],
    &[(true, b"\r\nCookie: m=2\r\n")],
    &[
        (true, b"GET /five HTTP/1.1\r\nHost: api.example\r\n"),
        (true, b"\r\nCookie: s=1\r\n"),
    ],
];
const EXPECT_HOPS: u8 = 5;
const EXPECT_CONNECTIONS: u16 = 3;
const EXPECT_CODE: &str = "4711";

const PAINT: u32 = 0xC5AC_CE55;

extern "C" {
    /// Top of the stack (cortex-m-rt's linker script).
    static _stack_start: u32;
    /// Bottom of the stack: the end of .bss and .uninit.
    static _stack_end: u32;
}

fn stack_top() -> usize {
    (&raw const _stack_start) as usize
}

fn stack_bottom() -> usize {
    (&raw const _stack_end) as usize
}

/// Fills the free stack, from its bottom up to the stack pointer, with [`PAINT`]; returns the
/// stack pointer.
#[inline(always)]
fn paint_stack() -> usize {
    let bottom = stack_bottom();
    let sp: usize;
    // SAFETY: the loop writes whole words in [_stack_end, sp): below the stack pointer nothing
    // is live (ARM has no red zone, no interrupt is enabled) and above _stack_end is no static;
    // `_stack_end` is 4-aligned (asserted by the linker script). The asm uses no stack itself.
    unsafe {
        core::arch::asm!(
            "mov {end}, sp",
            "2:",
            "cmp {p}, {end}",
            "bhs 3f",
            "str {pat}, [{p}], #4",
            "b 2b",
            "3:",
            p = inout(reg) bottom => _,
            end = out(reg) sp,
            pat = in(reg) PAINT,
            options(nostack),
        );
    }
    sp
}

/// Bytes of stack used so far: from the top down to the deepest word that lost the paint.
#[inline(always)]
fn stack_used() -> usize {
    let (bottom, top) = (stack_bottom(), stack_top());
    let mut p = bottom;
    while p < top {
        // SAFETY: `p` is a 4-aligned address inside the stack region [_stack_end,
        // _stack_start), which is mapped RAM; a volatile read of it has no side effect.
        let word = unsafe { core::ptr::read_volatile(p as *const u32) };
        if word != PAINT {
            break;
        }
        p += 4;
    }
    top - p
}

/// A `fmt::Write` into a fixed buffer, to compare a decoded field without a heap.
struct Text<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Text<N> {
    const fn new() -> Self {
        Text {
            buf: [0; N],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> fmt::Write for Text<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// How the scripted chain ended.
struct Outcome {
    status: u16,
    hops: u8,
    code_ok: bool,
    requests_ok: bool,
    steps: u32,
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Creates the session in its static slot, over the static storage, and configures it as a
/// firmware would: nothing big passes through the stack.
#[inline(never)]
fn create(
    slot: &'static mut Option<Session<'static>>,
    storage: &'static mut Small,
) -> Result<&'static mut Session<'static>, phonecheck_engine::Error> {
    let policy = Policy {
        platform: "cortex-m",
        allow_http_start: true,
        timeouts: phonecheck_engine::Timeouts {
            total: Duration::from_secs(30),
            ..Default::default()
        },
        ..Policy::default()
    };
    let session = Session::new_in(
        slot,
        storage.buffers(),
        CHECK_URL,
        policy,
        Instant::from_millis(0),
    )?;
    session.set_access_token(TOKEN)?;
    session.set_redirect_url(REDIRECT_URL)?;
    session.set_wall_clock(WallClock {
        at: Instant::from_millis(0),
        unix_secs: UNIX_AT_START,
    });
    Ok(session)
}

/// Plays the driver and the servers: feeds the scripted inputs until `Done`.
#[inline(never)]
fn run_chain(
    session: &mut Session<'static>,
    log: &mut HopLog<8, 512>,
    request: &mut [u8; 512],
) -> Result<Outcome, &'static str> {
    // A small transmit buffer, as on a modem: requests go out in several pieces.
    let mut tx = [0u8; 96];
    let mut now = 0u64;
    let mut sending = ConnId::default();
    let mut reply = 0usize; // which response the server is on
    let mut offset = 0usize; // how much of it was fed
    let mut req_len = 0usize;
    let mut requests_ok = true;
    for step in 1..=2000u32 {
        now += 3;
        let t = Instant::from_millis(now);
        let input = match session.poll_output(&mut tx) {
            Output::Connect {
                conn, host, port, ..
            } => {
                let ip = if host == "api.example" {
                    [192, 0, 2, 10]
                } else {
                    [198, 51, 100, 7]
                };
                Some(Input::Connected {
                    conn,
                    info: ConnectionInfo {
                        remote: Some(SocketAddr::from((ip, port))),
                        local: Some(SocketAddr::from(([198, 51, 100, 2], 40000 + step as u16))),
                        dns: Some(Duration::from_millis(2)),
                        connect: Some(Duration::from_millis(1)),
                    },
                })
            }
            Output::Transmit { conn, len } => {
                sending = conn;
                // The socket takes a little less than offered, so requests resume mid-way.
                let took = len.saturating_sub(7).max(1);
                let dst = request
                    .get_mut(req_len..req_len + took)
                    .ok_or("request too long")?;
                dst.copy_from_slice(&tx[..took]);
                req_len += took;
                Some(Input::Sent { conn, len: took })
            }
            Output::Close { .. } => None,
            Output::Hop(record) => {
                log.push(record);
                None
            }
            Output::Wait { .. } => {
                if req_len > 0 {
                    // The request is complete: check its headers, then the server answers.
                    let sent = &request[..req_len];
                    for &(present, header) in EXPECT.get(reply).ok_or("too many requests")?.iter() {
                        requests_ok &= contains(sent, header) == present;
                    }
                    req_len = 0;
                }
                let whole = REPLIES.get(reply).ok_or("session waits past the script")?;
                let end = (offset + PIECE).min(whole.len());
                let bytes = &whole[offset..end];
                if end == whole.len() {
                    reply += 1;
                    offset = 0;
                } else {
                    offset = end;
                }
                Some(Input::Received {
                    conn: sending,
                    bytes,
                })
            }
            Output::Done(Ok(done)) => {
                let mut code = Text::<32>::new();
                let code_ok = match done.field(Field::Code) {
                    Some(v) => write!(code, "{v}").is_ok() && code.as_str() == EXPECT_CODE,
                    None => false,
                };
                return Ok(Outcome {
                    status: done.http_status,
                    hops: done.hops,
                    code_ok: code_ok && done.has_code(),
                    requests_ok,
                    steps: step,
                });
            }
            Output::Done(Err(_)) => return Err("the check failed"),
        };
        if let Some(input) = input {
            session.handle_input(t, input);
        }
    }
    Err("the chain did not finish in 2000 steps")
}

#[entry]
fn main() -> ! {
    let sp_at_start = paint_stack();

    let storage = STORAGE.take();
    let log = HOPS.take();
    let envelope = ENVELOPE.take();
    let request = REQUEST.take();

    let session = match create(SESSION.take(), storage) {
        Ok(s) => s,
        Err(_) => fail("Session::new or configuration failed"),
    };
    let stack_configured = stack_used();

    let outcome = run_chain(session, log, request);
    let written = session.write_debug_envelope(envelope, &*log, &[("platform", "cortex-m4f-qemu")]);
    let stack_whole = stack_used();

    let outcome = match outcome {
        Ok(o) => o,
        Err(why) => {
            if let Ok(n) = written {
                print_envelope(&envelope[..n]);
            }
            fail(why)
        }
    };
    let Ok(n) = written else {
        fail("the envelope did not fit")
    };
    print_envelope(&envelope[..n]);

    let counters = session.counters();
    hprintln!(
        "hops: {} (log kept {}), status {}, connections {}, steps {}",
        outcome.hops,
        log.len(),
        outcome.status,
        counters.connections,
        outcome.steps
    );
    hprintln!(
        "stack: create+configure {} bytes, whole check {} bytes",
        stack_configured,
        stack_whole
    );
    hprintln!(
        "stack: of which main's frame and the reset handler {} bytes",
        stack_top() - sp_at_start
    );
    hprintln!(
        "ram: Session {} bytes, Small {} bytes, HopLog {} bytes (all static)",
        core::mem::size_of::<Session<'static>>(),
        core::mem::size_of::<Small>(),
        core::mem::size_of::<HopLog<8, 512>>()
    );

    let mut ok = true;
    let mut check = |cond: bool, what: &str| {
        if !cond {
            hprintln!("FAIL: {}", what);
            ok = false;
        }
    };
    check(outcome.status == 200, "final status is not 200");
    check(outcome.hops == EXPECT_HOPS, "not 5 hops");
    check(
        log.len() == usize::from(EXPECT_HOPS),
        "hop log does not hold 5 records",
    );
    check(
        outcome.code_ok,
        "no code 4711 (or no check_id) in the final body",
    );
    check(
        counters.connections == EXPECT_CONNECTIONS,
        "not 3 connections",
    );
    check(
        outcome.requests_ok,
        "a request lacked an expected header (token, cookie)",
    );
    let text = core::str::from_utf8(&envelope[..n]).unwrap_or("");
    check(
        text.starts_with(
            "{\"http_status\":200,\"response_body\":{\"check_id\":\"c1\",\"code\":\"4711\",\"ttl\":300}",
        ),
        "envelope does not start with the expected result",
    );
    if !ok {
        fail("the chain did not end as expected");
    }
    hprintln!("bare-metal check ok");
    debug::exit(debug::EXIT_SUCCESS);
    #[allow(clippy::empty_loop)]
    loop {}
}

fn print_envelope(bytes: &[u8]) {
    hprint!("envelope: ");
    // Semihosting writes in pieces; print the envelope as text.
    hprintln!("{}", core::str::from_utf8(bytes).unwrap_or("<not utf-8>"));
}

fn fail(why: &str) -> ! {
    hprintln!("FAIL: {}", why);
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // No message formatting: keep the panic machinery out of the size figures.
    fail("panic")
}

#[exception]
unsafe fn HardFault(_frame: &ExceptionFrame) -> ! {
    fail("hard fault")
}
