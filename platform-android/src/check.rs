//! One check, from an app's call to the JSON envelope it gets back. The JNI and C entry points
//! are thin wrappers over [`open`]; this module owns the policy a phone uses, the trust roots,
//! the choice of NDK, panic containment and the Android wording of network failures.
//!
//! ```text
//!  OpenRequest { handle, url, token, debug }
//!     │ handle 0? ─► sdk_no_data_connectivity at once (no session, nothing sent)
//!     ▼
//!  CheckOptions { AndroidNetwork(ndk, handle), policy "android", TLS (ring, Mozilla roots) }
//!     │ driver::blocking::run_check on the calling thread (blocking; any thread)
//!     ▼
//!  Report.envelope (written by the engine) ─► a failure of the network layer? its Android
//!     wording replaces the engine's in error_description ─► String
//!  any panic on the way ─► an sdk_error envelope; it never reaches the caller as a panic
//! ```
//!
//! Calls share nothing but the NDK handle and the TLS settings (read-only), so any number may run
//! at once on different threads.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};

use phonecheck_engine::{ErrorCode, Policy, TlsSettings};
use phonecheck_linux::driver::record::Recorder;
use phonecheck_linux::driver::{self, CheckOptions};
use phonecheck_linux::net::is_public_suffix;
use serde_json::Value;

use crate::ndk::{Ndk, NetHandle};
use crate::network::{AndroidNetwork, Failure};

/// What an app asks for. Its `Debug` leaves the token out.
#[derive(Clone)]
pub struct OpenRequest<'a> {
    /// `Network.getNetworkHandle()` of the cellular network the app requested.
    pub network: NetHandle,
    /// The `check_url`.
    pub url: &'a str,
    /// A bearer token for the first origin (`openWithDataCellularAndAccessToken`).
    pub access_token: Option<&'a str>,
    /// Add the `debug` object (hop trace, device info; secrets redacted).
    pub debug: bool,
    /// Write a recording of the device step here (`phonecheck replay` reads it), secrets
    /// redacted; for support, not for every check. A file that cannot be written leaves the
    /// check's result as it is and adds `recording_error` to the envelope.
    pub record: Option<&'a std::path::Path>,
}

impl std::fmt::Debug for OpenRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenRequest")
            .field("network", &self.network)
            .field("url", &self.url)
            .field("access_token", &self.access_token.map(|_| "REDACTED"))
            .field("debug", &self.debug)
            .field("record", &self.record)
            .finish()
    }
}

/// The platform a check runs on: the NDK and the TLS settings.
#[derive(Clone, Debug)]
pub struct Device {
    ndk: Arc<dyn Ndk>,
    tls: TlsSettings,
}

/// How `device_info.ndk` names the NDK in debug envelopes.
#[cfg(target_os = "android")]
const NDK_NAME: &str = "libandroid";
#[cfg(not(target_os = "android"))]
const NDK_NAME: &str = "linux stand-in (SO_BINDTODEVICE)";

impl Device {
    /// A device over `ndk`, trusting the roots in `tls`.
    pub fn new(ndk: Arc<dyn Ndk>, tls: TlsSettings) -> Self {
        Device { ndk, tls }
    }

    /// The NDK.
    pub fn ndk(&self) -> &Arc<dyn Ndk> {
        &self.ndk
    }

    /// Runs one check and returns its envelope. Never panics: a panic inside becomes an
    /// `sdk_error` envelope.
    pub fn open(&self, request: &OpenRequest<'_>) -> String {
        catch_unwind(AssertUnwindSafe(|| self.open_inner(request))).unwrap_or_else(|_| {
            failure_envelope(
                ErrorCode::SdkError,
                "internal error in phonecheck (a panic was caught at the library boundary); \
                 the check did not finish; please report it",
            )
        })
    }

    fn open_inner(&self, request: &OpenRequest<'_>) -> String {
        if request.network == NetHandle::UNSPECIFIED {
            return failure_envelope(
                ErrorCode::NoDataConnectivity,
                &Failure::NoHandle.to_string(),
            );
        }
        let network = Arc::new(AndroidNetwork::new(Arc::clone(&self.ndk), request.network));
        let device_info = request.debug.then(|| {
            vec![
                ("platform".to_string(), "android".to_string()),
                (
                    "engine".to_string(),
                    format!("phonecheck/{}", env!("CARGO_PKG_VERSION")),
                ),
                ("network_handle".to_string(), request.network.to_string()),
                ("ndk".to_string(), NDK_NAME.to_string()),
            ]
        });
        let options = CheckOptions {
            url: request.url.to_string(),
            policy: android_policy(),
            network: network.clone(),
            tls: self.tls.clone(),
            access_token: request.access_token.map(str::to_string),
            redirect_url: None,
            expected_state: None,
            device_info,
        };
        let (report, recorded) = match request.record {
            None => (driver::run_check(&options, &mut |_| {}), Ok(())),
            Some(path) => {
                let mut recorder = Recorder::new(&options, false);
                let report = driver::run_check_recorded(&options, &mut |_| {}, None, &mut recorder);
                let written = recorder.finish().write(path).map_err(|e| e.to_string());
                (report, written)
            }
        };
        let envelope = match (report.code, network.last_failure()) {
            (Some(_), Some(failure)) => with_android_wording(&report.envelope, &failure),
            _ => report.envelope,
        };
        match recorded {
            Ok(()) => envelope,
            Err(why) => with_member(&envelope, "recording_error", &why),
        }
    }
}

