//! The whole Android logic on a host, over real sockets on loopback: the stand-in NDK binds every
//! socket to `lo` by the handle, DNS goes to a real DNS server through res_nquery, and the chain
//! is the simulator's (API https → operator https → header enrichment http → API https).

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::time::Duration;

use common::{device, open, World, CELLULAR};
use phonecheck_android::OpenRequest;
use phonecheck_rig::pki::{pki, LeafOptions};
use phonecheck_rig::servers::{json, DnsServer, ScriptedServer};
use serde_json::Value;

const OWNER: &str = "+447700900001";

fn functions(standin: &phonecheck_android::standin::StandIn) -> Vec<&'static str> {
    standin.calls().iter().map(|c| c.function).collect()
}

#[test]
fn a_real_chain_over_the_handle_gets_a_code_that_matches() {
    let world = World::start();
    let (standin, device) = world.device();
    let check = world.backend.create_check(OWNER, None).unwrap();
    let envelope = open(&device, &check.check_url);
    assert_eq!(envelope["http_status"], 200, "{envelope}");
    assert_eq!(envelope["hops"], 5);
    assert_eq!(
        envelope["response_body"]["check_id"],
        check.check_id.as_str()
    );
    let code = envelope["response_body"]["code"].as_str().expect("a code");
    let result = world.backend.submit_code(&check.check_id, code).unwrap();
    assert!(
        result.matched,
        "the simulator saw the check come from the subscriber's address"
    );
    let info = &envelope["debug"]["device_info"];
    assert_eq!(info["platform"], "android");
    assert_eq!(info["network_handle"], CELLULAR.0.to_string());

    // Every NDK call named the cellular handle; names went through res_nquery, never getaddrinfo.
    let calls = standin.calls();
    assert!(calls
        .iter()
        .filter(|c| c.function != "android_res_nresult" && c.function != "android_res_cancel")
        .all(|c| c.network == CELLULAR));
    let names = functions(&standin);
    assert!(names.contains(&"android_setsocknetwork"));
    assert!(names.contains(&"android_res_nquery"));
    assert!(!names.contains(&"android_getaddrinfofornetwork"));
    // The DNS server really was asked, for all three names, from loopback.
    let asked: Vec<String> = world
        .dns
        .log()
        .into_iter()
        .map(|(_, name, _)| name)
        .collect();
    for host in ["api.test", "mno.test", "he.mno.test"] {
        assert!(
            asked.iter().any(|n| n == host),
            "{host} not asked: {asked:?}"
        );
    }
}

#[test]
fn a_network_the_app_may_not_use_is_eperm_and_nothing_is_sent() {
    let world = World::start();
    let (standin, device) = world.device();
    let check = world.backend.create_check(OWNER, None).unwrap();
    standin.set_permitted(CELLULAR, false);
    let envelope = open(&device, &check.check_url);
    assert_eq!(envelope["error"], "sdk_no_data_connectivity", "{envelope}");
    let description = envelope["error_description"].as_str().unwrap();
    assert!(
        description.starts_with("hop 1: this app may not use the cellular network"),
        "{description}"
    );
    assert!(description.contains("EPERM") && description.contains("VPN"));
    assert!(world.dns.log().is_empty(), "no DNS query left");
    let device_requests = world
        .sim
        .log()
        .iter()
        .filter(|e| e.path.contains("/redirect"))
        .count();
    assert_eq!(device_requests, 0, "the check URL was not opened");
}

#[test]
fn a_vanished_handle_is_enonet_with_what_to_do() {
    let world = World::start();
    let (standin, device) = world.device();
    let check = world.backend.create_check(OWNER, None).unwrap();
    standin.remove(CELLULAR);
    let envelope = open(&device, &check.check_url);
    assert_eq!(envelope["error"], "sdk_no_data_connectivity", "{envelope}");
    let description = envelope["error_description"].as_str().unwrap();
    assert!(description.contains("is gone (ENONET)"), "{description}");
    assert!(description.contains("request the cellular network again"));
    assert!(world.dns.log().is_empty());
}

/// An https server for one request on 127.0.0.1: once the request is in, `before_answer` runs,
/// then a 302 to `location` goes out.
fn redirect_once(
    host: &str,
    location: String,
    before_answer: impl FnOnce() + Send + 'static,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = pki().server_config(host, &LeafOptions::default());
    std::thread::spawn(move || {
        let Ok((tcp, _)) = listener.accept() else {
            return;
        };
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
        let conn = rustls::ServerConnection::new(config).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match tls.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        before_answer();
        let answer =
            format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n");
        let _ = tls.write_all(answer.as_bytes());
        let _ = tls.flush();
        std::thread::sleep(Duration::from_millis(500));
    });
    addr
}

/// A DNS server on loopback that knows `a.test` and `b.test` as 127.0.0.1.
fn two_origin_dns() -> DnsServer {
    let records: HashMap<String, Vec<IpAddr>> = [("a.test", "127.0.0.1"), ("b.test", "127.0.0.1")]
        .into_iter()
        .map(|(h, ip)| (h.to_string(), vec![ip.parse().unwrap()]))
        .collect();
    DnsServer::start("127.0.0.1:0".parse().unwrap(), records)
}

