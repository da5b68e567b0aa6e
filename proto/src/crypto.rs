//! Keys and the three sealing operations: signing records (Ed25519), sealing
//! bodies (XChaCha20-Poly1305), and envelopes that carry an epoch key to one
//! member (ephemeral X25519, HKDF-SHA256, XChaCha20-Poly1305).
//!
//! Secret key types zeroize on drop, have no `Debug` that shows bytes, no
//! `Clone` and no `Serialize`; raw bytes come out only through `expose_*`.
//! Failures say as little as possible: `DecryptionFailed`, never which byte
//! or which key.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ed25519_dalek::Signer;
use hkdf::Hkdf;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::ids::{DeviceId, EpochId};

/// What can go wrong in this module. Deliberately uninformative.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CryptoError {
    /// A seal did not open: wrong key, or the data was changed.
    #[error("decryption failed")]
    DecryptionFailed,
    /// A signature did not verify.
    #[error("bad signature")]
    BadSignature,
    /// The key derivation function refused its parameters.
    #[error("key derivation failed")]
    Kdf,
}

/// A device's Ed25519 identity: signs its records and its TLS certificate.
pub struct DeviceKey(ed25519_dalek::SigningKey);

impl DeviceKey {
    /// A new random identity.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        DeviceKey(ed25519_dalek::SigningKey::generate(rng))
    }

    /// The identity whose secret key is `bytes`.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        DeviceKey(ed25519_dalek::SigningKey::from_bytes(bytes))
    }

    /// The secret key, for storing it.
    pub fn expose_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The public key.
    pub fn public(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    /// The device id: SHA-256 of the public key.
    pub fn id(&self) -> DeviceId {
        DeviceId::from_public_key(&self.public())
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceKey({:?})", self.id())
    }
}

/// Checks an Ed25519 signature (strictly: no malleable signatures, no weak keys).
pub fn verify(public_key: &[u8; 32], message: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
    let key = ed25519_dalek::VerifyingKey::from_bytes(public_key).map_err(|_| CryptoError::BadSignature)?;
    let signature = ed25519_dalek::Signature::from_slice(signature).map_err(|_| CryptoError::BadSignature)?;
    key.verify_strict(message, &signature)
        .map_err(|_| CryptoError::BadSignature)
}

/// One signature to check: `(signer's public key, message, signature)`.
pub type SignedItem<'a> = (&'a [u8; 32], &'a [u8], &'a [u8]);

/// Checks many signatures, each exactly as [`verify`] does (the same
/// `verify_strict`: the same signatures pass), spread over up to `threads`
/// threads, and decompressing each distinct public key once per thread
/// rather than once per signature. For the batches where verification is
/// most of the cost: re-admitting the stored records at start, a sponsor's
/// welcome, a received batch. `Err(i)`: `items[i]` is the first that fails.
///
/// Not ed25519-dalek's `verify_batch`: that accepts a different set of
/// signatures from `verify_strict`, and devices must agree on what a
/// household's ledger admits (BENCHMARKS.md, issue 15).
pub fn verify_all(items: &[SignedItem<'_>], threads: usize) -> Result<(), usize> {
    fn chunk(items: &[SignedItem<'_>], offset: usize) -> Result<(), usize> {
        let mut keys: Vec<([u8; 32], Option<ed25519_dalek::VerifyingKey>)> = Vec::new();
        for (i, (public_key, message, signature)) in items.iter().enumerate() {
            // A household has a handful of signers: a short list beats a map.
            let key = match keys.iter().find(|(bytes, _)| bytes == *public_key) {
                Some((_, key)) => *key,
                None => {
                    let key = ed25519_dalek::VerifyingKey::from_bytes(public_key).ok();
                    keys.push((**public_key, key));
                    key
                }
            };
            let ok = key.is_some_and(|key| {
                ed25519_dalek::Signature::from_slice(signature)
                    .is_ok_and(|signature| key.verify_strict(message, &signature).is_ok())
            });
            if !ok {
                return Err(offset + i);
            }
        }
        Ok(())
    }
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        return chunk(items, 0);
    }
    let size = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(size)
            .enumerate()
            .map(|(n, part)| scope.spawn(move || chunk(part, n * size)))
            .collect();
        // The first failure in item order: chunks are in order, and each
        // reports its own first.
        let mut result = Ok(());
        for handle in handles {
            let outcome = handle.join().unwrap_or(Err(usize::MAX));
            if result.is_ok() {
                result = outcome;
            }
        }
        result
    })
}

