//! One scripted exchange per rule of docs/wire.md, named after the rule.

mod support;

use phonecheck_engine::response::{Part, ResponseError};
use phonecheck_engine::url::UrlError;
use phonecheck_engine::{Error, ErrorCode, Policy, Scheme, TransportError};
use support::{header, json, redirect, ConnectPlan, Event, Reply, Scenario};

const START: &str = "https://api.example/phone_check/v0.2/checks/c1/redirect";
const OK_BODY: &str = r#"{"check_id":"c1","code":"4711","reference_id":"r9"}"#;

fn api() -> Scenario {
    Scenario::new(START)
}

// ---- redirects -------------------------------------------------------------------------------

#[test]
fn every_redirect_status_is_followed_with_get() {
    for status in [301, 302, 303, 307, 308] {
        let done = api()
            .respond("api.example", 443, &redirect(status, "/next"))
            .respond("api.example", 443, &json(200, OK_BODY))
            .run();
        assert_eq!(done.result, Ok((200, 2)), "{status}");
        let reqs = done.requests();
        assert!(reqs[1].starts_with("GET /next HTTP/1.1\r\n"), "{status}");
    }
}

#[test]
fn other_3xx_and_304_are_final() {
    for status in [300, 304, 305, 306] {
        let text = if status == 304 {
            "HTTP/1.1 304 Not Modified\r\nLocation: /x\r\n\r\n".to_string()
        } else {
            redirect(status, "/x")
        };
        let done = api().respond("api.example", 443, &text).run();
        assert_eq!(done.result, Ok((status, 1)), "{status}");
        assert_eq!(done.requests().len(), 1);
    }
}

#[test]
fn location_forms_resolve_against_the_current_url() {
    let done = Scenario::new("https://api.example/a/b/c?q=1")
        .respond(
            "api.example",
            443,
            &redirect(302, "https://mno.example:8443/x/y"),
        )
        .respond("mno.example", 8443, &redirect(302, "//op.example/p/q/r"))
        .respond("op.example", 443, &redirect(302, "/abs/path?z=2"))
        .respond("op.example", 443, &redirect(302, "../rel/./x"))
        .respond("op.example", 443, &redirect(302, "?only=query"))
        .respond("op.example", 443, &redirect(302, "#frag-only"))
        .respond("op.example", 443, &redirect(302, "with space/é"))
        .respond("op.example", 443, &json(200, OK_BODY))
        .run();
    assert_eq!(done.result, Ok((200, 8)));
    assert_eq!(
        done.targets(),
        [
            "api.example GET /a/b/c?q=1 HTTP/1.1",
            "mno.example:8443 GET /x/y HTTP/1.1",
            "op.example GET /p/q/r HTTP/1.1",
            "op.example GET /abs/path?z=2 HTTP/1.1",
            "op.example GET /rel/x HTTP/1.1",
            "op.example GET /rel/x?only=query HTTP/1.1",
            "op.example GET /rel/x?only=query HTTP/1.1",
            "op.example GET /rel/with%20space/%C3%A9 HTTP/1.1",
        ]
    );
}

#[test]
fn the_last_location_wins() {
    let text =
        "HTTP/1.1 302 Found\r\nLocation: /first\r\nLocation: /second\r\nContent-Length: 0\r\n\r\n";
    let done = api()
        .respond("api.example", 443, text)
        .respond("api.example", 443, &json(200, OK_BODY))
        .run();
    assert!(done.requests()[1].starts_with("GET /second "));
}

#[test]
fn ten_redirects_then_a_final_response_succeeds() {
    let mut s = api();
    for i in 0..10 {
        s = s.respond("api.example", 443, &redirect(302, &format!("/hop{i}")));
    }
    let done = s.respond("api.example", 443, &json(200, OK_BODY)).run();
    assert_eq!(done.result, Ok((200, 11)));
    assert_eq!(done.requests().len(), 11);
}

