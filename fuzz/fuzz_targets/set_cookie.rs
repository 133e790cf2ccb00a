//! Arbitrary Set-Cookie values never panic the jar.
//! The body is `phonecheck_engine::fuzzing::set_cookie` (engine/src/fuzzing*), which
//! engine/tests/fuzz_replay.rs also runs over every kept input on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| phonecheck_engine::fuzzing::set_cookie(data));