/// A device's X25519 box key: opens the envelopes addressed to it.
pub struct BoxKey(x25519_dalek::StaticSecret);

impl BoxKey {
    /// A new random box key.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        BoxKey(x25519_dalek::StaticSecret::random_from_rng(rng))
    }

    /// The box key whose secret is `bytes`.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        BoxKey(x25519_dalek::StaticSecret::from(bytes))
    }

    /// The secret, for wrapping it.
    pub fn expose_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The public key, published in the device's `Member` record.
    pub fn public(&self) -> [u8; 32] {
        x25519_dalek::PublicKey::from(&self.0).to_bytes()
    }
}

const COMMITMENT_CONTEXT: &[u8] = b"authsync epoch commitment v2\0";

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    Sha256::digest(bytes).into()
}

/// A 32-byte symmetric key: an epoch key, or the local key-encryption key.
pub struct SymKey(Zeroizing<[u8; 32]>);

impl SymKey {
    /// A new random key.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(key.as_mut());
        SymKey(key)
    }

    /// The key whose bytes are `bytes`.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        SymKey(Zeroizing::new(*bytes))
    }

    /// The raw key.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// Seals `plaintext` under this key with a fresh random nonce.
    pub fn seal<R: RngCore + CryptoRng>(&self, rng: &mut R, aad: &[u8], plaintext: &[u8]) -> Sealed {
        let mut nonce = [0u8; 24];
        rng.fill_bytes(&mut nonce);
        let ciphertext = XChaCha20Poly1305::new(self.0.as_ref().into())
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
        Sealed { nonce, ciphertext }
    }

    /// A commitment to this key as the key of `epoch` in `household`
    /// (HMAC-SHA256 keyed by it): published in the epoch's creating record,
    /// so that an envelope counts only if what it opens is that key, and a
    /// forged envelope cannot shadow the genuine one.
    pub fn commitment(&self, household: &crate::ids::HouseholdId, epoch: &EpochId) -> [u8; 32] {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<Sha256> as Mac>::new_from_slice(self.0.as_ref()).expect("HMAC takes any key length");
        mac.update(COMMITMENT_CONTEXT);
        mac.update(household.as_bytes());
        mac.update(epoch.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Whether this key matches `commitment`, in constant time.
    pub fn matches(&self, household: &crate::ids::HouseholdId, epoch: &EpochId, commitment: &[u8; 32]) -> bool {
        use subtle::ConstantTimeEq;
        self.commitment(household, epoch).ct_eq(commitment).into()
    }

    /// Opens what [`SymKey::seal`] sealed with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &Sealed) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        XChaCha20Poly1305::new(self.0.as_ref().into())
            .decrypt(
                XNonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::DecryptionFailed)
    }
}

/// A sealed value: its nonce and its ciphertext (which includes the tag).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// XChaCha20 nonce, random per seal.
    pub nonce: [u8; 24],
    /// Ciphertext and Poly1305 tag.
    pub ciphertext: Vec<u8>,
}

/// An epoch key sealed to one member's box key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The member who can open it.
    pub recipient: DeviceId,
    /// The sender's one-time X25519 public key.
    pub ephemeral: [u8; 32],
    /// The epoch key, sealed.
    pub sealed: Sealed,
}

