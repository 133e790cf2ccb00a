//! The `phonecheck` command line: `open`, `check`, `coverage`, `interfaces` (and `demo`, `sim`).
//!
//! Flags are named like curl's where the meaning is the same (`--interface`, `--dns`,
//! `--resolve`, `--cacert`, `--max-redirs`, `--connect-timeout`, `--max-time`). stdout carries
//! exactly one JSON envelope; `-v` writes one progress line per hop to stderr. With `--repeat`,
//! `--concurrency` or `--batch`, checks run together on one thread (the multiplexed driver) and
//! stdout carries one JSON line per check, stderr a closing summary.

mod camara;
#[cfg(feature = "simulator")]
pub mod demo;
pub mod output;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand, ValueEnum};
use phonecheck_engine::{ErrorCode, Policy, TlsSettings};

use crate::driver::mux::{run_many, MuxOptions};
use crate::driver::record::{Recorder, Recording};
use crate::driver::replay::{replay, ReplayError};
use crate::driver::{
    exit_code, failure, run_check, run_check_recorded, run_check_with_tap, CheckOptions, Report,
};
use crate::flow::backend::{Backend, BackendError, BackendOptions};
use crate::net::dns::{parse_dns_server, Override, Resolver};
use crate::net::iface::{discover, preflight, Candidate, SystemPaths};
use crate::net::mmcli;
use crate::net::socket::Binding;
use crate::net::{linux_policy, LinuxNetwork};
use output::{batch_line, flow_summary, out, progress_line, say, Tally};

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
  7  invalid_scheme: the check URL is not https (see --allow-http), or not http(s) at all
  8  the PhoneCheck API refused a backend call (credentials, validation): see error_description
  9  state_mismatch: `camara` only: the redirect_uri came back with another state
 10  interaction_required: `camara` only: the operator showed a consent or login page
 11  `replay` only: the engine no longer does what the recording says (where: on stderr)
 22  --fail: the final HTTP status was not 2xx
With --repeat, --concurrency or --batch: 0 when every check succeeded, 1 otherwise.";

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
    /// CAMARA NumberVerification: the device opens the operator's authorization URL (pinned,
    /// https only, stops at the redirect_uri, state checked), the backend trades the code for a
    /// token and calls verify. Credentials from CAMARA_CLIENT_ID and CAMARA_CLIENT_SECRET.
    Camara(camara::CamaraArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to stdout: `phonecheck man > phonecheck.1`.
    Man,
    /// Replay a recording (from --record) offline through the engine: print the envelope the
    /// recorded run printed, or, when the engine now behaves differently, where (exit 11).
    Replay(ReplayArgs),
    /// Run the whole flow against a local simulator: a match, then a mismatch (--camara: the
    /// CAMARA NumberVerification flow).
    #[cfg(feature = "simulator")]
    Demo(DemoArgs),
    /// Run the PhoneCheck API and operator simulator until interrupted.
    #[cfg(feature = "simulator")]
    Sim(SimArgs),
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// The phone number to check, in E.164 (+447700900001).
    #[arg(long, value_name = "E164", required_unless_present = "batch")]
    phone: Option<String>,
    /// API region.
    #[arg(long, value_enum, default_value = "eu")]
    region: Region,
    /// API base URL (default https://{region}.api.idlayr.com).
    #[arg(long, value_name = "URL")]
    api_base: Option<String>,
    /// Ask the API to end the device's chain at this URL.
    #[arg(long, value_name = "URL")]
    redirect_url: Option<String>,
    /// Check every phone number in FILE (one E.164 number per line; blank lines and # comments
    /// skipped) instead of --phone.
    #[arg(long, value_name = "FILE", conflicts_with = "phone")]
    batch: Option<std::path::PathBuf>,
    #[command(flatten)]
    many: ManyArgs,
    #[command(flatten)]
    net: NetArgs,
}

