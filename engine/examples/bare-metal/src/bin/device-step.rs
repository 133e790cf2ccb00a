//! The engine as a firmware links it for the PhoneCheck device step: the same five-request
//! chain as `src/main.rs`, hop records ignored, and the result read from the completion (HTTP
//! status and the `code` field; an error as its SDK code) and printed over semihosting. No
//! envelope, no error texts, no integer formatting: less `step-harness.rs`, its size is the
//! engine's flash cost (`run.sh` reports it next to the other programs').
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::debug;
use phonecheck_engine::{Field, FieldValue};

#[path = "../chain.rs"]
mod chain;
#[path = "../lean.rs"]
mod lean;
use lean::{exit, fail, print};

#[entry]
fn main() -> ! {
    lean::play(lean::session(), |result| match result {
        Ok(done) => {
            // The firmware sends these two to its backend, which exchanges the code.
            let ok = done.http_status == 200;
            print(if ok {
                b"status: 200\n"
            } else {
                b"status: not 200\n"
            });
            match done.field(Field::Code) {
                Some(FieldValue::Json(code) | FieldValue::Query(code)) => {
                    print(b"code: ");
                    print(code.as_bytes());
                    print(b"\n");
                }
                None => fail(b"no code in the result"),
            }
        }
        Err(e) => {
            print(b"error: ");
            print(e.code().as_str().as_bytes());
            fail(b"the check failed")
        }
    });
    print(b"device-step check ok\n");
    exit(debug::EXIT_SUCCESS)
}
