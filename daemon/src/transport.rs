//! The QUIC endpoint and its TLS: TLS 1.3 only, rustls with the ring
//! provider, and RFC 7250 raw public keys: each daemon presents its Ed25519
//! *transport* key itself, no certificate, no CA, no names. A peer is
//! accepted only if its key is the transport key of a current member (whose
//! `Member` record, signed with signing keys, names it), except on a pairing
//! connection while an offer is open (the joiner is not a member yet; the
//! pairing exchange then authenticates it), and a revoked member's key, let
//! through only to be sent the record that removed it (`removed.rs`). The transport key authorises
//! nothing else: it signs no record.
//!
//! Raw public keys rather than self-signed certificates: an Ed25519 SPKI is a
//! fixed 44-byte structure, so checking a peer needs no X.509 parser at all.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use authsync_proto::crypto::DeviceKey;
use authsync_proto::ids::DeviceId;
use authsync_proto::wire::{ALPN_PAIR, ALPN_SYNC};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use zeroize::Zeroizing;

/// DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32-byte key follows.
const SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
/// DER prefix of an Ed25519 PKCS#8 v1 private key; the 32-byte seed follows.
const PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// How long a silent peer is kept; keep-alives make a live one never silent.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(20);
const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// The SubjectPublicKeyInfo of an Ed25519 public key.
pub fn spki(public_key: &[u8; 32]) -> Vec<u8> {
    let mut der = SPKI_PREFIX.to_vec();
    der.extend_from_slice(public_key);
    der
}

/// The Ed25519 public key in an SPKI, if that is what it is.
pub fn public_key(spki: &[u8]) -> Option<[u8; 32]> {
    let key = spki.strip_prefix(&SPKI_PREFIX[..])?;
    key.try_into().ok()
}

/// The Ed25519 (transport) public key a peer presented on `connection`.
pub fn peer_key(connection: &quinn::Connection) -> Option<[u8; 32]> {
    let identity = connection.peer_identity()?;
    let certs = identity.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    public_key(certs.first()?.as_ref())
}

/// Whom the verifiers accept. Shared with the daemon, which updates it.
#[derive(Debug, Default)]
pub struct Trust {
    /// Current members' transport keys, and whose they are.
    members: RwLock<HashMap<[u8; 32], DeviceId>>,
    /// Revoked members' transport keys: let through TLS only to be told
    /// so (`removed.rs`), never to sync.
    revoked: RwLock<HashMap<[u8; 32], DeviceId>>,
    pairing_open: AtomicBool,
}

impl Trust {
    /// Replaces the set of current members: (transport key, device id).
    pub fn set_members(&self, members: impl IntoIterator<Item = ([u8; 32], DeviceId)>) {
        *self.members.write().unwrap_or_else(|p| p.into_inner()) = members.into_iter().collect();
    }

    /// The current member whose transport key is `key`.
    pub fn member(&self, key: &[u8; 32]) -> Option<DeviceId> {
        self.members.read().unwrap_or_else(|p| p.into_inner()).get(key).copied()
    }

    /// Replaces the set of revoked members: (transport key, device id).
    pub fn set_revoked(&self, revoked: impl IntoIterator<Item = ([u8; 32], DeviceId)>) {
        *self.revoked.write().unwrap_or_else(|p| p.into_inner()) = revoked.into_iter().collect();
    }

    /// The revoked member whose transport key is `key`.
    pub fn revoked(&self, key: &[u8; 32]) -> Option<DeviceId> {
        self.revoked.read().unwrap_or_else(|p| p.into_inner()).get(key).copied()
    }

    /// Whether `device` is a current member.
    pub fn is_member(&self, device: &DeviceId) -> bool {
        self.members
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .any(|d| d == device)
    }

    /// Opens or closes the door for a joiner.
    pub fn set_pairing_open(&self, open: bool) {
        self.pairing_open.store(open, Ordering::SeqCst);
    }

    fn pairing_open(&self) -> bool {
        self.pairing_open.load(Ordering::SeqCst)
    }
}

fn check_ed25519(message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<(), rustls::Error> {
    if dss.scheme != SignatureScheme::ED25519 {
        return Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::NoSignatureSchemesInCommon,
        ));
    }
    let key =
        public_key(cert.as_ref()).ok_or(rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
    authsync_proto::crypto::verify(&key, message, dss.signature())
        .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature))
}

fn key_of(cert: &CertificateDer<'_>) -> Result<[u8; 32], rustls::Error> {
    public_key(cert.as_ref()).ok_or(rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))
}

/// Both sides speak TLS 1.3 only.
const TLS12_REFUSED: rustls::Error = rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls12NotOffered);

