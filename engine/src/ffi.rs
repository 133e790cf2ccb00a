//! A C ABI over [`Session`](crate::Session) (feature `ffi`), for firmware written in C over a
//! vendor network stack. `include/phonecheck.h` is generated from this file by cbindgen
//! (`include/check.sh` regenerates it and fails on a difference).
//!
//! ```text
//!  C caller memory ─────────────► phonecheck_session_init ──► Session<'static> in the blob
//!  (session blob, url / receive /       │                       (borrows the areas until
//!   cookie areas, connection slots,     ▼                        phonecheck_session_deinit)
//!   optional hop log)           phonecheck_session_poll ──► phonecheck_output + tx + text
//!                               phonecheck_session_{connected,received,sent,eof,failed,timeout}
//! ```
//!
//! The session lives in caller memory (`phonecheck_session`, a blob of at least
//! `phonecheck_session_size()` bytes): [`Session::new_in`](crate::Session::new_in) builds it
//! there, and its buffers are slices made from the caller's pointers with a `'static` lifetime,
//! which the caller upholds by keeping them valid and untouched until
//! `phonecheck_session_deinit`. Nothing is allocated (without `tls`). Every pointer is checked
//! for NULL, alignment, length overflow and overlap with the other buffers the session holds;
//! what cannot be checked (that memory is really there, that it outlives the session) is each
//! function's safety contract.
//!
//! Panics: the engine does not panic on any input (it is written without `unwrap`, indexing or
//! `panic!`), but a bug must not unwind into C. With `ffi-std` every entry point runs under
//! `catch_unwind` and returns `PHONECHECK_STATUS_ERR_PANIC`, leaving the session poisoned; without
//! it (bare metal) the program is built with `panic = "abort"` and the panic handler the
//! staticlib provides calls `abort()`. Either way an `extern "C"` function that unwinds aborts
//! (Rust ≥ 1.81), so nothing crosses the boundary.
//!
//! This file is the ABI surface (the C types and the `extern "C"` functions; cbindgen reads only
//! it); `ffi/imp.rs` holds the blob's contents, the pointer checks and the larger bodies,
//! `ffi/hops.rs` the optional hop log. Values C writes and Rust reads (the configuration,
//! connection info) are integers and raw pointers only, never Rust `bool`s or enums, so any bit
//! pattern C hands over is a valid Rust value; enums travel from Rust to C only, and where C
//! passes one in, the parameter is a `uint32_t` and the value is checked.
#![allow(unsafe_code)]
#![allow(non_camel_case_types)]

#[cfg(feature = "ffi-std")]
extern crate std;

mod hops;
mod imp;

use core::ffi::{c_char, c_void, CStr};
use core::mem::{align_of, size_of};
use core::ptr;

use crate::policy::Policy;
use crate::session::{ConnectionInfo, Input};
use crate::storage::Connection;
use crate::time::{Instant, WallClock};
use crate::trace::{ConnId, HopRecord, HopSource};

use hops::HopSlot;
use imp::*;

/// The C ABI's version: bumped on any incompatible change of a struct or function.
pub const PHONECHECK_ABI_VERSION: u32 = 1;

/// A timing field that has no value (the phase did not happen).
pub const PHONECHECK_NO_TIME: u32 = 0xFFFF_FFFF;

/// Bytes a text buffer needs to take any host name (253 bytes) and its NUL: the `text` buffer
/// passed to `phonecheck_session_poll` must have at least this many.
pub const PHONECHECK_HOST_BUFFER_SIZE: usize = 254;

/// Largest number of `device_info` pairs `phonecheck_session_write_debug_envelope` takes.
pub const PHONECHECK_MAX_DEVICE_INFO: usize = 8;

/// The `small` storage profile (firmware): URL area bytes (two 1 KiB URL slots plus 256 bytes
/// for the token and redirect prefix).
pub const PHONECHECK_SMALL_URL_AREA: usize = 2304;
/// The `small` profile: receive area bytes (response heads and the final body).
pub const PHONECHECK_SMALL_RECEIVE_AREA: usize = 2048;
/// The `small` profile: cookie area bytes.
pub const PHONECHECK_SMALL_COOKIE_AREA: usize = 1024;
/// The `small` profile: connection slots.
pub const PHONECHECK_SMALL_CONNECTIONS: usize = 1;
/// The `hosted` profile: URL area bytes (two 8 KiB URL slots plus 4 KiB).
pub const PHONECHECK_HOSTED_URL_AREA: usize = 20480;
/// The `hosted` profile: receive area bytes.
pub const PHONECHECK_HOSTED_RECEIVE_AREA: usize = 16384;
/// The `hosted` profile: cookie area bytes.
pub const PHONECHECK_HOSTED_COOKIE_AREA: usize = 8192;
/// The `hosted` profile: connection slots.
pub const PHONECHECK_HOSTED_CONNECTIONS: usize = 4;

// Upper bounds of the engine's memory blocks, per pointer width (with or without `tls`), so C
// can declare them as `static` objects. Each is checked at compile time against the real size
// (in `ffi/imp.rs`); the exact sizes are returned by `phonecheck_session_size()` and friends.
// Measured (no tls / tls): thumbv7em session 1008 / 1032, connection 344 / 348, hop slot 360;
// x86_64 session 1384 / 1424, connection 360 / 368, hop slot 400.

