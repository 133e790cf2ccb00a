//! The per-hop trace: what happened on each request of a check, for debugging a chain on a real
//! network.
//!
//! The session keeps no trace. It fills in one [`HopInfo`] while a hop runs and hands each
//! finished hop out as a [`HopRecord`] (`Output::Hop`), its URL borrowed from the session's URL
//! area for that moment; the counters the result needs ([`Counters`]) stay in the session. A
//! driver that wants the SDK's `debug` object collects the records: in its own collection, or in
//! the bounded [`HopLog`] when it has no heap. The envelope reads them through [`HopSource`].
//!
//! ```text
//!  session ──Output::Hop(record)──► driver ──► HopLog / Vec ──HopSource──► envelope `debug`
//! ```
//!
//! Secrets are kept out of what is *shown*, not out of what is recorded: a record holds the real
//! URL, and [`write_url`] redacts query values such as `code` unless the caller asked for raw
//! output. Cookie values are never recorded, only names.

use core::fmt;
use core::net::SocketAddr;

use heapless::{String, Vec};

/// Parts of query parameter names that mark their values as secrets in traces (matched
/// case-insensitively anywhere in the name: `mno_token`, `SessionKey`, `x-sig`).
pub const SECRET_NAME_PARTS: &[&str] = &[
    "token",
    "code",
    "secret",
    "key",
    "sig",
    "auth",
    "session",
    "password",
    "passwd",
    "pwd",
    "credential",
    "nonce",
    "state",
];

/// Capacity for the comma-separated cookie names of one hop.
pub const COOKIE_NAMES_CAPACITY: usize = 96;

/// Names of cookies (never values), comma separated; `…` marks names that did not fit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CookieNames {
    text: String<COOKIE_NAMES_CAPACITY>,
    count: u8,
    overflow: bool,
}

impl CookieNames {
    /// Adds one name.
    pub fn push(&mut self, name: &[u8]) {
        self.count = self.count.saturating_add(1);
        let name = core::str::from_utf8(name).unwrap_or("?");
        let sep = if self.text.is_empty() { "" } else { "," };
        if self.overflow
            || self.text.len() + sep.len() + name.len() > COOKIE_NAMES_CAPACITY - "…".len()
        {
            if !self.overflow {
                let _ = self.text.push_str("…");
            }
            self.overflow = true;
            return;
        }
        let _ = self.text.push_str(sep);
        let _ = self.text.push_str(name);
    }

    /// The names as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// How many names were added (including those that did not fit).
    pub fn count(&self) -> u8 {
        self.count
    }
}

/// Durations of a hop's phases, in milliseconds; `None` when the phase did not happen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timings {
    /// Name resolution (reported by the driver).
    pub dns_ms: Option<u32>,
    /// TCP connect.
    pub connect_ms: Option<u32>,
    /// TLS handshake.
    pub tls_ms: Option<u32>,
    /// From the request to the first response byte.
    pub first_byte_ms: Option<u32>,
    /// The whole hop.
    pub total_ms: Option<u32>,
}

/// The TLS side of a hop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlsInfo {
    /// `TLSv1.2` or `TLSv1.3`.
    pub version: &'static str,
    /// Whether ALPN settled on `http/1.1`.
    pub alpn_http11: bool,
    /// Whether the session was resumed rather than fully negotiated.
    pub resumed: bool,
}

/// A connection's name in the session's outputs and inputs. Every connection the session opens
/// gets a new one, so a late input for a connection that was closed is recognised and ignored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u32);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What happened on one request of the chain, except its URL (see [`HopRecord`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HopInfo {
    /// 1 for the first request.
    pub hop: u8,
    /// The response status, once a head arrived.
    pub status: Option<u16>,
    /// The scheme differs from the previous hop's (http↔https).
    pub scheme_switch: bool,
    /// The request went over a connection kept from an earlier hop.
    pub reused: bool,
    /// The connection the request went over.
    pub conn: ConnId,
    /// The server's address, as the driver reported it.
    pub remote: Option<SocketAddr>,
    /// Our address, as the driver reported it.
    pub local: Option<SocketAddr>,
    /// TLS details of an https hop.
    pub tls: Option<TlsInfo>,
    /// Phase durations.
    pub timings: Timings,
    /// Response bytes received.
    pub bytes_in: u64,
    /// Request bytes sent.
    pub bytes_out: u64,
    /// Cookies sent with the request.
    pub cookies_sent: CookieNames,
    /// Cookies the response set.
    pub cookies_set: CookieNames,
}

