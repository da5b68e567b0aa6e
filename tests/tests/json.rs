//! The `--json` schema of every listing verb, as docs/JSON.md documents
//! it: exact key sets, plain names (`"type":"totp"`, `"algorithm":"SHA1"`),
//! and errors as `{"error", "code", "exit"}` on stdout.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use authsync_tests::{Instance, path_str};
use serde_json::Value;

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect()
}

fn set<'a>(names: &[&'a str]) -> BTreeSet<&'a str> {
    names.iter().copied().collect()
}

const ENTRY: &[&str] = &[
    "id",
    "issuer",
    "account",
    "spec",
    "tags",
    "note",
    "deleted",
    "updated_ms",
    "heads",
    "collection",
];

#[track_caller]
fn check_entry(e: &Value) {
    assert_eq!(keys(e), set(ENTRY), "{e}");
    let spec = &e["spec"];
    match spec["type"].as_str().unwrap() {
        "totp" | "steam" => assert_eq!(keys(spec), set(&["type", "algorithm", "digits", "period"]), "{spec}"),
        "hotp" => assert_eq!(keys(spec), set(&["type", "algorithm", "digits", "counter"]), "{spec}"),
        other => panic!("type {other}"),
    }
    assert!(
        ["SHA1", "SHA256", "SHA512"].contains(&spec["algorithm"].as_str().unwrap()),
        "{spec}"
    );
}

fn json(inst: &Instance, args: &[&str]) -> Value {
    inst.ctl_json(args)
}

#[test]
fn every_listing_verb_has_its_documented_shape() {
    let inst = Instance::with_household();
    inst.ctl_ok(&[
        "add",
        "otpauth://totp/Amazon:alice?secret=JBSWY3DPEHPK3PXP&issuer=Amazon&algorithm=SHA256&digits=8&period=60",
        "--tag",
        "shop",
    ]);
    inst.ctl_ok(&[
        "add",
        "otpauth://hotp/Bank:bob?secret=KRSXG5CTMVRXEZLU&issuer=Bank&counter=4",
    ]);
    inst.ctl_ok(&["add", "otpauth://steam/Steam:carol?secret=JRZCL47CMXVOQMNPZR2F7J4RGI"]);

    let list = json(&inst, &["list"]);
    assert_eq!(list.as_array().unwrap().len(), 3);
    list.as_array().unwrap().iter().for_each(check_entry);
    assert_eq!(
        list[0]["spec"],
        serde_json::json!({"type":"totp","algorithm":"SHA256","digits":8,"period":60})
    );
    assert_eq!(list[1]["spec"]["type"], "hotp");
    assert_eq!(
        list[2]["spec"],
        serde_json::json!({"type":"steam","algorithm":"SHA1","digits":5,"period":30})
    );

    check_entry(&json(&inst, &["show", "amazon"]));

    let code = json(&inst, &["code", "amazon"]);
    assert_eq!(keys(&code), set(&["code", "seconds_left", "entry"]), "{code}");
    check_entry(&code["entry"]);

    let history = json(&inst, &["history", "amazon"]);
    assert_eq!(
        keys(&history[0]),
        set(&[
            "record",
            "device",
            "device_name",
            "time_ms",
            "change",
            "head",
            "issuer",
            "account",
            "secret_fingerprint"
        ])
    );

    let log = json(&inst, &["log"]);
    let added = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["entry_label"] == "Amazon: alice")
        .unwrap();
    assert_eq!(added["event"], "entry_changed");
    assert_eq!(added["changes"], serde_json::json!(["added"]));
    assert_eq!(added["entry"], list[0]["id"]);
    let base = ["time_ms", "device", "device_name", "record", "what", "event"];
    let mut entry_keys = base.to_vec();
    entry_keys.extend(["entry", "entry_label", "changes"]);
    assert_eq!(keys(added), set(&entry_keys));
    let started = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "household_started")
        .unwrap();
    let mut device_keys = base.to_vec();
    device_keys.extend(["subject_device", "subject_device_name"]);
    assert_eq!(keys(started), set(&device_keys));
    let key = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "key_created")
        .unwrap();
    let mut key_keys = base.to_vec();
    key_keys.extend(["key_number", "sealed_to"]);
    assert_eq!(keys(key), set(&key_keys));

    let devices = json(&inst, &["devices"]);
    assert_eq!(
        keys(&devices[0]),
        set(&[
            "id",
            "name",
            "person",
            "this_device",
            "revoked",
            "left",
            "online",
            "last_seen_ms",
            "addr",
            "clock_skew_ms",
            "sent_bytes",
            "received_bytes",
            "forked",
            "quota_warning",
            "role",
            "reached"
        ])
    );
    assert!(json(&inst, &["exposed"]).as_array().unwrap().is_empty());

    let persons = json(&inst, &["persons"]);
    assert_eq!(keys(&persons[0]), set(&["name", "devices", "this_device"]), "{persons}");
    let collections = json(&inst, &["collections"]);
    assert_eq!(
        keys(&collections[0]),
        set(&["name", "kind", "persons", "entries", "readable"]),
        "{collections}"
    );
    assert_eq!(collections[0]["name"], "shared");
    assert!(
        collections[0]["persons"].is_null(),
        "shared is everyone's: {collections}"
    );
    assert!(json(&inst, &["lent"]).as_array().unwrap().is_empty());

    let status = json(&inst, &["status"]);
    for k in [
        "daemon",
        "initialized",
        "locked",
        "device",
        "device_name",
        "household",
        "members",
        "entries",
    ] {
        assert!(status.get(k).is_some(), "{k} in {status}");
    }

    let file = inst.write_file("list.txt", "otpauth://totp/New:x?secret=GEZDGNBVGY3TQOJQ&issuer=New\n");
    let report = json(&inst, &["import", path_str(&file)]);
    assert_eq!(keys(&report), set(&["imported", "skipped", "refused"]));
    check_entry(&report["imported"][0]);
}

#[test]
fn errors_under_json_are_json_on_stdout() {
    let inst = Instance::with_household();
    inst.ctl_ok(&["add", "otpauth://totp/GitHub:a?secret=JBSWY3DPEHPK3PXP&issuer=GitHub"]);
    inst.ctl_ok(&["add", "otpauth://totp/GitLab:a?secret=KRSXG5CTMVRXEZLU&issuer=GitLab"]);
    for (args, code, exit) in [
        (&["--json", "code", "nosuchsiteatall"][..], "not_found", 4),
        (&["--json", "code", "a"], "ambiguous", 4),
        (
            &[
                "--json",
                "add",
                "otpauth://totp/GitHub:a?secret=JBSWY3DPEHPK3PXP&issuer=GitHub",
            ],
            "already_exists",
            2,
        ),
        (&["--json", "add", "not a uri"], "bad_input", 2),
    ] {
        let out = inst.ctl(args);
        out.assert_exit(exit);
        let v: Value = out.json();
        assert_eq!(v["code"], code, "{out}");
        assert_eq!(v["exit"], exit, "{out}");
        assert!(v["error"].as_str().is_some_and(|m| !m.is_empty()), "{out}");
        if code == "ambiguous" {
            assert_eq!(v["candidates"].as_array().unwrap().len(), 2, "{out}");
        }
    }
}
