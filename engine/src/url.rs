//! Absolute `http`/`https` URLs in fixed-capacity storage, and the RFC 3986 §5.2 resolver that
//! turns a `Location` value into the next hop's URL.
//!
//! Every [`Url`] is *normalised* when it is built, so the rest of the engine can copy its parts to
//! the wire without looking at them again:
//!
//! ```text
//!  reference bytes ──split (RFC 3986 App. B)──► scheme? authority? path query? [#fragment dropped]
//!        │                                          │
//!        └─ resolve against the base (§5.2.2) ──────┘
//!                    │
//!                    ▼
//!  "https://" host [":" port] path ["?" query]     text in a caller's slice, offsets into it
//! ```
//!
//! - only `http` and `https`; any other scheme is [`UrlError::UnsupportedScheme`];
//! - the host is lower-cased; IPv4 and IPv6 literals are recognised (IPv6 kept bracketed and in
//!   canonical form); userinfo and non-ASCII (IDNA) hosts are rejected, not guessed at;
//! - the port is elided when it is the scheme's default;
//! - dot segments are removed (§5.2.4);
//! - bytes that may not appear in a URL (controls, space, non-ASCII, `"<>\^`{|}`) are
//!   percent-encoded, so a raw CR, LF or NUL can never reach a request line;
//! - ASCII tab, CR and LF anywhere in a reference are dropped, as browsers do;
//! - the fragment is dropped: it is never sent.
//!
//! The text lives in the caller's slice ([`parse_into`], [`join_into`]; the session uses two slots
//! of its URL area) or in an owned [`Url<N>`]; a URL that does not fit is [`UrlError::TooLong`],
//! never a truncated URL. [`UrlRef`] is the borrowed view with every accessor.
//!
//! ## Where this differs from a browser (WHATWG URL), on purpose
//!
//! Operators' pages are written for browsers, so the resolver follows them where that is safe,
//! and RFC 3986 where a browser's leniency would change which server gets the request:
//!
//! | input | browser | here |
//! |---|---|---|
//! | `https:foo` against an https base | relative | relative (RFC 3986 §5.2.2's "backward compatible" reading) |
//! | `http:foo` against an https base | `http://foo/` | `MissingHost`: a scheme change needs an authority |
//! | `%2e%2e` and `%2e` segments | treated as `..` and `.` | kept as they are: RFC 3986 dot segments are literal `.` and `..` only |
//! | `\` | a `/` in http(s) URLs | percent-encoded (`%5C`); never a path or authority separator |
//! | `^`, `\|`, `{`, `}`, `` ` `` | left as they are in parts of the URL | always percent-encoded |
//! | userinfo (`u:p@h`) | accepted | `UserinfoNotAllowed` |
//! | non-ASCII hosts, `%` in hosts, IPv4 in hex/octal/short forms | IDNA, decoded, normalised | `NonAsciiHost` / `InvalidHost`, or a name as written |
//! | tab, CR, LF anywhere | dropped | dropped |
//!
//! The differential fuzz target compares whole resolved URLs with the `url` crate after undoing
//! exactly these differences (percent-decoding both sides, skipping inputs in the rows above
//! where the two disagree by design).

use core::fmt;

use heapless::String;

/// Default URL capacity in bytes: room for operator URLs with long signed query strings.
pub const DEFAULT_URL_CAPACITY: usize = 1024;
/// The longest host name a URL may carry (RFC 1035's limit for a resolvable name).
pub const MAX_HOST_LEN: usize = 253;

/// The two schemes the engine speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP; operators use it for header enrichment hops.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// The scheme's name as it appears in a URL.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// The port used when a URL names none.
    pub const fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    #[cfg_attr(target_pointer_width = "64", inline(always))]
    fn from_name(name: &[u8]) -> Option<Self> {
        if name.eq_ignore_ascii_case(b"http") {
            Some(Scheme::Http)
        } else if name.eq_ignore_ascii_case(b"https") {
            Some(Scheme::Https)
        } else {
            None
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of host a URL names. Cookies and TLS treat IP literals differently from names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKind {
    /// A registered name such as `mno.example`.
    Domain,
    /// A dotted-quad IPv4 literal.
    Ipv4,
    /// A bracketed IPv6 literal.
    Ipv6,
}

/// Why a URL or a reference could not be turned into a usable absolute URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlError {
    /// The normalised URL does not fit the URL capacity.
    TooLong {
        /// The capacity in bytes (the `N` of [`Url<N>`]).
        capacity: usize,
    },
    /// A URL without a scheme was given where an absolute URL is needed.
    MissingScheme,
    /// A scheme other than `http` or `https` (for example `tel:` or `intent:`).
    UnsupportedScheme,
    /// No host, or an empty one.
    MissingHost,
    /// The authority has `user:password@`; credentials in URLs are refused.
    UserinfoNotAllowed,
    /// The host has non-ASCII bytes; internationalised names are not converted.
    NonAsciiHost,
    /// The host has bytes a host name cannot hold, or a malformed IP literal.
    InvalidHost,
    /// The port is not a number from 1 to 65535.
    InvalidPort,
    /// The host is an IPv6 literal and the engine was built without its `ipv6` feature.
    Ipv6LiteralNotBuilt,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::text::Piece::put(self, f)
    }
}

impl crate::text::Piece for UrlError {
    fn put(&self, f: &mut dyn fmt::Write) -> fmt::Result {
        match self {
            UrlError::TooLong { capacity } => {
                crate::text::text!(f, "URL longer than the ", *capacity, "-byte URL capacity")
            }
            UrlError::MissingScheme => f.write_str("URL has no scheme (need http:// or https://)"),
            UrlError::UnsupportedScheme => f.write_str("URL scheme is not http or https"),
            UrlError::MissingHost => f.write_str("URL has no host"),
            UrlError::UserinfoNotAllowed => {
                f.write_str("URL carries user:password@ credentials, which are refused")
            }
            UrlError::NonAsciiHost => {
                f.write_str("URL host is not ASCII (internationalised names are not supported)")
            }
            UrlError::InvalidHost => f.write_str("URL host is not a valid name or IP literal"),
            UrlError::InvalidPort => f.write_str("URL port is not a number from 1 to 65535"),
            UrlError::Ipv6LiteralNotBuilt => f.write_str(
                "URL host is an IPv6 literal, and this build leaves them out (engine feature `ipv6`)",
            ),
        }
    }
}

