//! The Android logic in the namespace rig (tests/src/netns.rs): a phone whose Wi-Fi holds the
//! better default route and whose `wwan0` plays the cellular network of the handle. Proves that
//! the handle alone puts the check's TCP and DNS on `wwan0` (the server sees the `wwan0`
//! address behind strict reverse-path filtering; `wlan0` sends nothing), and that a handle
//! whose interface has vanished is ENONET with nothing sent.
//!
//! Needs root to build namespaces: without it each test prints a SKIP line and passes, except
//! under CI=true, where it fails (CI runs as root).

mod common;

use std::collections::HashMap;
use std::fs::File;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::sync::Arc;

use common::CELLULAR;
use phonecheck_android::standin::{StandIn, StandInNetwork};
use phonecheck_android::{Device, OpenRequest};
use phonecheck_engine::TlsSettings;
use phonecheck_rig::netns::{is_root, Rig, DNS_V4, SERVER_V4, WWAN_V4};
use phonecheck_rig::pki::{pki, LeafOptions};
use phonecheck_rig::servers::{DnsServer, Script, ScriptedServer};
use serde_json::Value;

fn skip(test: &str) -> bool {
    if is_root() {
        return false;
    }
    assert_ne!(
        std::env::var("CI").as_deref(),
        Ok("true"),
        "CI=true but not root: the namespace rig cannot run"
    );
    // Straight to stderr: the test harness hides what print macros write for a test that passes.
    let _ = writeln!(
        std::io::stderr(),
        "SKIP {test}: the namespace rig needs root (CI runs it as root)"
    );
    true
}

fn sock(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), port)
}

/// The rig with a DNS server and an https echo server (`echo.test`) in the network namespace.
fn rig_with_servers() -> (Rig, DnsServer, ScriptedServer) {
    let rig = Rig::create().expect("build the rig");
    let (dns, server) = rig
        .in_net(|| {
            let records: HashMap<String, Vec<IpAddr>> =
                HashMap::from([("echo.test".to_string(), vec![SERVER_V4.parse().unwrap()])]);
            let dns = DnsServer::start(sock(DNS_V4, 53), records);
            let server = ScriptedServer::start(
                sock(SERVER_V4, 443),
                vec![Script::EchoPeer],
                Some(pki().server_config("echo.test", &LeafOptions::default())),
            );
            (dns, server)
        })
        .expect("servers in the network namespace");
    (rig, dns, server)
}

/// A stand-in device whose cellular handle is `wwan0`.
fn device() -> Device {
    let standin = Arc::new(StandIn::new());
    standin.add(
        CELLULAR,
        StandInNetwork::new("wwan0", vec![sock(DNS_V4, 53)]),
    );
    let tls = TlsSettings::with_ring()
        .with_roots_pem(pki().ca_pem.as_bytes())
        .unwrap();
    Device::new(standin, tls)
}

/// Runs the check on a thread inside the phone namespace.
fn open_in_phone(rig: &Rig, device: &Device) -> Value {
    let path = format!("/var/run/netns/{}", rig.phone);
    let envelope = std::thread::scope(|s| {
        s.spawn(|| {
            let ns = File::open(&path).unwrap();
            nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            device.open(&OpenRequest {
                network: CELLULAR,
                url: "https://echo.test/",
                access_token: None,
                debug: true,
                record: None,
            })
        })
        .join()
        .unwrap()
    });
    serde_json::from_str(&envelope).unwrap()
}

#[test]
fn the_handle_puts_tcp_and_dns_on_wwan0_while_wifi_holds_the_default_route() {
    if skip("the_handle_puts_tcp_and_dns_on_wwan0_while_wifi_holds_the_default_route") {
        return;
    }
    let (rig, dns, server) = rig_with_servers();
    let wlan_before = rig.settle("wlan0");
    let envelope = open_in_phone(&rig, &device());
    assert_eq!(envelope["http_status"], 200, "{envelope}");
    let peer = envelope["response_body"]["peer"].as_str().unwrap();
    assert!(
        peer.starts_with(&format!("{WWAN_V4}:")),
        "the server saw {peer}"
    );
    let askers: Vec<IpAddr> = dns.log().iter().map(|(from, _, _)| from.ip()).collect();
    assert!(!askers.is_empty());
    assert!(
        askers.iter().all(|ip| ip.to_string() == WWAN_V4),
        "DNS asked from {askers:?}"
    );
    assert_eq!(server.connections(), 1);
    assert_eq!(
        rig.tx_packets("wlan0"),
        wlan_before,
        "nothing left through Wi-Fi"
    );
}

#[test]
fn a_handle_whose_interface_vanished_is_enonet_and_nothing_leaves() {
    if skip("a_handle_whose_interface_vanished_is_enonet_and_nothing_leaves") {
        return;
    }
    let (rig, dns, server) = rig_with_servers();
    let deleted = Command::new("ip")
        .args(["-n", &rig.phone, "link", "del", "wwan0"])
        .status()
        .unwrap();
    assert!(deleted.success());
    let wlan_before = rig.settle("wlan0");
    let envelope = open_in_phone(&rig, &device());
    assert_eq!(envelope["error"], "sdk_no_data_connectivity", "{envelope}");
    let description = envelope["error_description"].as_str().unwrap();
    assert!(description.contains("is gone (ENONET)"), "{description}");
    assert!(dns.log().is_empty());
    assert_eq!(server.connections(), 0);
    assert_eq!(
        rig.tx_packets("wlan0"),
        wlan_before,
        "nothing left through Wi-Fi"
    );
}
