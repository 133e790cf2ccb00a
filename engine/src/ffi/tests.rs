//! The C ABI driven from Rust the way C drives it: raw pointers into caller memory.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use super::imp::error_code;
use super::*;
use crate::error::ErrorCode;
use std::ffi::CStr;
use std::string::String;
use std::vec::Vec;

/// Everything a C caller would keep in statics.
struct Mem {
    session: phonecheck_session,
    url: [u8; PHONECHECK_SMALL_URL_AREA],
    receive: [u8; PHONECHECK_SMALL_RECEIVE_AREA],
    cookies: [u8; PHONECHECK_SMALL_COOKIE_AREA],
    conns: [phonecheck_connection; 2],
    hops: [phonecheck_hop_slot; 4],
    hop_urls: [u8; 512],
}

/// The memory, reached only through raw pointers (as C reaches it): no Rust reference to it is
/// made while the session holds parts of it.
struct M(*mut Mem);

impl M {
    fn new() -> M {
        // SAFETY (test): every field is integers or opaque integer arrays; zero is valid.
        M(Box::into_raw(Box::new(unsafe { core::mem::zeroed() })))
    }
    fn session(&self) -> *mut phonecheck_session {
        // SAFETY (test): `self.0` is a live allocation.
        unsafe { ptr::addr_of_mut!((*self.0).session) }
    }
    fn url(&self) -> *mut u8 {
        // SAFETY (test): as above.
        unsafe { ptr::addr_of_mut!((*self.0).url).cast() }
    }
    fn receive(&self) -> *mut u8 {
        // SAFETY (test): as above.
        unsafe { ptr::addr_of_mut!((*self.0).receive).cast() }
    }
    fn cookies(&self) -> *mut u8 {
        // SAFETY (test): as above.
        unsafe { ptr::addr_of_mut!((*self.0).cookies).cast() }
    }
}

impl Drop for M {
    fn drop(&mut self) {
        // SAFETY (test): from Box::into_raw; sessions over it were deinitialised.
        drop(unsafe { Box::from_raw(self.0) });
    }
}

const CHECK_URL: &str = "http://api.example/check/1/redirect";
const PLATFORM: &str = "rust-test";

fn config(m: &M, url: &str) -> phonecheck_config {
    let mut c = core::mem::MaybeUninit::<phonecheck_config>::uninit();
    // SAFETY: `c` is writable memory for a config.
    assert_eq!(
        unsafe { phonecheck_config_default(c.as_mut_ptr()) },
        phonecheck_status::Ok
    );
    // SAFETY: written by phonecheck_config_default.
    let mut c = unsafe { c.assume_init() };
    let p = m.0;
    c.check_url = url.as_ptr().cast();
    c.check_url_len = url.len();
    c.url_area = m.url();
    c.url_area_len = PHONECHECK_SMALL_URL_AREA;
    c.receive_area = m.receive();
    c.receive_area_len = PHONECHECK_SMALL_RECEIVE_AREA;
    c.cookie_area = m.cookies();
    c.cookie_area_len = PHONECHECK_SMALL_COOKIE_AREA;
    // SAFETY (test): `p` is a live allocation; only addresses are taken.
    unsafe {
        c.connection_area = ptr::addr_of_mut!((*p).conns).cast();
        c.connection_area_len = core::mem::size_of::<[phonecheck_connection; 2]>();
        c.hop_slots = ptr::addr_of_mut!((*p).hops).cast();
        c.hop_slots_len = core::mem::size_of::<[phonecheck_hop_slot; 4]>();
        c.hop_urls = ptr::addr_of_mut!((*p).hop_urls).cast();
    }
    c.hop_urls_len = 512;
    c.platform = PLATFORM.as_ptr().cast();
    c.platform_len = PLATFORM.len();
    c.allow_http_start = 1;
    c
}

fn init(m: &M, c: &phonecheck_config) -> phonecheck_status {
    // SAFETY (test): the memory in `m` outlives the session (deinit before `m` drops).
    unsafe { phonecheck_session_init(m.session(), core::mem::size_of::<phonecheck_session>(), c) }
}

struct Poll {
    out: phonecheck_output,
    tx: Vec<u8>,
    text: String,
}

