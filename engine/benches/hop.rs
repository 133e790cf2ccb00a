//! CPU per hop: phonecheck's `Session` against `httparse` alone (the floor) and `ureq-proto`
//! (the nearest sans-IO peer), on exactly the same response bytes, in one run:
//!
//! ```sh
//! cargo bench -p phonecheck-engine --bench hop
//! ```
//!
//! The chain is 10 plain-http requests over 3 origins, all in memory (no sockets, no TLS):
//!
//! ```text
//!  #  request                                   answer
//!  1  GET http://api.test/v0.2/checks/…/redirect 302 Location: /v0.2/checks/…/a1      (relative), Content-Length HTML
//!  2  GET http://api.test/v0.2/checks/…/a1       302 Location: http://opa.test/he/1?… (absolute), Content-Length HTML
//!  3  GET http://opa.test/he/1?…                 302 Location: /he/2?sid=…             chunked body
//!  4  GET http://opa.test/he/2?sid=…             302 Location: http://opb.test/auth/1?…
//!  5  GET http://opb.test/auth/1?…               302 Location: 2?step=2  Set-Cookie: opsess=… (Expires, Path=/)
//!  6  GET http://opb.test/auth/2?step=2 Cookie   302 Location: /auth/3
//!  7  GET http://opb.test/auth/3 Cookie          302 Location: http://opa.test/he/3?…
//!  8  GET http://opa.test/he/3?…                 302 Location: ../he/4
//!  9  GET http://opa.test/he/4                   302 Location: http://api.test/v0.2/checks/…/done?…
//! 10  GET http://api.test/v0.2/checks/…/done?…   200 application/json {"check_id":…,"code":…}
//! ```
//!
//! Every response carries the headers real servers send (Date, Server, Content-Type,
//! Cache-Control, …; heads of 276–466 bytes, 3,653 of the chain's 4,572 bytes). The contenders:
//!
//! 1. `phonecheck`: a fresh `Session` per chain (built in place with `Session::new_in`) over one
//!    boxed `Hosted` storage, driven through
//!    Connect → Connected, Transmit → Sent, Wait → Received until `Done`; hop records ignored;
//!    the `code` field read from the completion. Checked once outside timing: 200, 10 requests,
//!    the code, the cookie on hops 6 and 7, and 3 connections (one per origin, kept open).
//! 2. `httparse`: `httparse::Response::parse` of the 10 heads (64 headers), nothing else.
//! 3. `ureq-proto`: its client `Call` state machine per hop (`http::Request` with the same
//!    request headers, request written into a buffer, response parsed, body read, `Location`
//!    followed with `Call<Redirect>::as_new_call`); cookies with a minimal host-only jar of
//!    our own (ureq-proto has none); the `code` found in the final body by a byte search.
//!
//! The interleaved table (below) also shows httparse called the way the engine calls it (an
//! uninitialised header array and the engine's `ParserConfig`): faster than the floor, which
//! fills its array on every parse as httparse's documentation does, and shown beside it, not
//! instead of it.
//!
//! After the groups run, `main` reads criterion's estimates (`target/criterion/hop/*/new/
//! estimates.json`) and prints ns per hop and the ratios to httparse. Criterion times each
//! contender in its own five seconds, so on a machine whose speed drifts (a shared VM) its
//! ratios drift too. `main` then also times the three interleaved: a round is a short batch
//! of each (about half a millisecond apiece), 1,000 rounds, and the medians of the rounds
//! give ratios that such drift moves alike for all three. What no number of rounds averages
//! out is where the binary's code sits in physical memory: two copies of the same binary differ
//! by up to 7 % in phonecheck's time, run after run. `placements.sh`, next to this file, runs
//! the interleaved part from several fresh copies and reports the median over all of them; with
//! `--shuffle`, from several links with the functions in other orders, which moves httparse's
//! time as much as phonecheck's (judge a change of the engine that way: it moves every function
//! linked after it).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use criterion::Criterion;
use phonecheck_engine::completion::Field;
use phonecheck_engine::{
    ConnId, ConnectionInfo, FieldValue, Hosted, Input, Instant, Output, Policy, Session,
};

