//! The emulated cellular link (`phonecheck_rig::cellular`) really delays traffic: a TCP connect
//! from the phone namespace takes at least one round trip, N request/response exchanges at least
//! N more; `wwan0` is a raw-IP TUN device; and the rig leaves nothing behind when dropped.
//!
//! Lower bounds only: these prove behaviour, not performance. Each test is bounded in count and
//! time. Needs root to build namespaces; without it each test prints one skip line and passes.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use phonecheck_rig::cellular::{
    CellularConfig, CellularRig, PHONE_IFACE, PHONE_V4, PHONE_V6, SERVER_V4, SERVER_V6,
};
use phonecheck_rig::netns::is_root;

/// Exchanges per ping-pong test.
const EXCHANGES: u32 = 5;
/// No single socket operation may take longer than this.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

fn skip(test: &str) -> bool {
    if is_root() {
        return false;
    }
    println!("{test}: skipped: needs root (network namespaces and TUN devices)");
    true
}

/// A one-connection echo server in the network namespace: answers each byte with the same byte,
/// and returns the peer address it saw.
fn echo_server(rig: &CellularRig, ip: &str) -> (SocketAddr, JoinHandle<SocketAddr>) {
    let ip: IpAddr = ip.parse().unwrap();
    let listener = rig
        .in_net(|| TcpListener::bind((ip, 0)))
        .expect("enter network namespace")
        .expect("bind in network namespace");
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut stream, peer) = listener.accept().expect("accept");
        stream.set_nodelay(true).unwrap();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut byte = [0u8; 1];
        while let Ok(1) = stream.read(&mut byte) {
            if stream.write_all(&byte).is_err() {
                break;
            }
        }
        peer
    });
    (addr, server)
}

/// From the phone namespace: how long the connect took, and how long `EXCHANGES` one-byte
/// request/response exchanges took after it.
fn connect_and_ping(rig: &CellularRig, server: SocketAddr) -> (Duration, Duration) {
    rig.in_phone(move || {
        let start = Instant::now();
        let mut stream = TcpStream::connect_timeout(&server, IO_TIMEOUT).expect("connect");
        let connect = start.elapsed();
        stream.set_nodelay(true).unwrap();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let start = Instant::now();
        for i in 0..EXCHANGES {
            let sent = [b'a' + i as u8];
            stream.write_all(&sent).expect("send");
            let mut got = [0u8; 1];
            stream.read_exact(&mut got).expect("receive");
            assert_eq!(got, sent);
        }
        (connect, start.elapsed())
    })
    .expect("enter phone namespace")
}

#[test]
fn connect_takes_a_round_trip_and_each_exchange_another() {
    if skip("connect_takes_a_round_trip_and_each_exchange_another") {
        return;
    }
    let rig = CellularRig::create().expect("build cellular rig");
    let rtt = rig.rtt();
    assert_eq!(rtt, Duration::from_millis(60));
    for (server_ip, phone_ip) in [(SERVER_V4, PHONE_V4), (SERVER_V6, PHONE_V6)] {
        let (addr, server) = echo_server(&rig, server_ip);
        let (connect, exchanges) = connect_and_ping(&rig, addr);
        let peer = server.join().expect("server thread");
        println!("{addr}: connect {connect:?}, {EXCHANGES} exchanges {exchanges:?}");
        assert_eq!(
            peer.ip(),
            phone_ip.parse::<IpAddr>().unwrap(),
            "came over wwan0"
        );
        assert!(
            connect >= rtt,
            "connect took {connect:?}, less than {rtt:?}"
        );
        assert!(
            exchanges >= rtt * EXCHANGES,
            "{EXCHANGES} exchanges took {exchanges:?}, less than {:?}",
            rtt * EXCHANGES
        );
    }
    let up = rig
        .uplink
        .packets
        .load(std::sync::atomic::Ordering::Relaxed);
    let down = rig
        .downlink
        .packets
        .load(std::sync::atomic::Ordering::Relaxed);
    // Per connection at least: SYN, ACK, 5 requests, FIN up; SYN-ACK, 5 responses down.
    assert!(up >= 2 * 8, "uplink carried {up} packets");
    assert!(down >= 2 * 6, "downlink carried {down} packets");
}

#[test]
fn delays_are_configurable_per_direction() {
    if skip("delays_are_configurable_per_direction") {
        return;
    }
    let config = CellularConfig {
        uplink_delay: Duration::from_millis(5),
        downlink_delay: Duration::from_millis(45),
        ..CellularConfig::default()
    };
    let rig = CellularRig::with_config(config).expect("build cellular rig");
    let rtt = rig.rtt();
    assert_eq!(rtt, Duration::from_millis(50));
    let (addr, server) = echo_server(&rig, SERVER_V4);
    let (connect, exchanges) = connect_and_ping(&rig, addr);
    server.join().expect("server thread");
    println!("connect {connect:?}, {EXCHANGES} exchanges {exchanges:?}");
    assert!(
        connect >= rtt,
        "connect took {connect:?}, less than {rtt:?}"
    );
    assert!(exchanges >= rtt * EXCHANGES, "exchanges took {exchanges:?}");
}

#[test]
fn wwan0_is_raw_ip_and_the_rig_leaves_nothing_behind() {
    if skip("wwan0_is_raw_ip_and_the_rig_leaves_nothing_behind") {
        return;
    }
    let rig = CellularRig::create().expect("build cellular rig");
    let sysfs = |file: &str| {
        let out = rig
            .phone_command("cat")
            .arg(format!("/sys/class/net/{PHONE_IFACE}/{file}"))
            .output()
            .expect("cat");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // ARPHRD_NONE, as a modem's raw-IP interface; IFF_TUN (0x1) | IFF_NO_PI (0x1000).
    assert_eq!(sysfs("type"), "65534");
    assert_eq!(sysfs("tun_flags"), "0x1001");
    let route = rig
        .phone_command("ip")
        .args(["route", "show", "default"])
        .output()
        .expect("ip route");
    let route = String::from_utf8_lossy(&route.stdout);
    assert!(
        route.contains(&format!("dev {PHONE_IFACE}")),
        "default route: {route}"
    );

    let names = [rig.phone.clone(), rig.net.clone()];
    let start = Instant::now();
    drop(rig);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(5), "teardown took {took:?}");
    let list = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    let list = String::from_utf8_lossy(&list.stdout);
    for name in names {
        assert!(!list.contains(&name), "{name} still exists: {list}");
    }
}
