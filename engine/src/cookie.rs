//! The RFC 6265 cookie jar: operators set cookies on one hop and expect them on the next.
//!
//! ```text
//!  Set-Cookie ──parse (§5.2)──► domain/path/secure/expiry checks (§5.3) ──► slot (replace by
//!                                                                          name+domain+path,
//!  Cookie: a=1; b=2 ◄── matching slots, longest path first (§5.4) ◄────── else free, else evict)
//! ```
//!
//! - host-only cookies go back only to the exact host; `Domain` cookies to that domain and its
//!   subdomains, matched on a label boundary and never for IP literals;
//! - a `Domain` without a dot (`com`) is refused unless it is the request host itself; with the
//!   caller's public-suffix check ([`PublicSuffixCheck`], from the policy), so is any public
//!   suffix (`co.uk`); an empty `Domain` attribute is ignored;
//! - `Secure` cookies are only set from and sent over https;
//! - `Max-Age` and `Expires` are turned into the session's monotonic clock. `Expires` is compared
//!   with the response's `Date` (the server's own clock), else with the caller's wall clock;
//!   with neither, an `Expires` cookie lives for the session;
//! - `SLOTS` cookies of at most `BYTES` bytes (name, value, domain and path together) each. A full
//!   jar evicts the expired, then the oldest cookie, and says so; an oversized cookie is an error.

use core::fmt;
use core::time::Duration;

use crate::request::CookieSource;
use crate::time::{Instant, WallClock};
use crate::url::{HostKind, Scheme, UrlRef, MAX_HOST_LEN};

/// Bytes of bookkeeping in front of each cookie in the jar's area.
pub const ENTRY_OVERHEAD: usize = 24;

/// One cookie as it sits in the area: a fixed header, then name, value, domain and path.
#[derive(Clone, Copy, Debug)]
struct Entry<'a> {
    /// Offset of the entry and its whole size, header included.
    at: usize,
    size: usize,
    name: &'a [u8],
    value: &'a [u8],
    domain: &'a [u8],
    path: &'a [u8],
    host_only: bool,
    secure: bool,
    expires: Option<Instant>,
    created: u32,
}

impl Entry<'_> {
    fn expired(&self, now: Instant) -> bool {
        self.expires.is_some_and(|e| e <= now)
    }

    /// Sending order (§5.4): longer paths first, then older cookies first. One `u64`, the path
    /// length's complement above the creation number (a path is at most `u16::MAX` bytes).
    fn order(&self) -> u64 {
        let shorter = u64::from(u16::MAX).saturating_sub(self.path.len() as u64);
        shorter << 32 | u64::from(self.created)
    }
}

const HOST_ONLY: u8 = 1;
const SECURE: u8 = 2;
const EXPIRES: u8 = 4;

/// The entry at `at`. The header, little-endian: the four parts' lengths (`u16` each), flags,
/// three unused bytes, `created` (`u32`), the expiry in milliseconds (`u64`).
fn read_entry(area: &[u8], at: usize) -> Option<Entry<'_>> {
    let (head, data) = area.get(at..)?.split_first_chunk::<ENTRY_OVERHEAD>()?;
    let [n0, n1, v0, v1, d0, d1, p0, p1, flags, _, _, _, c0, c1, c2, c3, e0, e1, e2, e3, e4, e5, e6, e7] =
        *head;
    let len = |lo, hi| usize::from(u16::from_le_bytes([lo, hi]));
    let (name, data) = data.split_at_checked(len(n0, n1))?;
    let (value, data) = data.split_at_checked(len(v0, v1))?;
    let (domain, data) = data.split_at_checked(len(d0, d1))?;
    let (path, _) = data.split_at_checked(len(p0, p1))?;
    let expires = u64::from_le_bytes([e0, e1, e2, e3, e4, e5, e6, e7]);
    Some(Entry {
        at,
        size: ENTRY_OVERHEAD + name.len() + value.len() + domain.len() + path.len(),
        name,
        value,
        domain,
        path,
        host_only: flags & HOST_ONLY != 0,
        secure: flags & SECURE != 0,
        expires: (flags & EXPIRES != 0).then(|| Instant::from_millis(expires)),
        created: u32::from_le_bytes([c0, c1, c2, c3]),
    })
}

/// What storing one `Set-Cookie` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    /// A new cookie was added.
    Added,
    /// An existing cookie with the same name, domain and path was replaced.
    Replaced,
    /// The jar was full: the oldest cookies were evicted to make room.
    Evicted,
    /// The cookie deleted an existing one (expiry in the past).
    Deleted,
    /// The header was ignored, for this reason.
    Ignored(Ignored),
}

/// Why a `Set-Cookie` was ignored (RFC 6265 §5.2–5.3 says to ignore, not fail).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ignored {
    /// No `=` in the name-value pair, or an empty name.
    Malformed,
    /// `Domain` does not cover the request host, or is a bare top-level label.
    DomainMismatch,
    /// `Domain` is a public suffix (`com`, `co.uk`) by the caller's list.
    PublicSuffix,
    /// `Secure` set over plain http.
    SecureOverHttp,
    /// Already expired, and nothing to delete.
    Expired,
}

