//! A peer the tests play themselves, built from the daemon's own transport
//! (raw-public-key TLS 1.3 over QUIC, `authsync_daemon::transport`) and frame
//! codec (`authsync_daemon::sync`): it dials a real `authd` as a stranger or
//! as a real member, speaks the sync protocol and then misbehaves, or sits
//! between a joiner and its sponsor as a relay with its own key.
//!
//! - [`stolen`]: what a thief gets from a stopped daemon's data directory:
//!   its transport key (plain in the sled store), and its signing key only
//!   when the vault key file lies beside it (`--no-passphrase`).
//! - [`Target`]: a running daemon's address, device and household, from
//!   `status --json`.
//! - [`Session`]: one connection and its sync stream, synchronous to the test
//!   (each call blocks on a shared tokio runtime; a background task drains
//!   what the daemon sends, so it never stalls on flow control).
//! - [`Relay`]: accepts any client on `authsync-pair/1`, dials the sponsor
//!   itself, and copies the stream bytes both ways verbatim.
//!
//! Every network wait is bounded by [`PEER_TIMEOUT`]; everything is on
//! 127.0.0.1.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use authsync_daemon::sync::{read_frame, write_frame};
use authsync_daemon::transport::{Expect, SERVER_NAME, Tls, Trust};
use authsync_proto::crypto::{DeviceKey, Sealed, SymKey};
use authsync_proto::hlc::Hlc;
use authsync_proto::ids::{DeviceId, EntryId, EpochId, HouseholdId, RecordId};
use authsync_proto::record::{Body, Header, MemberInfo, Record, SealedEntry};
use authsync_proto::wire::{ALPN_PAIR, ALPN_SYNC, Frame, Hello, SYNC_PROTOCOL};
use tokio::sync::mpsc;

use crate::{Instance, READY_TIMEOUT, wait_until};

/// How long any one network step of the test peer may take.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(10);

/// The runtime every test peer runs on (shared by the tests of a binary).
fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// A device's keys as a peer played by a test holds them.
pub struct Keys {
    /// Authenticates its connections.
    pub transport: DeviceKey,
    /// Signs its records; `None` when the thief could not open it (a
    /// passphrase vault).
    pub signing: Option<DeviceKey>,
    /// Its device id (the hash of its signing key).
    pub device: DeviceId,
    /// Its box key, when it could be opened (to try reading envelopes).
    pub box_key: Option<authsync_proto::crypto::BoxKey>,
}

impl Keys {
    /// A copy (keys are deliberately not `Clone`).
    pub fn copy(&self) -> Keys {
        Keys {
            transport: copy_key(&self.transport),
            signing: self.signing.as_ref().map(copy_key),
            device: self.device,
            box_key: self
                .box_key
                .as_ref()
                .map(|k| authsync_proto::crypto::BoxKey::from_bytes(*k.expose_bytes())),
        }
    }

    /// The signing key; panics for a locked thief's keys.
    #[track_caller]
    pub fn signing(&self) -> &DeviceKey {
        self.signing.as_ref().expect("these keys include the signing key")
    }

    /// How a household would know this device, named `name`.
    pub fn member_info(&self, name: &str) -> MemberInfo {
        MemberInfo {
            device: self.device,
            name: name.to_string(),
            signing_key: self.signing().public(),
            transport_key: self.transport.public(),
            box_key: self.box_key.as_ref().map_or([9; 32], |k| k.public()),
            role: authsync_proto::record::Role::Device,
        }
    }
}

/// Fresh random keys: a stranger to every household.
pub fn stranger() -> Keys {
    let signing = DeviceKey::generate(&mut rand::rngs::OsRng);
    Keys {
        transport: DeviceKey::generate(&mut rand::rngs::OsRng),
        device: signing.id(),
        signing: Some(signing),
        box_key: Some(authsync_proto::crypto::BoxKey::generate(&mut rand::rngs::OsRng)),
    }
}

