//! The shared import vectors (`../shared/vectors/`: exports/, more/exports/,
//! google-migration/, more/google-migration/) turned into what each file
//! must import to, and codes computed by implementations other than ours:
//! `oathtool` for TOTP and SHA-1 HOTP, a few lines of Python `hmac` for
//! Steam, and the vectors' own precomputed HOTP codes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use authsync_proto::ipc::EntrySummary;
use authsync_proto::otp::{Algorithm, OtpKind, OtpSpec};
use serde_json::Value;

/// `../shared/vectors`.
pub fn dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors");
    assert!(
        dir.is_dir(),
        "test vectors not found at {}; the repository must be checked out next to `shared/`",
        dir.display()
    );
    dir
}

fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// One entry a file must import to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub issuer: Option<String>,
    pub account: String,
    pub spec: OtpSpec,
    pub tags: Vec<String>,
    /// The raw secret, hex.
    pub secret_hex: String,
    /// HOTP codes the vectors list: (counter, code).
    pub hotp_codes: Vec<(u64, String)>,
}

impl Expected {
    /// What `list --json` shows of it: (label, spec, tags).
    pub fn key(&self) -> (Option<String>, String, OtpSpec, Vec<String>) {
        (self.issuer.clone(), self.account.clone(), self.spec, self.tags.clone())
    }
}

/// The same view of a listed entry.
pub fn listed_key(e: &EntrySummary) -> (Option<String>, String, OtpSpec, Vec<String>) {
    (e.issuer.clone(), e.account.clone(), e.spec, e.tags.clone())
}

fn algorithm(name: &str) -> Algorithm {
    name.parse().unwrap_or_else(|_| panic!("unknown algorithm {name}"))
}

/// A file of exports/ or more/exports/ and what it imports to.
pub struct ExportCase {
    pub file: PathBuf,
    pub password: Option<String>,
    pub expected: Vec<Expected>,
}

