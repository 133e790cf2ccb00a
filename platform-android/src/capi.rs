//! The C ABI for SDKs that do not run on the JVM (Flutter's dart:ffi, React Native modules,
//! other native code): open a check by network handle and URL, then copy its envelope into a
//! buffer of the caller's. `include/phonecheck_android.h` is generated from this file by
//! cbindgen (`include/check.sh` regenerates it and fails on a difference).
//!
//! ```text
//!  phonecheck_android_open(handle, url, token, debug) ─► check::open (blocking) ─► result
//!  phonecheck_android_result_envelope(result, buf, len, &needed) ─► OK, or BUFFER_TOO_SMALL
//!        (the result is kept: call again with `needed + 1` bytes; a check cannot be re-run)
//!  phonecheck_android_result_free(result)
//! ```
//!
//! Every pointer is checked for NULL; strings must be NUL-terminated UTF-8 (anything else is an
//! `sdk_error` envelope, not a crash). Values C passes in are integers and pointers only (no
//! Rust `bool`), so any bit pattern is valid. A panic never unwinds into C: the check runs under
//! `catch_unwind` ([`check::open`]) and so does every entry point here.
#![allow(unsafe_code)]
#![allow(non_camel_case_types)]

use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use phonecheck_engine::ErrorCode;

use crate::check::{self, failure_envelope, OpenRequest};
use crate::ndk::NetHandle;

/// What an entry point says.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum phonecheck_android_status {
    /// Done.
    Ok = 0,
    /// The buffer is too small; `*needed` says how many bytes the envelope has (add one for the
    /// terminating NUL). The result is unchanged: call again with a larger buffer.
    BufferTooSmall = 1,
    /// A required pointer was NULL.
    InvalidArgument = 2,
    /// A panic was caught at the boundary (a bug).
    Panic = 3,
}

/// A finished check: its envelope, until phonecheck_android_result_free.
#[derive(Debug)]
pub struct phonecheck_android_result {
    envelope: CString,
}

/// Runs one check over the cellular network `network_handle` (`Network.getNetworkHandle()`,
/// or `net_handle_t` from the NDK) and returns its result, which the caller frees with
/// phonecheck_android_result_free. Blocks until the check ends (20 s at most by default): call it
/// off the UI thread. Safe to call from several threads at once.
///
/// `url` is the check URL; `access_token` may be NULL; `debug` non-zero adds the `debug` object.
/// Every failure, including a NULL or non-UTF-8 `url`, is an envelope with `error` set; the
/// return value is NULL only if the library panicked while building the result (a bug: the
/// check itself runs under a guard that turns a panic into an `sdk_error` envelope).
///
/// # Safety
///
/// `url` and `access_token`, when not NULL, point to NUL-terminated strings that stay valid for
/// the call.
#[no_mangle]
pub unsafe extern "C" fn phonecheck_android_open(
    network_handle: u64,
    url: *const c_char,
    access_token: *const c_char,
    debug: u32,
) -> *mut phonecheck_android_result {
    // SAFETY: the caller's contract, passed on; no recording.
    unsafe { open(network_handle, url, access_token, debug, ptr::null()) }
}

/// `phonecheck_android_open` that also writes a recording of the device step to the file
/// `record_path` (secrets redacted; `phonecheck replay` reads it), for support. If the file
/// cannot be written the result is the check's all the same, with `recording_error` added to
/// the envelope.
///
/// # Safety
///
/// As `phonecheck_android_open`; `record_path` too is a NUL-terminated string valid for the
/// call (NULL: no recording).
#[no_mangle]
pub unsafe extern "C" fn phonecheck_android_open_recording(
    network_handle: u64,
    url: *const c_char,
    access_token: *const c_char,
    debug: u32,
    record_path: *const c_char,
) -> *mut phonecheck_android_result {
    // SAFETY: the caller's contract, passed on.
    unsafe { open(network_handle, url, access_token, debug, record_path) }
}

/// Both entry points: the arguments read, the check run, the result boxed.
///
/// # Safety
///
/// Every pointer is NULL or a NUL-terminated string valid for the call.
unsafe fn open(
    network_handle: u64,
    url: *const c_char,
    access_token: *const c_char,
    debug: u32,
    record_path: *const c_char,
) -> *mut phonecheck_android_result {
    let run = || {
        // SAFETY: the caller promises NUL-terminated strings that outlive the call, or NULL.
        let (url, token, record) = unsafe { (text(url), text(access_token), text(record_path)) };
        let envelope = match (url, token, record) {
            (None, _, _) => failure_envelope(ErrorCode::SdkError, "url is NULL"),
            (Some(Err(())), _, _) => failure_envelope(ErrorCode::SdkError, "url is not UTF-8"),
            (_, Some(Err(())), _) => {
                failure_envelope(ErrorCode::SdkError, "access_token is not UTF-8")
            }
            (_, _, Some(Err(()))) => {
                failure_envelope(ErrorCode::SdkError, "record_path is not UTF-8")
            }
            (Some(Ok(url)), token, record) => check::open(&OpenRequest {
                network: NetHandle(network_handle),
                url,
                access_token: token.and_then(Result::ok),
                debug: debug != 0,
                record: record.and_then(Result::ok).map(std::path::Path::new),
            }),
        };
        // serde_json escapes NUL inside strings, so an envelope has none; a NUL would only cut
        // the C string short, so it is dropped rather than trusted.
        let envelope = CString::new(envelope.replace('\0', "")).unwrap_or_default();
        Box::into_raw(Box::new(phonecheck_android_result { envelope }))
    };
    catch_unwind(AssertUnwindSafe(run)).unwrap_or(ptr::null_mut())
}

