//! A test PKI made at run time with rcgen: a CA and leaf certificates for any host names, plus
//! rustls server configs for them. Nothing is stored in the tree.
#![allow(dead_code)]

use std::sync::{Arc, OnceLock};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, SupportedProtocolVersion};

pub struct TestPki {
    pub ca_der: Vec<u8>,
    pub ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// How a leaf certificate should be made.
#[derive(Clone, Debug, Default)]
pub struct LeafOptions {
    /// Names in the certificate (default: the host asked for).
    pub names: Option<Vec<String>>,
    /// Make it expired (valid 2000–2001).
    pub expired: bool,
    /// Make it not valid yet (valid from 2090).
    pub not_yet_valid: bool,
    /// Only TLS 1.2.
    pub tls12_only: bool,
}

impl TestPki {
    pub fn new(common_name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let ca = params.self_signed(&key).unwrap();
        TestPki {
            ca_der: ca.der().to_vec(),
            ca_pem: ca.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf certificate for `names` signed by this CA, as PEM: the chain (leaf, then CA) and
    /// the PKCS#8 key, for servers outside this process (e.g. nginx in the cellular benchmark).
    pub fn leaf_pem(&self, names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let params = CertificateParams::new(names).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = params.signed_by(&key, &self.issuer).unwrap();
        (
            format!("{}{}", leaf.pem(), self.ca_pem),
            key.serialize_pem(),
        )
    }

    pub fn server_config(&self, host: &str, opts: &LeafOptions) -> Arc<ServerConfig> {
        let names = opts.names.clone().unwrap_or_else(|| vec![host.to_string()]);
        let mut params = CertificateParams::new(names).unwrap();
        if opts.expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        if opts.not_yet_valid {
            params.not_before = rcgen::date_time_ymd(2090, 1, 1);
            params.not_after = rcgen::date_time_ymd(2091, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let leaf = params.signed_by(&key, &self.issuer).unwrap();
        let chain = vec![
            CertificateDer::from(leaf.der().to_vec()),
            CertificateDer::from(self.ca_der.clone()),
        ];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let versions: &[&SupportedProtocolVersion] = if opts.tls12_only {
            &[&rustls::version::TLS12]
        } else {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        };
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(versions)
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

/// The CA every scenario trusts.
pub fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| TestPki::new("phonecheck test CA"))
}

/// A second CA nobody trusts.
pub fn rogue_pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| TestPki::new("rogue CA"))
}
