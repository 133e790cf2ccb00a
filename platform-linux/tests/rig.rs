//! The network-namespace rig (see docs/architecture.md): a phone with Wi-Fi holding the better default route
//! and a cellular link behind strict reverse-path filtering. Proves, as root and again as an
//! unprivileged user with no capabilities, that the check's TCP and DNS traffic leave through
//! `wwan0`, over IPv4 and IPv6; that a missing or dead interface is an error with nothing sent;
//! and that a link going down mid-check is an error, never a fallback to Wi-Fi.
//!
//! Needs root to build namespaces; without it each test prints one skip line.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use phonecheck_rig::netns::{
    is_root, Rig, DNS_V4, DNS_V6, SERVER_V4, SERVER_V6, WLAN_V4, WWAN_V4, WWAN_V6,
};
use phonecheck_rig::servers::{DnsServer, Script, ScriptedServer};
use serde_json::Value;

fn skip(test: &str) -> bool {
    if is_root() {
        return false;
    }
    // Straight to stderr: the test harness hides what print macros write for a test that passes.
    let _ = writeln!(
        std::io::stderr(),
        "SKIP {test}: the namespace rig needs root (CI runs it as root)"
    );
    true
}

/// A rig test: built without root it is ignored, with the reason; run without root anyway
/// (`--include-ignored`), it prints one skip line.
macro_rules! rig_test {
    ($(#[$meta:meta])* fn $name:ident() $body:block) => {
        $(#[$meta])*
        #[test]
        #[cfg_attr(
            not(rig_root),
            ignore = "needs root (network namespaces): run `cargo test` as root to include it"
        )]
        fn $name() {
            if skip(stringify!($name)) {
                return;
            }
            $body
        }
    };
}

/// A copy of the binary that nobody can run: the build tree may sit under a directory other
/// users cannot enter.
fn binary_for_nobody() -> &'static str {
    use std::os::unix::fs::PermissionsExt;
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        // Earlier runs' copies are no longer needed.
        if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
            for e in entries.flatten() {
                if e.file_name()
                    .to_string_lossy()
                    .starts_with("phonecheck-rig-bin-")
                {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = std::env::temp_dir().join(format!("phonecheck-rig-bin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.join("phonecheck");
        std::fs::copy(env!("CARGO_BIN_EXE_phonecheck"), &path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.display().to_string()
    })
}

/// The CLI inside the phone namespace, as root or as nobody with no capabilities.
fn phonecheck(rig: &Rig, unprivileged: bool, args: &[&str]) -> Command {
    let bin = if unprivileged {
        binary_for_nobody()
    } else {
        env!("CARGO_BIN_EXE_phonecheck")
    };
    let mut cmd = if unprivileged {
        let mut c = rig.phone_command("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
            bin,
        ]);
        c
    } else {
        rig.phone_command(bin)
    };
    cmd.args(args);
    cmd
}

fn run(mut cmd: Command) -> (i32, Value, String) {
    let out = cmd.output().expect("run phonecheck in the phone namespace");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        json,
        format!("{stdout}{stderr}"),
    )
}

fn sock(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), port)
}

