//! TLS for https hops: rustls 0.23's unbuffered client as a layer between the session's plaintext
//! and the socket's ciphertext. Every rustls type stays inside this module.
//!
//! ```text
//!  session ──request plaintext──► encrypt ──► outgoing ──Transmit──► driver ──► socket
//!  session ◄──response plaintext── decrypt ◄── incoming ◄─Received── driver ◄── socket
//!                 (handshake records flow through incoming/outgoing first)
//! ```
//!
//! The driver never knows whether a hop is TLS: it only moves bytes. Verification always happens:
//! roots from `webpki-roots` (feature) or the caller's, the host name checked, SNI sent for names
//! (not for IP literals), TLS 1.2 and 1.3, ALPN `http/1.1`. Certificate validity is checked
//! against the wall clock the caller gave the session; with none, https hops fail.
//!
//! One rustls `ClientConfig` is built per check, with a bounded in-memory resumption store, so a
//! second connection to the same host within the check resumes instead of a full handshake.

extern crate alloc;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::ToString;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use rustls::client::{ClientSessionStore, Resumption, UnbufferedClientConnection};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::time_provider::TimeProvider;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, UnbufferedStatus};
use rustls::{CertificateError, ClientConfig, NamedGroup, RootCertStore};

use crate::error::TlsError;
use crate::time::{Instant, WallClock};
use crate::trace::TlsInfo;

/// Servers whose resumption state a check remembers.
pub const RESUMPTION_SERVERS: usize = 8;
/// TLS 1.3 tickets kept per server.
const TICKETS_PER_SERVER: usize = 2;
/// Bound on state transitions handled for one input, so a broken peer cannot spin us.
const MAX_TRANSITIONS: usize = 1024;

/// What a session needs to speak TLS: the crypto provider and the trust anchors.
#[derive(Clone)]
pub struct TlsSettings {
    provider: Arc<CryptoProvider>,
    roots: Arc<RootCertStore>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("roots", &self.roots.len())
            .finish()
    }
}

impl TlsSettings {
    /// Settings with the caller's crypto provider and the default roots (`webpki-roots` when
    /// that feature is on, else none: supply roots with [`TlsSettings::with_roots_der`]).
    pub fn new(provider: Arc<CryptoProvider>) -> Self {
        TlsSettings {
            provider,
            roots: Arc::new(default_roots()),
        }
    }

    /// Settings with rustls's `ring` provider and the default roots.
    #[cfg(feature = "ring")]
    pub fn with_ring() -> Self {
        Self::new(Arc::new(rustls::crypto::ring::default_provider()))
    }

    /// Replaces the trust anchors with these DER certificates.
    pub fn with_roots_der(mut self, certs: &[&[u8]]) -> Result<Self, TlsError> {
        let mut roots = RootCertStore::empty();
        for der in certs {
            roots
                .add(CertificateDer::from(der.to_vec()))
                .map_err(|_| TlsError::InvalidRootCertificate)?;
        }
        if roots.is_empty() {
            return Err(TlsError::InvalidRootCertificate);
        }
        self.roots = Arc::new(roots);
        Ok(self)
    }

    /// Replaces the trust anchors with the certificates of a PEM file.
    pub fn with_roots_pem(self, pem: &[u8]) -> Result<Self, TlsError> {
        use rustls::pki_types::pem::PemObject;
        let mut ders = Vec::new();
        for cert in CertificateDer::pem_slice_iter(pem) {
            ders.push(cert.map_err(|_| TlsError::InvalidRootCertificate)?);
        }
        let slices: Vec<&[u8]> = ders.iter().map(|c| c.as_ref()).collect();
        self.with_roots_der(&slices)
    }

    /// How many trust anchors are configured.
    pub fn root_count(&self) -> usize {
        self.roots.len()
    }
}

fn default_roots() -> RootCertStore {
    #[cfg(feature = "webpki-roots")]
    {
        RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        }
    }
    #[cfg(not(feature = "webpki-roots"))]
    {
        RootCertStore::empty()
    }
}

/// The wall clock rustls reads for certificate validity: set by the session at each hop.
#[derive(Debug, Default)]
struct CheckClock(spin::Mutex<u64>);

impl TimeProvider for CheckClock {
    fn current_time(&self) -> Option<UnixTime> {
        Some(UnixTime::since_unix_epoch(core::time::Duration::from_secs(
            *self.0.lock(),
        )))
    }
}

