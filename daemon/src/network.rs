//! The daemon's network side: the QUIC endpoint, incoming connections,
//! static peers dialled with backoff, and peers found by discovery. Starts
//! once this device has a household, and stops with the daemon.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use authsync_proto::ids::DeviceId;
use authsync_proto::wire::{ALPN_PAIR, ALPN_SYNC};

use crate::daemon::Daemon;
use crate::discovery::{Advert, Discovery, Found};
use crate::peers::Via;
use crate::transport::{self, Expect, SERVER_NAME, Tls};

/// The UDP port authd listens on by default.
pub const DEFAULT_PORT: u16 = 47_811;
/// How long an incoming handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a dial waits for an answer. QUIC resends its first packet
/// within it, so a peer that comes back during a dial is reached by it.
const DIAL_TIMEOUT: Duration = Duration::from_secs(3);
/// The pause before dialling a static peer that did not answer again: a
/// dial costs a silent peer one packet, and a healed link should be found
/// within seconds, however long it was down.
const UNANSWERED_PAUSE: Duration = Duration::from_secs(1);
/// The first pause before redialling a peer that refused us; it doubles up
/// to [`MAX_BACKOFF`] (a revoked device must not hammer its old household).
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A dial that got no answer within [`DIAL_TIMEOUT`]: the peer is down or
/// unreachable, not refusing.
#[derive(Debug, thiserror::Error)]
#[error("{0} did not answer within {secs}s", secs = DIAL_TIMEOUT.as_secs())]
pub struct NoAnswer(SocketAddr);

/// Checks a static peer's form, `HOST:PORT` (a DNS name, an IPv4 address
/// or a bracketed IPv6 address, and a port), without resolving it: a name
/// is resolved at every dial.
pub fn check_peer(target: &str) -> Result<()> {
    let form = || {
        anyhow!(
            "static peer '{target}' is not HOST:PORT (e.g. home.example.net:47811, 192.0.2.7:47811 or [2001:db8::7]:47811)"
        )
    };
    if target.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    let (host, port) = target.rsplit_once(':').ok_or_else(form)?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 => {}
        _ => return Err(form()),
    }
    let name_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !name_ok {
        return Err(form());
    }
    Ok(())
}

/// Where to listen and whom to call.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// The QUIC endpoint's address.
    pub listen: SocketAddr,
    /// `host:port` of peers to dial without discovery.
    pub peers: Vec<String>,
}

/// The running network, for the parts of the daemon that need it (pairing,
/// status).
pub struct Net {
    pub endpoint: quinn::Endpoint,
    pub tls: Tls,
    pub discovery: Option<Arc<dyn Discovery>>,
    advert: Mutex<Advert>,
}

impl Net {
    /// The local address the endpoint listens on.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.endpoint.local_addr().ok()
    }

    /// Re-announces this device with a pairing offer's nameplate, or none.
    pub fn announce_pairing(&self, nameplate: Option<u16>) {
        let mut advert = self.advert.lock().unwrap_or_else(|p| p.into_inner());
        advert.pairing = nameplate;
        if let Some(discovery) = &self.discovery {
            if let Err(e) = discovery.publish(&advert) {
                tracing::warn!(error = %format!("{e:#}"), "could not announce the pairing offer");
            }
        }
    }

    /// Dials `addr`, expecting `expect`, for `alpn`.
    pub async fn connect(&self, addr: SocketAddr, expect: Expect, alpn: &[u8]) -> Result<quinn::Connection> {
        let config = self.tls.client_config(expect, alpn)?;
        let connecting = self
            .endpoint
            .connect_with(config, addr, SERVER_NAME)
            .with_context(|| format!("cannot connect to {addr}"))?;
        tokio::time::timeout(DIAL_TIMEOUT, connecting)
            .await
            .map_err(|_| NoAnswer(addr))?
            .with_context(|| format!("connection to {addr} failed"))
    }
}