/// What a thief gets from the data directory `data_dir` of a stopped
/// daemon (sled locks its files while it runs): the transport key, and
/// the signing and box keys only if the key file `vault.key` is there to
/// open them (a `--no-passphrase` vault).
#[track_caller]
pub fn stolen(data_dir: &Path) -> Keys {
    let vault_dir = data_dir.join("vault");
    let db = crate::open_store(&vault_dir);
    let meta = db.open_tree("meta").expect("the store has a meta tree");
    let get = |name: &str| meta.get(name).expect("the meta tree reads");
    let key32 = |name: &str| -> [u8; 32] {
        get(name)
            .unwrap_or_else(|| panic!("the store holds no {name}"))
            .as_ref()
            .try_into()
            .expect("32 bytes")
    };
    let device = DeviceId(key32("device_id"));
    let transport = DeviceKey::from_bytes(&key32("transport_key"));
    let kek = std::fs::read(data_dir.join("vault.key"))
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .map(|b| SymKey::from_bytes(&b));
    // One handle: sled releases its file lock only when its threads end.
    let (signing, box_key) = match kek.map(|kek| sealed_keys(&meta, &kek)) {
        Some((signing, box_key)) => (Some(signing), Some(box_key)),
        None => (None, None),
    };
    Keys {
        transport,
        signing,
        device,
        box_key,
    }
}

/// The signing and box keys sealed in `data_dir`'s store, opened with
/// `kek` (what only the key file or the passphrase gives).
#[track_caller]
pub fn open_sealed_keys(data_dir: &Path, kek: &SymKey) -> (DeviceKey, authsync_proto::crypto::BoxKey) {
    let db = crate::open_store(&data_dir.join("vault"));
    sealed_keys(&db.open_tree("meta").expect("the store has a meta tree"), kek)
}

fn sealed_keys(meta: &sled::Tree, kek: &SymKey) -> (DeviceKey, authsync_proto::crypto::BoxKey) {
    let device: [u8; 32] = meta
        .get("device_id")
        .expect("the meta tree reads")
        .expect("the store holds its device id")
        .as_ref()
        .try_into()
        .expect("32 bytes");
    let open = |name: &str, context: &[u8]| -> [u8; 32] {
        let stored = meta
            .get(name)
            .expect("the meta tree reads")
            .expect("the store holds the key");
        let sealed: Sealed = postcard::from_bytes(&stored).expect("a sealed key");
        let mut aad = context.to_vec();
        aad.extend_from_slice(&device);
        kek.open(&aad, &sealed)
            .expect("the kek opens it")
            .as_slice()
            .try_into()
            .expect("32 bytes")
    };
    (
        DeviceKey::from_bytes(&open("signing_key", b"authsync signing key v2")),
        authsync_proto::crypto::BoxKey::from_bytes(open("box_key", b"authsync box key v1")),
    )
}

/// A copy of `key` (device keys are deliberately not `Clone`).
pub fn copy_key(key: &DeviceKey) -> DeviceKey {
    DeviceKey::from_bytes(&key.expose_bytes())
}

/// Now, Unix ms.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A running daemon, as a peer sees it.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// Its QUIC endpoint.
    pub addr: SocketAddr,
    /// Its device id.
    pub device: DeviceId,
    /// Its household.
    pub household: HouseholdId,
}

impl Target {
    /// `inst`'s address, device and household (`status --json`), once its
    /// network listens.
    #[track_caller]
    pub fn of(inst: &Instance) -> Target {
        let mut status = inst.status();
        wait_until(READY_TIMEOUT, "the daemon's network to listen", || {
            status = inst.status();
            status.listen.is_some()
        });
        let field =
            |value: Option<String>, what: &str| value.unwrap_or_else(|| panic!("status has no {what}: {status:?}"));
        Target {
            addr: field(status.listen.clone(), "listen")
                .parse()
                .expect("listen is an address"),
            device: field(status.device.clone(), "device").parse().expect("device is an id"),
            household: field(status.household.clone(), "household")
                .parse()
                .expect("household is an id"),
        }
    }
}

