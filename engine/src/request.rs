//! The request writer: one hop's `GET` request, byte-exact as docs/wire.md says, into a caller buffer.
//!
//! ```text
//! GET <path?query> HTTP/1.1\r\n
//! Host: <host>[:<port>]\r\n          port only when not the scheme's default; IPv6 bracketed
//! User-Agent: phonecheck/<version> <platform>\r\n
//! Accept: text/html,application/xhtml+xml,application/xml,*/*\r\n
//! Connection: keep-alive | close\r\n
//! [Cookie: a=1; b=2\r\n]              from the jar, only when something matches
//! [Authorization: Bearer <token>\r\n] only when the session allows it for this hop
//! \r\n
//! ```
//!
//! No `Accept-Encoding` is sent: bodies arrive as they are. Every caller-supplied value is checked
//! for CR, LF, NUL and other control bytes, so nothing a server sent (a cookie) or a caller passed
//! (a token) can split the request.

use core::fmt;

use crate::text::{text, Piece};

use crate::cursor::Cursor;
use crate::url::UrlRef;

/// The `Accept` value: some operators only redirect browser-like clients.
pub const ACCEPT: &str = "text/html,application/xhtml+xml,application/xml,*/*";

/// The engine version that goes into `User-Agent`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `Accept` and the `Connection` name as one run; the value follows it. On 32-bit targets
/// ([`FAVOUR_SPEED`](crate::scan::FAVOUR_SPEED) off) the run goes out on its own, so its 70
/// bytes are in flash once, not once per connection mode; 64-bit targets send `Accept` and the
/// whole `Connection` line in one copy.
const ACCEPT_CONNECTION: &str = concat!(
    "\r\nAccept: text/html,application/xhtml+xml,application/xml,*/*",
    "\r\nConnection: "
);
const ACCEPT_KEEP_ALIVE: &str = concat!(
    "\r\nAccept: text/html,application/xhtml+xml,application/xml,*/*",
    "\r\nConnection: keep-alive\r\n"
);
const ACCEPT_CLOSE: &str = concat!(
    "\r\nAccept: text/html,application/xhtml+xml,application/xml,*/*",
    "\r\nConnection: close\r\n"
);

/// Whether the request offers to keep the connection open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionMode {
    /// `Connection: keep-alive`: the driver can reuse the socket for the next hop.
    KeepAlive,
    /// `Connection: close`.
    Close,
}

/// Cookies to send, as `name=value` pairs; the cookie jar implements it.
pub trait CookieSource {
    /// Calls `f` once per cookie, in the order they should appear in the `Cookie` header.
    fn for_each_cookie(&self, f: &mut dyn FnMut(&[u8], &[u8]));
}

impl CookieSource for &[(&[u8], &[u8])] {
    fn for_each_cookie(&self, f: &mut dyn FnMut(&[u8], &[u8])) {
        for (name, value) in self.iter() {
            f(name, value);
        }
    }
}

/// One hop's request.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// The URL to request.
    pub url: &'a UrlRef<'a>,
    /// The platform part of `User-Agent` (for example `linux` or `android`).
    pub platform: &'a str,
    /// `keep-alive` or `close`.
    pub connection: ConnectionMode,
    /// Cookies for this hop, if any.
    pub cookies: Option<&'a dyn CookieSource>,
    /// The bearer token, only when it may go to this hop.
    pub bearer_token: Option<&'a str>,
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("url", &self.url)
            .field("connection", &self.connection)
            .field("cookies", &self.cookies.is_some())
            .field("bearer_token", &self.bearer_token.map(|_| "<redacted>"))
            .finish()
    }
}

/// The header a rejected value was meant for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderField {
    /// `User-Agent` (the platform string).
    UserAgent,
    /// `Cookie` (a name or value from the jar).
    Cookie,
    /// `Authorization` (the bearer token).
    Authorization,
}

impl HeaderField {
    /// The variant's name, as in messages.
    pub const fn name(self) -> &'static str {
        match self {
            HeaderField::UserAgent => "UserAgent",
            HeaderField::Cookie => "Cookie",
            HeaderField::Authorization => "Authorization",
        }
    }
}

/// Why a request could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// The caller's buffer is too small; `needed` bytes would do.
    BufferTooSmall {
        /// The exact size of the request.
        needed: usize,
    },
    /// A value holds a control byte (CR, LF, NUL, ...) that could split the request.
    ForbiddenByte {
        /// Which header the value was for.
        field: HeaderField,
    },
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.put(f)
    }
}

impl Piece for RequestError {
    fn put(&self, f: &mut dyn fmt::Write) -> fmt::Result {
        match self {
            RequestError::BufferTooSmall { needed } => {
                text!(f, "request buffer too small: ", *needed, " bytes needed")
            }
            RequestError::ForbiddenByte { field } => text!(
                f,
                field.name(),
                " value contains a control byte (CR, LF or NUL)"
            ),
        }
    }
}

