//! Pairing over QUIC: the sponsor's side (an open offer, answered on the
//! `authsync-pair/1` ALPN) and the joiner's side (`authctl join CODE`).
//!
//! SPAKE2 with the one-time code as password; both sides then prove the key
//! with MACs over both TLS key fingerprints as each saw them, so a relay that
//! presents its own key to each side fails even if it knew the code. The
//! joiner's name, box key and person travel sealed under the pairing key.
//! The sponsor then writes the joiner's `Member` record, its `Person` record
//! when authority rule 10 lets it, and envelopes of every epoch key the
//! joiner will read, and welcomes it with every record it holds, entries
//! included (the joiner checks their signatures on all cores). A code works
//! once, a wrong code cancels the offer, and an offer expires.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use authsync_proto::crypto::{Sealed, SymKey};
use authsync_proto::ids::DeviceId;
use authsync_proto::pairing::{Handshake, PairingCode, PairingKey, Role, fingerprint};
use authsync_proto::record::{MemberInfo, Record, Role as MemberRole};
use authsync_proto::wire::{ALPN_PAIR, PairFrame};
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::daemon::Daemon;
use crate::network::Net;
use crate::sync::{read_frame, write_frame};
use crate::transport::{self, Expect, SERVER_NAME, Tls, Trust};
use crate::vault::Identity;

/// How long each step of the exchange may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);
const JOINER_AAD: &[u8] = b"authsync joiner v2";
/// A bound on what a sponsor may send a joiner (a household of 100,000
/// entries edited a few times each is well under it).
const MAX_WELCOME_RECORDS: usize = 2_000_000;

/// An open pairing offer.
pub struct Offer {
    pub code: PairingCode,
    pub expires: Instant,
    /// A joiner is being served: others are refused meanwhile.
    pub busy: bool,
    /// Used, or cancelled by a wrong code: never served again.
    pub spent: bool,
}

/// What the joiner tells the sponsor about itself, sealed.
#[derive(Serialize, Deserialize)]
struct JoinerDetails {
    name: String,
    signing_key: [u8; 32],
    box_key: [u8; 32],
    /// A relay joins with no box key (authority rule 9).
    role: MemberRole,
    /// Over its admission ([`MemberInfo::sign_join`]).
    signature: Vec<u8>,
    /// Whose device it is to be (authority rule 10 decides whether the
    /// sponsor can say so).
    person: Option<String>,
}

async fn step<T>(what: &str, fut: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(STEP_TIMEOUT, fut)
        .await
        .map_err(|_| anyhow!("the other device did not answer ({what})"))?
}

async fn refuse(send: &mut quinn::SendStream, why: &str) {
    let _ = write_frame(send, &PairFrame::Refused(why.to_string())).await;
    let _ = send.finish();
}

/// Serves one joiner on `conn` (sponsor side).
pub async fn sponsor(daemon: Daemon, net: Arc<Net>, conn: quinn::Connection) {
    let Some(joiner_key) = transport::peer_key(&conn) else {
        return conn.close(2u32.into(), b"no key");
    };
    // Its transport key's hash, for logs only: its device id is the hash of
    // a signing key it has not shown yet.
    let joiner = DeviceId::from_public_key(&joiner_key);
    let (mut send, mut recv) = match step("open", async { Ok(conn.accept_bi().await?) }).await {
        Ok(streams) => streams,
        Err(_) => return conn.close(2u32.into(), b"no stream"),
    };
    let first = match step("join", read_frame(&mut recv)).await {
        Ok(PairFrame::Probe { nameplate }) => {
            // A joiner looking for the offer: say whether it is here, claim nothing.
            let answer = match daemon.offer_open(nameplate) {
                Ok(()) => PairFrame::Open,
                Err(why) => PairFrame::Refused(why),
            };
            let _ = write_frame(&mut send, &answer).await;
            let _ = send.finish();
            let _ = tokio::time::timeout(Duration::from_secs(2), conn.closed()).await;
            return;
        }
        Ok(frame) => frame,
        Err(_) => return conn.close(2u32.into(), b"no join"),
    };
    match serve(&daemon, first, &mut send, &mut recv, joiner_key).await {
        Ok(()) => {
            tracing::info!(device = %joiner.short(), "paired a new device");
            let _ = send.finish();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await;
        }
        Err(Refusal { reason, cancel }) => {
            tracing::warn!(device = %joiner.short(), %reason, cancelled = cancel, "pairing refused");
            if cancel {
                daemon.offer_cancelled(&reason);
            }
            refuse(&mut send, &reason).await;
            let _ = tokio::time::timeout(Duration::from_secs(2), conn.closed()).await;
        }
    }
    // Whatever happened, a used, cancelled or expired offer is closed; a
    // refused stranger (wrong nameplate) leaves it open.
    if daemon.offer_is_spent() {
        daemon.close_offer();
        net.announce_pairing(None);
    }
}