fn traffic_leaves_through_wwan0(v6: bool, unprivileged: bool) {
    let rig = Rig::create().expect("build the rig");
    let (server_ip, dns_ip, wwan_ip) = if v6 {
        (SERVER_V6, DNS_V6, WWAN_V6)
    } else {
        (SERVER_V4, DNS_V4, WWAN_V4)
    };
    let server = rig
        .in_net(|| ScriptedServer::start(sock(server_ip, 80), vec![Script::EchoPeer], None))
        .unwrap();
    let records = HashMap::from([(
        "echo.test".to_string(),
        vec![server_ip.parse::<IpAddr>().unwrap()],
    )]);
    let dns = rig
        .in_net(|| DnsServer::start(sock(dns_ip, 53), records))
        .unwrap();
    let wlan_before = rig.settle("wlan0");

    let dns_arg = sock(dns_ip, 53).to_string();
    let args = [
        "open",
        "http://echo.test/",
        "--interface",
        "wwan0",
        "--dns",
        &dns_arg,
        "--allow-http",
        "--debug",
        "-v",
    ];
    let (code, json, text) = run(phonecheck(&rig, unprivileged, &args));
    println!("$ phonecheck {}\n{text}", args.join(" "));
    assert_eq!(code, 0, "{text}");

    let peer: SocketAddr = json["response_body"]["peer"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        peer.ip(),
        wwan_ip.parse::<IpAddr>().unwrap(),
        "the server saw the request come from wwan0"
    );
    let local: SocketAddr = json["debug"]["hops"][0]["local"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(local.ip(), peer.ip());
    assert_eq!(
        json["debug"]["hops"][0]["ip_family"],
        if v6 { "IPv6" } else { "IPv4" }
    );

    let askers: Vec<IpAddr> = dns.log().iter().map(|(from, _, _)| from.ip()).collect();
    assert!(
        !askers.is_empty(),
        "the name was resolved by the rig's DNS server"
    );
    assert!(
        askers.iter().all(|ip| *ip == peer.ip()),
        "every DNS query came from wwan0: {askers:?}"
    );
    assert!(server.seen().iter().all(|s| s.peer.ip() == peer.ip()));
    assert_eq!(
        rig.tx_packets("wlan0"),
        wlan_before,
        "nothing left through wlan0"
    );
}

rig_test!(
    fn ipv4_check_and_dns_leave_through_wwan0_as_root() {
        traffic_leaves_through_wwan0(false, false);
    }
);

rig_test!(
    fn ipv4_check_and_dns_leave_through_wwan0_unprivileged() {
        traffic_leaves_through_wwan0(false, true);
    }
);

rig_test!(
    fn ipv6_check_and_dns_leave_through_wwan0_as_root() {
        traffic_leaves_through_wwan0(true, false);
    }
);

rig_test!(
    fn ipv6_check_and_dns_leave_through_wwan0_unprivileged() {
        traffic_leaves_through_wwan0(true, true);
    }
);

rig_test!(
    /// The rig can tell: unpinned, the same check leaves through Wi-Fi.
    fn control_unpinned_traffic_follows_the_wifi_default_route() {
        let rig = Rig::create().unwrap();
        let server = rig
            .in_net(|| ScriptedServer::start(sock(SERVER_V4, 80), vec![Script::EchoPeer], None))
            .unwrap();
        let url = format!("http://{SERVER_V4}/");
        let (code, json, text) = run(phonecheck(
            &rig,
            false,
            &["open", &url, "--unpinned", "--allow-http"],
        ));
        assert_eq!(code, 0, "{text}");
        assert!(text.contains("WARNING: --unpinned"));
        let peer: SocketAddr = json["response_body"]["peer"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(peer.ip().to_string(), WLAN_V4);
        assert_eq!(server.seen().len(), 1);
    }
);

rig_test!(
    fn missing_interface_sends_nothing_anywhere() {
        let rig = Rig::create().unwrap();
        let server = rig
            .in_net(|| ScriptedServer::start(sock(SERVER_V4, 80), vec![Script::EchoPeer], None))
            .unwrap();
        let records = HashMap::from([(
            "echo.test".to_string(),
            vec![SERVER_V4.parse::<IpAddr>().unwrap()],
        )]);
        let dns = rig
            .in_net(|| DnsServer::start(sock(DNS_V4, 53), records))
            .unwrap();
        let (wlan, wwan) = (rig.settle("wlan0"), rig.settle("wwan0"));
        let dns_arg = format!("{DNS_V4}:53");
        let (code, json, text) = run(phonecheck(
            &rig,
            true,
            &[
                "open",
                "http://echo.test/",
                "--interface",
                "wwan7",
                "--dns",
                &dns_arg,
                "--allow-http",
            ],
        ));
        assert_eq!(code, 3, "{text}");
        assert_eq!(json["error"], "sdk_no_data_connectivity");
        assert_eq!(server.connections(), 0);
        assert!(dns.log().is_empty());
        assert_eq!(
            (rig.tx_packets("wlan0"), rig.tx_packets("wwan0")),
            (wlan, wwan)
        );
    }
);

rig_test!(
    fn interface_down_before_the_check_is_no_data_connectivity() {
        let rig = Rig::create().unwrap();
        rig.set_link("wwan0", false).unwrap();
        let url = format!("http://{SERVER_V4}/");
        let (code, json, text) = run(phonecheck(
            &rig,
            false,
            &["open", &url, "--interface", "wwan0", "--allow-http"],
        ));
        assert_eq!(code, 3, "{text}");
        assert!(
            json["error_description"]
                .as_str()
                .unwrap()
                .contains("is down"),
            "{text}"
        );
    }
);

rig_test!(
    fn interface_going_down_mid_check_is_an_error_not_a_fallback() {
        let rig = Rig::create().unwrap();
        let server = rig
            .in_net(|| ScriptedServer::start(sock(SERVER_V4, 80), vec![Script::Hang], None))
            .unwrap();
        let wlan = rig.settle("wlan0");
        let url = format!("http://{SERVER_V4}/");
        let mut cmd = phonecheck(
            &rig,
            false,
            &[
                "open",
                &url,
                "--interface",
                "wwan0",
                "--allow-http",
                "--max-time",
                "4",
            ],
        );
        let child: Child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();

        let waited = Instant::now();
        while server.seen().is_empty() && waited.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(server.seen().len(), 1, "the first request arrived");
        rig.set_link("wwan0", false).unwrap();

        let out = child.wait_with_output().unwrap();
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_ne!(out.status.code(), Some(0), "{json}");
        assert!(json["error"].is_string(), "{json}");
        assert_eq!(rig.tx_packets("wlan0"), wlan, "no fallback through wlan0");
        assert!(server
            .seen()
            .iter()
            .all(|s| s.peer.ip().to_string() == WWAN_V4));
    }
);

rig_test!(
    fn interfaces_lists_wwan0_with_its_evidence() {
        let rig = Rig::create().unwrap();
        let (code, _, text) = run(phonecheck(&rig, false, &["interfaces"]));
        println!("$ phonecheck interfaces\n{text}");
        assert_eq!(code, 0, "{text}");
        assert!(text.contains("wwan0: name matches wwan"), "{text}");
        assert!(
            text.contains("addresses: 198.51.100.2, 2001:db8:2::2"),
            "{text}"
        );
        assert!(text.contains("ready"));
        assert!(
            !text.contains("wlan0:"),
            "Wi-Fi is not a cellular candidate: {text}"
        );
    }
);

/// The simulator and DNS in the network namespace under names, like the real service.
fn simulator_in_net(rig: &Rig) -> (phonecheck_rig::sim::Simulator, DnsServer) {
    use phonecheck_rig::sim::{SimConfig, Simulator};
    let server: IpAddr = SERVER_V4.parse().unwrap();
    let config = SimConfig {
        listen: server,
        api_port: 443,
        mno_port: 8443,
        he_port: 80,
        subscribers: [
            (WWAN_V4.parse().unwrap(), OWNER.to_string()),
            (WWAN_V6.parse().unwrap(), OWNER.to_string()),
        ]
        .into(),
        ..SimConfig::default()
    };
    let sim = rig
        .in_net(|| Simulator::start(config))
        .unwrap()
        .expect("simulator in the network namespace");
    let records: HashMap<String, Vec<IpAddr>> = ["api.test", "mno.test", "he.mno.test"]
        .iter()
        .map(|h| (h.to_string(), vec![server]))
        .collect();
    let dns = rig
        .in_net(|| DnsServer::start(sock(DNS_V4, 53), records))
        .unwrap();
    (sim, dns)
}

const OWNER: &str = "+447700900001";

/// Every DNS query came from wwan0's address, and each of `hosts` was asked for.
fn assert_resolved_over_wwan0(dns: &DnsServer, hosts: &[&str]) {
    let names: Vec<String> = dns
        .log()
        .iter()
        .map(|(from, name, _)| {
            assert_eq!(from.ip().to_string(), WWAN_V4);
            name.clone()
        })
        .collect();
    for host in hosts {
        assert!(
            names.iter().any(|n| n == host),
            "{host} resolved through the pinned resolver: {names:?}"
        );
    }
}

fn check_over(
    rig: &Rig,
    sim: &phonecheck_rig::sim::Simulator,
    interface: &str,
) -> (i32, Value, String) {
    let ca = sim.ca_path.display().to_string();
    let dns_arg = format!("{DNS_V4}:53");
    let args = [
        "check",
        "--phone",
        OWNER,
        "--api-base",
        "https://203.0.113.10",
        "--interface",
        interface,
        "--dns",
        &dns_arg,
        "--cacert",
        &ca,
        "-v",
    ];
    let mut cmd = phonecheck(rig, false, &args);
    cmd.env("IDLAYR_CLIENT_ID", &sim.config.client_id)
        .env("IDLAYR_CLIENT_SECRET", &sim.config.client_secret);
    let result = run(cmd);
    println!("$ phonecheck {}\n{}", args.join(" "), result.2);
    result
}

rig_test!(
    fn check_from_the_phone_over_wwan0_matches() {
        let rig = Rig::create().unwrap();
        let (sim, dns) = simulator_in_net(&rig);
        let (code, json, text) = check_over(&rig, &sim, "wwan0");
        assert_eq!(code, 0, "{text}");
        assert_eq!(json["match"], true, "{text}");

        // The backend used the normal route (Wi-Fi); every device hop came from wwan0.
        for entry in sim.log() {
            let device_step = entry.server != "api"
                || entry.path.ends_with("/redirect")
                || entry.path.ends_with("/complete");
            let expected = if device_step { WWAN_V4 } else { WLAN_V4 };
            assert_eq!(entry.peer.ip().to_string(), expected, "{entry:?}");
        }
        assert_resolved_over_wwan0(&dns, &["api.test", "mno.test", "he.mno.test"]);
    }
);

rig_test!(
    fn check_over_wlan0_is_not_a_mobile_ip() {
        let rig = Rig::create().unwrap();
        let (sim, _dns) = simulator_in_net(&rig);
        let (code, json, text) = check_over(&rig, &sim, "wlan0");
        assert_eq!(code, 1, "{text}");
        assert_eq!(
            json["device"]["response_body"]["error"], "not_mobile_ip",
            "{text}"
        );
        assert!(json.get("match").is_none());
        let redirect = sim
            .log()
            .into_iter()
            .find(|e| e.path.ends_with("/redirect"))
            .unwrap();
        assert_eq!(redirect.peer.ip().to_string(), WLAN_V4);
        assert!(
            sim.log().iter().all(|e| e.server == "api"),
            "the operator was never reached"
        );
    }
);

rig_test!(
    fn without_interface_the_single_cellular_candidate_is_used() {
        let rig = Rig::create().unwrap();
        let server = rig
            .in_net(|| ScriptedServer::start(sock(SERVER_V4, 80), vec![Script::EchoPeer], None))
            .unwrap();
        let url = format!("http://{SERVER_V4}/");
        let (code, json, text) = run(phonecheck(&rig, true, &["open", &url, "--allow-http"]));
        assert_eq!(code, 0, "{text}");
        assert_eq!(json["interface"], "wwan0");
        let peer: SocketAddr = json["response_body"]["peer"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(peer.ip().to_string(), WWAN_V4);
        assert_eq!(server.seen().len(), 1);
    }
);

rig_test!(
    fn camara_from_the_phone_over_wwan0_verifies_the_owner() {
        let rig = Rig::create().unwrap();
        let (sim, dns) = simulator_in_net(&rig);
        let ca = sim.ca_path.display().to_string();
        let dns_arg = format!("{DNS_V4}:53");
        // The backend reaches the operator's token and verify endpoints by address, over the
        // normal route; the device opens the authorize URL by name, over wwan0.
        let operator = format!("https://{SERVER_V4}:8443");
        let args = [
            "camara",
            "--phone",
            OWNER,
            "--authorize-url",
            "https://api.test/camara/authorize",
            "--token-url",
            &format!("{operator}/camara/token"),
            "--verify-url",
            &format!("{operator}/camara/number-verification/v0/verify"),
            "--redirect-uri",
            "https://api.test/camara/callback",
            "--interface",
            "wwan0",
            "--dns",
            &dns_arg,
            "--cacert",
            &ca,
            "-v",
        ];
        let mut cmd = phonecheck(&rig, false, &args);
        cmd.env("CAMARA_CLIENT_ID", &sim.config.client_id)
            .env("CAMARA_CLIENT_SECRET", &sim.config.client_secret);
        let (code, json, text) = run(cmd);
        println!("$ phonecheck {}\n{text}", args.join(" "));
        assert_eq!(code, 0, "{text}");
        assert_eq!(json["devicePhoneNumberVerified"], true, "{text}");

        // Every device hop came from wwan0, every backend call from Wi-Fi.
        let log = sim.log();
        assert!(log.iter().any(|e| e.path == "/camara/authenticate"));
        for entry in &log {
            let device_step = entry.method == "GET";
            let expected = if device_step { WWAN_V4 } else { WLAN_V4 };
            assert_eq!(entry.peer.ip().to_string(), expected, "{entry:?}");
        }
        assert_resolved_over_wwan0(&dns, &["api.test", "mno.test"]);
    }
);
