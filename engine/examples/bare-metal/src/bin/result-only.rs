//! The engine as a firmware that wants only the result: the same five-request chain as
//! `src/main.rs`, hop records ignored, the SDK envelope without its `debug` object written and
//! printed over semihosting. No integer formatting, no hop log, no request checks: its size is
//! the flash cost of a firmware that passes the SDK's result on as it is (`run.sh` reports it
//! next to the other programs').
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::debug;
use static_cell::ConstStaticCell;

#[path = "../chain.rs"]
mod chain;
#[path = "../lean.rs"]
mod lean;
use lean::{exit, fail, print};

static ENVELOPE: ConstStaticCell<[u8; 512]> = ConstStaticCell::new([0; 512]);

#[entry]
fn main() -> ! {
    let session = lean::session();
    // The envelope carries the result, failures included: nothing to do at the end itself.
    lean::play(session, |_| {});
    let envelope = ENVELOPE.take();
    let Ok(n) = session.write_envelope(envelope) else {
        fail(b"the envelope did not fit")
    };
    print(b"envelope: ");
    print(envelope.get(..n).unwrap_or_default());
    print(b"\nresult-only check ok\n");
    exit(debug::EXIT_SUCCESS)
}
