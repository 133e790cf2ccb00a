//! The C ABI's internals: what lives in the caller's session blob, the pointer checks, the
//! conversions between C and engine types, and the bodies of the larger entry points.

use core::ffi::{c_char, c_void};
use core::fmt::{self, Write as _};
use core::mem::{align_of, size_of};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::ptr;
use core::time::Duration;

use super::hops::{HopArea, HopSlot};
use super::*;
use crate::completion::{Completion, Field};
use crate::envelope::EnvelopeError;
use crate::error::{Error, ErrorCode, TransportError};
use crate::policy::{Limits, Policy, Timeouts};
use crate::session::{Input, Output, Session};
use crate::storage::{Buffers, Connection};
use crate::time::Instant;
use crate::trace::{write_url, HopInfo};
use crate::url::Scheme;

#[cfg(not(any(target_pointer_width = "32", target_pointer_width = "64")))]
compile_error!("the C ABI's memory sizes are defined for 32- and 64-bit targets");

/// `Inner::magic` of a live session (its storage was checked and is held).
pub(super) const LIVE: u32 = 0x5048_4331;
/// `Inner::magic` after a caught panic: only deinit is allowed.
pub(super) const POISONED: u32 = 0x5048_43FF;

/// What lives in the caller's `phonecheck_session` blob.
pub(super) struct Inner {
    pub(super) magic: u32,
    pub(super) session: Option<Session<'static>>,
    /// The connection slots, to drop at deinit (with `tls` they may own heap memory).
    pub(super) connections: *mut Connection,
    pub(super) connection_count: usize,
    pub(super) hops: Option<HopArea>,
    /// A failed init or setting, for `phonecheck_session_error_message`.
    pub(super) config_error: Option<Error>,
    /// The memory the session holds: its own blob and the areas. Buffers passed later must not
    /// overlap any of it.
    pub(super) lent: [Region; 7],
}

// The header's sizes are upper bounds of the real ones on every target this builds for.
const _: () = assert!(
    size_of::<Inner>() <= PHONECHECK_SESSION_SIZE,
    "phonecheck_session is too small: raise PHONECHECK_SESSION_SIZE in ffi.rs"
);
const _: () = assert!(align_of::<Inner>() <= align_of::<phonecheck_session>());
const _: () = assert!(
    size_of::<Connection>() <= PHONECHECK_CONNECTION_SIZE,
    "raise PHONECHECK_CONNECTION_SIZE in ffi.rs"
);
const _: () = assert!(align_of::<Connection>() <= align_of::<phonecheck_connection>());
const _: () = assert!(
    size_of::<HopSlot>() <= PHONECHECK_HOP_SLOT_SIZE,
    "raise PHONECHECK_HOP_SLOT_SIZE in ffi.rs"
);
const _: () = assert!(align_of::<HopSlot>() <= align_of::<phonecheck_hop_slot>());
// The profile constants are the storage presets'.
const _: () = assert!(PHONECHECK_SMALL_URL_AREA == 2 * crate::Small::URL_SLOT);
const _: () = assert!(PHONECHECK_SMALL_RECEIVE_AREA == crate::Small::RECEIVE);
const _: () = assert!(PHONECHECK_SMALL_COOKIE_AREA == crate::Small::COOKIES);
const _: () = assert!(PHONECHECK_SMALL_CONNECTIONS == crate::Small::CONNECTIONS);
const _: () = assert!(PHONECHECK_HOSTED_URL_AREA == 2 * crate::Hosted::URL_SLOT);
const _: () = assert!(PHONECHECK_HOSTED_RECEIVE_AREA == crate::Hosted::RECEIVE);
const _: () = assert!(PHONECHECK_HOSTED_COOKIE_AREA == crate::Hosted::COOKIES);
const _: () = assert!(PHONECHECK_HOSTED_CONNECTIONS == crate::Hosted::CONNECTIONS);
const _: () = assert!(PHONECHECK_HOST_BUFFER_SIZE == crate::url::MAX_HOST_LEN + 1);

/// A range of addresses, for the overlap checks. Empty ranges overlap nothing.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Region {
    start: usize,
    end: usize,
}