struct Refusal {
    reason: String,
    /// The offer is cancelled (a wrong code, or it was used).
    cancel: bool,
}

fn refusal(reason: impl Into<String>, cancel: bool) -> Refusal {
    Refusal {
        reason: reason.into(),
        cancel,
    }
}

async fn serve(
    daemon: &Daemon,
    first: PairFrame,
    send: &mut quinn::SendStream,
    recv: &mut quinn::RecvStream,
    joiner_key: [u8; 32],
) -> std::result::Result<(), Refusal> {
    let PairFrame::Join { nameplate, spake } = first else {
        return Err(refusal("expected a join", false));
    };
    let code = daemon.claim_offer(nameplate).map_err(|why| refusal(why, false))?;
    // From here on the offer is claimed: any failure spends it.
    let spend = |why: String| {
        daemon.spend_offer();
        refusal(why, true)
    };
    let (handshake, ours) = Handshake::start(&mut OsRng, Role::Sponsor, &code);
    write_frame(send, &PairFrame::Spake { spake: ours })
        .await
        .map_err(|e| spend(format!("{e:#}")))?;
    let key = handshake
        .finish(&spake)
        .map_err(|_| spend("malformed pairing message".into()))?;
    let sponsor_key = daemon
        .with_transport_key(|k| k.public())
        .ok_or_else(|| spend("no identity".into()))?;
    let (sponsor, household) = {
        let vault = daemon.vault();
        let me = vault.device_id().ok_or_else(|| spend("no identity".into()))?;
        let household = vault
            .ledger()
            .household_id()
            .ok_or_else(|| spend("no household".into()))?;
        (me, household)
    };
    let (jfp, sfp) = (fingerprint(&joiner_key), fingerprint(&sponsor_key));
    write_frame(
        send,
        &PairFrame::Confirm {
            mac: key.confirmation(Role::Sponsor, &jfp, &sfp),
        },
    )
    .await
    .map_err(|e| spend(format!("{e:#}")))?;
    let PairFrame::Confirm { mac } = step("confirm", read_frame(recv))
        .await
        .map_err(|e| spend(format!("{e:#}")))?
    else {
        return Err(spend("expected a confirmation".into()));
    };
    key.check(Role::Joiner, &jfp, &sfp, &mac)
        .map_err(|_| spend("wrong pairing code; the offer is cancelled, run `authctl pair` again".into()))?;
    write_frame(send, &PairFrame::Sponsor { household, sponsor })
        .await
        .map_err(|e| spend(format!("{e:#}")))?;
    let PairFrame::Joiner { sealed } = step("details", read_frame(recv))
        .await
        .map_err(|e| spend(format!("{e:#}")))?
    else {
        return Err(spend("expected the joiner's details".into()));
    };
    let details = open_details(&key.seal_key(), &sealed).ok_or_else(|| spend("unreadable joiner details".into()))?;
    if let Err(why) = daemon.check_new_name(&details.name) {
        // The joiner proved the code: it may try again with another name.
        daemon.release_offer();
        return Err(refusal(why, false));
    }
    let member = MemberInfo {
        device: DeviceId::from_public_key(&details.signing_key),
        name: details.name,
        signing_key: details.signing_key,
        transport_key: joiner_key,
        box_key: details.box_key,
        role: details.role,
    };
    let transcript = key.transcript(&jfp, &sfp);
    let (device, name) = (member.device, member.name.clone());
    let welcome = daemon
        .sponsor(member, transcript, details.signature, details.person)
        .await
        .map_err(|e| spend(format!("{e:#}")))?;
    daemon.spend_offer();
    daemon.offer_used(device, name);
    // `PairFrame::Welcome` frames, encoded by `Vault::sponsor`.
    for frame in welcome {
        send.write_all(&frame)
            .await
            .map_err(|e| refusal(format!("failed to send a frame: {e}"), true))?;
    }
    write_frame(send, &PairFrame::WelcomeDone)
        .await
        .map_err(|e| refusal(format!("{e:#}"), true))?;
    Ok(())
}

