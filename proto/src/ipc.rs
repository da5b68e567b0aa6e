//! The local IPC protocol between `authctl` (or any other tool) and `authd`.
//!
//! JSON lines over a Unix socket. The client's first line is a [`Hello`]; the
//! daemon answers with its own [`Hello`], or an error if the protocol versions
//! differ. Then each line is a [`Request`] answered by one [`Response`] line.
//! A line is at most [`MAX_LINE_BYTES`]. Errors carry an [`ErrorCode`] that
//! maps to the CLI's exit code, not only a message.
//!
//! The daemon hands out codes, not seeds: the one reply that carries
//! secrets is [`Reply::Revealed`], to [`Request::Reveal`], which needs the
//! vault passphrase again (for `export` and `qr`). Requests that *add* a
//! secret carry it as a [`WireSecret`].
//!
//! An [`Request::Import`] line may be up to [`MAX_IMPORT_LINE_BYTES`]; the
//! daemon reads past [`MAX_LINE_BYTES`] only for a line that starts with
//! [`IMPORT_LINE_PREFIX`].

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::otp::OtpSpec;

/// The protocol version; bumped on any incompatible change.
pub const PROTOCOL_VERSION: u32 = 1;

/// The longest line either side accepts, newline included.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// The longest `import` request line, newline included.
pub const MAX_IMPORT_LINE_BYTES: usize = 4 << 20;

/// How every `import` request line starts (serde writes the tag first).
pub const IMPORT_LINE_PREFIX: &[u8] = br#"{"op":"import","#;

/// Most entries one `import` request may add.
pub const MAX_IMPORT_ENTRIES: usize = 10_000;

/// The first line each side sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub protocol: u32,
    /// The sending program and its version, for diagnostics.
    pub agent: String,
}

/// A secret in transit to the daemon (base32 text). Zeroized on drop, and its
/// `Debug` never shows it; it is `Serialize` only because it must cross the
/// socket.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WireSecret(Zeroizing<String>);

impl WireSecret {
    /// Wraps base32 text.
    pub fn new(base32: String) -> Self {
        WireSecret(Zeroizing::new(base32))
    }

    /// The base32 text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WireSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WireSecret([redacted])")
    }
}

/// A new secret and how to make codes from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSecret {
    /// The seed, base32.
    pub secret: WireSecret,
    /// How codes are made.
    pub spec: OtpSpec,
}

/// A new entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEntry {
    /// The site.
    pub issuer: Option<String>,
    /// The login.
    pub account: String,
    /// The seed and its parameters.
    pub otp: NewSecret,
    /// Labels.
    #[serde(default)]
    pub tags: Vec<String>,
    /// A note.
    #[serde(default)]
    pub note: String,
}

