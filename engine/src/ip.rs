//! IP literals in URL hosts: reading a dotted quad and an IPv6 address, and writing IPv6 in
//! its canonical text (RFC 5952), so that `[0:0::1]` and `[::1]` name the same origin.
//!
//! `core::net` does the same, but its parser and `Display` (with `core::fmt`'s machinery behind
//! them) cost about 3 KB of flash on a Cortex-M, a seventh of the engine's budget there. These
//! functions accept exactly what `core::net`'s `FromStr` accepts and write exactly what its
//! `Display` writes; a test compares them over many inputs.

/// A dotted quad: four decimal numbers up to 255, no leading zeros (`1.2.3.4`, not `01.2.3.4`).
pub(crate) fn parse_ipv4(s: &[u8]) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut rest = s;
    for (i, slot) in out.iter_mut().enumerate() {
        if i > 0 {
            rest = rest.strip_prefix(b".")?;
        }
        let (value, used) = decimal_octet(rest)?;
        *slot = value;
        rest = rest.get(used..)?;
    }
    rest.is_empty().then_some(out)
}

/// One to three digits at the start of `s` with a value up to 255 and no leading zero; the
/// value and how many bytes it took.
fn decimal_octet(s: &[u8]) -> Option<(u8, usize)> {
    let digits = s.iter().take(3).take_while(|b| b.is_ascii_digit()).count();
    let text = s.get(..digits)?;
    if digits == 0 || (digits > 1 && text.first() == Some(&b'0')) {
        return None;
    }
    let value = text
        .iter()
        .fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
    Some((u8::try_from(value).ok()?, digits))
}

/// An IPv6 address (RFC 4291 §2.2): eight groups of one to four hex digits, one `::` standing
/// for a run of zero groups, and a dotted quad in place of the last two groups.
pub(crate) fn parse_ipv6(s: &[u8]) -> Option<[u16; 8]> {
    let (head, tail) = match find_double_colon(s) {
        Some(i) => (s.get(..i)?, Some(s.get(i + 2..)?)),
        None => (s, None),
    };
    let mut front = [0u16; 8];
    let n_front = read_groups(head, &mut front, tail.is_none())?;
    let Some(tail) = tail else {
        return (n_front == 8).then_some(front);
    };
    // With `::`, the groups on both sides make at most seven.
    let mut back = [0u16; 8];
    let n_back = read_groups(tail, &mut back, true)?;
    if n_front + n_back > 7 {
        return None;
    }
    let mut out = front;
    for (dst, src) in out
        .iter_mut()
        .skip(8 - n_back)
        .zip(back.iter().take(n_back))
    {
        *dst = *src;
    }
    Some(out)
}

fn find_double_colon(s: &[u8]) -> Option<usize> {
    s.windows(2).position(|w| w == b"::")
}

/// Reads `:`-separated groups from `s` (empty `s`: none) into `out`; returns how many. A dotted
/// quad may stand for the last two, where `last` says this part ends the address.
fn read_groups(s: &[u8], out: &mut [u16; 8], last: bool) -> Option<usize> {
    if s.is_empty() {
        return Some(0);
    }
    let mut n = 0;
    let mut groups = s.split(|&b| b == b':').peekable();
    while let Some(group) = groups.next() {
        if last && groups.peek().is_none() && group.contains(&b'.') {
            let [a, b, c, d] = parse_ipv4(group)?;
            *out.get_mut(n)? = u16::from_be_bytes([a, b]);
            *out.get_mut(n + 1)? = u16::from_be_bytes([c, d]);
            return Some(n + 2);
        }
        if group.is_empty() || group.len() > 4 {
            return None;
        }
        let mut value = 0u16;
        for &h in group {
            let digit = match h {
                b'0'..=b'9' => h - b'0',
                b'a'..=b'f' => h - b'a' + 10,
                b'A'..=b'F' => h - b'A' + 10,
                _ => return None,
            };
            value = (value << 4) | u16::from(digit);
        }
        *out.get_mut(n)? = value;
        n += 1;
    }
    Some(n)
}

