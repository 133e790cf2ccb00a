//! Tells the namespace-rig tests whether they can run: they need root, and a `cargo test` run
//! without it should show them as ignored (with the reason), not as passed.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(rig_root)");
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(str::to_string))
        })
        .is_some_and(|euid| euid == "0");
    if root {
        println!("cargo::rustc-cfg=rig_root");
    }
    println!("cargo::rerun-if-changed=build.rs");
}
