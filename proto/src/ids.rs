//! Identifiers: devices, households, entries, epochs and records.
//!
//! A device id is the SHA-256 of the device's Ed25519 public key, so a peer
//! that proves possession of the key proves its id. Ids print as lowercase
//! base32 groups, short enough to read aloud and to type a prefix of.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Lowercase RFC 4648 base32 without padding, the form ids are shown in.
fn encode(bytes: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(bytes).to_ascii_lowercase()
}

/// An id could not be read from text.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a valid {0} id")]
pub struct BadId(&'static str);

fn decode<const N: usize>(kind: &'static str, s: &str) -> Result<[u8; N], BadId> {
    let cleaned: String = s
        .chars()
        .filter(|c| *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let bytes = data_encoding::BASE32_NOPAD
        .decode(cleaned.as_bytes())
        .map_err(|_| BadId(kind))?;
    bytes.try_into().map_err(|_| BadId(kind))
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $len:expr, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&encode(&self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($kind, "({})"), self.short())
            }
        }

        impl FromStr for $name {
            type Err = BadId;
            fn from_str(s: &str) -> Result<Self, BadId> {
                decode::<$len>($kind, s).map($name)
            }
        }

        impl $name {
            /// The first 8 characters of the id: enough to tell ids apart in a
            /// household, and what listings show.
            pub fn short(&self) -> String {
                let mut s = encode(&self.0);
                s.truncate(8);
                s
            }
        }
    };
}

id_type!(
    /// A device: SHA-256 of its Ed25519 public key.
    DeviceId, 32, "device"
);
id_type!(
    /// A household: random, fixed by its `Genesis` record.
    HouseholdId, 16, "household"
);
id_type!(
    /// An entry (one account's secret, across all its versions): random.
    EntryId, 16, "entry"
);
id_type!(
    /// An epoch of a collection's key: random.
    EpochId, 16, "epoch"
);
id_type!(
    /// A collection of entries (who may read them): `shared`, a person's
    /// own, or a named one (random).
    CollectionId, 16, "collection"
);

impl CollectionId {
    /// `shared`: every person of the household, unless its membership was
    /// changed. Format 2's epochs are all of it.
    pub const SHARED: CollectionId = CollectionId([0; 16]);

    /// The personal collection of `person`: derived from the name, so every
    /// device agrees on it without a record.
    pub fn personal(person: &str) -> CollectionId {
        let digest = Sha256::new()
            .chain_update(b"authsync personal collection\0")
            .chain_update(person.as_bytes())
            .finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        CollectionId(id)
    }
}

impl DeviceId {
    /// The id of the device whose Ed25519 public key is `public_key`.
    pub fn from_public_key(public_key: &[u8; 32]) -> Self {
        DeviceId(Sha256::digest(public_key).into())
    }
}

impl HouseholdId {
    /// A short tag for mDNS TXT records: enough to tell households apart on
    /// one LAN without publishing the id itself.
    pub fn tag(&self) -> String {
        let digest = Sha256::new()
            .chain_update(b"authsync household tag")
            .chain_update(self.0)
            .finalize();
        encode(&digest[..5])
    }
}

/// One record: the `seq`-th record written by device `origin`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RecordId {
    /// The device that wrote and signed the record.
    pub origin: DeviceId,
    /// 1, 2, 3… per origin, with no gaps.
    pub seq: u64,
}

impl fmt::Debug for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.origin.short(), self.seq)
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let id = DeviceId([7; 32]);
        assert_eq!(id.to_string().parse::<DeviceId>(), Ok(id));
        let e = EntryId([200; 16]);
        assert_eq!(e.to_string().to_uppercase().parse::<EntryId>(), Ok(e));
        assert!("not-an-id".parse::<EntryId>().is_err());
        assert!(DeviceId([1; 32]).to_string().parse::<EntryId>().is_err());
    }
}
