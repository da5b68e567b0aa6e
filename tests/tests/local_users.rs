//! Other local users (DESIGN.md threat model): the socket's dir must be
//! private, and `authctl` must not talk to a socket someone else controls.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::sync::mpsc;
use std::time::Duration;

use authsync_proto::ipc::{Hello, Reply, Request, Response, StatusReply};
use authsync_tests::{Instance, files, path_str, wait_until};

#[test]
fn authd_refuses_a_socket_dir_others_can_enter() {
    let mut inst = Instance::new();
    std::fs::create_dir(inst.run_dir()).unwrap();
    files::set_mode(&inst.run_dir(), 0o755);
    let log = inst.start_refused();
    assert!(log.contains("chmod 700"), "{log}");
    assert!(!inst.socket().exists());
    // authctl refuses the dir before starting a daemon in it.
    inst.ctl(&["status"])
        .assert_error(69, &["open to other users", "chmod 700"]);
}

/// A fake daemon on `listener`: answers as a locked vault, and reports any
/// passphrase it is sent.
fn fake_daemon(listener: UnixListener, passphrases: mpsc::Sender<String>) {
    let status = StatusReply {
        daemon: "authd 0.1.0".into(),
        initialized: true,
        locked: true,
        needs_passphrase: true,
        device: None,
        device_name: None,
        household: None,
        members: 1,
        records: 2,
        entries: None,
        data_dir: "/nowhere".into(),
        auto_lock_secs: None,
        listen: None,
        peers_online: 0,
        quarantined: 0,
        removed: None,
    };
    for stream in listener.incoming().take(4) {
        let Ok(stream) = stream else { return };
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut lines = BufReader::new(stream).lines();
        let Some(Ok(_hello)) = lines.next() else { continue };
        let hello = Hello {
            protocol: 1,
            agent: "fake".into(),
        };
        writeln!(writer, "{}", serde_json::to_string(&hello).unwrap()).unwrap();
        let Some(Ok(line)) = lines.next() else { continue };
        let reply = match serde_json::from_str::<Request>(&line) {
            Ok(Request::Unlock { passphrase }) => {
                let _ = passphrases.send(passphrase.map(|p| p.expose().to_string()).unwrap_or_default());
                Reply::Done
            }
            _ => Reply::Status(status.clone()),
        };
        let _ = writeln!(writer, "{}", serde_json::to_string(&Response::Ok(reply)).unwrap());
    }
}

#[test]
fn authctl_gives_no_passphrase_to_a_socket_another_user_controls() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: making a dir another user owns needs root");
        return;
    }
    let inst = Instance::new();
    // Another user made the socket's dir, enterable by all, and serves in it.
    let run = inst.run_dir();
    std::fs::create_dir(&run).unwrap();
    let listener = UnixListener::bind(inst.socket()).unwrap();
    files::set_mode(inst.home(), 0o711);
    files::set_mode(&run, 0o711);
    std::os::unix::fs::chown(&run, Some(65534), Some(65534)).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || fake_daemon(listener, tx));

    let pass = inst.write_file("passphrase", "my real passphrase\n");
    let out = inst.ctl(&["unlock", "--passphrase-file", path_str(&pass)]);
    let stolen = rx.recv_timeout(Duration::from_millis(200)).ok();
    assert_eq!(
        stolen, None,
        "authctl sent the passphrase to another user's socket\n{out}"
    );
    out.assert_error(69, &["owned"]);
}

/// Why `setpriv` tests cannot run here, if they cannot. Under `CI=true`
/// they must.
fn cannot_switch_users() -> Option<String> {
    let reason = if !nix::unistd::geteuid().is_root() {
        "not root (switching to `nobody` needs it)".to_string()
    } else {
        match std::process::Command::new("setpriv").arg("--version").output() {
            Ok(out) if out.status.success() => return None,
            _ => "`setpriv` (util-linux) is not installed".to_string(),
        }
    };
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "cannot run with CI=true: {reason}"
    );
    Some(reason)
}

/// `ARGS` run as `nobody`, with no supplementary groups.
fn as_nobody(args: &[&str]) -> std::process::Output {
    std::process::Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .args(args)
        .output()
        .unwrap()
}

/// Another local user gets nothing: `authctl` run as `nobody` cannot reach
/// the socket (the runtime dir is 0700), and even with the dir and socket
/// opened up by mistake, the daemon's SO_PEERCRED check closes the
/// connection without a word.
#[test]
fn another_user_cannot_use_the_socket() {
    if let Some(reason) = cannot_switch_users() {
        println!("skipped: {reason}");
        return;
    }
    let inst = Instance::with_household();
    inst.ctl_ok(&[
        "add",
        "otpauth://totp/Amazon:alice?secret=JBSWY3DPEHPK3PXP&issuer=Amazon",
    ]);
    // A copy of authctl that nobody can run (the build dir may be private).
    let bin = tempfile::Builder::new().prefix("authsync-bin-").tempdir().unwrap();
    files::set_mode(bin.path(), 0o755);
    let authctl = bin.path().join("authctl");
    std::fs::copy(authsync_tests::authctl_bin(), &authctl).unwrap();
    files::set_mode(&authctl, 0o755);
    let home = format!("AUTHSYNC_HOME={}", path_str(inst.home()));
    let authd = "AUTHSYNC_AUTHD=/nonexistent/authd";

    // As set up: the home and the runtime dir are closed to others.
    let out = as_nobody(&["env", &home, authd, path_str(&authctl), "code", "amazon"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "nobody ran authctl code: {stdout}");
    assert!(stdout.trim().is_empty(), "nobody got output: {stdout}");

    // Opened up by mistake: the daemon still refuses by the caller's uid.
    for dir in [inst.home(), &inst.run_dir()] {
        files::set_mode(dir, 0o755);
    }
    files::set_mode(&inst.socket(), 0o666);
    // Prints what the daemon said: nothing, whether the close shows as an
    // empty read or as a broken pipe.
    let probe = format!(
        "import socket\n\
         s = socket.socket(socket.AF_UNIX)\n\
         s.settimeout(10)\n\
         s.connect({:?})\n\
         try:\n    s.sendall(b'{{\"protocol\":1,\"agent\":\"nobody\"}}\\n')\n    print(repr(s.recv(4096)))\n\
         except (BrokenPipeError, ConnectionResetError):\n    print(repr(b''))\n",
        path_str(&inst.socket())
    );
    // Debian's python: one under /root (pyenv) is closed to nobody.
    let out = as_nobody(&["/usr/bin/python3", "-c", &probe]);
    let reply = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the probe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(reply.trim(), "b''", "authd answered another user");
    wait_until(Duration::from_secs(5), "authd to log the refusal", || {
        inst.daemon_log().contains("refused a client of another user")
    });
    for dir in [inst.home(), &inst.run_dir()] {
        files::set_mode(dir, 0o700);
    }
    files::set_mode(&inst.socket(), 0o600);
    inst.code("amazon");
}
