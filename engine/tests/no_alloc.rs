//! The redirect path does not allocate: a counting global allocator watches every session call
//! over a 5-hop chain (TLS off; requests sent in pieces; hops collected in a `HopLog`) on both
//! storage presets, and the session's size and the `Small` preset's RAM are bounded.
//!
//! This file holds one test on purpose: the count is per thread, and nothing else may run in it.

// A global allocator can only be written with unsafe; this test crate is not the engine.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use phonecheck_engine::{
    Buffers, ConnId, ConnectionInfo, HopLog, Hosted, Input, Instant, Output, Policy, Session, Small,
};

struct Counting;

thread_local! {
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if WATCHING.with(Cell::get) {
            ALLOCATIONS.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: forwarding the caller's layout to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn watched<T>(f: impl FnOnce() -> T) -> T {
    WATCHING.with(|w| w.set(true));
    let out = f();
    WATCHING.with(|w| w.set(false));
    out
}

fn run_chain(buffers: Buffers<'_>) -> usize {
    // Responses prepared up front (the test's own allocations are not watched).
    let replies: Vec<&[u8]> = vec![
        b"HTTP/1.1 302 Found\r\nLocation: /two\r\nSet-Cookie: s=1; Path=/\r\nContent-Length: 3\r\n\r\nabc",
        b"HTTP/1.1 302 Found\r\nLocation: http://mno.example/three?x=1\r\nTransfer-Encoding: chunked\r\n\r\n3;e\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 307 Temporary\r\nLocation: ../four\r\nSet-Cookie: m=2\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 302 Found\r\nLocation: http://api.example/five\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 31\r\n\r\n{\"check_id\":\"c1\",\"code\":\"4711\"}",
    ];
    // A small transmit buffer: requests go out in several pieces.
    let mut buf = vec![0u8; 64];
    let mut envelope = vec![0u8; 16 * 1024];
    let mut log: Box<HopLog<11, 4096>> = Box::default();
    // TLS off: every hop is plain http (https hops allocate in rustls; see tls_memory.rs).
    let policy = Policy {
        platform: "test",
        allow_http_start: true,
        ..Policy::default()
    };
    ALLOCATIONS.with(|c| c.set(0));

    let mut session = watched(|| {
        Session::new(
            buffers,
            b"http://api.example/one",
            policy,
            Instant::from_millis(0),
        )
        .unwrap()
    });
    let mut next_reply = replies.iter();
    let mut now = 0u64;
    let mut hops = 0;
    let mut finished = false;
    let mut sending = ConnId::default();
    for _ in 0..1000 {
        now += 1;
        let t = Instant::from_millis(now);
        let output = watched(|| match session.poll_output(&mut buf) {
            Output::Connect { conn, .. } => Some(Input::Connected {
                conn,
                info: ConnectionInfo::default(),
            }),
            Output::Transmit { conn, len } => {
                sending = conn;
                // The socket takes a little less than offered, so requests resume mid-way.
                Some(Input::Sent {
                    conn,
                    len: len.saturating_sub(7).max(1),
                })
            }
            Output::Close { .. } => None,
            Output::Hop(record) => {
                log.push(record);
                None
            }
            Output::Wait { .. } => Some(Input::Received {
                conn: sending,
                bytes: next_reply.next().unwrap(),
            }),
            Output::Done(result) => {
                hops = result.unwrap().hops;
                finished = true;
                None
            }
        });
        if finished {
            break;
        }
        if let Some(input) = output {
            watched(|| session.handle_input(t, input));
        }
    }
    assert!(finished);
    assert_eq!(hops, 5);
    assert_eq!(log.len(), 5);
    let n = watched(|| {
        session
            .write_debug_envelope(&mut envelope, &*log, &[("platform", "test")])
            .unwrap()
    });
    let text = std::str::from_utf8(&envelope[..n]).unwrap();
    assert!(text.contains("\"url_trace\":\"1 GET http://api.example/one -> 302"));
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn five_hop_chain_makes_zero_allocations_and_session_size_is_bounded() {
    let mut hosted = Box::new(Hosted::new());
    assert_eq!(
        run_chain(hosted.buffers()),
        0,
        "the session allocated (Hosted)"
    );
    let mut small = Box::new(Small::new());
    assert_eq!(
        run_chain(small.buffers()),
        0,
        "the session allocated (Small)"
    );

    let size = std::mem::size_of::<Session>();
    let small_total = size + std::mem::size_of::<Small>();
    println!("size_of::<Session>() = {size} bytes");
    println!(
        "size_of::<Small>() = {} bytes; Session + Small = {small_total} bytes",
        std::mem::size_of::<Small>()
    );
    println!(
        "size_of::<Hosted>() = {} bytes",
        std::mem::size_of::<Hosted>()
    );
    assert!(size <= 2 * 1024, "Session grew to {size} bytes");
    assert!(
        small_total <= 8 * 1024,
        "Session + Small is {small_total} bytes"
    );
}
