//! The incremental response reader: stages the head, parses it once, then de-frames the body.
//!
//! ```text
//!            bytes                  "\r\n\r\n" seen              framing decided
//!  ┌──────┐ ───────► stage in ──────────────────► httparse ──┬──────────────────► Body ──► Complete
//!  │ Head │          head buffer    (scan only      (once)    │ 1xx: back to Head      │ (EOF ends a
//!  └──────┘          (HEAD bytes)   the new bytes)            │ HEAD/204/304: Complete │  read-to-close
//!                                                             └────────────────────────┘  body)
//! ```
//!
//! The reader is driven with [`ResponseReader::step`], httparse-style: it consumes what it can of
//! the input and says what it found ([`Step`]). Body data comes back as slices of the input, so
//! nothing is copied unless the caller wants to keep it. After [`Step::Head`] the head's status and
//! headers stay readable from the reader until the next response starts.
//!
//! Framing follows RFC 9112 §6.3: no body for a `HEAD` request or a 204/304 response;
//! `Transfer-Encoding: chunked` wins over `Content-Length`; differing `Content-Length` values are an
//! error; otherwise `Content-Length`; otherwise the body runs to the end of the connection.

use core::fmt;

use crate::chunked::{Chunk, ChunkError, ChunkedDecoder};
use crate::scan::token_is;
use crate::text::{text, Piece};

/// Default head staging capacity in bytes (also the default `max_head_bytes` limit).
pub const DEFAULT_HEAD_CAPACITY: usize = 8 * 1024;
/// Default number of header fields a response head may have.
pub const DEFAULT_MAX_HEADERS: usize = 64;
/// How many interim (1xx) responses may precede the real one.
pub const MAX_INFORMATIONAL: u8 = 8;

/// Which part of the response a premature end interrupted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The status line and header fields.
    Head,
    /// The body.
    Body,
}

/// What was malformed in a response head (httparse's verdict, in our own type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadSyntax {
    /// The status line's version.
    Version,
    /// The status code.
    Status,
    /// A header field name.
    HeaderName,
    /// A header field value.
    HeaderValue,
    /// A line ending.
    NewLine,
    /// Some other token.
    Token,
}

impl HeadSyntax {
    /// The variant's name, as in messages.
    pub const fn name(self) -> &'static str {
        match self {
            HeadSyntax::Version => "Version",
            HeadSyntax::Status => "Status",
            HeadSyntax::HeaderName => "HeaderName",
            HeadSyntax::HeaderValue => "HeaderValue",
            HeadSyntax::NewLine => "NewLine",
            HeadSyntax::Token => "Token",
        }
    }
}

/// Why a response could not be read. Small and `Copy`, like httparse's errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseError {
    /// The head is larger than the head limit.
    HeadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The head has more header fields than the reader has room for.
    TooManyHeaders {
        /// The header-count capacity.
        limit: usize,
    },
    /// The head is not valid HTTP/1.x.
    MalformedHead(HeadSyntax),
    /// More interim (1xx) responses than [`MAX_INFORMATIONAL`].
    TooManyInformational,
    /// A `101 Switching Protocols` the client never asked for.
    UnexpectedSwitchingProtocols,
    /// `Content-Length` values that disagree.
    ConflictingContentLength,
    /// A `Content-Length` that is not a number.
    InvalidContentLength,
    /// A `Transfer-Encoding` other than `chunked`.
    UnsupportedTransferCoding,
    /// An HTTP/1.0 response with `Transfer-Encoding`: its framing cannot be trusted
    /// (RFC 9112 §6.1).
    TransferEncodingInHttp10,
    /// Bad chunked framing.
    Chunked(ChunkError),
    /// The connection ended before the response did.
    UnexpectedEof {
        /// Where the response was cut.
        part: Part,
    },
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.put(f)
    }
}

impl Piece for ResponseError {
    fn put(&self, f: &mut dyn fmt::Write) -> fmt::Result {
        match self {
            ResponseError::HeadTooLarge { limit } => {
                text!(f, "response head larger than the ", *limit, "-byte limit")
            }
            ResponseError::TooManyHeaders { limit } => {
                text!(f, "response has more than ", *limit, " header fields")
            }
            ResponseError::MalformedHead(what) => {
                text!(f, "malformed response head (", what.name(), ")")
            }
            ResponseError::TooManyInformational => {
                text!(f, "more than ", MAX_INFORMATIONAL, " interim 1xx responses")
            }
            ResponseError::UnexpectedSwitchingProtocols => {
                f.write_str("server switched protocols without being asked")
            }
            ResponseError::ConflictingContentLength => {
                f.write_str("response has conflicting Content-Length values")
            }
            ResponseError::InvalidContentLength => {
                f.write_str("response has an invalid Content-Length")
            }
            ResponseError::UnsupportedTransferCoding => {
                f.write_str("response uses a transfer coding other than chunked")
            }
            ResponseError::TransferEncodingInHttp10 => {
                f.write_str("HTTP/1.0 response with Transfer-Encoding: its framing is faulty")
            }
            ResponseError::Chunked(e) => text!(f, "bad chunked body framing (", e.name(), ")"),
            ResponseError::UnexpectedEof { part: Part::Head } => {
                f.write_str("connection closed before the response head was complete")
            }
            ResponseError::UnexpectedEof { part: Part::Body } => {
                f.write_str("connection closed before the response body was complete")
            }
        }
    }
}

