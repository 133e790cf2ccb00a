//! An emulated cellular link: a "phone" namespace whose only way out is a raw-IP `wwan0`, and a
//! "network" namespace behind it, joined by a relay that holds every packet for a one-way delay.
//!
//! ```text
//!   phone namespace                                          network namespace (rp_filter=1)
//!  ┌────────────────────────────┐                           ┌──────────────────────────────────┐
//!  │ wwan0 (TUN, raw IP)        │    relay threads          │ cell0 (TUN, raw IP)              │
//!  │   198.51.100.2/24          │  uplink:   +delay ──────▶ │   198.51.100.1/24                │
//!  │   2001:db8:2::2/64         │  downlink: ◀────── +delay │   2001:db8:2::1/64               │
//!  │ default dev wwan0          │  (FIFO, order kept)       │ lo: servers on 203.0.113.x       │
//!  └────────────────────────────┘                           │     and 2001:db8:3::x            │
//!                                                           └──────────────────────────────────┘
//! ```
//!
//! The kernel here has no `netem`, so the delay lives in this process. Each side is a TUN device
//! (`IFF_TUN | IFF_NO_PI`, link type `ARPHRD_NONE`, as a modem's raw-IP interface), created by a
//! thread that has entered the namespace with `setns` (namespaces are per thread; the device
//! belongs to the namespace its `/dev/net/tun` file was opened in). The rig keeps both file
//! descriptors. Data flows, per direction:
//!
//! 1. a reader thread waits on the source TUN (poll with a short timeout, so it sees the stop
//!    flag), reads one IP packet and stamps it with `now + delay`;
//! 2. it sends the packet down an in-process FIFO channel to the direction's writer thread;
//! 3. the writer sleeps until the stamp and writes the packet to the other TUN, where the kernel
//!    receives it as if it had arrived on that interface.
//!
//! A constant delay and a FIFO keep packets in order. [`CellularRig`] owns the namespaces, the
//! two devices and the four threads; dropping it stops the threads, closes the devices (which
//! removes them) and deletes the namespaces. Documentation address ranges only; unique namespace
//! names per rig. Needs root.

use std::fs::File;
use std::io;
use std::net::IpAddr;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The phone's cellular interface name.
pub const PHONE_IFACE: &str = "wwan0";
/// The network side's interface name.
pub const NET_IFACE: &str = "cell0";
/// The phone's address on `wwan0`.
pub const PHONE_V4: &str = "198.51.100.2";
/// The phone's IPv6 address on `wwan0`.
pub const PHONE_V6: &str = "2001:db8:2::2";
/// The network side's address on `cell0`.
pub const NET_V4: &str = "198.51.100.1";
/// The network side's IPv6 address on `cell0`.
pub const NET_V6: &str = "2001:db8:2::1";
/// The first server address in the network namespace (more can be asked for).
pub const SERVER_V4: &str = "203.0.113.10";
/// The first server IPv6 address in the network namespace.
pub const SERVER_V6: &str = "2001:db8:3::10";
/// The default one-way delay: 30 ms each way, a 60 ms round trip.
pub const DEFAULT_ONE_WAY: Duration = Duration::from_millis(30);
/// The link MTU (a common cellular bearer MTU is 1500 or a little less).
pub const MTU: u16 = 1500;

/// How long a relay thread waits for a packet before it looks at the stop flag again.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// How to build a [`CellularRig`].
#[derive(Clone, Debug)]
pub struct CellularConfig {
    /// Delay added to every packet from the phone to the network.
    pub uplink_delay: Duration,
    /// Delay added to every packet from the network to the phone.
    pub downlink_delay: Duration,
    /// Addresses put on the network namespace's loopback for servers to bind to (routable from
    /// the phone through the link). Default: [`SERVER_V4`] and [`SERVER_V6`].
    pub server_addrs: Vec<IpAddr>,
}

impl Default for CellularConfig {
    fn default() -> Self {
        CellularConfig {
            uplink_delay: DEFAULT_ONE_WAY,
            downlink_delay: DEFAULT_ONE_WAY,
            server_addrs: vec![
                SERVER_V4.parse().expect("server v4"),
                SERVER_V6.parse().expect("server v6"),
            ],
        }
    }
}