/// Starts the endpoint and its tasks; returns once they are running.
pub async fn start(daemon: &Daemon, config: &NetConfig, discovery: Option<Arc<dyn Discovery>>) -> Result<Arc<Net>> {
    daemon.refresh_trust();
    let tls = daemon
        .with_transport_key(|key| Tls::new(key, daemon.trust().clone()))
        .ok_or_else(|| anyhow!("no device identity yet"))??;
    let me = daemon
        .vault()
        .device_id()
        .ok_or_else(|| anyhow!("no device identity yet"))?;
    let endpoint = transport::endpoint(&tls, config.listen)?;
    let port = endpoint.local_addr().context("the endpoint has no address")?.port();
    let advert = Advert {
        device: me,
        household_tag: daemon.household_tag(),
        port,
        pairing: None,
    };
    if let Some(discovery) = &discovery {
        discovery.publish(&advert).context("failed to announce this device")?;
    }
    let net = Arc::new(Net {
        endpoint,
        tls,
        discovery: discovery.clone(),
        advert: Mutex::new(advert),
    });
    tracing::info!(addr = %net.local_addr().map(|a| a.to_string()).unwrap_or_default(), "listening for peers");

    tokio::spawn(accept_loop(daemon.clone(), net.clone()));
    for target in &config.peers {
        tokio::spawn(dial_static(daemon.clone(), net.clone(), target.clone()));
    }
    if let Some(discovery) = discovery {
        tokio::spawn(discovered(daemon.clone(), net.clone(), discovery, me));
    }
    Ok(net)
}

async fn accept_loop(daemon: Daemon, net: Arc<Net>) {
    loop {
        let incoming = tokio::select! {
            incoming = net.endpoint.accept() => match incoming {
                Some(incoming) => incoming,
                None => return,
            },
            _ = daemon.stopped() => return,
        };
        let daemon = daemon.clone();
        let net = net.clone();
        tokio::spawn(async move {
            let remote = incoming.remote_address();
            let conn = match tokio::time::timeout(CONNECT_TIMEOUT, incoming).await {
                Ok(Ok(conn)) => conn,
                Ok(Err(e)) => return tracing::debug!(%remote, error = %e, "refused a connection"),
                Err(_) => return tracing::debug!(%remote, "a handshake timed out"),
            };
            let alpn = conn
                .handshake_data()
                .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
                .and_then(|d| d.protocol);
            let key = transport::peer_key(&conn);
            let member = key.and_then(|k| daemon.trust().member(&k));
            match (alpn.as_deref(), key, member) {
                (Some(ALPN_SYNC), _, Some(_)) => {
                    crate::sync::run(daemon, conn, Via::Incoming).await;
                }
                (Some(ALPN_PAIR), Some(_), _) => crate::pairing::sponsor(daemon, net, conn).await,
                (Some(ALPN_SYNC), Some(key), None) if daemon.trust().revoked(&key).is_some() => {
                    if let Some(device) = daemon.trust().revoked(&key) {
                        crate::removed::tell(daemon, conn, device).await;
                    }
                }
                _ => {
                    tracing::debug!(%remote, "refused a connection that is neither a member's sync nor a pairing");
                    conn.close(2u32.into(), b"not a member");
                }
            }
        });
    }
}

/// Sleeps `delay`, or less if the daemon stops. `false` if it stopped.
async fn pause(daemon: &Daemon, delay: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => true,
        _ = daemon.stopped() => false,
    }
}

