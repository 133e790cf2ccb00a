//! Finding the cellular interface, and checking it can carry a check.
//!
//! Discovery, in order of trust: the name the caller gave; ModemManager's bearer interface;
//! sysfs (`DEVTYPE=wwan` in the uevent, a parent device in `/sys/class/wwan`, link types without
//! Ethernet framing: none, raw IP, PPP); and last, name patterns (`wwan*`, `wwp*`, `rmnet*`,
//! `ccmni*`, `mhi_hwip*`, `qmimux*`, `ppp*`). Each candidate carries the evidence for it.
//!
//! Preflight checks the interface exists, is up, has addresses and a route through it, and warns
//! when strict reverse-path filtering (`rp_filter` 1, effective value `max(all, iface)`) could
//! drop replies.

use std::fmt;
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::net::mmcli::Bearer;

/// Where the kernel's views live (overridable so tests can use a fake tree).
#[derive(Clone, Debug)]
pub struct SystemPaths {
    /// Usually `/sys`.
    pub sys: PathBuf,
    /// Usually `/proc`.
    pub proc: PathBuf,
}

impl Default for SystemPaths {
    fn default() -> Self {
        SystemPaths {
            sys: PathBuf::from("/sys"),
            proc: PathBuf::from("/proc"),
        }
    }
}

/// Why an interface is thought to be cellular.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Evidence {
    /// ModemManager reports a connected bearer on it.
    ModemManager {
        /// The bearer's D-Bus path.
        bearer: String,
    },
    /// Its uevent says `DEVTYPE=wwan`.
    DevtypeWwan,
    /// Its device has a WWAN port in `/sys/class/wwan`.
    WwanClassParent,
    /// Its link type has no Ethernet framing (ARPHRD name).
    LinkType(&'static str),
    /// Its name matches a cellular driver's naming pattern.
    NamePattern(&'static str),
}

impl Evidence {
    /// Lower is more trusted.
    fn rank(&self) -> u8 {
        match self {
            Evidence::ModemManager { .. } => 0,
            Evidence::DevtypeWwan => 1,
            Evidence::WwanClassParent => 2,
            Evidence::LinkType(_) => 3,
            Evidence::NamePattern(_) => 4,
        }
    }
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Evidence::ModemManager { bearer } => write!(f, "ModemManager bearer {bearer}"),
            Evidence::DevtypeWwan => f.write_str("sysfs uevent DEVTYPE=wwan"),
            Evidence::WwanClassParent => f.write_str("device has a /sys/class/wwan port"),
            Evidence::LinkType(t) => write!(f, "link type {t}"),
            Evidence::NamePattern(p) => write!(f, "name matches {p}"),
        }
    }
}

/// A possible cellular interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Interface name.
    pub name: String,
    /// Why, most trusted first.
    pub evidence: Vec<Evidence>,
}

const NAME_PATTERNS: &[&str] = &["wwan", "wwp", "rmnet", "ccmni", "mhi_hwip", "qmimux", "ppp"];