/// Running many checks at once.
#[derive(Debug, Args)]
struct ManyArgs {
    /// Run the check N times (one JSON line per check, then a summary on stderr).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    repeat: Option<u32>,
    /// Checks in flight at once, all on one thread.
    #[arg(long, value_name = "C", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    concurrency: Option<u32>,
    /// How concurrent checks run: `mux` (one thread, epoll) or `threads` (one blocking driver
    /// per thread, C threads; for comparison).
    #[arg(long, value_enum, default_value = "mux")]
    driver: DriverKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum DriverKind {
    Mux,
    Threads,
}

impl ManyArgs {
    fn is_batch(&self) -> bool {
        self.repeat.is_some() || self.concurrency.is_some()
    }
}

#[cfg(feature = "simulator")]
#[derive(Debug, Args)]
struct DemoArgs {
    /// Print each hop's progress line (on by default; --quiet turns it off).
    #[arg(long)]
    quiet: bool,
    /// The CAMARA NumberVerification flow instead: devicePhoneNumberVerified for the owner,
    /// then for another number.
    #[arg(long)]
    camara: bool,
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
    #[arg(long, value_name = "FILE", value_parser = parse_cacert)]
    cacert: Option<CaCert>,
    /// Seconds allowed for each TCP connect (more than 0, at most 3600).
    #[arg(long, value_name = "SECS", default_value = "5", allow_negative_numbers = true,
          value_parser = parse_seconds)]
    connect_timeout: Duration,
    /// Seconds allowed for the whole check (more than 0, at most 3600).
    #[arg(long, value_name = "SECS", default_value = "20", allow_negative_numbers = true,
          value_parser = parse_seconds)]
    max_time: Duration,
    /// Add the debug object (device info and per-hop trace) to the envelope.
    #[arg(long)]
    debug: bool,
    /// Print a progress line per hop (and each backend call) to stderr; twice (-vv), also each
    /// request and response head, secrets redacted unless --show-secrets.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Show secret query values (`code`, tokens) in the debug trace instead of REDACTED.
    #[arg(long)]
    show_secrets: bool,
    /// Development only: do NOT pin sockets; traffic follows the default route.
    #[arg(long)]
    unpinned: bool,
    /// Record the device step (bytes each way, timings, connection events, the check's inputs)
    /// to FILE, for `phonecheck replay`; secrets redacted (docs/recording.md). One check only.
    #[arg(long, value_name = "FILE")]
    record: Option<std::path::PathBuf>,
    /// Keep cookie values, codes and secret query values in --record and --har files (the
    /// access token is never kept).
    #[arg(long)]
    record_secrets: bool,
    /// Write the device step as an HTTP Archive (HAR 1.2) to FILE. One check only.
    #[arg(long, value_name = "FILE")]
    har: Option<std::path::PathBuf>,
}

impl NetArgs {
    fn recording(&self) -> bool {
        self.record.is_some() || self.har.is_some()
    }
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
    /// Exit with 22 when the final HTTP status is not 2xx (as curl --fail).
    #[arg(long)]
    fail: bool,
    #[command(flatten)]
    many: ManyArgs,
}

