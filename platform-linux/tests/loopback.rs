//! The `phonecheck` CLI end to end on loopback: real servers bound to 127.0.0.1, sockets pinned
//! to `lo`, TLS with a CA made at run time, a real DNS server; checks stdout's JSON envelope and
//! the exit status.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Command;

use phonecheck_rig::pki::{pki, rogue_pki, LeafOptions};
use phonecheck_rig::servers::{json, redirect, DnsServer, Script, ScriptedServer};
use serde_json::Value;

const OK_BODY: &str = r#"{"check_id":"c1","code":"4711"}"#;

struct Run {
    code: i32,
    json: Value,
    stderr: String,
}

fn phonecheck(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_phonecheck"))
        .args(args)
        .output()
        .expect("run phonecheck");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON envelope ({e}): {stdout:?}"));
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "stdout must be exactly one line of JSON"
    );
    Run {
        code: out.status.code().unwrap_or(-1),
        json,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `phonecheck open URL --interface lo --allow-http EXTRA...`
fn open_lo(url: &str, extra: &[&str]) -> Run {
    let mut args = vec!["open", url, "--interface", "lo", "--allow-http"];
    args.extend_from_slice(extra);
    phonecheck(&args)
}

/// Opens `https://{host}:{port}/check` on `server`, resolving `host` to it and trusting the test CA.
fn open_tls(server: &ScriptedServer, host: &str, extra: &[&str]) -> Run {
    let port = server.addr.port();
    let ca = ca_file();
    let url = format!("https://{host}:{port}/check");
    let resolve = format!("{host}:{port}:127.0.0.1");
    let mut args = vec![
        "open",
        &url,
        "--interface",
        "lo",
        "--resolve",
        &resolve,
        "--cacert",
        ca.arg(),
    ];
    args.extend_from_slice(extra);
    phonecheck(&args)
}

fn lo() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn ca_file() -> tempfile_path::TempFile {
    tempfile_path::TempFile::with(&pki().ca_pem)
}

/// A tiny temp-file helper (no extra crate).
mod tempfile_path {
    pub struct TempFile(pub std::path::PathBuf);
    impl TempFile {
        pub fn with(contents: &str) -> Self {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static N: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "pc-ca-{}-{}.pem",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&path, contents).unwrap();
            TempFile(path)
        }
        pub fn arg(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }
    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[test]
fn plain_chain_with_reuse_prints_the_envelope_and_exits_0() {
    let server = ScriptedServer::start(
        lo(),
        vec![
            redirect(302, "/two"),
            redirect(307, "three?x=1"),
            json(200, OK_BODY),
        ],
        None,
    );
    let url = format!("http://{}/one", server.addr);
    let run = open_lo(&url, &["-v"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json["http_status"], 200);
    assert_eq!(run.json["response_body"]["code"], "4711");
    assert_eq!(run.json["hops"], 3);
    assert_eq!(run.json["interface"], "lo");
    assert_eq!(
        server.connections(),
        1,
        "same origin, keep-alive: one connection"
    );
    let heads: Vec<String> = server
        .seen()
        .iter()
        .map(|s| s.head.lines().next().unwrap().to_string())
        .collect();
    assert_eq!(
        heads,
        [
            "GET /one HTTP/1.1",
            "GET /two HTTP/1.1",
            "GET /three?x=1 HTTP/1.1"
        ]
    );
    let progress: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("hop "))
        .collect();
    assert_eq!(progress.len(), 3, "{}", run.stderr);
    assert!(progress[0].starts_with("hop 1: 302 http 127.0.0.1:"));
    assert!(progress[1].contains("(reused connection)"));
}

#[test]
fn tls_chain_with_generated_ca_and_resolve_override() {
    let tls_config = pki().server_config("api.test", &LeafOptions::default());
    let api = ScriptedServer::start(
        lo(),
        vec![redirect(302, "/done"), json(200, OK_BODY)],
        Some(tls_config),
    );
    let run = open_tls(&api, "api.test", &["--debug"]);
    assert_eq!(run.code, 0, "{}", run.json);
    let hops = &run.json["debug"]["hops"];
    assert_eq!(hops[0]["tls"]["version"], "TLSv1.3");
    assert_eq!(hops[0]["tls"]["alpn"], "http/1.1");
    assert_eq!(hops[1]["reused_connection"], true);
    assert_eq!(run.json["debug"]["tls_handshakes"], 1);
    assert_eq!(api.connections(), 1);
}

#[test]
fn debug_trace_redacts_the_code_unless_asked() {
    let script = || {
        vec![
            redirect(302, "/done?check_id=c1&code=s3cret"),
            json(200, OK_BODY),
        ]
    };
    let server = ScriptedServer::start(lo(), script(), None);
    let url = format!("http://{}/start", server.addr);
    let run = open_lo(&url, &["--debug"]);
    let trace = run.json["debug"].to_string();
    assert!(
        trace.contains("code=REDACTED") && !trace.contains("s3cret"),
        "{trace}"
    );

    let server = ScriptedServer::start(lo(), script(), None);
    let url = format!("http://{}/start", server.addr);
    let run = open_lo(&url, &["--debug", "--show-secrets"]);
    assert!(run.json["debug"].to_string().contains("code=s3cret"));
}

#[test]
fn redirect_to_a_dead_origin_reports_the_hop_and_the_os_detail() {
    let api = ScriptedServer::start(lo(), vec![redirect(302, "http://127.0.0.1:9/next")], None);
    let url = format!("http://{}/check", api.addr);
    let run = open_lo(&url, &[]);
    assert_eq!(run.code, 4, "{}", run.json);
    assert_eq!(run.json["error"], "sdk_connection_error");
    assert!(
        run.json["error_description"]
            .as_str()
            .unwrap()
            .starts_with("hop 2:"),
        "{}",
        run.json
    );
    assert!(
        run.json["detail"].as_str().unwrap().contains("127.0.0.1:9"),
        "{}",
        run.json
    );
}

#[test]
fn tls_success_and_untrusted_ca() {
    let server = ScriptedServer::start(
        lo(),
        vec![json(200, OK_BODY)],
        Some(pki().server_config("api.test", &LeafOptions::default())),
    );
    let run = open_tls(&server, "api.test", &[]);
    assert_eq!(run.code, 0, "{}", run.json);
    assert_eq!(run.json["response_body"]["check_id"], "c1");

    let rogue = ScriptedServer::start(
        lo(),
        vec![json(200, OK_BODY)],
        Some(rogue_pki().server_config("api.test", &LeafOptions::default())),
    );
    let run = open_tls(&rogue, "api.test", &[]);
    assert_eq!(run.code, 4);
    assert_eq!(run.json["error"], "sdk_connection_error");
    assert!(run.json["error_description"]
        .as_str()
        .unwrap()
        .contains("trusted root"));
    assert!(
        rogue.seen().is_empty(),
        "no request over an unverified connection"
    );
}

#[test]
fn pinned_dns_resolves_through_the_interface() {
    let server = ScriptedServer::start(lo(), vec![json(200, OK_BODY)], None);
    let records = HashMap::from([("api.test".to_string(), vec!["127.0.0.1".parse().unwrap()])]);
    let dns = DnsServer::start(lo(), records);
    let url = format!("http://api.test:{}/check", server.addr.port());
    let dns_arg = dns.addr.to_string();
    let run = open_lo(&url, &["--dns", &dns_arg, "--debug"]);
    assert_eq!(run.code, 0, "{}", run.json);
    let asked: Vec<(String, String)> = dns.log().into_iter().map(|(_, n, t)| (n, t)).collect();
    assert!(asked.contains(&("api.test".into(), "A".into())));
    assert!(asked.contains(&("api.test".into(), "AAAA".into())));
    assert_eq!(run.json["debug"]["hops"][0]["ip_family"], "IPv4");
    assert!(run.json["debug"]["hops"][0]["timings_ms"]["dns"].is_u64());

    let url = format!("http://nowhere.test:{}/check", server.addr.port());
    let run = open_lo(&url, &["--dns", &dns_arg]);
    assert_eq!(run.code, 4);
    assert!(
        run.json["detail"].as_str().unwrap().contains("NXDOMAIN"),
        "{}",
        run.json
    );
}

#[test]
fn truncated_dns_answers_are_retried_over_tcp() {
    let server = ScriptedServer::start(lo(), vec![json(200, OK_BODY)], None);
    let records = HashMap::from([("api.test".to_string(), vec!["127.0.0.1".parse().unwrap()])]);
    let dns = DnsServer::start_with(lo(), records, true);
    let url = format!("http://api.test:{}/check", server.addr.port());
    let dns_arg = dns.addr.to_string();
    let run = open_lo(&url, &["--dns", &dns_arg]);
    assert_eq!(run.code, 0, "{}", run.json);
    let kinds: Vec<String> = dns.log().into_iter().map(|(_, _, t)| t).collect();
    assert!(kinds.contains(&"A".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"A/tcp".to_string()), "{kinds:?}");
}

#[test]
fn no_dns_server_asks_for_dns() {
    let run = open_lo("http://api.test:9/x", &[]);
    assert_eq!(run.code, 4);
    assert!(
        run.json["detail"].as_str().unwrap().contains("--dns"),
        "{}",
        run.json
    );
}

#[test]
fn missing_interface_is_no_data_connectivity_and_nothing_is_sent() {
    let server = ScriptedServer::start(lo(), vec![json(200, OK_BODY)], None);
    let url = format!("http://{}/check", server.addr);
    let run = phonecheck(&["open", &url, "--interface", "wwan-missing0", "--allow-http"]);
    assert_eq!(run.code, 3);
    assert_eq!(run.json["error"], "sdk_no_data_connectivity");
    assert!(run.json["error_description"]
        .as_str()
        .unwrap()
        .contains("does not exist"));
    assert_eq!(server.connections(), 0);
}

#[test]
fn timeouts_are_connection_errors() {
    let server = ScriptedServer::start(lo(), vec![Script::Hang], None);
    let url = format!("http://{}/check", server.addr);
    let started = std::time::Instant::now();
    let run = open_lo(&url, &["--max-time", "1"]);
    assert_eq!(run.code, 4);
    assert!(
        run.json["error_description"]
            .as_str()
            .unwrap()
            .contains("longer than 1000 ms"),
        "{}",
        run.json
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
}

#[test]
fn error_codes_map_to_exit_statuses() {
    // 5: too many redirects.
    let loop_server =
        ScriptedServer::start(lo(), vec![redirect(302, "/a"), redirect(302, "/b")], None);
    let url = format!("http://{}/start", loop_server.addr);
    let run = open_lo(&url, &["--max-redirs", "1"]);
    assert_eq!(
        (run.code, run.json["error"].as_str()),
        (5, Some("sdk_redirect_error"))
    );

    // 6: malformed response.
    let bad = ScriptedServer::start(
        lo(),
        vec![Script::Respond(b"HTTP/1.1 2x0 Bad\r\n\r\n".to_vec())],
        None,
    );
    let url = format!("http://{}/start", bad.addr);
    let run = open_lo(&url, &[]);
    assert_eq!(
        (run.code, run.json["error"].as_str()),
        (6, Some("sdk_error"))
    );

    // 7: http check URL without --allow-http.
    let run = phonecheck(&["open", "http://127.0.0.1:9/x", "--interface", "lo"]);
    assert_eq!(
        (run.code, run.json["error"].as_str()),
        (7, Some("invalid_scheme"))
    );

    // 0: any final status, here 404.
    let missing = ScriptedServer::start(lo(), vec![json(404, r#"{"detail":"no"}"#)], None);
    let url = format!("http://{}/start", missing.addr);
    let run = open_lo(&url, &[]);
    assert_eq!((run.code, run.json["http_status"].as_u64()), (0, Some(404)));

    // 2: a wrong command line (clap's usage error, not an envelope).
    let out = Command::new(env!("CARGO_BIN_EXE_phonecheck"))
        .args(["open"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn coverage_calls_the_device_ip_endpoint_with_the_token() {
    let server = ScriptedServer::start(
        lo(),
        vec![json(
            200,
            r#"{"network_id":"23410","network_name":"Sim Mobile","country_code":"GB","products":[]}"#,
        )],
        Some(pki().server_config("eu.api.test", &LeafOptions::default())),
    );
    let port = server.addr.port();
    let ca = ca_file();
    let base = format!("https://eu.api.test:{port}");
    let resolve = format!("eu.api.test:{port}:127.0.0.1");
    let run = phonecheck(&[
        "coverage",
        "--access-token",
        "tok",
        "--api-base",
        &base,
        "--interface",
        "lo",
        "--resolve",
        &resolve,
        "--cacert",
        ca.arg(),
    ]);
    assert_eq!(run.code, 0, "{}", run.json);
    assert_eq!(run.json["response_body"]["network_id"], "23410");
    let head = &server.seen()[0].head;
    assert!(head.starts_with("GET /coverage/v0.1/device_ip HTTP/1.1\r\n"));
    assert!(head.contains("\r\nAuthorization: Bearer tok\r\n"));
}

#[test]
fn max_redirs_beyond_what_the_engine_counts_is_a_command_line_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_phonecheck"))
        .args(["open", "https://api.example/", "--max-redirs", "255"])
        .output()
        .expect("run phonecheck");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("255") && stderr.contains("254"), "{stderr}");
    assert!(out.stdout.is_empty());
}
