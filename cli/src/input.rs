//! What the user hands `authctl`: passphrases (terminal without echo, or a
//! file) and new secrets (an otpauth URI, or flags), checked here so that bad
//! input fails before the daemon is asked anything.

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use anyhow::{Context, Result, bail};
use authsync_proto::ipc::{NewEntry, NewSecret, WireSecret};
use authsync_proto::otp::{Algorithm, OtpKind, OtpSpec, Secret};
use authsync_proto::otpauth;
use zeroize::Zeroizing;

/// Bad input from the user (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

fn bad(message: impl Into<String>) -> anyhow::Error {
    BadInput(message.into()).into()
}

/// Reads a passphrase from `file` (first line), or from the terminal without
/// echo; with `confirm`, asks twice.
pub fn passphrase(file: Option<&Path>, confirm: bool) -> Result<WireSecret> {
    if let Some(file) = file {
        let text = Zeroizing::new(
            std::fs::read_to_string(file).map_err(|e| bad(format!("cannot read {}: {e}", file.display())))?,
        );
        let line = text.lines().next().unwrap_or("");
        if line.is_empty() {
            return Err(bad(format!("{} holds no passphrase", file.display())));
        }
        return Ok(WireSecret::new(line.to_string()));
    }
    if !std::io::stderr().is_terminal() && !std::io::stdin().is_terminal() {
        return Err(bad("no terminal to ask for the passphrase; use --passphrase-file"));
    }
    let first = Zeroizing::new(rpassword::prompt_password("Vault passphrase: ").map_err(|e| {
        bad(format!(
            "cannot read the passphrase from the terminal ({e}); use --passphrase-file"
        ))
    })?);
    if confirm {
        let again = Zeroizing::new(rpassword::prompt_password("Again: ").context("failed to read the passphrase")?);
        if *first != *again {
            return Err(bad("the passphrases differ; nothing was changed"));
        }
    }
    Ok(WireSecret::new(first.to_string()))
}

/// `-` means: read one line from standard input (keeps secrets out of the
/// process list and shell history).
fn maybe_stdin(value: &str) -> Result<Zeroizing<String>> {
    if value != "-" {
        return Ok(Zeroizing::new(value.to_string()));
    }
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("failed to read standard input")?;
    Ok(Zeroizing::new(line.trim().to_string()))
}

/// The flags that describe a secret, shared by `add` and `rotate`.
#[derive(clap::Args, Debug, Default)]
pub struct SecretFlags {
    /// The secret, base32 (`-` reads it from standard input; on the command line it is visible to other local users).
    #[arg(long, value_name = "B32")]
    pub secret: Option<String>,
    /// SHA1 (default), SHA256 or SHA512.
    #[arg(long, value_name = "ALG")]
    pub algorithm: Option<String>,
    /// Code length: 6 (default), 7 or 8.
    #[arg(long)]
    pub digits: Option<u32>,
    /// TOTP period in seconds (default 30).
    #[arg(long, value_name = "SECS")]
    pub period: Option<u64>,
    /// Counter-based (HOTP) instead of time-based.
    #[arg(long, conflicts_with_all = ["steam", "period"])]
    pub hotp: bool,
    /// The HOTP counter to start at (default 0).
    #[arg(long, requires = "hotp", value_name = "N")]
    pub counter: Option<u64>,
    /// Steam Guard (5 characters).
    #[arg(long, conflicts_with_all = ["digits", "algorithm", "period"])]
    pub steam: bool,
}

impl SecretFlags {
    fn any_parameter(&self) -> bool {
        self.algorithm.is_some()
            || self.digits.is_some()
            || self.period.is_some()
            || self.hotp
            || self.counter.is_some()
            || self.steam
    }

    /// The spec these flags describe, starting from `base`.
    pub fn spec(&self, base: OtpSpec) -> Result<OtpSpec> {
        if self.steam {
            return Ok(OtpSpec::steam());
        }
        let mut spec = base;
        if matches!(spec.kind, OtpKind::Steam) {
            spec = OtpSpec::totp_default();
        }
        if let Some(alg) = &self.algorithm {
            spec.algorithm = alg
                .parse::<Algorithm>()
                .map_err(|_| bad(format!("unknown algorithm '{alg}'; use SHA1, SHA256 or SHA512")))?;
        }
        if let Some(digits) = self.digits {
            spec.digits = u8::try_from(digits).unwrap_or(u8::MAX);
        }
        if self.hotp {
            spec.kind = OtpKind::Hotp {
                counter: self.counter.unwrap_or(0),
            };
        } else if let Some(period) = self.period {
            spec.kind = OtpKind::Totp { period };
        }
        spec.validate().map_err(|e| bad(e.to_string()))?;
        Ok(spec)
    }

