//! The PhoneCheck API as the simulator serves it (its endpoints, as the real service documents them).
//!
//! ```text
//! POST  /oauth2/v1/token                         client credentials (Basic) → bearer token
//! POST  /phone_check/v0.2/checks                 {phone_number, reference_id?, redirect_url?} → 201
//! GET   /phone_check/v0.2/checks/{id}/redirect   the check_url: 302 into the operator
//! GET   /phone_check/v0.2/checks/{id}/complete   where the operator hands back: the code
//! PATCH /phone_check/v0.2/checks/{id}            [{"op":"add","path":"/code","value":…}] → match
//! GET   /phone_check/v0.2/checks/{id}            the check resource
//! GET   /coverage/v0.1/device_ip                 (bearer, over the device's data session) →
//!                                                200 the operator and products, or 412 when
//!                                                the source address is not a known subscriber
//! ```
//!
//! Validation errors are `application/problem+json`; device-step failures end the chain the way
//! the service reports them: a JSON `{check_id, error, error_description}` (or the same fields on
//! the `redirect_url`).

use std::time::{Instant, SystemTime};

use serde_json::{json, Value};

use super::http::{Req, Resp};
use super::state::{is_e164, random_hex, rfc3339, Check, State, Status};
use super::Urls;

const CHECKS: &str = "/phone_check/v0.2/checks";

/// Routes one API request.
pub fn route(req: &Req, state: &mut State, urls: &Urls) -> Resp {
    let path = req.path.as_str();
    if path.starts_with("/camara/") {
        return super::camara::route_aggregator(req, urls);
    }
    if path == "/oauth2/v1/token" {
        return match req.method.as_str() {
            "POST" => token(req, state),
            _ => method_not_allowed(),
        };
    }
    if path == "/coverage/v0.1/device_ip" {
        return match req.method.as_str() {
            "GET" => authorized(req, state).unwrap_or_else(|| coverage(req, state)),
            _ => method_not_allowed(),
        };
    }
    if path == CHECKS {
        return match req.method.as_str() {
            "POST" => authorized(req, state).unwrap_or_else(|| create(req, state, urls)),
            _ => method_not_allowed(),
        };
    }
    let Some(rest) = path.strip_prefix(CHECKS).and_then(|r| r.strip_prefix('/')) else {
        return Resp::problem(404, "Not Found", "no such resource");
    };
    let (id, action) = match rest.split_once('/') {
        Some((id, action)) => (id.to_string(), Some(action)),
        None => (rest.to_string(), None),
    };
    if !state.checks.contains_key(&id) {
        return Resp::problem(404, "Not Found", &format!("check {id} not found"));
    }
    state.expire(&id);
    match (req.method.as_str(), action) {
        ("GET", Some("redirect")) => open(req, state, urls, &id),
        ("GET", Some("complete")) => complete(req, state, &id),
        ("PATCH", None) => authorized(req, state).unwrap_or_else(|| patch(req, state, urls, &id)),
        ("GET", None) => authorized(req, state).unwrap_or_else(|| resource(state, urls, &id, 200)),
        _ => method_not_allowed(),
    }
}

fn method_not_allowed() -> Resp {
    Resp::problem(
        405,
        "Method Not Allowed",
        "this method is not supported here",
    )
}

/// Coverage of the device's data session: which operator, and that PhoneCheck is offered.
fn coverage(req: &Req, state: &State) -> Resp {
    let ip = super::http::canonical_ip(req.peer.ip());
    if !state.subscribers.contains_key(&ip) {
        return Resp::problem(
            412,
            "Precondition Failed",
            &format!("{ip} is not a mobile data address of a supported operator"),
        );
    }
    Resp::json(
        200,
        &json!({
            "country_code": "GB",
            "network_id": "23499",
            "network_name": "Simulated Mobile",
            "products": [{"product_id": "PCK", "product_name": "Phone Check"}],
        }),
    )
}

/// `None` when the bearer token is valid, else the 401 to send.
fn authorized(req: &Req, state: &State) -> Option<Resp> {
    let token = req
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "));
    match token {
        Some(t) if state.tokens.iter().any(|known| known == t) => None,
        _ => Some(Resp::problem(
            401,
            "Unauthorized",
            "a valid bearer token is required",
        )),
    }
}

