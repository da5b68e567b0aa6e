//! How replies are shown: for people by default, JSON with `--json`.

use authsync_proto::ipc::{CodeReply, DeviceInfo, EntrySummary, Exposure, LogEvent, StatusReply, VersionInfo};
use authsync_proto::otp::OtpKind;

/// UTC, ISO 8601.
pub fn time(ms: u64) -> String {
    authsync_proto::ipc::utc_time(ms)
}

fn kind(entry: &EntrySummary) -> String {
    let spec = &entry.spec;
    match spec.kind {
        OtpKind::Totp { period } => format!("totp {} {}d {period}s", spec.algorithm, spec.digits),
        OtpKind::Hotp { counter } => format!("hotp {} {}d #{counter}", spec.algorithm, spec.digits),
        OtpKind::Steam => "steam".to_string(),
    }
}

/// `n` and the noun in the singular or the plural: "1 entry", "2 entries".
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A clock skew in seconds with one decimal, never "-0.0".
pub fn skew_secs(ms: i64) -> String {
    let tenths = (ms as f64 / 100.0).round() as i64;
    if tenths == 0 {
        return "0.0 s".to_string();
    }
    format!(
        "{}{}.{} s",
        if tenths < 0 { "-" } else { "+" },
        tenths.abs() / 10,
        tenths.abs() % 10
    )
}

/// A failure under `--json`, on stdout: `{"error": message, "code": name,
/// "exit": N}`, with `"candidates"` (entries) for an ambiguous query. The
/// codes are the IPC error codes (`not_found`, `ambiguous`, `locked`, ...)
/// and `unavailable` (no daemon), `bad_input`, `failed`.
pub fn json_error(message: &str, code: &str, exit: u8, candidates: &[EntrySummary]) {
    let mut value = serde_json::json!({ "error": message, "code": code, "exit": exit });
    if !candidates.is_empty() {
        value["candidates"] = serde_json::to_value(candidates).unwrap_or_default();
    }
    json(&value);
}

pub fn json<T: serde::Serialize>(value: &T) {
    outln!(
        "{}",
        serde_json::to_string_pretty(value).expect("replies always serialize")
    );
}

pub fn entries(list: &[EntrySummary]) {
    if list.is_empty() {
        eprintln!("no entries; add one with `authctl add`");
    }
    for e in list {
        let deleted = if e.deleted { "  (deleted)" } else { "" };
        let merging = if e.heads > 1 { "  (merging edits)" } else { "" };
        let tags = if e.tags.is_empty() {
            String::new()
        } else {
            format!("  [{}]", e.tags.join(", "))
        };
        let collection = if e.collection.is_empty() {
            String::new()
        } else {
            format!("  in {}", e.collection)
        };
        outln!(
            "{:<8}  {:<40}  {}{collection}{tags}{deleted}{merging}",
            &e.id[..8],
            e.label(),
            kind(e)
        );
    }
}

pub fn entry(e: &EntrySummary) {
    outln!("id:       {}", e.id);
    outln!("issuer:   {}", e.issuer.as_deref().unwrap_or("-"));
    outln!("account:  {}", e.account);
    outln!("kind:     {}", kind(e));
    if !e.collection.is_empty() {
        outln!("in:       {}", e.collection);
    }
    if !e.tags.is_empty() {
        outln!("tags:     {}", e.tags.join(", "));
    }
    if !e.note.is_empty() {
        outln!("note:     {}", e.note);
    }
    outln!("updated:  {}", time(e.updated_ms));
    if e.deleted {
        outln!("deleted:  yes (authctl restore brings it back)");
    }
}

pub fn candidates(list: &[EntrySummary]) {
    for e in list {
        let deleted = if e.deleted { "  (deleted)" } else { "" };
        eprintln!("  {:<8}  {}{deleted}", &e.id[..8], e.label());
    }
}

/// A code; with `verbose`, the entry and its timing on stderr. The code of
/// the next period (`next`) is not valid yet: it starts when the current
/// one ends.
pub fn code(reply: &CodeReply, verbose: bool, next: bool) {
    outln!("{}", reply.code);
    if let Some(lent) = &reply.lent {
        eprintln!("lent by {}, until {}", lent.by, time(lent.until_ms));
    }
    if verbose {
        match reply.seconds_left {
            Some(left) if next => eprintln!("{}: starts in {left} s", reply.entry.label()),
            Some(left) => eprintln!("{}: valid for {left} s more", reply.entry.label()),
            None => eprintln!("{}", reply.entry.label()),
        }
    }
}