#[derive(Debug, Args)]
struct ReplayArgs {
    /// The recording.
    file: std::path::PathBuf,
    /// Also write the recorded chain as an HTTP Archive (HAR 1.2) to FILE.
    #[arg(long, value_name = "FILE")]
    har: Option<std::path::PathBuf>,
    /// Print a progress line per replayed hop to stderr.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Debug, Args)]
struct InterfacesArgs {
    /// Preflight this interface even if it does not look cellular.
    #[arg(long, value_name = "IFACE")]
    interface: Option<String>,
    /// One JSON array on stdout instead of text.
    #[arg(long)]
    json: bool,
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
            match phonecheck_engine::Url::<8192>::parse(args.url.as_bytes()) {
                Ok(_) => {}
                Err(e @ phonecheck_engine::url::UrlError::UnsupportedScheme) => {
                    let report = failure(
                        ErrorCode::InvalidScheme,
                        &format!("invalid check URL {}: {e}", args.url),
                        None,
                    );
                    return emit(&report);
                }
                Err(e) => {
                    eprintln!("phonecheck open: invalid check URL {:?}: {e}", args.url);
                    return 2;
                }
            }
            if args.many.is_batch() {
                if args.net.recording() {
                    eprintln!(
                        "phonecheck open: --record and --har record one check; \
                         drop --repeat and --concurrency"
                    );
                    return 2;
                }
                return open_many(&args, policy);
            }
            if let Err(status) = prepare_outputs(&args.net, "open") {
                return status;
            }
            let report = run(
                &args.net,
                args.url.clone(),
                policy,
                args.access_token,
                args.redirect_url,
            );
            let status = emit(&report);
            match report.http_status {
                Some(code) if args.fail && status == 0 && !(200..300).contains(&code) => 22,
                _ => status,
            }
        }
        Command::Coverage(args) => {
            let base = args
                .api_base
                .clone()
                .unwrap_or_else(|| region_base(args.region));
            let url = format!("{}/coverage/v0.1/device_ip", base.trim_end_matches('/'));
            if let Err(status) = prepare_outputs(&args.net, "coverage") {
                return status;
            }
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
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, "phonecheck", &mut buf);
            if out(String::from_utf8_lossy(&buf).trim_end()) {
                0
            } else {
                output::STDOUT_CLOSED
            }
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let mut buf = Vec::new();
            if let Err(e) = clap_mangen::Man::new(cmd).render(&mut buf) {
                eprintln!("phonecheck man: {e}");
                return 6;
            }
            if out(String::from_utf8_lossy(&buf).trim_end()) {
                0
            } else {
                output::STDOUT_CLOSED
            }
        }
        Command::Check(args) => check(args),
        Command::Camara(args) => camara::camara(args),
        Command::Replay(args) => replay_command(&args),
        #[cfg(feature = "simulator")]
        Command::Demo(args) if args.camara => demo::demo_camara(!args.quiet),
        #[cfg(feature = "simulator")]
        Command::Demo(args) => demo::demo(!args.quiet),
        #[cfg(feature = "simulator")]
        Command::Sim(args) => demo::sim(args.listen, args.config.as_deref()),
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
    let numbers: Vec<String> = match (&args.batch, &args.phone) {
        (Some(path), _) => match std::fs::read_to_string(path) {
            Ok(text) => text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string)
                .collect(),
            Err(e) => {
                eprintln!("phonecheck check: --batch {}: {e}", path.display());
                return 2;
            }
        },
        (None, Some(phone)) => {
            let n = args.many.repeat.unwrap_or(1) as usize;
            vec![phone.clone(); n]
        }
        (None, None) => {
            eprintln!("phonecheck check: give --phone E164 or --batch FILE");
            return 2;
        }
    };
    if (args.batch.is_some() || args.many.is_batch()) && args.net.recording() {
        eprintln!(
            "phonecheck check: --record and --har record one check; drop --batch and --repeat"
        );
        return 2;
    }
    let base = args
        .api_base
        .clone()
        .unwrap_or_else(|| region_base(args.region));
    // The device step must be able to run before a check is created on the service: a check
    // that can never complete still costs one.
    if let Err(report) = device_preflight(&args.net, &base) {
        return emit(&report);
    }
    let ca = match read_cacert(&args.net) {
        Ok(ca) => ca,
        Err(report) => return emit(&report),
    };
    let mut backend = match Backend::with_options(&base, &backend_options(&args.net, ca)) {
        Ok(b) => b,
        Err(e) => return backend_failure(&e),
    };
    if let Err(e) = backend.authenticate(&id, &secret, "phone_check") {
        return backend_failure(&e);
    }
    if args.batch.is_some() || args.many.is_batch() {
        return check_many(&args, &backend, &numbers);
    }
    if let Err(status) = prepare_outputs(&args.net, "check") {
        return status;
    }
    let net = &args.net;
    let phone = numbers.first().cloned().unwrap_or_default();
    let outcome = crate::flow::run(
        &backend,
        &phone,
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
            if !out(&flow_summary(&flow, &phone)) {
                return output::STDOUT_CLOSED;
            }
            flow_exit(&flow)
        }
        Err(e) => {
            // The device step may not have run (creating the check failed).
            if net.recording() && !net.record.iter().chain(&net.har).any(|p| written(p)) {
                discard_outputs(net, "no device step ran");
            }
            backend_failure(&e)
        }
    }
}

/// Whether a prepared output file holds something.
fn written(path: &std::path::Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() > 0)
}

