//! Other local users (DESIGN.md threat model): the socket's dir must be
//! private, and `authctl` must not talk to a socket someone else controls.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::sync::mpsc;
use std::time::Duration;

use authsync_proto::ipc::{Hello, Reply, Request, Response, StatusReply};
use authsync_tests::{Instance, files, path_str};

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
