//! Pairing between real daemons on loopback: `authctl pair` on a member,
//! `authctl join CODE --peer ADDR` on a new device. The happy path, and every
//! way a join must fail without writing anything: a wrong code (which also
//! cancels the offer), a used or expired code, a device that has a household,
//! an address where nothing listens, a locked sponsor, and two joiners racing
//! for one offer. `pair --wait` saying how the offer ended, both sides'
//! logs, `join` finding the offer (`--peer`, `config.toml` peers) before it
//! asks anything, and a taken name refused with a free one suggested.
#![allow(clippy::unwrap_used)]

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use authsync_proto::ipc::{DeviceInfo, EntrySummary, LogEvent};
use authsync_tests::household::{founder, online};
use authsync_tests::otp::{codes_between, totp};
use authsync_tests::{Instance, Output, authctl_bin, authd_bin, poll_until, unix_now, wait_until};

const AMAZON_SECRET: &str = "JBSWY3DPEHPK3PXP";
const GITHUB_SECRET: &str = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U";

/// How long sessions may take to come up after a join.
const CONNECT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------- helpers

/// A running daemon with no household, dialling `sponsor` once it has one
/// (as a device that joins through it would be started).
#[track_caller]
fn newcomer(sponsor: &Instance) -> Instance {
    let mut inst = Instance::new();
    inst.set_daemon_args(&["-v", "--peer", &sponsor.listen_addr()]);
    inst.start();
    inst
}

/// `authctl pair` on `sponsor` (with `args`): the code, alone on stdout.
#[track_caller]
fn pair(sponsor: &Instance, args: &[&str]) -> String {
    sponsor.listen_addr();
    let mut all = vec!["pair"];
    all.extend_from_slice(args);
    let out = sponsor.ctl_ok(&all);
    let code = out.trim().to_string();
    assert!(!code.is_empty() && !code.contains('\n'), "{out:?}");
    code
}

/// `authctl join CODE --peer SPONSOR --name NAME --no-passphrase` on `inst`.
#[track_caller]
fn join(inst: &Instance, sponsor: &Instance, code: &str, name: &str) -> Output {
    inst.ctl(&[
        "join",
        code,
        "--peer",
        &sponsor.listen_addr(),
        "--name",
        name,
        "--no-passphrase",
    ])
}

/// Asserts that a join failed the way a user can act on: a non-zero exit,
/// nothing on stdout, one `authctl: ` line saying each of `says`. Returns
/// that line.
#[track_caller]
fn assert_join_failed<'a>(out: &'a Output, says: &[&str]) -> &'a str {
    assert!(out.code().is_some_and(|c| c != 0), "join did not fail\n{out}");
    assert!(out.stdout.trim().is_empty(), "a failure printed on stdout\n{out}");
    let line = out.error_line();
    let lower = line.to_lowercase();
    for needle in says {
        assert!(
            lower.contains(&needle.to_lowercase()),
            "the error does not say {needle:?}\n{out}"
        );
    }
    line
}

/// Asserts that `inst` has no household and holds no record.
#[track_caller]
fn assert_nothing_written(inst: &Instance) {
    let status = inst.status();
    assert!(
        !status.initialized && status.records == 0 && status.household.is_none() && status.listen.is_none(),
        "{status:?}"
    );
}

/// `authctl --json devices`: the names, sorted.
#[track_caller]
fn device_names(inst: &Instance) -> Vec<String> {
    let list: Vec<DeviceInfo> = inst.ctl_json(&["devices"]);
    let mut names: Vec<String> = list.into_iter().map(|d| d.name).collect();
    names.sort();
    names
}

/// The `admitted device NAME (...)` events in `inst`'s audit log.
#[track_caller]
fn admissions(inst: &Instance) -> Vec<String> {
    let log: Vec<LogEvent> = inst.ctl_json(&["log"]);
    log.into_iter()
        .map(|e| e.what)
        .filter(|w| w.starts_with("admitted device "))
        .collect()
}

/// `code` with the same nameplate and a different last word (`acorn` and
/// `actor` stay in the word list: the docs use them).
fn wrong_words(code: &str) -> String {
    let (rest, last) = code.rsplit_once('-').unwrap();
    let other = if last == "acorn" { "actor" } else { "acorn" };
    format!("{rest}-{other}")
}

/// A UDP port on loopback where nothing listens (bound, then released).
fn closed_port() -> String {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().to_string()
}

// ------------------------------------------------------------------ tests