/// One request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Daemon and vault state.
    Status,
    /// Starts a household on this device. Without a passphrase the vault key
    /// is kept in a key file beside the vault.
    Init {
        /// This device's name.
        name: String,
        /// The vault passphrase, or `None` for a key file.
        passphrase: Option<WireSecret>,
        /// Whose device this is (default: the login name).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        person: Option<String>,
    },
    /// Opens the vault.
    Unlock {
        /// The vault passphrase (`None` for a vault with a key file).
        passphrase: Option<WireSecret>,
    },
    /// Forgets every key in memory.
    Lock,
    /// Stops the daemon cleanly.
    Shutdown,
    /// Adds an entry; replies with its first code.
    Add {
        /// The entry.
        entry: NewEntry,
        /// The collection it goes in (name); default: [`Request::Add`]'s
        /// rule (the person's own once the household has two persons, or
        /// `default_collection`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        collection: Option<String>,
    },
    /// The current code of the entry `query` names.
    Code {
        /// Names one entry.
        query: String,
        /// The code of the next period instead (TOTP).
        #[serde(default)]
        next: bool,
        /// The code of the secret before the last rotation.
        #[serde(default)]
        previous: bool,
    },
    /// Every entry, or those `query` or `tag` picks.
    List {
        /// Deleted ones too.
        #[serde(default)]
        deleted: bool,
        /// Only the entries this matches (as `code` matches, but every match).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        query: Option<String>,
        /// Only the entries with this tag (case-insensitive).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tag: Option<String>,
    },
    /// One entry, without its secret.
    Show {
        /// Names one entry.
        query: String,
        /// Deleted entries count too.
        #[serde(default)]
        deleted: bool,
    },
    /// Changes an entry's issuer or account.
    Rename {
        /// Names one entry.
        query: String,
        /// The new issuer.
        issuer: Option<String>,
        /// The new account.
        account: Option<String>,
    },
    /// Changes an entry's tags or note.
    Edit {
        /// Names one entry.
        query: String,
        /// Tags to add.
        #[serde(default)]
        add_tags: Vec<String>,
        /// Tags to remove.
        #[serde(default)]
        remove_tags: Vec<String>,
        /// The new note.
        note: Option<String>,
    },
    /// Deletes an entry (it stays in history).
    Remove {
        /// Names one entry.
        query: String,
    },
    /// Undeletes an entry.
    Restore {
        /// Names one deleted entry.
        query: String,
    },
    /// Every version of an entry.
    History {
        /// Names one entry.
        query: String,
        /// Deleted entries count too.
        #[serde(default)]
        deleted: bool,
    },
    /// Replaces an entry's secret; the old one stays as `previous`.
    Rotate {
        /// Names one entry.
        query: String,
        /// The new secret.
        otp: NewSecret,
    },
    /// Opens a pairing offer: replies with the one-time code.
    Pair {
        /// How long the offer stays open (default 300 s).
        ttl_secs: Option<u64>,
    },
    /// Joins the household whose member shows `code` (this device must have
    /// no household yet).
    Join {
        /// The one-time code, `7-orbit-velvet-cactus`.
        code: String,
        /// The sponsor's `host:port`; found by mDNS when absent.
        peer: Option<String>,
        /// This device's name.
        name: String,
        /// The vault passphrase, or `None` for a key file.
        passphrase: Option<WireSecret>,
        /// Join as a relay: stores and forwards records, reads nothing
        /// (the daemon must run with `--relay`; no passphrase).
        #[serde(default)]
        relay: bool,
        /// Whose device this is.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        person: Option<String>,
    },
    /// The household's devices and what is known of each.
    Devices,
    /// Cuts a device out of the household (lost, stolen, sold); replies with
    /// the entries it could read.
    Revoke {
        /// The device's name or id (a prefix of at least 4 characters).
        device: String,
        /// Void its records that reached this device at or after this time
        /// (Unix ms): when it was lost. Without it, every record held counts.
        #[serde(default)]
        lost_since_ms: Option<u64>,
        /// Only say what the revocation would do ([`Reply::RevokePlan`]).
        #[serde(default)]
        preview: bool,
    },
    /// This device leaves the household; its vault is deleted once another
    /// member was sent the news.
    Leave,
    /// The entries revoked devices could read, each ticked once its secret
    /// was rotated.
    Exposed {
        /// One revoked device (name or id); all of them when absent.
        device: Option<String>,
    },
    /// Adds many entries at once, all or nothing, in one durable write.
    /// Entries equal to a live one (same secret, issuer and account) are
    /// skipped; any invalid entry refuses the whole request.
    Import {
        /// At most [`MAX_IMPORT_ENTRIES`].
        entries: Vec<NewEntry>,
        /// The collection they go in (as for `add`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        collection: Option<String>,
    },
    /// The secrets of live entries (all, or those `query` matches): for
    /// `export` and `qr`. Needs the vault passphrase again when the vault has
    /// one.
    Reveal {
        /// The vault passphrase (`None` for a vault with a key file).
        passphrase: Option<WireSecret>,
        /// Only the entries this matches (issuer or account); all when absent.
        query: Option<String>,
    },
    /// The audit log, newest first.
    Log {
        /// At most this many events.
        limit: Option<usize>,
    },
    /// Every live entry's current and next code (TOTP and Steam; HOTP
    /// entries come without, as showing one would use it up): the live
    /// view. Never a secret.
    Codes,
    /// Wipes this device's data dir and stops the daemon: `authctl reset`,
    /// after this device was removed from its household (or to start over).
    /// Tells no one: a current member should `leave` instead.
    Reset,
    /// Waits until the open pairing offer is used, expires or is cancelled:
    /// [`Reply::PairOutcome`] (`pair --wait`).
    PairWait,
    /// Looks for the pairing offer `code` names (at `peer`, the configured
    /// static peers, then by mDNS) without joining: `join` asks for a
    /// passphrase only once it is found. Replies [`Reply::Done`].
    FindOffer {
        /// The one-time code.
        code: String,
        /// The sponsor's `host:port`, if given.
        peer: Option<String>,
    },
    /// Takes the entry `query` names off the exposure checklist of every
    /// revoked device (or of `device`), on this device only.
    Dismiss {
        /// Names one entry.
        query: String,
        /// One revoked device (name or id); all of them when absent.
        #[serde(default)]
        device: Option<String>,
    },
    /// Turns the connection into a stream: [`Reply::Done`] at once, then
    /// [`Reply::Changed`] each time an entry, the lock state or the set of
    /// peers online changes (bursts coalesced), until the client hangs up
    /// or the daemon stops. No idle timeout applies to it.
    Watch,
    /// The household's persons and their devices.
    Persons,
    /// The collections this device knows, with their persons and entries.
    Collections,
    /// Makes a named collection read by `persons` (this device's person
    /// among them).
    CollectionNew {
        /// Its name.
        name: String,
        /// Who reads it besides this device's person.
        persons: Vec<String>,
    },
    /// Adds a person to a collection (`shared` or a named one).
    CollectionAdd {
        /// The collection's name.
        collection: String,
        /// The person.
        person: String,
    },
    /// Removes a person from a collection; its next epoch is sealed to the
    /// others only. Replies with what that person's devices could read.
    CollectionRemove {
        /// The collection's name.
        collection: String,
        /// The person.
        person: String,
    },
    /// Moves an entry to another collection (a new version there; the line
    /// in the old one closed).
    Share {
        /// Names one entry.
        query: String,
        /// The collection it goes to, by name (`shared`, a person's name for
        /// that person's own, or a named one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        collection: Option<String>,
        /// Or: the collection read by exactly this device's person and this
        /// one (made if there is none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        with: Option<String>,
    },
    /// Moves an entry back to this device's person's own collection;
    /// replies with who could read it.
    Unshare {
        /// Names one entry.
        query: String,
    },
    /// Renames a device.
    DeviceRename {
        /// The device's name or id.
        device: String,
        /// Its new name.
        name: String,
    },
    /// Says whose device a device is.
    DeviceSetPerson {
        /// The device's name or id.
        device: String,
        /// The person.
        person: String,
    },
    /// Revokes every device of a person; replies with what they could read.
    RevokePerson {
        /// The person.
        person: String,
    },
    /// Lends the TOTP codes of an entry for a while (never its secret) to a
    /// person's devices.
    Lend {
        /// Names one entry.
        query: String,
        /// The person.
        to: String,
        /// How long, seconds (at most a week).
        for_secs: u64,
    },
    /// What is lent: by this device's household, to whom, until when.
    Lent,
}

