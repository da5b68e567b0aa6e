//! Seeds going out: `authctl export` (URIs, Aegis plain and encrypted,
//! Google migration QR codes) and `authctl qr`, each imported back into a
//! fresh vault; the encrypted Aegis file opened by Python's `cryptography`
//! following the Aegis format's rules; QR PNGs read by `zbarimg`. Revealing
//! needs the passphrase again.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use authsync_proto::ipc::EntrySummary;
use authsync_tests::vectors::{self, listed_key};
use authsync_tests::{Instance, path_str};

fn keys(list: &[EntrySummary], with_tags: bool) -> Vec<String> {
    let mut keys: Vec<String> = list
        .iter()
        .map(|e| {
            let (issuer, account, spec, tags) = listed_key(e);
            let tags = if with_tags { tags } else { Vec::new() };
            format!("{issuer:?} {account:?} {spec:?} {tags:?}")
        })
        .collect();
    keys.sort();
    keys
}

/// A vault holding the seven canonical entries, two of them tagged.
fn source() -> Instance {
    let inst = Instance::with_passphrase("vault pass");
    let file = vectors::dir().join("more/exports/aegis_plain_grouped_v2.json");
    inst.ctl_ok(&["import", path_str(&file)]);
    assert_eq!(inst.list().len(), 7);
    inst
}

fn passphrase(inst: &Instance) -> String {
    path_str(&inst.home().join("passphrase")).to_string()
}

/// `export ARGS` must succeed; returns (stdout, stderr).
fn export(inst: &Instance, args: &[&str]) -> (String, String) {
    let pass = passphrase(inst);
    let mut all = vec!["export"];
    all.extend_from_slice(args);
    all.extend(["--passphrase-file", &pass]);
    let out = inst.ctl(&all);
    out.assert_exit(0);
    (out.stdout, out.stderr)
}