impl From<ChunkError> for ResponseError {
    fn from(e: ChunkError) -> Self {
        ResponseError::Chunked(e)
    }
}

/// How the body of the current response is delimited.
#[derive(Clone, Debug)]
pub enum Framing {
    /// No body (HEAD request, 204, 304).
    None,
    /// `Content-Length` bytes remain.
    Length(u64),
    /// Chunked transfer coding.
    Chunked(ChunkedDecoder),
    /// The body runs until the connection closes.
    UntilClose,
}

/// What one [`ResponseReader::step`] found. `'h` is the head's lifetime (the caller's staging
/// area, or the input itself when a head arrives whole), `'i` the input's.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<'h, 'i> {
    /// All input was consumed and the response is not complete.
    NeedMore,
    /// An interim response with this status was read and skipped.
    Informational(u16),
    /// The final head was parsed.
    Head(Head<'h>),
    /// A piece of de-framed body, a slice of the input.
    Body(&'i [u8]),
    /// The response is complete; any input after it was not consumed.
    Complete,
}

/// A parsed response head, borrowed from wherever its bytes are. Valid HTTP/1.x: httparse has
/// accepted it, and any obs-fold has become spaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head<'h> {
    /// The status code.
    pub status: u16,
    /// `1` for HTTP/1.1, `0` for HTTP/1.0.
    pub minor_version: u8,
    raw: &'h [u8],
    fields: Fields,
}

/// Where the values the session reads sit in the head (offsets into its bytes), found while
/// httparse's header array was at hand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fields {
    location: Span,
    content_type: Span,
    date: Span,
    set_cookie: bool,
    /// The first `Set-Cookie` value, and how many there are.
    first_cookie: Span,
    cookies: u8,
}

/// A value's place in a head, as byte offsets. `u32`, as heads are held to `u32::MAX` bytes:
/// a parsed head then moves half as many bytes on its way to the session.
type Span = Option<(u32, u32)>;

/// The largest head accepted whatever the limits say: its offsets fit a [`Span`].
#[cfg(target_pointer_width = "64")]
const MAX_HEAD_BYTES: usize = u32::MAX as usize;

impl<'h> Head<'h> {
    /// The head's bytes, status line to blank line.
    pub fn as_bytes(&self) -> &'h [u8] {
        self.raw
    }

    /// All header fields, in order, as (name, value) with surrounding whitespace trimmed.
    pub fn headers(&self) -> impl Iterator<Item = (&'h [u8], &'h [u8])> + 'h {
        // Past any empty lines before the status line (httparse skips them), then past it.
        let lead = self.raw.iter().take_while(|&&b| b == b'\r' || b == b'\n');
        let raw = self.raw.get(lead.count()..).unwrap_or_default();
        let mut rest = raw
            .iter()
            .position(|&b| b == b'\n')
            .and_then(|i| raw.get(i + 1..))
            .unwrap_or_default();
        core::iter::from_fn(move || {
            let nl = rest.iter().position(|&b| b == b'\n')?;
            let line = rest.get(..nl)?;
            rest = rest.get(nl + 1..).unwrap_or_default();
            // A CR before the LF is the value's last byte, and `trim_ascii` drops it.
            let colon = line.iter().position(|&b| b == b':')?;
            let (name, value) = line.split_at(colon);
            Some((name.trim_ascii_end(), value.get(1..)?.trim_ascii()))
        })
    }

    /// Every value of the header `name` (case-insensitive), in order.
    pub fn header_values<'n>(&self, name: &'n str) -> impl Iterator<Item = &'h [u8]> + 'n
    where
        'h: 'n,
    {
        self.headers()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// The first value of the header `name`.
    pub fn header(&self, name: &str) -> Option<&'h [u8]> {
        self.header_values(name).next()
    }

    /// A value as httparse gave it: without the spaces and tabs around it (it trims those,
    /// and refuses any other control byte in a value), so no trim is needed. 32-bit targets
    /// trim all the same: measured on thumbv7em, the image is 360 B smaller with the trim.
    fn field(&self, at: Span) -> Option<&'h [u8]> {
        let (start, end) = at?;
        let value = self.raw.get(start as usize..end as usize)?;
        Some(if crate::scan::FAVOUR_SPEED {
            value
        } else {
            value.trim_ascii()
        })
    }

    /// The last `Location` value.
    pub fn location(&self) -> Option<&'h [u8]> {
        self.field(self.fields.location)
    }

    /// The first `Content-Type` value.
    pub fn content_type(&self) -> Option<&'h [u8]> {
        self.field(self.fields.content_type)
    }

    /// The first `Date` value.
    pub fn date(&self) -> Option<&'h [u8]> {
        self.field(self.fields.date)
    }

    /// The `Set-Cookie` values, in order.
    pub fn set_cookies(&self) -> impl Iterator<Item = &'h [u8]> + 'h {
        let one = (self.fields.cookies == 1)
            .then(|| self.field(self.fields.first_cookie))
            .flatten();
        let head = *self;
        one.into_iter().chain(
            (self.fields.cookies > 1)
                .then(move || head.header_values("set-cookie"))
                .into_iter()
                .flatten(),
        )
    }

    /// Whether a `Set-Cookie` is present.
    pub fn has_set_cookie(&self) -> bool {
        self.fields.set_cookie
    }
}