impl Request {
    /// The request's name, for logs (never its content).
    pub fn op(&self) -> &'static str {
        match self {
            Request::Status => "status",
            Request::Init { .. } => "init",
            Request::Unlock { .. } => "unlock",
            Request::Lock => "lock",
            Request::Shutdown => "shutdown",
            Request::Add { .. } => "add",
            Request::Code { .. } => "code",
            Request::List { .. } => "list",
            Request::Show { .. } => "show",
            Request::Rename { .. } => "rename",
            Request::Edit { .. } => "edit",
            Request::Remove { .. } => "remove",
            Request::Restore { .. } => "restore",
            Request::History { .. } => "history",
            Request::Rotate { .. } => "rotate",
            Request::Log { .. } => "log",
            Request::Pair { .. } => "pair",
            Request::Join { .. } => "join",
            Request::Devices => "devices",
            Request::Revoke { .. } => "revoke",
            Request::Leave => "leave",
            Request::Exposed { .. } => "exposed",
            Request::Import { .. } => "import",
            Request::Reveal { .. } => "reveal",
            Request::Codes => "codes",
            Request::Watch => "watch",
            Request::Persons => "persons",
            Request::Collections => "collections",
            Request::CollectionNew { .. } => "collection-new",
            Request::CollectionAdd { .. } => "collection-add",
            Request::CollectionRemove { .. } => "collection-remove",
            Request::Share { .. } => "share",
            Request::Unshare { .. } => "unshare",
            Request::DeviceRename { .. } => "device-rename",
            Request::DeviceSetPerson { .. } => "device-set-person",
            Request::RevokePerson { .. } => "revoke-person",
            Request::Lend { .. } => "lend",
            Request::Lent => "lent",
            Request::Reset => "reset",
            Request::PairWait => "pair_wait",
            Request::FindOffer { .. } => "find_offer",
            Request::Dismiss { .. } => "dismiss",
        }
    }
}

