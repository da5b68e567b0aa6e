//! Living on a desktop: shell completions, the systemd user unit in
//! `dist/`, and the README's configuration section, checked against what
//! the code really reads.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Command, Stdio};

use authsync_daemon::config::Config;
use authsync_tests::{Instance, path_str};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn completions_cover_every_verb_and_parse() {
    let inst = Instance::new();
    let bash = inst.ctl_ok(&["completions", "bash"]);
    for verb in ["import", "export", "qr", "code", "pair", "completions"] {
        assert!(bash.contains(verb), "bash completion lacks {verb}");
    }
    assert!(bash.contains("google-qr"), "the export formats are completed");
    let check = Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(bash.as_bytes())?;
            child.wait()
        })
        .unwrap();
    assert!(check.success(), "bash -n refused the completion script");
    assert!(inst.ctl_ok(&["completions", "zsh"]).starts_with("#compdef authctl"));
    assert!(inst.ctl_ok(&["completions", "fish"]).contains("complete -c authctl"));
    inst.ctl(&["completions", "tcsh"]).assert_exit(2);
}

#[test]
fn the_systemd_unit_runs_authd_and_verifies() {
    let unit = std::fs::read_to_string(repo().join("dist/authd.service")).unwrap();
    assert!(unit.contains("\nExecStart=%h/.cargo/bin/authd\n"), "{unit}");
    assert!(unit.contains("\nWantedBy=default.target\n"), "{unit}");
    // systemd's own checker, with ExecStart pointing at this build's authd.
    let inst = Instance::new();
    let authd = authsync_tests::authd_bin();
    let copy = inst.write_file("authd.service", &unit.replace("%h/.cargo/bin/authd", path_str(&authd)));
    let out = Command::new("systemd-analyze")
        .args(["verify", path_str(&copy)])
        .output()
        .expect("systemd-analyze runs (.ci/run installs systemd)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
    // The README's install steps name the file as it is.
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(readme.contains("install -Dm644 dist/authd.service ~/.config/systemd/user/authd.service"));
}

#[test]
fn the_readme_documents_every_config_key_and_only_those() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = readme.split("## Configuration").nth(1).unwrap();
    let example = section.split("```toml\n").nth(1).unwrap().split("```").next().unwrap();
    // Every key the README shows is one the daemon reads (unknown keys are
    // refused), and every key the daemon reads is shown.
    let config: Config = toml::from_str(example).unwrap();
    assert!(
        config.name.is_some()
            && config.listen.is_some()
            && !config.peers.is_empty()
            && config.mdns.is_some()
            && config.auto_lock.is_some()
    );
    for key in ["name", "listen", "peers", "mdns", "auto_lock"] {
        assert!(section.contains(&format!("| `{key}` |")), "the table lacks {key}");
    }
    // And a daemon starts with it.
    let mut inst = Instance::new();
    std::fs::write(
        inst.home().join("config.toml"),
        example
            .replace("0.0.0.0:47811", "127.0.0.1:0")
            .replace("mdns = true", "mdns = false"),
    )
    .unwrap();
    inst.start();
    assert_eq!(inst.status().auto_lock_secs, Some(900));
    // `init` without `--name` takes the file's name.
    inst.ctl_ok(&["init", "--no-passphrase"]);
    assert_eq!(inst.status().device_name, config.name);
}