#[test]
fn a_joiner_is_admitted_and_holds_what_the_sponsor_holds() {
    let a = founder("a");
    a.ctl_ok(&[
        "add",
        "--secret",
        AMAZON_SECRET,
        "--issuer",
        "Amazon",
        "--account",
        "alice",
    ]);
    a.ctl_ok(&[
        "add",
        "--secret",
        GITHUB_SECRET,
        "--issuer",
        "GitHub",
        "--account",
        "carol",
    ]);
    a.ctl_ok(&["rm", "github"]);
    let b = newcomer(&a);
    let code = pair(&a, &[]);
    let out = join(&b, &a, &code, "b");
    out.assert_exit(0);
    assert!(
        out.stdout.starts_with("Joined household ") && out.stdout.contains(" as b."),
        "{out}"
    );

    let expected: Vec<EntrySummary> = a.ctl_json(&["list", "--deleted"]);
    wait_until(CONNECT, "B to hold every entry A holds", || {
        b.ctl_json::<Vec<EntrySummary>>(&["list", "--deleted"]) == expected
    });
    assert_eq!(b.list(), a.list());
    let (sa, sb) = (a.status(), b.status());
    assert_eq!((sa.household.clone(), sa.members), (sb.household.clone(), 2));
    assert_ne!(sa.device, sb.device);
    assert!(sb.initialized && !sb.locked, "{sb:?}");
    for inst in [&a, &b] {
        assert_eq!(device_names(inst), ["a", "b"]);
    }
    wait_until(CONNECT, "A and B to be online together", || {
        online(&a, "b") && online(&b, "a")
    });
    let from = unix_now();
    let codes = [a.code("amazon"), b.code("amazon")];
    let expected = codes_between(AMAZON_SECRET, &totp(), from, unix_now());
    assert!(codes.iter().all(|c| expected.contains(c)), "{codes:?} {expected:?}");

    let admitted = admissions(&a);
    assert_eq!(admitted.len(), 1, "{admitted:?}");
    assert!(admitted[0].starts_with("admitted device b ("), "{admitted:?}");
    assert_eq!(admissions(&b), admitted, "B reads the same audit trail");
}

#[test]
fn a_wrong_code_fails_cancels_the_offer_and_writes_nothing() {
    let a = founder("a");
    let b = newcomer(&a);
    let code = pair(&a, &[]);
    let wrong = wrong_words(&code);
    let out = join(&b, &a, &wrong, "b");
    let line = assert_join_failed(&out, &["did not match", "authctl pair"]).to_string();
    assert!(
        !line.contains(&wrong) && !line.contains(&code),
        "the error repeats a code: {line}"
    );
    assert_nothing_written(&b);

    // The offer is gone: the right code no longer works either, and the
    // joiner finds that out before asking anything.
    let out = join(&b, &a, &code, "b");
    assert_join_failed(&out, &["reached no device", "cancels"]);
    assert_nothing_written(&b);
    assert_eq!(a.status().members, 1);
    assert!(admissions(&a).is_empty());

    // A new offer works for the same device.
    let code = pair(&a, &[]);
    join(&b, &a, &code, "b").assert_exit(0);
    assert_eq!(device_names(&a), ["a", "b"]);
}

#[test]
fn a_code_works_once() {
    let a = founder("a");
    let b = newcomer(&a);
    let code = pair(&a, &[]);
    join(&b, &a, &code, "b").assert_exit(0);
    let c = newcomer(&a);
    let out = join(&c, &a, &code, "c");
    assert_join_failed(&out, &["reached no device", "works once"]);
    assert_nothing_written(&c);
    assert_eq!(device_names(&a), ["a", "b"]);
    assert_eq!(a.status().members, 2);
}

#[test]
fn an_expired_code_is_refused() {
    let a = founder("a");
    let b = newcomer(&a);
    let code = pair(&a, &["--ttl", "1"]);
    wait_until(Duration::from_secs(5), "the offer to expire", || {
        a.daemon_log().contains("pairing offer expired")
    });
    let out = join(&b, &a, &code, "b");
    assert_join_failed(&out, &["reached no device", "expires"]);
    assert_nothing_written(&b);
    assert_eq!(a.status().members, 1);
}

#[test]
fn join_on_a_device_with_a_household_changes_nothing() {
    let a = founder("a");
    let d = founder("d");
    d.ctl_ok(&[
        "add",
        "--secret",
        AMAZON_SECRET,
        "--issuer",
        "Amazon",
        "--account",
        "dora",
    ]);
    let before = d.snapshot();
    let status = d.status();
    let code = pair(&a, &[]);
    join(&d, &a, &code, "d2").assert_error(2, &["already has a household"]);
    d.assert_unchanged(&before);
    let after = d.status();
    assert_eq!(
        (after.household, after.device, after.members),
        (status.household, status.device, 1)
    );
    assert_eq!(a.status().members, 1);

    // The refusal did not touch the offer: a new device can still use it.
    let b = newcomer(&a);
    join(&b, &a, &code, "b").assert_exit(0);
    assert_eq!(device_names(&a), ["a", "b"]);
}