impl HopInfo {
    /// `"IPv4"` or `"IPv6"` from the remote address.
    pub fn family(&self) -> Option<&'static str> {
        self.remote
            .map(|a| if a.is_ipv4() { "IPv4" } else { "IPv6" })
    }
}

/// One finished request, as the session hands it out ([`crate::Output::Hop`]): its URL is
/// borrowed from the session for that moment. Show the URL through [`write_url`].
#[derive(Clone, Copy, Debug)]
pub struct HopRecord<'a> {
    /// The requested URL.
    pub url: HopUrl<'a>,
    /// Everything else about the request.
    pub info: &'a HopInfo,
}

/// A hop's URL as the session or a log holds it: ASCII bytes, turned into `&str` only for a
/// reader that asks, so a driver that ignores hop records pays nothing for them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HopUrl<'a>(&'a [u8]);

impl<'a> HopUrl<'a> {
    /// Wraps URL text (the session's URL writers produce only ASCII).
    pub fn new(text: &'a [u8]) -> Self {
        HopUrl(text)
    }

    /// The URL's bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// The URL as text (empty if it were ever not UTF-8, which the writers rule out).
    pub fn as_str(&self) -> &'a str {
        core::str::from_utf8(self.0).unwrap_or("")
    }
}

impl fmt::Display for HopUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for HopUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq<str> for HopUrl<'_> {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for HopUrl<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

/// What a tap sees (see [`crate::Session::set_tap`]): the bytes of each request as written, and
/// each response head as received, for a driver that shows them (`phonecheck -vv`). They carry
/// secrets as they are; redact before showing.
#[derive(Clone, Copy, Debug)]
pub enum Tap<'t> {
    /// A piece of hop `hop`'s request (the pieces of one request come in order).
    Request {
        /// The hop.
        hop: u8,
        /// The bytes.
        bytes: &'t [u8],
    },
    /// Hop `hop`'s response head, status line to blank line.
    ResponseHead {
        /// The hop.
        hop: u8,
        /// The head.
        head: &'t [u8],
    },
    /// What one `Received` on a TLS connection decrypted to (empty while the handshake runs),
    /// and the TLS state after it: what a recorder keeps so a chain over https can be replayed
    /// (the driver only ever sees ciphertext).
    Decrypted {
        /// The connection.
        conn: ConnId,
        /// The plaintext.
        bytes: &'t [u8],
        /// Whether the handshake is done.
        handshake_done: bool,
        /// Whether the server has sent `close_notify`.
        peer_closed: bool,
    },
}

/// Hop records to put in the envelope's `debug` object: a slice of records, the bounded
/// [`HopLog`], or a driver's own collection.
pub trait HopSource {
    /// How many records there are.
    fn hop_count(&self) -> usize;
    /// Record `index`, in order.
    fn hop(&self, index: usize) -> Option<HopRecord<'_>>;
    /// Hops that happened but were not kept.
    fn not_recorded(&self) -> u32 {
        0
    }
}

impl HopSource for [HopRecord<'_>] {
    fn hop_count(&self) -> usize {
        self.len()
    }

    fn hop(&self, index: usize) -> Option<HopRecord<'_>> {
        self.get(index).copied()
    }
}

/// A bounded collector of hop records for drivers without a heap: `HOPS` records and
/// `URL_BYTES` bytes of URLs; what does not fit is counted.
#[derive(Clone, Debug, Default)]
pub struct HopLog<const HOPS: usize, const URL_BYTES: usize> {
    hops: Vec<(HopInfo, usize, usize), HOPS>,
    urls: Vec<u8, URL_BYTES>,
    not_recorded: u32,
}

impl<const HOPS: usize, const URL_BYTES: usize> HopLog<HOPS, URL_BYTES> {
    /// An empty log.
    pub const fn new() -> Self {
        HopLog {
            hops: Vec::new(),
            urls: Vec::new(),
            not_recorded: 0,
        }
    }

    /// Keeps a copy of `record`, or counts it when there is no room.
    pub fn push(&mut self, record: HopRecord<'_>) {
        let start = self.urls.len();
        if self.hops.is_full() || self.urls.extend_from_slice(record.url.as_bytes()).is_err() {
            self.not_recorded = self.not_recorded.saturating_add(1);
            return;
        }
        let _ = self
            .hops
            .push((record.info.clone(), start, self.urls.len()));
    }

    /// How many records are kept.
    pub fn len(&self) -> usize {
        self.hops.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.hops.is_empty()
    }
}

impl<const HOPS: usize, const URL_BYTES: usize> HopSource for HopLog<HOPS, URL_BYTES> {
    fn hop_count(&self) -> usize {
        self.hops.len()
    }

