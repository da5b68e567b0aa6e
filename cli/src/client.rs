//! Talking to the local daemon: connect (starting `authd` when none answers),
//! say hello, send requests, read replies. Blocking std I/O: one short
//! exchange per command, no runtime to start.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use authsync_proto::ipc::{ErrorCode, Hello, IpcError, MAX_LINE_BYTES, PROTOCOL_VERSION, Reply, Request, Response};
use authsync_proto::paths::Paths;

/// How long to wait for a freshly started daemon.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long any one reply may take (unlock with Argon2id included).
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// A failure to reach the daemon at all (exit 69).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

/// A connection to `authd`.
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

/// Why a request failed.
#[derive(Debug)]
pub enum Failure {
    /// No daemon could be reached or started.
    Unavailable(Unavailable),
    /// The daemon refused the request.
    Refused(IpcError),
}

impl From<Unavailable> for Failure {
    fn from(e: Unavailable) -> Self {
        Failure::Unavailable(e)
    }
}

fn hello_line() -> Vec<u8> {
    let hello = Hello {
        protocol: PROTOCOL_VERSION,
        agent: concat!("authctl ", env!("CARGO_PKG_VERSION")).to_string(),
    };
    let mut line = serde_json::to_vec(&hello).expect("a hello always serializes");
    line.push(b'\n');
    line
}

impl Client {
    /// Connects to the daemon of `paths`; starts one if none answers and
    /// `start` is set.
    pub fn connect(paths: &Paths, start: bool) -> Result<Client, Unavailable> {
        let socket = paths.socket();
        check_private(&paths.runtime_dir)?;
        match UnixStream::connect(&socket) {
            Ok(stream) => Client::new(stream),
            Err(_) if start => {
                start_daemon(paths)?;
                check_private(&paths.runtime_dir)?;
                let stream = UnixStream::connect(&socket)
                    .map_err(|e| Unavailable(format!("authd started but its socket refuses connections: {e}")))?;
                Client::new(stream)
            }
            Err(_) => Err(Unavailable(format!(
                "authd is not running (no socket at {})",
                socket.display()
            ))),
        }
    }

    fn new(stream: UnixStream) -> Result<Client, Unavailable> {
        let broken = |e: std::io::Error| Unavailable(format!("lost the connection to authd: {e}"));
        // Passphrases and seeds go over this socket: only to our own user's daemon.
        let me = nix::unistd::geteuid().as_raw();
        match nix::sys::socket::getsockopt(&stream, nix::sys::socket::sockopt::PeerCredentials) {
            Ok(cred) if cred.uid() == me => {}
            Ok(cred) => {
                return Err(Unavailable(format!(
                    "the daemon's socket belongs to uid {}, not to you (uid {me}); refusing to talk to it",
                    cred.uid()
                )));
            }
            Err(e) => return Err(Unavailable(format!("cannot check who serves the socket: {e}"))),
        }
        stream.set_read_timeout(Some(REPLY_TIMEOUT)).map_err(broken)?;
        let writer = stream.try_clone().map_err(broken)?;
        Ok(Client {
            reader: BufReader::new(stream),
            writer,
        })
    }

    /// Sends the hello and `request` in one write, then reads both replies:
    /// one round trip for the common case.
    pub fn call(mut self, request: &Request) -> Result<Reply, Failure> {
        let broken = |e: std::io::Error| Unavailable(format!("lost the connection to authd: {e}"));
        let mut out = hello_line();
        serde_json::to_writer(&mut out, request).expect("a request always serializes");
        out.push(b'\n');
        self.writer.write_all(&out).map_err(broken)?;
        out.fill(0);

        let hello: Result<Hello, Failure> = self.read();
        hello?;
        self.read::<Response>()
            .and_then(|r| Result::from(r).map_err(Failure::Refused))
    }

    /// [`Client::call`] for a request that may take up to `limit` (`pair
    /// --wait`) rather than the usual reply timeout.
    pub fn call_waiting(self, request: &Request, limit: Duration) -> Result<Reply, Failure> {
        self.reader
            .get_ref()
            .set_read_timeout(Some(limit.max(REPLY_TIMEOUT)))
            .map_err(|e| Unavailable(format!("lost the connection to authd: {e}")))?;
        self.call(request)
    }

    /// Opens a `watch` stream (see `Request::Watch`): [`Watch::changed`]
    /// then blocks until the daemon reports a change, with no timeout.
    pub fn watch(mut self) -> Result<Watch, Failure> {
        let broken = |e: std::io::Error| Unavailable(format!("lost the connection to authd: {e}"));
        let mut out = hello_line();
        serde_json::to_writer(&mut out, &Request::Watch).expect("a request always serializes");
        out.push(b'\n');
        self.writer.write_all(&out).map_err(broken)?;
        let hello: Result<Hello, Failure> = self.read();
        hello?;
        match self.read::<Response>()? {
            Response::Ok(Reply::Done) => {}
            Response::Ok(_) => return Err(Failure::Refused(not_understood())),
            Response::Error(e) => return Err(Failure::Refused(e)),
        }
        self.reader.get_ref().set_read_timeout(None).map_err(broken)?;
        Ok(Watch(self))
    }

