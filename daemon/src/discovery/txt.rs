//! The TXT record of `_authsync._udp.local.`: building ours from an
//! [`Advert`], and reading (untrusted) ones from the network.
//!
//! Keys: `v` sync protocol (decimal u32, required), `id` full device id
//! (required), `hh` household tag (optional), `pn` pairing nameplate
//! (decimal u16, optional), `b` a random value per daemon start (ignored on
//! reading). Unknown keys are ignored so later versions can add some. Every value is length-checked before it is parsed; anything else
//! malformed rejects the whole record.

use std::str::FromStr;

use authsync_proto::ids::DeviceId;
use authsync_proto::wire::SYNC_PROTOCOL;
use mdns_sd::TxtProperties;

use super::Advert;

pub(super) const KEY_PROTOCOL: &str = "v";
pub(super) const KEY_ID: &str = "id";
pub(super) const KEY_HOUSEHOLD: &str = "hh";
pub(super) const KEY_PAIRING: &str = "pn";
/// Makes a restarted daemon's announcement differ from the one its peers
/// cached before it went away (without a goodbye, after a crash, or within
/// the goodbye's one second): mdns-sd reports only records that changed, and
/// answers queries late, so an unchanged announcement went unnoticed and a
/// restarted peer was found only at the next re-announcement (~1 s).
pub(super) const KEY_BOOT: &str = "b";

/// Longest accepted `id` value. A device id is 52 base32 characters; the
/// parser also accepts dashes between groups, so leave some room.
const MAX_ID_LEN: usize = 80;
/// Longest accepted household tag (ours are 8 characters).
const MAX_TAG_LEN: usize = 16;

/// The authsync fields of a TXT record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Txt {
    pub protocol: u32,
    pub device: DeviceId,
    pub household_tag: Option<String>,
    pub pairing: Option<u16>,
}

