//! `authctl revoke`: what the revocation will do, the confirmation, and
//! `--lost-since` (when the device was lost, read as a time or a duration
//! ago; the daemon caps the device's records by when they reached it).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authsync_proto::ipc::{Reply, Request};
use authsync_proto::paths::Paths;

use crate::app::{Exit, call, unexpected};
use crate::input::BadInput;
use crate::output;

/// Reads `--lost-since`: `2h`, `90 minutes ago`, `2026-12-03 08:00:00` or
/// RFC 3339 (UTC). Returns Unix ms.
pub fn parse_when(text: &str, now: SystemTime) -> Result<u64, BadInput> {
    let text = text.trim();
    let ago = text.strip_suffix("ago").map(str::trim).unwrap_or(text);
    let at = if let Ok(duration) = humantime::parse_duration(ago) {
        now.checked_sub(duration)
    } else {
        humantime::parse_rfc3339_weak(text).ok()
    };
    let at = at.ok_or_else(|| {
        BadInput(format!(
            "--lost-since: '{text}' is neither a time (2026-12-03 08:00:00, UTC) nor a duration ago (2h, \"90 minutes ago\")"
        ))
    })?;
    if at > now {
        return Err(BadInput(
            "--lost-since is in the future; give when the device was lost".into(),
        ));
    }
    Ok(at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_millis() as u64)
}

/// Runs `revoke`: shows what it will do and asks, unless `yes`.
pub fn run(paths: &Paths, device: String, lost_since: Option<String>, yes: bool, json: bool) -> Result<(), Exit> {
    let lost_since_ms = lost_since
        .as_deref()
        .map(|w| parse_when(w, SystemTime::now()))
        .transpose()
        .map_err(|e| Exit::Other(e.into()))?;
    if !yes {
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() {
            return Err(Exit::Other(
                BadInput("revoke asks for confirmation on a terminal; from a script, add --yes".into()).into(),
            ));
        }
        let preview = Request::Revoke {
            device: device.clone(),
            lost_since_ms,
            preview: true,
        };
        match call(paths, &preview)? {
            Reply::RevokePlan(plan) => output::revoke_plan(&plan),
            other => return Err(unexpected(other)),
        }
        if !confirmed()? {
            return Err(Exit::Other(
                BadInput("not confirmed; nothing was changed".into()).into(),
            ));
        }
    }
    let request = Request::Revoke {
        device,
        lost_since_ms,
        preview: false,
    };
    match call(paths, &request)? {
        Reply::Exposure(reports) if json => output::json(&reports),
        Reply::Exposure(reports) => {
            if let Some(report) = reports.first() {
                outln!("Revoked {} ({}).", report.device_name, &report.device[..8]);
            }
            output::exposure(&reports);
        }
        other => return Err(unexpected(other)),
    }
    Ok(())
}

/// `revoke --person NAME`: every current device of that person; on a
/// terminal, names them and asks first.
pub fn person(paths: &Paths, person: String, yes: bool, json: bool) -> Result<(), Exit> {
    if !yes {
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() {
            return Err(Exit::Other(
                BadInput("revoke asks for confirmation on a terminal; from a script, add --yes".into()).into(),
            ));
        }
        let persons = match call(paths, &Request::Persons)? {
            Reply::Persons(p) => p,
            other => return Err(unexpected(other)),
        };
        let Some(found) = persons
            .iter()
            .find(|p| p.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(person.trim())))
        else {
            return Err(Exit::Other(
                BadInput(format!(
                    "no person of this household is called '{person}'; `authctl persons` lists them"
                ))
                .into(),
            ));
        };
        outln!(
            "This revokes every device of {}: {}. Each collection they could read gets a new key.",
            found.name.as_deref().unwrap_or("?"),
            found.devices.join(", ")
        );
        if !confirmed()? {
            return Err(Exit::Other(
                BadInput("not confirmed; nothing was changed".into()).into(),
            ));
        }
    }
    match call(paths, &Request::RevokePerson { person })? {
        Reply::Exposure(reports) if json => output::json(&reports),
        Reply::Exposure(reports) => {
            for report in &reports {
                outln!("Revoked {} ({}).", report.device_name, &report.device[..8]);
            }
            output::exposure(&reports);
        }
        other => return Err(unexpected(other)),
    }
    Ok(())
}

fn confirmed() -> Result<bool, Exit> {
    use std::io::{BufRead, Write};
    out!("Revoke it? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(NOW)
    }

    #[test]
    fn reads_durations_ago_and_times() {
        assert_eq!(parse_when("2h", now()).unwrap(), NOW - 7_200_000);
        assert_eq!(parse_when("2 hours ago", now()).unwrap(), NOW - 7_200_000);
        assert_eq!(parse_when("90min ago", now()).unwrap(), NOW - 5_400_000);
        assert_eq!(parse_when("2027-01-15 06:00:00", now()).unwrap(), NOW - 7_200_000);
        assert_eq!(parse_when("2027-01-15T06:00:00Z", now()).unwrap(), NOW - 7_200_000);
    }

    #[test]
    fn fail_on_nonsense_and_the_future() {
        assert!(parse_when("yesterday-ish", now()).is_err());
        assert!(parse_when("2099-01-01 00:00:00", now()).is_err());
    }
}