/// Lists cellular interface candidates, most trusted first.
pub fn discover(paths: &SystemPaths, bearers: &[Bearer]) -> Vec<Candidate> {
    let mut names: Vec<String> = fs::read_dir(paths.sys.join("class/net"))
        .map(|dir| {
            dir.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let wwan_devices = wwan_port_devices(paths);
    let mut out = Vec::new();
    for name in names {
        let mut evidence = Vec::new();
        for b in bearers
            .iter()
            .filter(|b| b.interface.as_deref() == Some(name.as_str()) && b.connected)
        {
            evidence.push(Evidence::ModemManager {
                bearer: b.path.clone(),
            });
        }
        let dir = paths.sys.join("class/net").join(&name);
        let uevent = fs::read_to_string(dir.join("uevent")).unwrap_or_default();
        if uevent.lines().any(|l| l.trim() == "DEVTYPE=wwan") {
            evidence.push(Evidence::DevtypeWwan);
        }
        if let Ok(device) = fs::canonicalize(dir.join("device")) {
            if wwan_devices
                .iter()
                .any(|w| w.starts_with(&device) || device.starts_with(w))
            {
                evidence.push(Evidence::WwanClassParent);
            }
        }
        let link_type = fs::read_to_string(dir.join("type")).unwrap_or_default();
        match link_type.trim() {
            "65534" => evidence.push(Evidence::LinkType("none")),
            "519" => evidence.push(Evidence::LinkType("raw-ip")),
            "512" => evidence.push(Evidence::LinkType("ppp")),
            _ => {}
        }
        if let Some(p) = NAME_PATTERNS.iter().find(|p| name.starts_with(**p)) {
            evidence.push(Evidence::NamePattern(p));
        }
        // A bare "none" link type alone is tunnels and the like, not a modem.
        let only_link_none = evidence == [Evidence::LinkType("none")];
        if !evidence.is_empty() && !only_link_none {
            evidence.sort_by_key(Evidence::rank);
            out.push(Candidate { name, evidence });
        }
    }
    out.sort_by_key(|c| c.evidence.first().map_or(u8::MAX, Evidence::rank));
    out
}

fn wwan_port_devices(paths: &SystemPaths) -> Vec<PathBuf> {
    fs::read_dir(paths.sys.join("class/wwan"))
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter_map(|e| fs::canonicalize(e.path().join("device")).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The preflight verdict on one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preflight {
    /// Interface name.
    pub name: String,
    /// It exists.
    pub exists: bool,
    /// It is administratively up (`IFF_UP`).
    pub up: bool,
    /// Its operational state (`up`, `down`, `unknown` ...).
    pub operstate: String,
    /// Its addresses.
    pub addresses: Vec<IpAddr>,
    /// An IPv4 route goes through it.
    pub ipv4_route: bool,
    /// An IPv6 route goes through it.
    pub ipv6_route: bool,
    /// Effective `rp_filter` (`max(all, iface)`), if readable.
    pub rp_filter: Option<u8>,
}

impl Preflight {
    /// Problems that stop a check.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !self.exists {
            p.push(format!("interface {} does not exist", self.name));
            return p;
        }
        if !self.up || self.operstate == "down" {
            p.push(format!("interface {} is down", self.name));
        }
        if self.addresses.is_empty() {
            p.push(format!("interface {} has no addresses", self.name));
            return p;
        }
        let v4 = self.addresses.iter().any(|a| a.is_ipv4() && !link_local(a));
        let v6 = self.addresses.iter().any(|a| a.is_ipv6() && !link_local(a));
        if !v4 && !v6 {
            p.push(format!(
                "interface {} has only link-local addresses: the data bearer has no IPv4 or \
                 global IPv6 address yet (is the modem connected?)",
                self.name
            ));
            return p;
        }
        // The loopback interface (a stand-in in tests and the demo) routes through the local
        // table, which the main table's files do not list.
        let loopback = self.addresses.iter().all(IpAddr::is_loopback);
        let routed = (v4 && self.ipv4_route) || (v6 && self.ipv6_route);
        if !routed && !loopback {
            let families = match (v4, v6) {
                (true, true) => "IPv4 or IPv6",
                (true, false) => "IPv4",
                _ => "IPv6",
            };
            p.push(format!(
                "no {families} route goes through {} (add a default route via it, or a route to \
                 the servers)",
                self.name
            ));
        }
        p
    }

    /// Things worth knowing that do not stop a check.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.rp_filter == Some(1) {
            w.push(format!(
                "strict reverse-path filtering (rp_filter=1) on {}: replies to a source address \
                 the main table routes elsewhere are dropped; set net.ipv4.conf.{}.rp_filter=2",
                self.name, self.name
            ));
        }
        w
    }
}

