//! CAMARA NumberVerification, both roles: the backend builds an OpenID Connect authorization
//! URL, the device opens it over the cellular interface and follows the operator's redirects to
//! the `redirect_uri`, the backend trades the code for a token and asks `verify`.
//!
//! ```text
//!  backend: authorization() ─ url (PKCE S256, random state) ─► device step (driver, pinned,
//!           Policy::camara: https only, stop at redirect_uri, state checked by the engine)
//!  device report: code ─► backend: POST token (code, code_verifier) ─► POST verify {phoneNumber}
//!                                                          ◄── {"devicePhoneNumberVerified": b}
//! ```
//!
//! The backend calls take the normal route (they are the customer's server); only the device
//! step is pinned. An `error=` on the redirect_uri (`access_denied`, `consent_required`, …) ends
//! the flow with that error and no backend call.

use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{json, Value};

use phonecheck_engine::Field;

use super::backend::{Backend, BackendError};
use crate::driver::Report;

/// The default purpose: CAMARA's fraud-prevention purpose, as a W3C DPV term.
pub const DEFAULT_PURPOSE: &str = "dpv:FraudPreventionAndDetection";
/// The scope `verify` needs.
pub const VERIFY_SCOPE: &str = "number-verification:verify";

/// A client registered with the operator (or aggregator).
#[derive(Clone)]
pub struct CamaraClient {
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret (for the token endpoint's Basic authentication).
    pub client_secret: String,
    /// The registered redirect_uri; the device stops there.
    pub redirect_uri: String,
    /// `dpv:` purpose for the scope.
    pub purpose: String,
    /// The authorization endpoint the device opens.
    pub authorize_url: String,
    /// The token endpoint.
    pub token_url: String,
    /// NumberVerification's `verify` endpoint.
    pub verify_url: String,
}

impl std::fmt::Debug for CamaraClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CamaraClient")
            .field("client_id", &self.client_id)
            .field("client_secret", &"REDACTED")
            .field("redirect_uri", &self.redirect_uri)
            .field("authorize_url", &self.authorize_url)
            .finish_non_exhaustive()
    }
}

/// One authorization request: the URL for the device and what the backend keeps.
pub struct Authorization {
    /// The authorization URL the device opens.
    pub url: String,
    /// The `state` sent; the redirect_uri must bring it back.
    pub state: String,
    /// PKCE's secret, sent only to the token endpoint.
    code_verifier: String,
}

impl std::fmt::Debug for Authorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorization")
            .field("url", &self.url)
            .field("state", &self.state)
            .field("code_verifier", &"REDACTED")
            .finish()
    }
}

/// How a CAMARA flow ended.
#[derive(Debug)]
pub struct CamaraFlow {
    /// The device step's report (its envelope holds the code or the OAuth error).
    pub device: Report,
    /// Whether the device step stopped at the redirect_uri: only then do `code` and `error`
    /// come from the authorization server's answer (and only then was `state` checked).
    pub reached_redirect_uri: bool,
    /// `devicePhoneNumberVerified`, when the flow got that far.
    pub verified: Option<bool>,
}

impl CamaraFlow {
    /// The OAuth error the redirect_uri carried (`access_denied`, …), or
    /// `redirect_uri_not_reached` when the chain ended on some other final response (a JSON
    /// error of the operator's API, a page).
    pub fn oauth_error(&self) -> Option<&str> {
        if self.reached_redirect_uri {
            self.device.field(Field::Error)
        } else if self.device.code.is_none() {
            Some("redirect_uri_not_reached")
        } else {
            None
        }
    }
}

/// Whether a device report ended at the redirect_uri: the engine stops there on the redirect
/// that points to it, and follows every other redirect, so a final redirect status with no
/// error is that stop.
fn stopped_at_redirect_uri(report: &Report) -> bool {
    report.code.is_none() && matches!(report.http_status, Some(301 | 302 | 303 | 307 | 308))
}