/// How a connection ended, as the test peer saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The other side closed it with this application code and reason.
    Closed { code: u64, reason: Vec<u8> },
    /// The TLS handshake was refused: a TLS alert (QUIC CRYPTO_ERROR range).
    TlsAlert(u64),
    /// Anything else (timeout, reset, local error), described.
    Other(String),
}

fn ended(error: &quinn::ConnectionError) -> Ended {
    match error {
        quinn::ConnectionError::ApplicationClosed(close) => Ended::Closed {
            code: close.error_code.into_inner(),
            reason: close.reason.to_vec(),
        },
        quinn::ConnectionError::ConnectionClosed(close) if u64::from(close.error_code) & !0xff == 0x100 => {
            Ended::TlsAlert(u64::from(close.error_code))
        }
        quinn::ConnectionError::TransportError(e) if u64::from(e.code) & !0xff == 0x100 => {
            Ended::TlsAlert(u64::from(e.code))
        }
        other => Ended::Other(other.to_string()),
    }
}

/// Dials `addr` as `key` for `alpn`, expecting `expect` of the server and
/// trusting `members`. `Err` if the handshake fails on this side.
async fn dial(
    key: &DeviceKey,
    addr: SocketAddr,
    expect: Expect,
    members: &[([u8; 32], DeviceId)],
    alpn: &[u8],
) -> Result<(quinn::Endpoint, quinn::Connection), Ended> {
    let trust = Arc::new(Trust::default());
    trust.set_members(members.iter().copied());
    let tls = Tls::new(key, trust).expect("a device key makes a TLS config");
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().expect("an address")).expect("a UDP socket");
    let config = tls.client_config(expect, alpn).expect("a client config");
    let connecting = endpoint
        .connect_with(config, addr, SERVER_NAME)
        .expect("a connection can be started");
    match tokio::time::timeout(PEER_TIMEOUT, connecting).await {
        Ok(Ok(conn)) => Ok((endpoint, conn)),
        Ok(Err(e)) => Err(ended(&e)),
        Err(_) => Err(Ended::Other("the handshake timed out".into())),
    }
}

/// Dials `target` as `key` on `alpn` and reports how the attempt ended: in
/// TLS 1.3 the client may finish before the server has checked its key, so
/// a refusal can also arrive as a close right after the handshake. `None`
/// if the connection is still up after [`PEER_TIMEOUT`] (the caller's
/// connection is dropped).
pub fn dial_outcome(key: &DeviceKey, target: &Target, alpn: &[u8]) -> Option<Ended> {
    rt().block_on(async {
        match dial(key, target.addr, Expect::Anyone, &[], alpn).await {
            Err(ended) => Some(ended),
            Ok((_endpoint, conn)) => tokio::time::timeout(PEER_TIMEOUT, conn.closed())
                .await
                .ok()
                .map(|e| ended(&e)),
        }
    })
}

/// One connection to a daemon and the sync stream on it.
pub struct Session {
    key: Keys,
    target: Target,
    endpoint: quinn::Endpoint,
    conn: quinn::Connection,
    send: quinn::SendStream,
    recv: Option<quinn::RecvStream>,
    frames: Option<mpsc::UnboundedReceiver<Result<Frame, String>>>,
    /// The daemon's hello, once exchanged.
    pub theirs: Option<Hello>,
}

impl Session {
    /// Dials `target` as the member whose keys are `key` (its transport key
    /// for TLS) and opens the sync stream; sends nothing yet.
    #[track_caller]
    pub fn connect(key: &Keys, target: &Target) -> Session {
        let key = key.copy();
        rt().block_on(async {
            let (endpoint, conn) = dial(&key.transport, target.addr, Expect::Anyone, &[], ALPN_SYNC)
                .await
                .unwrap_or_else(|e| panic!("the member could not connect: {e:?}"));
            let (send, recv) = conn.open_bi().await.expect("a sync stream opens");
            Session {
                key,
                target: *target,
                endpoint,
                conn,
                send,
                recv: Some(recv),
                frames: None,
                theirs: None,
            }
        })
    }