/// Link-local addresses (169.254.0.0/16, fe80::/10): they reach no server.
fn link_local(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// Checks `name` through sysfs, procfs and the interface address list.
pub fn preflight(name: &str, paths: &SystemPaths) -> Preflight {
    let dir = paths.sys.join("class/net").join(name);
    let exists = dir.exists();
    let flags = read_hex(&dir.join("flags")).unwrap_or(0);
    let operstate = fs::read_to_string(dir.join("operstate"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let addresses = interface_addresses(name);
    let ipv4_route = fs::read_to_string(paths.proc.join("net/route"))
        .map(|t| {
            t.lines()
                .skip(1)
                .any(|l| l.split_whitespace().next() == Some(name))
        })
        .unwrap_or(false);
    let ipv6_route = fs::read_to_string(paths.proc.join("net/ipv6_route"))
        .map(|t| {
            t.lines().any(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                // Skip multicast and link-local destinations: the kernel lists fe80::/64 for
                // every interface with IPv6, which routes nothing a check needs.
                cols.last() == Some(&name)
                    && cols.first().is_some_and(|d| {
                        !d.starts_with("ff")
                            && !["fe8", "fe9", "fea", "feb"]
                                .iter()
                                .any(|p| d.starts_with(p))
                    })
            })
        })
        .unwrap_or(false);
    let read_rp = |scope: &str| -> Option<u8> {
        fs::read_to_string(
            paths
                .proc
                .join("sys/net/ipv4/conf")
                .join(scope)
                .join("rp_filter"),
        )
        .ok()
        .and_then(|s| s.trim().parse().ok())
    };
    let rp_filter = match (read_rp("all"), read_rp(name)) {
        (Some(a), Some(i)) => Some(a.max(i)),
        (a, i) => a.or(i),
    };
    Preflight {
        name: name.to_string(),
        exists,
        up: exists && flags & 0x1 != 0,
        operstate,
        addresses,
        ipv4_route,
        ipv6_route,
        rp_filter,
    }
}

fn read_hex(path: &Path) -> Option<u32> {
    let text = fs::read_to_string(path).ok()?;
    u32::from_str_radix(text.trim().trim_start_matches("0x"), 16).ok()
}

/// The IP addresses of `name`.
pub fn interface_addresses(name: &str) -> Vec<IpAddr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    addrs
        .filter(|a| a.interface_name == name)
        .filter_map(|a| {
            let addr = a.address?;
            if let Some(v4) = addr.as_sockaddr_in() {
                Some(IpAddr::V4(v4.ip()))
            } else {
                addr.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct FakeSys(PathBuf);

    impl FakeSys {
        fn new(tag: &str) -> Self {
            let root = std::env::temp_dir().join(format!("pc-sys-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&root);
            fs::create_dir_all(root.join("sys/class/net")).unwrap();
            fs::create_dir_all(root.join("proc/net")).unwrap();
            fs::create_dir_all(root.join("proc/sys/net/ipv4/conf/all")).unwrap();
            FakeSys(root)
        }
        fn iface(&self, name: &str, uevent: &str, link_type: &str) {
            let d = self.0.join("sys/class/net").join(name);
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("uevent"), uevent).unwrap();
            fs::write(d.join("type"), link_type).unwrap();
            fs::write(d.join("flags"), "0x1003\n").unwrap();
            fs::write(d.join("operstate"), "up\n").unwrap();
        }
        fn paths(&self) -> SystemPaths {
            SystemPaths {
                sys: self.0.join("sys"),
                proc: self.0.join("proc"),
            }
        }
    }

    impl Drop for FakeSys {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn discovery_ranks_by_evidence() {
        let sys = FakeSys::new("discover");
        sys.iface("eth0", "INTERFACE=eth0\n", "1\n");
        sys.iface("wlan0", "DEVTYPE=wlan\n", "1\n");
        sys.iface("wwan0", "DEVTYPE=wwan\nINTERFACE=wwan0\n", "519\n");
        sys.iface("rmnet_data0", "INTERFACE=rmnet_data0\n", "519\n");
        sys.iface("tun0", "INTERFACE=tun0\n", "65534\n");
        sys.iface("usb0", "INTERFACE=usb0\n", "1\n");
        let bearers = [Bearer {
            path: "/org/freedesktop/ModemManager1/Bearer/0".into(),
            interface: Some("usb0".into()),
            connected: true,
            dns: vec![],
        }];
        let found = discover(&sys.paths(), &bearers);
        let names: Vec<&str> = found.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["usb0", "wwan0", "rmnet_data0"]);
        assert_eq!(
            found[1].evidence,
            [
                Evidence::DevtypeWwan,
                Evidence::LinkType("raw-ip"),
                Evidence::NamePattern("wwan")
            ]
        );
    }

    #[test]
    fn preflight_reads_state_routes_and_rp_filter() {
        let sys = FakeSys::new("preflight");
        sys.iface("wwan0", "DEVTYPE=wwan\n", "519\n");
        fs::write(
            sys.0.join("proc/net/route"),
            "Iface\tDestination\tGateway\tFlags\nwwan0\t00000000\t0100A8C0\t0003\n",
        )
        .unwrap();
        fs::write(sys.0.join("proc/net/ipv6_route"), "").unwrap();
        fs::write(sys.0.join("proc/sys/net/ipv4/conf/all/rp_filter"), "1\n").unwrap();
        let p = preflight("wwan0", &sys.paths());
        assert!(p.exists && p.up && p.ipv4_route && !p.ipv6_route);
        assert_eq!(p.rp_filter, Some(1));
        assert_eq!(p.warnings().len(), 1);
        // The fake interface has no real addresses.
        assert_eq!(p.problems(), ["interface wwan0 has no addresses"]);
        let missing = preflight("wwan9", &sys.paths());
        assert_eq!(missing.problems(), ["interface wwan9 does not exist"]);
    }

    #[test]
    fn readiness_needs_a_global_address_and_a_route_for_it() {
        let ready = |addresses: &[&str], v4: bool, v6: bool| Preflight {
            name: "wwan0".into(),
            exists: true,
            up: true,
            operstate: "up".into(),
            addresses: addresses.iter().map(|a| a.parse().unwrap()).collect(),
            ipv4_route: v4,
            ipv6_route: v6,
            rp_filter: None,
        };
        // Only a link-local IPv6 address: not ready, and it says why.
        let p = ready(&["fe80::1"], false, false).problems();
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("only link-local"), "{p:?}");
        assert!(ready(&["fe80::1", "169.254.3.4"], true, true).problems()[0]
            .contains("only link-local"));
        // A global address without a route of its family.
        let p = ready(&["2001:db8::2"], true, false).problems();
        assert!(p[0].contains("no IPv6 route"), "{p:?}");
        assert!(ready(&["198.51.100.2"], true, false).problems().is_empty());
        assert!(ready(&["198.51.100.2", "2001:db8::2"], false, true)
            .problems()
            .is_empty());
        assert!(!ready(&[], true, true).problems().is_empty());
    }

    #[test]
    fn link_local_ipv6_routes_do_not_count() {
        let sys = FakeSys::new("ll-route");
        sys.iface("wwan0", "DEVTYPE=wwan\n", "519\n");
        fs::write(sys.0.join("proc/net/route"), "Iface\tDestination\n").unwrap();
        let ll = "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 \
                  00000000000000000000000000000000 00000100 00000000 00000000 00000001 wwan0\n";
        fs::write(sys.0.join("proc/net/ipv6_route"), ll).unwrap();
        let p = preflight("wwan0", &sys.paths());
        assert!(!p.ipv6_route && !p.ipv4_route);
    }

    #[test]
    fn loopback_has_addresses() {
        assert!(interface_addresses("lo").contains(&"127.0.0.1".parse().unwrap()));
    }
}
