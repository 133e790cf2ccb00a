//! The network-namespace rig: a "phone" with Wi-Fi and cellular, and a "network" behind both.
//!
//! ```text
//!   phone namespace                                network namespace (rp_filter=1, strict)
//!  ┌──────────────────────────────┐              ┌─────────────────────────────────────────┐
//!  │ wlan0 192.0.2.2/24           │──── veth ────│ wl 192.0.2.1/24      2001:db8:1::1/64    │
//!  │       2001:db8:1::2/64       │              │                                         │
//!  │   default via wlan0 metric 600              │ lo 203.0.113.10 / 2001:db8:3::10 (HTTP)   │
//!  │ wwan0 198.51.100.2/24        │──── veth ────│    203.0.113.53 / 2001:db8:3::53 (DNS)    │
//!  │       2001:db8:2::2/64       │              │ ww 198.51.100.1/24   2001:db8:2::1/64    │
//!  │   default via wwan0 metric 700              └─────────────────────────────────────────┘
//!  └──────────────────────────────┘
//! ```
//!
//! Wi-Fi holds the better default route, as on a phone. Strict reverse-path filtering in the
//! network namespace drops a packet that arrives on the wrong link for its source address, so a
//! request can only arrive with the `wwan0` address if it really left through `wwan0`.
//! Documentation address ranges only; unique namespace names per rig; torn down on drop.

use std::fs::File;
use std::io;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Phone-side addresses.
pub const WLAN_V4: &str = "192.0.2.2";
/// Phone-side addresses.
pub const WWAN_V4: &str = "198.51.100.2";
/// Phone-side addresses.
pub const WLAN_V6: &str = "2001:db8:1::2";
/// Phone-side addresses.
pub const WWAN_V6: &str = "2001:db8:2::2";
/// The server's addresses in the network namespace.
pub const SERVER_V4: &str = "203.0.113.10";
/// The server's addresses in the network namespace.
pub const SERVER_V6: &str = "2001:db8:3::10";
/// The DNS server's addresses in the network namespace.
pub const DNS_V4: &str = "203.0.113.53";
/// The DNS server's addresses in the network namespace.
pub const DNS_V6: &str = "2001:db8:3::53";

/// Whether this process may build namespaces.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A phone namespace and a network namespace, joined by two veth pairs.
pub struct Rig {
    /// Phone namespace name.
    pub phone: String,
    /// Network namespace name.
    pub net: String,
}

/// Runs a command; a failure carries the command line and its stderr. (The cellular rig uses it
/// too.)
pub(crate) fn run(args: &[&str]) -> io::Result<Output> {
    let out = Command::new(args[0]).args(&args[1..]).output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out)
}