/// What kind of code an entry makes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntrySummary {
    /// The entry id.
    pub id: String,
    /// The site.
    pub issuer: Option<String>,
    /// The login.
    pub account: String,
    /// `totp`, `hotp` or `steam`, with its parameters.
    pub spec: OtpSpec,
    /// Labels.
    pub tags: Vec<String>,
    /// Note.
    pub note: String,
    /// Deleted (restorable).
    pub deleted: bool,
    /// When it last changed, Unix ms.
    pub updated_ms: u64,
    /// More than one: edits made apart are being merged.
    pub heads: usize,
    /// The collection it is in.
    #[serde(default)]
    pub collection: String,
}

impl EntrySummary {
    /// "Issuer: account", or the account alone.
    pub fn label(&self) -> String {
        match &self.issuer {
            Some(issuer) if !issuer.is_empty() && !self.account.is_empty() => format!("{issuer}: {}", self.account),
            Some(issuer) if !issuer.is_empty() => issuer.clone(),
            _ => self.account.clone(),
        }
    }
}

/// A code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeReply {
    /// The code itself.
    pub code: String,
    /// Seconds until it changes (TOTP and Steam).
    pub seconds_left: Option<u64>,
    /// Which entry it is for.
    pub entry: EntrySummary,
    /// Set when this device's clock is more than 15 s off its peers': the
    /// worst skew (peer minus us), ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_skew_ms: Option<i64>,
    /// Set when the code was lent to this device: by whom, until when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lent: Option<Box<LentMark>>,
}

/// Who lent a code, and until when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LentMark {
    /// The lending device's name.
    pub by: String,
    /// When the lent codes run out, Unix ms.
    pub until_ms: u64,
}

/// One lend, as `lent` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LentInfo {
    /// The entry's label, when this device can read it (or was lent it).
    pub entry: Option<String>,
    /// The person it was lent to.
    pub to: String,
    /// The lending device's name.
    pub by: String,
    /// The window, Unix ms.
    pub from_ms: u64,
    /// The window's end, Unix ms.
    pub until_ms: u64,
    /// Whether the window holds now.
    pub active: bool,
    /// Whether it was lent to this device.
    pub here: bool,
}

/// An open pairing offer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairingReply {
    /// The one-time code to type on the new device.
    pub code: String,
    /// Seconds until the offer expires.
    pub expires_in_secs: u64,
    /// Where this daemon listens (for `join --peer`).
    pub listen: Option<String>,
    /// The `host:port` addresses the new device can give `join --peer`:
    /// this machine's non-loopback addresses when listening on all of them.
    #[serde(default)]
    pub addresses: Vec<String>,
}

