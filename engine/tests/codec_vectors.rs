//! Byte-exact response vectors (`tests/vectors/*.http`, also the fuzz seeds) and the property
//! that the reader's result does not depend on how the bytes were split.

use phonecheck_engine::response::{HeadSyntax, Part, ResponseError, ResponseReader, Step};
use proptest::prelude::*;

/// What reading a whole response gives: status, Location, body, and whether it completed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Read {
    status: u16,
    interim: Vec<u16>,
    location: Option<Vec<u8>>,
    body: Vec<u8>,
}

fn read_in_pieces(input: &[u8], cuts: &[usize]) -> Result<Read, ResponseError> {
    let mut reader: ResponseReader = ResponseReader::default();
    let mut stage = vec![0u8; 8192];
    let mut out = Read {
        status: 0,
        interim: Vec::new(),
        location: None,
        body: Vec::new(),
    };
    let mut start = 0;
    let mut bounds: Vec<usize> = cuts.iter().copied().filter(|&c| c <= input.len()).collect();
    bounds.sort_unstable();
    bounds.push(input.len());
    for end in bounds {
        let mut rest = &input[start..end.max(start)];
        start = end.max(start);
        loop {
            let (n, step) = reader.step(&mut stage, rest)?;
            match step {
                Step::NeedMore => break,
                Step::Informational(s) => out.interim.push(s),
                Step::Head(head) => {
                    out.status = head.status;
                    out.location = head.header("Location").map(<[u8]>::to_vec);
                }
                Step::Body(b) => out.body.extend_from_slice(b),
                Step::Complete => return Ok(out),
            }
            rest = &rest[n..];
        }
    }
    reader.eof()?;
    Ok(out)
}

fn vector(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn ok(
    status: u16,
    interim: &[u16],
    location: Option<&str>,
    body: &[u8],
) -> Result<Read, ResponseError> {
    Ok(Read {
        status,
        interim: interim.to_vec(),
        location: location.map(|l| l.as_bytes().to_vec()),
        body: body.to_vec(),
    })
}

fn expectations() -> Vec<(&'static str, Result<Read, ResponseError>)> {
    vec![
        (
            "normal_200_content_length.http",
            ok(200, &[], None, br#"{"check_id":"c1","code":"7"}"#),
        ),
        (
            "chunked_ext_trailers.http",
            ok(200, &[], None, b"hello, world"),
        ),
        (
            "interim_100_then_302.http",
            ok(302, &[100, 103], Some("https://mno.example/next?a=1"), b""),
        ),
        (
            "lowercase_names.http",
            ok(301, &[], Some("/moved"), b"body"),
        ),
        ("obs_fold.http", ok(302, &[], Some("/folded"), b"")),
        ("bare_lf.http", ok(307, &[], Some("/lf"), b"ok")),
        (
            "missing_final_crlf.http",
            Err(ResponseError::UnexpectedEof { part: Part::Head }),
        ),
        (
            "oversized_head.http",
            Err(ResponseError::HeadTooLarge { limit: 8192 }),
        ),
        (
            "too_many_headers.http",
            Err(ResponseError::TooManyHeaders { limit: 64 }),
        ),
        (
            "conflicting_content_length.http",
            Err(ResponseError::ConflictingContentLength),
        ),
        (
            "read_to_close.http",
            ok(200, &[], None, b"<html>until close</html>"),
        ),
        ("not_modified_304.http", ok(304, &[], None, b"")),
        (
            "chunked_truncated.http",
            Err(ResponseError::UnexpectedEof { part: Part::Body }),
        ),
        (
            "garbage_status.http",
            Err(ResponseError::MalformedHead(HeadSyntax::Status)),
        ),
    ]
}

#[test]
fn every_vector_file_has_an_expectation() {
    let dir = format!("{}/tests/vectors", env!("CARGO_MANIFEST_DIR"));
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    on_disk.sort();
    let mut named: Vec<String> = expectations().iter().map(|(n, _)| n.to_string()).collect();
    named.sort();
    assert_eq!(on_disk, named);
}

#[test]
fn vectors_read_whole() {
    for (name, expected) in expectations() {
        assert_eq!(read_in_pieces(&vector(name), &[]), expected, "{name}");
    }
}

#[test]
fn vectors_split_at_every_point_read_the_same() {
    for (name, expected) in expectations() {
        let bytes = vector(name);
        for cut in 0..=bytes.len() {
            assert_eq!(
                read_in_pieces(&bytes, &[cut]),
                expected,
                "{name} cut at {cut}"
            );
        }
    }
}

#[test]
fn obs_fold_becomes_spaces() {
    let bytes = vector("obs_fold.http");
    let mut reader: ResponseReader = ResponseReader::default();
    let mut stage = vec![0u8; 8192];
    let (_, step) = reader.step(&mut stage, &bytes).unwrap();
    let Step::Head(head) = step else {
        panic!("{step:?}")
    };
    let folded = head.header("x-folded").unwrap();
    assert!(!folded.contains(&b'\r') && !folded.contains(&b'\n'));
    assert!(folded.starts_with(b"first") && folded.ends_with(b"second"));
}

proptest! {
    #[test]
    fn vectors_split_at_random_points_read_the_same(
        which in 0usize..14,
        cuts in proptest::collection::vec(0usize..2000, 0..12),
    ) {
        let all = expectations();
        let (name, expected) = &all[which % all.len()];
        let bytes = vector(name);
        prop_assert_eq!(&read_in_pieces(&bytes, &cuts), expected);
    }

    #[test]
    fn generated_responses_are_split_invariant(
        status in prop_oneof![Just(200u16), Just(302), Just(404)],
        body in proptest::collection::vec(any::<u8>(), 0..300),
        chunk_sizes in proptest::collection::vec(1usize..40, 1..10),
        chunked in any::<bool>(),
        cuts in proptest::collection::vec(0usize..800, 0..10),
    ) {
        let mut wire = format!("HTTP/1.1 {status} X\r\nLocation: /next\r\n").into_bytes();
        if chunked {
            wire.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            let mut rest = &body[..];
            let mut sizes = chunk_sizes.iter().cycle();
            while !rest.is_empty() {
                let n = (*sizes.next().unwrap()).min(rest.len());
                wire.extend_from_slice(format!("{n:x};e=1\r\n").as_bytes());
                wire.extend_from_slice(&rest[..n]);
                wire.extend_from_slice(b"\r\n");
                rest = &rest[n..];
            }
            wire.extend_from_slice(b"0\r\nT: 1\r\n\r\n");
        } else {
            wire.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            wire.extend_from_slice(&body);
        }
        let whole = read_in_pieces(&wire, &[]).unwrap();
        prop_assert_eq!(&whole.body, &body);
        prop_assert_eq!(whole.status, status);
        prop_assert_eq!(read_in_pieces(&wire, &cuts).unwrap(), whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), cut in 0usize..600) {
        let _ = read_in_pieces(&bytes, &[cut]);
    }
}
