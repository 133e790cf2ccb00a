//! Time as the caller gives it. The engine never reads a clock: every input carries the caller's
//! monotonic `now`, and the engine answers with deadlines in the same units.

use core::ops::Add;
use core::time::Duration;

/// A point on the caller's monotonic clock, in milliseconds from any origin the caller likes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    /// The instant `ms` milliseconds after the caller's origin.
    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms)
    }

    /// Milliseconds since the caller's origin.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// Milliseconds from `earlier` to `self`, saturated to `u32` (zero if `earlier` is later).
    // Out of line on 32-bit targets: called at many places, each copy larger than the call
    // (measured on thumbv7em).
    #[cfg_attr(not(target_pointer_width = "64"), inline(never))]
    pub(crate) fn millis_u32_since(self, earlier: Instant) -> u32 {
        u32::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(u32::MAX)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    // Out of line on 32-bit targets: the 128-bit `as_millis` is some 70 bytes of code at each
    // of half a dozen call sites (measured on thumbv7em: the image is smaller with one copy).
    #[cfg_attr(not(target_pointer_width = "64"), inline(never))]
    fn add(self, d: Duration) -> Instant {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(ms))
    }
}

/// Milliseconds of a duration, saturated to `u32` (enough for any check: 49 days).
pub(crate) fn millis_u32(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// The caller's wall clock at one instant of its monotonic clock, so the engine can turn
/// `Expires` dates (and, with TLS, certificate validity) into its own time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WallClock {
    /// A monotonic instant.
    pub at: Instant,
    /// Seconds since the Unix epoch at that instant.
    pub unix_secs: u64,
}

impl WallClock {
    /// Unix seconds at `now`.
    pub fn unix_at(&self, now: Instant) -> u64 {
        self.unix_secs
            .saturating_add(div_small(now.0.saturating_sub(self.at.0), 1000).0)
    }
}

/// `x / d` and `x % d` for a divisor below 2^16, by long division in 16-bit digits: three
/// 32-bit divisions, which a Cortex-M3/M4 does in hardware, instead of the 64-bit division
/// routine.
pub(crate) fn div_small(x: u64, d: u16) -> (u64, u16) {
    let d = u32::from(d.max(1));
    let hi = (x >> 32) as u32;
    let (q_hi, r) = (hi / d, hi % d);
    let mid = r << 16 | (x >> 16) as u32 & 0xFFFF;
    let (q_mid, r) = (mid / d, mid % d);
    let lo = r << 16 | x as u32 & 0xFFFF;
    let (q_lo, r) = (lo / d, lo % d);
    (
        u64::from(q_hi) << 32 | u64::from(q_mid) << 16 | u64::from(q_lo),
        r as u16,
    )
}
