//! One sync session with one peer, over one QUIC bidirectional stream.
//!
//! `Hello` each way (protocol, device, household, version vector, wall
//! clock); then each side sends what the other lacks, in HLC order (causal);
//! then every record this daemon admits is pushed as soon as it is durable.
//! Frames are length-prefixed postcard, at most 1 MiB. Anything oversized,
//! malformed or refused by the ledger ends the session with a log line; the
//! daemon carries on, and the peer may reconnect and resync.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use authsync_proto::ids::{DeviceId, RecordId};
use authsync_proto::wire::{self, Frame, SYNC_PROTOCOL};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use crate::daemon::Daemon;
use crate::peers::Via;

/// How long a peer has to say hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Writes one frame.
pub async fn write_frame<T: Serialize>(send: &mut quinn::SendStream, frame: &T) -> Result<()> {
    let bytes = wire::encode(frame)?;
    send.write_all(&bytes).await.context("failed to send a frame")?;
    Ok(())
}

/// Reads one frame, refusing an oversized one before reading its body.
pub async fn read_frame<T: DeserializeOwned>(recv: &mut quinn::RecvStream) -> Result<T> {
    let mut prefix = [0u8; 4];
    recv.read_exact(&mut prefix).await.context("the stream ended")?;
    let len = wire::frame_len(prefix)?;
    let mut body = vec![0u8; len];
    recv.read_exact(&mut body)
        .await
        .context("the stream ended inside a frame")?;
    Ok(wire::decode(&body)?)
}

fn note(vv: &mut BTreeMap<DeviceId, u64>, origin: DeviceId, seq: u64) {
    let held = vv.entry(origin).or_insert(0);
    *held = (*held).max(seq);
}

/// Sends the peer everything it lacks according to `their_vv`.
async fn send_missing(
    daemon: &Daemon,
    send: &mut quinn::SendStream,
    their_vv: &mut BTreeMap<DeviceId, u64>,
) -> Result<()> {
    let missing = daemon.missing_for(their_vv);
    if missing.is_empty() {
        return Ok(());
    }
    for record in &missing {
        note(their_vv, record.id.origin, record.id.seq);
    }
    for frame in wire::record_frames(&missing) {
        write_frame(send, &frame).await?;
    }
    tracing::debug!(records = missing.len(), "sent what the peer lacked");
    Ok(())
}

/// Runs a session on an established connection until it ends, and logs how
/// it ended: an ordinary disconnection at INFO, anything the peer got wrong
/// at WARN. Returns whether the session got past the hellos (callers that
/// redial back off unless it did).
pub async fn run(daemon: Daemon, conn: quinn::Connection, via: Via) -> bool {
    let Some(peer) = crate::transport::peer_key(&conn).and_then(|key| daemon.trust().member(&key)) else {
        conn.close(2u32.into(), b"no key");
        return false;
    };
    let mut synced = false;
    let result = session(&daemon, &conn, via, peer, &mut synced).await;
    match &result {
        Ok(()) => tracing::info!(peer = %peer.short(), "sync ended"),
        Err(e) if is_disconnection(&conn, e) => {
            tracing::info!(peer = %peer.short(), error = %format!("{e:#}"), "sync ended")
        }
        Err(e) => {
            conn.close(1u32.into(), b"protocol error");
            tracing::warn!(peer = %peer.short(), error = %format!("{e:#}"), "sync ended with an error");
        }
    }
    synced
}

/// Whether `e` is the connection going away (closed, lost, timed out, the
/// stream finished between frames) rather than a peer breaking the rules.
fn is_disconnection(conn: &quinn::Connection, e: &anyhow::Error) -> bool {
    conn.close_reason().is_some()
        || e.chain().any(|cause| {
            matches!(
                cause.downcast_ref::<quinn::ReadExactError>(),
                Some(quinn::ReadExactError::FinishedEarly(0) | quinn::ReadExactError::ReadError(_))
            ) || matches!(
                cause.downcast_ref::<quinn::WriteError>(),
                Some(quinn::WriteError::ConnectionLost(_) | quinn::WriteError::Stopped(_))
            ) || cause.downcast_ref::<quinn::ConnectionError>().is_some()
        })
}