#[derive(Clone, Debug)]
enum Stage {
    Head,
    Body(Framing),
    Complete,
}

/// Reads one response (after any 1xx) at a time. It keeps only state: the caller lends the area
/// where a head that arrives in pieces is staged (`stage` in [`ResponseReader::step`]), and a head
/// that arrives whole is parsed where it is. `HEADERS` is how many header fields a head may have
/// (httparse's array, on the stack while parsing).
#[derive(Clone)]
pub struct ResponseReader<const HEADERS: usize = DEFAULT_MAX_HEADERS> {
    stage: Stage,
    /// Head bytes staged so far.
    staged: usize,
    head_limit: usize,
    /// Line-end scanner state: 0 mid-line, 1 after LF, 2 after LF CR, 3 before the status line
    /// (empty lines there do not end the head: httparse skips them, RFC 9112 §2.2).
    scan: u8,
    informational: u8,
    request_was_head: bool,
    status: u16,
    minor_version: u8,
    keep_alive: bool,
}

impl<const HEADERS: usize> fmt::Debug for ResponseReader<HEADERS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseReader")
            .field("stage", &self.stage)
            .field("status", &self.status)
            .field("staged", &self.staged)
            .finish()
    }
}

impl<const HEADERS: usize> Default for ResponseReader<HEADERS> {
    fn default() -> Self {
        Self::new(DEFAULT_HEAD_CAPACITY, false)
    }
}

/// What parsing a complete head found.
struct Parsed {
    len: usize,
    status: u16,
    minor_version: u8,
    framing: Framing,
    keep_alive: bool,
}

impl<const HEADERS: usize> ResponseReader<HEADERS> {
    /// A reader for the response to a `GET` (or, with `request_was_head`, a `HEAD`), accepting
    /// heads of at most `head_limit` bytes (and at most the staging area's size).
    pub fn new(head_limit: usize, request_was_head: bool) -> Self {
        ResponseReader {
            stage: Stage::Head,
            staged: 0,
            head_limit,
            scan: 3,
            informational: 0,
            request_was_head,
            status: 0,
            minor_version: 1,
            keep_alive: false,
        }
    }

    /// Forgets the last response and gets ready for the next one on the same connection.
    pub fn reset(&mut self, request_was_head: bool) {
        *self = Self::new(self.head_limit, request_was_head);
    }

    /// Sets the head limit for the next head.
    pub fn set_head_limit(&mut self, limit: usize) {
        self.head_limit = limit;
    }

