//! What is on disk: walking a tree, file modes, searching bytes.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Every file and directory under `dir` (not `dir` itself), depth first;
/// symlinks are listed, not followed. A missing `dir` gives nothing.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a readable directory entry").path();
            if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                todo.push(path.clone());
            }
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The permission bits of `path` (`0o700`, `0o600`, ...).
pub fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("cannot stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Sets the permission bits of `path`.
pub fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", path.display()));
}

/// Where `needle` first occurs in `haystack`.
pub fn find_bytes(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Every occurrence of any of `needles` (name, bytes) in the files under
/// `dir`, as "NAME in FILE at byte N", and how many files were read.
pub fn occurrences(dir: &Path, needles: &[(String, Vec<u8>)]) -> (Vec<String>, usize) {
    let mut read = 0;
    let mut found = Vec::new();
    for path in walk(dir) {
        let meta = fs::symlink_metadata(&path).expect("a listed path exists");
        if !meta.is_file() {
            continue;
        }
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        read += 1;
        for (name, needle) in needles {
            if let Some(at) = find_bytes(&bytes, needle) {
                found.push(format!("{name} in {} at byte {at}", path.display()));
            }
        }
    }
    (found, read)
}

/// Panics if any of `needles` (name, bytes) occurs in any file under `dir`,
/// saying which needle, which file and where. Returns how many files were
/// read, so a caller can check the walk saw something.
#[track_caller]
pub fn assert_absent_under(dir: &Path, needles: &[(String, Vec<u8>)]) -> usize {
    let (found, read) = occurrences(dir, needles);
    assert!(found.is_empty(), "plaintext at rest:\n  {}", found.join("\n  "));
    read
}

/// Overwrites every byte of `path` with a fixed, deterministic pattern of
/// the same length (not all one value, so it is no sled "empty" page).
pub fn scramble(path: &Path) {
    let len = fs::metadata(path).expect("a file to scramble").len();
    let garbage: Vec<u8> = (0..len)
        .map(|i| (i.wrapping_mul(0x9E37_79B9) >> 7) as u8 ^ 0x5A)
        .collect();
    fs::write(path, garbage).unwrap_or_else(|e| panic!("cannot overwrite {}: {e}", path.display()));
}

/// What a scan for a base32 `secret` looks for: its text and its bytes.
pub fn secret_needles(secret: &str) -> Vec<(String, Vec<u8>)> {
    let raw = authsync_proto::otp::Secret::from_base32(secret).expect("a valid base32 secret");
    vec![
        ("base32".to_string(), secret.as_bytes().to_vec()),
        ("raw".to_string(), raw.expose().to_vec()),
    ]
}
