//! A write cursor over a caller's byte buffer that keeps counting past the end.
//!
//! Writers (the request writer, the JSON envelope writer) put everything through one [`Cursor`]
//! and check once at the end: if the buffer was too small, the count is exactly the size that
//! would have been enough, so the error can say how much is needed.
//!
//! Also here: [`move_down`] and [`move_any`], `copy_within` as plain byte loops. They serve
//! rare paths (a cookie removed, a token or a query moved once), and on a microcontroller they
//! keep the compiler's 1.5 KB `memmove` out of the image. And [`copy`]: short copies inline on
//! 64-bit targets, for the writers' many small pieces.

use core::fmt;

/// Appends to `buf`; bytes that do not fit are counted, not written.
///
/// A cursor may also start `skip` bytes into the output: it then writes the window
/// `[skip, skip + buf.len())` of what is put through it. Streaming writers use that to produce
/// a long output piece by piece into a small buffer, writing the same bytes each time.
#[derive(Debug)]
pub(crate) struct Cursor<'b> {
    buf: &'b mut [u8],
    skip: usize,
    /// Bytes put so far, counted from the start of the whole output.
    len: usize,
}

impl<'b> Cursor<'b> {
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        Cursor {
            buf,
            skip: 0,
            len: 0,
        }
    }

    /// A cursor that writes the output from byte `skip` on.
    pub(crate) fn from_offset(buf: &'b mut [u8], skip: usize) -> Self {
        Cursor { buf, skip, len: 0 }
    }

    #[inline]
    pub(crate) fn put(&mut self, bytes: &[u8]) {
        let start = self.len;
        let end = start.saturating_add(bytes.len());
        // The usual case: nothing skipped and room left; one bounds check, one copy.
        if self.skip == 0 {
            if let Some(dst) = self.buf.get_mut(start..end) {
                copy(dst, bytes);
                self.len = end;
                return;
            }
        }
        self.len = end;
        if end <= self.skip {
            return;
        }
        // The part of `bytes` that falls in the window, and where it goes in `buf`.
        let from = self.skip.saturating_sub(start);
        let at = start.saturating_sub(self.skip);
        let room = self.buf.len().saturating_sub(at);
        let take = (bytes.len() - from).min(room);
        if let (Some(dst), Some(src)) = (
            self.buf.get_mut(at..at + take),
            bytes.get(from..from + take),
        ) {
            dst.copy_from_slice(src);
        }
    }

    /// The whole output's length, and how many bytes of the window were written.
    pub(crate) fn window(&self) -> (usize, usize) {
        let written = self.len.saturating_sub(self.skip).min(self.buf.len());
        (self.len, written)
    }

    pub(crate) fn put_str(&mut self, s: &str) {
        self.put(s.as_bytes());
    }

    /// `Ok(len)` when everything fit, else `Err(needed)` (for a cursor that skips nothing).
    pub(crate) fn finish(self) -> Result<usize, usize> {
        if self.len <= self.buf.len() {
            Ok(self.len)
        } else {
            Err(self.len)
        }
    }
}

impl fmt::Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.put_str(s);
        Ok(())
    }
}

/// `dst.copy_from_slice(src)` (equal lengths; unequal ones copy nothing). Up to 32 bytes (a
/// host, a port, a cookie) go as two overlapping moves of a power-of-two size, inline: a hop
/// makes dozens of such copies, and a call to `memcpy` for each costs more than the copy. On
/// 64-bit targets only; 32-bit ones keep the one call.
#[inline(always)]
pub(crate) fn copy(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if crate::scan::FAVOUR_SPEED && n <= 32 && dst.len() == n {
        // The first and the last `$k` bytes, which together cover all `n` (`k <= n <= 2k`).
        macro_rules! ends {
            ($k:literal) => {{
                if let (Some(d), Some(s)) = (dst.first_chunk_mut::<$k>(), src.first_chunk::<$k>()) {
                    *d = *s;
                }
                if let (Some(d), Some(s)) = (dst.last_chunk_mut::<$k>(), src.last_chunk::<$k>()) {
                    *d = *s;
                }
            }};
        }
        if n >= 16 {
            ends!(16);
        } else if n >= 8 {
            ends!(8);
        } else if n >= 4 {
            ends!(4);
        } else if n >= 2 {
            ends!(2);
        } else if let (Some(d), Some(&s)) = (dst.first_mut(), src.first()) {
            *d = s;
        }
        return;
    }
    if dst.len() == n {
        dst.copy_from_slice(src);
    }
}

