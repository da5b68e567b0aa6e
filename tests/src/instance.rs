//! One authsync instance: a temp `AUTHSYNC_HOME`, the `authd` the test
//! started there, and `authctl` runs against it.
//!
//! Invariants: every wait polls against a deadline; dropping an [`Instance`]
//! SIGKILLs and reaps its `authd`, and SIGKILLs any daemon `authctl`
//! auto-started in the same home (found by its pid file, and only if that
//! process really is an `authd` of this home); a test whose daemon panicked
//! fails even if every assertion held.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use authsync_proto::ipc::{EntrySummary, IpcError, Reply, Request, StatusReply};
use authsync_proto::otp::OtpSpec;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;

use crate::output::Output;
use crate::{CTL_TIMEOUT, READY_TIMEOUT, authctl_bin, authd_bin, otp, poll_until, raw, running, unix_now, wait_until};

/// Runs `authctl` against one home. Cheap to clone and `Send`, so a test can
/// drive an instance from several threads while it kills the daemon.
#[derive(Clone, Debug)]
pub struct Ctl {
    home: PathBuf,
    authctl: PathBuf,
    authd: PathBuf,
}

impl Ctl {
    /// `authctl ARGS` with `AUTHSYNC_HOME` and `AUTHSYNC_AUTHD` set, stdin
    /// empty, and `env` on top; fails the test if it runs over
    /// [`CTL_TIMEOUT`].
    pub fn run(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Output {
        let mut cmd = Command::new(&self.authctl);
        cmd.args(args)
            .env("AUTHSYNC_HOME", &self.home)
            .env("AUTHSYNC_AUTHD", &self.authd)
            .env("RUST_BACKTRACE", "1")
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            cmd.env(key, value);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.authctl.display()));
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            let input = input.to_vec();
            // authctl may not read it all; a broken pipe is its business.
            std::thread::spawn(move || {
                let _ = pipe.write_all(&input);
            });
        }
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut bytes);
                }
                String::from_utf8_lossy(&bytes).into_owned()
            })
        };
        let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
        let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
        let status = wait_child(&mut child, CTL_TIMEOUT);
        let output = Output {
            args: args.iter().map(|a| (*a).to_string()).collect(),
            status: status.unwrap_or_else(|| {
                let _ = child.kill();
                child.wait().expect("a killed authctl can be reaped")
            }),
            stdout: stdout.join().expect("the stdout reader does not panic"),
            stderr: stderr.join().expect("the stderr reader does not panic"),
        };
        assert!(status.is_some(), "authctl ran over {CTL_TIMEOUT:?}\n{output}");
        output
    }

    /// `authctl ARGS`.
    pub fn ctl(&self, args: &[&str]) -> Output {
        self.run(args, &[], None)
    }
}

/// Waits up to `timeout` for `child` to exit.
fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let mut status = None;
    poll_until(timeout, || {
        status = child.try_wait().expect("waiting for a child works");
        status.is_some()
    });
    status
}

/// What the records and entries were, to check that a refused request
/// wrote nothing.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// `status`'s record count.
    pub records: usize,
    /// `list --deleted`.
    pub entries: Vec<EntrySummary>,
}

/// A temp `AUTHSYNC_HOME` with the `authd` this test started in it.
pub struct Instance {
    home: TempDir,
    ctl: Ctl,
    child: Option<Child>,
    daemon_args: Vec<String>,
    starts: u32,
    passphrase_file: Option<PathBuf>,
    umask: Option<u32>,
}

impl Instance {
    /// An empty home; no daemon yet.
    pub fn new() -> Instance {
        let home = tempfile::Builder::new()
            .prefix("authsync-test-")
            .tempdir()
            .expect("a temp dir");
        // Every daemon of a test, started by the test or by authctl, listens
        // on a free loopback port and stays off mDNS: tests send nothing
        // beyond 127.0.0.1 and never collide on the default port.
        std::fs::write(
            home.path().join("config.toml"),
            "listen = \"127.0.0.1:0\"\nmdns = false\n",
        )
        .expect("a test config");
        let ctl = Ctl {
            home: home.path().to_path_buf(),
            authctl: authctl_bin(),
            authd: authd_bin(),
        };
        Instance {
            home,
            ctl,
            child: None,
            daemon_args: Vec::new(),
            starts: 0,
            passphrase_file: None,
            umask: None,
        }
    }

    /// A running daemon with no household yet.
    pub fn started() -> Instance {
        let mut instance = Instance::new();
        instance.start();
        instance
    }

    /// A running daemon with a household whose vault opens with a key file.
    pub fn with_household() -> Instance {
        let instance = Instance::started();
        instance.ctl_ok(&["init", "--no-passphrase", "--name", "test-device"]);
        instance
    }