/// The backend client's settings from the network flags: the same `--cacert`, `--resolve`,
/// `--max-time` (per call) and `-v` as the device step. Its calls take the normal route.
fn backend_options(net: &NetArgs, ca_pem: Option<Vec<u8>>) -> BackendOptions {
    BackendOptions {
        ca_pem,
        overrides: net
            .resolve
            .iter()
            .map(|o| (o.host.clone(), o.port, o.addrs.clone()))
            .collect(),
        timeout: net.max_time,
        connect_timeout: net.connect_timeout,
        verbose: net.verbose > 0,
    }
}

/// What `check` verifies before it creates anything: the interface chosen and ready (up, a
/// global address, a route through it), and a way to resolve names over it (DNS servers known,
/// or `--resolve` overrides).
fn device_preflight(net: &NetArgs, api_base: &str) -> Result<(), Report> {
    let opts = device_options(net, api_base.to_string(), base_policy(net), None, None)?;
    let label = opts.network.label();
    if let Some(name) = label.as_deref() {
        let problems = preflight(name, &SystemPaths::default()).problems();
        if !problems.is_empty() {
            return Err(failure(
                ErrorCode::NoDataConnectivity,
                &format!("preflight: {}", problems.join("; ")),
                Some(name),
            ));
        }
    }
    let bearers = if net.dns.is_empty() {
        mmcli::bearers()
    } else {
        Vec::new()
    };
    let dns_known = !net.dns.is_empty()
        || !net.resolve.is_empty()
        || bearers
            .iter()
            .any(|b| b.interface.is_some() && b.interface == label && !b.dns.is_empty());
    if !dns_known && !net.unpinned {
        return Err(failure(
            ErrorCode::NoDataConnectivity,
            "preflight: no DNS server is known for the interface (ModemManager gave none): pass \
             --dns ADDR, or --resolve HOST:PORT:ADDR for each host of the chain",
            label.as_deref(),
        ));
    }
    Ok(())
}

/// `check`'s exit status: 0 when the code was submitted, 1 when the device step ended without
/// one after a final response, else the device step's status.
fn flow_exit(flow: &crate::flow::Flow) -> i32 {
    match (&flow.result, exit_code(&flow.device)) {
        (Some(_), _) => 0,
        (None, 0) => 1,
        (None, device) => device,
    }
}

/// `open --repeat N --concurrency C`: the same check N times, C at once, on one thread.
fn open_many(args: &OpenArgs, policy: Policy) -> i32 {
    let opts = match device_options(
        &args.net,
        args.url.clone(),
        policy,
        args.access_token.clone(),
        args.redirect_url.clone(),
    ) {
        Ok(opts) => opts,
        Err(report) => return emit(&report),
    };
    let n = args.many.repeat.unwrap_or(1) as usize;
    let concurrency = args
        .many
        .concurrency
        .map_or(n, |c| c as usize)
        .min(n.max(1));
    let started = Instant::now();
    let mut tally = Tally::default();
    let mut closed = false;
    let mut on_done = |index: usize, report: Report| {
        tally.add(&report);
        let exit = exit_code(&report);
        let line = batch_line(index, None, exit, report.elapsed, &report.envelope);
        if !closed && !out(&line) {
            closed = true;
        }
    };
    let result = match args.many.driver {
        DriverKind::Mux => run_many(
            &mut std::iter::repeat_n(opts, n),
            MuxOptions {
                concurrency,
                ..MuxOptions::default()
            },
            &mut on_done,
        ),
        DriverKind::Threads => {
            run_threads(&opts, n, concurrency, &mut on_done);
            Ok(())
        }
    };
    if let Err(e) = result {
        eprintln!("phonecheck: the multiplexed driver failed: {e}");
        return 6;
    }
    eprintln!("{}", tally.line(started.elapsed()));
    if tally.all_ok() {
        0
    } else {
        1
    }
}

/// The comparison: one blocking driver per thread, `threads` of them sharing `n` checks.
fn run_threads(
    opts: &CheckOptions,
    n: usize,
    threads: usize,
    on_done: &mut dyn FnMut(usize, Report),
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            let (tx, next) = (tx.clone(), &next);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return;
                }
                let report = run_check(opts, &mut |_| {});
                if tx.send((i, report)).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        for (i, report) in rx {
            on_done(i, report);
        }
    });
}

