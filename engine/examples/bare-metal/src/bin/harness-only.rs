//! The harness without the engine: cortex-m-rt, semihosting, integer formatting, the panic and
//! fault handlers. Its size, taken from the main program's, leaves what the engine costs.
#![no_std]
#![no_main]

use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::{debug, hprintln};

#[entry]
fn main() -> ! {
    // A value the compiler cannot fold, so integer formatting stays in, as in the main program.
    let words = core::hint::black_box(7u32);
    hprintln!(
        "harness only: {} words, {} bytes",
        words,
        words as usize * 4
    );
    debug::exit(debug::EXIT_SUCCESS);
    #[allow(clippy::empty_loop)]
    loop {}
}

fn fail(why: &str) -> ! {
    hprintln!("FAIL: {}", why);
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    fail("panic")
}

#[exception]
unsafe fn HardFault(_frame: &ExceptionFrame) -> ! {
    fail("hard fault")
}