#[test]
fn join_to_an_address_where_nothing_listens_fails_cleanly() {
    let b = Instance::started();
    let addr = closed_port();
    let started = Instant::now();
    let out = b.ctl(&[
        "join",
        "7-orbit-velvet-cactus",
        "--peer",
        &addr,
        "--name",
        "b",
        "--no-passphrase",
    ]);
    let took = started.elapsed();
    assert_join_failed(&out, &["reached no device", "nothing answered", &addr]);
    assert!(took < Duration::from_secs(20), "join took {took:?}\n{out}");
    assert_nothing_written(&b);
    // The device is as new: it can still start a household.
    b.ctl_ok(&["init", "--no-passphrase", "--name", "b"]);
}

#[test]
fn a_locked_sponsor_does_not_pair() {
    let a = Instance::with_passphrase("correct horse battery staple");
    a.ctl_ok(&["lock"]);
    a.ctl(&["pair"]).assert_error(3, &["locked", "authctl unlock"]);
    a.unlock();
    assert!(!pair(&a, &[]).is_empty());
}

#[test]
fn two_joiners_racing_for_one_offer_at_most_one_gets_in() {
    let a = founder("a");
    let (b, c) = (newcomer(&a), newcomer(&a));
    let code = pair(&a, &[]);
    let addr = a.listen_addr();
    let racers: Vec<_> = [(b.ctl_handle(), "b"), (c.ctl_handle(), "c")]
        .into_iter()
        .map(|(ctl, name)| {
            let (code, addr) = (code.clone(), addr.clone());
            std::thread::spawn(move || ctl.ctl(&["join", &code, "--peer", &addr, "--name", name, "--no-passphrase"]))
        })
        .collect();
    let outs: Vec<Output> = racers.into_iter().map(|t| t.join().unwrap()).collect();
    let won: Vec<bool> = outs.iter().map(|o| o.code() == Some(0)).collect();
    assert!(
        won.iter().filter(|w| **w).count() <= 1,
        "both joined\n{}\n{}",
        outs[0],
        outs[1]
    );
    assert_eq!(
        won.iter().filter(|w| **w).count(),
        1,
        "neither joined\n{}\n{}",
        outs[0],
        outs[1]
    );
    for ((inst, out), won) in [&b, &c].into_iter().zip(&outs).zip(&won) {
        if *won {
            assert!(inst.status().initialized);
        } else {
            // The loser either lost the exchange itself, or found the offer
            // taken when `join` looked for it first (before any passphrase
            // or exchange): which one is the race's to decide.
            let line = assert_join_failed(out, &[]).to_lowercase();
            let reasons = [
                "pairing failed",
                "another device is pairing with this offer",
                "already used",
            ];
            assert!(
                reasons.iter().any(|r| line.contains(r)),
                "the loser is not told why\n{out}"
            );
            assert_nothing_written(inst);
        }
    }
    let winner = if won[0] { "b" } else { "c" };
    assert_eq!(device_names(&a), ["a", winner]);
    assert_eq!(admissions(&a).len(), 1);
}

/// Asserts that a join refused for a spent offer tells the user why, and
/// what to do, in words rather than as a TLS failure.
#[track_caller]
fn assert_says_why(out: &Output, why: &[&str]) {
    let line = assert_join_failed(out, &["authctl pair"]).to_lowercase();
    assert!(
        why.iter().any(|w| line.contains(w)),
        "the error says none of {why:?}\n{out}"
    );
    for jargon in ["certificate", "handshake", "stream ended"] {
        assert!(
            !line.contains(jargon),
            "the error is a transport failure, not a reason\n{out}"
        );
    }
}

/// Once an offer is used, cancelled by a wrong code or expired, the sponsor
/// refuses pairing connections at its TLS check; the joiner must turn that
/// into a reason and a next step, not print the transport failure.
#[test]
fn a_spent_code_is_refused_with_a_message_that_says_why() {
    let a = founder("a");
    let (b, c) = (newcomer(&a), newcomer(&a));

    let code = pair(&a, &[]);
    join(&c, &a, &wrong_words(&code), "c");
    assert_says_why(&join(&c, &a, &code, "c"), &["cancelled", "no pairing offer"]);

    let code = pair(&a, &[]);
    join(&b, &a, &code, "b").assert_exit(0);
    assert_says_why(&join(&c, &a, &code, "c"), &["used", "no pairing offer"]);

    let code = pair(&a, &["--ttl", "1"]);
    wait_until(Duration::from_secs(5), "the offer to expire", || {
        a.daemon_log().contains("pairing offer expired")
    });
    assert_says_why(&join(&c, &a, &code, "c"), &["expired", "no pairing offer"]);
    assert_nothing_written(&c);
}

