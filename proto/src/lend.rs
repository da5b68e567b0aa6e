//! Lending codes, not the seed: the TOTP codes of a window, sealed to one
//! person's devices. A `Lend` record carries them; the devices it was
//! sealed to serve them (`authctl code`) until they run out, and never see
//! the secret they came from.

use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::{BoxKey, CryptoError, Envelope, Sealed, SymKey};
use crate::ids::{DeviceId, EntryId, EpochId, HouseholdId};
use crate::otp::{self, OtpKind, OtpSpec, Secret};

/// The longest a code may be lent for.
pub const MAX_LEND_SECS: u64 = 7 * 24 * 3600;

/// At most this many codes in one `Lend` record (32 KiB of codes, well
/// under the record limit); a longer window is lent in several.
pub const CODES_PER_RECORD: usize = 8192;

/// What a `Lend` record says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lend {
    /// Names the lend's key in its envelopes (random, like an epoch's).
    pub key_id: EpochId,
    /// The entry lent (for the lender's `lent`; it says nothing to others).
    pub entry: EntryId,
    /// The person it is lent to.
    pub to: String,
    /// The first code's period starts here, Unix seconds.
    pub from_secs: u64,
    /// The codes run out here, Unix seconds.
    pub until_secs: u64,
    /// The lend key, one envelope per device of `to`.
    pub envelopes: Vec<Envelope>,
    /// [`LentCodes`], sealed with the lend key.
    pub codes: Sealed,
}

/// The codes of a window, and what they are for: what a borrowing device
/// holds. No secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LentCodes {
    /// The site.
    pub issuer: Option<String>,
    /// The login.
    pub account: String,
    /// The TOTP period, seconds.
    pub period: u64,
    /// The first code's period starts here, Unix seconds.
    pub start: u64,
    /// One code per period from `start`, as the digits print.
    pub codes: Vec<String>,
}

impl LentCodes {
    /// The code for the moment `now` (Unix seconds), if the window holds it.
    pub fn at(&self, now: u64) -> Option<&str> {
        let index = now.checked_sub(self.start)? / self.period.max(1);
        self.codes.get(usize::try_from(index).ok()?).map(String::as_str)
    }

    /// When the last code stops, Unix seconds.
    pub fn end(&self) -> u64 {
        self.start + self.period * self.codes.len() as u64
    }
}

/// Why a code cannot be lent.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LendError {
    /// HOTP: each code is used once, in order.
    #[error(
        "an HOTP code is good once, in counter order: codes made ahead would be spent out of turn; share the entry instead"
    )]
    Hotp,
    /// Steam Guard.
    #[error(
        "a Steam Guard entry also approves Steam's mobile confirmations with its secret; only TOTP entries can be lent"
    )]
    Steam,
    /// Zero, or over a week.
    #[error("a code can be lent for at least one period and at most a week")]
    Duration,
    /// The code could not be made.
    #[error("the entry's codes cannot be computed")]
    Code,
}

fn aad(household: &HouseholdId, key_id: &EpochId, entry: &EntryId, to: &str, from: u64, until: u64) -> Vec<u8> {
    let mut aad = b"authsync lend v1\0".to_vec();
    aad.extend_from_slice(household.as_bytes());
    aad.extend_from_slice(key_id.as_bytes());
    aad.extend_from_slice(entry.as_bytes());
    aad.extend_from_slice(&from.to_be_bytes());
    aad.extend_from_slice(&until.to_be_bytes());
    aad.extend_from_slice(to.as_bytes());
    aad
}

/// The `Lend` records for the codes of `secret` from the period holding
/// `now` until `now + for_secs`, sealed to `devices` (each `(id, box key)`)
/// of `to`: one record per [`CODES_PER_RECORD`] codes.
#[allow(clippy::too_many_arguments)]
pub fn lend<R: RngCore + CryptoRng>(
    rng: &mut R,
    household: &HouseholdId,
    entry: EntryId,
    (issuer, account): (Option<&str>, &str),
    secret: &Secret,
    spec: &OtpSpec,
    to: &str,
    devices: &[(DeviceId, [u8; 32])],
    now: u64,
    for_secs: u64,
) -> Result<Vec<Lend>, LendError> {
    let period = match spec.kind {
        OtpKind::Totp { period } => period.max(1),
        OtpKind::Hotp { .. } => return Err(LendError::Hotp),
        OtpKind::Steam => return Err(LendError::Steam),
    };
    if for_secs == 0 || for_secs > MAX_LEND_SECS {
        return Err(LendError::Duration);
    }
    let start = now - now % period;
    let count = (now + for_secs - start).div_ceil(period);
    let mut codes = Vec::with_capacity(count as usize);
    for i in 0..count {
        codes.push(otp::code(secret, spec, start + i * period).map_err(|_| LendError::Code)?);
    }
    let mut records = Vec::new();
    for (n, chunk) in codes.chunks(CODES_PER_RECORD).enumerate() {
        let from = start + (n * CODES_PER_RECORD) as u64 * period;
        let until = from + chunk.len() as u64 * period;
        let lent = LentCodes {
            issuer: issuer.map(str::to_owned),
            account: account.to_owned(),
            period,
            start: from,
            codes: chunk.to_vec(),
        };
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        let key_id = EpochId(id);
        let key = SymKey::generate(rng);
        let plain = Zeroizing::new(postcard::to_stdvec(&lent).expect("serializing to a Vec cannot fail"));
        let sealed = key.seal(rng, &aad(household, &key_id, &entry, to, from, until), &plain);
        let envelopes = devices
            .iter()
            .map(|(device, box_key)| Envelope::seal(rng, *device, box_key, &key_id, &key))
            .collect();
        records.push(Lend {
            key_id,
            entry,
            to: to.to_owned(),
            from_secs: from,
            until_secs: until,
            envelopes,
            codes: sealed,
        });
    }
    Ok(records)
}