    /// A new secret from `--secret` and the parameter flags.
    pub fn new_secret(&self, base: OtpSpec) -> Result<Option<NewSecret>> {
        let Some(secret) = &self.secret else {
            return Ok(None);
        };
        let secret = maybe_stdin(secret)?;
        self.with_secret(&secret, base).map(Some)
    }

    /// A new secret from base32 `text` and the parameter flags.
    fn with_secret(&self, text: &str, base: OtpSpec) -> Result<NewSecret> {
        let parsed = Secret::from_base32(text).map_err(|e| bad(e.to_string()))?;
        Ok(NewSecret {
            secret: WireSecret::new(parsed.to_base32().to_string()),
            spec: self.spec(base)?,
        })
    }
}

/// What the user typed at a secret prompt.
enum Typed {
    Uri(Zeroizing<String>),
    Base32(Zeroizing<String>),
}

/// Asks for a secret on the terminal without echo, so that it is never in
/// an argument (`/proc/PID/cmdline` is readable by every local user) or in
/// the shell's history. Without a terminal on standard input, says how to
/// pass it instead (`how`).
fn ask_secret(prompt: &str, how: &str) -> Result<Typed> {
    if !std::io::stdin().is_terminal() {
        return Err(bad(format!("no secret given and no terminal to ask for it; {how}")));
    }
    let typed = Zeroizing::new(
        rpassword::prompt_password(prompt)
            .map_err(|e| bad(format!("cannot read the secret from the terminal ({e}); {how}")))?,
    );
    let typed = Zeroizing::new(typed.trim().to_string());
    if typed.is_empty() {
        return Err(bad("no secret was typed; nothing was changed"));
    }
    let is_uri = typed
        .get(..10)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("otpauth://"));
    Ok(if is_uri {
        Typed::Uri(typed)
    } else {
        Typed::Base32(typed)
    })
}

/// Asks for one line on the terminal, echoed (names, not secrets).
fn ask_line(prompt: &str) -> Result<String> {
    use std::io::Write;
    eprint!("{prompt}");
    std::io::stderr().flush().context("failed to write to the terminal")?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("failed to read from the terminal")?;
    Ok(line.trim().to_string())
}

/// The warning for a secret shorter than sites issue, if `otp`'s is. Shown
/// once, after the daemon took the entry: never before an unrelated error.
pub fn short_secret_warning(otp: &NewSecret) -> Option<String> {
    let secret = Secret::from_base32(otp.secret.expose()).ok()?;
    secret.is_short().then(|| {
        format!(
            "warning: the secret is only {} bits, shorter than the 80 or more sites issue; it works, but check it was copied whole",
            secret.len() * 8
        )
    })
}

/// Parses an otpauth URI (or `-` for standard input) into a new entry.
pub fn entry_from_uri(uri: &str) -> Result<NewEntry> {
    parse_uri(&maybe_stdin(uri)?)
}

fn parse_uri(uri: &str) -> Result<NewEntry> {
    // Its warnings (a short secret) are shown once the entry is taken.
    let parsed = otpauth::parse(uri).map_err(|e| bad(format!("invalid otpauth URI: {e}")))?;
    Ok(NewEntry {
        issuer: parsed.issuer,
        account: parsed.account,
        otp: NewSecret {
            secret: WireSecret::new(parsed.secret.to_base32().to_string()),
            spec: parsed.spec,
        },
        tags: Vec::new(),
        note: String::new(),
    })
}

/// The new entry of an otpauth URI, `--issuer` and `--account` overriding
/// its names.
fn renamed(uri_entry: NewEntry, issuer: Option<String>, account: Option<String>) -> NewEntry {
    let mut entry = uri_entry;
    if let Some(issuer) = issuer {
        entry.issuer = Some(issuer);
    }
    if let Some(account) = account {
        entry.account = account;
    }
    entry
}

const URI_AND_FLAGS: &str = "give either an otpauth URI or --secret with its flags, not both";

