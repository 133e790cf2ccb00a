//! `phonecheck demo` and `phonecheck sim`: the whole flow against the simulator on loopback.
//!
//! The demo plays both roles on one machine: the backend talks to the simulated API; the device
//! step runs through the real driver with every socket pinned to `lo`, which stands in for the
//! cellular interface (the simulated operator knows 127.0.0.1 as +447700900001). A check for
//! that number matches; a check for another number does not.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use phonecheck_engine::TlsSettings;
use phonecheck_rig::sim::{LiveLog, LogEntry, SimConfig, Simulator};

use super::output::{out, progress_line, say};
use crate::driver::{failure, run_check, CheckOptions};
use crate::flow::backend::{Backend, BackendOptions};
use crate::flow::camara::CamaraClient;
use crate::net::dns::{Override, Resolver};
use crate::net::socket::Binding;
use crate::net::{linux_policy, LinuxNetwork};

/// Runs the demo; returns the exit status (0 when the match and the mismatch came out right).
pub fn demo(show_hops: bool) -> i32 {
    let started = Instant::now();
    let sim =
        match start_sim("phonecheck demo: the three PhoneCheck steps against a local simulator") {
            Ok(sim) => sim,
            Err(status) => return status,
        };

    // The backend reaches the API by address: the certificate names 127.0.0.1 too.
    let backend_base = format!("https://{}", sim.api_addr);
    let mut backend = match Backend::new(&backend_base, Some(sim.ca_pem.as_bytes())) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("phonecheck demo: {e}");
            return 6;
        }
    };
    if let Err(e) = backend.authenticate(
        &sim.config.client_id,
        &sim.config.client_secret,
        "phone_check",
    ) {
        eprintln!("phonecheck demo: {e}");
        return 6;
    }
    let cases = cases(&sim);
    let mut all_right = true;
    for (n, (phone, why, expected)) in cases.iter().enumerate() {
        say!("\ncheck {}: {phone} ({why})", n + 1);
        // Inside the device step a closed stdout only stops the printing; the loop below ends
        // the demo at its next line.
        let outcome = crate::flow::run(&backend, phone, None, &mut |created| {
            let _ = out(&format!("  1. create    check_id {}", created.check_id))
                && out(&format!("               check_url {}", created.check_url))
                && out("  2. open      over lo (pinned: it plays the cellular interface)");
            let opts = match loopback_device(&sim, &created.check_url, None) {
                Ok(opts) => opts,
                Err(e) => return failure(e.code(), &e.to_string(), None),
            };
            run_check(&opts, &mut |hop| {
                if show_hops {
                    let _ = out(&format!("               {}", progress_line(hop)));
                }
            })
        });
        match outcome {
            Ok(flow) => match (&flow.result, flow.code()) {
                (Some(result), Some(code)) => {
                    say!(
                        "               code {}… received",
                        code.get(..6).unwrap_or(code)
                    );
                    say!(
                        "  3. complete  PATCH code → status {}, match: {}",
                        result.status,
                        result.matched
                    );
                    all_right &= result.matched == *expected;
                }
                _ => {
                    say!("     device step failed: {}", flow.device.envelope);
                    all_right = false;
                }
            },
            Err(e) => {
                say!("     backend step failed: {e}");
                all_right = false;
            }
        }
    }
    let served: Vec<String> = sim.log().iter().map(describe).collect();
    say!("\nsimulator log ({} requests):", served.len());
    for line in served {
        say!("  {line}");
    }
    verdict(
        all_right,
        "demo ok: match for the owner, no match for the other number",
        started,
    )
}