/// How a pairing offer ended (`pair --wait`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairOutcome {
    /// `joined`, `expired`, `cancelled` (a wrong code), or `replaced` (a
    /// newer `pair` took its place).
    pub outcome: String,
    /// For `joined`: the new device's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// For `joined`: the new device's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

/// This device was removed from its household: what the signed `Revoke`
/// that a member showed it says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    /// When the member revoked it (Unix ms, the revoker's clock).
    pub time_ms: u64,
    /// The revoker's device id.
    pub by: String,
    /// The revoker's name.
    pub by_name: String,
}

impl Removed {
    /// The one line every verb shows on a removed device.
    pub fn message(&self) -> String {
        format!(
            "this device was removed from its household on {} by {}; run `authctl reset` to wipe it and start over",
            utc_date(self.time_ms),
            self.by_name
        )
    }
}

/// `YYYY-MM-DD HH:MM:SSZ` of a Unix time in ms, UTC, without a date library
/// (civil-from-days, Howard Hinnant's algorithm): how replies show times.
pub fn utc_time(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02}:{s:02}Z")
}

/// [`utc_time`] to the minute: `YYYY-MM-DD HH:MMZ`.
fn utc_date(ms: u64) -> String {
    let full = utc_time(ms);
    format!("{}Z", &full[..full.len() - 4])
}

/// What a revoked device could read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exposure {
    /// The revoked device's id.
    pub device: String,
    /// Its name.
    pub device_name: String,
    /// Its person, if any.
    #[serde(default)]
    pub person: Option<String>,
    /// It left itself (`authctl leave`): only what it could still read
    /// (live entries not rotated since) is listed.
    #[serde(default)]
    pub left: bool,
    /// The entries it could read, with whether each was rotated since.
    pub entries: Vec<ExposedEntry>,
    /// Whether it is out because the device that admitted it was revoked
    /// before admitting it (the cascade), not revoked itself.
    #[serde(default)]
    pub cascaded: bool,
    /// Whether it is out of the household (revoked, left or cascaded); a
    /// current device is listed for what it reads no more (its person
    /// removed from a collection, or an entry unshared).
    #[serde(default)]
    pub revoked: bool,
}

/// What a revocation would do, for the confirmation `revoke` asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokePlan {
    /// The device's id.
    pub device: String,
    /// Its name.
    pub device_name: String,
    /// Its records up to this seq keep counting.
    pub cap: u64,
    /// Its records this device holds.
    pub held: u64,
    /// What it did lately that matters (not entry edits), newest first,
    /// with when each reached this device.
    pub recent: Vec<RecentAct>,
    /// Devices that go with it: admitted by its records past the cap.
    pub cascade: Vec<String>,
}

/// One thing a device did, as `revoke` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentAct {
    /// The record's seq.
    pub seq: u64,
    /// When it reached this device, Unix ms.
    pub arrived_ms: Option<u64>,
    /// What it did: `admitted device bob-phone`.
    pub what: String,
    /// Whether the revocation voids it.
    pub voided: bool,
}

/// One entry on the exposure checklist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExposedEntry {
    /// The entry.
    pub entry: EntrySummary,
    /// Its current secret is one the revoked device never could read.
    pub rotated: bool,
}