    fn hop(&self, index: usize) -> Option<HopRecord<'_>> {
        let (info, start, end) = self.hops.get(index)?;
        let url = HopUrl(self.urls.get(*start..*end).unwrap_or_default());
        Some(HopRecord { url, info })
    }

    fn not_recorded(&self) -> u32 {
        self.not_recorded
    }
}

/// The counters a check's result carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// TCP connections opened.
    pub connections: u16,
    /// TLS handshakes (full or resumed).
    pub tls_handshakes: u16,
    /// Of those, handshakes that resumed an earlier session.
    pub tls_resumed: u16,
    /// Cookies evicted from a full jar.
    pub cookie_evictions: u16,
}

/// Writes `url`, with secret query values ([`is_secret_key`], [`looks_like_credential`]) replaced
/// by `REDACTED` unless `raw`.
pub fn write_url<W: fmt::Write + ?Sized>(url: &str, raw: bool, out: &mut W) -> fmt::Result {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    out.write_str(base)?;
    let Some(query) = query else {
        return Ok(());
    };
    if raw {
        out.write_char('?')?;
        return out.write_str(query);
    }
    for (i, pair) in query.split('&').filter(|p| !p.is_empty()).enumerate() {
        out.write_char(if i == 0 { '?' } else { '&' })?;
        match pair.split_once('=') {
            Some((key, value))
                if !value.is_empty()
                    && (is_secret_key(key) || looks_like_credential(key, value)) =>
            {
                out.write_str(key)?;
                out.write_str("=REDACTED")?;
            }
            _ => out.write_str(pair)?,
        }
    }
    Ok(())
}

/// Whether a query key names a secret: it contains one of [`SECRET_NAME_PARTS`]
/// (case-insensitive).
pub fn is_secret_key(key: &str) -> bool {
    let key = key.as_bytes();
    SECRET_NAME_PARTS.iter().any(|part| {
        key.windows(part.len())
            .any(|w| w.eq_ignore_ascii_case(part.as_bytes()))
    })
}

/// Whether a value looks like a credential whatever its name: at least 20 characters of the
/// kinds tokens are made of, with both letters and digits. Values of `…id` keys (check ids,
/// reference ids) stay visible: they identify, they do not authorise.
pub fn looks_like_credential(key: &str, value: &str) -> bool {
    let key = key.as_bytes();
    let is_id = key.len() >= 2
        && key
            .get(key.len() - 2..)
            .is_some_and(|end| end.eq_ignore_ascii_case(b"id"));
    !is_id
        && value.len() >= 20
        && value.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'_' | b'.' | b'~' | b'+' | b'/' | b'=' | b'%')
        })
        && value.bytes().any(|b| b.is_ascii_alphabetic())
        && value.bytes().any(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String as StdString;

    fn shown(url: &str, raw: bool) -> StdString {
        let mut s = StdString::new();
        write_url(url, raw, &mut s).unwrap();
        s
    }

    #[test]
    fn secrets_in_query_are_redacted_by_default() {
        let url = "https://app.example/cb?check_id=c1&code=123456&Token=abc&flag";
        assert_eq!(
            shown(url, false),
            "https://app.example/cb?check_id=c1&code=REDACTED&Token=REDACTED&flag"
        );
        assert_eq!(shown(url, true), url);
        assert_eq!(shown("http://h/p", false), "http://h/p");
    }

    #[test]
    fn secrets_are_redacted_by_rule_not_by_exact_name() {
        let url = "http://he.mno/cb?mno_token=2e5161007f9bb430d58b&SessionKey=x&x-sig=1\
                   &state=s&opaque=QWxhZGRpbjpvcGVuIHNlc2FtZQ2024&check_id=c38ca50fd7f7323286e8b185\
                   &page=2&lang=en";
        assert_eq!(
            shown(url, false),
            "http://he.mno/cb?mno_token=REDACTED&SessionKey=REDACTED&x-sig=REDACTED&state=REDACTED\
             &opaque=REDACTED&check_id=c38ca50fd7f7323286e8b185&page=2&lang=en"
        );
    }

    #[test]
    fn cookie_names_are_bounded() {
        let mut names = CookieNames::default();
        names.push(b"a");
        names.push(b"b");
        assert_eq!(names.as_str(), "a,b");
        for _ in 0..40 {
            names.push(b"longish_cookie_name");
        }
        assert!(names.as_str().ends_with('…'));
        assert!(names.as_str().len() <= COOKIE_NAMES_CAPACITY);
        assert_eq!(names.count(), 42);
    }
}
