//! Why a check failed, with the hop and the limit involved, and the five SDK-compatible error
//! codes the JSON edge maps each reason to (docs/results.md).

use core::fmt;

use crate::request::RequestError;
use crate::response::{Part, ResponseError};
use crate::storage::Area;
use crate::text::{text, Piece};
use crate::url::UrlError;

/// A failure the driver reports instead of bytes (`Input::TransportFailed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportError {
    /// No cellular interface or network, the interface went down or away.
    NoDataConnectivity,
    /// No route to the host through the pinned interface.
    NoRoute,
    /// The name did not resolve (NXDOMAIN, no records, server failure).
    DnsFailed,
    /// The DNS servers did not answer in time.
    DnsTimeout,
    /// The server refused the connection.
    ConnectionRefused,
    /// The connect deadline passed in the driver.
    ConnectTimeout,
    /// The connection was reset or broke while in use.
    ConnectionReset,
    /// The socket could not be pinned to the interface (permission denied: Linux older than 5.7,
    /// or a socket already bound to a device, needs `CAP_NET_RAW`). Never retried unpinned.
    PinDenied,
    /// The device ran out of file descriptors (EMFILE/ENFILE): too many checks at once.
    OutOfSockets,
    /// Any other socket failure.
    Other,
}

/// Why an https hop's TLS failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsError {
    /// An https hop, but the engine was built without `tls` or the session has no TLS settings.
    NotConfigured,
    /// No wall clock was given, so certificate validity cannot be checked.
    NoWallClock,
    /// The host is not a valid TLS server name.
    InvalidServerName,
    /// A caller-supplied root certificate could not be read.
    InvalidRootCertificate,
    /// The server's certificate chain does not lead to a trusted root.
    UnknownIssuer,
    /// The certificate is not valid for the host name.
    NameMismatch,
    /// The certificate has expired.
    Expired,
    /// The certificate is not valid yet (or the wall clock is wrong).
    NotYetValid,
    /// Any other problem with the certificate.
    BadCertificate,
    /// The server sent a fatal alert (the TLS alert number).
    AlertReceived {
        /// The alert description code (RFC 8446 §6).
        alert: u8,
    },
    /// The handshake failed (no common version or cipher, protocol violation, ...).
    HandshakeFailed,
    /// The server closed the connection during the handshake.
    PeerClosedDuringHandshake,
    /// The TLS handshake did not finish before its deadline.
    HandshakeTimeout,
    /// The server's first bytes were not TLS (plain HTTP on an https port?).
    NotTls,
    /// After the handshake, a record could not be read (garbage, an oversized record, a bad MAC).
    CorruptRecord,
    /// After the handshake, the TLS protocol was broken in another way.
    Protocol,
    /// The connection ended without `close_notify` while the body ran until the close, so the
    /// body may be cut short (RFC 9112 §9.8).
    TruncatedWithoutCloseNotify,
}

impl Piece for TlsError {
    fn put(&self, f: &mut dyn fmt::Write) -> fmt::Result {
        match self {
            TlsError::NotConfigured => f.write_str(
                "https hop but TLS is not configured (build with the `tls` feature and pass TLS settings)",
            ),
            TlsError::NoWallClock => f.write_str(
                "https hop but no wall clock was given, so certificates cannot be validated",
            ),
            TlsError::InvalidServerName => f.write_str("the host is not a valid TLS server name"),
            TlsError::InvalidRootCertificate => {
                f.write_str("a supplied root certificate could not be parsed")
            }
            TlsError::UnknownIssuer => f.write_str(
                "the server's certificate is not signed by a trusted root (check --cacert)",
            ),
            TlsError::NameMismatch => {
                f.write_str("the server's certificate does not name this host")
            }
            TlsError::Expired => f.write_str("the server's certificate has expired"),
            TlsError::NotYetValid => f.write_str(
                "the server's certificate is not valid yet (is the device clock right?)",
            ),
            TlsError::BadCertificate => f.write_str("the server's certificate is invalid"),
            TlsError::AlertReceived { alert } => {
                text!(f, "the server ended the TLS handshake with alert ", *alert)
            }
            TlsError::HandshakeFailed => f.write_str(
                "the TLS handshake failed (no common protocol version or cipher suite?)",
            ),
            TlsError::PeerClosedDuringHandshake => {
                f.write_str("the server closed the connection during the TLS handshake")
            }
            TlsError::HandshakeTimeout => f.write_str("the TLS handshake timed out"),
            TlsError::NotTls => f.write_str(
                "the server did not answer with TLS (plain HTTP on an https port?)",
            ),
            TlsError::CorruptRecord => f.write_str(
                "the server sent a TLS record that could not be read (corrupt, oversized or forged)",
            ),
            TlsError::Protocol => {
                f.write_str("the server broke the TLS protocol after the handshake")
            }
            TlsError::TruncatedWithoutCloseNotify => f.write_str(
                "the connection ended without TLS close_notify before the body's end was known: the body may be truncated",
            ),
        }
    }
}

