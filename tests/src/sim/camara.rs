//! CAMARA NumberVerification as the simulator plays it: the operators' standard form of the
//! device step, an OpenID Connect authorization-code flow with PKCE, then a token and `verify`.
//!
//! ```text
//!  device ─► https api host  GET /camara/authorize?…      the aggregator: 302, same query, to ─┐
//!        ┌──────────────────────────────────────────────────────────────────────────────────────┘
//!        └► https mno host  GET /camara/authorize?…       validates client, redirect_uri, scope,
//!                                                         state, PKCE; 302 to ─┐
//!        ┌─────────────────────────────────────────────────────────────────────┘
//!        └► https mno host  GET /camara/authenticate?session=…   who is this data session?
//!               ├─ a subscriber  → 302 redirect_uri?code=…&state=…   (the device stops here)
//!               ├─ consent still to give → 200 text/html page (or, with prompt=none,
//!               │                          302 redirect_uri?error=consent_required&state=…)
//!               └─ not a subscriber → 302 redirect_uri?error=access_denied&state=…
//!  backend ─► https mno host POST /camara/token   code + code_verifier (S256), client Basic auth
//!          ─► https mno host POST /camara/number-verification/v0/verify   {"phoneNumber"}
//!                                       → {"devicePhoneNumberVerified": true|false}
//! ```
//!
//! Errors before the client and its `redirect_uri` are known are a 400 page, never a redirect
//! (an unchecked redirect_uri would make the operator an open redirector); after that they go
//! back to the redirect_uri as `error=` (`invalid_request`, `invalid_scope`,
//! `unsupported_response_type`, `access_denied`, `consent_required`). The token endpoint answers
//! RFC 6749 §5.2 JSON errors; `verify` answers CAMARA's `{status, code, message}`. A signed
//! request object (`request=`) is accepted as an opaque value: the simulator checks its size
//! only, not a signature.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use super::http::{form_decode, percent_encode, Req, Resp};
use super::state::{is_e164, random_hex, State};
use super::Urls;

/// The scope NumberVerification's `verify` needs.
pub const VERIFY_SCOPE: &str = "number-verification:verify";
/// Where the simulator's backend registers its redirect_uri, under the API's base URL.
pub const CALLBACK_PATH: &str = "/camara/callback";
/// How long an authorization code may wait for the token call (and an authorization request
/// for its authentication hop).
const CODE_TTL: Duration = Duration::from_secs(60);
/// How long an access token lasts (`expires_in`).
const TOKEN_TTL: Duration = Duration::from_secs(3600);
/// The largest request object accepted in the query.
const MAX_REQUEST_OBJECT: usize = 16 * 1024;

/// The CAMARA operator's own state, next to the PhoneCheck checks.
#[derive(Debug, Default)]
pub struct Camara {
    /// redirect_uris registered for the simulator's client (besides the API's callback).
    pub redirect_uris: Vec<String>,
    /// Subscribers who have not given consent yet: they get a consent page.
    pub consent_pending: HashSet<String>,
    /// Authorization requests between `authorize` and `authenticate`.
    sessions: HashMap<String, Pending>,
    /// Issued codes, until the token call spends them.
    codes: HashMap<String, Grant>,
    /// Issued access tokens.
    tokens: HashMap<String, Grant>,
}

impl Camara {
    /// An operator with these extra redirect_uris and these subscribers' consent pending.
    pub fn new(redirect_uris: Vec<String>, consent_pending: HashSet<String>) -> Self {
        Camara {
            redirect_uris,
            consent_pending,
            ..Camara::default()
        }
    }

    /// Forgets what has expired, so a long-running simulator does not grow.
    fn prune(&mut self) {
        self.sessions.retain(|_, p| p.issued.elapsed() <= CODE_TTL);
        self.codes.retain(|_, g| g.issued.elapsed() <= CODE_TTL);
        self.tokens.retain(|_, g| g.issued.elapsed() <= TOKEN_TTL);
    }
}

/// A validated authorization request.
#[derive(Clone, Debug)]
struct Pending {
    client_id: String,
    redirect_uri: String,
    state: String,
    scope: String,
    /// The S256 code challenge (absent when a nonce is used instead).
    code_challenge: Option<String>,
    prompt_none: bool,
    issued: Instant,
}

/// What a code (then a token) stands for.
#[derive(Clone, Debug)]
struct Grant {
    pending: Pending,
    subscriber: String,
    issued: Instant,
}

