//! A validating JSON scanner, just enough to read a PhoneCheck result without allocating.
//!
//! The final body of a check is JSON such as `{"check_id":"…","code":"…"}`. The scanner checks
//! that the whole document is well-formed JSON (RFC 8259: structure, strings, escapes, numbers,
//! literals, nesting up to [`MAX_DEPTH`]) and hands back the raw text of the top-level string
//! members. Raw means still escaped; [`write_unescaped`] decodes one on demand. A document that
//! passes can be copied verbatim into the JSON envelope.

use core::fmt;

/// Deepest nesting accepted; deeper documents are refused rather than risking the stack.
pub const MAX_DEPTH: usize = 32;

/// Why a document is not acceptable JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonError {
    /// Not valid JSON at this byte offset.
    Syntax {
        /// Byte offset of the problem.
        at: usize,
    },
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

struct Scanner<'a> {
    /// The document, already known to be UTF-8 (checked once, not per string).
    text: &'a str,
    doc: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.doc.get(self.pos).copied()
    }

    fn err<T>(&self) -> Result<T, JsonError> {
        Err(JsonError::Syntax { at: self.pos })
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// A string; returns its raw contents (between the quotes).
    #[cfg_attr(target_pointer_width = "64", inline(always))]
    fn string(&mut self) -> Result<&'a str, JsonError> {
        self.literal(b"\"")?;
        let start = self.pos;
        loop {
            // Plain bytes in one go.
            let rest = self.doc.get(self.pos..).unwrap_or_default();
            self.pos += crate::scan::find_json_special(rest).unwrap_or(rest.len());
            match self.peek() {
                None => return self.err(),
                Some(b'"') => break,
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.pos += 1
                        }
                        Some(b'u') => {
                            self.pos += 1;
                            // Surrogates must pair up: strict parsers (serde_json, Swift)
                            // refuse a lone one, and the envelope embeds this text as it is.
                            match self.hex4()? {
                                0xD800..=0xDBFF => {
                                    self.literal(b"\\u")?;
                                    if !(0xDC00..=0xDFFF).contains(&self.hex4()?) {
                                        return self.err();
                                    }
                                }
                                0xDC00..=0xDFFF => return self.err(),
                                _ => {}
                            }
                        }
                        _ => return self.err(),
                    }
                }
                Some(c) if c < 0x20 => return self.err(),
                Some(_) => self.pos += 1,
            }
        }
        // Both ends are at ASCII bytes (quotes), so always char boundaries.
        let raw = self.text.get(start..self.pos);
        self.pos += 1;
        raw.ok_or(JsonError::Syntax { at: start })
    }

    /// Four hex digits of a `\u` escape.
    fn hex4(&mut self) -> Result<u16, JsonError> {
        let mut v = 0u16;
        for _ in 0..4 {
            let digit = self
                .peek()
                .and_then(|c| char::from(c).to_digit(16))
                .ok_or(JsonError::Syntax { at: self.pos })?;
            v = v << 4 | digit as u16;
            self.pos += 1;
        }
        Ok(v)
    }

    /// A number, which must also stay finite as an f64: RFC 8259 §6 lets parsers limit the
    /// range, and common ones (serde_json, Kotlin, Swift) refuse numbers beyond f64, so such a
    /// document could not be embedded in the envelope. The range is decided on the digits, in
    /// the same pass as the syntax: no float parsing (which would bring some 18 KiB of tables
    /// and soft-float code to firmware). Underflow is fine: it rounds to zero.
    fn number(&mut self) -> Result<(), JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return self.err(),
        }
        let int_digits = self.pos - int_start;
        let mut fraction = self.pos..self.pos;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                return self.err();
            }
            fraction.start = self.pos;
            self.digits();
            fraction.end = self.pos;
        }
        // The exponent, saturated: anything past ±10^8 is decided by its sign alone (a document
        // cannot hold that many digits). In `i32`: 64-bit arithmetic costs a 32-bit core code.
        let mut exp = 0i32;
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            let negative = self.peek() == Some(b'-');
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                return self.err();
            }
            while let Some(d @ b'0'..=b'9') = self.peek() {
                exp = (exp * 10 + i32::from(d - b'0')).min(100_000_000);
                self.pos += 1;
            }
            if negative {
                exp = -exp;
            }
        }
        // The first significant digit and the decimal exponent E of 0.d1d2d3… × 10^E. JSON
        // allows no leading zeros: the integer part is `0` or starts with a significant digit.
        let saturate = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        let (first, leading) = if self.doc.get(int_start) != Some(&b'0') {
            (int_start, saturate(int_digits))
        } else {
            let frac = self.doc.get(fraction.clone()).unwrap_or_default();
            let zeros = frac.iter().take_while(|&&b| b == b'0').count();
            if zeros == frac.len() {
                // Zero, whatever the exponent.
                return Ok(());
            }
            (fraction.start + zeros, -saturate(zeros))
        };
        let e = leading.saturating_add(exp);
        let finite = if e == F64_OVERFLOW_EXPONENT {
            // Same magnitude: compare digit by digit (the point skipped).
            let digits = self.doc.get(first..fraction.end).unwrap_or_default();
            below_f64_overflow(digits.iter().copied().filter(|&b| b != b'.'))
        } else {
            e < F64_OVERFLOW_EXPONENT
        };
        if finite {
            Ok(())
        } else {
            Err(JsonError::Syntax { at: start })
        }
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
    }

    /// `word` (a literal, or a single quote or colon) at the cursor, else an error there.
    fn literal(&mut self, word: &[u8]) -> Result<(), JsonError> {
        if self.doc.get(self.pos..self.pos + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(())
        } else {
            self.err()
        }
    }

    /// Any value. `on_member` is called for string members of the object at depth 1.
    fn value(
        &mut self,
        depth: usize,
        on_member: &mut dyn FnMut(&'a str, &'a str),
    ) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(JsonError::TooDeep);
        }
        self.skip_ws();
        match self.peek() {
            // Objects and arrays share one loop: an object's members are its values with a key
            // and a colon in front.
            Some(open @ (b'{' | b'[')) => {
                let is_object = open == b'{';
                // `}` and `]` follow their openers two code points on in ASCII.
                let close = open + 2;
                self.pos += 1;
                self.skip_ws();
                if self.peek() == Some(close) {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    let mut key = None;
                    if is_object {
                        self.skip_ws();
                        key = Some(self.string()?);
                        self.skip_ws();
                        self.literal(b":")?;
                        self.skip_ws();
                    }
                    match key {
                        Some(key) if depth == 0 && self.peek() == Some(b'"') => {
                            let value = self.string()?;
                            on_member(key, value);
                        }
                        _ => self.value(depth + 1, on_member)?,
                    }
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(c) if c == close => {
                            self.pos += 1;
                            return Ok(());
                        }
                        _ => return self.err(),
                    }
                }
            }
            Some(b'"') => self.string().map(|_| ()),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(_) => self.number(),
            None => self.err(),
        }
    }
}

