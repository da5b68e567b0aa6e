//! The pure half of pairing: one-time codes, SPAKE2, and key confirmation.
//! The daemon's `pairing` module moves these bytes over QUIC ([`PairFrame`]).
//!
//! A code is a nameplate (1–999, to find the offer; not secret) and three
//! words from a list of 256 (24 bits of secret). SPAKE2 over Ed25519 with the
//! code's canonical text as password gives both sides the same key only if
//! they typed the same code; an attacker gets one online guess per offer,
//! since a wrong guess cancels it. Each side then proves the key with an HMAC
//! over both TLS key fingerprints *as it saw them on this connection*:
//!
//! - a relay that does not know the code and passes SPAKE2 through while
//!   terminating TLS with its own key fails here (the fingerprints differ);
//! - a party that does not know the code and runs SPAKE2 itself has made its
//!   one guess, and fails here with probability 1 − 2⁻²⁴;
//! - a party that *knows* the code (it saw the screen) is indistinguishable
//!   from the sponsor: no check here can stop it. The code is the secret.
//!
//! Invariants: the code's words and every key zeroize on drop, and nothing
//! here has a `Debug` that shows them. Failures are uninformative
//! ([`PairError::Mismatch`] never says which side or which byte).
//!
//! [`PairFrame`]: crate::wire::PairFrame

use std::fmt;
use std::str::FromStr;

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::{CryptoRng, Rng, RngCore};
use sha2::{Digest, Sha256};
use spake2::{Ed25519Group, Identity, Password, Spake2};
use zeroize::{Zeroize, Zeroizing};

use crate::crypto::SymKey;
use crate::words::WORDS;

/// The highest nameplate; the lowest is 1.
pub const MAX_NAMEPLATE: u16 = 999;

/// The form every code error names.
const FORM: &str = "NUMBER-WORD-WORD-WORD, like 7-orbit-velvet-cactus";

/// Room for the longest password, `999-` and three 7-letter words with
/// separators, so building it never reallocates (and leaves no copy behind).
const PASSWORD_CAPACITY: usize = 32;

/// At most this many characters of an unknown word are repeated in an error.
const SHOWN_WORD_CHARS: usize = 24;

const CONFIRM_INFO: &[u8] = b"authsync pairing confirm v1";
const SEAL_INFO: &[u8] = b"authsync pairing seal v1";

/// A one-time pairing code, `7-orbit-velvet-cactus`.
///
/// `Display` shows the whole code (for `authctl pair` to print); `Debug`
/// shows the nameplate only, `PairingCode(7-…)`: the words are the secret.
/// The words zeroize on drop. `Clone` exists because the daemon hands a copy
/// of its open offer's code to the session that serves a joiner.
#[derive(Clone)]
pub struct PairingCode {
    /// Finds the offer; not secret.
    pub nameplate: u16,
    /// Indices into [`WORDS`].
    words: [u8; 3],
}

/// Why a code could not be read. Each message is one line and names the
/// expected form.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodeError {
    /// Not `NUMBER-WORD-WORD-WORD`.
    #[error("that is not a pairing code; expected {FORM}")]
    Malformed,
    /// The number is not 1 to [`MAX_NAMEPLATE`].
    #[error("a pairing code starts with a number from 1 to {MAX_NAMEPLATE}; expected {FORM}")]
    BadNameplate,
    /// A word that no code uses (as typed, shortened, control characters
    /// replaced).
    #[error("'{0}' is not a pairing-code word, check the spelling; expected {FORM}")]
    UnknownWord(String),
}

