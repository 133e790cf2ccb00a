//! The JSON scanner never panics, and every document it accepts serde_json accepts too.
//! The body is `phonecheck_engine::fuzzing::json_scan` (engine/src/fuzzing*), which
//! engine/tests/fuzz_replay.rs also runs over every kept input on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| phonecheck_engine::fuzzing::json_scan(data));