/// Validates `doc` as one JSON value and calls `on_member(key, value)` (both raw) for each
/// string-valued member of a top-level object. Returns whether the top level is an object.
pub fn scan<'a>(doc: &'a [u8], on_member: impl FnMut(&'a str, &'a str)) -> Result<bool, JsonError> {
    let text = core::str::from_utf8(doc).map_err(|e| JsonError::Syntax {
        at: e.valid_up_to(),
    })?;
    scan_text(text, on_member)
}

/// [`scan`] for a document already known to be UTF-8.
pub fn scan_text<'a>(
    text: &'a str,
    mut on_member: impl FnMut(&'a str, &'a str),
) -> Result<bool, JsonError> {
    let doc = text.as_bytes();
    let mut s = Scanner { text, doc, pos: 0 };
    s.skip_ws();
    let is_object = s.peek() == Some(b'{');
    s.value(0, &mut on_member)?;
    s.skip_ws();
    if s.pos != doc.len() {
        return s.err();
    }
    Ok(is_object)
}

/// Writes a raw (escaped) JSON string's decoded text. Lone surrogates become U+FFFD.
pub fn write_unescaped<W: fmt::Write + ?Sized>(raw: &str, out: &mut W) -> fmt::Result {
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.write_char(c)?;
            continue;
        }
        let decoded = match chars.next() {
            Some('n') => '\n',
            Some('t') => '\t',
            Some('r') => '\r',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('u') => {
                let hi = hex4(&mut chars);
                match hi {
                    Some(hi @ 0xD800..=0xDBFF) => {
                        let mut look = chars.clone();
                        let lo = match (look.next(), look.next()) {
                            (Some('\\'), Some('u')) => hex4(&mut look),
                            _ => None,
                        };
                        match lo {
                            Some(lo @ 0xDC00..=0xDFFF) => {
                                chars = look;
                                let code = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                                char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER)
                            }
                            _ => char::REPLACEMENT_CHARACTER,
                        }
                    }
                    Some(code) => char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER),
                    None => char::REPLACEMENT_CHARACTER,
                }
            }
            Some(other) => other,
            None => break,
        };
        out.write_char(decoded)?;
    }
    Ok(())
}

