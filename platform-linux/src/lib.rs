//! # phonecheck-linux
//!
//! phonecheck on Linux: the engine's sans-IO `Session` driven over sockets pinned to the mobile
//! data interface, for modem test rigs and Linux devices.
//!
//! ## How binding works
//!
//! Every socket (TCP for the check, UDP and TCP for DNS) is pinned with `SO_BINDTODEVICE`
//! (`socket2::Socket::bind_device`) exactly once, before it connects or sends. Since Linux 5.7 a
//! fresh socket needs no capability for that; the kernel then uses only routes through that
//! device, so the check leaves over cellular even while Wi-Fi holds the default route. Binding to
//! a source address alone does not steer traffic, and `IP_UNICAST_IF` does not steer TCP, so
//! neither is used.
//!
//! ## What fails closed
//!
//! - A socket that cannot be pinned fails the hop (`PinDenied`, `NoDataConnectivity`); it is never
//!   retried unpinned. The unpinned mode exists for development and the CLI warns about it.
//! - DNS goes over the pinned interface to the bearer's DNS servers, never through the system
//!   resolver; with no servers known the check fails and asks for `--dns`.
//! - TLS is always verified (the engine's `tls` layer).
//! - An interface that disappears or goes down mid-check fails the next hop.
//!
//! The crate is laid out in the order a check flows:
//!
//! ```text
//!  net/     the mobile network: pinned sockets, pinned DNS, interface discovery, ModemManager
//!    │        (LinuxNetwork implements driver::Network)
//!    ▼
//!  driver/  sessions over a Network: blocking (one check) and mux (many checks, one thread);
//!    │        typed Reports
//!    ▼
//!  flow/    the backend's API calls and the three PhoneCheck steps in order
//!    │
//!    ▼
//!  cli/     the `phonecheck` command line (JSON written here, once), batches, the demo
//! ```
//!
//! Each layer uses only the ones above it. Used as a library, turn off the default features
//! (`default-features = false`): `simulator` only serves `phonecheck demo` and `phonecheck sim`
//! and brings in hyper and tokio; `cli` is the command and the backend client (`cli/`, `flow/`:
//! clap, ureq). What is left is `net/` and `driver/`.

#[cfg(feature = "cli")]
pub mod cli;
pub mod driver;
#[cfg(feature = "cli")]
pub mod flow;
pub mod net;