impl Region {
    /// `len` bytes from `ptr`; an error if they would wrap around or exceed `isize::MAX`.
    pub(super) fn new<T>(ptr: *const T, len: usize) -> Result<Region, phonecheck_status> {
        if len > isize::MAX as usize {
            return Err(phonecheck_status::ErrInvalidArgument);
        }
        let start = ptr as usize;
        let end = start
            .checked_add(len)
            .ok_or(phonecheck_status::ErrInvalidArgument)?;
        Ok(Region { start, end })
    }

    fn overlaps(self, other: Region) -> bool {
        self.start < self.end
            && other.start < other.end
            && self.start < other.end
            && other.start < self.end
    }
}

/// Whether any two of `regions` overlap.
pub(super) fn any_overlap(regions: &[Region]) -> bool {
    regions
        .iter()
        .enumerate()
        .any(|(i, a)| regions.iter().skip(i + 1).any(|b| a.overlaps(*b)))
}

/// Fails with `ErrOverlap` if `region` overlaps memory the session holds.
pub(super) fn apart(inner: &Inner, region: Region) -> Result<(), phonecheck_status> {
    if inner.lent.iter().any(|l| l.overlaps(region)) {
        Err(phonecheck_status::ErrOverlap)
    } else {
        Ok(())
    }
}

/// Runs `f`, turning a panic into `ErrPanic` when std is there to catch it.
pub(super) fn guard(f: impl FnOnce() -> phonecheck_status) -> phonecheck_status {
    #[cfg(feature = "ffi-std")]
    {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            .unwrap_or(phonecheck_status::ErrPanic)
    }
    #[cfg(not(feature = "ffi-std"))]
    {
        f()
    }
}

pub(super) fn status_of(r: Result<(), phonecheck_status>) -> phonecheck_status {
    match r {
        Ok(()) => phonecheck_status::Ok,
        Err(s) => s,
    }
}

/// Checks `session` and reads its magic number.
///
/// # Safety
/// `session` is NULL or points to memory that `phonecheck_session_init` wrote (or that holds
/// any initialised bytes: a zeroed blob reads as "not initialised").
pub(super) unsafe fn magic_of(
    session: *mut phonecheck_session,
) -> Result<*mut Inner, phonecheck_status> {
    if session.is_null() {
        return Err(phonecheck_status::ErrNull);
    }
    let inner = session.cast::<Inner>();
    if !inner.is_aligned() {
        return Err(phonecheck_status::ErrAlignment);
    }
    Ok(inner)
}

/// Runs `f` on a live session, under [`guard`]; a panic poisons the session.
///
/// # Safety
/// As [`magic_of`]; and no other reference to the session exists during the call.
pub(super) unsafe fn with_live(
    session: *mut phonecheck_session,
    f: impl FnOnce(&mut Inner) -> Result<(), phonecheck_status>,
) -> phonecheck_status {
    // SAFETY: the caller's contract (see the function's safety section).
    let inner = match unsafe { magic_of(session) } {
        Ok(p) => p,
        Err(s) => return s,
    };
    // SAFETY: `inner` is non-null and aligned; the blob holds initialised bytes (the caller's
    // contract), so reading the `magic` field reads a valid u32. No reference is made yet.
    let magic = unsafe { ptr::addr_of!((*inner).magic).read() };
    match magic {
        LIVE => {}
        POISONED => return phonecheck_status::ErrPanic,
        _ => return phonecheck_status::ErrNotInitialized,
    }
    // SAFETY: the magic says `phonecheck_session_init` wrote a whole `Inner` here and
    // `deinit` has not run; the caller guarantees no other reference exists during the call.
    let status = guard(|| status_of(f(unsafe { &mut *inner })));
    if status == phonecheck_status::ErrPanic {
        // SAFETY: the reference given to `f` is gone (the closure was consumed); writing the
        // magic field through the raw pointer marks the session unusable.
        unsafe { ptr::addr_of_mut!((*inner).magic).write(POISONED) };
    }
    status
}

