//! The simulator's state: clients, tokens, checks and their life cycle.
//!
//! ```text
//!  ACCEPTED ──device opens check_url──► PENDING ──operator identifies──► (code issued)
//!     │                                   │                                   │
//!     │ TTL passes                        └── not a mobile address: ERROR     └─ PATCH code ─► COMPLETED
//!     ▼                                                                                       (match)
//!  EXPIRED
//! ```

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// A check's status, as the API names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Created, not yet opened by a device.
    Accepted,
    /// Opened by a device; the operator step is under way or done.
    Pending,
    /// The code was submitted.
    Completed,
    /// The TTL passed first.
    Expired,
    /// The device step failed (for example `not_mobile_ip`).
    Error,
}

impl Status {
    /// The API's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Accepted => "ACCEPTED",
            Status::Pending => "PENDING",
            Status::Completed => "COMPLETED",
            Status::Expired => "EXPIRED",
            Status::Error => "ERROR",
        }
    }
}

/// One phone check.
#[derive(Clone, Debug)]
pub struct Check {
    /// Its id.
    pub id: String,
    /// The number the backend asked about.
    pub phone_number: String,
    /// The backend's reference, if any.
    pub reference_id: Option<String>,
    /// Where the device should land instead of a JSON answer, if any.
    pub redirect_url: Option<String>,
    /// Its status.
    pub status: Status,
    /// When it was created.
    pub created: Instant,
    /// Wall-clock creation time (RFC 3339 in responses).
    pub created_at: SystemTime,
    /// The subscriber the operator recognised.
    pub subscriber: Option<String>,
    /// The one-time code issued to the device.
    pub code: Option<String>,
    /// The operator's session cookie for this check.
    pub mno_cookie: Option<String>,
    /// The operator's one-time token back to the API.
    pub mno_token: Option<String>,
    /// The result of the PATCH.
    pub matched: Option<bool>,
    /// Why the device step failed.
    pub error: Option<String>,
}

/// Everything the servers share.
#[derive(Debug)]
pub struct State {
    /// `client_id` → `client_secret`.
    pub clients: HashMap<String, String>,
    /// Issued access tokens.
    pub tokens: Vec<String>,
    /// Checks by id.
    pub checks: HashMap<String, Check>,
    /// The operator's table: data-session source address → phone number.
    pub subscribers: HashMap<IpAddr, String>,
    /// How long a check may wait for its device step.
    pub ttl: Duration,
    /// The CAMARA operator's clients' grants.
    pub camara: super::camara::Camara,
}

static COUNTER: AtomicU64 = AtomicU64::new(1);

/// A random hex string of `n` characters (unique per process, not guessable from outside).
pub fn random_hex(n: usize) -> String {
    let mut out = String::new();
    while out.len() < n {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(n);
    out
}

impl State {
    /// Whether the check's TTL has passed; marks it EXPIRED if so.
    pub fn expire(&mut self, id: &str) {
        let ttl = self.ttl;
        if let Some(c) = self.checks.get_mut(id) {
            let waiting =
                matches!(c.status, Status::Accepted | Status::Pending) && c.code.is_none();
            if waiting && c.created.elapsed() > ttl {
                c.status = Status::Expired;
            }
        }
    }
}

/// RFC 3339 (UTC, seconds) for a wall-clock time.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Whether `s` is an E.164 number: `+`, then 7 to 15 digits, not starting with 0.
pub fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164() {
        assert!(is_e164("+447700900001"));
        assert!(!is_e164("447700900001"));
        assert!(!is_e164("+0447700900001"));
        assert!(!is_e164("+44 7700"));
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(rfc3339(t), "2015-10-21T07:28:00Z");
    }
}