/// `check --batch FILE` (or `--phone P --repeat N`): create every check (backend, normal route),
/// run the device steps C at once on one thread, then submit the codes.
fn check_many(args: &CheckArgs, backend: &Backend, numbers: &[String]) -> i32 {
    let started = Instant::now();
    let mut tally = Tally::default();
    let mut created = Vec::new();
    let mut closed = false;
    let mut emit_line = |line: String| {
        if !closed && !out(&line) {
            closed = true;
        }
    };
    for (index, phone) in numbers.iter().enumerate() {
        match backend.create_check(phone, args.redirect_url.as_deref()) {
            Ok(check) => created.push((index, phone.clone(), check)),
            Err(e) => {
                let report = failure(ErrorCode::SdkError, &format!("backend: {e}"), None);
                tally.add_exit(EXIT_BACKEND, Duration::ZERO);
                emit_line(batch_line(
                    index,
                    Some(phone),
                    EXIT_BACKEND,
                    Duration::ZERO,
                    &report.envelope,
                ));
            }
        }
    }
    let mut jobs = Vec::new();
    for (_, _, check) in &created {
        match device_options(
            &args.net,
            check.check_url.clone(),
            base_policy(&args.net),
            None,
            args.redirect_url.clone(),
        ) {
            Ok(opts) => jobs.push(opts),
            Err(report) => return emit(&report),
        }
    }
    let mut reports: Vec<Option<Report>> = vec![None; created.len()];
    let concurrency = args
        .many
        .concurrency
        .map_or(created.len(), |c| c as usize)
        .clamp(1, created.len().max(1));
    let result = run_many(
        &mut jobs.into_iter(),
        MuxOptions {
            concurrency,
            ..MuxOptions::default()
        },
        &mut |i, report| {
            if let Some(slot) = reports.get_mut(i) {
                *slot = Some(report);
            }
        },
    );
    if let Err(e) = result {
        eprintln!("phonecheck: the multiplexed driver failed: {e}");
        return 6;
    }
    for ((index, phone, check), report) in created.into_iter().zip(reports) {
        let Some(device) = report else { continue };
        let wall = device.elapsed;
        let code = device
            .field(phonecheck_engine::Field::Code)
            .map(str::to_string);
        let result = match code {
            Some(code) => match backend.submit_code(&check.check_id, &code) {
                Ok(r) => Some(r),
                Err(e) => {
                    tally.add_exit(EXIT_BACKEND, wall);
                    let report = failure(ErrorCode::SdkError, &format!("backend: {e}"), None);
                    emit_line(batch_line(
                        index,
                        Some(&phone),
                        EXIT_BACKEND,
                        wall,
                        &report.envelope,
                    ));
                    continue;
                }
            },
            None => None,
        };
        let flow = crate::flow::Flow {
            check,
            device,
            result,
        };
        let exit = flow_exit(&flow);
        tally.add_exit(exit, wall);
        emit_line(batch_line(
            index,
            Some(&phone),
            exit,
            wall,
            &flow_summary(&flow, &phone),
        ));
    }
    eprintln!("{}", tally.line(started.elapsed()));
    if tally.all_ok() {
        0
    } else {
        1
    }
}

/// A backend call the API refused (or could not be made): exit 8.
fn backend_failure(e: &BackendError) -> i32 {
    let report = failure(ErrorCode::SdkError, &format!("backend: {e}"), None);
    out(&report.envelope);
    EXIT_BACKEND
}

/// `check`: the PhoneCheck API refused a backend call.
const EXIT_BACKEND: i32 = 8;

fn base_policy(net: &NetArgs) -> Policy {
    let mut policy = Policy {
        raw_trace: net.show_secrets,
        ..linux_policy()
    };
    policy.timeouts.connect = net.connect_timeout;
    policy.timeouts.total = net.max_time;
    policy
}