fn poll(m: &M, tx_len: usize) -> Poll {
    let mut tx = vec![0u8; tx_len];
    let mut text = [0 as c_char; 300];
    let mut out = core::mem::MaybeUninit::<phonecheck_output>::uninit();
    // SAFETY (test): separate buffers of the given sizes.
    let st = unsafe {
        phonecheck_session_poll(
            m.session(),
            tx.as_mut_ptr(),
            tx.len(),
            text.as_mut_ptr(),
            text.len(),
            out.as_mut_ptr(),
        )
    };
    assert_eq!(st, phonecheck_status::Ok);
    // SAFETY: written on Ok.
    let out = unsafe { out.assume_init() };
    // SAFETY: NUL-terminated by the poll.
    let text = unsafe { CStr::from_ptr(text.as_ptr()) }
        .to_str()
        .unwrap()
        .into();
    tx.truncate(if out.kind == phonecheck_output_kind::Transmit {
        out.len
    } else {
        0
    });
    Poll { out, tx, text }
}

fn text_of(f: impl Fn(*mut c_char, usize, *mut usize) -> phonecheck_status) -> String {
    let mut needed = 0usize;
    let st = f(ptr::null_mut(), 0, &mut needed);
    assert_eq!(st, phonecheck_status::ErrTooSmall);
    let mut buf = vec![0 as c_char; needed];
    let mut again = 0usize;
    assert_eq!(
        f(buf.as_mut_ptr(), buf.len(), &mut again),
        phonecheck_status::Ok
    );
    assert_eq!(again, needed);
    // SAFETY: NUL-terminated on Ok.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_str()
        .unwrap()
        .into()
}