/// `pair` names the address the new device can give `--peer`: a real one,
/// not a placeholder, and the join through it works.
#[test]
fn pair_prints_the_address_to_join_through() {
    let a = founder("a");
    let listen = a.listen_addr();
    let out = a.ctl(&["pair"]);
    out.assert_exit(0);
    assert!(!out.stderr.contains("THIS-HOST"), "{out}");
    assert!(out.stderr.contains(&format!("--peer {listen}")), "{out}");
    let b = newcomer(&a);
    join(&b, &a, out.stdout.trim(), "b").assert_exit(0);
    let json: serde_json::Value = a.ctl_json(&["pair"]);
    assert_eq!(json["addresses"], serde_json::json!([listen]));
}

// ------------------------------------------------ pair --wait, finding, names

/// `authctl pair --wait ARGS` running on `sponsor`: its code (the first line
/// of its stdout, read as soon as it is printed) and the process.
struct Waiting {
    code: String,
    child: std::process::Child,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

#[track_caller]
fn pair_waiting(sponsor: &Instance, args: &[&str]) -> Waiting {
    use std::io::BufRead;
    sponsor.listen_addr();
    let mut child = std::process::Command::new(authctl_bin())
        .args(["pair", "--wait"])
        .args(args)
        .env("AUTHSYNC_HOME", sponsor.home())
        .env("AUTHSYNC_AUTHD", authd_bin())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let code = if first.trim() == "{" {
        // --json: the pairing reply is a document of its own, first.
        for _ in 0..20 {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            first.push_str(&line);
            if line.trim_end() == "}" {
                break;
            }
        }
        let reply: serde_json::Value = serde_json::from_str(&first).unwrap();
        reply["code"].as_str().unwrap().to_string()
    } else {
        first.trim().to_string()
    };
    assert!(!code.is_empty(), "pair --wait printed no code");
    Waiting { code, child, stdout }
}

impl Waiting {
    /// Waits (bounded) for `pair --wait` to end: (exit code, stdout after
    /// the code, stderr).
    #[track_caller]
    fn end(mut self) -> (i32, String, String) {
        use std::io::Read;
        let mut status = None;
        let ended = poll_until(CONNECT, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        if !ended {
            let _ = self.child.kill();
            let _ = self.child.wait();
            panic!("pair --wait did not return");
        }
        let mut out = String::new();
        self.stdout.read_to_string(&mut out).unwrap();
        let mut err = String::new();
        self.child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        (status.unwrap().code().unwrap_or(-1), out, err)
    }
}

/// The local journal's events in `inst`'s log (no record says them), newest
/// first: (event, subject device name).
#[track_caller]
fn journal(inst: &Instance) -> Vec<(String, Option<String>)> {
    let log: Vec<LogEvent> = inst.ctl_json(&["log"]);
    log.into_iter()
        .filter(|e| e.record.is_empty())
        .map(|e| (e.event, e.subject_device_name))
        .collect()
}

fn event(name: &str, device: Option<&str>) -> (String, Option<String>) {
    (name.to_string(), device.map(str::to_string))
}

#[test]
fn pair_wait_says_who_joined_and_both_logs_tell_it() {
    let a = founder("a");
    let b = newcomer(&a);
    let err = join_while_pair_waits(&a, &b, "kitchen");
    assert!(err.contains("Waiting for the new device"), "{err}");

    assert_eq!(
        journal(&a),
        [event("offer_joined", Some("kitchen")), event("offer_opened", None)]
    );
    assert_eq!(journal(&b), [event("joined", None)]);
    let log: Vec<LogEvent> = b.ctl_json(&["log"]);
    assert!(
        log.iter()
            .any(|e| e.event == "device_admitted" && e.subject_device_name.as_deref() == Some("kitchen")),
        "{log:?}"
    );
    let text = a.ctl_ok(&["log"]);
    assert!(text.contains("kitchen joined with the pairing offer"), "{text}");

    // A later joiner is named as itself: the welcome it is sent leads with
    // the household's earlier `Member` records, kitchen's among them.
    let c = newcomer(&a);
    join_while_pair_waits(&a, &c, "porch");
    assert_eq!(journal(&a).first(), Some(&event("offer_joined", Some("porch"))));
}

/// `joiner` joins as `name` while `authctl pair --wait` waits on `sponsor`;
/// asserts the wait ends in success saying who joined. Its stderr.
#[track_caller]
fn join_while_pair_waits(sponsor: &Instance, joiner: &Instance, name: &str) -> String {
    let waiting = pair_waiting(sponsor, &[]);
    join(joiner, sponsor, &waiting.code, name).assert_exit(0);
    let (code, out, err) = waiting.end();
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.trim(), format!("{name} joined the household."), "{err}");
    err
}

#[test]
fn pair_wait_says_when_the_offer_expired_was_cancelled_or_replaced() {
    let a = founder("a");
    let b = newcomer(&a);

    let waiting = pair_waiting(&a, &["--ttl", "1"]);
    let (code, out, err) = waiting.end();
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.lines()
            .last()
            .unwrap_or_default()
            .contains("the offer expired and no device joined"),
        "{err}"
    );

