//! The JSON envelope: a check's result in the format of the official SDKs, written into a caller
//! buffer (no allocation).
//!
//! ```text
//! success  {"http_status":200,"response_body":{…},"hops":3}
//! failure  {"error":"sdk_redirect_error","error_description":"…","hops":11}
//! debug    …,"debug":{"device_info":{…},"url_trace":"…","hops":[{…},…],"connections":2,…}
//! ```
//!
//! `http_status`, `response_body`, `error`, `error_description` and `debug` (with `device_info`
//! and `url_trace`) are the SDKs' names; everything else is an additive extension. Secrets in
//! URLs are redacted in `debug` unless the policy asks for raw traces.

use core::fmt::{self, Write as _};

use crate::completion::{Completion, Field, ResponseBody};
use crate::cursor::Cursor;
use crate::error::Error;
use crate::json::{write_escaped, Escaping};
use crate::session::Session;
use crate::text::text;
use crate::trace::{write_url, Counters, HopRecord, HopSource};

/// How much of a non-JSON final body `debug.final_body_preview` shows.
pub const BODY_PREVIEW_BYTES: usize = 512;

/// The `debug` part: the hop records, the counters and what the driver knows about the device.
pub struct Debug<'a, H: HopSource + ?Sized> {
    /// The hop records the driver collected.
    pub hops: &'a H,
    /// The session's counters.
    pub counters: Counters,
    /// `device_info` members, e.g. `("platform","linux")`, `("interface","wwan0")`.
    pub device_info: &'a [(&'a str, &'a str)],
    /// Show secrets (from the policy).
    pub raw: bool,
}

impl<H: HopSource + ?Sized> Clone for Debug<'_, H> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<H: HopSource + ?Sized> Copy for Debug<'_, H> {}

impl<H: HopSource + ?Sized> fmt::Debug for Debug<'_, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Debug")
            .field("hops", &self.hops.hop_count())
            .field("raw", &self.raw)
            .finish()
    }
}

/// Why no envelope was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvelopeError {
    /// The buffer is too small; `needed` bytes would do.
    BufferTooSmall {
        /// The envelope's size.
        needed: usize,
    },
    /// The check is still running.
    NotFinished,
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopeError::BufferTooSmall { needed } => {
                text!(f, "envelope buffer too small: ", *needed, " bytes needed")
            }
            EnvelopeError::NotFinished => f.write_str("the check has not finished"),
        }
    }
}

impl Session<'_> {
    /// Writes the finished check's envelope into `buf`, without the `debug` object.
    pub fn write_envelope(&self, buf: &mut [u8]) -> Result<usize, EnvelopeError> {
        self.write_envelope_with::<[HopRecord<'_>]>(buf, None, &[])
    }

    /// Writes the finished check's envelope with the `debug` object: the hop records the driver
    /// collected, the session's counters and `device_info` (secrets redacted unless the policy's
    /// `raw_trace` is set).
    pub fn write_debug_envelope<H: HopSource + ?Sized>(
        &self,
        buf: &mut [u8],
        hops: &H,
        device_info: &[(&str, &str)],
    ) -> Result<usize, EnvelopeError> {
        self.write_envelope_with(buf, Some((hops, device_info)), &[])
    }

    /// Writes the envelope, with the `debug` object when `debug` gives the hop records and
    /// `device_info`, and with `extra` top-level string members after everything else (a
    /// driver's own additions, such as the interface or the OS-level detail of a failure).
    pub fn write_envelope_with<H: HopSource + ?Sized>(
        &self,
        buf: &mut [u8],
        debug: Option<(&H, &[(&str, &str)])>,
        extra: &[(&str, &str)],
    ) -> Result<usize, EnvelopeError> {
        let outcome = self.outcome().ok_or(EnvelopeError::NotFinished)?;
        let debug = debug.map(|(hops, device_info)| Debug {
            hops,
            counters: self.counters(),
            device_info,
            raw: self.policy().raw_trace,
        });
        write_envelope(buf, outcome.as_ref(), self.hop(), debug, extra)
    }
}

/// Writes the envelope of `outcome` into `buf`; returns its length.
pub fn write_envelope<H: HopSource + ?Sized>(
    buf: &mut [u8],
    outcome: Result<&Completion<'_>, &Error>,
    hops: u8,
    debug: Option<Debug<'_, H>>,
    extra: &[(&str, &str)],
) -> Result<usize, EnvelopeError> {
    let mut out = Cursor::new(buf);
    // Writing into a Cursor never fails: it counts what does not fit.
    let _ = write_all(&mut out, outcome, hops, debug, extra);
    out.finish()
        .map_err(|needed| EnvelopeError::BufferTooSmall { needed })
}

fn write_all<H: HopSource + ?Sized>(
    out: &mut Cursor<'_>,
    outcome: Result<&Completion<'_>, &Error>,
    hops: u8,
    debug: Option<Debug<'_, H>>,
    extra: &[(&str, &str)],
) -> fmt::Result {
    out.write_char('{')?;
    let mut preview: Option<&[u8]> = None;
    match outcome {
        Ok(done) => {
            text!(out, "\"http_status\":", done.http_status)?;
            match done.body {
                ResponseBody::Json(doc) => {
                    out.write_str(",\"response_body\":")?;
                    out.write_str(doc.trim_ascii())?;
                }
                ResponseBody::RedirectQuery(_) => {
                    out.write_str(",\"response_body\":{")?;
                    let mut first = true;
                    for field in Field::ALL {
                        if let Some(value) = done.field(field) {
                            if !first {
                                out.write_char(',')?;
                            }
                            first = false;
                            text!(out, "\"", field.key(), "\":\"")?;
                            value.write_to(&mut Escaping(out))?;
                            out.write_char('"')?;
                        }
                    }
                    out.write_char('}')?;
                }
                ResponseBody::Other { raw, .. } => preview = Some(raw),
                ResponseBody::Empty => {}
            }
        }
        Err(error) => {
            text!(
                out,
                "\"error\":\"",
                error.code().as_str(),
                "\",\"error_description\":\""
            )?;
            error.describe(&mut Escaping(out))?;
            out.write_char('"')?;
        }
    }
    text!(out, ",\"hops\":", hops)?;
    if let Some(debug) = debug {
        out.write_str(",\"debug\":")?;
        write_debug(out, &debug, preview)?;
    }
    for (key, value) in extra {
        out.write_char(',')?;
        json_str(out, key)?;
        out.write_char(':')?;
        json_str(out, value)?;
    }
    out.write_char('}')
}

