//! What the command line writes: the envelope, `-v` progress lines, a `check` summary, one JSON
//! line per check of a batch and the closing statistics. JSON is written here, once, from the
//! driver's typed reports (the envelope inside them is the engine's own text).

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use phonecheck_engine::{HopRecord, Tap};

use crate::driver::Report;
use crate::flow::Flow;

/// The version of the JSON-lines format `--repeat`, `--concurrency` and `--batch` write.
pub const SCHEMA: u32 = 1;

/// The exit status when stdout was closed under us (`| head`): what a process killed by
/// SIGPIPE reports, 128 + 13.
pub const STDOUT_CLOSED: i32 = 141;

/// Prints a line with `format!` arguments; when stdout is closed, returns [`STDOUT_CLOSED`] from
/// the calling function (which returns an exit status) instead of panicking as `println!` does.
macro_rules! say {
    ($($arg:tt)*) => {
        if !$crate::cli::output::out(&format!($($arg)*)) {
            return $crate::cli::output::STDOUT_CLOSED;
        }
    };
}
pub(crate) use say;

/// Writes a line to stdout. A closed pipe (`| head`) ends the output quietly: the caller stops.
pub fn out(line: &str) -> bool {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .is_ok()
}

/// One `-v` line: status, host, reuse, TLS, timings.
pub fn progress_line(record: HopRecord<'_>) -> String {
    let hop = record.info;
    let t = hop.timings;
    // The record's URL is normalised: "scheme://authority/...".
    let url = record.url.as_str();
    let (scheme, rest) = url.split_once("://").unwrap_or(("?", url));
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let ms = |v: Option<u32>| v.map_or("-".to_string(), |v| format!("{v}ms"));
    let status = hop.status.map_or("---".to_string(), |s| s.to_string());
    let conn = if hop.reused {
        "reused connection"
    } else {
        "new connection"
    };
    let tls = hop.tls.map_or(String::new(), |t| {
        format!(", {}{}", t.version, if t.resumed { " resumed" } else { "" })
    });
    let remote = match (hop.remote, hop.local) {
        (Some(r), Some(l)) => format!(" {r} from {l}"),
        (Some(r), None) => format!(" {r}"),
        _ => String::new(),
    };
    format!(
        "hop {}: {status} {scheme} {authority}{remote} ({conn}{tls}) dns {} connect {} tls {} first byte {} total {}",
        hop.hop,
        ms(t.dns_ms),
        ms(t.connect_ms),
        ms(t.tls_ms),
        ms(t.first_byte_ms),
        ms(t.total_ms),
    )
}

/// `-vv`: a request (`> `) or response head (`< `) on stderr, a line per header, with the
/// bearer token, cookie values and secret query values redacted unless `raw`.
pub fn show_head(tap: Tap<'_>, raw: bool) {
    let (hop, mark, bytes) = match tap {
        Tap::Request { hop, bytes } => (hop, '>', bytes),
        Tap::ResponseHead { hop, head } => (hop, '<', head),
        // Decrypted bytes are for a recorder; the heads above already show them.
        Tap::Decrypted { .. } => return,
    };
    let text = String::from_utf8_lossy(bytes);
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let shown = if raw {
            line.to_string()
        } else {
            redact_header_line(line)
        };
        eprintln!("  hop {hop} {mark} {shown}");
    }
}