/// The aggregator on the API host: one more hop, as aggregators add.
pub fn route_aggregator(req: &Req, urls: &Urls) -> Resp {
    match req.path.as_str() {
        "/camara/authorize" => {
            let query = req.raw_query.as_deref().unwrap_or("");
            Resp::redirect(302, &format!("{}/camara/authorize?{query}", urls.mno))
        }
        CALLBACK_PATH => Resp::with_type(
            200,
            "text/plain",
            b"authorization finished; the backend takes it from here".to_vec(),
        ),
        _ => Resp::text(404, "not found"),
    }
}

/// The operator's authorization server, token endpoint and NumberVerification API (mno host).
pub fn route_operator(req: &Req, state: &mut State, urls: &Urls) -> Resp {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/camara/authorize") => authorize(req, state, urls),
        ("GET", "/camara/authenticate") => authenticate(req, state),
        ("POST", "/camara/token") => token(req, state),
        ("POST", "/camara/number-verification/v0/verify") => verify(req, state),
        _ => Resp::text(404, "not found"),
    }
}

/// `redirect_uri?error=…&error_description=…&state=…`
fn error_redirect(redirect_uri: &str, error: &str, description: &str, state: &str) -> Resp {
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    let mut location = format!(
        "{redirect_uri}{sep}error={error}&error_description={}",
        percent_encode(description)
    );
    if !state.is_empty() {
        location.push_str(&format!("&state={}", percent_encode(state)));
    }
    Resp::redirect(302, &location)
}

fn authorize(req: &Req, state: &mut State, urls: &Urls) -> Resp {
    let q = &req.query;
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    let client_id = get("client_id");
    if !state.clients.contains_key(client_id) {
        return Resp::text(400, "invalid_request: unknown client_id");
    }
    let redirect_uri = get("redirect_uri");
    let registered = format!("{}{CALLBACK_PATH}", urls.api);
    if redirect_uri != registered && !state.camara.redirect_uris.iter().any(|u| u == redirect_uri) {
        return Resp::text(400, "invalid_request: redirect_uri is not registered");
    }
    let st = get("state");
    let fail = |error: &str, why: &str| error_redirect(redirect_uri, error, why, st);
    if get("response_type") != "code" {
        return fail("unsupported_response_type", "response_type must be code");
    }
    if st.is_empty() {
        return fail("invalid_request", "state is required");
    }
    let scopes: Vec<&str> = get("scope").split(' ').collect();
    if !scopes.contains(&"openid")
        || !scopes.contains(&VERIFY_SCOPE)
        || !scopes.iter().any(|s| s.starts_with("dpv:"))
    {
        return fail(
            "invalid_scope",
            "scope must hold openid, a dpv: purpose and number-verification:verify",
        );
    }
    let challenge = q.get("code_challenge").cloned();
    match (challenge.as_deref(), get("code_challenge_method")) {
        (Some(c), "S256") if c.len() == 43 => {}
        (Some(_), "S256") => {
            return fail("invalid_request", "code_challenge must be 43 characters")
        }
        (Some(_), _) => return fail("invalid_request", "code_challenge_method must be S256"),
        (None, _) if get("nonce").is_empty() => {
            return fail(
                "invalid_request",
                "PKCE code_challenge or a nonce is required",
            )
        }
        (None, _) => {}
    }
    if get("request").len() > MAX_REQUEST_OBJECT {
        return fail("invalid_request", "the request object is too large");
    }
    state.camara.prune();
    let id = random_hex(24);
    state.camara.sessions.insert(
        id.clone(),
        Pending {
            client_id: client_id.to_string(),
            redirect_uri: redirect_uri.to_string(),
            state: st.to_string(),
            scope: get("scope").to_string(),
            code_challenge: challenge,
            prompt_none: get("prompt") == "none",
            issued: Instant::now(),
        },
    );
    Resp::redirect(302, &format!("/camara/authenticate?session={id}"))
}

