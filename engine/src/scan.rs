//! Finding delimiter bytes eight at a time. URLs, Locations and JSON strings are scanned for
//! a few special bytes (`#`, `?`, `"`, `\`) and almost every word of them holds none, so a
//! word-at-a-time test (the classic "has a zero byte" bit trick, in safe code) skips most of the
//! work that a byte loop would do. Flash matters too: this is a few dozen instructions, not a
//! `memchr` dependency. Short comparisons go a word at a time too: header names against the
//! ones the session reads ([`token_is`]), hosts and cookie paths ([`bytes_eq`]).
//!
//! Only where it pays: [`FAVOUR_SPEED`] is on for 64-bit targets (phones, hosts, test rigs). A
//! 32-bit microcontroller has no 64-bit ALU and little flash, so there the byte loops stay.

/// Whether the engine takes its larger, faster forms (word-at-a-time scans, the IMF-fixdate
/// fast path): on 64-bit targets. 32-bit targets keep the smallest code.
pub(crate) const FAVOUR_SPEED: bool = cfg!(target_pointer_width = "64");

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` that equals the byte repeated in `splat`, and maybe of
/// bytes above such a byte (the subtraction's borrow runs upward). So the mask is zero exactly
/// when no byte matches, and its lowest set bit is always a true match: little-endian words make
/// that the first matching byte in memory.
#[inline(always)]
fn matching(word: u64, splat: u64) -> u64 {
    let x = word ^ splat;
    x.wrapping_sub(LO) & !x & HI
}

/// Whether any byte of `word` equals the byte repeated in `splat`.
#[inline(always)]
fn has(word: u64, splat: u64) -> bool {
    matching(word, splat) != 0
}

/// The first eight bytes of `chunk` as a little-endian word (0 if it is shorter).
#[inline(always)]
fn le_word(chunk: &[u8]) -> u64 {
    chunk
        .first_chunk::<8>()
        .map_or(0, |w| u64::from_le_bytes(*w))
}

/// The index of the first byte of `hay` for which `is` holds. `may_hold` screens eight bytes
/// at a time: it must be true for every word holding such a byte (it may be true for others).
#[inline(always)]
fn find_by(hay: &[u8], may_hold: impl Fn(u64) -> bool, is: impl Fn(u8) -> bool) -> Option<usize> {
    let mut at = 0;
    let mut chunks = hay.chunks_exact(8);
    for chunk in chunks.by_ref() {
        if may_hold(le_word(chunk)) {
            if let Some(i) = chunk.iter().position(|&b| is(b)) {
                return Some(at + i);
            }
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| is(b))
        .map(|i| at + i)
}

/// The index of the first byte of `hay` in a set that `flags` marks exactly: for each word,
/// the high bit of every byte in the set (and maybe of bytes above one, as [`matching`] gives).
/// The lowest flag is then the answer; no byte-by-byte look.
#[inline(always)]
fn find_exact(hay: &[u8], flags: impl Fn(u64) -> u64) -> Option<usize> {
    let mut at = 0;
    let mut chunks = hay.chunks_exact(8);
    for chunk in chunks.by_ref() {
        let found = flags(le_word(chunk));
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    // The tail as one more (zero-padded) word, not a byte loop. A flag on the padding lies
    // above every real byte, so a first flag past the tail means no match.
    let n = chunks.remainder().len();
    let first = (flags(tail_word(hay, n)).trailing_zeros() / 8) as usize;
    (first < n).then_some(at + first)
}

/// The last `n` (< 8) bytes of `hay` as the low bytes of a little-endian word, zeros above.
/// Built from loads that cover those bytes, not by copying them into a buffer: a word load over
/// the smaller stores of such a copy waits for them to retire (no store forwarding), which cost
/// more than the whole scan of a short URL.
#[inline(always)]
fn tail_word(hay: &[u8], n: usize) -> u64 {
    let len = hay.len();
    if n == 0 {
        return 0;
    }
    if len >= 8 {
        // The last eight bytes, shifted down past the ones already scanned.
        return le_word(hay.get(len - 8..).unwrap_or_default()) >> (8 * (8 - n));
    }
    // `hay` is all tail. Two half words that overlap, or three bytes that may repeat: each
    // byte lands at its own place, and a repeated one ORs in the same bits.
    let at = |i: usize| hay.get(i..).and_then(|r| r.first_chunk::<4>());
    if n >= 4 {
        let half = |i| at(i).map_or(0, |w| u64::from(u32::from_le_bytes(*w)));
        return half(0) | half(n - 4) << (8 * (n - 4));
    }
    let byte = |i: usize| u64::from(hay.get(i).copied().unwrap_or(0)) << (8 * i);
    byte(0) | byte(n / 2) | byte(n - 1)
}

fn splat(b: u8) -> u64 {
    LO.wrapping_mul(u64::from(b))
}

/// The first `a` or `b` in `hay`.
#[cfg_attr(target_pointer_width = "64", inline(always))]
pub(crate) fn find2(hay: &[u8], a: u8, b: u8) -> Option<usize> {
    if !FAVOUR_SPEED {
        return hay.iter().position(|&x| x == a || x == b);
    }
    let (sa, sb) = (splat(a), splat(b));
    find_exact(hay, |w| matching(w, sa) | matching(w, sb))
}

/// The first `a` in `hay`.
#[cfg_attr(target_pointer_width = "64", inline(always))]
pub(crate) fn find1(hay: &[u8], a: u8) -> Option<usize> {
    if !FAVOUR_SPEED {
        return hay.iter().position(|&x| x == a);
    }
    let sa = splat(a);
    find_exact(hay, |w| matching(w, sa))
}

/// Whether `token` (a header name, or an item of a header's list value) is `lower`, ignoring
/// ASCII case. `lower` must be lowercase letters, digits and `-`: then setting bit 5 of every
/// byte folds case and can only make two bytes equal that are equal up to case, except CR with
/// `-` and 0x10–0x19 with digits, which cannot occur in a head httparse accepted (names are
/// tokens; values hold visible characters, spaces and tabs). Eight bytes at a time on 64-bit
/// targets.
#[cfg_attr(target_pointer_width = "64", inline(always))]
pub(crate) fn token_is(token: &[u8], lower: &[u8]) -> bool {
    if token.len() != lower.len() {
        return false;
    }
    if !FAVOUR_SPEED {
        return token.eq_ignore_ascii_case(lower);
    }
    // Whole words, the last one overlapping its neighbour so that no byte loop is left (both
    // sides have the same length, so they overlap alike). Below eight bytes, two half words.
    let n = token.len();
    if n >= 8 {
        let word = |s: &[u8], at: usize| {
            s.get(at..)
                .and_then(|r| r.first_chunk::<8>())
                .map_or(0, |w| u64::from_le_bytes(*w) | LO.wrapping_mul(0x20))
        };
        let mut at = 0;
        while at + 8 < n {
            if word(token, at) != word(lower, at) {
                return false;
            }
            at += 8;
        }
        return word(token, n - 8) == word(lower, n - 8);
    }
    if n >= 4 {
        let half = |s: &[u8], at: usize| {
            s.get(at..)
                .and_then(|r| r.first_chunk::<4>())
                .map_or(0, |w| u32::from_le_bytes(*w) | 0x2020_2020)
        };
        return half(token, 0) == half(lower, 0) && half(token, n - 4) == half(lower, n - 4);
    }
    token.iter().zip(lower).all(|(&x, &y)| x | 0x20 == y | 0x20)
}

/// `a == b`. Up to 16 bytes (hosts, cookie paths and domains) are compared as two overlapping
/// words, inline: a call to `memcmp` for each such comparison costs more than the comparison.
/// 64-bit targets only; 32-bit ones keep the one slice comparison.
#[cfg_attr(target_pointer_width = "64", inline(always))]
pub(crate) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if FAVOUR_SPEED && n <= 16 {
        if n != b.len() {
            return false;
        }
        // The first and the last `$k` bytes of each, which together cover all `n` (`k <= n <= 2k`).
        macro_rules! ends {
            ($k:literal) => {
                a.first_chunk::<$k>() == b.first_chunk::<$k>()
                    && a.last_chunk::<$k>() == b.last_chunk::<$k>()
            };
        }
        return if n >= 8 {
            ends!(8)
        } else if n >= 4 {
            ends!(4)
        } else if n >= 2 {
            ends!(2)
        } else {
            a.first() == b.first()
        };
    }
    a == b
}

/// The high bit of each byte of `word` below `n` (`n` ≤ 0x80), with the same guarantee as
/// [`matching`]: zero exactly when there is none, the lowest set bit a true one.
#[inline(always)]
fn below(word: u64, n: u8) -> u64 {
    word.wrapping_sub(LO.wrapping_mul(u64::from(n))) & !word & HI
}

/// Whether any byte of `word` is below `n` (`n` ≤ 0x80).
#[inline(always)]
fn has_below(word: u64, n: u8) -> bool {
    below(word, n) != 0
}

/// Whether `hay` holds a tab, CR or LF (which URL parsing removes, WHATWG-style).
pub(crate) fn has_tab_or_newline(hay: &[u8]) -> bool {
    let is = |b: u8| matches!(b, b'\t' | b'\r' | b'\n');
    if !FAVOUR_SPEED {
        return hay.iter().any(|&b| is(b));
    }
    // All three are below 0x0E; a word without such a byte needs no closer look.
    find_by(hay, |w| has_below(w, 0x0E), is).is_some()
}

/// Whether `hay` holds a control byte other than HTAB (or DEL): what may not go into a header
/// field value.
pub(crate) fn has_control(hay: &[u8]) -> bool {
    let is = |b: u8| (b < b' ' && b != b'\t') || b == 0x7F;
    if !FAVOUR_SPEED {
        return hay.iter().any(|&b| is(b));
    }
    let del = splat(0x7F);
    find_by(hay, |w| has_below(w, 0x20) || has(w, del), is).is_some()
}

/// The first byte of `hay` that ends a JSON string's plain run: `"`, `\` or a control byte.
#[cfg_attr(target_pointer_width = "64", inline(always))]
pub(crate) fn find_json_special(hay: &[u8]) -> Option<usize> {
    let is = |b: u8| b == b'"' || b == b'\\' || b < 0x20;
    if !FAVOUR_SPEED {
        return hay.iter().position(|&b| is(b));
    }
    let (quote, backslash) = (splat(b'"'), splat(b'\\'));
    find_exact(hay, |w| {
        below(w, 0x20) | matching(w, quote) | matching(w, backslash)
    })
}