/// Plays a two-hop chain (302 to another origin, then JSON with a code) through the C ABI,
/// with a 7-byte transmit buffer.
#[test]
fn two_hop_chain_through_the_c_abi() {
    let m = M::new();
    let c = config(&m, CHECK_URL);
    assert_eq!(init(&m, &c), phonecheck_status::Ok);
    let s = m.session();
    let token = "tok-1";
    // SAFETY (test): live session, token readable.
    assert_eq!(
        unsafe { phonecheck_session_set_access_token(s, token.as_ptr().cast(), token.len()) },
        phonecheck_status::Ok
    );
    let replies: [&[u8]; 2] = [
        b"HTTP/1.1 302 Found\r\nLocation: http://mno.example/he?c=1&code=s3cret\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 43\r\n\r\n{\"check_id\":\"c-1\",\"code\":\"47\\u00311\",\"x\":1}",
    ];
    let mut now = 0u64;
    let mut reply = 0;
    let mut request = Vec::new();
    let mut hosts = Vec::new();
    let mut hop_urls = Vec::new();
    let mut conn = 0;
    let done = loop {
        now += 5;
        let p = poll(&m, 7);
        let s = m.session();
        // SAFETY (test) for every call below: live session, buffers readable.
        match p.out.kind {
            phonecheck_output_kind::Connect => {
                hosts.push((p.text.clone(), p.out.port, p.out.hop_number));
                conn = p.out.conn;
                assert_eq!(p.out.text_len, p.text.len());
                let info = phonecheck_conn_info {
                    remote: phonecheck_addr {
                        family: 4,
                        port: p.out.port,
                        addr: [192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                    },
                    local: phonecheck_addr::default(),
                    dns_ms: 1,
                    connect_ms: PHONECHECK_NO_TIME,
                };
                let st = unsafe { phonecheck_session_connected(s, now, p.out.conn, &info) };
                assert_eq!(st, phonecheck_status::Ok);
            }
            phonecheck_output_kind::Transmit => {
                // The socket takes all but the last byte when it can.
                let took = p.tx.len().saturating_sub(1).max(1);
                request.extend_from_slice(&p.tx[..took]);
                let st = unsafe { phonecheck_session_sent(s, now, p.out.conn, took) };
                assert_eq!(st, phonecheck_status::Ok);
            }
            phonecheck_output_kind::Close => {}
            phonecheck_output_kind::Hop => hop_urls.push((p.text.clone(), p.out.hop.status)),
            phonecheck_output_kind::Wait => {
                let r = replies[reply];
                reply += 1;
                let text = String::from_utf8(core::mem::take(&mut request)).unwrap();
                assert!(text.starts_with("GET "), "{text}");
                assert_eq!(text.contains("Authorization: Bearer tok-1"), reply == 1);
                let st = unsafe { phonecheck_session_received(s, now, conn, r.as_ptr(), r.len()) };
                assert_eq!(st, phonecheck_status::Ok);
            }
            phonecheck_output_kind::Done => break p.out.done,
        }
        assert!(now < 10_000, "no end");
    };
    assert!(done.ok && done.has_code);
    assert_eq!((done.http_status, done.hops), (200, 2));
    assert_eq!(
        hosts,
        [("api.example".into(), 80, 1), ("mno.example".into(), 80, 2)]
    );
    // Hop URLs come redacted.
    assert_eq!(
        hop_urls,
        [
            ("http://api.example/check/1/redirect".into(), 302),
            ("http://mno.example/he?c=1&code=REDACTED".into(), 200)
        ]
    );
    let s = m.session();
    // SAFETY (test): live session; `text_of` passes NULL/0 first, then a buffer of `needed`.
    let code = text_of(|b, l, n| unsafe { phonecheck_session_field(s, 1, b, l, n) });
    assert_eq!(code, "4711");
    let check_id = text_of(|b, l, n| unsafe { phonecheck_session_field(s, 0, b, l, n) });
    assert_eq!(check_id, "c-1");
    let mut needed = 0;
    // SAFETY (test): as above.
    let st = unsafe { phonecheck_session_field(s, 2, ptr::null_mut(), 0, &mut needed) };
    assert_eq!(st, phonecheck_status::ErrNotFound);
    // SAFETY (test): as above.
    let st = unsafe { phonecheck_session_field(s, 99, ptr::null_mut(), 0, &mut needed) };
    assert_eq!(st, phonecheck_status::ErrInvalidArgument);
    // SAFETY (test): as above.
    let envelope = text_of(|b, l, n| unsafe { phonecheck_session_write_envelope(s, b, l, n) });
    assert!(envelope.starts_with(
        r#"{"http_status":200,"response_body":{"check_id":"c-1","code":"47\u00311","x":1},"hops":2"#
    ));
    let pairs = [phonecheck_pair {
        key: c"platform".as_ptr(),
        key_len: 8,
        value: c"test".as_ptr(),
        value_len: 4,
    }];
    // SAFETY (test): as above; one readable pair.
    let debug = text_of(|b, l, n| unsafe {
        phonecheck_session_write_debug_envelope(s, b, l, pairs.as_ptr(), 1, n)
    });
    assert!(
        debug.contains(r#""device_info":{"platform":"test"}"#),
        "{debug}"
    );
    assert!(debug.contains("code=REDACTED"), "{debug}");
    assert!(debug.contains(r#""hops":[{"hop":1,"#), "{debug}");
    let mut r = phonecheck_result::default();
    // SAFETY (test): as above.
    assert_eq!(
        unsafe { phonecheck_session_result(s, &mut r) },
        phonecheck_status::Ok
    );
    assert!(r.finished && r.done.ok);
    assert_eq!(
        (r.connections, r.hops_recorded, r.hops_not_recorded),
        (2, 2, 0)
    );
    // SAFETY (test): as above.
    let st = unsafe { phonecheck_session_error_message(s, ptr::null_mut(), 0, ptr::null_mut()) };
    assert_eq!(st, phonecheck_status::ErrNotFound);
    // SAFETY (test): as above.
    assert_eq!(
        unsafe { phonecheck_session_deinit(s) },
        phonecheck_status::Ok
    );
    // SAFETY (test): deinit ran; the blob reads as not initialised.
    assert_eq!(
        unsafe { phonecheck_session_deinit(s) },
        phonecheck_status::ErrNotInitialized
    );
}

#[test]
fn init_refusals_are_typed_and_explained() {
    let m = M::new();
    let c = config(&m, "https://");
    assert_eq!(init(&m, &c), phonecheck_status::ErrInvalidUrl);
    let s = m.session();
    // SAFETY (test): a failed init leaves a session that explains and deinits.
    let why = text_of(|b, l, n| unsafe { phonecheck_session_error_message(s, b, l, n) });
    assert!(why.starts_with("invalid check URL"), "{why}");
    let mut out = core::mem::MaybeUninit::<phonecheck_output>::uninit();
    let mut tx = [0u8; 16];
    let mut text = [0 as c_char; 256];
    // SAFETY (test): as above.
    let st = unsafe {
        phonecheck_session_poll(
            s,
            tx.as_mut_ptr(),
            16,
            text.as_mut_ptr(),
            256,
            out.as_mut_ptr(),
        )
    };
    assert_eq!(st, phonecheck_status::ErrNotInitialized);
    // SAFETY (test): as above.
    assert_eq!(
        unsafe { phonecheck_session_deinit(s) },
        phonecheck_status::Ok
    );

    let mut c = config(&m, CHECK_URL);
    c.allow_http_start = 0;
    assert_eq!(init(&m, &c), phonecheck_status::ErrInsecureStart);
    // SAFETY (test): as above.
    unsafe { phonecheck_session_deinit(m.session()) };

    let mut c = config(&m, CHECK_URL);
    c.connection_area_len = 0;
    c.connection_area = ptr::null_mut();
    assert_eq!(init(&m, &c), phonecheck_status::ErrStorage);
    // SAFETY (test): as above.
    unsafe { phonecheck_session_deinit(m.session()) };

    let mut c = config(&m, CHECK_URL);
    c.max_redirects = 255;
    assert_eq!(init(&m, &c), phonecheck_status::ErrPolicy);
    // SAFETY (test): as above.
    unsafe { phonecheck_session_deinit(m.session()) };
}

#[test]
fn pointers_and_lengths_are_checked() {
    let m = M::new();
    // NULL with a length.
    let mut c = config(&m, CHECK_URL);
    c.cookie_area = ptr::null_mut();
    assert_eq!(init(&m, &c), phonecheck_status::ErrNull);
    // Two areas overlapping.
    let mut c = config(&m, CHECK_URL);
    c.receive_area = m.url().wrapping_add(100);
    c.receive_area_len = 200;
    assert_eq!(init(&m, &c), phonecheck_status::ErrOverlap);
    // The check URL inside the URL area it is parsed into.
    let mut c = config(&m, CHECK_URL);
    // SAFETY (test): no session holds the URL area now.
    unsafe { ptr::copy_nonoverlapping(CHECK_URL.as_ptr(), m.url(), CHECK_URL.len()) };
    c.check_url = m.url().cast_const().cast();
    assert_eq!(init(&m, &c), phonecheck_status::ErrOverlap);
    // A misaligned connection area.
    let mut c = config(&m, CHECK_URL);
    c.connection_area = c.connection_area.cast::<u8>().wrapping_add(1).cast();
    c.connection_area_len -= 8;
    assert_eq!(init(&m, &c), phonecheck_status::ErrAlignment);
    // A length that wraps.
    let mut c = config(&m, CHECK_URL);
    c.cookie_area_len = usize::MAX;
    assert_eq!(init(&m, &c), phonecheck_status::ErrInvalidArgument);
    // Too little session memory, a misaligned or NULL session.
    let c = config(&m, CHECK_URL);
    // SAFETY (test): the checks fail before anything is written.
    unsafe {
        let s = m.session();
        assert_eq!(
            phonecheck_session_init(s, phonecheck_session_size() - 1, &c),
            phonecheck_status::ErrTooSmall
        );
        assert_eq!(
            phonecheck_session_init(s.cast::<u8>().add(4).cast(), 1200, &c),
            phonecheck_status::ErrAlignment
        );
        assert_eq!(
            phonecheck_session_init(ptr::null_mut(), 1200, &c),
            phonecheck_status::ErrNull
        );
        assert_eq!(
            phonecheck_session_init(s, phonecheck_session_size(), ptr::null()),
            phonecheck_status::ErrNull
        );
    }
    // Not UTF-8.
    let mut c = config(&m, CHECK_URL);
    c.platform = c"\xff".as_ptr();
    c.platform_len = 1;
    assert_eq!(init(&m, &c), phonecheck_status::ErrInvalidArgument);

    // A live session: buffers overlapping its areas are refused.
    let c = config(&m, CHECK_URL);
    assert_eq!(init(&m, &c), phonecheck_status::Ok);
    let s = m.session();
    let mut out = core::mem::MaybeUninit::<phonecheck_output>::uninit();
    let mut text = [0 as c_char; 256];
    // SAFETY (test): live session; the calls are refused before touching memory.
    unsafe {
        let inside = m.receive();
        assert_eq!(
            phonecheck_session_poll(s, inside, 16, text.as_mut_ptr(), 256, out.as_mut_ptr()),
            phonecheck_status::ErrOverlap
        );
        let mut tx = [0u8; 16];
        assert_eq!(
            phonecheck_session_poll(
                s,
                tx.as_mut_ptr(),
                16,
                text.as_mut_ptr(),
                100,
                out.as_mut_ptr()
            ),
            phonecheck_status::ErrTooSmall
        );
        assert_eq!(
            phonecheck_session_poll(
                s,
                tx.as_mut_ptr(),
                0,
                text.as_mut_ptr(),
                256,
                out.as_mut_ptr()
            ),
            phonecheck_status::ErrTooSmall
        );
        assert_eq!(
            phonecheck_session_received(s, 1, 1, m.cookies(), 10),
            phonecheck_status::ErrOverlap
        );
        assert_eq!(
            phonecheck_session_received(s, 1, 1, ptr::null(), 10),
            phonecheck_status::ErrNull
        );
        assert_eq!(
            phonecheck_session_failed(s, 1, 1, 0),
            phonecheck_status::ErrInvalidArgument
        );
        let bad = phonecheck_conn_info {
            remote: phonecheck_addr {
                family: 5,
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            phonecheck_session_connected(s, 1, 1, &bad),
            phonecheck_status::ErrInvalidArgument
        );
        let mut needed = 0;
        assert_eq!(
            phonecheck_session_write_envelope(s, ptr::null_mut(), 0, &mut needed),
            phonecheck_status::ErrNotFinished
        );
        // A setting after the first poll.
        let mut tx = [0u8; 16];
        assert_eq!(
            phonecheck_session_poll(
                s,
                tx.as_mut_ptr(),
                16,
                text.as_mut_ptr(),
                256,
                out.as_mut_ptr()
            ),
            phonecheck_status::Ok
        );
        assert_eq!(
            phonecheck_session_set_redirect_url(s, c"app://x".as_ptr(), 7),
            phonecheck_status::ErrAlreadyStarted
        );
        let why = text_of(|b, l, n| phonecheck_session_error_message(s, b, l, n));
        assert!(why.contains("already"), "{why}");
        assert_eq!(phonecheck_session_deinit(s), phonecheck_status::Ok);
    }
    // A zeroed blob is not a session.
    // SAFETY (test): zeroed memory.
    let mut zero: phonecheck_session = unsafe { core::mem::zeroed() };
    // SAFETY (test): as above.
    assert_eq!(
        unsafe { phonecheck_session_eof(&mut zero, 0, 0) },
        phonecheck_status::ErrNotInitialized
    );
}

#[test]
fn names_match_the_enums() {
    for (status, name) in [
        (phonecheck_status::Ok, "OK"),
        (phonecheck_status::ErrNull, "ERR_NULL"),
        (phonecheck_status::ErrAlignment, "ERR_ALIGNMENT"),
        (phonecheck_status::ErrTooSmall, "ERR_TOO_SMALL"),
        (phonecheck_status::ErrNotInitialized, "ERR_NOT_INITIALIZED"),
        (
            phonecheck_status::ErrInvalidArgument,
            "ERR_INVALID_ARGUMENT",
        ),
        (phonecheck_status::ErrOverlap, "ERR_OVERLAP"),
        (phonecheck_status::ErrInvalidUrl, "ERR_INVALID_URL"),
        (phonecheck_status::ErrInsecureStart, "ERR_INSECURE_START"),
        (phonecheck_status::ErrStorage, "ERR_STORAGE"),
        (phonecheck_status::ErrPolicy, "ERR_POLICY"),
        (phonecheck_status::ErrAlreadyStarted, "ERR_ALREADY_STARTED"),
        (phonecheck_status::ErrNotFinished, "ERR_NOT_FINISHED"),
        (phonecheck_status::ErrNotFound, "ERR_NOT_FOUND"),
        (phonecheck_status::ErrPanic, "ERR_PANIC"),
    ] {
        // SAFETY: a static NUL-terminated string.
        let got = unsafe { CStr::from_ptr(phonecheck_status_str(status as u32)) };
        assert_eq!(got.to_str().unwrap(), format!("PHONECHECK_STATUS_{name}"));
    }
    for code in [
        ErrorCode::NoDataConnectivity,
        ErrorCode::ConnectionError,
        ErrorCode::RedirectError,
        ErrorCode::SdkError,
        ErrorCode::InvalidScheme,
        ErrorCode::StateMismatch,
        ErrorCode::InteractionRequired,
    ] {
        // SAFETY: a static NUL-terminated string.
        let got = unsafe { CStr::from_ptr(phonecheck_error_code_str(error_code(code) as u32)) };
        assert_eq!(got.to_str().unwrap(), code.as_str());
    }
    std::println!(
        "sizes: session {} (align {}), connection {} (align {}), hop slot {} (align {})",
        phonecheck_session_size(),
        phonecheck_session_align(),
        phonecheck_connection_size(),
        phonecheck_connection_align(),
        phonecheck_hop_slot_size(),
        phonecheck_hop_slot_align()
    );
}

/// With `ffi-std`, a panic inside an entry point comes back as `ERR_PANIC` and poisons the
/// session: every later call says so, and deinit still frees it.
#[cfg(feature = "ffi-std")]
#[test]
fn a_panic_is_caught_and_poisons_the_session() {
    let m = M::new();
    let c = config(&m, CHECK_URL);
    assert_eq!(init(&m, &c), phonecheck_status::Ok);
    let s = m.session();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    // SAFETY (test): a live session; the closure panics before touching it.
    let st = unsafe { super::imp::with_live(s, |_| panic!("engine bug")) };
    std::panic::set_hook(hook);
    assert_eq!(st, phonecheck_status::ErrPanic);
    // SAFETY (test): the session is poisoned, not freed.
    unsafe {
        assert_eq!(phonecheck_session_eof(s, 1, 1), phonecheck_status::ErrPanic);
        assert_eq!(phonecheck_session_deinit(s), phonecheck_status::Ok);
        assert_eq!(
            phonecheck_session_deinit(s),
            phonecheck_status::ErrNotInitialized
        );
    }
}

/// Answers every request with the next of `replies` until `Done`.
fn drive(m: &M, replies: &[&[u8]]) -> phonecheck_done {
    let (mut now, mut reply, mut conn) = (0u64, 0usize, 0u32);
    loop {
        now += 5;
        assert!(now < 10_000, "no end");
        let p = poll(m, 512);
        let s = m.session();
        // SAFETY (test) for every call below: live session, buffers readable.
        let st = match p.out.kind {
            phonecheck_output_kind::Connect => {
                conn = p.out.conn;
                let info = phonecheck_conn_info {
                    remote: phonecheck_addr::default(),
                    local: phonecheck_addr::default(),
                    dns_ms: PHONECHECK_NO_TIME,
                    connect_ms: PHONECHECK_NO_TIME,
                };
                unsafe { phonecheck_session_connected(s, now, p.out.conn, &info) }
            }
            phonecheck_output_kind::Transmit => unsafe {
                phonecheck_session_sent(s, now, p.out.conn, p.tx.len())
            },
            phonecheck_output_kind::Wait => {
                let r = replies[reply];
                reply += 1;
                unsafe { phonecheck_session_received(s, now, conn, r.as_ptr(), r.len()) }
            }
            phonecheck_output_kind::Close | phonecheck_output_kind::Hop => phonecheck_status::Ok,
            phonecheck_output_kind::Done => return p.out.done,
        };
        assert_eq!(st, phonecheck_status::Ok);
    }
}

/// The CAMARA rules through the C ABI: `require_https`, `html_is_interaction` and the expected
/// state, each ending the check with its own error code.
#[test]
fn camara_rules_through_the_c_abi() {
    let m = M::new();
    let mut c = config(&m, CHECK_URL);
    c.require_https = 1;
    assert_eq!(init(&m, &c), phonecheck_status::ErrInsecureStart);

    let m = M::new();
    let mut c = config(&m, CHECK_URL);
    c.html_is_interaction = 1;
    assert_eq!(init(&m, &c), phonecheck_status::Ok);
    let page: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 6\r\n\r\n<form>";
    let done = drive(&m, &[page]);
    assert!(!done.ok);
    assert_eq!(done.error_code, phonecheck_error_code::InteractionRequired);

    for (state, expected) in [
        ("st-1", phonecheck_error_code::None),
        ("st-2", phonecheck_error_code::StateMismatch),
    ] {
        let m = M::new();
        let c = config(&m, CHECK_URL);
        assert_eq!(init(&m, &c), phonecheck_status::Ok);
        let s = m.session();
        // SAFETY (test): live session, strings readable.
        unsafe {
            assert_eq!(
                phonecheck_session_set_redirect_url(s, c"app://cb".as_ptr(), 8),
                phonecheck_status::Ok
            );
            assert_eq!(
                phonecheck_session_set_expected_state(s, state.as_ptr().cast(), state.len()),
                phonecheck_status::Ok
            );
        }
        let back: &[u8] =
            b"HTTP/1.1 302 Found\r\nLocation: app://cb?code=c-9&state=st%2D1\r\nContent-Length: 0\r\n\r\n";
        let done = drive(&m, &[back]);
        assert_eq!(done.error_code, expected, "{state}");
        assert_eq!(done.ok, expected == phonecheck_error_code::None);
    }
}
