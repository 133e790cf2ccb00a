//! The cookie jar ([`crate::cookie`]) as a sequence of operations, against a reference model
//! written here from RFC 6265 and the jar's module docs.
//!
//! Operations: store a `Set-Cookie` received from one of several URLs (hosts that domain-match
//! each other or not, IP literals, public suffixes; http and https; several paths), ask for the
//! cookies of a URL, let time pass. Each stored cookie's value is a unique token, so every
//! cookie the jar sends can be traced to the `Set-Cookie` it came from. After each request:
//!
//! - no cookie goes to a host it does not domain-match (host-only cookies to their host only),
//!   nor over http when `Secure`, nor to a path it does not path-match, nor after it expired,
//!   nor after a later `Set-Cookie` replaced or deleted it;
//! - the jar sends exactly what the model sends, in RFC 6265 §5.4 order (longer paths first,
//!   then older);
//!
//! and after every operation the storage bound holds (`used <= capacity`, the model's byte
//! count, cookie count and eviction count agree). Each `store` answers what the model answers
//! (added, replaced, evicted, deleted, ignored and why, too large).

extern crate std;

use std::string::String;
use std::vec::Vec;
use std::{format, vec};

use crate::cookie::{CookieJar, Ignored, Stored, TooLarge, ENTRY_OVERHEAD};
use crate::time::{Instant, WallClock};
use crate::url::{HostKind, Scheme, Url, UrlRef};

use super::Source;

const HOSTS: &[&str] = &[
    "a.example.com",
    "b.a.example.com",
    "example.com",
    "other.test",
    "127.0.0.1",
    "[2001:db8::1]",
    "co.uk",
    "x.co.uk",
    "EXAMPLE.com",
    "test",
];
const PATHS: &[&str] = &["/", "/p", "/p/", "/p/q", "/pq", "/P/q", "/p/q/r"];
const DOMAINS: &[&str] = &[
    "example.com",
    ".example.com",
    "a.example.com",
    "b.a.example.com",
    "com",
    "co.uk",
    "x.co.uk",
    "other.test",
    "127.0.0.1",
    "2001:db8::1",
    "[2001:db8::1]",
    "",
    ".",
    "..example.com",
    "xample.com",
    "example.com.",
    "test",
    "uk",
];
const COOKIE_PATHS: &[&str] = &["/", "/p", "/p/", "/p/q", "", "x", "/P", "/p/q/"];
const MAX_AGES: &[&str] = &[
    "-1",
    "0",
    "1",
    "60",
    "abc",
    "",
    "99999999999999999999",
    "+5",
    "-",
    "3600",
];
/// Dates and their Unix seconds (`None`: not a cookie date).
const DATES: &[(&str, Option<u64>)] = &[
    ("Thu, 01 Jan 2015 00:00:00 GMT", Some(1_420_070_400)),
    ("Sat, 01 Jan 2050 00:00:00 GMT", Some(2_524_608_000)),
    ("Sun, 13 Sep 2020 12:26:40 GMT", Some(1_600_000_000)),
    ("Sun, 13 Sep 2020 12:27:40 GMT", Some(1_600_000_060)),
    ("Sun, 13 Sep 2020 13:26:40 GMT", Some(1_600_003_600)),
    ("not a date", None),
];
const SERVER_DATES: &[Option<u64>] = &[None, None, Some(1_600_000_000), Some(1_420_070_400)];
const STEPS_MS: &[u64] = &[0, 1, 999, 1000, 1001, 59_000, 60_000, 61_000, 3_600_000];
const CAPACITIES: &[usize] = &[0, 24, 64, 100, 200, 512, 1024];
const NAMES: &[&str] = &["a", "b", "SID", " c ", "a ", "A", "__Host-x"];

/// The caller's public-suffix check: lower-case ASCII in, as `PublicSuffixCheck` documents.
fn is_public_suffix(domain: &[u8]) -> bool {
    matches!(domain, b"com" | b"uk" | b"co.uk" | b"test")
}

#[derive(Clone, Debug)]
struct Cookie {
    name: Vec<u8>,
    value: Vec<u8>,
    domain: Vec<u8>,
    path: Vec<u8>,
    host_only: bool,
    secure: bool,
    expires: Option<u64>,
    created: u64,
    /// The URL that set it, for messages.
    from: String,
}

impl Cookie {
    fn size(&self) -> usize {
        ENTRY_OVERHEAD + self.name.len() + self.value.len() + self.domain.len() + self.path.len()
    }

    fn expired(&self, now: u64) -> bool {
        self.expires.is_some_and(|e| e <= now)
    }

