//! `device-step.rs` without the engine: the same runtime, semihosting output, failure and
//! fault handlers, the same scripted replies and messages. Its size, taken from
//! `device-step`'s, leaves what the engine costs there.
#![no_std]
#![no_main]

use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::{debug, hio};

#[path = "../chain.rs"]
mod chain;
use chain::{PIECE, REPLIES};

#[entry]
fn main() -> ! {
    // The script goes out as it would go into a session: in pieces, so it stays in .rodata
    // and the loop that walks it stays in .text.
    for whole in REPLIES {
        for piece in whole.chunks(PIECE) {
            print(piece);
        }
    }
    let ok = core::hint::black_box(true);
    print(if ok { b"status: 200\n" } else { b"status: not 200\n" });
    print(b"code: ");
    print(b"\n");
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
