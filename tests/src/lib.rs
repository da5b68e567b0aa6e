//! The harness of the end-to-end tests: real `authd` and `authctl` processes
//! on temp dirs, and the assertions the scenarios share.
//!
//! - [`Instance`]: one `AUTHSYNC_HOME` with an `authd` the test starts
//!   itself, killed and reaped on drop (and any daemon `authctl` auto-started
//!   there, found by its pid file). A test whose daemon panicked fails.
//! - [`Output`]: what one `authctl` run printed, with exit-code and
//!   one-line-error assertions.
//! - [`household`]: a founder and devices joined through it, online together.
//! - [`raw`]: the IPC protocol spoken directly over the socket, for input
//!   `authctl` would never send.
//! - [`peer`]: a QUIC peer the test plays itself (a stranger, a member that
//!   misbehaves, a relay in the middle of pairing), from the daemon's own
//!   transport.
//! - [`lab`]: network namespaces on a bridge with a daemon in each, links
//!   to cut, heal and spoil (`netns.rs`, `partitions.rs`).
//! - [`wait_until`]: every wait polls a condition against a deadline; no
//!   test sleeps for a fixed time hoping something has happened.
//!
//! The binaries are the ones `cargo build --workspace` (or `cargo test
//! --workspace`) put beside the test executable; the harness refuses to run
//! binaries older than their sources. So: `cargo build --workspace && cargo
//! test -p authsync-tests`. Known bugs are `#[ignore = "bug: ..."]` tests;
//! `-- --ignored` runs them.

pub mod files;
pub mod household;
mod instance;
pub mod lab;
pub mod otp;
mod output;
pub mod peer;
pub mod raw;
pub mod vectors;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

pub use instance::{Ctl, Instance, Snapshot, path_str};
pub use output::Output;

/// How long one `authctl` run may take before the test fails.
pub const CTL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `authd` may take to answer after it was started.
pub const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// The directory that holds `authd` and `authctl`: the test executable is in
/// `target/<profile>/deps/`, the binaries in `target/<profile>/`.
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test executable has a path");
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test executable lives in target/<profile>/deps")
            .to_path_buf();
        for name in ["authd", "authctl", "authctl-transfer"] {
            let bin = dir.join(name);
            assert!(
                bin.is_file(),
                "{} is missing: run `cargo build --workspace` first",
                bin.display()
            );
            check_fresh(&bin);
        }
        dir
    })
}

/// Refuses a binary older than one of its sources, as listed in the
/// dep-info file cargo writes beside it (`authd.d`): `cargo test -p
/// authsync-tests` does not rebuild the binaries, and a stale one makes a
/// test pass or fail for the wrong reason. Set
/// `AUTHSYNC_TESTS_ALLOW_STALE=1` to run them anyway.
fn check_fresh(bin: &Path) {
    if std::env::var_os("AUTHSYNC_TESTS_ALLOW_STALE").is_some() {
        return;
    }
    let Ok(dep_info) = std::fs::read_to_string(bin.with_extension("d")) else {
        return;
    };
    let built = modified(bin);
    // "TARGET: SOURCE SOURCE ...", spaces inside paths escaped as "\ ".
    let sources = dep_info
        .lines()
        .filter_map(|line| line.split_once(": "))
        .flat_map(|(_, sources)| {
            let joined = sources.replace("\\ ", "\u{0}");
            let paths: Vec<PathBuf> = joined
                .split_whitespace()
                .map(|p| PathBuf::from(p.replace('\u{0}', " ")))
                .collect();
            paths
        });
    for source in sources {
        if source.is_file() && modified(&source) > built {
            panic!(
                "{} is older than {}: run `cargo build --workspace` first \
                 (or set AUTHSYNC_TESTS_ALLOW_STALE=1)",
                bin.display(),
                source.display()
            );
        }
    }
}

fn modified(path: &Path) -> SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("cannot stat {}: {e}", path.display()))
}

/// `authd` of this build.
pub fn authd_bin() -> PathBuf {
    bin_dir().join("authd")
}

/// `authctl` of this build.
pub fn authctl_bin() -> PathBuf {
    bin_dir().join("authctl")
}