/// Where the parts of a normalised URL sit in its text. Small and `Copy`: the session keeps one
/// per URL slot of its URL area, next to the text itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parts {
    len: usize,
    scheme: Scheme,
    port: u16,
    host_kind: HostKind,
    /// Byte range of the host inside the text, without IPv6 brackets.
    host: (usize, usize),
    /// Where the path (always starting with `/`) begins: also where the authority ends.
    path_start: usize,
    /// Index of the `?` that starts the query, if there is one.
    query_start: Option<usize>,
}

impl Parts {
    /// Parts of no URL: a stand-in that gives empty text (never requested).
    pub(crate) const EMPTY: Parts = Parts {
        len: 0,
        scheme: Scheme::Http,
        port: 0,
        host_kind: HostKind::Domain,
        host: (0, 0),
        path_start: 0,
        query_start: None,
    };

    /// The host's byte range in the text.
    pub(crate) fn host_range(&self) -> (usize, usize) {
        self.host
    }

    /// The text's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a URL has at least a scheme and a host.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A normalised absolute URL borrowed from wherever its text lives (a [`Url`], or a slot of the
/// session's URL area). Every accessor is a slice of the text: nothing is copied.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct UrlRef<'a> {
    /// ASCII by construction; each accessor checks only the part it hands out.
    text: &'a [u8],
    parts: Parts,
}

impl fmt::Debug for UrlRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Url").field(&self.as_str()).finish()
    }
}

impl fmt::Display for UrlRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'a> UrlRef<'a> {
    /// The view of a URL that [`parse_into`] or [`join_into`] wrote into `area`.
    pub fn from_parts(area: &'a [u8], parts: Parts) -> Self {
        // The writers put only ASCII there, so this never falls back.
        let text = area.get(..parts.len).unwrap_or_default();
        UrlRef { text, parts }
    }

    /// The parts, to keep next to the text.
    pub fn parts(&self) -> Parts {
        self.parts
    }

    /// The whole URL's bytes (ASCII).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.text
    }

    /// The whole URL as text.
    pub fn as_str(&self) -> &'a str {
        core::str::from_utf8(self.text).unwrap_or("")
    }

    /// The host's bytes (no UTF-8 check).
    pub fn host_bytes(&self) -> &'a [u8] {
        self.text
            .get(self.parts.host.0..self.parts.host.1)
            .unwrap_or_default()
    }

    /// The path's bytes.
    pub fn path_bytes(&self) -> &'a [u8] {
        let end = self.parts.query_start.unwrap_or(self.text.len());
        self.text.get(self.parts.path_start..end).unwrap_or(b"/")
    }

    /// The request target's bytes.
    pub fn target_bytes(&self) -> &'a [u8] {
        self.text.get(self.parts.path_start..).unwrap_or(b"/")
    }

    /// The authority's bytes.
    pub fn authority_bytes(&self) -> &'a [u8] {
        let start = self.parts.scheme.as_str().len() + 3;
        self.text
            .get(start..self.parts.path_start)
            .unwrap_or_default()
    }

    fn sub(&self, start: usize, end: usize) -> Option<&'a str> {
        core::str::from_utf8(self.text.get(start..end)?).ok()
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> Scheme {
        self.parts.scheme
    }

    /// The host, lower-cased; IPv6 literals without brackets.
    pub fn host(&self) -> &'a str {
        self.sub(self.parts.host.0, self.parts.host.1).unwrap_or("")
    }

    /// What kind of host this is.
    pub fn host_kind(&self) -> HostKind {
        self.parts.host_kind
    }

    /// The port to connect to (the scheme's default when the URL names none).
    pub fn port(&self) -> u16 {
        self.parts.port
    }

    /// The `Host` header value: host (IPv6 bracketed), and `:port` only when not the default.
    pub fn authority(&self) -> &'a str {
        let start = self.parts.scheme.as_str().len() + 3;
        self.sub(start, self.parts.path_start).unwrap_or("")
    }

    /// The origin-form request target: path and query.
    pub fn target(&self) -> &'a str {
        self.sub(self.parts.path_start, self.text.len())
            .unwrap_or("/")
    }

    /// The path, always starting with `/`.
    pub fn path(&self) -> &'a str {
        let end = self.parts.query_start.unwrap_or(self.text.len());
        self.sub(self.parts.path_start, end).unwrap_or("/")
    }

    /// The query without its `?`, if there is one.
    pub fn query(&self) -> Option<&'a str> {
        let start = self.parts.query_start?;
        self.sub(start + 1, self.text.len())
    }

    /// Whether both URLs name the same origin (scheme, host and port): the rule for connection
    /// reuse and for where an `Authorization` header may go.
    pub fn same_origin(&self, other: &UrlRef<'_>) -> bool {
        self.parts.scheme == other.parts.scheme
            && self.parts.port == other.parts.port
            && self.host() == other.host()
    }
}

/// Parses an absolute URL (a reference that names its scheme and host) into `out`. `scratch` is
/// used only when the input holds tabs or newlines to drop; it may be empty otherwise.
pub fn parse_into(input: &[u8], out: &mut [u8], scratch: &mut [u8]) -> Result<Parts, UrlError> {
    let mut parts = None;
    if is_plain(input) {
        parse_as::<true>(input, out, scratch, &mut parts)?;
    } else {
        parse_as::<false>(input, out, scratch, &mut parts)?;
    }
    parts.ok_or(UrlError::MissingHost)
}

/// [`parse_into`], with `PLAIN` as [`is_plain`] said: a plain input skips the careful steps.
/// (One body for both: the 32-bit build, where nothing is plain, has only the careful copy.)
#[inline(always)]
fn parse_as<const PLAIN: bool>(
    input: &[u8],
    out: &mut [u8],
    scratch: &mut [u8],
    parts: &mut Option<Parts>,
) -> Result<(), UrlError> {
    let capacity = out.len();
    let input = if PLAIN {
        input
    } else {
        without_tab_or_newline(input, scratch, capacity)?
    };
    let reference = Reference::split::<PLAIN>(input);
    let scheme_name = reference.scheme.ok_or(UrlError::MissingScheme)?;
    let scheme = Scheme::from_name(scheme_name).ok_or(UrlError::UnsupportedScheme)?;
    let authority = reference.authority.ok_or(UrlError::MissingHost)?;
    Builder::<PLAIN>::absolute(
        out,
        scheme,
        authority,
        reference.path,
        reference.query,
        parts,
    )
}