fn hex4(chars: &mut core::str::Chars<'_>) -> Option<u32> {
    let mut v = 0;
    for _ in 0..4 {
        v = v << 4 | chars.next()?.to_digit(16)?;
    }
    Some(v)
}

/// Writes `s` as the contents of a JSON string (without quotes), escaping what JSON requires.
pub fn write_escaped<W: fmt::Write + ?Sized>(s: &str, out: &mut W) -> fmt::Result {
    for c in s.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c if (c as u32) < 0x20 => {
                // `\u00XX`, lowercase hex, as JSON allows any control byte to be written.
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let b = c as u8;
                out.write_str("\\u00")?;
                for nibble in [b >> 4, b & 0xF] {
                    let digit = HEX.get(usize::from(nibble)).copied().unwrap_or(b'0');
                    out.write_char(char::from(digit))?;
                }
            }
            c => out.write_char(c)?,
        }
    }
    Ok(())
}

/// A `fmt::Write` adapter that JSON-escapes everything written through it.
pub struct Escaping<'w, W: fmt::Write + ?Sized>(pub &'w mut W);

impl<W: fmt::Write + ?Sized> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_escaped(s, self.0)
    }
}

impl<W: fmt::Write + ?Sized> fmt::Debug for Escaping<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Escaping")
    }
}

/// The significant digits of 2^1024 − 2^970, the smallest magnitude that rounds to infinity as
/// an f64 (halfway between `f64::MAX` and 2^1024; ties go to even, which is up). It has 309
/// integer digits.
const F64_OVERFLOW_DIGITS: &[u8; 309] = b"179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792";
const F64_OVERFLOW_EXPONENT: i32 = 309;

/// [`F64_OVERFLOW_DIGITS`] two to a byte (high nibble first), packed at compile time: the
/// firmware carries 155 bytes instead of 309.
const F64_OVERFLOW_PACKED: [u8; 155] = {
    let mut packed = [0u8; 155];
    let mut i = 0;
    while i < F64_OVERFLOW_DIGITS.len() {
        // In bounds: i < 309 and i / 2 < 155; and a constant, so any slip fails the build.
        #[allow(clippy::indexing_slicing)]
        {
            let digit = F64_OVERFLOW_DIGITS[i] - b'0';
            packed[i / 2] |= if i % 2 == 0 { digit << 4 } else { digit };
        }
        i += 1;
    }
    packed
};

