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
///
/// Inside a [`Verified::scope`], a signature in its set passes at once.
pub fn verify(public_key: &[u8; 32], message: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
    if verified_before(public_key, message, signature) {
        return Ok(());
    }
    let key = ed25519_dalek::VerifyingKey::from_bytes(public_key).map_err(|_| CryptoError::BadSignature)?;
    let signature = ed25519_dalek::Signature::from_slice(signature).map_err(|_| CryptoError::BadSignature)?;
    key.verify_strict(message, &signature)
        .map_err(|_| CryptoError::BadSignature)
}

/// One signature to check: `(signer's public key, message, signature)`.
pub type SignedItem<'a> = (&'a [u8; 32], &'a [u8], &'a [u8]);

/// Below this many signatures a thread of its own costs more than it saves.
const MIN_PER_THREAD: usize = 32;

/// Checks each of `items` exactly as [`verify`] does (the same
/// `verify_strict`), spread over up to `threads` threads, decompressing each
/// distinct public key once per thread rather than once per signature.
/// Whether each passed, in order.
fn strict_each(items: &[SignedItem<'_>], threads: usize) -> Vec<bool> {
    fn chunk(items: &[SignedItem<'_>]) -> Vec<bool> {
        let mut keys: Vec<([u8; 32], Option<ed25519_dalek::VerifyingKey>)> = Vec::new();
        items
            .iter()
            .map(|(public_key, message, signature)| {
                // A household has a handful of signers: a short list beats a map.
                let key = match keys.iter().find(|(bytes, _)| bytes == *public_key) {
                    Some((_, key)) => *key,
                    None => {
                        let key = ed25519_dalek::VerifyingKey::from_bytes(public_key).ok();
                        keys.push((**public_key, key));
                        key
                    }
                };
                key.is_some_and(|key| {
                    ed25519_dalek::Signature::from_slice(signature)
                        .is_ok_and(|signature| key.verify_strict(message, &signature).is_ok())
                })
            })
            .collect()
    }
    let threads = threads.clamp(1, (items.len() / MIN_PER_THREAD).max(1));
    if threads == 1 {
        return chunk(items);
    }
    let size = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(size)
            .map(|part| scope.spawn(move || chunk(part)))
            .collect();
        let mut passed = Vec::with_capacity(items.len());
        for (handle, part) in handles.into_iter().zip(items.chunks(size)) {
            // A thread that panicked passed nothing.
            passed.extend(handle.join().unwrap_or_else(|_| vec![false; part.len()]));
        }
        passed
    })
}

