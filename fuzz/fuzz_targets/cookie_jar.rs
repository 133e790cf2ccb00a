//! The cookie jar as Set-Cookie / request operations against a reference model.
//! The body is `phonecheck_engine::fuzzing::cookie_jar` (engine/src/fuzzing*), which
//! engine/tests/fuzz_replay.rs also runs over every kept input on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| phonecheck_engine::fuzzing::cookie_jar(data));
