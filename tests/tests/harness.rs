//! The harness's own promises: dropping an instance really kills its
//! daemons, both the one the test started and one `authctl` auto-started.
#![allow(clippy::unwrap_used)]

use authsync_tests::{Instance, running};

#[test]
fn dropping_an_instance_kills_and_reaps_its_daemon() {
    let inst = Instance::started();
    let pid = inst.pid().unwrap() as i32;
    let home = inst.home().to_path_buf();
    assert!(running(pid));
    drop(inst);
    assert!(!running(pid), "authd {pid} survived its instance");
    // Reaped, not only killed: not even a zombie is left.
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "authd {pid} was not reaped"
    );
    assert!(!home.exists(), "the temp home was not removed");
}

#[test]
fn dropping_an_instance_kills_a_daemon_authctl_started() {
    let inst = Instance::new();
    inst.ctl_ok(&["status"]);
    let pid: i32 = std::fs::read_to_string(inst.pid_file())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(running(pid));
    assert_eq!(inst.pid(), None, "the test did not start this one");
    drop(inst);
    assert!(!running(pid), "the auto-started authd {pid} survived its instance");
}