    /// Dials and exchanges hellos with a genuine `Hello` claiming `held`.
    #[track_caller]
    pub fn open(key: &Keys, target: &Target, held: BTreeMap<DeviceId, u64>) -> Session {
        let mut session = Session::connect(key, target);
        let hello = session.hello(held);
        session.send(&Frame::Hello(hello)).expect("the hello is sent");
        session.read_hello().expect("the daemon says hello");
        session
    }

    /// This end's address, as the daemon sees (and logs) it.
    pub fn local_addr(&self) -> SocketAddr {
        self.endpoint.local_addr().expect("the endpoint has an address")
    }

    /// The peer's own id.
    pub fn me(&self) -> DeviceId {
        self.key.device
    }

    /// A genuine hello of this peer, claiming to hold `held` (no head hashes).
    pub fn hello(&self, held: BTreeMap<DeviceId, u64>) -> Hello {
        Hello {
            protocol: SYNC_PROTOCOL,
            device: self.key.device,
            household: self.target.household,
            version_vector: held,
            heads: Vec::new(),
            wall_ms: now_ms(),
        }
    }

    /// Reads the daemon's hello, then drains every later frame in the
    /// background (see [`Session::records`]).
    pub fn read_hello(&mut self) -> Result<&Hello, String> {
        let mut recv = self.recv.take().expect("the hello is read once");
        let first = rt().block_on(async {
            tokio::time::timeout(PEER_TIMEOUT, read_frame::<Frame>(&mut recv))
                .await
                .map_err(|_| "no hello within the timeout".to_string())?
                .map_err(|e| format!("{e:#}"))
        })?;
        let Frame::Hello(hello) = first else {
            return Err("the daemon sent records before its hello".into());
        };
        let (tx, rx) = mpsc::unbounded_channel();
        rt().spawn(async move {
            loop {
                let frame = read_frame::<Frame>(&mut recv).await.map_err(|e| format!("{e:#}"));
                let failed = frame.is_err();
                if tx.send(frame).is_err() || failed {
                    return;
                }
            }
        });
        self.frames = Some(rx);
        Ok(self.theirs.insert(hello))
    }

    /// The daemon's first frame, whatever it is (a revoked member gets
    /// `Frame::Removed` instead of a hello); nothing is read after it.
    pub fn first_frame(&mut self) -> Result<Frame, String> {
        let mut recv = self.recv.take().expect("the first frame is read once");
        rt().block_on(async {
            tokio::time::timeout(PEER_TIMEOUT, read_frame::<Frame>(&mut recv))
                .await
                .map_err(|_| "no frame within the timeout".to_string())?
                .map_err(|e| format!("{e:#}"))
        })
    }

    /// The seq `origin`'s next record must have, by the daemon's hello.
    pub fn next_seq(&self, origin: &DeviceId) -> u64 {
        let hello = self.theirs.as_ref().expect("hellos were exchanged");
        hello.version_vector.get(origin).copied().unwrap_or(0) + 1
    }

    /// A record with id `(origin, seq)` of the daemon's household, signed
    /// by this peer's signing key whatever `origin` says, chained to the
    /// daemon's head of `origin` and having seen all the daemon holds.
    pub fn sign(&self, origin: DeviceId, seq: u64, body: Body) -> Record {
        self.sign_in(self.target.household, origin, seq, body)
    }

    /// Like [`Session::sign`], for `household`.
    pub fn sign_in(&self, household: HouseholdId, origin: DeviceId, seq: u64, body: Body) -> Record {
        let header = self.header(household, origin, seq, now_ms());
        Record::sign(self.key.signing(), header, body)
    }