/// Imports `files` into a fresh vault and returns its entries.
fn import_fresh(files: &[&Path], password: Option<&str>) -> Vec<EntrySummary> {
    let inst = Instance::with_household();
    let mut args = vec!["import".to_string()];
    args.extend(files.iter().map(|f| path_str(f).to_string()));
    if let Some(p) = password {
        let pw = inst.write_file("export-password", &format!("{p}\n"));
        args.extend(["--password-file".to_string(), path_str(&pw).to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    inst.ctl_ok(&args);
    inst.list()
}

#[test]
fn uris_and_aegis_exports_import_back_to_the_same_entries() {
    let src = source();
    let before = src.list();

    let (uris, stderr) = export(&src, &["--format", "uris"]);
    assert!(
        stderr.contains("This exports the secrets of all 7 entries to standard output, NOT encrypted"),
        "{stderr}"
    );
    assert_eq!(uris.lines().count(), 7);
    let file = src.write_file("export.txt", &uris);
    // URIs carry no tags: everything else comes back.
    assert_eq!(keys(&import_fresh(&[&file], None), false), keys(&before, false));

    let aegis = src.home().join("export.json");
    let (_, stderr) = export(&src, &["--format", "aegis", "--output", path_str(&aegis)]);
    assert!(stderr.contains(&format!("to {}", aegis.display())), "{stderr}");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&aegis).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(keys(&import_fresh(&[&aegis], None), true), keys(&before, true));

    // An existing file is never overwritten.
    let pass = passphrase(&src);
    src.ctl(&[
        "export",
        "--format",
        "aegis",
        "-o",
        path_str(&aegis),
        "--passphrase-file",
        &pass,
    ])
    .assert_error(2, &["exists"]);
    // --encrypt is for Aegis only.
    src.ctl(&["export", "--format", "uris", "--encrypt", "--passphrase-file", &pass])
        .assert_error(2, &["--encrypt is for --format aegis only"]);
}

#[test]
fn an_encrypted_aegis_export_opens_with_the_aegis_rules_elsewhere() {
    let src = source();
    let before = src.list();
    let pw = src.write_file("export-password", "export secret\n");
    let out = src.home().join("encrypted.json");
    let (_, stderr) = export(
        &src,
        &[
            "--format",
            "aegis",
            "--encrypt",
            "--password-file",
            path_str(&pw),
            "--output",
            path_str(&out),
        ],
    );
    assert!(stderr.contains("encrypted with the export password"), "{stderr}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(!text.contains("4SJHB4GSD43FZBAI7C2HLRJGPQ"), "a secret in the clear");

    // Python's cryptography, from the format's description: scrypt opens
    // the password slot's master key, AES-256-GCM opens the database.
    let script = r#"
import base64, json, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
vault = json.load(open(sys.argv[1]))
master = None
for slot in vault["header"]["slots"]:
    if slot["type"] != 1:
        continue
    key = Scrypt(salt=bytes.fromhex(slot["salt"]), length=32, n=slot["n"], r=slot["r"], p=slot["p"]).derive(sys.argv[2].encode())
    kp = slot["key_params"]
    master = AESGCM(key).decrypt(bytes.fromhex(kp["nonce"]), bytes.fromhex(slot["key"]) + bytes.fromhex(kp["tag"]), None)
params = vault["header"]["params"]
db = AESGCM(master).decrypt(bytes.fromhex(params["nonce"]), base64.b64decode(vault["db"]) + bytes.fromhex(params["tag"]), None)
print(db.decode())
"#;
    let py = Command::new("python3")
        .args(["-c", script, path_str(&out), "export secret"])
        .output()
        .expect("python3 runs");
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    let db: serde_json::Value = serde_json::from_slice(&py.stdout).unwrap();
    assert_eq!(db["version"], 3);
    let canon = vectors::export_cases("exports").into_iter().next().unwrap().expected;
    let entries = db["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 7);
    for e in &canon {
        let found = entries
            .iter()
            .find(|x| x["issuer"] == e.issuer.as_deref().unwrap() && x["name"] == e.account.as_str())
            .unwrap_or_else(|| panic!("{e:?} missing"));
        let secret = authsync_proto::otp::Secret::from_base32(found["info"]["secret"].as_str().unwrap()).unwrap();
        let hex: String = secret.expose().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, e.secret_hex);
    }
    let groups: Vec<&str> = db["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(groups.len(), 2, "{groups:?}");

    // And authctl reads it back.
    assert_eq!(
        keys(&import_fresh(&[&out], Some("export secret")), true),
        keys(&before, true)
    );
}

#[test]
fn google_qr_exports_import_back_and_say_what_they_leave_out() {
    let src = source();
    let prefix = src.home().join("google");
    let (_, stderr) = export(&src, &["--format", "google-qr", "--output", path_str(&prefix)]);
    // Google has no Steam, no 7 digits, no periods but 30 s.
    assert_eq!(stderr.matches("left out ").count(), 4, "{stderr}");
    let png = src.home().join("google-1.png");
    let imported = import_fresh(&[&png], None);
    let mut labels: Vec<String> = imported.iter().map(EntrySummary::label).collect();
    labels.sort();
    assert_eq!(labels, ["Deno: Mason", "Issuu: James", "WWE: Mason"]);

    // 23 entries: three QR codes, one batch of an export each.
    let many = Instance::with_household();
    let uris: String = (0..23u32)
        .map(|i| {
            let secret = authsync_proto::otp::Secret::new(format!("seed-number-{i:04}-abcdef").into_bytes());
            format!(
                "otpauth://totp/Site{i}:user{i}?secret={}&issuer=Site{i}\n",
                *secret.to_base32()
            )
        })
        .collect();
    let file = many.write_file("many.txt", &uris);
    many.ctl_ok(&["import", path_str(&file)]);
    let prefix = many.home().join("batch");
    let out = many.ctl(&["export", "--format", "google-qr", "-o", path_str(&prefix)]);
    out.assert_exit(0);
    let pngs: Vec<_> = (1..=3).map(|i| many.home().join(format!("batch-{i}.png"))).collect();
    assert!(!many.home().join("batch-4.png").exists());
    // It names the files it writes, before and after: never a bare `batch`.
    let names: Vec<String> = pngs.iter().map(|p| path_str(p).to_string()).collect();
    assert!(
        out.stderr.contains(&format!("as QR code images {}", names.join(", "))),
        "{out}"
    );
    for name in &names {
        assert!(out.stderr.contains(&format!("wrote {name} (")), "{out}");
    }
    assert!(!out.stderr.contains(&format!("{} ", path_str(&prefix))), "{out}");
    // A second export to the same names is refused before anything is revealed.
    let again = many.ctl(&["export", "--format", "google-qr", "-o", path_str(&prefix)]);
    again.assert_error(2, &["batch-1.png exists"]);
    let paths: Vec<&Path> = pngs.iter().map(|p| p.as_path()).collect();
    assert_eq!(keys(&import_fresh(&paths, None), true), keys(&many.list(), true));
    // Two of three QR codes: the report says one is missing.
    let partial = Instance::with_household();
    let out = partial.ctl(&["import", path_str(&pngs[0]), path_str(&pngs[2])]);
    out.assert_exit(0);
    assert!(
        out.stderr.contains("has 3 QR codes; code(s) 2 of it were not given"),
        "{out}"
    );
}

#[test]
fn qr_png_decodes_with_zbarimg_to_the_entry_uri() {
    let src = source();
    let pass = passphrase(&src);
    let png = src.home().join("airbnb.png");
    let out = src.ctl(&["qr", "airbnb", "--png", path_str(&png), "--passphrase-file", &pass]);
    out.assert_exit(0);
    assert!(
        out.stderr
            .contains("This writes the secret of Airbnb: Elijah as a QR code"),
        "{out}"
    );
    let zbar = Command::new("zbarimg")
        .args(["--raw", "-q", path_str(&png)])
        .output()
        .expect("zbarimg runs (.ci/run installs zbar-tools)");
    assert!(zbar.status.success(), "{}", String::from_utf8_lossy(&zbar.stderr));
    let decoded = String::from_utf8(zbar.stdout).unwrap();
    let (uris, _) = export(&src, &["--format", "uris"]);
    let want = uris.lines().find(|l| l.contains("Airbnb")).unwrap();
    assert_eq!(decoded.trim(), want);
    assert_eq!(
        want,
        "otpauth://totp/Airbnb:Elijah?secret=7ELGJSGXNCCTV3O6LKJWYFV2RA&issuer=Airbnb&algorithm=SHA512&digits=8&period=50"
    );

    // On the terminal: block characters, the label, and the warning first.
    let out = src.ctl(&["qr", "airbnb", "--passphrase-file", &pass]);
    out.assert_exit(0);
    assert!(
        out.stdout.contains('▀') && out.stdout.contains("Airbnb: Elijah"),
        "{out}"
    );
    assert!(out.stderr.contains("on the screen"), "{out}");
}

#[test]
fn revealing_needs_the_passphrase_again() {
    let src = source();
    let wrong = src.write_file("wrong", "not the passphrase\n");
    for args in [
        vec!["export", "--format", "uris", "--passphrase-file", path_str(&wrong)],
        vec!["qr", "deno", "--passphrase-file", path_str(&wrong)],
    ] {
        let out = src.ctl(&args);
        out.assert_exit(2);
        assert!(out.stdout.is_empty(), "{out}");
        assert!(out.stderr.contains("wrong passphrase"), "{out}");
    }
    // No terminal and no file: refused before anything is revealed.
    let out = src.ctl(&["export", "--format", "uris"]);
    out.assert_exit(2);
    assert!(
        out.stdout.is_empty() && out.stderr.contains("--passphrase-file"),
        "{out}"
    );
    // A locked vault reveals nothing.
    src.ctl_ok(&["lock"]);
    let pass = passphrase(&src);
    src.ctl(&["export", "--format", "uris", "--passphrase-file", &pass])
        .assert_exit(3);
}

/// What a terminal shows for `drawing` (text with SGR colour codes), as an
/// image: each cell one module wide and two tall, a cell's colours those
/// the text set, else the theme's. Only what `authctl qr` emits is
/// understood: 256-colour foreground and background, and resets.
fn screen(drawing: &str, theme_fg: u8, theme_bg: u8) -> image::GrayImage {
    const PX: u32 = 4;
    let grey = |c: u8| match c {
        16 => 0u8,
        231 => 255,
        other => panic!("unexpected colour {other}"),
    };
    let mut rows: Vec<Vec<(u8, u8)>> = Vec::new();
    for line in drawing.lines().filter(|l| l.contains(['▀', '▄', '█'])) {
        let (mut fg, mut bg) = (theme_fg, theme_bg);
        let mut row = Vec::new();
        let mut rest = line;
        while let Some(c) = rest.chars().next() {
            if let Some(after) = rest.strip_prefix("\x1b[") {
                let (params, tail) = after.split_once('m').unwrap();
                let p: Vec<u8> = params.split(';').map(|n| n.parse().unwrap()).collect();
                match p[..] {
                    [0] => (fg, bg) = (theme_fg, theme_bg),
                    [38, 5, f, 48, 5, b] => (fg, bg) = (f, b),
                    _ => panic!("unexpected escape {params}"),
                }
                rest = tail;
                continue;
            }
            row.push(match c {
                '▀' => (fg, bg),
                '▄' => (bg, fg),
                '█' => (fg, fg),
                _ => (bg, bg),
            });
            rest = &rest[c.len_utf8()..];
        }
        rows.push(row);
    }
    let width = rows.iter().map(Vec::len).max().unwrap() as u32;
    image::GrayImage::from_fn(width * PX, rows.len() as u32 * 2 * PX, |x, y| {
        let cell = rows[(y / (2 * PX)) as usize].get((x / PX) as usize).copied();
        let (top, bottom) = cell.unwrap_or((theme_bg, theme_bg));
        image::Luma([grey(if (y / PX) % 2 == 0 { top } else { bottom })])
    })
}

/// The terminal QR code scans on a light theme and on a dark one: it sets
/// its own colours and quiet zone rather than trusting the theme's.
#[test]
fn the_terminal_qr_code_scans_on_light_and_dark_themes() {
    let src = source();
    let pass = passphrase(&src);
    let out = src.ctl(&["qr", "airbnb", "--passphrase-file", &pass]);
    out.assert_exit(0);
    let want = "otpauth://totp/Airbnb:Elijah?secret=7ELGJSGXNCCTV3O6LKJWYFV2RA&issuer=Airbnb&algorithm=SHA512&digits=8&period=50";
    for (theme, fg, bg) in [("light", 16, 231), ("dark", 231, 16)] {
        let png = src.home().join(format!("screen-{theme}.png"));
        screen(&out.stdout, fg, bg).save(&png).unwrap();
        let zbar = Command::new("zbarimg")
            .args(["--raw", "-q", path_str(&png)])
            .output()
            .expect("zbarimg runs (.ci/run installs zbar-tools)");
        let decoded = String::from_utf8(zbar.stdout).unwrap();
        assert_eq!(decoded.trim(), want, "on a {theme} theme");
    }
}