/// Why a TXT record was skipped. Names the key, never echoes the value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(super) enum BadTxt {
    #[error("TXT key `{0}` is missing")]
    Missing(&'static str),
    #[error("TXT key `{0}` has no value")]
    NoValue(&'static str),
    #[error("TXT key `{0}` is too long")]
    TooLong(&'static str),
    #[error("TXT key `{0}` is not valid")]
    Invalid(&'static str),
}

/// Our TXT record for `advert`, in a fixed key order.
pub(super) fn encode(advert: &Advert) -> Vec<(&'static str, String)> {
    let mut txt = vec![
        (KEY_PROTOCOL, SYNC_PROTOCOL.to_string()),
        (KEY_ID, advert.device.to_string()),
    ];
    if let Some(tag) = &advert.household_tag {
        txt.push((KEY_HOUSEHOLD, tag.clone()));
    }
    if let Some(nameplate) = advert.pairing {
        txt.push((KEY_PAIRING, nameplate.to_string()));
    }
    txt
}

/// Reads an authsync TXT record received from the network.
pub(super) fn parse(txt: &TxtProperties) -> Result<Txt, BadTxt> {
    let protocol = value(txt, KEY_PROTOCOL, 10)?
        .ok_or(BadTxt::Missing(KEY_PROTOCOL))
        .and_then(|v| decimal::<u32>(v, KEY_PROTOCOL))?;
    let device = value(txt, KEY_ID, MAX_ID_LEN)?
        .ok_or(BadTxt::Missing(KEY_ID))
        .and_then(|v| DeviceId::from_str(v).map_err(|_| BadTxt::Invalid(KEY_ID)))?;
    let household_tag = value(txt, KEY_HOUSEHOLD, MAX_TAG_LEN)?
        .map(|v| {
            let ok = !v.is_empty() && v.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
            if ok {
                Ok(v.to_owned())
            } else {
                Err(BadTxt::Invalid(KEY_HOUSEHOLD))
            }
        })
        .transpose()?;
    let pairing = value(txt, KEY_PAIRING, 5)?
        .map(|v| decimal::<u16>(v, KEY_PAIRING))
        .transpose()?;
    Ok(Txt {
        protocol,
        device,
        household_tag,
        pairing,
    })
}

/// The value of `key` as text of at most `max` bytes; `None` if absent.
fn value<'a>(txt: &'a TxtProperties, key: &'static str, max: usize) -> Result<Option<&'a str>, BadTxt> {
    match txt.get_property_val(key) {
        None => Ok(None),
        Some(None) => Err(BadTxt::NoValue(key)),
        Some(Some(bytes)) if bytes.len() > max => Err(BadTxt::TooLong(key)),
        Some(Some(bytes)) => std::str::from_utf8(bytes).map(Some).map_err(|_| BadTxt::Invalid(key)),
    }
}

/// Plain ASCII digits only (`str::parse` would also take a sign).
fn decimal<T: FromStr>(v: &str, key: &'static str) -> Result<T, BadTxt> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BadTxt::Invalid(key));
    }
    v.parse().map_err(|_| BadTxt::Invalid(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "aebagbafaydqqcikbmga2dqpcaireeyuculbogazdinryhi6d4qa";

    /// A TXT record in wire form: each string prefixed by its length.
    fn wire(strings: &[&[u8]]) -> TxtProperties {
        let mut bytes = Vec::new();
        for s in strings {
            bytes.push(u8::try_from(s.len()).expect("test string under 256 bytes"));
            bytes.extend_from_slice(s);
        }
        TxtProperties::from(&bytes[..])
    }

    fn id_kv() -> Vec<u8> {
        format!("id={ID}").into_bytes()
    }

    #[test]
    fn round_trips_our_own_record() {
        let advert = Advert {
            device: DeviceId::from_str(ID).expect("valid id"),
            household_tag: Some("mfrggzdf".into()),
            port: 4433,
            pairing: Some(7),
        };
        let pairs = encode(&advert);
        let strings: Vec<Vec<u8>> = pairs.iter().map(|(k, v)| format!("{k}={v}").into_bytes()).collect();
        let refs: Vec<&[u8]> = strings.iter().map(Vec::as_slice).collect();
        let txt = parse(&wire(&refs)).expect("our own TXT parses");
        assert_eq!(
            txt,
            Txt {
                protocol: SYNC_PROTOCOL,
                device: advert.device,
                household_tag: Some("mfrggzdf".into()),
                pairing: Some(7),
            }
        );
        // Optional keys are omitted, not empty.
        let bare = Advert {
            household_tag: None,
            pairing: None,
            ..advert
        };
        let keys: Vec<&str> = encode(&bare).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, [KEY_PROTOCOL, KEY_ID]);
    }

    #[test]
    fn accepts_minimal_and_unknown_keys() {
        let id = id_kv();
        let txt = parse(&wire(&[b"v=1", &id, b"future=\xff\x00", b"flag"])).expect("valid");
        assert_eq!(txt.protocol, 1);
        assert_eq!(txt.household_tag, None);
        assert_eq!(txt.pairing, None);
        // Another protocol version is reported, not rejected: the daemon decides.
        assert_eq!(parse(&wire(&[b"v=42", &id])).map(|t| t.protocol), Ok(42));
        // Keys are case-insensitive (RFC 6763 §6.4).
        let upper = format!("ID={ID}").into_bytes();
        assert!(parse(&wire(&[b"V=1", &upper])).is_ok());
    }

    #[test]
    fn rejects_hostile_records() {
        let id = id_kv();
        let huge = [b'7'; 250];
        let huge_v = [b"v=".as_slice(), &huge].concat();
        let huge_id = [b"id=".as_slice(), &[b'a'; 250]].concat();
        let huge_hh = [b"hh=".as_slice(), &[b'a'; 250]].concat();
        let short_id = format!("id={}", &ID[..51]).into_bytes();
        let cases: Vec<(&str, Vec<&[u8]>, BadTxt)> = vec![
            ("empty record", vec![], BadTxt::Missing(KEY_PROTOCOL)),
            ("no id", vec![b"v=1"], BadTxt::Missing(KEY_ID)),
            ("no v", vec![&id], BadTxt::Missing(KEY_PROTOCOL)),
            ("boolean v", vec![b"v", &id], BadTxt::NoValue(KEY_PROTOCOL)),
            ("empty v", vec![b"v=", &id], BadTxt::Invalid(KEY_PROTOCOL)),
            ("signed v", vec![b"v=+1", &id], BadTxt::Invalid(KEY_PROTOCOL)),
            ("negative v", vec![b"v=-1", &id], BadTxt::Invalid(KEY_PROTOCOL)),
            (
                "v overflows u32",
                vec![b"v=4294967296", &id],
                BadTxt::Invalid(KEY_PROTOCOL),
            ),
            ("huge v", vec![&huge_v, &id], BadTxt::TooLong(KEY_PROTOCOL)),
            ("v not utf-8", vec![b"v=\xff", &id], BadTxt::Invalid(KEY_PROTOCOL)),
            ("boolean id", vec![b"v=1", b"id"], BadTxt::NoValue(KEY_ID)),
            ("garbage id", vec![b"v=1", b"id=hello!"], BadTxt::Invalid(KEY_ID)),
            ("truncated id", vec![b"v=1", &short_id], BadTxt::Invalid(KEY_ID)),
            ("huge id", vec![b"v=1", &huge_id], BadTxt::TooLong(KEY_ID)),
            ("id not utf-8", vec![b"v=1", b"id=\xc3\x28"], BadTxt::Invalid(KEY_ID)),
            ("empty hh", vec![b"v=1", &id, b"hh="], BadTxt::Invalid(KEY_HOUSEHOLD)),
            ("boolean hh", vec![b"v=1", &id, b"hh"], BadTxt::NoValue(KEY_HOUSEHOLD)),
            (
                "hh with spaces",
                vec![b"v=1", &id, b"hh=a b"],
                BadTxt::Invalid(KEY_HOUSEHOLD),
            ),
            (
                "hh with a newline",
                vec![b"v=1", &id, b"hh=ab\n"],
                BadTxt::Invalid(KEY_HOUSEHOLD),
            ),
            ("huge hh", vec![b"v=1", &id, &huge_hh], BadTxt::TooLong(KEY_HOUSEHOLD)),
            (
                "pn overflows u16",
                vec![b"v=1", &id, b"pn=65536"],
                BadTxt::Invalid(KEY_PAIRING),
            ),
            (
                "pn too long",
                vec![b"v=1", &id, b"pn=000007"],
                BadTxt::TooLong(KEY_PAIRING),
            ),
            (
                "pn not a number",
                vec![b"v=1", &id, b"pn=7a"],
                BadTxt::Invalid(KEY_PAIRING),
            ),
            ("boolean pn", vec![b"v=1", &id, b"pn"], BadTxt::NoValue(KEY_PAIRING)),
        ];
        for (name, strings, want) in cases {
            assert_eq!(parse(&wire(&strings)), Err(want), "{name}");
        }
    }

    #[test]
    fn survives_random_wire_bytes() {
        // Raw garbage through mdns-sd's TXT decoder and ours: no panic, and
        // whatever parses satisfies the bounds.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for len in 0..2000usize {
            let bytes: Vec<u8> = (0..len % 300)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    // Bias towards the bytes that matter: '=', digits, ids.
                    match state % 4 {
                        0 => b"=v1idhpn"[(state >> 8) as usize % 8],
                        _ => (state >> 16) as u8,
                    }
                })
                .collect();
            if let Ok(txt) = parse(&TxtProperties::from(&bytes[..])) {
                assert!(txt.household_tag.is_none_or(|t| t.len() <= MAX_TAG_LEN));
            }
        }
    }
}