pub fn new_code(what: &str, reply: &CodeReply) {
    outln!("{what} {}", reply.entry.label());
    match reply.seconds_left {
        Some(left) => outln!("code: {}  (valid for {left} s more)", reply.code),
        None => outln!("code: {}", reply.code),
    }
}

pub fn history(versions: &[VersionInfo]) {
    for v in versions {
        let device = v.device_name.clone().unwrap_or_else(|| v.device[..8].to_string());
        let head = if v.head { "*" } else { " " };
        outln!(
            "{head} {}  {:<14}  secret {}  {}",
            time(v.time_ms),
            device,
            v.secret_fingerprint,
            v.change
        );
    }
}

pub fn log(events: &[LogEvent]) {
    for e in events {
        let device = e.device_name.clone().unwrap_or_else(|| e.device[..8].to_string());
        outln!("{}  {:<14}  {}", time(e.time_ms), device, e.what);
    }
}

pub fn skew_warning(skew_ms: Option<i64>) {
    if let Some(skew) = skew_ms {
        let (secs, way) = (skew.unsigned_abs() / 1000, if skew > 0 { "behind" } else { "ahead of" });
        eprintln!(
            "warning: this device's clock is {secs} s {way} its peers'; codes may be refused. Fix the clock (NTP)."
        );
    }
}

pub fn exposure(reports: &[Exposure]) {
    if reports.is_empty() {
        outln!("nothing is exposed: no device was revoked, and no one lost an entry they could read");
    }
    for report in reports {
        if report.cascaded {
            outln!(
                "{} is out too: the device that admitted it was revoked before it did.",
                report.device_name
            );
        }
        let open = report.entries.iter().filter(|e| !e.rotated).count();
        outln!(
            "{} {} could read {}; {open} still to re-enroll. For each: get a new secret from the site, then `authctl rotate ENTRY URI`.",
            report.device_name,
            match (&report.person, report.left, report.revoked) {
                (_, true, _) => "(left the household)".to_string(),
                (_, false, true) => "(revoked)".to_string(),
                (Some(person), false, false) => format!("({person}'s, no longer reads them)"),
                (None, false, false) => "(no longer reads them)".to_string(),
            },
            count(report.entries.len(), "entry", "entries")
        );
        for e in &report.entries {
            let mark = if e.rotated { "[x]" } else { "[ ]" };
            let deleted = if e.entry.deleted { "  (deleted)" } else { "" };
            outln!("  {mark} {}{deleted}", e.entry.label());
        }
    }
}

/// Devices grouped by person (devices of no person last).
pub fn devices(list: &[DeviceInfo]) {
    let mut persons: Vec<Option<&str>> = list.iter().map(|d| d.person.as_deref()).collect();
    persons.sort_by_key(|p| (p.is_none(), *p));
    persons.dedup();
    let grouped = persons.len() > 1 || persons.first().is_some_and(Option::is_some);
    for person in persons {
        if grouped {
            match person {
                Some(p) => outln!("{p}:"),
                None => outln!(
                    "no person's (confirm with `authctl device set-person DEVICE PERSON` on that person's device):"
                ),
            }
        }
        device_lines(list.iter().filter(|d| d.person.as_deref() == person));
    }
}

fn device_lines<'a>(list: impl Iterator<Item = &'a DeviceInfo>) {
    for d in list {
        let state = if d.this_device {
            "this device".to_string()
        } else if d.forked {
            "FORKED: its key is in two hands; revoke it".to_string()
        } else if d.left {
            "left".to_string()
        } else if d.revoked {
            "revoked".to_string()
        } else if d.online {
            "online".to_string()
        } else {
            d.last_seen_ms
                .map_or("never seen".to_string(), |ms| format!("last seen {}", time(ms)))
        };
        let addr = d.addr.as_deref().unwrap_or("-");
        let role = if d.role.as_deref() == Some("relay") {
            "  relay"
        } else {
            ""
        };
        let reached = d.reached.as_deref().map_or(String::new(), |r| format!("  via {r}"));
        let skew = d
            .clock_skew_ms
            .map_or(String::new(), |s| format!("  clock {}", skew_secs(s)));
        outln!(
            "{:<16}  {:<8}  {:<28}  {addr}{reached}{skew}{role}",
            d.name,
            &d.id[..8],
            state
        );
        if let Some(warning) = &d.quota_warning {
            outln!("{:<16}  warning: {warning}", "");
        }
    }
}

