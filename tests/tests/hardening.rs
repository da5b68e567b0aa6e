//! Process hardening (issue 11): `authd` keeps an unlocked vault's keys out
//! of core files and away from its user's other processes whoever starts
//! it, and `authctl add` / `rotate` ask for a secret on the terminal, so it
//! never has to be an argument (`/proc/PID/cmdline` is readable by every
//! local user).
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authsync_proto::otp::Secret;
use authsync_tests::otp::totp;
use authsync_tests::{Instance, files, path_str, running, unix_now, vectors, wait_until};

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

/// `authctl ARGS` on a terminal that `script` makes, typed at by the test.
struct Terminal {
    child: Child,
    stdin: Option<ChildStdin>,
    seen: Arc<Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Terminal {
    fn start(inst: &Instance, args: &[&str]) -> Terminal {
        let command = format!("{} {}", path_str(&authsync_tests::authctl_bin()), args.join(" "));
        let mut child = authsync_tests::on_a_terminal(inst, &command)
            .spawn()
            .expect("script runs (bsdutils)");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let seen = Arc::clone(&seen);
            let mut stdout = child.stdout.take().unwrap();
            std::thread::spawn(move || {
                let mut buf = [0u8; 512];
                while let Ok(n) = stdout.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    seen.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            })
        };
        let stdin = child.stdin.take();
        Terminal {
            child,
            stdin,
            seen,
            reader: Some(reader),
        }
    }

    /// What the terminal showed so far.
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned()
    }

    /// Waits for `prompt` (after everything already answered), then types
    /// `line`.
    fn answer(&mut self, prompt: &str, line: &str) {
        wait_until(Duration::from_secs(20), prompt, || self.screen().contains(prompt));
        self.type_line(line);
    }

    /// Waits for `prompt` and for authctl to turn the terminal's echo off
    /// (the prompt may show a moment before), then types `secret`. A
    /// program that never turns echo off fails here.
    fn answer_secret(&mut self, prompt: &str, secret: &str) {
        wait_until(Duration::from_secs(20), prompt, || self.screen().contains(prompt));
        authsync_tests::wait_for_echo_off(&authsync_tests::terminal_of(self.child.id()));
        self.type_line(secret);
    }

    fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for authctl to exit; whether it succeeded, and the screen.
    fn finish(mut self) -> (bool, String) {
        let mut status = None;
        authsync_tests::poll_until(Duration::from_secs(30), || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        let status = status.unwrap_or_else(|| panic!("authctl did not exit\n{}", self.screen()));
        self.stdin = None;
        self.reader.take().unwrap().join().unwrap();
        (status.success(), self.screen())
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Every process's command line that holds `secret`.
fn command_lines_holding(secret: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if !entry.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if files::find_bytes(&cmdline, secret.as_bytes()).is_some() {
            found.push(String::from_utf8_lossy(&cmdline).replace('\0', " "));
        }
    }
    found
}

/// A secret of this test's making: base32 for authctl, hex for oathtool.
fn seed(text: &str) -> (String, String) {
    let secret = Secret::new(text.as_bytes().to_vec());
    let hex = text.bytes().map(|b| format!("{b:02x}")).collect();
    (secret.to_base32().to_string(), hex)
}

/// Checks `query`'s code against oathtool's for the secret `hex`.
#[track_caller]
fn assert_oathtool_code(inst: &Instance, query: &str, hex: &str) {
    let from = unix_now();
    let code = inst.code(query);
    let to = unix_now();
    let want = vectors::independent_codes(hex, &totp(), from, to);
    assert!(want.contains(&code), "{query}: {code}, oathtool says one of {want:?}");
}

#[test]
fn add_and_rotate_ask_for_the_secret_on_the_terminal_without_echo() {
    let inst = Instance::with_household();
    let (secret, hex) = seed("typed-at-the-prompt-1");

    let mut term = Terminal::start(&inst, &["add"]);
    let prompt = "Secret (base32, or an otpauth:// URI): ";
    term.answer_secret(prompt, &secret);
    term.answer("Issuer (the site, e.g. Amazon): ", "Hardening");
    // authctl holds the secret now, and it is on no command line.
    assert_eq!(command_lines_holding(&secret), Vec::<String>::new());
    term.answer("Account (your login there): ", "alice@example.com");
    let (ok, screen) = term.finish();
    assert!(ok, "{screen}\n{}", inst.daemon_log());
    assert!(screen.contains("Added Hardening"), "{screen}");
    let after_prompt = screen.split(prompt).nth(1).unwrap();
    assert!(!after_prompt.contains(&secret), "the secret was echoed: {screen:?}");
    assert!(
        after_prompt.contains("alice@example.com"),
        "names are echoed: {screen:?}"
    );
    assert_oathtool_code(&inst, "hardening", &hex);

    // rotate asks for the new secret; an otpauth URI typed there works too.
    let (new_secret, new_hex) = seed("typed-at-the-prompt-2");
    let uri = format!("otpauth://totp/Hardening:alice@example.com?secret={new_secret}&issuer=Hardening");
    let mut term = Terminal::start(&inst, &["rotate", "hardening"]);
    let prompt = "New secret (base32, or an otpauth:// URI): ";
    term.answer_secret(prompt, &uri);
    let (ok, screen) = term.finish();
    assert!(ok, "{screen}\n{}", inst.daemon_log());
    assert!(screen.contains("Rotated"), "{screen}");
    let after_prompt = screen.split(prompt).nth(1).unwrap();
    assert!(!after_prompt.contains(&new_secret), "the secret was echoed: {screen:?}");
    assert_oathtool_code(&inst, "hardening", &new_hex);
}

#[test]
fn without_a_terminal_add_and_rotate_say_how_to_pass_the_secret() {
    let inst = Instance::with_household();
    let before = inst.snapshot();
    inst.ctl(&["add", "--issuer", "Hardening"])
        .assert_error(2, &["no terminal", "--secret -", "authctl add -"]);
    inst.ctl(&["add"]).assert_error(2, &["no terminal", "--secret -"]);
    assert_eq!(inst.snapshot(), before, "a refused add wrote something");

    let (secret, hex) = seed("from-standard-input");
    let out = inst.ctl_stdin(
        &["add", "--secret", "-", "--issuer", "Hardening"],
        &format!("{secret}\n"),
    );
    out.assert_exit(0);
    let before = inst.snapshot();
    inst.ctl(&["rotate", "hardening"])
        .assert_error(2, &["no terminal", "--secret -", "rotate QUERY -"]);
    assert_eq!(inst.snapshot(), before, "a refused rotate wrote something");
    assert_oathtool_code(&inst, "hardening", &hex);
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
