//! `phonecheck camara`: CAMARA NumberVerification with both roles on this machine. The device
//! step runs pinned to the cellular interface under [`Policy::camara`]; the token and `verify`
//! calls take the normal route, as the customer's backend would.
//!
//! stdout carries one JSON line: the number, `devicePhoneNumberVerified` when the operator
//! answered it, `error` when the device step did not bring back a code (the OAuth error on the
//! redirect_uri, or `redirect_uri_not_reached`), and the device's envelope as the SDKs print
//! it (the authorization code in it is spent by then, and bound to the PKCE verifier).

use clap::Args;
use phonecheck_engine::Policy;

use super::output::{json_string, out, STDOUT_CLOSED};
use super::{
    backend_failure, backend_options, base_policy, device_options, discard_outputs,
    prepare_outputs, run_device, NetArgs,
};
use crate::driver::exit_code;
use crate::flow::backend::Backend;
use crate::flow::camara::{self, CamaraClient, CamaraFlow, DEFAULT_PURPOSE};

#[derive(Debug, Args)]
pub(super) struct CamaraArgs {
    /// The phone number to verify, in E.164 (+447700900001).
    #[arg(long, value_name = "E164", value_parser = parse_e164)]
    phone: String,
    /// The operator's (or aggregator's) authorization endpoint; the device opens it.
    #[arg(long, value_name = "URL")]
    authorize_url: String,
    /// The token endpoint (backend, normal route).
    #[arg(long, value_name = "URL")]
    token_url: String,
    /// NumberVerification's verify endpoint (backend, normal route).
    #[arg(long, value_name = "URL")]
    verify_url: String,
    /// The client's registered redirect_uri; the device stops there without requesting it.
    #[arg(long, value_name = "URL")]
    redirect_uri: String,
    /// The purpose in the scope (a W3C DPV term).
    #[arg(long, value_name = "DPV", default_value = DEFAULT_PURPOSE)]
    purpose: String,
    /// Send prompt=none: the operator must answer without a page (consent_required instead).
    #[arg(long)]
    prompt_none: bool,
    /// A signed request object (JWT) to send as `request=`.
    #[arg(long, value_name = "JWT")]
    request_object: Option<String>,
    #[command(flatten)]
    net: NetArgs,
}

fn parse_e164(s: &str) -> Result<String, String> {
    let digits = s.strip_prefix('+').unwrap_or("");
    if (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
    {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not an E.164 number (+ and 7 to 15 digits)"
        ))
    }
}

/// The device step's rules: the command line's deadlines under the CAMARA preset.
pub(super) fn camara_policy(net: &NetArgs) -> Policy {
    let camara = Policy::camara();
    Policy {
        require_https: camara.require_https,
        html_is_interaction: camara.html_is_interaction,
        ..base_policy(net)
    }
}

pub(super) fn camara(args: CamaraArgs) -> i32 {
    let (Ok(client_id), Ok(client_secret)) = (
        std::env::var("CAMARA_CLIENT_ID"),
        std::env::var("CAMARA_CLIENT_SECRET"),
    ) else {
        eprintln!("phonecheck camara: set CAMARA_CLIENT_ID and CAMARA_CLIENT_SECRET");
        return 2;
    };
    let client = CamaraClient {
        client_id,
        client_secret,
        redirect_uri: args.redirect_uri.clone(),
        purpose: args.purpose.clone(),
        authorize_url: args.authorize_url.clone(),
        token_url: args.token_url.clone(),
        verify_url: args.verify_url.clone(),
    };
    if let Err(status) = prepare_outputs(&args.net, "camara") {
        return status;
    }
    let ca = args.net.cacert.as_ref().map(|c| c.pem.clone());
    let backend = match Backend::with_options("", &backend_options(&args.net, ca)) {
        Ok(b) => b,
        Err(e) => {
            discard_outputs(&args.net, "no device step ran");
            return backend_failure(&e);
        }
    };
    let mut extra = Vec::new();
    if args.prompt_none {
        extra.push(("prompt", "none"));
    }
    if let Some(jwt) = &args.request_object {
        extra.push(("request", jwt.as_str()));
    }
    let net = &args.net;
    let outcome = camara::run(&backend, &client, &args.phone, &extra, &mut |auth| {
        let policy = camara_policy(net);
        match device_options(
            net,
            auth.url.clone(),
            policy,
            None,
            Some(client.redirect_uri.clone()),
        ) {
            Ok(mut opts) => {
                opts.expected_state = Some(auth.state.clone());
                run_device(net, &opts)
            }
            Err(report) => {
                discard_outputs(net, "the check did not start");
                report
            }
        }
    });
    match outcome {
        Ok(flow) => {
            if !out(&summary(&flow, &args.phone)) {
                return STDOUT_CLOSED;
            }
            flow_exit(&flow)
        }
        Err(e) => backend_failure(&e),
    }
}

/// One JSON line: the number, the operator's answer (when there is one), the device envelope.
pub(super) fn summary(flow: &CamaraFlow, phone_number: &str) -> String {
    let mut line = format!("{{\"phone_number\":{}", json_string(phone_number));
    if let Some(v) = flow.verified {
        line.push_str(&format!(",\"devicePhoneNumberVerified\":{v}"));
    }
    if let Some(e) = flow.oauth_error() {
        line.push_str(&format!(",\"error\":{}", json_string(e)));
    }
    line.push_str(",\"device\":");
    line.push_str(&flow.device.envelope);
    line.push('}');
    line
}

/// 0 when `verify` answered (true or false), 1 when the device step ended without a code (an
/// OAuth error on the redirect_uri), else the device step's own status.
pub(super) fn flow_exit(flow: &CamaraFlow) -> i32 {
    match (flow.verified, exit_code(&flow.device)) {
        (Some(_), _) => 0,
        (None, 0) => 1,
        (None, device) => device,
    }
}
