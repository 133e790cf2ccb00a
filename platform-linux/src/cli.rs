//! The `phonecheck` command line: `open`, `interfaces`, `coverage`.
//!
//! Flags are named like curl's where the meaning is the same (`--interface`, `--dns`,
//! `--resolve`, `--cacert`, `--max-redirs`, `--connect-timeout`, `--max-time`). stdout carries
//! exactly one JSON envelope; `-v` writes one progress line per hop to stderr.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use phonecheck_engine::HopRecord;
use phonecheck_engine::{ErrorCode, Policy, TlsSettings};

use crate::backend::Backend;
use crate::dns::{parse_dns_server, Override, Resolver};
use crate::driver::{exit_code, failure, run_check, CheckOptions, Report};
use crate::iface::{discover, preflight, Candidate, SystemPaths};
use crate::mmcli;
use crate::socket::Binding;

const EXIT_CODES: &str = "\
Exit status:
  0  a final HTTP response was received (any status; see http_status);
     for `check`: the code was submitted (see match)
  1  `check` only: the device step ended without a code (see device.response_body.error)
  2  the command line is wrong
  3  sdk_no_data_connectivity: no cellular interface, interface down, no route through it
  4  sdk_connection_error: DNS, connect, TLS, timeouts, connection closed early
  5  sdk_redirect_error: too many redirects, bad or missing Location, forbidden scheme
  6  sdk_error: malformed response, limits exceeded, internal errors
  7  invalid_scheme: the check URL is not https (see --allow-http)";

/// phonecheck: PhoneCheck over the mobile data interface (device step pinned with SO_BINDTODEVICE).
#[derive(Debug, Parser)]
#[command(name = "phonecheck", version, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Open a check URL over the cellular interface and follow its redirect chain.
    Open(OpenArgs),
    /// List cellular interfaces, with the evidence for each, and preflight them.
    Interfaces(InterfacesArgs),
    /// Ask the PhoneCheck API whether this device's data session can be checked.
    Coverage(CoverageArgs),
    /// All three steps: create a check (backend, normal route), open it (device, pinned),
    /// submit the code (backend) and print the match. Credentials from IDLAYR_CLIENT_ID and
    /// IDLAYR_CLIENT_SECRET.
    Check(CheckArgs),
    /// Run the whole flow against a local simulator: a match, then a mismatch.
    #[cfg(feature = "simulator")]
    Demo(DemoArgs),
    /// Run the PhoneCheck API and operator simulator until interrupted.
    #[cfg(feature = "simulator")]
    Sim(SimArgs),
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// The phone number to check, in E.164 (+447700900001).
    #[arg(long, value_name = "E164")]
    phone: String,
    /// API region.
    #[arg(long, value_enum, default_value = "eu")]
    region: Region,
    /// API base URL (default https://{region}.api.idlayr.com).
    #[arg(long, value_name = "URL")]
    api_base: Option<String>,
    /// Ask the API to end the device's chain at this URL.
    #[arg(long, value_name = "URL")]
    redirect_url: Option<String>,
    #[command(flatten)]
    net: NetArgs,
}

#[cfg(feature = "simulator")]
#[derive(Debug, Args)]
struct DemoArgs {
    /// Print each hop's progress line (on by default; --quiet turns it off).
    #[arg(long)]
    quiet: bool,
}

#[cfg(feature = "simulator")]
#[derive(Debug, Args)]
struct SimArgs {
    /// Address to listen on (default 127.0.0.1, or the config file's).
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::IpAddr>,
    /// A JSON file with simulator settings (listen, ports, host names, subscribers, ttl_secs,
    /// client_id, client_secret, ca_path).
    #[arg(long, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
}

/// Network flags shared by the commands that make requests.
#[derive(Debug, Args)]
struct NetArgs {
    /// The cellular interface (default: the single one detected).
    #[arg(long, value_name = "IFACE")]
    interface: Option<String>,
    /// DNS server to ask over the interface, ADDR or ADDR:PORT (repeatable; default: the bearer's).
    #[arg(long, value_name = "ADDR", value_parser = parse_dns_server)]
    dns: Vec<SocketAddr>,
    /// Use these addresses for HOST:PORT instead of DNS (repeatable).
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    resolve: Vec<Override>,
    /// Trust only the CA certificates in this PEM file.
    #[arg(long, value_name = "FILE")]
    cacert: Option<std::path::PathBuf>,
    /// Seconds allowed for each TCP connect.
    #[arg(long, value_name = "SECS")]
    connect_timeout: Option<f64>,
    /// Seconds allowed for the whole check.
    #[arg(long, value_name = "SECS")]
    max_time: Option<f64>,
    /// Add the debug object (device info and per-hop trace) to the envelope.
    #[arg(long)]
    debug: bool,
    /// Print a progress line per hop to stderr.
    #[arg(short, long)]
    verbose: bool,
    /// Show secret query values (`code`, tokens) in the debug trace instead of REDACTED.
    #[arg(long)]
    show_secrets: bool,
    /// Development only: do NOT pin sockets; traffic follows the default route.
    #[arg(long)]
    unpinned: bool,
}