/// Like [`with_live`], for functions that need the engine's session.
///
/// # Safety
/// As [`with_live`].
pub(super) unsafe fn with_session(
    session: *mut phonecheck_session,
    f: impl FnOnce(&mut Session<'static>) -> Result<(), phonecheck_status>,
) -> phonecheck_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_live(session, |inner| match inner.session.as_mut() {
            Some(s) => f(s),
            None => Err(phonecheck_status::ErrNotInitialized),
        })
    }
}

/// `len` bytes at `ptr` as a shared slice; NULL is allowed with a length of 0.
///
/// # Safety
/// When `len > 0`, `ptr` points to `len` readable bytes that nothing writes while the slice is
/// used (for `'a`).
pub(super) unsafe fn c_bytes<'a>(
    ptr: *const u8,
    len: usize,
) -> Result<&'a [u8], phonecheck_status> {
    Region::new(ptr, len)?;
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(phonecheck_status::ErrNull);
    }
    // SAFETY: non-null, `len` bytes that do not wrap and fit isize (checked above); readable
    // and not written for 'a (the caller's contract); u8 has no alignment or validity needs.
    Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// `len` bytes at `ptr` as a mutable slice; NULL is allowed with a length of 0.
///
/// # Safety
/// When `len > 0`, `ptr` points to `len` writable bytes that nothing else reads or writes while
/// the slice is used (for `'a`).
pub(super) unsafe fn c_bytes_mut<'a>(
    ptr: *mut u8,
    len: usize,
) -> Result<&'a mut [u8], phonecheck_status> {
    Region::new(ptr, len)?;
    if len == 0 {
        return Ok(&mut []);
    }
    if ptr.is_null() {
        return Err(phonecheck_status::ErrNull);
    }
    // SAFETY: non-null, in range (checked above), exclusively the slice's for 'a (the caller's
    // contract); any byte is a valid u8, so C memory that was never written is fine too once
    // the engine writes before it reads (it does: areas are written before they are read).
    Ok(unsafe { core::slice::from_raw_parts_mut(ptr, len) })
}

/// UTF-8 text at `ptr`.
///
/// # Safety
/// As [`c_bytes`].
pub(super) unsafe fn c_str<'a>(
    ptr: *const c_char,
    len: usize,
) -> Result<&'a str, phonecheck_status> {
    // SAFETY: forwarded contract.
    let bytes = unsafe { c_bytes(ptr.cast(), len) }?;
    core::str::from_utf8(bytes).map_err(|_| phonecheck_status::ErrInvalidArgument)
}

/// Makes `len` bytes at `ptr` a slice of `T` slots, each written with `make()`.
///
/// # Safety
/// When `len > 0`, `ptr` points to `len` writable bytes, exclusively the slice's for `'static`
/// (until deinit).
pub(super) unsafe fn c_slots<T>(
    ptr: *mut c_void,
    len: usize,
    make: fn() -> T,
) -> Result<&'static mut [T], phonecheck_status> {
    Region::new(ptr, len)?;
    let count = len / size_of::<T>();
    if count == 0 {
        return Ok(&mut []);
    }
    if ptr.is_null() {
        return Err(phonecheck_status::ErrNull);
    }
    let first = ptr.cast::<T>();
    if !first.is_aligned() {
        return Err(phonecheck_status::ErrAlignment);
    }
    for i in 0..count {
        // SAFETY: slot `i` lies within the `len` bytes (i < len / size_of::<T>()), is aligned
        // (the first is, and the stride is a multiple of the alignment); `ptr::write` does not
        // read or drop what was there, which may be uninitialised.
        unsafe { first.add(i).write(make()) };
    }
    // SAFETY: `count` initialised, aligned, contiguous `T`s, exclusively the slice's until
    // deinit (the caller's contract); `count * size_of::<T>() <= len <= isize::MAX`.
    Ok(unsafe { core::slice::from_raw_parts_mut(first, count) })
}