/// What a revocation will do, before it is confirmed.
pub fn revoke_plan(plan: &authsync_proto::ipc::RevokePlan) {
    outln!(
        "{} ({}): this device holds {} of its records; records after #{} will not count.",
        plan.device_name,
        &plan.device[..8],
        plan.held,
        plan.cap
    );
    if plan.recent.is_empty() {
        outln!("It admitted no device, made no key and revoked no one.");
    } else {
        outln!("What it did lately (arrival times here):");
        for act in &plan.recent {
            let when = act.arrived_ms.map_or("?".to_string(), time);
            let voided = if act.voided { "  -> undone" } else { "" };
            outln!("  #{:<6} {when}  {}{voided}", act.seq, act.what);
        }
    }
    if !plan.cascade.is_empty() {
        outln!("Devices it admitted after that go too: {}.", plan.cascade.join(", "));
    }
}

pub fn status(s: &StatusReply) {
    outln!("daemon:     {}", s.daemon);
    if !s.initialized {
        outln!("household:  none yet (run `authctl init`)");
        return;
    }
    outln!(
        "device:     {} ({})",
        s.device_name.as_deref().unwrap_or("?"),
        s.device.as_deref().unwrap_or("?")
    );
    outln!(
        "household:  {} ({})",
        s.household.as_deref().unwrap_or("?"),
        count(s.members, "member", "members")
    );
    if let Some(removed) = &s.removed {
        outln!("removed:    {}", removed.message());
    }
    outln!("vault:      {}", if s.locked { "locked" } else { "unlocked" });
    if let Some(n) = s.entries {
        outln!("entries:    {n}");
    }
    outln!("records:    {}", s.records);
    if s.quarantined > 0 {
        outln!(
            "warning:    {} stored records no longer pass the household's rules and were set aside",
            s.quarantined
        );
    }
    outln!("peers:      {} online", s.peers_online);
    if let Some(listen) = &s.listen {
        outln!("listening:  {listen}");
    }
    outln!("data:       {}", s.data_dir);
    if let Some(secs) = s.auto_lock_secs {
        outln!("auto-lock:  after {secs} s idle");
    }
}

/// `authctl lent`.
pub fn lent(list: &[authsync_proto::ipc::LentInfo]) {
    if list.is_empty() {
        outln!("nothing is lent");
    }
    for l in list {
        let state = if l.active { "until" } else { "ran out" };
        let here = if l.here { "  (lent to this device)" } else { "" };
        outln!(
            "{:<28}  to {:<12}  by {:<14}  {state} {}{here}",
            l.entry.as_deref().unwrap_or("(an entry this device cannot read)"),
            l.to,
            l.by,
            time(l.until_ms)
        );
    }
}

/// `authctl persons`.
pub fn persons(list: &[authsync_proto::ipc::PersonInfo]) {
    for p in list {
        let me = if p.this_device { "  (this device's)" } else { "" };
        outln!(
            "{:<16}  {}{me}",
            p.name.as_deref().unwrap_or("(no person)"),
            p.devices.join(", ")
        );
    }
}

/// `authctl collections`.
pub fn collections(list: &[authsync_proto::ipc::CollectionInfo]) {
    for c in list {
        let persons = c
            .persons
            .as_ref()
            .map_or_else(|| "everyone".to_string(), |p| p.join(", "));
        let readable = if c.readable {
            count(c.entries, "entry", "entries")
        } else {
            "not readable here".to_string()
        };
        outln!("{:<16}  {:<9}  {:<28}  {readable}", c.name, c.kind, persons);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc_times() {
        assert_eq!(super::time(0), "1970-01-01 00:00:00Z");
        assert_eq!(super::count(1, "member", "members"), "1 member");
        assert_eq!(super::count(2, "member", "members"), "2 members");
        assert_eq!(super::skew_secs(-40), "0.0 s");
        assert_eq!(super::skew_secs(49), "0.0 s");
        assert_eq!(super::skew_secs(-1_260), "-1.3 s");
        assert_eq!(super::skew_secs(20_000), "+20.0 s");
        assert_eq!(super::time(1_700_000_000_000), "2023-11-14 22:13:20Z");
        assert_eq!(super::time(951_782_400_000), "2000-02-29 00:00:00Z");
    }
}