fn check_value(value: &[u8], field: HeaderField) -> Result<(), RequestError> {
    // HTAB is the one control byte a field value may carry.
    if crate::scan::has_control(value) {
        Err(RequestError::ForbiddenByte { field })
    } else {
        Ok(())
    }
}

/// Writes `req` into `buf` and returns the number of bytes written.
pub fn write_request(buf: &mut [u8], req: &Request<'_>) -> Result<usize, RequestError> {
    let (total, written) = write_request_from(buf, req, 0)?;
    if written < total {
        return Err(RequestError::BufferTooSmall { needed: total });
    }
    Ok(written)
}

/// Writes the bytes of `req` from byte `offset` on into `buf`, as many as fit; returns the whole
/// request's length and how many bytes were written. Called again with `offset` advanced by
/// what was sent, it streams a request of any size through a small buffer.
pub fn write_request_from(
    buf: &mut [u8],
    req: &Request<'_>,
    offset: usize,
) -> Result<(usize, usize), RequestError> {
    write_request_at(buf, req, offset, false)
}

/// [`write_request_from`] for a caller that has checked `req.platform` already
/// (`platform_checked`): a session's platform is fixed when it is created, and its request is
/// written on every hop.
pub(crate) fn write_request_at(
    buf: &mut [u8],
    req: &Request<'_>,
    offset: usize,
    platform_checked: bool,
) -> Result<(usize, usize), RequestError> {
    if !platform_checked {
        check_value(req.platform.as_bytes(), HeaderField::UserAgent)?;
    }
    if let Some(token) = req.bearer_token {
        check_value(token.as_bytes(), HeaderField::Authorization)?;
    }

    // The usual request goes out whole, from its start, into a buffer with room for it: then
    // each piece takes the front of what is left, with no window arithmetic. Anything else
    // (a small buffer, a later piece of a request) goes through a `Cursor`.
    if crate::scan::FAVOUR_SPEED && offset == 0 {
        let mut front = Front {
            rest: &mut *buf,
            len: 0,
            short: false,
        };
        write_pieces(&mut front, req)?;
        if !front.short {
            return Ok((front.len, front.len));
        }
    }
    let mut out = Cursor::from_offset(buf, offset);
    write_pieces(&mut out, req)?;
    Ok(out.window())
}

/// Where request bytes go.
trait Sink {
    fn put(&mut self, bytes: &[u8]);

    fn put_str(&mut self, s: &str) {
        self.put(s.as_bytes());
    }
}

impl Sink for Cursor<'_> {
    fn put(&mut self, bytes: &[u8]) {
        Cursor::put(self, bytes);
    }
}

/// Writes each piece at the front of what is left of a buffer: one comparison a piece. A piece
/// that does not fit stops it (`short`); the request then goes through a `Cursor`.
struct Front<'b> {
    rest: &'b mut [u8],
    len: usize,
    short: bool,
}

impl Sink for Front<'_> {
    fn put(&mut self, bytes: &[u8]) {
        match core::mem::take(&mut self.rest).split_at_mut_checked(bytes.len()) {
            Some((dst, rest)) => {
                crate::cursor::copy(dst, bytes);
                self.rest = rest;
                self.len += bytes.len();
            }
            None => self.short = true,
        }
    }
}