/// Polls `condition` every few milliseconds until it holds; panics, naming
/// `what`, if it still does not after `timeout`.
#[track_caller]
pub fn wait_until(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    if !poll_until(timeout, &mut condition) {
        panic!("timed out after {timeout:?} waiting for {what}");
    }
}

/// Waits until `devices` (unlocked, one household) hold the same number of
/// records: nothing of a join or a write is still on its way to one of
/// them, so a check that nothing changed (`Instance::assert_refused`) sees
/// only what it caused.
#[track_caller]
pub fn wait_settled(timeout: Duration, devices: &[&Instance]) {
    wait_until(timeout, "the devices to hold the same records", || {
        let held: Vec<usize> = devices.iter().map(|d| d.status().records).collect();
        held.windows(2).all(|w| w[0] == w[1])
    });
}

/// Like [`wait_until`], but says whether the condition came true instead of
/// panicking.
pub fn poll_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `script -qec COMMAND /dev/null` for `inst`: COMMAND on a terminal of its
/// own, its screen on the child's stdout, what the test writes to the
/// child's stdin typed at it.
pub fn on_a_terminal(inst: &Instance, command: &str) -> std::process::Command {
    let mut script = std::process::Command::new("script");
    script
        .args(["-qec", command, "/dev/null"])
        .env("AUTHSYNC_HOME", inst.home())
        .env("AUTHSYNC_AUTHD", authd_bin())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    script
}

/// The terminal `script` (process `script_pid`) made for the command it
/// runs: the standard input of its descendants, opened without becoming
/// this test's controlling terminal.
#[track_caller]
pub fn terminal_of(script_pid: u32) -> std::fs::File {
    use std::os::unix::fs::OpenOptionsExt;
    let mut family = vec![script_pid.to_string()];
    let mut path = None;
    wait_until(Duration::from_secs(20), "script's child on the terminal", || {
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let pid = entry.file_name().to_string_lossy().into_owned();
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // "PID (COMM) STATE PPID ...".
            let ppid = stat.rsplit_once(") ").and_then(|(_, rest)| rest.split(' ').nth(1));
            if ppid.is_some_and(|p| family.contains(&p.to_string())) && !family.contains(&pid) {
                family.push(pid.clone());
            }
        }
        path = family[1..].iter().find_map(|pid| {
            std::fs::read_link(format!("/proc/{pid}/fd/0"))
                .ok()
                .filter(|p| p.starts_with("/dev/pts"))
        });
        path.is_some()
    });
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOCTTY)
        .open(path.expect("found above"))
        .expect("the terminal opens")
}

/// Waits until the program on `terminal` has turned its echo off (a secret
/// prompt may show a moment before it does).
#[track_caller]
pub fn wait_for_echo_off(terminal: &std::fs::File) {
    wait_until(Duration::from_secs(20), "the terminal's echo to go off", || {
        nix::sys::termios::tcgetattr(terminal)
            .is_ok_and(|attrs| !attrs.local_flags.contains(nix::sys::termios::LocalFlags::ECHO))
    });
}

/// Opens the sled store of a stopped daemon (`DIR/data/vault`). No
/// background flusher, so that dropping it releases the store's lock at once
/// (a daemon started next can open it); a lock still held by one dropped a
/// moment ago is waited for, up to 10 s.
#[track_caller]
pub fn open_store(vault_dir: &Path) -> sled::Db {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match sled::Config::new().path(vault_dir).flush_every_ms(None).open() {
            Ok(db) => return db,
            Err(e) if std::time::Instant::now() < deadline && e.to_string().contains("lock") => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("cannot open the store {}: {e}", vault_dir.display()),
        }
    }
}

/// The records in the store of a stopped daemon's vault dir.
#[track_caller]
pub fn stored_records(vault_dir: &Path) -> Vec<authsync_proto::record::Record> {
    let db = open_store(vault_dir);
    let tree = db.open_tree("records").expect("the store has a records tree");
    tree.iter()
        .map(|item| {
            authsync_proto::record::Record::decode(&item.expect("the store reads").1).expect("a stored record decodes")
        })
        .collect()
}

/// Whether `pid` is a running process (not gone, not a zombie).
pub fn running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// The current Unix time in seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}
