//! phonecheck's test rig: real servers for end-to-end tests, a test PKI made at run time, and
//! (in [`netns`]) network namespaces that stand in for a phone with Wi-Fi and cellular.
#![allow(missing_debug_implementations)]

pub mod netns;
pub mod pki;
pub mod servers;
pub mod sim;
