//! The JNI entry points of `com.idlayr.phonecheck.PhoneCheckNative`, shaped like the official
//! SDK's calls (`docs/PhoneCheck.kt` beside this crate has the Kotlin side):
//!
//! ```text
//!  openWithDataCellular(networkHandle: Long, url: String, debug: Boolean): String
//!  openWithDataCellularAndAccessToken(networkHandle: Long, url: String, accessToken: String,
//!                                     debug: Boolean): String
//!       │ Java strings ─► Rust strings (a null one: an sdk_error envelope, not an exception)
//!       ▼
//!  check::open on the calling thread (blocking: call it off the main thread) ─► envelope ─► String
//! ```
//!
//! Panics: reading the arguments and the check run under `catch_unwind` and become an
//! `sdk_error` envelope; only making the Java string of the envelope can still fail (the JVM
//! out of memory), and `EnvUnowned::with_env` turns that into a `RuntimeException` (jni's
//! `ThrowRuntimeExAndDefault`), never an unwind into the JVM.
//! The methods are static natives (`@JvmStatic external fun` in a Kotlin `object`).
#![allow(unsafe_code)]

use jni::errors::ThrowRuntimeExAndDefault;
use jni::objects::{JClass, JString};
use jni::sys::{jboolean, jlong};
use jni::{Env, EnvUnowned};
use phonecheck_engine::ErrorCode;

use crate::check::{self, failure_envelope, OpenRequest};
use crate::ndk::NetHandle;

/// `openWithDataCellular(networkHandle: Long, url: String, debug: Boolean): String`
// SAFETY: the exported name is the JNI mangling of the Kotlin method, which the JVM binds to
// this signature (static native: env, class, then the arguments); it names nothing else.
#[no_mangle]
pub extern "system" fn Java_com_idlayr_phonecheck_PhoneCheckNative_openWithDataCellular<'local>(
    mut env: EnvUnowned<'local>,
    _class: JClass<'local>,
    network_handle: jlong,
    url: JString<'local>,
    debug: jboolean,
) -> JString<'local> {
    env.with_env(|env| -> jni::errors::Result<JString<'local>> {
        let envelope = contained(|| run(env, network_handle, &url, None, debug, None));
        JString::from_str(env, envelope)
    })
    .resolve::<ThrowRuntimeExAndDefault>()
}

/// `openWithDataCellularAndAccessToken(networkHandle: Long, url: String, accessToken: String,
/// debug: Boolean): String`
// SAFETY: as above; the JVM binds the mangled name to this signature.
#[no_mangle]
pub extern "system" fn Java_com_idlayr_phonecheck_PhoneCheckNative_openWithDataCellularAndAccessToken<
    'local,
>(
    mut env: EnvUnowned<'local>,
    _class: JClass<'local>,
    network_handle: jlong,
    url: JString<'local>,
    access_token: JString<'local>,
    debug: jboolean,
) -> JString<'local> {
    env.with_env(|env| -> jni::errors::Result<JString<'local>> {
        let envelope =
            contained(|| run(env, network_handle, &url, Some(&access_token), debug, None));
        JString::from_str(env, envelope)
    })
    .resolve::<ThrowRuntimeExAndDefault>()
}

/// `openWithDataCellularRecording(networkHandle: Long, url: String, accessToken: String?,
/// debug: Boolean, recordPath: String): String`: the check, and a recording of it written to
/// `recordPath` (secrets redacted) for support (`phonecheck replay` reads it).
// SAFETY: as above; the JVM binds the mangled name to this signature.
#[no_mangle]
pub extern "system" fn Java_com_idlayr_phonecheck_PhoneCheckNative_openWithDataCellularRecording<
    'local,
>(
    mut env: EnvUnowned<'local>,
    _class: JClass<'local>,
    network_handle: jlong,
    url: JString<'local>,
    access_token: JString<'local>,
    debug: jboolean,
    record_path: JString<'local>,
) -> JString<'local> {
    env.with_env(|env| -> jni::errors::Result<JString<'local>> {
        let envelope = contained(|| {
            let Ok(path) = record_path.try_to_string(env) else {
                return failure_envelope(ErrorCode::SdkError, "recordPath is null or unreadable");
            };
            // A null token is no token here (the Kotlin parameter is nullable).
            let token = (!access_token.is_null()).then_some(&access_token);
            run(
                env,
                network_handle,
                &url,
                token,
                debug,
                Some(std::path::Path::new(&path)),
            )
        });
        JString::from_str(env, envelope)
    })
    .resolve::<ThrowRuntimeExAndDefault>()
}

/// Runs `f`; a panic in it is an `sdk_error` envelope.
fn contained(f: impl FnOnce() -> String) -> String {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        failure_envelope(
            ErrorCode::SdkError,
            "internal error in phonecheck's JNI glue (a panic was caught); please report it",
        )
    })
}

/// Reads the arguments and runs the check; every problem is an envelope.
fn run(
    env: &Env<'_>,
    network_handle: jlong,
    url: &JString<'_>,
    access_token: Option<&JString<'_>>,
    debug: jboolean,
    record: Option<&std::path::Path>,
) -> String {
    let Ok(url) = url.try_to_string(env) else {
        return failure_envelope(ErrorCode::SdkError, "url is null or unreadable");
    };
    let token = match access_token.map(|t| t.try_to_string(env)) {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(_)) => {
            return failure_envelope(ErrorCode::SdkError, "accessToken is null or unreadable")
        }
    };
    check::open(&OpenRequest {
        // A Java long carries the handle's 64 bits unchanged.
        network: NetHandle(network_handle as u64),
        url: &url,
        access_token: token.as_deref(),
        debug,
        record,
    })
}
