//! Recording, replay and HAR, end to end through the `phonecheck` command on loopback: a chain
//! recorded against the simulator replays to the identical envelope with the simulator gone; a
//! recording with one byte of a Location changed reports where the engine now differs;
//! recording does not change a byte on the wire; the HAR has the HAR 1.2 structure; bad files
//! are refused with exit 2. The recordings kept in `tests/recordings/` replay on every run
//! (`PHONECHECK_REGENERATE_RECORDINGS=1` makes them again from live servers).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use phonecheck_linux::driver::record::{Event, Recording};
use phonecheck_linux::driver::replay::replay;
use phonecheck_linux::flow::backend::Backend;
use phonecheck_rig::servers::{json, redirect, Script, ScriptedServer};
use phonecheck_rig::sim::{SimConfig, Simulator};
use serde_json::Value;

fn phonecheck(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_phonecheck"))
        .args(args)
        .output()
        .expect("run phonecheck")
}

fn lo() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("phonecheck-rec-{}-{name}", std::process::id()))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The real API client, authenticated against `sim`.
fn api_client(sim: &Simulator) -> Backend {
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
    backend
}

/// A simulator, and a check created on it through the real API client.
fn sim_check() -> (Simulator, String) {
    let sim = Simulator::start(SimConfig::default()).expect("simulator");
    let check = api_client(&sim)
        .create_check("+447700900001", None)
        .unwrap();
    (sim, check.check_url)
}

/// `phonecheck open URL` against the simulator, with `extra` flags.
fn open_sim(sim: &Simulator, url: &str, extra: &[&str]) -> Output {
    let mut args = vec!["open".to_string(), url.to_string()];
    args.extend(sim.cli_args());
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    phonecheck(&args)
}