fn write_debug<H: HopSource + ?Sized>(
    out: &mut Cursor<'_>,
    debug: &Debug<'_, H>,
    preview: Option<&[u8]>,
) -> fmt::Result {
    out.write_str("{\"device_info\":{")?;
    for (i, (k, v)) in debug.device_info.iter().enumerate() {
        if i > 0 {
            out.write_char(',')?;
        }
        json_str(out, k)?;
        out.write_char(':')?;
        json_str(out, v)?;
    }
    out.write_str("},\"url_trace\":\"")?;
    let hops = debug.hops;
    let count = hops.hop_count();
    for i in 0..count {
        let Some(hop) = hops.hop(i) else { continue };
        write!(Escaping(out), "{} GET ", hop.info.hop)?;
        write_url(hop.url.as_str(), debug.raw, &mut Escaping(out))?;
        match hop.info.status {
            Some(status) => write!(Escaping(out), " -> {status}")?,
            None => out.write_str(" -> (no response)")?,
        }
        if i + 1 < count {
            out.write_str("\\n")?;
        }
    }
    out.write_str("\",\"hops\":[")?;
    for i in 0..count {
        let Some(hop) = hops.hop(i) else { continue };
        if i > 0 {
            out.write_char(',')?;
        }
        write_hop(out, hop, hops.hop(i + 1), debug.raw)?;
    }
    let c = debug.counters;
    write!(
        out,
        "],\"hops_not_recorded\":{},\"connections\":{},\"tls_handshakes\":{},\"cookie_evictions\":{}",
        hops.not_recorded(), c.connections, c.tls_handshakes, c.cookie_evictions
    )?;
    if let Some(raw) = preview {
        let shown = raw
            .get(..BODY_PREVIEW_BYTES.min(raw.len()))
            .unwrap_or_default();
        out.write_str(",\"final_body_preview\":\"")?;
        for chunk in shown.utf8_chunks() {
            write_escaped(chunk.valid(), out)?;
            if !chunk.invalid().is_empty() {
                out.write_str("\u{FFFD}")?;
            }
        }
        out.write_char('"')?;
    }
    out.write_char('}')
}

fn write_hop(
    out: &mut Cursor<'_>,
    record: HopRecord<'_>,
    next: Option<HopRecord<'_>>,
    raw: bool,
) -> fmt::Result {
    let hop = record.info;
    write!(out, "{{\"hop\":{},\"method\":\"GET\",\"url\":\"", hop.hop)?;
    write_url(record.url.as_str(), raw, &mut Escaping(out))?;
    out.write_char('"')?;
    if let Some(status) = hop.status {
        write!(out, ",\"status\":{status}")?;
    }
    if let Some(next) = next {
        out.write_str(",\"location\":\"")?;
        write_url(next.url.as_str(), raw, &mut Escaping(out))?;
        out.write_char('"')?;
    }
    write!(
        out,
        ",\"scheme_switch\":{},\"reused_connection\":{}",
        hop.scheme_switch, hop.reused
    )?;
    if let Some(remote) = hop.remote {
        write!(out, ",\"remote\":\"{remote}\"")?;
    }
    if let Some(local) = hop.local {
        write!(out, ",\"local\":\"{local}\"")?;
    }
    if let Some(family) = hop.family() {
        write!(out, ",\"ip_family\":\"{family}\"")?;
    }
    if let Some(tls) = hop.tls {
        write!(
            out,
            ",\"tls\":{{\"version\":\"{}\",\"alpn\":{},\"resumed\":{}}}",
            tls.version,
            if tls.alpn_http11 {
                "\"http/1.1\""
            } else {
                "null"
            },
            tls.resumed
        )?;
    }
    out.write_str(",\"timings_ms\":{")?;
    let t = hop.timings;
    let mut first = true;
    for (name, value) in [
        ("dns", t.dns_ms),
        ("connect", t.connect_ms),
        ("tls", t.tls_ms),
        ("first_byte", t.first_byte_ms),
        ("total", t.total_ms),
    ] {
        if let Some(v) = value {
            if !first {
                out.write_char(',')?;
            }
            first = false;
            write!(out, "\"{name}\":{v}")?;
        }
    }
    write!(
        out,
        "}},\"bytes_in\":{},\"bytes_out\":{},\"cookies_sent\":",
        hop.bytes_in, hop.bytes_out
    )?;
    json_str(out, hop.cookies_sent.as_str())?;
    out.write_str(",\"cookies_set\":")?;
    json_str(out, hop.cookies_set.as_str())?;
    out.write_char('}')
}

fn json_str(out: &mut Cursor<'_>, s: &str) -> fmt::Result {
    out.write_char('"')?;
    write_escaped(s, out)?;
    out.write_char('"')
}
