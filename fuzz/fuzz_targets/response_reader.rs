//! The response reader on arbitrary bytes: never panics; two pieces read as one.
//! The body is `phonecheck_engine::fuzzing::response_reader` (engine/src/fuzzing*), which
//! engine/tests/fuzz_replay.rs also runs over every kept input on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| phonecheck_engine::fuzzing::response_reader(data));
