//! A write cursor over a caller's byte buffer that keeps counting past the end.
//!
//! Writers (the request writer, the JSON envelope writer) put everything through one [`Cursor`]
//! and check once at the end: if the buffer was too small, the count is exactly the size that
//! would have been enough, so the error can say how much is needed.

use core::fmt;

/// Appends to `buf`; bytes that do not fit are counted, not written.
#[derive(Debug)]
pub(crate) struct Cursor<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> Cursor<'b> {
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        Cursor { buf, len: 0 }
    }

    pub(crate) fn put(&mut self, bytes: &[u8]) {
        let end = self.len.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(self.len..end) {
            dst.copy_from_slice(bytes);
        }
        self.len = end;
    }

    pub(crate) fn put_str(&mut self, s: &str) {
        self.put(s.as_bytes());
    }

    /// `Ok(len)` when everything fit, else `Err(needed)`.
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