fn seal_details(key: &SymKey, details: &JoinerDetails) -> Result<Sealed> {
    let plain = Zeroizing::new(postcard::to_stdvec(details).context("cannot encode the joiner's details")?);
    Ok(key.seal(&mut OsRng, JOINER_AAD, &plain))
}

fn open_details(key: &SymKey, sealed: &Sealed) -> Option<JoinerDetails> {
    let plain = key.open(JOINER_AAD, sealed).ok()?;
    postcard::from_bytes(&plain).ok()
}

/// The joiner's side: reaches the sponsor at `addr`, runs the exchange as
/// `identity`, and returns the household's records.
pub async fn join(identity: &Identity, code: &PairingCode, addr: SocketAddr) -> Result<Vec<Record>> {
    let (endpoint, connecting) = dial_offer(&identity.transport, addr)?;
    let conn = step("connect", async { Ok(connecting.await?) })
        .await
        .with_context(|| format!("no pairing offer answered at {addr}"))?;
    let result = exchange(identity, code, &conn).await.map_err(|e| {
        if refused_our_key(&conn) {
            anyhow!(
                "no pairing offer is open at {addr}: a code works once, a wrong guess cancels it, and it \
                 expires; run `authctl pair` on the other device again and use the new code"
            )
        } else {
            e
        }
    });
    conn.close(0u32.into(), b"done");
    drain(endpoint);
    result
}

/// A client endpoint of its own, dialling the pairing offer at `addr` as
/// `key` (which the offer takes from anyone: the code authenticates).
fn dial_offer(
    key: &authsync_proto::crypto::DeviceKey,
    addr: SocketAddr,
) -> Result<(quinn::Endpoint, quinn::Connecting)> {
    let tls = Tls::new(key, Arc::new(Trust::default()))?;
    let bind: SocketAddr = if addr.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }
        .parse()
        .context("bind address")?;
    let endpoint = quinn::Endpoint::client(bind).context("cannot open a UDP socket")?;
    let connecting = endpoint
        .connect_with(tls.client_config(Expect::Anyone, ALPN_PAIR)?, addr, SERVER_NAME)
        .with_context(|| format!("cannot connect to {addr}"))?;
    Ok((endpoint, connecting))
}

/// Lets `endpoint` finish closing (its close frames resent if lost, until
/// the connection is drained) in the background: the caller does not wait
/// for it. Waiting held a join's welcome for ~85 ms (three probe timeouts)
/// before the new vault could be written (issue 15, BENCHMARKS.md).
fn drain(endpoint: quinn::Endpoint) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(5), endpoint.wait_idle()).await;
    });
}

/// Whether the offer numbered `nameplate` is open at `addr`: `Ok(())`, or
/// why not (nothing answered, no offer open, another one, spent). Claims
/// nothing and uses a throwaway key.
pub async fn probe(addr: SocketAddr, nameplate: u16) -> Result<()> {
    let key = authsync_proto::crypto::DeviceKey::generate(&mut OsRng);
    let (endpoint, connecting) = dial_offer(&key, addr)?;
    let asked = async {
        let conn = tokio::time::timeout(Duration::from_secs(3), connecting)
            .await
            .map_err(|_| anyhow!("nothing answered at {addr}"))?
            .map_err(|_| anyhow!("nothing answered at {addr}"))?;
        let answer = async {
            let (mut send, mut recv) = conn.open_bi().await?;
            write_frame(&mut send, &PairFrame::Probe { nameplate }).await?;
            step("probe", read_frame::<PairFrame>(&mut recv)).await
        }
        .await;
        let result = match answer {
            Ok(PairFrame::Open) => Ok(()),
            Ok(PairFrame::Refused(why)) => Err(anyhow!("{addr}: {why}")),
            Ok(_) => Err(anyhow!("{addr} answered out of turn")),
            Err(_) if refused_our_key(&conn) => Err(anyhow!(
                "no pairing offer is open at {addr} (a code works once, a wrong guess cancels it, and it expires)"
            )),
            Err(e) => Err(e.context(format!("{addr} did not answer"))),
        };
        conn.close(0u32.into(), b"done");
        result
    };
    let result = asked.await;
    drain(endpoint);
    result
}

