//! Writing messages and numbers as plain text pieces, without `core::fmt`'s formatter.
//!
//! The envelope writes `error_description` and a few numbers on every check. Going through
//! `write!` links the formatter (argument tables, padding, integer formatting with 64-bit
//! division): about 4 KB on a Cortex-M, a tenth of a firmware image. So each error type
//! describes itself here, piece by piece, into any `fmt::Write`; its `Display` is that same
//! description written into the `Formatter`, so the texts exist once.
//!
//! ```text
//!  text!(out, "hop ", hop, ": ", error)   each piece: &str as is, integers in decimal,
//!                                          errors by their own describe()
//! ```

use core::fmt;

/// Something that can be written as part of a message.
pub(crate) trait Piece {
    /// Writes it to `out`.
    fn put(&self, out: &mut dyn fmt::Write) -> fmt::Result;
}

impl Piece for &str {
    fn put(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        out.write_str(self)
    }
}

macro_rules! decimal_piece {
    ($($t:ty),+) => {$(
        impl Piece for $t {
            fn put(&self, out: &mut dyn fmt::Write) -> fmt::Result {
                decimal(out, *self as u64)
            }
        }
    )+};
}
decimal_piece!(u8, u16, u32, u64, usize);

/// `value` in decimal. Values that fit 32 bits (nearly all) use 32-bit division, which a
/// 32-bit core does in hardware.
pub(crate) fn decimal(out: &mut dyn fmt::Write, value: u64) -> fmt::Result {
    let mut digits = [0u8; 20];
    let mut n = 0;
    let mut push = |d: u8| {
        if let Some(slot) = digits.get_mut(n) {
            *slot = b'0' + d;
        }
        n += 1;
    };
    match u32::try_from(value) {
        Ok(mut v) => loop {
            push((v % 10) as u8);
            v /= 10;
            if v == 0 {
                break;
            }
        },
        Err(_) => {
            let mut v = value;
            loop {
                let (q, r) = crate::time::div_small(v, 10);
                push(r as u8);
                v = q;
                if v == 0 {
                    break;
                }
            }
        }
    }
    for d in digits.iter().take(n).rev() {
        out.write_char(char::from(*d))?;
    }
    Ok(())
}

/// Writes each piece in turn; `?`-able.
macro_rules! text {
    ($out:expr, $($piece:expr),+ $(,)?) => {{
        let out: &mut dyn ::core::fmt::Write = $out;
        $( $crate::text::Piece::put(&$piece, out)?; )+
        ::core::fmt::Result::Ok(())
    }};
}
pub(crate) use text;

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn decimals_match_core() {
        for v in [
            0u64,
            9,
            10,
            255,
            65_535,
            4_294_967_295,
            4_294_967_296,
            u64::MAX,
        ] {
            let mut s = String::new();
            decimal(&mut s, v).unwrap();
            assert_eq!(s, std::format!("{v}"));
        }
    }

    /// The names messages use are the variants' `Debug` names, as the messages had before.
    #[test]
    fn names_are_the_debug_names() {
        use crate::chunked::ChunkError as C;
        use crate::request::HeaderField as F;
        use crate::response::HeadSyntax as H;
        for h in [
            H::Version,
            H::Status,
            H::HeaderName,
            H::HeaderValue,
            H::NewLine,
            H::Token,
        ] {
            assert_eq!(h.name(), std::format!("{h:?}"));
        }
        for c in [
            C::InvalidSize,
            C::SizeOverflow,
            C::LineTooLong,
            C::TrailersTooLarge,
            C::MissingDataCrlf,
            C::MalformedTrailers,
        ] {
            assert_eq!(c.name(), std::format!("{c:?}"));
        }
        for f in [F::UserAgent, F::Cookie, F::Authorization] {
            assert_eq!(f.name(), std::format!("{f:?}"));
        }
    }

    #[test]
    fn pieces_in_order() {
        let mut s = String::new();
        let write = |out: &mut String| -> fmt::Result {
            text!(out, "hop ", 3u8, ": ", 1_234_567usize, " bytes")
        };
        write(&mut s).unwrap();
        assert_eq!(s, "hop 3: 1234567 bytes");
    }
}
