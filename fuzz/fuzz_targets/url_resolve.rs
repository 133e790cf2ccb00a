//! Reference resolution against the url crate: whenever the engine resolves a Location, the
//! result is wire-safe and names the same scheme, host and port as the WHATWG resolver does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phonecheck_engine::url::Url;

fuzz_target!(|data: &[u8]| {
    let reference = data;
    let base_text = "https://api.example:8443/a/b/c?q=1";
    let base = Url::<512>::parse(base_text.as_bytes()).expect("base parses");
    let Ok(ours) = base.join(reference) else { return };
    assert!(ours.as_str().bytes().all(|b| b > b' ' && b < 0x7f));
    assert!(ours.target().starts_with('/'));
    // Compare with the url crate only on plain ASCII references without backslashes, which
    // WHATWG treats as slashes while RFC 3986 does not.
    let Ok(text) = std::str::from_utf8(reference) else { return };
    if !text.is_ascii() || text.contains('\\') || text.contains('%') {
        return;
    }
    let oracle = url::Url::parse(base_text).expect("base").join(text);
    if let Ok(theirs) = oracle {
        if matches!(theirs.scheme(), "http" | "https") {
            assert_eq!(ours.scheme().as_str(), theirs.scheme());
            assert_eq!(Some(ours.port()), theirs.port_or_known_default());
            if let Some(url::Host::Domain(host)) = theirs.host() {
                assert_eq!(ours.host(), host);
            }
        }
    }
});
