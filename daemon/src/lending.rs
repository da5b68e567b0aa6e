//! Lending codes, not the seed (`authctl lend`, `lent`, and `code` on the
//! borrowing device): [`authsync_proto::lend`].

use authsync_proto::ipc::{CodeReply, EntrySummary, ErrorCode, IpcError, LentInfo, LentMark, LiveCode, Reply};
use authsync_proto::lend;
use authsync_proto::otp::{Algorithm, OtpKind, OtpSpec};
use authsync_proto::record::Body;
use rand::rngs::OsRng;

use crate::handlers::{self, Scope, internal, not_initialized};
use crate::vault::{Vault, now_ms};

type Result<T> = std::result::Result<T, IpcError>;

fn bad(message: impl Into<String>) -> IpcError {
    IpcError::new(ErrorCode::BadRequest, message)
}

fn device_name(vault: &Vault, device: &authsync_proto::ids::DeviceId) -> String {
    vault
        .ledger()
        .household()
        .and_then(|h| h.members.get(device))
        .map_or_else(|| device.short(), |m| m.info.name.clone())
}

/// `lend QUERY --to PERSON --for DURATION`: the codes of the window from
/// now, sealed to that person's current devices.
pub fn lend(vault: &mut Vault, query: &str, to: &str, for_secs: u64) -> Result<Reply> {
    let index = vault
        .unlocked()
        .map(|u| &u.index)
        .ok_or_else(|| IpcError::new(ErrorCode::Locked, "the vault is locked; run `authctl unlock`"))?;
    let household = vault.ledger().household().ok_or_else(not_initialized)?;
    let entry = handlers::resolve(index, query, Scope::Live)?;
    let person = household
        .persons()
        .into_iter()
        .find(|p| p.eq_ignore_ascii_case(to.trim()))
        .ok_or_else(|| {
            IpcError::new(
                ErrorCode::NotFound,
                format!("no person of this household is called '{to}'; `authctl persons` lists them"),
            )
        })?
        .to_owned();
    let devices: Vec<_> = household
        .key_holders()
        .filter(|m| m.person.as_deref() == Some(person.as_str()))
        .map(|m| (m.info.device, m.info.box_key))
        .collect();
    if devices.is_empty() {
        return Err(bad(format!("{person} has no device that can receive codes")));
    }
    let view = entry.view();
    let records = lend::lend(
        &mut OsRng,
        &household.id,
        entry.id(),
        (view.issuer.as_deref(), &view.account),
        &view.secret,
        &view.spec,
        &person,
        &devices,
        now_ms() / 1000,
        for_secs,
    )
    .map_err(|e| bad(format!("{} cannot be lent: {e}", view.label())))?;
    let label = view.label();
    let me = vault.device_id().map(|d| device_name(vault, &d)).unwrap_or_default();
    let infos = records
        .iter()
        .map(|l| LentInfo {
            entry: Some(label.clone()),
            to: person.clone(),
            by: me.clone(),
            from_ms: l.from_secs * 1000,
            until_ms: l.until_secs * 1000,
            active: true,
            here: false,
        })
        .collect();
    vault
        .append_own(records.into_iter().map(|lend| Body::Lend(Box::new(lend))).collect())
        .map_err(internal)?;
    Ok(Reply::Lent(infos))
}

/// `lent`: every lend of the household, newest first.
pub fn lent(vault: &Vault) -> Result<Reply> {
    let household = vault.ledger().household().ok_or_else(not_initialized)?;
    let index = vault.unlocked().map(|u| &u.index);
    let now = now_ms();
    let mut list: Vec<LentInfo> = vault
        .ledger()
        .records()
        .filter(|r| household.accepts(r.id))
        .filter_map(|r| match &r.body {
            Body::Lend(l) => Some((r, l)),
            _ => None,
        })
        .map(|(r, l)| {
            let here = index.and_then(|i| i.lent().iter().find(|x| x.record == r.id));
            let entry = here
                .map(label)
                .or_else(|| index.and_then(|i| i.get(&l.entry)).map(|e| e.view().label()));
            LentInfo {
                entry,
                to: l.to.clone(),
                by: device_name(vault, &r.id.origin),
                from_ms: l.from_secs * 1000,
                until_ms: l.until_secs * 1000,
                active: l.from_secs * 1000 <= now && now < l.until_secs * 1000,
                here: here.is_some(),
            }
        })
        .collect();
    list.sort_by_key(|l| std::cmp::Reverse(l.from_ms));
    Ok(Reply::Lent(list))
}

