//! Agreement with an independent implementation: `oathtool` (OATH Toolkit)
//! on 1,200 seeded random cases (keys of 1-64 bytes; SHA1/256/512; 6-8
//! digits; periods 1-300 s, 30 and 60; random times and HOTP counters), five
//! successive codes per case from one `oathtool -w 4` call.
//!
//! Without `oathtool` the test is skipped, except under `CI=true`, where it
//! fails: CI must run it (`apt-get install oathtool`).
#![allow(clippy::unwrap_used)]

use std::io::ErrorKind;
use std::process::Command;

use authsync_proto::otp::{self, Algorithm, OtpKind, OtpSpec, Secret};
use data_encoding::HEXLOWER;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CASES: usize = 1200;
/// `-w WINDOW` prints WINDOW + 1 successive codes.
const WINDOW: u64 = 4;
/// 2100-01-01: far enough past 2038 to catch 32-bit time bugs.
const MAX_TIME: u64 = 4_102_444_800;

fn oathtool_available() -> bool {
    match Command::new("oathtool").arg("--version").output() {
        Ok(out) if out.status.success() => true,
        Ok(out) => panic!("oathtool --version failed: {:?}", out.status),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("oathtool is not installed, and CI must run this test (apt-get install oathtool)");
            }
            println!("skipping: oathtool not installed (apt-get install oathtool)");
            false
        }
        Err(e) => panic!("cannot run oathtool: {e}"),
    }
}

/// One random case: the spec, the time (TOTP) and the oathtool arguments.
struct Case {
    spec: OtpSpec,
    time: u64,
    args: Vec<String>,
}

fn random_case(rng: &mut StdRng) -> Case {
    let algorithm = [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512][rng.gen_range(0..3)];
    let digits: u8 = rng.gen_range(6..=8);
    let mut args = vec![format!("--digits={digits}"), format!("--window={WINDOW}")];
    match rng.gen_range(0..4) {
        // HOTP in oathtool is SHA1 only; other algorithms are covered below
        // as TOTP with a 1-second step, which is the same computation.
        0 => {
            let counter = rng.gen_range(0..=u64::from(u32::MAX) * 1024);
            args.push("--hotp".into());
            args.push(format!("--counter={counter}"));
            let spec = OtpSpec {
                kind: OtpKind::Hotp { counter },
                algorithm: Algorithm::Sha1,
                digits,
            };
            Case { spec, time: 0, args }
        }
        kind => {
            let period = match kind {
                1 => rng.gen_range(1..=300),
                2 => [30, 60][rng.gen_range(0..2)],
                _ => 1,
            };
            let time = rng.gen_range(0..=MAX_TIME);
            args.push(format!("--totp={algorithm}"));
            args.push(format!("--time-step-size={period}s"));
            args.push(format!("--now=@{time}"));
            let spec = OtpSpec {
                kind: OtpKind::Totp { period },
                algorithm,
                digits,
            };
            Case { spec, time, args }
        }
    }
}

/// Our codes for the case and the WINDOW codes after it.
fn our_codes(secret: &Secret, case: &Case) -> Vec<String> {
    (0..=WINDOW)
        .map(|i| match case.spec.kind {
            OtpKind::Hotp { counter } => {
                let spec = OtpSpec {
                    kind: OtpKind::Hotp { counter: counter + i },
                    ..case.spec
                };
                otp::code(secret, &spec, 0).unwrap()
            }
            OtpKind::Totp { period } => otp::code(secret, &case.spec, case.time + i * period).unwrap(),
            OtpKind::Steam => unreachable!("oathtool has no Steam mode"),
        })
        .collect()
}

#[test]
fn agrees_with_oathtool() {
    if !oathtool_available() {
        return;
    }
    let mut rng = StdRng::seed_from_u64(0x0a7b_5eed_2026);
    let mut compared = 0;
    for n in 0..CASES {
        let case = random_case(&mut rng);
        let len = rng.gen_range(1..=64);
        let key: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
        let hex_key = HEXLOWER.encode(&key);
        let out = Command::new("oathtool")
            .args(&case.args)
            .arg(&hex_key)
            .output()
            .unwrap();
        let detail = format!("case {n}: {:?} {hex_key}", case.args);
        assert!(
            out.status.success(),
            "{detail}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        let ours = our_codes(&Secret::new(key), &case);
        assert_eq!(ours, theirs, "{detail}");
        compared += ours.len();
    }
    assert_eq!(compared, CASES * (WINDOW as usize + 1));
}
