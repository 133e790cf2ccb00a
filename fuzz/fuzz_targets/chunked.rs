//! The chunked decoder, fed in pieces, against a whole-input reference decoder.
//! The body is `phonecheck_engine::fuzzing::chunked` (engine/src/fuzzing*), which
//! engine/tests/fuzz_replay.rs also runs over every kept input on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| phonecheck_engine::fuzzing::chunked(data));
