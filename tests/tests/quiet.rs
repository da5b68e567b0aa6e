//! A device with no household runs no mDNS responder: `authctl code
//! amazon` before `init` starts a daemon that opens no mDNS socket; the
//! responder starts with the network, once there is a household.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use authsync_tests::{Instance, READY_TIMEOUT, wait_until};

/// The inodes of the UDP sockets on port 5353 that process `pid` holds.
fn mdns_sockets(pid: u32) -> usize {
    let fds: BTreeSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let mut n = 0;
    for table in ["udp", "udp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() > 9 && cols[1].ends_with(":14E9") && fds.contains(cols[9]) {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn no_mdns_before_a_household_exists() {
    let inst = Instance::new();
    std::fs::write(
        inst.home().join("config.toml"),
        "listen = \"127.0.0.1:0\"\nmdns = true\n",
    )
    .unwrap();
    // Auto-starts authd, which has nothing to serve yet.
    inst.ctl(&["code", "amazon"]).assert_exit(2);
    let pid: u32 = std::fs::read_to_string(inst.pid_file())
        .expect("authctl started authd")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(mdns_sockets(pid), 0, "mDNS runs on a device with no household");
    inst.ctl(&["init", "--no-passphrase", "--name", "quiet"]).assert_exit(0);
    // The network (and with it mDNS) starts once there is a household.
    wait_until(READY_TIMEOUT, "mDNS to start with the household", || {
        mdns_sockets(pid) > 0
    });
}