/// Network-based authentication: the data session's source address names the subscriber.
fn authenticate(req: &Req, state: &mut State) -> Resp {
    let Some(pending) = req
        .query
        .get("session")
        .and_then(|id| state.camara.sessions.remove(id))
        .filter(|p| p.issued.elapsed() <= CODE_TTL)
    else {
        return Resp::text(
            400,
            "invalid_request: unknown or spent authorization session",
        );
    };
    let ip: IpAddr = super::http::canonical_ip(req.peer.ip());
    let (uri, st) = (&pending.redirect_uri, &pending.state);
    let Some(subscriber) = state.subscribers.get(&ip).cloned() else {
        return error_redirect(
            uri,
            "access_denied",
            "this data session is not one of the operator's subscribers",
            st,
        );
    };
    if state.camara.consent_pending.contains(&subscriber) {
        if pending.prompt_none {
            return error_redirect(
                uri,
                "consent_required",
                "the subscriber has not consented",
                st,
            );
        }
        return Resp::with_type(
            200,
            "text/html; charset=utf-8",
            b"<!doctype html><title>Consent</title><form method=post>Share your number \
              verification with this app? <button>Allow</button></form>"
                .to_vec(),
        );
    }
    state.camara.prune();
    let code = random_hex(32);
    let sep = if uri.contains('?') { '&' } else { '?' };
    let location = format!("{uri}{sep}code={code}&state={}", percent_encode(st));
    state.camara.codes.insert(
        code,
        Grant {
            pending,
            subscriber,
            issued: Instant::now(),
        },
    );
    Resp::redirect(302, &location)
}

/// RFC 6749 §5.2.
fn token_error(status: u16, error: &str, description: &str) -> Resp {
    Resp::json(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

fn token(req: &Req, state: &mut State) -> Resp {
    // RFC 6749 §2.3.1: OAuth clients form-urlencode both parts inside Basic.
    let client = req
        .basic_credentials()
        .map(|(id, secret)| (form_decode(&id), form_decode(&secret)))
        .filter(|(id, secret)| state.clients.get(id).is_some_and(|s| s == secret))
        .map(|(id, _)| id);
    let Some(client) = client else {
        return token_error(401, "invalid_client", "client authentication failed");
    };
    let form = super::http::form(&req.body);
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if get("grant_type") != "authorization_code" {
        return token_error(
            400,
            "unsupported_grant_type",
            "grant_type must be authorization_code",
        );
    }
    // A code is spent by its first use, right or wrong (RFC 6749 §10.5).
    let Some(grant) = state.camara.codes.remove(get("code")) else {
        return token_error(400, "invalid_grant", "unknown or spent code");
    };
    if grant.issued.elapsed() > CODE_TTL {
        return token_error(400, "invalid_grant", "the code expired");
    }
    if grant.pending.client_id != client || grant.pending.redirect_uri != get("redirect_uri") {
        return token_error(
            400,
            "invalid_grant",
            "the code was issued to another client or redirect_uri",
        );
    }
    if let Some(challenge) = &grant.pending.code_challenge {
        if s256(get("code_verifier")) != *challenge {
            return token_error(400, "invalid_grant", "code_verifier does not match");
        }
    }
    state.camara.prune();
    let access_token = random_hex(40);
    let scope = grant.pending.scope.clone();
    // The token lives from now, not from when the code was issued.
    let grant = Grant {
        issued: Instant::now(),
        ..grant
    };
    state.camara.tokens.insert(access_token.clone(), grant);
    Resp::json(
        200,
        &json!({"access_token": access_token, "token_type": "Bearer", "expires_in": 3600, "scope": scope}),
    )
}

/// CAMARA's error body.
fn camara_error(status: u16, code: &str, message: &str) -> Resp {
    Resp::json(
        status,
        &json!({"status": status, "code": code, "message": message}),
    )
}

fn verify(req: &Req, state: &State) -> Resp {
    let grant = req
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| state.camara.tokens.get(t));
    let Some(grant) = grant.filter(|g| g.issued.elapsed() <= TOKEN_TTL) else {
        return camara_error(401, "UNAUTHENTICATED", "a valid access token is required");
    };
    if !grant.pending.scope.split(' ').any(|s| s == VERIFY_SCOPE) {
        return camara_error(403, "PERMISSION_DENIED", "the token lacks the verify scope");
    }
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        return camara_error(400, "INVALID_ARGUMENT", "the body must be JSON");
    };
    let verified = match (
        body["phoneNumber"].as_str(),
        body["hashedPhoneNumber"].as_str(),
    ) {
        (Some(number), None) if is_e164(number) => number == grant.subscriber,
        (None, Some(hash)) if hash.len() == 64 => {
            hash.eq_ignore_ascii_case(&hex_sha256(&grant.subscriber))
        }
        _ => {
            return camara_error(
                400,
                "INVALID_ARGUMENT",
                "give phoneNumber (E.164) or hashedPhoneNumber (SHA-256, hex)",
            )
        }
    };
    Resp::json(200, &json!({"devicePhoneNumberVerified": verified}))
}

/// PKCE S256: BASE64URL(SHA-256(verifier)), no padding (RFC 7636 §4.2).
pub fn s256(verifier: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

fn hex_sha256(s: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, s.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
}