/// A number of seconds for a deadline: finite, more than 0, at most an hour.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !secs.is_finite() || secs <= 0.0 || secs > 3600.0 {
        return Err(format!(
            "{text} is out of range: give seconds more than 0 and at most 3600"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The trusted roots of `--cacert`: a PEM file with at least one certificate.
#[derive(Clone, Debug)]
struct CaCert {
    pem: Vec<u8>,
}

fn parse_cacert(path: &str) -> Result<CaCert, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    TlsSettings::with_ring()
        .with_roots_pem(&pem)
        .map_err(|e| format!("{path}: {e} (want a PEM file with CERTIFICATE blocks)"))?;
    Ok(CaCert { pem })
}

fn emit(report: &Report) -> i32 {
    if !out(&report.envelope) {
        return output::STDOUT_CLOSED;
    }
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
    let device_info = net.debug.then(|| {
        let kernel = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        let iface = binding.interface().unwrap_or("(unpinned)").to_string();
        vec![
            ("platform".to_string(), "linux".to_string()),
            (
                "engine".to_string(),
                format!("phonecheck/{}", env!("CARGO_PKG_VERSION")),
            ),
            ("interface".to_string(), iface),
            ("kernel".to_string(), kernel),
        ]
    });
    Ok(CheckOptions {
        url,
        policy,
        network: Arc::new(LinuxNetwork {
            binding: binding.clone(),
            resolver: Resolver {
                binding,
                servers,
                overrides: net.resolve.clone(),
            },
        }),
        tls,
        access_token,
        redirect_url,
        expected_state: None,
        device_info,
    })
}

fn read_cacert(net: &NetArgs) -> Result<Option<Vec<u8>>, Report> {
    Ok(net.cacert.as_ref().map(|c| c.pem.clone()))
}

/// Runs a device step with the progress flags applied, recording it when asked.
fn open_with(opts: &CheckOptions, verbose: u8, recorder: Option<&mut Recorder>) -> Report {
    let raw = opts.policy.raw_trace;
    let mut show_heads = |tap: phonecheck_engine::Tap<'_>| output::show_head(tap, raw);
    let mut on_hop = |hop: phonecheck_engine::HopRecord<'_>| {
        if verbose > 0 {
            eprintln!("{}", progress_line(hop));
        }
    };
    let tap = (verbose > 1)
        .then_some(&mut show_heads as &mut (dyn FnMut(phonecheck_engine::Tap<'_>) + Send));
    match recorder {
        Some(r) => run_check_recorded(opts, &mut on_hop, tap, r),
        None => run_check_with_tap(opts, &mut on_hop, tap),
    }
}

fn run(
    net: &NetArgs,
    url: String,
    policy: Policy,
    access_token: Option<String>,
    redirect_url: Option<String>,
) -> Report {
    match device_options(net, url, policy, access_token, redirect_url) {
        Ok(opts) => run_device(net, &opts),
        Err(report) => {
            discard_outputs(net, "the check did not start");
            report
        }
    }
}

/// Runs a device step from its options, recording it when the flags ask for it.
fn run_device(net: &NetArgs, opts: &CheckOptions) -> Report {
    if !net.recording() {
        return open_with(opts, net.verbose, None);
    }
    let mut recorder = Recorder::new(opts, net.record_secrets);
    let report = open_with(opts, net.verbose, Some(&mut recorder));
    save_outputs(net, &recorder.finish());
    report
}

/// Opens the --record and --har files for writing before anything runs, so a path that cannot
/// be written is a command-line error (exit 2) and not a check lost. An existing file is not
/// truncated until there is a recording to put in it.
fn prepare_outputs(net: &NetArgs, command: &str) -> Result<(), i32> {
    for (flag, path) in [("--record", &net.record), ("--har", &net.har)] {
        if let Some(path) = path {
            let opened = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(path);
            if let Err(e) = opened {
                eprintln!("phonecheck {command}: {flag} {}: {e}", path.display());
                return Err(2);
            }
        }
    }
    Ok(())
}

/// Nothing was recorded: the empty files [`prepare_outputs`] made go again (a file that was
/// there before keeps what it held).
fn discard_outputs(net: &NetArgs, why: &str) {
    for path in [&net.record, &net.har].into_iter().flatten() {
        if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
            let _ = std::fs::remove_file(path);
        }
        eprintln!("phonecheck: {} not written: {why}", path.display());
    }
}

fn save_outputs(net: &NetArgs, recording: &Recording) {
    if let Some(path) = &net.record {
        if let Err(e) = recording.write(path) {
            eprintln!("phonecheck: --record {e}");
        }
    }
    if let Some(path) = &net.har {
        write_har(path, recording);
    }
}

fn write_har(path: &std::path::Path, recording: &Recording) {
    let har = crate::driver::har::from_recording(recording);
    let text = serde_json::to_string_pretty(&har).unwrap_or_default();
    if let Err(e) = std::fs::write(path, text + "\n") {
        eprintln!("phonecheck: --har {}: {e}", path.display());
    }
}

/// `replay`: exit 2 for a recording that cannot be read, 11 for a divergence, else the exit
/// status the recorded envelope gives.
fn replay_command(args: &ReplayArgs) -> i32 {
    let recording = match Recording::read(&args.file) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("phonecheck replay: {}: {e}", args.file.display());
            return 2;
        }
    };
    if let Some(path) = &args.har {
        write_har(path, &recording);
    }
    let replayed = match replay(&recording) {
        Ok(r) => r,
        Err(e @ ReplayError::TlsPeer(_)) => {
            eprintln!("phonecheck replay: {e}");
            return 6;
        }
        Err(e) => {
            eprintln!("phonecheck replay: {}: {e}", args.file.display());
            return 2;
        }
    };
    if let Some(d) = &replayed.divergence {
        eprintln!("phonecheck replay: {d}");
        return EXIT_DIVERGED;
    }
    let Some(report) = replayed.report else {
        return EXIT_DIVERGED;
    };
    if args.verbose > 0 {
        for hop in &report.hops {
            eprintln!(
                "{}",
                progress_line(phonecheck_engine::HopRecord {
                    url: phonecheck_engine::HopUrl::new(hop.url.as_bytes()),
                    info: &hop.info,
                })
            );
        }
    }
    emit(&report)
}

