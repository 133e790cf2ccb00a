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

use heapless::Vec;

use crate::chunked::{Chunk, ChunkError, ChunkedDecoder};

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
        match self {
            ResponseError::HeadTooLarge { limit } => {
                write!(f, "response head larger than the {limit}-byte limit")
            }
            ResponseError::TooManyHeaders { limit } => {
                write!(f, "response has more than {limit} header fields")
            }
            ResponseError::MalformedHead(what) => write!(f, "malformed response head ({what:?})"),
            ResponseError::TooManyInformational => {
                write!(f, "more than {MAX_INFORMATIONAL} interim 1xx responses")
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
            ResponseError::Chunked(e) => write!(f, "bad chunked body framing ({e:?})"),
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

/// What one [`ResponseReader::step`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<'i> {
    /// All input was consumed and the response is not complete.
    NeedMore,
    /// An interim response with this status was read and skipped.
    Informational(u16),
    /// The final head was parsed; read it through the reader's accessors.
    Head,
    /// A piece of de-framed body, a slice of the input.
    Body(&'i [u8]),
    /// The response is complete; any input after it was not consumed.
    Complete,
}

#[derive(Clone, Copy, Debug)]
struct Span {
    name: (u32, u32),
    value: (u32, u32),
}

#[derive(Clone, Debug)]
enum Stage {
    Head,
    Body(Framing),
    Complete,
}

/// Reads one response (after any 1xx) at a time. `HEAD` is the staging capacity in bytes,
/// `HEADERS` the header-field capacity; a head beyond either is an error.
#[derive(Clone)]
pub struct ResponseReader<
    const HEAD: usize = DEFAULT_HEAD_CAPACITY,
    const HEADERS: usize = DEFAULT_MAX_HEADERS,
> {
    stage: Stage,
    head: Vec<u8, HEAD>,
    head_limit: usize,
    /// Line-end scanner state: 0 mid-line, 1 after LF, 2 after LF CR.
    scan: u8,
    informational: u8,
    request_was_head: bool,
    status: u16,
    minor_version: u8,
    spans: Vec<Span, HEADERS>,
}

impl<const HEAD: usize, const HEADERS: usize> fmt::Debug for ResponseReader<HEAD, HEADERS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseReader")
            .field("stage", &self.stage)
            .field("status", &self.status)
            .field("head_bytes", &self.head.len())
            .finish()
    }
}

impl<const HEAD: usize, const HEADERS: usize> Default for ResponseReader<HEAD, HEADERS> {
    fn default() -> Self {
        Self::new(HEAD, false)
    }
}

impl<const HEAD: usize, const HEADERS: usize> ResponseReader<HEAD, HEADERS> {
    /// A reader for the response to a `GET` (or, with `request_was_head`, a `HEAD`), accepting
    /// heads of at most `head_limit` bytes (capped at `HEAD`).
    pub fn new(head_limit: usize, request_was_head: bool) -> Self {
        ResponseReader {
            stage: Stage::Head,
            head: Vec::new(),
            head_limit: head_limit.min(HEAD),
            scan: 0,
            informational: 0,
            request_was_head,
            status: 0,
            minor_version: 1,
            spans: Vec::new(),
        }
    }

    /// Forgets the last response and gets ready for the next one on the same connection.
    pub fn reset(&mut self, request_was_head: bool) {
        let limit = self.head_limit;
        *self = Self::new(limit, request_was_head);
    }

