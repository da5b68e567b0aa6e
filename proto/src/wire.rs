//! Frames on the wire between daemons: length-prefixed postcard, at most
//! [`MAX_FRAME_BYTES`]. Pure encoding and decoding; the daemon does the I/O.
//!
//! A sync session is `Hello` each way, then each side sends the records the
//! other lacks (in HLC order, which is causal), then every new record as it
//! is written. Pairing runs its own exchange ([`PairFrame`]) on a separate
//! ALPN before the joiner is a member.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::ids::{DeviceId, HouseholdId};
use crate::record::Record;

/// The sync protocol version, in `Hello` and in mDNS TXT `v`: the record
/// format's ([`crate::record::FORMAT_VERSION`]), since the records are what
/// it carries.
pub const SYNC_PROTOCOL: u32 = crate::record::FORMAT_VERSION;

/// ALPN of sync connections between members.
pub const ALPN_SYNC: &[u8] = b"authsync/1";

/// ALPN of pairing connections (joiner not yet a member).
pub const ALPN_PAIR: &[u8] = b"authsync-pair/1";

/// The largest frame accepted, length prefix excluded.
pub const MAX_FRAME_BYTES: usize = 1 << 20;

/// One frame of a sync session.
// A frame lives only while it is written or read: the size of its largest
// variant (one record, as fork evidence) costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    /// The first frame each way.
    Hello(Hello),
    /// Records the receiver may lack, in an order it can admit them.
    Records(Vec<Record>),
    /// The sender's record where the receiver's hello showed a different
    /// one: proof that its origin signed two histories.
    Evidence(Record),
    /// Member → a device it knows was revoked, instead of a hello: the
    /// signed `Revoke` record that removed it. The session ends there; the
    /// receiver believes it only if a member it knows signed it.
    Removed(Record),
}

/// Who is speaking and what it has.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// [`SYNC_PROTOCOL`].
    pub protocol: u32,
    /// The sender.
    pub device: DeviceId,
    /// Its household.
    pub household: HouseholdId,
    /// Per origin, the highest contiguous seq it holds.
    pub version_vector: BTreeMap<DeviceId, u64>,
    /// Per origin, that last record's hash: a receiver holding a different
    /// record there answers with [`Frame::Evidence`].
    pub heads: Vec<(DeviceId, u64, crate::record::RecordHash)>,
    /// Its wall clock, Unix ms, for skew reports.
    pub wall_ms: u64,
}

/// One frame of a pairing exchange.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PairFrame {
    /// Joiner → sponsor: which offer, and the first SPAKE2 message.
    Join {
        /// The offer's nameplate (the number before the words).
        nameplate: u16,
        /// SPAKE2 message (side A).
        spake: Vec<u8>,
    },
    /// Sponsor → joiner: the second SPAKE2 message.
    Spake {
        /// SPAKE2 message (side B).
        spake: Vec<u8>,
    },
    /// Each way: proof of the shared key over both TLS key fingerprints.
    Confirm {
        /// HMAC-SHA256 (see the daemon's pairing module).
        mac: [u8; 32],
    },
    /// Sponsor → joiner, after both confirmations: the household and the
    /// sponsor the joiner signs its admission over.
    Sponsor {
        /// The household being joined.
        household: HouseholdId,
        /// The sponsor's device id (the hash of its signing key).
        sponsor: DeviceId,
    },
    /// Joiner → sponsor, sealed by the confirmed key: who is joining.
    Joiner {
        /// Nonce and ciphertext of the joiner's name, public keys and its
        /// signature over its admission.
        sealed: crate::crypto::Sealed,
    },
    /// Sponsor → joiner: some of the household's records (all of them, its
    /// new `Member` and `Epoch` records included, over as many frames as it
    /// takes), in an order the joiner can admit.
    Welcome(Vec<Record>),
    /// Sponsor → joiner: that was every record.
    WelcomeDone,
    /// Either way: the exchange is over, and why.
    Refused(String),
    /// Joiner → sponsor, instead of `Join`: is the offer with this nameplate
    /// open here? Answered `Open` or `Refused`; claims nothing, so a joiner
    /// finds the offer before it asks its user for anything.
    Probe {
        /// The offer's nameplate.
        nameplate: u16,
    },
    /// Sponsor → joiner: the offer a `Probe` named is open here.
    Open,
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// Its length prefix exceeds [`MAX_FRAME_BYTES`].
    #[error("frame of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// Not a frame of the expected kind.
    #[error("malformed frame")]
    Malformed,
}