/// The cookie does not fit the jar's area even when it is empty: `needed` bytes would do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLarge {
    /// The cookie's size in the area, bookkeeping included.
    pub needed: usize,
}

/// A bounded RFC 6265 cookie jar over a caller's byte area. Cookies are packed back to back, so
/// one 4 KiB cookie fits where the area allows, and so do many small ones.
pub struct CookieJar<'a> {
    area: &'a mut [u8],
    used: usize,
    next_seq: u32,
    evictions: u32,
    public_suffix: Option<PublicSuffixCheck>,
}

/// Says whether a domain (lower-case ASCII, no leading dot) is a public suffix such as `com` or
/// `co.uk`. The list is large, so the caller brings it (the Linux driver uses the `psl` crate);
/// without one, only a `Domain` without a dot is refused.
pub type PublicSuffixCheck = fn(&[u8]) -> bool;

impl fmt::Debug for CookieJar<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieJar")
            .field("cookies", &self.len())
            .field("used", &self.used)
            .field("capacity", &self.area.len())
            .finish()
    }
}

impl<'a> CookieJar<'a> {
    /// An empty jar keeping its cookies in `area`.
    pub fn new(area: &'a mut [u8]) -> Self {
        CookieJar {
            area,
            used: 0,
            next_seq: 0,
            evictions: 0,
            public_suffix: None,
        }
    }

    /// Gives the area back (the jar's cookies with it).
    pub fn into_area(self) -> &'a mut [u8] {
        self.area
    }

    /// Refuses `Domain` attributes that `check` says are public suffixes.
    pub fn set_public_suffix_check(&mut self, check: Option<PublicSuffixCheck>) {
        self.public_suffix = check;
    }

    fn entries(&self) -> impl Iterator<Item = Entry<'_>> + '_ {
        let area = self.area.get(..self.used).unwrap_or_default();
        let mut at = 0;
        core::iter::from_fn(move || {
            let e = read_entry(area, at)?;
            at += e.size;
            Some(e)
        })
    }

    fn remove(&mut self, at: usize, size: usize) {
        let end = (at + size).min(self.used);
        crate::cursor::move_down(self.area, end..self.used, at);
        self.used -= end - at;
    }

    /// Number of cookies held (expired ones included until they are next looked at).
    pub fn len(&self) -> usize {
        self.entries().count()
    }

    /// Whether the jar is empty.
    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// The area's size in bytes.
    pub fn capacity(&self) -> usize {
        self.area.len()
    }

    /// Bytes of the area in use.
    pub fn used(&self) -> usize {
        self.used
    }

    /// How many cookies were evicted to make room.
    pub fn evictions(&self) -> u32 {
        self.evictions
    }

    /// Stores one `Set-Cookie` value received from `url` at `now`. `server_date` is the
    /// response's `Date` in Unix seconds, `wall` the caller's wall clock; see the module docs.
    pub fn store(
        &mut self,
        header: &[u8],
        url: &UrlRef<'_>,
        now: Instant,
        server_date: Option<u64>,
        wall: Option<WallClock>,
    ) -> Result<Stored, TooLarge> {
        let Some(parsed) = SetCookie::parse(header) else {
            return Ok(Stored::Ignored(Ignored::Malformed));
        };
        let host = url.host_bytes();
        let ip_host = url.host_kind() != HostKind::Domain;

        let (domain, host_only) = match parsed.domain {
            // §5.3 step 5: a public suffix is no cookie domain; on the suffix's own host the
            // cookie is host-only, anywhere else it is ignored.
            Some(d) if !ip_host && self.public_suffix.is_some_and(|check| is_suffix(check, d)) => {
                if !d.eq_ignore_ascii_case(host) {
                    return Ok(Stored::Ignored(Ignored::PublicSuffix));
                }
                (host, true)
            }
            Some(d) => {
                let acceptable = if ip_host {
                    d.eq_ignore_ascii_case(host)
                } else {
                    domain_match(host, d) && (d.contains(&b'.') || d.eq_ignore_ascii_case(host))
                };
                if !acceptable {
                    return Ok(Stored::Ignored(Ignored::DomainMismatch));
                }
                // An IP literal never covers other hosts: such a cookie is host-only.
                (d, ip_host)
            }
            None => (host, true),
        };
        if parsed.secure && url.scheme() != Scheme::Https {
            return Ok(Stored::Ignored(Ignored::SecureOverHttp));
        }
        let default_path = default_path(url.path_bytes());
        let path = parsed.path.unwrap_or(default_path);

        let expires = match (parsed.max_age, parsed.expires) {
            (Some(secs), _) => Some(now + Duration::from_secs(secs)),
            (None, Some(date)) => server_date
                .or_else(|| wall.map(|w| w.unix_at(now)))
                .map(|reference| now + Duration::from_secs(date.saturating_sub(reference))),
            (None, None) => None,
        };

        let parts = [parsed.name, parsed.value, domain, path];
        let needed = ENTRY_OVERHEAD + parts.iter().map(|p| p.len()).sum::<usize>();
        if needed > self.area.len() || parts.iter().any(|p| p.len() > usize::from(u16::MAX)) {
            return Err(TooLarge { needed });
        }
        let dead = expires.is_some_and(|e| e <= now);
        let existing = self
            .entries()
            .find(|c| {
                c.name == parsed.name && c.domain.eq_ignore_ascii_case(domain) && c.path == path
            })
            .map(|c| (c.at, c.size, c.created));
        let mut result = Stored::Added;
        let mut created = self.next_seq;
        if let Some((at, size, first_created)) = existing {
            self.remove(at, size);
            if dead {
                return Ok(Stored::Deleted);
            }
            created = first_created;
            result = Stored::Replaced;
        } else if dead {
            return Ok(Stored::Ignored(Ignored::Expired));
        } else {
            self.next_seq = self.next_seq.wrapping_add(1);
        }

        loop {
            let expired = self
                .entries()
                .find(|c| c.expired(now))
                .map(|c| (c.at, c.size));
            let Some((at, size)) = expired else { break };
            self.remove(at, size);
        }
        while self.used + needed > self.area.len() {
            // The oldest (the first of equals); tracked by hand, as `min_by_key` would carry
            // whole entries from step to step.
            let mut oldest: Option<(u32, usize, usize)> = None;
            for c in self.entries() {
                if oldest.is_none_or(|(created, ..)| c.created < created) {
                    oldest = Some((c.created, c.at, c.size));
                }
            }
            let Some((_, at, size)) = oldest else {
                break;
            };
            self.remove(at, size);
            self.evictions += 1;
            result = Stored::Evicted;
        }

        let flags = if host_only { HOST_ONLY } else { 0 }
            | if parsed.secure { SECURE } else { 0 }
            | if expires.is_some() { EXPIRES } else { 0 };
        let Some((head, mut data)) = self
            .area
            .get_mut(self.used..self.used + needed)
            .and_then(|slot| slot.split_first_chunk_mut::<ENTRY_OVERHEAD>())
        else {
            return Err(TooLarge { needed });
        };
        // The layout `read_entry` reads.
        let len = |p: &[u8]| (p.len() as u16).to_le_bytes();
        let ([n0, n1], [v0, v1], [d0, d1], [p0, p1]) =
            (len(parsed.name), len(parsed.value), len(domain), len(path));
        let [c0, c1, c2, c3] = created.to_le_bytes();
        let [e0, e1, e2, e3, e4, e5, e6, e7] = expires.map_or(0, Instant::as_millis).to_le_bytes();
        *head = [
            n0, n1, v0, v1, d0, d1, p0, p1, flags, 0, 0, 0, c0, c1, c2, c3, e0, e1, e2, e3, e4, e5,
            e6, e7,
        ];
        for (i, p) in parts.iter().enumerate() {
            let (dst, rest) = data.split_at_mut(p.len());
            dst.copy_from_slice(p);
            if i == 2 {
                dst.make_ascii_lowercase();
            }
            data = rest;
        }
        self.used += needed;
        Ok(result)
    }

    /// The cookies to send to `url` at `now`, as a [`CookieSource`] for the request writer.
    pub fn for_url<'j>(&'j self, url: &'j UrlRef<'j>, now: Instant) -> ForUrl<'j> {
        ForUrl {
            jar: self,
            url,
            now,
        }
    }

    fn matches(c: &Entry<'_>, url: &UrlRef<'_>, now: Instant) -> bool {
        let host = url.host_bytes();
        let domain_ok = if c.host_only || url.host_kind() != HostKind::Domain {
            crate::scan::bytes_eq(c.domain, host)
        } else {
            domain_match(host, c.domain)
        };
        domain_ok
            && path_match(url.path_bytes(), c.path)
            && (!c.secure || url.scheme() == Scheme::Https)
            && !c.expired(now)
    }
}

