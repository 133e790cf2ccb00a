//! The mobile operator as the simulator plays it: it recognises the subscriber from the data
//! session's source address, behind a chain that exercises what real operators do.
//!
//! ```text
//!  https  mno host  /auth/start?session=ID   sets a session cookie (Domain = mno host),
//!                                            302 to plain http (header enrichment needs it)
//!  http   he host   /enrich?session=ID       needs the cookie; looks the source address up;
//!                                            302 to a relative Location
//!  http   he host   /result?session&token    302 back to the API over https
//! ```
//!
//! An address the table does not know ends the chain at the API with `mno_user_not_found`.

use super::http::{Req, Resp};
use super::state::{random_hex, State};
use super::Urls;

const COOKIE: &str = "mno_sid";

/// Routes one request to the operator's first host (https).
pub fn route_start(req: &Req, state: &mut State, urls: &Urls) -> Resp {
    if req.path.starts_with("/camara/") {
        return super::camara::route_operator(req, state, urls);
    }
    if req.path != "/auth/start" {
        return Resp::text(404, "not found");
    }
    let Some(id) = req.query.get("session").cloned() else {
        return Resp::text(400, "session missing");
    };
    let Some(check) = state.checks.get_mut(&id) else {
        return Resp::text(400, "unknown session");
    };
    let sid = random_hex(20);
    check.mno_cookie = Some(sid.clone());
    let mut resp = Resp::redirect(302, &format!("{}/enrich?session={id}", urls.he));
    resp.headers.push((
        "Set-Cookie".into(),
        format!("{COOKIE}={sid}; Domain={}; Path=/; HttpOnly", urls.mno_host),
    ));
    resp
}

/// Routes one request to the operator's header-enrichment host (plain http).
pub fn route_he(req: &Req, state: &mut State, urls: &Urls) -> Resp {
    let Some(id) = req.query.get("session").cloned() else {
        return Resp::text(400, "session missing");
    };
    let ip = super::http::canonical_ip(req.peer.ip());
    let subscriber = state.subscribers.get(&ip).cloned();
    let Some(check) = state.checks.get_mut(&id) else {
        return Resp::text(400, "unknown session");
    };
    match req.path.as_str() {
        "/enrich" => {
            let cookie_ok = req.header("cookie").is_some_and(|c| {
                c.split("; ").any(|kv| {
                    Some(kv)
                        == check
                            .mno_cookie
                            .as_ref()
                            .map(|v| format!("{COOKIE}={v}"))
                            .as_deref()
                })
            });
            if !cookie_ok {
                return Resp::text(403, "operator session cookie missing");
            }
            let Some(number) = subscriber else {
                return Resp::redirect(
                    302,
                    &format!(
                        "{}/phone_check/v0.2/checks/{id}/complete?error=mno_user_not_found&error_description=the%20operator%20does%20not%20know%20this%20data%20session",
                        urls.api
                    ),
                );
            };
            check.subscriber = Some(number);
            let token = random_hex(20);
            check.mno_token = Some(token.clone());
            // Relative on purpose: clients must resolve it against /enrich.
            Resp::redirect(302, &format!("result?session={id}&token={token}"))
        }
        "/result" => {
            let token = req.query.get("token").cloned().unwrap_or_default();
            Resp::redirect(
                302,
                &format!(
                    "{}/phone_check/v0.2/checks/{id}/complete?mno_token={token}",
                    urls.api
                ),
            )
        }
        _ => Resp::text(404, "not found"),
    }
}