/// Writes `value` to `out` after checking it (NULL, alignment, overlap with the session's
/// memory when `inner` is given).
///
/// # Safety
/// `out` is NULL or points to writable memory for a `T`.
pub(super) unsafe fn put<T>(
    out: *mut T,
    value: T,
    inner: Option<&Inner>,
) -> Result<(), phonecheck_status> {
    if out.is_null() {
        return Err(phonecheck_status::ErrNull);
    }
    if !out.is_aligned() {
        return Err(phonecheck_status::ErrAlignment);
    }
    if let Some(inner) = inner {
        apart(inner, Region::new(out, size_of::<T>())?)?;
    }
    // SAFETY: non-null, aligned, writable (the caller's contract), apart from the session's
    // memory; `write` does not read or drop the old contents, which C may have left garbage.
    unsafe { out.write(value) };
    Ok(())
}

/// Writes `n` to `needed` when it is given.
///
/// # Safety
/// `needed` is NULL or points to a writable `size_t`.
pub(super) unsafe fn put_needed(
    needed: *mut usize,
    n: usize,
    inner: &Inner,
) -> Result<(), phonecheck_status> {
    if needed.is_null() {
        return Ok(());
    }
    // SAFETY: forwarded contract.
    unsafe { put(needed, n, Some(inner)) }
}

/// A `fmt::Write` into a C text buffer that keeps one byte for the NUL and counts what does not
/// fit.
pub(super) struct TextOut<'b> {
    buf: &'b mut [u8],
    total: usize,
}

impl<'b> TextOut<'b> {
    fn new(buf: &'b mut [u8]) -> Self {
        TextOut { buf, total: 0 }
    }

    /// NUL-terminates; `Ok(len)` when all of it fit, else `Err(needed)` (NUL included) with the
    /// buffer holding a NUL-terminated prefix (if it has room for anything).
    fn finish(self) -> Result<usize, usize> {
        let room = self.buf.len().saturating_sub(1);
        let at = self.total.min(room);
        if let Some(b) = self.buf.get_mut(at) {
            *b = 0;
        }
        if self.total <= room && !self.buf.is_empty() {
            Ok(self.total)
        } else {
            Err(self.total + 1)
        }
    }
}

impl fmt::Write for TextOut<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len().saturating_sub(1);
        let at = self.total.min(room);
        let take = s.len().min(room - at);
        if let (Some(dst), Some(src)) = (self.buf.get_mut(at..at + take), s.as_bytes().get(..take))
        {
            dst.copy_from_slice(src);
        }
        self.total += s.len();
        Ok(())
    }
}

/// Writes `value`'s text into the C buffer `buf` (NUL-terminated), reporting the size needed.
///
/// # Safety
/// `buf` is NULL with `len` 0, or `len` writable bytes; `needed` NULL or a writable `size_t`.
pub(super) unsafe fn put_text(
    inner: &Inner,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
    value: &dyn fmt::Display,
) -> Result<(), phonecheck_status> {
    apart(inner, Region::new(buf, len)?)?;
    // SAFETY: the caller's contract; the region is apart from the session's memory.
    let out = unsafe { c_bytes_mut(buf.cast(), len) }?;
    let mut text = TextOut::new(out);
    let _ = write!(text, "{value}");
    match text.finish() {
        // SAFETY: the caller's contract.
        Ok(n) => unsafe { put_needed(needed, n + 1, inner) },
        Err(n) => {
            // SAFETY: the caller's contract.
            unsafe { put_needed(needed, n, inner) }?;
            Err(phonecheck_status::ErrTooSmall)
        }
    }
}

pub(super) fn millis(ms: u32) -> Duration {
    Duration::from_millis(u64::from(ms))
}