/// Every file listed by `folder/manifest.json` (`exports` or `more/exports`).
pub fn export_cases(folder: &str) -> Vec<ExportCase> {
    let folder = dir().join(folder);
    let manifest = json(&folder.join("manifest.json"));
    let canon = json(&folder.join(manifest["expected_entries_file"].as_str().expect("a file name")));
    let canon: BTreeMap<String, &Value> = canon["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| (e["id"].as_str().expect("an id").to_string(), e))
        .collect();
    let mut cases = Vec::new();
    for file in manifest["files"].as_array().expect("files") {
        let name = file["file"].as_str().expect("a file name");
        let format = file["format"].as_str().unwrap_or("");
        // 2FAS schema 2 has no token type: HOTP entries come in as TOTP,
        // 30 s, algorithm and digits kept (the manifest's quirk).
        let no_token_type = name.starts_with("2fas") && format.contains("schema 2");
        let bitwarden_steam_issuer = match name {
            "bitwarden.json" => Some("Test Steam"),
            "bitwarden.csv" => Some("Test 4"),
            _ => None,
        };
        let mut expected = Vec::new();
        for id in file["expected_entry_ids"].as_array().expect("ids") {
            let e = canon[id.as_str().expect("an id")];
            let issuer = e["issuer"].as_str().expect("issuer").to_string();
            let account = e["name"].as_str().expect("name").to_string();
            let alg = algorithm(e["algorithm"].as_str().expect("algorithm"));
            let digits = e["digits"].as_u64().expect("digits") as u8;
            let mut spec = match e["type"].as_str().expect("type") {
                "totp" => OtpSpec {
                    kind: OtpKind::Totp {
                        period: e["period"].as_u64().expect("period"),
                    },
                    algorithm: alg,
                    digits,
                },
                "hotp" => OtpSpec {
                    kind: OtpKind::Hotp {
                        counter: e["counter"].as_u64().expect("counter"),
                    },
                    algorithm: alg,
                    digits,
                },
                "steam" => OtpSpec::steam(),
                other => panic!("unknown type {other}"),
            };
            let mut hotp_codes = Vec::new();
            if let OtpKind::Hotp { .. } = spec.kind {
                if no_token_type {
                    spec.kind = OtpKind::Totp { period: 30 };
                } else {
                    for c in e["codes"].as_array().expect("codes") {
                        hotp_codes.push((
                            c["counter"].as_u64().expect("counter"),
                            c["code"].as_str().expect("code").to_string(),
                        ));
                    }
                }
            }
            let (issuer, account) = match (bitwarden_steam_issuer, spec.kind) {
                (Some(item), OtpKind::Steam) => (item.to_string(), String::new()),
                _ => (issuer, account),
            };
            let tags = file["groups"]
                .get(format!("{issuer}:{account}"))
                .and_then(Value::as_str)
                .map(|g| vec![g.to_string()])
                .unwrap_or_default();
            expected.push(Expected {
                issuer: Some(issuer),
                account,
                spec,
                tags,
                secret_hex: e["secret_hex"].as_str().expect("hex").to_string(),
                hotp_codes,
            });
        }
        cases.push(ExportCase {
            file: folder.join(name),
            password: file["password"].as_str().map(str::to_string),
            expected,
        });
    }
    cases
}

/// One case of a `migration_cases.json`.
pub struct MigrationCase {
    pub id: String,
    /// The text to import: the URI, or the bare payload wrapped in one, or
    /// the case's `text`.
    pub text: Option<String>,
    /// The QR image beside the cases, if any.
    pub image: Option<PathBuf>,
    pub ok: bool,
    pub expected: Vec<Expected>,
}

/// Every case of `folder/migration_cases.json`.
pub fn migration_cases(folder: &str) -> Vec<MigrationCase> {
    let folder = dir().join(folder);
    let cases = json(&folder.join("migration_cases.json"));
    let mut out = Vec::new();
    for case in cases["cases"].as_array().expect("cases") {
        let text = case["uri"]
            .as_str()
            .map(str::to_string)
            .or_else(|| {
                case["data"].as_str().map(|d| {
                    let encoded: String = d
                        .bytes()
                        .map(|b| match b {
                            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
                            _ => format!("%{b:02X}"),
                        })
                        .collect();
                    format!("otpauth-migration://offline?data={encoded}")
                })
            })
            .or_else(|| case["text"].as_str().map(str::to_string));
        let expected = case["entries"]
            .as_array()
            .map(|entries| entries.iter().map(migration_entry).collect())
            .unwrap_or_default();
        out.push(MigrationCase {
            id: case["id"].as_str().expect("an id").to_string(),
            text,
            image: case["qr_image"].as_str().map(|f| folder.join(f)),
            ok: case["expect"] == "ok",
            expected,
        });
    }
    out
}

/// The import policy for Google's fields: no issuer is `None`; an
/// `Issuer:` prefix on the name is dropped; UNSPECIFIED is SHA1 / 6 digits;
/// every TOTP is 30 s.
fn migration_entry(e: &Value) -> Expected {
    let issuer = e["issuer"].as_str().filter(|i| !i.is_empty()).map(str::to_string);
    let name = e["name"].as_str().expect("name");
    let account = match &issuer {
        Some(i) => name
            .strip_prefix(i.as_str())
            .and_then(|r| r.strip_prefix(':'))
            .map_or(name, str::trim_start),
        None => name,
    }
    .to_string();
    let alg = match e["algorithm"].as_str().expect("algorithm") {
        "UNSPECIFIED" => Algorithm::Sha1,
        a => algorithm(a),
    };
    let digits = e["digits"].as_u64().unwrap_or(6) as u8;
    let kind = match e["type"].as_str().expect("type") {
        "hotp" => OtpKind::Hotp {
            counter: e["counter"].as_u64().expect("counter"),
        },
        _ => OtpKind::Totp { period: 30 },
    };
    Expected {
        issuer,
        account,
        spec: OtpSpec {
            kind,
            algorithm: alg,
            digits,
        },
        tags: Vec::new(),
        secret_hex: e["secret_hex"].as_str().expect("hex").to_string(),
        hotp_codes: Vec::new(),
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (is it installed? .ci/run installs it)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `oathtool`'s TOTP code for `secret_hex` at Unix time `t`.
/// Whether `oathtool` runs here; under `CI=true` it must (a test that
/// compares with it skips otherwise, saying why).
pub fn oathtool_available() -> bool {
    match Command::new("oathtool").arg("--version").output() {
        Ok(out) if out.status.success() => true,
        Ok(out) => panic!("oathtool --version failed: {:?}", out.status),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("oathtool is not installed, and CI must run this test (apt-get install oathtool)");
            }
            println!("skipping: oathtool not installed (apt-get install oathtool)");
            false
        }
        Err(e) => panic!("cannot run oathtool: {e}"),
    }
}

pub fn oathtool_totp(secret_hex: &str, algorithm: Algorithm, digits: u8, period: u64, t: u64) -> String {
    let mode = match algorithm {
        Algorithm::Sha1 => "sha1",
        Algorithm::Sha256 => "sha256",
        Algorithm::Sha512 => "sha512",
    };
    run(Command::new("oathtool")
        .arg(format!("--totp={mode}"))
        .arg(format!("--digits={digits}"))
        .arg(format!("--time-step-size={period}s"))
        .arg(format!("--now=@{t}"))
        .arg(secret_hex))
}

/// `oathtool`'s HOTP code (SHA-1 only: oathtool has no other HOTP hash).
pub fn oathtool_hotp(secret_hex: &str, digits: u8, counter: u64) -> String {
    run(Command::new("oathtool")
        .arg("--hotp")
        .arg(format!("--digits={digits}"))
        .arg(format!("--counter={counter}"))
        .arg(secret_hex))
}

/// A Steam code by Python's `hmac` (Steam's alphabet, 5 characters, 30 s).
pub fn python_steam(secret_hex: &str, t: u64) -> String {
    let script = "import hmac,hashlib,struct,sys\n\
        k=bytes.fromhex(sys.argv[1]);h=hmac.new(k,struct.pack('>Q',int(sys.argv[2])//30),hashlib.sha1).digest()\n\
        o=h[19]&15;v=struct.unpack('>I',h[o:o+4])[0]&0x7fffffff;a='23456789BCDFGHJKMNPQRTVWXY';s=''\n\
        for _ in range(5):\n  s+=a[v%26];v//=26\n\
        print(s)";
    run(Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(secret_hex)
        .arg(t.to_string()))
}

/// The codes an independent implementation gives for a time-based `spec`
/// at any second of `from..=to` (one second of slack each side).
pub fn independent_codes(secret_hex: &str, spec: &OtpSpec, from: u64, to: u64) -> Vec<String> {
    let period = match spec.kind {
        OtpKind::Totp { period } => period,
        OtpKind::Steam => 30,
        OtpKind::Hotp { .. } => panic!("HOTP codes do not depend on time"),
    };
    let mut steps: Vec<u64> = (from.saturating_sub(1)..=to + 1).map(|t| t / period).collect();
    steps.dedup();
    steps
        .into_iter()
        .map(|step| match spec.kind {
            OtpKind::Steam => python_steam(secret_hex, step * 30),
            _ => oathtool_totp(secret_hex, spec.algorithm, spec.digits, period, step * period),
        })
        .collect()
}