fn unknown_peer() -> rustls::Error {
    rustls::Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure)
}

/// The methods both certificate verifiers share: TLS 1.3 only, Ed25519 raw
/// public keys only (a macro, since they belong to two different traits).
macro_rules! ed25519_raw_keys_only {
    () => {
        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Err(TLS12_REFUSED)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            check_ed25519(message, cert, dss).map(|()| HandshakeSignatureValid::assertion())
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            vec![SignatureScheme::ED25519]
        }

        fn requires_raw_public_keys(&self) -> bool {
            true
        }
    };
}

/// Verifies clients (the server side): members, revoked members (to be told
/// so, `removed.rs`), or anyone while pairing is open.
#[derive(Debug)]
struct ClientVerifier(Arc<Trust>);

impl ClientCertVerifier for ClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let key = key_of(end_entity)?;
        if self.0.member(&key).is_some() || self.0.revoked(&key).is_some() || self.0.pairing_open() {
            Ok(ClientCertVerified::assertion())
        } else {
            tracing::debug!(peer = %DeviceId::from_public_key(&key).short(), "refused a client that is not a member");
            Err(unknown_peer())
        }
    }

    ed25519_raw_keys_only!();
}

/// What a dialer accepts of the server it reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Exactly this member.
    Member(DeviceId),
    /// Any current member (a static peer address, identity not known yet).
    AnyMember,
    /// Anyone: a pairing connection, authenticated by the pairing exchange.
    Anyone,
}

#[derive(Debug)]
struct ServerVerifier {
    trust: Arc<Trust>,
    expect: Expect,
}

impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let key = key_of(end_entity)?;
        let ok = match self.expect {
            Expect::Member(id) => self.trust.member(&key) == Some(id),
            Expect::AnyMember => self.trust.member(&key).is_some(),
            Expect::Anyone => true,
        };
        if ok {
            Ok(ServerCertVerified::assertion())
        } else {
            tracing::debug!(peer = %DeviceId::from_public_key(&key).short(), "refused a server that is not the expected member");
            Err(unknown_peer())
        }
    }

    ed25519_raw_keys_only!();
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certified_key(key: &DeviceKey) -> Result<Arc<CertifiedKey>> {
    let mut pkcs8 = Zeroizing::new(PKCS8_PREFIX.to_vec());
    pkcs8.extend_from_slice(key.expose_bytes().as_ref());
    let signer = rustls::crypto::ring::sign::any_eddsa_type(&PrivatePkcs8KeyDer::from(pkcs8.as_slice()))
        .map_err(|e| anyhow!("the device key is not usable for TLS: {e}"))?;
    Ok(Arc::new(CertifiedKey::new(
        vec![CertificateDer::from(spki(&key.public()))],
        signer,
    )))
}

fn transport_config() -> Arc<quinn::TransportConfig> {
    let mut config = quinn::TransportConfig::default();
    config
        .max_idle_timeout(Some(IDLE_TIMEOUT.try_into().expect("20 s is a valid idle timeout")))
        .keep_alive_interval(Some(KEEP_ALIVE))
        .max_concurrent_uni_streams(0u8.into())
        .max_concurrent_bidi_streams(4u8.into());
    Arc::new(config)
}

/// The TLS configurations of one device.
pub struct Tls {
    key: Arc<CertifiedKey>,
    trust: Arc<Trust>,
}

impl Tls {
    /// TLS for the device whose key is `key`, accepting peers by `trust`.
    pub fn new(key: &DeviceKey, trust: Arc<Trust>) -> Result<Tls> {
        Ok(Tls {
            key: certified_key(key)?,
            trust,
        })
    }

    /// The server side: both ALPNs, client keys required.
    pub fn server_config(&self) -> Result<quinn::ServerConfig> {
        let mut tls = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .context("TLS 1.3 is not available")?
            .with_client_cert_verifier(Arc::new(ClientVerifier(self.trust.clone())))
            .with_cert_resolver(Arc::new(rustls::server::AlwaysResolvesServerRawPublicKeys::new(
                self.key.clone(),
            )));
        tls.alpn_protocols = vec![ALPN_SYNC.to_vec(), ALPN_PAIR.to_vec()];
        let quic = quinn::crypto::rustls::QuicServerConfig::try_from(tls).context("QUIC refused the TLS config")?;
        let mut config = quinn::ServerConfig::with_crypto(Arc::new(quic));
        config.transport_config(transport_config());
        Ok(config)
    }