#[derive(Debug, Args)]
struct OpenArgs {
    /// The check_url.
    url: String,
    #[command(flatten)]
    net: NetArgs,
    /// Redirects to follow (at most 254).
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u8).range(0..=i64::from(phonecheck_engine::MAX_REDIRECTS)))]
    max_redirs: u8,
    /// Bearer token, sent only to the check URL's origin.
    #[arg(long, value_name = "TOKEN")]
    access_token: Option<String>,
    /// End the chain at the first Location starting with this prefix.
    #[arg(long, value_name = "PREFIX")]
    redirect_url: Option<String>,
    /// Allow a plain http check URL.
    #[arg(long)]
    allow_http: bool,
}

#[derive(Debug, Args)]
struct InterfacesArgs {
    /// Preflight this interface even if it does not look cellular.
    #[arg(long, value_name = "IFACE")]
    interface: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Region {
    Eu,
    In,
    Us,
}

#[derive(Debug, Args)]
struct CoverageArgs {
    /// Access token for the PhoneCheck API.
    #[arg(long, value_name = "TOKEN")]
    access_token: String,
    /// API region.
    #[arg(long, value_enum, default_value = "eu")]
    region: Region,
    /// API base URL (default https://{region}.api.idlayr.com).
    #[arg(long, value_name = "URL")]
    api_base: Option<String>,
    #[command(flatten)]
    net: NetArgs,
}

/// Runs the command line; returns the exit status.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match cli.command {
        Command::Open(args) => {
            let policy = Policy {
                max_redirects: args.max_redirs,
                allow_http_start: args.allow_http,
                ..base_policy(&args.net)
            };
            let report = run(
                &args.net,
                args.url.clone(),
                policy,
                args.access_token,
                args.redirect_url,
            );
            emit(&report)
        }
        Command::Coverage(args) => {
            let base = args
                .api_base
                .clone()
                .unwrap_or_else(|| region_base(args.region));
            let url = format!("{}/coverage/v0.1/device_ip", base.trim_end_matches('/'));
            let report = run(
                &args.net,
                url,
                base_policy(&args.net),
                Some(args.access_token),
                None,
            );
            emit(&report)
        }
        Command::Interfaces(args) => interfaces(args),
        Command::Check(args) => check(args),
        #[cfg(feature = "simulator")]
        Command::Demo(args) => crate::demo::demo(!args.quiet),
        #[cfg(feature = "simulator")]
        Command::Sim(args) => crate::demo::sim(args.listen, args.config.as_deref()),
    }
}

fn region_base(region: Region) -> String {
    let name = match region {
        Region::Eu => "eu",
        Region::In => "in",
        Region::Us => "us",
    };
    format!("https://{name}.api.idlayr.com")
}

fn check(args: CheckArgs) -> i32 {
    let (Ok(id), Ok(secret)) = (
        std::env::var("IDLAYR_CLIENT_ID"),
        std::env::var("IDLAYR_CLIENT_SECRET"),
    ) else {
        eprintln!("phonecheck check: set IDLAYR_CLIENT_ID and IDLAYR_CLIENT_SECRET");
        return 2;
    };
    let base = args
        .api_base
        .clone()
        .unwrap_or_else(|| region_base(args.region));
    let ca = match read_cacert(&args.net) {
        Ok(ca) => ca,
        Err(report) => return emit(&report),
    };
    let mut backend = match Backend::new(&base, ca.as_deref()) {
        Ok(b) => b,
        Err(e) => return backend_failure(&e),
    };
    if let Err(e) = backend.authenticate(&id, &secret, "phone_check") {
        return backend_failure(&e);
    }
    let net = &args.net;
    let outcome = crate::flow::run(
        &backend,
        &args.phone,
        args.redirect_url.as_deref(),
        &mut |created| {
            let policy = base_policy(net);
            run(
                net,
                created.check_url.clone(),
                policy,
                None,
                args.redirect_url.clone(),
            )
        },
    );
    match outcome {
        Ok(flow) => {
            println!("{}", flow.summary(&args.phone));
            match (&flow.result, exit_code(&flow.device)) {
                (Some(_), _) => 0,
                // A final response without a code (e.g. not_mobile_ip): the flow ended short.
                (None, 0) => 1,
                (None, device) => device,
            }
        }
        Err(e) => backend_failure(&e),
    }
}

