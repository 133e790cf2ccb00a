//! The `Transfer-Encoding: chunked` decoder (RFC 9112 §7.1), a byte-at-a-time state machine
//! that hands back data slices of the caller's input without copying them.
//!
//! ```text
//!  Size ──hex──► Size ──';'──► Extension ──LF──┐
//!   │  └─CR/LF──────────────────────────────────┴─► (size 0) Trailer ──empty line──► Done
//!   │                                              (size n) Data(n) ──► DataEnd (CRLF) ──► Size
//! ```
//!
//! Chunk extensions are skipped; trailer fields are skipped. Each is bounded, so a hostile server
//! cannot keep the decoder busy on framing bytes forever. A bare LF is accepted wherever CRLF is.

/// How many bytes a chunk-size line (digits and extensions) may have.
pub const MAX_CHUNK_LINE: usize = 1024;

/// Decoder errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkError {
    /// The chunk-size line does not start with a hex number.
    InvalidSize,
    /// The chunk size does not fit in 64 bits.
    SizeOverflow,
    /// The chunk-size line (with extensions) is longer than [`MAX_CHUNK_LINE`].
    LineTooLong,
    /// The trailer section is longer than the head limit.
    TrailersTooLarge,
    /// Chunk data is not followed by CRLF.
    MissingDataCrlf,
    /// The trailer section does not end with an empty line.
    MalformedTrailers,
}

impl ChunkError {
    /// The variant's name, as in messages.
    pub const fn name(self) -> &'static str {
        match self {
            ChunkError::InvalidSize => "InvalidSize",
            ChunkError::SizeOverflow => "SizeOverflow",
            ChunkError::LineTooLong => "LineTooLong",
            ChunkError::TrailersTooLarge => "TrailersTooLarge",
            ChunkError::MissingDataCrlf => "MissingDataCrlf",
            ChunkError::MalformedTrailers => "MalformedTrailers",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading hex digits of a chunk size.
    Size { value: u64, digits: u8 },
    /// After the digits: optional whitespace, then `;ext` or the line end.
    SizeTail { value: u64 },
    /// Skipping a chunk extension up to LF.
    Extension { value: u64 },
    /// Saw CR after the size line; LF must follow.
    SizeLf { value: u64 },
    /// Inside chunk data.
    Data { remaining: u64 },
    /// After chunk data: CR or LF.
    DataCr,
    /// After chunk data and CR: LF.
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerLineStart,
    /// Inside a trailer field line.
    TrailerLine,
    /// Saw CR at the start of a trailer line: the final LF must follow.
    FinalLf,
    /// The last chunk and trailers were read.
    Done,
}

/// What one call of [`ChunkedDecoder::decode`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk<'i> {
    /// Chunk data, a slice of the input.
    Data(&'i [u8]),
    /// The input was all framing bytes; more input is needed.
    NeedMore,
    /// The body ended.
    Done,
}

/// Chunked transfer decoding state.
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    state: State,
    line_len: usize,
    trailer_len: usize,
    trailer_limit: usize,
}

impl ChunkedDecoder {
    /// A decoder whose trailer section may be at most `trailer_limit` bytes.
    pub fn new(trailer_limit: usize) -> Self {
        ChunkedDecoder {
            state: State::Size {
                value: 0,
                digits: 0,
            },
            line_len: 0,
            trailer_len: 0,
            trailer_limit,
        }
    }

