//! The whole three-step flow against the simulator on loopback: the backend through the real
//! API client, the device step through the real driver pinned to `lo`.

use std::process::Command;
use std::time::Duration;

use phonecheck_linux::cli::demo::loopback_device;
use phonecheck_linux::driver::{run_check, Report};
use phonecheck_linux::flow;
use phonecheck_linux::flow::backend::Backend;
use phonecheck_rig::sim::{SimConfig, Simulator, Status};
use serde_json::Value;

const OWNER: &str = "+447700900001";
const OTHER: &str = "+447700900002";

fn start(config: SimConfig) -> (Simulator, Backend) {
    let sim = Simulator::start(config).expect("simulator");
    let mut backend = Backend::new(
        &format!("https://{}", sim.api_addr),
        Some(sim.ca_pem.as_bytes()),
    )
    .unwrap();
    backend
        .authenticate(
            &sim.config.client_id,
            &sim.config.client_secret,
            "phone_check",
        )
        .unwrap();
    (sim, backend)
}

/// The device step: open `url` pinned to lo, trusting the simulator's CA.
fn open(sim: &Simulator, url: &str) -> Report {
    run_check(&loopback_device(sim, url, None).unwrap(), &mut |_| {})
}

#[test]
fn owner_matches_and_the_chain_crosses_schemes_cookies_and_relative_locations() {
    let (sim, backend) = start(SimConfig::default());
    let flow = flow::run(&backend, OWNER, None, &mut |c| open(&sim, &c.check_url)).unwrap();
    let result = flow.result.as_ref().expect("the device got a code");
    assert!(result.matched);
    assert_eq!(result.status, "COMPLETED");
    assert_eq!(sim.status(&flow.check.check_id), Some(Status::Completed));
    assert_eq!(flow.device.envelope_json()["hops"], 5);
    let served: Vec<(&str, String)> = sim
        .log()
        .iter()
        .map(|e| (e.server, e.path.clone()))
        .collect();
    assert!(served.iter().any(|(s, p)| *s == "he" && p == "/enrich"));
    assert!(served.iter().any(|(s, p)| *s == "he" && p == "/result"));
}

#[test]
fn another_number_on_the_same_data_session_does_not_match() {
    let (sim, backend) = start(SimConfig::default());
    let flow = flow::run(&backend, OTHER, None, &mut |c| open(&sim, &c.check_url)).unwrap();
    let result = flow.result.unwrap();
    assert!(!result.matched);
    assert_eq!(result.status, "COMPLETED");
}

#[test]
fn wrong_code_does_not_match() {
    let (sim, backend) = start(SimConfig::default());
    let check = backend.create_check(OWNER, None).unwrap();
    let device = open(&sim, &check.check_url);
    assert!(device.envelope_json()["response_body"]["code"].is_string());
    let result = backend
        .submit_code(&check.check_id, "not-the-code")
        .unwrap();
    assert!(!result.matched);
}

#[test]
fn patch_before_the_device_step_is_404() {
    let (_sim, backend) = start(SimConfig::default());
    let check = backend.create_check(OWNER, None).unwrap();
    let err = backend
        .submit_code(&check.check_id, "anything")
        .unwrap_err();
    assert!(err.to_string().contains("answered 404"), "{err}");
}

#[test]
fn expired_check_fails_the_device_step_and_the_patch_says_expired() {
    let (sim, backend) = start(SimConfig {
        ttl_secs: 1,
        ..SimConfig::default()
    });
    let check = backend.create_check(OWNER, None).unwrap();
    std::thread::sleep(Duration::from_millis(1_200));
    let device = open(&sim, &check.check_url);
    assert_eq!(device.envelope_json()["http_status"], 200);
    assert_eq!(
        device.envelope_json()["response_body"]["error"],
        "check_expired"
    );
    assert_eq!(sim.status(&check.check_id), Some(Status::Expired));
    let result = backend.submit_code(&check.check_id, "x").unwrap();
    assert_eq!((result.status.as_str(), result.matched), ("EXPIRED", false));
}