/// 8-byte words of a `phonecheck_session` on 32-bit targets (an upper bound, checked when built).
#[cfg(target_pointer_width = "32")]
pub const PHONECHECK_SESSION_WORDS: usize = 136;
/// 8-byte words of a `phonecheck_session` on 64-bit targets (an upper bound, checked when built).
#[cfg(target_pointer_width = "64")]
pub const PHONECHECK_SESSION_WORDS: usize = 192;
/// 8-byte words of one connection slot on 32-bit targets (an upper bound, checked at build time).
#[cfg(target_pointer_width = "32")]
pub const PHONECHECK_CONNECTION_WORDS: usize = 45;
/// 8-byte words of one connection slot on 64-bit targets (an upper bound, checked at build time).
#[cfg(target_pointer_width = "64")]
pub const PHONECHECK_CONNECTION_WORDS: usize = 48;
/// 8-byte words of one hop-log slot on 32-bit targets (an upper bound, checked at build time).
#[cfg(target_pointer_width = "32")]
pub const PHONECHECK_HOP_SLOT_WORDS: usize = 48;
/// 8-byte words of one hop-log slot on 64-bit targets (an upper bound, checked at build time).
#[cfg(target_pointer_width = "64")]
pub const PHONECHECK_HOP_SLOT_WORDS: usize = 52;
/// Bytes of a `phonecheck_session` (an upper bound of `phonecheck_session_size()`).
pub const PHONECHECK_SESSION_SIZE: usize = PHONECHECK_SESSION_WORDS * 8;
/// Bytes of a `phonecheck_connection` (an upper bound of `phonecheck_connection_size()`).
pub const PHONECHECK_CONNECTION_SIZE: usize = PHONECHECK_CONNECTION_WORDS * 8;
/// Bytes of a `phonecheck_hop_slot` (an upper bound of `phonecheck_hop_slot_size()`).
pub const PHONECHECK_HOP_SLOT_SIZE: usize = PHONECHECK_HOP_SLOT_WORDS * 8;

/// Memory for one session: declare it (`static phonecheck_session s;`) or allocate
/// `phonecheck_session_size()` bytes aligned to `phonecheck_session_align()`. Opaque: only the
/// `phonecheck_session_*` functions touch it. It must not move while the session is live.
#[repr(C)]
pub struct phonecheck_session {
    _opaque: [u64; PHONECHECK_SESSION_WORDS],
}

/// One connection slot, for declaring the connection area as an array
/// (`static phonecheck_connection conns[N];`). The area may also be any memory of at least
/// `N * phonecheck_connection_size()` bytes aligned to `phonecheck_connection_align()`.
#[repr(C)]
pub struct phonecheck_connection {
    _opaque: [u64; PHONECHECK_CONNECTION_WORDS],
}

/// One hop-log slot (optional: hop records for the debug envelope), for declaring the hop log
/// as an array. Any memory of `N * phonecheck_hop_slot_size()` bytes aligned to
/// `phonecheck_hop_slot_align()` works too.
#[repr(C)]
pub struct phonecheck_hop_slot {
    _opaque: [u64; PHONECHECK_HOP_SLOT_WORDS],
}

/// What a `phonecheck_*` function returns. `PHONECHECK_STATUS_OK` is 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum phonecheck_status {
    /// Done.
    Ok = 0,
    /// A required pointer is NULL (or NULL with a non-zero length).
    ErrNull = 1,
    /// A pointer is not aligned for what it points to.
    ErrAlignment = 2,
    /// A buffer or memory block is too small; where there is a `needed` out-parameter it says
    /// how many bytes would do (the text's NUL included).
    ErrTooSmall = 3,
    /// No live session: init was not called, failed, or deinit was called.
    ErrNotInitialized = 4,
    /// An argument is out of range, not UTF-8, or a length overflows.
    ErrInvalidArgument = 5,
    /// Two buffers overlap (each area must be separate memory, apart from the session too).
    ErrOverlap = 6,
    /// The check URL is not a usable http(s) URL.
    ErrInvalidUrl = 7,
    /// The check URL is plain http and `allow_http_start` is 0.
    ErrInsecureStart = 8,
    /// A lent storage area is too small for what the session must keep there (or no
    /// connection slot was lent).
    ErrStorage = 9,
    /// A policy value is out of range (for example `max_redirects` above 254).
    ErrPolicy = 10,
    /// A setting given after the check started, or given twice.
    ErrAlreadyStarted = 11,
    /// The check has not finished yet.
    ErrNotFinished = 12,
    /// The requested field or error is not there.
    ErrNotFound = 13,
    /// The engine panicked (a bug). Hosted builds (feature `ffi-std`) catch the panic and
    /// return this; the session is then unusable except for `phonecheck_session_deinit`.
    /// Bare-metal builds abort instead (`panic = "abort"`).
    ErrPanic = 14,
}

/// The SDK-compatible error codes of a failed check (`error` in the JSON envelope).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum phonecheck_error_code {
    /// No error: the check ended with a final HTTP response.
    #[default]
    None = 0,
    /// `sdk_no_data_connectivity`
    NoDataConnectivity = 1,
    /// `sdk_connection_error`
    ConnectionError = 2,
    /// `sdk_redirect_error`
    RedirectError = 3,
    /// `sdk_error`
    SdkError = 4,
    /// `invalid_scheme`
    InvalidScheme = 5,
    /// `state_mismatch`
    StateMismatch = 6,
    /// `interaction_required`
    InteractionRequired = 7,
}

/// Why a connection failed, for `phonecheck_session_failed` (passed as a `uint32_t`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum phonecheck_transport_error {
    /// No mobile data: the interface is missing or down.
    NoDataConnectivity = 1,
    /// No route to the host through the mobile interface.
    NoRoute = 2,
    /// The name did not resolve.
    DnsFailed = 3,
    /// The DNS servers did not answer in time.
    DnsTimeout = 4,
    /// The server refused the connection.
    ConnectionRefused = 5,
    /// The connect attempt timed out in the driver.
    ConnectTimeout = 6,
    /// The connection was reset or broke while in use.
    ConnectionReset = 7,
    /// The socket could not be bound to the mobile interface.
    PinDenied = 8,
    /// Any other socket failure.
    Other = 9,
}

/// A PhoneCheck field of the final response, for `phonecheck_session_field` (passed as a
/// `uint32_t`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum phonecheck_field {
    /// `check_id`
    CheckId = 0,
    /// `code`: the one-time code.
    Code = 1,
    /// `reference_id`
    ReferenceId = 2,
    /// `error`
    Error = 3,
    /// `error_description`
    ErrorDescription = 4,
}

/// The scheme of a connection.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum phonecheck_scheme {
    /// Plain HTTP.
    Http = 0,
    /// HTTP over TLS (needs the `tls` feature and TLS settings, else the hop fails closed).
    Https = 1,
}

