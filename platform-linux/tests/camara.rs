//! CAMARA NumberVerification end to end on loopback: `phonecheck camara` and `demo --camara`
//! against the simulator's operator, and against scripted hostile servers for what the operator
//! never does (a forged state, a hop in the clear). The device step is pinned to `lo`.

use std::process::Command;

use phonecheck_rig::pki::{pki, LeafOptions};
use phonecheck_rig::servers::{redirect, Script, ScriptedServer};
use phonecheck_rig::sim::{SimConfig, Simulator};
use serde_json::Value;

const OWNER: &str = "+447700900001";

struct Run {
    code: i32,
    json: Value,
    text: String,
}

fn run(args: &[String], client: (&str, &str)) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_phonecheck"))
        .args(args)
        .env("CAMARA_CLIENT_ID", client.0)
        .env("CAMARA_CLIENT_SECRET", client.1)
        .output()
        .expect("run phonecheck");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    Run {
        code: out.status.code().unwrap_or(-1),
        json: serde_json::from_str(stdout.trim()).unwrap_or(Value::Null),
        text: format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)),
    }
}

/// `phonecheck camara` against the simulator, for `phone`, with `extra` flags.
fn camara(sim: &Simulator, phone: &str, extra: &[&str]) -> Run {
    let mut args: Vec<String> = [
        "camara",
        "--phone",
        phone,
        "--authorize-url",
        &format!("{}/camara/authorize", sim.urls.api),
        "--token-url",
        &format!("{}/camara/token", sim.urls.mno),
        "--verify-url",
        &format!("{}/camara/number-verification/v0/verify", sim.urls.mno),
        "--redirect-uri",
        &format!("{}/camara/callback", sim.urls.api),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(sim.cli_args());
    args.extend(extra.iter().map(|s| s.to_string()));
    run(&args, (&sim.config.client_id, &sim.config.client_secret))
}

#[test]
fn demo_camara_prints_verified_for_the_owner_and_not_for_another_number() {
    let out = Command::new(env!("CARGO_BIN_EXE_phonecheck"))
        .args(["demo", "--camara"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let owner = text.find("devicePhoneNumberVerified: true").expect(&text);
    let other = text.find("devicePhoneNumberVerified: false").expect(&text);
    assert!(owner < other, "{text}");
}

#[test]
fn camara_verifies_the_owner_and_not_another_number_with_every_hop_over_https() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let r = camara(&sim, OWNER, &[]);
    assert_eq!(r.code, 0, "{}", r.text);
    assert_eq!(r.json["devicePhoneNumberVerified"], true, "{}", r.text);
    assert_eq!(r.json["device"]["http_status"], 302);
    assert_eq!(
        r.json["device"]["hops"], 3,
        "aggregator, authorize, authenticate"
    );
    assert!(r.json["device"]["response_body"]["code"].is_string());

    let r = camara(&sim, "+447700900002", &[]);
    assert_eq!(r.code, 0, "{}", r.text);
    assert_eq!(r.json["devicePhoneNumberVerified"], false, "{}", r.text);

    let log = sim.log();
    let device: Vec<_> = log
        .iter()
        .filter(|e| e.method == "GET" && e.path.starts_with("/camara/"))
        .collect();
    assert_eq!(device.len(), 6, "{log:?}");
    assert!(
        device.iter().all(|e| e.server != "he"),
        "no plain-http host"
    );
    assert!(
        log.iter().all(|e| e.path != "/camara/callback"),
        "the redirect_uri is never requested: {log:?}"
    );
    for path in ["/camara/token", "/camara/number-verification/v0/verify"] {
        let calls: Vec<_> = log.iter().filter(|e| e.path == path).collect();
        assert_eq!(calls.len(), 2, "{path}: {log:?}");
        assert!(calls.iter().all(|e| e.method == "POST" && e.status == 200));
    }
}

#[test]
fn camara_a_6_kb_authorize_url_reaches_the_operator() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    // A signed request object of several KB, as operators' aggregators send.
    let jwt = "eyJhbGciOiJSUzI1NiJ9.".repeat(300);
    assert!(jwt.len() >= 6000);
    // --show-secrets: the trace redacts a value that looks like a credential, as a JWT does.
    let r = camara(
        &sim,
        OWNER,
        &["--request-object", &jwt, "--debug", "--show-secrets"],
    );
    assert_eq!(r.code, 0, "{}", r.text);
    assert_eq!(r.json["devicePhoneNumberVerified"], true, "{}", r.text);
    let first = r.json["device"]["debug"]["hops"][0]["url"]
        .as_str()
        .unwrap();
    assert!(
        first.len() > 6000,
        "first hop's URL is {} bytes",
        first.len()
    );
}

#[test]
fn camara_access_denied_when_the_data_session_is_not_a_subscriber() {
    let sim = Simulator::start(SimConfig {
        subscribers: Default::default(),
        ..SimConfig::default()
    })
    .unwrap();
    let r = camara(&sim, OWNER, &[]);
    assert_eq!(r.code, 1, "{}", r.text);
    assert_eq!(r.json["error"], "access_denied", "{}", r.text);
    assert!(r.json.get("devicePhoneNumberVerified").is_none());
    assert!(sim.log().iter().all(|e| e.path != "/camara/token"));
}

#[test]
fn camara_a_consent_page_is_interaction_required_and_prompt_none_is_consent_required() {
    let sim = Simulator::start(SimConfig {
        camara_consent_pending: vec![OWNER.to_string()],
        ..SimConfig::default()
    })
    .unwrap();
    let r = camara(&sim, OWNER, &[]);
    assert_eq!(r.code, 10, "{}", r.text);
    assert_eq!(
        r.json["device"]["error"], "interaction_required",
        "{}",
        r.text
    );
    assert!(r.json.get("devicePhoneNumberVerified").is_none());

    let r = camara(&sim, OWNER, &["--prompt-none"]);
    assert_eq!(r.code, 1, "{}", r.text);
    assert_eq!(r.json["error"], "consent_required", "{}", r.text);
}

/// An https server on loopback for `operator.test`, with the shared test CA written to a file.
fn hostile(script: Vec<Script>) -> (ScriptedServer, tempfile_path::Path) {
    let tls = pki().server_config("operator.test", &LeafOptions::default());
    let server = ScriptedServer::start("127.0.0.1:0".parse().unwrap(), script, Some(tls));
    let ca = tempfile_path::Path::write("ca.pem", &pki().ca_pem);
    (server, ca)
}

/// A temporary file removed on drop (no extra crate for one file).
mod tempfile_path {
    pub struct Path(pub std::path::PathBuf);
    impl Path {
        pub fn write(name: &str, text: &str) -> Path {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static N: AtomicUsize = AtomicUsize::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let p = std::env::temp_dir().join(format!(
                "phonecheck-camara-{}-{n}-{name}",
                std::process::id()
            ));
            std::fs::write(&p, text).unwrap();
            Path(p)
        }
    }
    impl Drop for Path {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn camara_against(server: &ScriptedServer, ca: &tempfile_path::Path) -> Run {
    let port = server.addr.port();
    let base = format!("https://operator.test:{port}");
    let args: Vec<String> = [
        "camara",
        "--phone",
        OWNER,
        "--authorize-url",
        &format!("{base}/authorize"),
        "--token-url",
        &format!("{base}/token"),
        "--verify-url",
        &format!("{base}/verify"),
        "--redirect-uri",
        "https://backend.test/cb",
        "--interface",
        "lo",
        "--cacert",
        &ca.0.display().to_string(),
        "--resolve",
        &format!("operator.test:{port}:127.0.0.1"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    run(&args, ("client", "secret"))
}

#[test]
fn camara_a_forged_state_is_state_mismatch_and_no_token_is_asked_for() {
    let (server, ca) = hostile(vec![redirect(
        302,
        "https://backend.test/cb?code=stolen&state=forged",
    )]);
    let r = camara_against(&server, &ca);
    assert_eq!(r.code, 9, "{}", r.text);
    assert_eq!(r.json["device"]["error"], "state_mismatch", "{}", r.text);
    assert_eq!(server.seen().len(), 1, "only the authorize request");
}

#[test]
fn camara_a_redirect_to_plain_http_is_refused_before_it_is_requested() {
    let clear = ScriptedServer::start(
        "127.0.0.1:0".parse().unwrap(),
        vec![Script::Respond(
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec(),
        )],
        None,
    );
    let (server, ca) = hostile(vec![redirect(
        302,
        &format!("http://127.0.0.1:{}/enrich", clear.addr.port()),
    )]);
    let r = camara_against(&server, &ca);
    assert_eq!(r.code, 5, "{}", r.text);
    assert_eq!(
        r.json["device"]["error"], "sdk_redirect_error",
        "{}",
        r.text
    );
    let why = r.json["device"]["error_description"].as_str().unwrap_or("");
    assert!(why.contains("plain http"), "{why}");
    assert_eq!(clear.connections(), 0, "nothing went out in the clear");
}

#[test]
fn camara_command_line_mistakes_exit_2() {
    let args = |phone: &str| -> Vec<String> {
        [
            "camara",
            "--phone",
            phone,
            "--authorize-url",
            "https://op.test/a",
            "--token-url",
            "https://op.test/t",
            "--verify-url",
            "https://op.test/v",
            "--redirect-uri",
            "https://app.test/cb",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let r = run(&args("07700900001"), ("c", "s"));
    assert_eq!(r.code, 2, "{}", r.text);
    assert!(r.text.contains("E.164"), "{}", r.text);

    let out = Command::new(env!("CARGO_BIN_EXE_phonecheck"))
        .args(args(OWNER))
        .env_remove("CAMARA_CLIENT_ID")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CAMARA_CLIENT_ID"));
}

#[test]
fn camara_device_step_recorded_replays_with_the_operator_gone() {
    let file = tempfile_path::Path::write("camara.jsonl", "");
    let (device, code) = {
        let sim = Simulator::start(SimConfig::default()).unwrap();
        let path = file.0.display().to_string();
        // Secrets kept, so the replayed envelope is the printed one byte for byte (redacted, the
        // code would be a placeholder of its length).
        let r = camara(&sim, OWNER, &["--record", &path, "--record-secrets"]);
        assert_eq!(r.code, 0, "{}", r.text);
        (r.json["device"].clone(), r.code)
    };
    let recording = std::fs::read_to_string(&file.0).unwrap();
    assert!(recording.contains("\"require_https\":true"), "{recording}");
    assert!(recording.contains("\"expected_state\""), "{recording}");
    let out = Command::new(env!("CARGO_BIN_EXE_phonecheck"))
        .args(["replay", &file.0.display().to_string()])
        .output()
        .unwrap();
    let replayed: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(replayed, device);
}

/// The backend half against the simulator's operator, call by call: what a wrong verifier, a
/// spent code, another redirect_uri, a wrong secret or a bad token get.
#[test]
fn camara_token_and_verify_refuse_what_they_must() {
    use phonecheck_linux::cli::demo::{loopback_device, sim_backend, sim_camara_client};
    use phonecheck_linux::driver::run_check;
    use phonecheck_linux::flow::camara::Authorization;

    let sim = Simulator::start(SimConfig {
        camara_redirect_uris: vec!["https://other.test/cb".into()],
        ..SimConfig::default()
    })
    .unwrap();
    let client = sim_camara_client(&sim);
    let backend = sim_backend(&sim).unwrap();
    // The device step for an authorization: the code on the redirect_uri.
    let code_for = |client: &phonecheck_linux::flow::camara::CamaraClient, auth: &Authorization| {
        let mut opts = loopback_device(&sim, &auth.url, Some(client.redirect_uri.clone())).unwrap();
        opts.policy.require_https = true;
        opts.expected_state = Some(auth.state.clone());
        let report = run_check(&opts, &mut |_| {});
        report
            .field(phonecheck_engine::Field::Code)
            .unwrap_or_else(|| panic!("no code: {}", report.envelope))
            .to_string()
    };
    fn refused<T: std::fmt::Debug>(
        r: Result<T, phonecheck_linux::flow::backend::BackendError>,
        why: &str,
    ) {
        let e = r.unwrap_err();
        assert!(e.to_string().contains(why), "{e}");
    }

    // Another authorization's verifier: PKCE refuses.
    let (a, b) = (
        client.authorization(&[]).unwrap(),
        client.authorization(&[]).unwrap(),
    );
    let code = code_for(&client, &a);
    refused(
        client.token(&backend, &b, &code),
        "code_verifier does not match",
    );
    // That use spent the code, right or wrong.
    refused(client.token(&backend, &a, &code), "unknown or spent code");

    // A good exchange works once, then the code is spent.
    let code = code_for(&client, &a);
    let token = client.token(&backend, &a, &code).unwrap();
    refused(client.token(&backend, &a, &code), "unknown or spent code");
    assert!(client.verify(&backend, &token, OWNER).unwrap());
    refused(
        client.verify(&backend, "not-a-token", OWNER),
        "UNAUTHENTICATED",
    );
    refused(
        client.verify(&backend, &token, "447700900001"),
        "INVALID_ARGUMENT",
    );

    // The code was issued for one redirect_uri; the exchange must name the same one.
    let other = phonecheck_linux::flow::camara::CamaraClient {
        redirect_uri: "https://other.test/cb".into(),
        ..client.clone()
    };
    let a = other.authorization(&[]).unwrap();
    let code = code_for(&other, &a);
    refused(
        client.token(&backend, &a, &code),
        "another client or redirect_uri",
    );

    // A wrong secret is no client at all.
    let wrong = phonecheck_linux::flow::camara::CamaraClient {
        client_secret: "wrong".into(),
        ..client.clone()
    };
    let a = client.authorization(&[]).unwrap();
    let code = code_for(&client, &a);
    refused(wrong.token(&backend, &a, &code), "invalid_client");
}

#[test]
fn camara_a_json_error_from_the_operator_is_not_an_authorization_code() {
    // CAMARA's error body has a `code` member too; it must never reach the token endpoint.
    let body = r#"{"status":400,"code":"INVALID_ARGUMENT","message":"bad scope"}"#;
    let (server, ca) = hostile(vec![phonecheck_rig::servers::json(400, body)]);
    let r = camara_against(&server, &ca);
    assert_eq!(r.code, 1, "{}", r.text);
    assert_eq!(r.json["error"], "redirect_uri_not_reached", "{}", r.text);
    assert_eq!(r.json["device"]["http_status"], 400);
    assert_eq!(server.seen().len(), 1, "no token call");
}

/// A redacted recording replays whatever the state looks like: short (below the length that
/// is replaced everywhere), with bytes the URL carries percent-encoded, or long and random.
#[test]
fn camara_redacted_recordings_replay_whatever_the_state_looks_like() {
    use phonecheck_linux::cli::demo::{loopback_device, sim_camara_client};
    use phonecheck_linux::driver::record::Recorder;
    use phonecheck_linux::driver::run_check_recorded;

    let sim = Simulator::start(SimConfig::default()).unwrap();
    let client = sim_camara_client(&sim);
    for state in ["ab", "a/b c~é", "Vq3xT0m9ZkP2bL7wQe4RtY"] {
        let auth = client.authorization(&[]).unwrap();
        let encoded: String = url::form_urlencoded::byte_serialize(state.as_bytes())
            .collect::<String>()
            .replace('+', "%20");
        let url = auth.url.replace(
            &format!("state={}", auth.state),
            &format!("state={encoded}"),
        );
        let mut opts = loopback_device(&sim, &url, Some(client.redirect_uri.clone())).unwrap();
        opts.policy.require_https = true;
        opts.expected_state = Some(state.to_string());
        let mut recorder = Recorder::new(&opts, false);
        let report = run_check_recorded(&opts, &mut |_| {}, None, &mut recorder);
        assert_eq!(report.code, None, "{state:?}: {}", report.envelope);
        let file = tempfile_path::Path::write("state.jsonl", "");
        recorder.finish().write(&file.0).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_phonecheck"))
            .args(["replay", &file.0.display().to_string()])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{state:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