#[test]
fn redirect_url_flow_ends_at_the_app_link_without_requesting_it() {
    let (sim, backend) = start(SimConfig::default());
    let app = "https://app.example/phonecheck/done";
    let check = backend.create_check(OWNER, Some(app)).unwrap();
    // The device stops at the redirect_url: app.example is never resolved or contacted.
    let opts = loopback_device(&sim, &check.check_url, Some(app.to_string())).unwrap();
    let device = run_check(&opts, &mut |_| {});
    assert_eq!(
        device.envelope_json()["http_status"],
        302,
        "{}",
        device.envelope
    );
    let body = &device.envelope_json()["response_body"];
    assert_eq!(body["check_id"], check.check_id.as_str());
    let code = body["code"]
        .as_str()
        .expect("code from the redirect_url query");
    assert!(backend.submit_code(&check.check_id, code).unwrap().matched);
}

#[test]
fn check_url_opened_twice_keeps_the_first_result() {
    let (sim, backend) = start(SimConfig::default());
    let check = backend.create_check(OWNER, None).unwrap();
    let first = open(&sim, &check.check_url);
    let second = open(&sim, &check.check_url);
    assert_eq!(
        second.envelope_json()["response_body"]["error"],
        "check_already_processed"
    );
    let code = first
        .field(phonecheck_engine::Field::Code)
        .unwrap()
        .to_string();
    assert!(backend.submit_code(&check.check_id, &code).unwrap().matched);
}

#[test]
fn api_validation_errors_are_problem_json() {
    let (_sim, backend) = start(SimConfig::default());
    let err = backend
        .create_check("07700900001", None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("400") && err.contains("E.164"), "{err}");
    let mut wrong = Backend::new(
        &format!("https://{}", _sim.api_addr),
        Some(_sim.ca_pem.as_bytes()),
    )
    .unwrap();
    let err = wrong
        .authenticate("sim-client", "wrong", "phone_check")
        .unwrap_err()
        .to_string();
    assert!(err.contains("401"), "{err}");
}

#[test]
fn demo_command_runs_the_whole_flow() {
    let out = Command::new(env!("CARGO_BIN_EXE_phonecheck"))
        .arg("demo")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("match: true"));
    assert!(text.contains("match: false"));
    assert!(text.contains("demo ok"));
}

#[test]
fn check_command_plays_backend_and_device() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let mut args: Vec<String> = vec![
        "check".into(),
        "--phone".into(),
        OWNER.into(),
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
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["match"], true);
    assert_eq!(v["status"], "COMPLETED");
    assert_eq!(v["device"]["http_status"], 200);

    let out = Command::new(env!("CARGO_BIN_EXE_phonecheck"))
        .args(&args)
        .env("IDLAYR_CLIENT_ID", "nobody")
        .env("IDLAYR_CLIENT_SECRET", "wrong")
        .output()
        .unwrap();
    // The API refused the credentials: a backend failure, not a device-step error.
    assert_eq!(out.status.code(), Some(8));
}