/// A `const fn(u8) -> bool` as a table of 256 flags (1: the byte is in the set), built at
/// compile time, for [`find_flagged`].
macro_rules! byte_table {
    ($is:path) => {{
        const TABLE: [u8; 256] = {
            let mut t = [0; 256];
            let mut i = 0;
            while i < 256 {
                // In bounds: i < 256.
                #[allow(clippy::indexing_slicing)]
                {
                    t[i] = $is(i as u8) as u8;
                }
                i += 1;
            }
            t
        };
        &TABLE
    }};
}
pub(crate) use byte_table;

/// The first byte of `hay` in a set given twice: as `table` (from [`byte_table`]) and as `is`.
/// Eight table lookups OR-ed together screen eight bytes with one branch: the sets this serves
/// (bytes a URL must percent-encode, bytes a host may not hold) are too scattered for the bit
/// tricks above. 32-bit targets test `is` byte by byte, and the table is not linked there.
pub(crate) fn find_flagged(
    hay: &[u8],
    table: &[u8; 256],
    is: impl Fn(u8) -> bool,
) -> Option<usize> {
    if !FAVOUR_SPEED {
        return hay.iter().position(|&b| is(b));
    }
    let flag = |b: u8| table.get(usize::from(b)).copied().unwrap_or(1);
    let mut at = 0;
    for chunk in hay.chunks_exact(8) {
        if chunk.iter().fold(0, |any, &b| any | flag(b)) != 0 {
            break;
        }
        at += 8;
    }
    hay.get(at..)
        .and_then(|rest| rest.iter().position(|&b| flag(b) != 0))
        .map(|i| at + i)
}