/// The cookies of a jar that match one URL, in RFC 6265 §5.4 order (longer paths first, then
/// older cookies first).
#[derive(Debug)]
pub struct ForUrl<'j> {
    jar: &'j CookieJar<'j>,
    url: &'j UrlRef<'j>,
    now: Instant,
}

impl ForUrl<'_> {
    /// Calls `f` with each matching cookie's name and value, in sending order. A jar holds a
    /// handful of cookies, so each is found by a scan for the next in order rather than a sort.
    pub fn each(&self, mut f: impl FnMut(&[u8], &[u8])) {
        self.each_dyn(&mut f);
    }

    /// [`ForUrl::each`] behind a `dyn`: one copy of the scan, whatever the callers pass.
    fn each_dyn(&self, f: &mut dyn FnMut(&[u8], &[u8])) {
        let mut last: Option<u64> = None;
        loop {
            // The next in order, and whether any other is still to come: most requests carry
            // one cookie or none, and then one pass is enough.
            // Kept as (order, name, value) rather than a whole entry, which costs code to copy.
            let mut next: Option<(u64, &[u8], &[u8])> = None;
            let mut more = false;
            for c in self.jar.entries() {
                let order = c.order();
                if last.is_some_and(|l| order <= l) || !CookieJar::matches(&c, self.url, self.now) {
                    continue;
                }
                if let Some((n, ..)) = next {
                    more = true;
                    if n <= order {
                        continue;
                    }
                }
                next = Some((order, c.name, c.value));
            }
            let Some((order, name, value)) = next else {
                break;
            };
            f(name, value);
            if !more {
                break;
            }
            last = Some(order);
        }
    }
}

