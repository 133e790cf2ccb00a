//! # phonecheck-android
//!
//! phonecheck on Android: the engine's session driven by the shared blocking driver over the
//! cellular network an app hands over by its handle, with JNI and C entry points for mobile SDKs.
//!
//! An Android app never names an interface. Its Kotlin side holds a
//! `ConnectivityManager.requestNetwork` request for `TRANSPORT_CELLULAR` with
//! `NET_CAPABILITY_INTERNET` and passes `Network.getNetworkHandle()` down; every socket of the
//! check is bound to that network with `android_setsocknetwork` before it connects, and every
//! name is resolved on it (`android_res_nquery`, else `android_getaddrinfofornetwork`), so the
//! check leaves over mobile data even while Wi-Fi is the default network.
//!
//! ```text
//!  jni_api.rs (Kotlin: PhoneCheckNative) capi.rs (C: phonecheck_android_open)
//!        └──────────────┬──────────────────────┘
//!                       ▼
//!  check.rs   OpenRequest ─► CheckOptions ─► phonecheck_linux::driver::run_check ─► envelope
//!                       │ the driver's Network trait
//!                       ▼
//!  network.rs AndroidNetwork: handle checks, bind every socket, error wording (ENONET, EPERM)
//!  dns.rs     res_nquery ─► getaddrinfofornetwork fallback, deadlines, rcodes
//!                       │ the Ndk trait: one method per C function
//!                       ▼
//!  ndk/android.rs (on Android: libandroid, dlsym for API 29)   standin.rs (elsewhere: a handle
//!                                                               names a Linux interface)
//! ```
//!
//! Fail closed: handle 0 is refused (it would mean the default network); a socket that cannot
//! be bound is never used; DNS never goes to the default network; TLS is always verified
//! (rustls with ring, Mozilla's roots). Secrets in URLs are redacted in debug traces.
//!
//! `unsafe` lives only in the FFI modules (`ndk/android.rs`, `jni_api.rs`, `capi.rs`).

pub mod capi;
pub mod check;
pub mod dns;
pub mod jni_api;
pub mod ndk;
pub mod network;
#[cfg(not(target_os = "android"))]
pub mod standin;

pub use check::{open, Device, OpenRequest};
pub use ndk::{Ndk, NetHandle};
