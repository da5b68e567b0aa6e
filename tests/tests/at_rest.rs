//! Nothing readable at rest: no secret (raw, or base32 in either case), no
//! issuer, account, tag or note, and no passphrase in any file of the data
//! dir; every file and dir there private; the socket's dir private; and no
//! secret in the daemon's own log, even at trace level.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use authsync_proto::otp::Secret;
use authsync_tests::{Instance, files};

/// One entry with distinctive names and secrets, easy to find if leaked.
struct Planted {
    issuer: &'static str,
    account: &'static str,
    raw_secret: &'static [u8],
}

const PLANTED: [Planted; 3] = [
    Planted {
        issuer: "Zanzibar Quokka Bank",
        account: "octopus.alice@example.org",
        raw_secret: b"raw-secret-zanzibar-0001",
    },
    Planted {
        issuer: "Marmoset Mail",
        account: "platypus-bob-9931",
        raw_secret: b"raw-secret-marmoset-0002",
    },
    Planted {
        issuer: "Axolotl Games",
        account: "wombat-carol-7707",
        raw_secret: b"raw-secret-axolotl-00003",
    },
];
const ROTATED_RAW_SECRET: &[u8] = b"raw-secret-rotated-00004";
const RENAMED_ACCOUNT: &str = "capybara-dave-4242";
const TAG: &str = "tag-marmalade-list";
const NOTE: &str = "note: aubergine recovery codes in the blue folder";
const PASSPHRASE: &str = "pangolin passphrase 8613";

fn base32(raw: &[u8]) -> String {
    Secret::new(raw.to_vec()).to_base32().to_string()
}

/// Every byte string that must not be found at rest, named.
fn needles() -> Vec<(String, Vec<u8>)> {
    let mut needles = Vec::new();
    let mut secret = |name: &str, raw: &[u8]| {
        let b32 = base32(raw);
        needles.push((format!("{name} (raw)"), raw.to_vec()));
        needles.push((format!("{name} (base32)"), b32.clone().into_bytes()));
        needles.push((format!("{name} (base32, lower case)"), b32.to_lowercase().into_bytes()));
    };
    for p in &PLANTED {
        secret(&format!("the secret of {}", p.issuer), p.raw_secret);
    }
    secret("the rotated secret", ROTATED_RAW_SECRET);
    for p in &PLANTED {
        needles.push((format!("issuer {}", p.issuer), p.issuer.as_bytes().to_vec()));
        needles.push((format!("account {}", p.account), p.account.as_bytes().to_vec()));
    }
    for (name, text) in [
        ("account", RENAMED_ACCOUNT),
        ("tag", TAG),
        ("note", NOTE),
        ("passphrase", PASSPHRASE),
    ] {
        needles.push((format!("{name} {text}"), text.as_bytes().to_vec()));
    }
    needles
}

/// Adds the planted entries (TOTP, HOTP, Steam), then renames, tags,
/// rotates, deletes and restores, so old versions are on disk too.
fn plant(inst: &Instance) {
    let kinds: [&[&str]; 3] = [&[], &["--hotp"], &["--steam"]];
    for (p, kind) in PLANTED.iter().zip(kinds) {
        let secret = base32(p.raw_secret);
        let mut args = vec!["add", "--secret", &secret, "--issuer", p.issuer, "--account", p.account];
        args.extend_from_slice(kind);
        inst.ctl_ok(&args);
    }
    inst.ctl_ok(&["code", "marmoset"]);
    inst.ctl_ok(&["rename", "zanzibar", "--account", RENAMED_ACCOUNT]);
    inst.ctl_ok(&["edit", "zanzibar", "--tag", TAG, "--note", NOTE]);
    inst.ctl_ok(&["rotate", "zanzibar", "--secret", &base32(ROTATED_RAW_SECRET)]);
    inst.ctl_ok(&["rm", "axolotl"]);
    inst.ctl_ok(&["restore", "axolotl"]);
    assert_eq!(inst.list().len(), 3);
}

#[track_caller]
fn assert_nothing_readable(data: &Path) {
    let read = files::assert_absent_under(data, &needles());
    assert!(read >= 2, "the scan read only {read} files under {}", data.display());
    // The control: the device name is stored as is (it is public), so a scan
    // that cannot find it could not find the rest either.
    let control = [("device name".to_string(), b"at-rest-device".to_vec())];
    let (found, _) = files::occurrences(data, &control);
    assert!(
        !found.is_empty(),
        "the scan cannot see plaintext stored in the vault: it proves nothing"
    );
}

#[test]
fn no_secret_or_name_is_readable_at_rest() {
    let mut inst = Instance::started();
    inst.init_with_passphrase(PASSPHRASE, "at-rest-device");
    plant(&inst);
    assert!(
        !inst.data_dir().join("vault.key").exists(),
        "a passphrase vault has no key file"
    );

    // While the daemon runs (every acknowledged write is on disk), after a
    // clean stop, and locked after a restart.
    assert_nothing_readable(&inst.data_dir());
    inst.stop();
    assert_nothing_readable(&inst.data_dir());
    inst.start();
    inst.unlock();
    inst.ctl_ok(&["lock"]);
    assert_nothing_readable(&inst.data_dir());
}