#[test]
fn a_simulator_chain_replays_to_the_identical_envelope_with_the_simulator_gone() {
    let (record, har_path) = (temp("sim.jsonl"), temp("sim.har"));
    let redacted = temp("sim-redacted.jsonl");
    let (sim, url) = sim_check();
    let out = open_sim(
        &sim,
        &url,
        &[
            "--debug",
            "--record",
            record.to_str().unwrap(),
            "--record-secrets",
            "--har",
            har_path.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // A second check, recorded with secrets redacted (the default).
    let check2 = api_client(&sim)
        .create_check("+447700900001", None)
        .unwrap();
    let out2 = open_sim(
        &sim,
        &check2.check_url,
        &["--record", redacted.to_str().unwrap()],
    );
    assert_eq!(out2.status.code(), Some(0), "{}", stderr(&out2));
    let original: Value = serde_json::from_slice(&out2.stdout).unwrap();
    let code = original["response_body"]["code"]
        .as_str()
        .unwrap()
        .to_string();
    drop(sim);

    // The simulator is gone: the replay needs nothing but the file.
    let replayed = phonecheck(&["replay", record.to_str().unwrap()]);
    assert_eq!(replayed.status.code(), Some(0), "{}", stderr(&replayed));
    assert_eq!(
        String::from_utf8_lossy(&replayed.stdout),
        String::from_utf8_lossy(&out.stdout),
        "the replay prints exactly what the recorded run printed (debug object included)"
    );

    // Redacted: no secret in the file, and the replay still matches (the recorded envelope,
    // with the same placeholders).
    let text = std::fs::read_to_string(&redacted).unwrap();
    assert!(!text.contains(&code), "the code is redacted");
    let replayed = phonecheck(&["replay", redacted.to_str().unwrap()]);
    assert_eq!(replayed.status.code(), Some(0), "{}", stderr(&replayed));
    let envelope: Value = serde_json::from_slice(&replayed.stdout).unwrap();
    assert_eq!(envelope["http_status"], 200);
    let placeholder = envelope["response_body"]["code"].as_str().unwrap();
    assert_eq!(placeholder.len(), code.len());
    assert_ne!(placeholder, code);

    let har: Value = serde_json::from_str(&std::fs::read_to_string(&har_path).unwrap()).unwrap();
    validate_har(&har);
    let entries = har["log"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 5);
    assert!(entries[0]["timings"]["ssl"].as_i64().unwrap() >= 0);
    assert_eq!(entries[2]["timings"]["ssl"], -1, "hop 3 is plain http");
    assert_eq!(
        entries[3]["connection"], entries[2]["connection"],
        "hop 4 reuses hop 3's connection"
    );
    for f in [&record, &har_path, &redacted] {
        let _ = std::fs::remove_file(f);
    }
    chromium_import_note();
}

#[test]
fn one_byte_of_a_location_changed_reports_the_divergence() {
    // Plain http: the Location is in the received bytes.
    let server = ScriptedServer::start(
        lo(),
        vec![
            redirect(302, "/next?step=2"),
            json(200, r#"{"check_id":"c1","code":"4711"}"#),
        ],
        None,
    );
    let record = temp("loc.jsonl");
    let url = format!("http://{}/start", server.addr);
    let out = phonecheck(&[
        "open",
        &url,
        "--interface",
        "lo",
        "--allow-http",
        "--record",
        record.to_str().unwrap(),
        "--record-secrets",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    drop(server);
    let ok = phonecheck(&["replay", record.to_str().unwrap()]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert_eq!(ok.stdout, out.stdout);

    let mut rec = Recording::read(&record).unwrap();
    edit_location(&mut rec, b"/next", b"/nexT");
    rec.write(&record).unwrap();
    let bad = phonecheck(&["replay", record.to_str().unwrap()]);
    let err = stderr(&bad);
    assert_eq!(bad.status.code(), Some(11), "{err}");
    assert!(bad.stdout.is_empty());
    assert!(
        err.contains("replay diverged at hop 2, connection #1, byte 8"),
        "hop, connection and offset of the first differing request byte: {err}"
    );
    assert!(err.contains("/nexT"), "{err}");
    let _ = std::fs::remove_file(&record);
}

#[test]
fn a_changed_location_inside_tls_is_found_too() {
    let (sim, url) = sim_check();
    let record = temp("tls-loc.jsonl");
    let out = open_sim(&sim, &url, &["--record", record.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    drop(sim);
    let mut rec = Recording::read(&record).unwrap();
    // Hop 1's Location (decrypted from TLS) names the operator's /auth/start.
    edit_location(&mut rec, b"/auth/start", b"/auth/stArt");
    let d = replay(&rec).unwrap().divergence.expect("a divergence");
    assert_eq!(d.hop, 2);
    assert_eq!(d.conn, Some(2), "hop 2 opens connection #2: {d}");
    assert!(d.what.contains("request"), "{d}");
    assert_eq!(d.offset, Some(12), "\"GET /auth/st\" is 12 bytes: {d}");
    let _ = std::fs::remove_file(&record);
}

/// Changes `from` to `to` in every received payload and response head that has it.
fn edit_location(rec: &mut Recording, from: &[u8], to: &[u8]) {
    let mut changed = 0;
    for e in &mut rec.events {
        let bytes = match e {
            Event::Received { bytes: Some(b), .. } => b,
            Event::Decrypted { bytes, .. } | Event::ResponseHead { bytes, .. } => bytes,
            _ => continue,
        };
        if let Some(i) = bytes.windows(from.len()).position(|w| w == from) {
            if bytes[..i].ends_with(b"ocation: ")
                || bytes[..i].windows(9).any(|w| w == b"ocation: ")
            {
                bytes[i..i + to.len()].copy_from_slice(to);
                changed += 1;
            }
        }
    }
    assert!(changed > 0, "no Location with {from:?}");
}

#[test]
fn recording_changes_nothing_on_the_wire() {
    let script = || {
        vec![
            Script::Respond(
                b"HTTP/1.1 302 Found\r\nLocation: /a?token=t-1\r\nSet-Cookie: sid=v1; Path=/\r\nContent-Length: 0\r\n\r\n".to_vec(),
            ),
            redirect(307, "/b"),
            json(200, r#"{"check_id":"c1","code":"4711"}"#),
        ]
    };
    let heads = |extra: &[&str]| {
        let server = ScriptedServer::start(lo(), script(), None);
        let url = format!("http://{}/start", server.addr);
        let mut args = vec!["open", url.as_str(), "--interface", "lo", "--allow-http"];
        args.extend_from_slice(extra);
        let out = phonecheck(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let port = server.addr.port().to_string();
        server
            .seen()
            .into_iter()
            .map(|s| s.head.replace(&port, "PORT"))
            .collect::<Vec<_>>()
    };
    let (record, har) = (temp("wire.jsonl"), temp("wire.har"));
    let plain = heads(&[]);
    let recorded = heads(&[
        "--record",
        record.to_str().unwrap(),
        "--har",
        har.to_str().unwrap(),
        "-vv",
    ]);
    assert_eq!(plain.len(), 3);
    assert_eq!(plain, recorded, "the same bytes go out with --record");
    let _ = std::fs::remove_file(&record);
    let _ = std::fs::remove_file(&har);
}

#[test]
fn bad_recordings_are_refused_with_exit_2_and_a_reason() {
    let file = temp("bad.jsonl");
    let cases: &[(&str, &str)] = &[
        ("", "not a phonecheck recording"),
        ("GET / HTTP/1.1\r\n", "not a phonecheck recording"),
        (
            "{\"phonecheck_recording\":7}\n",
            "version 7 is not supported",
        ),
        ("{\"phonecheck_recording\":1}\n", "without its \"end\" line"),
        (
            "{\"phonecheck_recording\":1}\n{\"e\":\"check\",\"url\":\"http://x/\"}\n",
            "line 2: \"policy\" is missing",
        ),
        (
            "{\"phonecheck_recording\":1}\n{\"e\":\"received\",\"t\":1}\n",
            "line 2: an event before the \"check\" line",
        ),
    ];
    for (text, reason) in cases {
        std::fs::write(&file, text).unwrap();
        let out = phonecheck(&["replay", file.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{text:?}: {err}");
        assert!(err.contains(reason), "{text:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // A real recording cut in the middle, and one with a payload that is not base64.
    let good = fixtures_dir().join("chunked-cookie.jsonl");
    let text = std::fs::read_to_string(&good).unwrap();
    let half: String = text.lines().take(12).collect::<Vec<_>>().join("\n");
    std::fs::write(&file, half).unwrap();
    let out = phonecheck(&["replay", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let broken = text.replacen("\"text\":", "\"b64\":", 1);
    std::fs::write(&file, broken).unwrap();
    let out = phonecheck(&["replay", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not base64"), "{}", stderr(&out));
    let out = phonecheck(&["replay", "/nonexistent/recording.jsonl"]);
    assert_eq!(out.status.code(), Some(2));
    // --record with a batch, and an unwritable path, are command-line errors.
    let out = phonecheck(&["open", "http://x/", "--repeat", "2", "--record", "/tmp/x"]);
    assert_eq!(out.status.code(), Some(2));
    let out = phonecheck(&["open", "http://x/", "--record", "/nonexistent/dir/r.jsonl"]);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_file(&file);
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/recordings")
}

fn fixtures() -> Vec<PathBuf> {
    let mut list: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    list.retain(|p| p.extension().is_some_and(|e| e == "jsonl"));
    list.sort();
    list
}

#[test]
fn kept_recordings_replay_without_divergence() {
    if std::env::var_os("PHONECHECK_REGENERATE_RECORDINGS").is_some() {
        regenerate();
    }
    let list = fixtures();
    assert!(list.len() >= 4, "fixtures in {}", fixtures_dir().display());
    for path in list {
        let rec = Recording::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let replayed = replay(&rec).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Some(d) = replayed.divergence {
            panic!("{}: {d}", path.display());
        }
        let report = replayed.report.expect("a report");
        assert_eq!(
            Some(report.envelope.as_str()),
            rec.ending.as_ref().map(|e| e.envelope.as_str()),
            "{}",
            path.display()
        );
    }
}

/// Records the fixtures again from live servers (their ports and times change).
fn regenerate() {
    let dir = fixtures_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let at = |name: &str| dir.join(name);
    // The simulator's five-hop chain: https, https, http, http (reused), https (reused).
    let (sim, url) = sim_check();
    let out = open_sim(
        &sim,
        &url,
        &[
            "--debug",
            "--record",
            at("sim-chain.jsonl").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    drop(sim);
    let http = |name: &str, script: Vec<Script>, extra: &[&str]| {
        let server = ScriptedServer::start(lo(), script, None);
        let url = format!("http://{}/start", server.addr);
        let path = at(name);
        let mut args = vec![
            "open",
            url.as_str(),
            "--interface",
            "lo",
            "--allow-http",
            "--debug",
            "--record",
            path.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = phonecheck(&args);
        assert!(
            std::fs::metadata(&path).is_ok_and(|m| m.len() > 0),
            "{}",
            stderr(&out)
        );
    };
    // Hostile servers: a chunked final body after a cookie, a redirect loop, a server that
    // closes in the middle of a body.
    http(
        "chunked-cookie.jsonl",
        vec![
            Script::Respond(b"HTTP/1.1 302 Found\r\nLocation: /b\r\nSet-Cookie: s=abc123secret; Path=/\r\nContent-Length: 3\r\n\r\nxyz".to_vec()),
            Script::Respond(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"check_id\":\"c1\"\r\n9\r\n,\"x\":\"y\"}\r\n0\r\n\r\n".to_vec()),
        ],
        &[],
    );
    http(
        "redirect-loop.jsonl",
        (0..5).map(|_| redirect(302, "/start")).collect(),
        &["--max-redirs", "3"],
    );
    http(
        "closed-mid-body.jsonl",
        vec![Script::Respond(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\nConnection: close\r\n\r\nonly part".to_vec(),
        )],
        &[],
    );
    // Plain HTTP on an https port: the handshake never finishes, so the bytes are kept.
    let listener = TcpListener::bind(lo()).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let url = format!("https://{addr}/");
    let path = at("not-tls.jsonl");
    let out = phonecheck(&[
        "open",
        &url,
        "--interface",
        "lo",
        "--record",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let _ = server.join();
}

/// Checks the HAR 1.2 structure: required members and their types, per the specification.
fn validate_har(har: &Value) {
    fn is_int(v: &Value) -> bool {
        v.is_i64() || v.is_u64()
    }
    fn nonneg_or_minus_one(v: &Value) -> bool {
        v.as_i64().is_some_and(|n| n >= -1)
    }
    fn name_values(v: &Value, what: &str) {
        for item in v.as_array().unwrap_or_else(|| panic!("{what} is an array")) {
            assert!(item["name"].is_string(), "{what}[].name: {item}");
            assert!(item["value"].is_string(), "{what}[].value: {item}");
        }
    }
    let log = &har["log"];
    assert_eq!(log["version"], "1.2");
    assert!(log["creator"]["name"].is_string() && log["creator"]["version"].is_string());
    let entries = log["entries"].as_array().expect("log.entries");
    assert!(!entries.is_empty());
    for e in entries {
        let started = e["startedDateTime"].as_str().expect("startedDateTime");
        // ISO 8601 with milliseconds and a zone.
        assert!(
            started.len() == 24 && started.ends_with('Z') && &started[10..11] == "T",
            "{started}"
        );
        assert!(e["time"].is_number() && e["time"].as_f64().unwrap() >= 0.0);
        let q = &e["request"];
        for key in ["method", "url", "httpVersion"] {
            assert!(q[key].is_string(), "request.{key}");
        }
        name_values(&q["cookies"], "request.cookies");
        name_values(&q["headers"], "request.headers");
        name_values(&q["queryString"], "request.queryString");
        assert!(is_int(&q["headersSize"]) && is_int(&q["bodySize"]));
        let r = &e["response"];
        assert!(is_int(&r["status"]));
        for key in ["statusText", "httpVersion", "redirectURL"] {
            assert!(r[key].is_string(), "response.{key}");
        }
        name_values(&r["cookies"], "response.cookies");
        name_values(&r["headers"], "response.headers");
        assert!(is_int(&r["content"]["size"]) && r["content"]["mimeType"].is_string());
        assert!(is_int(&r["headersSize"]) && is_int(&r["bodySize"]));
        assert!(e["cache"].is_object());
        let t = &e["timings"];
        for key in ["send", "wait", "receive"] {
            assert!(
                t[key].as_i64().is_some_and(|n| n >= 0),
                "timings.{key}: {t}"
            );
        }
        for key in ["blocked", "dns", "connect", "ssl"] {
            assert!(
                t.get(key).is_none() || nonneg_or_minus_one(&t[key]),
                "timings.{key}"
            );
        }
        let sum: i64 = ["blocked", "dns", "connect", "send", "wait", "receive"]
            .iter()
            .filter_map(|k| t[*k].as_i64())
            .filter(|n| *n >= 0)
            .sum();
        assert_eq!(
            Some(sum),
            e["time"].as_i64(),
            "time is the sum of the timings"
        );
        assert!(e["connection"].is_string());
    }
}

/// Says plainly what is not checked: no browser's HAR import runs here (none is installed on
/// the CI machine); the structure test is the check.
fn chromium_import_note() {
    eprintln!(
        "note: the HAR is checked against the HAR 1.2 structure only; no browser import is run"
    );
}