/// Encodes a frame with its 4-byte big-endian length prefix.
pub fn encode<T: Serialize>(frame: &T) -> Result<Vec<u8>, FrameError> {
    let body = postcard::to_stdvec(frame).map_err(|_| FrameError::Malformed)?;
    if body.len() > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge(body.len()));
    }
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Reads a length prefix, refusing one over the limit before anything is
/// allocated for the body.
pub fn frame_len(prefix: [u8; 4]) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge(len));
    }
    Ok(len)
}

/// Decodes a frame body (without its prefix). Trailing bytes are an error.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    match postcard::take_from_bytes::<T>(body) {
        Ok((frame, [])) => Ok(frame),
        _ => Err(FrameError::Malformed),
    }
}

/// Splits `records` into `Records` frames that each fit the limit.
pub fn record_frames<'a>(records: impl IntoIterator<Item = &'a Record>) -> Vec<Frame> {
    record_batches(records).into_iter().map(Frame::Records).collect()
}

/// Splits `records` into batches whose frames each fit the limit.
pub fn record_batches<'a>(records: impl IntoIterator<Item = &'a Record>) -> Vec<Vec<Record>> {
    let budget = MAX_FRAME_BYTES / 2;
    let mut frames = Vec::new();
    let mut batch = Vec::new();
    let mut size = 0;
    for record in records {
        let len = record.encoded_len();
        if !batch.is_empty() && size + len > budget {
            frames.push(std::mem::take(&mut batch));
            size = 0;
        }
        size += len;
        batch.push(record.clone());
    }
    if !batch.is_empty() {
        frames.push(batch);
    }
    frames
}

/// The `PairFrame::Welcome` frames carrying `records` in order, batched as
/// [`record_batches`] batches them, each with its length prefix: the bytes
/// [`encode`] makes of each batch, made with each record encoded once and
/// no record copied (a sponsor sends every record it holds: issue 15).
pub fn welcome_frames<'a>(records: impl IntoIterator<Item = &'a Record>) -> Result<Vec<Vec<u8>>, FrameError> {
    // postcard writes a newtype variant as its index, then its value; a
    // sequence as its length, then each element: so a frame is the tag of
    // an empty `Welcome` without its zero length, the batch's length, then
    // each record's own encoding.
    let mut tag = postcard::to_stdvec(&PairFrame::Welcome(Vec::new())).map_err(|_| FrameError::Malformed)?;
    if tag.pop() != Some(0) {
        return Err(FrameError::Malformed);
    }
    let budget = MAX_FRAME_BYTES / 2;
    let mut frames = Vec::new();
    let mut body: Vec<u8> = Vec::new();
    let mut count = 0usize;
    let mut finish = |body: &mut Vec<u8>, count: &mut usize| -> Result<(), FrameError> {
        let len = postcard::to_stdvec(count).map_err(|_| FrameError::Malformed)?;
        let size = tag.len() + len.len() + body.len();
        if size > MAX_FRAME_BYTES {
            return Err(FrameError::TooLarge(size));
        }
        let mut frame = Vec::with_capacity(4 + size);
        frame.extend_from_slice(&(size as u32).to_be_bytes());
        frame.extend_from_slice(&tag);
        frame.extend_from_slice(&len);
        frame.append(body);
        frames.push(frame);
        *count = 0;
        Ok(())
    };
    for record in records {
        let start = body.len();
        body = postcard::to_extend(record, body).map_err(|_| FrameError::Malformed)?;
        if count > 0 && body.len() > budget {
            let rest = body.split_off(start);
            finish(&mut body, &mut count)?;
            body = rest;
        }
        count += 1;
    }
    if count > 0 {
        finish(&mut body, &mut count)?;
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn frames_round_trip_and_refuse_garbage() {
        let hello = Frame::Hello(Hello {
            protocol: SYNC_PROTOCOL,
            device: DeviceId([1; 32]),
            household: HouseholdId([2; 16]),
            version_vector: BTreeMap::from([(DeviceId([1; 32]), 7)]),
            heads: vec![(DeviceId([1; 32]), 7, [3; 32])],
            wall_ms: 42,
        });
        let bytes = encode(&hello).unwrap();
        let len = frame_len(bytes[..4].try_into().unwrap()).unwrap();
        assert_eq!(len, bytes.len() - 4);
        assert_eq!(decode::<Frame>(&bytes[4..]).unwrap(), hello);
        assert_eq!(decode::<Frame>(&bytes[4..bytes.len() - 1]), Err(FrameError::Malformed));
        let mut trailing = bytes[4..].to_vec();
        trailing.push(0);
        assert_eq!(decode::<Frame>(&trailing), Err(FrameError::Malformed));
        assert_eq!(decode::<Frame>(&[0xff; 16]), Err(FrameError::Malformed));
        assert!(matches!(frame_len([0xff; 4]), Err(FrameError::TooLarge(_))));
    }
}