fn token(req: &Req, state: &mut State) -> Resp {
    let valid = req
        .basic_credentials()
        .is_some_and(|(id, secret)| state.clients.get(&id).is_some_and(|s| *s == secret));
    if !valid {
        return Resp::problem(401, "Unauthorized", "invalid client credentials");
    }
    let form = super::http::form(&req.body);
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return Resp::problem(400, "Bad Request", "grant_type must be client_credentials");
    }
    let scope = form
        .get("scope")
        .cloned()
        .unwrap_or_else(|| "phone_check".to_string());
    if let Some(bad) = scope
        .split(' ')
        .find(|s| !matches!(*s, "phone_check" | "coverage" | ""))
    {
        return Resp::problem(400, "Bad Request", &format!("unknown scope {bad}"));
    }
    let access_token = random_hex(40);
    state.tokens.push(access_token.clone());
    Resp::json(
        200,
        &json!({"access_token": access_token, "token_type": "bearer", "expires_in": 3600, "scope": scope}),
    )
}

fn create(req: &Req, state: &mut State, urls: &Urls) -> Resp {
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        return Resp::problem(400, "Bad Request", "the body must be JSON");
    };
    let Some(phone) = body["phone_number"].as_str() else {
        return Resp::problem(400, "Bad Request", "phone_number is required");
    };
    if !is_e164(phone) {
        return Resp::problem(400, "Bad Request", "phone_number must be in E.164 format");
    }
    let redirect_url = body["redirect_url"].as_str().map(str::to_string);
    if redirect_url
        .as_deref()
        .is_some_and(|u| !u.starts_with("https://"))
    {
        return Resp::problem(400, "Bad Request", "redirect_url must be an https URL");
    }
    let id = format!("c{}", random_hex(31));
    state.checks.insert(
        id.clone(),
        Check {
            id: id.clone(),
            phone_number: phone.to_string(),
            reference_id: body["reference_id"].as_str().map(str::to_string),
            redirect_url,
            status: Status::Accepted,
            created: Instant::now(),
            created_at: SystemTime::now(),
            subscriber: None,
            code: None,
            mno_cookie: None,
            mno_token: None,
            matched: None,
            error: None,
        },
    );
    let mut resp = resource(state, urls, &id, 201);
    resp.headers
        .push(("Location".into(), format!("{}{CHECKS}/{id}", urls.api)));
    resp
}

fn resource(state: &State, urls: &Urls, id: &str, status: u16) -> Resp {
    let Some(c) = state.checks.get(id) else {
        return Resp::problem(404, "Not Found", "check not found");
    };
    let mut body = json!({
        "check_id": c.id,
        "status": c.status.as_str(),
        "ttl": state.ttl.as_secs(),
        "created_at": rfc3339(c.created_at),
        "_links": {
            "self": {"href": format!("{}{CHECKS}/{}", urls.api, c.id)},
            "check_url": {"href": format!("{}{CHECKS}/{}/redirect", urls.api, c.id)},
        },
    });
    if let Some(r) = &c.reference_id {
        body["reference_id"] = json!(r);
    }
    if let Some(m) = c.matched {
        body["match"] = json!(m);
    }
    Resp::hal(status, &body)
}

/// Ends the device's chain: on the `redirect_url` when the check has one, else as JSON.
fn finish(check: &Check, fields: &[(&str, &str)]) -> Resp {
    let mut all: Vec<(&str, &str)> = vec![("check_id", &check.id)];
    all.extend_from_slice(fields);
    if let Some(r) = &check.reference_id {
        all.push(("reference_id", r));
    }
    match &check.redirect_url {
        Some(url) => {
            let query: Vec<String> = all
                .iter()
                .map(|(k, v)| format!("{k}={}", super::http::percent_encode(v)))
                .collect();
            let sep = if url.contains('?') { '&' } else { '?' };
            Resp::redirect(302, &format!("{url}{sep}{}", query.join("&")))
        }
        None => {
            let map: serde_json::Map<String, Value> =
                all.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
            Resp::json(200, &Value::Object(map))
        }
    }
}