/// What `phonecheck_session_poll` asks the caller to do.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum phonecheck_output_kind {
    /// Open connection `conn` to `text` (the host, NUL-terminated, `text_len` bytes) port
    /// `port`, then feed `phonecheck_session_connected` (or `_failed`).
    Connect = 1,
    /// Send the first `len` bytes of the `tx` buffer on `conn`, then feed
    /// `phonecheck_session_sent` with how many the socket took (any part, 0 too).
    Transmit = 2,
    /// Close connection `conn`; it is not mentioned again.
    Close = 3,
    /// Nothing to do until input arrives or `until_ms` passes (then feed
    /// `phonecheck_session_timeout`).
    Wait = 4,
    /// A hop finished: `hop` describes it, `text` holds its URL (secrets redacted unless
    /// `raw_trace`; `text_truncated` when it did not fit).
    Hop = 5,
    /// The check is over: `done` says how; details from `phonecheck_session_result`,
    /// `_field`, `_error_message` and `_write_envelope`.
    Done = 6,
}

/// The storage, policy and first URL of a check. Fill it with `phonecheck_config_default`,
/// then set the check URL and the areas. Flags are `uint8_t`: 0 is false, anything else true.
///
/// Every pointer given here must stay valid, and the memory it points to untouched by the
/// caller, until `phonecheck_session_deinit` (the session borrows it): the four areas, the hop
/// log and `platform`. `check_url` is copied during init.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct phonecheck_config {
    /// The check URL (not NUL-terminated; UTF-8).
    pub check_url: *const c_char,
    /// Its length in bytes.
    pub check_url_len: usize,
    /// The caller's monotonic clock now, in milliseconds from any origin.
    pub now_ms: u64,
    /// URL area: two URL slots, then the token and redirect prefix.
    pub url_area: *mut u8,
    /// Its length in bytes.
    pub url_area_len: usize,
    /// Receive area: a response head arriving in pieces, then the final body.
    pub receive_area: *mut u8,
    /// Its length in bytes.
    pub receive_area_len: usize,
    /// Cookie area.
    pub cookie_area: *mut u8,
    /// Its length in bytes.
    pub cookie_area_len: usize,
    /// Connection slots: `count * phonecheck_connection_size()` bytes, aligned to
    /// `phonecheck_connection_align()` (a `phonecheck_connection` array is).
    pub connection_area: *mut c_void,
    /// Its length in bytes (not a count).
    pub connection_area_len: usize,
    /// Optional hop log for the debug envelope (NULL, 0: none): `count *
    /// phonecheck_hop_slot_size()` bytes aligned to `phonecheck_hop_slot_align()`.
    pub hop_slots: *mut c_void,
    /// Its length in bytes (not a count).
    pub hop_slots_len: usize,
    /// The hop log's URL bytes (NULL, 0 with no hop log).
    pub hop_urls: *mut u8,
    /// Its length in bytes.
    pub hop_urls_len: usize,
    /// The platform part of `User-Agent` (UTF-8, not NUL-terminated; NULL, 0 for none).
    pub platform: *const c_char,
    /// Its length in bytes.
    pub platform_len: usize,
    /// Redirects to follow (at most 254); default 10.
    pub max_redirects: u8,
    /// Allow the check URL to be plain http; default 0 (https only).
    pub allow_http_start: u8,
    /// Keep connections for later hops (`Connection: keep-alive`); default 1.
    pub reuse_connections: u8,
    /// Connections open at once, at most the slots lent; default 4.
    pub max_connections: u8,
    /// Show secrets (token, cookie values, `code`) in hop URLs and the debug envelope;
    /// default 0.
    pub raw_trace: u8,
    /// Every request must be https (CAMARA): an http check URL is refused whatever
    /// `allow_http_start` says, and a redirect to http ends the check (`sdk_redirect_error`);
    /// default 0.
    pub require_https: u8,
    /// A final 2xx `text/html` (a consent or login page) ends the check as
    /// `interaction_required` (CAMARA); default 0.
    pub html_is_interaction: u8,
    /// Name resolution deadline (ms); default 5000.
    pub dns_timeout_ms: u32,
    /// TCP connect deadline (ms); default 5000.
    pub connect_timeout_ms: u32,
    /// TLS handshake deadline (ms); default 5000.
    pub tls_timeout_ms: u32,
    /// From the request to the end of the response head (ms); default 5000.
    pub response_head_timeout_ms: u32,
    /// Silence while a body arrives (ms); default 5000.
    pub idle_timeout_ms: u32,
    /// The whole check (ms); default 20000.
    pub total_timeout_ms: u32,
    /// Largest response head (bytes; capped by the receive area); default 8192.
    pub max_head_bytes: usize,
    /// Redirect body read to keep the connection (bytes); default 65536.
    pub max_redirect_body_bytes: u64,
    /// Largest final body kept (bytes; capped by the receive area); default 16384.
    pub max_final_body_bytes: usize,
    /// Non-JSON final body read and dropped past the kept part (bytes); default 1 MiB.
    pub max_discard_bytes: u64,
}

/// An IP address and port (for the trace).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct phonecheck_addr {
    /// 0: none, 4: IPv4 (`addr[0..4]`), 6: IPv6 (`addr[0..16]`).
    pub family: u8,
    /// Port, host byte order.
    pub port: u16,
    /// Address bytes in network order.
    pub addr: [u8; 16],
}

/// What the caller learned while connecting, for the trace (`phonecheck_session_connected`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct phonecheck_conn_info {
    /// The server's address.
    pub remote: phonecheck_addr,
    /// Our address on the mobile interface.
    pub local: phonecheck_addr,
    /// Time spent resolving, ms (`PHONECHECK_NO_TIME`: unknown).
    pub dns_ms: u32,
    /// Time spent in TCP connect, ms (`PHONECHECK_NO_TIME`: the session measures it).
    pub connect_ms: u32,
}

