//! What the host tests share: the simulator with a DNS server that knows its names, a backend
//! to create checks, and a stand-in device whose handle plays the cellular network on `lo`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use phonecheck_android::ndk::NetHandle;
use phonecheck_android::standin::{StandIn, StandInNetwork};
use phonecheck_android::{Device, OpenRequest};
use phonecheck_engine::TlsSettings;
use phonecheck_linux::flow::backend::Backend;
use phonecheck_rig::servers::DnsServer;
use phonecheck_rig::sim::{SimConfig, Simulator};
use serde_json::Value;

/// The handle the tests' cellular network has (any non-zero number).
pub const CELLULAR: NetHandle = NetHandle(0x6c_0000_0000 | 0xcafe);

/// The simulator on loopback, a DNS server that resolves its names, and an authenticated backend.
pub struct World {
    pub sim: Simulator,
    pub dns: DnsServer,
    pub backend: Backend,
}

impl World {
    pub fn start() -> World {
        let sim = Simulator::start(SimConfig::default()).expect("simulator");
        let records: HashMap<String, Vec<IpAddr>> = sim
            .host_map()
            .into_iter()
            .map(|(host, _, ip)| (host, vec![ip]))
            .collect();
        let dns = DnsServer::start("127.0.0.1:0".parse().unwrap(), records);
        let mut backend = Backend::new(
            &format!("https://{}", sim.api_addr),
            Some(sim.ca_pem.as_bytes()),
        )
        .expect("backend");
        backend
            .authenticate(
                &sim.config.client_id,
                &sim.config.client_secret,
                "phone_check",
            )
            .expect("token");
        World { sim, dns, backend }
    }

    /// A stand-in device with the cellular network on `lo`, trusting the simulator's CA.
    pub fn device(&self) -> (Arc<StandIn>, Device) {
        device(self.dns.addr, &self.sim.ca_pem)
    }
}

/// A stand-in device: `CELLULAR` is `lo` with DNS at `dns`; `ca_pem` is its trust store.
pub fn device(dns: SocketAddr, ca_pem: &str) -> (Arc<StandIn>, Device) {
    let standin = Arc::new(StandIn::new());
    standin.add(CELLULAR, StandInNetwork::new("lo", vec![dns]));
    let tls = TlsSettings::with_ring()
        .with_roots_pem(ca_pem.as_bytes())
        .expect("CA");
    let device = Device::new(standin.clone(), tls);
    (standin, device)
}

pub fn open(device: &Device, url: &str) -> Value {
    let envelope = device.open(&OpenRequest {
        network: CELLULAR,
        url,
        access_token: None,
        debug: true,
        record: None,
    });
    serde_json::from_str(&envelope).unwrap_or_else(|e| panic!("not JSON ({e}): {envelope}"))
}