/// One device of the household.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Whose device it is; `None`: no person's (a household from before
    /// persons, or waiting for one of its person's devices to confirm it).
    #[serde(default)]
    pub person: Option<String>,
    /// Whether it is this device.
    pub this_device: bool,
    /// Whether it was revoked (by another device, or itself: see `left`).
    pub revoked: bool,
    /// Whether it was caught signing two histories (its key is in two
    /// hands): its records past the fork are refused until it is revoked.
    #[serde(default)]
    pub forked: bool,
    /// Bytes of its records held, when near or over the quota.
    #[serde(default)]
    pub quota_warning: Option<String>,
    /// Whether it left the household itself (`authctl leave`).
    #[serde(default)]
    pub left: bool,
    /// Whether a sync session with it is up.
    pub online: bool,
    /// When it was last heard from, Unix ms.
    pub last_seen_ms: Option<u64>,
    /// Its address on the last connection.
    pub addr: Option<String>,
    /// How it was last reached: `mdns` or `static` (this device dialled
    /// it), `incoming` (it dialled), `relay` (its records came through a
    /// relay).
    #[serde(default)]
    pub reached: Option<String>,
    /// Its role: `device`, or `relay` (holds and forwards records, reads
    /// nothing).
    #[serde(default)]
    pub role: Option<String>,
    /// Its clock minus ours at its last hello, ms.
    pub clock_skew_ms: Option<i64>,
    /// UDP bytes sent to it on the current connection.
    #[serde(default)]
    pub sent_bytes: Option<u64>,
    /// UDP bytes received from it on the current connection.
    #[serde(default)]
    pub received_bytes: Option<u64>,
}

/// One version in an entry's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// `origin/seq` of its record.
    pub record: String,
    /// The device that wrote it.
    pub device: String,
    /// Its name, if known.
    pub device_name: Option<String>,
    /// When, Unix ms.
    pub time_ms: u64,
    /// What changed from its parent.
    pub change: String,
    /// Whether it is a current head.
    pub head: bool,
    /// The entry as of this version.
    pub issuer: Option<String>,
    /// The entry as of this version.
    pub account: String,
    /// A short fingerprint of the secret (SHA-256 prefix), to tell versions
    /// apart without revealing it.
    pub secret_fingerprint: String,
}

/// One event of the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEvent {
    /// When, Unix ms.
    pub time_ms: u64,
    /// The device that did it.
    pub device: String,
    /// Its name, if known.
    pub device_name: Option<String>,
    /// `origin/seq` of the record; empty for an event of the local journal.
    pub record: String,
    /// What happened, in words (names, never secrets).
    pub what: String,
    /// What happened, for scripts: `household_started`, `device_admitted`,
    /// `device_revoked`, `device_left`, `key_created`, `key_rotated`,
    /// `key_shared`, `entry_changed`, or `entry_unreadable` (locked, or
    /// sealed to a key this device lacks); and from this device's own
    /// journal (`record` empty): `offer_opened`, `offer_joined`,
    /// `offer_expired`, `offer_cancelled`, `offer_replaced`, `joined`,
    /// `exposure_dismissed`, `removed`.
    #[serde(default)]
    pub event: String,
    /// For `entry_changed`: the entry's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    /// For `entry_changed`: the entry's label as of this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_label: Option<String>,
    /// For `entry_changed`: `added`, `deleted`, `restored`, `rotated`,
    /// `used_hotp`, `renamed`, `tagged`, `noted`, `merged`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
    /// For device events: the device admitted, revoked or that left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_device: Option<String>,
    /// Its name, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_device_name: Option<String>,
    /// For key events: the key's number and how many devices it is sealed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_number: Option<u64>,
    /// For key events: how many devices the key is sealed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_to: Option<usize>,
}

/// What an `import` did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReply {
    /// The entries added.
    pub imported: Vec<EntrySummary>,
    /// The labels of entries skipped because the vault (or the same request)
    /// already holds them.
    pub skipped: Vec<String>,
}

/// An entry with its secret, for `reveal`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevealedEntry {
    /// The entry.
    pub entry: EntrySummary,
    /// Its current secret, base32.
    pub secret: WireSecret,
}