    fn matches(&self, url: &UrlRef<'_>, now: u64) -> bool {
        let host = url.host_bytes();
        let domain_ok = if self.host_only || url.host_kind() != HostKind::Domain {
            self.domain == host
        } else {
            domain_match(host, &self.domain)
        };
        domain_ok
            && path_match(url.path_bytes(), &self.path)
            && (!self.secure || url.scheme() == Scheme::Https)
            && !self.expired(now)
    }
}

/// RFC 6265 §5.1.3 (both sides lower-case here).
fn domain_match(host: &[u8], domain: &[u8]) -> bool {
    host == domain
        || (host.len() > domain.len()
            && host.ends_with(domain)
            && host[host.len() - domain.len() - 1] == b'.')
}

/// RFC 6265 §5.1.4.
fn path_match(request: &[u8], cookie: &[u8]) -> bool {
    request == cookie
        || (request.starts_with(cookie)
            && (cookie.ends_with(b"/") || request.get(cookie.len()) == Some(&b'/')))
}

/// RFC 6265 §5.1.4 default-path.
fn default_path(path: &[u8]) -> Vec<u8> {
    match path.iter().rposition(|&b| b == b'/') {
        None | Some(0) => b"/".to_vec(),
        Some(i) => path[..i].to_vec(),
    }
}

/// RFC 6265 §5.2.2: `-`? DIGIT+, saturated.
fn max_age(v: &[u8]) -> Option<i64> {
    let (negative, digits) = match v.first() {
        Some(b'-') => (true, &v[1..]),
        Some(b'0'..=b'9') => (false, v),
        _ => return None,
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits.iter().fold(0i64, |n, &d| {
        n.saturating_mul(10).saturating_add(i64::from(d - b'0'))
    });
    Some(if negative { -n } else { n })
}

/// What the model says one `store` does.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Ignored(Ignored),
    TooLarge(usize),
    Deleted,
    Added,
    Replaced,
    Evicted,
}

fn verdict(result: Result<Stored, TooLarge>) -> Verdict {
    match result {
        Ok(Stored::Ignored(why)) => Verdict::Ignored(why),
        Ok(Stored::Deleted) => Verdict::Deleted,
        Ok(Stored::Added) => Verdict::Added,
        Ok(Stored::Replaced) => Verdict::Replaced,
        Ok(Stored::Evicted) => Verdict::Evicted,
        Err(TooLarge { needed }) => Verdict::TooLarge(needed),
    }
}

/// A generated `Set-Cookie`: its text, and the attributes as the model reads them.
struct SetCookie {
    text: Vec<u8>,
    /// `None` when the name-value pair is malformed.
    name: Option<Vec<u8>>,
    value: Vec<u8>,
    domain: Option<Vec<u8>>,
    path: Option<Vec<u8>>,
    secure: bool,
    max_age: Option<i64>,
    expires: Option<u64>,
}

fn generate(src: &mut Source<'_>, token: u64) -> SetCookie {
    let value = format!("v{token}").into_bytes();
    let (pair, name) = match src.below(16) {
        0 => (b"novalue".to_vec(), None),
        1 => ([b"=".as_slice(), &value].concat(), None),
        2 => {
            let raw: Vec<u8> = src
                .bytes(8)
                .iter()
                .copied()
                .filter(|&b| b != b';' && b != b'=')
                .collect();
            let name = raw.trim_ascii().to_vec();
            let pair = [raw.as_slice(), b"=", &value].concat();
            (pair, (!name.is_empty()).then_some(name))
        }
        _ => {
            let name = src.pick(NAMES);
            (
                format!("{name}={}", String::from_utf8_lossy(&value)).into_bytes(),
                Some(name.trim().as_bytes().to_vec()),
            )
        }
    };
    let mut c = SetCookie {
        text: pair,
        name,
        value,
        domain: None,
        path: None,
        secure: false,
        max_age: None,
        expires: None,
    };
    for _ in 0..src.below(5) {
        let attr = match src.below(9) {
            0 | 1 => {
                let key = src.pick(&["Domain", "domain", " DOMAIN "]);
                let mut domain = src.pick(DOMAINS).as_bytes().to_vec();
                if src.below(4) == 0 {
                    domain.make_ascii_uppercase();
                }
                // §5.2.3: a leading dot is dropped; an empty value is ignored.
                let d = domain.strip_prefix(b".").unwrap_or(&domain);
                if !d.is_empty() {
                    c.domain = Some(d.to_ascii_lowercase());
                }
                [key.as_bytes(), b"=", &domain].concat()
            }
            2 => {
                let path = src.pick(COOKIE_PATHS).as_bytes();
                c.path = path.starts_with(b"/").then(|| path.to_vec());
                [b"Path=".as_slice(), path].concat()
            }
            3 => {
                c.secure = true;
                src.pick(&["Secure", "secure", " SECURE"])
                    .as_bytes()
                    .to_vec()
            }
            4 => b"HttpOnly".to_vec(),
            5 => {
                let v = src.pick(MAX_AGES);
                if let Some(secs) = max_age(v.as_bytes()) {
                    c.max_age = Some(secs);
                }
                format!("Max-Age={v}").into_bytes()
            }
            6 => {
                let (text, secs) = src.pick(DATES);
                if let Some(secs) = secs {
                    c.expires = Some(secs);
                }
                format!("Expires={text}").into_bytes()
            }
            7 => {
                // An attribute no one knows: "x-" keeps it from being read as a known one.
                let junk: Vec<u8> = src
                    .bytes(12)
                    .iter()
                    .copied()
                    .filter(|&b| b != b';')
                    .collect();
                [b"x-".as_slice(), &junk].concat()
            }
            _ => {
                // A key without a value: an empty Domain is ignored, an empty Path is invalid.
                if src.below(2) == 0 {
                    b"Domain".to_vec()
                } else {
                    c.path = None;
                    b"Path".to_vec()
                }
            }
        };
        c.text.extend_from_slice(b"; ");
        c.text.extend_from_slice(&attr);
    }
    c
}