/// Whether the sponsor ended the connection at its TLS check of our key,
/// which it does whenever no offer is open (used, cancelled or expired).
/// Our side of the handshake finishes first, so that shows only now.
fn refused_our_key(conn: &quinn::Connection) -> bool {
    match conn.close_reason() {
        Some(quinn::ConnectionError::ConnectionClosed(close)) => {
            // TLS alerts travel as QUIC's CRYPTO_ERROR codes, 0x100 + alert.
            (0x100..=0x1ff).contains(&u64::from(close.error_code))
        }
        _ => false,
    }
}

async fn exchange(identity: &Identity, code: &PairingCode, conn: &quinn::Connection) -> Result<Vec<Record>> {
    let sponsor_key = transport::peer_key(conn).context("the sponsor presented no key")?;
    let (mut send, mut recv) = conn.open_bi().await.context("cannot open the pairing stream")?;
    let refused = |frame: PairFrame| match frame {
        PairFrame::Refused(why) => anyhow!("the other device refused: {why}"),
        _ => anyhow!("the other device answered out of turn"),
    };
    let started = Instant::now();
    let (handshake, ours) = Handshake::start(&mut OsRng, Role::Joiner, code);
    write_frame(
        &mut send,
        &PairFrame::Join {
            nameplate: code.nameplate,
            spake: ours,
        },
    )
    .await?;
    let theirs = match step("spake", read_frame(&mut recv)).await? {
        PairFrame::Spake { spake } => spake,
        other => return Err(refused(other)),
    };
    let key: PairingKey = handshake
        .finish(&theirs)
        .map_err(|_| anyhow!("the other device sent a malformed message"))?;
    let (jfp, sfp) = (fingerprint(&identity.transport.public()), fingerprint(&sponsor_key));
    write_frame(
        &mut send,
        &PairFrame::Confirm {
            mac: key.confirmation(Role::Joiner, &jfp, &sfp),
        },
    )
    .await?;
    match step("confirm", read_frame(&mut recv)).await? {
        PairFrame::Confirm { mac } => key.check(Role::Sponsor, &jfp, &sfp, &mac).map_err(|_| {
            anyhow!("the pairing code did not match (or the connection was intercepted); the offer is now cancelled, run `authctl pair` again")
        })?,
        other => return Err(refused(other)),
    }
    let (household, sponsor) = match step("sponsor", read_frame(&mut recv)).await? {
        PairFrame::Sponsor { household, sponsor } => (household, sponsor),
        other => return Err(refused(other)),
    };
    let details = JoinerDetails {
        name: identity.name.clone(),
        signing_key: identity.signing.public(),
        box_key: identity.member_info().box_key,
        role: identity.role,
        signature: identity.member_info().sign_join(
            &identity.signing,
            &household,
            &sponsor,
            &key.transcript(&jfp, &sfp),
        ),
        person: identity.person.clone(),
    };
    write_frame(
        &mut send,
        &PairFrame::Joiner {
            sealed: seal_details(&key.seal_key(), &details)?,
        },
    )
    .await?;
    tracing::debug!(ms = started.elapsed().as_millis(), "joining: details sent");
    let mut records = Vec::new();
    loop {
        match step("welcome", read_frame(&mut recv)).await? {
            PairFrame::Welcome(batch) => {
                if records.is_empty() {
                    tracing::debug!(ms = started.elapsed().as_millis(), "joining: first welcome frame");
                }
                records.extend(batch);
                if records.len() > MAX_WELCOME_RECORDS {
                    return Err(anyhow!("the other device sent more records than any household holds"));
                }
            }
            PairFrame::WelcomeDone => {
                tracing::debug!(
                    ms = started.elapsed().as_millis(),
                    records = records.len(),
                    "joining: welcome received"
                );
                return Ok(records);
            }
            other => return Err(refused(other)),
        }
    }
}