const ENVELOPE_INFO: &[u8] = b"authsync envelope v1";

fn envelope_key(shared: &[u8; 32], ephemeral: &[u8; 32], recipient_box: &[u8; 32]) -> SymKey {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(ephemeral);
    salt[32..].copy_from_slice(recipient_box);
    let mut okm = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(&salt), shared)
        .expand(ENVELOPE_INFO, okm.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    SymKey(okm)
}

fn envelope_aad(recipient: &DeviceId, epoch: &EpochId) -> [u8; 48] {
    let mut aad = [0u8; 48];
    aad[..32].copy_from_slice(recipient.as_bytes());
    aad[32..].copy_from_slice(epoch.as_bytes());
    aad
}

impl Envelope {
    /// Seals `key` (the key of `epoch`) to the member `recipient`, whose box
    /// public key is `recipient_box`.
    pub fn seal<R: RngCore + CryptoRng>(
        rng: &mut R,
        recipient: DeviceId,
        recipient_box: &[u8; 32],
        epoch: &EpochId,
        key: &SymKey,
    ) -> Envelope {
        let ephemeral_secret = x25519_dalek::StaticSecret::random_from_rng(&mut *rng);
        let ephemeral = x25519_dalek::PublicKey::from(&ephemeral_secret).to_bytes();
        let shared = ephemeral_secret.diffie_hellman(&x25519_dalek::PublicKey::from(*recipient_box));
        let wrap = envelope_key(shared.as_bytes(), &ephemeral, recipient_box);
        let sealed = wrap.seal(rng, &envelope_aad(&recipient, epoch), key.expose());
        Envelope {
            recipient,
            ephemeral,
            sealed,
        }
    }

    /// Opens this envelope with the recipient's box key.
    pub fn open(&self, box_key: &BoxKey, epoch: &EpochId) -> Result<SymKey, CryptoError> {
        let shared = box_key.0.diffie_hellman(&x25519_dalek::PublicKey::from(self.ephemeral));
        if !shared.was_contributory() {
            return Err(CryptoError::DecryptionFailed);
        }
        let wrap = envelope_key(shared.as_bytes(), &self.ephemeral, &box_key.public());
        let bytes = wrap.open(&envelope_aad(&self.recipient, epoch), &self.sealed)?;
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| CryptoError::DecryptionFailed)?;
        let key = SymKey::from_bytes(&key);
        Ok(key)
    }
}