    /// The header a record `(origin, seq)` dated `ms` gets: `prev` is the
    /// daemon's head of `origin` when `seq` follows it.
    pub fn header(&self, household: HouseholdId, origin: DeviceId, seq: u64, ms: u64) -> Header {
        let hello = self.theirs.as_ref();
        let prev = hello
            .and_then(|h| h.heads.iter().find(|(d, s, _)| *d == origin && s + 1 == seq))
            .map_or([0; 32], |(_, _, hash)| *hash);
        let seen = hello
            .map(|h| {
                h.version_vector
                    .iter()
                    .filter(|(d, _)| **d != origin)
                    .map(|(d, s)| (*d, *s))
                    .collect()
            })
            .unwrap_or_default();
        Header {
            id: RecordId { origin, seq },
            household,
            hlc: Hlc { ms, counter: 0 },
            prev,
            seen,
        }
    }

    /// Signs `body` with any key (e.g. the transport key, which must not
    /// count), as this peer's next record.
    pub fn sign_with(&self, key: &DeviceKey, body: Body) -> Record {
        let header = self.header(self.target.household, self.me(), self.next_seq(&self.me()), now_ms());
        Record::sign(key, header, body)
    }

    /// This peer's keys.
    pub fn keys(&self) -> &Keys {
        &self.key
    }

    /// This peer's next record, properly signed: a valid record.
    pub fn next_record(&self, body: Body) -> Record {
        self.sign(self.me(), self.next_seq(&self.me()), body)
    }

    /// Sends one frame.
    pub fn send(&mut self, frame: &Frame) -> Result<(), String> {
        rt().block_on(async {
            tokio::time::timeout(PEER_TIMEOUT, write_frame(&mut self.send, frame))
                .await
                .map_err(|_| "the frame was not taken within the timeout".to_string())?
                .map_err(|e| format!("{e:#}"))
        })
    }

    /// Sends `bytes` as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), String> {
        rt().block_on(async {
            tokio::time::timeout(PEER_TIMEOUT, self.send.write_all(bytes))
                .await
                .map_err(|_| "the bytes were not taken within the timeout".to_string())?
                .map_err(|e| e.to_string())
        })
    }

    /// Ends this side of the stream (the daemon reads end-of-stream next).
    pub fn finish(&mut self) {
        let _ = self.send.finish();
    }

    /// The records the daemon sends until at least `n` arrived (or the
    /// stream ended, or [`PEER_TIMEOUT`] passed).
    pub fn records(&mut self, n: usize) -> Vec<Record> {
        let frames = self.frames.as_mut().expect("hellos were exchanged");
        rt().block_on(async {
            let mut out = Vec::new();
            while out.len() < n {
                match tokio::time::timeout(PEER_TIMEOUT, frames.recv()).await {
                    Ok(Some(Ok(Frame::Records(batch)))) => out.extend(batch),
                    Ok(Some(Ok(Frame::Hello(_)))) => panic!("the daemon sent a second hello"),
                    Ok(Some(Ok(Frame::Evidence(_)))) => {}
                    _ => break,
                }
            }
            out
        })
    }

    /// How the connection ended, waiting up to [`PEER_TIMEOUT`]; `None` if
    /// it is still up.
    pub fn ended(&self) -> Option<Ended> {
        rt().block_on(async {
            tokio::time::timeout(PEER_TIMEOUT, self.conn.closed())
                .await
                .ok()
                .map(|e| ended(&e))
        })
    }

    /// Whether the connection is still up right now.
    pub fn is_up(&self) -> bool {
        self.conn.close_reason().is_none()
    }
}

/// An `Entry` body that no epoch key opens: well-formed, and harmless if a
/// daemon admits it (it is counted as unreadable).
pub fn junk_entry(tag: u8) -> Body {
    Body::Entry(SealedEntry {
        entry: EntryId([tag; 16]),
        parents: Vec::new(),
        epoch: EpochId([tag; 16]),
        body: Sealed {
            nonce: [tag; 24],
            ciphertext: vec![tag; 48],
        },
    })
}

