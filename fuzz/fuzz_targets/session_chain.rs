//! A whole session fed a hostile server's bytes always ends, within the hop bound.
//! The body is `phonecheck_engine::fuzzing::session_chain` (engine/src/fuzzing*), which
//! engine/tests/fuzz_replay.rs also runs over every kept input on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| phonecheck_engine::fuzzing::session_chain(data));
