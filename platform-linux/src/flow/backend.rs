//! The backend's side of PhoneCheck (steps 1 and 3): token, create a check, submit the code.
//!
//! These calls go over the machine's normal route (they are the customer's server talking to
//! the API), unlike the device step, which the driver pins to the cellular interface. Used by
//! `phonecheck check` against the real service and by `phonecheck demo` against the simulator.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};

use ureq::tls::{Certificate, RootCerts, TlsConfig};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::DefaultConnector;
use ureq::Agent;

/// A failed backend call: what was asked, the status and what the API said.
#[derive(Debug)]
pub struct BackendError(pub String);

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BackendError {}

/// A created check.
#[derive(Clone, Debug)]
pub struct CreatedCheck {
    /// The check's id.
    pub check_id: String,
    /// The URL the device must open over its mobile data connection.
    pub check_url: String,
}

/// The check after the code was submitted.
#[derive(Clone, Debug)]
pub struct CheckResult {
    /// `COMPLETED`, `EXPIRED`, ...
    pub status: String,
    /// Whether the number matched.
    pub matched: bool,
    /// The whole response.
    pub body: Value,
}

/// How the backend client reaches the API.
#[derive(Clone, Debug)]
pub struct BackendOptions {
    /// Trust only these CA certificates (PEM), else Mozilla's roots.
    pub ca_pem: Option<Vec<u8>>,
    /// `--resolve`: host, port and the addresses to use for them.
    pub overrides: Vec<(String, u16, Vec<IpAddr>)>,
    /// The deadline of each call.
    pub timeout: Duration,
    /// The deadline of each TCP connect.
    pub connect_timeout: Duration,
    /// A line on stderr per call.
    pub verbose: bool,
}

impl Default for BackendOptions {
    fn default() -> Self {
        BackendOptions {
            ca_pem: None,
            overrides: Vec::new(),
            timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(5),
            verbose: false,
        }
    }
}

/// Names given with `--resolve` go to their addresses; others through the system resolver (the
/// backend's calls use the normal route, unlike the device step).
#[derive(Debug)]
struct OverrideResolver {
    overrides: Vec<(String, u16, Vec<IpAddr>)>,
    fallback: DefaultResolver,
}

impl Resolver for OverrideResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("http") => 80,
            _ => 443,
        });
        if let Some((_, _, addrs)) = self
            .overrides
            .iter()
            .find(|(h, p, _)| *p == port && h.eq_ignore_ascii_case(host))
        {
            let mut out = self.empty();
            for ip in addrs.iter().take(16) {
                out.push(SocketAddr::new(*ip, port));
            }
            return Ok(out);
        }
        self.fallback.resolve(uri, config, timeout)
    }
}

/// A client of the PhoneCheck API.
pub struct Backend {
    base: String,
    agent: Agent,
    token: Option<String>,
    verbose: bool,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend").field("base", &self.base).finish()
    }
}

impl Backend {
    /// A client of the API at `base`, trusting `ca_pem` only when given (else Mozilla's roots).
    pub fn new(base: &str, ca_pem: Option<&[u8]>) -> Result<Backend, BackendError> {
        Self::with_options(
            base,
            &BackendOptions {
                ca_pem: ca_pem.map(<[u8]>::to_vec),
                ..BackendOptions::default()
            },
        )
    }

    /// A client of the API at `base` with the command line's settings: trusted roots, `--resolve`
    /// overrides, a deadline per call, and a stderr line per call when verbose.
    pub fn with_options(base: &str, options: &BackendOptions) -> Result<Backend, BackendError> {
        let ca_pem = options.ca_pem.as_deref();
        let roots = match ca_pem {
            Some(pem) => {
                let cert = Certificate::from_pem(pem)
                    .map_err(|e| BackendError(format!("CA certificate: {e}")))?;
                RootCerts::Specific(Arc::new(vec![cert]))
            }
            None => RootCerts::WebPki,
        };
        let config = Agent::config_builder()
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .http_status_as_error(false)
            .timeout_global(Some(options.timeout))
            .timeout_connect(Some(options.connect_timeout))
            .build();
        let resolver = OverrideResolver {
            overrides: options.overrides.clone(),
            fallback: DefaultResolver::default(),
        };
        let agent = Agent::with_parts(config, DefaultConnector::default(), resolver);
        Ok(Backend {
            base: base.trim_end_matches('/').to_string(),
            agent,
            token: None,
            verbose: options.verbose,
        })
    }

