//! Many checks at once on one thread (the multiplexed driver): every check gets its own code,
//! each has its own deadlines, a hostile server disturbs only its own check, and running out of
//! file descriptors fails those checks and not the others. Loopback only; sockets pinned to `lo`.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use phonecheck_engine::{Policy, TlsSettings};
use phonecheck_linux::driver::mux::{run_many, MuxOptions};
use phonecheck_linux::driver::{CheckOptions, Report};
use phonecheck_linux::net::dns::Resolver;
use phonecheck_linux::net::socket::Binding;
use phonecheck_linux::net::LinuxNetwork;
use phonecheck_rig::servers::{json, Script, ScriptedServer};
use phonecheck_rig::sim::{SimConfig, Simulator};
use serde_json::Value;

const OWNER: &str = "+447700900001";
const OTHER: &str = "+447700900002";

fn lo() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn options(url: String, total: Duration) -> CheckOptions {
    let lo = Binding::Interface("lo".into());
    let mut policy = Policy {
        allow_http_start: true,
        platform: "test",
        ..Policy::default()
    };
    policy.timeouts.total = total;
    CheckOptions {
        url,
        policy,
        network: Arc::new(LinuxNetwork {
            binding: lo.clone(),
            resolver: Resolver {
                binding: lo,
                servers: Vec::new(),
                overrides: Vec::new(),
            },
        }),
        tls: TlsSettings::with_ring(),
        access_token: None,
        redirect_url: None,
        expected_state: None,
        device_info: None,
    }
}

fn run(jobs: Vec<CheckOptions>, concurrency: usize) -> Vec<Report> {
    let mut reports: Vec<Option<Report>> = vec![None; jobs.len()];
    run_many(
        &mut jobs.into_iter(),
        MuxOptions {
            concurrency,
            dns_workers: 2,
        },
        &mut |i, r| reports[i] = Some(r),
    )
    .unwrap();
    reports
        .into_iter()
        .map(|r| r.expect("every job reports"))
        .collect()
}

fn summary_line(stderr: &str) -> &str {
    stderr
        .lines()
        .rev()
        .find(|l| l.contains(" checks, "))
        .unwrap_or_else(|| panic!("no summary line in {stderr:?}"))
}

#[test]
fn every_check_of_a_batch_gets_its_own_code_and_the_right_match() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let dir = std::env::temp_dir().join(format!("phonecheck-batch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("numbers.txt");
    let mut numbers = vec![OWNER; 8];
    numbers.push(OTHER);
    numbers.push(OTHER);
    std::fs::write(
        &file,
        format!("# owner x8, other x2\n{}\n", numbers.join("\n")),
    )
    .unwrap();
    let mut args: Vec<String> = vec![
        "check".into(),
        "--batch".into(),
        file.display().to_string(),
        "--concurrency".into(),
        "5".into(),
        "--api-base".into(),
        format!("https://{}", sim.api_addr),
    ];
    args.extend(sim.cli_args());
    let out = Command::new(env!("CARGO_BIN_EXE_phonecheck"))
        .args(&args)
        .env("IDLAYR_CLIENT_ID", &sim.config.client_id)
        .env("IDLAYR_CLIENT_SECRET", &sim.config.client_secret)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 10, "{stdout}\n{stderr}");
    let mut codes = std::collections::HashSet::new();
    for line in &lines {
        assert_eq!(line["schema"], 1);
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
        assert!(line["wall_ms"].as_f64().unwrap() >= 0.0);
        let phone = line["phone_number"].as_str().unwrap();
        let result = &line["result"];
        assert_eq!(result["status"], "COMPLETED", "{line}");
        assert_eq!(result["match"], phone == OWNER, "{line}");
        let code = result["device"]["response_body"]["code"].as_str().unwrap();
        assert!(
            codes.insert(code.to_string()),
            "code {code} came back twice"
        );
    }
    // A mismatch is still a completed check: every check succeeded.
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let summary = summary_line(&stderr);
    assert!(
        summary.starts_with("10 checks, 10 ok, 0 failed, "),
        "{summary}"
    );
    assert!(
        summary.contains(" checks/s, p50 ") && summary.ends_with(" ms"),
        "{summary}"
    );
}

#[test]
fn open_repeat_prints_one_line_per_check_and_the_summary() {
    let body = r#"{"check_id":"c1","code":"4711"}"#;
    let server = ScriptedServer::start(lo(), vec![json(200, body); 12], None);
    let url = format!("http://{}/check", server.addr);
    let out = Command::new(env!("CARGO_BIN_EXE_phonecheck"))
        .args([
            "open",
            &url,
            "--interface",
            "lo",
            "--allow-http",
            "--repeat",
            "12",
            "--concurrency",
            "4",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let checks: Vec<u64> = stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["result"]["http_status"], 200);
            assert_eq!(v["exit"], 0);
            v["check"].as_u64().unwrap()
        })
        .collect();
    let mut sorted = checks.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..12).collect::<Vec<u64>>());
    assert!(summary_line(&stderr).starts_with("12 checks, 12 ok, 0 failed, "));
}