fn fail(state: &mut State, id: &str, error: &str, description: &str) -> Resp {
    let Some(c) = state.checks.get_mut(id) else {
        return Resp::problem(404, "Not Found", "check not found");
    };
    if c.status != Status::Expired {
        c.status = Status::Error;
    }
    c.error = Some(error.to_string());
    finish(c, &[("error", error), ("error_description", description)])
}

fn open(req: &Req, state: &mut State, urls: &Urls, id: &str) -> Resp {
    let status = state.checks.get(id).map(|c| c.status);
    match status {
        Some(Status::Expired) => {
            return fail(
                state,
                id,
                "check_expired",
                "the check's TTL passed before the device opened it",
            )
        }
        Some(Status::Accepted) => {}
        Some(_) => {
            // A second open must not disturb the first device's result.
            let Some(c) = state.checks.get(id) else {
                return Resp::problem(404, "Not Found", "check not found");
            };
            return finish(
                c,
                &[
                    ("error", "check_already_processed"),
                    ("error_description", "this check_url was already opened"),
                ],
            );
        }
        None => return Resp::problem(404, "Not Found", "check not found"),
    }
    let ip = super::http::canonical_ip(req.peer.ip());
    if !state.subscribers.contains_key(&ip) {
        return fail(
            state,
            id,
            "not_mobile_ip",
            &format!(
                "the device address {ip} is not a mobile data address of a supported operator"
            ),
        );
    }
    if let Some(c) = state.checks.get_mut(id) {
        c.status = Status::Pending;
    }
    Resp::redirect(302, &format!("{}/auth/start?session={id}", urls.mno))
}

fn complete(req: &Req, state: &mut State, id: &str) -> Resp {
    let token = req.query.get("mno_token").cloned();
    let Some(c) = state.checks.get_mut(id) else {
        return Resp::problem(404, "Not Found", "check not found");
    };
    if let Some(error) = req.query.get("error") {
        c.status = Status::Error;
        c.error = Some(error.clone());
        let description = req
            .query
            .get("error_description")
            .cloned()
            .unwrap_or_default();
        let c = c.clone();
        return finish(&c, &[("error", error), ("error_description", &description)]);
    }
    if c.status != Status::Pending || token.is_none() || token != c.mno_token {
        return Resp::problem(
            400,
            "Bad Request",
            "the operator hand-back is not valid for this check",
        );
    }
    c.mno_token = None;
    let code = random_hex(24);
    c.code = Some(code.clone());
    let c = c.clone();
    finish(&c, &[("code", &code)])
}

fn patch(req: &Req, state: &mut State, urls: &Urls, id: &str) -> Resp {
    let content_type = req.header("content-type").unwrap_or("");
    if !content_type.starts_with("application/json-patch+json") {
        return Resp::problem(
            415,
            "Unsupported Media Type",
            "use application/json-patch+json",
        );
    }
    let code = serde_json::from_slice::<Value>(&req.body)
        .ok()
        .and_then(|v| {
            v.as_array()?
                .iter()
                .find(|op| op["op"] == "add" && op["path"] == "/code")
                .and_then(|op| op["value"].as_str().map(str::to_string))
        });
    let Some(code) = code else {
        return Resp::problem(
            400,
            "Bad Request",
            r#"expected [{"op":"add","path":"/code","value":"…"}]"#,
        );
    };
    let Some(c) = state.checks.get_mut(id) else {
        return Resp::problem(404, "Not Found", "check not found");
    };
    match c.status {
        Status::Expired => {
            c.matched = Some(false);
        }
        Status::Completed => {}
        _ if c.code.is_none() => {
            return Resp::problem(
                404,
                "Not Found",
                "the check has no code yet: the device step has not happened",
            );
        }
        _ => {
            let right_code = c.code.as_deref() == Some(code.as_str());
            let right_subscriber = c.subscriber.as_deref() == Some(c.phone_number.as_str());
            c.matched = Some(right_code && right_subscriber);
            c.status = Status::Completed;
        }
    }
    resource(state, urls, id, 200)
}
