//! A thousand local clients at once, a quarter of them silent, a quarter
//! sending garbage, a quarter stuck inside a line, a quarter idle after a
//! proper hello: `authctl code` must still answer, with the right code,
//! while they are all connected; and the daemon serves normally after.
#![allow(clippy::unwrap_used)]

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Instant;

use authsync_tests::Instance;
use authsync_tests::otp::totp;
use authsync_tests::raw::RawClient;
use nix::sys::resource::{Resource, getrlimit, setrlimit};

const AMAZON_URI: &str = "otpauth://totp/Amazon:alice?secret=JBSWY3DPEHPK3PXP&issuer=Amazon";
const AMAZON_SECRET: &str = "JBSWY3DPEHPK3PXP";
const CLIENTS: usize = 1000;
const CODES: usize = 20;

/// This process holds a thousand sockets (two handles for the idle ones).
fn raise_fd_limit(want: u64) {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft < want {
        setrlimit(Resource::RLIMIT_NOFILE, want.min(hard), hard).unwrap();
    }
}

/// Whether the daemon still holds `stream` open (a read would block).
fn still_open(mut stream: &UnixStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let open = match stream.read(&mut byte) {
        Err(e) => e.kind() == ErrorKind::WouldBlock,
        // An error reply (garbage) may be waiting; the stream is open if the
        // daemon has not closed it after.
        Ok(n) => n > 0,
    };
    stream.set_nonblocking(false).unwrap();
    open
}

#[test]
fn a_thousand_clients_some_hostile_do_not_stop_code() {
    // The daemon starts with this process's limit (1024 in many shells):
    // it must raise its own.
    let inst = Instance::with_household();
    inst.ctl_ok(&["add", AMAZON_URI]);
    raise_fd_limit(4 * CLIENTS as u64);
    let socket = inst.socket();

    let started = Instant::now();
    let mut silent = Vec::new();
    let mut others = Vec::new();
    let mut idle = Vec::new();
    for i in 0..CLIENTS {
        match i % 4 {
            0 => silent.push(UnixStream::connect(&socket).unwrap()),
            1 => {
                let mut s = UnixStream::connect(&socket).unwrap();
                s.write_all(b"\x00\xff{{not json at all\n").unwrap();
                others.push(s);
            }
            2 => {
                let mut s = UnixStream::connect(&socket).unwrap();
                s.write_all(br#"{"protocol":1,"agent":"sto"#).unwrap();
                others.push(s);
            }
            _ => idle.push(RawClient::open(&socket).unwrap()),
        }
    }
    let connected = started.elapsed();

    let mut times = Vec::with_capacity(CODES);
    for _ in 0..CODES {
        let t = Instant::now();
        inst.assert_totp(&["code", "amazon"], AMAZON_SECRET, &totp(), 0);
        times.push(t.elapsed());
    }
    // They were all still connected while the codes were served: the silent
    // ones are dropped only at the daemon's hello timeout (5 s).
    let open = silent.iter().filter(|s| still_open(s)).count();
    assert_eq!(
        open,
        silent.len(),
        "silent clients were dropped before the codes were served ({:?} after connecting)",
        started.elapsed()
    );
    times.sort();
    println!(
        "{CLIENTS} clients connected in {connected:.2?}; `authctl code` among them: median {:.2?}, max {:.2?}",
        times[CODES / 2],
        times[CODES - 1]
    );

    // The idle, well-behaved clients are still served.
    for client in idle.iter_mut().take(10) {
        let reply = client.call(&authsync_proto::ipc::Request::Status).unwrap();
        assert!(reply.is_ok(), "{reply:?}");
    }
    drop((silent, others, idle));
    inst.assert_totp(&["code", "amazon"], AMAZON_SECRET, &totp(), 0);
    let log = inst.daemon_log();
    assert!(!log.contains("panicked"), "{log}");
    assert!(!log.contains("accept failed"), "the daemon ran out of something: {log}");
}
