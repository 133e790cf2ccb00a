//! The RFC 3986 §5.4 reference resolution examples, normal and abnormal, against the RFC's base
//! `http://a/b/c/d;p?q`. The fragment is never kept (it is never sent), so expectations that end
//! in `#s` in the RFC end before it here.

use phonecheck_engine::url::{Url, UrlError};
use proptest::prelude::*;

const BASE: &str = "http://a/b/c/d;p?q";

fn resolve(reference: &str) -> Result<String, UrlError> {
    let base = Url::<256>::parse(BASE.as_bytes()).unwrap();
    base.join(reference.as_bytes())
        .map(|u| u.as_str().to_string())
}

#[test]
fn rfc3986_normal_examples() {
    let table = [
        ("g", "http://a/b/c/g"),
        ("./g", "http://a/b/c/g"),
        ("g/", "http://a/b/c/g/"),
        ("/g", "http://a/g"),
        ("//g", "http://g/"),
        ("?y", "http://a/b/c/d;p?y"),
        ("g?y", "http://a/b/c/g?y"),
        ("#s", "http://a/b/c/d;p?q"),
        ("g#s", "http://a/b/c/g"),
        ("g?y#s", "http://a/b/c/g?y"),
        (";x", "http://a/b/c/;x"),
        ("g;x", "http://a/b/c/g;x"),
        ("g;x?y#s", "http://a/b/c/g;x?y"),
        ("", "http://a/b/c/d;p?q"),
        (".", "http://a/b/c/"),
        ("./", "http://a/b/c/"),
        ("..", "http://a/b/"),
        ("../", "http://a/b/"),
        ("../g", "http://a/b/g"),
        ("../..", "http://a/"),
        ("../../", "http://a/"),
        ("../../g", "http://a/g"),
    ];
    for (reference, expected) in table {
        assert_eq!(resolve(reference).as_deref(), Ok(expected), "{reference:?}");
    }
    // "g:h" is an absolute URI with a scheme the engine does not speak.
    assert_eq!(resolve("g:h"), Err(UrlError::UnsupportedScheme));
}

#[test]
fn rfc3986_abnormal_examples() {
    let table = [
        ("../../../g", "http://a/g"),
        ("../../../../g", "http://a/g"),
        ("/./g", "http://a/g"),
        ("/../g", "http://a/g"),
        ("g.", "http://a/b/c/g."),
        (".g", "http://a/b/c/.g"),
        ("g..", "http://a/b/c/g.."),
        ("..g", "http://a/b/c/..g"),
        ("./../g", "http://a/b/g"),
        ("./g/.", "http://a/b/c/g/"),
        ("g/./h", "http://a/b/c/g/h"),
        ("g/../h", "http://a/b/c/h"),
        ("g;x=1/./y", "http://a/b/c/g;x=1/y"),
        ("g;x=1/../y", "http://a/b/c/y"),
        ("g?y/./x", "http://a/b/c/g?y/./x"),
        ("g?y/../x", "http://a/b/c/g?y/../x"),
        ("g#s/./x", "http://a/b/c/g"),
        ("g#s/../x", "http://a/b/c/g"),
        // §5.4.2 allows either; the backward-compatible reading is what browsers do.
        ("http:g", "http://a/b/c/g"),
    ];
    for (reference, expected) in table {
        assert_eq!(resolve(reference).as_deref(), Ok(expected), "{reference:?}");
    }
}

#[test]
fn location_forms_seen_from_operators() {
    assert_eq!(
        resolve("https://mno.example:8443/x?y=1").as_deref(),
        Ok("https://mno.example:8443/x?y=1")
    );
    assert_eq!(
        resolve("//mno.example/p").as_deref(),
        Ok("http://mno.example/p")
    );
    assert_eq!(resolve("/a b?c d").as_deref(), Ok("http://a/a%20b?c%20d"));
    assert_eq!(
        resolve("HTTPS://MNO.example").as_deref(),
        Ok("https://mno.example/")
    );
    assert_eq!(
        resolve("javascript:alert(1)"),
        Err(UrlError::UnsupportedScheme)
    );
    assert_eq!(resolve("https:relative"), Err(UrlError::MissingHost));
    assert_eq!(resolve("//user@evil/"), Err(UrlError::UserinfoNotAllowed));
}

proptest! {
    /// Whatever a server puts in Location, the result has no byte that could break a request line
    /// or a header, and resolving it again against itself is stable.
    #[test]
    fn resolved_urls_are_wire_safe(reference in proptest::collection::vec(any::<u8>(), 0..120)) {
        let base = Url::<512>::parse(BASE.as_bytes()).unwrap();
        if let Ok(url) = base.join(&reference) {
            prop_assert!(url.as_str().bytes().all(|b| b > b' ' && b < 0x7F));
            prop_assert!(url.target().starts_with('/'));
            let again = url.join(url.as_str().as_bytes()).unwrap();
            prop_assert_eq!(again.as_str(), url.as_str());
        }
    }
}
