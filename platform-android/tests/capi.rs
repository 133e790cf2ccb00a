//! The C ABI end to end on the host: phonecheck_android_open over the process's device (the
//! stand-in described by environment variables, as for a C program) runs a real chain on the
//! simulator, and the envelope comes back through a caller buffer that is first too small.
// The test calls the C entry points as C would.
#![allow(unsafe_code)]

mod common;

use std::ffi::{CStr, CString};

use common::{World, CELLULAR};
use phonecheck_android::capi::{
    phonecheck_android_open, phonecheck_android_open_recording, phonecheck_android_result_envelope,
    phonecheck_android_result_free, phonecheck_android_status,
};
use phonecheck_android::standin::env;
use serde_json::Value;

/// Set for the child process that makes the C calls: the check URL it opens.
const CHILD_URL: &str = "PHONECHECK_TEST_CAPI_URL";
/// And a URL on the same server that answers 404, opened with a recording.
const CHILD_OTHER_URL: &str = "PHONECHECK_TEST_CAPI_OTHER_URL";

#[test]
fn a_real_chain_through_the_c_abi() {
    let world = World::start();
    let check = world.backend.create_check("+447700900001", None).unwrap();
    // The C entry points read the device from the environment, as a C program's library would.
    // A child process gets it set before any thread of its own starts: setting it here, with the
    // simulator's threads running, would race their reads of the environment.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["c_abi_in_a_child", "--exact", "--ignored", "--nocapture"])
        .env(
            env::NETWORKS,
            format!("{}=lo@{}", CELLULAR.0, world.dns.addr),
        )
        .env(env::CA, &world.sim.ca_path)
        .env(CHILD_URL, &check.check_url)
        .env(
            CHILD_OTHER_URL,
            format!(
                "https://api.test:{}/no-such-path",
                world.sim.api_addr.port()
            ),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ENVELOPE "))
        .unwrap_or_else(|| panic!("no envelope from the child: {stdout}"));
    let envelope: Value = serde_json::from_str(text).unwrap();
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

/// The C calls, in the child process `a_real_chain_through_the_c_abi` starts.
#[test]
#[ignore = "run by a_real_chain_through_the_c_abi in a child process with the device's environment"]
fn c_abi_in_a_child() {
    let url = std::env::var(CHILD_URL).expect("started by a_real_chain_through_the_c_abi");
    let url = CString::new(url).unwrap();
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
    println!("ENVELOPE {text}");

    // The recording entry point: the check's result as ever, and a recording on disk.
    let other = CString::new(std::env::var(CHILD_OTHER_URL).unwrap()).unwrap();
    let path = std::env::temp_dir().join(format!("phonecheck-capi-{}.jsonl", std::process::id()));
    let c_path = CString::new(path.display().to_string()).unwrap();
    // SAFETY: NUL-terminated strings that outlive the call; no token.
    let result = unsafe {
        phonecheck_android_open_recording(
            CELLULAR.0,
            other.as_ptr(),
            std::ptr::null(),
            0,
            c_path.as_ptr(),
        )
    };
    assert!(!result.is_null());
    let mut buf = vec![0 as std::ffi::c_char; 4096];
    // SAFETY: a live result; `buf` is valid for its length.
    let status = unsafe {
        phonecheck_android_result_envelope(
            result,
            buf.as_mut_ptr(),
            buf.len(),
            std::ptr::null_mut(),
        )
    };
    assert_eq!(status, phonecheck_android_status::Ok);
    // SAFETY: NUL-terminated by the library; the result is freed once.
    let recorded: Value =
        serde_json::from_str(unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap()).unwrap();
    // SAFETY: from phonecheck_android_open_recording, freed once.
    unsafe { phonecheck_android_result_free(result) };
    assert_eq!(recorded["http_status"], 404, "{recorded}");
    let recording = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(
        recording.starts_with("{\"phonecheck_recording\":1"),
        "{recording}"
    );
}
