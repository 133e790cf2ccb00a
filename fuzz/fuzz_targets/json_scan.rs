//! The JSON scanner never panics, and every document it accepts serde_json accepts too (so the
//! envelope can embed it verbatim).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if phonecheck_engine::json::scan(data, |_, _| {}).is_ok() {
        assert!(serde_json::from_slice::<serde_json::Value>(data).is_ok());
    }
});