/// The RFC 5952 text of `groups`, as `core::net`'s `Display` writes it: lowercase hex without
/// leading zeros, the longest run of two or more zero groups (the first of equals) as `::`, and
/// an IPv4-mapped address as `::ffff:` and a dotted quad. At most 39 bytes.
pub(crate) fn write_ipv6(groups: &[u16; 8], out: &mut dyn FnMut(&[u8])) {
    if let [0, 0, 0, 0, 0, 0xffff, ab, cd] = *groups {
        out(b"::ffff:");
        let [a, b] = ab.to_be_bytes();
        let [c, d] = cd.to_be_bytes();
        for (i, octet) in [a, b, c, d].into_iter().enumerate() {
            if i > 0 {
                out(b".");
            }
            write_decimal(u16::from(octet), out);
        }
        return;
    }
    let (mut best, mut best_len, mut run, mut run_len) = (0, 0, 0, 0);
    for (i, &g) in groups.iter().enumerate() {
        if g == 0 {
            if run_len == 0 {
                run = i;
            }
            run_len += 1;
            if run_len > best_len {
                (best, best_len) = (run, run_len);
            }
        } else {
            run_len = 0;
        }
    }
    let write_run = |run: &[u16], out: &mut dyn FnMut(&[u8])| {
        for (i, &g) in run.iter().enumerate() {
            if i > 0 {
                out(b":");
            }
            write_hex(g, out);
        }
    };
    if best_len > 1 {
        write_run(groups.get(..best).unwrap_or_default(), out);
        out(b"::");
        write_run(groups.get(best + best_len..).unwrap_or_default(), out);
    } else {
        write_run(groups, out);
    }
}

fn write_hex(value: u16, out: &mut dyn FnMut(&[u8])) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut started = false;
    for shift in [12u16, 8, 4, 0] {
        let nibble = usize::from((value >> shift) & 0xF);
        if nibble != 0 || started || shift == 0 {
            started = true;
            out(HEX.get(nibble..nibble + 1).unwrap_or(b"0"));
        }
    }
}

/// `value` in decimal without leading zeros, handed out in one piece.
pub(crate) fn write_decimal(value: u16, out: &mut dyn FnMut(&[u8])) {
    // Filled from the end: five places hold any u16.
    let mut digits = [0u8; 5];
    let mut at = digits.len();
    let mut v = value;
    loop {
        at = at.saturating_sub(1);
        if let Some(d) = digits.get_mut(at) {
            *d = b'0' + (v % 10) as u8;
        }
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out(digits.get(at..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};
    use core::str::FromStr;
    use std::string::String;
    use std::vec::Vec;

    fn text6(groups: &[u16; 8]) -> String {
        let mut out = Vec::new();
        write_ipv6(groups, &mut |b| out.extend_from_slice(b));
        String::from_utf8(out).unwrap()
    }

    /// Random strings over the literal alphabet, and edits of real addresses: accepted exactly
    /// when `core::net` accepts them, with the same value and the same canonical text.
    #[test]
    fn literals_read_and_write_as_core_net_does() {
        let alphabet = b"0123456789abcdefABCDEF:.:::.g%";
        let mut seed = 0x853c_49e6_748f_ea9bu64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut cases: Vec<String> = [
            "::",
            "::1",
            "1::",
            "1::2",
            "::ffff:1.2.3.4",
            "::1.2.3.4",
            "64:ff9b::192.0.2.1",
            "2001:db8::1",
            "2001:DB8:0:0:1:0:0:1",
            "1:0:0:2:0:0:0:3",
            "0:0:1:0:0:1:0:0",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            "1:2:3:4:5:6:1.2.3.4",
            "1:2:3:4:5:6:7:1.2.3.4",
            "1::2::3",
            ":1::2",
            "1::2:",
            "12345::",
            "1.2.3.4",
            "255.255.255.255",
            "256.1.1.1",
            "01.2.3.4",
            "0.0.0.0",
            "1.2.3",
            "1.2.3.4.5",
            "::ffff:01.2.3.4",
            "fe80::1%eth0",
            "",
            ":",
            ":::",
            "1:2:3:4:5:6:7:8:9",
        ]
        .iter()
        .map(|s| String::from(*s))
        .collect();
        for _ in 0..60_000 {
            let len = (next() % 20) as usize;
            let s: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize] as char)
                .collect();
            cases.push(s);
        }
        for _ in 0..20_000 {
            let groups: [u16; 8] =
                core::array::from_fn(|_| if next() % 2 == 0 { 0 } else { next() as u16 });
            cases.push(Ipv6Addr::from(groups).to_string());
            let quad: [u8; 4] = core::array::from_fn(|_| next() as u8);
            cases.push(Ipv4Addr::from(quad).to_string());
        }
        for s in &cases {
            let ours = parse_ipv4(s.as_bytes());
            let std4 = Ipv4Addr::from_str(s).ok().map(|a| a.octets());
            assert_eq!(ours, std4, "IPv4 {s:?}");
            let ours = parse_ipv6(s.as_bytes());
            let std6 = Ipv6Addr::from_str(s).ok();
            assert_eq!(ours, std6.map(|a| a.segments()), "IPv6 {s:?}");
            if let Some(a) = std6 {
                assert_eq!(text6(&a.segments()), a.to_string(), "text of {s:?}");
            }
        }
    }

    #[test]
    fn decimals() {
        for v in [0u16, 7, 10, 99, 100, 255, 65_535] {
            let mut out = Vec::new();
            write_decimal(v, &mut |b| out.extend_from_slice(b));
            assert_eq!(out, v.to_string().into_bytes());
        }
    }
}
