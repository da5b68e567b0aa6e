//! The pure half of pairing: one-time codes, SPAKE2, and key confirmation.
//!
//! A code is a nameplate (1–999, to find the offer) and three words (24 bits
//! of secret). SPAKE2 over Ed25519 with the code as password gives both sides
//! the same key only if they typed the same code; an attacker gets one guess
//! per offer, since a wrong guess cancels it. Each side then proves the key
//! with an HMAC over both TLS key fingerprints *as it saw them*: a relay that
//! shows its own key to each side fails here even if it knew the code.

use std::fmt;
use std::str::FromStr;

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use spake2::{Ed25519Group, Identity, Password, Spake2};
use zeroize::Zeroizing;

use crate::crypto::SymKey;
use crate::words::WORDS;

/// The highest nameplate.
pub const MAX_NAMEPLATE: u16 = 999;

/// A one-time pairing code, `7-orbit-velvet-cactus`. Its `Debug` shows the
/// nameplate only: the words are the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct PairingCode {
    /// Finds the offer; not secret.
    pub nameplate: u16,
    words: [u8; 3],
}

/// Why a code could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodeError {
    /// Not `NUMBER-WORD-WORD-WORD`.
    #[error("a pairing code looks like 7-orbit-velvet-cactus (NUMBER-WORD-WORD-WORD)")]
    Malformed,
    /// The number is not 1 to 999.
    #[error("a pairing code starts with a number from 1 to {MAX_NAMEPLATE}")]
    BadNameplate,
    /// A word that no code uses.
    #[error("'{0}' is not a pairing-code word; check the spelling")]
    UnknownWord(String),
}

impl PairingCode {
    /// A new random code.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> PairingCode {
        let nameplate = (rng.next_u32() % u32::from(MAX_NAMEPLATE)) as u16 + 1;
        let mut words = [0u8; 3];
        rng.fill_bytes(&mut words);
        PairingCode { nameplate, words }
    }

    /// The SPAKE2 password: the canonical text of the code.
    pub fn password(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.to_string().into_bytes())
    }
}

impl fmt::Display for PairingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c] = self.words.map(|w| WORDS[usize::from(w)]);
        write!(f, "{}-{a}-{b}-{c}", self.nameplate)
    }
}

impl fmt::Debug for PairingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PairingCode({}-…)", self.nameplate)
    }
}

impl FromStr for PairingCode {
    type Err = CodeError;

    /// Lenient: any case, and `-`, `_` or spaces between the parts.
    fn from_str(s: &str) -> Result<Self, CodeError> {
        let parts: Vec<String> = s
            .split(['-', '_', ' '])
            .filter(|p| !p.is_empty())
            .map(str::to_lowercase)
            .collect();
        let [number, words @ ..] = parts.as_slice() else {
            return Err(CodeError::Malformed);
        };
        if words.len() != 3 {
            return Err(CodeError::Malformed);
        }
        if !number.chars().all(|c| c.is_ascii_digit()) {
            return Err(CodeError::Malformed);
        }
        let nameplate: u16 = number.parse().map_err(|_| CodeError::BadNameplate)?;
        if nameplate == 0 || nameplate > MAX_NAMEPLATE {
            return Err(CodeError::BadNameplate);
        }
        let mut indices = [0u8; 3];
        for (slot, word) in indices.iter_mut().zip(words) {
            let index = WORDS
                .iter()
                .position(|w| w == word)
                .ok_or_else(|| CodeError::UnknownWord(word.chars().take(32).collect()))?;
            *slot = index as u8;
        }
        Ok(PairingCode {
            nameplate,
            words: indices,
        })
    }
}

/// Which side of the exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The new device.
    Joiner,
    /// The member that opened the offer.
    Sponsor,
}

impl Role {
    fn label(self) -> &'static [u8] {
        match self {
            Role::Joiner => b"authsync joiner",
            Role::Sponsor => b"authsync sponsor",
        }
    }
}

/// What can go wrong in the exchange. Deliberately uninformative.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PairError {
    /// The other side's SPAKE2 message is not one.
    #[error("malformed pairing message")]
    Malformed,
    /// The confirmation did not check.
    #[error("the pairing code did not match (or the connection was intercepted)")]
    Mismatch,
}

/// A SPAKE2 exchange in progress.
pub struct Handshake(Spake2<Ed25519Group>);

