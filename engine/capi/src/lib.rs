//! `libphonecheck.a`: the C ABI of `phonecheck-engine` (its `ffi` module) as a static library.
//!
//! Every `#[no_mangle] extern "C"` function of `phonecheck_engine::ffi` is exported from the
//! archive; the header is `engine/include/phonecheck.h`.
//!
//! - With the default `std` feature (hosted targets) the library links std and the engine's
//!   entry points run under `catch_unwind` (feature `ffi-std`): a panic returns
//!   `PHONECHECK_STATUS_ERR_PANIC` instead of unwinding into C.
//! - Without it (`--no-default-features`, bare-metal targets such as `thumbv7em-none-eabihf`,
//!   whose panic strategy is `abort`) this crate is `no_std` and its panic handler calls the C
//!   library's `abort()` (newlib's, or the firmware's own): nothing unwinds into C.
#![cfg_attr(not(feature = "std"), no_std)]

pub use phonecheck_engine::ffi::*;

#[cfg(not(feature = "std"))]
mod bare {
    extern "C" {
        /// The C runtime's `abort` (newlib provides it; firmware may define its own, e.g. a
        /// reset).
        fn abort() -> !;
    }

    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
        // No message formatting: it would pull the formatting machinery into the image.
        // SAFETY: `abort` takes no arguments and does not return.
        unsafe { abort() }
    }
}