/// Resolves `reference` (for example a `Location` value) against `base` into `out`,
/// RFC 3986 §5.2.2. `out` must not overlap `base`; `scratch` is as for [`parse_into`].
///
/// A reference whose scheme equals the base's scheme but that has no authority (`http:g`) is
/// resolved as a relative reference, the "backward compatible" reading §5.2.2 allows and
/// browsers use.
pub fn join_into(
    base: &UrlRef<'_>,
    reference: &[u8],
    out: &mut [u8],
    scratch: &mut [u8],
) -> Result<Parts, UrlError> {
    let mut parts = None;
    join_to(base, reference, out, scratch, &mut parts)?;
    parts.ok_or(UrlError::MissingHost)
}

/// [`join_into`], writing the parts into `parts` (only on success) rather than returning them:
/// the session's slot takes them where they are written. Returned, they would come back through
/// memory and be copied in wider pieces than they were stored in, which waits for those stores.
pub(crate) fn join_to(
    base: &UrlRef<'_>,
    reference: &[u8],
    out: &mut [u8],
    scratch: &mut [u8],
    parts: &mut Option<Parts>,
) -> Result<(), UrlError> {
    if is_plain(reference) {
        join_as::<true>(base, reference, out, scratch, parts)
    } else {
        join_as::<false>(base, reference, out, scratch, parts)
    }
}

/// [`join_into`], with `PLAIN` as [`is_plain`] said (see [`parse_as`]).
#[inline(always)]
fn join_as<const PLAIN: bool>(
    base: &UrlRef<'_>,
    reference: &[u8],
    out: &mut [u8],
    scratch: &mut [u8],
    parts: &mut Option<Parts>,
) -> Result<(), UrlError> {
    let capacity = out.len();
    let reference = if PLAIN {
        reference
    } else {
        without_tab_or_newline(reference, scratch, capacity)?
    };
    let r = Reference::split::<PLAIN>(reference);
    // A reference with an authority takes its own scheme, or the base's; one without an
    // authority may name only the base's scheme (then it is relative).
    let mut scheme = base.scheme();
    if let Some(name) = r.scheme {
        scheme = Scheme::from_name(name).ok_or(UrlError::UnsupportedScheme)?;
        if r.authority.is_none() && scheme != base.scheme() {
            return Err(UrlError::MissingHost);
        }
    }
    if let Some(authority) = r.authority {
        return Builder::<PLAIN>::absolute(out, scheme, authority, r.path, r.query, parts);
    }

    let mut builder = Builder::<PLAIN>::over(out, base.scheme());
    builder.put_base(base)?;
    if r.path.is_empty() {
        let query = match r.query {
            Some(q) => Some(q),
            None => base.query().map(str::as_bytes),
        };
        builder.out.put(base.path_bytes())?;
        return builder.finish_with_path(b"", query, parts);
    }
    if r.path.first() == Some(&b'/') {
        return builder.finish_with_path(r.path, r.query, parts);
    }
    // Merge (§5.2.3) without a buffer: the base path is already free of dot segments, so its
    // directory (without the last '/') goes out as it is, and the reference is then read as if
    // that '/' stood in front of it.
    let base_path = base.path_bytes();
    let dir_end = base_path.iter().rposition(|&b| b == b'/').unwrap_or(0);
    builder
        .out
        .put(base_path.get(..dir_end).unwrap_or_default())?;
    builder.push_slash_then(r.path)?;
    builder.finish_with_path(b"", r.query, parts)
}

/// A normalised absolute `http`/`https` URL that owns its `N` bytes of text: for callers that
/// want a URL value of their own. The session keeps its URLs in the caller's storage instead.
#[derive(Clone, PartialEq, Eq)]
pub struct Url<const N: usize = DEFAULT_URL_CAPACITY> {
    text: String<N>,
    parts: Parts,
}

impl<const N: usize> fmt::Debug for Url<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Url").field(&self.as_str()).finish()
    }
}

impl<const N: usize> fmt::Display for Url<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> Url<N> {
    fn own(buf: &[u8], parts: Parts) -> Self {
        let mut text = String::new();
        let _ = text.push_str(UrlRef::from_parts(buf, parts).as_str());
        Url { text, parts }
    }

    /// Parses an absolute URL (a reference that names its scheme and host).
    pub fn parse(input: &[u8]) -> Result<Self, UrlError> {
        let (mut buf, mut scratch) = ([0u8; N], [0u8; N]);
        let parts = parse_into(input, &mut buf, &mut scratch)?;
        Ok(Self::own(&buf, parts))
    }

    /// Resolves `reference` against this URL; see [`join_into`].
    pub fn join(&self, reference: &[u8]) -> Result<Self, UrlError> {
        let (mut buf, mut scratch) = ([0u8; N], [0u8; N]);
        let parts = join_into(&self.as_ref(), reference, &mut buf, &mut scratch)?;
        Ok(Self::own(&buf, parts))
    }

    /// The borrowed view, with every accessor.
    pub fn as_ref(&self) -> UrlRef<'_> {
        UrlRef {
            text: self.text.as_bytes(),
            parts: self.parts,
        }
    }

    /// The whole URL as text.
    pub fn as_str(&self) -> &str {
        self.text.as_str()
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> Scheme {
        self.parts.scheme
    }

    /// The host, lower-cased; IPv6 literals without brackets.
    pub fn host(&self) -> &str {
        self.as_ref().host()
    }

    /// What kind of host this is.
    pub fn host_kind(&self) -> HostKind {
        self.parts.host_kind
    }

    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.parts.port
    }

    /// The `Host` header value.
    pub fn authority(&self) -> &str {
        self.as_ref().authority()
    }

    /// The origin-form request target: path and query.
    pub fn target(&self) -> &str {
        self.as_ref().target()
    }

    /// The path, always starting with `/`.
    pub fn path(&self) -> &str {
        self.as_ref().path()
    }

    /// The query without its `?`, if there is one.
    pub fn query(&self) -> Option<&str> {
        self.as_ref().query()
    }

    /// Whether both URLs name the same origin (scheme, host and port).
    pub fn same_origin<const M: usize>(&self, other: &Url<M>) -> bool {
        self.as_ref().same_origin(&other.as_ref())
    }
}

