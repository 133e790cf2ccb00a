//! ModemManager's view of the modems, read through `mmcli --output-keyvalue`.
//!
//! A connected bearer names the data interface (`bearer.status.interface`) and the DNS servers
//! the network gave (`bearer.ipv4-config.dns.value[N]`, `bearer.ipv6-config.dns.value[N]`). When
//! `mmcli` is not installed or ModemManager is not running, there are simply no bearers.

use std::io::Read;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one `mmcli` call may take.
const MMCLI_TIMEOUT: Duration = Duration::from_secs(3);

/// A ModemManager bearer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bearer {
    /// D-Bus object path.
    pub path: String,
    /// The data interface, once connected.
    pub interface: Option<String>,
    /// Whether the bearer is connected.
    pub connected: bool,
    /// DNS servers the network gave.
    pub dns: Vec<IpAddr>,
}

/// `key : value` pairs of `--output-keyvalue` text.
pub fn key_values(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .filter_map(|l| l.split_once(" : "))
        .map(|(k, v)| (k.trim(), v.trim()))
        .filter(|(_, v)| *v != "--")
        .collect()
}

/// Object paths listed under `prefix` (e.g. `modem-list.value[1]`).
fn values<'a>(kv: &[(&'a str, &'a str)], prefix: &str) -> Vec<&'a str> {
    kv.iter()
        .filter(|(k, _)| *k == prefix || k.starts_with(&format!("{prefix}.value[")))
        .map(|(_, v)| *v)
        .collect()
}

/// Reads one bearer's `mmcli -b` output.
pub fn parse_bearer(path: &str, text: &str) -> Bearer {
    let kv = key_values(text);
    let get = |k: &str| kv.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
    let mut dns = Vec::new();
    for family in ["ipv4-config", "ipv6-config"] {
        for v in values(&kv, &format!("bearer.{family}.dns")) {
            if let Ok(ip) = v.parse() {
                dns.push(ip);
            }
        }
    }
    Bearer {
        path: path.to_string(),
        interface: get("bearer.status.interface").map(str::to_string),
        connected: get("bearer.status.connected") == Some("yes"),
        dns,
    }
}

fn mmcli(args: &[&str]) -> Option<String> {
    let mut child = Command::new("mmcli")
        .args(args)
        .arg("--output-keyvalue")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + MMCLI_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(Some(_)) | Err(_) => return None,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let mut out = String::new();
    child.stdout.take()?.read_to_string(&mut out).ok()?;
    Some(out)
}

/// Every bearer of every modem ModemManager knows; empty without `mmcli` or ModemManager.
pub fn bearers() -> Vec<Bearer> {
    let Some(list) = mmcli(&["-L"]) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for modem in values(&key_values(&list), "modem-list") {
        let Some(info) = mmcli(&["-m", modem]) else {
            continue;
        };
        for bearer in values(&key_values(&info), "modem.generic.bearers") {
            if let Some(text) = mmcli(&["-b", bearer]) {
                out.push(parse_bearer(bearer, &text));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_key_values() {
        let text = "\
bearer.dbus-path                       : /org/freedesktop/ModemManager1/Bearer/0
bearer.status.connected                : yes
bearer.status.interface                : wwan0
bearer.ipv4-config.method              : static
bearer.ipv4-config.dns.length          : 2
bearer.ipv4-config.dns.value[1]        : 198.51.100.53
bearer.ipv4-config.dns.value[2]        : 198.51.100.54
bearer.ipv6-config.dns.length          : 1
bearer.ipv6-config.dns.value[1]        : 2001:db8::53
bearer.ipv6-config.gateway             : --
";
        let b = parse_bearer("/org/freedesktop/ModemManager1/Bearer/0", text);
        assert_eq!(b.interface.as_deref(), Some("wwan0"));
        assert!(b.connected);
        let dns: Vec<String> = b.dns.iter().map(ToString::to_string).collect();
        assert_eq!(dns, ["198.51.100.53", "198.51.100.54", "2001:db8::53"]);
    }

    #[test]
    fn modem_list_paths() {
        let text = "modem-list.length : 2\nmodem-list.value[1] : /org/freedesktop/ModemManager1/Modem/0\nmodem-list.value[2] : /org/freedesktop/ModemManager1/Modem/3\n";
        assert_eq!(
            values(&key_values(text), "modem-list"),
            [
                "/org/freedesktop/ModemManager1/Modem/0",
                "/org/freedesktop/ModemManager1/Modem/3"
            ]
        );
    }
}
