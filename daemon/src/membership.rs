//! The household requests that involve other devices: `pair` and `join`
//! (the exchange itself is in `pairing.rs`), `devices`, and `status` with
//! its peers.

use std::time::{Duration, Instant};

use authsync_proto::ids::DeviceId;
use authsync_proto::ipc::{
    DeviceInfo, ErrorCode, ExposedEntry, Exposure, IpcError, PairingReply, RecentAct, Reply, RevokePlan, WireSecret,
};
use authsync_proto::pairing::PairingCode;
use authsync_proto::record::{Body, MemberInfo};
use rand::rngs::OsRng;

use crate::daemon::{Daemon, bad, new_kek};
use crate::handlers::{self, internal, not_initialized};
use crate::pairing::{self, Offer};
use crate::vault::{Identity, Vault};

/// How long a pairing offer stays open by default.
const DEFAULT_OFFER_TTL: Duration = Duration::from_secs(300);
/// How long `pair` waits for the network to start (just after `init` or
/// `join`, it is still starting).
const NET_START_WAIT: Duration = Duration::from_secs(10);
/// How long `join` looks for the offer on the network.
const FIND_OFFER_TIMEOUT: Duration = Duration::from_secs(10);

type Result<T> = std::result::Result<T, IpcError>;

fn failed(message: String) -> IpcError {
    IpcError::new(ErrorCode::Internal, message)
}

impl Daemon {
    fn offer(&self) -> std::sync::MutexGuard<'_, Option<Offer>> {
        self.0.offer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The reply to `status`.
    pub fn status(&self, vault: &Vault) -> Reply {
        let mut reply = handlers::status(vault, self.auto_lock_secs());
        if let Reply::Status(status) = &mut reply {
            status.listen = self.0.net.get().and_then(|n| n.local_addr()).map(|a| a.to_string());
            status.peers_online = self.peers().snapshot().values().filter(|s| s.connected).count();
            status.removed = self.removed().map(Box::new);
        }
        reply
    }