/// Copies the envelope of `result` into `out` (`out_len` bytes), NUL-terminated, and sets
/// `*needed` (if not NULL) to its length without the NUL. Returns BUFFER_TOO_SMALL, writing
/// nothing, when `out_len` is not at least that length plus one.
///
/// # Safety
///
/// `result` is NULL or came from phonecheck_android_open and was not freed; `out` is NULL or
/// valid for writes of `out_len` bytes; `needed` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn phonecheck_android_result_envelope(
    result: *const phonecheck_android_result,
    out: *mut c_char,
    out_len: usize,
    needed: *mut usize,
) -> phonecheck_android_status {
    let copy = || {
        // SAFETY: the caller promises a live result or NULL, which as_ref checks.
        let Some(result) = (unsafe { result.as_ref() }) else {
            return phonecheck_android_status::InvalidArgument;
        };
        let bytes = result.envelope.as_bytes_with_nul();
        let len = bytes.len() - 1;
        if !needed.is_null() {
            // SAFETY: not NULL, and the caller promises it is valid for a write.
            unsafe { needed.write(len) };
        }
        if out.is_null() {
            return if out_len == 0 {
                phonecheck_android_status::BufferTooSmall
            } else {
                phonecheck_android_status::InvalidArgument
            };
        }
        if out_len < bytes.len() {
            return phonecheck_android_status::BufferTooSmall;
        }
        // SAFETY: `out` is valid for `out_len` ≥ bytes.len() bytes (caller's promise, length
        // checked above) and cannot overlap the envelope, which this library allocated.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), out.cast::<u8>(), bytes.len()) };
        phonecheck_android_status::Ok
    };
    catch_unwind(AssertUnwindSafe(copy)).unwrap_or(phonecheck_android_status::Panic)
}

/// Frees a result; NULL is ignored.
///
/// # Safety
///
/// `result` is NULL or came from phonecheck_android_open and is freed only once.
#[no_mangle]
pub unsafe extern "C" fn phonecheck_android_result_free(result: *mut phonecheck_android_result) {
    if !result.is_null() {
        // SAFETY: the pointer came from Box::into_raw in phonecheck_android_open and the caller
        // frees it once.
        drop(unsafe { Box::from_raw(result) });
    }
}

/// A C string argument: None for NULL, Err for text that is not UTF-8.
///
/// # Safety
///
/// `p` is NULL or a NUL-terminated string valid for the returned lifetime.
unsafe fn text<'a>(p: *const c_char) -> Option<Result<&'a str, ()>> {
    if p.is_null() {
        return None;
    }
    // SAFETY: not NULL, and the caller promises a NUL-terminated string.
    Some(unsafe { CStr::from_ptr(p) }.to_str().map_err(|_| ()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(result: *const phonecheck_android_result) -> String {
        let mut needed = 0usize;
        // SAFETY: a live result; NULL buffer of length 0 asks for the size.
        let status = unsafe {
            phonecheck_android_result_envelope(result, std::ptr::null_mut(), 0, &mut needed)
        };
        assert_eq!(status, phonecheck_android_status::BufferTooSmall);
        let mut small = vec![0 as c_char; needed];
        // SAFETY: `small` has `needed` bytes: one too few for the NUL.
        let status = unsafe {
            phonecheck_android_result_envelope(result, small.as_mut_ptr(), small.len(), &mut needed)
        };
        assert_eq!(status, phonecheck_android_status::BufferTooSmall);
        let mut buf = vec![0 as c_char; needed + 1];
        // SAFETY: `buf` has room for the envelope and its NUL.
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
        unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn null_and_handle_zero_are_envelopes_and_sizes_are_told() {
        // SAFETY: NULL strings are allowed.
        let r = unsafe { phonecheck_android_open(7, std::ptr::null(), std::ptr::null(), 0) };
        assert!(!r.is_null());
        let e = envelope(r);
        assert!(
            e.contains(r#""error":"sdk_error""#) && e.contains("url is NULL"),
            "{e}"
        );
        // SAFETY: from phonecheck_android_open, freed once.
        unsafe { phonecheck_android_result_free(r) };

        let url = c"https://api.test/check";
        // SAFETY: a NUL-terminated literal.
        let r = unsafe { phonecheck_android_open(0, url.as_ptr(), std::ptr::null(), 1) };
        let e = envelope(r);
        assert!(e.contains("sdk_no_data_connectivity"), "{e}");
        // SAFETY: from phonecheck_android_open, freed once.
        unsafe { phonecheck_android_result_free(r) };
        // SAFETY: NULL is ignored.
        unsafe { phonecheck_android_result_free(std::ptr::null_mut()) };
        // SAFETY: a NULL result is reported, not read.
        let status = unsafe {
            phonecheck_android_result_envelope(
                std::ptr::null(),
                std::ptr::null_mut(),
                0,
                std::ptr::null_mut(),
            )
        };
        assert_eq!(status, phonecheck_android_status::InvalidArgument);
    }
}
