//! The command line as a new user meets it: numbers and files checked before anything runs
//! (exit 2), exit statuses that match the help, `--fail`, and output to a closed pipe or a full
//! disk ending quietly instead of panicking. Loopback only.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use phonecheck_linux::flow::backend::Backend;
use phonecheck_rig::servers::{json, ScriptedServer};

fn phonecheck(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_phonecheck"))
        .args(args)
        .output()
        .expect("run phonecheck")
}

fn lo() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[test]
fn deadlines_outside_their_range_are_refused_with_exit_2() {
    for flag in ["--max-time", "--connect-timeout"] {
        for bad in ["1e20", "0", "-1", "nan", "inf", "soon"] {
            let out = phonecheck(&["open", "https://api.example/", flag, bad]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{flag} {bad}: {stderr}");
            assert!(stderr.contains(flag), "{stderr}");
            assert!(!stderr.contains("panicked"), "{stderr}");
            assert!(
                !stderr.contains("-- -1"),
                "no tip that would make -1 the URL: {stderr}"
            );
        }
    }
    let help = phonecheck(&["open", "--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("[default: 20]") && text.contains("[default: 5]"),
        "{text}"
    );
}

#[test]
fn command_line_mistakes_exit_2_and_other_schemes_exit_7() {
    let out = phonecheck(&["open", "not a url at all"]);
    assert_eq!(out.status.code(), Some(2));
    let out = phonecheck(&["open", "ftp://files.example/x"]);
    assert_eq!(out.status.code(), Some(7));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"], "invalid_scheme");

    let out = phonecheck(&[
        "open",
        "https://api.example/",
        "--cacert",
        "/nonexistent/ca.pem",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let not_pem = std::env::temp_dir().join(format!("phonecheck-notpem-{}", std::process::id()));
    std::fs::write(&not_pem, "this is not a certificate\n").unwrap();
    let out = phonecheck(&[
        "open",
        "https://api.example/",
        "--cacert",
        not_pem.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_file(&not_pem);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PEM"));
}

#[test]
fn fail_turns_a_non_2xx_final_status_into_exit_22() {
    let body = r#"{"error":"not_found"}"#;
    let server = ScriptedServer::start(lo(), vec![json(404, body), json(404, body)], None);
    let url = format!("http://{}/x", server.addr);
    let base = ["open", url.as_str(), "--interface", "lo", "--allow-http"];
    assert_eq!(phonecheck(&base).status.code(), Some(0));
    let mut with_fail = base.to_vec();
    with_fail.push("--fail");
    let out = phonecheck(&with_fail);
    assert_eq!(out.status.code(), Some(22));
    // The envelope is still printed.
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["http_status"], 404);
}

#[test]
fn a_full_disk_or_a_closed_pipe_ends_quietly() {
    let body = r#"{"check_id":"c1","code":"4711"}"#;
    let server = ScriptedServer::start(lo(), vec![json(200, body)], None);
    let url = format!("http://{}/x", server.addr);
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_phonecheck"))
        .args(["open", &url, "--interface", "lo", "--allow-http"])
        .stdout(full)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(141));

    // `phonecheck demo | head -1`: the reader goes away after one line.
    let mut child = Command::new(env!("CARGO_BIN_EXE_phonecheck"))
        .arg("demo")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("phonecheck demo"), "{first}");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(141));
}

#[test]
fn the_simulator_keeps_serving_after_its_output_is_closed() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_phonecheck"))
        .args(["sim", "--listen", "127.0.0.1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // `| head -3`: the API's URL, where it listens and its CA; then the reader goes away.
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..3 {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        lines.push(line);
    }
    drop(reader);
    let api: SocketAddr = lines[1]
        .split_whitespace()
        .nth(2)
        .unwrap()
        .trim_end_matches(',')
        .parse()
        .unwrap();
    let ca = std::fs::read(lines[2].split_whitespace().last().unwrap()).unwrap();
    // Each request makes the simulator write a log line to the closed pipe; it must go on
    // answering.
    for _ in 0..3 {
        let mut backend = Backend::new(&format!("https://{api}"), Some(&ca)).unwrap();
        let refused = backend.authenticate("nobody", "wrong", "phone_check");
        assert!(
            refused.is_err(),
            "the simulator answered a wrong secret with a token"
        );
        assert!(
            refused.unwrap_err().to_string().contains("401"),
            "the simulator stopped answering"
        );
    }
    assert!(child.try_wait().unwrap().is_none(), "the simulator died");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn completions_man_page_version_and_interfaces_as_json() {
    let out = phonecheck(&["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("_phonecheck") && text.contains("--max-redirs"),
        "{text}"
    );
    let out = phonecheck(&["man"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(".ie") || text.contains(".TH phonecheck"),
        "{text}"
    );
    let out = phonecheck(&["--version"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("phonecheck "));

    let out = phonecheck(&["interfaces", "--interface", "lo", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let lo = list
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "lo")
        .expect("lo is listed when named");
    assert!(lo["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "127.0.0.1"));
    assert!(lo["problems"].is_array() && lo["ready"].is_boolean());
}

#[test]
fn verbose_shows_how_long_a_failed_name_lookup_took_and_the_source_address() {
    // A DNS server that never answers: the lookup runs into the check's 1 s deadline.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dns = silent.local_addr().unwrap().to_string();
    let out = phonecheck(&[
        "open",
        "http://api.test/x",
        "--interface",
        "lo",
        "--allow-http",
        "--dns",
        &dns,
        "--max-time",
        "1",
        "-v",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("hop 1:"))
        .expect("a hop line");
    let dns_ms: u64 = line
        .split("dns ")
        .nth(1)
        .and_then(|rest| rest.split("ms").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no DNS time in {line:?}"));
    assert!(dns_ms >= 900, "{line}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["detail"].as_str().unwrap().contains(" ms)"), "{v}");
    drop(silent);

    let body = r#"{"check_id":"c1","code":"4711"}"#;
    let server = ScriptedServer::start(lo(), vec![json(200, body)], None);
    let url = format!("http://{}/x", server.addr);
    let out = phonecheck(&["open", &url, "--interface", "lo", "--allow-http", "-v"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(" from 127.0.0.1:"), "{stderr}");
}

#[test]
fn very_verbose_shows_every_hop_with_its_heads_and_no_secrets() {
    // 12 redirects, a cookie on the way, then the code: more hops than the old trace kept.
    let mut script: Vec<phonecheck_rig::servers::Script> = (1..=12)
        .map(|i| {
            let cookie = if i == 3 { "Set-Cookie: sid=cookie-secret-value; Path=/\r\n" } else { "" };
            phonecheck_rig::servers::Script::Respond(
                format!(
                    "HTTP/1.1 302 Found\r\nLocation: /{i}?token=tok-{i}\r\n{cookie}Content-Length: 0\r\n\r\n"
                )
                .into_bytes(),
            )
        })
        .collect();
    script.push(json(200, r#"{"check_id":"c1","code":"4711"}"#));
    let server = ScriptedServer::start(lo(), script, None);
    let url = format!("http://{}/0", server.addr);
    let out = phonecheck(&[
        "open",
        &url,
        "--interface",
        "lo",
        "--allow-http",
        "--max-redirs",
        "20",
        "-vv",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.lines().any(|l| l.starts_with("hop 13: 200")),
        "{stderr}"
    );
    assert!(stderr.contains("hop 1 > GET /0 HTTP/1.1"), "{stderr}");
    assert!(stderr.contains("hop 1 < HTTP/1.1 302 Found"), "{stderr}");
    assert!(
        stderr.contains("hop 3 < Set-Cookie: sid=REDACTED; Path=/"),
        "{stderr}"
    );
    assert!(stderr.contains("hop 4 > Cookie: sid=REDACTED"), "{stderr}");
    assert!(
        stderr.contains("hop 2 > GET /1?token=REDACTED HTTP/1.1"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("cookie-secret-value") && !stderr.contains("tok-"),
        "{stderr}"
    );
}