impl CookieSource for ForUrl<'_> {
    fn for_each_cookie(&self, f: &mut dyn FnMut(&[u8], &[u8])) {
        self.each_dyn(f);
    }
}

/// A parsed `Set-Cookie` (RFC 6265 §5.2), borrowing the header value.
#[derive(Debug, Default)]
struct SetCookie<'a> {
    name: &'a [u8],
    value: &'a [u8],
    domain: Option<&'a [u8]>,
    path: Option<&'a [u8]>,
    secure: bool,
    /// Seconds to live (zero: expired).
    max_age: Option<u64>,
    expires: Option<u64>,
}

/// `s` cut at every `sep`, as `s.split(|&b| b == sep)` cuts it, each cut found a word at a time
/// (64-bit targets only: see [`SetCookie::parse`]).
struct Pieces<'a> {
    rest: Option<&'a [u8]>,
    sep: u8,
}

impl<'a> Iterator for Pieces<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest?;
        match crate::scan::find1(rest, self.sep) {
            Some(i) => {
                self.rest = rest.get(i + 1..);
                rest.get(..i)
            }
            None => self.rest.take(),
        }
    }
}

impl<'a> SetCookie<'a> {
    fn parse(header: &'a [u8]) -> Option<Self> {
        // The same reading either way; the word-wise cutting only where speed is favoured, so
        // 32-bit targets keep core's byte loop alone.
        if crate::scan::FAVOUR_SPEED {
            Self::parse_parts(Pieces {
                rest: Some(header),
                sep: b';',
            })
        } else {
            Self::parse_parts(header.split(|&b| b == b';'))
        }
    }

    fn parse_parts(mut parts: impl Iterator<Item = &'a [u8]>) -> Option<Self> {
        let pair = parts.next()?;
        let eq = pair.iter().position(|&b| b == b'=')?;
        let (name, value) = pair.split_at(eq);
        let name = name.trim_ascii();
        if name.is_empty() {
            return None;
        }
        let mut c = SetCookie {
            name,
            value: value.get(1..).unwrap_or_default().trim_ascii(),
            ..SetCookie::default()
        };
        for attr in parts {
            let (key, val) = match attr.iter().position(|&b| b == b'=') {
                Some(i) => {
                    let (k, v) = attr.split_at(i);
                    (k.trim_ascii(), v.get(1..).unwrap_or_default().trim_ascii())
                }
                None => (attr.trim_ascii(), &b""[..]),
            };
            if key.eq_ignore_ascii_case(b"expires") {
                if let Some(t) = parse_cookie_date(val) {
                    c.expires = Some(t);
                }
            } else if key.eq_ignore_ascii_case(b"max-age") {
                if let Some(secs) = parse_max_age(val) {
                    c.max_age = Some(secs);
                }
            } else if key.eq_ignore_ascii_case(b"domain") {
                let d = val.strip_prefix(b".").unwrap_or(val);
                // §5.2.3: an empty Domain attribute is ignored: it does not override an
                // earlier one (the last non-empty one wins).
                if !d.is_empty() {
                    c.domain = Some(d);
                }
            } else if key.eq_ignore_ascii_case(b"path") {
                c.path = val.starts_with(b"/").then_some(val);
            } else if key.eq_ignore_ascii_case(b"secure") {
                c.secure = true;
            }
        }
        Some(c)
    }
}

/// `Max-Age` (§5.2.2) as seconds to live, zero for zero or less (already expired).
fn parse_max_age(v: &[u8]) -> Option<u64> {
    let (neg, digits) = match v.strip_prefix(b"-") {
        Some(d) => (true, d),
        None => (false, v),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if neg {
        return Some(0);
    }
    // Absurd values are not refused but held at 10^17 s: from 2^64 ms (some 1.8 × 10^16 s) on,
    // every lifetime ends at the same place, the end of the session's clock. Clamping rather
    // than saturating keeps the arithmetic plain (and it never overflows).
    Some(digits.iter().fold(0u64, |acc, &d| {
        (acc * 10 + u64::from(d - b'0')).min(100_000_000_000_000_000)
    }))
}

/// Asks the caller's check about `domain` lower-cased, as [`PublicSuffixCheck`] takes it: a
/// `Domain` attribute may come in any case (`Domain=CO.UK` is `co.uk`, §5.2.3).
fn is_suffix(check: PublicSuffixCheck, domain: &[u8]) -> bool {
    if !domain.iter().any(u8::is_ascii_uppercase) {
        return check(domain);
    }
    is_suffix_lowered(check, domain)
}

/// [`is_suffix`] with a copy, in its own frame so the common path takes no stack for it.
#[inline(never)]
fn is_suffix_lowered(check: PublicSuffixCheck, domain: &[u8]) -> bool {
    let mut lower = [0u8; MAX_HOST_LEN];
    match lower.get_mut(..domain.len()) {
        Some(copy) => {
            copy.copy_from_slice(domain);
            copy.make_ascii_lowercase();
            check(copy)
        }
        // Longer than any host: it domain-matches none, so it is refused anyway.
        None => false,
    }
}

/// §5.1.3: `host` equals `domain`, or ends with `.domain` (case-insensitive).
fn domain_match(host: &[u8], domain: &[u8]) -> bool {
    if host.eq_ignore_ascii_case(domain) {
        return true;
    }
    host.len() > domain.len()
        && host
            .get(host.len() - domain.len()..)
            .is_some_and(|tail| tail.eq_ignore_ascii_case(domain))
        && host.get(host.len() - domain.len() - 1) == Some(&b'.')
}

/// §5.1.4 path-match.
fn path_match(request: &[u8], cookie: &[u8]) -> bool {
    if crate::scan::bytes_eq(request, cookie) {
        return true;
    }
    request.starts_with(cookie)
        && (cookie.ends_with(b"/") || request.get(cookie.len()) == Some(&b'/'))
}

/// §5.1.4 default-path: the request path up to (not including) its last `/`, or `/`.
fn default_path(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(0) | None => b"/",
        Some(i) => path.get(..i).unwrap_or(b"/"),
    }
}

