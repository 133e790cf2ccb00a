//! A simulator of the PhoneCheck API and of a mobile operator, so the whole three-step flow
//! (create, open over the data session, complete) runs anywhere: on loopback for `phonecheck
//! demo`, inside network namespaces for the rig.
//!
//! ```text
//!  backend ──token, create──► API (https)                       device (pinned to "cellular")
//!                              │ check_url ──────────────────────────► GET …/redirect
//!                              │◄── source address a mobile one? ─────┘   302
//!                              │                       MNO start (https, cookie) ◄─┘  302 → http
//!                              │                       MNO enrich (http: who is this address?) 302 relative
//!                              │◄──────────── …/complete?mno_token  ◄── MNO result  302 → https
//!                              │ code (JSON, or on the redirect_url) ────────────────► device
//!  backend ──PATCH code──────► match = code right and subscriber == phone_number
//! ```
//!
//! The operator also speaks CAMARA NumberVerification ([`camara`]): the API host plays an
//! aggregator in front of its OpenID Connect authorization endpoint, all over https.
//!
//! Three listeners: the API and the operator's start host over TLS (a CA made at start with
//! rcgen, written to a file so clients can trust it), the operator's enrichment host over plain
//! HTTP. All served by hyper on one tokio runtime thread.

pub mod api;
pub mod camara;
pub mod http;
pub mod mno;
pub mod state;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener as StdListener};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Deserialize;
use tokio_rustls::TlsAcceptor;

use crate::pki::{LeafOptions, TestPki};
use http::{Handler, Log};
pub use http::{LiveLog, LogEntry};
use state::State;
pub use state::Status;

/// How the simulator runs. Every field has a default, so a config file may set only some.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Address all three servers listen on.
    pub listen: IpAddr,
    /// Public name of the API.
    pub api_host: String,
    /// Public name of the operator's first host (its cookie domain).
    pub mno_host: String,
    /// Public name of the operator's enrichment host (under `mno_host`).
    pub he_host: String,
    /// Ports (0: any free port).
    pub api_port: u16,
    /// Ports (0: any free port).
    pub mno_port: u16,
    /// Ports (0: any free port).
    pub he_port: u16,
    /// The operator's table: data-session source address → phone number.
    pub subscribers: BTreeMap<IpAddr, String>,
    /// Seconds a check waits for its device step.
    pub ttl_secs: u64,
    /// API client credentials.
    pub client_id: String,
    /// API client credentials.
    pub client_secret: String,
    /// Where to write the CA certificate (default: a file in the temp directory).
    pub ca_path: Option<PathBuf>,
    /// CAMARA: redirect_uris the client may use besides the API's `/camara/callback`.
    pub camara_redirect_uris: Vec<String>,
    /// CAMARA: subscribers (phone numbers) who have not consented yet and get a consent page.
    pub camara_consent_pending: Vec<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: IpAddr::from([127, 0, 0, 1]),
            api_host: "api.test".into(),
            mno_host: "mno.test".into(),
            he_host: "he.mno.test".into(),
            api_port: 0,
            mno_port: 0,
            he_port: 0,
            subscribers: BTreeMap::from([(
                IpAddr::from([127, 0, 0, 1]),
                "+447700900001".to_string(),
            )]),
            ttl_secs: 120,
            client_id: "sim-client".into(),
            client_secret: "sim-secret".into(),
            ca_path: None,
            camara_redirect_uris: Vec::new(),
            camara_consent_pending: Vec::new(),
        }
    }
}

/// Base URLs of the three servers, as clients see them.
#[derive(Clone, Debug)]
pub struct Urls {
    /// `https://api.test[:port]`
    pub api: String,
    /// `https://mno.test[:port]`
    pub mno: String,
    /// `http://he.mno.test[:port]`
    pub he: String,
    /// The operator's cookie domain.
    pub mno_host: String,
}

fn base(scheme: &str, host: &str, port: u16) -> String {
    let default = if scheme == "https" { 443 } else { 80 };
    if port == default {
        format!("{scheme}://{host}")
    } else {
        format!("{scheme}://{host}:{port}")
    }
}

