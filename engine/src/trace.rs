//! The per-hop trace: what happened on each request of a check, for debugging a chain on a real
//! network. Bounded: `N` hop records (later hops are counted, not kept).
//!
//! Secrets are kept out of what is *shown*, not out of what is stored: the record holds the real
//! URL (the session needs nothing from it), and [`write_url`] redacts query values such as `code`
//! unless the caller asked for raw output. Cookie values are never recorded, only names.

use core::fmt;
use core::net::SocketAddr;

use heapless::{String, Vec};

use crate::url::Url;

/// Query parameters whose values are secrets in traces.
pub const SECRET_QUERY_KEYS: &[&str] = &[
    "code",
    "token",
    "access_token",
    "id_token",
    "refresh_token",
    "auth",
    "authorization",
    "password",
    "secret",
    "client_secret",
    "sig",
    "signature",
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

/// One request of the chain.
#[derive(Clone, Debug)]
pub struct HopRecord<const URL: usize> {
    /// 1 for the first request.
    pub hop: u8,
    /// The requested URL (show it through [`write_url`]).
    pub url: Url<URL>,
    /// The response status, once a head arrived.
    pub status: Option<u16>,
    /// The scheme differs from the previous hop's (http↔https).
    pub scheme_switch: bool,
    /// The request went over the previous hop's connection.
    pub reused: bool,
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

impl<const URL: usize> HopRecord<URL> {
    /// A fresh record for a request to `url`.
    pub fn new(hop: u8, url: Url<URL>) -> Self {
        HopRecord {
            hop,
            url,
            status: None,
            scheme_switch: false,
            reused: false,
            remote: None,
            local: None,
            tls: None,
            timings: Timings::default(),
            bytes_in: 0,
            bytes_out: 0,
            cookies_sent: CookieNames::default(),
            cookies_set: CookieNames::default(),
        }
    }

    /// `"IPv4"` or `"IPv6"` from the remote address.
    pub fn family(&self) -> Option<&'static str> {
        self.remote
            .map(|a| if a.is_ipv4() { "IPv4" } else { "IPv6" })
    }
}

/// Counters and hop records of one check.
#[derive(Clone, Debug)]
pub struct Trace<const URL: usize, const N: usize> {
    hops: Vec<HopRecord<URL>, N>,
    /// Hops that happened but did not fit the trace.
    pub hops_not_recorded: u8,
    /// TCP connections opened.
    pub connections: u16,
    /// TLS handshakes (full or resumed).
    pub tls_handshakes: u16,
    /// Cookies evicted from a full jar.
    pub cookie_evictions: u16,
}

impl<const URL: usize, const N: usize> Default for Trace<URL, N> {
    fn default() -> Self {
        Trace {
            hops: Vec::new(),
            hops_not_recorded: 0,
            connections: 0,
            tls_handshakes: 0,
            cookie_evictions: 0,
        }
    }
}

impl<const URL: usize, const N: usize> Trace<URL, N> {
    /// The recorded hops, in order.
    pub fn hops(&self) -> &[HopRecord<URL>] {
        &self.hops
    }

    pub(crate) fn begin(&mut self, record: HopRecord<URL>) {
        if self.hops.push(record).is_err() {
            self.hops_not_recorded = self.hops_not_recorded.saturating_add(1);
        }
    }

    /// The record of hop `hop`, if it was recorded.
    pub(crate) fn hop_mut(&mut self, hop: u8) -> Option<&mut HopRecord<URL>> {
        self.hops.iter_mut().rev().find(|h| h.hop == hop)
    }
}

/// Writes `url`, with the values of [`SECRET_QUERY_KEYS`] replaced by `REDACTED` unless `raw`.
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
            Some((key, value)) if is_secret_key(key) && !value.is_empty() => {
                out.write_str(key)?;
                out.write_str("=REDACTED")?;
            }
            _ => out.write_str(pair)?,
        }
    }
    Ok(())
}

/// Whether a query key names a secret (case-insensitive).
pub fn is_secret_key(key: &str) -> bool {
    SECRET_QUERY_KEYS
        .iter()
        .any(|k| k.eq_ignore_ascii_case(key))
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
