//! phonecheck's test rig: real servers for end-to-end tests, a test PKI made at run time, and
//! (in [`netns`]) network namespaces that stand in for a phone with Wi-Fi and cellular, and (in
//! [`cellular`]) an emulated cellular link with a real round-trip delay.
#![allow(missing_debug_implementations)]

pub mod cellular;
pub mod netns;
pub mod pki;
pub mod servers;
pub mod sim;