#[test]
fn a_slow_server_times_out_alone_and_the_others_finish_on_time() {
    let body = r#"{"check_id":"c1","code":"4711"}"#;
    let fast = ScriptedServer::start(lo(), vec![json(200, body); 6], None);
    let slow = ScriptedServer::start(lo(), vec![Script::Hang], None);
    let mut jobs: Vec<CheckOptions> = (0..6)
        .map(|_| {
            options(
                format!("http://{}/fast", fast.addr),
                Duration::from_secs(20),
            )
        })
        .collect();
    jobs.insert(
        2,
        options(
            format!("http://{}/slow", slow.addr),
            Duration::from_millis(1500),
        ),
    );
    let reports = run(jobs, 7);
    for (i, r) in reports.iter().enumerate() {
        if i == 2 {
            assert!(r.code.is_some(), "the slow check must fail");
            assert!(r.envelope.contains("1500 ms"), "{}", r.envelope);
            assert!(r.elapsed >= Duration::from_millis(1500));
        } else {
            assert_eq!(r.http_status, Some(200), "{}", r.envelope);
            // Finished while the slow one was still waiting for its answer.
            assert!(r.elapsed < Duration::from_millis(1500), "{:?}", r.elapsed);
        }
    }
}

#[test]
fn a_hostile_server_disturbs_only_its_own_check() {
    let body = r#"{"check_id":"c1","code":"4711"}"#;
    let good = ScriptedServer::start(lo(), vec![json(200, body); 8], None);
    // A head that never ends (a header line longer than any limit), then garbage.
    let endless = format!("HTTP/1.1 200 OK\r\nX-Junk: {}", "A".repeat(64 * 1024));
    let hostile = ScriptedServer::start(
        lo(),
        vec![
            Script::Respond(endless.into_bytes()),
            Script::Respond(b"\x00\x01garbage that is not HTTP\r\n\r\n".to_vec()),
        ],
        None,
    );
    let mut jobs: Vec<CheckOptions> = (0..8)
        .map(|_| {
            options(
                format!("http://{}/good", good.addr),
                Duration::from_secs(20),
            )
        })
        .collect();
    jobs.insert(
        0,
        options(
            format!("http://{}/h1", hostile.addr),
            Duration::from_secs(20),
        ),
    );
    jobs.insert(
        5,
        options(
            format!("http://{}/h2", hostile.addr),
            Duration::from_secs(20),
        ),
    );
    let reports = run(jobs, 10);
    for (i, r) in reports.iter().enumerate() {
        let v: Value = serde_json::from_str(&r.envelope).unwrap();
        if i == 0 || i == 5 {
            assert_eq!(v["error"], "sdk_error", "{v}");
        } else {
            assert_eq!(v["http_status"], 200, "{v}");
            assert_eq!(v["response_body"]["code"], "4711");
        }
    }
}

#[test]
fn running_out_of_file_descriptors_fails_those_checks_and_the_rest_go_on() {
    let body = r#"{"check_id":"c1","code":"4711"}"#;
    let server = ScriptedServer::start(lo(), vec![json(200, body); 80], None);
    let url = format!("http://{}/check", server.addr);
    let bin = env!("CARGO_BIN_EXE_phonecheck");
    // A low descriptor limit for the phonecheck process only: 80 checks at once cannot all
    // have a socket.
    let script = format!(
        "ulimit -n 48 && exec {bin} open {url} --interface lo --allow-http --repeat 80 --concurrency 80"
    );
    let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 80, "{stderr}");
    let ok = lines.iter().filter(|l| l["exit"] == 0).count();
    let emfile: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["result"]["error_description"]
                .as_str()
                .is_some_and(|d| d.contains("EMFILE"))
        })
        .collect();
    assert!(ok > 0, "some checks must succeed: {stderr}");
    assert!(!emfile.is_empty(), "some checks must hit EMFILE: {stdout}");
    assert_eq!(ok + emfile.len(), 80, "{stdout}");
    assert_eq!(emfile[0]["result"]["error"], "sdk_error");
    assert_eq!(out.status.code(), Some(1));
    let summary = summary_line(&stderr);
    assert!(
        summary.starts_with(&format!("80 checks, {ok} ok, {} failed, ", emfile.len())),
        "{summary}"
    );
}