    /// Consumes what it can of `input`; returns the bytes consumed and what was found. `stage`
    /// is where a head that arrives in pieces is collected; pass the same area every time.
    #[cfg_attr(target_pointer_width = "64", inline(always))]
    pub fn step<'h, 'i: 'h>(
        &mut self,
        stage: &'h mut [u8],
        input: &'i [u8],
    ) -> Result<(usize, Step<'h, 'i>), ResponseError> {
        match &mut self.stage {
            Stage::Head => self.step_head(stage, input),
            Stage::Body(framing) => {
                let (n, step) = match framing {
                    Framing::None => (0, Step::Complete),
                    Framing::Length(0) => (0, Step::Complete),
                    Framing::Length(remaining) => {
                        if input.is_empty() {
                            return Ok((0, Step::NeedMore));
                        }
                        // Fits a usize: at most the input's length.
                        let take = (*remaining).min(input.len() as u64) as usize;
                        *remaining -= take as u64;
                        (take, Step::Body(input.get(..take).unwrap_or_default()))
                    }
                    Framing::Chunked(decoder) => match decoder.decode(input)? {
                        (n, Chunk::Data(data)) => (n, Step::Body(data)),
                        (n, Chunk::NeedMore) => (n, Step::NeedMore),
                        (n, Chunk::Done) => (n, Step::Complete),
                    },
                    Framing::UntilClose if input.is_empty() => (0, Step::NeedMore),
                    Framing::UntilClose => (input.len(), Step::Body(input)),
                };
                if step == Step::Complete {
                    self.stage = Stage::Complete;
                }
                Ok((n, step))
            }
            Stage::Complete => Ok((0, Step::Complete)),
        }
    }

    /// Completes the response if nothing of its body is left to read (there is none, or all
    /// of a body of known length has been read): what the next `step` would find, whatever its
    /// input. Whether the response is complete.
    pub fn complete_if_read(&mut self) -> bool {
        if matches!(self.stage, Stage::Body(Framing::None | Framing::Length(0))) {
            self.stage = Stage::Complete;
        }
        matches!(self.stage, Stage::Complete)
    }

    /// The connection ended. Completes a read-to-close body; anything else was cut short.
    pub fn eof(&mut self) -> Result<(), ResponseError> {
        match &self.stage {
            Stage::Complete => Ok(()),
            Stage::Body(Framing::UntilClose | Framing::None | Framing::Length(0)) => {
                self.stage = Stage::Complete;
                Ok(())
            }
            Stage::Body(_) => Err(ResponseError::UnexpectedEof { part: Part::Body }),
            Stage::Head => Err(ResponseError::UnexpectedEof { part: Part::Head }),
        }
    }

    // Out of line where speed is favoured: `step` is called for every piece of a body too, and
    // should not pay for the head parser's stack frame each time.
    #[cfg_attr(target_pointer_width = "64", inline(never))]
    fn step_head<'h, 'i: 'h>(
        &mut self,
        stage: &'h mut [u8],
        input: &'i [u8],
    ) -> Result<(usize, Step<'h, 'i>), ResponseError> {
        let limit = self.head_limit.min(stage.len());
        if self.staged == 0 {
            // The usual case: the whole head is in this input. Parse it where it is.
            let mut fields = Fields::default();
            if let Some(parsed) = self.parse(input, limit, true, &mut fields)? {
                let raw = input.get(..parsed.len).unwrap_or_default();
                return Ok((parsed.len, self.accept(parsed, raw, fields)?));
            }
        }
        let mut end = None;
        for (i, &b) in input.iter().enumerate() {
            self.scan = match (self.scan, b) {
                (3, b'\r' | b'\n') => 3,
                (1 | 2, b'\n') => {
                    end = Some(i + 1);
                    break;
                }
                (_, b'\n') => 1,
                (1, b'\r') => 2,
                _ => 0,
            };
        }
        let take = end.unwrap_or(input.len());
        let total = self.staged + take;
        if total > limit {
            return Err(ResponseError::HeadTooLarge { limit });
        }
        stage
            .get_mut(self.staged..total)
            .ok_or(ResponseError::HeadTooLarge { limit })?
            .copy_from_slice(input.get(..take).unwrap_or_default());
        self.staged = total;
        if end.is_none() {
            return Ok((take, Step::NeedMore));
        }
        self.scan = 3;
        self.staged = 0;
        let staged = stage.get_mut(..total).unwrap_or_default();
        let mut fields = Fields::default();
        let parsed = self
            .parse(staged, limit, false, &mut fields)?
            .ok_or(ResponseError::MalformedHead(HeadSyntax::NewLine))?;
        // Obs-fold anywhere in the head (a value may start on the folded line, `X:\n  v`, so
        // the values alone do not show every fold). Only this path sees one: the fast path
        // refuses obs-fold.
        let folded = staged
            .get(..parsed.len)
            .unwrap_or_default()
            .windows(2)
            .any(|w| w.first() == Some(&b'\n') && matches!(w.get(1), Some(b' ' | b'\t')));
        if folded {
            unfold(staged);
        }
        Ok((take, self.accept(parsed, staged, fields)?))
    }

    /// Runs httparse over `bytes`; what the session reads goes into `fields` (filled in place:
    /// moving them in `Parsed` cost flash). `None` when the head is not complete there (or, on
    /// the fast path, when it uses obs-fold, which needs a copy it can rewrite). Inlined into both
    /// callers where speed is favoured (each copy then knows `fast`); one copy where flash is.
    #[cfg_attr(target_pointer_width = "64", inline(always))]
    fn parse(
        &self,
        bytes: &[u8],
        limit: usize,
        fast: bool,
        fields: &mut Fields,
    ) -> Result<Option<Parsed>, ResponseError> {
        let mut headers =
            [const { core::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; HEADERS];
        let mut response = httparse::Response::new(&mut []);
        let mut config = httparse::ParserConfig::default();
        // The fast path refuses obs-fold (httparse errs, and the head goes the staged way,
        // where it is unfolded), so it needs no scan of the values for line ends.
        config
            .allow_obsolete_multiline_headers_in_responses(!fast)
            .allow_spaces_after_header_name_in_responses(true)
            .allow_multiple_spaces_in_response_status_delimiters(true);
        let len =
            match config.parse_response_with_uninit_headers(&mut response, bytes, &mut headers) {
                Ok(httparse::Status::Complete(n)) => n,
                Ok(httparse::Status::Partial) => return Ok(None),
                // The staged path gives the same verdict, after the size limit, as for a head in
                // pieces.
                Err(_) if fast => return Ok(None),
                Err(httparse::Error::TooManyHeaders) => {
                    return Err(ResponseError::TooManyHeaders { limit: HEADERS })
                }
                Err(e) => return Err(ResponseError::MalformedHead(syntax(e))),
            };
        // (On 32-bit targets a `usize` is a `u32` already.)
        #[cfg(target_pointer_width = "64")]
        let limit = limit.min(MAX_HEAD_BYTES);
        if len > limit {
            return Err(ResponseError::HeadTooLarge { limit });
        }
        // Every value lies in the head's first `len` bytes, and `len` fits a `u32`.
        let base = bytes.as_ptr() as usize;
        let range = |v: &[u8]| {
            let start = (v.as_ptr() as usize).wrapping_sub(base);
            Some((start as u32, (start + v.len()) as u32))
        };
        let status = response.code.unwrap_or(0);
        let minor_version = response.version.unwrap_or(1);
        // One pass over httparse's array: framing fields, and what the session reads.
        let (mut close, mut keep_alive_token) = (false, false);
        let (mut coded, mut chunked, mut bad_coding) = (false, false, false);
        let mut length: Option<u64> = None;
        let mut has_length = false;
        let mut length_error = None;
        // The lengths of the names read below: most header fields are none of them, and a test
        // against this mask passes them by without the `match`'s jump (64-bit targets).
        const READ: u32 = 1 << 4 | 1 << 8 | 1 << 10 | 1 << 12 | 1 << 14 | 1 << 17;
        for h in response.headers.iter() {
            let (name, value) = (h.name.as_bytes(), h.value);
            if crate::scan::FAVOUR_SPEED && (name.len() >= 32 || READ >> name.len() & 1 == 0) {
                continue;
            }
            // Conditional branches, not a jump table: they follow the order fields come in.
            let n = name.len();
            if n == 4 && token_is(name, b"date") && fields.date.is_none() {
                fields.date = range(value);
            } else if n == 8 && token_is(name, b"location") {
                fields.location = range(value);
            } else if n == 10 && token_is(name, b"set-cookie") {
                fields.set_cookie = true;
                if fields.first_cookie.is_none() {
                    fields.first_cookie = range(value);
                }
                fields.cookies = fields.cookies.saturating_add(1);
            } else if n == 10 && token_is(name, b"connection") {
                // Almost always a single token: no list splitting for it.
                if crate::scan::FAVOUR_SPEED && token_is(value, b"keep-alive") {
                    keep_alive_token = true;
                } else {
                    for t in list_items(value) {
                        close |= token_is(t, b"close");
                        keep_alive_token |= token_is(t, b"keep-alive");
                    }
                }
            } else if n == 12 && token_is(name, b"content-type") && fields.content_type.is_none() {
                fields.content_type = range(value);
            } else if n == 14 && token_is(name, b"content-length") {
                has_length = true;
                let mut note = |n: Option<u64>| match n {
                    None => {
                        length_error = length_error.or(Some(ResponseError::InvalidContentLength))
                    }
                    Some(n) if length.is_some_and(|l| l != n) => {
                        length_error =
                            length_error.or(Some(ResponseError::ConflictingContentLength))
                    }
                    Some(n) => length = Some(n),
                };
                // Almost always plain digits, a list of one: no splitting then.
                let single = if crate::scan::FAVOUR_SPEED {
                    parse_decimal(value)
                } else {
                    None
                };
                match single {
                    Some(n) => note(Some(n)),
                    None => list_items(value).for_each(|item| note(parse_decimal(item))),
                }
            } else if n == 17 && token_is(name, b"transfer-encoding") {
                coded = true;
                for t in list_items(value) {
                    if chunked || !token_is(t, b"chunked") {
                        bad_coding = true;
                    }
                    chunked = true;
                }
            }
        }
        let keep_alive = if minor_version >= 1 {
            !close
        } else {
            keep_alive_token
        };
        let (framing, keep_alive) = if self.request_was_head
            || status == 204
            || status == 304
            || (100..200).contains(&status)
        {
            (Framing::None, keep_alive)
        } else if coded && minor_version == 0 {
            return Err(ResponseError::TransferEncodingInHttp10);
        } else if coded && (bad_coding || !chunked) {
            return Err(ResponseError::UnsupportedTransferCoding);
        } else if chunked {
            (
                Framing::Chunked(ChunkedDecoder::new(self.head_limit)),
                keep_alive && !has_length,
            )
        } else if let Some(e) = length_error {
            return Err(e);
        } else {
            match length {
                Some(n) => (Framing::Length(n), keep_alive),
                None => (Framing::UntilClose, false),
            }
        };
        Ok(Some(Parsed {
            len,
            status,
            minor_version,
            framing,
            keep_alive,
        }))
    }

    fn accept<'h, 'i>(
        &mut self,
        parsed: Parsed,
        raw: &'h [u8],
        fields: Fields,
    ) -> Result<Step<'h, 'i>, ResponseError> {
        self.status = parsed.status;
        self.minor_version = parsed.minor_version;
        if (100..200).contains(&parsed.status) {
            if parsed.status == 101 {
                return Err(ResponseError::UnexpectedSwitchingProtocols);
            }
            self.informational += 1;
            if self.informational > MAX_INFORMATIONAL {
                return Err(ResponseError::TooManyInformational);
            }
            return Ok(Step::Informational(parsed.status));
        }
        self.keep_alive = parsed.keep_alive && !matches!(parsed.framing, Framing::UntilClose);
        self.stage = Stage::Body(parsed.framing);
        Ok(Step::Head(Head {
            status: parsed.status,
            minor_version: parsed.minor_version,
            raw,
            fields,
        }))
    }

    /// The status code of the last parsed head (0 before one is parsed).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// `1` for HTTP/1.1, `0` for HTTP/1.0.
    pub fn minor_version(&self) -> u8 {
        self.minor_version
    }

    /// Whether the body has been read to its end.
    pub fn is_complete(&self) -> bool {
        matches!(self.stage, Stage::Complete)
    }

    /// Whether the head has been parsed (the body may still be arriving).
    pub fn has_head(&self) -> bool {
        !matches!(self.stage, Stage::Head)
    }

    /// Whether the server lets the connection stay open after this response: HTTP/1.1 without
    /// `Connection: close`, or HTTP/1.0 with `Connection: keep-alive`, and a body that does not
    /// run to close.
    pub fn server_keeps_alive(&self) -> bool {
        self.keep_alive
    }

    /// Whether the current body is delimited by the connection closing.
    pub fn reads_until_close(&self) -> bool {
        matches!(self.stage, Stage::Body(Framing::UntilClose))
    }
}