/// A URI reference split per RFC 3986 Appendix B, fragment already dropped.
#[derive(Debug)]
struct Reference<'a> {
    scheme: Option<&'a [u8]>,
    authority: Option<&'a [u8]>,
    path: &'a [u8],
    query: Option<&'a [u8]>,
}

impl<'a> Reference<'a> {
    /// `PLAIN`: [`is_plain`] holds for `input`, so there is nothing to trim and no fragment.
    #[cfg_attr(target_pointer_width = "64", inline(always))]
    fn split<const PLAIN: bool>(input: &'a [u8]) -> Self {
        // Browsers strip leading and trailing C0 controls and spaces; servers rely on it.
        let (input, (end, query_at)) = if PLAIN {
            (input, (input.len(), crate::scan::find1(input, b'?')))
        } else {
            let input = trim_c0_and_space(input);
            (input, fragment_and_query(input, !crate::scan::FAVOUR_SPEED))
        };
        let (mut rest, query) = match query_at {
            Some(q) => (
                input.get(..q).unwrap_or_default(),
                Some(input.get(q + 1..end).unwrap_or_default()),
            ),
            None => (input.get(..end).unwrap_or_default(), None),
        };

        let mut scheme = None;
        if let Some(i) = rest.iter().position(|&b| matches!(b, b':' | b'/')) {
            if rest.get(i) == Some(&b':') {
                let name = rest.get(..i).unwrap_or_default();
                if is_scheme_name(name) {
                    scheme = Some(name);
                    rest = rest.get(i + 1..).unwrap_or_default();
                }
            }
        }

        let mut authority = None;
        if let Some(after) = rest.strip_prefix(b"//") {
            let end = after.iter().position(|&b| b == b'/').unwrap_or(after.len());
            let (auth, tail) = after.split_at(end);
            authority = Some(auth);
            rest = tail;
        }
        let path = rest;
        Reference {
            scheme,
            authority,
            path,
            query,
        }
    }
}

/// Where `input`'s fragment starts (its length if it has none), and the first `?` before that,
/// which starts the query (no scheme or authority byte can be a `?`); what is left to split is
/// short: the scheme ends at the first `:`, the authority at the next `/`. The fast form makes
/// one pass over the whole reference; the `small` one (32-bit targets) finds the `#`, then the
/// `?` before it, with plain byte loops.
#[inline(always)]
fn fragment_and_query(input: &[u8], small: bool) -> (usize, Option<usize>) {
    let mut end = input.len();
    if small {
        end = input.iter().position(|&b| b == b'#').unwrap_or(end);
        let query_at = input
            .get(..end)
            .and_then(|s| s.iter().position(|&b| b == b'?'));
        return (end, query_at);
    }
    let mut query_at = None;
    match crate::scan::find2(input, b'#', b'?') {
        Some(i) if input.get(i) == Some(&b'?') => {
            query_at = Some(i);
            let after = input.get(i + 1..).unwrap_or_default();
            if let Some(h) = crate::scan::find1(after, b'#') {
                end = i + 1 + h;
            }
        }
        Some(i) => end = i,
        None => {}
    }
    (end, query_at)
}

/// Whether `reference` needs none of the careful steps: no byte that the path or query would
/// percent-encode (that takes in every byte that trimming or the tab and newline removal would
/// drop) and no fragment. Almost every `Location` is plain; one pass over it then spares the
/// scans for those steps and the resolver copies path and query as they are. On 64-bit targets
/// only ([`FAVOUR_SPEED`](crate::scan::FAVOUR_SPEED)); 32-bit ones keep one careful path.
fn is_plain(reference: &[u8]) -> bool {
    const fn breaks_plain(b: u8) -> bool {
        needs_encoding(b) || b == b'#'
    }
    crate::scan::FAVOUR_SPEED
        && crate::scan::find_flagged(
            reference,
            crate::scan::byte_table!(breaks_plain),
            breaks_plain,
        )
        .is_none()
}

/// Browsers drop every ASCII tab, CR and LF from a URL before parsing it (WHATWG URL,
/// "remove all ASCII tab or newline"); operators' pages are tested in browsers, so do the same.
/// Returns `input` itself when there is nothing to drop, else the cleaned copy in `scratch`.
fn without_tab_or_newline<'a>(
    input: &'a [u8],
    scratch: &'a mut [u8],
    capacity: usize,
) -> Result<&'a [u8], UrlError> {
    if !crate::scan::has_tab_or_newline(input) {
        return Ok(input);
    }
    let mut len = 0;
    for &b in input
        .iter()
        .filter(|&&b| !matches!(b, b'\t' | b'\r' | b'\n'))
    {
        *scratch.get_mut(len).ok_or(UrlError::TooLong { capacity })? = b;
        len += 1;
    }
    Ok(scratch.get(..len).unwrap_or_default())
}

/// Whether a path may hold a `.` or `..` segment: some '.' starts a segment. A false "yes" only
/// costs the careful path.
#[cfg_attr(target_pointer_width = "64", inline(always))]
fn may_have_dot_segment(path: &[u8]) -> bool {
    if !crate::scan::FAVOUR_SPEED {
        // The small form: a '.' first, or after a '/'.
        return path.first() == Some(&b'.') || path.windows(2).any(|w| w == b"/.");
    }
    let mut from = 0;
    while let Some(i) = path
        .get(from..)
        .and_then(|rest| crate::scan::find1(rest, b'.'))
    {
        let at = from + i;
        if at == 0 || path.get(at - 1) == Some(&b'/') {
            return true;
        }
        from = at + 1;
    }
    false
}

fn trim_c0_and_space(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if *first > b' ' {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if *last > b' ' {
            break;
        }
        s = rest;
    }
    s
}

fn is_scheme_name(name: &[u8]) -> bool {
    match name.split_first() {
        Some((first, rest)) => {
            first.is_ascii_alphabetic()
                && rest
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        }
        None => false,
    }
}

/// Appends to a caller's byte slice; running out of room is `UrlError::TooLong`.
struct Out<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl Out<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), UrlError> {
        let capacity = self.buf.len();
        let end = self.len + bytes.len();
        self.buf
            .get_mut(self.len..end)
            .map(|dst| crate::cursor::copy(dst, bytes))
            .ok_or(UrlError::TooLong { capacity })?;
        self.len = end;
        Ok(())
    }

    fn put_byte(&mut self, b: u8) -> Result<(), UrlError> {
        self.put(&[b])
    }

    /// Runs a writer that hands out pieces; the first piece that does not fit is the error.
    fn put_with(&mut self, write: impl FnOnce(&mut dyn FnMut(&[u8]))) -> Result<(), UrlError> {
        let mut result = Ok(());
        write(&mut |piece| {
            if result.is_ok() {
                result = self.put(piece);
            }
        });
        result
    }
}