/// Resumption state for a handful of servers, for one check.
#[derive(Debug, Default)]
struct BoundedStore(spin::Mutex<StoreInner>);

#[derive(Debug, Default)]
struct StoreInner {
    kx: VecDeque<(ServerName<'static>, NamedGroup)>,
    tls12: VecDeque<(ServerName<'static>, rustls::client::Tls12ClientSessionValue)>,
    tls13: VecDeque<(ServerName<'static>, rustls::client::Tls13ClientSessionValue)>,
}

fn remember<V>(
    list: &mut VecDeque<(ServerName<'static>, V)>,
    name: ServerName<'static>,
    v: V,
    per_name: usize,
) {
    let same = list.iter().filter(|(n, _)| *n == name).count();
    if same >= per_name {
        if let Some(i) = list.iter().position(|(n, _)| *n == name) {
            list.remove(i);
        }
    }
    if list.len() >= RESUMPTION_SERVERS * per_name {
        list.pop_front();
    }
    list.push_back((name, v));
}

impl ClientSessionStore for BoundedStore {
    fn set_kx_hint(&self, name: ServerName<'static>, group: NamedGroup) {
        remember(&mut self.0.lock().kx, name, group, 1);
    }

    fn kx_hint(&self, name: &ServerName<'_>) -> Option<NamedGroup> {
        let inner = self.0.lock();
        inner
            .kx
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, g)| *g)
    }

    fn set_tls12_session(
        &self,
        name: ServerName<'static>,
        value: rustls::client::Tls12ClientSessionValue,
    ) {
        remember(&mut self.0.lock().tls12, name, value, 1);
    }

    fn tls12_session(
        &self,
        name: &ServerName<'_>,
    ) -> Option<rustls::client::Tls12ClientSessionValue> {
        let inner = self.0.lock();
        inner
            .tls12
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    fn remove_tls12_session(&self, name: &ServerName<'static>) {
        self.0.lock().tls12.retain(|(n, _)| n != name);
    }

    fn insert_tls13_ticket(
        &self,
        name: ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        remember(&mut self.0.lock().tls13, name, value, TICKETS_PER_SERVER);
    }

    fn take_tls13_ticket(
        &self,
        name: &ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        let mut inner = self.0.lock();
        let i = inner.tls13.iter().rposition(|(n, _)| n == name)?;
        inner.tls13.remove(i).map(|(_, v)| v)
    }
}

/// The session's TLS side: the settings, and the check's rustls config (with its resumption
/// store), shared by every connection of the pool.
#[derive(Default)]
pub(crate) struct TlsContext {
    settings: Option<TlsSettings>,
    config: Option<(Arc<ClientConfig>, Arc<CheckClock>)>,
}

impl fmt::Debug for TlsContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsContext")
            .field("configured", &self.settings.is_some())
            .finish()
    }
}

impl TlsContext {
    pub(crate) fn configure(&mut self, settings: TlsSettings) {
        self.settings = Some(settings);
        self.config = None;
    }