/// `buf.copy_within(src, dst)` for `dst <= src.start`, byte by byte (no `memmove`); bytes out of
/// range are skipped rather than panicking.
#[inline(never)]
pub(crate) fn move_down(buf: &mut [u8], src: core::ops::Range<usize>, dst: usize) {
    for (d, s) in (dst..).zip(src) {
        let Some(&b) = buf.get(s) else { return };
        if let Some(x) = buf.get_mut(d) {
            *x = b;
        }
    }
}

/// `buf.copy_within(src, dst)` in either direction, byte by byte (no `memmove`).
#[inline(never)]
pub(crate) fn move_any(buf: &mut [u8], src: core::ops::Range<usize>, dst: usize) {
    if dst <= src.start {
        return move_down(buf, src, dst);
    }
    let n = src.len();
    for i in (0..n).rev() {
        let Some(&b) = buf.get(src.start + i) else {
            continue;
        };
        if let Some(x) = buf.get_mut(dst + i) {
            *x = b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_copies_copy_every_byte() {
        let src: std::vec::Vec<u8> = (1..=40).collect();
        for n in 0..=40 {
            let mut dst = [0u8; 40];
            copy(&mut dst[..n], &src[..n]);
            assert_eq!(&dst[..n], &src[..n], "{n} bytes");
            assert!(
                dst[n..].iter().all(|&b| b == 0),
                "{n} bytes: nothing past the end"
            );
        }
        let mut dst = [0u8; 4];
        copy(&mut dst, b"abc");
        assert_eq!(dst, [0; 4], "unequal lengths copy nothing");
    }

    #[test]
    fn counts_past_the_end() {
        let mut buf = [0u8; 4];
        let mut c = Cursor::new(&mut buf);
        c.put(b"ab");
        c.put(b"cde");
        c.put(b"f");
        assert_eq!(c.finish(), Err(6));
        let mut c = Cursor::new(&mut buf);
        c.put(b"abcd");
        assert_eq!(c.finish(), Ok(4));
        assert_eq!(&buf, b"abcd");
    }

    #[test]
    fn a_window_writes_the_same_bytes_piece_by_piece() {
        let whole = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
        let mut out = std::vec::Vec::new();
        let mut offset = 0;
        loop {
            let mut buf = [0u8; 3];
            let mut c = Cursor::from_offset(&mut buf, offset);
            c.put(&whole[..5]);
            c.put(&whole[5..]);
            let (total, written) = c.window();
            assert_eq!(total, whole.len());
            out.extend_from_slice(&buf[..written]);
            offset += written;
            if written == 0 {
                break;
            }
        }
        assert_eq!(out, whole);
    }

    #[test]
    fn moves_agree_with_copy_within() {
        for len in 0..12 {
            for start in 0..=len {
                for end in start..=len {
                    for dst in 0..=(len - (end - start)) {
                        let orig: std::vec::Vec<u8> = (0..len as u8).collect();
                        let mut want = orig.clone();
                        want.copy_within(start..end, dst);
                        let mut got = orig.clone();
                        move_any(&mut got, start..end, dst);
                        assert_eq!(got, want, "{start}..{end} to {dst}");
                        if dst <= start {
                            let mut got = orig.clone();
                            move_down(&mut got, start..end, dst);
                            assert_eq!(got, want);
                        }
                    }
                }
            }
        }
    }
}