/// Keeps a session with the peer at `target` (`host:port`) up: redials one
/// that does not answer every [`UNANSWERED_PAUSE`], and backs off from one
/// that refuses.
async fn dial_static(daemon: Daemon, net: Arc<Net>, target: String) {
    let mut backoff = FIRST_BACKOFF;
    let mut known: Option<DeviceId> = None;
    loop {
        // A device told it was removed has no one left to sync with (for
        // as long as it is: its records may yet restore it).
        if daemon.removed().is_some() {
            if !pause(&daemon, MAX_BACKOFF).await {
                return;
            }
            continue;
        }
        if known.is_some_and(|id| daemon.peers().is_connected(&id)) {
            if !pause(&daemon, Duration::from_secs(1)).await {
                return;
            }
            continue;
        }
        // Resolved again at every dial, so a name whose address changed
        // (a dynamic DNS name, a VPN address) is followed without a restart.
        let v4 = net.local_addr().is_none_or(|a| a.is_ipv4());
        let addr = match tokio::net::lookup_host(&target).await {
            Ok(addrs) => {
                let addrs: Vec<SocketAddr> = addrs.collect();
                let fits = addrs.iter().copied().find(|a| a.is_ipv4() == v4);
                if fits.is_none() && !addrs.is_empty() {
                    tracing::warn!(peer = %target, "a static peer resolves only to IPv{} addresses and this endpoint listens on IPv{}: set --listen to match", if v4 { 6 } else { 4 }, if v4 { 4 } else { 6 });
                }
                fits
            }
            Err(e) => {
                tracing::debug!(peer = %target, error = %e, "cannot resolve a static peer");
                None
            }
        };
        // Unless the peer took a session or did not answer at all, it (or
        // the name) refused: back off.
        let mut refused = true;
        if let Some(addr) = addr {
            match net.connect(addr, Expect::AnyMember, ALPN_SYNC).await {
                Ok(conn) => {
                    known = transport::peer_key(&conn).and_then(|k| daemon.trust().member(&k));
                    // The client's side of the handshake completes before
                    // the server has checked our key: only a session that
                    // got past the hellos shows the peer takes us.
                    if crate::sync::run(daemon.clone(), conn, Via::Static).await {
                        backoff = FIRST_BACKOFF;
                        refused = false;
                    }
                }
                Err(e) if e.is::<NoAnswer>() => {
                    tracing::debug!(peer = %target, "static peer did not answer");
                    refused = false;
                }
                Err(e) => tracing::debug!(peer = %target, error = %format!("{e:#}"), "static peer unreachable"),
            }
        }
        let wait = if refused {
            let wait = backoff;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            wait
        } else {
            UNANSWERED_PAUSE.min(backoff)
        };
        if !pause(&daemon, wait).await {
            return;
        }
    }
}

/// Dials household members that discovery finds, when not connected yet.
async fn discovered(daemon: Daemon, net: Arc<Net>, discovery: Arc<dyn Discovery>, me: DeviceId) {
    let mut found = discovery.subscribe();
    let dialing: Arc<Mutex<HashSet<DeviceId>>> = Arc::default();
    loop {
        let peer: Found = tokio::select! {
            peer = found.recv() => match peer {
                Some(peer) => peer,
                None => return,
            },
            _ = daemon.stopped() => {
                discovery.shutdown();
                return;
            }
        };
        let ours = daemon.household_tag();
        if peer.device == me
            || daemon.removed().is_some()
            || peer.household_tag.is_none()
            || peer.household_tag != ours
            || !daemon.trust().is_member(&peer.device)
            || daemon.peers().is_connected(&peer.device)
            || !dialing.lock().unwrap_or_else(|p| p.into_inner()).insert(peer.device)
        {
            continue;
        }
        let (daemon, net, dialing) = (daemon.clone(), net.clone(), dialing.clone());
        tokio::spawn(async move {
            let v4 = net.local_addr().is_some_and(|a| a.is_ipv4());
            for addr in peer.addrs.iter().filter(|a| a.is_ipv4() == v4) {
                match net.connect(*addr, Expect::Member(peer.device), ALPN_SYNC).await {
                    Ok(conn) => {
                        crate::sync::run(daemon.clone(), conn, Via::Mdns).await;
                        break;
                    }
                    Err(e) => {
                        tracing::debug!(peer = %peer.device.short(), %addr, error = %format!("{e:#}"), "discovered peer unreachable")
                    }
                }
            }
            dialing.lock().unwrap_or_else(|p| p.into_inner()).remove(&peer.device);
        });
    }
}