    /// Whether the terminating chunk and trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes framing bytes from `input` until it finds data, the end, or runs out of input.
    /// Returns how many bytes were consumed and what was found.
    pub fn decode<'i>(&mut self, input: &'i [u8]) -> Result<(usize, Chunk<'i>), ChunkError> {
        let mut pos = 0;
        while let Some(&byte) = input.get(pos) {
            if let State::Data { remaining } = self.state {
                let available = input.len() - pos;
                // Fits a usize: at most what is available.
                let take = remaining.min(available as u64) as usize;
                let data = input.get(pos..pos + take).unwrap_or_default();
                let left = remaining - take as u64;
                self.state = if left == 0 {
                    State::DataCr
                } else {
                    State::Data { remaining: left }
                };
                return Ok((pos + take, Chunk::Data(data)));
            }
            pos += 1;
            self.state = self.next(byte)?;
            if self.state == State::Done {
                return Ok((pos, Chunk::Done));
            }
        }
        if self.state == State::Done {
            return Ok((pos, Chunk::Done));
        }
        Ok((pos, Chunk::NeedMore))
    }

    fn count_line_byte(&mut self) -> Result<(), ChunkError> {
        self.line_len += 1;
        if self.line_len > MAX_CHUNK_LINE {
            Err(ChunkError::LineTooLong)
        } else {
            Ok(())
        }
    }

    fn end_of_size_line(&mut self, value: u64) -> State {
        self.line_len = 0;
        if value == 0 {
            State::TrailerLineStart
        } else {
            State::Data { remaining: value }
        }
    }

    fn next(&mut self, byte: u8) -> Result<State, ChunkError> {
        Ok(match self.state {
            State::Size { value, digits } => {
                self.count_line_byte()?;
                match hex(byte) {
                    Some(d) => {
                        if value > (u64::MAX >> 4) {
                            return Err(ChunkError::SizeOverflow);
                        }
                        State::Size {
                            value: value << 4 | u64::from(d),
                            digits: digits.saturating_add(1),
                        }
                    }
                    None if digits == 0 => return Err(ChunkError::InvalidSize),
                    None => self.after_size(value, byte)?,
                }
            }
            State::SizeTail { value } => {
                self.count_line_byte()?;
                self.after_size(value, byte)?
            }
            State::Extension { value } => {
                self.count_line_byte()?;
                if byte == b'\n' {
                    self.end_of_size_line(value)
                } else {
                    State::Extension { value }
                }
            }
            State::SizeLf { value } => {
                if byte != b'\n' {
                    return Err(ChunkError::InvalidSize);
                }
                self.end_of_size_line(value)
            }
            State::DataCr => match byte {
                b'\r' => State::DataLf,
                b'\n' => State::Size {
                    value: 0,
                    digits: 0,
                },
                _ => return Err(ChunkError::MissingDataCrlf),
            },
            State::DataLf => match byte {
                b'\n' => State::Size {
                    value: 0,
                    digits: 0,
                },
                _ => return Err(ChunkError::MissingDataCrlf),
            },
            State::TrailerLineStart => match byte {
                b'\n' => State::Done,
                b'\r' => State::FinalLf,
                _ => {
                    self.count_trailer_byte()?;
                    State::TrailerLine
                }
            },
            State::TrailerLine => {
                self.count_trailer_byte()?;
                if byte == b'\n' {
                    State::TrailerLineStart
                } else {
                    State::TrailerLine
                }
            }
            State::FinalLf => {
                if byte != b'\n' {
                    return Err(ChunkError::MalformedTrailers);
                }
                State::Done
            }
            // Data is handled in bulk by `decode`; Done consumes nothing.
            State::Data { .. } | State::Done => self.state,
        })
    }

    fn after_size(&mut self, value: u64, byte: u8) -> Result<State, ChunkError> {
        Ok(match byte {
            b' ' | b'\t' => State::SizeTail { value },
            b';' => State::Extension { value },
            b'\r' => State::SizeLf { value },
            b'\n' => self.end_of_size_line(value),
            _ => return Err(ChunkError::InvalidSize),
        })
    }

    fn count_trailer_byte(&mut self) -> Result<(), ChunkError> {
        self.trailer_len += 1;
        if self.trailer_len > self.trailer_limit {
            Err(ChunkError::TrailersTooLarge)
        } else {
            Ok(())
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn decode_all(input: &[u8], step: usize) -> Result<(Vec<u8>, bool), ChunkError> {
        let mut d = ChunkedDecoder::new(256);
        let mut out = Vec::new();
        for piece in input.chunks(step.max(1)) {
            let mut rest = piece;
            loop {
                let (n, chunk) = d.decode(rest)?;
                rest = &rest[n..];
                match chunk {
                    Chunk::Data(data) => out.extend_from_slice(data),
                    Chunk::NeedMore => break,
                    Chunk::Done => return Ok((out, true)),
                }
            }
        }
        Ok((out, false))
    }

    #[test]
    fn chunks_with_extensions_and_trailers() {
        let body = b"4;name=value\r\nWiki\r\n5\r\npedia\r\nE ; x\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\n";
        for step in 1..body.len() {
            let (data, done) = decode_all(body, step).unwrap();
            assert_eq!(data, b"Wikipedia in\r\n\r\nchunks.");
            assert!(done);
        }
    }

    #[test]
    fn bare_lf_is_accepted() {
        let (data, done) = decode_all(b"3\nabc\n0\n\n", 100).unwrap();
        assert_eq!(data, b"abc");
        assert!(done);
    }

    #[test]
    fn framing_errors() {
        assert_eq!(decode_all(b"x\r\n", 9), Err(ChunkError::InvalidSize));
        assert_eq!(
            decode_all(b"3\r\nabcX", 9),
            Err(ChunkError::MissingDataCrlf)
        );
        assert_eq!(
            decode_all(b"11111111111111111\r\n", 99),
            Err(ChunkError::SizeOverflow)
        );
        let mut long = Vec::from(&b"1;"[..]);
        long.resize(MAX_CHUNK_LINE + 10, b'a');
        assert_eq!(decode_all(&long, 7), Err(ChunkError::LineTooLong));
        let mut trailers = Vec::from(&b"0\r\n"[..]);
        for _ in 0..40 {
            trailers.extend_from_slice(b"X-Trailer: 1234567\r\n");
        }
        assert_eq!(decode_all(&trailers, 50), Err(ChunkError::TrailersTooLarge));
    }
}