#[test]
fn a_key_file_vault_keeps_nothing_readable_either() {
    let mut inst = Instance::started();
    inst.ctl_ok(&["init", "--no-passphrase", "--name", "at-rest-device"]);
    plant(&inst);
    inst.stop();
    assert_nothing_readable(&inst.data_dir());
}

#[track_caller]
fn assert_private(inst: &Instance) {
    let data = inst.data_dir();
    assert_eq!(files::mode(&data), 0o700, "{}", data.display());
    let all = files::walk(&data);
    assert!(all.len() >= 3, "{all:?}");
    for path in all {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let expected = if meta.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(
            files::mode(&path),
            expected,
            "{} is {:o}",
            path.display(),
            files::mode(&path)
        );
    }
    assert_eq!(files::mode(&inst.run_dir()), 0o700, "the socket's dir");
    if inst.socket().exists() {
        assert_eq!(files::mode(&inst.socket()), 0o600, "the socket");
    }
}

#[test]
fn the_data_and_socket_dirs_are_private_even_under_umask_0() {
    let mut inst = Instance::new();
    inst.set_daemon_umask(0o000);
    inst.start();
    inst.ctl_ok(&["init", "--no-passphrase", "--name", "at-rest-device"]);
    plant(&inst);
    assert_private(&inst);
    inst.restart();
    inst.ctl_ok(&[
        "add",
        "--secret",
        &base32(b"one more after restart!!"),
        "--issuer",
        "Later",
    ]);
    assert_private(&inst);
    inst.stop();
    assert_private(&inst);
}

#[test]
fn the_daemon_log_holds_no_secret_even_at_trace_level() {
    let mut inst = Instance::new();
    inst.set_daemon_args(&["-vv"]);
    inst.start();
    inst.init_with_passphrase(PASSPHRASE, "at-rest-device");
    plant(&inst);
    inst.restart();
    inst.unlock();
    inst.ctl_ok(&["code", "zanzibar"]);
    let log = inst.daemon_log();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "not logging verbosely:\n{log}"
    );
    for (name, needle) in needles() {
        assert!(
            files::find_bytes(log.as_bytes(), &needle).is_none(),
            "the log shows {name}:\n{log}"
        );
    }
}

/// The longest run of hex or base64 characters in `line` that is not a
/// device or household id: an encoded key, body or signature would be one.
fn longest_blob(line: &str, ids: &[String]) -> usize {
    let mut cleaned = line.to_string();
    for id in ids {
        cleaned = cleaned.replace(id.as_str(), " ");
    }
    cleaned
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '='))
        .map(str::len)
        .max()
        .unwrap_or(0)
}

/// Two devices syncing at trace level: neither log holds a secret, a name,
/// a code either one served, or anything like an encoded record body, key
/// or signature (a run of 40 or more hex or base64 characters that is not
/// a device or household id).
#[test]
fn two_syncing_daemons_log_no_secret_code_or_record_body_at_trace_level() {
    let mut a = Instance::new();
    a.set_daemon_args(&["-vv"]);
    a.start();
    a.init_with_passphrase(PASSPHRASE, "a");
    let mut b = Instance::new();
    b.set_daemon_args(&["-vv", "--peer", &a.listen_addr()]);
    b.start();
    let code = a.ctl_ok(&["pair"]).trim().to_string();
    b.ctl_ok(&[
        "join",
        &code,
        "--peer",
        &a.listen_addr(),
        "--name",
        "b",
        "--no-passphrase",
    ]);
    plant(&a);
    authsync_tests::wait_until(std::time::Duration::from_secs(10), "B to hold A's entries", || {
        b.list() == a.list()
    });
    let mut codes = Vec::new();
    for query in ["zanzibar", "marmoset", "axolotl"] {
        codes.push(a.ctl_ok(&["code", query]).trim().to_string());
        codes.push(b.ctl_ok(&["code", query]).trim().to_string());
    }
    let mut ids = Vec::new();
    for inst in [&a, &b] {
        let status = inst.status();
        ids.extend(status.device);
        ids.extend(status.household);
    }
    let mut needles = needles();
    for code in &codes {
        needles.push((format!("the code {code}"), code.as_bytes().to_vec()));
    }
    for (who, inst) in [("A", &a), ("B", &b)] {
        let log = inst.daemon_log();
        assert!(log.contains("DEBUG"), "{who} is not logging verbosely:\n{log}");
        assert!(log.contains("syncing"), "{who} did not sync:\n{log}");
        for (name, needle) in &needles {
            assert!(
                files::find_bytes(log.as_bytes(), needle).is_none(),
                "{who}'s log shows {name}:\n{log}"
            );
        }
        for line in log.lines() {
            assert!(
                longest_blob(line, &ids) < 40,
                "{who}'s log holds an encoded blob:\n{line}"
            );
        }
    }
}