/// The SDK-compatible error codes of the JSON edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// `sdk_no_data_connectivity`
    NoDataConnectivity,
    /// `sdk_connection_error`
    ConnectionError,
    /// `sdk_redirect_error`
    RedirectError,
    /// `sdk_error`
    SdkError,
    /// `invalid_scheme`
    InvalidScheme,
    /// `state_mismatch`: the `state` on the redirect_uri is not the one sent (CAMARA / OAuth).
    StateMismatch,
    /// `interaction_required`: the chain ended on a page for a person (consent, login).
    InteractionRequired,
}

impl ErrorCode {
    /// The code as the JSON envelope spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NoDataConnectivity => "sdk_no_data_connectivity",
            ErrorCode::ConnectionError => "sdk_connection_error",
            ErrorCode::RedirectError => "sdk_redirect_error",
            ErrorCode::SdkError => "sdk_error",
            ErrorCode::InvalidScheme => "invalid_scheme",
            ErrorCode::StateMismatch => "state_mismatch",
            ErrorCode::InteractionRequired => "interaction_required",
        }
    }
}

/// Why a check failed. Hops count requests from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The first URL is plain http and the caller did not allow it.
    InsecureStart,
    /// The first URL is not a usable http(s) URL.
    InvalidUrl {
        /// What is wrong with it.
        error: UrlError,
    },
    /// A `Location` pointed to a scheme other than http or https; nothing was requested.
    ForbiddenScheme {
        /// The hop whose response had that Location.
        hop: u8,
    },
    /// A `Location` that cannot be resolved to a usable URL.
    BadLocation {
        /// The hop whose response had that Location.
        hop: u8,
        /// What is wrong with it.
        error: UrlError,
    },
    /// A redirect status without a `Location`.
    MissingLocation {
        /// The hop.
        hop: u8,
        /// The redirect status.
        status: u16,
    },
    /// A redirect to plain http under a policy that requires https on every hop; not followed.
    InsecureRedirect {
        /// The hop whose response had that Location.
        hop: u8,
    },
    /// The check stopped at the redirect URL with a `state` other than the expected one (or
    /// none): the answer belongs to another authorization request, or was forged.
    StateMismatch {
        /// The hop whose Location matched the redirect URL.
        hop: u8,
    },
    /// The final response is a page for a person (a 2xx `text/html`: consent, login) under a
    /// policy that treats it so.
    InteractionRequired {
        /// The hop.
        hop: u8,
        /// Its status.
        status: u16,
    },
    /// One redirect more than allowed.
    TooManyRedirects {
        /// The allowed number of redirects.
        max: u8,
        /// The hop that redirected once too often.
        hop: u8,
    },
    /// The driver reported a transport failure.
    Transport {
        /// The hop.
        hop: u8,
        /// What failed.
        error: TransportError,
    },
    /// No connection within the DNS + connect deadline.
    ConnectTimeout {
        /// The hop.
        hop: u8,
    },
    /// No complete response head within the response-head deadline.
    ResponseTimeout {
        /// The hop.
        hop: u8,
    },
    /// The body stalled for longer than the idle deadline.
    IdleTimeout {
        /// The hop.
        hop: u8,
    },
    /// The whole check took longer than its deadline.
    CheckTimeout {
        /// The hop in progress.
        hop: u8,
        /// The deadline in milliseconds.
        limit_ms: u32,
    },
    /// The server closed the connection before the response was complete.
    ClosedEarly {
        /// The hop.
        hop: u8,
        /// Which part was cut.
        part: Part,
    },
    /// The response could not be read.
    Response {
        /// The hop.
        hop: u8,
        /// What was wrong.
        error: ResponseError,
    },
    /// TLS failed on an https hop.
    Tls {
        /// The hop.
        hop: u8,
        /// What failed.
        error: TlsError,
    },
    /// An area of the caller's storage is too small for what the session must keep there.
    Storage {
        /// Which area.
        area: Area,
        /// Bytes it would take (at least).
        needed: usize,
        /// Bytes the area has for it.
        have: usize,
    },
    /// A setting that may be given once, before the check starts, was given again or late.
    AlreadyStarted,
    /// A policy value the engine cannot honour.
    PolicyOutOfRange {
        /// The field.
        field: &'static str,
        /// The largest value allowed.
        max: u32,
    },
    /// A JSON final body larger than the limit, or a non-JSON one beyond the discard limit.
    FinalBodyTooLarge {
        /// The hop.
        hop: u8,
        /// The limit in bytes.
        limit: u64,
    },
    /// A `Set-Cookie` larger than the whole cookie area.
    CookieTooLarge {
        /// The hop.
        hop: u8,
        /// The cookie area's size in bytes.
        limit: usize,
        /// Bytes the cookie takes in the area.
        needed: usize,
    },
    /// The request could not be written (the driver's buffer is too small, or a bad value).
    Request {
        /// The hop.
        hop: u8,
        /// What went wrong.
        error: RequestError,
    },
}