    /// The reply to `devices`.
    pub fn devices(&self, vault: &Vault) -> Reply {
        let me = vault.device_id();
        let seen = self.peers().snapshot();
        let mut devices: Vec<DeviceInfo> = vault
            .ledger()
            .household()
            .map(|h| {
                h.members
                    .values()
                    .map(|m| {
                        let peer = seen.get(&m.info.device);
                        DeviceInfo {
                            id: m.info.device.to_string(),
                            name: m.info.name.clone(),
                            person: m.person.clone(),
                            this_device: Some(m.info.device) == me,
                            revoked: m.revoked_after.is_some() || m.voided,
                            left: left(vault, &m.info.device),
                            forked: m.forked_at.is_some(),
                            quota_warning: quota_warning(vault.ledger().usage(&m.info.device)),
                            online: peer.is_some_and(|p| p.connected),
                            last_seen_ms: peer.map(|p| p.last_seen_ms),
                            addr: peer.map(|p| p.addr.to_string()),
                            reached: self.peers().reached(&m.info.device).map(str::to_string),
                            role: Some(m.info.role.as_str().to_string()),
                            clock_skew_ms: peer.map(|p| p.skew_ms),
                            sent_bytes: peer.and_then(|p| p.bytes).map(|b| b.0),
                            received_bytes: peer.and_then(|p| p.bytes).map(|b| b.1),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        devices.sort_by(|a, b| (!a.this_device, &a.name).cmp(&(!b.this_device, &b.name)));
        Reply::Devices(devices)
    }

    /// Revokes the device `query` names, its records that reached this
    /// device at or after `lost_since_ms` voided (with every device they
    /// admitted); replies with what each could read. With `preview`, only
    /// says what it would do.
    pub fn revoke(&self, query: &str, lost_since_ms: Option<u64>, preview: bool) -> Result<Reply> {
        let (target, cascade) = {
            let mut vault = self.vault();
            let target = resolve_device(&vault, query)?;
            let household = vault.ledger().household().ok_or_else(not_initialized)?;
            if Some(target) == vault.device_id() {
                return Err(bad(
                    "this is this device; to leave the household, run it from another member",
                ));
            }
            if household
                .members
                .get(&target)
                .is_some_and(|m| m.limit().is_some() && m.forked_at.is_none())
            {
                return Err(bad(
                    "that device is revoked already; `authctl exposed` lists what it could read",
                ));
            }
            let arrivals = vault.arrivals(&target).map_err(internal)?;
            let held = vault.ledger().version_vector().get(&target).copied().unwrap_or(0);
            let cap = match lost_since_ms {
                None => held,
                Some(since) => cap_before(&arrivals, since).min(held),
            };
            let cascade = authsync_proto::authority::cascade(household, target, cap);
            if preview {
                return Ok(Reply::RevokePlan(plan(&vault, target, cap, held, &arrivals, &cascade)));
            }
            if vault.unlocked().is_none() {
                return Err(IpcError::new(
                    ErrorCode::Locked,
                    "the vault is locked; run `authctl unlock`",
                ));
            }
            vault.revoke(target, Some(cap)).map_err(internal)?;
            (target, cascade)
        };
        self.refresh_trust();
        tracing::info!(device = %target.short(), cascade = cascade.len(), "revoked a device");
        let vault = self.vault();
        self.exposure(&vault, std::iter::once(target).chain(cascade).collect(), false)
    }

    /// This device leaves: a `Revoke` of itself is sent to the others, then
    /// the daemon stops and its data dir is deleted.
    pub async fn leave(&self) -> Result<Reply> {
        let seq = {
            let mut vault = self.vault();
            let household = vault.ledger().household().ok_or_else(not_initialized)?;
            let current = household.current_members().count();
            if current <= 1 {
                return Err(bad(
                    "this is the household's only device: leaving would delete every entry for good; pair another device first",
                ));
            }
            if !self.peers().snapshot().values().any(|p| p.connected) {
                return Err(IpcError::new(
                    ErrorCode::Internal,
                    "no other device of the household is online to hear of it; run `authctl leave` while another one is running",
                ));
            }
            vault.leave().map_err(internal)?
        };
        // Wait until the news was handed to a peer, then give it time to land.
        let sent = async {
            while !self.peers().any_was_sent(seq) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(10), sent).await.is_err() {
            return Err(failed(
                "this device revoked itself, but no peer took the news within 10 s; its vault is kept: run `authctl leave` again with another device online".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.0.wipe.store(true, std::sync::atomic::Ordering::SeqCst);
        let daemon = self.clone();
        tokio::spawn(async move {
            // Let the reply go out first.
            tokio::time::sleep(Duration::from_millis(200)).await;
            daemon.stop();
        });
        tracing::info!("left the household; the vault will be deleted");
        Ok(Reply::Done)
    }

    /// The exposure reports of revoked devices (one, or all), and of
    /// current devices that could read entries they read no more (their
    /// person removed from a collection, or the entry unshared).
    pub fn exposed(&self, vault: &Vault, query: Option<&str>) -> Result<Reply> {
        let household = vault.ledger().household().ok_or_else(not_initialized)?;
        let (out, current): (Vec<_>, Vec<_>) = match query {
            Some(query) => {
                let device = resolve_device(vault, query)?;
                if household.is_current_member(&device) {
                    (vec![], vec![device])
                } else {
                    (vec![device], vec![])
                }
            }
            None => household
                .members
                .values()
                .filter(|m| Some(m.info.device) != vault.device_id())
                .map(|m| m.info.device)
                .partition(|d| !household.is_current_member(d)),
        };
        let Reply::Exposure(mut reports) = self.exposure(vault, out, false)? else {
            return Err(internal(anyhow::anyhow!("an exposure report of another kind")));
        };
        let Reply::Exposure(lost) = self.exposure(vault, current, true)? else {
            return Err(internal(anyhow::anyhow!("an exposure report of another kind")));
        };
        reports.extend(lost.into_iter().filter(|r| !r.entries.is_empty() || query.is_some()));
        Ok(Reply::Exposure(reports))
    }

    /// The exposure reports of `devices`; with `lost_only`, only the
    /// entries each could read and reads no more (its person removed from
    /// their collection, or the entry moved out of it).
    pub(crate) fn exposure(&self, vault: &Vault, devices: Vec<DeviceId>, lost_only: bool) -> Result<Reply> {
        let household = vault.ledger().household().ok_or_else(not_initialized)?;
        let index = &vault
            .unlocked()
            .ok_or_else(|| IpcError::new(ErrorCode::Locked, "the vault is locked; run `authctl unlock`"))?
            .index;
        let dismissed = crate::checklist::dismissed(vault);
        let reports = devices
            .into_iter()
            .filter_map(|device| household.members.get(&device))
            .map(|member| {
                // A device that left took only what it could still read:
                // live entries whose current secret it held. A revoked one
                // may be in a thief's hands: everything it ever read counts.
                let left = left(vault, &member.info.device);
                let mut entries: Vec<ExposedEntry> = index
                    .exposed_to(household, &member.info.device)
                    .into_iter()
                    .filter_map(|exposed| index.get(&exposed.entry).map(|e| (exposed, e)))
                    .filter(|(_, e)| {
                        !lost_only
                            || !e
                                .epoch()
                                .and_then(|ep| household.collection_of(&ep))
                                .is_some_and(|c| household.reads(&c, &member.info.device))
                    })
                    .map(|(exposed, e)| ExposedEntry {
                        entry: handlers::summary(Some(household), e),
                        rotated: exposed.rotated,
                    })
                    .filter(|e| !left || (!e.rotated && !e.entry.deleted))
                    .filter(|e| !dismissed.contains(&(member.info.device.to_string(), e.entry.id.clone())))
                    .collect();
                entries.sort_by_key(|e| e.entry.label().to_lowercase());
                Exposure {
                    device: member.info.device.to_string(),
                    device_name: member.info.name.clone(),
                    person: member.person.clone(),
                    left,
                    entries,
                    cascaded: member.voided,
                    revoked: !household.is_current_member(&member.info.device),
                }
            })
            .collect();
        Ok(Reply::Exposure(reports))
    }

    /// Opens a pairing offer and returns its code, once the network is up.
    pub async fn pair(&self, ttl_secs: Option<u64>) -> Result<Reply> {
        {
            let vault = self.vault();
            if !vault.is_initialized() {
                return Err(not_initialized());
            }
            if vault.is_relay() {
                return Err(bad(
                    "this device is a relay, which admits no one: run `authctl pair` on a device of the household",
                ));
            }
            if vault.unlocked().is_none() {
                return Err(IpcError::new(
                    ErrorCode::Locked,
                    "the vault is locked (a sponsor shares its keys); run `authctl unlock`",
                ));
            }
        }
        let ttl = ttl_secs.map_or(DEFAULT_OFFER_TTL, Duration::from_secs);
        if ttl.is_zero() || ttl > Duration::from_secs(3600) {
            return Err(bad("an offer lasts 1 to 3600 seconds"));
        }
        let net = self.started_net(NET_START_WAIT).await.map_err(failed)?;
        let code = PairingCode::generate(&mut OsRng);
        let reply = PairingReply {
            code: code.to_string(),
            expires_in_secs: ttl.as_secs(),
            listen: net.local_addr().map(|a| a.to_string()),
            addresses: net.local_addr().map(reachable_addrs).unwrap_or_default(),
        };
        let nameplate = code.nameplate;
        let expires = Instant::now() + ttl;
        let replaced = self
            .offer()
            .replace(Offer {
                code,
                expires,
                busy: false,
                spent: false,
            })
            .is_some_and(|old| !old.spent);
        self.offer_opened(nameplate, ttl.as_secs(), replaced);
        self.trust().set_pairing_open(true);
        net.announce_pairing(Some(nameplate));
        tracing::info!(nameplate, ttl_secs = ttl.as_secs(), "pairing offer open");
        let daemon = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(ttl) => {}
                _ = daemon.stopped() => return,
            }
            let expired = daemon.offer().as_ref().is_some_and(|o| o.expires == expires && !o.busy);
            if expired {
                daemon.close_offer();
                net.announce_pairing(None);
                daemon.offer_ended("expired", None, &format!("pairing offer {nameplate} expired unused"));
                tracing::info!(nameplate, "pairing offer expired");
            }
        });
        Ok(Reply::Pairing(reply))
    }

    /// Whether a joiner naming `nameplate` would be served now (a probe:
    /// claims nothing).
    pub fn offer_open(&self, nameplate: u16) -> std::result::Result<(), String> {
        let mut guard = self.offer();
        usable(guard.as_mut(), nameplate).map(|_| ())
    }

    /// Lets the claimed offer serve another joiner (the last one was
    /// refused after proving the code, for its name).
    pub fn release_offer(&self) {
        if let Some(offer) = self.offer().as_mut() {
            offer.busy = false;
        }
    }

    /// Claims the open offer for a joiner that named `nameplate`.
    pub fn claim_offer(&self, nameplate: u16) -> std::result::Result<PairingCode, String> {
        let mut guard = self.offer();
        let offer = usable(guard.as_mut(), nameplate)?;
        offer.busy = true;
        Ok(offer.code.clone())
    }

    /// Marks the offer used or cancelled: it will not be served again.
    pub fn spend_offer(&self) {
        if let Some(offer) = self.offer().as_mut() {
            offer.spent = true;
            offer.busy = false;
        }
    }

    /// Whether the offer is gone for good (used, cancelled or expired).
    pub fn offer_is_spent(&self) -> bool {
        self.offer()
            .as_ref()
            .is_some_and(|o| o.spent || Instant::now() >= o.expires)
    }

    /// Closes the offer: strangers are refused at the handshake again.
    pub fn close_offer(&self) {
        *self.offer() = None;
        self.trust().set_pairing_open(false);
    }

    /// Admits a joiner (sponsor side), off the async threads. Returns the
    /// welcome's frames, encoded ([`crate::vault::Vault::sponsor`]).
    pub async fn sponsor(
        &self,
        member: MemberInfo,
        transcript: [u8; 32],
        joiner_signature: Vec<u8>,
        person: Option<String>,
    ) -> anyhow::Result<Vec<Vec<u8>>> {
        let daemon = self.clone();
        let name = member.name.clone();
        let asked = person.clone();
        let (welcome, placed) = tokio::task::spawn_blocking(move || {
            daemon
                .vault()
                .sponsor(member, transcript, joiner_signature, person.as_deref())
        })
        .await
        .map_err(|e| anyhow::anyhow!("sponsoring stopped: {e}"))??;
        if let (Some(person), false) = (asked, placed) {
            tracing::info!(
                "admitted {name} as no one's device: only one of {person}'s devices can say it is {person}'s (`authctl device set-person {name} {person}` there)"
            );
        }
        self.refresh_trust();
        Ok(welcome)
    }

    /// Joins a household with `code` (joiner side).
    pub async fn join(
        &self,
        code: String,
        peer: Option<String>,
        name: String,
        passphrase: Option<WireSecret>,
        relay: bool,
        person: Option<String>,
    ) -> Result<Reply> {
        tracing::debug!("joining: asked");
        let name = name.trim().to_string();
        if let Some(person) = &person {
            authsync_proto::record::check_name(person.trim())
                .map_err(|e| bad(&format!("'{person}' is not a person name: {e}")))?;
        }
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            return Err(bad("a device name is 1 to 64 printable characters"));
        }
        match (relay, self.relay_mode()) {
            (true, false) => {
                return Err(bad(
                    "`join --relay` needs an authd started as a relay: start it with --relay (or relay = true in config.toml)",
                ));
            }
            (false, true) => {
                return Err(bad(
                    "this authd runs as a relay (--relay): join with `authctl join CODE --relay`",
                ));
            }
            (true, true) if passphrase.is_some() => {
                return Err(bad(
                    "a relay holds nothing to read and takes no passphrase: join with --relay alone",
                ));
            }
            _ => {}
        }
        if self.vault().is_initialized() {
            return Err(IpcError::new(
                ErrorCode::AlreadyInitialized,
                "this device already has a household; `join` is for a new device",
            ));
        }
        let code: PairingCode = code.parse().map_err(|e| bad(&format!("{e}")))?;
        // `authctl join` found the offer first (`find_offer`): an address
        // given is dialled as it is, not probed again.
        let addr = match &peer {
            Some(peer) => crate::offers::resolve(peer).await?,
            None => self.locate_offer(code.nameplate, None).await?,
        };
        let remember: Vec<String> = peer.iter().cloned().collect();
        let (kek, source) = new_kek(passphrase).await?;
        let mut identity = if relay {
            Identity::generate_relay(&name)
        } else {
            Identity::generate(&name)
        };
        identity.person = person.map(|p| p.trim().to_owned()).filter(|_| !relay);
        tracing::debug!("joining: dialling the sponsor");
        let records = pairing::join(&identity, &code, addr).await.map_err(|e| {
            let message = format!("{e:#}");
            let code = if message.contains("did not match") {
                ErrorCode::BadRequest
            } else if message.contains("already called") {
                ErrorCode::AlreadyExists
            } else {
                ErrorCode::Internal
            };
            IpcError::new(code, format!("pairing failed: {message}"))
        })?;
        {
            let mut vault = self.vault();
            vault
                // A sponsor given with --peer is kept and dialled at every start;
                // one found by mDNS will be found again the same way.
                .establish(identity, kek, source, records, &remember)
                .map_err(|e| internal(e.context("failed to store the household")))?;
        }
        self.refresh_trust();
        self.0.established.send_replace(true);
        crate::journal::record(
            &self.vault(),
            crate::journal::Event::new(
                "joined",
                format!("joined the household with pairing offer {}", code.nameplate),
            ),
        );
        tracing::info!(sponsor = %addr, "joined a household");
        Ok(self.status(&self.vault()))
    }

    /// Looks for the offer numbered `nameplate` with discovery.
    pub(crate) async fn find_offer(&self, nameplate: u16) -> Result<std::net::SocketAddr> {
        let discovery = self.0.discovery.get().map_err(internal)?.ok_or_else(|| {
            bad("discovery is off (--no-mdns); give the other device's address with --peer HOST:PORT")
        })?;
        let mut found = discovery.subscribe();
        let search = async {
            while let Some(peer) = found.recv().await {
                if peer.pairing == Some(nameplate) {
                    if let Some(addr) = peer.addrs.iter().find(|a| a.is_ipv4()).or(peer.addrs.first()) {
                        return Some(*addr);
                    }
                }
            }
            None
        };
        tokio::time::timeout(FIND_OFFER_TIMEOUT, search)
            .await
            .ok()
            .flatten()
            .ok_or_else(|| {
                IpcError::new(
                    ErrorCode::NotFound,
                    format!(
                        "no pairing offer numbered {nameplate} found on this network within {}s; check the code, or give --peer HOST:PORT",
                        FIND_OFFER_TIMEOUT.as_secs()
                    ),
                )
            })
    }
}

/// The open offer, if a joiner naming `nameplate` may be served by it now.
fn usable(offer: Option<&mut Offer>, nameplate: u16) -> std::result::Result<&mut Offer, String> {
    let Some(offer) = offer else {
        return Err("no pairing offer is open here; run `authctl pair` on a member device".into());
    };
    if offer.code.nameplate != nameplate {
        return Err(format!("no pairing offer numbered {nameplate} is open here"));
    }
    if offer.spent {
        return Err("that pairing code was already used; run `authctl pair` again".into());
    }
    if Instant::now() >= offer.expires {
        offer.spent = true;
        return Err("that pairing code has expired; run `authctl pair` again".into());
    }
    if offer.busy {
        return Err("another device is pairing with this offer right now".into());
    }
    Ok(offer)
}

/// The highest seq such that it and every record of the device before it
/// reached this device before `since` (Unix ms): a thief cannot backdate
/// arrival times, which only this device recorded.
fn cap_before(arrivals: &[(u64, u64)], since: u64) -> u64 {
    let mut cap = 0;
    for (seq, arrived) in arrivals {
        if *seq != cap + 1 || *arrived >= since {
            break;
        }
        cap = *seq;
    }
    cap
}

/// A warning when a device's records near or pass its quota.
fn quota_warning(used: u64) -> Option<String> {
    let quota = authsync_proto::authority::QUOTA_BYTES;
    (used >= quota / 10 * 8).then(|| {
        format!(
            "{} of the {} MiB one device may write{}",
            format_mib(used),
            quota >> 20,
            // A record as large as any may be no longer fits.
            if used + authsync_proto::record::MAX_RECORD_BYTES as u64 > quota {
                ": its further records are refused"
            } else {
                ""
            }
        )
    })
}

fn format_mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

/// What revoking `target` at `cap` would do.
fn plan(
    vault: &Vault,
    target: DeviceId,
    cap: u64,
    held: u64,
    arrivals: &[(u64, u64)],
    cascade: &std::collections::BTreeSet<DeviceId>,
) -> RevokePlan {
    let name = |d: &DeviceId| {
        vault
            .ledger()
            .household()
            .and_then(|h| h.members.get(d))
            .map_or_else(|| d.short(), |m| m.info.name.clone())
    };
    let arrived: std::collections::BTreeMap<u64, u64> = arrivals.iter().copied().collect();
    let mut recent: Vec<RecentAct> = vault
        .ledger()
        .records()
        .filter(|r| r.id.origin == target)
        .filter_map(|r| {
            let what = match &r.body {
                Body::Member { member, .. } => format!("admitted device {}", member.name),
                Body::Revoke { device, .. } if *device == target => "left the household".to_string(),
                Body::Revoke { device, .. } => format!("revoked device {}", name(device)),
                Body::Epoch { counter, .. } | Body::CollectionEpoch { counter, .. } => {
                    format!("made collection key #{counter}")
                }
                Body::Person { device, person } => format!("said device {} is {person}'s", name(device)),
                Body::Rename { device, name: new } => format!("renamed device {} to {new}", name(device)),
                Body::Collection { persons, .. } => format!("set who reads a collection: {}", persons.join(", ")),
                Body::Envelopes { .. } | Body::Entry(_) | Body::Genesis { .. } | Body::Lend(_) => return None,
            };
            Some(RecentAct {
                seq: r.id.seq,
                arrived_ms: arrived.get(&r.id.seq).copied(),
                what,
                voided: r.id.seq > cap,
            })
        })
        .collect();
    recent.sort_by_key(|a| std::cmp::Reverse(a.seq));
    recent.truncate(20);
    RevokePlan {
        device: target.to_string(),
        device_name: name(&target),
        cap,
        held,
        recent,
        cascade: cascade.iter().map(name).collect(),
    }
}

/// The member `query` names: its name (any case), or its id or an id prefix
/// of at least 4 characters.
pub(crate) fn resolve_device(vault: &Vault, query: &str) -> Result<DeviceId> {
    let household = vault.ledger().household().ok_or_else(not_initialized)?;
    let q = query.trim().to_lowercase();
    let matches: Vec<&authsync_proto::authority::Member> = household
        .members
        .values()
        .filter(|m| m.info.name.to_lowercase() == q || (q.len() >= 4 && m.info.device.to_string().starts_with(&q)))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one.info.device),
        [] => Err(IpcError::new(
            ErrorCode::NotFound,
            format!("no device of this household is called '{query}'; `authctl devices` lists them"),
        )),
        _ => Err(IpcError::new(
            ErrorCode::Ambiguous,
            format!("'{query}' names several devices; give its id from `authctl devices`"),
        )),
    }
}

/// The addresses another device can dial to reach `local`: itself when it
/// is one address; this machine's non-loopback addresses (of its family,
/// IPv4 for `0.0.0.0`) with its port when it is unspecified.
fn reachable_addrs(local: std::net::SocketAddr) -> Vec<String> {
    if !local.ip().is_unspecified() {
        return vec![local.to_string()];
    }
    let mut out: Vec<String> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|i| i.ip())
        .filter(|ip| !ip.is_loopback() && (local.is_ipv6() || ip.is_ipv4()))
        .filter(|ip| !matches!(ip, std::net::IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80))
        .map(|ip| std::net::SocketAddr::new(ip, local.port()).to_string())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Whether `device` left the household itself: a `Revoke` of itself that
/// it signed (`authctl leave`).
fn left(vault: &Vault, device: &authsync_proto::ids::DeviceId) -> bool {
    vault.ledger().records().any(|r| {
        r.id.origin == *device
            && matches!(&r.body, authsync_proto::record::Body::Revoke { device: d, .. } if d == device)
    })
}