    /// A running daemon with a household whose vault needs `passphrase`.
    pub fn with_passphrase(passphrase: &str) -> Instance {
        let mut instance = Instance::started();
        instance.init_with_passphrase(passphrase, "test-device");
        instance
    }

    /// `authctl init --passphrase-file` with `passphrase` (kept in a file
    /// of this home for [`Instance::unlock`]) and device `name`.
    #[track_caller]
    pub fn init_with_passphrase(&mut self, passphrase: &str, name: &str) {
        let file = self.write_file("passphrase", &format!("{passphrase}\n"));
        self.ctl_ok(&["init", "--passphrase-file", path_str(&file), "--name", name]);
        self.passphrase_file = Some(file);
    }

    /// Passes `args` to every `authd` started from now on.
    pub fn set_daemon_args(&mut self, args: &[&str]) {
        self.daemon_args = args.iter().map(|a| (*a).to_string()).collect();
    }

    /// Starts every `authd` from now on with this umask.
    pub fn set_daemon_umask(&mut self, umask: u32) {
        self.umask = Some(umask);
    }

    /// `AUTHSYNC_HOME`.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// `DIR/data`: the vault and its key file.
    pub fn data_dir(&self) -> PathBuf {
        self.home().join("data")
    }

    /// `DIR/data/vault`: the sled store.
    pub fn vault_dir(&self) -> PathBuf {
        self.data_dir().join("vault")
    }

    /// `DIR/run`: the socket, the pid file, an auto-started daemon's log.
    pub fn run_dir(&self) -> PathBuf {
        self.home().join("run")
    }

    /// The daemon's socket.
    pub fn socket(&self) -> PathBuf {
        self.run_dir().join("authd.sock")
    }

    /// The daemon's pid file.
    pub fn pid_file(&self) -> PathBuf {
        self.run_dir().join("authd.pid")
    }

    /// Writes `contents` to `DIR/NAME` (outside the data and run dirs) and
    /// returns its path.
    pub fn write_file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.home().join(name);
        fs::write(&path, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }

    /// A handle to run `authctl` from another thread.
    pub fn ctl_handle(&self) -> Ctl {
        self.ctl.clone()
    }

    /// The pid of the daemon this test started, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Starts `authd` and waits until it answers `status`.
    #[track_caller]
    pub fn start(&mut self) {
        self.spawn();
        self.wait_ready();
    }