/// Requests in the chain.
const HOPS: usize = 10;
const CHECK_URL: &str = "http://api.test/v0.2/checks/c38ca50fd7f7323286e8b185547b92a6/redirect";
const CODE: &str = "bench-5f3a9c21e07d4b6a";
const USER_AGENT: &str = concat!("phonecheck/", env!("CARGO_PKG_VERSION"), " bench");
const ACCEPT: &str = "text/html,application/xhtml+xml,application/xml,*/*";

enum Body<'a> {
    Length(&'a str),
    Chunked(&'a [&'a str]),
}

/// One response, byte-exact: status line, headers, the framing header, then the body.
fn response(status: &str, headers: &[(&str, &str)], body: Body<'_>) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    match body {
        Body::Length(text) => {
            out.push_str(&format!("Content-Length: {}\r\n\r\n{text}", text.len()));
        }
        Body::Chunked(chunks) => {
            out.push_str("Transfer-Encoding: chunked\r\n\r\n");
            for chunk in chunks {
                out.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
            }
            out.push_str("0\r\n\r\n");
        }
    }
    out.into_bytes()
}

fn html(location: &str) -> String {
    format!(
        "<html>\r\n<head><title>302 Found</title></head>\r\n<body>\r\n<center><h1>302 Found</h1>\
         </center>\r\n<p>The document has moved <a href=\"{location}\">here</a>.</p>\r\n</body>\
         \r\n</html>\r\n"
    )
}

/// The 10 responses, in order.
fn chain() -> Vec<Vec<u8>> {
    const DATE: &str = "Sun, 29 Nov 2026 06:40:12 GMT";
    // The PhoneCheck API: nginx in front of an application.
    let api = |location: &str, request_id: &str| {
        response(
            "302 Found",
            &[
                ("Date", DATE),
                ("Server", "nginx"),
                ("Content-Type", "text/html; charset=utf-8"),
                ("Connection", "keep-alive"),
                ("Location", location),
                (
                    "Cache-Control",
                    "no-cache, no-store, max-age=0, must-revalidate",
                ),
                ("Pragma", "no-cache"),
                ("Expires", "0"),
                ("X-Content-Type-Options", "nosniff"),
                ("X-Frame-Options", "DENY"),
                ("X-Request-Id", request_id),
            ],
            Body::Length(&html(location)),
        )
    };
    // Operator A: an Apache header-enrichment front.
    fn opa(location: &str) -> Vec<(&str, &str)> {
        vec![
            ("Date", DATE),
            ("Server", "Apache"),
            ("Location", location),
            ("Cache-Control", "private, no-cache, no-store"),
            ("Pragma", "no-cache"),
            ("Expires", "Thu, 01 Jan 1970 00:00:00 GMT"),
            ("Content-Type", "text/html; charset=iso-8859-1"),
            ("Keep-Alive", "timeout=5, max=100"),
            ("Connection", "Keep-Alive"),
        ]
    }
    // Operator B: an authentication gateway behind a load balancer.
    fn opb(location: &str) -> Vec<(&str, &str)> {
        vec![
            ("Date", DATE),
            ("Server", "BigIP"),
            ("Location", location),
            ("Cache-Control", "no-store"),
            ("Content-Type", "text/html"),
            ("X-Frame-Options", "SAMEORIGIN"),
            ("Strict-Transport-Security", "max-age=31536000"),
            ("Via", "1.1 lb-07.opb.test"),
            ("X-Correlation-ID", "0f9d7c52-4a8e-4b9b-9e37-8c1d2f5a6b70"),
        ]
    }
    let done = "http://api.test/v0.2/checks/c38ca50fd7f7323286e8b185547b92a6/done\
                ?state=Zm9vYmFyYmF6cXV4&mno=opb";
    let a1_to_opa = "http://opa.test/he/1?check_id=c38ca50fd7f7323286e8b185547b92a6\
                     &redirect=http%3A%2F%2Fapi.test%2Fv0.2%2Fchecks%2Fcb";
    let body = format!(
        "{{\"check_id\":\"c38ca50fd7f7323286e8b185547b92a6\",\"status\":\"COMPLETED\",\
         \"reference_id\":\"ref-0001\",\"code\":\"{CODE}\",\"_links\":{{\"self\":{{\"href\":\
         \"http://api.test/v0.2/checks/c38ca50fd7f7323286e8b185547b92a6\"}}}}}}"
    );
    let mut set_cookie = opb("2?step=2");
    set_cookie.push((
        "Set-Cookie",
        "opsess=b7d0e4a19c3f5e2d; Path=/; Expires=Sun, 29 Nov 2026 07:10:12 GMT; HttpOnly; \
         SameSite=Lax",
    ));
    vec![
        api(
            "/v0.2/checks/c38ca50fd7f7323286e8b185547b92a6/a1",
            "7a1c2e9f3b4d5a6e",
        ),
        api(a1_to_opa, "7a1c2e9f3b4d5a6f"),
        response(
            "302 Found",
            &opa("/he/2?sid=4e7f2a9c"),
            Body::Chunked(&["<html><body>Moved</body>", "</html>\n"]),
        ),
        response(
            "302 Found",
            &opa("http://opb.test/auth/1?sid=4e7f2a9c&msisdn_hint=1"),
            Body::Length(""),
        ),
        response("302 Found", &set_cookie, Body::Length("")),
        response("302 Found", &opb("/auth/3"), Body::Length("")),
        response(
            "302 Found",
            &opb("http://opa.test/he/3?sid=4e7f2a9c&auth=ok"),
            Body::Length(""),
        ),
        response("302 Found", &opa("../he/4"), Body::Length(&html("../he/4"))),
        response("302 Found", &opa(done), Body::Length("")),
        response(
            "200 OK",
            &[
                ("Date", DATE),
                ("Server", "nginx"),
                ("Content-Type", "application/json; charset=utf-8"),
                ("Connection", "keep-alive"),
                ("Cache-Control", "no-store"),
                ("Vary", "Accept-Encoding"),
                ("X-Content-Type-Options", "nosniff"),
                ("X-Request-Id", "7a1c2e9f3b4d5a70"),
            ],
            Body::Length(&body),
        ),
    ]
}

