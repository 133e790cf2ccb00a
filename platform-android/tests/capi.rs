//! The C ABI end to end on the host: phonecheck_android_open over the process's device (the
//! stand-in described by environment variables, as for a C program) runs a real chain on the
//! simulator, and the envelope comes back through a caller buffer that is first too small.
// The test calls the C entry points as C would.
#![allow(unsafe_code)]

mod common;

use std::ffi::{CStr, CString};

use common::{World, CELLULAR};
use phonecheck_android::capi::{
    phonecheck_android_open, phonecheck_android_result_envelope, phonecheck_android_result_free,
    phonecheck_android_status,
};
use phonecheck_android::standin::env;
use serde_json::Value;

#[test]
fn a_real_chain_through_the_c_abi() {
    let world = World::start();
    // The only test in this binary, and the device is read once, on the first open.
    std::env::set_var(
        env::NETWORKS,
        format!("{}=lo@{}", CELLULAR.0, world.dns.addr),
    );
    std::env::set_var(env::CA, &world.sim.ca_path);
    let check = world.backend.create_check("+447700900001", None).unwrap();
    let url = CString::new(check.check_url.clone()).unwrap();
    // SAFETY: a NUL-terminated string that outlives the call; no token.
    let result = unsafe { phonecheck_android_open(CELLULAR.0, url.as_ptr(), std::ptr::null(), 0) };
    assert!(!result.is_null());

    let mut needed = 0usize;
    let mut small = [0 as std::ffi::c_char; 16];
    // SAFETY: a live result; `small` is valid for its length.
    let status = unsafe {
        phonecheck_android_result_envelope(result, small.as_mut_ptr(), small.len(), &mut needed)
    };
    assert_eq!(status, phonecheck_android_status::BufferTooSmall);
    assert!(needed > small.len());
    let mut buf = vec![0 as std::ffi::c_char; needed + 1];
    // SAFETY: as above, with room for the envelope and its NUL.
    let status = unsafe {
        phonecheck_android_result_envelope(
            result,
            buf.as_mut_ptr(),
            buf.len(),
            std::ptr::null_mut(),
        )
    };
    assert_eq!(status, phonecheck_android_status::Ok);
    // SAFETY: the library wrote a NUL-terminated string into `buf`.
    let text = unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_str()
        .unwrap()
        .to_string();
    // SAFETY: from phonecheck_android_open, freed once.
    unsafe { phonecheck_android_result_free(result) };

    assert_eq!(text.len(), needed);
    let envelope: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(envelope["http_status"], 200, "{envelope}");
    let code = envelope["response_body"]["code"].as_str().unwrap();
    assert!(
        world
            .backend
            .submit_code(&check.check_id, code)
            .unwrap()
            .matched
    );
}