/// Bytes the relay copied, each way.
#[derive(Debug, Default)]
pub struct Relayed {
    /// Joiner → sponsor.
    pub to_sponsor: AtomicU64,
    /// Sponsor → joiner.
    pub to_joiner: AtomicU64,
    /// Joiner connections accepted.
    pub joiners: AtomicU64,
}

/// A man in the middle of pairing: its own fresh key on both sides; it
/// accepts any client on either ALPN (a server config that lets anyone in,
/// as an open offer does), dials the sponsor with `Expect::Anyone` on
/// `authsync-pair/1`, and relays the first stream verbatim both ways.
pub struct Relay {
    /// Where joiners reach it.
    pub addr: SocketAddr,
    /// Its own device id (what the sponsor sees as the joiner).
    pub device: DeviceId,
    /// What it copied.
    pub relayed: Arc<Relayed>,
    endpoint: quinn::Endpoint,
}

impl Relay {
    /// Starts a relay to the sponsor at `sponsor`.
    pub fn start(sponsor: SocketAddr) -> Relay {
        let key = stranger().transport;
        let device = key.id();
        let trust = Arc::new(Trust::default());
        trust.set_pairing_open(true);
        let tls = Tls::new(&key, trust).expect("a device key makes a TLS config");
        let server = tls.server_config().expect("a server config");
        let dial_config = tls.client_config(Expect::Anyone, ALPN_PAIR).expect("a client config");
        let relayed = Arc::new(Relayed::default());
        let endpoint = rt().block_on(async {
            quinn::Endpoint::server(server, "127.0.0.1:0".parse().expect("an address")).expect("a UDP socket")
        });
        let addr = endpoint.local_addr().expect("the relay has an address");
        rt().spawn({
            let (endpoint, relayed) = (endpoint.clone(), relayed.clone());
            async move {
                while let Some(incoming) = endpoint.accept().await {
                    let (endpoint, relayed, dial_config) = (endpoint.clone(), relayed.clone(), dial_config.clone());
                    tokio::spawn(async move {
                        let _ = relay_one(incoming, &endpoint, dial_config, sponsor, &relayed).await;
                    });
                }
            }
        });
        Relay {
            addr,
            device,
            relayed,
            endpoint,
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.endpoint.close(0u32.into(), b"relay done");
    }
}

async fn relay_one(
    incoming: quinn::Incoming,
    endpoint: &quinn::Endpoint,
    dial_config: quinn::ClientConfig,
    sponsor: SocketAddr,
    relayed: &Relayed,
) -> Result<(), String> {
    let joiner = tokio::time::timeout(PEER_TIMEOUT, incoming)
        .await
        .map_err(|_| "joiner handshake timed out")?
        .map_err(|e| e.to_string())?;
    relayed.joiners.fetch_add(1, Ordering::SeqCst);
    let (to_joiner, from_joiner) = tokio::time::timeout(PEER_TIMEOUT, joiner.accept_bi())
        .await
        .map_err(|_| "the joiner opened no stream")?
        .map_err(|e| e.to_string())?;
    let connecting = endpoint
        .connect_with(dial_config, sponsor, SERVER_NAME)
        .map_err(|e| e.to_string())?;
    let sponsor_conn = tokio::time::timeout(PEER_TIMEOUT, connecting)
        .await
        .map_err(|_| "sponsor handshake timed out")?
        .map_err(|e| e.to_string())?;
    let (to_sponsor, from_sponsor) = sponsor_conn.open_bi().await.map_err(|e| e.to_string())?;
    let _ = tokio::time::timeout(PEER_TIMEOUT * 2, async {
        tokio::join!(
            pump(from_joiner, to_sponsor, &relayed.to_sponsor),
            pump(from_sponsor, to_joiner, &relayed.to_joiner),
        )
    })
    .await;
    sponsor_conn.close(0u32.into(), b"relay done");
    joiner.close(0u32.into(), b"relay done");
    Ok(())
}

/// Copies `from` to `to` until end of stream or an error, counting bytes.
async fn pump(mut from: quinn::RecvStream, mut to: quinn::SendStream, count: &AtomicU64) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(None) | Err(_) => break,
            Ok(Some(n)) => {
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
                count.fetch_add(n as u64, Ordering::SeqCst);
            }
        }
    }
    let _ = to.finish();
}