/// The daemon's and the vault's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReply {
    /// The daemon's version.
    pub daemon: String,
    /// Whether a household exists on this device.
    pub initialized: bool,
    /// Whether the vault is locked.
    pub locked: bool,
    /// Whether unlocking needs a passphrase (else a key file opens it).
    pub needs_passphrase: bool,
    /// This device's id.
    pub device: Option<String>,
    /// This device's name.
    pub device_name: Option<String>,
    /// The household id.
    pub household: Option<String>,
    /// Members (current).
    pub members: usize,
    /// Records held.
    pub records: usize,
    /// Entries (not deleted), when unlocked.
    pub entries: Option<usize>,
    /// Where the vault lives.
    pub data_dir: String,
    /// Auto-lock after this many idle seconds.
    pub auto_lock_secs: Option<u64>,
    /// Where the sync endpoint listens.
    #[serde(default)]
    pub listen: Option<String>,
    /// Peers with a sync session up.
    #[serde(default)]
    pub peers_online: usize,
    /// Stored records set aside at start because they no longer pass.
    #[serde(default)]
    pub quarantined: usize,
    /// Set once a member showed this device the record that removed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<Box<Removed>>,
}

/// A successful reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// Done; nothing to say.
    Done,
    /// For `status`.
    Status(StatusReply),
    /// For `code`, and for `add` and `rotate` (the new code).
    Code(CodeReply),
    /// For `list`.
    Entries(Vec<EntrySummary>),
    /// For `show`, `rename`, `edit`, `rm`, `restore`.
    Entry(EntrySummary),
    /// For `history`, newest first.
    History(Vec<VersionInfo>),
    /// For `log`, newest first.
    Log(Vec<LogEvent>),
    /// For `pair`.
    Pairing(PairingReply),
    /// For `devices`.
    Devices(Vec<DeviceInfo>),
    /// For `revoke` (one report) and `exposed`.
    Exposure(Vec<Exposure>),
    /// For `revoke --preview`: what it would do.
    RevokePlan(RevokePlan),
    /// For `import`.
    Imported(ImportReply),
    /// For `reveal`: entries with their secrets.
    Revealed(Vec<RevealedEntry>),
    /// For `codes`.
    Codes(CodesReply),
    /// On a `watch` stream: something changed; ask again.
    Changed,
    /// For `persons`.
    Persons(Vec<PersonInfo>),
    /// For `collections`.
    Collections(Vec<CollectionInfo>),
    /// For `lend` (what was lent) and `lent`.
    Lent(Vec<LentInfo>),
    /// For `pair_wait`.
    PairOutcome(PairOutcome),
}

/// A person of the household.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonInfo {
    /// The person's name; `None` for devices of no person.
    pub name: Option<String>,
    /// The names of the person's current devices.
    pub devices: Vec<String>,
    /// Whether this device is one of them.
    pub this_device: bool,
}

/// A collection as `collections` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionInfo {
    /// Its name.
    pub name: String,
    /// `shared`, `personal` or `named`.
    pub kind: String,
    /// Who reads it; `None`: everyone (`shared` before its membership was
    /// first set).
    pub persons: Option<Vec<String>>,
    /// Live entries in it this device can read.
    pub entries: usize,
    /// Whether this device reads it.
    pub readable: bool,
}

/// Every live entry's codes at one moment, for the live view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodesReply {
    /// The moment the codes are for, Unix seconds (the daemon's clock).
    pub at: u64,
    /// Live entries, by label.
    pub entries: Vec<LiveCode>,
    /// The worst clock skew to a peer online (peer minus us), ms.
    pub clock_skew_ms: Option<i64>,
}

/// One entry's codes in a [`CodesReply`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveCode {
    /// The entry.
    pub entry: EntrySummary,
    /// The code of the period holding `at` (`None` for HOTP).
    pub code: Option<String>,
    /// The code of the next period (`None` for HOTP).
    pub next: Option<String>,
}

