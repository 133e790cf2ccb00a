//! Replays every input kept in `fuzz/seeds/<target>/` (the seeds, and the `regress-*` inputs
//! that once found a bug) through the same harness functions the cargo-fuzz targets call
//! (`phonecheck_engine::fuzzing`, feature `fuzzing`), on stable, so whatever a fuzzer found
//! stays fixed. (A new crash in `fuzz/artifacts/` is fixed, then copied to
//! `fuzz/seeds/<target>/regress-<what>`.)

use std::fs;
use std::panic;
use std::path::{Path, PathBuf};

use phonecheck_engine::fuzzing::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `target` over every kept input of `name`; returns the failures.
fn replay(name: &str, target: fn(&[u8])) -> (usize, Vec<String>) {
    let seeds = fuzz_dir().join("seeds").join(name);
    let inputs = files(&seeds);
    assert!(!inputs.is_empty(), "no seeds in {}", seeds.display());
    let mut failures = Vec::new();
    for path in &inputs {
        let data = fs::read(path).expect("read a kept input");
        if panic::catch_unwind(|| target(&data)).is_err() {
            failures.push(path.display().to_string());
        }
    }
    (inputs.len(), failures)
}

fn run(name: &str) {
    let target = TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .expect("a harness of that name");
    let (count, failures) = replay(name, target);
    eprintln!("{name}: {count} inputs replayed");
    assert!(
        failures.is_empty(),
        "{name}: {} of {count} inputs fail (the panic messages are above):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_target_has_a_test_and_a_cargo_fuzz_binary() {
    let manifest = fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz/Cargo.toml");
    let this = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_replay.rs");
    let this = fs::read_to_string(this).expect("this file");
    for (name, _) in TARGETS {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has no [[bin]] {name}"
        );
        assert!(
            this.contains(&format!("fn {name}()")),
            "no replay test for {name}"
        );
    }
}

#[test]
fn session_ops() {
    run("session_ops");
}

#[test]
fn session_chain() {
    run("session_chain");
}

#[test]
fn response_reader() {
    run("response_reader");
}

#[test]
fn chunked() {
    run("chunked");
}

#[test]
fn cookie_jar() {
    run("cookie_jar");
}

#[test]
fn set_cookie() {
    run("set_cookie");
}

#[test]
fn url_resolve() {
    run("url_resolve");
}

#[test]
fn json_scan() {
    run("json_scan");
}