impl PairingCode {
    /// A new random code: nameplate uniform in 1..=999, each word uniform.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> PairingCode {
        let nameplate = rng.gen_range(1..=MAX_NAMEPLATE);
        let mut words = [0u8; 3];
        rng.fill_bytes(&mut words);
        PairingCode { nameplate, words }
    }

    /// The SPAKE2 password: the canonical text of the code,
    /// `7-orbit-velvet-cactus`, whatever case and separators were typed.
    /// The words themselves (not their indices) are the password, so two
    /// versions whose lists differ still agree on every word both have.
    pub fn password(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(PASSWORD_CAPACITY));
        out.extend_from_slice(self.nameplate.to_string().as_bytes());
        for word in self.word_texts() {
            out.push(b'-');
            out.extend_from_slice(word.as_bytes());
        }
        out
    }

    fn word_texts(&self) -> [&'static str; 3] {
        self.words.map(|w| WORDS[usize::from(w)])
    }
}

impl Drop for PairingCode {
    fn drop(&mut self) {
        self.words.zeroize();
    }
}

impl fmt::Display for PairingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c] = self.word_texts();
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

    /// Lenient: any ASCII case, and `-`, `_` or white space (any amount)
    /// between and around the parts; leading zeros in the number.
    fn from_str(s: &str) -> Result<Self, CodeError> {
        let mut parts = s
            .split(|c: char| c == '-' || c == '_' || c.is_whitespace())
            .filter(|p| !p.is_empty());
        let (Some(number), Some(a), Some(b), Some(c), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(CodeError::Malformed);
        };
        if !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CodeError::Malformed);
        }
        let nameplate: u16 = number.parse().map_err(|_| CodeError::BadNameplate)?;
        if !(1..=MAX_NAMEPLATE).contains(&nameplate) {
            return Err(CodeError::BadNameplate);
        }
        Ok(PairingCode {
            nameplate,
            words: [word_index(a)?, word_index(b)?, word_index(c)?],
        })
    }
}

/// The index of `word` (any ASCII case) in [`WORDS`].
fn word_index(word: &str) -> Result<u8, CodeError> {
    WORDS
        .iter()
        .position(|w| w.eq_ignore_ascii_case(word))
        .and_then(|i| u8::try_from(i).ok())
        .ok_or_else(|| {
            let shown = word
                .chars()
                .take(SHOWN_WORD_CHARS)
                .map(|c| if c.is_control() { '?' } else { c })
                .collect();
            CodeError::UnknownWord(shown)
        })
}

/// Which side of the exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The new device (`authctl join`): SPAKE2 side A.
    Joiner,
    /// The member that opened the offer (`authctl pair`): SPAKE2 side B.
    Sponsor,
}

impl Role {
    /// The role's SPAKE2 identity, also the first field of its MAC.
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
    /// The other side's SPAKE2 message is not one (length, side or point).
    #[error("malformed pairing message")]
    Malformed,
    /// A confirmation did not check: a different code on the other side, or
    /// someone in between.
    #[error("the pairing code did not match (or the connection was intercepted)")]
    Mismatch,
}

/// A SPAKE2 exchange in progress. Its `Debug` shows the role only.
///
/// The spake2 0.4 state (its scalar and its copy of the password) does not
/// zeroize on drop; it lives for one round trip.
pub struct Handshake {
    state: Spake2<Ed25519Group>,
    role: Role,
}

impl Handshake {
    /// Starts SPAKE2 (Ed25519 group; the joiner is side A, the sponsor side
    /// B, with identities `authsync joiner` and `authsync sponsor`) with
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
        (Handshake { state, role }, message)
    }

    /// Finishes with the other side's message. A wrong code does not fail
    /// here (the keys just differ); it fails at [`PairingKey::check`].
    pub fn finish(self, theirs: &[u8]) -> Result<PairingKey, PairError> {
        let shared = Zeroizing::new(self.state.finish(theirs).map_err(|_| PairError::Malformed)?);
        Ok(PairingKey {
            confirm: derive(&shared, CONFIRM_INFO),
            seal: derive(&shared, SEAL_INFO),
        })
    }
}

impl fmt::Debug for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handshake({:?})", self.role)
    }
}