impl Lend {
    /// Opens the codes with `me`'s box key, if it was lent to `me`.
    pub fn open(&self, household: &HouseholdId, me: &DeviceId, box_key: &BoxKey) -> Result<LentCodes, CryptoError> {
        let envelope = self
            .envelopes
            .iter()
            .find(|e| e.recipient == *me)
            .ok_or(CryptoError::DecryptionFailed)?;
        let key = envelope.open(box_key, &self.key_id)?;
        let aad = aad(
            household,
            &self.key_id,
            &self.entry,
            &self.to,
            self.from_secs,
            self.until_secs,
        );
        let plain = key.open(&aad, &self.codes)?;
        let lent: LentCodes = postcard::from_bytes(&plain).map_err(|_| CryptoError::DecryptionFailed)?;
        if lent.start != self.from_secs || lent.end() != self.until_secs {
            return Err(CryptoError::DecryptionFailed);
        }
        Ok(lent)
    }

    /// Whether the window is well formed: ends after it starts, and lasts at
    /// most a week (and a period).
    pub fn well_formed(&self) -> bool {
        self.until_secs > self.from_secs && self.until_secs - self.from_secs <= MAX_LEND_SECS + 3600
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::record::MAX_RECORD_BYTES;

    const NOW: u64 = 1_800_000_015;

    fn secret() -> Secret {
        Secret::from_base32("JBSWY3DPEHPK3PXP").unwrap()
    }

    #[test]
    fn a_week_is_lent_in_records_under_the_limit_with_every_code_right() {
        let mut rng = StdRng::seed_from_u64(1);
        let me = DeviceId([3; 32]);
        let box_key = BoxKey::generate(&mut rng);
        let household = HouseholdId([4; 16]);
        let spec = OtpSpec::totp_default();
        let lends = lend(
            &mut rng,
            &household,
            EntryId([5; 16]),
            (Some("Amazon"), "alice"),
            &secret(),
            &spec,
            "carol",
            &[(me, box_key.public())],
            NOW,
            MAX_LEND_SECS,
        )
        .unwrap();
        assert_eq!(
            lends.len(),
            (MAX_LEND_SECS / 30 + 1).div_ceil(CODES_PER_RECORD as u64) as usize
        );
        let mut next = NOW - NOW % 30;
        for l in &lends {
            let body = crate::record::Body::Lend(Box::new(l.clone()));
            assert!(postcard::to_stdvec(&body).unwrap().len() < MAX_RECORD_BYTES);
            let codes = l.open(&household, &me, &box_key).unwrap();
            assert_eq!(codes.start, next);
            for t in [codes.start, codes.start + 29, codes.end() - 1] {
                assert_eq!(codes.at(t).unwrap(), otp::code(&secret(), &spec, t).unwrap());
            }
            assert_eq!(codes.at(codes.end()), None);
            next = codes.end();
        }
        assert!(next >= NOW + MAX_LEND_SECS);
    }

    #[test]
    fn only_the_devices_it_was_sealed_to_open_it() {
        let mut rng = StdRng::seed_from_u64(2);
        let me = DeviceId([3; 32]);
        let box_key = BoxKey::generate(&mut rng);
        let other = BoxKey::generate(&mut rng);
        let household = HouseholdId([4; 16]);
        let lends = lend(
            &mut rng,
            &household,
            EntryId([5; 16]),
            (None, "alice"),
            &secret(),
            &OtpSpec::totp_default(),
            "carol",
            &[(me, box_key.public())],
            NOW,
            60,
        )
        .unwrap();
        assert!(lends[0].open(&household, &me, &other).is_err());
        assert!(lends[0].open(&household, &DeviceId([9; 32]), &box_key).is_err());
        assert!(lends[0].open(&HouseholdId([6; 16]), &me, &box_key).is_err());
        let mut moved = lends[0].clone();
        moved.until_secs += 30;
        assert!(
            moved.open(&household, &me, &box_key).is_err(),
            "the window is bound to the codes"
        );
    }

    #[test]
    fn hotp_steam_and_bad_durations_are_refused() {
        let mut rng = StdRng::seed_from_u64(3);
        let household = HouseholdId([4; 16]);
        let mut try_lend = |spec: OtpSpec, secs: u64| {
            lend(
                &mut rng,
                &household,
                EntryId([5; 16]),
                (None, "a"),
                &secret(),
                &spec,
                "carol",
                &[],
                NOW,
                secs,
            )
            .map(|_| ())
        };
        let hotp = OtpSpec {
            kind: OtpKind::Hotp { counter: 0 },
            ..OtpSpec::totp_default()
        };
        let steam = OtpSpec {
            kind: OtpKind::Steam,
            ..OtpSpec::totp_default()
        };
        assert_eq!(try_lend(hotp, 60), Err(LendError::Hotp));
        assert_eq!(try_lend(steam, 60), Err(LendError::Steam));
        assert_eq!(try_lend(OtpSpec::totp_default(), 0), Err(LendError::Duration));
        assert_eq!(
            try_lend(OtpSpec::totp_default(), MAX_LEND_SECS + 1),
            Err(LendError::Duration)
        );
    }
}