/// What a joiner played by the test saw of a pairing exchange.
#[derive(Debug)]
pub struct ScriptedJoin {
    /// Whether the sponsor's confirmation verified with the fingerprints
    /// this joiner used.
    pub sponsor_confirmed: bool,
    /// What the sponsor said when it refused, if it did.
    pub refused: Option<String>,
}

/// Runs the joiner's side of pairing against `target` with the real `code`,
/// over TLS as `tls_key`, but computing the key confirmation over the
/// fingerprint of `claimed` as the joiner's key: what a joiner whose
/// connection was relayed would send. With `wait_for_refusal`, reads on
/// until the sponsor refuses (or [`PEER_TIMEOUT`]); else stops after the
/// sponsor's confirmation.
pub fn scripted_join(
    target: &Target,
    code: &str,
    tls_key: &DeviceKey,
    claimed: &[u8; 32],
    wait_for_refusal: bool,
) -> Result<ScriptedJoin, String> {
    use authsync_proto::pairing::{Handshake, PairingCode, Role, fingerprint};
    use authsync_proto::wire::PairFrame;

    let code: PairingCode = code.parse().map_err(|e| format!("{e}"))?;
    rt().block_on(async {
        let (_endpoint, conn) = dial(tls_key, target.addr, Expect::Anyone, &[], ALPN_PAIR)
            .await
            .map_err(|e| format!("{e:?}"))?;
        let sponsor_key = authsync_daemon::transport::peer_key(&conn).ok_or("the sponsor showed no key")?;
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
        let (handshake, ours) = Handshake::start(&mut rand::rngs::OsRng, Role::Joiner, &code);
        let join = PairFrame::Join {
            nameplate: code.nameplate,
            spake: ours,
        };
        write_frame(&mut send, &join).await.map_err(|e| format!("{e:#}"))?;
        let PairFrame::Spake { spake } = read_pair_frame(&mut recv).await? else {
            return Err("the sponsor did not answer with SPAKE2".into());
        };
        let key = handshake.finish(&spake).map_err(|e| format!("{e}"))?;
        let (jfp, sfp) = (fingerprint(claimed), fingerprint(&sponsor_key));
        let confirm = PairFrame::Confirm {
            mac: key.confirmation(Role::Joiner, &jfp, &sfp),
        };
        write_frame(&mut send, &confirm).await.map_err(|e| format!("{e:#}"))?;
        let PairFrame::Confirm { mac } = read_pair_frame(&mut recv).await? else {
            return Err("the sponsor did not confirm".into());
        };
        let sponsor_confirmed = key.check(Role::Sponsor, &jfp, &sfp, &mac).is_ok();
        let mut refused = None;
        if wait_for_refusal {
            if let PairFrame::Refused(why) = read_pair_frame(&mut recv).await? {
                refused = Some(why);
            }
        }
        conn.close(0u32.into(), b"done");
        Ok(ScriptedJoin {
            sponsor_confirmed,
            refused,
        })
    })
}

async fn read_pair_frame(recv: &mut quinn::RecvStream) -> Result<authsync_proto::wire::PairFrame, String> {
    tokio::time::timeout(PEER_TIMEOUT, read_frame(recv))
        .await
        .map_err(|_| "the sponsor did not answer".to_string())?
        .map_err(|e| format!("{e:#}"))
}