/// What a contender's chain ended with, checked once outside timing.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    status: u16,
    requests: usize,
    code_len: usize,
    cookies_sent: usize,
}

// ------------------------------------------------------------------------------- phonecheck

/// One whole chain through a fresh `Session` over `storage`. `CHECK` also counts the requests
/// that carried the cookie (a scan of each request: only outside timing) and the connections.
fn phonecheck_chain<const CHECK: bool>(
    storage: &mut Hosted,
    replies: &[&[u8]],
    buf: &mut [u8],
    connects: &mut usize,
) -> Outcome {
    let policy = Policy {
        platform: "bench",
        allow_http_start: true,
        ..Policy::default()
    };
    // Built in place, as a driver that runs checks back to back does: no move of the session.
    let mut slot = None;
    let session = Session::new_in(
        &mut slot,
        storage.buffers(),
        CHECK_URL.as_bytes(),
        policy,
        Instant::from_millis(0),
    )
    .expect("session");
    let mut next_reply = replies.iter();
    let mut sending = ConnId::default();
    let mut now = 0u64;
    let mut cookies_sent = 0;
    loop {
        now += 1;
        let input = match session.poll_output(buf) {
            Output::Connect { conn, .. } => {
                if CHECK {
                    *connects += 1;
                }
                Input::Connected {
                    conn,
                    info: ConnectionInfo::default(),
                }
            }
            Output::Transmit { conn, len } => {
                sending = conn;
                if CHECK {
                    cookies_sent += usize::from(contains(&buf[..len], b"\r\nCookie: opsess="));
                }
                Input::Sent { conn, len }
            }
            Output::Wait { .. } => Input::Received {
                conn: sending,
                bytes: next_reply.next().expect("a reply for every request"),
            },
            Output::Close { .. } | Output::Hop(_) => continue,
            Output::Done(result) => {
                let done = result.expect("the chain completes");
                let code_len = match done.field(Field::Code) {
                    Some(FieldValue::Json(raw)) => raw.len(),
                    _ => 0,
                };
                return Outcome {
                    status: done.http_status,
                    requests: usize::from(done.hops),
                    code_len,
                    cookies_sent,
                };
            }
        };
        session.handle_input(Instant::from_millis(now), input);
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// --------------------------------------------------------------------------------- httparse

/// The floor: parse the 10 heads, nothing else.
fn httparse_chain(replies: &[&[u8]]) -> usize {
    let mut total = 0;
    for reply in replies {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(reply) {
            Ok(httparse::Status::Complete(len)) => total += len,
            _ => panic!("a complete head"),
        }
    }
    total
}

/// httparse the way the engine calls it: an uninitialised 64-entry array and the engine's
/// `ParserConfig`. Shown beside the floor in the interleaved table, not instead of it: the floor
/// is httparse as its documentation calls it, and this is how much faster the same parse can be.
fn httparse_engine_way_chain(replies: &[&[u8]]) -> usize {
    let mut total = 0;
    for reply in replies {
        let mut headers = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; 64];
        let mut response = httparse::Response::new(&mut []);
        let mut config = httparse::ParserConfig::default();
        config
            .allow_spaces_after_header_name_in_responses(true)
            .allow_multiple_spaces_in_response_status_delimiters(true);
        match config.parse_response_with_uninit_headers(&mut response, reply, &mut headers) {
            Ok(httparse::Status::Complete(len)) => total += len,
            _ => panic!("a complete head"),
        }
    }
    total
}

// ------------------------------------------------------------------------------- ureq-proto

mod ureq {
    use super::{Outcome, ACCEPT, CHECK_URL, USER_AGENT};
    use ureq_proto::client::{
        Call, RecvBodyResult, RecvResponseResult, RedirectAuthHeaders, SendRequestResult,
    };
    use ureq_proto::http::{header, Request};

    /// A host-only cookie jar, as small as this chain allows: `(host, "name=value")`.
    type Jar = Vec<(String, String)>;

    /// One whole chain with ureq-proto's client state machine.
    pub fn chain(replies: &[&[u8]], out: &mut [u8], body: &mut [u8]) -> Outcome {
        let request = Request::get(CHECK_URL)
            .header(header::USER_AGENT, USER_AGENT)
            .header(header::ACCEPT, ACCEPT)
            .header(header::CONNECTION, "keep-alive")
            .body(())
            .expect("request");
        let mut call = Call::new(request).expect("call");
        let mut jar: Jar = Vec::new();
        let mut cookies_sent = 0;
        for (hop, reply) in replies.iter().enumerate() {
            // Prepare: cookies for this host.
            let host = call.uri().host().unwrap_or_default().to_owned();
            for (_, pair) in jar.iter().filter(|(h, _)| *h == host) {
                call.header(header::COOKIE, pair.as_str()).expect("cookie");
                cookies_sent += 1;
            }
            // SendRequest: the whole request into `out` (a socket would take it).
            let mut send = call.proceed();
            let n = send.write(out).expect("write");
            assert!(n > 0 && send.can_proceed());
            let Ok(Some(SendRequestResult::RecvResponse(mut recv))) = send.proceed() else {
                panic!("GET goes straight to RecvResponse");
            };
            // RecvResponse: the head.
            let (used, response) = recv.try_response(reply, false).expect("response");
            let response = response.expect("a whole head");
            for value in response.headers().get_all(header::SET_COOKIE) {
                let value = value.as_bytes();
                let pair = value.split(|&b| b == b';').next().unwrap_or_default();
                let pair = String::from_utf8_lossy(pair.trim_ascii()).into_owned();
                let name_len = pair.find('=').unwrap_or(pair.len());
                jar.retain(|(h, p)| !(*h == host && p.get(..=name_len) == pair.get(..=name_len)));
                jar.push((host.clone(), pair));
            }
            let status = response.status().as_u16();
            let mut rest = &reply[used..];
            // RecvBody: drained for a redirect, kept for the final response.
            let mut body_len = 0;
            let redirect = match recv.proceed().expect("proceed") {
                RecvResponseResult::RecvBody(mut read) => {
                    while !read.can_proceed() {
                        let (i, o) = read.read(rest, &mut body[body_len..]).expect("body");
                        rest = &rest[i..];
                        body_len += o;
                        assert!(i > 0 || o > 0, "the body is all there");
                    }
                    match read.proceed().expect("body read") {
                        RecvBodyResult::Redirect(r) => Some(r),
                        RecvBodyResult::Cleanup(_) => None,
                    }
                }
                RecvResponseResult::Redirect(r) => Some(r),
                RecvResponseResult::Cleanup(_) => None,
            };
            match redirect {
                Some(mut r) => {
                    call = r
                        .as_new_call(RedirectAuthHeaders::Never)
                        .expect("location")
                        .expect("GET is followed");
                    let _cleanup = r.proceed();
                }
                None => {
                    let needle = b"\"code\":\"";
                    let code_len = body[..body_len]
                        .windows(needle.len())
                        .position(|w| w == needle)
                        .map(|at| {
                            let value = &body[at + needle.len()..body_len];
                            value.iter().position(|&b| b == b'"').unwrap_or(0)
                        })
                        .unwrap_or(0);
                    return Outcome {
                        status,
                        requests: hop + 1,
                        code_len,
                        cookies_sent,
                    };
                }
            }
        }
        panic!("the chain ends with a final response");
    }
}

// ------------------------------------------------------------------------------------- main

fn benches(c: &mut Criterion, replies: &[&[u8]]) {
    let expected = Outcome {
        status: 200,
        requests: HOPS,
        code_len: CODE.len(),
        cookies_sent: 2,
    };
    let mut storage = Box::new(Hosted::new());
    let mut buf = vec![0u8; 4096];
    let mut out = vec![0u8; 4096];
    let mut body = vec![0u8; 16 * 1024];

    // Each contender's result, checked once outside timing.
    let mut connects = 0;
    assert_eq!(
        phonecheck_chain::<true>(&mut storage, replies, &mut buf, &mut connects),
        expected,
        "phonecheck"
    );
    // One connection per origin, kept open across the chain (the pool holds 4).
    assert_eq!(connects, 3, "phonecheck connections");
    assert_eq!(
        ureq::chain(replies, &mut out, &mut body),
        expected,
        "ureq-proto"
    );
    let head_lens: Vec<usize> = replies
        .iter()
        .map(|r| r.windows(4).position(|w| w == b"\r\n\r\n").expect("head") + 4)
        .collect();
    let heads: usize = head_lens.iter().sum();
    assert_eq!(httparse_chain(replies), heads, "httparse");
    assert_eq!(
        httparse_engine_way_chain(replies),
        heads,
        "httparse, the engine's way"
    );
    let total: usize = replies.iter().map(|r| r.len()).sum();
    println!(
        "chain: {HOPS} responses, {total} bytes ({heads} of heads); head bytes per hop {head_lens:?}"
    );

    let mut group = c.benchmark_group("hop");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("phonecheck", |b| {
        let mut connects = 0;
        b.iter(|| {
            phonecheck_chain::<false>(&mut storage, black_box(replies), &mut buf, &mut connects)
        })
    });
    group.bench_function("httparse", |b| {
        b.iter(|| httparse_chain(black_box(replies)))
    });
    group.bench_function("ureq-proto", |b| {
        b.iter(|| ureq::chain(black_box(replies), &mut out, &mut body))
    });
    group.finish();
}

/// Criterion's output directory, found the way criterion finds it.
fn criterion_home() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    // The bench binary is target/<profile>/deps/hop-<hash>.
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.join("criterion")))
        .unwrap_or_else(|| PathBuf::from("target/criterion"))
}

