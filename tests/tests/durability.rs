//! `kill -9` at random moments: what `authctl` reported done is on disk.
//!
//! Each round starts `authd`, runs requests in a loop on one thread while
//! this thread SIGKILLs the daemon after a random 0-300 ms, and records
//! which requests `authctl` reported as done. After every restart those
//! must all be there. The kill times come from a seeded RNG: set
//! `AUTHSYNC_TEST_SEED` to replay a failure's seed (printed on failure;
//! process timing still varies, so a replay is likely, not certain, to hit
//! the same moments).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use authsync_proto::ipc::{CodeReply, EntrySummary};
use authsync_proto::otp::{OtpKind, Secret};
use authsync_tests::otp::{RFC4226_SECRET, code_at, hotp, totp};
use authsync_tests::{Ctl, Instance, Output, poll_until};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Requests per round at most (a round normally ends with the kill).
const MAX_REQUESTS_PER_ROUND: usize = 100;
/// A round's request loop gives up after this long.
const MAX_ROUND_TIME: Duration = Duration::from_secs(10);
/// The latest moment of a kill, in ms after the round's requests began.
const MAX_KILL_MS: u64 = 300;

fn seed() -> u64 {
    let seed = std::env::var("AUTHSYNC_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap();
            now.as_nanos() as u64
        });
    eprintln!("AUTHSYNC_TEST_SEED={seed}");
    seed
}

/// What one request of the loop came to.
enum Step<T> {
    /// `authctl` reported success, with what the test must find later.
    Done(T),
    /// `authctl` could not reach the daemon (exit 69): it was killed.
    Gone(Output),
}

/// How the kills of a test landed, for the record.
#[derive(Default, Debug)]
struct Stats {
    done: usize,
    /// Requests cut off by the kill with no reply (in flight).
    cut: usize,
    /// Requests that found no daemon at all.
    refused: usize,
}

/// Runs `op` in a loop on another thread (with auto-start disabled, so a
/// killed daemon stays dead) and kills `authd` after `delay`. Returns what
/// `op` reported done.
fn run_until_killed<T: Send + 'static>(
    inst: &mut Instance,
    delay: Duration,
    stats: &mut Stats,
    op: impl Fn(&Ctl, usize) -> Step<T> + Send + 'static,
) -> Vec<T> {
    let ctl = inst.ctl_handle();
    let killed = Arc::new(AtomicBool::new(false));
    let worker = std::thread::spawn({
        let killed = Arc::clone(&killed);
        move || {
            let started = Instant::now();
            let mut done = Vec::new();
            let mut gone = Vec::new();
            for i in 0..MAX_REQUESTS_PER_ROUND {
                if killed.load(Ordering::SeqCst) || started.elapsed() > MAX_ROUND_TIME {
                    break;
                }
                match op(&ctl, i) {
                    Step::Done(t) => done.push(t),
                    Step::Gone(out) => {
                        gone.push(out);
                        break;
                    }
                }
            }
            (done, gone)
        }
    });
    // The moment of the crash is the test's input, not a wait for anything.
    std::thread::sleep(delay);
    inst.kill9();
    killed.store(true, Ordering::SeqCst);
    let (done, gone) = worker.join().expect("the request loop does not panic");
    stats.done += done.len();
    for out in gone {
        if out.stderr.contains("could not be started") {
            stats.refused += 1;
        } else {
            stats.cut += 1;
        }
    }
    done
}

/// `authctl ARGS` that never starts a daemon of its own.
fn ctl_no_start(ctl: &Ctl, args: &[&str]) -> Output {
    ctl.run(args, &[("AUTHSYNC_AUTHD", "/nonexistent/authd")], None)
}

/// Entry `round`/`i`: its account name and its own secret.
fn entry(round: usize, i: usize) -> (String, String) {
    let name = format!("r{round:02}-a{i:03}");
    let secret = Secret::new(format!("durable secret {name}").into_bytes());
    (name, secret.to_base32().to_string())
}

#[track_caller]
fn assert_all_present(inst: &Instance, acknowledged: &[(String, String)], seed: u64) {
    let list: Vec<EntrySummary> = inst.list();
    let present: BTreeSet<&str> = list.iter().map(|e| e.account.as_str()).collect();
    assert_eq!(present.len(), list.len(), "an entry is listed twice (seed {seed})");
    let missing: Vec<&str> = acknowledged
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| !present.contains(name))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged adds lost after kill -9 (seed {seed}): {missing:?}\n{}",
        inst.daemon_log()
    );
    // Each add is one record after the household's three (genesis, the
    // founder's person, the first key of `shared`).
    assert_eq!(inst.status().records, 3 + list.len(), "seed {seed}");
}

