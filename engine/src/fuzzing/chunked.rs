//! The chunked decoder ([`crate::chunked`]) against a reference decoder written here the plain
//! way: one pass over the whole input with an index, no state machine, no resumption.
//!
//! Input: byte 0 picks the trailer limit, byte 1 a piece size; the rest is the body. The
//! decoder is fed the body whole, one byte at a time, and in pieces of that size; each feeding
//! must give exactly the reference's verdict: the same data, and the same end (the body ends at
//! the same byte, so what follows stays for the next response), or "needs more", or the same
//! error. Every call makes progress (data is never empty), and `NeedMore` consumes its whole
//! input.

extern crate std;

use std::vec::Vec;

use crate::chunked::{Chunk, ChunkError, ChunkedDecoder, MAX_CHUNK_LINE};

/// `Ok(Some(end))`: the body ended just before `end`; `Ok(None)`: more input is needed.
type Verdict = Result<Option<usize>, ChunkError>;

const LIMITS: [usize; 8] = [0, 1, 2, 8, 16, 64, 1024, 8192];

/// See the module docs.
pub fn chunked(data: &[u8]) {
    let [limit, piece, body @ ..] = data else {
        return;
    };
    let limit = LIMITS[usize::from(*limit) % LIMITS.len()];
    let expected = reference(body, limit);
    let piece = 1 + usize::from(*piece) % 64;
    for step in [body.len().max(1), 1, piece] {
        let got = decode_in_pieces(body, limit, step);
        assert_eq!(
            got,
            expected,
            "pieces of {step}, trailer limit {limit}: {:?}",
            std::string::String::from_utf8_lossy(body)
        );
    }
}

/// The engine's decoder, fed `input` in pieces of `step` bytes.
fn decode_in_pieces(input: &[u8], limit: usize, step: usize) -> (Vec<u8>, Verdict) {
    let mut decoder = ChunkedDecoder::new(limit);
    let mut out = Vec::new();
    let mut offset = 0;
    for piece in input.chunks(step) {
        let mut rest = piece;
        loop {
            let (n, chunk) = match decoder.decode(rest) {
                Ok(r) => r,
                Err(e) => return (out, Err(e)),
            };
            assert!(n <= rest.len(), "consumed more than it was given");
            match chunk {
                Chunk::Data(data) => {
                    assert!(!data.is_empty(), "empty data: no progress");
                    assert_eq!(data, &rest[n - data.len()..n], "data is not the input's");
                    out.extend_from_slice(data);
                }
                Chunk::NeedMore => assert_eq!(n, rest.len(), "NeedMore left input unread"),
                Chunk::Done => {
                    assert!(decoder.is_done());
                    return (out, Ok(Some(offset + n)));
                }
            }
            rest = &rest[n..];
            offset += n;
            if rest.is_empty() {
                break;
            }
        }
    }
    assert!(!decoder.is_done());
    (out, Ok(None))
}

/// The reference: RFC 9112 §7.1 as the decoder's docs narrow it. A chunk-size line is
/// `1*HEXDIG *(SP / HTAB) ( ";" *(not LF) LF / CR LF / LF )`, at most [`MAX_CHUNK_LINE`] bytes
/// counted from its first digit to its end (the LF after a CR not counted); chunk data is
/// followed by CRLF or LF; after the last chunk, trailer lines up to an empty line (LF or CRLF),
/// at most `limit` bytes of trailer lines. The first bad byte decides the error.
fn reference(input: &[u8], limit: usize) -> (Vec<u8>, Verdict) {
    let mut data = Vec::new();
    let verdict = Reference { input, at: 0 }.body(limit, &mut data);
    (data, verdict)
}

struct Reference<'a> {
    input: &'a [u8],
    at: usize,
}

/// The next byte, or "needs more input".
macro_rules! next {
    ($r:expr) => {
        match $r.input.get($r.at) {
            Some(&b) => {
                $r.at += 1;
                b
            }
            None => return Ok(None),
        }
    };
}

impl Reference<'_> {
    fn body(&mut self, limit: usize, data: &mut Vec<u8>) -> Verdict {
        loop {
            let size = match self.size_line()? {
                Some(size) => size,
                None => return Ok(None),
            };
            if size == 0 {
                return self.trailers(limit);
            }
            let available = (self.input.len() - self.at) as u64;
            let take = size.min(available) as usize;
            data.extend_from_slice(&self.input[self.at..self.at + take]);
            self.at += take;
            if (take as u64) < size {
                return Ok(None);
            }
            match next!(self) {
                b'\n' => {}
                b'\r' => {
                    if next!(self) != b'\n' {
                        return Err(ChunkError::MissingDataCrlf);
                    }
                }
                _ => return Err(ChunkError::MissingDataCrlf),
            }
        }
    }

    /// The chunk size, after its whole line.
    fn size_line(&mut self) -> Result<Option<u64>, ChunkError> {
        let mut counted = 0;
        let mut count = || {
            counted += 1;
            if counted > MAX_CHUNK_LINE {
                Err(ChunkError::LineTooLong)
            } else {
                Ok(())
            }
        };
        let mut size: u64 = 0;
        let mut digits = 0;
        let mut byte = loop {
            let b = next!(self);
            count()?;
            match (b as char).to_digit(16) {
                Some(d) => {
                    size = size
                        .checked_mul(16)
                        .ok_or(ChunkError::SizeOverflow)?
                        .checked_add(u64::from(d))
                        .ok_or(ChunkError::SizeOverflow)?;
                    digits += 1;
                }
                None if digits == 0 => return Err(ChunkError::InvalidSize),
                None => break b,
            }
        };
        loop {
            match byte {
                b' ' | b'\t' => {
                    byte = next!(self);
                    count()?;
                }
                b';' => loop {
                    let b = next!(self);
                    count()?;
                    if b == b'\n' {
                        return Ok(Some(size));
                    }
                },
                b'\r' => {
                    return match next!(self) {
                        b'\n' => Ok(Some(size)),
                        _ => Err(ChunkError::InvalidSize),
                    }
                }
                b'\n' => return Ok(Some(size)),
                _ => return Err(ChunkError::InvalidSize),
            }
        }
    }

    fn trailers(&mut self, limit: usize) -> Verdict {
        let mut counted = 0;
        loop {
            match next!(self) {
                b'\n' => return Ok(Some(self.at)),
                b'\r' => {
                    return match next!(self) {
                        b'\n' => Ok(Some(self.at)),
                        _ => Err(ChunkError::MalformedTrailers),
                    }
                }
                first => {
                    // A trailer field line: its bytes up to and including its LF count.
                    let mut b = first;
                    loop {
                        counted += 1;
                        if counted > limit {
                            return Err(ChunkError::TrailersTooLarge);
                        }
                        if b == b'\n' {
                            break;
                        }
                        b = next!(self);
                    }
                }
            }
        }
    }
}