impl CellularConfig {
    /// The same delay each way.
    pub fn with_one_way_delay(delay: Duration) -> Self {
        CellularConfig {
            uplink_delay: delay,
            downlink_delay: delay,
            ..CellularConfig::default()
        }
    }

    /// The round trip the link adds.
    pub fn rtt(&self) -> Duration {
        self.uplink_delay + self.downlink_delay
    }
}

/// Packets and bytes carried by one direction of the relay.
#[derive(Debug, Default)]
pub struct LinkCounters {
    /// Packets written to the far side.
    pub packets: AtomicU64,
    /// Bytes written to the far side.
    pub bytes: AtomicU64,
    /// Packets the far side refused (write errors).
    pub dropped: AtomicU64,
}

/// A phone namespace with a delayed raw-IP `wwan0`, a network namespace behind it, and the relay.
pub struct CellularRig {
    /// Phone namespace name.
    pub phone: String,
    /// Network namespace name.
    pub net: String,
    /// What the rig was built with.
    pub config: CellularConfig,
    /// Phone → network counters.
    pub uplink: Arc<LinkCounters>,
    /// Network → phone counters.
    pub downlink: Arc<LinkCounters>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    devices: Vec<Arc<tun::Device>>,
}

use crate::netns::run;

fn run_line(line: &str) -> io::Result<Output> {
    let words: Vec<&str> = line.split_whitespace().collect();
    run(&words)
}

/// Runs `f` on a fresh thread that has entered the named network namespace.
fn in_namespace<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> io::Result<T> {
    let path = format!("/var/run/netns/{ns}");
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                let file = File::open(&path)?;
                nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(io::Error::from)?;
                Ok(f())
            })
            .join()
            .map_err(|_| io::Error::other("namespace thread panicked"))?
    })
}

/// Opens a TUN device named `name` (raw IP, no packet-information header) inside `ns`, up.
fn open_tun(ns: &str, name: &str) -> io::Result<tun::Device> {
    in_namespace(ns, || {
        let mut config = tun::Configuration::default();
        config.tun_name(name).layer(tun::Layer::L3).mtu(MTU).up();
        tun::create(&config).map_err(|e| io::Error::other(format!("TUN {name} in {ns}: {e}")))
    })?
}