/// RFC 9112 §5.2: a recipient replaces each obs-fold with spaces before using the value. The
/// head's own line ends are kept; only a line end followed by a space or tab is a fold.
fn unfold(head: &mut [u8]) {
    // Back to front, remembering the two bytes after each as they were (0 past the end).
    let (mut next, mut after) = (0u8, 0u8);
    for b in head.iter_mut().rev() {
        let byte = *b;
        let is_fold = match byte {
            b'\n' => matches!(next, b' ' | b'\t'),
            b'\r' => next == b'\n' && matches!(after, b' ' | b'\t'),
            _ => false,
        };
        if is_fold {
            *b = b' ';
        }
        (next, after) = (byte, next);
    }
}

/// Items of a comma-separated header list, trimmed, empty items skipped.
pub fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(|item| item.trim_ascii())
        .filter(|item| !item.is_empty())
}

fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    // One pass: a non-digit and an overflow both give `None`.
    digits.iter().try_fold(0u64, |acc, &d| {
        let d = d.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(d))
    })
}

fn syntax(e: httparse::Error) -> HeadSyntax {
    match e {
        httparse::Error::HeaderName => HeadSyntax::HeaderName,
        httparse::Error::HeaderValue => HeadSyntax::HeaderValue,
        httparse::Error::NewLine => HeadSyntax::NewLine,
        httparse::Error::Status => HeadSyntax::Status,
        httparse::Error::Version => HeadSyntax::Version,
        _ => HeadSyntax::Token,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec as StdVec;

    /// Reads `input` in pieces of `step` bytes; returns (status, body, complete).
    fn read(input: &[u8], step: usize) -> Result<(u16, StdVec<u8>, bool), ResponseError> {
        let mut r: ResponseReader = ResponseReader::default();
        let mut stage = [0u8; DEFAULT_HEAD_CAPACITY];
        let mut body = StdVec::new();
        for piece in input.chunks(step.max(1)) {
            let mut rest = piece;
            loop {
                let (n, s) = r.step(&mut stage, rest)?;
                match s {
                    Step::NeedMore => break,
                    Step::Body(b) => body.extend_from_slice(b),
                    Step::Complete => return Ok((r.status(), body, true)),
                    Step::Informational(_) | Step::Head(_) => {}
                }
                rest = &rest[n..];
            }
        }
        r.eof()?;
        Ok((r.status(), body, r.is_complete()))
    }

    #[test]
    fn content_length_body() {
        let res = read(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA", 3).unwrap();
        assert_eq!(res, (200, b"hello".to_vec(), true));
    }

    #[test]
    fn zero_length_completes_without_more_input() {
        let mut r: ResponseReader = ResponseReader::default();
        let mut stage = [0u8; 256];
        let input = b"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n";
        let (n, step) = r.step(&mut stage, input).unwrap();
        let Step::Head(head) = step else {
            panic!("{step:?}")
        };
        assert_eq!(n, input.len());
        assert_eq!(head.header("location"), Some(&b"/x"[..]));
        assert_eq!(r.step(&mut stage, b"").unwrap(), (0, Step::Complete));
        assert!(r.server_keeps_alive());
    }

    /// The fields the session reads come without the blanks around them, in one piece or
    /// staged, folded or not: httparse trims them, and `field` relies on that.
    #[test]
    fn read_fields_come_trimmed() {
        let head = b"HTTP/1.1 302 Found\r\nLocation: \t /x \t\r\nContent-Type:\ttext/html \r\n\
                     Date:  Sun, 06 Nov 1994 08:49:37 GMT\t\r\nContent-Length: 0\r\n\r\n";
        let folded = b"HTTP/1.1 302 Found\r\nLocation: /x \r\n \r\nContent-Type: text/html\r\n\
                       \t\r\nDate: Sun, 06 Nov 1994\r\n 08:49:37 GMT \r\nContent-Length: 0\r\n\r\n";
        for (input, date) in [
            (&head[..], &b"Sun, 06 Nov 1994 08:49:37 GMT"[..]),
            (&folded[..], &b"Sun, 06 Nov 1994   08:49:37 GMT"[..]),
        ] {
            for cut in [input.len(), 20] {
                let mut r: ResponseReader = ResponseReader::default();
                let mut stage = [0u8; 512];
                let (first, rest) = input.split_at(cut);
                let (n, step) = r.step(&mut stage, first).unwrap();
                assert_eq!(n, first.len());
                let step = if rest.is_empty() {
                    step
                } else {
                    assert_eq!(step, Step::NeedMore);
                    r.step(&mut stage, rest).unwrap().1
                };
                let Step::Head(head) = step else {
                    panic!("{step:?}")
                };
                assert_eq!(head.location(), Some(&b"/x"[..]));
                assert_eq!(head.content_type(), Some(&b"text/html"[..]));
                assert_eq!(head.date(), Some(date));
            }
        }
    }

    #[test]
    fn complete_if_read_only_once_nothing_is_left() {
        let mut r: ResponseReader = ResponseReader::default();
        let mut stage = [0u8; 256];
        assert!(!r.complete_if_read(), "before the head");
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        assert!(matches!(r.step(&mut stage, head).unwrap().1, Step::Head(_)));
        assert!(!r.complete_if_read(), "five bytes to come");
        assert_eq!(
            r.step(&mut stage, b"hel").unwrap(),
            (3, Step::Body(&b"hel"[..]))
        );
        assert!(!r.complete_if_read(), "two bytes to come");
        assert_eq!(
            r.step(&mut stage, b"lo").unwrap(),
            (2, Step::Body(&b"lo"[..]))
        );
        assert!(r.complete_if_read());
        assert!(r.is_complete());
        assert_eq!(r.step(&mut stage, b"").unwrap(), (0, Step::Complete));

        // A chunked body and one read to the close are never complete before their end.
        for head in [
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            &b"HTTP/1.1 200 OK\r\n\r\n"[..],
        ] {
            let mut r: ResponseReader = ResponseReader::default();
            assert!(matches!(r.step(&mut stage, head).unwrap().1, Step::Head(_)));
            assert!(!r.complete_if_read());
        }
    }

    #[test]
    fn no_body_for_head_204_304() {
        for status in [204, 304] {
            let text = std::format!("HTTP/1.1 {status} X\r\nContent-Length: 10\r\n\r\n");
            let res = read(text.as_bytes(), 1).unwrap();
            assert_eq!(res, (status, StdVec::new(), true));
        }
        let mut r: ResponseReader = ResponseReader::new(DEFAULT_HEAD_CAPACITY, true);
        let mut stage = [0u8; 256];
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
        assert!(matches!(
            r.step(&mut stage, input).unwrap().1,
            Step::Head(_)
        ));
        assert_eq!(r.step(&mut stage, b"").unwrap().1, Step::Complete);
    }

    #[test]
    fn chunked_wins_over_content_length_and_the_connection_closes_after() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        assert_eq!(read(input, 4).unwrap(), (200, b"hello".to_vec(), true));
        let mut r: ResponseReader = ResponseReader::default();
        let mut stage = [0u8; 256];
        r.step(&mut stage, input).unwrap();
        assert!(!r.server_keeps_alive());
    }

    #[test]
    fn transfer_encoding_in_http10_is_faulty_framing() {
        let input = b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        assert_eq!(
            read(input, 100),
            Err(ResponseError::TransferEncodingInHttp10)
        );
    }

    #[test]
    fn content_length_lists_must_agree() {
        let same = b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(read(same, 100).unwrap(), (200, b"ok".to_vec(), true));
        let differ = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok";
        assert_eq!(
            read(differ, 100),
            Err(ResponseError::ConflictingContentLength)
        );
        let bad = b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n";
        assert_eq!(read(bad, 100), Err(ResponseError::InvalidContentLength));
        let huge = b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n";
        assert_eq!(read(huge, 100), Err(ResponseError::InvalidContentLength));
    }

    #[test]
    fn other_transfer_codings_are_refused() {
        let gz = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        assert_eq!(read(gz, 100), Err(ResponseError::UnsupportedTransferCoding));
    }

    #[test]
    fn read_to_close_and_keep_alive_rules() {
        let input = b"HTTP/1.1 200 OK\r\n\r\nall of it";
        assert_eq!(read(input, 2).unwrap(), (200, b"all of it".to_vec(), true));

        let mut r: ResponseReader = ResponseReader::default();
        let mut stage = [0u8; 256];
        r.step(&mut stage, b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        assert!(!r.server_keeps_alive());
        r.reset(false);
        r.step(
            &mut stage,
            b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        assert!(r.server_keeps_alive());
        r.reset(false);
        r.step(
            &mut stage,
            b"HTTP/1.1 200 OK\r\nConnection: foo, close\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        assert!(!r.server_keeps_alive());
    }

    #[test]
    fn eof_inside_head_or_length_body_is_an_error() {
        assert_eq!(
            read(b"HTTP/1.1 200 OK\r\nContent-Le", 100),
            Err(ResponseError::UnexpectedEof { part: Part::Head })
        );
        assert_eq!(
            read(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", 100),
            Err(ResponseError::UnexpectedEof { part: Part::Body })
        );
    }

    #[test]
    fn switching_protocols_and_endless_interim_responses_are_refused() {
        assert_eq!(
            read(b"HTTP/1.1 101 Switching\r\n\r\n", 100),
            Err(ResponseError::UnexpectedSwitchingProtocols)
        );
        let many = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(9);
        assert_eq!(read(&many, 100), Err(ResponseError::TooManyInformational));
    }

    #[test]
    fn head_and_header_limits() {
        // The limit is the smaller of the policy's and the staging area's.
        let mut r: ResponseReader = ResponseReader::default();
        let mut stage = [0u8; 64];
        let long =
            b"HTTP/1.1 200 OK\r\nX-Long: 0123456789012345678901234567890123456789012345\r\n\r\n";
        assert_eq!(
            r.step(&mut stage, long),
            Err(ResponseError::HeadTooLarge { limit: 64 })
        );
        let mut r: ResponseReader = ResponseReader::new(64, false);
        let mut stage = [0u8; 1024];
        assert_eq!(
            r.step(&mut stage, long),
            Err(ResponseError::HeadTooLarge { limit: 64 })
        );

        let mut r: ResponseReader<2> = ResponseReader::default();
        let three = b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        assert_eq!(
            r.step(&mut stage, three),
            Err(ResponseError::TooManyHeaders { limit: 2 })
        );
    }

    /// Every head of up to seven bytes from the bytes that matter, against the obvious
    /// front-to-back rewrite.
    #[test]
    fn unfold_agrees_with_a_forward_scan() {
        crate::scan::every_string(b"\r\n \ta", 7, |head| {
            let mut want = head.to_vec();
            for i in 0..want.len() {
                let fold = |j: usize| matches!(head.get(j), Some(b' ' | b'\t'));
                let is_fold = match head[i] {
                    b'\n' => fold(i + 1),
                    b'\r' => head.get(i + 1) == Some(&b'\n') && fold(i + 2),
                    _ => false,
                };
                if is_fold {
                    want[i] = b' ';
                }
            }
            let mut head = head.to_vec();
            unfold(&mut head);
            assert_eq!(head, want);
        });
    }
}