pub(super) fn ms_u32(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

pub(super) fn opt_ms(ms: Option<u32>) -> u32 {
    ms.unwrap_or(PHONECHECK_NO_TIME)
}

/// The status an engine error maps to when a setting fails.
pub(super) fn setting_status(e: &Error) -> phonecheck_status {
    match e {
        Error::InsecureStart => phonecheck_status::ErrInsecureStart,
        Error::InvalidUrl { .. } => phonecheck_status::ErrInvalidUrl,
        Error::Storage { .. } => phonecheck_status::ErrStorage,
        Error::PolicyOutOfRange { .. } => phonecheck_status::ErrPolicy,
        Error::AlreadyStarted => phonecheck_status::ErrAlreadyStarted,
        _ => phonecheck_status::ErrInvalidArgument,
    }
}

pub(super) fn error_code(code: ErrorCode) -> phonecheck_error_code {
    match code {
        ErrorCode::NoDataConnectivity => phonecheck_error_code::NoDataConnectivity,
        ErrorCode::ConnectionError => phonecheck_error_code::ConnectionError,
        ErrorCode::RedirectError => phonecheck_error_code::RedirectError,
        ErrorCode::SdkError => phonecheck_error_code::SdkError,
        ErrorCode::InvalidScheme => phonecheck_error_code::InvalidScheme,
        ErrorCode::StateMismatch => phonecheck_error_code::StateMismatch,
        ErrorCode::InteractionRequired => phonecheck_error_code::InteractionRequired,
    }
}

pub(super) fn done_of(outcome: &Result<Completion<'_>, Error>) -> phonecheck_done {
    match outcome {
        Ok(done) => phonecheck_done {
            ok: true,
            has_code: done.has_code(),
            http_status: done.http_status,
            hops: done.hops,
            error_code: phonecheck_error_code::None,
        },
        Err(e) => phonecheck_done {
            ok: false,
            has_code: false,
            http_status: 0,
            hops: e.hop().unwrap_or(0),
            error_code: error_code(e.code()),
        },
    }
}

pub(super) fn hop_of(info: &HopInfo) -> phonecheck_hop {
    let t = &info.timings;
    phonecheck_hop {
        hop: info.hop,
        status: info.status.unwrap_or(0),
        reused: info.reused,
        scheme_switch: info.scheme_switch,
        tls: info.tls.is_some(),
        tls_resumed: info.tls.is_some_and(|t| t.resumed),
        conn: info.conn.0,
        dns_ms: opt_ms(t.dns_ms),
        connect_ms: opt_ms(t.connect_ms),
        tls_ms: opt_ms(t.tls_ms),
        first_byte_ms: opt_ms(t.first_byte_ms),
        total_ms: opt_ms(t.total_ms),
        bytes_in: info.bytes_in,
        bytes_out: info.bytes_out,
    }
}

pub(super) fn addr_of_c(a: &phonecheck_addr) -> Result<Option<SocketAddr>, phonecheck_status> {
    let ip = match a.family {
        0 => return Ok(None),
        4 => {
            let [a0, a1, a2, a3, ..] = a.addr;
            IpAddr::V4(Ipv4Addr::new(a0, a1, a2, a3))
        }
        6 => IpAddr::V6(Ipv6Addr::from(a.addr)),
        _ => return Err(phonecheck_status::ErrInvalidArgument),
    };
    Ok(Some(SocketAddr::new(ip, a.port)))
}

pub(super) fn transport_error(code: u32) -> Result<TransportError, phonecheck_status> {
    Ok(match code {
        1 => TransportError::NoDataConnectivity,
        2 => TransportError::NoRoute,
        3 => TransportError::DnsFailed,
        4 => TransportError::DnsTimeout,
        5 => TransportError::ConnectionRefused,
        6 => TransportError::ConnectTimeout,
        7 => TransportError::ConnectionReset,
        8 => TransportError::PinDenied,
        9 => TransportError::Other,
        _ => return Err(phonecheck_status::ErrInvalidArgument),
    })
}

pub(super) fn field_of(code: u32) -> Result<Field, phonecheck_status> {
    Ok(match code {
        0 => Field::CheckId,
        1 => Field::Code,
        2 => Field::ReferenceId,
        3 => Field::Error,
        4 => Field::ErrorDescription,
        _ => return Err(phonecheck_status::ErrInvalidArgument),
    })
}

/// The body of [`phonecheck_session_init`].
///
/// # Safety
/// As [`phonecheck_session_init`].
pub(super) unsafe fn init(
    session: *mut phonecheck_session,
    session_len: usize,
    config: *const phonecheck_config,
) -> Result<(), phonecheck_status> {
    // SAFETY: forwarded contract (NULL and alignment are checked there).
    let inner = unsafe { magic_of(session) }?;
    if config.is_null() {
        return Err(phonecheck_status::ErrNull);
    }
    if !config.is_aligned() {
        return Err(phonecheck_status::ErrAlignment);
    }
    if session_len < size_of::<Inner>() {
        return Err(phonecheck_status::ErrTooSmall);
    }
    // SAFETY: non-null, aligned, readable (the caller's contract); every field is an integer
    // or a raw pointer, so any bytes C left there make a valid value. Copied, so C may reuse it.
    let cfg = unsafe { config.read() };

    let blob = Region::new(session, session_len)?;
    let url = Region::new(cfg.url_area, cfg.url_area_len)?;
    let receive = Region::new(cfg.receive_area, cfg.receive_area_len)?;
    let cookies = Region::new(cfg.cookie_area, cfg.cookie_area_len)?;
    let conns = Region::new(cfg.connection_area, cfg.connection_area_len)?;
    let hop_slots = Region::new(cfg.hop_slots, cfg.hop_slots_len)?;
    let hop_urls = Region::new(cfg.hop_urls, cfg.hop_urls_len)?;
    let lent = [blob, url, receive, cookies, conns, hop_slots, hop_urls];
    let check_url_region = Region::new(cfg.check_url, cfg.check_url_len)?;
    let platform_region = Region::new(cfg.platform, cfg.platform_len)?;
    if any_overlap(&lent)
        || lent
            .iter()
            .any(|l| l.overlaps(check_url_region) || l.overlaps(platform_region))
    {
        return Err(phonecheck_status::ErrOverlap);
    }

    // SAFETY: the caller's contract; apart from every area the session will write.
    let check_url = unsafe { c_bytes(cfg.check_url.cast(), cfg.check_url_len) }?;
    if check_url.is_empty() {
        return Err(phonecheck_status::ErrNull);
    }
    // SAFETY: as above, and `platform` stays valid until deinit (the caller's contract), which
    // is what the `'static` the policy needs stands for.
    let platform: &'static str = unsafe { c_str(cfg.platform, cfg.platform_len) }?;
    // SAFETY (all four): each area is its own memory (no overlap, checked above), lent to the
    // session until deinit (the caller's contract).
    let url_area = unsafe { c_bytes_mut(cfg.url_area, cfg.url_area_len) }?;
    // SAFETY: as above.
    let receive_area = unsafe { c_bytes_mut(cfg.receive_area, cfg.receive_area_len) }?;
    // SAFETY: as above.
    let cookie_area = unsafe { c_bytes_mut(cfg.cookie_area, cfg.cookie_area_len) }?;
    // Check the typed areas before writing any slot.
    for (p, len, align) in [
        (
            cfg.connection_area,
            cfg.connection_area_len,
            align_of::<Connection>(),
        ),
        (cfg.hop_slots, cfg.hop_slots_len, align_of::<HopSlot>()),
    ] {
        if len > 0 && p.is_null() {
            return Err(phonecheck_status::ErrNull);
        }
        if len > 0 && (p as usize) % align != 0 {
            return Err(phonecheck_status::ErrAlignment);
        }
    }
    // SAFETY: as for the byte areas.
    let hop_url_bytes = unsafe { c_bytes_mut(cfg.hop_urls, cfg.hop_urls_len) }?;
    // SAFETY: as for the byte areas; the slots are written before the slice exists.
    let connections = unsafe {
        c_slots(
            cfg.connection_area,
            cfg.connection_area_len,
            Connection::new,
        )
    }?;
    // SAFETY: as above.
    let hop_slot_array = unsafe { c_slots(cfg.hop_slots, cfg.hop_slots_len, HopSlot::default) }?;

    let policy = Policy {
        max_redirects: cfg.max_redirects,
        allow_http_start: cfg.allow_http_start != 0,
        reuse_connections: cfg.reuse_connections != 0,
        max_connections: cfg.max_connections,
        platform,
        raw_trace: cfg.raw_trace != 0,
        require_https: cfg.require_https != 0,
        html_is_interaction: cfg.html_is_interaction != 0,
        timeouts: Timeouts {
            dns: millis(cfg.dns_timeout_ms),
            connect: millis(cfg.connect_timeout_ms),
            tls_handshake: millis(cfg.tls_timeout_ms),
            response_head: millis(cfg.response_head_timeout_ms),
            idle: millis(cfg.idle_timeout_ms),
            total: millis(cfg.total_timeout_ms),
        },
        limits: Limits {
            max_head_bytes: cfg.max_head_bytes,
            max_redirect_body_bytes: cfg.max_redirect_body_bytes,
            max_final_body_bytes: cfg.max_final_body_bytes,
            max_discard_bytes: cfg.max_discard_bytes,
        },
        ..Policy::default()
    };
    let hops = (!hop_slot_array.is_empty()).then(|| HopArea::new(hop_slot_array, hop_url_bytes));
    let connection_count = connections.len();
    // For deinit: the caller's pointer itself, the parent of the slice the session borrows
    // (a pointer taken from that slice would be invalidated by the session's unique borrow).
    let connection_ptr = cfg.connection_area.cast::<Connection>();

    // Poisoned until built: a panic below leaves a session only deinit accepts.
    // SAFETY: `inner` is aligned and `session_len >= size_of::<Inner>()` bytes are writable (the
    // caller's contract); `write` does not read or drop the previous, possibly uninitialised,
    // contents.
    unsafe {
        inner.write(Inner {
            magic: POISONED,
            session: None,
            connections: connection_ptr,
            connection_count,
            hops,
            config_error: None,
            lent,
        })
    };
    // SAFETY: just initialised; the only reference to the blob during this call.
    let inner = unsafe { &mut *inner };
    let buffers = Buffers {
        url: url_area,
        receive: receive_area,
        cookies: cookie_area,
        connections,
    };
    let result = Session::new_in(
        &mut inner.session,
        buffers,
        check_url,
        policy,
        Instant::from_millis(cfg.now_ms),
    );
    let status = match result {
        Ok(_) => Ok(()),
        Err(e) => {
            inner.config_error = Some(e);
            Err(setting_status(&e))
        }
    };
    inner.magic = LIVE;
    status
}

/// Feeds `input` at `now_ms`.
///
/// # Safety
/// As [`with_session`].
pub(super) unsafe fn feed(
    session: *mut phonecheck_session,
    now_ms: u64,
    input: impl FnOnce(&Inner) -> Result<Input<'static>, phonecheck_status>,
) -> phonecheck_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_live(session, |inner| {
            let input = input(inner)?;
            let s = inner
                .session
                .as_mut()
                .ok_or(phonecheck_status::ErrNotInitialized)?;
            s.handle_input(Instant::from_millis(now_ms), input);
            Ok(())
        })
    }
}