async fn session(daemon: &Daemon, conn: &quinn::Connection, via: Via, peer: DeviceId, synced: &mut bool) -> Result<()> {
    let dialer = via != Via::Incoming;
    let (mut send, mut recv) = if dialer {
        conn.open_bi().await.context("failed to open the sync stream")?
    } else {
        tokio::time::timeout(HELLO_TIMEOUT, conn.accept_bi())
            .await
            .context("the peer opened no sync stream")?
            .context("failed to accept the sync stream")?
    };
    // Subscribe before the hello, so no record written meanwhile is missed.
    let mut events = daemon.subscribe();
    let hello = daemon.hello().context("no household to sync")?;
    let household = hello.household;
    let hello_device = hello.device;
    write_frame(&mut send, &Frame::Hello(hello)).await?;
    let theirs = match tokio::time::timeout(HELLO_TIMEOUT, read_frame::<Frame>(&mut recv))
        .await
        .context("no hello from the peer")??
    {
        Frame::Hello(hello) => hello,
        Frame::Records(_) => bail!("the peer sent records before its hello"),
        Frame::Evidence(_) => bail!("the peer sent evidence before its hello"),
        Frame::Removed(record) => {
            if daemon.learn_removed(&record, peer) {
                conn.close(0u32.into(), b"removed");
                return Ok(());
            }
            bail!("the peer refused this device with a removal notice that does not hold");
        }
    };
    if theirs.protocol != SYNC_PROTOCOL {
        bail!(
            "the peer speaks sync protocol {} and this device {SYNC_PROTOCOL}: update authsync on the older one",
            theirs.protocol
        );
    }
    if theirs.device != peer {
        bail!("the peer's hello names another device than its key");
    }
    if theirs.household != household {
        bail!("the peer belongs to another household");
    }
    let Some(_session) = daemon.peers().register(peer, conn, via, theirs.wall_ms) else {
        conn.close(0u32.into(), b"duplicate connection");
        return Ok(());
    };
    *synced = true;
    // Records a relay passes on reached this device through it (`devices`).
    let from_relay = daemon
        .vault()
        .ledger()
        .household()
        .and_then(|h| h.members.get(&peer))
        .is_some_and(|m| m.info.is_relay());
    tracing::info!(peer = %peer.short(), addr = %conn.remote_address(), "syncing");

    // Frames are read in their own task: a read cancelled halfway by the
    // select below would lose bytes.
    let (frames_tx, mut frames) = mpsc::channel::<Result<Frame>>(4);
    let reader = tokio::spawn(async move {
        loop {
            let frame = read_frame::<Frame>(&mut recv).await;
            let failed = frame.is_err();
            if frames_tx.send(frame).await.is_err() || failed {
                return;
            }
        }
    });
    let me = hello_device;
    let result = async {
        let mut their_vv = theirs.version_vector;
        // Origins whose records had to wait in this session.
        let mut waiting = std::collections::BTreeSet::new();
        // Where we hold a different record than their head: a fork.
        for (origin, seq, hash) in &theirs.heads {
            if let Some(ours) = daemon.evidence_against(RecordId { origin: *origin, seq: *seq }, hash) {
                tracing::warn!(peer = %peer.short(), origin = %origin.short(), seq, "two histories of one device: sending evidence");
                write_frame(&mut send, &Frame::Evidence(ours)).await?;
            }
        }
        send_missing(daemon, &mut send, &mut their_vv).await?;
        daemon.peers().written(&peer, their_vv.get(&me).copied().unwrap_or(0));
        loop {
            tokio::select! {
                frame = frames.recv() => match frame {
                    None => return Ok(()),
                    Some(Err(e)) => return Err(e),
                    Some(Ok(Frame::Hello(_))) => bail!("the peer sent a second hello"),
                    Some(Ok(Frame::Removed(_))) => bail!("the peer sent a removal notice after its hello"),
                    Some(Ok(Frame::Evidence(evidence))) => {
                        let id = evidence.id;
                        if daemon.prove_fork(evidence).await? {
                            tracing::warn!(peer = %peer.short(), origin = %id.origin.short(), seq = id.seq, "a device signed two histories: its records from the fork on are refused");
                            // Our side of it, so the peer holds the proof too.
                            if let Some(ours) = daemon.record(&id) {
                                write_frame(&mut send, &Frame::Evidence(ours)).await?;
                            }
                        }
                    }
                    Some(Ok(Frame::Records(records))) => {
                        for record in &records {
                            note(&mut their_vv, record.id.origin, record.id.seq);
                            if from_relay {
                                daemon.peers().relayed(&record.id.origin);
                            }
                        }
                        let ingested = daemon.ingest(records, &mut waiting).await?;
                        daemon.peers().seen(&peer);
                        for origin in &ingested.forks {
                            // The peer's chain and ours differ before what it
                            // sent: our record there is the other half.
                            let at = daemon.fork_point(origin);
                            if let Some(ours) = at.and_then(|seq| daemon.record(&RecordId { origin: *origin, seq })) {
                                tracing::warn!(peer = %peer.short(), origin = %origin.short(), "a device signed two histories: its records from the fork on are refused");
                                write_frame(&mut send, &Frame::Evidence(ours)).await?;
                            }
                        }
                        if let Some((id, why)) = ingested.rejected {
                            tracing::warn!(peer = %peer.short(), record = %id, reason = %why, "refused a record from a peer");
                            bail!("the peer sent a record that was refused: {why}");
                        }
                    }
                },
                event = events.recv() => match event {
                    Ok(record) => {
                        let held = their_vv.get(&record.id.origin).copied().unwrap_or(0);
                        if held.checked_add(1) == Some(record.id.seq) {
                            note(&mut their_vv, record.id.origin, record.id.seq);
                            write_frame(&mut send, &Frame::Records(vec![(*record).clone()])).await?;
                        } else if record.id.seq > held {
                            send_missing(daemon, &mut send, &mut their_vv).await?;
                        }
                        daemon.peers().written(&peer, their_vv.get(&me).copied().unwrap_or(0));
                    }
                    Err(RecvError::Lagged(_)) => {
                        send_missing(daemon, &mut send, &mut their_vv).await?;
                        daemon.peers().written(&peer, their_vv.get(&me).copied().unwrap_or(0));
                    }
                    Err(RecvError::Closed) => return Ok(()),
                },
                _ = daemon.stopped() => {
                    conn.close(0u32.into(), b"shutting down");
                    return Ok(());
                }
            }
        }
    }
    .await;
    reader.abort();
    result
}