/// The policy every Android check starts from: `android` in `User-Agent`, cookie domains
/// checked against the public suffix list, the engine's deadlines and limits.
pub fn android_policy() -> Policy {
    Policy {
        platform: "android",
        public_suffix: Some(is_public_suffix),
        ..Policy::default()
    }
}

/// The process's device: on Android the NDK and Mozilla's roots; elsewhere the stand-in the
/// environment describes (see `standin::env`).
pub fn device() -> Result<&'static Device, String> {
    static DEVICE: OnceLock<Result<Device, String>> = OnceLock::new();
    DEVICE
        .get_or_init(make_device)
        .as_ref()
        .map_err(Clone::clone)
}

#[cfg(target_os = "android")]
fn make_device() -> Result<Device, String> {
    Ok(Device::new(
        Arc::new(crate::ndk::android::AndroidNdk),
        TlsSettings::with_ring(),
    ))
}

#[cfg(not(target_os = "android"))]
fn make_device() -> Result<Device, String> {
    let (standin, ca) = crate::standin::StandIn::from_env()?;
    let mut tls = TlsSettings::with_ring();
    if let Some(pem) = ca {
        tls = tls
            .with_roots_pem(&pem)
            .map_err(|e| format!("{}: {e}", crate::standin::env::CA))?;
    }
    Ok(Device::new(Arc::new(standin), tls))
}

/// Runs one check on the process's device and returns its envelope; never panics.
pub fn open(request: &OpenRequest<'_>) -> String {
    match catch_unwind(device) {
        Ok(Ok(device)) => device.open(request),
        Ok(Err(problem)) => failure_envelope(
            ErrorCode::SdkError,
            &format!("the device could not be set up: {problem}"),
        ),
        Err(_) => failure_envelope(
            ErrorCode::SdkError,
            "internal error in phonecheck (a panic while setting up the device)",
        ),
    }
}

/// The envelope with one more member at its end.
fn with_member(envelope: &str, key: &str, value: &str) -> String {
    let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(envelope) else {
        return envelope.to_string();
    };
    map.insert(key.into(), Value::String(value.into()));
    Value::Object(map).to_string()
}

/// An envelope for a failure before any session started.
pub fn failure_envelope(code: ErrorCode, description: &str) -> String {
    driver::failure(code, description, None).envelope
}

/// The envelope with the network layer's own account of the failure as `error_description`
/// (the engine's says "no mobile data connectivity"; this one says ENONET or EPERM and what to
/// do). Only failures the driver reported with a `detail` are the network layer's.
fn with_android_wording(envelope: &str, failure: &Failure) -> String {
    let Ok(mut value) = serde_json::from_str::<Value>(envelope) else {
        return envelope.to_string();
    };
    let Some(map) = value.as_object_mut() else {
        return envelope.to_string();
    };
    if !map.contains_key("detail") {
        return envelope.to_string();
    }
    let engine = map
        .get("error_description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // Keep the engine's "hop N: " so the app still sees where it happened.
    let hop = engine
        .strip_prefix("hop ")
        .and_then(|rest| rest.split_once(": "))
        .filter(|(n, _)| n.chars().all(|c| c.is_ascii_digit()))
        .map(|(n, _)| format!("hop {n}: "))
        .unwrap_or_default();
    map.insert(
        "error_description".into(),
        Value::String(format!("{hop}{failure}")),
    );
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_network_layer_words_its_own_failures() {
        let engine = r#"{"error":"sdk_no_data_connectivity","error_description":"hop 2: no mobile data connectivity (interface missing or down)","hops":2,"detail":"x"}"#;
        let out = with_android_wording(engine, &Failure::NetworkGone(NetHandle(9)));
        let v: Value = serde_json::from_str(&out).unwrap();
        let d = v["error_description"].as_str().unwrap();
        assert!(
            d.starts_with("hop 2: the cellular network (handle 9) is gone (ENONET)"),
            "{d}"
        );
        assert_eq!(v["error"], "sdk_no_data_connectivity");
        assert_eq!(v["hops"], 2);
        // Key order is the engine's.
        assert!(out.starts_with(r#"{"error":"#));
        // Without a driver detail the failure was not the network layer's: untouched.
        let tls =
            r#"{"error":"sdk_connection_error","error_description":"hop 1: bad certificate"}"#;
        assert_eq!(with_android_wording(tls, &Failure::NoHandle), tls);
    }

    #[test]
    fn handle_zero_is_refused_before_anything_is_sent() {
        let standin = Arc::new(crate::standin::StandIn::new());
        let device = Device::new(standin.clone(), TlsSettings::with_ring());
        let out = device.open(&OpenRequest {
            network: NetHandle::UNSPECIFIED,
            url: "https://example.invalid/",
            access_token: None,
            debug: false,
            record: None,
        });
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["error"], "sdk_no_data_connectivity");
        assert!(v["error_description"]
            .as_str()
            .unwrap()
            .contains("TRANSPORT_CELLULAR"));
        assert!(standin.calls().is_empty(), "the NDK was not asked anything");
    }
}
