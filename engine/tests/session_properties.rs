//! Properties of whole scripted chains: split invariance (of responses, and of requests sent in
//! pieces), the hop bound, no request to a forbidden scheme. (Every request the harness sees is
//! also parsed back with httparse.)

mod support;

use phonecheck_engine::url::Url;
use phonecheck_engine::Error;
use proptest::prelude::*;
use support::{json, Reply, Scenario};

const OK_BODY: &str = r#"{"check_id":"c1","code":"4711"}"#;

/// One redirect of a generated chain.
#[derive(Clone, Debug)]
struct HopSpec {
    other_origin: bool,
    chunked: bool,
    body: String,
    cookie: bool,
    close: bool,
}

fn hop_spec() -> impl Strategy<Value = HopSpec> {
    (
        any::<bool>(),
        any::<bool>(),
        "[a-z]{0,40}",
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(other_origin, chunked, body, cookie, close)| HopSpec {
            other_origin,
            chunked,
            body,
            cookie,
            close,
        })
}

/// Builds the chain; returns the scenario.
fn chain(hops: &[HopSpec]) -> Scenario {
    let mut s = Scenario::new("https://h0.example/start");
    let mut host = "h0.example".to_string();
    for (i, spec) in hops.iter().enumerate() {
        let next_host = if spec.other_origin {
            format!("h{}.example", i + 1)
        } else {
            host.clone()
        };
        let location = format!("https://{next_host}/p{}?n={i}", i + 1);
        let mut head = format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\n");
        if spec.cookie {
            head += &format!(
                "Set-Cookie: c{i}=v{i}; Domain=example; Path=/\r\nSet-Cookie: k{i}=v; Path=/\r\n"
            );
        }
        if spec.close {
            head += "Connection: close\r\n";
        }
        let text = if spec.chunked {
            let mut t = head + "Transfer-Encoding: chunked\r\n\r\n";
            if !spec.body.is_empty() {
                t += &format!("{:x};x=y\r\n{}\r\n", spec.body.len(), spec.body);
            }
            t + "0\r\nTrailer: 1\r\n\r\n"
        } else {
            head + &format!("Content-Length: {}\r\n\r\n{}", spec.body.len(), spec.body)
        };
        s = s.respond(&host, 443, &text);
        host = next_host;
    }
    s.respond(&host, 443, &json(200, OK_BODY))
}

/// The same chain whose final JSON body arrives chunked, in pieces of `piece` bytes.
fn chain_with_chunked_final(hops: &[HopSpec], piece: usize) -> Scenario {
    let mut s = chain(hops);
    let host = hops
        .iter()
        .enumerate()
        .fold("h0.example".to_string(), |h, (i, spec)| {
            if spec.other_origin {
                format!("h{}.example", i + 1)
            } else {
                h
            }
        });
    let mut text = String::from(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    for part in OK_BODY.as_bytes().chunks(piece.max(1)) {
        text += &format!(
            "{:x}\r\n{}\r\n",
            part.len(),
            std::str::from_utf8(part).unwrap()
        );
    }
    text += "0\r\n\r\n";
    // Replace the final content-length answer with the chunked one.
    s = s.replace_last_reply(&host, 443, &text);
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn split_invariance_over_whole_chains(
        hops in proptest::collection::vec(hop_spec(), 0..8),
        cuts in proptest::collection::vec(1usize..300, 0..12),
    ) {
        let whole = chain(&hops).run();
        prop_assert_eq!(whole.result, Ok((200, hops.len() as u8 + 1)));
        let split = chain(&hops).split_at(&cuts).run();
        prop_assert_eq!(split, whole);
    }

    #[test]
    fn partial_sends_and_small_buffers_put_the_same_bytes_on_the_wire(
        hops in proptest::collection::vec(hop_spec(), 0..5),
        chunk in 1usize..40,
        buffer in 1usize..300,
    ) {
        let whole = chain(&hops).run();
        // The socket takes `chunk` bytes of each write; the driver's buffer is `buffer` bytes.
        let partial = chain(&hops).send_chunk(chunk).buffer(buffer).run();
        prop_assert_eq!(partial, whole.clone());
        // And one byte at a time.
        let bytewise = chain(&hops).send_chunk(1).buffer(1).run();
        prop_assert_eq!(bytewise, whole);
    }

    #[test]
    fn split_invariance_with_a_chunked_final_body(
        hops in proptest::collection::vec(hop_spec(), 0..4),
        piece in 1usize..12,
        cuts in proptest::collection::vec(1usize..300, 0..12),
    ) {
        let whole = chain_with_chunked_final(&hops, piece).run();
        prop_assert_eq!(&whole.body, OK_BODY);
        let split = chain_with_chunked_final(&hops, piece).split_at(&cuts).run();
        prop_assert_eq!(split, whole);
    }

    #[test]
    fn hops_never_exceed_max_redirects_plus_one(
        length in 0usize..16,
        max in 0u8..13,
    ) {
        let spec = HopSpec { other_origin: false, chunked: false, body: String::new(), cookie: false, close: false };
        let done = chain(&vec![spec; length]).policy(|p| p.max_redirects = max).run();
        let requests = done.requests().len();
        prop_assert!(requests <= usize::from(max) + 1);
        if length > usize::from(max) {
            prop_assert_eq!(done.error(), Some(Error::TooManyRedirects { max, hop: max + 1 }));
            prop_assert_eq!(requests, usize::from(max) + 1);
        } else {
            prop_assert_eq!(done.result, Ok((200, length as u8 + 1)));
        }
    }

    #[test]
    fn no_connect_to_a_forbidden_scheme(
        prefix in prop_oneof![
            Just("tel:"), Just("ftp://h2.example/"), Just("file:///"), Just("data:,"),
            Just("http://h2.example/"), Just("https://h3.example:8443/"), Just("//h4.example/"),
            Just("/"), Just(""), Just("HTTPS://H5.example/"), Just("ws://h6.example/"),
        ],
        suffix in "[a-zA-Z0-9/?=&.%:# -]{0,30}",
    ) {
        let location = format!("{prefix}{suffix}");
        let base = Url::<1024>::parse(b"https://h0.example/start").unwrap();
        let expected = base.join(location.as_bytes());
        let text = format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let mut s = Scenario::new("https://h0.example/start").respond("h0.example", 443, &text);
        if let Ok(next) = &expected {
            s = s.reply(next.host(), next.port(), Reply::Bytes(json(200, OK_BODY).into_bytes()));
        }
        let done = s.run();
        let connects = done.connects();
        match expected {
            // (An empty Location is a reference to the current URL, so it is followed too.)
            Ok(next) => {
                prop_assert_eq!(connects.len(), 2);
                prop_assert_eq!(&connects[1], &(next.host().to_string(), next.port()));
            }
            _ => {
                prop_assert_eq!(connects.len(), 1);
                prop_assert!(done.error().is_some());
            }
        }
    }
}