/// The request's pieces, in order, into `out`.
fn write_pieces(out: &mut impl Sink, req: &Request<'_>) -> Result<(), RequestError> {
    out.put(b"GET ");
    out.put(req.url.target_bytes());
    out.put_str(" HTTP/1.1\r\nHost: ");
    out.put(req.url.authority_bytes());
    // Constant runs go out in one copy each (a request is written on every hop).
    out.put_str(concat!(
        "\r\nUser-Agent: phonecheck/",
        env!("CARGO_PKG_VERSION")
    ));
    if !req.platform.is_empty() {
        out.put_str(" ");
        out.put_str(req.platform);
    }
    if crate::scan::FAVOUR_SPEED {
        out.put_str(match req.connection {
            ConnectionMode::KeepAlive => ACCEPT_KEEP_ALIVE,
            ConnectionMode::Close => ACCEPT_CLOSE,
        });
    } else {
        out.put_str(ACCEPT_CONNECTION);
        out.put_str(match req.connection {
            ConnectionMode::KeepAlive => "keep-alive\r\n",
            ConnectionMode::Close => "close\r\n",
        });
    }

    if let Some(cookies) = req.cookies {
        let mut count = 0usize;
        let mut bad = false;
        cookies.for_each_cookie(&mut |name, value| {
            if check_value(name, HeaderField::Cookie).is_err()
                || check_value(value, HeaderField::Cookie).is_err()
            {
                bad = true;
                return;
            }
            out.put(if count == 0 { b"Cookie: " } else { b"; " });
            out.put(name);
            out.put(b"=");
            out.put(value);
            count += 1;
        });
        if bad {
            return Err(RequestError::ForbiddenByte {
                field: HeaderField::Cookie,
            });
        }
        if count > 0 {
            out.put(b"\r\n");
        }
    }
    if let Some(token) = req.bearer_token {
        out.put_str("Authorization: Bearer ");
        out.put_str(token);
        out.put_str("\r\n");
    }
    out.put_str("\r\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> UrlRef<'static> {
        let owned = std::boxed::Box::new(crate::url::Url::<256>::parse(s.as_bytes()).unwrap());
        std::boxed::Box::leak(owned).as_ref()
    }

    fn write(req: &Request<'_>) -> Result<heapless::Vec<u8, 1024>, RequestError> {
        let mut buf = [0u8; 1024];
        let n = write_request(&mut buf, req)?;
        Ok(heapless::Vec::from_slice(&buf[..n]).unwrap())
    }

    #[test]
    fn minimal_request_is_byte_exact() {
        let u = url("https://api.example/phone_check/v0.2/checks/abc/redirect?x=1#frag");
        let req = Request {
            url: &u,
            platform: "linux",
            connection: ConnectionMode::Close,
            cookies: None,
            bearer_token: None,
        };
        let expected = format!(
            "GET /phone_check/v0.2/checks/abc/redirect?x=1 HTTP/1.1\r\n\
             Host: api.example\r\n\
             User-Agent: phonecheck/{VERSION} linux\r\n\
             Accept: text/html,application/xhtml+xml,application/xml,*/*\r\n\
             Connection: close\r\n\r\n"
        );
        assert_eq!(write(&req).unwrap().as_slice(), expected.as_bytes());
        // The merged constant runs spell the same Accept as the public constant.
        let run = format!("\r\nAccept: {ACCEPT}\r\nConnection: ");
        assert_eq!(ACCEPT_CONNECTION, run);
        assert_eq!(ACCEPT_KEEP_ALIVE, format!("{run}keep-alive\r\n"));
        assert_eq!(ACCEPT_CLOSE, format!("{run}close\r\n"));
    }

    #[test]
    #[cfg(feature = "ipv6")]
    fn host_port_cookies_and_token() {
        let u = url("http://[2001:db8::1]:8080/p");
        let cookies: &[(&[u8], &[u8])] = &[(b"a", b"1"), (b"sid", b"x y")];
        let req = Request {
            url: &u,
            platform: "test",
            connection: ConnectionMode::KeepAlive,
            cookies: Some(&cookies),
            bearer_token: Some("tok"),
        };
        let text = write(&req).unwrap();
        let text = core::str::from_utf8(&text).unwrap();
        assert!(text.contains("\r\nHost: [2001:db8::1]:8080\r\n"));
        assert!(text.contains("\r\nConnection: keep-alive\r\n"));
        assert!(text.contains("\r\nCookie: a=1; sid=x y\r\n"));
        assert!(text.ends_with("\r\nAuthorization: Bearer tok\r\n\r\n"));
        assert!(!text.contains("Accept-Encoding"));
    }

    #[test]
    fn small_buffer_reports_exact_need() {
        let u = url("http://h/");
        let req = Request {
            url: &u,
            platform: "",
            connection: ConnectionMode::Close,
            cookies: None,
            bearer_token: None,
        };
        let need = write(&req).unwrap().len();
        let mut small = [0u8; 10];
        assert_eq!(
            write_request(&mut small, &req),
            Err(RequestError::BufferTooSmall { needed: need })
        );
        let mut exact = vec![0u8; need];
        assert_eq!(write_request(&mut exact, &req), Ok(need));
    }

    #[test]
    fn control_bytes_in_values_are_refused() {
        let u = url("http://h/");
        let evil: &[(&[u8], &[u8])] = &[(b"a", b"1\r\nX-Evil: 1")];
        let mut req = Request {
            url: &u,
            platform: "p",
            connection: ConnectionMode::Close,
            cookies: Some(&evil),
            bearer_token: None,
        };
        assert_eq!(
            write(&req),
            Err(RequestError::ForbiddenByte {
                field: HeaderField::Cookie
            })
        );
        req.cookies = None;
        req.bearer_token = Some("t\0k");
        assert_eq!(
            write(&req),
            Err(RequestError::ForbiddenByte {
                field: HeaderField::Authorization
            })
        );
        req.bearer_token = None;
        req.platform = "p\n";
        assert_eq!(
            write(&req),
            Err(RequestError::ForbiddenByte {
                field: HeaderField::UserAgent
            })
        );
    }
}