struct Model {
    cookies: Vec<Cookie>,
    capacity: usize,
    next_created: u64,
    evictions: u32,
}

impl Model {
    fn used(&self) -> usize {
        self.cookies.iter().map(Cookie::size).sum()
    }

    fn store(
        &mut self,
        c: &SetCookie,
        url: &UrlRef<'_>,
        now: u64,
        server_date: Option<u64>,
        wall: Option<WallClock>,
    ) -> Verdict {
        let Some(name) = &c.name else {
            return Verdict::Ignored(Ignored::Malformed);
        };
        let host = url.host_bytes();
        let ip = url.host_kind() != HostKind::Domain;
        let (domain, host_only) = match &c.domain {
            Some(d) if !ip && is_public_suffix(d) => {
                if d.as_slice() != host {
                    return Verdict::Ignored(Ignored::PublicSuffix);
                }
                (host.to_vec(), true)
            }
            Some(d) if ip => {
                if d.as_slice() != host {
                    return Verdict::Ignored(Ignored::DomainMismatch);
                }
                (d.clone(), true)
            }
            Some(d) => {
                if !(domain_match(host, d) && (d.contains(&b'.') || d.as_slice() == host)) {
                    return Verdict::Ignored(Ignored::DomainMismatch);
                }
                (d.clone(), false)
            }
            None => (host.to_vec(), true),
        };
        if c.secure && url.scheme() != Scheme::Https {
            return Verdict::Ignored(Ignored::SecureOverHttp);
        }
        let path = c
            .path
            .clone()
            .unwrap_or_else(|| default_path(url.path_bytes()));
        let later = |secs: u64| {
            let ms = u128::from(secs) * 1000;
            now.saturating_add(u64::try_from(ms).unwrap_or(u64::MAX))
        };
        let expires = match (c.max_age, c.expires) {
            (Some(secs), _) if secs <= 0 => Some(now),
            (Some(secs), _) => Some(later(secs.unsigned_abs())),
            (None, Some(date)) => {
                let reference =
                    server_date.or_else(|| wall.map(|w| w.unix_at(Instant::from_millis(now))));
                match reference {
                    Some(r) if date <= r => Some(now),
                    Some(r) => Some(later(date - r)),
                    None => None,
                }
            }
            (None, None) => None,
        };
        let mut cookie = Cookie {
            name: name.clone(),
            value: c.value.clone(),
            domain,
            path,
            host_only,
            secure: c.secure,
            expires,
            created: self.next_created,
            from: String::from(url.as_str()),
        };
        if cookie.size() > self.capacity {
            return Verdict::TooLarge(cookie.size());
        }
        let dead = cookie.expired(now);
        let existing = self.cookies.iter().position(|o| {
            o.name == cookie.name && o.domain == cookie.domain && o.path == cookie.path
        });
        let mut verdict = Verdict::Added;
        match existing {
            Some(i) => {
                let old = self.cookies.remove(i);
                if dead {
                    return Verdict::Deleted;
                }
                cookie.created = old.created;
                verdict = Verdict::Replaced;
            }
            None if dead => return Verdict::Ignored(Ignored::Expired),
            None => self.next_created += 1,
        }
        self.cookies.retain(|o| !o.expired(now));
        while self.used() + cookie.size() > self.capacity {
            let oldest = (0..self.cookies.len())
                .min_by_key(|&i| self.cookies[i].created)
                .expect("an empty jar fits the cookie");
            self.cookies.remove(oldest);
            self.evictions += 1;
            verdict = Verdict::Evicted;
        }
        self.cookies.push(cookie);
        verdict
    }