/// A finished hop, in a `PHONECHECK_OUTPUT_KIND_HOP` output.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct phonecheck_hop {
    /// The request number, 1 for the first.
    pub hop: u8,
    /// The response status (0: no head arrived).
    pub status: u16,
    /// The request went over a connection kept from an earlier hop.
    pub reused: bool,
    /// The scheme changed from the previous hop (http <-> https).
    pub scheme_switch: bool,
    /// The hop ran over TLS.
    pub tls: bool,
    /// Its TLS session was resumed.
    pub tls_resumed: bool,
    /// The connection it went over.
    pub conn: u32,
    /// Name resolution, ms (`PHONECHECK_NO_TIME` when it did not happen).
    pub dns_ms: u32,
    /// TCP connect, ms.
    pub connect_ms: u32,
    /// TLS handshake, ms.
    pub tls_ms: u32,
    /// Request to first response byte, ms.
    pub first_byte_ms: u32,
    /// The whole hop, ms.
    pub total_ms: u32,
    /// Response bytes received.
    pub bytes_in: u64,
    /// Request bytes sent.
    pub bytes_out: u64,
}

/// How the check ended, in a `PHONECHECK_OUTPUT_KIND_DONE` output.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct phonecheck_done {
    /// A final HTTP response arrived (any status); else `error_code` says why not.
    pub ok: bool,
    /// `check_id` and `code` are both present in the final response.
    pub has_code: bool,
    /// The final response's status (0 on failure).
    pub http_status: u16,
    /// Requests made.
    pub hops: u8,
    /// `PHONECHECK_ERROR_CODE_NONE` when `ok`.
    pub error_code: phonecheck_error_code,
}

/// One output of `phonecheck_session_poll`. Which fields mean something depends on `kind`;
/// the others are 0.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct phonecheck_output {
    /// What to do.
    pub kind: phonecheck_output_kind,
    /// The connection (Connect, Transmit, Close; the hop's for Hop).
    pub conn: u32,
    /// Connect: the scheme.
    pub scheme: phonecheck_scheme,
    /// Connect: the port.
    pub port: u16,
    /// Connect: the request number this connection is for.
    pub hop_number: u8,
    /// Transmit: bytes to send from the `tx` buffer.
    pub len: usize,
    /// Connect: host bytes in `text`; Hop: URL bytes in `text` (both NUL-terminated).
    pub text_len: usize,
    /// Hop: the URL did not fit in `text` (it is cut; `text_len` is what was written).
    pub text_truncated: bool,
    /// Wait: the deadline on the caller's clock, ms.
    pub until_ms: u64,
    /// Hop: the hop's record.
    pub hop: phonecheck_hop,
    /// Done: how the check ended.
    pub done: phonecheck_done,
}

/// The result of a finished check and the session's counters (`phonecheck_session_result`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct phonecheck_result {
    /// The check is over (the other fields are 0 until then, but the counters).
    pub finished: bool,
    /// How it ended (valid when `finished`).
    pub done: phonecheck_done,
    /// The hop a failure happened on (0: none or not tied to a hop).
    pub error_hop: u8,
    /// TCP connections opened.
    pub connections: u16,
    /// TLS handshakes (full or resumed).
    pub tls_handshakes: u16,
    /// Of those, resumed.
    pub tls_resumed: u16,
    /// Cookies evicted from a full jar.
    pub cookie_evictions: u16,
    /// Hop records kept in the hop log.
    pub hops_recorded: u32,
    /// Hops that did not fit in the hop log.
    pub hops_not_recorded: u32,
}

/// A `device_info` member for the debug envelope: UTF-8 key and value, not NUL-terminated.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct phonecheck_pair {
    /// The key.
    pub key: *const c_char,
    /// Its length.
    pub key_len: usize,
    /// The value.
    pub value: *const c_char,
    /// Its length.
    pub value_len: usize,
}

macro_rules! opaque_debug {
    ($($t:ident),*) => {$(
        impl core::fmt::Debug for $t {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(stringify!($t))
            }
        }
    )*};
}
opaque_debug!(
    phonecheck_session,
    phonecheck_connection,
    phonecheck_hop_slot
);

// ---------------------------------------------------------------------------------------------
// Sizes and defaults

/// The C ABI's version (`PHONECHECK_ABI_VERSION` of the library linked).
#[no_mangle]
pub extern "C" fn phonecheck_abi_version() -> u32 {
    PHONECHECK_ABI_VERSION
}

/// Checks that the C compiler lays out this header's types as the library does: pass
/// `PHONECHECK_ABI_VERSION` and the `sizeof` of `phonecheck_config`, `phonecheck_output`,
/// `phonecheck_result`, `phonecheck_conn_info` and `enum phonecheck_status` (the
/// `PHONECHECK_ABI_CHECK()` macro does). `PHONECHECK_STATUS_ERR_INVALID_ARGUMENT` on a mismatch
/// (another header version, or an enum size option such as `-fshort-enums` the library was not
/// built for).
#[no_mangle]
pub extern "C" fn phonecheck_abi_check(
    abi_version: u32,
    config_size: usize,
    output_size: usize,
    result_size: usize,
    conn_info_size: usize,
    enum_size: usize,
) -> phonecheck_status {
    if abi_version == PHONECHECK_ABI_VERSION
        && config_size == size_of::<phonecheck_config>()
        && output_size == size_of::<phonecheck_output>()
        && result_size == size_of::<phonecheck_result>()
        && conn_info_size == size_of::<phonecheck_conn_info>()
        && enum_size == size_of::<phonecheck_status>()
    {
        phonecheck_status::Ok
    } else {
        phonecheck_status::ErrInvalidArgument
    }
}

/// Bytes a session needs (at most `PHONECHECK_SESSION_SIZE`).
#[no_mangle]
pub extern "C" fn phonecheck_session_size() -> usize {
    size_of::<Inner>()
}

/// Alignment a session needs.
#[no_mangle]
pub extern "C" fn phonecheck_session_align() -> usize {
    align_of::<Inner>()
}

/// Bytes of one connection slot (at most `PHONECHECK_CONNECTION_SIZE`).
#[no_mangle]
pub extern "C" fn phonecheck_connection_size() -> usize {
    size_of::<Connection>()
}

/// Alignment of the connection area.
#[no_mangle]
pub extern "C" fn phonecheck_connection_align() -> usize {
    align_of::<Connection>()
}