/// A running simulator; stops when dropped.
pub struct Simulator {
    /// The configuration it runs with.
    pub config: SimConfig,
    /// Public base URLs.
    pub urls: Urls,
    /// Where the API, operator and enrichment servers listen.
    pub api_addr: SocketAddr,
    /// Where the API, operator and enrichment servers listen.
    pub mno_addr: SocketAddr,
    /// Where the API, operator and enrichment servers listen.
    pub he_addr: SocketAddr,
    /// The CA certificate (PEM) clients must trust.
    pub ca_pem: String,
    /// Where the CA certificate was written.
    pub ca_path: PathBuf,
    state: Arc<Mutex<State>>,
    log: Log,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Simulator {
    /// Starts the simulator.
    pub fn start(config: SimConfig) -> io::Result<Simulator> {
        Self::start_with_live_log(config, None)
    }

    /// Starts the simulator; `live` hears about each request as it is answered.
    pub fn start_with_live_log(config: SimConfig, live: Option<LiveLog>) -> io::Result<Simulator> {
        let api_l = StdListener::bind((config.listen, config.api_port))?;
        let mno_l = StdListener::bind((config.listen, config.mno_port))?;
        let he_l = StdListener::bind((config.listen, config.he_port))?;
        let (api_addr, mno_addr, he_addr) =
            (api_l.local_addr()?, mno_l.local_addr()?, he_l.local_addr()?);
        for l in [&api_l, &mno_l, &he_l] {
            l.set_nonblocking(true)?;
        }
        let urls = Urls {
            api: base("https", &config.api_host, api_addr.port()),
            mno: base("https", &config.mno_host, mno_addr.port()),
            he: base("http", &config.he_host, he_addr.port()),
            mno_host: config.mno_host.clone(),
        };

        let pki = TestPki::new("phonecheck simulator CA");
        let api_names = LeafOptions {
            names: Some(vec![config.api_host.clone(), config.listen.to_string()]),
            ..LeafOptions::default()
        };
        let api_tls = TlsAcceptor::from(pki.server_config(&config.api_host, &api_names));
        // The operator's host is named by address too: a backend reaches its CAMARA token and
        // verify endpoints over the normal route, where the simulator's names may not resolve.
        let mno_names = LeafOptions {
            names: Some(vec![config.mno_host.clone(), config.listen.to_string()]),
            ..LeafOptions::default()
        };
        let mno_tls = TlsAcceptor::from(pki.server_config(&config.mno_host, &mno_names));
        let ca_path = config.ca_path.clone().unwrap_or_else(|| {
            // Unique per simulator: several may run in one process (tests, namespaces).
            static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            std::env::temp_dir().join(format!("phonecheck-sim-{}-{n}-ca.pem", std::process::id()))
        });
        std::fs::write(&ca_path, &pki.ca_pem)?;

        let state = Arc::new(Mutex::new(State {
            clients: HashMap::from([(config.client_id.clone(), config.client_secret.clone())]),
            tokens: Vec::new(),
            checks: HashMap::new(),
            subscribers: config
                .subscribers
                .iter()
                .map(|(ip, n)| (http::canonical_ip(*ip), n.clone()))
                .collect(),
            ttl: Duration::from_secs(config.ttl_secs),
            camara: camara::Camara::new(
                config.camara_redirect_uris.clone(),
                config.camara_consent_pending.iter().cloned().collect(),
            ),
        }));
        let log = Log {
            entries: Arc::new(Mutex::new(Vec::new())),
            live,
        };
        let handler = |route: fn(&http::Req, &mut State, &Urls) -> http::Resp| -> Handler {
            let (state, urls) = (state.clone(), urls.clone());
            Arc::new(move |req| match state.lock() {
                Ok(mut s) => route(req, &mut s, &urls),
                Err(_) => {
                    http::Resp::problem(500, "Internal Server Error", "simulator state poisoned")
                }
            })
        };
        let (api_h, mno_h, he_h) = (
            handler(api::route),
            handler(mno::route_start),
            handler(mno::route_he),
        );
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = {
            let log = log.clone();
            std::thread::spawn(move || {
                runtime.block_on(async move {
                    let (Ok(api_l), Ok(mno_l), Ok(he_l)) = (
                        tokio::net::TcpListener::from_std(api_l),
                        tokio::net::TcpListener::from_std(mno_l),
                        tokio::net::TcpListener::from_std(he_l),
                    ) else {
                        return;
                    };
                    tokio::select! {
                        _ = http::serve(api_l, Some(api_tls), "api", api_h, log.clone()) => {}
                        _ = http::serve(mno_l, Some(mno_tls), "mno", mno_h, log.clone()) => {}
                        _ = http::serve(he_l, None, "he", he_h, log.clone()) => {}
                        _ = stop_rx => {}
                    }
                });
            })
        };
        Ok(Simulator {
            config,
            urls,
            api_addr,
            mno_addr,
            he_addr,
            ca_pem: pki.ca_pem.clone(),
            ca_path,
            state,
            log,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Requests served so far.
    pub fn log(&self) -> Vec<LogEntry> {
        self.log
            .entries
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// A check's status.
    pub fn status(&self, check_id: &str) -> Option<Status> {
        let mut s = self.state.lock().ok()?;
        s.expire(check_id);
        s.checks.get(check_id).map(|c| c.status)
    }

    /// The `phonecheck` flags that reach this simulator from this machine: its names resolved
    /// to where it listens (`--resolve`), its CA trusted (`--cacert`), every device socket
    /// pinned to `lo`.
    pub fn cli_args(&self) -> Vec<String> {
        let mut args = vec![
            "--interface".to_string(),
            "lo".to_string(),
            "--cacert".to_string(),
            self.ca_path.display().to_string(),
        ];
        for (host, port, ip) in self.host_map() {
            args.push("--resolve".into());
            args.push(format!("{host}:{port}:{ip}"));
        }
        args
    }

    /// `(host, port, address)` for each public name: what a loopback client must resolve.
    pub fn host_map(&self) -> Vec<(String, u16, IpAddr)> {
        vec![
            (
                self.config.api_host.clone(),
                self.api_addr.port(),
                self.api_addr.ip(),
            ),
            (
                self.config.mno_host.clone(),
                self.mno_addr.port(),
                self.mno_addr.ip(),
            ),
            (
                self.config.he_host.clone(),
                self.he_addr.port(),
                self.he_addr.ip(),
            ),
        ]
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if self.config.ca_path.is_none() {
            let _ = std::fs::remove_file(&self.ca_path);
        }
    }
}
