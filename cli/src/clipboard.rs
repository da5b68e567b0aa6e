//! The clipboard, for `code --copy` and the live view; linked only into
//! `authctl-view` (arboard: X11, and Wayland through the data-control
//! protocol).
//!
//! On X11 (and Wayland) a copied text lives only as long as the process
//! that offers it, so a code is handed to a short-lived detached process,
//! `authctl-view clipboard-hold`, which reads the code and its lifetime on
//! standard input (never the command line, which `ps` shows), puts it on
//! the clipboard, says `ok` (or what went wrong) on standard output, waits
//! until the code expires, and then clears the clipboard if it still holds
//! that code (a text copied since is left alone).

use std::io::{BufRead, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use authsync_proto::ipc::{CodeReply, Reply, Request};
use authsync_proto::paths::Paths;

use crate::app::{Exit, call, unexpected};
use crate::cmd::entries::Code;
use crate::output;

/// The longest a code is held: an HOTP code (which does not expire) or a
/// long TOTP period is cleared after this.
const HOLD_AT_MOST: Duration = Duration::from_secs(120);

/// How long an HOTP code stays on the clipboard.
const HOTP_HOLD: Duration = Duration::from_secs(30);

/// `authctl code QUERY --copy`.
pub(crate) fn copy_code(paths: &Paths, json: bool, args: Code) -> Result<(), Exit> {
    let Code {
        query, next, previous, ..
    } = args;
    let reply = match call(paths, &Request::Code { query, next, previous })? {
        Reply::Code(c) => c,
        other => return Err(unexpected(other)),
    };
    let period = match reply.entry.spec.kind {
        authsync_proto::otp::OtpKind::Totp { period } => period,
        authsync_proto::otp::OtpKind::Steam => 30,
        authsync_proto::otp::OtpKind::Hotp { .. } => 0,
    };
    let lifetime = lifetime(&reply, if next { period } else { 0 });
    copy(&reply.code, lifetime)?;
    if json {
        output::json(&reply);
    } else {
        output::skew_warning(reply.clock_skew_ms);
        eprintln!(
            "Copied the code of {}; the clipboard is cleared in {} s.",
            reply.entry.label(),
            lifetime.as_secs()
        );
    }
    Ok(())
}

/// How long `reply`'s code stays valid: the seconds left (plus `extra`,
/// for a `--next` code), or [`HOTP_HOLD`] for a code that does not expire.
pub(crate) fn lifetime(reply: &CodeReply, extra: u64) -> Duration {
    match reply.seconds_left {
        Some(left) => Duration::from_secs(left.saturating_add(extra)),
        None => HOTP_HOLD,
    }
    .min(HOLD_AT_MOST)
}

/// A clipboard holder that was started; reap it with [`Holder::reap`]
/// (the live view) or leave it running past this process (`code --copy`).
pub(crate) struct Holder(std::process::Child);

impl Holder {
    /// Whether it is still holding a code (reaps it once it has ended).
    pub(crate) fn running(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }
}

/// Puts `code` on the clipboard for `lifetime`, through a detached holder.
pub(crate) fn copy(code: &str, lifetime: Duration) -> Result<Holder, Exit> {
    let exe = std::env::current_exe().map_err(|e| Exit::Other(anyhow::anyhow!("cannot find authctl-view: {e}")))?;
    let mut child = Command::new(exe)
        .arg("clipboard-hold")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        // Its own process group: a Ctrl-C in the shell (or the view's
        // terminal closing) does not end it before it clears the clipboard.
        .process_group(0)
        .spawn()
        .map_err(|e| Exit::Other(anyhow::anyhow!("cannot start the clipboard holder: {e}")))?;
    let sent = child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(format!("{code}\n{}\n", lifetime.as_secs()).as_bytes()));
    let mut answer = String::new();
    if let Some(stdout) = child.stdout.take() {
        let _ = std::io::BufReader::new(stdout).take(4096).read_line(&mut answer);
    }
    match answer.trim_end().strip_prefix("ok") {
        Some("") if matches!(sent, Some(Ok(()))) => Ok(Holder(child)),
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            let why = answer
                .trim_end()
                .strip_prefix("error: ")
                .unwrap_or("the clipboard holder failed");
            Err(Exit::Other(anyhow::anyhow!("{why}")))
        }
    }
}

/// `authctl-view clipboard-hold`: the holder; see the module docs.
pub(crate) fn hold() -> Result<(), Exit> {
    let mut input = String::new();
    std::io::stdin()
        .lock()
        .take(4096)
        .read_to_string(&mut input)
        .map_err(|e| Exit::Other(anyhow::anyhow!("failed to read the code: {e}")))?;
    let mut lines = input.lines();
    let code = lines.next().unwrap_or("").to_string();
    let secs = lines.next().and_then(|l| l.parse::<u64>().ok());
    let (false, Some(secs)) = (code.is_empty(), secs) else {
        return Err(refuse("clipboard-hold reads a code and its lifetime in seconds".into()));
    };
    let deadline = Instant::now() + Duration::from_secs(secs).min(HOLD_AT_MOST);
    let mut clipboard = match arboard::Clipboard::new() {
        Ok(clipboard) => clipboard,
        Err(e) => return Err(refuse(no_clipboard(&e))),
    };
    {
        use arboard::SetExtLinux;
        if let Err(e) = clipboard.set().exclude_from_history().text(code.as_str()) {
            return Err(refuse(format!("could not put the code on the clipboard: {e}")));
        }
    }
    say("ok");
    std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
    if clipboard.get_text().is_ok_and(|text| text == code) {
        let _ = clipboard.clear();
    }
    Ok(())
}

/// Tells the process that started the holder how the copy went.
fn say(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}

/// Says why the holder gives up, and gives up.
fn refuse(why: String) -> Exit {
    say(&format!("error: {why}"));
    Exit::Other(anyhow::anyhow!(why))
}

/// Why there is no clipboard, and what to do instead.
fn no_clipboard(e: &arboard::Error) -> String {
    let display = ["WAYLAND_DISPLAY", "DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|d| !d.is_empty()));
    if display {
        format!("no clipboard could be opened ({e}); print the code instead: authctl code QUERY")
    } else {
        "no display to copy to (neither WAYLAND_DISPLAY nor DISPLAY is set); print the code instead: \
         authctl code QUERY"
            .to_string()
    }
}