/// HKDF-SHA256 (no salt: the SPAKE2 output is already a uniform hash).
fn derive(shared: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(None, shared)
        .expand(info, out.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    out
}

/// The keys both sides hold after SPAKE2 (equal only if their codes were).
/// Zeroizes on drop; its `Debug` shows nothing.
pub struct PairingKey {
    confirm: Zeroizing<[u8; 32]>,
    seal: Zeroizing<[u8; 32]>,
}

impl PairingKey {
    /// `role`'s proof of the key: HMAC-SHA256 under the confirm key over
    /// `role`'s label, `joiner_fp` and `sponsor_fp`. Both sides pass the
    /// fingerprints in (joiner, sponsor) order, each as it saw them.
    pub fn confirmation(&self, role: Role, joiner_fp: &[u8; 32], sponsor_fp: &[u8; 32]) -> [u8; 32] {
        self.mac(role, joiner_fp, sponsor_fp).finalize().into_bytes().into()
    }

    /// Checks the other side's proof (`their_role` is the sender's role), in
    /// constant time.
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
            <Hmac<Sha256> as Mac>::new_from_slice(self.confirm.as_ref()).expect("HMAC takes keys of any length");
        mac.update(role.label());
        mac.update(joiner_fp);
        mac.update(sponsor_fp);
        mac
    }

    /// A hash of this pairing run as both sides saw it (the confirmed key
    /// and both TLS key fingerprints): what the joiner signs into its
    /// admission, so that its `Member` record names the exchange it came
    /// from. Equal on both sides only if their confirmations matched.
    pub fn transcript(&self, joiner_fp: &[u8; 32], sponsor_fp: &[u8; 32]) -> [u8; 32] {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(self.confirm.as_ref()).expect("HMAC takes keys of any length");
        mac.update(b"authsync pairing transcript v2");
        mac.update(joiner_fp);
        mac.update(sponsor_fp);
        mac.finalize().into_bytes().into()
    }

    /// The key that seals the joiner's details. Use it only after both
    /// confirmations checked.
    pub fn seal_key(&self) -> SymKey {
        SymKey::from_bytes(&self.seal)
    }
}

impl fmt::Debug for PairingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PairingKey(..)")
    }
}