impl fmt::Write for Out<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.put(s.as_bytes()).map_err(|_| fmt::Error)
    }
}

/// Writes a normalised URL into a caller's slice: scheme and authority first, then the path
/// through dot-segment removal and percent-encoding, then the query. `PLAIN`: the reference is
/// plain (see [`is_plain`]), so path and query go out as they are.
struct Builder<'b, const PLAIN: bool> {
    out: Out<'b>,
    scheme: Scheme,
    port: u16,
    host_kind: HostKind,
    host: (usize, usize),
    path_start: usize,
}

impl<'b, const PLAIN: bool> Builder<'b, PLAIN> {
    /// An empty builder over `buf`. Built where it stays, and filled by `&mut self` methods:
    /// a builder returned in a `Result` comes back through memory and is copied in wider
    /// pieces than it was stored in, which waits for those stores to retire.
    fn over(buf: &'b mut [u8], scheme: Scheme) -> Self {
        Builder {
            out: Out { buf, len: 0 },
            scheme,
            port: scheme.default_port(),
            host_kind: HostKind::Domain,
            host: (0, 0),
            path_start: 0,
        }
    }

    /// Writes the scheme and `authority`: host (lower-cased), and the port unless it is the
    /// scheme's default.
    fn put_authority(&mut self, authority: &[u8]) -> Result<(), UrlError> {
        let scheme = self.scheme;
        // The usual authority is a host name alone: one scan shows it (`@`, `:` and `[` are no
        // host bytes) and spares the others. 64-bit targets only, like every fast path here.
        let plain_host =
            crate::scan::FAVOUR_SPEED && !authority.is_empty() && host_stop(authority).is_none();
        // A byte loop on 32-bit targets: `contains` would link core's word-wise `memchr` here.
        #[allow(clippy::manual_contains)]
        let userinfo = if plain_host {
            false
        } else if crate::scan::FAVOUR_SPEED {
            authority.contains(&b'@')
        } else {
            authority.iter().any(|&b| b == b'@')
        };
        if userinfo {
            return Err(UrlError::UserinfoNotAllowed);
        }
        let b = self;
        b.out.put(match scheme {
            Scheme::Http => b"http://",
            Scheme::Https => b"https://",
        })?;

        let port_text = if let Some(inner) = authority.strip_prefix(b"[") {
            if !cfg!(feature = "ipv6") {
                return Err(UrlError::Ipv6LiteralNotBuilt);
            }
            let close = inner
                .iter()
                .position(|&b| b == b']')
                .ok_or(UrlError::InvalidHost)?;
            let (literal, after) = inner.split_at(close);
            let groups = crate::ip::parse_ipv6(literal).ok_or(UrlError::InvalidHost)?;
            b.out.put_byte(b'[')?;
            let start = b.out.len;
            b.out.put_with(|put| crate::ip::write_ipv6(&groups, put))?;
            b.host = (start, b.out.len);
            b.out.put_byte(b']')?;
            b.host_kind = HostKind::Ipv6;
            match after.get(1..).unwrap_or_default() {
                [] => None,
                [b':', port @ ..] => Some(port),
                _ => return Err(UrlError::InvalidHost),
            }
        } else {
            let colon = if plain_host {
                None
            } else {
                authority.iter().position(|&b| b == b':')
            };
            let (host, port) = match colon {
                Some(i) => {
                    let (h, p) = authority.split_at(i);
                    (h, Some(p.get(1..).unwrap_or_default()))
                }
                None => (authority, None),
            };
            if host.is_empty() {
                return Err(UrlError::MissingHost);
            }
            if !plain_host && host_stop(host).is_some() {
                // A byte loop: `is_ascii` is a word-wise loop, large for an error path.
                return Err(if host.iter().all(|&b| b < 0x80) {
                    UrlError::InvalidHost
                } else {
                    UrlError::NonAsciiHost
                });
            }
            // RFC 1035: a name longer than 253 bytes cannot be resolved, so it is not a host.
            if host.len() > MAX_HOST_LEN {
                return Err(UrlError::InvalidHost);
            }
            let start = b.out.len;
            b.out.put(host)?;
            if let Some(written) = b.out.buf.get_mut(start..b.out.len) {
                written.make_ascii_lowercase();
            }
            b.host = (start, b.out.len);
            // A dotted quad ends with a digit: names (almost all) are not parsed as one.
            let is_v4 = host.last().is_some_and(u8::is_ascii_digit)
                && crate::ip::parse_ipv4(host).is_some();
            if is_v4 {
                b.host_kind = HostKind::Ipv4;
            }
            port
        };

        if let Some(port) = port_text.filter(|p| !p.is_empty()) {
            b.port = parse_port(port)?;
            if b.port != scheme.default_port() {
                b.out.put_byte(b':')?;
                let port = b.port;
                b.out.put_with(|put| crate::ip::write_decimal(port, put))?;
            }
        }
        b.path_start = b.out.len;
        Ok(())
    }

    /// A whole absolute URL from its parts: [`parse_into`] and [`join_into`] share this one copy.
    fn absolute(
        buf: &'b mut [u8],
        scheme: Scheme,
        authority: &[u8],
        path: &[u8],
        query: Option<&[u8]>,
        parts: &mut Option<Parts>,
    ) -> Result<(), UrlError> {
        let mut b = Self::over(buf, scheme);
        b.put_authority(authority)?;
        b.finish_with_path(path, query, parts)
    }

    /// Starts a relative resolution: the base URL's scheme and authority, as they are.
    fn put_base(&mut self, base: &UrlRef<'_>) -> Result<(), UrlError> {
        let p = base.parts;
        self.out
            .put(base.text.get(..p.path_start).unwrap_or_default())?;
        self.scheme = p.scheme;
        self.port = p.port;
        self.host_kind = p.host_kind;
        self.host = p.host;
        self.path_start = p.path_start;
        Ok(())
    }

