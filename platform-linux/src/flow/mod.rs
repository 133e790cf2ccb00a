//! The three PhoneCheck steps in order: the backend creates a check, the device opens its
//! `check_url` over the cellular interface, the backend submits the code and learns the match.
//!
//! ```text
//!  backend: create ──check_url──► device step (driver, pinned) ──Report: code──► backend: PATCH
//! ```
//!
//! The code travels as a typed field of the device's report, never read back out of JSON.

pub mod backend;
pub mod camara;

use phonecheck_engine::Field;

use crate::driver::Report;
use backend::{Backend, BackendError, CheckResult, CreatedCheck};

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
        self.device.field(Field::Code)
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
    let code = device_report.field(Field::Code).map(str::to_string);
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
