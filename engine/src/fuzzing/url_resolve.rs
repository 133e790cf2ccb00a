//! Reference resolution against the `url` crate (WHATWG URL, as browsers resolve a Location).
//!
//! Whenever the engine resolves a reference, the result is wire-safe (printable ASCII, a target
//! starting with `/`, no fragment) and parses back to itself. Where both resolvers accept the
//! reference, the **whole** URL (scheme, host, port, path and query) is the same after undoing
//! the differences the resolver's module docs list (`engine/src/url.rs`): both sides are
//! percent-decoded (the engine encodes `^ | { } \`` and the like that browsers leave raw), and
//! inputs in the rows where the two disagree by design are skipped: `\`, userinfo (`@`),
//! `%2e` segments, a scheme without `//`, non-ASCII, controls other than tab/CR/LF (which both
//! drop), leading or trailing spaces (browsers strip them; a Location value arrives trimmed),
//! and hosts a browser rewrites (IPv4 number forms, percent-decoding, IDNA). One more skip is
//! the oracle's own bug: the `url` crate does not let `..` remove a segment that looks like a
//! Windows drive letter (`c:`) in http(s) URLs (servo/rust-url#1113), which WHATWG and RFC 3986
//! both do.
//!
//! Every reference is resolved against each of a few bases, so the seeds (plain references)
//! cover default and explicit ports, both schemes, IP literals, and bases with and without a
//! query or a trailing `/`.

extern crate std;

use std::string::{String, ToString};
use std::vec::Vec;

use crate::url::{HostKind, Url};

const BASES: &[&str] = &[
    "https://api.example:8443/a/b/c?q=1",
    "http://mno.example/",
    "https://h.example/dir/file",
    "http://[2001:db8::1]:8080/x/y/?z",
    "http://192.0.2.7/p;x/q",
];

/// Percent-decodes `s` byte-wise (invalid escapes stay), for comparing encodings.
fn decoded(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Whether `text` has a path segment like a Windows drive letter (`c:`, `C|`), counting a
/// `scheme:` before it as a boundary (`http:s|/..` is a same-scheme relative reference).
fn has_drive_letter_segment(text: &[u8]) -> bool {
    let boundary = |b: Option<&u8>| matches!(b, None | Some(b'/' | b'?' | b'#' | b':'));
    (1..text.len()).any(|i| {
        matches!(text[i], b':' | b'|')
            && text[i - 1].is_ascii_alphabetic()
            && (i < 2 || boundary(text.get(i - 2)))
            && boundary(text.get(i + 1))
    })
}

/// Inputs where the two resolvers differ by design (see the resolver's module docs), judged
/// on the text both read: tab, CR and LF dropped.
fn differs_by_design(text: &str) -> bool {
    let text = text.replace(['\t', '\r', '\n'], "");
    let lower = text.to_ascii_lowercase();
    !text.is_ascii()
        || text.contains('\\')
        || text.contains('@')
        || lower.contains("%2e")
        || text.bytes().any(|c| c.is_ascii_control())
        || text.starts_with(' ')
        || text.ends_with(' ')
        // The url crate keeps a segment like `c:` that `..` should remove in http(s) URLs too
        // (a Windows drive letter is special in file URLs only): servo/rust-url#1113, #1130.
        || has_drive_letter_segment(text.as_bytes())
        // A scheme without "//" after it: browsers and RFC 3986 read these differently.
        || lower.split_once(':').is_some_and(|(scheme, rest)| {
            scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && !scheme.is_empty()
                && !rest.starts_with("//")
        })
}

/// See the module docs.
pub fn url_resolve(data: &[u8]) {
    for base_text in BASES {
        check(base_text, data);
    }
}

fn check(base_text: &str, reference: &[u8]) {
    let base = Url::<512>::parse(base_text.as_bytes()).expect("base parses");
    let Ok(ours) = base.join(reference) else {
        return;
    };
    let text = ours.as_str();
    assert!(
        text.bytes().all(|b| b > b' ' && b < 0x7f),
        "not wire-safe: {text:?}"
    );
    assert!(ours.target().starts_with('/'), "{text:?}");
    assert!(!text.contains('#'), "a fragment was kept: {text:?}");
    // Normalised means stable: parsing the result gives the same URL.
    let again = Url::<512>::parse(text.as_bytes()).expect("the result parses");
    assert_eq!(again.as_str(), text, "not a fixed point");
    assert_eq!(again.host_kind(), ours.host_kind());

    let Ok(reference) = std::str::from_utf8(reference) else {
        return;
    };
    if differs_by_design(reference) {
        return;
    }
    let Ok(theirs) = url::Url::parse(base_text).expect("base").join(reference) else {
        return;
    };
    if !matches!(theirs.scheme(), "http" | "https") {
        return;
    }
    // Hosts browsers rewrite (IPv4 number forms, percent-decoding, IDNA) are out of scope.
    match (theirs.host(), ours.host_kind()) {
        (Some(url::Host::Domain(host)), HostKind::Domain) => {
            if host
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.' || b == b'x')
            {
                return;
            }
            assert_eq!(ours.host(), host, "{reference:?} against {base_text}");
        }
        (Some(url::Host::Ipv4(a)), HostKind::Ipv4) => {
            assert_eq!(
                ours.host(),
                a.to_string(),
                "{reference:?} against {base_text}"
            )
        }
        (Some(url::Host::Ipv6(a)), HostKind::Ipv6) => {
            assert_eq!(
                ours.host(),
                a.to_string(),
                "{reference:?} against {base_text}"
            )
        }
        _ => return,
    }
    assert_eq!(ours.scheme().as_str(), theirs.scheme());
    assert_eq!(Some(ours.port()), theirs.port_or_known_default());
    assert_eq!(
        decoded(ours.path()),
        decoded(theirs.path()),
        "path of {reference:?} against {base_text}"
    );
    assert_eq!(
        ours.query().map(decoded),
        theirs.query().map(decoded),
        "query of {reference:?} against {base_text}"
    );
    // The whole URL, fragment dropped, percent-encoding undone on both sides.
    let whole: String = theirs[..url::Position::AfterQuery].into();
    assert_eq!(
        decoded(text),
        decoded(&whole),
        "{reference:?} against {base_text}: {text} vs {whole}"
    );
}