/// The `point_estimate` of `stat` ("median", "mean", ...) in an estimates.json, in ns.
fn point_estimate(json: &str, stat: &str) -> Option<f64> {
    let at = json.find(&format!("\"{stat}\":"))?;
    let rest = &json[at..];
    let at = rest.find("\"point_estimate\":")? + "\"point_estimate\":".len();
    let rest = &rest[at..];
    let end = rest.find([',', '}'])?;
    rest[..end].trim().parse().ok()
}

/// One contender's estimates, in ns per chain.
struct Estimate {
    /// What criterion prints as `time:` (the slope of its linear sampling, else the mean).
    headline: f64,
    median: f64,
    /// The file was written by this run.
    fresh: bool,
}

/// Prints ns per hop and the ratios to httparse from this run's estimates.
fn summary(started: SystemTime) {
    let dir = criterion_home().join("hop");
    let names = ["phonecheck", "httparse", "ureq-proto"];
    let estimates: Vec<Option<Estimate>> = names
        .iter()
        .map(|name| {
            let path = dir.join(name).join("new").join("estimates.json");
            let json = std::fs::read_to_string(&path).ok()?;
            let fresh = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= started);
            Some(Estimate {
                headline: point_estimate(&json, "slope")
                    .or_else(|| point_estimate(&json, "mean"))?,
                median: point_estimate(&json, "median")?,
                fresh,
            })
        })
        .collect();
    let Some(floor) = &estimates[1] else {
        println!("no httparse estimate in {}: no ratios", dir.display());
        return;
    };
    let hops = HOPS as f64;
    println!();
    println!(
        "CPU per hop, {HOPS}-hop chain (ns/hop = ns/chain / {HOPS}); estimates from {}",
        dir.display()
    );
    println!();
    println!(
        "| contender | ns/chain | ns/hop | × httparse | ns/hop (median) | × httparse (median) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, estimate) in names.iter().zip(&estimates) {
        match estimate {
            Some(e) => println!(
                "| {name}{} | {:.0} | {:.0} | {:.2} | {:.0} | {:.2} |",
                if e.fresh { "" } else { " (not run now)" },
                e.headline,
                e.headline / hops,
                e.headline / floor.headline,
                e.median / hops,
                e.median / floor.median,
            ),
            None => println!("| {name} | - | - | - | - | - |"),
        }
    }
    if let (Some(p), Some(u)) = (&estimates[0], &estimates[2]) {
        println!();
        println!(
            "phonecheck / httparse = {:.2}; ureq-proto / httparse = {:.2} \
             (criterion's time estimate; medians: {:.2} and {:.2})",
            p.headline / floor.headline,
            u.headline / floor.headline,
            p.median / floor.median,
            u.median / floor.median,
        );
    }
}

