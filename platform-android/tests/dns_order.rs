//! The DNS order on a host, against a real DNS server on loopback: android_res_nquery first (its
//! answer, rcode included, is final), android_getaddrinfofornetwork only when res_nquery is
//! missing (API < 29) or fails on its own, and both under the caller's deadline.

mod common;

use std::collections::HashMap;
use std::net::{IpAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::CELLULAR;
use phonecheck_android::dns::{resolve, DnsFailure, Lookup, Via};
use phonecheck_android::ndk::{Errno, GaiError, Ndk};
use phonecheck_android::standin::{Api29, StandIn, StandInNetwork};
use phonecheck_rig::servers::DnsServer;

fn server() -> DnsServer {
    let records: HashMap<String, Vec<IpAddr>> = HashMap::from([(
        "mno.test".to_string(),
        vec!["127.0.0.3".parse().unwrap(), "::1".parse().unwrap()],
    )]);
    DnsServer::start("127.0.0.1:0".parse().unwrap(), records)
}

fn standin(dns: &DnsServer, api29: Api29) -> Arc<StandIn> {
    let s = Arc::new(StandIn::new());
    s.add(CELLULAR, StandInNetwork::new("lo", vec![dns.addr]));
    s.set_api29(api29);
    s
}

fn lookup(s: &Arc<StandIn>, host: &str, within: Duration) -> Result<Lookup, DnsFailure> {
    let ndk: Arc<dyn Ndk> = s.clone();
    resolve(&ndk, CELLULAR, host, Instant::now() + within)
}

fn asked(s: &StandIn) -> Vec<&'static str> {
    s.calls()
        .iter()
        .map(|c| c.function)
        .filter(|f| *f == "android_res_nquery" || *f == "android_getaddrinfofornetwork")
        .collect()
}

#[test]
fn res_nquery_answers_when_the_device_has_it() {
    let dns = server();
    let s = standin(&dns, Api29::Present);
    let found = lookup(&s, "mno.test", Duration::from_secs(3)).unwrap();
    assert_eq!(found.via, Via::ResNquery);
    let want: Vec<IpAddr> = vec!["::1".parse().unwrap(), "127.0.0.3".parse().unwrap()];
    assert_eq!(found.addrs, want, "IPv6 first, then IPv4");
    assert_eq!(asked(&s), ["android_res_nquery", "android_res_nquery"]);
    let mut types: Vec<String> = dns.log().into_iter().map(|(_, _, t)| t).collect();
    types.sort();
    assert_eq!(types, ["A", "AAAA"]);
}

#[test]
fn getaddrinfo_is_the_fallback_on_a_device_before_api_29() {
    let dns = server();
    let s = standin(&dns, Api29::Missing);
    let found = lookup(&s, "mno.test", Duration::from_secs(3)).unwrap();
    assert_eq!(found.via, Via::Getaddrinfo);
    assert_eq!(found.addrs.len(), 2);
    assert_eq!(asked(&s), ["android_getaddrinfofornetwork"]);
    assert!(
        !dns.log().is_empty(),
        "the fallback really asked the server"
    );
}

#[test]
fn a_local_res_nquery_failure_falls_back_after_it() {
    let dns = server();
    let s = standin(&dns, Api29::Failing(Errno::EIO));
    let found = lookup(&s, "mno.test", Duration::from_secs(3)).unwrap();
    assert_eq!(found.via, Via::Getaddrinfo);
    assert_eq!(
        asked(&s),
        [
            "android_res_nquery",
            "android_res_nquery",
            "android_getaddrinfofornetwork"
        ],
        "res_nquery first, getaddrinfo after it"
    );
}

#[test]
fn a_network_error_from_res_nquery_is_final() {
    let dns = server();
    let s = standin(&dns, Api29::Failing(Errno::ENONET));
    let err = lookup(&s, "mno.test", Duration::from_secs(3)).unwrap_err();
    assert_eq!(err, DnsFailure::Query(Errno::ENONET));
    assert!(!asked(&s).contains(&"android_getaddrinfofornetwork"));
}

#[test]
fn nxdomain_keeps_its_rcode_through_res_nquery_but_getaddrinfo_folds_it() {
    let dns = server();
    let s = standin(&dns, Api29::Present);
    let err = lookup(&s, "nosuch.test", Duration::from_secs(3)).unwrap_err();
    assert_eq!(err, DnsFailure::Rcode(3));
    assert!(err.to_string().contains("NXDOMAIN"));
    assert!(
        !asked(&s).contains(&"android_getaddrinfofornetwork"),
        "a DNS answer is final: no fallback"
    );

    let old = standin(&dns, Api29::Missing);
    let err = lookup(&old, "nosuch.test", Duration::from_secs(3)).unwrap_err();
    assert_eq!(err, DnsFailure::Getaddrinfo(GaiError::NoData));
    assert!(err.to_string().contains("EAI_NODATA"));
}

#[test]
fn both_paths_stop_at_the_deadline() {
    // A DNS "server" that takes queries and never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    for api29 in [Api29::Present, Api29::Missing] {
        let s = Arc::new(StandIn::new());
        s.add(
            CELLULAR,
            StandInNetwork::new("lo", vec![silent.local_addr().unwrap()]),
        );
        s.set_api29(api29);
        let started = Instant::now();
        let err = lookup(&s, "mno.test", Duration::from_millis(400)).unwrap_err();
        let took = started.elapsed();
        assert!(err.is_timeout(), "{api29:?}: {err}");
        assert!(
            took >= Duration::from_millis(390) && took < Duration::from_millis(1500),
            "{api29:?}: took {took:?}"
        );
        let via = if api29 == Api29::Present {
            Via::ResNquery
        } else {
            Via::Getaddrinfo
        };
        assert_eq!(err, DnsFailure::Timeout { via });
    }
    // The res_nquery path cancelled its queries rather than leaving them open.
    let s = Arc::new(StandIn::new());
    s.add(
        CELLULAR,
        StandInNetwork::new("lo", vec![silent.local_addr().unwrap()]),
    );
    let _ = lookup(&s, "mno.test", Duration::from_millis(100));
    let cancels = s
        .calls()
        .iter()
        .filter(|c| c.function == "android_res_cancel")
        .count();
    assert_eq!(cancels, 2);
}

#[test]
fn ip_literals_ask_nobody() {
    let dns = server();
    let s = standin(&dns, Api29::Present);
    let found = lookup(&s, "[::1]", Duration::from_secs(1)).unwrap();
    assert_eq!(found.via, Via::Literal);
    assert!(s.calls().is_empty());
    assert!(dns.log().is_empty());
}