/// `phonecheck demo --camara`: CAMARA NumberVerification against the simulator's operator;
/// returns 0 when the owner is verified and another number is not.
pub fn demo_camara(show_hops: bool) -> i32 {
    let started = Instant::now();
    let sim = match start_sim(
        "phonecheck demo --camara: CAMARA NumberVerification against a local simulator",
    ) {
        Ok(sim) => sim,
        Err(status) => return status,
    };
    let client = sim_camara_client(&sim);
    let backend = match sim_backend(&sim) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("phonecheck demo: {e}");
            return 6;
        }
    };
    let cases = cases(&sim);
    let mut all_right = true;
    for (n, (phone, why, expected)) in cases.iter().enumerate() {
        say!("\nverify {}: {phone} ({why})", n + 1);
        let outcome = crate::flow::camara::run(&backend, &client, phone, &[], &mut |auth| {
            let _ =
                out("  1. authorize over lo (pinned: it plays the cellular interface), PKCE S256")
                    && out(&format!("               {}", shorten(&auth.url)));
            let mut opts = match loopback_device(&sim, &auth.url, Some(client.redirect_uri.clone()))
            {
                Ok(opts) => opts,
                Err(e) => return failure(e.code(), &e.to_string(), None),
            };
            let camara = phonecheck_engine::Policy::camara();
            opts.policy.require_https = camara.require_https;
            opts.policy.html_is_interaction = camara.html_is_interaction;
            opts.expected_state = Some(auth.state.clone());
            run_check(&opts, &mut |hop| {
                if show_hops {
                    let _ = out(&format!("               {}", progress_line(hop)));
                }
            })
        });
        match outcome {
            Ok(flow) => match flow.verified {
                Some(verified) => {
                    say!("  2. token     code exchanged with the PKCE verifier");
                    say!("  3. verify    devicePhoneNumberVerified: {verified}");
                    all_right &= verified == *expected;
                }
                None => {
                    say!("     device step failed: {}", flow.device.envelope);
                    all_right = false;
                }
            },
            Err(e) => {
                say!("     backend step failed: {e}");
                all_right = false;
            }
        }
    }
    verdict(
        all_right,
        "demo ok: verified for the owner, not for the other number",
        started,
    )
}

/// Starts the simulator and prints its title and addresses; the exit status if it cannot.
fn start_sim(title: &str) -> Result<Simulator, i32> {
    let sim = Simulator::start(SimConfig::default()).map_err(|e| {
        eprintln!("phonecheck demo: cannot start the simulator: {e}");
        6
    })?;
    let _ = out(title) && out("");
    if !print_sim(&sim) {
        return Err(super::output::STDOUT_CLOSED);
    }
    Ok(sim)
}

