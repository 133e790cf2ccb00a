//! The three PhoneCheck steps in order: the backend creates a check, the device opens its
//! `check_url` over the cellular interface, the backend submits the code and learns the match.

use serde_json::Value;

use crate::backend::{Backend, BackendError, CheckResult, CreatedCheck};
use crate::driver::Report;

/// How far a flow got.
#[derive(Debug)]
pub struct Flow {
    /// Step 1's result.
    pub check: CreatedCheck,
    /// Step 2's report (the device's envelope).
    pub device: Report,
    /// Step 3's result, when the device came back with a code.
    pub result: Option<CheckResult>,
}

impl Flow {
    /// The code the device received, if any.
    pub fn code(&self) -> Option<&str> {
        self.device.envelope["response_body"]["code"].as_str()
    }

    /// A JSON summary for the command line.
    pub fn summary(&self, phone_number: &str) -> Value {
        let mut v = serde_json::json!({
            "check_id": self.check.check_id,
            "phone_number": phone_number,
        });
        match &self.result {
            Some(r) => {
                v["status"] = Value::String(r.status.clone());
                v["match"] = Value::Bool(r.matched);
            }
            None => v["status"] = Value::String("DEVICE_STEP_FAILED".into()),
        }
        v["device"] = self.device.envelope.clone();
        v
    }
}

/// Runs the three steps; `device` opens a check URL and reports.
pub fn run(
    backend: &Backend,
    phone_number: &str,
    redirect_url: Option<&str>,
    device: &mut dyn FnMut(&CreatedCheck) -> Report,
) -> Result<Flow, BackendError> {
    let check = backend.create_check(phone_number, redirect_url)?;
    let device_report = device(&check);
    let code = device_report.envelope["response_body"]["code"]
        .as_str()
        .map(str::to_string);
    let result = match code {
        Some(code) => Some(backend.submit_code(&check.check_id, &code)?),
        None => None,
    };
    Ok(Flow {
        check,
        device: device_report,
        result,
    })
}