/// Bytes of one hop-log slot (at most `PHONECHECK_HOP_SLOT_SIZE`).
#[no_mangle]
pub extern "C" fn phonecheck_hop_slot_size() -> usize {
    size_of::<HopSlot>()
}

/// Alignment of the hop log.
#[no_mangle]
pub extern "C" fn phonecheck_hop_slot_align() -> usize {
    align_of::<HopSlot>()
}

/// Fills `config` with the default policy (https only, 10 redirects, 4 connections, 5 s per
/// phase, 20 s in all) and no URL, storage or platform.
///
/// # Safety
/// `config` is NULL or points to writable memory for a `phonecheck_config`.
#[no_mangle]
pub unsafe extern "C" fn phonecheck_config_default(
    config: *mut phonecheck_config,
) -> phonecheck_status {
    guard(|| {
        let p = Policy::default();
        let value = phonecheck_config {
            check_url: ptr::null(),
            check_url_len: 0,
            now_ms: 0,
            url_area: ptr::null_mut(),
            url_area_len: 0,
            receive_area: ptr::null_mut(),
            receive_area_len: 0,
            cookie_area: ptr::null_mut(),
            cookie_area_len: 0,
            connection_area: ptr::null_mut(),
            connection_area_len: 0,
            hop_slots: ptr::null_mut(),
            hop_slots_len: 0,
            hop_urls: ptr::null_mut(),
            hop_urls_len: 0,
            platform: ptr::null(),
            platform_len: 0,
            max_redirects: p.max_redirects,
            allow_http_start: u8::from(p.allow_http_start),
            reuse_connections: u8::from(p.reuse_connections),
            max_connections: p.max_connections,
            raw_trace: u8::from(p.raw_trace),
            require_https: u8::from(p.require_https),
            html_is_interaction: u8::from(p.html_is_interaction),
            dns_timeout_ms: ms_u32(p.timeouts.dns),
            connect_timeout_ms: ms_u32(p.timeouts.connect),
            tls_timeout_ms: ms_u32(p.timeouts.tls_handshake),
            response_head_timeout_ms: ms_u32(p.timeouts.response_head),
            idle_timeout_ms: ms_u32(p.timeouts.idle),
            total_timeout_ms: ms_u32(p.timeouts.total),
            max_head_bytes: p.limits.max_head_bytes,
            max_redirect_body_bytes: p.limits.max_redirect_body_bytes,
            max_final_body_bytes: p.limits.max_final_body_bytes,
            max_discard_bytes: p.limits.max_discard_bytes,
        };
        // SAFETY: the caller's contract.
        status_of(unsafe { put(config, value, None) })
    })
}

// ---------------------------------------------------------------------------------------------
// Life cycle

/// Starts a check in `session` (`session_len` bytes, at least `phonecheck_session_size()`),
/// over the storage `config` lends. The first output will be `CONNECT`.
///
/// On success the session is live until `phonecheck_session_deinit`. If the engine refuses the
/// check (bad URL, http without `allow_http_start`, storage too small, policy out of range) the
/// matching status is returned, `phonecheck_session_error_message` tells why, and
/// `phonecheck_session_deinit` must still be called. On a pointer or argument error nothing is
/// written to `session`.
///
/// # Safety
/// `session` points to `session_len` writable bytes; `config` to a readable
/// `phonecheck_config` whose pointers follow its documentation: each non-NULL area is that
/// many bytes of memory that the caller neither reads, writes nor frees until deinit, and
/// `platform` stays valid as long. `session` must not move or be used by two threads at once.
/// Calling init on a live session leaks what it holds (with `tls`): deinit it first.
#[no_mangle]
pub unsafe extern "C" fn phonecheck_session_init(
    session: *mut phonecheck_session,
    session_len: usize,
    config: *const phonecheck_config,
) -> phonecheck_status {
    // SAFETY: forwarded contract.
    guard(|| status_of(unsafe { init(session, session_len, config) }))
}

/// Ends the session: drops it and the connection slots (freeing what TLS allocated), after
/// which the storage it borrowed is the caller's again. Also after a failed init or a panic.
///
/// # Safety
/// `session` was initialised by `phonecheck_session_init` (or is zeroed memory) and is not in
/// use by another call.
#[no_mangle]
pub unsafe extern "C" fn phonecheck_session_deinit(
    session: *mut phonecheck_session,
) -> phonecheck_status {
    // SAFETY: the caller's contract.
    let inner = match unsafe { magic_of(session) } {
        Ok(p) => p,
        Err(s) => return s,
    };
    // SAFETY: aligned, non-null, initialised bytes (the caller's contract).
    let magic = unsafe { ptr::addr_of!((*inner).magic).read() };
    if magic != LIVE && magic != POISONED {
        return phonecheck_status::ErrNotInitialized;
    }
    // Not initialised any more, whatever happens below.
    // SAFETY: as above; no reference to the blob exists.
    unsafe { ptr::addr_of_mut!((*inner).magic).write(0) };
    guard(|| {
        // SAFETY: the magic said a whole `Inner` is here; this is the only reference.
        let inner = unsafe { &mut *inner };
        inner.session = None;
        inner.hops = None;
        inner.config_error = None;
        if inner.connection_count > 0 {
            let slots = ptr::slice_from_raw_parts_mut(inner.connections, inner.connection_count);
            inner.connection_count = 0;
            // SAFETY: init wrote these `Connection`s; the session that borrowed them was just
            // dropped, so nothing refers to them; they are dropped once (the count is reset).
            unsafe { ptr::drop_in_place(slots) };
        }
        phonecheck_status::Ok
    })
}

// ---------------------------------------------------------------------------------------------
// Settings

/// Sends `Authorization: Bearer <token>` to the check URL's origin only. Once, before the first
/// poll; copied into the URL area.
///
/// # Safety
/// `session` is a session initialised by `phonecheck_session_init`; `token` points to
/// `token_len` readable bytes (UTF-8).
#[no_mangle]
pub unsafe extern "C" fn phonecheck_session_set_access_token(
    session: *mut phonecheck_session,
    token: *const c_char,
    token_len: usize,
) -> phonecheck_status {
    // SAFETY: the caller's contract.
    unsafe {
        with_live(session, |inner| {
            apart(inner, Region::new(token, token_len)?)?;
            let token = c_str(token, token_len)?;
            let s = inner
                .session
                .as_mut()
                .ok_or(phonecheck_status::ErrNotInitialized)?;
            s.set_access_token(token).map_err(|e| {
                inner.config_error = Some(e);
                setting_status(&e)
            })
        })
    }
}