/// `replay`: the engine did not do what the recording says.
const EXIT_DIVERGED: i32 = 11;

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
    if args.json {
        return interfaces_json(&candidates, &paths, &bearers);
    }
    if candidates.is_empty() {
        say!("no cellular interface found (looked at ModemManager, sysfs and interface names)");
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
        say!("{}: {why}", c.name);
        let p = preflight(&c.name, &paths);
        let addrs: Vec<String> = p.addresses.iter().map(ToString::to_string).collect();
        say!(
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
            say!("  dns (ModemManager): {}", dns.join(", "));
        }
        let problems = p.problems();
        for problem in &problems {
            say!("  problem: {problem}");
        }
        for warning in p.warnings() {
            say!("  warning: {warning}");
        }
        if problems.is_empty() {
            say!("  ready");
            usable += 1;
        }
    }
    if usable > 0 {
        0
    } else {
        3
    }
}

/// `interfaces --json`: one array, an object per candidate with its evidence, state, problems.
fn interfaces_json(
    candidates: &[Candidate],
    paths: &SystemPaths,
    bearers: &[mmcli::Bearer],
) -> i32 {
    let mut ready_any = false;
    let list: Vec<serde_json::Value> = candidates
        .iter()
        .map(|c| {
            let p = preflight(&c.name, paths);
            let problems = p.problems();
            ready_any |= problems.is_empty();
            let dns: Vec<String> = bearers
                .iter()
                .filter(|b| b.interface.as_deref() == Some(c.name.as_str()))
                .flat_map(|b| b.dns.iter().map(ToString::to_string))
                .collect();
            serde_json::json!({
                "name": c.name,
                "evidence": c.evidence.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "up": p.up,
                "operstate": p.operstate,
                "addresses": p.addresses.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "ipv4_route": p.ipv4_route,
                "ipv6_route": p.ipv6_route,
                "rp_filter": p.rp_filter,
                "dns": dns,
                "problems": problems,
                "warnings": p.warnings(),
                "ready": problems.is_empty(),
            })
        })
        .collect();
    say!("{}", serde_json::Value::Array(list));
    if ready_any {
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
