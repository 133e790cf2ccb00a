//! # phonecheck-engine
//!
//! The device side of IDlayr PhoneCheck as a sans-IO HTTP/1.1 engine.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod chunked;
mod cursor;
pub mod request;
pub mod response;
pub mod url;