/// §5.1.1's token-by-token reading, for any layout.
fn cookie_date_fields(s: &[u8]) -> Option<DateFields> {
    // %x09 / %x20-2F / %x3B-40 / %x5B-60 / %x7B-7E: tab, and printable ASCII but letters,
    // digits and `:`.
    let is_delim = |b: u8| {
        b == 0x09 || ((0x20..=0x7E).contains(&b) && !b.is_ascii_alphanumeric() && b != b':')
    };
    let (mut time, mut day, mut month, mut year) = (None, None, None, None);
    // Empty tokens (between two delimiters) need no filtering out: no field reads one.
    for token in s.split(|&b| is_delim(b)) {
        if time.is_none() {
            if let Some(t) = parse_time(token) {
                time = Some(t);
                continue;
            }
        }
        if day.is_none() {
            if let Some(d) = leading_digits(token, 1, 2) {
                day = Some(d);
                continue;
            }
        }
        if month.is_none() {
            if let Some(m) = parse_month(token) {
                month = Some(m);
                continue;
            }
        }
        if year.is_none() {
            if let Some(y) = leading_digits(token, 2, 4) {
                year = Some(y);
                continue;
            }
        }
    }
    Some((time?, day?, month?, year?))
}

/// The fields of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7), the layout
/// nearly every server sends, read at fixed offsets. Only a string that §5.1.1 reads the same
/// way is taken (a day name, which is never a month; digits where digits go); anything else is
/// left to [`cookie_date_fields`].
fn fixdate_fields(s: &[u8]) -> Option<DateFields> {
    // Three letters, case folded by bit 5 (which makes no other byte a lowercase letter), as
    // one word: the names are then compared as numbers, with no loop or call.
    const fn word(a: u8, b: u8, c: u8) -> u32 {
        u32::from_le_bytes([a | 0x20, b | 0x20, c | 0x20, 0])
    }
    const fn name(n: &[u8; 3]) -> u32 {
        let [a, b, c] = *n;
        word(a, b, c)
    }
    const DAYS: [u32; 7] = [
        name(b"mon"),
        name(b"tue"),
        name(b"wed"),
        name(b"thu"),
        name(b"fri"),
        name(b"sat"),
        name(b"sun"),
    ];
    const MONTHS: [u32; 12] = [
        name(b"jan"),
        name(b"feb"),
        name(b"mar"),
        name(b"apr"),
        name(b"may"),
        name(b"jun"),
        name(b"jul"),
        name(b"aug"),
        name(b"sep"),
        name(b"oct"),
        name(b"nov"),
        name(b"dec"),
    ];
    let s: &[u8; 29] = s.try_into().ok()?;
    let [d0, d1, d2, b',', b' ', dd0, dd1, b' ', m0, m1, m2, b' ', y0, y1, y2, y3, b' ', h0, h1, b':', mi0, mi1, b':', s0, s1, b' ', b'G', b'M', b'T'] =
        *s
    else {
        return None;
    };
    if !DAYS.contains(&word(d0, d1, d2)) {
        return None;
    }
    let month = MONTHS.iter().position(|&m| m == word(m0, m1, m2))? as u32 + 1;
    let digit = |d: u8| {
        let v = d.wrapping_sub(b'0');
        (v < 10).then_some(u32::from(v))
    };
    let two = |a, b| Some(digit(a)? * 10 + digit(b)?);
    Some((
        (two(h0, h1)?, two(mi0, mi1)?, two(s0, s1)?),
        two(dd0, dd1)?,
        month,
        two(y0, y1)? * 100 + two(y2, y3)?,
    ))
}

/// The fields of a cookie date: (hour, minute, second), day, month, year.
type DateFields = ((u32, u32, u32), u32, u32, u32);

/// RFC 6265 §5.1.1 cookie-date parsing (also reads `Date` headers). Returns Unix seconds.
pub fn parse_cookie_date(s: &[u8]) -> Option<u64> {
    let fixdate = if crate::scan::FAVOUR_SPEED {
        fixdate_fields(s)
    } else {
        None
    };
    let (time, day, month, year) = fixdate.or_else(|| cookie_date_fields(s))?;
    let (h, mi, sec) = time;
    let mut year = year;
    if (70..=99).contains(&year) {
        year += 1900;
    } else if year <= 69 {
        year += 2000;
    }
    if !(1..=31).contains(&day) || year < 1601 || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + sec);
    // Before the epoch counts as the epoch.
    Some(u64::try_from(secs).unwrap_or(0))
}