/// The body of [`phonecheck_session_poll`].
///
/// # Safety
/// As [`phonecheck_session_poll`].
pub(super) unsafe fn poll(
    inner: &mut Inner,
    tx: *mut u8,
    tx_len: usize,
    text: *mut c_char,
    text_len: usize,
    out: *mut phonecheck_output,
) -> Result<(), phonecheck_status> {
    if tx.is_null() || text.is_null() || out.is_null() {
        return Err(phonecheck_status::ErrNull);
    }
    if !out.is_aligned() {
        return Err(phonecheck_status::ErrAlignment);
    }
    if tx_len == 0 || text_len < PHONECHECK_HOST_BUFFER_SIZE {
        return Err(phonecheck_status::ErrTooSmall);
    }
    let regions = [
        Region::new(tx, tx_len)?,
        Region::new(text, text_len)?,
        Region::new(out, size_of::<phonecheck_output>())?,
    ];
    if any_overlap(&regions) {
        return Err(phonecheck_status::ErrOverlap);
    }
    for r in regions {
        apart(inner, r)?;
    }
    // SAFETY: the caller's contract; separate from each other and from the session's memory.
    let tx = unsafe { c_bytes_mut(tx, tx_len) }?;
    // SAFETY: as above.
    let text = unsafe { c_bytes_mut(text.cast(), text_len) }?;

    let Inner { session, hops, .. } = inner;
    let s = session
        .as_mut()
        .ok_or(phonecheck_status::ErrNotInitialized)?;
    let raw = s.policy().raw_trace;
    let mut o = phonecheck_output {
        kind: phonecheck_output_kind::Wait,
        conn: 0,
        scheme: phonecheck_scheme::Http,
        port: 0,
        hop_number: 0,
        len: 0,
        text_len: 0,
        text_truncated: false,
        until_ms: 0,
        hop: phonecheck_hop::default(),
        done: phonecheck_done::default(),
    };
    match s.poll_output(tx) {
        Output::Connect {
            conn,
            scheme,
            host,
            port,
            hop,
        } => {
            let mut t = TextOut::new(text);
            let _ = t.write_str(host);
            // A host is at most 253 bytes and `text` has room for 253 and the NUL (checked).
            let n = t.finish().unwrap_or(0);
            o.kind = phonecheck_output_kind::Connect;
            o.conn = conn.0;
            o.scheme = match scheme {
                Scheme::Http => phonecheck_scheme::Http,
                Scheme::Https => phonecheck_scheme::Https,
            };
            o.port = port;
            o.hop_number = hop;
            o.text_len = n;
        }
        Output::Transmit { conn, len } => {
            o.kind = phonecheck_output_kind::Transmit;
            o.conn = conn.0;
            o.len = len;
        }
        Output::Close { conn } => {
            o.kind = phonecheck_output_kind::Close;
            o.conn = conn.0;
        }
        Output::Hop(record) => {
            if let Some(log) = hops.as_mut() {
                log.push(&record);
            }
            let mut t = TextOut::new(text);
            let _ = write_url(record.url.as_str(), raw, &mut t);
            let (n, truncated) = match t.finish() {
                Ok(n) => (n, false),
                Err(_) => (text_len - 1, true),
            };
            o.kind = phonecheck_output_kind::Hop;
            o.conn = record.info.conn.0;
            o.hop_number = record.info.hop;
            o.hop = hop_of(record.info);
            o.text_len = n;
            o.text_truncated = truncated;
        }
        Output::Wait { until } => {
            o.kind = phonecheck_output_kind::Wait;
            o.until_ms = until.as_millis();
        }
        Output::Done(outcome) => {
            o.kind = phonecheck_output_kind::Done;
            o.done = done_of(&outcome);
            o.hop_number = o.done.hops;
        }
    }
    // SAFETY: checked above (non-null, aligned, apart); the caller's contract says writable.
    unsafe { out.write(o) };
    Ok(())
}