/// One head line with its secrets replaced by `REDACTED`.
pub fn redact_header_line(line: &str) -> String {
    let url = |u: &str| {
        let mut s = String::new();
        let _ = phonecheck_engine::trace::write_url(u, false, &mut s);
        s
    };
    if let Some(rest) = line.strip_prefix("GET ") {
        let (target, version) = rest.rsplit_once(' ').unwrap_or((rest, ""));
        return format!("GET {} {version}", url(target));
    }
    let Some((name, value)) = line.split_once(':') else {
        return line.to_string();
    };
    let value = value.trim();
    let lower = name.to_ascii_lowercase();
    let redacted = match lower.as_str() {
        "authorization" | "proxy-authorization" => match value.split_once(' ') {
            Some((scheme, _)) => format!("{scheme} REDACTED"),
            None => "REDACTED".to_string(),
        },
        "cookie" => value
            .split("; ")
            .map(|pair| match pair.split_once('=') {
                Some((n, _)) => format!("{n}=REDACTED"),
                None => pair.to_string(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        "set-cookie" => match value.split_once(';') {
            Some((pair, attrs)) => format!(
                "{}={};{attrs}",
                pair.split('=').next().unwrap_or(pair),
                "REDACTED"
            ),
            None => format!("{}=REDACTED", value.split('=').next().unwrap_or(value)),
        },
        "location" => url(value),
        _ => value.to_string(),
    };
    format!("{name}: {redacted}")
}

pub fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// `phonecheck check`'s result: the check, the number, the API's verdict and the device's
/// envelope (embedded as the engine wrote it).
pub fn flow_summary(flow: &Flow, phone_number: &str) -> String {
    let (status, matched) = match &flow.result {
        Some(r) => (r.status.as_str(), Some(r.matched)),
        None => ("DEVICE_STEP_FAILED", None),
    };
    let mut line = format!(
        "{{\"check_id\":{},\"phone_number\":{},\"status\":{}",
        json_string(&flow.check.check_id),
        json_string(phone_number),
        json_string(status)
    );
    if let Some(m) = matched {
        line.push_str(&format!(",\"match\":{m}"));
    }
    line.push_str(",\"device\":");
    line.push_str(&flow.device.envelope);
    line.push('}');
    line
}

/// One line of a batch: the schema version, which check, when it ended, how long it took, its
/// exit status and its result (`result` is the device envelope, or a `check` summary).
pub fn batch_line(
    index: usize,
    label: Option<&str>,
    exit: i32,
    wall: Duration,
    result: &str,
) -> String {
    let mut line = format!(
        "{{\"schema\":{SCHEMA},\"check\":{index},\"timestamp\":\"{}\",\"wall_ms\":{:.3},\"exit\":{exit}",
        rfc3339_now(),
        wall.as_secs_f64() * 1000.0
    );
    if let Some(label) = label {
        line.push_str(&format!(",\"phone_number\":{}", json_string(label)));
    }
    line.push_str(",\"result\":");
    line.push_str(result);
    line.push('}');
    line
}

/// Statistics of a batch, for the closing line on stderr.
#[derive(Debug, Default)]
pub struct Tally {
    walls: Vec<Duration>,
    ok: usize,
    failed: usize,
}

impl Tally {
    /// Counts one check.
    pub fn add(&mut self, report: &Report) {
        self.walls.push(report.elapsed);
        if report.code.is_none() {
            self.ok += 1;
        } else {
            self.failed += 1;
        }
    }

    /// Counts one check by its exit status and wall time.
    pub fn add_exit(&mut self, exit: i32, wall: Duration) {
        self.walls.push(wall);
        if exit == 0 {
            self.ok += 1;
        } else {
            self.failed += 1;
        }
    }

    /// Whether every check succeeded.
    pub fn all_ok(&self) -> bool {
        self.failed == 0
    }

    /// `N checks, S ok, F failed, R checks/s, p50 X ms, p95 Y ms, p99 Z ms`.
    pub fn line(&mut self, elapsed: Duration) -> String {
        self.walls.sort_unstable();
        let n = self.walls.len();
        let pct = |p: f64| -> f64 {
            if n == 0 {
                return 0.0;
            }
            // Nearest rank.
            let rank = ((p / 100.0) * n as f64).ceil() as usize;
            let i = rank.clamp(1, n) - 1;
            self.walls.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        let rate = if elapsed.is_zero() {
            0.0
        } else {
            n as f64 / elapsed.as_secs_f64()
        };
        format!(
            "{n} checks, {} ok, {} failed, {rate:.1} checks/s, p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms",
            self.ok,
            self.failed,
            pct(50.0),
            pct(95.0),
            pct(99.0)
        )
    }
}

/// The current UTC time as RFC 3339 with milliseconds.
pub fn rfc3339_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    crate::driver::utc_timestamp(u64::try_from(now.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_line_has_the_documented_form() {
        let mut t = Tally::default();
        for ms in [10, 20, 30, 40] {
            t.add_exit(0, Duration::from_millis(ms));
        }
        t.add_exit(4, Duration::from_millis(1000));
        assert_eq!(
            t.line(Duration::from_secs(2)),
            "5 checks, 4 ok, 1 failed, 2.5 checks/s, p50 30.0 ms, p95 1000.0 ms, p99 1000.0 ms"
        );
        assert!(!t.all_ok());
    }

    #[test]
    fn head_lines_lose_their_secrets() {
        assert_eq!(
            redact_header_line("GET /cb?code=123&x=1 HTTP/1.1"),
            "GET /cb?code=REDACTED&x=1 HTTP/1.1"
        );
        assert_eq!(
            redact_header_line("Authorization: Bearer abc"),
            "Authorization: Bearer REDACTED"
        );
        assert_eq!(
            redact_header_line("Cookie: a=1; sid=xyz"),
            "Cookie: a=REDACTED; sid=REDACTED"
        );
        assert_eq!(
            redact_header_line("Set-Cookie: sid=xyz; Path=/; HttpOnly"),
            "Set-Cookie: sid=REDACTED; Path=/; HttpOnly"
        );
        assert_eq!(
            redact_header_line("Location: https://app.example/cb?code=9&state=s"),
            "Location: https://app.example/cb?code=REDACTED&state=REDACTED"
        );
        assert_eq!(redact_header_line("Host: api.example"), "Host: api.example");
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = rfc3339_now();
        assert_eq!(t.len(), "2026-11-29T06:45:24.123Z".len(), "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
        assert!(t.starts_with("20"), "{t}");
    }
}