/// Argon2id parameters for deriving the local key-encryption key from a
/// passphrase. Stored beside the wrapped keys; not secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Random per vault.
    pub salt: [u8; 16],
    /// Memory in KiB.
    pub m_cost: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl KdfParams {
    /// OWASP's recommended Argon2id floor (19 MiB, 2 passes, 1 lane): about
    /// 50 ms here, and small enough to keep the daemon's memory low.
    pub fn recommended<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut salt = [0u8; 16];
        rng.fill_bytes(&mut salt);
        KdfParams {
            salt,
            m_cost: 19 * 1024,
            t_cost: 2,
            p_cost: 1,
        }
    }

    /// Derives the key-encryption key from `passphrase`.
    pub fn derive(&self, passphrase: &[u8]) -> Result<SymKey, CryptoError> {
        let params =
            argon2::Params::new(self.m_cost, self.t_cost, self.p_cost, Some(32)).map_err(|_| CryptoError::Kdf)?;
        let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut key = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into(passphrase, &self.salt, key.as_mut())
            .map_err(|_| CryptoError::Kdf)?;
        Ok(SymKey(key))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn verify_all_agrees_with_verify_and_names_the_first_failure() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let signers = [DeviceKey::generate(&mut rng), DeviceKey::generate(&mut rng)];
        let publics = [signers[0].public(), signers[1].public()];
        let messages: Vec<Vec<u8>> = (0..9u8).map(|i| vec![i; 40 + usize::from(i)]).collect();
        let mut signatures: Vec<[u8; 64]> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| signers[i % 2].sign(m))
            .collect();
        let items = |sigs: &[[u8; 64]]| -> Vec<([u8; 32], Vec<u8>, Vec<u8>)> {
            messages
                .iter()
                .zip(sigs)
                .enumerate()
                .map(|(i, (m, s))| (publics[i % 2], m.clone(), s.to_vec()))
                .collect()
        };
        let check = |owned: &[([u8; 32], Vec<u8>, Vec<u8>)], threads| {
            let refs: Vec<SignedItem<'_>> = owned.iter().map(|(k, m, s)| (k, m.as_slice(), s.as_slice())).collect();
            verify_all(&refs, threads)
        };
        for threads in [0, 1, 2, 3, 16] {
            assert_eq!(check(&items(&signatures), threads), Ok(()), "{threads} threads");
            assert_eq!(check(&[], threads), Ok(()));
        }
        // A changed signature at 6 and at 3: the first is named, with any
        // number of threads, and `verify` refuses the same ones.
        signatures[6][0] ^= 1;
        signatures[3][10] ^= 1;
        let bad = items(&signatures);
        for threads in [1, 2, 3, 16] {
            assert_eq!(check(&bad, threads), Err(3), "{threads} threads");
        }
        for (i, (k, m, s)) in bad.iter().enumerate() {
            assert_eq!(verify(k, m, s).is_ok(), i != 3 && i != 6, "item {i}");
        }
        // The right signature under the other member's key, a short
        // signature, and a malformed key all fail.
        let mut swapped = items(&signatures);
        swapped[0].0 = publics[1];
        assert_eq!(check(&swapped, 2), Err(0));
        let mut short = items(&signatures);
        short[1].2.truncate(63);
        assert_eq!(check(&short, 1), Err(1));
        let mut not_a_point = items(&signatures);
        not_a_point[2].0 = [0xff; 32];
        assert_eq!(check(&not_a_point, 2), Err(2));
    }

    #[test]
    fn envelopes_open_only_for_their_recipient_and_epoch() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let alice = BoxKey::generate(&mut rng);
        let mallory = BoxKey::generate(&mut rng);
        let alice_id = DeviceId([1; 32]);
        let epoch = EpochId([9; 16]);
        let key = SymKey::generate(&mut rng);
        let env = Envelope::seal(&mut rng, alice_id, &alice.public(), &epoch, &key);
        assert_eq!(env.open(&alice, &epoch).unwrap().expose(), key.expose());
        assert_eq!(env.open(&mallory, &epoch).err(), Some(CryptoError::DecryptionFailed));
        assert!(env.open(&alice, &EpochId([8; 16])).is_err());
        let mut forged = env.clone();
        forged.recipient = DeviceId([2; 32]);
        assert!(forged.open(&alice, &epoch).is_err());
    }

    #[test]
    fn signatures_bind_key_and_message() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let key = DeviceKey::generate(&mut rng);
        let sig = key.sign(b"hello");
        assert!(verify(&key.public(), b"hello", &sig).is_ok());
        assert!(verify(&key.public(), b"hellp", &sig).is_err());
        assert!(verify(&key.public(), b"hello", &sig[..63]).is_err());
        let other = DeviceKey::generate(&mut rng);
        assert!(verify(&other.public(), b"hello", &sig).is_err());
    }

    #[test]
    fn kdf_is_deterministic_and_passphrase_sensitive() {
        let params = KdfParams {
            salt: [3; 16],
            m_cost: 64,
            t_cost: 1,
            p_cost: 1,
        };
        let a = params.derive(b"correct horse").unwrap();
        let b = params.derive(b"correct horse").unwrap();
        let c = params.derive(b"correct horsf").unwrap();
        assert_eq!(a.expose(), b.expose());
        assert_ne!(a.expose(), c.expose());
    }
}