/// The two numbers each demo tries: the one the simulated operator knows for this machine's
/// data session, then another; with why, and the answer expected.
fn cases(sim: &Simulator) -> [(String, &'static str, bool); 2] {
    let owner = sim
        .config
        .subscribers
        .values()
        .next()
        .cloned()
        .unwrap_or_default();
    [
        (owner, "owns the data session", true),
        (
            "+447700900002".to_string(),
            "does not own the data session",
            false,
        ),
    ]
}

/// The demo's last line and exit status.
fn verdict(all_right: bool, ok: &str, started: Instant) -> i32 {
    say!(
        "\n{} in {} ms",
        if all_right { ok } else { "demo FAILED" },
        started.elapsed().as_millis()
    );
    i32::from(!all_right)
}

/// The first 100 characters of a long URL, for a progress line.
fn shorten(url: &str) -> String {
    match url.char_indices().nth(100) {
        Some((i, _)) => format!("{}…", &url[..i]),
        None => url.to_string(),
    }
}

/// The simulator's CAMARA client: its credentials, the API host as the aggregator in front of
/// the operator's authorization endpoint, the API's callback as the registered redirect_uri.
pub fn sim_camara_client(sim: &Simulator) -> CamaraClient {
    CamaraClient {
        client_id: sim.config.client_id.clone(),
        client_secret: sim.config.client_secret.clone(),
        redirect_uri: format!(
            "{}{}",
            sim.urls.api,
            phonecheck_rig::sim::camara::CALLBACK_PATH
        ),
        purpose: crate::flow::camara::DEFAULT_PURPOSE.to_string(),
        authorize_url: format!("{}/camara/authorize", sim.urls.api),
        token_url: format!("{}/camara/token", sim.urls.mno),
        verify_url: format!("{}/camara/number-verification/v0/verify", sim.urls.mno),
    }
}

/// A backend client that reaches the simulator's names where it listens and trusts its CA.
pub fn sim_backend(sim: &Simulator) -> Result<Backend, crate::flow::backend::BackendError> {
    Backend::with_options(
        "",
        &BackendOptions {
            ca_pem: Some(sim.ca_pem.as_bytes().to_vec()),
            overrides: sim
                .host_map()
                .into_iter()
                .map(|(host, port, ip)| (host, port, vec![ip]))
                .collect(),
            ..BackendOptions::default()
        },
    )
}

/// The device step against a simulator on this machine: every socket pinned to `lo`, the
/// simulator's names resolved to where it listens, its CA the only trusted root.
pub fn loopback_device(
    sim: &Simulator,
    check_url: &str,
    redirect_url: Option<String>,
) -> Result<CheckOptions, phonecheck_engine::Error> {
    let tls = TlsSettings::with_ring()
        .with_roots_pem(sim.ca_pem.as_bytes())
        .map_err(|error| phonecheck_engine::Error::Tls { hop: 1, error })?;
    let overrides = sim
        .host_map()
        .into_iter()
        .map(|(host, port, ip)| Override {
            host,
            port,
            addrs: vec![ip],
        })
        .collect();
    let lo = Binding::Interface("lo".into());
    Ok(CheckOptions {
        url: check_url.to_string(),
        policy: linux_policy(),
        network: Arc::new(LinuxNetwork {
            binding: lo.clone(),
            resolver: Resolver {
                binding: lo,
                servers: Vec::new(),
                overrides,
            },
        }),
        tls,
        access_token: None,
        redirect_url,
        expected_state: None,
        device_info: None,
    })
}

/// The simulator's addresses, CA and credentials; false when stdout is closed.
fn print_sim(sim: &Simulator) -> bool {
    let mut lines = vec![
        format!(
            "simulator  API {}  operator {} then {}",
            sim.urls.api, sim.urls.mno, sim.urls.he
        ),
        format!(
            "           listening on {}, {}, {}",
            sim.api_addr, sim.mno_addr, sim.he_addr
        ),
        format!("           CA certificate {}", sim.ca_path.display()),
        format!(
            "           client credentials {} / {}",
            sim.config.client_id, sim.config.client_secret
        ),
    ];
    for (ip, number) in &sim.config.subscribers {
        lines.push(format!("           subscriber {ip} → {number}"));
    }
    lines.iter().all(|l| out(l))
}

fn describe(e: &LogEntry) -> String {
    format!(
        "{:<3} {:<22} {:<5} {} → {}",
        e.server, e.peer, e.method, e.path, e.status
    )
}

/// Runs the simulator until interrupted.
pub fn sim(listen: Option<IpAddr>, config: Option<&Path>) -> i32 {
    let mut cfg = match config {
        Some(path) => match std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<SimConfig>(&b).map_err(|e| e.to_string()))
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("phonecheck sim: {}: {e}", path.display());
                return 2;
            }
        },
        None => SimConfig::default(),
    };
    if let Some(ip) = listen {
        cfg.listen = ip;
    }
    // A closed stdout must not stop the serving: the log line is dropped, the request served.
    let live: LiveLog = Arc::new(|e: &LogEntry| {
        let _ = out(&describe(e));
    });
    let sim = match Simulator::start_with_live_log(cfg, Some(live)) {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("phonecheck sim: {e}");
            return 6;
        }
    };
    let _ = print_sim(&sim);
    let resolve: Vec<String> = sim
        .host_map()
        .iter()
        .map(|(h, p, ip)| format!("--resolve {h}:{p}:{}", SocketAddr::new(*ip, *p).ip()))
        .collect();
    let owner = sim
        .config
        .subscribers
        .values()
        .next()
        .cloned()
        .unwrap_or_default();
    let _ = out(&format!(
        "           try it: IDLAYR_CLIENT_ID={} IDLAYR_CLIENT_SECRET={} phonecheck check --phone {owner} \
         --api-base {} --interface lo {} --cacert {}",
        sim.config.client_id,
        sim.config.client_secret,
        sim.urls.api,
        resolve.join(" "),
        sim.ca_path.display()
    ));
    let _ = out(
        "           endpoints: POST /oauth2/v1/token, POST /phone_check/v0.2/checks, \
         GET|PATCH /phone_check/v0.2/checks/{id}, GET /coverage/v0.1/device_ip; \
         the operator at the other two URLs",
    );
    let _ = out(&format!(
        "           CAMARA: authorize {api}/camara/authorize (an aggregator hop), token \
         {mno}/camara/token, verify {mno}/camara/number-verification/v0/verify, \
         redirect_uri {api}/camara/callback",
        api = sim.urls.api,
        mno = sim.urls.mno
    ));
    let _ = out("serving; Ctrl-C to stop");
    loop {
        std::thread::park();
    }
}