    /// Consumes what it can of `input`; returns the bytes consumed and what was found.
    pub fn step<'i>(&mut self, input: &'i [u8]) -> Result<(usize, Step<'i>), ResponseError> {
        match &mut self.stage {
            Stage::Head => self.step_head(input),
            Stage::Body(framing) => {
                let (n, step) = match framing {
                    Framing::None => (0, Step::Complete),
                    Framing::Length(0) => (0, Step::Complete),
                    Framing::Length(remaining) => {
                        if input.is_empty() {
                            return Ok((0, Step::NeedMore));
                        }
                        let take =
                            usize::try_from(*remaining).map_or(input.len(), |r| r.min(input.len()));
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

    /// The connection ended. Completes a read-to-close body; anything else was cut short.
    pub fn eof(&mut self) -> Result<(), ResponseError> {
        match &self.stage {
            Stage::Complete => Ok(()),
            Stage::Body(Framing::UntilClose) => {
                self.stage = Stage::Complete;
                Ok(())
            }
            Stage::Body(Framing::None | Framing::Length(0)) => {
                self.stage = Stage::Complete;
                Ok(())
            }
            Stage::Body(_) => Err(ResponseError::UnexpectedEof { part: Part::Body }),
            Stage::Head => Err(ResponseError::UnexpectedEof { part: Part::Head }),
        }
    }

    fn step_head<'i>(&mut self, input: &'i [u8]) -> Result<(usize, Step<'i>), ResponseError> {
        let mut end = None;
        for (i, &b) in input.iter().enumerate() {
            self.scan = match (self.scan, b) {
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
        if self.head.len() + take > self.head_limit {
            return Err(ResponseError::HeadTooLarge {
                limit: self.head_limit,
            });
        }
        self.head
            .extend_from_slice(input.get(..take).unwrap_or_default())
            .map_err(|_| ResponseError::HeadTooLarge {
                limit: self.head_limit,
            })?;
        if end.is_none() {
            return Ok((take, Step::NeedMore));
        }
        self.scan = 0;
        self.parse_head()?;
        if (100..200).contains(&self.status) {
            if self.status == 101 {
                return Err(ResponseError::UnexpectedSwitchingProtocols);
            }
            self.informational += 1;
            if self.informational > MAX_INFORMATIONAL {
                return Err(ResponseError::TooManyInformational);
            }
            let status = self.status;
            self.head.clear();
            self.spans.clear();
            return Ok((take, Step::Informational(status)));
        }
        let framing = self.framing()?;
        self.stage = Stage::Body(framing);
        Ok((take, Step::Head))
    }

    fn parse_head(&mut self) -> Result<(), ResponseError> {
        let mut headers = [httparse::EMPTY_HEADER; HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let mut config = httparse::ParserConfig::default();
        config
            .allow_obsolete_multiline_headers_in_responses(true)
            .allow_spaces_after_header_name_in_responses(true)
            .allow_multiple_spaces_in_response_status_delimiters(true);
        let parsed = config.parse_response(&mut response, &self.head);
        match parsed {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => {
                return Err(ResponseError::MalformedHead(HeadSyntax::NewLine))
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(ResponseError::TooManyHeaders { limit: HEADERS })
            }
            Err(e) => return Err(ResponseError::MalformedHead(syntax(e))),
        }
        self.status = response.code.unwrap_or(0);
        self.minor_version = response.version.unwrap_or(1);
        let base = self.head.as_ptr() as usize;
        self.spans.clear();
        for h in response.headers.iter() {
            let offset = |s: &[u8]| {
                let start = (s.as_ptr() as usize).wrapping_sub(base);
                (start as u32, (start + s.len()) as u32)
            };
            let span = Span {
                name: offset(h.name.as_bytes()),
                value: offset(h.value),
            };
            // Cannot fail: httparse returned at most HEADERS headers.
            let _ = self.spans.push(span);
        }
        // RFC 9112 §5.2: a recipient replaces each obs-fold with spaces before using the value.
        for span in &self.spans {
            let (start, end) = (span.value.0 as usize, span.value.1 as usize);
            if let Some(value) = self.head.get_mut(start..end) {
                for b in value.iter_mut().filter(|b| matches!(**b, b'\r' | b'\n')) {
                    *b = b' ';
                }
            }
        }
        Ok(())
    }

    fn framing(&self) -> Result<Framing, ResponseError> {
        if self.request_was_head || self.status == 204 || self.status == 304 {
            return Ok(Framing::None);
        }
        let mut chunked = false;
        let mut coded = false;
        for value in self.header_values("transfer-encoding") {
            for token in list_items(value) {
                if chunked || !token.eq_ignore_ascii_case(b"chunked") {
                    return Err(ResponseError::UnsupportedTransferCoding);
                }
                chunked = true;
                coded = true;
            }
        }
        if coded {
            return Ok(Framing::Chunked(ChunkedDecoder::new(self.head_limit)));
        }
        let mut length: Option<u64> = None;
        for value in self.header_values("content-length") {
            for item in list_items(value) {
                let n = parse_decimal(item).ok_or(ResponseError::InvalidContentLength)?;
                if length.is_some_and(|l| l != n) {
                    return Err(ResponseError::ConflictingContentLength);
                }
                length = Some(n);
            }
        }
        Ok(match length {
            Some(n) => Framing::Length(n),
            None => Framing::UntilClose,
        })
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

    /// The head's size in bytes, once parsed.
    pub fn head_len(&self) -> usize {
        self.head.len()
    }

    /// All header fields, in order, as (name, value).
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.spans.iter().map(move |s| {
            let get =
                |(a, b): (u32, u32)| self.head.get(a as usize..b as usize).unwrap_or_default();
            (get(s.name), get(s.value))
        })
    }

    /// Every value of the header `name` (case-insensitive), in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// The first value of the header `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// Whether the server lets the connection stay open after this response: HTTP/1.1 without
    /// `Connection: close`, or HTTP/1.0 with `Connection: keep-alive`, and a body that does not
    /// run to close.
    pub fn server_keeps_alive(&self) -> bool {
        if matches!(self.stage, Stage::Body(Framing::UntilClose)) {
            return false;
        }
        let has = |token: &[u8]| {
            self.header_values("connection")
                .flat_map(list_items)
                .any(|t| t.eq_ignore_ascii_case(token))
        };
        if self.minor_version >= 1 {
            !has(b"close")
        } else {
            has(b"keep-alive")
        }
    }

    /// Whether the current body is delimited by the connection closing.
    pub fn reads_until_close(&self) -> bool {
        matches!(self.stage, Stage::Body(Framing::UntilClose))
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
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
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
        let mut body = StdVec::new();
        for piece in input.chunks(step.max(1)) {
            let mut rest = piece;
            loop {
                let (n, s) = r.step(rest)?;
                rest = &rest[n..];
                match s {
                    Step::NeedMore => break,
                    Step::Body(b) => body.extend_from_slice(b),
                    Step::Complete => return Ok((r.status(), body, true)),
                    Step::Informational(_) | Step::Head => {}
                }
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
        let input = b"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(r.step(input).unwrap(), (input.len(), Step::Head));
        assert_eq!(r.step(b"").unwrap(), (0, Step::Complete));
        assert_eq!(r.header("location"), Some(&b"/x"[..]));
        assert!(r.server_keeps_alive());
    }

    #[test]
    fn no_body_for_head_204_304() {
        for status in [204, 304] {
            let text = std::format!("HTTP/1.1 {status} X\r\nContent-Length: 10\r\n\r\n");
            let res = read(text.as_bytes(), 1).unwrap();
            assert_eq!(res, (status, StdVec::new(), true));
        }
        let mut r: ResponseReader = ResponseReader::new(DEFAULT_HEAD_CAPACITY, true);
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
        assert_eq!(r.step(input).unwrap().1, Step::Head);
        assert_eq!(r.step(b"").unwrap().1, Step::Complete);
    }

    #[test]
    fn chunked_wins_over_content_length() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        assert_eq!(read(input, 4).unwrap(), (200, b"hello".to_vec(), true));
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
        r.step(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        assert!(!r.server_keeps_alive());
        r.reset(false);
        r.step(b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        assert!(r.server_keeps_alive());
        r.reset(false);
        r.step(b"HTTP/1.1 200 OK\r\nConnection: foo, close\r\nContent-Length: 0\r\n\r\n")
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
        let mut r: ResponseReader<64> = ResponseReader::default();
        let long =
            b"HTTP/1.1 200 OK\r\nX-Long: 0123456789012345678901234567890123456789012345\r\n\r\n";
        assert_eq!(r.step(long), Err(ResponseError::HeadTooLarge { limit: 64 }));

        let mut r: ResponseReader<1024, 2> = ResponseReader::default();
        let three = b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        assert_eq!(
            r.step(three),
            Err(ResponseError::TooManyHeaders { limit: 2 })
        );
    }
}