/// Writes an envelope with `write` into the C buffer, NUL-terminated.
///
/// # Safety
/// `buf` points to `len` writable bytes (NULL with 0); `needed` NULL or a writable `size_t`.
pub(super) unsafe fn envelope(
    inner: &Inner,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
    write: impl FnOnce(&Session<'static>, &mut [u8]) -> Result<usize, EnvelopeError>,
) -> Result<(), phonecheck_status> {
    apart(inner, Region::new(buf, len)?)?;
    let s = inner
        .session
        .as_ref()
        .ok_or(phonecheck_status::ErrNotInitialized)?;
    // SAFETY: the caller's contract; apart from the session's memory.
    let out = unsafe { c_bytes_mut(buf.cast(), len) }?;
    let room = out.len().saturating_sub(1);
    let (body, _) = out.split_at_mut(room);
    match write(s, body) {
        Ok(n) => {
            if let Some(b) = out.get_mut(n) {
                *b = 0;
            }
            // SAFETY: the caller's contract.
            unsafe { put_needed(needed, n + 1, inner) }
        }
        Err(EnvelopeError::BufferTooSmall { needed: n }) => {
            if let Some(b) = out.first_mut() {
                *b = 0;
            }
            // SAFETY: the caller's contract.
            unsafe { put_needed(needed, n + 1, inner) }?;
            Err(phonecheck_status::ErrTooSmall)
        }
        Err(EnvelopeError::NotFinished) => Err(phonecheck_status::ErrNotFinished),
    }
}