/// A new entry from a URI or from flags (exactly one of the two); with
/// neither, asks on the terminal for the secret (without echo) and, if no
/// flag names the entry, for its issuer and account.
pub fn new_entry(
    uri: Option<&str>,
    flags: &SecretFlags,
    issuer: Option<String>,
    account: Option<String>,
) -> Result<NewEntry> {
    if let Some(uri) = uri {
        if flags.secret.is_some() || flags.any_parameter() {
            bail!(BadInput(URI_AND_FLAGS.into()));
        }
        return Ok(renamed(entry_from_uri(uri)?, issuer, account));
    }
    let otp = match flags.new_secret(OtpSpec::totp_default())? {
        Some(otp) => otp,
        None => {
            let how = "pass it on standard input (`authctl add -` reads an otpauth URI, \
                       `--secret -` a base32 secret) or use --qr IMAGE";
            match ask_secret("Secret (base32, or an otpauth:// URI): ", how)? {
                Typed::Uri(uri) => {
                    if flags.any_parameter() {
                        bail!(BadInput(URI_AND_FLAGS.into()));
                    }
                    return Ok(renamed(parse_uri(&uri)?, issuer, account));
                }
                Typed::Base32(text) => {
                    let otp = flags.with_secret(&text, OtpSpec::totp_default())?;
                    if issuer.is_none() && account.is_none() {
                        let issuer = Some(ask_line("Issuer (the site, e.g. Amazon): ")?).filter(|i| !i.is_empty());
                        let account = ask_line("Account (your login there): ")?;
                        return named(issuer, account, otp);
                    }
                    otp
                }
            }
        }
    };
    named(issuer, account.unwrap_or_default(), otp)
}

/// A new entry from a secret and names, at least one of them not empty.
fn named(issuer: Option<String>, account: String, otp: NewSecret) -> Result<NewEntry> {
    if account.is_empty() && issuer.as_deref().unwrap_or("").is_empty() {
        return Err(bad(
            "give --issuer or --account (or both) to name the entry; nothing was added",
        ));
    }
    Ok(NewEntry {
        issuer,
        account,
        otp,
        tags: Vec::new(),
        note: String::new(),
    })
}

/// A new secret for `rotate`: a URI, or `--secret` with flags that change
/// the entry's current `spec`; with neither, asks on the terminal (without
/// echo).
pub fn rotation(uri: Option<&str>, flags: &SecretFlags, current: OtpSpec) -> Result<NewSecret> {
    if let Some(uri) = uri {
        if flags.secret.is_some() || flags.any_parameter() {
            return Err(bad(URI_AND_FLAGS));
        }
        return Ok(entry_from_uri(uri)?.otp);
    }
    let mut base = current;
    if let OtpKind::Hotp { counter } = &mut base.kind {
        *counter = 0;
    }
    if let Some(otp) = flags.new_secret(base)? {
        return Ok(otp);
    }
    let how = "pass it on standard input (`authctl rotate QUERY -` reads an otpauth URI, \
               `--secret -` a base32 secret)";
    match ask_secret("New secret (base32, or an otpauth:// URI): ", how)? {
        Typed::Uri(uri) => {
            if flags.any_parameter() {
                return Err(bad(URI_AND_FLAGS));
            }
            Ok(parse_uri(&uri)?.otp)
        }
        Typed::Base32(text) => flags.with_secret(&text, base),
    }
}

/// A new entry from the QR code in a PNG or JPEG image: an otpauth URI, or a
/// Google migration code of one entry.
pub fn entry_from_image(
    image: &Path,
    flags: &SecretFlags,
    issuer: Option<String>,
    account: Option<String>,
) -> Result<NewEntry> {
    if flags.secret.is_some() || flags.any_parameter() {
        return Err(bad("give either --qr or --secret with its flags, not both"));
    }
    let bytes = crate::import::read_limited(image)?;
    let parsed = crate::import::from_image(&bytes, &image.display().to_string())?;
    if let Some(refused) = parsed.refused.first() {
        return Err(bad(format!(
            "{}: the QR code's entry is invalid: {}",
            image.display(),
            refused.reason
        )));
    }
    let mut entries = parsed.entries;
    if entries.len() != 1 {
        return Err(bad(format!(
            "{} holds {} entries; use `authctl import {}`",
            image.display(),
            entries.len(),
            image.display()
        )));
    }
    let e = entries.remove(0);
    Ok(NewEntry {
        issuer: issuer.or(e.issuer),
        account: account.unwrap_or(e.account),
        otp: NewSecret {
            secret: WireSecret::new(e.secret.to_base32().to_string()),
            spec: e.spec,
        },
        tags: e.tags,
        note: e.note,
    })
}