/// `n` random bytes, base64url without padding (RFC 7636 §4.1: 32 bytes give 43 characters).
fn random_token(n: usize) -> Result<String, BackendError> {
    let mut bytes = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| BackendError("the system random source failed".into()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// PKCE S256: BASE64URL(SHA-256(verifier)) (RFC 7636 §4.2).
pub fn s256(verifier: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// A query or form value, `application/x-www-form-urlencoded` with `%20` for a space (so the
/// same text works in a query string): letters, digits and `*-._` stay, the rest is escaped.
fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

impl CamaraClient {
    /// A fresh authorization request: random `state` and PKCE verifier, the S256 challenge in
    /// the URL. `extra` pairs (a `request` object, `login_hint`, `prompt`) are appended.
    pub fn authorization(&self, extra: &[(&str, &str)]) -> Result<Authorization, BackendError> {
        let state = random_token(16)?;
        let code_verifier = random_token(32)?;
        let scope = format!("openid {} {VERIFY_SCOPE}", self.purpose);
        let sep = if self.authorize_url.contains('?') {
            '&'
        } else {
            '?'
        };
        let mut url = format!(
            "{}{sep}response_type=code&client_id={}&scope={}&redirect_uri={}&state={}\
             &code_challenge={}&code_challenge_method=S256",
            self.authorize_url,
            encode(&self.client_id),
            encode(&scope),
            encode(&self.redirect_uri),
            encode(&state),
            s256(&code_verifier),
        );
        for (k, v) in extra {
            url.push_str(&format!("&{}={}", encode(k), encode(v)));
        }
        Ok(Authorization {
            url,
            state,
            code_verifier,
        })
    }

    /// Trades the code for an access token.
    pub fn token(
        &self,
        backend: &Backend,
        auth: &Authorization,
        code: &str,
    ) -> Result<String, BackendError> {
        // RFC 6749 §2.3.1: each part form-urlencoded before Basic's base64, so a ':' or '%' in
        // them survives.
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            encode(&self.client_id),
            encode(&self.client_secret)
        ));
        let body = format!(
            "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={}",
            encode(code),
            encode(&self.redirect_uri),
            encode(&auth.code_verifier)
        );
        let (status, v) = backend.call(
            "POST",
            &self.token_url,
            Some(&format!("Basic {basic}")),
            "application/x-www-form-urlencoded",
            body,
        )?;
        match (status, v["access_token"].as_str()) {
            (200, Some(t)) => Ok(t.to_string()),
            _ => Err(BackendError(format!(
                "the token endpoint answered {status}: {}",
                oauth_error_text(&v)
            ))),
        }
    }

    /// Asks whether `phone_number` (E.164) is the device's.
    pub fn verify(
        &self,
        backend: &Backend,
        access_token: &str,
        phone_number: &str,
    ) -> Result<bool, BackendError> {
        let (status, v) = backend.call(
            "POST",
            &self.verify_url,
            Some(&format!("Bearer {access_token}")),
            "application/json",
            json!({"phoneNumber": phone_number}).to_string(),
        )?;
        match (status, v["devicePhoneNumberVerified"].as_bool()) {
            (200, Some(b)) => Ok(b),
            _ => Err(BackendError(format!(
                "verify answered {status}: {}",
                oauth_error_text(&v)
            ))),
        }
    }
}

/// What an error body says, without echoing tokens: OAuth's `error`/`error_description`, or
/// CAMARA's `code`/`message`.
fn oauth_error_text(v: &Value) -> String {
    let pick = |a: &str, b: &str| {
        v[a].as_str()
            .map(|e| format!("{e}: {}", v[b].as_str().unwrap_or("")))
    };
    pick("error", "error_description")
        .or_else(|| pick("code", "message"))
        .unwrap_or_else(|| "an unexpected answer".to_string())
}

/// Runs the flow: authorization URL, the device step (`device` opens it), token, verify.
pub fn run(
    backend: &Backend,
    client: &CamaraClient,
    phone_number: &str,
    extra: &[(&str, &str)],
    device: &mut dyn FnMut(&Authorization) -> Report,
) -> Result<CamaraFlow, BackendError> {
    let auth = client.authorization(extra)?;
    let report = device(&auth);
    let reached = stopped_at_redirect_uri(&report);
    // A `code` anywhere else (a JSON error body has one too: CAMARA's error code) is not an
    // authorization code.
    let code = match (
        reached,
        report.field(Field::Error),
        report.field(Field::Code),
    ) {
        (true, None, Some(code)) => code.to_string(),
        _ => {
            return Ok(CamaraFlow {
                device: report,
                reached_redirect_uri: reached,
                verified: None,
            })
        }
    };
    let token = client.token(backend, &auth, &code)?;
    let verified = client.verify(backend, &token, phone_number)?;
    Ok(CamaraFlow {
        device: report,
        reached_redirect_uri: true,
        verified: Some(verified),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn authorization_urls_are_fresh_and_carry_pkce() {
        let client = CamaraClient {
            client_id: "c 1".into(),
            client_secret: "s".into(),
            redirect_uri: "https://app.example/cb".into(),
            purpose: DEFAULT_PURPOSE.into(),
            authorize_url: "https://op.example/authorize".into(),
            token_url: "https://op.example/token".into(),
            verify_url: "https://op.example/verify".into(),
        };
        let a = client.authorization(&[("prompt", "none")]).unwrap();
        let b = client.authorization(&[]).unwrap();
        assert_ne!(a.state, b.state);
        assert_ne!(a.code_verifier, b.code_verifier);
        assert_eq!(a.code_verifier.len(), 43);
        let url = url::Url::parse(&a.url).unwrap();
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["client_id"], "c 1");
        assert_eq!(
            q["scope"],
            "openid dpv:FraudPreventionAndDetection number-verification:verify"
        );
        assert_eq!(q["redirect_uri"], "https://app.example/cb");
        assert_eq!(q["code_challenge"], s256(&a.code_verifier));
        assert_eq!(q["state"], a.state);
        assert_eq!(q["prompt"], "none");
        assert!(!format!("{a:?}").contains(&a.code_verifier));
    }
}
