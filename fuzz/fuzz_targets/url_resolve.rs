//! Reference resolution against the url crate (WHATWG): whenever the engine resolves a Location,
//! the result is wire-safe, and where both resolvers accept the reference the whole URL is the
//! same after undoing the differences the resolver's module docs list (percent-encoding of
//! characters browsers leave raw; inputs in the rows where the two disagree by design are
//! skipped).
#![no_main]

use libfuzzer_sys::fuzz_target;
use phonecheck_engine::url::Url;

/// Percent-decodes `s` byte-wise (invalid escapes stay), for comparing encodings.
fn decoded(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Inputs where the two resolvers differ by design (see the resolver's module docs).
fn differs_by_design(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    !text.is_ascii()
        || text.contains('\\')
        || text.contains('@')
        || lower.contains("%2e")
        || text.chars().any(|c| c.is_ascii_control())
        // A scheme without "//" after it: browsers and RFC 3986 read these differently.
        || lower
            .split_once(':')
            .is_some_and(|(scheme, rest)| {
                scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                    && !scheme.is_empty()
                    && !rest.starts_with("//")
            })
}

fuzz_target!(|data: &[u8]| {
    let reference = data;
    let base_text = "https://api.example:8443/a/b/c?q=1";
    let base = Url::<512>::parse(base_text.as_bytes()).expect("base parses");
    let Ok(ours) = base.join(reference) else { return };
    assert!(ours.as_str().bytes().all(|b| b > b' ' && b < 0x7f));
    assert!(ours.target().starts_with('/'));
    let Ok(text) = std::str::from_utf8(reference) else { return };
    if differs_by_design(text) {
        return;
    }
    let Ok(theirs) = url::Url::parse(base_text).expect("base").join(text) else { return };
    if !matches!(theirs.scheme(), "http" | "https") {
        return;
    }
    // Hosts browsers rewrite (IPv4 number forms, percent-decoding) are out of scope.
    let Some(url::Host::Domain(host)) = theirs.host() else { return };
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'x') {
        return;
    }
    assert_eq!(ours.scheme().as_str(), theirs.scheme());
    assert_eq!(ours.host(), host);
    assert_eq!(Some(ours.port()), theirs.port_or_known_default());
    assert_eq!(decoded(ours.path()), decoded(theirs.path()), "{text:?}");
    assert_eq!(
        ours.query().map(decoded),
        theirs.query().map(decoded),
        "{text:?}"
    );
});
