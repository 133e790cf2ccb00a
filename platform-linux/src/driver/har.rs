//! A recording as an HTTP Archive (HAR 1.2), for a browser's network panel: one entry per hop,
//! built from the recorded request bytes, response heads and hop records.
//!
//! ```text
//!  Recording ── hop records + Request / ResponseHead taps ──► har::from_recording ──► log { entries }
//! ```
//!
//! Timings map as HAR asks: `dns`, `connect` (which includes `ssl`, as HAR 1.2 says), `ssl`,
//! `send` (0: a GET goes out in one write), `wait` (request to first response byte) and
//! `receive` (the rest of the hop); -1 where a phase did not happen. `connection` is the
//! engine's connection id, so reused connections show. Cookie and query values are whatever the
//! recording holds: placeholders unless secrets were kept. A body's `size` counts the bytes on
//! the wire after the head (transfer coding included); the body text is not included.

use serde_json::{json, Value};

use super::record::{Event, Recording};

/// The HAR document (`{"log": …}`) for a recording.
pub fn from_recording(rec: &Recording) -> Value {
    let hops: Vec<&Value> = rec
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Hop { record, .. } => Some(record),
            _ => None,
        })
        .collect();
    let hop_times: Vec<u64> = rec
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Hop { t, .. } => Some(*t),
            _ => None,
        })
        .collect();
    let entries: Vec<Value> = hops
        .iter()
        .enumerate()
        .map(|(i, record)| {
            let next_url = hops
                .get(i + 1)
                .and_then(|n| n.get("url"))
                .and_then(Value::as_str);
            entry(
                rec,
                record,
                hop_times.get(i).copied().unwrap_or(0),
                next_url,
            )
        })
        .collect();
    json!({
        "log": {
            "version": "1.2",
            "creator": {"name": "phonecheck", "version": env!("CARGO_PKG_VERSION")},
            "pages": [],
            "entries": entries,
        }
    })
}

