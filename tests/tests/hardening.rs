//! Process hardening (issue 11): `authd` keeps an unlocked vault's keys out
//! of core files and away from its user's other processes whoever starts
//! it.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use authsync_tests::{Instance, files, path_str, running, wait_until};

/// Someone other than root, to run `authctl` as: the owner of a process's
/// `/proc/PID` files is its user while it is dumpable and root once it is
/// not, so only a process that is not root's shows the difference.
struct User {
    /// What runs a command as this user (empty: the test's own).
    prefix: Vec<String>,
    uid: u32,
}

/// `nobody` through `setpriv` when the test runs as root, else the test's
/// own user; `None` (with the reason printed) if root has no `setpriv`.
fn unprivileged() -> Option<User> {
    let me = nix::unistd::geteuid();
    if !me.is_root() {
        return Some(User {
            prefix: Vec::new(),
            uid: me.as_raw(),
        });
    }
    let setpriv = Command::new("setpriv").arg("--version").output();
    if !setpriv.is_ok_and(|out| out.status.success()) {
        let reason = "`setpriv` (util-linux) is not installed: cannot run authctl as another user";
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "cannot run with CI=true: {reason}"
        );
        println!("skipped: {reason}");
        return None;
    }
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("a `nobody` user");
    Some(User {
        prefix: ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
            .map(String::from)
            .to_vec(),
        uid: nobody.uid.as_raw(),
    })
}

/// `ARGS` as `user`, with core files allowed (`ulimit -c unlimited`, soft
/// and hard, set before switching users) so that the limit authd ends up
/// with is its own doing.
fn run_as(user: &User, env: &[(&str, &Path)], args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "ulimit -c unlimited && exec \"$@\"", "sh"])
        .args(&user.prefix)
        .arg("env");
    for (key, value) in env {
        cmd.arg(format!("{key}={}", path_str(value)));
    }
    cmd.args(args).stdin(Stdio::null()).output().unwrap()
}

/// The soft and hard core-file limits in a `/proc/PID/limits`.
fn core_limits(limits: &str) -> (String, String) {
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap_or_else(|| panic!("no core-file limit in\n{limits}"));
    let mut fields = line["Max core file size".len()..].split_whitespace();
    (fields.next().unwrap().to_string(), fields.next().unwrap().to_string())
}

fn limits_of(pid: i32) -> (String, String) {
    core_limits(&std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap())
}

/// Copies of `authctl` and `authd` that `user` can run (the build dir may
/// be closed to it).
fn binaries_for(user: &User) -> (Option<tempfile::TempDir>, PathBuf, PathBuf) {
    if user.prefix.is_empty() {
        return (None, authsync_tests::authctl_bin(), authsync_tests::authd_bin());
    }
    let dir = tempfile::Builder::new().prefix("authsync-bin-").tempdir().unwrap();
    files::set_mode(dir.path(), 0o755);
    let (authctl, authd) = (dir.path().join("authctl"), dir.path().join("authd"));
    std::fs::copy(authsync_tests::authctl_bin(), &authctl).unwrap();
    std::fs::copy(authsync_tests::authd_bin(), &authd).unwrap();
    (Some(dir), authctl, authd)
}

#[test]
fn an_authd_started_by_authctl_is_not_dumpable_and_has_no_core_files() {
    let Some(user) = unprivileged() else {
        return;
    };
    let inst = Instance::new();
    if !user.prefix.is_empty() {
        for path in [inst.home().to_path_buf(), inst.home().join("config.toml")] {
            std::os::unix::fs::chown(&path, Some(user.uid), None).unwrap();
        }
    }
    let (_dir, authctl, authd) = binaries_for(&user);
    let env = [("AUTHSYNC_HOME", inst.home()), ("AUTHSYNC_AUTHD", authd.as_path())];

    // What authctl inherits allows core files: a limit of 0 in authd is
    // authd's own doing.
    let shell = run_as(&user, &env, &["cat", "/proc/self/limits"]);
    assert!(shell.status.success(), "{shell:?}");
    let inherited = core_limits(&String::from_utf8_lossy(&shell.stdout));
    assert_eq!(inherited, ("unlimited".into(), "unlimited".into()));

    // authctl starts authd as `user`.
    let out = run_as(&user, &env, &[path_str(&authctl), "status"]);
    assert!(out.status.success(), "authctl status: {out:?}\n{}", inst.daemon_log());
    let pid: i32 = std::fs::read_to_string(inst.pid_file())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(running(pid), "the auto-started authd is not running");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).unwrap();
    assert_eq!(
        uid.split_whitespace().next(),
        Some(user.uid.to_string().as_str()),
        "authd does not run as the test's user: {uid}"
    );

    // Not dumpable: its /proc files are root's, and its own user cannot
    // read its environment (nor its memory, nor ptrace it).
    for file in ["environ", "mem", "maps"] {
        let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(format!("/proc/{pid}/{file}")).unwrap());
        assert_eq!(owner, 0, "/proc/{pid}/{file} belongs to uid {owner}: authd is dumpable");
    }
    let environ = format!("/proc/{pid}/environ");
    let read = run_as(&user, &env, &["cat", &environ]);
    assert!(
        !read.status.success() && read.stdout.is_empty(),
        "authd's own user read its environment: authd is dumpable"
    );
    // No core file, whatever the limit it was started with.
    assert_eq!(limits_of(pid), ("0".into(), "0".into()));

    // It still serves and stops as usual.
    let out = run_as(&user, &env, &[path_str(&authctl), "shutdown"]);
    assert!(out.status.success(), "authctl shutdown: {out:?}");
    wait_until(Duration::from_secs(15), "authd to exit", || !running(pid));
    assert!(!inst.pid_file().exists(), "authd left its pid file");
}

#[test]
fn an_authd_started_from_a_shell_has_a_core_limit_of_zero() {
    // authd inherits the test's limits, whose hard one allows core files
    // (a soft 0 could be raised); authd must leave both at 0.
    let inherited = limits_of(std::process::id() as i32);
    if inherited.1 == "0" {
        println!("skipped: this test already runs with a hard core-file limit of 0");
        return;
    }
    let inst = Instance::started();
    let pid = inst.pid().unwrap() as i32;
    assert_eq!(limits_of(pid), ("0".into(), "0".into()));
}

#[test]
fn the_systemd_unit_allows_no_core_files_either() {
    // Belt and braces: a unit that said otherwise would only be overridden
    // by authd itself.
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/authd.service");
    let unit = std::fs::read_to_string(&unit).unwrap();
    let service = unit.split("[Service]").nth(1).expect("a [Service] section");
    let service = service.split("\n[").next().unwrap();
    assert!(
        service.lines().any(|l| l.trim() == "LimitCORE=0"),
        "dist/authd.service lost LimitCORE=0"
    );
}
