//! What the caller decides at run time: redirect rules, deadlines and limits. Storage sizes are
//! the lengths of the areas the caller lends ([`crate::storage`]); a limit here may be smaller
//! than its area, never larger.

use core::time::Duration;

/// Deadlines for each phase of a check (docs/wire.md defaults). Each has its own typed error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Name resolution, done by the driver before `Connected`.
    pub dns: Duration,
    /// TCP connect; the engine waits `dns + connect` between `Connect` and `Connected`.
    pub connect: Duration,
    /// The TLS handshake of an https hop.
    pub tls_handshake: Duration,
    /// From sending a request to the end of the response head.
    pub response_head: Duration,
    /// Silence while a body is arriving.
    pub idle: Duration,
    /// The whole check, from the session's start.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            dns: Duration::from_secs(5),
            connect: Duration::from_secs(5),
            tls_handshake: Duration::from_secs(5),
            response_head: Duration::from_secs(5),
            idle: Duration::from_secs(5),
            total: Duration::from_secs(20),
        }
    }
}

/// Size limits on what a server may send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// A response head (capped by the session's `HEAD` capacity).
    pub max_head_bytes: usize,
    /// How much of a redirect body is read (and discarded) to keep the connection for the next
    /// hop; a longer body is abandoned with its connection.
    pub max_redirect_body_bytes: u64,
    /// A final body that is kept (capped by the session's `BODY` capacity). A JSON body larger
    /// than this is an error; a non-JSON body keeps its first bytes for the trace.
    pub max_final_body_bytes: usize,
    /// How much of a non-JSON final body may be read and dropped past the kept part.
    pub max_discard_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 8 * 1024,
            max_redirect_body_bytes: 64 * 1024,
            max_final_body_bytes: 16 * 1024,
            max_discard_bytes: 1024 * 1024,
        }
    }
}

/// The most redirects a check may follow: hops are counted in a `u8`, and the request after the
/// last allowed redirect must still have a number.
pub const MAX_REDIRECTS: u8 = 254;

/// The caller's rules for one check.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Redirects to follow, at most [`MAX_REDIRECTS`]; one more is `TooManyRedirects` (so at
    /// most `max + 1` requests).
    pub max_redirects: u8,
    /// Allow the first URL to be plain `http` (the official SDKs require https).
    pub allow_http_start: bool,
    /// The driver can keep a connection for a later hop (`Connection: keep-alive`).
    pub reuse_connections: bool,
    /// Connections open at once (the pool's size), at most the storage's connection slots.
    /// 1 keeps one connection at a time, as small firmware may want.
    pub max_connections: u8,
    /// The platform part of `User-Agent`, e.g. `linux` or `android`.
    pub platform: &'static str,
    /// Show secrets (token, cookie values, `code`) in traces. Off by default.
    pub raw_trace: bool,
    /// Deadlines.
    pub timeouts: Timeouts,
    /// Size limits.
    pub limits: Limits,
    /// Which cookie domains are public suffixes (see [`crate::cookie::PublicSuffixCheck`]).
    pub public_suffix: Option<crate::cookie::PublicSuffixCheck>,
    /// Every request must be https: a plain-http start is refused whatever `allow_http_start`
    /// says, and a redirect to http is [`crate::Error::InsecureRedirect`] (CAMARA requires TLS
    /// on every hop).
    pub require_https: bool,
    /// A final 2xx `text/html` response is [`crate::Error::InteractionRequired`]: a consent or
    /// login page a headless engine cannot answer, not a result.
    pub html_is_interaction: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_redirects: 10,
            allow_http_start: false,
            reuse_connections: true,
            max_connections: 4,
            platform: "",
            raw_trace: false,
            timeouts: Timeouts::default(),
            limits: Limits::default(),
            public_suffix: None,
            require_https: false,
            html_is_interaction: false,
        }
    }
}

impl Policy {
    /// The rules for a CAMARA NumberVerification authorization (an OpenID Connect
    /// authorization-code flow): https on every hop, and a final HTML page is an interaction the
    /// engine cannot perform. Stop at the `redirect_uri` with [`crate::Session::set_redirect_url`]
    /// and check `state` with [`crate::Session::set_expected_state`].
    pub fn camara() -> Policy {
        Policy {
            require_https: true,
            html_is_interaction: true,
            ..Policy::default()
        }
    }
}