/// Checks many signatures, each exactly as [`verify`] does (the same
/// `verify_strict`: the same signatures pass), spread over up to `threads`
/// threads. `Err(i)`: `items[i]` is the first that fails.
///
/// Not ed25519-dalek's `verify_batch`: that accepts a different set of
/// signatures from `verify_strict`, and devices must agree on what a
/// household's ledger admits (BENCHMARKS.md, issue 15).
pub fn verify_all(items: &[SignedItem<'_>], threads: usize) -> Result<(), usize> {
    match strict_each(items, threads).iter().position(|ok| !ok) {
        Some(i) => Err(i),
        None => Ok(()),
    }
}

const VERIFIED_CONTEXT: &[u8] = b"authsync verified signature v1\0";

/// What names one signature: SHA-256 over the key, the signature (both of
/// fixed length) and the message.
fn signature_digest(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> [u8; 32] {
    use sha2::Digest;
    let mut hash = Sha256::new();
    hash.update(VERIFIED_CONTEXT);
    hash.update(public_key);
    hash.update(signature);
    hash.update(message);
    hash.finalize().into()
}

std::thread_local! {
    /// The set of the [`Verified::scope`] running on this thread, if any.
    static VERIFIED: std::cell::RefCell<Option<std::collections::HashSet<[u8; 32]>>> =
        const { std::cell::RefCell::new(None) };
}

/// Signatures known to pass [`verify`]: checked ahead of time, many at once
/// on several threads ([`Verified::check`]), or vouched for by this device's
/// own tag from when it first checked them ([`Verified::vouch`]). Inside
/// [`Verified::scope`], [`verify`] on this thread passes a signature in the
/// set without computing it again, and computes every other one as always:
/// the set can only spare work, never pass what `verify` would refuse.
///
/// This lets a batch's signatures (the stored records at start, a received
/// batch) be checked in parallel before the ledger admits the records one
/// by one, in order, with every other rule, through the same code as a
/// single record.
#[derive(Default)]
pub struct Verified(std::collections::HashSet<[u8; 32]>);

impl Verified {
    /// An empty set.
    pub fn new() -> Verified {
        Verified::default()
    }

    /// How many signatures the set holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set holds none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks `items` as [`verify`] would, on up to `threads` threads, and
    /// adds those that pass. Whether each passed, in order.
    pub fn check(&mut self, items: &[SignedItem<'_>], threads: usize) -> Vec<bool> {
        let passed = strict_each(items, threads);
        for ((public_key, message, signature), ok) in items.iter().zip(&passed) {
            if let (true, Ok(signature)) = (ok, <&[u8; 64]>::try_from(*signature)) {
                self.0.insert(signature_digest(public_key, message, signature));
            }
        }
        passed
    }

    /// Adds one signature if `tag` is `check_key`'s tag for it
    /// ([`CheckKey::tag`]: this device checked it before). Whether it did.
    pub fn vouch(
        &mut self,
        check_key: &CheckKey,
        public_key: &[u8; 32],
        message: &[u8],
        signature: &[u8],
        tag: &[u8],
    ) -> bool {
        check_key
            .vouches(public_key, message, signature, tag)
            .map(|v| self.add(v))
            .is_some()
    }

    /// Adds a signature a tag vouched for ([`CheckKey::vouches`]).
    pub fn add(&mut self, vouched: Vouched) {
        self.0.insert(vouched.0);
    }

    /// Runs `f` with [`verify`] on this thread passing the signatures in
    /// this set without computing them. Scopes do not nest: an inner one
    /// replaces the outer set until it ends.
    pub fn scope<T>(&mut self, f: impl FnOnce() -> T) -> T {
        struct Restore<'a>(&'a mut Verified, Option<std::collections::HashSet<[u8; 32]>>);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                // Even if `f` panicked: the set leaves the thread with the scope.
                let mine = VERIFIED.with(|v| v.replace(self.1.take()));
                self.0.0 = mine.unwrap_or_default();
            }
        }
        let set = std::mem::take(&mut self.0);
        let outer = VERIFIED.with(|v| v.replace(Some(set)));
        let _restore = Restore(self, outer);
        f()
    }
}

fn verified_before(public_key: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
    VERIFIED.with(|v| {
        let v = v.borrow();
        let Some(set) = v.as_ref() else {
            return false;
        };
        <&[u8; 64]>::try_from(signature).is_ok_and(|s| set.contains(&signature_digest(public_key, message, s)))
    })
}

/// A signature this device's own tag vouched for ([`CheckKey::vouches`]);
/// made nowhere else, so a [`Verified`] set holds only signatures that
/// were checked or vouched for.
pub struct Vouched([u8; 32]);

/// This device's key for tagging the signatures it has checked, so that a
/// record read back from its own store need not be verified again
/// ([`Verified::vouch`]). Derived from the device's signing key: whoever can
/// make a tag holds that key and can sign as this device (BENCHMARKS.md,
/// issue 15, says why that makes the shortcut sound, and what else the
/// daemon checks before it trusts a tag).
pub struct CheckKey(Zeroizing<[u8; 32]>);

const CHECK_KEY_INFO: &[u8] = b"authsync checked signatures v1";

impl CheckKey {
    /// The check key of the device whose signing key is `signing`.
    pub fn derive(signing: &DeviceKey) -> CheckKey {
        let mut okm = Zeroizing::new([0u8; 32]);
        Hkdf::<Sha256>::new(None, signing.expose_bytes().as_ref())
            .expand(CHECK_KEY_INFO, okm.as_mut())
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        CheckKey(okm)
    }