/// "Issuer: account", as every entry is named.
fn label(lent: &authsync_proto::entries::Lent) -> String {
    summary(lent, "").label()
}

/// `code QUERY` for codes lent to this device, when no entry of its own
/// matches: `None` if nothing lent matches either.
pub fn code(vault: &Vault, query: &str, next: bool) -> Option<Result<Reply>> {
    let index = vault.unlocked().map(|u| &u.index)?;
    let q = query.trim().to_lowercase();
    let matching: Vec<_> = index
        .lent()
        .iter()
        .filter(|l| {
            let name = label(l).to_lowercase();
            name.contains(&q) || l.codes.issuer.as_deref().is_some_and(|i| i.to_lowercase() == q)
        })
        .collect();
    if matching.is_empty() {
        return None;
    }
    let now = now_ms() / 1000;
    let at = |l: &&authsync_proto::entries::Lent| {
        if next { now + l.codes.period } else { now }
    };
    let Some(lent) = matching.iter().find(|l| l.codes.at(at(l)).is_some()) else {
        let end = matching.iter().map(|l| l.codes.end()).max().unwrap_or(0);
        return Some(Err(IpcError::new(
            ErrorCode::NotFound,
            format!(
                "the codes of {} lent to this device ran out {} ago (or start later); ask for them again",
                label(matching[0]),
                ago(now.saturating_sub(end))
            ),
        )));
    };
    let codes = &lent.codes;
    let code = codes.at(at(lent)).unwrap_or_default().to_owned();
    let period = codes.period;
    Some(Ok(Reply::Code(CodeReply {
        seconds_left: Some(period - now % period),
        entry: summary(lent, &code),
        code,
        clock_skew_ms: None,
        lent: Some(Box::new(LentMark {
            by: device_name(vault, &lent.record.origin),
            until_ms: codes.end() * 1000,
        })),
    })))
}

/// A lent code's entry as replies show it: no secret (there is none), its
/// collection shown as `lent`.
fn summary(lent: &authsync_proto::entries::Lent, code: &str) -> EntrySummary {
    let codes = &lent.codes;
    EntrySummary {
        id: lent.record.to_string(),
        issuer: codes.issuer.clone(),
        account: codes.account.clone(),
        spec: OtpSpec {
            kind: OtpKind::Totp { period: codes.period },
            algorithm: Algorithm::Sha1,
            digits: u8::try_from(code.len()).unwrap_or(6),
        },
        tags: Vec::new(),
        note: String::new(),
        deleted: false,
        updated_ms: codes.start * 1000,
        heads: 1,
        collection: "lent".to_owned(),
    }
}

/// The live view's rows for codes lent to this device whose window holds
/// `now`: the code of now and of the next period (when lent).
pub fn live(vault: &Vault, now: u64) -> Vec<LiveCode> {
    let Some(index) = vault.unlocked().map(|u| &u.index) else {
        return Vec::new();
    };
    index
        .lent()
        .iter()
        .filter_map(|lent| {
            let code = lent.codes.at(now)?.to_owned();
            let next = lent.codes.at(now + lent.codes.period).map(str::to_owned);
            Some(LiveCode {
                entry: summary(lent, &code),
                code: Some(code),
                next,
            })
        })
        .collect()
}

/// "5 s", "3 min", "2 h".
fn ago(secs: u64) -> String {
    match secs {
        0..120 => format!("{secs} s"),
        120..7200 => format!("{} min", secs / 60),
        _ => format!("{} h", secs / 3600),
    }
}