    fn log(&self, method: &str, url: &str, status: u16, started: std::time::Instant) {
        if self.verbose {
            eprintln!(
                "backend: {method} {url} -> {status} ({} ms)",
                started.elapsed().as_millis()
            );
        }
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: String,
    ) -> Result<(u16, Value), BackendError> {
        let url = format!("{}{path}", self.base);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        self.call(method, &url, auth.as_deref(), content_type, body)
    }

    /// One call to an absolute `url` (`POST` or `PATCH`), with an `Authorization` value if
    /// given; the answer's status and body (JSON when it parses, else a string).
    pub fn call(
        &self,
        method: &str,
        url: &str,
        authorization: Option<&str>,
        content_type: &str,
        body: String,
    ) -> Result<(u16, Value), BackendError> {
        let request = match method {
            "PATCH" => self.agent.patch(url),
            _ => self.agent.post(url),
        };
        let request = match authorization {
            Some(auth) => request.header("Authorization", auth),
            None => request,
        };
        let started = std::time::Instant::now();
        let mut response = request
            .content_type(content_type)
            .send(body)
            .map_err(|e| BackendError(format!("{method} {url}: {e}")))?;
        let status = response.status().as_u16();
        self.log(method, url, status, started);
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| BackendError(format!("{method} {url}: reading the answer: {e}")))?;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value))
    }

    /// The access token, once `authenticate` got one.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Gets an access token with client credentials.
    pub fn authenticate(
        &mut self,
        client_id: &str,
        client_secret: &str,
        scope: &str,
    ) -> Result<(), BackendError> {
        let url = format!("{}/oauth2/v1/token", self.base);
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{client_id}:{client_secret}"));
        let started = std::time::Instant::now();
        let mut response = self
            .agent
            .post(&url)
            .header("Authorization", &format!("Basic {basic}"))
            .content_type("application/x-www-form-urlencoded")
            .send(format!(
                "grant_type=client_credentials&scope={}",
                scope.replace(' ', "+")
            ))
            .map_err(|e| BackendError(format!("POST {url}: {e}")))?;
        let status = response.status().as_u16();
        self.log("POST", &url, status, started);
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        match (status, body["access_token"].as_str()) {
            (200, Some(t)) => {
                self.token = Some(t.to_string());
                Ok(())
            }
            _ => Err(BackendError(format!(
                "token request answered {status}: {text}"
            ))),
        }
    }

    /// Creates a check for `phone_number` (E.164).
    pub fn create_check(
        &self,
        phone_number: &str,
        redirect_url: Option<&str>,
    ) -> Result<CreatedCheck, BackendError> {
        let mut body = json!({"phone_number": phone_number});
        if let Some(r) = redirect_url {
            body["redirect_url"] = json!(r);
        }
        let (status, v) = self.send(
            "POST",
            "/phone_check/v0.2/checks",
            "application/json",
            body.to_string(),
        )?;
        match (
            status,
            v["check_id"].as_str(),
            v["_links"]["check_url"]["href"].as_str(),
        ) {
            (201, Some(id), Some(url)) => Ok(CreatedCheck {
                check_id: id.to_string(),
                check_url: url.to_string(),
            }),
            _ => Err(BackendError(format!(
                "creating the check answered {status}: {v}"
            ))),
        }
    }

    /// Submits the device's code; returns the match.
    pub fn submit_code(&self, check_id: &str, code: &str) -> Result<CheckResult, BackendError> {
        let patch = json!([{"op": "add", "path": "/code", "value": code}]);
        let path = format!("/phone_check/v0.2/checks/{check_id}");
        let (status, v) = self.send(
            "PATCH",
            &path,
            "application/json-patch+json",
            patch.to_string(),
        )?;
        if status != 200 {
            return Err(BackendError(format!(
                "submitting the code answered {status}: {v}"
            )));
        }
        Ok(CheckResult {
            status: v["status"].as_str().unwrap_or("").to_string(),
            matched: v["match"].as_bool().unwrap_or(false),
            body: v,
        })
    }
}
