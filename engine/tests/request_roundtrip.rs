//! Every request the writer produces parses back with httparse to the same method, target and
//! headers, and streaming it through a small buffer gives the same bytes.

use phonecheck_engine::request::{
    write_request, write_request_from, ConnectionMode, Request, ACCEPT, VERSION,
};
use phonecheck_engine::url::Url;
use proptest::prelude::*;

proptest! {
    #[test]
    fn written_requests_parse_back(
        host in "[a-z][a-z0-9-]{0,20}(\\.[a-z]{2,5}){0,2}",
        port in prop_oneof![Just(None), (1u16..).prop_map(Some)],
        https in any::<bool>(),
        path in proptest::collection::vec(any::<u8>(), 0..80),
        cookies in proptest::collection::vec(("[A-Za-z0-9_]{1,8}", "[!#-+\\--:<-\\[\\]-~]{0,16}"), 0..4),
        token in proptest::option::of("[A-Za-z0-9._~+/-]{1,40}"),
        keep_alive in any::<bool>(),
        piece in 1usize..64,
    ) {
        let scheme = if https { "https" } else { "http" };
        let mut text = format!("{scheme}://{host}").into_bytes();
        if let Some(p) = port {
            text.extend_from_slice(format!(":{p}").as_bytes());
        }
        text.push(b'/');
        text.extend(path.iter().filter(|&&b| b != b'#'));
        let owned = Url::<1024>::parse(&text).unwrap();
        let url = owned.as_ref();

        let pairs: Vec<(&[u8], &[u8])> = cookies.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())).collect();
        let pairs_slice: &[(&[u8], &[u8])] = &pairs;
        let req = Request {
            url: &url,
            platform: "prop",
            connection: if keep_alive { ConnectionMode::KeepAlive } else { ConnectionMode::Close },
            cookies: Some(&pairs_slice),
            bearer_token: token.as_deref(),
        };
        let mut buf = vec![0u8; 4096];
        let n = write_request(&mut buf, &req).unwrap();

        // The same request streamed through a small buffer, piece by piece, is the same bytes.
        let mut streamed = Vec::new();
        let mut small = vec![0u8; piece];
        loop {
            let (total, written) = write_request_from(&mut small, &req, streamed.len()).unwrap();
            prop_assert_eq!(total, n);
            if written == 0 {
                break;
            }
            streamed.extend_from_slice(&small[..written]);
        }
        prop_assert_eq!(&streamed[..], &buf[..n]);

        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut parsed = httparse::Request::new(&mut headers);
        let status = parsed.parse(&buf[..n]).unwrap();
        prop_assert_eq!(status, httparse::Status::Complete(n));
        prop_assert_eq!(parsed.method, Some("GET"));
        prop_assert_eq!(parsed.path, Some(url.target()));
        prop_assert_eq!(parsed.version, Some(1));

        let get = |name: &str| parsed.headers.iter().find(|h| h.name == name).map(|h| h.value.to_vec());
        prop_assert_eq!(get("Host"), Some(url.authority().as_bytes().to_vec()));
        prop_assert_eq!(get("User-Agent"), Some(format!("phonecheck/{VERSION} prop").into_bytes()));
        prop_assert_eq!(get("Accept"), Some(ACCEPT.as_bytes().to_vec()));
        let conn: &[u8] = if keep_alive { b"keep-alive" } else { b"close" };
        prop_assert_eq!(get("Connection"), Some(conn.to_vec()));
        let cookie_line = cookies.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ");
        prop_assert_eq!(get("Cookie"), (!cookies.is_empty()).then(|| cookie_line.into_bytes()));
        prop_assert_eq!(get("Authorization"), token.map(|t| format!("Bearer {t}").into_bytes()));
        prop_assert!(get("Accept-Encoding").is_none());
    }
}