    /// Starts `authd` without waiting for it; its stderr goes to
    /// `DIR/authd-N.stderr`.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "authd is already running");
        self.starts += 1;
        let log_path = self.home().join(format!("authd-{}.stderr", self.starts));
        let log = File::create(&log_path).expect("a file for authd's stderr");
        let mut cmd = match self.umask {
            // The shell sets the umask and execs authd: same pid, no unsafe.
            Some(umask) => {
                let mut cmd = Command::new("/bin/sh");
                cmd.arg("-c")
                    .arg(format!("umask {umask:03o} && exec \"$0\" \"$@\""))
                    .arg(&self.ctl.authd);
                cmd
            }
            None => Command::new(&self.ctl.authd),
        };
        let child = cmd
            .args(&self.daemon_args)
            .env("AUTHSYNC_HOME", self.home())
            .env("RUST_BACKTRACE", "1")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.ctl.authd.display()));
        self.child = Some(child);
    }

    /// Polls until the daemon answers `status` on its socket; fails the test
    /// at once if the daemon this test started exits instead.
    #[track_caller]
    pub fn wait_ready(&mut self) {
        let socket = self.socket();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Ok(Reply::Status(_))) = raw::call(&socket, &Request::Status) {
                return;
            }
            if let Some(child) = &mut self.child {
                if let Some(status) = child.try_wait().expect("waiting for authd works") {
                    self.child = None;
                    panic!("authd exited ({status}) instead of serving\n{}", self.daemon_log());
                }
            }
            assert!(
                Instant::now() < deadline,
                "authd did not answer within {READY_TIMEOUT:?}\n{}",
                self.daemon_log()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Starts `authd` expecting it to refuse: waits for it to exit with a
    /// failure and returns its stderr. Fails the test if it serves instead.
    #[track_caller]
    pub fn start_refused(&mut self) -> String {
        self.spawn();
        let socket = self.socket();
        let mut child = self.child.take().expect("just spawned");
        let mut status = None;
        let mut served = None;
        poll_until(READY_TIMEOUT, || {
            status = child.try_wait().expect("waiting for authd works");
            if status.is_none() {
                if let Ok(Ok(Reply::Status(s))) = raw::call(&socket, &Request::Status) {
                    served = Some(s);
                }
            }
            status.is_some() || served.is_some()
        });
        if status.is_none() {
            self.child = Some(child);
            match served {
                Some(s) => panic!(
                    "authd started and serves (initialized: {}, records: {}) where it should refuse\n{}",
                    s.initialized,
                    s.records,
                    self.daemon_log()
                ),
                None => panic!("authd neither served nor exited\n{}", self.daemon_log()),
            }
        }
        let status = status.expect("checked above");
        let log = self.daemon_log_of(self.starts);
        assert!(
            !status.success(),
            "authd exited successfully where it should refuse\n{log}"
        );
        assert!(!log.contains("panicked"), "authd panicked\n{log}");
        log
    }

    /// SIGKILLs the daemon this test started and reaps it.
    #[track_caller]
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("authd is running");
        child.kill().expect("SIGKILL reaches authd");
        let status = child.wait().expect("a killed authd can be reaped");
        assert!(!status.success(), "authd exited normally instead of being killed");
    }

    /// Stops the daemon with `authctl shutdown`, waits until it has exited,
    /// and checks it removed its socket and pid file.
    #[track_caller]
    pub fn stop(&mut self) {
        let pid = self.pid().map(|p| p as i32).or_else(|| self.pid_from_file());
        self.ctl(&["shutdown"]).assert_exit(0);
        match self.child.take() {
            Some(mut child) => {
                let status = wait_child(&mut child, READY_TIMEOUT);
                if status.is_none() {
                    self.child = Some(child);
                    panic!("authd did not exit after `authctl shutdown`\n{}", self.daemon_log());
                }
                let status = status.expect("checked above");
                assert!(status.success(), "authd exited with {status}\n{}", self.daemon_log());
            }
            None => {
                let pid = pid.expect("a daemon auto-started by authctl left a pid file");
                wait_until(READY_TIMEOUT, "the auto-started authd to exit", || !running(pid));
            }
        }
        assert!(!self.socket().exists(), "authd left its socket behind");
        assert!(!self.pid_file().exists(), "authd left its pid file behind");
    }

    /// Stops the daemon cleanly and starts it again.
    #[track_caller]
    pub fn restart(&mut self) {
        self.stop();
        self.start();
    }

    /// `kill -9`s the daemon and starts it again.
    #[track_caller]
    pub fn crash_restart(&mut self) {
        self.kill9();
        self.start();
    }

    /// `authctl ARGS`.
    pub fn ctl(&self, args: &[&str]) -> Output {
        self.ctl.ctl(args)
    }

    /// `authctl ARGS` with extra environment.
    pub fn ctl_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.ctl.run(args, env, None)
    }

    /// `authctl ARGS` reading `input` on stdin.
    pub fn ctl_stdin(&self, args: &[&str], input: &str) -> Output {
        self.ctl.run(args, &[], Some(input.as_bytes()))
    }

    /// `authctl ARGS`, which must succeed; returns its stdout.
    #[track_caller]
    pub fn ctl_ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        if out.code() != Some(0) {
            panic!("authctl failed\n{out}\n{}", self.daemon_log());
        }
        out.stdout
    }

    /// `authctl --json ARGS`, which must succeed, parsed.
    #[track_caller]
    pub fn ctl_json<T: serde::de::DeserializeOwned>(&self, args: &[&str]) -> T {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ctl(&all);
        if out.code() != Some(0) {
            panic!("authctl failed\n{out}\n{}", self.daemon_log());
        }
        out.json()
    }

    /// `authctl code QUERY`: the code alone.
    #[track_caller]
    pub fn code(&self, query: &str) -> String {
        let out = self.ctl(&["code", query]);
        if out.code() != Some(0) {
            panic!("authctl code failed\n{out}\n{}", self.daemon_log());
        }
        out.line().to_string()
    }

    /// Runs `authctl ARGS` (a `code` command) and checks the code it prints
    /// is the one `secret` and `spec` give `offset` seconds from now.
    /// Returns the code.
    #[track_caller]
    pub fn assert_totp(&self, args: &[&str], secret: &str, spec: &OtpSpec, offset: u64) -> String {
        let from = unix_now();
        let out = self.ctl(args);
        let to = unix_now();
        out.assert_exit(0);
        let code = out.line();
        let expected = otp::codes_between(secret, spec, from + offset, to + offset);
        assert!(
            expected.iter().any(|c| c == code),
            "{code} is none of the expected {expected:?}\n{out}"
        );
        code.to_string()
    }

    /// `authctl --json status`.
    #[track_caller]
    pub fn status(&self) -> StatusReply {
        self.ctl_json(&["status"])
    }

    /// The address the daemon's QUIC endpoint listens on (`status --json`
    /// `listen`), once it does: the network starts only when the device has
    /// a household, and the port is chosen at each start.
    #[track_caller]
    pub fn listen_addr(&self) -> String {
        let mut addr = None;
        wait_until(READY_TIMEOUT, "the daemon's network to listen", || {
            addr = self.status().listen;
            addr.is_some()
        });
        addr.expect("checked by the wait")
    }

    /// `authctl --json list`.
    #[track_caller]
    pub fn list(&self) -> Vec<EntrySummary> {
        self.ctl_json(&["list"])
    }

    /// `authctl --json show QUERY`.
    #[track_caller]
    pub fn show(&self, query: &str) -> EntrySummary {
        self.ctl_json(&["show", query])
    }

    /// Unlocks with the passphrase the household was made with.
    #[track_caller]
    pub fn unlock(&self) {
        let file = self.passphrase_file.as_ref().expect("a household with a passphrase");
        let out = self.ctl(&["unlock", "--passphrase-file", path_str(file)]);
        if out.code() != Some(0) {
            panic!("unlock failed\n{out}\n{}", self.daemon_log());
        }
    }

    /// One request straight over the socket.
    #[track_caller]
    pub fn request(&self, request: &Request) -> Result<Reply, IpcError> {
        raw::call(&self.socket(), request)
            .unwrap_or_else(|e| panic!("no answer to {}: {e}\n{}", request.op(), self.daemon_log()))
    }

    /// The records and entries now (the vault must be unlocked).
    #[track_caller]
    pub fn snapshot(&self) -> Snapshot {
        let records = match self.request(&Request::Status) {
            Ok(Reply::Status(s)) => s.records,
            other => panic!("status answered {other:?}"),
        };
        let entries = match self.request(&Request::List {
            deleted: true,
            query: None,
            tag: None,
        }) {
            Ok(Reply::Entries(list)) => list,
            other => panic!("list answered {other:?}"),
        };
        Snapshot { records, entries }
    }

    /// The daemon still serves, and nothing was written since `before`.
    #[track_caller]
    pub fn assert_unchanged(&self, before: &Snapshot) {
        let now = self.snapshot();
        assert_eq!(&now, before, "a refused request changed the vault");
    }

    /// Runs `authctl ARGS`, which must fail with exit `code` and a one-line
    /// message saying each of `says`, and write nothing (the vault must be
    /// unlocked). Returns the message.
    #[track_caller]
    pub fn assert_refused(&self, args: &[&str], code: i32, says: &[&str]) -> String {
        let before = self.snapshot();
        let out = self.ctl(args);
        let line = out.assert_error(code, says).to_string();
        self.assert_unchanged(&before);
        line
    }

    /// Everything the daemons of this home wrote on stderr: those this test
    /// started, then an auto-started one's `run/authd.log`.
    pub fn daemon_log(&self) -> String {
        let mut log = String::new();
        for n in 1..=self.starts {
            log.push_str(&self.daemon_log_of(n));
        }
        if let Ok(auto) = fs::read_to_string(self.run_dir().join("authd.log")) {
            log.push_str("--- run/authd.log ---\n");
            log.push_str(&auto);
        }
        log
    }

    fn daemon_log_of(&self, start: u32) -> String {
        let path = self.home().join(format!("authd-{start}.stderr"));
        let text = fs::read_to_string(&path).unwrap_or_default();
        format!("--- authd start #{start} stderr ---\n{text}")
    }

    fn pid_from_file(&self) -> Option<i32> {
        fs::read_to_string(self.pid_file()).ok()?.trim().parse().ok()
    }

    /// Whether `pid` is an `authd` serving this home (so never a stranger
    /// that reused a stale pid).
    fn is_our_daemon(&self, pid: i32) -> bool {
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
        let mut home = b"AUTHSYNC_HOME=".to_vec();
        home.extend_from_slice(self.home().as_os_str().as_encoded_bytes());
        let ours = match fs::read(format!("/proc/{pid}/environ")) {
            Ok(environ) => environ.split(|b| *b == 0).any(|var| var == home.as_slice()),
            // authd is not dumpable, so only root reads its environment;
            // a test run by another user goes by the socket it left.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => self.socket().exists(),
            Err(_) => false,
        };
        argv0.ends_with(b"authd") && ours
    }

    /// SIGKILLs the pid in the pid file if it is a daemon of this home.
    fn kill_auto_started(&self) {
        let Some(pid) = self.pid_from_file() else {
            return;
        };
        if running(pid) && self.is_our_daemon(pid) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            // Not our child: its parent (or init) reaps it; wait until it
            // is no longer running.
            poll_until(READY_TIMEOUT, || !running(pid));
        }
    }
}

impl Default for Instance {
    fn default() -> Self {
        Instance::new()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.kill_auto_started();
        let log = self.daemon_log();
        if std::thread::panicking() {
            eprintln!("{log}");
        } else if log.contains("panicked at") {
            panic!("authd panicked during the test\n{log}");
        }
    }
}

/// A path as `&str` for an argument list (test paths are UTF-8).
pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}