    fn for_url(&self, url: &UrlRef<'_>, now: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut matching: Vec<&Cookie> = self
            .cookies
            .iter()
            .filter(|c| c.matches(url, now))
            .collect();
        matching.sort_by_key(|c| (core::cmp::Reverse(c.path.len()), c.created));
        matching
            .into_iter()
            .map(|c| (c.name.clone(), c.value.clone()))
            .collect()
    }
}

/// See the module docs.
pub fn cookie_jar(data: &[u8]) {
    let mut src = Source::new(data);
    for (text, secs) in DATES {
        assert_eq!(
            crate::cookie::parse_cookie_date(text.as_bytes()),
            *secs,
            "{text}"
        );
    }
    let capacity = src.pick(CAPACITIES);
    let wall = (src.below(2) == 0).then_some(WallClock {
        at: Instant::from_millis(0),
        unix_secs: 1_600_000_000,
    });
    let mut area = vec![0u8; capacity];
    let mut jar = CookieJar::new(&mut area);
    jar.set_public_suffix_check(Some(is_public_suffix));
    let mut model = Model {
        cookies: Vec::new(),
        capacity,
        next_created: 0,
        evictions: 0,
    };
    let mut now = 1_000u64;
    let mut token = 0u64;
    let mut ops = 0;
    while !src.is_empty() && ops < 500 {
        ops += 1;
        let op = src.below(8);
        let scheme = if src.below(2) == 0 { "https" } else { "http" };
        let text = format!("{scheme}://{}{}", src.pick(HOSTS), src.pick(PATHS));
        let url = Url::<256>::parse(text.as_bytes()).expect("the harness's URLs parse");
        let url = url.as_ref();
        match op {
            0..=3 => {
                token += 1;
                let set = generate(&mut src, token);
                let server_date = src.pick(SERVER_DATES);
                let t = Instant::from_millis(now);
                let got = verdict(jar.store(&set.text, &url, t, server_date, wall));
                let want = model.store(&set, &url, now, server_date, wall);
                assert_eq!(
                    got,
                    want,
                    "Set-Cookie: {} from {text} at {now} ms (server date {server_date:?})",
                    String::from_utf8_lossy(&set.text)
                );
            }
            4..=6 => {
                let mut sent = Vec::new();
                jar.for_url(&url, Instant::from_millis(now))
                    .each(|name, value| sent.push((name.to_vec(), value.to_vec())));
                for (name, value) in &sent {
                    let Some(c) = model.cookies.iter().find(|c| &c.value == value) else {
                        panic!(
                            "{text} got {}={}, which no live Set-Cookie set",
                            String::from_utf8_lossy(name),
                            String::from_utf8_lossy(value)
                        );
                    };
                    let host = url.host_bytes();
                    let why = if c.host_only && c.domain != host {
                        Some("a host-only cookie went to another host")
                    } else if !c.host_only && !domain_match(host, &c.domain) {
                        Some("a cookie went to a host that does not domain-match")
                    } else if !c.host_only
                        && url.host_kind() != HostKind::Domain
                        && c.domain != host
                    {
                        Some("a domain cookie went to an IP literal")
                    } else if c.secure && url.scheme() != Scheme::Https {
                        Some("a Secure cookie went over http")
                    } else if !path_match(url.path_bytes(), &c.path) {
                        Some("a cookie went to a path it does not path-match")
                    } else if c.expired(now) {
                        Some("an expired cookie was sent")
                    } else {
                        None
                    };
                    if let Some(why) = why {
                        panic!(
                            "{why}: {c:?}, set by {}, sent to {text} at {now} ms",
                            c.from
                        );
                    }
                }
                let want = model.for_url(&url, now);
                assert_eq!(sent, want, "cookies for {text} at {now} ms");
            }
            _ => now = now.saturating_add(src.pick(STEPS_MS)),
        }
        assert!(jar.used() <= jar.capacity(), "the jar outgrew its area");
        assert_eq!(jar.used(), model.used(), "bytes in use");
        assert_eq!(jar.len(), model.cookies.len(), "cookies held");
        assert_eq!(jar.evictions(), model.evictions, "evictions");
    }
}
