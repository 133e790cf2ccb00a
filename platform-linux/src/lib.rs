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
//! | module | owns |
//! |---|---|
//! | [`socket`] | pinned sockets, errno mapping, the staggered connect race |
//! | [`dns`] | A/AAAA over the pinned interface, TCP on truncation, `--resolve` overrides |
//! | [`iface`] | cellular interface discovery with evidence, and preflight checks |
//! | [`mmcli`] | ModemManager bearers: interface and DNS servers |
//! | [`driver`] | running a `Session` with poll and real clocks; the JSON report and exit codes |
//! | [`cli`] | the `phonecheck` command line |

pub mod backend;
pub mod cli;
#[cfg(feature = "simulator")]
pub mod demo;
pub mod dns;
pub mod driver;
pub mod flow;
pub mod iface;
pub mod mmcli;
pub mod socket;