/// `min..=max` digits at the start of `token`, followed by anything that is not a digit.
fn leading_digits(token: &[u8], min: usize, max: usize) -> Option<u32> {
    digits_then_rest(token, min, max).map(|(v, _)| v)
}

/// [`leading_digits`], and what follows them.
fn digits_then_rest(token: &[u8], min: usize, max: usize) -> Option<(u32, &[u8])> {
    let n = token.iter().take_while(|b| b.is_ascii_digit()).count();
    if n < min || n > max {
        return None;
    }
    let (digits, rest) = token.split_at_checked(n)?;
    Some((
        digits
            .iter()
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0')),
        rest,
    ))
}

/// `h:m:s`, one or two digits each; anything but a digit may follow the seconds (§5.1.1).
/// Read left to right by hand: a `splitn` iterator costs more code.
fn parse_time(token: &[u8]) -> Option<(u32, u32, u32)> {
    let (h, rest) = digits_then_rest(token, 1, 2)?;
    let (m, rest) = digits_then_rest(rest.strip_prefix(b":")?, 1, 2)?;
    let (s, _) = digits_then_rest(rest.strip_prefix(b":")?, 1, 2)?;
    Some((h, m, s))
}

fn parse_month(token: &[u8]) -> Option<u32> {
    const MONTHS: [[u8; 3]; 12] = [
        *b"jan", *b"feb", *b"mar", *b"apr", *b"may", *b"jun", *b"jul", *b"aug", *b"sep", *b"oct",
        *b"nov", *b"dec",
    ];
    // Setting bit 5 lower-cases a letter and turns no other byte into one: a case-insensitive
    // comparison with lower-case names.
    let [a, b, c] = *token.first_chunk::<3>()?;
    let prefix = [a | 0x20, b | 0x20, c | 0x20];
    MONTHS
        .iter()
        .position(|m| *m == prefix)
        .map(|i| i as u32 + 1)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: u32, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    i64::from(era * 146_097 + doe) - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-wise cutter cuts as `split` does, for every string of up to nine bytes (past
    /// one eight-byte word) over the bytes that matter.
    #[test]
    fn pieces_cut_as_split_does() {
        crate::scan::every_string(b";a=", 9, |s| {
            let fast: std::vec::Vec<&[u8]> = Pieces {
                rest: Some(s),
                sep: b';',
            }
            .collect();
            let slow: std::vec::Vec<&[u8]> = s.split(|&b| b == b';').collect();
            assert_eq!(fast, slow, "{s:?}");
        });
    }
    use std::string::String;

    /// The fixed-offset reading agrees with §5.1.1's wherever it answers, on fixdates with
    /// random day names, months, digits and a few wrong bytes.
    #[test]
    fn fixdate_fast_path_reads_what_the_general_algorithm_reads() {
        let pieces: [&[&str]; 8] = [
            &["Sun", "mon", "TUE", "Jan", "Xyz", "12:"],
            &[", "],
            &["06", "31", "00", "99", "1a"],
            &[" "],
            &["Nov", "jan", "DEC", "Sun", "Foo"],
            &[" 1994 ", " 2031 ", " 0069 ", " 19x4 "],
            &["08:49:37", "23:59:59", "24:00:00", "0a:00:00"],
            &[" GMT", " UTC", " gmt"],
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut taken = 0;
        for _ in 0..20_000 {
            let mut text = String::new();
            for choices in pieces {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.push_str(choices[(seed % choices.len() as u64) as usize]);
            }
            if let Some(fast) = fixdate_fields(text.as_bytes()) {
                taken += 1;
                assert_eq!(Some(fast), cookie_date_fields(text.as_bytes()), "{text}");
            }
        }
        assert!(taken > 500, "the fast path was tried {taken} times");
        assert_eq!(
            parse_cookie_date(b"Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
    }
    use std::vec::Vec as StdVec;

    use crate::url::Url;

    fn url(s: &str) -> Url<256> {
        Url::parse(s.as_bytes()).unwrap()
    }

    fn header(jar: &CookieJar<'_>, u: &str, now: u64) -> String {
        let u = url(u);
        let u = u.as_ref();
        let mut parts = StdVec::new();
        jar.for_url(&u, Instant::from_millis(now)).each(|n, v| {
            parts.push(std::format!(
                "{}={}",
                String::from_utf8_lossy(n),
                String::from_utf8_lossy(v)
            ))
        });
        parts.join("; ")
    }

    fn set(jar: &mut CookieJar<'_>, u: &str, h: &str) -> Stored {
        jar.store(
            h.as_bytes(),
            &url(u).as_ref(),
            Instant::from_millis(0),
            None,
            None,
        )
        .unwrap()
    }

    #[test]
    fn host_only_cookie_stays_on_its_host() {
        let mut area = [0u8; 1024];
        let mut jar = CookieJar::new(&mut area);
        assert_eq!(
            set(&mut jar, "http://mno.example/a", "sid=1"),
            Stored::Added
        );
        assert_eq!(header(&jar, "http://mno.example/", 0), "sid=1");
        assert_eq!(header(&jar, "http://sub.mno.example/", 0), "");
        assert_eq!(header(&jar, "http://other.example/", 0), "");
    }

    #[test]
    fn domain_cookie_matches_subdomains_on_label_boundaries() {
        let mut area = [0u8; 1024];
        let mut jar = CookieJar::new(&mut area);
        set(
            &mut jar,
            "http://a.mno.example/",
            "d=1; Domain=.MNO.example",
        );
        assert_eq!(header(&jar, "http://mno.example/", 0), "d=1");
        assert_eq!(header(&jar, "http://b.mno.example/", 0), "d=1");
        assert_eq!(header(&jar, "http://evilmno.example/", 0), "");
        assert_eq!(
            set(
                &mut jar,
                "http://a.mno.example/",
                "x=1; Domain=other.example"
            ),
            Stored::Ignored(Ignored::DomainMismatch)
        );
        assert_eq!(
            set(&mut jar, "http://a.mno.example/", "x=1; Domain=example"),
            Stored::Ignored(Ignored::DomainMismatch)
        );
    }

    #[test]
    fn empty_domain_is_ignored_and_public_suffixes_are_refused() {
        let mut area = [0u8; 1024];
        let mut jar = CookieJar::new(&mut area);
        // The empty attribute does not undo the earlier Domain.
        set(
            &mut jar,
            "http://a.mno.example/",
            "d=1; Domain=mno.example; Domain=",
        );
        assert_eq!(header(&jar, "http://b.mno.example/", 0), "d=1");
        fn suffix(d: &[u8]) -> bool {
            matches!(d, b"co.uk" | b"uk" | b"com")
        }
        jar.set_public_suffix_check(Some(suffix));
        assert_eq!(
            set(&mut jar, "http://mno.co.uk/", "s=1; Domain=co.uk"),
            Stored::Ignored(Ignored::PublicSuffix)
        );
        // On the suffix's own host the cookie is host-only.
        assert_eq!(
            set(&mut jar, "http://co.uk/", "h=1; Domain=co.uk"),
            Stored::Added
        );
        assert_eq!(header(&jar, "http://co.uk/", 0), "h=1");
        assert_eq!(header(&jar, "http://mno.co.uk/", 0), "");
        assert_eq!(
            set(&mut jar, "http://a.mno.co.uk/", "m=1; Domain=mno.co.uk"),
            Stored::Added
        );
        assert_eq!(header(&jar, "http://b.mno.co.uk/", 0), "m=1");
    }

    #[test]
    fn ip_literals_never_domain_match() {
        let mut area = [0u8; 1024];
        let mut jar = CookieJar::new(&mut area);
        assert_eq!(
            set(&mut jar, "http://192.0.2.10/", "x=1; Domain=0.2.10"),
            Stored::Ignored(Ignored::DomainMismatch)
        );
        set(&mut jar, "http://192.0.2.10/", "y=2; Domain=192.0.2.10");
        assert_eq!(header(&jar, "http://192.0.2.10/", 0), "y=2");
        assert_eq!(header(&jar, "http://1.192.0.2.10/", 0), "");
    }

    #[test]
    fn path_and_default_path() {
        let mut area = [0u8; 1024];
        let mut jar = CookieJar::new(&mut area);
        set(&mut jar, "http://h/auth/start", "a=1");
        set(&mut jar, "http://h/", "b=2; Path=/auth/deep");
        assert_eq!(header(&jar, "http://h/auth", 0), "a=1");
        assert_eq!(header(&jar, "http://h/auth/deep/x", 0), "b=2; a=1");
        assert_eq!(header(&jar, "http://h/authx", 0), "");
        assert_eq!(header(&jar, "http://h/", 0), "");
    }

    #[test]
    fn secure_cookies_only_over_https() {
        let mut area = [0u8; 1024];
        let mut jar = CookieJar::new(&mut area);
        assert_eq!(
            set(&mut jar, "http://h/", "s=1; Secure"),
            Stored::Ignored(Ignored::SecureOverHttp)
        );
        set(&mut jar, "https://h/", "s=1; Secure; HttpOnly");
        assert_eq!(header(&jar, "https://h/", 0), "s=1");
        assert_eq!(header(&jar, "http://h/", 0), "");
    }

    #[test]
    fn max_age_runs_on_the_session_clock() {
        let mut area = [0u8; 1024];
        let mut jar = CookieJar::new(&mut area);
        set(&mut jar, "http://h/", "m=1; Max-Age=2");
        assert_eq!(header(&jar, "http://h/", 1999), "m=1");
        assert_eq!(header(&jar, "http://h/", 2000), "");
        assert_eq!(
            set(&mut jar, "http://h/", "m=1; Max-Age=0"),
            Stored::Deleted
        );
    }

    #[test]
    fn absurd_max_ages_last_and_negative_ones_delete() {
        let mut area = [0u8; 1024];
        let mut jar = CookieJar::new(&mut area);
        // Far beyond 2^64 ms: held, not wrapped, so the cookie outlives any session.
        set(
            &mut jar,
            "http://h/",
            "a=1; Max-Age=99999999999999999999999999",
        );
        set(&mut jar, "http://h/", "b=2; Max-Age=18446744073709551615");
        assert_eq!(header(&jar, "http://h/", 1 << 62), "a=1; b=2");
        assert_eq!(
            set(&mut jar, "http://h/", "c=3; Max-Age=-5"),
            Stored::Ignored(Ignored::Expired)
        );
        assert_eq!(
            set(&mut jar, "http://h/", "a=1; Max-Age=-0"),
            Stored::Deleted
        );
        assert_eq!(header(&jar, "http://h/", 0), "b=2");
        // Not a number: the attribute is ignored, the cookie lives for the session.
        set(&mut jar, "http://h/", "d=4; Max-Age=1e3");
        assert_eq!(header(&jar, "http://h/", 1 << 62), "b=2; d=4");
    }

    #[test]
    fn expires_is_relative_to_the_server_date() {
        let mut area = [0u8; 1024];
        let mut jar = CookieJar::new(&mut area);
        let date = parse_cookie_date(b"Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(date, 1_445_412_480);
        let u = url("http://h/");
        let u = u.as_ref();
        let now = Instant::from_millis(10_000);
        let h = b"e=1; Expires=Wed, 21 Oct 2015 07:29:00 GMT";
        jar.store(h, &u, now, Some(date), None).unwrap();
        assert_eq!(header(&jar, "http://h/", 69_999), "e=1");
        assert_eq!(header(&jar, "http://h/", 70_000), "");
        let gone = b"e=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT";
        assert_eq!(
            jar.store(gone, &u, now, Some(date), None).unwrap(),
            Stored::Deleted
        );
        // With no reference clock an Expires cookie lives for the session.
        jar.store(h, &u, now, None, None).unwrap();
        assert_eq!(header(&jar, "http://h/", u64::MAX / 2), "e=1");
    }

    #[test]
    fn replacement_keeps_one_cookie_per_name_domain_path() {
        let mut area = [0u8; 1024];
        let mut jar = CookieJar::new(&mut area);
        set(&mut jar, "http://h/", "a=1");
        assert_eq!(set(&mut jar, "http://h/", "a=2"), Stored::Replaced);
        set(&mut jar, "http://h/", "a=3; Path=/x");
        assert_eq!(jar.len(), 2);
        assert_eq!(header(&jar, "http://h/x", 0), "a=3; a=2");
    }

    #[test]
    fn full_jar_evicts_oldest_and_counts() {
        // Room for exactly two of these cookies (24 bytes of bookkeeping, 4 of data each).
        let mut area = [0u8; 2 * (ENTRY_OVERHEAD + 4)];
        let mut jar = CookieJar::new(&mut area);
        set(&mut jar, "http://h/", "a=1");
        set(&mut jar, "http://h/", "b=2");
        assert_eq!(set(&mut jar, "http://h/", "c=3"), Stored::Evicted);
        assert_eq!(jar.evictions(), 1);
        assert_eq!(header(&jar, "http://h/", 0), "b=2; c=3");
    }

    #[test]
    fn oversized_and_malformed() {
        let mut area = [0u8; ENTRY_OVERHEAD + 16];
        let mut jar = CookieJar::new(&mut area);
        let big = "n=0123456789abcdef";
        assert_eq!(
            jar.store(
                big.as_bytes(),
                &url("http://h/").as_ref(),
                Instant::from_millis(0),
                None,
                None
            ),
            Err(TooLarge {
                needed: ENTRY_OVERHEAD + 1 + 16 + 1 + 1
            })
        );
        assert_eq!(
            set(&mut jar, "http://h/", "novalue"),
            Stored::Ignored(Ignored::Malformed)
        );
        assert_eq!(
            set(&mut jar, "http://h/", "=v"),
            Stored::Ignored(Ignored::Malformed)
        );
    }

    #[test]
    fn one_large_cookie_fits_where_the_area_allows() {
        let mut area = [0u8; 5000];
        let mut jar = CookieJar::new(&mut area);
        let value = "v".repeat(4000);
        let header = std::format!("big={value}");
        assert_eq!(set(&mut jar, "https://h/", &header), Stored::Added);
        assert_eq!(header_of(&jar), std::format!("big={value}"));
        // Small ones fill the rest; the big one goes first when room runs out.
        for i in 0..40 {
            set(&mut jar, "https://h/", &std::format!("c{i}=1"));
        }
        assert!(jar.evictions() >= 1);
        assert!(!header_of(&jar).contains("big="));
        assert!(jar.used() <= 5000);
    }

    fn header_of(jar: &CookieJar<'_>) -> String {
        header(jar, "https://h/", 0)
    }

    #[test]
    fn cookie_dates_in_the_forms_servers_send() {
        let t = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_cookie_date(b"Sun, 06 Nov 1994 08:49:37 GMT"), Some(t));
        assert_eq!(
            parse_cookie_date(b"Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(t)
        );
        assert_eq!(parse_cookie_date(b"Sun Nov  6 08:49:37 1994"), Some(t));
        assert_eq!(parse_cookie_date(b"Sun, 06 Nov 1994 25:49:37 GMT"), None);
        assert_eq!(parse_cookie_date(b"garbage"), None);
    }
}