#[test]
fn sim_command_prints_its_urls_ca_and_subscribers_then_serves() {
    use std::io::{BufRead, BufReader};
    let config = std::env::temp_dir().join(format!("pc-sim-config-{}.json", std::process::id()));
    let ca = std::env::temp_dir().join(format!("pc-sim-ca-{}.pem", std::process::id()));
    let settings = serde_json::json!({
        "subscribers": {"127.0.0.1": "+447700900009"},
        "ttl_secs": 30,
        "ca_path": ca,
    });
    std::fs::write(&config, settings.to_string()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_phonecheck"))
        .args(["sim", "--config", config.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut text = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        text.push_str(&line);
        text.push('\n');
        if line.starts_with("serving") {
            break;
        }
    }
    // The command it prints runs as printed: names, trust and interface included.
    let try_line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("try it: "))
        .unwrap_or_else(|| panic!("no command line in {text}"))
        .to_string();
    let mut words = try_line.split_whitespace();
    let mut env = Vec::new();
    let mut args = Vec::new();
    for w in words.by_ref() {
        match w.split_once('=') {
            Some((k, v)) if k.starts_with("IDLAYR_") => env.push((k.to_string(), v.to_string())),
            _ if w == "phonecheck" => break,
            _ => panic!("unexpected {w} in {try_line}"),
        }
    }
    args.extend(words.map(str::to_string));
    let out = Command::new(env!("CARGO_BIN_EXE_phonecheck"))
        .args(&args)
        .envs(env)
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_file(&config);
    let _ = std::fs::remove_file(&ca);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["match"], true, "{v}");
    assert!(text.contains("/coverage/v0.1/device_ip"), "{text}");
    assert!(text.contains("API https://api.test:"), "{text}");
    assert!(text.contains("CA certificate /"), "{text}");
    assert!(
        text.contains("subscriber 127.0.0.1 → +447700900009"),
        "{text}"
    );
    assert!(text.contains("--resolve api.test:"), "{text}");
}

#[test]
fn backend_calls_honour_resolve_and_show_with_verbose_and_coverage_is_served() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    // The API by name only: the backend must use --resolve too.
    let mut args: Vec<String> = vec![
        "check".into(),
        "--phone".into(),
        OWNER.into(),
        "--api-base".into(),
        sim.urls.api.clone(),
        "-v".into(),
    ];
    args.extend(sim.cli_args());
    let out = Command::new(env!("CARGO_BIN_EXE_phonecheck"))
        .args(&args)
        .env("IDLAYR_CLIENT_ID", &sim.config.client_id)
        .env("IDLAYR_CLIENT_SECRET", &sim.config.client_secret)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("backend: POST https://api.test:"),
        "{stderr}"
    );
    assert!(stderr.contains("/oauth2/v1/token -> 200"), "{stderr}");
    assert!(stderr.contains("backend: PATCH "), "{stderr}");

    // `coverage` against the simulator: the loopback address is a subscriber's.
    let mut backend = Backend::new(
        &format!("https://{}", sim.api_addr),
        Some(sim.ca_pem.as_bytes()),
    )
    .unwrap();
    backend
        .authenticate(&sim.config.client_id, &sim.config.client_secret, "coverage")
        .unwrap();
    let token = backend.token().unwrap().to_string();
    let mut args: Vec<String> = vec![
        "coverage".into(),
        "--access-token".into(),
        token,
        "--api-base".into(),
        sim.urls.api.clone(),
    ];
    args.extend(sim.cli_args());
    let out = Command::new(env!("CARGO_BIN_EXE_phonecheck"))
        .args(&args)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["http_status"], 200, "{v}");
    assert_eq!(
        v["response_body"]["products"][0]["product_id"], "PCK",
        "{v}"
    );
}

#[test]
fn check_runs_the_device_preflight_before_creating_anything() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let base = format!("https://{}", sim.api_addr);
    let run = |extra: &[&str]| {
        let mut args: Vec<String> = vec![
            "check".into(),
            "--phone".into(),
            OWNER.into(),
            "--api-base".into(),
            base.clone(),
            "--cacert".into(),
            sim.ca_path.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        Command::new(env!("CARGO_BIN_EXE_phonecheck"))
            .args(&args)
            .env("IDLAYR_CLIENT_ID", &sim.config.client_id)
            .env("IDLAYR_CLIENT_SECRET", &sim.config.client_secret)
            .output()
            .unwrap()
    };
    // No such interface.
    let out = run(&["--interface", "wwan-missing0", "--dns", "127.0.0.1"]);
    assert_eq!(out.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"], "sdk_no_data_connectivity");
    // An interface, but no way to resolve names over it.
    let out = run(&["--interface", "lo"]);
    assert_eq!(out.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["error_description"].as_str().unwrap().contains("--dns"),
        "{v}"
    );
    // Neither run took a token or created a check.
    assert!(sim.log().is_empty(), "{:?}", sim.log());
}