#[test]
fn every_acknowledged_add_survives_kill_9() {
    const ROUNDS: usize = 20;
    // Startup re-verifies every record (about 10 ms each in a debug build),
    // so a fresh household every few rounds keeps the test quick while each
    // household still goes through several crashes.
    const ROUNDS_PER_HOUSEHOLD: usize = 5;
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut stats = Stats::default();
    let mut total = 0;
    for household in 0..ROUNDS / ROUNDS_PER_HOUSEHOLD {
        let mut inst = Instance::with_household();
        let mut acknowledged = Vec::new();
        for round in household * ROUNDS_PER_HOUSEHOLD..(household + 1) * ROUNDS_PER_HOUSEHOLD {
            if inst.pid().is_none() {
                inst.start();
            }
            assert_all_present(&inst, &acknowledged, seed);
            let delay = Duration::from_millis(rng.gen_range(0..=MAX_KILL_MS));
            acknowledged.extend(run_until_killed(&mut inst, delay, &mut stats, move |ctl, i| {
                let (name, secret) = entry(round, i);
                let args = ["add", "--secret", &secret, "--issuer", "Durable", "--account", &name];
                let out = ctl_no_start(ctl, &args);
                match out.code() {
                    Some(0) => Step::Done((name, secret)),
                    Some(69) => Step::Gone(out),
                    _ => panic!("an add failed other than by the kill (seed {seed})\n{out}"),
                }
            }));
        }
        inst.start();
        assert_all_present(&inst, &acknowledged, seed);
        // And each holds its own secret.
        for (name, secret) in &acknowledged {
            inst.assert_totp(&["code", name], secret, &totp(), 0);
        }
        total += acknowledged.len();
    }
    eprintln!("{stats:?}");
    assert!(
        total >= ROUNDS,
        "only {total} adds in {ROUNDS} rounds: the loop did not run"
    );
}

#[test]
fn an_hotp_code_handed_out_is_never_handed_out_again_after_kill_9() {
    const ROUNDS: usize = 10;
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(1));
    let mut inst = Instance::with_household();
    inst.ctl_ok(&[
        "add",
        "--hotp",
        "--secret",
        RFC4226_SECRET,
        "--issuer",
        "Bank",
        "--account",
        "erin",
    ]);
    let mut handed_out: Vec<u64> = Vec::new();
    let mut stats = Stats::default();
    for round in 0..ROUNDS {
        if round > 0 {
            inst.start();
        }
        let delay = Duration::from_millis(rng.gen_range(0..=MAX_KILL_MS));
        handed_out.extend(run_until_killed(&mut inst, delay, &mut stats, move |ctl, _| {
            let out = ctl_no_start(ctl, &["--json", "code", "bank"]);
            match out.code() {
                Some(0) => {
                    let reply: CodeReply = out.json();
                    let OtpKind::Hotp { counter } = reply.entry.spec.kind else {
                        panic!("not HOTP\n{out}");
                    };
                    assert_eq!(reply.code, code_at(RFC4226_SECRET, &hotp(counter), 0), "{out}");
                    Step::Done(counter)
                }
                Some(69) => Step::Gone(out),
                _ => panic!("a code request failed other than by the kill (seed {seed})\n{out}"),
            }
        }));
    }
    inst.start();
    let next: CodeReply = inst.ctl_json(&["code", "bank"]);
    let OtpKind::Hotp { counter } = next.entry.spec.kind else {
        panic!("not HOTP: {next:?}");
    };
    handed_out.push(counter);
    // Strictly increasing: no counter (so no code) was used twice. A kill
    // between the write and the reply may skip one, never repeat one.
    assert!(
        handed_out.windows(2).all(|w| w[0] < w[1]),
        "an HOTP counter was handed out twice (seed {seed}): {handed_out:?}"
    );
    eprintln!("{stats:?}, counters {handed_out:?}");
}

// ------------------------------------------------- kill -9 during a sync

/// A free loopback UDP port (free when asked; the daemon binds it soon).
fn free_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port()
}

/// Starts `inst` listening on `port` and dialling `peer_port`.
fn start_at(inst: &mut Instance, port: u16, peer_port: u16) {
    let (listen, peer) = (format!("127.0.0.1:{port}"), format!("127.0.0.1:{peer_port}"));
    inst.set_daemon_args(&["-v", "--listen", &listen, "--peer", &peer]);
    inst.start();
}