/// Calls `f` with every string of up to `max_len` bytes over `alphabet`: for tests that hold a
/// fast form to a plain one on every short input.
#[cfg(test)]
pub(crate) fn every_string(alphabet: &[u8], max_len: u32, mut f: impl FnMut(&[u8])) {
    let n = alphabet.len();
    let mut s = std::vec::Vec::new();
    for len in 0..=max_len {
        for mut code in 0..n.pow(len) {
            s.clear();
            for _ in 0..len {
                s.push(alphabet[code % n]);
                code /= n;
            }
            f(&s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every position and neighbourhood against the obvious byte loop.
    #[test]
    fn word_scans_agree_with_byte_loops() {
        let alphabet = [
            b'a', b'#', b'?', b'"', b'\\', 0x1f, 0x20, 0x7f, 0x80, 0xff, 0x00, b'!', b'\t', b'\r',
            b'\n', 0x0e, b'.', b'/', b'<', b'>', b'^', b'`', b'{', b'|', b'}', b'~', b'z', 0x7b,
            b'A', b'Z', b'-',
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..40 {
            for _ in 0..200 {
                let hay: heapless::Vec<u8, 40> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        // Mostly plain bytes, as in URLs.
                        if seed % 5 == 0 {
                            alphabet[(seed >> 8) as usize % alphabet.len()]
                        } else {
                            b'a' + (seed >> 16) as u8 % 26
                        }
                    })
                    .collect();
                assert_eq!(
                    find2(&hay, b'#', b'?'),
                    hay.iter().position(|&b| b == b'#' || b == b'?')
                );
                assert_eq!(find1(&hay, b'#'), hay.iter().position(|&b| b == b'#'));
                // The padding of the last word matches these: it must never be reported.
                for needle in [0u8, b'a'] {
                    assert_eq!(find1(&hay, needle), hay.iter().position(|&b| b == needle));
                }
                // Token characters only, against a lowercase name: folding is exact.
                let token: heapless::Vec<u8, 40> = hay
                    .iter()
                    .map(|&b| {
                        if b.is_ascii_alphanumeric() || b == b'-' {
                            b
                        } else {
                            b'x'
                        }
                    })
                    .collect();
                let lower: heapless::Vec<u8, 40> =
                    token.iter().map(u8::to_ascii_lowercase).collect();
                assert!(token_is(&token, &lower));
                for cut in 0..=hay.len() {
                    let (x, y) = (&hay[..cut], &hay[hay.len() - cut..]);
                    assert_eq!(bytes_eq(x, y), x == y);
                    assert!(bytes_eq(x, x));
                }
                let mut other = lower.clone();
                if let Some(last) = other.last_mut() {
                    *last = if *last == b'z' { b'a' } else { b'z' };
                    assert_eq!(token_is(&token, &other), token.eq_ignore_ascii_case(&other));
                }
                let mut table = [0u8; 256];
                for b in [b'"', b'<', 0x7f, 0x80, 0xff, 0x00, 0x20] {
                    table[usize::from(b)] = 1;
                }
                assert_eq!(
                    find_flagged(&hay, &table, |b| table[usize::from(b)] != 0),
                    hay.iter().position(|&b| table[usize::from(b)] != 0)
                );
                assert_eq!(
                    has_control(&hay),
                    hay.iter().any(|&b| (b < b' ' && b != b'\t') || b == 0x7F)
                );
                assert_eq!(
                    has_tab_or_newline(&hay),
                    hay.iter().any(|&b| matches!(b, b'\t' | b'\r' | b'\n'))
                );
                assert_eq!(
                    find_json_special(&hay),
                    hay.iter()
                        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                );
            }
        }
    }
}