/// What went wrong, as a type the client can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request was malformed or its content invalid.
    BadRequest,
    /// The protocol versions differ.
    Protocol,
    /// The line was too long.
    TooLarge,
    /// The vault is locked.
    Locked,
    /// The passphrase is wrong.
    WrongPassphrase,
    /// There is no household on this device yet.
    NotInitialized,
    /// There is a household on this device already.
    AlreadyInitialized,
    /// No entry matches.
    NotFound,
    /// Several entries match.
    Ambiguous,
    /// The vault already holds that entry (same secret, parameters and names).
    AlreadyExists,
    /// The vault could not be read or written.
    Storage,
    /// This device was removed from its household (`authctl reset`).
    Revoked,
    /// Anything else.
    Internal,
}

impl ErrorCode {
    /// The CLI's exit code for this error (DESIGN.md: 1 failure, 2 bad input,
    /// 3 locked, 4 not found or ambiguous).
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorCode::BadRequest
            | ErrorCode::TooLarge
            | ErrorCode::WrongPassphrase
            | ErrorCode::AlreadyInitialized
            | ErrorCode::AlreadyExists
            | ErrorCode::NotInitialized => 2,
            ErrorCode::Locked => 3,
            ErrorCode::NotFound | ErrorCode::Ambiguous => 4,
            ErrorCode::Protocol | ErrorCode::Storage | ErrorCode::Revoked | ErrorCode::Internal => 1,
        }
    }
}

/// A failed request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct IpcError {
    /// What kind of failure.
    pub code: ErrorCode,
    /// One line for a person: what went wrong and what to do.
    pub message: String,
    /// For `Ambiguous`: the entries the query matched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<EntrySummary>,
}

impl IpcError {
    /// An error with no candidates.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        IpcError {
            code,
            message: message.into(),
            candidates: Vec::new(),
        }
    }
}

/// One reply line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// It worked.
    Ok(Reply),
    /// It did not.
    Error(IpcError),
}

impl From<Result<Reply, IpcError>> for Response {
    fn from(result: Result<Reply, IpcError>) -> Self {
        match result {
            Ok(reply) => Response::Ok(reply),
            Err(error) => Response::Error(error),
        }
    }
}

impl From<Response> for Result<Reply, IpcError> {
    fn from(response: Response) -> Self {
        match response {
            Response::Ok(reply) => Ok(reply),
            Response::Error(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn labels_never_end_in_a_separator() {
        let summary = |issuer: Option<&str>, account: &str| EntrySummary {
            id: String::new(),
            issuer: issuer.map(str::to_string),
            account: account.into(),
            spec: OtpSpec::totp_default(),
            tags: Vec::new(),
            note: String::new(),
            deleted: false,
            updated_ms: 0,
            heads: 1,
            collection: String::new(),
        };
        assert_eq!(summary(Some("Amazon"), "alice").label(), "Amazon: alice");
        assert_eq!(summary(Some("Test 4"), "").label(), "Test 4");
        assert_eq!(summary(Some(""), "alice").label(), "alice");
        assert_eq!(summary(None, "alice").label(), "alice");
    }

    #[test]
    fn requests_are_plain_json_lines() {
        let req = Request::Code {
            query: "amazon".into(),
            next: false,
            previous: false,
        };
        let line = serde_json::to_string(&req).unwrap();
        assert_eq!(line, r#"{"op":"code","query":"amazon","next":false,"previous":false}"#);
        let parsed: Request = serde_json::from_str(r#"{"op":"code","query":"amazon"}"#).unwrap();
        assert_eq!(
            parsed,
            Request::Code {
                query: "amazon".into(),
                next: false,
                previous: false
            }
        );
    }

    #[test]
    fn import_lines_start_with_the_prefix() {
        let line = serde_json::to_vec(&Request::Import {
            entries: Vec::new(),
            collection: None,
        })
        .unwrap();
        assert!(
            line.starts_with(IMPORT_LINE_PREFIX),
            "{}",
            String::from_utf8_lossy(&line)
        );
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let s = WireSecret::new("JBSWY3DPEHPK3PXP".into());
        assert!(!format!("{s:?}").contains("JBSW"));
    }
}
