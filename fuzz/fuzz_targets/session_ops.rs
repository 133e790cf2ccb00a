//! A whole session driven by operation sequences over several connections, invariants checked after every step.
//! The body is `phonecheck_engine::fuzzing::session_ops` (engine/src/fuzzing*), which
//! engine/tests/fuzz_replay.rs also runs over every kept input on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| phonecheck_engine::fuzzing::session_ops(data));