impl Handshake {
    /// Starts SPAKE2 as `role` (joiner = side A, sponsor = side B) with
    /// `code` as password; returns the message to send.
    pub fn start<R: RngCore + CryptoRng>(rng: &mut R, role: Role, code: &PairingCode) -> (Handshake, Vec<u8>) {
        let password = Password::new(code.password().as_slice());
        let (a, b) = (
            Identity::new(Role::Joiner.label()),
            Identity::new(Role::Sponsor.label()),
        );
        let (state, message) = match role {
            Role::Joiner => Spake2::<Ed25519Group>::start_a_with_rng(&password, &a, &b, rng),
            Role::Sponsor => Spake2::<Ed25519Group>::start_b_with_rng(&password, &a, &b, rng),
        };
        (Handshake(state), message)
    }

    /// Finishes with the other side's message. A wrong code does not fail
    /// here (the keys just differ); it fails at [`PairingKey::check`].
    pub fn finish(self, theirs: &[u8]) -> Result<PairingKey, PairError> {
        let shared = Zeroizing::new(self.0.finish(theirs).map_err(|_| PairError::Malformed)?);
        let derive = |info: &[u8]| {
            let mut out = [0u8; 32];
            Hkdf::<Sha256>::new(None, &shared)
                .expand(info, &mut out)
                .expect("32 bytes is a valid HKDF-SHA256 output length");
            let key = SymKey::from_bytes(&out);
            zeroize::Zeroize::zeroize(&mut out);
            key
        };
        Ok(PairingKey {
            confirm: derive(b"authsync pairing confirm v1"),
            seal: derive(b"authsync pairing seal v1"),
        })
    }
}

/// The key both sides share after SPAKE2 (if their codes matched).
pub struct PairingKey {
    confirm: SymKey,
    seal: SymKey,
}

impl PairingKey {
    /// `role`'s proof of the key: HMAC-SHA256 over its label and both
    /// fingerprints, always in (joiner, sponsor) order.
    pub fn confirmation(&self, role: Role, joiner_fp: &[u8; 32], sponsor_fp: &[u8; 32]) -> [u8; 32] {
        self.mac(role, joiner_fp, sponsor_fp).finalize().into_bytes().into()
    }

    /// Checks the other side's proof, in constant time.
    pub fn check(
        &self,
        their_role: Role,
        joiner_fp: &[u8; 32],
        sponsor_fp: &[u8; 32],
        mac: &[u8; 32],
    ) -> Result<(), PairError> {
        self.mac(their_role, joiner_fp, sponsor_fp)
            .verify_slice(mac)
            .map_err(|_| PairError::Mismatch)
    }

    fn mac(&self, role: Role, joiner_fp: &[u8; 32], sponsor_fp: &[u8; 32]) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(self.confirm.expose()).expect("HMAC takes keys of any length");
        mac.update(role.label());
        mac.update(joiner_fp);
        mac.update(sponsor_fp);
        mac
    }

    /// The key that seals the joiner's details.
    pub fn seal_key(&self) -> SymKey {
        SymKey::from_bytes(self.seal.expose())
    }
}

