//! https hops over real TLS: rustls servers in the test process, certificates made at run time.

mod support;

use phonecheck_engine::{Error, ErrorCode, TlsError};
use proptest::prelude::*;
use support::pki::{pki, rogue_pki, LeafOptions};
use support::{json, redirect, Reply, Scenario};

const OK_BODY: &str = r#"{"check_id":"c1","code":"4711"}"#;

fn tls_error(done: &support::Finished) -> Option<TlsError> {
    match done.error() {
        Some(Error::Tls { error, .. }) => Some(error),
        _ => None,
    }
}

fn mixed_chain() -> Scenario {
    Scenario::new("https://api.example/check")
        .respond(
            "api.example",
            443,
            &redirect(302, "http://mno.example/enrich"),
        )
        .respond(
            "mno.example",
            80,
            &redirect(302, "https://auth.mno.example:8443/a"),
        )
        .respond(
            "auth.mno.example",
            8443,
            &redirect(302, "https://api.example/done"),
        )
        .respond("api.example", 443, &json(200, OK_BODY))
}

#[test]
fn chain_mixing_https_and_http_hops_across_hosts() {
    let done = mixed_chain().run();
    assert_eq!(done.result, Ok((200, 4)));
    assert_eq!(done.field("code"), Some("4711"));
    // SNI carries the host name on every TLS connection; the way back to api.example reuses
    // the connection kept in the pool, so there are two.
    assert_eq!(
        done.snis,
        [Some("api.example".into()), Some("auth.mno.example".into())]
    );
    assert!(done.hops[3].info.reused);
    let env = &done.debug_envelope;
    assert_eq!(
        env.matches(r#""tls":{"version":"TLSv1.3","alpn":"http/1.1""#)
            .count(),
        3,
        "{env}"
    );
    assert!(env.contains(r#""tls_handshakes":2"#));
}

#[test]
fn reconnect_to_the_same_host_resumes_the_session() {
    let closing =
        "HTTP/1.1 302 Found\r\nLocation: /again\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    let done = Scenario::new("https://api.example/one")
        .respond("api.example", 443, closing)
        .respond("api.example", 443, closing)
        .respond("api.example", 443, &json(200, OK_BODY))
        .run();
    assert_eq!(done.result, Ok((200, 3)));
    let env = &done.debug_envelope;
    assert!(env.contains(r#""tls_handshakes":3"#));
    assert_eq!(env.matches(r#""resumed":false"#).count(), 1, "{env}");
    assert_eq!(env.matches(r#""resumed":true"#).count(), 2, "{env}");
}

#[test]
fn tls12_only_server_is_spoken_to_in_tls12_and_resumes() {
    let closing =
        "HTTP/1.1 302 Found\r\nLocation: /again\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    let opts = LeafOptions {
        tls12_only: true,
        ..LeafOptions::default()
    };
    let done = Scenario::new("https://old.example/")
        .tls_server("old.example", 443, pki(), opts)
        .respond("old.example", 443, closing)
        .respond("old.example", 443, &json(200, OK_BODY))
        .run();
    assert_eq!(done.result, Ok((200, 2)));
    let env = &done.debug_envelope;
    assert_eq!(env.matches(r#""version":"TLSv1.2""#).count(), 2, "{env}");
    assert_eq!(env.matches(r#""resumed":true"#).count(), 1, "{env}");
}

#[test]
fn wrong_host_name_is_refused() {
    let opts = LeafOptions {
        names: Some(vec!["other.example".into()]),
        ..LeafOptions::default()
    };
    let done = Scenario::new("https://api.example/")
        .tls_server("api.example", 443, pki(), opts)
        .respond("api.example", 443, &json(200, OK_BODY))
        .run();
    assert_eq!(
        done.error(),
        Some(Error::Tls {
            hop: 1,
            error: TlsError::NameMismatch
        })
    );
    assert_eq!(done.error().unwrap().code(), ErrorCode::ConnectionError);
    assert!(
        done.requests().is_empty(),
        "no request may go over an unverified connection"
    );
}

#[test]
fn untrusted_ca_is_refused() {
    let done = Scenario::new("https://api.example/")
        .tls_server("api.example", 443, rogue_pki(), LeafOptions::default())
        .respond("api.example", 443, &json(200, OK_BODY))
        .run();
    assert_eq!(tls_error(&done), Some(TlsError::UnknownIssuer));
    assert!(done.envelope.contains("not signed by a trusted root"));
}

#[test]
fn expired_certificate_is_refused() {
    let opts = LeafOptions {
        expired: true,
        ..LeafOptions::default()
    };
    let done = Scenario::new("https://api.example/")
        .tls_server("api.example", 443, pki(), opts)
        .run();
    assert_eq!(tls_error(&done), Some(TlsError::Expired));
}

#[test]
fn not_yet_valid_certificate_is_refused() {
    let opts = LeafOptions {
        not_yet_valid: true,
        ..LeafOptions::default()
    };
    let done = Scenario::new("https://api.example/")
        .tls_server("api.example", 443, pki(), opts)
        .run();
    assert_eq!(tls_error(&done), Some(TlsError::NotYetValid));
    assert!(done.envelope.contains("device clock"), "{}", done.envelope);
}

#[test]
fn certificate_error_on_a_later_hop_names_that_hop() {
    let done = Scenario::new("https://api.example/")
        .respond("api.example", 443, &redirect(302, "https://mno.example/"))
        .tls_server("mno.example", 443, rogue_pki(), LeafOptions::default())
        .run();
    assert_eq!(
        done.error(),
        Some(Error::Tls {
            hop: 2,
            error: TlsError::UnknownIssuer
        })
    );
}

#[test]
fn server_alert_is_reported_with_its_number() {
    // A fatal handshake_failure alert (40) in answer to the ClientHello.
    let alert = vec![0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 40];
    let done = Scenario::new("https://api.example/")
        .raw_tls("api.example", 443)
        .reply("api.example", 443, Reply::Bytes(alert))
        .run();
    assert_eq!(
        tls_error(&done),
        Some(TlsError::AlertReceived { alert: 40 })
    );
}

#[test]
fn server_closing_mid_handshake_is_reported() {
    let done = Scenario::new("https://api.example/")
        .raw_tls("api.example", 443)
        .reply("api.example", 443, Reply::Eof)
        .run();
    assert_eq!(tls_error(&done), Some(TlsError::PeerClosedDuringHandshake));
}

#[test]
fn silent_server_hits_the_handshake_deadline() {
    let done = Scenario::new("https://api.example/")
        .raw_tls("api.example", 443)
        .reply("api.example", 443, Reply::Silence)
        .run();
    assert_eq!(tls_error(&done), Some(TlsError::HandshakeTimeout));
    assert_eq!(done.elapsed_ms, 10 + 5_000);
}

#[test]
fn plain_http_on_an_https_port_is_not_tls() {
    let done = Scenario::new("https://api.example/")
        .raw_tls("api.example", 443)
        .reply(
            "api.example",
            443,
            Reply::Bytes(b"HTTP/1.1 200 OK\r\n\r\n".to_vec()),
        )
        .run();
    assert_eq!(tls_error(&done), Some(TlsError::NotTls));
    assert!(done.envelope.contains("plain HTTP on an https port"));
}

#[test]
fn broken_records_after_the_handshake_are_reported_as_such() {
    // Garbage application data, and a record header announcing an oversized record.
    let garbage = [0x17, 0x03, 0x03, 0x00, 0x20]
        .into_iter()
        .chain([0xAB; 32])
        .collect::<Vec<u8>>();
    let oversized = vec![0x17, 0x03, 0x03, 0xFF, 0xFF];
    for wire in [garbage, oversized] {
        let done = Scenario::new("https://api.example/")
            .reply("api.example", 443, Reply::Wire(wire))
            .run();
        assert_eq!(tls_error(&done), Some(TlsError::CorruptRecord));
    }
}

#[test]
fn a_body_read_to_close_needs_close_notify_and_the_client_sends_one() {
    let text = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n".to_string() + OK_BODY;
    // The server cuts the TCP connection without close_notify: the body may be truncated.
    let done = Scenario::new("https://api.example/")
        .reply(
            "api.example",
            443,
            Reply::BytesThenCut(text.clone().into_bytes()),
        )
        .run();
    assert_eq!(
        tls_error(&done),
        Some(TlsError::TruncatedWithoutCloseNotify)
    );
    // With close_notify it is complete; over plain http the TCP close is the end (RFC 9112).
    let done = Scenario::new("https://api.example/")
        .reply(
            "api.example",
            443,
            Reply::BytesThenEof(text.clone().into_bytes()),
        )
        .run();
    assert_eq!(done.result, Ok((200, 1)));
    // A check that ends on an open TLS connection says close_notify before closing it.
    let done = Scenario::new("https://api.example/")
        .respond("api.example", 443, &json(200, OK_BODY))
        .run();
    assert_eq!((done.result, done.close_notifies), (Ok((200, 1)), 1));
    let done = Scenario::new("http://api.example/")
        .policy(|p| p.allow_http_start = true)
        .reply("api.example", 80, Reply::BytesThenCut(text.into_bytes()))
        .run();
    assert_eq!(done.result, Ok((200, 1)));
}

#[test]
fn no_wall_clock_means_no_tls() {
    let done = Scenario::new("https://api.example/")
        .without_wall_clock()
        .run();
    assert_eq!(
        done.error(),
        Some(Error::Tls {
            hop: 1,
            error: TlsError::NoWallClock
        })
    );
    assert_eq!(done.error().unwrap().code(), ErrorCode::SdkError);
}

#[test]
fn https_without_tls_settings_fails_closed() {
    let done = Scenario::new("https://api.example/").without_tls().run();
    assert_eq!(
        done.error(),
        Some(Error::Tls {
            hop: 1,
            error: TlsError::NotConfigured
        })
    );
    assert!(done.requests().is_empty());
}

#[test]
fn ip_literal_hosts_get_no_sni_and_are_verified_by_address() {
    let done = Scenario::new("https://192.0.2.7/")
        .respond("192.0.2.7", 443, &json(200, OK_BODY))
        .run();
    assert_eq!(done.result, Ok((200, 1)));
    assert_eq!(done.snis, [None]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn tls_records_split_anywhere_give_the_same_check(cuts in proptest::collection::vec(1usize..600, 1..16)) {
        let whole = mixed_chain().run();
        let split = mixed_chain().split_at(&cuts).run();
        prop_assert_eq!(split, whole);
    }
}