fn backend_failure(e: &crate::backend::BackendError) -> i32 {
    let report = failure(ErrorCode::SdkError, &format!("backend: {e}"), None);
    println!("{}", report.envelope);
    6
}

fn base_policy(net: &NetArgs) -> Policy {
    let mut policy = Policy {
        raw_trace: net.show_secrets,
        ..crate::driver::linux_policy()
    };
    if let Some(secs) = net.connect_timeout.filter(|s| s.is_finite() && *s > 0.0) {
        policy.timeouts.connect = Duration::from_secs_f64(secs);
    }
    if let Some(secs) = net.max_time.filter(|s| s.is_finite() && *s > 0.0) {
        policy.timeouts.total = Duration::from_secs_f64(secs);
    }
    policy
}

fn emit(report: &Report) -> i32 {
    println!("{}", report.envelope);
    exit_code(report)
}

/// Chooses the interface: the one named, else the single cellular one found.
fn choose_interface(net: &NetArgs, bearers: &[mmcli::Bearer]) -> Result<String, Report> {
    let paths = SystemPaths::default();
    if let Some(name) = &net.interface {
        let check = preflight(name, &paths);
        if !check.exists || !check.up {
            let problems = check.problems().join("; ");
            return Err(failure(
                ErrorCode::NoDataConnectivity,
                &problems,
                Some(name),
            ));
        }
        return Ok(name.clone());
    }
    let candidates = discover(&paths, bearers);
    match candidates.as_slice() {
        [only] => Ok(only.name.clone()),
        [] => Err(failure(
            ErrorCode::NoDataConnectivity,
            "no cellular interface found; name one with --interface",
            None,
        )),
        many => {
            let list: Vec<String> = many.iter().map(describe).collect();
            Err(failure(
                ErrorCode::NoDataConnectivity,
                &format!(
                    "several cellular interfaces; choose one with --interface: {}",
                    list.join("; ")
                ),
                None,
            ))
        }
    }
}

fn describe(c: &Candidate) -> String {
    let why: Vec<String> = c.evidence.iter().map(ToString::to_string).collect();
    format!("{} ({})", c.name, why.join(", "))
}

/// Builds the device step's options from the network flags (interface choice, DNS, trust).
fn device_options(
    net: &NetArgs,
    url: String,
    policy: Policy,
    access_token: Option<String>,
    redirect_url: Option<String>,
) -> Result<CheckOptions, Report> {
    let bearers = if net.interface.is_some() && !net.dns.is_empty() {
        Vec::new()
    } else {
        mmcli::bearers()
    };
    let (binding, interface) = if net.unpinned {
        eprintln!(
            "phonecheck: WARNING: --unpinned: sockets are NOT pinned to a cellular interface; \
             traffic follows the default route (Wi-Fi?). Development only: results prove nothing."
        );
        (Binding::Unpinned, None)
    } else {
        let name = choose_interface(net, &bearers)?;
        (Binding::Interface(name.clone()), Some(name))
    };
    let mut servers = net.dns.clone();
    if servers.is_empty() {
        for b in bearers
            .iter()
            .filter(|b| b.interface.is_some() && b.interface == interface)
        {
            servers.extend(b.dns.iter().map(|ip| SocketAddr::new(*ip, 53)));
        }
    }
    let mut tls = TlsSettings::with_ring();
    if let Some(pem) = read_cacert(net)? {
        tls = tls
            .with_roots_pem(&pem)
            .map_err(|e| failure(ErrorCode::SdkError, &format!("--cacert: {e}"), None))?;
    }
    Ok(CheckOptions {
        url,
        policy,
        binding: binding.clone(),
        resolver: Resolver {
            binding,
            servers,
            overrides: net.resolve.clone(),
        },
        tls,
        access_token,
        redirect_url,
    })
}

fn read_cacert(net: &NetArgs) -> Result<Option<Vec<u8>>, Report> {
    match &net.cacert {
        None => Ok(None),
        Some(path) => std::fs::read(path).map(Some).map_err(|e| {
            failure(
                ErrorCode::SdkError,
                &format!("--cacert {}: {e}", path.display()),
                None,
            )
        }),
    }
}