impl Error {
    /// The SDK-compatible code for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InsecureStart
            | Error::InvalidUrl {
                error: UrlError::UnsupportedScheme,
            } => ErrorCode::InvalidScheme,
            Error::Tls {
                error:
                    TlsError::NotConfigured | TlsError::NoWallClock | TlsError::InvalidRootCertificate,
                ..
            } => ErrorCode::SdkError,
            Error::Tls { .. } => ErrorCode::ConnectionError,
            Error::Transport {
                error: TransportError::PinDenied | TransportError::OutOfSockets,
                ..
            } => ErrorCode::SdkError,
            Error::Transport {
                error: TransportError::NoDataConnectivity | TransportError::NoRoute,
                ..
            } => ErrorCode::NoDataConnectivity,
            Error::Transport { .. }
            | Error::ConnectTimeout { .. }
            | Error::ResponseTimeout { .. }
            | Error::IdleTimeout { .. }
            | Error::CheckTimeout { .. }
            | Error::ClosedEarly { .. } => ErrorCode::ConnectionError,
            Error::StateMismatch { .. } => ErrorCode::StateMismatch,
            Error::InteractionRequired { .. } => ErrorCode::InteractionRequired,
            Error::ForbiddenScheme { .. }
            | Error::InsecureRedirect { .. }
            | Error::BadLocation { .. }
            | Error::MissingLocation { .. }
            | Error::TooManyRedirects { .. } => ErrorCode::RedirectError,
            Error::InvalidUrl { .. }
            | Error::Response { .. }
            | Error::Storage { .. }
            | Error::AlreadyStarted
            | Error::PolicyOutOfRange { .. }
            | Error::FinalBodyTooLarge { .. }
            | Error::CookieTooLarge { .. }
            | Error::Request { .. } => ErrorCode::SdkError,
        }
    }

    /// The hop the failure happened on, if any.
    pub fn hop(&self) -> Option<u8> {
        match *self {
            Error::InsecureStart
            | Error::InvalidUrl { .. }
            | Error::Storage { .. }
            | Error::AlreadyStarted
            | Error::PolicyOutOfRange { .. } => None,
            Error::ForbiddenScheme { hop }
            | Error::InsecureRedirect { hop }
            | Error::StateMismatch { hop }
            | Error::InteractionRequired { hop, .. }
            | Error::BadLocation { hop, .. }
            | Error::MissingLocation { hop, .. }
            | Error::TooManyRedirects { hop, .. }
            | Error::Transport { hop, .. }
            | Error::Tls { hop, .. }
            | Error::ConnectTimeout { hop }
            | Error::ResponseTimeout { hop }
            | Error::IdleTimeout { hop }
            | Error::CheckTimeout { hop, .. }
            | Error::ClosedEarly { hop, .. }
            | Error::Response { hop, .. }
            | Error::FinalBodyTooLarge { hop, .. }
            | Error::CookieTooLarge { hop, .. }
            | Error::Request { hop, .. } => Some(hop),
        }
    }
}

