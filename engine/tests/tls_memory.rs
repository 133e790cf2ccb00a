//! What TLS costs in RAM: a global allocator counts the bytes the session holds on the heap
//! (rustls state and the TLS layer's buffers) during an https check. Plain http hops hold none.
//!
//! One test in this file: the counters are per thread, and the harness's own allocations (the
//! test server) are not counted.

// A global allocator can only be written with unsafe; this test crate is not the engine.
#![allow(unsafe_code)]

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use support::{json, redirect, Scenario};

struct Counting;

thread_local! {
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if WATCHING.with(Cell::get) {
            let live = LIVE.with(|l| {
                l.set(l.get() + layout.size() as i64);
                l.get()
            });
            PEAK.with(|p| p.set(p.get().max(live)));
        }
        // SAFETY: forwarding the caller's layout to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if WATCHING.with(Cell::get) {
            LIVE.with(|l| l.set(l.get() - layout.size() as i64));
        }
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn watch(on: bool) {
    WATCHING.with(|w| w.set(on));
}

fn measure(s: Scenario) -> (i64, i64) {
    LIVE.with(|l| l.set(0));
    PEAK.with(|p| p.set(0));
    let mut s = s;
    s.around_session = watch;
    let done = s.run();
    assert_eq!(done.result, Ok((200, 2)));
    (PEAK.with(Cell::get), LIVE.with(Cell::get))
}

#[test]
fn ram_per_tls_connection() {
    let body = r#"{"check_id":"c1","code":"4711"}"#;
    let plain = measure(
        Scenario::new("http://api.example/a")
            .policy(|p| p.allow_http_start = true)
            .respond("api.example", 80, &redirect(302, "http://mno.example/b"))
            .respond("mno.example", 80, &json(200, body)),
    );
    let tls = measure(
        Scenario::new("https://api.example/a")
            .respond("api.example", 443, &redirect(302, "https://mno.example/b"))
            .respond("mno.example", 443, &json(200, body)),
    );
    // A 15 KiB final body arrives in full-size TLS records: the worst case for the buffers.
    let big_body = format!(
        r#"{{"check_id":"c1","code":"4711","pad":"{}"}}"#,
        "p".repeat(15_000)
    );
    let big = measure(
        Scenario::new("https://api.example/a")
            .respond("api.example", 443, &redirect(302, "https://mno.example/b"))
            .respond("mno.example", 443, &json(200, &big_body)),
    );
    println!(
        "https chain, 15 KiB final body: peak heap held by the session = {} bytes",
        big.0
    );
    assert!(big.0 < 128 * 1024, "TLS grew to {} bytes", big.0);
    println!(
        "plain http chain: peak heap held by the session = {} bytes",
        plain.0
    );
    println!("https chain: peak heap held by the session = {} bytes (one TLS connection open at a time, plus the check's config and resumption store)", tls.0);
    assert_eq!(plain.0, 0, "plain http hops must not allocate");
    assert!(tls.0 > 0);
    assert!(tls.0 < 96 * 1024, "TLS grew to {} bytes", tls.0);
}