/// Requires the redirect URL's query (see `phonecheck_session_set_redirect_url`) to carry
/// `state=<state>` once percent-decoded, as an OAuth client must (CAMARA); anything else ends the
/// check as `state_mismatch`. Once, before the first poll.
///
/// # Safety
/// As `phonecheck_session_set_access_token`.
#[no_mangle]
pub unsafe extern "C" fn phonecheck_session_set_expected_state(
    session: *mut phonecheck_session,
    state: *const c_char,
    state_len: usize,
) -> phonecheck_status {
    // SAFETY: the caller's contract.
    unsafe {
        with_live(session, |inner| {
            apart(inner, Region::new(state, state_len)?)?;
            let state = c_str(state, state_len)?;
            let s = inner
                .session
                .as_mut()
                .ok_or(phonecheck_status::ErrNotInitialized)?;
            s.set_expected_state(state).map_err(|e| {
                inner.config_error = Some(e);
                setting_status(&e)
            })
        })
    }
}

/// Ends the check at the first `Location` under `prefix` (an http(s) URL or an app link),
/// without requesting it; the result fields come from its query. Once, before the first poll.
///
/// # Safety
/// As `phonecheck_session_set_access_token`.
#[no_mangle]
pub unsafe extern "C" fn phonecheck_session_set_redirect_url(
    session: *mut phonecheck_session,
    prefix: *const c_char,
    prefix_len: usize,
) -> phonecheck_status {
    // SAFETY: the caller's contract.
    unsafe {
        with_live(session, |inner| {
            apart(inner, Region::new(prefix, prefix_len)?)?;
            let prefix = c_str(prefix, prefix_len)?;
            let s = inner
                .session
                .as_mut()
                .ok_or(phonecheck_status::ErrNotInitialized)?;
            s.set_redirect_url(prefix).map_err(|e| {
                inner.config_error = Some(e);
                setting_status(&e)
            })
        })
    }
}

/// Gives the wall clock: at `at_ms` on the caller's monotonic clock it was `unix_secs` seconds
/// since the Unix epoch (for cookie `Expires`; with TLS, for certificate validity).
///
/// # Safety
/// `session` is a session initialised by `phonecheck_session_init`.
#[no_mangle]
pub unsafe extern "C" fn phonecheck_session_set_wall_clock(
    session: *mut phonecheck_session,
    at_ms: u64,
    unix_secs: u64,
) -> phonecheck_status {
    // SAFETY: the caller's contract.
    unsafe {
        with_session(session, |s| {
            s.set_wall_clock(WallClock {
                at: Instant::from_millis(at_ms),
                unix_secs,
            });
            Ok(())
        })
    }
}