impl Piece for TransportError {
    fn put(&self, f: &mut dyn fmt::Write) -> fmt::Result {
        f.write_str(match self {
            TransportError::NoDataConnectivity => {
                "no mobile data connectivity (interface missing or down)"
            }
            TransportError::NoRoute => "no route to the host through the mobile interface",
            TransportError::DnsFailed => "the host name did not resolve",
            TransportError::DnsTimeout => "the DNS servers did not answer in time",
            TransportError::ConnectionRefused => "the server refused the connection",
            TransportError::ConnectTimeout => "the connection attempt timed out",
            TransportError::ConnectionReset => "the connection was reset",
            TransportError::PinDenied => {
                "could not pin the socket to the mobile interface (SO_BINDTODEVICE denied)"
            }
            TransportError::OutOfSockets => {
                "out of file descriptors (EMFILE): run fewer checks at once or raise ulimit -n"
            }
            TransportError::Other => "the connection failed",
        })
    }
}

impl Error {
    /// The message of [`Display`](fmt::Display), written piece by piece (see `crate::text`).
    pub(crate) fn describe(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        match self {
            Error::InsecureStart => {
                out.write_str("the check URL must be https (allow http only for development)")
            }
            Error::InvalidUrl { error } => text!(out, "invalid check URL: ", *error),
            Error::ForbiddenScheme { hop } => text!(
                out,
                "hop ",
                *hop,
                " redirected to a scheme other than http or https; not followed"
            ),
            Error::InsecureRedirect { hop } => text!(
                out,
                "hop ",
                *hop,
                " redirected to plain http, and every hop must be https; not followed"
            ),
            Error::StateMismatch { hop } => text!(
                out,
                "hop ",
                *hop,
                " reached the redirect URL with a state other than the one sent: \
                 the answer is not for this request"
            ),
            Error::InteractionRequired { hop, status } => text!(
                out,
                "hop ",
                *hop,
                " answered ",
                *status,
                " with an HTML page (consent or login) that needs a \
                 person; open the URL in a browser or ask the operator to skip it"
            ),
            Error::BadLocation { hop, error } => text!(
                out,
                "hop ",
                *hop,
                " redirected to an unusable Location: ",
                *error
            ),
            Error::MissingLocation { hop, status } => {
                text!(
                    out,
                    "hop ",
                    *hop,
                    " answered ",
                    *status,
                    " without a Location"
                )
            }
            Error::TooManyRedirects { max, hop } => text!(
                out,
                "too many redirects: hop ",
                *hop,
                " redirected again after ",
                *max
            ),
            Error::Transport { hop, error } => text!(out, "hop ", *hop, ": ", *error),
            Error::Tls { hop, error } => text!(out, "hop ", *hop, ": ", *error),
            Error::ConnectTimeout { hop } => text!(
                out,
                "hop ",
                *hop,
                ": no connection before the DNS + connect deadline"
            ),
            Error::ResponseTimeout { hop } => {
                text!(out, "hop ", *hop, ": no response head before the deadline")
            }
            Error::IdleTimeout { hop } => text!(
                out,
                "hop ",
                *hop,
                ": the response body stalled past the idle deadline"
            ),
            Error::CheckTimeout { hop, limit_ms } => text!(
                out,
                "the check took longer than ",
                *limit_ms,
                " ms (at hop ",
                *hop,
                ")"
            ),
            Error::ClosedEarly { hop, part } => {
                let part = match part {
                    Part::Head => "head",
                    Part::Body => "body",
                };
                text!(
                    out,
                    "hop ",
                    *hop,
                    ": the server closed the connection mid-",
                    part
                )
            }
            Error::Response { hop, error } => text!(out, "hop ", *hop, ": ", *error),
            Error::Storage { area, needed, have } => text!(
                out,
                "the ",
                area.as_str(),
                " storage area is too small: ",
                *needed,
                " bytes needed, ",
                *have,
                " available"
            ),
            Error::PolicyOutOfRange { field, max } => text!(
                out,
                "the policy's ",
                *field,
                " is out of range: at most ",
                *max
            ),
            Error::AlreadyStarted => {
                out.write_str("the session was already configured or started; set it up once")
            }
            Error::FinalBodyTooLarge { hop, limit } => text!(
                out,
                "hop ",
                *hop,
                ": final body larger than the ",
                *limit,
                "-byte limit"
            ),
            Error::CookieTooLarge { hop, limit, needed } => text!(
                out,
                "hop ",
                *hop,
                ": a Set-Cookie needs ",
                *needed,
                " bytes, more than the ",
                *limit,
                "-byte cookie area"
            ),
            Error::Request { hop, error } => text!(out, "hop ", *hop, ": ", *error),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f)
    }
}

impl Piece for Error {
    fn put(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        self.describe(out)
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.put(f)
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.put(f)
    }
}
