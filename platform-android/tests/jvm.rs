//! The JNI entry points on a desktop JVM: the crate's host cdylib (stand-in network, described to
//! it through environment variables) loaded with System.load by a small Java harness
//! (tests/jvm/), which calls it like an app: a real chain, the access-token variant, handle 0, a
//! vanished handle, a panic inside, and six Java threads at once.
//!
//! Needs javac and java (Debian: default-jdk-headless). Without them the test prints a SKIP line
//! and passes, except under CI=true, where it fails.

mod common;

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{World, CELLULAR};
use phonecheck_android::standin::env;
use serde_json::Value;

const OWNER: &str = "+447700900001";
const TOKEN: &str = "tok-7f3a9c1e5b";

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The cdylib cargo built for this test run: beside the test binary in `deps/` (the copy in
/// `target/debug/` is only refreshed by `cargo build`, so it may be stale).
fn library() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap();
    let lib = dir.join("libphonecheck_android.so");
    assert!(lib.exists(), "{} was not built", lib.display());
    lib
}

#[test]
fn the_jni_entry_points_on_a_desktop_jvm() {
    if !have("javac") || !have("java") {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI=true but no javac/java: .ci/run installs default-jdk-headless"
        );
        // Straight to stderr: the test harness hides what print macros write for a test that passes.
        let _ = writeln!(std::io::stderr(), "SKIP the_jni_entry_points_on_a_desktop_jvm: no javac/java (apt-get install default-jdk-headless)");
        return;
    }
    let world = World::start();
    let classes = std::env::temp_dir().join(format!("phonecheck-jvm-{}", std::process::id()));
    std::fs::create_dir_all(&classes).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/jvm");
    let javac = Command::new("javac")
        .arg("-d")
        .arg(&classes)
        .arg(src.join("Harness.java"))
        .arg(src.join("com/idlayr/phonecheck/PhoneCheckNative.java"))
        .output()
        .unwrap();
    assert!(
        javac.status.success(),
        "javac: {}",
        String::from_utf8_lossy(&javac.stderr)
    );

    let mut checks: Vec<_> = (0..9)
        .map(|_| world.backend.create_check(OWNER, None).unwrap())
        .collect();
    let recorded_check = checks.pop().unwrap();
    let threaded = checks.split_off(2);
    let record_path = classes.join("recorded.jsonl");
    let any_url = format!(
        "https://api.test:{}/never-opened",
        world.sim.api_addr.port()
    );
    let mut args = vec![
        library().display().to_string(),
        CELLULAR.0.to_string(),
        "999".to_string(),
        "13".to_string(),
        TOKEN.to_string(),
        checks[0].check_url.clone(),
        checks[1].check_url.clone(),
        any_url,
    ];
    args.extend(threaded.iter().map(|c| c.check_url.clone()));
    let run = Command::new("java")
        .arg(format!("-DrecordUrl={}", recorded_check.check_url))
        .arg(format!("-DrecordPath={}", record_path.display()))
        .arg("-cp")
        .arg(&classes)
        .arg("Harness")
        .args(&args)
        .env(
            env::NETWORKS,
            format!(
                "{}=lo@{};13=lo@{}",
                CELLULAR.0, world.dns.addr, world.dns.addr
            ),
        )
        .env(env::CA, &world.sim.ca_path)
        .env(env::PANIC_HANDLE, "13")
        .output()
        .unwrap();
    let recording = std::fs::read_to_string(&record_path).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&classes);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "java failed: {stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let out: HashMap<&str, Value> = stdout
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(label, json)| {
            (
                label,
                serde_json::from_str(json).unwrap_or_else(|e| panic!("{label}: {e}: {json}")),
            )
        })
        .collect();

    let ok = &out["ok"];
    assert_eq!(ok["http_status"], 200, "{ok}");
    assert_eq!(ok["response_body"]["check_id"], checks[0].check_id.as_str());
    let code = ok["response_body"]["code"].as_str().unwrap();
    assert!(
        world
            .backend
            .submit_code(&checks[0].check_id, code)
            .unwrap()
            .matched
    );
    assert_eq!(ok["debug"]["device_info"]["platform"], "android");

    let token = &out["token"];
    assert_eq!(token["http_status"], 200, "{token}");
    assert!(
        !token.to_string().contains(TOKEN),
        "the token is redacted from the debug trace"
    );

    assert_eq!(out["zero"]["error"], "sdk_no_data_connectivity");
    assert!(out["zero"]["error_description"]
        .as_str()
        .unwrap()
        .contains("network handle 0"));
    assert_eq!(out["gone"]["error"], "sdk_no_data_connectivity");
    assert!(out["gone"]["error_description"]
        .as_str()
        .unwrap()
        .contains("ENONET"));
    assert_eq!(out["panic"]["error"], "sdk_error", "{}", out["panic"]);
    assert!(out["panic"]["error_description"]
        .as_str()
        .unwrap()
        .contains("panic"));

    // The recording variant: the same check, and a recording of it for `phonecheck replay`.
    let recorded = &out["recorded"];
    assert_eq!(recorded["http_status"], 200, "{recorded}");
    assert!(
        recording.starts_with("{\"phonecheck_recording\":1"),
        "{recording}"
    );
    assert!(recording.contains("\"secrets\":\"redacted\""));
    assert!(recording.contains(&recorded_check.check_url[..20]));

    for (i, check) in threaded.iter().enumerate() {
        let e = &out[format!("thread-{i}").as_str()];
        assert_eq!(e["http_status"], 200, "thread {i}: {e}");
        assert_eq!(e["response_body"]["check_id"], check.check_id.as_str());
    }
}
