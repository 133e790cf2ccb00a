//! `device-step.rs` without the engine: the same runtime, semihosting output, failure and
//! fault handlers (`src/lean.rs`), the same scripted replies and messages. Its size, taken from
//! `device-step`'s, leaves what the engine costs there.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::debug;

#[path = "../chain.rs"]
mod chain;
#[path = "../lean.rs"]
mod lean;
use chain::{PIECE, REPLIES};
use lean::{exit, fail, print};

#[entry]
fn main() -> ! {
    // The script goes out as it would go into a session: in pieces, so it stays in .rodata
    // and a loop walks it, as `lean::play` does.
    for whole in REPLIES {
        for piece in whole.chunks(PIECE) {
            print(piece);
        }
    }
    if !core::hint::black_box(true) {
        fail(b"the session waits past the script");
    }
    let ok = core::hint::black_box(true);
    print(if ok {
        b"status: 200\n"
    } else {
        b"status: not 200\n"
    });
    print(b"code: ");
    print(b"\n");
    print(b"device-step check ok\n");
    exit(debug::EXIT_SUCCESS)
}