    /// Starts a handshake with `host` on a fresh connection.
    pub(crate) fn connect(
        &mut self,
        host: &str,
        wall: Option<WallClock>,
        now: Instant,
    ) -> Result<Box<TlsConn>, TlsError> {
        let settings = self.settings.as_ref().ok_or(TlsError::NotConfigured)?;
        let wall = wall.ok_or(TlsError::NoWallClock)?;
        if self.config.is_none() {
            let clock = Arc::new(CheckClock::default());
            let time: Arc<dyn TimeProvider> = clock.clone();
            let mut config = ClientConfig::builder_with_details(settings.provider.clone(), time)
                .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                .map_err(|_| TlsError::HandshakeFailed)?
                .with_root_certificates(settings.roots.clone())
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            config.resumption = Resumption::store(Arc::new(BoundedStore::default()));
            self.config = Some((Arc::new(config), clock));
        }
        let Some((config, clock)) = &self.config else {
            return Err(TlsError::NotConfigured);
        };
        *clock.0.lock() = wall.unix_at(now);
        let name =
            ServerName::try_from(host.to_string()).map_err(|_| TlsError::InvalidServerName)?;
        let conn = UnbufferedClientConnection::new(config.clone(), name)
            .map_err(|e| map_error(e, false))?;
        let mut tls = Box::new(TlsConn {
            conn,
            incoming: Vec::new(),
            outgoing: Vec::new(),
            pending: Vec::new(),
            plaintext: Vec::new(),
            handshake_done: false,
            peer_closed: false,
            closing: false,
            close_notify_sent: false,
            failed: false,
        });
        tls.pump()?;
        Ok(tls)
    }
}

/// A TLS connection as a pool slot holds it.
pub(crate) type TlsBox = Box<TlsConn>;

/// One TLS connection: rustls's state and the bytes on either side of it.
pub(crate) struct TlsConn {
    conn: UnbufferedClientConnection,
    incoming: Vec<u8>,
    /// Ciphertext for the socket; the driver takes it through `Transmit` and `Sent`.
    outgoing: Vec<u8>,
    /// Application data waiting for the handshake to finish.
    pending: Vec<u8>,
    /// Decrypted application data waiting for the session.
    plaintext: Vec<u8>,
    handshake_done: bool,
    peer_closed: bool,
    /// The session is closing the connection: send `close_notify` once.
    closing: bool,
    close_notify_sent: bool,
    /// rustls reported an error: the connection is dead and is not driven again.
    failed: bool,
}

impl fmt::Debug for TlsConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConn")
            .field("handshake_done", &self.handshake_done)
            .field("outgoing", &self.outgoing.len())
            .finish()
    }
}

impl TlsConn {
    pub(crate) fn handshake_done(&self) -> bool {
        self.handshake_done
    }

    pub(crate) fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// Queues `close_notify` (RFC 8446 §6.1) so the server can tell a close from a cut; only
    /// once the handshake is done. Returns whether there is something to send.
    pub(crate) fn close(&mut self) -> bool {
        if self.handshake_done && !self.closing && !self.failed {
            self.closing = true;
            // A failure only means the alert is not sent; the connection closes anyway.
            let _ = self.pump();
        }
        !self.outgoing.is_empty()
    }

    /// Ciphertext waiting for the socket.
    pub(crate) fn outgoing(&self) -> &[u8] {
        &self.outgoing
    }

    /// The driver wrote `n` bytes of [`TlsConn::outgoing`].
    pub(crate) fn consume_outgoing(&mut self, n: usize) {
        self.outgoing.drain(..n.min(self.outgoing.len()));
    }

    /// Encrypts application data (or holds it until the handshake is done).
    pub(crate) fn send(&mut self, plain: &[u8]) -> Result<(), TlsError> {
        self.pending.extend_from_slice(plain);
        self.pump()
    }

    /// Takes ciphertext from the socket; decrypted data is then in `take_plaintext`.
    pub(crate) fn receive(&mut self, cipher: &[u8]) -> Result<(), TlsError> {
        self.incoming.extend_from_slice(cipher);
        self.pump()
    }