    fn push_encoded(&mut self, bytes: &[u8]) -> Result<(), UrlError> {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        if PLAIN {
            return self.out.put(bytes);
        }
        let mut rest = bytes;
        // Runs that need no encoding go out in one copy.
        while let Some(i) = crate::scan::find_flagged(
            rest,
            crate::scan::byte_table!(needs_encoding),
            needs_encoding,
        ) {
            let (run, tail) = rest.split_at(i);
            self.out.put(run)?;
            if let Some((&b, tail)) = tail.split_first() {
                let hi = HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0');
                let lo = HEX.get(usize::from(b & 0xF)).copied().unwrap_or(b'0');
                self.out.put(&[b'%', hi, lo])?;
                rest = tail;
            }
        }
        self.out.put(rest)
    }

    /// Drops the last path segment written (and its `/`), never reaching into the authority.
    fn pop_segment(&mut self) {
        let floor = self.path_start;
        let cut = self
            .out
            .buf
            .get(floor..self.out.len)
            .and_then(|p| p.iter().rposition(|&b| b == b'/'))
            .map_or(floor, |i| floor + i);
        self.out.len = cut;
    }

    /// RFC 3986 §5.2.4 `remove_dot_segments`, writing (percent-encoded) into the URL text.
    #[cfg_attr(target_pointer_width = "64", inline(always))]
    fn push_path(&mut self, mut input: &[u8]) -> Result<(), UrlError> {
        // No segment that starts with a '.' (as "v0.2" or "a.html" do not): no dot segments
        // to remove.
        if !may_have_dot_segment(input) {
            return self.push_encoded(input);
        }
        while !input.is_empty() {
            if let Some(rest) = input.strip_prefix(b"../") {
                input = rest;
            } else if let Some(rest) = input.strip_prefix(b"./") {
                input = rest;
            } else if input.starts_with(b"/./") {
                input = input.get(2..).unwrap_or_default();
            } else if input == b"/." {
                input = b"/";
            } else if input.starts_with(b"/../") {
                input = input.get(3..).unwrap_or_default();
                self.pop_segment();
            } else if input == b"/.." {
                input = b"/";
                self.pop_segment();
            } else if input == b"." || input == b".." {
                input = b"";
            } else {
                let skip = usize::from(input.first() == Some(&b'/'));
                let end = input
                    .iter()
                    .skip(skip)
                    .position(|&b| b == b'/')
                    .map_or(input.len(), |i| i + skip);
                let (segment, rest) = input.split_at(end);
                self.push_encoded(segment)?;
                input = rest;
            }
        }
        Ok(())
    }

    /// `push_path("/" + input)` without building that string: the dot-segment rules that see
    /// the leading '/' are applied here, the rest by `push_path`.
    fn push_slash_then(&mut self, mut input: &[u8]) -> Result<(), UrlError> {
        loop {
            if let Some(rest) = input.strip_prefix(b"./") {
                input = rest;
            } else if input == b"." {
                input = b"";
            } else if let Some(rest) = input.strip_prefix(b"../") {
                self.pop_segment();
                input = rest;
            } else if input == b".." {
                self.pop_segment();
                input = b"";
            } else {
                break;
            }
        }
        let end = input.iter().position(|&b| b == b'/').unwrap_or(input.len());
        let (segment, rest) = input.split_at(end);
        self.out.put_byte(b'/')?;
        self.push_encoded(segment)?;
        self.push_path(rest)
    }

    /// Ends the URL; its parts go to `parts` only when all of it was written.
    #[cfg_attr(target_pointer_width = "64", inline(always))]
    fn finish_with_path(
        &mut self,
        path: &[u8],
        query: Option<&[u8]>,
        parts: &mut Option<Parts>,
    ) -> Result<(), UrlError> {
        self.push_path(path)?;
        if self.out.len == self.path_start {
            self.out.put_byte(b'/')?;
        }
        let mut query_start = None;
        if let Some(q) = query {
            query_start = Some(self.out.len);
            self.out.put_byte(b'?')?;
            self.push_encoded(q)?;
        }
        *parts = Some(Parts {
            len: self.out.len,
            scheme: self.scheme,
            port: self.port,
            host_kind: self.host_kind,
            host: self.host,
            path_start: self.path_start,
            query_start,
        });
        Ok(())
    }
}

fn parse_port(digits: &[u8]) -> Result<u16, UrlError> {
    if digits.is_empty() || digits.len() > 5 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(UrlError::InvalidPort);
    }
    let value = digits
        .iter()
        .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'));
    match u16::try_from(value) {
        Ok(0) | Err(_) => Err(UrlError::InvalidPort),
        Ok(port) => Ok(port),
    }
}

/// The first byte of `host` that a host name may not hold.
fn host_stop(host: &[u8]) -> Option<usize> {
    crate::scan::find_flagged(host, crate::scan::byte_table!(not_in_host), not_in_host)
}

/// Bytes a host name may not hold: everything but letters, digits, `-`, `.`, `_` and `~`.
const fn not_in_host(c: u8) -> bool {
    !(c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~'))
}

/// Bytes that may not appear raw in a path or query and are percent-encoded. `%` itself stays, so
/// an already encoded URL is not encoded twice.
const fn needs_encoding(b: u8) -> bool {
    b <= b' '
        || b >= 0x7F
        || matches!(
            b,
            b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
        )
}

/// Writes the percent-decoded form of `s` to `out` (`+` is left alone: it is not a space in
/// RFC 3986 query strings). Malformed escapes are copied through unchanged.
pub fn percent_decode<W: fmt::Write + ?Sized>(s: &str, out: &mut W) -> fmt::Result {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut pending = [0u8; 4];
    let mut pending_len = 0;
    while let Some(&b) = bytes.get(i) {
        let mut byte = b;
        if b == b'%' {
            let hi = bytes.get(i + 1).and_then(|&c| hex_value(c));
            let lo = bytes.get(i + 2).and_then(|&c| hex_value(c));
            if let (Some(hi), Some(lo)) = (hi, lo) {
                byte = hi << 4 | lo;
                i += 2;
            }
        }
        i += 1;
        // Decoded bytes may form multi-byte UTF-8: emit complete characters, and each invalid
        // sequence as U+FFFD.
        if let Some(slot) = pending.get_mut(pending_len) {
            *slot = byte;
            pending_len += 1;
        }
        loop {
            let chunk = pending.get(..pending_len).unwrap_or_default();
            match core::str::from_utf8(chunk) {
                Ok(text) => {
                    out.write_str(text)?;
                    pending_len = 0;
                }
                Err(e) => {
                    if let Some(bad) = e.error_len() {
                        out.write_char(char::REPLACEMENT_CHARACTER)?;
                        crate::cursor::move_down(&mut pending, bad..pending_len, 0);
                        pending_len -= bad;
                        continue;
                    }
                }
            }
            break;
        }
    }
    if pending_len > 0 {
        out.write_char(char::REPLACEMENT_CHARACTER)?;
    }
    Ok(())
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Iterates `key=value` pairs of a query string (undecoded), skipping empty pairs.
pub fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    // Byte splits at ASCII `&` and `=`, which are always character boundaries: no char
    // pattern searcher.
    let mut rest = query;
    core::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let b = rest.as_bytes();
        let end = b.iter().position(|&c| c == b'&').unwrap_or(b.len());
        let (pair, tail) = (
            rest.get(..end).unwrap_or(""),
            rest.get(end + 1..).unwrap_or(""),
        );
        rest = tail;
        if pair.is_empty() {
            continue;
        }
        let pb = pair.as_bytes();
        return Some(match pb.iter().position(|&c| c == b'=') {
            Some(i) => (pair.get(..i).unwrap_or(""), pair.get(i + 1..).unwrap_or("")),
            None => (pair, ""),
        });
    })
}