fn two_origin_chain(lose_network_after_hop_1: bool) -> (Value, usize) {
    let dns = two_origin_dns();
    let b = ScriptedServer::start(
        "127.0.0.1:0".parse().unwrap(),
        vec![json(200, r#"{"code":"4711"}"#)],
        Some(pki().server_config("b.test", &LeafOptions::default())),
    );
    let (standin, device) = device(dns.addr, &pki().ca_pem);
    let lose = standin.clone();
    let a = redirect_once(
        "a.test",
        format!("https://b.test:{}/done", b.addr.port()),
        move || {
            if lose_network_after_hop_1 {
                lose.remove(CELLULAR);
            }
        },
    );
    let envelope = open(&device, &format!("https://a.test:{}/start", a.port()));
    (envelope, b.connections())
}

#[test]
fn a_network_lost_mid_check_fails_the_next_hop_and_nothing_falls_back() {
    // Control: the same chain with the network kept reaches the second origin.
    let (kept, reached) = two_origin_chain(false);
    assert_eq!(kept["http_status"], 200, "{kept}");
    assert_eq!(kept["response_body"]["code"], "4711");
    assert_eq!(reached, 1);

    let (lost, reached) = two_origin_chain(true);
    assert_eq!(lost["error"], "sdk_no_data_connectivity", "{lost}");
    let description = lost["error_description"].as_str().unwrap();
    assert!(
        description.starts_with("hop 2: the cellular network"),
        "{description}"
    );
    assert!(description.contains("ENONET"));
    assert_eq!(lost["hops"], 2);
    assert_eq!(lost["debug"]["hops"][0]["status"], 302);
    assert_eq!(reached, 0, "the second origin saw no connection");
}

#[test]
fn concurrent_calls_each_get_their_own_check() {
    let world = World::start();
    let (_standin, device) = world.device();
    let checks: Vec<_> = (0..6)
        .map(|_| world.backend.create_check(OWNER, None).unwrap())
        .collect();
    let results: Vec<(String, Value)> = std::thread::scope(|s| {
        let handles: Vec<_> = checks
            .iter()
            .map(|c| {
                let device = &device;
                s.spawn(move || {
                    let envelope = device.open(&OpenRequest {
                        network: CELLULAR,
                        url: &c.check_url,
                        access_token: None,
                        debug: false,
                        record: None,
                    });
                    (c.check_id.clone(), serde_json::from_str(&envelope).unwrap())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (id, envelope) in &results {
        assert_eq!(envelope["http_status"], 200, "{envelope}");
        assert_eq!(envelope["response_body"]["check_id"], id.as_str());
        let code = envelope["response_body"]["code"].as_str().unwrap();
        assert!(world.backend.submit_code(id, code).unwrap().matched);
        assert!(envelope.get("debug").is_none(), "debug only when asked");
    }
}

#[test]
fn the_access_token_reaches_the_first_origin_and_nothing_else() {
    let dns = two_origin_dns();
    let b = ScriptedServer::start(
        "127.0.0.1:0".parse().unwrap(),
        vec![json(200, r#"{"check_id":"c1","code":"4711"}"#)],
        Some(pki().server_config("b.test", &LeafOptions::default())),
    );
    let a = ScriptedServer::start(
        "127.0.0.1:0".parse().unwrap(),
        vec![phonecheck_rig::servers::redirect(
            302,
            &format!("https://b.test:{}/done", b.addr.port()),
        )],
        Some(pki().server_config("a.test", &LeafOptions::default())),
    );
    let (_standin, device) = device(dns.addr, &pki().ca_pem);
    let token = "tok-5f3a9c21e07d4b6a";
    // Recorded too, as an app's support option would: the token never reaches the file.
    let record =
        std::env::temp_dir().join(format!("phonecheck-android-{}.jsonl", std::process::id()));
    let out = device.open(&OpenRequest {
        network: CELLULAR,
        url: &format!("https://a.test:{}/start", a.addr.port()),
        access_token: Some(token),
        debug: true,
        record: Some(&record),
    });
    let envelope: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(envelope["http_status"], 200, "{envelope}");
    let recording = std::fs::read_to_string(&record).unwrap();
    assert!(!recording.contains(token), "the token is never recorded");
    let replayed = phonecheck_linux::driver::replay::replay(
        &phonecheck_linux::driver::record::Recording::read(&record).unwrap(),
    )
    .unwrap();
    let _ = std::fs::remove_file(&record);
    assert!(replayed.divergence.is_none(), "{:?}", replayed.divergence);
    // Redacted by default: the code replays as a placeholder of its length.
    let code = replayed
        .report
        .and_then(|r| r.field(phonecheck_engine::Field::Code).map(String::from));
    assert_eq!(code.as_deref().map(str::len), Some(4));
    assert_ne!(code.as_deref(), Some("4711"));
    let first = &a.seen()[0].head;
    assert!(
        first.contains(&format!("\r\nAuthorization: Bearer {token}\r\n")),
        "{first}"
    );
    assert!(
        !b.seen()[0].head.contains("Authorization"),
        "not to another origin"
    );
    assert!(!out.contains(token), "never in the envelope: {out}");
}