#[test]
fn redirect_11th_fails_after_11_requests() {
    let mut s = api();
    for i in 0..11 {
        s = s.respond("api.example", 443, &redirect(302, &format!("/hop{i}")));
    }
    let done = s.respond("api.example", 443, &json(200, OK_BODY)).run();
    assert_eq!(
        done.error(),
        Some(Error::TooManyRedirects { max: 10, hop: 11 })
    );
    assert_eq!(done.requests().len(), 11);
    assert_eq!(done.error().unwrap().code(), ErrorCode::RedirectError);
    assert!(done
        .envelope
        .starts_with(r#"{"error":"sdk_redirect_error","error_description":"too many redirects"#));
}

#[test]
fn max_redirects_is_the_callers() {
    let done = api()
        .policy(|p| p.max_redirects = 0)
        .respond("api.example", 443, &redirect(302, "/x"))
        .run();
    assert_eq!(
        done.error(),
        Some(Error::TooManyRedirects { max: 0, hop: 1 })
    );
}

#[test]
fn first_url_must_be_https_unless_opted_out() {
    let done = Scenario::new("http://api.example/c").run();
    assert_eq!(done.error(), Some(Error::InsecureStart));
    assert_eq!(done.error().unwrap().code(), ErrorCode::InvalidScheme);

    let done = Scenario::new("http://api.example/c")
        .policy(|p| p.allow_http_start = true)
        .respond("api.example", 80, &json(200, OK_BODY))
        .run();
    assert_eq!(done.result, Ok((200, 1)));
}

#[test]
fn first_url_that_is_not_a_url_is_an_sdk_error() {
    let done = Scenario::new("not a url").run();
    assert_eq!(
        done.error(),
        Some(Error::InvalidUrl {
            error: UrlError::MissingScheme
        })
    );
    assert_eq!(done.error().unwrap().code(), ErrorCode::SdkError);
}

#[test]
fn scheme_switches_are_followed_and_recorded() {
    let done = api()
        .respond(
            "api.example",
            443,
            &redirect(302, "http://mno.example/enrich"),
        )
        .respond(
            "mno.example",
            80,
            &redirect(302, "https://api.example/back"),
        )
        .respond("api.example", 443, &json(200, OK_BODY))
        .run();
    assert_eq!(done.result, Ok((200, 3)));
    let schemes: Vec<Scheme> = done
        .log
        .iter()
        .filter_map(|e| match e {
            Event::Connect { scheme, .. } => Some(*scheme),
            _ => None,
        })
        .collect();
    // Back on https, the api.example connection kept in the pool carries hop 3.
    assert_eq!(schemes, [Scheme::Https, Scheme::Http]);
    assert!(done.hops[2].info.reused);
    assert_eq!(
        done.debug_envelope
            .matches("\"scheme_switch\":true")
            .count(),
        2
    );
}

#[test]
fn forbidden_scheme_location_makes_no_request() {
    for location in [
        "tel:+441234",
        "ftp://mno.example/x",
        "intent://x#Intent;end",
        "javascript:alert(1)",
    ] {
        let done = api()
            .respond("api.example", 443, &redirect(302, location))
            .run();
        assert_eq!(
            done.error(),
            Some(Error::ForbiddenScheme { hop: 1 }),
            "{location}"
        );
        assert_eq!(done.connects().len(), 1, "{location}");
        assert_eq!(done.error().unwrap().code(), ErrorCode::RedirectError);
    }
}

#[test]
fn redirect_without_usable_location_is_the_redirect_error() {
    let none = "HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n";
    let done = api().respond("api.example", 443, none).run();
    assert_eq!(
        done.error(),
        Some(Error::MissingLocation {
            hop: 1,
            status: 302
        })
    );

    // (An empty Location is a reference to the current URL: see
    // an_empty_location_redirects_to_the_current_url.)

    let done = api()
        .respond(
            "api.example",
            443,
            &redirect(302, "http://user:pw@mno.example/"),
        )
        .run();
    assert_eq!(
        done.error(),
        Some(Error::BadLocation {
            hop: 1,
            error: UrlError::UserinfoNotAllowed
        })
    );
    assert_eq!(done.error().unwrap().code(), ErrorCode::RedirectError);
}

// ---- cookies and authorization -----------------------------------------------------------------

#[test]
fn cookie_set_on_one_hop_is_sent_on_the_next() {
    let set = "HTTP/1.1 302 Found\r\nLocation: /step2\r\nSet-Cookie: SESSION=s3cr3t; Path=/\r\nSet-Cookie: other=1\r\nContent-Length: 0\r\n\r\n";
    let done = api()
        .respond("api.example", 443, set)
        .respond("api.example", 443, &json(200, OK_BODY))
        .run();
    let reqs = done.requests();
    assert_eq!(header(reqs[0], "Cookie"), None);
    // `other` has the default path (the request's directory), which /step2 is outside of.
    assert_eq!(header(reqs[1], "Cookie").as_deref(), Some("SESSION=s3cr3t"));
    // The trace names cookies but never shows their values.
    assert!(done
        .debug_envelope
        .contains("\"cookies_set\":\"SESSION,other\""));
    assert!(done.debug_envelope.contains("\"cookies_sent\":\"SESSION\""));
    assert!(!done.debug_envelope.contains("s3cr3t"));
}

#[test]
fn cookie_domain_not_sent_to_unrelated_host() {
    let set = "HTTP/1.1 302 Found\r\nLocation: https://evil.example/\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2; Domain=api.example\r\nContent-Length: 0\r\n\r\n";
    let done = api()
        .respond("api.example", 443, set)
        .respond("evil.example", 443, &json(200, OK_BODY))
        .run();
    assert_eq!(header(done.requests()[1], "Cookie"), None);
}

#[test]
fn domain_cookie_is_sent_to_subdomains_host_only_is_not() {
    let set = "HTTP/1.1 302 Found\r\nLocation: http://he.mno.example/x\r\nSet-Cookie: d=1; Domain=mno.example\r\nSet-Cookie: h=2\r\nContent-Length: 0\r\n\r\n";
    let done = Scenario::new("https://mno.example/start")
        .respond("mno.example", 443, set)
        .respond("he.mno.example", 80, &json(200, OK_BODY))
        .run();
    assert_eq!(header(done.requests()[1], "Cookie").as_deref(), Some("d=1"));
}

#[test]
fn secure_cookie_is_not_sent_over_an_http_hop() {
    let set = "HTTP/1.1 302 Found\r\nLocation: http://api.example/plain\r\nSet-Cookie: s=1; Secure; Path=/\r\nSet-Cookie: p=2; Path=/\r\nContent-Length: 0\r\n\r\n";
    let done = api()
        .respond("api.example", 443, set)
        .respond("api.example", 80, &json(200, OK_BODY))
        .run();
    assert_eq!(header(done.requests()[1], "Cookie").as_deref(), Some("p=2"));
}

#[test]
fn expired_cookie_is_deleted_and_not_sent() {
    let set = "HTTP/1.1 302 Found\r\nLocation: /2\r\nSet-Cookie: a=1; Path=/\r\nContent-Length: 0\r\n\r\n";
    let del = "HTTP/1.1 302 Found\r\nLocation: /3\r\nDate: Wed, 21 Oct 2015 07:28:00 GMT\r\nSet-Cookie: a=gone; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT\r\nContent-Length: 0\r\n\r\n";
    let done = api()
        .respond("api.example", 443, set)
        .respond("api.example", 443, del)
        .respond("api.example", 443, &json(200, OK_BODY))
        .run();
    let reqs = done.requests();
    assert_eq!(header(reqs[1], "Cookie").as_deref(), Some("a=1"));
    assert_eq!(header(reqs[2], "Cookie"), None);
}

#[test]
fn full_jar_evicts_the_oldest_cookie_and_the_trace_counts_it() {
    // Twelve of these fill the 8 KiB cookie area (24 bytes of bookkeeping each); the 13th
    // evicts the oldest. They come over two responses, as a head is at most 8 KiB.
    let value = "v".repeat(640);
    let setting = |range: std::ops::Range<usize>, to: &str| {
        let mut head = format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\n");
        for i in range {
            head += &format!("Set-Cookie: c{i}={value}; Path=/\r\n");
        }
        head + "Content-Length: 0\r\n\r\n"
    };
    let done = api()
        .respond("api.example", 443, &setting(0..7, "/2"))
        .respond("api.example", 443, &setting(7..13, "/3"))
        .respond("api.example", 443, &json(200, OK_BODY))
        .run();
    assert!(done.debug_envelope.contains(r#""cookie_evictions":1"#));
    let sent = header(done.requests()[2], "Cookie").unwrap();
    assert!(!sent.contains("c0=v") && sent.contains("c12=v"), "{sent}");
    assert_eq!(sent.matches("=v").count(), 12);
    // The 8 KiB Cookie header went out whole, though the request is larger than one buffer.
    assert!(sent.len() > 7_500);
}

#[test]
fn authorization_goes_only_to_the_first_origin() {
    let done = api()
        .token("tok-123")
        .respond("api.example", 443, &redirect(302, "https://mno.example/x"))
        .respond(
            "mno.example",
            443,
            &redirect(302, "http://api.example/plain"),
        )
        .respond(
            "api.example",
            80,
            &redirect(302, "https://api.example/back"),
        )
        .respond("api.example", 443, &json(200, OK_BODY))
        .run();
    let auth: Vec<Option<String>> = done
        .requests()
        .iter()
        .map(|r| header(r, "Authorization"))
        .collect();
    assert_eq!(
        auth,
        [
            Some("Bearer tok-123".to_string()),
            None,
            None,
            Some("Bearer tok-123".to_string())
        ]
    );
    assert!(!done.debug_envelope.contains("tok-123"));
}

// ---- connections ---------------------------------------------------------------------------------

#[test]
fn same_origin_keep_alive_reuses_the_connection() {
    let body_redirect = "HTTP/1.1 302 Found\r\nLocation: /2\r\nContent-Length: 5\r\n\r\nhello";
    let done = api()
        .respond("api.example", 443, body_redirect)
        .respond("api.example", 443, &json(200, OK_BODY))
        .run();
    assert_eq!(done.result, Ok((200, 2)));
    assert_eq!(done.connects().len(), 1);
    assert!(matches!(
        done.log.as_slice(),
        [
            Event::Connect { .. },
            Event::Request(_),
            Event::Request(_),
            Event::Close
        ]
    ));
    assert_eq!(
        header(done.requests()[0], "Connection").as_deref(),
        Some("keep-alive")
    );
    assert!(done.debug_envelope.contains("\"reused_connection\":true"));
    assert!(done.debug_envelope.contains("\"connections\":1"));
}

#[test]
fn connection_close_means_close_then_connect_and_other_origins_wait_in_the_pool() {
    let closing =
        "HTTP/1.1 302 Found\r\nLocation: /2\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    let done = api()
        .respond("api.example", 443, closing)
        .respond("api.example", 443, &redirect(302, "https://mno.example/"))
        .respond("mno.example", 443, &json(200, OK_BODY))
        .run();
    assert_eq!(done.result, Ok((200, 3)));
    let shape: Vec<&str> = done
        .log
        .iter()
        .map(|e| match e {
            Event::Connect { .. } => "connect",
            Event::Request(_) => "request",
            Event::Close => "close",
        })
        .collect();
    // The second api.example connection stays open (idle, in the pool) while mno.example is
    // asked; both close when the check ends.
    assert_eq!(
        shape,
        [
            "connect", "request", "close", "connect", "request", "connect", "request", "close",
            "close"
        ]
    );
}

#[test]
fn http10_without_keep_alive_is_not_reused() {
    let old = "HTTP/1.0 302 Found\r\nLocation: /2\r\nContent-Length: 0\r\n\r\n";
    let done = api()
        .respond("api.example", 443, old)
        .respond("api.example", 443, &json(200, OK_BODY))
        .run();
    assert_eq!(done.connects().len(), 2);
}

#[test]
fn driver_without_reuse_sends_connection_close() {
    let done = api()
        .policy(|p| p.reuse_connections = false)
        .respond("api.example", 443, &redirect(302, "/2"))
        .respond("api.example", 443, &json(200, OK_BODY))
        .run();
    assert_eq!(done.connects().len(), 2);
    assert!(done
        .requests()
        .iter()
        .all(|r| header(r, "Connection").as_deref() == Some("close")));
}

#[test]
fn stale_kept_alive_connection_is_retried_once_on_a_fresh_one() {
    let done = api()
        .respond("api.example", 443, &redirect(302, "/2"))
        .reply("api.example", 443, Reply::Eof)
        .respond("api.example", 443, &json(200, OK_BODY))
        .run();
    assert_eq!(done.result, Ok((200, 2)));
    assert_eq!(done.connects().len(), 2);
    assert_eq!(done.requests().len(), 3);
    assert!(done.requests()[1].starts_with("GET /2 ") && done.requests()[2].starts_with("GET /2 "));
}

#[test]
fn complete_length_framed_body_never_waits_for_close() {
    // The server keeps the connection open after the final response: the check must end at once.
    let done = api().respond("api.example", 443, &json(200, OK_BODY)).run();
    assert_eq!(done.result, Ok((200, 1)));
    assert!(
        done.elapsed_ms < 100,
        "took {} ms of virtual time",
        done.elapsed_ms
    );
}

#[test]
fn read_to_close_final_body_ends_at_eof() {
    // (Over TLS the end is close_notify, then the TCP close: see session_tls.rs.)
    let text = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n".to_string() + OK_BODY;
    let done = api()
        .reply("api.example", 443, Reply::BytesThenEof(text.into_bytes()))
        .run();
    assert_eq!(done.result, Ok((200, 1)));
    assert_eq!(done.field("code"), Some("4711"));
}

// ---- deadlines -----------------------------------------------------------------------------------

#[test]
fn connect_deadline_fires() {
    let done = api()
        .on_connect("api.example", 443, ConnectPlan::Hang)
        .run();
    assert_eq!(done.error(), Some(Error::ConnectTimeout { hop: 1 }));
    assert_eq!(done.elapsed_ms, 10_000); // DNS 5 s + connect 5 s
    assert_eq!(done.error().unwrap().code(), ErrorCode::ConnectionError);
}

#[test]
fn response_head_deadline_fires() {
    let done = api()
        .respond("api.example", 443, &redirect(302, "https://mno.example/"))
        .reply("mno.example", 443, Reply::Silence)
        .run();
    assert_eq!(done.error(), Some(Error::ResponseTimeout { hop: 2 }));
}

#[test]
fn idle_deadline_fires_when_a_body_stalls() {
    let partial =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"check";
    let done = api().respond("api.example", 443, partial).run();
    assert_eq!(done.error(), Some(Error::IdleTimeout { hop: 1 }));
}

#[test]
fn whole_check_deadline_fires() {
    let mut s = api().policy(|p| p.timeouts.total = core::time::Duration::from_millis(100));
    s.reply_ms = 30;
    for i in 0..5 {
        s = s.respond("api.example", 443, &redirect(302, &format!("/{i}")));
    }
    let done = s.run();
    // Hop 3's answer arrives at exactly 100 ms: deadlines are checked before an input is
    // applied, so it does not count.
    assert_eq!(
        done.error(),
        Some(Error::CheckTimeout {
            hop: 3,
            limit_ms: 100
        })
    );
    assert_eq!(done.elapsed_ms, 100);
}

// ---- transport and response errors ------------------------------------------------------------

#[test]
fn lost_network_is_no_data_connectivity() {
    let done = api()
        .on_connect(
            "api.example",
            443,
            ConnectPlan::Fail(TransportError::NoDataConnectivity),
        )
        .run();
    assert_eq!(
        done.error(),
        Some(Error::Transport {
            hop: 1,
            error: TransportError::NoDataConnectivity
        })
    );
    assert!(done
        .envelope
        .starts_with(r#"{"error":"sdk_no_data_connectivity""#));
}

#[test]
fn dns_failure_and_refused_connect_are_connection_errors() {
    for e in [
        TransportError::DnsFailed,
        TransportError::ConnectionRefused,
        TransportError::DnsTimeout,
    ] {
        let done = api()
            .on_connect("api.example", 443, ConnectPlan::Fail(e))
            .run();
        assert_eq!(done.error(), Some(Error::Transport { hop: 1, error: e }));
        assert_eq!(done.error().unwrap().code(), ErrorCode::ConnectionError);
    }
}

#[test]
fn connection_closed_mid_body_is_a_connection_error() {
    let cut = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 99\r\n\r\n{";
    let done = api()
        .reply(
            "api.example",
            443,
            Reply::BytesThenEof(cut.as_bytes().to_vec()),
        )
        .run();
    assert_eq!(
        done.error(),
        Some(Error::ClosedEarly {
            hop: 1,
            part: Part::Body
        })
    );
    let done = api().reply("api.example", 443, Reply::Eof).run();
    assert_eq!(
        done.error(),
        Some(Error::ClosedEarly {
            hop: 1,
            part: Part::Head
        })
    );
    assert_eq!(done.error().unwrap().code(), ErrorCode::ConnectionError);
}

#[test]
fn socket_failure_mid_response_is_reported_with_its_hop() {
    let done = api()
        .respond("api.example", 443, &redirect(302, "https://mno.example/"))
        .reply(
            "mno.example",
            443,
            Reply::Fail(TransportError::ConnectionReset),
        )
        .run();
    assert_eq!(
        done.error(),
        Some(Error::Transport {
            hop: 2,
            error: TransportError::ConnectionReset
        })
    );
}

#[test]
fn malformed_response_is_an_sdk_error() {
    let done = api()
        .respond("api.example", 443, "HTTP/1.1 2x0 Nope\r\n\r\n")
        .run();
    assert!(matches!(
        done.error(),
        Some(Error::Response {
            hop: 1,
            error: ResponseError::MalformedHead(_)
        })
    ));
    assert_eq!(done.error().unwrap().code(), ErrorCode::SdkError);
    let done = api()
        .respond(
            "api.example",
            443,
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        )
        .run();
    assert_eq!(
        done.error(),
        Some(Error::Response {
            hop: 1,
            error: ResponseError::ConflictingContentLength
        })
    );
}

#[test]
fn oversized_head_is_a_limit_error() {
    let big = format!("HTTP/1.1 200 OK\r\nX-Big: {}\r\n\r\n", "a".repeat(9000));
    let done = api().respond("api.example", 443, &big).run();
    assert_eq!(
        done.error(),
        Some(Error::Response {
            hop: 1,
            error: ResponseError::HeadTooLarge { limit: 8192 }
        })
    );
}

#[test]
fn oversized_cookie_is_a_limit_error() {
    // RFC 6265 §6.1: at least 4096 bytes per cookie. One that size goes through...
    let cookie = |n: usize| {
        format!(
            "HTTP/1.1 302 Found\r\nLocation: /2\r\nSet-Cookie: big={}; Path=/\r\nContent-Length: 0\r\n\r\n",
            "v".repeat(n)
        )
    };
    let done = api()
        .respond("api.example", 443, &cookie(4092))
        .respond("api.example", 443, &json(200, OK_BODY))
        .run();
    assert_eq!(done.result, Ok((200, 2)));
    assert!(header(done.requests()[1], "Cookie").unwrap().len() == 4096);
    // ...and one larger than the whole cookie area is an error that says what it needed.
    let done = api()
        .policy(|p| p.limits.max_head_bytes = 16 * 1024)
        .respond("api.example", 443, &cookie(9000))
        .run();
    assert_eq!(
        done.error(),
        Some(Error::CookieTooLarge {
            hop: 1,
            limit: 8192,
            needed: 24 + "big".len() + 9000 + "api.example".len() + "/".len()
        })
    );
}

// ---- results ------------------------------------------------------------------------------------

#[test]
fn json_code_is_a_success_with_fields() {
    let done = api().respond("api.example", 443, &json(200, OK_BODY)).run();
    assert_eq!(done.field("check_id"), Some("c1"));
    assert_eq!(done.field("code"), Some("4711"));
    assert_eq!(done.field("reference_id"), Some("r9"));
    assert_eq!(
        done.envelope,
        format!(r#"{{"http_status":200,"response_body":{OK_BODY},"hops":1}}"#)
    );
}

#[test]
fn chunked_final_body_is_de_framed_before_it_is_read() {
    let text = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
         5;ext=1\r\n{}\r\n{:x}\r\n{}\r\n0\r\nTrailer: x\r\n\r\n",
        &OK_BODY[..5],
        OK_BODY.len() - 5,
        &OK_BODY[5..]
    );
    for cuts in [vec![], vec![70, 90, 100, 101, 102]] {
        let done = api()
            .respond("api.example", 443, &text)
            .split_at(&cuts)
            .run();
        assert_eq!(done.result, Ok((200, 1)));
        assert_eq!(done.body, OK_BODY, "cuts {cuts:?}");
        assert_eq!(done.field("code"), Some("4711"));
    }
}

#[test]
fn json_error_body_is_a_check_level_failure() {
    let body = r#"{"check_id":"c1","error":"mno_redirect_unsupported","error_description":"Operator \"X\" unsupported"}"#;
    let text = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/problem+json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let done = api().respond("api.example", 443, &text).run();
    assert_eq!(done.result, Ok((200, 1)));
    assert_eq!(done.field("error"), Some("mno_redirect_unsupported"));
    assert_eq!(
        done.field("error_description"),
        Some("Operator \"X\" unsupported")
    );
    assert_eq!(done.field("code"), None);
    assert!(done.envelope.contains(body));
}

#[test]
fn non_200_final_is_returned_as_it_is() {
    let done = api()
        .respond("api.example", 443, &json(404, r#"{"detail":"no"}"#))
        .run();
    assert_eq!(done.result, Ok((404, 1)));
    assert_eq!(
        done.envelope,
        r#"{"http_status":404,"response_body":{"detail":"no"},"hops":1}"#
    );
}

#[test]
fn non_json_body_is_not_parsed_and_a_bounded_copy_reaches_the_trace() {
    let html = format!("<html>{}</html>", "x".repeat(20_000));
    let text = format!(
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{html}",
        html.len()
    );
    let done = api().respond("api.example", 443, &text).run();
    assert_eq!(done.result, Ok((403, 1)));
    assert!(done.fields.is_empty());
    assert_eq!(done.envelope, r#"{"http_status":403,"hops":1}"#);
    assert!(done.body.ends_with('…'));
    assert_eq!(done.body.chars().count(), 16 * 1024 + 1);
    assert!(done
        .debug_envelope
        .contains("\"final_body_preview\":\"<html>xxx"));
}

#[test]
fn oversized_json_body_is_an_error_not_a_truncation() {
    let body = format!(r#"{{"pad":"{}"}}"#, "p".repeat(17_000));
    let done = api().respond("api.example", 443, &json(200, &body)).run();
    assert_eq!(
        done.error(),
        Some(Error::FinalBodyTooLarge {
            hop: 1,
            limit: 16384
        })
    );
}

#[test]
fn redirect_url_prefix_ends_the_chain_without_requesting_it() {
    let loc = "https://app.example/callback?check_id=c1&code=12%2034&reference_id=r%C3%A9#x";
    let done = api()
        .redirect_url("https://APP.example/callback")
        .respond("api.example", 443, &redirect(302, "http://mno.example/he"))
        .respond("mno.example", 80, &redirect(302, loc))
        .run();
    assert_eq!(done.result, Ok((302, 2)));
    assert_eq!(done.connects().len(), 2);
    assert_eq!(done.field("code"), Some("12 34"));
    assert_eq!(done.field("reference_id"), Some("ré"));
    assert_eq!(
        done.envelope,
        r#"{"http_status":302,"response_body":{"check_id":"c1","code":"12 34","reference_id":"ré"},"hops":2}"#
    );
}

#[test]
fn redirect_url_error_fields_come_from_the_query() {
    let done = api()
        .redirect_url("myapp://done")
        .respond(
            "api.example",
            443,
            &redirect(
                302,
                "myapp://done?check_id=c1&error=mno_user_not_found&error_description=no%20user",
            ),
        )
        .run();
    assert_eq!(done.result, Ok((302, 1)));
    assert_eq!(done.field("error"), Some("mno_user_not_found"));
    assert_eq!(done.field("error_description"), Some("no user"));
}

// ---- trace ----------------------------------------------------------------------------------------

#[test]
fn trace_redacts_code_unless_raw_is_asked_for() {
    let loc = "https://api.example/done?check_id=c1&code=98765";
    let redacted = api()
        .respond("api.example", 443, &redirect(302, loc))
        .respond("api.example", 443, &json(200, OK_BODY))
        .run();
    assert!(redacted.debug_envelope.contains("code=REDACTED"));
    assert!(!redacted.debug_envelope.contains("98765"));

    let raw = api()
        .policy(|p| p.raw_trace = true)
        .respond("api.example", 443, &redirect(302, loc))
        .respond("api.example", 443, &json(200, OK_BODY))
        .run();
    assert!(raw.debug_envelope.contains("code=98765"));
}

#[test]
fn debug_envelope_has_the_sdk_fields_and_per_hop_records() {
    let done = api()
        .respond("api.example", 443, &redirect(302, "http://mno.example/he"))
        .respond("mno.example", 80, &json(200, OK_BODY))
        .run();
    let env = &done.debug_envelope;
    assert!(env.starts_with(&format!(r#"{{"http_status":200,"response_body":{OK_BODY},"hops":2,"debug":{{"device_info":{{"platform":"test"}},"url_trace":"1 GET https://api.example/phone_check/v0.2/checks/c1/redirect -> 302\n2 GET http://mno.example/he -> 200""#).replace("\n", "\\n")));
    assert!(env.contains(r#""location":"http://mno.example/he""#));
    assert!(
        env.contains(r#""timings_ms":{"connect":10,"first_byte":20,"total":30}"#),
        "{env}"
    );
    assert!(env.contains(r#""connections":2"#));
}

// ---- the connection pool ------------------------------------------------------------------------

fn shape(done: &support::Finished) -> Vec<String> {
    done.log
        .iter()
        .map(|e| match e {
            Event::Connect { host, .. } => format!("connect {host}"),
            Event::Request(r) => format!(
                "{} {}",
                header(r, "Host").unwrap_or_default(),
                r.split(' ').nth(1).unwrap_or("")
            ),
            Event::Close => "close".to_string(),
        })
        .collect()
}

/// The benchmark's chain: https api → http operator A → http operator B (a cookie) → operator A
/// → back to https api; 10 requests over 3 origins.
fn three_origin_chain() -> Scenario {
    Scenario::new("https://api.example/start")
        .respond("api.example", 443, &redirect(302, "/a1"))
        .respond("api.example", 443, &redirect(302, "http://opa.example/1"))
        .respond("opa.example", 80, &redirect(302, "/2"))
        .respond("opa.example", 80, &redirect(302, "http://opb.example/1"))
        .respond(
            "opb.example",
            80,
            "HTTP/1.1 302 Found\r\nLocation: /2\r\nSet-Cookie: opsess=s1; Path=/\r\nContent-Length: 0\r\n\r\n",
        )
        .respond("opb.example", 80, &redirect(302, "/3"))
        .respond("opb.example", 80, &redirect(302, "http://opa.example/3"))
        .respond("opa.example", 80, &redirect(302, "/4"))
        .respond("opa.example", 80, &redirect(302, "https://api.example/done"))
        .respond("api.example", 443, &json(200, OK_BODY))
}

#[test]
fn three_origins_take_three_connections_and_one_full_tls_handshake() {
    let done = three_origin_chain().run();
    assert_eq!(done.result, Ok((200, 10)));
    assert_eq!(done.connections, 3);
    assert_eq!((done.tls_handshakes, done.tls_resumed), (1, 0));
    assert_eq!(done.max_open, 3);
    assert_eq!(
        done.connects(),
        [
            ("api.example".to_string(), 443),
            ("opa.example".to_string(), 80),
            ("opb.example".to_string(), 80)
        ]
    );
    let reused: Vec<bool> = done.hops.iter().map(|h| h.info.reused).collect();
    assert_eq!(
        reused,
        [false, true, false, true, false, true, true, true, true, true]
    );
    let reqs = done.requests();
    assert_eq!(header(reqs[5], "Cookie").as_deref(), Some("opsess=s1"));
    assert_eq!(header(reqs[6], "Cookie").as_deref(), Some("opsess=s1"));
    assert_eq!(header(reqs[7], "Cookie"), None);
    assert!(done
        .debug_envelope
        .contains(r#""connections":3,"tls_handshakes":1"#));
}

#[test]
fn a_pool_of_one_connection_closes_before_each_new_origin() {
    let done = three_origin_chain().policy(|p| p.max_connections = 1).run();
    assert_eq!(done.result, Ok((200, 10)));
    assert_eq!(done.max_open, 1);
    // api, opa, opb, opa again, api again: 5 connections; api's second TLS handshake resumes.
    assert_eq!(done.connections, 5);
    assert_eq!((done.tls_handshakes, done.tls_resumed), (2, 1));
}

#[test]
fn the_small_preset_runs_the_chain_with_one_connection() {
    let done = three_origin_chain().small().run();
    assert_eq!(done.result, Ok((200, 10)));
    assert_eq!((done.max_open, done.connections), (1, 5));
}

#[test]
fn a_full_pool_closes_its_least_recently_used_idle_connection() {
    let done = Scenario::new("https://a.example/1")
        .policy(|p| p.max_connections = 2)
        .respond("a.example", 443, &redirect(302, "https://b.example/1"))
        .respond("b.example", 443, &redirect(302, "https://c.example/1"))
        .respond("c.example", 443, &redirect(302, "https://b.example/2"))
        .respond("b.example", 443, &redirect(302, "https://a.example/2"))
        .respond("a.example", 443, &json(200, OK_BODY))
        .run();
    assert_eq!(done.result, Ok((200, 5)));
    assert_eq!(
        shape(&done),
        [
            "connect a.example",
            "a.example /1",
            "connect b.example",
            "b.example /1",
            // Full: a.example was used longest ago.
            "close",
            "connect c.example",
            "c.example /1",
            // b.example is still in the pool.
            "b.example /2",
            // Full again: c.example was used longer ago than b.example.
            "close",
            "connect a.example",
            "a.example /2",
            "close",
            "close",
        ]
    );
}

#[test]
fn a_connection_the_server_closed_while_idle_is_not_used_again() {
    let done = api()
        .reply(
            "api.example",
            443,
            Reply::BytesThenEof(redirect(302, "http://mno.example/he").into_bytes()),
        )
        .respond(
            "mno.example",
            80,
            &redirect(302, "https://api.example/back"),
        )
        .respond("api.example", 443, &json(200, OK_BODY))
        .run();
    assert_eq!(done.result, Ok((200, 3)));
    assert_eq!(done.connects().len(), 3);
    assert!(!done.hops[2].info.reused);
}

#[test]
fn a_stale_pooled_connection_is_retried_once_on_a_fresh_one() {
    // api.example's connection sits idle in the pool while mno.example is asked; when it is
    // used again the server has dropped it without a word.
    let done = api()
        .respond("api.example", 443, &redirect(302, "http://mno.example/he"))
        .respond(
            "mno.example",
            80,
            &redirect(302, "https://api.example/back"),
        )
        .reply("api.example", 443, Reply::Eof)
        .respond("api.example", 443, &json(200, OK_BODY))
        .run();
    assert_eq!(done.result, Ok((200, 3)));
    assert_eq!(done.connects().len(), 3);
    assert!(!done.hops[2].info.reused);
}

#[test]
fn urls_of_eight_kib_are_followed_with_the_hosted_storage() {
    let long = format!(
        "https://auth.mno.example/authorize?request={}",
        "J".repeat(8000)
    );
    let done = api()
        .respond("api.example", 443, &redirect(302, &long))
        .respond("auth.mno.example", 443, &json(200, OK_BODY))
        .run();
    assert_eq!(done.result, Ok((200, 2)));
    assert!(done.requests()[1].len() > 8000);
    // The Small preset's URL slots (1152 bytes with nothing copied in) say so, naming the
    // capacity; its 2 KiB receive area refuses the 8 KiB head first.
    let done = api()
        .small()
        .respond("api.example", 443, &redirect(302, &long))
        .run();
    assert_eq!(
        done.error(),
        Some(Error::Response {
            hop: 1,
            error: ResponseError::HeadTooLarge { limit: 2048 }
        })
    );
    let longish = format!(
        "https://auth.mno.example/authorize?request={}",
        "J".repeat(1500)
    );
    let done = api()
        .small()
        .respond("api.example", 443, &redirect(302, &longish))
        .run();
    assert_eq!(
        done.error(),
        Some(Error::BadLocation {
            hop: 1,
            error: UrlError::TooLong { capacity: 1152 }
        })
    );
}

#[test]
fn an_empty_connection_storage_is_refused_with_the_area_named() {
    let mut url = [0u8; 256];
    let mut receive = [0u8; 256];
    let mut cookies = [0u8; 64];
    let buffers = phonecheck_engine::Buffers {
        url: &mut url,
        receive: &mut receive,
        cookies: &mut cookies,
        connections: &mut [],
    };
    let err = phonecheck_engine::Session::new(
        buffers,
        START.as_bytes(),
        phonecheck_engine::Policy::default(),
        phonecheck_engine::Instant::from_millis(0),
    )
    .unwrap_err();
    assert_eq!(
        err,
        Error::Storage {
            area: phonecheck_engine::Area::Connections,
            needed: 1,
            have: 0
        }
    );
    assert!(err.to_string().contains("connections storage area"));
}

// ---- hostile servers and edge rules (each failed before its fix) ----------------------------

#[test]
fn redirect_counting_is_exact_up_to_the_largest_allowed_maximum() {
    let max = phonecheck_engine::MAX_REDIRECTS;
    let chain = |redirects: usize| {
        let mut s = api().policy(|p| p.max_redirects = max);
        for i in 0..redirects {
            s = s.respond("api.example", 443, &redirect(302, &format!("/hop{i}")));
        }
        s.respond("api.example", 443, &json(200, OK_BODY)).run()
    };
    // N redirects, then the final response: N + 1 requests.
    let done = chain(usize::from(max));
    assert_eq!(done.result, Ok((200, max + 1)));
    assert_eq!(done.requests().len(), usize::from(max) + 1);
    // The (N+1)th redirect fails after exactly N + 1 requests.
    let done = chain(usize::from(max) + 1);
    assert_eq!(
        done.error(),
        Some(Error::TooManyRedirects { max, hop: max + 1 })
    );
    assert_eq!(done.requests().len(), usize::from(max) + 1);
    // A maximum the engine cannot count is refused before anything is sent.
    let done = api().policy(|p| p.max_redirects = 255).run();
    assert_eq!(
        done.error(),
        Some(Error::PolicyOutOfRange {
            field: "max_redirects",
            max: 254
        })
    );
    assert!(done.log.is_empty());
}

#[test]
fn deadlines_are_checked_before_an_input_is_applied() {
    use phonecheck_engine::{ConnectionInfo, Input, Instant, Output, Policy, Session, Small};
    let mut storage = Small::new();
    let policy = Policy {
        allow_http_start: true,
        timeouts: phonecheck_engine::Timeouts {
            total: core::time::Duration::from_millis(100),
            ..Default::default()
        },
        ..Policy::default()
    };
    let t = Instant::from_millis;
    let mut s = Session::new(storage.buffers(), b"http://h.example/", policy, t(0)).unwrap();
    let mut buf = [0u8; 512];
    let Output::Connect { conn, .. } = s.poll_output(&mut buf) else {
        panic!()
    };
    let info = ConnectionInfo::default();
    s.handle_input(t(1), Input::Connected { conn, info });
    let Output::Transmit { len, .. } = s.poll_output(&mut buf) else {
        panic!()
    };
    s.handle_input(t(2), Input::Sent { conn, len });
    // A driver that ignored Wait feeds the answer at 5 s: too late, whatever it says.
    let late = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    s.handle_input(t(5_000), Input::Received { conn, bytes: late });
    let error = loop {
        match s.poll_output(&mut buf) {
            Output::Done(result) => break result.unwrap_err(),
            Output::Wait { .. } => panic!("still waiting"),
            _ => {}
        }
    };
    assert_eq!(
        error,
        Error::CheckTimeout {
            hop: 1,
            limit_ms: 100
        }
    );
}

#[test]
fn drained_redirect_bodies_do_not_count_against_the_final_body() {
    let body90 = "x".repeat(90);
    let redirect_with_body =
        format!("HTTP/1.1 302 Found\r\nLocation: /2\r\nContent-Length: 90\r\n\r\n{body90}");
    let final_json = format!(r#"{{"check_id":"c1","code":"{}"}}"#, "7".repeat(40));
    let done = api()
        .policy(|p| {
            p.limits.max_final_body_bytes = 100;
            p.limits.max_discard_bytes = 50;
        })
        .respond("api.example", 443, &redirect_with_body)
        .respond("api.example", 443, &json(200, &final_json))
        .run();
    assert_eq!(done.result, Ok((200, 2)));
    assert_eq!(done.body, final_json);
}

#[test]
fn redirect_url_matches_whole_path_segments_of_the_same_origin() {
    let run = |location: &str| {
        api()
            .redirect_url("https://app.example/cb")
            .respond("api.example", 443, &redirect(302, location))
            .reply(
                "app.example",
                443,
                Reply::Bytes(json(200, OK_BODY).into_bytes()),
            )
            .reply(
                "evil.example",
                443,
                Reply::Bytes(json(200, OK_BODY).into_bytes()),
            )
            .run()
    };
    for stops in [
        "https://app.example/cb?code=1",
        "https://app.example/cb",
        "https://app.example/cb/more?code=1",
        "https://APP.example:443/cb#frag",
    ] {
        let done = run(stops);
        assert_eq!(done.result, Ok((302, 1)), "{stops}");
    }
    for follows in [
        "https://app.example/cb-not-mine?code=stolen",
        "https://app.example/cbx",
        "http://app.example/cb?code=1",
        "https://app.example:8443/cb?code=1",
        "https://evil.example/cb?code=1",
    ] {
        let done = run(follows);
        assert_ne!(done.result, Ok((302, 1)), "{follows}");
        assert_eq!(done.requests().len(), 2, "{follows} is requested");
    }
}

#[test]
fn transfer_encoding_with_content_length_closes_the_connection_after() {
    let smuggle = "HTTP/1.1 302 Found\r\nLocation: /2\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let done = api()
        .respond("api.example", 443, smuggle)
        .respond("api.example", 443, &json(200, OK_BODY))
        .run();
    assert_eq!(done.result, Ok((200, 2)));
    assert_eq!(done.connects().len(), 2);
    let http10 = "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
    let done = api().respond("api.example", 443, http10).run();
    assert_eq!(
        done.error(),
        Some(Error::Response {
            hop: 1,
            error: ResponseError::TransferEncodingInHttp10
        })
    );
}

#[test]
fn an_empty_location_redirects_to_the_current_url() {
    let empty = "HTTP/1.1 302 Found\r\nLocation: \r\nContent-Length: 0\r\n\r\n";
    let done = Scenario::new("https://api.example/same?q=1")
        .respond("api.example", 443, empty)
        .respond("api.example", 443, &json(200, OK_BODY))
        .run();
    assert_eq!(done.result, Ok((200, 2)));
    assert_eq!(done.targets()[1], "api.example GET /same?q=1 HTTP/1.1");
    // A self-loop ends at max_redirects like any other.
    let mut s = api().policy(|p| p.max_redirects = 3);
    for _ in 0..5 {
        s = s.respond("api.example", 443, empty);
    }
    let done = s.run();
    assert_eq!(
        done.error(),
        Some(Error::TooManyRedirects { max: 3, hop: 4 })
    );
}

// ---- CAMARA preset (Policy::camara, set_expected_state) ------------------------------------------

const CAMARA_REDIRECT: &str = "https://backend.example/camara/callback";

fn camara(authorize: &str) -> Scenario {
    Scenario::new(authorize)
        .policy(|p| {
            *p = Policy {
                platform: "test",
                ..Policy::camara()
            }
        })
        .redirect_url(CAMARA_REDIRECT)
        .state("st-0123")
}

#[test]
fn camara_state_on_the_redirect_uri_must_be_the_one_sent() {
    let authorize = "https://op.example/authorize?response_type=code&state=st-0123";
    let back = |query: &str| redirect(302, &format!("{CAMARA_REDIRECT}?{query}"));
    let done = camara(authorize)
        .respond("op.example", 443, &back("code=c-9&state=st%2D0123"))
        .run();
    assert_eq!(done.result, Ok((302, 1)));
    assert_eq!(done.field("code"), Some("c-9"));

    for query in [
        "code=c-9&state=st-0124",
        "code=c-9&state=st-012",
        "code=c-9",
    ] {
        let done = camara(authorize)
            .respond("op.example", 443, &back(query))
            .run();
        assert_eq!(
            done.error(),
            Some(Error::StateMismatch { hop: 1 }),
            "{query}"
        );
        assert_eq!(
            done.error().map(|e| e.code().as_str()),
            Some("state_mismatch")
        );
    }

    // An OAuth error comes back on the redirect_uri too, with the state: a result, not a failure.
    let done = camara(authorize)
        .respond(
            "op.example",
            443,
            &back("error=access_denied&error_description=not%20a%20subscriber&state=st-0123"),
        )
        .run();
    assert_eq!(done.result, Ok((302, 1)));
    assert_eq!(done.field("error"), Some("access_denied"));
    assert_eq!(done.field("error_description"), Some("not a subscriber"));
}

#[test]
fn camara_requires_https_on_every_hop() {
    let done = camara("https://op.example/authorize")
        .respond(
            "op.example",
            443,
            &redirect(302, "http://he.op.example/enrich"),
        )
        .run();
    assert_eq!(done.error(), Some(Error::InsecureRedirect { hop: 1 }));
    assert_eq!(done.requests().len(), 1, "the http hop is never requested");
    assert_eq!(
        done.error().map(|e| e.code()),
        Some(ErrorCode::RedirectError)
    );

    // Not even allow_http_start opens an http start under the preset.
    let done = camara("http://op.example/authorize")
        .policy(|p| p.allow_http_start = true)
        .run();
    assert_eq!(done.error(), Some(Error::InsecureStart));

    // The same redirect is followed without the preset.
    let done = api()
        .respond(
            "api.example",
            443,
            &redirect(302, "http://he.example/enrich"),
        )
        .respond("he.example", 80, &json(200, OK_BODY))
        .run();
    assert_eq!(done.result, Ok((200, 2)));
}

#[test]
fn camara_a_final_html_page_is_interaction_required() {
    let consent = "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                   Content-Length: 25\r\n\r\n<form>Allow?</form>......";
    let done = camara("https://op.example/authorize")
        .respond("op.example", 443, &redirect(302, "/consent"))
        .respond("op.example", 443, consent)
        .run();
    assert_eq!(
        done.error(),
        Some(Error::InteractionRequired {
            hop: 2,
            status: 200
        })
    );
    assert_eq!(
        done.error().map(|e| e.code().as_str()),
        Some("interaction_required")
    );
    // Without the preset, the page is a final response like any other.
    let done = api().respond("api.example", 443, consent).run();
    assert_eq!(done.result, Ok((200, 1)));
    // An error page in HTML is a result under the preset (the operator said no).
    let denied = "HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\nContent-Length: 0\r\n\r\n";
    let done = camara("https://op.example/authorize")
        .respond("op.example", 443, denied)
        .run();
    assert_eq!(done.result, Ok((403, 1)));
}

#[test]
fn camara_a_6_kb_authorize_url_with_a_signed_request_object_is_followed() {
    // A request object (a signed JWT) of several KB travels in the authorize URL's query.
    let jwt: String = (0..6000).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    let authorize = format!(
        "https://op.example/authorize?response_type=code&client_id=c&state=st-0123&request={jwt}"
    );
    assert!(authorize.len() > 6000);
    let done = camara(&authorize)
        .respond(
            "op.example",
            443,
            &redirect(302, &format!("{CAMARA_REDIRECT}?code=c-1&state=st-0123")),
        )
        .run();
    assert_eq!(done.result, Ok((302, 1)));
    assert!(done.targets()[0].len() > 6000);
    assert_eq!(done.field("code"), Some("c-1"));
}

#[test]
fn expected_state_is_set_once_before_the_check() {
    let mut storage = Box::new(phonecheck_engine::Hosted::new());
    let mut s = phonecheck_engine::Session::new(
        storage.buffers(),
        b"https://op.example/a",
        Policy::camara(),
        phonecheck_engine::Instant::from_millis(0),
    )
    .unwrap();
    s.set_expected_state("one").unwrap();
    assert_eq!(s.set_expected_state("two"), Err(Error::AlreadyStarted));
}

#[test]
fn a_state_longer_than_a_url_slot_is_a_storage_error_not_a_corrupted_token() {
    // Small: 2 304 bytes of URL area, so each slot is about 1 140 bytes once the token is in.
    for len in [1_150, 1_500] {
        let done = camara("https://op.example/authorize")
            .small()
            .token("tok-1234567")
            .state(&"s".repeat(len))
            .run();
        assert!(
            matches!(
                done.error(),
                Some(Error::Storage {
                    area: phonecheck_engine::Area::Url,
                    ..
                })
            ),
            "{len}: {:?}",
            done.result
        );
    }
    let state = "s".repeat(100);
    let done = camara("https://op.example/authorize")
        .small()
        .token("tok-1234567")
        .state(&state)
        .respond(
            "op.example",
            443,
            &redirect(302, &format!("{CAMARA_REDIRECT}?code=c&state={state}")),
        )
        .run();
    assert_eq!(done.result, Ok((302, 1)));
    assert_eq!(
        header(done.requests()[0], "Authorization").as_deref(),
        Some("Bearer tok-1234567")
    );
}