/// Whether the query's first `key` pair has the value `expected` once percent-decoded (a
/// missing key does not match). Compares as it decodes: nothing is copied.
pub fn query_value_is(query: &[u8], key: &str, expected: &str) -> bool {
    /// Consumes `rest` as long as what is written matches it.
    struct Match<'e> {
        rest: &'e [u8],
    }
    impl fmt::Write for Match<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.rest = self.rest.strip_prefix(s.as_bytes()).ok_or(fmt::Error)?;
            Ok(())
        }
    }
    let Ok(query) = core::str::from_utf8(query) else {
        return false;
    };
    let Some((_, value)) = query_pairs(query).find(|(k, _)| *k == key) else {
        return false;
    };
    let mut m = Match {
        rest: expected.as_bytes(),
    };
    percent_decode(value, &mut m).is_ok() && m.rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    type U = Url<256>;

    fn parse(s: &str) -> Result<U, UrlError> {
        U::parse(s.as_bytes())
    }

    /// A plain reference resolves to exactly what the careful path makes of it, and everything
    /// the careful path must see (a byte to encode, trim or drop, a fragment) is not plain.
    #[test]
    fn plain_references_resolve_as_the_careful_path_does() {
        let base = parse("http://API.test:8080/v0.2/checks/c1/redirect?x=1").unwrap();
        let plain = [
            "/v0.2/checks/c1/a1",
            "http://opa.test/he/1?check_id=c1&redirect=http%3A%2F%2Fapi.test%2Fcb",
            "HTTPS://Opb.Test:443/auth/1?sid=4e&x=a.b",
            "2?step=2",
            "../he/4",
            "./a/./b/../c?",
            "?only=query",
            "",
            "//other.test",
            "http:rel/ative",
            "https://[2001:db8::1]:8443/x",
            "http://u@h/",
            "ftp://h/",
        ];
        for r in plain {
            assert!(FAVOUR_SPEED_IS_OFF || is_plain(r.as_bytes()), "{r}");
            let (mut fast, mut careful) = ([0u8; 256], [0u8; 256]);
            let (mut a, mut b) = (None, None);
            let ra = join_as::<true>(&base.as_ref(), r.as_bytes(), &mut fast, &mut [], &mut a);
            let rb = join_as::<false>(&base.as_ref(), r.as_bytes(), &mut careful, &mut [], &mut b);
            assert_eq!((ra, a), (rb, b), "{r}");
            if let Some(p) = a {
                assert_eq!(fast[..p.len()], careful[..p.len()], "{r}");
            }
            if r.starts_with("http") {
                let (mut a, mut b) = (None, None);
                let ra = parse_as::<true>(r.as_bytes(), &mut fast, &mut [], &mut a);
                let rb = parse_as::<false>(r.as_bytes(), &mut careful, &mut [], &mut b);
                assert_eq!((ra, a), (rb, b), "{r}");
            }
        }
        for r in ["/a b", "/a#f", " /a", "/a\tb", "/\u{e9}", "/a\"", "/{x}"] {
            assert!(!is_plain(r.as_bytes()), "{r}");
        }
    }

    /// `is_plain` is never true on 32-bit targets (they build only the careful path).
    const FAVOUR_SPEED_IS_OFF: bool = !crate::scan::FAVOUR_SPEED;

    /// The 32-bit (small) test for dot segments says what the fast one says.
    #[test]
    fn dot_segment_forms_agree() {
        crate::scan::every_string(b"./a", 10, |path| {
            let small = path.first() == Some(&b'.') || path.windows(2).any(|w| w == b"/.");
            assert_eq!(may_have_dot_segment(path), small, "{path:?}");
        });
    }

    /// The 32-bit (small) form finds the same fragment and query as the fast form, for every
    /// string of up to nine bytes (past one eight-byte word) over the bytes that matter.
    #[test]
    fn fragment_and_query_forms_agree() {
        crate::scan::every_string(b"#?a/", 9, |input| {
            assert_eq!(
                fragment_and_query(input, true),
                fragment_and_query(input, false),
                "{input:?}"
            );
        });
    }

    #[test]
    fn parts_of_a_plain_url() {
        let u = parse("HTTPS://Mno.Example:443/a/b?x=1#frag").unwrap();
        assert_eq!(u.as_str(), "https://mno.example/a/b?x=1");
        assert_eq!(u.scheme(), Scheme::Https);
        assert_eq!(u.host(), "mno.example");
        assert_eq!(u.port(), 443);
        assert_eq!(u.authority(), "mno.example");
        assert_eq!(u.target(), "/a/b?x=1");
        assert_eq!(u.path(), "/a/b");
        assert_eq!(u.query(), Some("x=1"));
        assert_eq!(u.host_kind(), HostKind::Domain);
    }

    #[test]
    fn non_default_port_is_kept_and_empty_path_becomes_slash() {
        let u = parse("http://h:8080").unwrap();
        assert_eq!(u.as_str(), "http://h:8080/");
        assert_eq!(u.authority(), "h:8080");
        assert_eq!(u.port(), 8080);
        assert_eq!(parse("http://h:/p").unwrap().as_str(), "http://h/p");
    }

    #[test]
    #[cfg(not(feature = "ipv6"))]
    fn without_the_ipv6_feature_an_ipv6_literal_is_refused_by_name() {
        for url in [
            "http://[2001:db8::1]:8080/x",
            "http://[::1]/",
            "http://[zz::1]/",
        ] {
            assert_eq!(parse(url), Err(UrlError::Ipv6LiteralNotBuilt), "{url}");
        }
        let base = parse("http://a.test/p").unwrap();
        assert_eq!(base.join(b"//[::1]/q"), Err(UrlError::Ipv6LiteralNotBuilt));
        assert_eq!(
            parse("http://192.0.2.1/").unwrap().host_kind(),
            HostKind::Ipv4
        );
    }

    #[test]
    #[cfg(feature = "ipv6")]
    fn ip_literals_are_recognised_and_ipv6_is_canonical_and_bracketed() {
        let u = parse("http://[2001:DB8:0:0::1]:8080/x").unwrap();
        assert_eq!(u.as_str(), "http://[2001:db8::1]:8080/x");
        assert_eq!(u.host(), "2001:db8::1");
        assert_eq!(u.authority(), "[2001:db8::1]:8080");
        assert_eq!(u.host_kind(), HostKind::Ipv6);
        assert_eq!(
            parse("http://192.0.2.1/").unwrap().host_kind(),
            HostKind::Ipv4
        );
        assert_eq!(parse("http://[zz::1]/"), Err(UrlError::InvalidHost));
        assert_eq!(parse("http://[::1]x/"), Err(UrlError::InvalidHost));
        assert_eq!(parse("http://[::1/"), Err(UrlError::InvalidHost));
    }

    #[test]
    fn bad_urls_get_precise_errors() {
        assert_eq!(parse("ftp://h/"), Err(UrlError::UnsupportedScheme));
        assert_eq!(parse("tel:+4412345"), Err(UrlError::UnsupportedScheme));
        assert_eq!(parse("/just/a/path"), Err(UrlError::MissingScheme));
        assert_eq!(parse("http:///p"), Err(UrlError::MissingHost));
        assert_eq!(parse("http:p"), Err(UrlError::MissingHost));
        assert_eq!(parse("http://u:p@h/"), Err(UrlError::UserinfoNotAllowed));
        assert_eq!(parse("http://bücher.example/"), Err(UrlError::NonAsciiHost));
        assert_eq!(parse("http://a b/"), Err(UrlError::InvalidHost));
        assert_eq!(parse("http://h:0/"), Err(UrlError::InvalidPort));
        assert_eq!(parse("http://h:65536/"), Err(UrlError::InvalidPort));
        assert_eq!(parse("http://h:8x/"), Err(UrlError::InvalidPort));
    }

    #[test]
    fn capacity_is_an_error_not_a_truncation() {
        let long = "http://h/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        assert_eq!(
            Url::<32>::parse(long.as_bytes()),
            Err(UrlError::TooLong { capacity: 32 })
        );
        let exact = "http://h/123456789012345678901"; // 30 bytes
        assert_eq!(Url::<30>::parse(exact.as_bytes()).unwrap().as_str(), exact);
    }

    #[test]
    fn unsafe_bytes_are_percent_encoded() {
        let u = parse("http://h/a b/\"q\"?x=a b&y=\0\x7fé").unwrap();
        assert_eq!(u.as_str(), "http://h/a%20b/%22q%22?x=a%20b&y=%00%7F%C3%A9");
    }

    #[test]
    fn tabs_and_newlines_are_dropped_as_browsers_do() {
        let u = parse("ht\rtp://h/a\n\tb?c=\r\nd").unwrap();
        assert_eq!(u.as_str(), "http://h/ab?c=d");
        let already = parse("http://h/a%20b?x=%41").unwrap();
        assert_eq!(already.as_str(), "http://h/a%20b?x=%41");
    }

    #[test]
    fn surrounding_whitespace_is_trimmed() {
        assert_eq!(parse("  http://h/p \t").unwrap().as_str(), "http://h/p");
    }

    #[test]
    fn same_origin_compares_scheme_host_and_port() {
        let a = parse("https://h/a").unwrap();
        assert!(a.same_origin(&parse("https://H:443/b?c").unwrap()));
        assert!(!a.same_origin(&parse("http://h/a").unwrap()));
        assert!(!a.same_origin(&parse("https://h:8443/a").unwrap()));
        assert!(!a.same_origin(&parse("https://g/a").unwrap()));
    }

    #[test]
    fn percent_decoding() {
        let mut s: String<64> = String::new();
        percent_decode("a%20b%2Fc%zz%4", &mut s).unwrap();
        assert_eq!(s, "a b/c%zz%4");
        let mut s: String<64> = String::new();
        percent_decode("%C3%A9%FF", &mut s).unwrap();
        assert_eq!(s, "é\u{FFFD}");
    }

    #[test]
    fn dot_segment_screen_never_misses_one() {
        for path in [&b"/v0.2/checks"[..], b"/a.html", b"/a/b.", b"", b"/"] {
            assert!(!may_have_dot_segment(path), "{path:?}");
        }
        for path in [&b"/./a"[..], b"/a/../b", b".", b"..", b"/.x", b"a/."] {
            assert!(may_have_dot_segment(path), "{path:?}");
        }
        let u = U::parse(b"http://h/v0.2/./x/../y.z/..").unwrap();
        assert_eq!(u.as_str(), "http://h/v0.2/");
    }

    #[test]
    fn query_value_is_decodes_and_matches_whole_values() {
        let q = b"code=c1&state=a%2Fb&state=other";
        assert!(query_value_is(q, "state", "a/b"));
        assert!(!query_value_is(q, "state", "a/"));
        assert!(!query_value_is(q, "state", "a/bc"));
        assert!(!query_value_is(q, "nonce", ""));
        assert!(query_value_is(b"state=", "state", ""));
    }

    #[test]
    fn query_pairs_split() {
        let pairs: heapless::Vec<(&str, &str), 8> = query_pairs("a=1&&b&c=x=y").collect();
        assert_eq!(pairs.as_slice(), &[("a", "1"), ("b", ""), ("c", "x=y")]);
    }
}
