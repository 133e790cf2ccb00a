//! `cellular-rig`: holds an emulated cellular link ([`phonecheck_rig::cellular`]) open for
//! scripts such as `benches/cellular.sh`.
//!
//! It builds the phone and network namespaces with the delaying relay, optionally writes a test
//! PKI (CA, and a server chain and key for the names asked for) made at run time, prints what a
//! script needs as `key=value` lines followed by `ready`, then runs the relay until its stdin
//! closes or it gets SIGINT, SIGTERM or SIGHUP; then it tears everything down, prints the relay's
//! packet counts to stderr and exits. Servers are the script's business: it runs them in the
//! network namespace with `ip netns exec`.
//!
//! ```text
//! cellular-rig [--delay-ms N] [--uplink-ms N] [--downlink-ms N] [--addr IP]...
//!              [--pki-dir DIR --tls-name NAME...]
//! ```

use std::io::{Read, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};
use phonecheck_rig::cellular::{
    CellularConfig, CellularRig, NET_IFACE, PHONE_IFACE, PHONE_V4, PHONE_V6,
};
use phonecheck_rig::pki::TestPki;

const USAGE: &str = "usage: cellular-rig [--delay-ms N] [--uplink-ms N] [--downlink-ms N] \
                     [--addr IP]... [--pki-dir DIR --tls-name NAME...]";

struct Args {
    config: CellularConfig,
    pki_dir: Option<PathBuf>,
    tls_names: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut config = CellularConfig::default();
    let mut addrs: Vec<IpAddr> = Vec::new();
    let mut pki_dir = None;
    let mut tls_names = Vec::new();
    let mut args = std::env::args().skip(1);
    let ms = |v: Option<String>, flag: &str| -> Result<Duration, String> {
        v.and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_millis)
            .ok_or_else(|| format!("{flag} needs a number of milliseconds"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--delay-ms" => {
                let d = ms(args.next(), "--delay-ms")?;
                config.uplink_delay = d;
                config.downlink_delay = d;
            }
            "--uplink-ms" => config.uplink_delay = ms(args.next(), "--uplink-ms")?,
            "--downlink-ms" => config.downlink_delay = ms(args.next(), "--downlink-ms")?,
            "--addr" => addrs.push(
                args.next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--addr needs an IP address")?,
            ),
            "--pki-dir" => {
                pki_dir = Some(PathBuf::from(args.next().ok_or("--pki-dir needs a path")?))
            }
            "--tls-name" => tls_names.push(args.next().ok_or("--tls-name needs a host name")?),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !addrs.is_empty() {
        config.server_addrs = addrs;
    }
    if pki_dir.is_some() == tls_names.is_empty() {
        return Err("--pki-dir and --tls-name go together".into());
    }
    Ok(Args {
        config,
        pki_dir,
        tls_names,
    })
}

/// Writes ca.pem, server.pem (leaf then CA) and server.key into `dir`; returns their paths.
fn write_pki(dir: &std::path::Path, names: &[String]) -> std::io::Result<[PathBuf; 3]> {
    use std::os::unix::fs::OpenOptionsExt;
    let pki = TestPki::new("phonecheck cellular bench CA");
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let (chain, key) = pki.leaf_pem(&names);
    let paths = [
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    ];
    std::fs::write(&paths[0], &pki.ca_pem)?;
    std::fs::write(&paths[1], chain)?;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&paths[2])?
        .write_all(key.as_bytes())?;
    Ok(paths)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("cellular-rig: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if !phonecheck_rig::netns::is_root() {
        eprintln!("cellular-rig: skipped: needs root (network namespaces and TUN devices)");
        return ExitCode::from(77);
    }

    // Block the stop signals before any thread starts (threads inherit the mask), so one
    // thread can take them with sigwait and the rig is always dropped, never killed mid-way.
    let mut signals = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        signals.add(s);
    }
    if let Err(e) = signals.thread_block() {
        eprintln!("cellular-rig: blocking signals: {e}");
        return ExitCode::FAILURE;
    }

    let rig = match CellularRig::with_config(args.config) {
        Ok(rig) => rig,
        Err(e) => {
            eprintln!("cellular-rig: {e}");
            return ExitCode::FAILURE;
        }
    };
    let c = &rig.config;
    let mut out = String::new();
    out.push_str(&format!("phone={}\nnet={}\n", rig.phone, rig.net));
    out.push_str(&format!(
        "interface={PHONE_IFACE}\nnet_interface={NET_IFACE}\nphone_v4={PHONE_V4}\nphone_v6={PHONE_V6}\n"
    ));
    out.push_str(&format!(
        "uplink_ms={}\ndownlink_ms={}\nrtt_ms={}\n",
        c.uplink_delay.as_millis(),
        c.downlink_delay.as_millis(),
        c.rtt().as_millis()
    ));
    let addrs: Vec<String> = c.server_addrs.iter().map(|a| a.to_string()).collect();
    out.push_str(&format!("server_addrs={}\n", addrs.join(",")));
    if let Some(dir) = &args.pki_dir {
        match write_pki(dir, &args.tls_names) {
            Ok([ca, cert, key]) => out.push_str(&format!(
                "ca={}\ncert={}\nkey={}\n",
                ca.display(),
                cert.display(),
                key.display()
            )),
            Err(e) => {
                eprintln!("cellular-rig: writing the PKI to {}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
        }
    }
    out.push_str("ready\n");
    let mut stdout = std::io::stdout();
    if stdout
        .write_all(out.as_bytes())
        .and_then(|_| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }

    let (tx, rx) = mpsc::channel::<String>();
    let on_signal = tx.clone();
    std::thread::spawn(move || {
        let why = match signals.wait() {
            Ok(sig) => format!("{sig}"),
            Err(e) => format!("sigwait failed: {e}"),
        };
        let _ = on_signal.send(why);
    });
    std::thread::spawn(move || {
        let mut sink = [0u8; 256];
        let mut stdin = std::io::stdin();
        while let Ok(n) = stdin.read(&mut sink) {
            if n == 0 {
                break;
            }
        }
        let _ = tx.send("stdin closed".into());
    });
    let why = rx.recv().unwrap_or_else(|_| "no waiter left".into());

    let (up, down) = (
        rig.uplink.packets.load(Ordering::Relaxed),
        rig.downlink.packets.load(Ordering::Relaxed),
    );
    drop(rig);
    eprintln!("cellular-rig: stopped ({why}); relayed {up} packets up, {down} down; torn down");
    ExitCode::SUCCESS
}