    /// The tag for a signature that passed [`verify`]: HMAC-SHA256 of what
    /// names it. Only for signatures checked: a tag vouches for one.
    pub fn tag(&self, public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> [u8; 32] {
        self.tag_digest(&signature_digest(public_key, message, signature))
    }

    /// Whether `tag` is this key's tag for the signature: if it is, the
    /// proof of it, for [`Verified::add`]. Pure, so that a vault's worth
    /// can be checked on several threads (issue 15, start-up).
    pub fn vouches(&self, public_key: &[u8; 32], message: &[u8], signature: &[u8], tag: &[u8]) -> Option<Vouched> {
        use subtle::ConstantTimeEq;
        let signature = <&[u8; 64]>::try_from(signature).ok()?;
        let digest = signature_digest(public_key, message, signature);
        let ok: bool = self.tag_digest(&digest).ct_eq(tag).into();
        ok.then_some(Vouched(digest))
    }

    fn tag_digest(&self, digest: &[u8; 32]) -> [u8; 32] {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<Sha256> as Mac>::new_from_slice(self.0.as_ref()).expect("HMAC takes any key length");
        mac.update(digest);
        mac.finalize().into_bytes().into()
    }
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
    fn a_verified_scope_spares_only_signatures_that_pass() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(8);
        let alice = DeviceKey::generate(&mut rng);
        let bob = DeviceKey::generate(&mut rng);
        let (a, b) = (alice.public(), bob.public());
        let good = alice.sign(b"good");
        let mut forged = alice.sign(b"forged");
        forged[5] ^= 1;
        let mut verified = Verified::new();
        // Enough items for two threads; the forged one and the one under
        // the wrong key fail, as `verify` says.
        let mut items: Vec<SignedItem<'_>> = vec![(&a, b"good", &good), (&a, b"forged", &forged), (&b, b"good", &good)];
        let padding: Vec<([u8; 64], Vec<u8>)> = (0..70u8).map(|i| (alice.sign(&[i]), vec![i])).collect();
        items.extend(padding.iter().map(|(s, m)| (&a, m.as_slice(), &s[..])));
        let passed = verified.check(&items, 2);
        assert_eq!(&passed[..3], &[true, false, false]);
        assert!(passed[3..].iter().all(|ok| *ok));
        assert_eq!(verified.len(), 71);
        verified.scope(|| {
            assert!(verify(&a, b"good", &good).is_ok());
            assert!(verify(&a, b"forged", &forged).is_err());
            assert!(verify(&b, b"good", &good).is_err());
            assert!(verify(&a, b"goof", &good).is_err());
            assert!(verify(&a, b"good", &good[..63]).is_err());
        });
        // Outside the scope, nothing is remembered; the set is kept.
        assert!(VERIFIED.with(|v| v.borrow().is_none()));
        assert_eq!(verified.len(), 71);
        // A panic inside the scope still ends it.
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| verified.scope(|| panic!("inside"))));
        assert!(caught.is_err());
        assert!(VERIFIED.with(|v| v.borrow().is_none()));
        assert_eq!(verified.len(), 71);
    }

    #[test]
    fn only_this_vaults_tag_vouches_for_a_signature() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let alice = DeviceKey::generate(&mut rng);
        let a = alice.public();
        let signature = alice.sign(b"record");
        let mine = CheckKey::derive(&DeviceKey::generate(&mut rng));
        let theirs = CheckKey::derive(&DeviceKey::generate(&mut rng));
        let tag = mine.tag(&a, b"record", &signature);
        let mut verified = Verified::new();
        assert!(!verified.vouch(&theirs, &a, b"record", &signature, &tag));
        assert!(!verified.vouch(&mine, &a, b"recorc", &signature, &tag));
        assert!(!verified.vouch(&mine, &a, b"record", &signature, &tag[..31]));
        assert!(!verified.vouch(&mine, &a, b"record", &signature[..63], &tag));
        assert!(verified.is_empty());
        assert!(verified.vouch(&mine, &a, b"record", &signature, &tag));
        assert_eq!(verified.len(), 1);
        // The same signing key gives the same check key.
        assert_eq!(
            CheckKey::derive(&DeviceKey::from_bytes(&[4; 32])).tag(&a, b"record", &signature),
            CheckKey::derive(&DeviceKey::from_bytes(&[4; 32])).tag(&a, b"record", &signature)
        );
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
