//! # phonecheck-engine
//!
//! The device side of IDlayr PhoneCheck as a sans-IO, `no_std` HTTP/1.1 engine.
//!
//! PhoneCheck proves that a person holds the SIM for a phone number in three steps: a backend
//! **creates** a check and gets a `check_url`; the device **opens** that URL over its mobile data
//! connection and follows the redirect chain through the operator, which recognises the
//! subscriber from the data session, until a response carries a one-time `code`; the backend
//! **completes** the check with the code and learns whether the number matched. This crate is
//! the middle step, without any I/O: a driver (see `phonecheck-linux`) owns sockets pinned to the
//! mobile interface and a clock, and moves bytes and time in and out of a [`Session`].
//!
//! ## The pipeline
//!
//! ```text
//! url ──► request ──► (socket) ──► response ──► chunked
//!  ▲                                  │
//!  └── session: redirect rules, cookie jar, pool, deadlines ──► Completion ──► envelope (JSON)
//!         │                                                           ▲
//!         └── Output::Hop(record) ──► the driver's collection ────────┘ (debug object)
//! ```
//!
//! | module | owns |
//! |---|---|
//! | [`url`] | fixed-capacity http/https URLs, RFC 3986 reference resolution |
//! | `ip` | IP literals in hosts: reading them, writing IPv6 canonically (RFC 5952) |
//! | [`request`] | writing one hop's request into a caller buffer |
//! | [`response`], [`chunked`] | reading a response incrementally, RFC 9112 body framing |
//! | [`cookie`] | the bounded RFC 6265 cookie jar |
//! | [`session`] | the redirect state machine: inputs, outputs, deadlines |
//! | [`storage`] | the buffers the caller lends, and the `Small` and `Hosted` presets |
//! | `pool` | connection slots keyed by origin, least-recently-used eviction |
//! | `scan` | finding delimiter bytes a word at a time (URLs, JSON strings) |
//! | `text` | messages and numbers written as pieces, without `core::fmt`'s formatter |
//! | [`completion`] | what a finished check says: status, PhoneCheck fields of the final body |
//! | [`json`] | validating the final JSON body and reading its PhoneCheck fields |
//! | [`trace`] | the per-hop records the session hands out, with secrets redacted when shown |
//! | [`envelope`] | the SDK-compatible JSON result |
//! | `tls` (feature) | rustls unbuffered between the session's plaintext and the socket's ciphertext |
//! | [`policy`], [`time`], [`error`] | the caller's rules, time passed in, typed errors |
//!
//! ## Storage
//!
//! A session keeps only state (`size_of::<Session>()` is about 1 KiB); every buffer is lent by
//! the caller ([`storage`]): the URL area, the receive area, the cookie area and the connection
//! slots. [`Small`] and [`Hosted`] are ready-made; any slices of your own work too, in a
//! `static`, on the stack or on the heap.
//!
//! ## Driving a session
//!
//! After every input, drain outputs until `Wait` or `Done`. Outputs and inputs name their
//! connection ([`ConnId`]): up to `Policy::max_connections` stay open at once, and a hop to an
//! origin with an idle connection reuses it. This walks a two-hop chain byte for byte (the check
//! URL redirects to the operator, which answers with the code). It is plain http so the bytes
//! can be read; https hops need the `tls` feature and `Session::set_tls`, and without them fail
//! closed with [`TlsError::NotConfigured`].
//!
//! ```
//! use phonecheck_engine::{Input, Instant, Output, Policy, Session, Small};
//! use phonecheck_engine::completion::Field;
//!
//! let mut storage = Small::new();
//! let policy = Policy { platform: "doc", allow_http_start: true, ..Policy::default() };
//! let mut s = Session::new(storage.buffers(), b"http://api.example/check/1/redirect", policy,
//!                          Instant::from_millis(0)).unwrap();
//! let mut buf = [0u8; 512];
//!
//! // Hop 1: connect, send, read a redirect to another origin.
//! let Output::Connect { conn, host, port, hop, .. } = s.poll_output(&mut buf) else { panic!() };
//! assert_eq!((host, port, hop), ("api.example", 80, 1));
//! s.handle_input(Instant::from_millis(40), Input::Connected { conn, info: Default::default() });
//! let Output::Transmit { len, .. } = s.poll_output(&mut buf) else { panic!() };
//! assert!(buf[..len].starts_with(b"GET /check/1/redirect HTTP/1.1\r\nHost: api.example\r\n"));
//! s.handle_input(Instant::from_millis(41), Input::Sent { conn, len });
//! assert!(matches!(s.poll_output(&mut buf), Output::Wait { .. }));
//! s.handle_input(Instant::from_millis(90), Input::Received { conn, bytes:
//!     b"HTTP/1.1 302 Found\r\nLocation: http://mno.example/he?c=1\r\nContent-Length: 0\r\n\r\n" });
//!
//! // The hop's record comes out; the Small preset has one connection slot, so the idle
//! // connection to api.example is closed to make room for the operator's.
//! let Output::Hop(record) = s.poll_output(&mut buf) else { panic!() };
//! assert_eq!((record.url.as_str(), record.info.status), ("http://api.example/check/1/redirect", Some(302)));
//! assert!(matches!(s.poll_output(&mut buf), Output::Close { conn: c } if c == conn));
//! let Output::Connect { conn, host, hop, .. } = s.poll_output(&mut buf) else { panic!() };
//! assert_eq!((host, hop), ("mno.example", 2));
//! s.handle_input(Instant::from_millis(120), Input::Connected { conn, info: Default::default() });
//! let Output::Transmit { len, .. } = s.poll_output(&mut buf) else { panic!() };
//! assert!(buf[..len].starts_with(b"GET /he?c=1 HTTP/1.1\r\nHost: mno.example\r\n"));
//! s.handle_input(Instant::from_millis(121), Input::Sent { conn, len });
//! s.handle_input(Instant::from_millis(180), Input::Received { conn, bytes:
//!     b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 32\r\n\r\n\
//!       {\"check_id\":\"c-1\",\"code\":\"4711\"}" });
//!
//! assert!(matches!(s.poll_output(&mut buf), Output::Hop(_)));
//! assert!(matches!(s.poll_output(&mut buf), Output::Close { .. }));
//! let Output::Done(Ok(done)) = s.poll_output(&mut buf) else { panic!() };
//! assert_eq!((done.http_status, done.hops), (200, 2));
//! assert_eq!(done.field(Field::Code).unwrap().to_string(), "4711");
//! ```
#![cfg_attr(not(test), no_std)]
#![cfg_attr(not(feature = "ffi"), forbid(unsafe_code))]
#![cfg_attr(feature = "ffi", deny(unsafe_code))]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod chunked;
pub mod completion;
pub mod cookie;
mod cursor;
pub mod envelope;
pub mod error;
#[cfg(feature = "ffi")]
pub mod ffi;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod ip;
pub mod json;
pub mod policy;
mod pool;
pub mod request;
pub mod response;
mod scan;
pub mod session;
pub mod storage;
mod text;
pub mod time;
#[cfg(feature = "tls")]
pub mod tls;
pub mod trace;
pub mod url;

pub use completion::{Completion, Field, FieldValue, ResponseBody};
pub use error::{Error, ErrorCode, TlsError, TransportError};
pub use policy::{Limits, Policy, Timeouts, MAX_REDIRECTS};
pub use session::{ConnectionInfo, Input, Output, Session};
pub use storage::{Area, Buffers, Connection, Hosted, Small};
pub use time::{Instant, WallClock};
#[cfg(feature = "tls")]
pub use tls::TlsSettings;
pub use trace::{ConnId, Counters, HopInfo, HopLog, HopRecord, HopSource, HopUrl, Tap};
pub use url::{Scheme, Url, UrlRef};