    let waiting = pair_waiting(&a, &[]);
    let wrong = wrong_words(&waiting.code);
    assert_join_failed(&join(&b, &a, &wrong, "b"), &["did not match"]);
    let (code, _, err) = waiting.end();
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("the offer was cancelled (a wrong code was tried)"),
        "{err}"
    );
    assert_nothing_written(&b);

    // A newer `pair` replaces the offer a `pair --wait` waits on; under
    // --json the outcome is the second document, the reason one line.
    let waiting = pair_waiting(&a, &["--json"]);
    pair(&a, &[]);
    let (code, out, err) = waiting.end();
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.trim(), "authctl: a newer `authctl pair` replaced this offer");
    let outcome: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(outcome, serde_json::json!({"outcome": "replaced"}));

    assert_eq!(
        journal(&a),
        [
            event("offer_opened", None),
            event("offer_replaced", None),
            event("offer_opened", None),
            event("offer_cancelled", None),
            event("offer_opened", None),
            event("offer_expired", None),
            event("offer_opened", None),
        ]
    );
}

/// `join` looks for the offer before it asks for anything: on a terminal,
/// with nothing listening, it says it reached nobody and never prompts.
#[test]
fn join_finds_the_offer_before_it_asks_for_a_passphrase() {
    let b = Instance::started();
    let addr = closed_port();
    let command = format!(
        "{} join 7-orbit-velvet-cactus --peer {addr} --name b",
        authctl_bin().display()
    );
    let child = authsync_tests::on_a_terminal(&b, &command)
        .spawn()
        .expect("script runs (bsdutils)");
    let out = child.wait_with_output().unwrap();
    let screen = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{screen}");
    assert!(
        screen.contains("reached no device with pairing offer 7 open"),
        "{screen}"
    );
    assert!(screen.contains("nothing was asked or written"), "{screen}");
    assert!(
        !screen.to_lowercase().contains("passphrase"),
        "join asked first:\n{screen}"
    );
    assert_nothing_written(&b);
}

/// Without `--peer`, `join` tries the static peers of `config.toml`.
#[test]
fn join_finds_the_offer_at_a_configured_peer() {
    let a = founder("a");
    let code = pair(&a, &[]);
    let mut b = Instance::new();
    // A first peer where nothing answers, then the sponsor.
    b.write_file(
        "config.toml",
        &format!(
            "listen = \"127.0.0.1:0\"\nmdns = false\npeers = [\"{}\", \"{}\"]\n",
            closed_port(),
            a.listen_addr()
        ),
    );
    b.start();
    b.ctl_ok(&["join", &code, "--name", "b", "--no-passphrase"]);
    assert_eq!(device_names(&a), ["a", "b"]);
    wait_until(CONNECT, "b and a online together", || {
        online(&a, "b") && online(&b, "a")
    });
}

/// A joiner may not take the name of a current member: it is told which
/// name to use, nothing is written, and the same code then works.
#[test]
fn a_taken_device_name_is_refused_at_join_with_a_free_one_suggested() {
    let a = founder("vm");
    let b = newcomer(&a);
    let code = pair(&a, &[]);
    let out = join(&b, &a, &code, "VM");
    out.assert_exit(2);
    assert_join_failed(&out, &["already called 'VM'", "--name VM-2"]);
    assert_nothing_written(&b);
    assert_eq!(device_names(&a), ["vm"]);

    join(&b, &a, &code, "VM-2").assert_exit(0);
    assert_eq!(device_names(&a), ["VM-2", "vm"]);
}