/// Lets https hops run over TLS with `settings` (feature `tls`). This is a Rust function, not
/// part of the C ABI: the crypto provider is a Rust object, so firmware exports its own C
/// function from the crate that builds its staticlib, makes the settings there (its rustls
/// `CryptoProvider` and roots) and calls this. Without it an https hop fails closed with
/// `TlsError::NotConfigured`.
///
/// # Safety
/// `session` is a session initialised by `phonecheck_session_init`, not in use by another call.
#[cfg(feature = "tls")]
pub unsafe fn set_tls(
    session: *mut phonecheck_session,
    settings: crate::tls::TlsSettings,
) -> phonecheck_status {
    // SAFETY: the caller's contract.
    unsafe {
        with_session(session, |s| {
            s.set_tls(settings);
            Ok(())
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Inputs

/// Connection `conn` (from a `CONNECT` output) is up. `info` (may be NULL) gives addresses and
/// timings for the trace.
///
/// # Safety
/// `session` is a session initialised by `phonecheck_session_init`; `info` is NULL or points
/// to a readable `phonecheck_conn_info`.
#[no_mangle]
pub unsafe extern "C" fn phonecheck_session_connected(
    session: *mut phonecheck_session,
    now_ms: u64,
    conn: u32,
    info: *const phonecheck_conn_info,
) -> phonecheck_status {
    let info = if info.is_null() {
        phonecheck_conn_info {
            dns_ms: PHONECHECK_NO_TIME,
            connect_ms: PHONECHECK_NO_TIME,
            ..Default::default()
        }
    } else if !info.is_aligned() {
        return phonecheck_status::ErrAlignment;
    } else {
        // SAFETY: non-null, aligned, readable (the caller's contract); integers only, so any
        // bytes are a valid value.
        unsafe { info.read() }
    };
    // SAFETY: the caller's contract.
    unsafe {
        feed(session, now_ms, |_| {
            let time = |ms: u32| (ms != PHONECHECK_NO_TIME).then(|| millis(ms));
            Ok(Input::Connected {
                conn: ConnId(conn),
                info: ConnectionInfo {
                    remote: addr_of_c(&info.remote)?,
                    local: addr_of_c(&info.local)?,
                    dns: time(info.dns_ms),
                    connect: time(info.connect_ms),
                },
            })
        })
    }
}

/// `len` bytes arrived on `conn`. The session copies what it keeps; `bytes` may be reused as
/// soon as this returns.
///
/// # Safety
/// `session` is a session initialised by `phonecheck_session_init`; `bytes` points to `len`
/// readable bytes (NULL with 0) outside the session and its areas.
#[no_mangle]
pub unsafe extern "C" fn phonecheck_session_received(
    session: *mut phonecheck_session,
    now_ms: u64,
    conn: u32,
    bytes: *const u8,
    len: usize,
) -> phonecheck_status {
    // SAFETY: the caller's contract.
    unsafe {
        with_live(session, |inner| {
            apart(inner, Region::new(bytes, len)?)?;
            let data = c_bytes(bytes, len)?;
            let s = inner
                .session
                .as_mut()
                .ok_or(phonecheck_status::ErrNotInitialized)?;
            s.handle_input(
                Instant::from_millis(now_ms),
                Input::Received {
                    conn: ConnId(conn),
                    bytes: data,
                },
            );
            Ok(())
        })
    }
}

/// The socket took `len` bytes (0 too) of the last `TRANSMIT` on `conn`.
///
/// # Safety
/// `session` is a session initialised by `phonecheck_session_init`.
#[no_mangle]
pub unsafe extern "C" fn phonecheck_session_sent(
    session: *mut phonecheck_session,
    now_ms: u64,
    conn: u32,
    len: usize,
) -> phonecheck_status {
    // SAFETY: the caller's contract.
    unsafe {
        feed(session, now_ms, |_| {
            Ok(Input::Sent {
                conn: ConnId(conn),
                len,
            })
        })
    }
}

/// The server closed `conn` (a read returned 0).
///
/// # Safety
/// `session` is a session initialised by `phonecheck_session_init`.
#[no_mangle]
pub unsafe extern "C" fn phonecheck_session_eof(
    session: *mut phonecheck_session,
    now_ms: u64,
    conn: u32,
) -> phonecheck_status {
    // SAFETY: the caller's contract.
    unsafe { feed(session, now_ms, |_| Ok(Input::Eof { conn: ConnId(conn) })) }
}

/// Connecting, resolving or using `conn` failed; `error` is a `phonecheck_transport_error`.
///
/// # Safety
/// `session` is a session initialised by `phonecheck_session_init`.
#[no_mangle]
pub unsafe extern "C" fn phonecheck_session_failed(
    session: *mut phonecheck_session,
    now_ms: u64,
    conn: u32,
    error: u32,
) -> phonecheck_status {
    // SAFETY: the caller's contract.
    unsafe {
        feed(session, now_ms, |_| {
            Ok(Input::TransportFailed {
                conn: ConnId(conn),
                error: transport_error(error)?,
            })
        })
    }
}

/// A `WAIT` deadline passed (no connection: deadlines belong to the session).
///
/// # Safety
/// `session` is a session initialised by `phonecheck_session_init`.
#[no_mangle]
pub unsafe extern "C" fn phonecheck_session_timeout(
    session: *mut phonecheck_session,
    now_ms: u64,
) -> phonecheck_status {
    // SAFETY: the caller's contract.
    unsafe { feed(session, now_ms, |_| Ok(Input::Timeout)) }
}

// ---------------------------------------------------------------------------------------------
// Outputs

/// The next thing to do, into `out`. After every input, poll until `WAIT` or `DONE`.
///
/// `tx` (at least 1 byte; any size works, a request goes out in pieces) receives the bytes of a
/// `TRANSMIT`: send `tx[0..len)`, and keep them until `phonecheck_session_sent`, as the next
/// poll may reuse the buffer. `text` (at least `PHONECHECK_HOST_BUFFER_SIZE` bytes) receives the
/// host of a `CONNECT` and the URL of a `HOP`, NUL-terminated.
///
/// # Safety
/// `session` is a session initialised by `phonecheck_session_init`; `tx` points to `tx_len`
/// writable bytes, `text` to `text_len` writable bytes, `out` to a writable
/// `phonecheck_output`, all separate from each other and from the session's memory.
#[no_mangle]
pub unsafe extern "C" fn phonecheck_session_poll(
    session: *mut phonecheck_session,
    tx: *mut u8,
    tx_len: usize,
    text: *mut c_char,
    text_len: usize,
    out: *mut phonecheck_output,
) -> phonecheck_status {
    // SAFETY: the caller's contract.
    unsafe {
        with_live(session, |inner| {
            poll(inner, tx, tx_len, text, text_len, out)
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Results

/// The result so far: `finished` and how it ended, the failing hop, and the counters.
///
/// # Safety
/// `session` is a session initialised by `phonecheck_session_init`; `out` points to a writable
/// `phonecheck_result`.
#[no_mangle]
pub unsafe extern "C" fn phonecheck_session_result(
    session: *mut phonecheck_session,
    out: *mut phonecheck_result,
) -> phonecheck_status {
    // SAFETY: the caller's contract.
    unsafe {
        with_live(session, |inner| {
            let s = inner
                .session
                .as_ref()
                .ok_or(phonecheck_status::ErrNotInitialized)?;
            let c = s.counters();
            let mut r = phonecheck_result {
                connections: c.connections,
                tls_handshakes: c.tls_handshakes,
                tls_resumed: c.tls_resumed,
                cookie_evictions: c.cookie_evictions,
                hops_recorded: inner
                    .hops
                    .as_ref()
                    .map_or(0, |h| u32::try_from(h.kept()).unwrap_or(u32::MAX)),
                hops_not_recorded: inner.hops.as_ref().map_or(0, |h| h.not_recorded()),
                ..Default::default()
            };
            if let Some(outcome) = s.outcome() {
                r.finished = true;
                r.done = done_of(&outcome);
                r.error_hop = outcome.err().and_then(|e| e.hop()).unwrap_or(0);
            }
            put(out, r, Some(inner))
        })
    }
}

/// A PhoneCheck field of the final response (`field` is a `phonecheck_field`), decoded (JSON
/// escapes, percent-encoding), NUL-terminated into `buf`. `needed` (may be NULL) receives the
/// bytes it takes with the NUL; `buf` may be NULL with `len` 0 to ask for that size.
/// `ERR_NOT_FOUND` when the final response lacks it or the check failed.
///
/// # Safety
/// `session` is a session initialised by `phonecheck_session_init`; `buf` points to `len`
/// writable bytes; `needed` is NULL or a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn phonecheck_session_field(
    session: *mut phonecheck_session,
    field: u32,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> phonecheck_status {
    // SAFETY: the caller's contract.
    unsafe {
        with_live(session, |inner| {
            let field = field_of(field)?;
            let s = inner
                .session
                .as_ref()
                .ok_or(phonecheck_status::ErrNotInitialized)?;
            let outcome = s.outcome().ok_or(phonecheck_status::ErrNotFinished)?;
            let value = outcome
                .ok()
                .and_then(|done| done.field(field))
                .ok_or(phonecheck_status::ErrNotFound)?;
            put_text(inner, buf, len, needed, &value)
        })
    }
}

/// Why the check failed (or why init or a setting was refused), as text, NUL-terminated into
/// `buf`. `ERR_NOT_FOUND` when there is no error. Sizes as `phonecheck_session_field`.
///
/// # Safety
/// As `phonecheck_session_field`. Allowed after a failed init.
#[no_mangle]
pub unsafe extern "C" fn phonecheck_session_error_message(
    session: *mut phonecheck_session,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> phonecheck_status {
    // SAFETY: the caller's contract.
    unsafe {
        with_live(session, |inner| {
            let check_error = inner
                .session
                .as_ref()
                .and_then(|s| s.outcome())
                .and_then(|o| o.err());
            let error = check_error
                .or(inner.config_error)
                .ok_or(phonecheck_status::ErrNotFound)?;
            put_text(inner, buf, len, needed, &error)
        })
    }
}

/// The finished check's JSON envelope (the SDKs' format), NUL-terminated into `buf`; `needed`
/// (may be NULL) receives its size with the NUL, also when `buf` is too small (NULL with `len`
/// 0 asks for the size).
///
/// # Safety
/// As `phonecheck_session_field`.
#[no_mangle]
pub unsafe extern "C" fn phonecheck_session_write_envelope(
    session: *mut phonecheck_session,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> phonecheck_status {
    // SAFETY: the caller's contract.
    unsafe {
        with_live(session, |inner| {
            envelope(inner, buf, len, needed, |s, out| s.write_envelope(out))
        })
    }
}

/// As `phonecheck_session_write_envelope`, with the `debug` object: the hops kept in the hop
/// log (none without one), the counters, and `device_info` from `pairs` (`count` of them, at
/// most `PHONECHECK_MAX_DEVICE_INFO`; NULL with 0 for none).
///
/// # Safety
/// As `phonecheck_session_field`; `pairs` points to `count` readable `phonecheck_pair`s whose
/// strings are readable for their lengths.
#[no_mangle]
pub unsafe extern "C" fn phonecheck_session_write_debug_envelope(
    session: *mut phonecheck_session,
    buf: *mut c_char,
    len: usize,
    pairs: *const phonecheck_pair,
    count: usize,
    needed: *mut usize,
) -> phonecheck_status {
    // SAFETY: the caller's contract.
    unsafe {
        with_live(session, |inner| {
            if count > PHONECHECK_MAX_DEVICE_INFO {
                return Err(phonecheck_status::ErrInvalidArgument);
            }
            if count > 0 && pairs.is_null() {
                return Err(phonecheck_status::ErrNull);
            }
            if count > 0 && !pairs.is_aligned() {
                return Err(phonecheck_status::ErrAlignment);
            }
            let mut info = [("", ""); PHONECHECK_MAX_DEVICE_INFO];
            for (i, slot) in info.iter_mut().enumerate().take(count) {
                // SAFETY: i < count, and `pairs` points to `count` readable pairs (the caller's
                // contract), aligned (checked); integers and pointers only.
                let pair = pairs.add(i).read();
                apart(inner, Region::new(pair.key, pair.key_len)?)?;
                apart(inner, Region::new(pair.value, pair.value_len)?)?;
                *slot = (
                    c_str(pair.key, pair.key_len)?,
                    c_str(pair.value, pair.value_len)?,
                );
            }
            let info = info.get(..count).unwrap_or_default();
            let inner: &Inner = inner;
            envelope(inner, buf, len, needed, |s, out| {
                match inner.hops.as_ref() {
                    Some(hops) => s.write_debug_envelope(out, hops, info),
                    None => s.write_debug_envelope::<[HopRecord<'_>]>(out, &[], info),
                }
            })
        })
    }
}

/// The name of a `phonecheck_status` (e.g. `"PHONECHECK_STATUS_ERR_NULL"`); `"unknown"` for
/// other values. A static string.
#[no_mangle]
pub extern "C" fn phonecheck_status_str(status: u32) -> *const c_char {
    let s: &CStr = match status {
        0 => c"PHONECHECK_STATUS_OK",
        1 => c"PHONECHECK_STATUS_ERR_NULL",
        2 => c"PHONECHECK_STATUS_ERR_ALIGNMENT",
        3 => c"PHONECHECK_STATUS_ERR_TOO_SMALL",
        4 => c"PHONECHECK_STATUS_ERR_NOT_INITIALIZED",
        5 => c"PHONECHECK_STATUS_ERR_INVALID_ARGUMENT",
        6 => c"PHONECHECK_STATUS_ERR_OVERLAP",
        7 => c"PHONECHECK_STATUS_ERR_INVALID_URL",
        8 => c"PHONECHECK_STATUS_ERR_INSECURE_START",
        9 => c"PHONECHECK_STATUS_ERR_STORAGE",
        10 => c"PHONECHECK_STATUS_ERR_POLICY",
        11 => c"PHONECHECK_STATUS_ERR_ALREADY_STARTED",
        12 => c"PHONECHECK_STATUS_ERR_NOT_FINISHED",
        13 => c"PHONECHECK_STATUS_ERR_NOT_FOUND",
        14 => c"PHONECHECK_STATUS_ERR_PANIC",
        _ => c"unknown",
    };
    s.as_ptr()
}

/// The envelope's spelling of a `phonecheck_error_code` (e.g. `"sdk_connection_error"`; `""`
/// for none, `"unknown"` for other values). A static string.
#[no_mangle]
pub extern "C" fn phonecheck_error_code_str(code: u32) -> *const c_char {
    let s: &CStr = match code {
        0 => c"",
        1 => c"sdk_no_data_connectivity",
        2 => c"sdk_connection_error",
        3 => c"sdk_redirect_error",
        4 => c"sdk_error",
        5 => c"invalid_scheme",
        6 => c"state_mismatch",
        7 => c"interaction_required",
        _ => c"unknown",
    };
    s.as_ptr()
}

#[cfg(test)]
mod tests;