    /// Decrypted data received so far (the buffer is handed back with `return_plaintext`).
    pub(crate) fn take_plaintext(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.plaintext)
    }

    pub(crate) fn return_plaintext(&mut self, mut buf: Vec<u8>) {
        buf.clear();
        if self.plaintext.is_empty() {
            self.plaintext = buf;
        }
    }

    /// The negotiated version, ALPN and resumption, once the handshake is done.
    pub(crate) fn info(&self) -> Option<TlsInfo> {
        if !self.handshake_done {
            return None;
        }
        let version = match self.conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
            _ => "unknown",
        };
        Some(TlsInfo {
            version,
            alpn_http11: self.conn.alpn_protocol() == Some(b"http/1.1"),
            resumed: self.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
        })
    }
    /// Runs rustls's state machine until it needs more input. After an error the connection is
    /// dead: rustls is not driven again (it has sent its fatal alert).
    fn pump(&mut self) -> Result<(), TlsError> {
        if self.failed {
            return Err(TlsError::Protocol);
        }
        let result = self.pump_inner();
        self.failed = result.is_err();
        result
    }

    fn pump_inner(&mut self) -> Result<(), TlsError> {
        for _ in 0..MAX_TRANSITIONS {
            let UnbufferedStatus { discard, state } =
                self.conn.process_tls_records(&mut self.incoming);
            let done = self.handshake_done;
            let state = state.map_err(|e| map_error(e, done))?;
            let mut stop = false;
            match state {
                ConnectionState::EncodeTlsData(mut encode) => {
                    grow_and_write(&mut self.outgoing, |buf| match encode.encode(buf) {
                        Ok(n) => Ok(n),
                        Err(EncodeError::InsufficientSize(e)) => Err(Some(e.required_size)),
                        Err(_) => Ok(0),
                    })?;
                }
                ConnectionState::TransmitTlsData(mut transmit) => {
                    // The bytes are queued for the driver in order, which is all "transmitted"
                    // has to mean for a sans-IO layer.
                    if !self.pending.is_empty() {
                        if let Some(mut write) = transmit.may_encrypt_app_data() {
                            let pending = &self.pending;
                            grow_and_write(&mut self.outgoing, |buf| {
                                encrypt(&mut write, pending, buf)
                            })?;
                            self.pending.clear();
                        }
                    }
                    transmit.done();
                }
                ConnectionState::WriteTraffic(mut write) => {
                    self.handshake_done = true;
                    if !self.pending.is_empty() {
                        let pending = &self.pending;
                        grow_and_write(&mut self.outgoing, |buf| {
                            encrypt(&mut write, pending, buf)
                        })?;
                        self.pending.clear();
                    }
                    if self.closing && !self.close_notify_sent {
                        self.close_notify_sent = true;
                        grow_and_write(&mut self.outgoing, |buf| {
                            match write.queue_close_notify(buf) {
                                Ok(n) => Ok(n),
                                Err(EncryptError::InsufficientSize(e)) => {
                                    Err(Some(e.required_size))
                                }
                                Err(_) => Err(None),
                            }
                        })?;
                    }
                    stop = true;
                }
                ConnectionState::ReadTraffic(mut read) => {
                    while let Some(record) = read.next_record() {
                        let record = record.map_err(|e| map_error(e, true))?;
                        self.plaintext.extend_from_slice(record.payload);
                    }
                }
                ConnectionState::PeerClosed => self.peer_closed = true,
                ConnectionState::BlockedHandshake | ConnectionState::Closed => stop = true,
                _ if self.handshake_done => return Err(TlsError::Protocol),
                _ => return Err(TlsError::HandshakeFailed),
            }
            self.incoming.drain(..discard.min(self.incoming.len()));
            if stop {
                return Ok(());
            }
        }
        Err(TlsError::HandshakeFailed)
    }
}

fn encrypt(
    write: &mut rustls::unbuffered::WriteTraffic<'_, rustls::client::ClientConnectionData>,
    data: &[u8],
    buf: &mut [u8],
) -> Result<usize, Option<usize>> {
    match write.encrypt(data, buf) {
        Ok(n) => Ok(n),
        Err(EncryptError::InsufficientSize(e)) => Err(Some(e.required_size)),
        Err(_) => Err(None),
    }
}

/// Appends what `write` produces to `out`, growing the buffer when rustls asks for more room.
fn grow_and_write(
    out: &mut Vec<u8>,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, Option<usize>>,
) -> Result<(), TlsError> {
    let start = out.len();
    let mut room = 2048;
    for _ in 0..2 {
        out.resize(start + room, 0);
        match write(out.get_mut(start..).unwrap_or_default()) {
            Ok(n) => {
                out.truncate(start + n);
                return Ok(());
            }
            Err(Some(required)) => room = required,
            Err(None) => break,
        }
    }
    out.truncate(start);
    Err(TlsError::HandshakeFailed)
}

/// Says what went wrong in the words of the phase it went wrong in: bytes that are not TLS at
/// all during the handshake (plain HTTP on an https port), or broken records after it.
fn map_error(e: rustls::Error, handshake_done: bool) -> TlsError {
    use rustls::Error as E;
    use rustls::InvalidMessage as M;
    match e {
        E::InvalidMessage(M::InvalidContentType | M::UnknownProtocolVersion) if !handshake_done => {
            TlsError::NotTls
        }
        E::InvalidMessage(_) | E::DecryptError if handshake_done => TlsError::CorruptRecord,
        E::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => TlsError::UnknownIssuer,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsError::NameMismatch
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                TlsError::Expired
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                TlsError::NotYetValid
            }
            _ => TlsError::BadCertificate,
        },
        E::AlertReceived(alert) => TlsError::AlertReceived {
            alert: u8::from(alert),
        },
        _ => TlsError::HandshakeFailed,
    }
}