/// Whether significant digits d1d2d3… (the first non-zero) of 0.d1d2d3… × 10^309 are below
/// [`F64_OVERFLOW_DIGITS`], so the number stays finite.
fn below_f64_overflow(mut ours: impl Iterator<Item = u8>) -> bool {
    for k in 0..F64_OVERFLOW_DIGITS.len() {
        let pair = F64_OVERFLOW_PACKED.get(k / 2).copied().unwrap_or(0);
        let limit = b'0' + if k % 2 == 0 { pair >> 4 } else { pair & 0xF };
        match ours.next() {
            Some(d) if d < limit => return true,
            Some(d) if d > limit => return false,
            Some(_) => {}
            None => return true,
        }
    }
    // Equal so far: anything more that is not zero is above the limit; exactly the limit rounds
    // up to infinity.
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;
    use std::vec::Vec;

    /// Whether the scanner takes `number` (valid JSON syntax) as within the f64 range.
    fn within_f64(number: &[u8]) -> bool {
        scan(number, |_, _| {}).is_ok()
    }

    fn members(doc: &str) -> Result<Vec<(String, String)>, JsonError> {
        let mut out = Vec::new();
        scan(doc.as_bytes(), |k, v| out.push((k.into(), v.into())))?;
        Ok(out)
    }

    #[test]
    fn top_level_string_members_only() {
        let doc =
            r#" {"check_id":"c1","n":1.5e3,"nested":{"code":"no"},"code":"12\"3","a":[1,"x",{}]} "#;
        assert_eq!(
            members(doc).unwrap(),
            [
                ("check_id".into(), "c1".into()),
                ("code".into(), "12\\\"3".into())
            ]
        );
    }

    #[test]
    fn malformed_documents_are_refused() {
        for bad in [
            "",
            "{",
            "{\"a\"}",
            "{\"a\":}",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "1.",
            "-",
            "\"\\x\"",
            "\"\u{1}\"",
            "tru",
            "{} x",
            "\"\\u12G4\"",
            "1e",
            // Lone surrogates.
            "\"\\ud800\"",
            "\"\\udc00x\"",
            "\"\\ud800\\u0041\"",
            // Beyond f64: serde_json and mobile JSON parsers refuse these.
            "2e27777777777",
            "-1e400",
        ] {
            assert!(members(bad).is_err(), "{bad:?}");
        }
        let deep = "[".repeat(40) + &"]".repeat(40);
        assert_eq!(members(&deep), Err(JsonError::TooDeep));
        assert!(members("[1e308, 2.5e-400, -0.0]").is_ok());
        assert!(members(r#"["\ud83d\ude00", "\u00e9"]"#).is_ok());
        let ok = "[".repeat(30) + &"]".repeat(30);
        assert!(members(&ok).is_ok());
    }

    #[test]
    fn unescape_and_escape() {
        let mut s = String::new();
        write_unescaped(r#"a\"b\\c\n\u00e9\ud83d\ude00\ud800x"#, &mut s).unwrap();
        assert_eq!(s, "a\"b\\c\né😀\u{FFFD}x");
        let mut e = String::new();
        write_escaped("q\"\\\n\u{1}é", &mut e).unwrap();
        assert_eq!(e, "q\\\"\\\\\\n\\u0001é");
    }

    #[test]
    fn the_f64_range_is_decided_on_digits_as_a_float_parser_would() {
        let boundary = "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792";
        let below = boundary.replace("7792", "7791");
        let above = std::format!("{boundary}.0000001");
        let cases = [
            "0",
            "-0",
            "0.0",
            "0e999999",
            "1",
            "-1.5e10",
            "1.7976931348623157e308",
            "1.7976931348623158e308",
            "1.7976931348623159e308",
            "1e308",
            "1e309",
            "-1e309",
            "0.1e310",
            "0.1e309",
            "100000e304",
            "0.00001e314",
            "0.00001e313",
            "1e-400",
            "1E+308",
            "9e308",
            "123.456e-789",
            "1e999999999999999999999",
            boundary,
            &below,
            &above,
        ];
        for case in cases {
            let expected = case.parse::<f64>().unwrap().is_finite();
            assert_eq!(within_f64(case.as_bytes()), expected, "{case}");
        }
    }

    proptest::proptest! {
        #[test]
        fn the_f64_range_matches_the_float_parser(
            negative in proptest::bool::ANY,
            int in "(0|[1-9][0-9]{0,20})",
            frac in proptest::option::of("[0-9]{1,20}"),
            exp in proptest::option::of(-400i32..400),
        ) {
            let mut text = std::string::String::new();
            if negative {
                text.push('-');
            }
            text.push_str(&int);
            if let Some(f) = frac {
                text.push('.');
                text.push_str(&f);
            }
            if let Some(e) = exp {
                text.push_str(&std::format!("e{e}"));
            }
            let expected = text.parse::<f64>().unwrap().is_finite();
            proptest::prop_assert_eq!(within_f64(text.as_bytes()), expected, "{}", text);
        }
    }
}