/// The fingerprint of a TLS public key: SHA-256.
pub fn fingerprint(public_key: &[u8]) -> [u8; 32] {
    Sha256::digest(public_key).into()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;

    fn rng(seed: u64) -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(seed)
    }

    /// Runs SPAKE2 between a joiner with `joiner_code` and a sponsor with
    /// `sponsor_code`.
    fn keys(joiner_code: &PairingCode, sponsor_code: &PairingCode) -> (PairingKey, PairingKey) {
        let mut r = rng(1);
        let (j, jm) = Handshake::start(&mut r, Role::Joiner, joiner_code);
        let (s, sm) = Handshake::start(&mut r, Role::Sponsor, sponsor_code);
        (j.finish(&sm).unwrap(), s.finish(&jm).unwrap())
    }

    #[test]
    fn codes_parse_leniently_and_refuse_what_is_not_a_code() {
        let code: PairingCode = "7-orbit-velvet-acorn".parse().unwrap();
        assert_eq!(code.to_string(), "7-orbit-velvet-acorn");
        assert_eq!("7 Orbit velvet_ACORN".parse::<PairingCode>(), Ok(code.clone()));
        assert_eq!(format!("{code:?}"), "PairingCode(7-…)");
        for (input, error) in [
            ("", CodeError::Malformed),
            ("7", CodeError::Malformed),
            ("orbit-velvet-acorn", CodeError::Malformed),
            ("7-orbit-velvet", CodeError::Malformed),
            ("7-orbit-velvet-acorn-apple", CodeError::Malformed),
            ("x7-orbit-velvet-acorn", CodeError::Malformed),
            ("0-orbit-velvet-acorn", CodeError::BadNameplate),
            ("1000-orbit-velvet-acorn", CodeError::BadNameplate),
            ("99999999-orbit-velvet-acorn", CodeError::BadNameplate),
            ("7-orbit-velvet-zzz", CodeError::UnknownWord("zzz".into())),
        ] {
            assert_eq!(input.parse::<PairingCode>(), Err(error), "{input:?}");
        }
    }

    proptest! {
        #[test]
        fn codes_round_trip_through_text(seed in any::<u64>()) {
            let code = PairingCode::generate(&mut rng(seed));
            prop_assert!((1..=MAX_NAMEPLATE).contains(&code.nameplate));
            prop_assert_eq!(code.to_string().parse::<PairingCode>(), Ok(code));
        }
    }

    #[test]
    fn the_same_code_confirms_on_both_sides() {
        let code = PairingCode::generate(&mut rng(2));
        let (joiner, sponsor) = keys(&code, &code);
        let (jfp, sfp) = (fingerprint(b"joiner key"), fingerprint(b"sponsor key"));
        let from_joiner = joiner.confirmation(Role::Joiner, &jfp, &sfp);
        let from_sponsor = sponsor.confirmation(Role::Sponsor, &jfp, &sfp);
        assert_eq!(sponsor.check(Role::Joiner, &jfp, &sfp, &from_joiner), Ok(()));
        assert_eq!(joiner.check(Role::Sponsor, &jfp, &sfp, &from_sponsor), Ok(()));
        assert_eq!(joiner.seal_key().expose(), sponsor.seal_key().expose());
        // A proof is bound to its role: it cannot be reflected back.
        assert_eq!(
            joiner.check(Role::Sponsor, &jfp, &sfp, &from_joiner),
            Err(PairError::Mismatch)
        );
    }

    #[test]
    fn a_wrong_code_fails_confirmation_on_both_sides() {
        let right = PairingCode::generate(&mut rng(3));
        let mut wrong = right.clone();
        wrong.words[2] = wrong.words[2].wrapping_add(1);
        let (joiner, sponsor) = keys(&wrong, &right);
        let (jfp, sfp) = (fingerprint(b"j"), fingerprint(b"s"));
        let from_joiner = joiner.confirmation(Role::Joiner, &jfp, &sfp);
        let from_sponsor = sponsor.confirmation(Role::Sponsor, &jfp, &sfp);
        assert_eq!(
            sponsor.check(Role::Joiner, &jfp, &sfp, &from_joiner),
            Err(PairError::Mismatch)
        );
        assert_eq!(
            joiner.check(Role::Sponsor, &jfp, &sfp, &from_sponsor),
            Err(PairError::Mismatch)
        );
    }

    #[test]
    fn a_relay_that_terminates_tls_with_its_own_key_fails() {
        // The relay passes the SPAKE2 messages through unchanged, so the two
        // honest sides derive the same key; but each saw the relay's TLS key
        // in place of the other's, so no proof checks.
        let code = PairingCode::generate(&mut rng(4));
        let (joiner, sponsor) = keys(&code, &code);
        let (joiner_fp, sponsor_fp, relay_fp) = (fingerprint(b"J"), fingerprint(b"S"), fingerprint(b"M"));
        let joiner_proof = joiner.confirmation(Role::Joiner, &joiner_fp, &relay_fp);
        assert_eq!(
            sponsor.check(Role::Joiner, &relay_fp, &sponsor_fp, &joiner_proof),
            Err(PairError::Mismatch)
        );
        let sponsor_proof = sponsor.confirmation(Role::Sponsor, &relay_fp, &sponsor_fp);
        assert_eq!(
            joiner.check(Role::Sponsor, &joiner_fp, &relay_fp, &sponsor_proof),
            Err(PairError::Mismatch)
        );
        // Seen through a transparent relay (same keys both ways), it works:
        // the check is on what each side saw, nothing else.
        let proof = joiner.confirmation(Role::Joiner, &joiner_fp, &sponsor_fp);
        assert_eq!(sponsor.check(Role::Joiner, &joiner_fp, &sponsor_fp, &proof), Ok(()));
    }

    #[test]
    fn malformed_messages_are_refused() {
        let code = PairingCode::generate(&mut rng(5));
        for bad in [&[][..], &[0x42; 3][..], &[0x41; 33][..]] {
            let (j, _) = Handshake::start(&mut rng(6), Role::Joiner, &code);
            assert!(matches!(j.finish(bad), Err(PairError::Malformed)));
        }
    }
}