/// Times the contenders interleaved (see the module docs) and prints ns per hop and the ratios.
fn interleaved(replies: &[&[u8]]) {
    const ROUNDS: usize = 1000;
    // Chains per batch: about half a millisecond each.
    const BATCH: [usize; 4] = [100, 300, 20, 300];
    let mut storage = Box::new(Hosted::new());
    let mut buf = vec![0u8; 4096];
    let mut out = vec![0u8; 4096];
    let mut body = vec![0u8; 16 * 1024];
    let mut connects = 0;
    let mut per_hop: [Vec<f64>; 4] = Default::default();
    for _ in 0..ROUNDS {
        for (which, samples) in per_hop.iter_mut().enumerate() {
            let batch = BATCH[which];
            let start = std::time::Instant::now();
            for _ in 0..batch {
                match which {
                    0 => {
                        black_box(phonecheck_chain::<false>(
                            &mut storage,
                            black_box(replies),
                            &mut buf,
                            &mut connects,
                        ));
                    }
                    1 => {
                        black_box(httparse_chain(black_box(replies)));
                    }
                    2 => {
                        black_box(ureq::chain(black_box(replies), &mut out, &mut body));
                    }
                    _ => {
                        black_box(httparse_engine_way_chain(black_box(replies)));
                    }
                }
            }
            samples.push(start.elapsed().as_nanos() as f64 / (batch * HOPS) as f64);
        }
    }
    for samples in &mut per_hop {
        samples.sort_by(f64::total_cmp);
    }
    let median = |v: &[f64]| v[v.len() / 2];
    let (floor_median, floor_min) = (median(&per_hop[1]), per_hop[1][0]);
    println!();
    println!("Interleaved: {ROUNDS} rounds, each a batch of every contender (ns per hop)");
    println!();
    println!("| contender | ns/hop (median) | × httparse | ns/hop (fastest round) | × httparse |");
    println!("|---|---:|---:|---:|---:|");
    let names = [
        "phonecheck",
        "httparse",
        "ureq-proto",
        "httparse, the engine's way",
    ];
    for (name, samples) in names.iter().zip(&per_hop) {
        println!(
            "| {name} | {:.0} | {:.2} | {:.0} | {:.2} |",
            median(samples),
            median(samples) / floor_median,
            samples[0],
            samples[0] / floor_min,
        );
    }
    println!();
    println!(
        "phonecheck / httparse the engine's way = {:.2} (medians)",
        median(&per_hop[0]) / median(&per_hop[3])
    );
}

fn main() {
    let started = SystemTime::now() - Duration::from_secs(1);
    let replies = chain();
    let replies: Vec<&[u8]> = replies.iter().map(Vec::as_slice).collect();
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c, &replies);
    c.final_summary();
    // Only `cargo bench` (which passes `--bench`) measures; test mode (`cargo test --benches`),
    // listing and profiling write no estimates.
    let args: Vec<String> = std::env::args().collect();
    let measured = args.iter().any(|a| a == "--bench")
        && !args
            .iter()
            .any(|a| matches!(a.as_str(), "--test" | "--list" | "--profile-time"));
    if measured {
        summary(started);
        interleaved(&replies);
    }
}