/// Runs a device step with the debug and progress flags applied.
fn open_with(opts: &CheckOptions, debug: bool, verbose: bool) -> Report {
    let kernel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let iface_text = opts.binding.interface().unwrap_or("(unpinned)").to_string();
    let version = format!("phonecheck/{}", env!("CARGO_PKG_VERSION"));
    let info: [(&str, &str); 4] = [
        ("platform", "linux"),
        ("engine", &version),
        ("interface", &iface_text),
        ("kernel", &kernel),
    ];
    run_check(opts, debug.then_some(&info[..]), &mut |hop| {
        if verbose {
            eprintln!("{}", progress_line(hop));
        }
    })
}

fn run(
    net: &NetArgs,
    url: String,
    policy: Policy,
    access_token: Option<String>,
    redirect_url: Option<String>,
) -> Report {
    match device_options(net, url, policy, access_token, redirect_url) {
        Ok(opts) => open_with(&opts, net.debug, net.verbose),
        Err(report) => report,
    }
}

/// One `-v` line: status, host, reuse, TLS, timings.
pub fn progress_line(record: HopRecord<'_>) -> String {
    let hop = record.info;
    let t = hop.timings;
    // The record's URL is normalised: "scheme://authority/...".
    let (scheme, rest) = record.url.split_once("://").unwrap_or(("?", record.url));
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let ms = |v: Option<u32>| v.map_or("-".to_string(), |v| format!("{v}ms"));
    let status = hop.status.map_or("---".to_string(), |s| s.to_string());
    let conn = if hop.reused {
        "reused connection"
    } else {
        "new connection"
    };
    let tls = hop.tls.map_or(String::new(), |t| {
        format!(", {}{}", t.version, if t.resumed { " resumed" } else { "" })
    });
    let remote = hop.remote.map_or(String::new(), |r| format!(" {r}"));
    format!(
        "hop {}: {status} {} {}{remote} ({conn}{tls}) dns {} connect {} tls {} first byte {} total {}",
        hop.hop,
        scheme,
        authority,
        ms(t.dns_ms),
        ms(t.connect_ms),
        ms(t.tls_ms),
        ms(t.first_byte_ms),
        ms(t.total_ms),
    )
}

fn interfaces(args: InterfacesArgs) -> i32 {
    let paths = SystemPaths::default();
    let bearers = mmcli::bearers();
    let mut candidates = discover(&paths, &bearers);
    if let Some(name) = &args.interface {
        if !candidates.iter().any(|c| &c.name == name) {
            candidates.insert(
                0,
                Candidate {
                    name: name.clone(),
                    evidence: Vec::new(),
                },
            );
        }
    }
    if candidates.is_empty() {
        println!("no cellular interface found (looked at ModemManager, sysfs and interface names)");
        return 3;
    }
    let mut usable = 0;
    for c in &candidates {
        let why: Vec<String> = c.evidence.iter().map(ToString::to_string).collect();
        let why = if why.is_empty() {
            "named on the command line".to_string()
        } else {
            why.join(", ")
        };
        println!("{}: {why}", c.name);
        let p = preflight(&c.name, &paths);
        let addrs: Vec<String> = p.addresses.iter().map(ToString::to_string).collect();
        println!(
            "  up: {} (operstate {})  addresses: {}  routes: ipv4 {} ipv6 {}  rp_filter: {}",
            yes(p.up),
            if p.operstate.is_empty() {
                "?"
            } else {
                &p.operstate
            },
            if addrs.is_empty() {
                "none".into()
            } else {
                addrs.join(", ")
            },
            yes(p.ipv4_route),
            yes(p.ipv6_route),
            p.rp_filter.map_or("?".to_string(), |v| v.to_string()),
        );
        let dns: Vec<String> = bearers
            .iter()
            .filter(|b| b.interface.as_deref() == Some(c.name.as_str()))
            .flat_map(|b| b.dns.iter().map(ToString::to_string))
            .collect();
        if !dns.is_empty() {
            println!("  dns (ModemManager): {}", dns.join(", "));
        }
        let problems = p.problems();
        for problem in &problems {
            println!("  problem: {problem}");
        }
        for warning in p.warnings() {
            println!("  warning: {warning}");
        }
        if problems.is_empty() {
            println!("  ready");
            usable += 1;
        }
    }
    if usable > 0 {
        0
    } else {
        3
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}