fn num(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

fn entry(rec: &Recording, record: &Value, ended_at: u64, next_url: Option<&str>) -> Value {
    let hop = num(record, "hop").unwrap_or(0);
    let url = record.get("url").and_then(Value::as_str).unwrap_or("");
    let last = |want: &str| -> Vec<u8> {
        rec.events
            .iter()
            .rev()
            .find_map(|e| match e {
                Event::Request { hop: h, bytes, .. }
                    if want == "request" && i64::from(*h) == hop =>
                {
                    Some(bytes.clone())
                }
                Event::ResponseHead { hop: h, bytes, .. }
                    if want == "response" && i64::from(*h) == hop =>
                {
                    Some(bytes.clone())
                }
                _ => None,
            })
            .unwrap_or_default()
    };
    let request = last("request");
    let head = last("response");
    let (req_line, req_headers) = split_head(&request);
    let mut parts = req_line.split(' ');
    let method = parts.next().filter(|m| !m.is_empty()).unwrap_or("GET");
    let req_version = parts.nth(1).unwrap_or("HTTP/1.1");
    let (status_line, resp_headers) = split_head(&head);
    let mut sparts = status_line.splitn(3, ' ');
    let resp_version = sparts.next().unwrap_or("");
    let status = sparts
        .next()
        .and_then(|s| s.parse::<i64>().ok())
        .or_else(|| num(record, "status"))
        .unwrap_or(0);
    let status_text = sparts.next().unwrap_or("");
    let header = |list: &[(String, String)], name: &str| {
        list.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let request_cookies: Vec<Value> = req_headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
        .flat_map(|(_, v)| {
            v.split(';')
                .map(str::trim)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter_map(|pair| {
            pair.split_once('=')
                .map(|(n, v)| json!({"name": n, "value": v}))
        })
        .collect();
    let response_cookies: Vec<Value> = resp_headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .filter_map(|(_, v)| set_cookie(v))
        .collect();
    let location = header(&resp_headers, "location");
    let redirect_url = match (status, location) {
        (300..=399, Some(loc)) => next_url.map_or(loc, str::to_string),
        _ => String::new(),
    };
    let bytes_in = num(record, "bytes_in").unwrap_or(0);
    let has_head = !head.is_empty();
    let body_size = if has_head {
        (bytes_in - head.len() as i64).max(0)
    } else {
        -1
    };
    let t = record.get("timings_ms").cloned().unwrap_or(Value::Null);
    let ms = |k: &str| t.get(k).and_then(Value::as_i64);
    let dns = ms("dns").unwrap_or(-1);
    let ssl = ms("tls").unwrap_or(-1);
    let connect = ms("connect").map_or(-1, |c| c + ssl.max(0));
    let total = ms("total").unwrap_or(0);
    let send = 0;
    let wait = ms("first_byte").unwrap_or(0);
    let receive = (total - dns.max(0) - connect.max(0) - send - wait).max(0);
    let time = dns.max(0) + connect.max(0) + send + wait + receive;
    let started_ms = rec
        .check
        .wall_unix_ms
        .unwrap_or(0)
        .saturating_add(ended_at.saturating_sub(rec.check.start))
        .saturating_sub(u64::try_from(total).unwrap_or(0));
    let server_ip = record
        .get("remote")
        .and_then(Value::as_str)
        .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
        .map(|a| a.ip().to_string());
    let mut entry = json!({
        "startedDateTime": super::utc_timestamp(started_ms),
        "time": time,
        "request": {
            "method": method,
            "url": url,
            "httpVersion": req_version,
            "cookies": request_cookies,
            "headers": headers_json(&req_headers),
            "queryString": query(url),
            "headersSize": if request.is_empty() { -1 } else { request.len() as i64 },
            "bodySize": 0,
        },
        "response": {
            "status": status,
            "statusText": status_text,
            "httpVersion": resp_version,
            "cookies": response_cookies,
            "headers": headers_json(&resp_headers),
            "content": {
                "size": body_size.max(0),
                "mimeType": header(&resp_headers, "content-type").unwrap_or_default(),
            },
            "redirectURL": redirect_url,
            "headersSize": if has_head { head.len() as i64 } else { -1 },
            "bodySize": body_size,
        },
        "cache": {},
        "timings": {
            "blocked": -1,
            "dns": dns,
            "connect": connect,
            "ssl": ssl,
            "send": send,
            "wait": wait,
            "receive": receive,
        },
        "connection": num(record, "conn").unwrap_or(0).to_string(),
        "_phonecheck": {
            "hop": hop,
            "reused_connection": record.get("reused").cloned().unwrap_or(Value::Null),
            "tls": record.get("tls").cloned().unwrap_or(Value::Null),
            "local": record.get("local").cloned().unwrap_or(Value::Null),
        },
    });
    if let (Some(ip), Some(map)) = (server_ip, entry.as_object_mut()) {
        map.insert("serverIPAddress".into(), Value::String(ip));
    }
    entry
}

/// The first line of a head and its header lines as (name, value).
fn split_head(head: &[u8]) -> (String, Vec<(String, String)>) {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n").filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("").to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    (first, headers)
}

fn headers_json(headers: &[(String, String)]) -> Vec<Value> {
    headers
        .iter()
        .map(|(n, v)| json!({"name": n, "value": v}))
        .collect()
}

fn query(url: &str) -> Vec<Value> {
    let q = url
        .split_once('?')
        .map_or("", |(_, q)| q.split('#').next().unwrap_or(""));
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            json!({"name": n, "value": v})
        })
        .collect()
}

fn set_cookie(value: &str) -> Option<Value> {
    let mut parts = value.split(';').map(str::trim);
    let (name, val) = parts.next()?.split_once('=')?;
    let mut cookie = json!({"name": name.trim(), "value": val.trim()});
    let map = cookie.as_object_mut()?;
    for attr in parts {
        let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
        match k.to_ascii_lowercase().as_str() {
            "path" => {
                map.insert("path".into(), json!(v));
            }
            "domain" => {
                map.insert("domain".into(), json!(v));
            }
            "httponly" => {
                map.insert("httpOnly".into(), json!(true));
            }
            "secure" => {
                map.insert("secure".into(), json!(true));
            }
            _ => {}
        }
    }
    Some(cookie)
}

#[cfg(test)]
mod tests {

    #[test]
    fn dates_are_iso8601_utc() {
        assert_eq!(crate::driver::utc_timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            crate::driver::utc_timestamp(951_782_400_123),
            "2000-02-29T00:00:00.123Z"
        );
        assert_eq!(
            crate::driver::utc_timestamp(1_700_000_000_000),
            "2023-11-14T22:13:20.000Z"
        );
    }
}
