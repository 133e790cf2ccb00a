//! Whole resolved URLs against the url crate, after the resolver's documented differences.
//! The body is `phonecheck_engine::fuzzing::url_resolve` (engine/src/fuzzing*), which
//! engine/tests/fuzz_replay.rs also runs over every kept input on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| phonecheck_engine::fuzzing::url_resolve(data));