    fn read<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, Failure> {
        let mut line = Vec::new();
        let n = (&mut self.reader)
            .take(MAX_LINE_BYTES as u64 * 64)
            .read_until(b'\n', &mut line)
            .map_err(|e| Unavailable(format!("lost the connection to authd: {e}")))?;
        if n == 0 {
            return Err(Unavailable("authd closed the connection".into()).into());
        }
        if let Ok(value) = serde_json::from_slice::<T>(&line) {
            return Ok(value);
        }
        // The daemon answers a bad hello with an error line instead.
        match serde_json::from_slice::<Response>(&line) {
            Ok(Response::Error(e)) => Err(Failure::Refused(e)),
            _ => Err(Failure::Refused(not_understood())),
        }
    }
}

fn not_understood() -> IpcError {
    IpcError::new(
        ErrorCode::Protocol,
        "authd sent a reply this authctl does not understand; are both the same version?",
    )
}

/// A `watch` stream; see [`Client::watch`].
pub struct Watch(Client);

impl Watch {
    /// Blocks until the daemon reports a change. An error once the daemon
    /// went away.
    pub fn changed(&mut self) -> Result<(), Failure> {
        match self.0.read::<Response>()? {
            Response::Ok(Reply::Changed) => Ok(()),
            Response::Ok(_) => Err(Failure::Refused(not_understood())),
            Response::Error(e) => Err(Failure::Refused(e)),
        }
    }
}

use std::io::Read as _;

/// The `authd` to start: `$AUTHSYNC_AUTHD`, else the one beside this
/// `authctl`, else `authd` on the PATH.
fn authd_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("AUTHSYNC_AUTHD") {
        return PathBuf::from(path);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("authd")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("authd"))
}

/// Refuses a runtime dir that another user owns or can enter: whoever
/// controls it could stand in for the daemon and receive passphrases.
fn check_private(dir: &Path) -> Result<(), Unavailable> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = fs::metadata(dir) else {
        return Ok(()); // not there yet: authd creates it, 0700
    };
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(Unavailable(format!(
            "{} is owned by uid {}, not by you (uid {me}); remove it, or set AUTHSYNC_HOME",
            dir.display(),
            meta.uid()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(Unavailable(format!(
            "{} has mode {:o}, open to other users; run `chmod 700 {}`",
            dir.display(),
            meta.mode() & 0o777,
            dir.display()
        )));
    }
    Ok(())
}

fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    if !dir.exists() {
        fs::create_dir_all(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Starts `authd` in the background (its own process group, so the
/// terminal's Ctrl-C does not reach it) and waits for its socket.
fn start_daemon(paths: &Paths) -> Result<(), Unavailable> {
    let fail = |what: String| Unavailable(format!("authd is not running and could not be started: {what}"));
    ensure_private_dir(&paths.runtime_dir).map_err(|e| fail(format!("{}: {e}", paths.runtime_dir.display())))?;
    let log_path = paths.runtime_dir.join("authd.log");
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| fail(format!("{}: {e}", log_path.display())))?;
    let binary = authd_binary();
    let mut child = Command::new(&binary)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(|e| fail(format!("{}: {e}", binary.display())))?;
    let deadline = Instant::now() + START_TIMEOUT;
    let socket = paths.socket();
    while Instant::now() < deadline {
        if UnixStream::connect(&socket).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            let last = fs::read_to_string(&log_path)
                .ok()
                .and_then(|log| log.lines().rev().find(|l| l.starts_with("authd: ")).map(str::to_string))
                .unwrap_or_else(|| format!("it exited with {status}"));
            return Err(fail(format!("{last} (log: {})", log_path.display())));
        }
        // authd binds its socket once its vault is open: a failed connect
        // costs microseconds, and a coarse poll would add to the wait a
        // person sees on the first `authctl` after login (issue 15).
        std::thread::sleep(Duration::from_millis(2));
    }
    Err(fail(format!(
        "no answer within {}s (log: {})",
        START_TIMEOUT.as_secs(),
        log_path.display()
    )))
}

/// Waits until a daemon asked to stop has let go of the vault (it removes
/// its pid file last).
pub fn wait_stopped(paths: &Paths) -> Result<(), Unavailable> {
    let pid_file = paths.runtime_dir.join("authd.pid");
    let deadline = Instant::now() + START_TIMEOUT;
    while pid_file.exists() {
        if Instant::now() > deadline {
            return Err(Unavailable(format!(
                "authd was asked to stop but is still running after {}s",
                START_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}