impl Rig {
    /// Builds the rig (needs root and iproute2).
    pub fn create() -> io::Result<Rig> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let tag = format!(
            "pc{}x{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let rig = Rig {
            phone: format!("{tag}-phone"),
            net: format!("{tag}-net"),
        };
        run(&["ip", "netns", "add", &rig.phone])?;
        run(&["ip", "netns", "add", &rig.net])?;
        let (p, n) = (rig.phone.as_str(), rig.net.as_str());
        let phone_sysctl = |setting: &str| format!("ip netns exec {p} sysctl -qw {setting}");
        let net_sysctl = |setting: &str| format!("ip netns exec {n} sysctl -qw {setting}");
        let mut steps = vec![
            format!("ip -n {p} link add wlan0 type veth peer name wl netns {n}"),
            format!("ip -n {p} link add wwan0 type veth peer name ww netns {n}"),
        ];
        // No stray IPv6 chatter on the phone links, so TX counters move only for real traffic:
        // no router solicitations, and listener reports sent at once rather than over seconds.
        for dev in ["all", "default", "wlan0", "wwan0"] {
            steps.push(phone_sysctl(&format!(
                "net.ipv6.conf.{dev}.router_solicitations=0"
            )));
        }
        for dev in ["wlan0", "wwan0"] {
            steps.push(phone_sysctl(&format!(
                "net.ipv6.conf.{dev}.mldv1_unsolicited_report_interval=1"
            )));
            steps.push(phone_sysctl(&format!(
                "net.ipv6.conf.{dev}.mldv2_unsolicited_report_interval=1"
            )));
        }
        steps.extend([
            format!("ip -n {p} addr add {WLAN_V4}/24 dev wlan0"),
            format!("ip -n {p} addr add {WLAN_V6}/64 dev wlan0 nodad"),
            format!("ip -n {p} addr add {WWAN_V4}/24 dev wwan0"),
            format!("ip -n {p} addr add {WWAN_V6}/64 dev wwan0 nodad"),
            format!("ip -n {p} link set lo up"),
            format!("ip -n {p} link set wlan0 up"),
            format!("ip -n {p} link set wwan0 up"),
            format!("ip -n {n} addr add 192.0.2.1/24 dev wl"),
            format!("ip -n {n} addr add 2001:db8:1::1/64 dev wl nodad"),
            format!("ip -n {n} addr add 198.51.100.1/24 dev ww"),
            format!("ip -n {n} addr add 2001:db8:2::1/64 dev ww nodad"),
            format!("ip -n {n} addr add {SERVER_V4}/32 dev lo"),
            format!("ip -n {n} addr add {DNS_V4}/32 dev lo"),
            format!("ip -n {n} addr add {SERVER_V6}/128 dev lo"),
            format!("ip -n {n} addr add {DNS_V6}/128 dev lo"),
            format!("ip -n {n} link set lo up"),
            format!("ip -n {n} link set wl up"),
            format!("ip -n {n} link set ww up"),
        ]);
        // Strict reverse-path filtering: a packet from wwan0's address must arrive on ww.
        for dev in ["all", "default", "wl", "ww"] {
            steps.push(net_sysctl(&format!("net.ipv4.conf.{dev}.rp_filter=1")));
        }
        steps.extend([
            format!("ip -n {p} route add default via 192.0.2.1 dev wlan0 metric 600"),
            format!("ip -n {p} route add default via 198.51.100.1 dev wwan0 metric 700"),
            format!("ip -n {p} -6 route add default via 2001:db8:1::1 dev wlan0 metric 600"),
            format!("ip -n {p} -6 route add default via 2001:db8:2::1 dev wwan0 metric 700"),
        ]);
        for step in steps {
            let words: Vec<&str> = step.split_whitespace().collect();
            run(&words)?;
        }
        Ok(rig)
    }

    /// A command run inside the phone namespace.
    pub fn phone_command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.phone, program]);
        c
    }

    /// Runs `f` on a thread inside the network namespace (sockets it creates live there).
    pub fn in_net<T: Send>(&self, f: impl FnOnce() -> T + Send) -> io::Result<T> {
        let path = format!("/var/run/netns/{}", self.net);
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    let ns = File::open(&path)?;
                    nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET)
                        .map_err(io::Error::from)?;
                    Ok(f())
                })
                .join()
                .map_err(|_| io::Error::other("namespace thread panicked"))?
        })
    }

    /// Packets sent by a phone interface so far.
    pub fn tx_packets(&self, dev: &str) -> u64 {
        let path = format!("/sys/class/net/{dev}/statistics/tx_packets");
        self.phone_command("cat")
            .arg(path)
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(u64::MAX)
    }

    /// Waits until a phone interface's TX counter has held still for 1.5 s: after a link comes
    /// up the kernel sends IPv6 duplicate-address probes and multicast listener reports for a
    /// moment, which are not the check's traffic.
    pub fn settle(&self, dev: &str) -> u64 {
        let mut last = self.tx_packets(dev);
        let mut still = 0;
        for _ in 0..60 {
            std::thread::sleep(std::time::Duration::from_millis(250));
            let now = self.tx_packets(dev);
            if now == last {
                still += 1;
                if still >= 6 {
                    return now;
                }
            } else {
                still = 0;
                last = now;
            }
        }
        last
    }

    /// Brings a phone interface up or down.
    pub fn set_link(&self, dev: &str, up: bool) -> io::Result<()> {
        run(&[
            "ip",
            "-n",
            &self.phone,
            "link",
            "set",
            dev,
            if up { "up" } else { "down" },
        ])
        .map(|_| ())
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = run(&["ip", "netns", "del", &self.phone]);
        let _ = run(&["ip", "netns", "del", &self.net]);
    }
}
