//! Households of real daemons on loopback, for scenarios with more than one
//! device: a founder, devices joined through a sponsor (both online before
//! the helper returns), and what `devices` says of each. Every daemon runs
//! with `-v`, so refused connections are in its log.

use std::time::Duration;

use authsync_proto::ipc::DeviceInfo;

use crate::{Instance, wait_until};

/// How long a new device and its sponsor may take to be online together.
pub const CONNECT: Duration = Duration::from_secs(15);

/// A running daemon that started a household as `name`.
#[track_caller]
pub fn founder(name: &str) -> Instance {
    found(name, &[])
}

/// [`founder`], the device of `person`.
#[track_caller]
pub fn founder_as(name: &str, person: &str) -> Instance {
    found(name, &["--person", person])
}

#[track_caller]
fn found(name: &str, more: &[&str]) -> Instance {
    let mut inst = Instance::new();
    inst.set_daemon_args(&["-v"]);
    inst.start();
    let mut args = vec!["init", "--no-passphrase", "--name", name];
    args.extend_from_slice(more);
    inst.ctl_ok(&args);
    inst
}

/// Starts the stopped `inst` with `-v` and `--peer` to each of `peers` (on
/// top of the sponsor it remembers, if it joined).
#[track_caller]
pub fn start_dialling(inst: &mut Instance, peers: &[&Instance]) {
    let mut args = vec!["-v".to_string()];
    for peer in peers {
        args.push("--peer".into());
        args.push(peer.listen_addr());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    inst.set_daemon_args(&args);
    inst.start();
}

/// `authctl pair` on `sponsor`: the one-time code.
#[track_caller]
pub fn pair(sponsor: &Instance) -> String {
    sponsor.listen_addr();
    sponsor.ctl_ok(&["pair"]).trim().to_string()
}

/// A new device called `name` with a key-file vault, joined through
/// `sponsor`; returns once both see each other online.
#[track_caller]
pub fn join(sponsor: &Instance, name: &str) -> Instance {
    join_with(sponsor, name, &pair(sponsor), &["--no-passphrase"])
}

/// A new device called `name`, started with `--peer` to `sponsor`, joined
/// with `code` and `auth` (`--no-passphrase` or `--passphrase-file F`);
/// returns once both see each other online.
#[track_caller]
pub fn join_with(sponsor: &Instance, name: &str, code: &str, auth: &[&str]) -> Instance {
    let mut inst = Instance::new();
    start_dialling(&mut inst, &[sponsor]);
    let addr = sponsor.listen_addr();
    let mut args = vec!["join", code, "--peer", addr.as_str(), "--name", name];
    args.extend_from_slice(auth);
    inst.ctl_ok(&args);
    let sponsor_name = sponsor.status().device_name.expect("the sponsor has a name");
    wait_until(
        CONNECT,
        &format!("{name} and {sponsor_name} to be online together"),
        || online(sponsor, name) && online(&inst, &sponsor_name),
    );
    inst
}

/// `authctl add` of a default TOTP entry.
#[track_caller]
pub fn add(inst: &Instance, issuer: &str, account: &str, secret: &str) {
    inst.ctl_ok(&["add", "--secret", secret, "--issuer", issuer, "--account", account]);
}

/// `authctl --json devices`.
#[track_caller]
pub fn devices(inst: &Instance) -> Vec<DeviceInfo> {
    inst.ctl_json(&["devices"])
}

/// The device called `name` in `list`.
#[track_caller]
pub fn device<'a>(list: &'a [DeviceInfo], name: &str) -> &'a DeviceInfo {
    list.iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("no device {name} in {list:?}"))
}

/// Whether `inst` knows a device called `name` and has a session up with it.
#[track_caller]
pub fn online(inst: &Instance, name: &str) -> bool {
    devices(inst).iter().any(|d| d.name == name && d.online)
}