/// The fingerprint of a TLS public key: SHA-256 of its bytes.
pub fn fingerprint(public_key: &[u8]) -> [u8; 32] {
    Sha256::digest(public_key).into()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use data_encoding::HEXLOWER;
    use proptest::prelude::*;
    use rand::{CryptoRng, RngCore, SeedableRng};

    fn rng(seed: u64) -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(seed)
    }

    /// A stream of SHA-256 blocks: deterministic and independent of `rand`'s
    /// algorithms, for the pinned vectors.
    struct HashRng {
        seed: u8,
        counter: u64,
    }

    impl RngCore for HashRng {
        fn next_u32(&mut self) -> u32 {
            let mut b = [0u8; 4];
            self.fill_bytes(&mut b);
            u32::from_le_bytes(b)
        }
        fn next_u64(&mut self) -> u64 {
            let mut b = [0u8; 8];
            self.fill_bytes(&mut b);
            u64::from_le_bytes(b)
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            for chunk in dest.chunks_mut(32) {
                let block = Sha256::new()
                    .chain_update(b"authsync test rng")
                    .chain_update([self.seed])
                    .chain_update(self.counter.to_le_bytes())
                    .finalize();
                self.counter += 1;
                chunk.copy_from_slice(&block[..chunk.len()]);
            }
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    impl CryptoRng for HashRng {}

    fn code(text: &str) -> PairingCode {
        text.parse().unwrap()
    }

    /// `PairingCode` has no `PartialEq` (it is a secret); tests compare parts.
    fn parts(code: &PairingCode) -> (u16, [u8; 3]) {
        (code.nameplate, code.words)
    }

    /// Runs SPAKE2 between a joiner holding `joiner_code` and a sponsor
    /// holding `sponsor_code`; returns (joiner's key, sponsor's key).
    fn run(seed: u64, joiner_code: &PairingCode, sponsor_code: &PairingCode) -> (PairingKey, PairingKey) {
        let mut r = rng(seed);
        let (j, to_sponsor) = Handshake::start(&mut r, Role::Joiner, joiner_code);
        let (s, to_joiner) = Handshake::start(&mut r, Role::Sponsor, sponsor_code);
        (j.finish(&to_joiner).unwrap(), s.finish(&to_sponsor).unwrap())
    }

    /// Whether the joiner and the sponsor, each with its key and its view of
    /// the two fingerprints, accept each other's proofs (the relay, if any,
    /// passing the proofs through unchanged).
    fn both_accept(joiner: (&PairingKey, [u8; 32], [u8; 32]), sponsor: (&PairingKey, [u8; 32], [u8; 32])) -> [bool; 2] {
        let (jk, j_jfp, j_sfp) = joiner;
        let (sk, s_jfp, s_sfp) = sponsor;
        let from_joiner = jk.confirmation(Role::Joiner, &j_jfp, &j_sfp);
        let from_sponsor = sk.confirmation(Role::Sponsor, &s_jfp, &s_sfp);
        [
            sk.check(Role::Joiner, &s_jfp, &s_sfp, &from_joiner).is_ok(),
            jk.check(Role::Sponsor, &j_jfp, &j_sfp, &from_sponsor).is_ok(),
        ]
    }

    // ---------------------------------------------------------------- codes

    proptest! {
        #[test]
        fn codes_round_trip_through_text(nameplate in 1..=MAX_NAMEPLATE, words in any::<[u8; 3]>()) {
            let code = PairingCode { nameplate, words };
            let text = code.to_string();
            let password = code.password();
            prop_assert_eq!(text.as_bytes(), password.as_slice());
            prop_assert_eq!(parts(&text.parse::<PairingCode>().unwrap()), (nameplate, words));
        }

        #[test]
        fn any_case_and_separators_parse_to_the_same_code(
            nameplate in 1..=MAX_NAMEPLATE,
            words in any::<[u8; 3]>(),
            upper in any::<[bool; 32]>(),
            seps in proptest::collection::vec("[-_ \t]{1,3}", 5),
        ) {
            let code = PairingCode { nameplate, words };
            let [a, b, c] = code.word_texts();
            let typed = format!("{}{nameplate}{}{a}{}{b}{}{c}{}", &seps[0][1..], seps[1], seps[2], seps[3], &seps[4][1..]);
            let typed: String = typed
                .chars()
                .zip(upper.iter().cycle())
                .map(|(ch, &up)| if up { ch.to_ascii_uppercase() } else { ch })
                .collect();
            let parsed = typed.parse::<PairingCode>();
            prop_assert!(parsed.is_ok(), "{:?}", typed);
            prop_assert_eq!(parts(&parsed.unwrap()), (nameplate, words));
        }
    }

    #[test]
    fn generated_codes_use_every_nameplate_and_word() {
        let mut r = rng(7);
        let mut nameplates = vec![false; usize::from(MAX_NAMEPLATE) + 1];
        let mut words = [[false; 256]; 3];
        for _ in 0..20_000 {
            let code = PairingCode::generate(&mut r);
            assert!((1..=MAX_NAMEPLATE).contains(&code.nameplate), "{}", code.nameplate);
            nameplates[usize::from(code.nameplate)] = true;
            for (seen, w) in words.iter_mut().zip(code.words) {
                seen[usize::from(w)] = true;
            }
        }
        assert!(!nameplates[0]);
        assert!(nameplates[1..].iter().all(|&n| n), "some nameplate never drawn");
        assert!(words.iter().flatten().all(|&w| w), "some word never drawn");
    }

    #[test]
    fn codes_parse_leniently() {
        for typed in [
            "7-orbit-velvet-cactus",
            "7 Orbit velvet_CACTUS",
            "  7-orbit-velvet-cactus\n",
            "007--orbit  velvet\tcactus",
            "-7-ORBIT-VELVET-CACTUS-",
        ] {
            let parsed = typed.parse::<PairingCode>();
            assert_eq!(
                parsed.as_ref().map(ToString::to_string),
                Ok("7-orbit-velvet-cactus".into()),
                "{typed:?}"
            );
            assert_eq!(parsed.unwrap().password().as_slice(), b"7-orbit-velvet-cactus");
        }
    }

    #[test]
    fn what_is_not_a_code_is_refused() {
        use CodeError::*;
        for (typed, error) in [
            ("", Malformed),
            ("   ", Malformed),
            ("7", Malformed),
            ("orbit-velvet-cactus", Malformed),
            ("7-orbit-velvet", Malformed),
            ("7-orbit-velvet-cactus-acorn", Malformed),
            ("x7-orbit-velvet-cactus", Malformed),
            ("+7-orbit-velvet-cactus", Malformed),
            ("\u{0667}-orbit-velvet-cactus", Malformed), // Arabic-Indic seven
            ("orbit-7-velvet-cactus", Malformed),
            ("7.orbit.velvet.cactus", Malformed),
            ("0-orbit-velvet-cactus", BadNameplate),
            ("000-orbit-velvet-cactus", BadNameplate),
            ("1000-orbit-velvet-cactus", BadNameplate),
            ("65536-orbit-velvet-cactus", BadNameplate),
            ("99999999999999999999-orbit-velvet-cactus", BadNameplate),
            ("7-orbit-velvet-zzz", UnknownWord("zzz".into())),
            ("7-orbit-velvet-cactu", UnknownWord("cactu".into())),
            ("7-orbit-velvet-cactuss", UnknownWord("cactuss".into())),
            ("7-Orbit-Velvet-Kactus", UnknownWord("Kactus".into())),
            // A Kelvin sign lowercases to 'k' in Unicode, not in ASCII.
            ("7-orbit-velvet-\u{212A}ayak", UnknownWord("\u{212A}ayak".into())),
            ("7-orbit-zzz-cactus", UnknownWord("zzz".into())),
        ] {
            assert_eq!(typed.parse::<PairingCode>().err(), Some(error), "{typed:?}");
        }
    }

    #[test]
    fn code_errors_are_one_line_name_the_form_and_are_bounded() {
        let hostile = format!("7-orbit-velvet-\u{1b}[31m{}", "x".repeat(10_000));
        let unknown = hostile.parse::<PairingCode>().err().unwrap();
        let CodeError::UnknownWord(shown) = &unknown else {
            panic!("{unknown:?}")
        };
        assert_eq!(shown.chars().count(), SHOWN_WORD_CHARS);
        assert!(shown.starts_with("?[31m"), "{shown:?}");
        for error in [CodeError::Malformed, CodeError::BadNameplate, unknown] {
            let message = error.to_string();
            assert!(message.contains("NUMBER-WORD-WORD-WORD"), "{message}");
            assert!(!message.chars().any(char::is_control), "{message:?}");
            assert!(message.len() < 200, "{message}");
        }
    }

    #[test]
    fn debug_hides_the_words() {
        let code = code("7-orbit-velvet-cactus");
        assert_eq!(format!("{code:?}"), "PairingCode(7-…)");
        assert_eq!(format!("{:?}", Some(&code)), "Some(PairingCode(7-…))");
        let (handshake, _) = Handshake::start(&mut rng(1), Role::Joiner, &code);
        assert_eq!(format!("{handshake:?}"), "Handshake(Joiner)");
        let (joiner, _) = run(1, &code, &code);
        assert_eq!(format!("{joiner:?}"), "PairingKey(..)");
    }

    #[test]
    fn the_longest_password_fits_its_buffer() {
        let longest = PairingCode {
            nameplate: MAX_NAMEPLATE,
            words: [0, 1, 2].map(|_| {
                let i = WORDS.iter().position(|w| w.len() == 7).unwrap();
                u8::try_from(i).unwrap()
            }),
        };
        let password = longest.password();
        assert_eq!(password.len(), 3 + 3 * 8);
        assert!(password.len() <= PASSWORD_CAPACITY);
    }

    // ------------------------------------------------------------- exchange

    #[test]
    fn the_same_code_confirms_on_both_sides() {
        let code = PairingCode::generate(&mut rng(2));
        let (joiner, sponsor) = run(2, &code, &code);
        let (jfp, sfp) = (fingerprint(b"joiner key"), fingerprint(b"sponsor key"));
        assert_eq!(both_accept((&joiner, jfp, sfp), (&sponsor, jfp, sfp)), [true, true]);
        assert_eq!(joiner.seal_key().expose(), sponsor.seal_key().expose());
        assert_ne!(joiner.seal_key().expose(), &*joiner.confirm, "one key for two uses");
        // A proof is bound to its role: the sponsor's own proof, reflected
        // back at it, does not pass for the joiner's.
        let from_sponsor = sponsor.confirmation(Role::Sponsor, &jfp, &sfp);
        assert_eq!(
            sponsor.check(Role::Joiner, &jfp, &sfp, &from_sponsor),
            Err(PairError::Mismatch)
        );
        // And to the fingerprints' order.
        let from_joiner = joiner.confirmation(Role::Joiner, &jfp, &sfp);
        assert_eq!(
            sponsor.check(Role::Joiner, &sfp, &jfp, &from_joiner),
            Err(PairError::Mismatch)
        );
        // Two runs with the same code give unrelated keys.
        let (again, _) = run(3, &code, &code);
        assert_ne!(again.seal_key().expose(), joiner.seal_key().expose());
    }

    #[test]
    fn a_wrong_code_fails_confirmation_on_both_sides() {
        let right = code("7-orbit-velvet-cactus");
        let (jfp, sfp) = (fingerprint(b"j"), fingerprint(b"s"));
        for wrong in ["7-orbit-velvet-acorn", "8-orbit-velvet-cactus", "7-velvet-orbit-cactus"] {
            let (joiner, sponsor) = run(4, &code(wrong), &right);
            assert_eq!(
                both_accept((&joiner, jfp, sfp), (&sponsor, jfp, sfp)),
                [false, false],
                "{wrong}"
            );
            let from_joiner = joiner.confirmation(Role::Joiner, &jfp, &sfp);
            assert_eq!(
                sponsor.check(Role::Joiner, &jfp, &sfp, &from_joiner),
                Err(PairError::Mismatch)
            );
            assert_ne!(joiner.seal_key().expose(), sponsor.seal_key().expose());
        }
    }

    #[test]
    fn a_relay_without_the_code_fails_even_passing_spake2_through() {
        // The relay forwards the SPAKE2 messages (and the proofs) unchanged,
        // so joiner and sponsor derive the same key; but it terminates TLS
        // with its own key toward each, so they saw different fingerprints.
        let code = PairingCode::generate(&mut rng(5));
        let (joiner, sponsor) = run(5, &code, &code);
        let (j, s) = (fingerprint(b"J"), fingerprint(b"S"));
        let (m1, m2) = (fingerprint(b"M toward J"), fingerprint(b"M toward S"));
        // Joiner saw (J, M1); sponsor saw (M2, S).
        assert_eq!(both_accept((&joiner, j, m1), (&sponsor, m2, s)), [false, false]);
        // One key toward both sides, still different views.
        assert_eq!(both_accept((&joiner, j, m1), (&sponsor, m1, s)), [false, false]);
        // Control: a relay that forwards TLS too (so both saw J and S) is
        // just a router; the check is on the views, nothing else.
        assert_eq!(both_accept((&joiner, j, s), (&sponsor, j, s)), [true, true]);
    }

    #[test]
    fn a_man_in_the_middle_without_the_code_fails() {
        // Mallory runs SPAKE2 herself with each side, with her best guess of
        // the code, and answers each side with a proof over exactly what it
        // saw. Each side has spent its one guess on her, and she fails.
        let real = code("7-orbit-velvet-cactus");
        let guess = code("7-orbit-velvet-acorn");
        let mut r = rng(6);
        let (j, to_sponsor) = Handshake::start(&mut r, Role::Joiner, &real);
        let (s, to_joiner) = Handshake::start(&mut r, Role::Sponsor, &real);
        let (m_as_sponsor, m_to_joiner) = Handshake::start(&mut r, Role::Sponsor, &guess);
        let (m_as_joiner, m_to_sponsor) = Handshake::start(&mut r, Role::Joiner, &guess);
        let joiner = j.finish(&m_to_joiner).unwrap();
        let sponsor = s.finish(&m_to_sponsor).unwrap();
        let m_with_joiner = m_as_sponsor.finish(&to_sponsor).unwrap();
        let m_with_sponsor = m_as_joiner.finish(&to_joiner).unwrap();
        let (jfp, sfp, mfp) = (fingerprint(b"J"), fingerprint(b"S"), fingerprint(b"M"));
        // Toward the joiner, Mallory is the sponsor (and vice versa); the
        // views she forges for match what each side saw.
        assert_eq!(
            both_accept((&joiner, jfp, mfp), (&m_with_joiner, jfp, mfp)),
            [false, false]
        );
        assert_eq!(
            both_accept((&m_with_sponsor, mfp, sfp), (&sponsor, mfp, sfp)),
            [false, false]
        );
        // Nor with the fingerprints relayed, whatever view she claims.
        assert_eq!(
            both_accept((&joiner, jfp, sfp), (&m_with_joiner, jfp, sfp)),
            [false, false]
        );
    }

    #[test]
    fn a_man_in_the_middle_with_the_code_is_stopped_only_by_its_secrecy() {
        // The strongest attacker: Mallory read the code off the sponsor's
        // screen and runs an honest SPAKE2 with each side. The fingerprints
        // stop her only if she forwards one side's proof to the other ...
        let code = code("7-orbit-velvet-cactus");
        let mut r = rng(8);
        let (j, to_sponsor) = Handshake::start(&mut r, Role::Joiner, &code);
        let (s, to_joiner) = Handshake::start(&mut r, Role::Sponsor, &code);
        let (m_as_sponsor, m_to_joiner) = Handshake::start(&mut r, Role::Sponsor, &code);
        let (m_as_joiner, m_to_sponsor) = Handshake::start(&mut r, Role::Joiner, &code);
        let joiner = j.finish(&m_to_joiner).unwrap();
        let sponsor = s.finish(&m_to_sponsor).unwrap();
        let m_with_joiner = m_as_sponsor.finish(&to_sponsor).unwrap();
        let m_with_sponsor = m_as_joiner.finish(&to_joiner).unwrap();
        let (jfp, sfp, m1, m2) = (
            fingerprint(b"J"),
            fingerprint(b"S"),
            fingerprint(b"M1"),
            fingerprint(b"M2"),
        );
        assert_eq!(both_accept((&joiner, jfp, m1), (&sponsor, m2, sfp)), [false, false]);
        // ... but she need not: she holds a key with each side and answers
        // each over its own view. No confirmation can tell her from the
        // sponsor; that is why the code is shown only on the sponsor's
        // screen, works once, and expires.
        assert_eq!(both_accept((&joiner, jfp, m1), (&m_with_joiner, jfp, m1)), [true, true]);
        assert_eq!(
            both_accept((&m_with_sponsor, m2, sfp), (&sponsor, m2, sfp)),
            [true, true]
        );
    }

    #[test]
    fn malformed_spake_messages_are_refused() {
        let code = code("7-orbit-velvet-cactus");
        let mut not_a_point = [0u8; 33]; // y = 2 is on no Edwards25519 point
        not_a_point[1] = 2;
        for (role, side) in [(Role::Joiner, b'B'), (Role::Sponsor, b'A')] {
            let (own, own_message) = Handshake::start(&mut rng(9), role, &code);
            drop(own);
            not_a_point[0] = side;
            let mut long = own_message.clone();
            long[0] = side;
            long.push(0);
            for bad in [
                &[][..],
                &[side][..],
                &own_message[..32],
                &long[..],
                &own_message[..], // reflected: the wrong side's message
                &[0u8; 33][..],
                &not_a_point[..],
            ] {
                let (handshake, _) = Handshake::start(&mut rng(10), role, &code);
                assert_eq!(
                    handshake.finish(bad).err(),
                    Some(PairError::Malformed),
                    "{role:?} {bad:?}"
                );
            }
        }
    }

    #[test]
    fn a_chosen_point_gets_past_finish_but_not_confirmation() {
        // y = 3 is a point: SPAKE2 cannot tell it from an honest message.
        let code = code("7-orbit-velvet-cactus");
        let mut chosen = [0u8; 33];
        (chosen[0], chosen[1]) = (b'B', 3);
        let (handshake, _) = Handshake::start(&mut rng(11), Role::Joiner, &code);
        let joiner = handshake.finish(&chosen).unwrap();
        let (jfp, sfp) = (fingerprint(b"J"), fingerprint(b"S"));
        let (_, sponsor) = run(11, &code, &code);
        let from_sponsor = sponsor.confirmation(Role::Sponsor, &jfp, &sfp);
        assert_eq!(
            joiner.check(Role::Sponsor, &jfp, &sfp, &from_sponsor),
            Err(PairError::Mismatch)
        );
    }

    proptest! {
        #[test]
        fn finish_never_panics_on_peer_input(
            joiner in any::<bool>(),
            bytes in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            let role = if joiner { Role::Joiner } else { Role::Sponsor };
            let (handshake, _) = Handshake::start(&mut rng(12), role, &code("1-acorn-actor-zipper"));
            let result = handshake.finish(&bytes);
            prop_assert!(bytes.len() == 33 || result.is_err());
        }
    }

    #[test]
    fn fingerprint_is_sha256() {
        assert_eq!(
            HEXLOWER.encode(&fingerprint(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    /// Pins the exchange (SPAKE2 messages, password form, identities, HKDF
    /// labels, MAC layout): devices of different versions must still pair.
    /// If this changes, it is a protocol change.
    #[test]
    fn the_exchange_is_pinned() {
        let code = code("7-orbit-velvet-cactus");
        let (j, to_sponsor) = Handshake::start(&mut HashRng { seed: 1, counter: 0 }, Role::Joiner, &code);
        let (s, to_joiner) = Handshake::start(&mut HashRng { seed: 2, counter: 0 }, Role::Sponsor, &code);
        let (joiner, sponsor) = (j.finish(&to_joiner).unwrap(), s.finish(&to_sponsor).unwrap());
        let (jfp, sfp) = (fingerprint(b"joiner tls key"), fingerprint(b"sponsor tls key"));
        let hex = |b: &[u8]| HEXLOWER.encode(b);
        let got = [
            hex(&to_sponsor),
            hex(&to_joiner),
            hex(&joiner.confirmation(Role::Joiner, &jfp, &sfp)),
            hex(&sponsor.confirmation(Role::Sponsor, &jfp, &sfp)),
            hex(sponsor.seal_key().expose()),
        ];
        assert_eq!(got, PINNED);
        let generated = PairingCode::generate(&mut HashRng { seed: 3, counter: 0 });
        assert_eq!(generated.to_string(), PINNED_GENERATED);
    }

    /// Joiner's message, sponsor's message, joiner's proof, sponsor's proof,
    /// seal key. The same as pairing computed when it was first written.
    const PINNED: [&str; 5] = [
        "41da69b1ac7b141b663587f8866e2b904c4d8072eefdbf4ec3cc51f4bff39ac0c3",
        "4238df5d6ff4f279b3bb3e81f648765034e87161e7e71a5a13fbceced9b0dd1333",
        "dff5107ea38a72c404481232520ed838a6e3c9bb728b0c6fb790f7d032f804d0",
        "aa8a95697a1a87f877aeb3013371a35531b884e7fd174a087f22f597bc9275f3",
        "bef1f13a0fb78c16e0344cb208cee5a140ad8d0287d09294be6f31b6cc4188ba",
    ];
    const PINNED_GENERATED: &str = "942-noodle-zenith-atlas";
}