    /// The client side for one dial.
    pub fn client_config(&self, expect: Expect, alpn: &[u8]) -> Result<quinn::ClientConfig> {
        let mut tls = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .context("TLS 1.3 is not available")?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ServerVerifier {
                trust: self.trust.clone(),
                expect,
            }))
            .with_client_cert_resolver(Arc::new(rustls::client::AlwaysResolvesClientRawPublicKeys::new(
                self.key.clone(),
            )));
        tls.alpn_protocols = vec![alpn.to_vec()];
        let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls).context("QUIC refused the TLS config")?;
        let mut config = quinn::ClientConfig::new(Arc::new(quic));
        config.transport_config(transport_config());
        Ok(config)
    }
}

/// Binds the endpoint (server and client) at `listen`.
pub fn endpoint(tls: &Tls, listen: SocketAddr) -> Result<quinn::Endpoint> {
    quinn::Endpoint::server(tls.server_config()?, listen).with_context(|| format!("failed to listen on {listen}"))
}

/// The server name every dial uses: raw public keys carry no names.
pub const SERVER_NAME: &str = "authsync";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand::SeedableRng;

    fn device(seed: u64) -> DeviceKey {
        DeviceKey::generate(&mut rand::rngs::StdRng::seed_from_u64(seed))
    }

    async fn dial(client: &Tls, server_addr: SocketAddr, expect: Expect) -> Result<quinn::Connection> {
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap())?;
        endpoint.set_default_client_config(client.client_config(expect, ALPN_SYNC)?);
        Ok(endpoint.connect(server_addr, SERVER_NAME)?.await?)
    }

    /// Whether the handshake was refused: in TLS 1.3 the client may finish
    /// before the server has checked its key, so a refusal can arrive as the
    /// connection closing with a TLS alert right after.
    async fn refused(dialed: Result<quinn::Connection>, wait: Duration) -> bool {
        match dialed {
            Err(_) => true,
            Ok(conn) => match tokio::time::timeout(wait, conn.closed()).await {
                // A TLS alert: QUIC's CRYPTO_ERROR range, 0x100 + alert.
                Ok(quinn::ConnectionError::ConnectionClosed(close)) => u64::from(close.error_code) & !0xff == 0x100,
                Ok(quinn::ConnectionError::TransportError(e)) => u64::from(e.code) & !0xff == 0x100,
                _ => false,
            },
        }
    }

    #[tokio::test]
    async fn members_connect_and_strangers_are_refused_at_the_handshake() {
        let (a, b, stranger) = (device(1), device(2), device(3));
        let trust_a = Arc::new(Trust::default());
        trust_a.set_members([(a.public(), a.id()), (b.public(), b.id())]);
        let trust_b = Arc::new(Trust::default());
        trust_b.set_members([(a.public(), a.id()), (b.public(), b.id())]);
        let trust_s = Arc::new(Trust::default());
        trust_s.set_members([
            (a.public(), a.id()),
            (b.public(), b.id()),
            (stranger.public(), stranger.id()),
        ]);

        let server = endpoint(&Tls::new(&a, trust_a.clone()).unwrap(), "127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = server.local_addr().unwrap();
        tokio::spawn({
            let server = server.clone();
            async move {
                while let Some(incoming) = server.accept().await {
                    tokio::spawn(async move {
                        if let Ok(conn) = incoming.await {
                            let _ = conn.closed().await;
                        }
                    });
                }
            }
        });

        let conn = dial(&Tls::new(&b, trust_b.clone()).unwrap(), addr, Expect::Member(a.id()))
            .await
            .unwrap();
        assert_eq!(peer_key(&conn), Some(a.public()));
        assert_eq!(
            conn.handshake_data()
                .unwrap()
                .downcast::<quinn::crypto::rustls::HandshakeData>()
                .unwrap()
                .protocol
                .unwrap(),
            ALPN_SYNC
        );

        // A stranger (not in A's members) is refused during the handshake.
        let long = Duration::from_secs(5);
        assert!(
            refused(
                dial(&Tls::new(&stranger, trust_s.clone()).unwrap(), addr, Expect::AnyMember).await,
                long
            )
            .await
        );
        // Unless a pairing offer is open.
        trust_a.set_pairing_open(true);
        let short = Duration::from_millis(300);
        assert!(
            !refused(
                dial(&Tls::new(&stranger, trust_s).unwrap(), addr, Expect::AnyMember).await,
                short
            )
            .await
        );

        // A dialer expecting another device refuses A.
        assert!(
            refused(
                dial(&Tls::new(&b, trust_b).unwrap(), addr, Expect::Member(stranger.id())).await,
                long
            )
            .await
        );
    }
}