/// One direction of the link: read from `from`, hold each packet for `delay`, write to `to`.
fn relay(
    name: &str,
    from: Arc<tun::Device>,
    to: Arc<tun::Device>,
    delay: Duration,
    stop: Arc<AtomicBool>,
    counters: Arc<LinkCounters>,
) -> io::Result<[JoinHandle<()>; 2]> {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let reader_stop = stop.clone();
    let reader = std::thread::Builder::new()
        .name(format!("{name}-read"))
        .spawn(move || {
            let mut buf = vec![0u8; usize::from(MTU) + 64];
            while !reader_stop.load(Ordering::Relaxed) {
                match from.recv_timeout(&mut buf, POLL_INTERVAL) {
                    Ok(n) => {
                        if tx
                            .send((Instant::now() + delay, buf[..n].to_vec()))
                            .is_err()
                        {
                            return;
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::TimedOut
                                | io::ErrorKind::WouldBlock
                                | io::ErrorKind::Interrupted
                        ) => {}
                    // The device went away under us (e.g. the namespace was deleted by hand):
                    // keep looking at the stop flag without spinning.
                    Err(_) => std::thread::sleep(POLL_INTERVAL),
                }
            }
        })?;
    let writer = std::thread::Builder::new()
        .name(format!("{name}-write"))
        .spawn(move || loop {
            match rx.recv_timeout(POLL_INTERVAL) {
                Ok((due, packet)) => {
                    let wait = due.saturating_duration_since(Instant::now());
                    if !wait.is_zero() {
                        std::thread::sleep(wait);
                    }
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    match to.send(&packet) {
                        Ok(n) => {
                            counters.packets.fetch_add(1, Ordering::Relaxed);
                            counters.bytes.fetch_add(n as u64, Ordering::Relaxed);
                        }
                        Err(_) => {
                            counters.dropped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        })?;
    Ok([reader, writer])
}

impl CellularRig {
    /// Builds the rig with the default 30 ms each way (needs root and iproute2).
    pub fn create() -> io::Result<CellularRig> {
        CellularRig::with_config(CellularConfig::default())
    }

    /// Builds the rig.
    pub fn with_config(config: CellularConfig) -> io::Result<CellularRig> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let tag = format!(
            "pccell{}x{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut rig = CellularRig {
            phone: format!("{tag}-phone"),
            net: format!("{tag}-net"),
            config,
            uplink: Arc::default(),
            downlink: Arc::default(),
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
            devices: Vec::new(),
        };
        // From here on, a failure drops `rig`, which undoes whatever was made.
        run(&["ip", "netns", "add", &rig.phone])?;
        run(&["ip", "netns", "add", &rig.net])?;
        let (p, n) = (rig.phone.clone(), rig.net.clone());

        // Quiet links: no router solicitations, no duplicate-address probes to wait out.
        // Set before the devices exist, so they inherit it from "default".
        for ns in [&p, &n] {
            for scope in ["all", "default"] {
                for setting in ["router_solicitations=0", "accept_dad=0"] {
                    run_line(&format!(
                        "ip netns exec {ns} sysctl -qw net.ipv6.conf.{scope}.{setting}"
                    ))?;
                }
            }
        }

        let phone_dev = Arc::new(open_tun(&p, PHONE_IFACE)?);
        let net_dev = Arc::new(open_tun(&n, NET_IFACE)?);
        rig.devices = vec![phone_dev.clone(), net_dev.clone()];

        let mut steps = vec![
            format!("ip -n {p} link set lo up"),
            format!("ip -n {p} addr add {PHONE_V4}/24 dev {PHONE_IFACE}"),
            format!("ip -n {p} addr add {PHONE_V6}/64 dev {PHONE_IFACE} nodad"),
            // Raw IP: no link-layer next hop, the route names the device alone, as for a modem.
            format!("ip -n {p} route add default dev {PHONE_IFACE}"),
            format!("ip -n {p} -6 route add default dev {PHONE_IFACE}"),
            format!("ip -n {n} link set lo up"),
            format!("ip -n {n} addr add {NET_V4}/24 dev {NET_IFACE}"),
            format!("ip -n {n} addr add {NET_V6}/64 dev {NET_IFACE} nodad"),
        ];
        for addr in &rig.config.server_addrs {
            let prefix = if addr.is_ipv4() { 32 } else { 128 };
            steps.push(format!("ip -n {n} addr add {addr}/{prefix} dev lo"));
        }
        // Strict reverse-path filtering: the phone's address must arrive on cell0.
        for dev in ["all", "default", NET_IFACE] {
            steps.push(format!(
                "ip netns exec {n} sysctl -qw net.ipv4.conf.{dev}.rp_filter=1"
            ));
        }
        for step in &steps {
            run_line(step)?;
        }

        let uplink = relay(
            "uplink",
            phone_dev.clone(),
            net_dev.clone(),
            rig.config.uplink_delay,
            rig.stop.clone(),
            rig.uplink.clone(),
        )?;
        rig.threads.extend(uplink);
        let downlink = relay(
            "downlink",
            net_dev,
            phone_dev,
            rig.config.downlink_delay,
            rig.stop.clone(),
            rig.downlink.clone(),
        )?;
        rig.threads.extend(downlink);
        Ok(rig)
    }

    /// The round trip the link adds.
    pub fn rtt(&self) -> Duration {
        self.config.rtt()
    }

    /// A command run inside the phone namespace.
    pub fn phone_command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.phone, program]);
        c
    }

    /// A command run inside the network namespace.
    pub fn net_command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.net, program]);
        c
    }

    /// Runs `f` on a thread inside the phone namespace (sockets it creates live there).
    pub fn in_phone<T: Send>(&self, f: impl FnOnce() -> T + Send) -> io::Result<T> {
        in_namespace(&self.phone, f)
    }

    /// Runs `f` on a thread inside the network namespace (sockets it creates live there).
    pub fn in_net<T: Send>(&self, f: impl FnOnce() -> T + Send) -> io::Result<T> {
        in_namespace(&self.net, f)
    }
}

impl Drop for CellularRig {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        // The threads held the other references: this closes both devices, which removes them.
        self.devices.clear();
        let _ = run(&["ip", "netns", "del", &self.phone]);
        let _ = run(&["ip", "netns", "del", &self.net]);
    }
}