/// The accounts `inst` lists.
fn accounts(inst: &Instance) -> BTreeSet<String> {
    inst.list().into_iter().map(|e| e.account).collect()
}

/// Adds entries named `prefix-NNN` on `ctl` until `stop` is set, the
/// daemon is gone, or the bounds are hit; returns the acknowledged names.
fn add_until(ctl: Ctl, prefix: String, stop: Arc<AtomicBool>, seed: u64) -> Vec<String> {
    let started = Instant::now();
    let mut done = Vec::new();
    for i in 0..MAX_REQUESTS_PER_ROUND {
        if stop.load(Ordering::SeqCst) || started.elapsed() > MAX_ROUND_TIME {
            break;
        }
        let name = format!("{prefix}-{i:03}");
        let secret = Secret::new(name.clone().into_bytes()).to_base32().to_string();
        let out = ctl_no_start(
            &ctl,
            &["add", "--secret", &secret, "--issuer", "Sync", "--account", &name],
        );
        match out.code() {
            Some(0) => done.push(name),
            Some(69) => break,
            _ => panic!("an add failed other than by the kill (seed {seed})\n{out}"),
        }
    }
    done
}

/// Two paired devices both write while one of them is killed at a random
/// moment (A and B in turn), so the kill lands in local writes, in records
/// arriving from the peer, and in their fsyncs. After each restart: the
/// store opens, every add either side acknowledged is on both, and both
/// hold the same records.
#[test]
fn kill_9_during_a_sync_loses_nothing_and_both_converge() {
    const ROUNDS: usize = 50;
    // A fresh pair every few rounds: startup re-verifies every record.
    const ROUNDS_PER_PAIR: usize = 10;
    const CONVERGE: Duration = Duration::from_secs(15);
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(2));
    let mut acknowledged_total = 0;
    for pair in 0..ROUNDS / ROUNDS_PER_PAIR {
        let (port_a, port_b) = (free_port(), free_port());
        let mut a = Instance::new();
        start_at(&mut a, port_a, port_b);
        a.ctl_ok(&["init", "--no-passphrase", "--name", "a"]);
        let mut b = Instance::new();
        start_at(&mut b, port_b, port_a);
        let code = a.ctl_ok(&["pair"]).trim().to_string();
        let sponsor = format!("127.0.0.1:{port_a}");
        b.ctl_ok(&["join", &code, "--peer", &sponsor, "--name", "b", "--no-passphrase"]);
        let mut acknowledged: BTreeSet<String> = BTreeSet::new();
        for round in pair * ROUNDS_PER_PAIR..(pair + 1) * ROUNDS_PER_PAIR {
            let stop = Arc::new(AtomicBool::new(false));
            let writers = [(&a, "a"), (&b, "b")].map(|(inst, who)| {
                let (ctl, stop) = (inst.ctl_handle(), Arc::clone(&stop));
                std::thread::spawn(move || add_until(ctl, format!("{who}{round:02}"), stop, seed))
            });
            std::thread::sleep(Duration::from_millis(rng.gen_range(0..=MAX_KILL_MS)));
            let victim = if round % 2 == 0 { &mut b } else { &mut a };
            victim.kill9();
            stop.store(true, Ordering::SeqCst);
            for writer in writers {
                acknowledged.extend(writer.join().expect("the add loop does not panic"));
            }
            if round % 2 == 0 {
                start_at(&mut b, port_b, port_a);
            } else {
                start_at(&mut a, port_a, port_b);
            }
            let converged = poll_until(CONVERGE, || {
                let (on_a, on_b) = (accounts(&a), accounts(&b));
                on_a == on_b && acknowledged.is_subset(&on_a) && a.status().records == b.status().records
            });
            assert!(
                converged,
                "round {round} (seed {seed}): not converged after {CONVERGE:?}\nlost on A: {:?}\nlost on B: {:?}\n{}\n{}",
                acknowledged.difference(&accounts(&a)).collect::<Vec<_>>(),
                acknowledged.difference(&accounts(&b)).collect::<Vec<_>>(),
                a.daemon_log(),
                b.daemon_log()
            );
        }
        acknowledged_total += acknowledged.len();
    }
    eprintln!("{ROUNDS} kills during sync, {acknowledged_total} acknowledged adds, none lost");
    assert!(
        acknowledged_total >= ROUNDS,
        "only {acknowledged_total} adds: the loops did not run"
    );
}
