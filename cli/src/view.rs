//! The live view (`authctl` alone on a terminal, or `authctl view`); linked
//! only into `authctl-view` (ratatui on crossterm).
//!
//! Every live entry with its code, a countdown bar, the next code in the
//! last seconds of a period, and its tags. Typing filters by the rule every
//! verb's QUERY follows (`proto/src/query.rs`): exact or partial matches if
//! any, else fuzzy ones, best first; the first row is what `authctl code`
//! would pick. Enter copies the selected code, `n` (or Ctrl-N) the next
//! one; `q` (with an empty filter), Esc and Ctrl-C quit.
//!
//! Codes come from the daemon (`codes`: never a secret), again when a
//! period ends and whenever the daemon's `watch` stream says something
//! changed (an entry, here or synced from another device; the lock; peers).
//! The terminal is restored on every way out: the guard's drop on return
//! and on error, the panic hook on a panic; SIGTERM, SIGHUP and SIGINT end
//! the loop rather than the process.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use authsync_proto::ipc::{CodesReply, ErrorCode, LiveCode, Reply, Request, StatusReply};
use authsync_proto::otp::OtpKind;
use authsync_proto::paths::Paths;
use authsync_proto::query::{self, Fuzzy, Match};
use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};

use crate::app::{Exit, unexpected, unlock_here};
use crate::client::{Client, Failure};
use crate::clipboard::{self, Holder};

/// How often the screen is redrawn (countdowns) and keys are looked at.
const TICK: Duration = Duration::from_millis(200);
/// The next code is shown this many seconds before it takes over.
const SHOW_NEXT_WITHIN: u64 = 5;
/// A message at the bottom stays this long.
const MESSAGE_FOR: Duration = Duration::from_secs(4);
/// The clock skew shown as a warning, as `code` warns.
const SKEW_WARNING_MS: u64 = 15_000;

type Backend = CrosstermBackend<std::io::Stdout>;

/// `authctl view`.
pub(crate) fn run(paths: &Paths) -> Result<(), Exit> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(Exit::Other(
            crate::input::BadInput("the live view needs a terminal; `authctl list` and `authctl code` do not".into())
                .into(),
        ));
    }
    let mut app = App::new(paths.clone())?;
    // Unlock before the screen is taken, as any verb would.
    if app.status.locked {
        unlock_here(paths)?;
        app.refresh()?;
    }
    let changes = watch(paths)?;
    // SIGTERM, SIGHUP and SIGINT end the loop (within a tick) instead of
    // the process, so the terminal is restored after them too.
    let signalled = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGINT,
    ] {
        signal_hook::flag::register(signal, Arc::clone(&signalled))
            .map_err(|e| Exit::Other(anyhow::anyhow!("cannot watch for signals: {e}")))?;
    }
    let mut screen = Screen::enter()?;
    let result = app.run(&mut screen, &changes, &signalled);
    drop(screen);
    result
}

/// A thread that waits on the daemon's `watch` stream and passes each
/// change on; the channel closes when the daemon goes away.
fn watch(paths: &Paths) -> Result<mpsc::Receiver<()>, Exit> {
    let mut stream = Client::connect(paths, true)?.watch()?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        while stream.changed().is_ok() {
            if tx.send(()).is_err() {
                return;
            }
        }
    });
    Ok(rx)
}

/// The terminal in raw mode on the alternate screen; restored on drop.
struct Screen(Terminal<Backend>);

impl Screen {
    fn enter() -> Result<Screen, Exit> {
        install_panic_hook();
        let failed = |e: std::io::Error| Exit::Other(anyhow::anyhow!("cannot take over the terminal: {e}"));
        crossterm::terminal::enable_raw_mode().map_err(failed)?;
        // From here on, every way out restores the terminal.
        let mut screen = Screen(Terminal::new(CrosstermBackend::new(std::io::stdout())).map_err(failed)?);
        crossterm::execute!(std::io::stdout(), crossterm::terminal::EnterAlternateScreen).map_err(failed)?;
        screen.0.clear().map_err(failed)?;
        Ok(screen)
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn restore_terminal() {
    let _ = crossterm::terminal::disable_raw_mode();
    let _ = crossterm::execute!(
        std::io::stdout(),
        crossterm::terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// A panic restores the terminal before its message is printed.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            previous(info);
        }));
    });
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn period_of(code: &LiveCode) -> Option<u64> {
    match code.entry.spec.kind {
        OtpKind::Totp { period } => Some(period.max(1)),
        OtpKind::Steam => Some(30),
        OtpKind::Hotp { .. } => None,
    }
}

/// "123456" as "123 456", "12345678" as "1234 5678".
fn spaced(code: &str) -> String {
    if code.len() < 6 || !code.is_ascii() {
        return code.to_string();
    }
    let (a, b) = code.split_at(code.len() / 2);
    format!("{a} {b}")
}

struct App {
    paths: Paths,
    status: StatusReply,
    codes: Option<CodesReply>,
    filter: String,
    selected: usize,
    message: Option<(String, Instant)>,
    /// When `codes` was last asked for (at most one refresh per tick).
    fetched: Instant,
    holders: Vec<Holder>,
}

enum Step {
    Go,
    Quit,
}

impl App {
    fn new(paths: Paths) -> Result<App, Exit> {
        let status = match Client::connect(&paths, true)?.call(&Request::Status)? {
            Reply::Status(s) => s,
            other => return Err(unexpected(other)),
        };
        let mut app = App {
            paths,
            status,
            codes: None,
            filter: String::new(),
            selected: 0,
            message: None,
            fetched: Instant::now(),
            holders: Vec::new(),
        };
        app.refresh()?;
        Ok(app)
    }

    fn call(&self, request: &Request) -> Result<Reply, Failure> {
        Client::connect(&self.paths, true)?.call(request)
    }

    /// Asks the daemon for its state and, when unlocked, every code.
    fn refresh(&mut self) -> Result<(), Exit> {
        self.fetched = Instant::now();
        self.status = match self.call(&Request::Status)? {
            Reply::Status(s) => s,
            other => return Err(unexpected(other)),
        };
        self.codes = match self.call(&Request::Codes) {
            Ok(Reply::Codes(codes)) => Some(codes),
            Ok(other) => return Err(unexpected(other)),
            Err(Failure::Refused(e)) if matches!(e.code, ErrorCode::Locked | ErrorCode::NotInitialized) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(())
    }

    /// Whether a period has ended since the codes were made.
    fn stale(&self, now: u64) -> bool {
        let Some(codes) = &self.codes else {
            return false;
        };
        codes
            .entries
            .iter()
            .filter_map(period_of)
            .any(|p| now / p != codes.at / p)
    }

    /// The rows the filter lets through, best first (see the module docs).
    fn visible(&self) -> Vec<&LiveCode> {
        let Some(codes) = &self.codes else {
            return Vec::new();
        };
        let q = self.filter.trim().to_lowercase();
        if q.is_empty() {
            return codes.entries.iter().collect();
        }
        let lower = |c: &LiveCode| {
            (
                c.entry.issuer.as_deref().unwrap_or("").to_lowercase(),
                c.entry.account.to_lowercase(),
            )
        };
        let mut tiered: Vec<(Match, &LiveCode)> = codes
            .entries
            .iter()
            .filter_map(|c| {
                let (issuer, account) = lower(c);
                query::exact_or_partial(&q, &issuer, &account, &c.entry.id).map(|m| (m, c))
            })
            .collect();
        if tiered.is_empty() {
            let mut fuzzy = Fuzzy::new(&q);
            tiered = codes
                .entries
                .iter()
                .filter_map(|c| {
                    let score = fuzzy.score(c.entry.issuer.as_deref().unwrap_or(""), &c.entry.account)?;
                    Some((Match::Fuzzy(std::cmp::Reverse(score)), c))
                })
                .collect();
        }
        tiered.sort_by_key(|(m, _)| *m);
        tiered.into_iter().map(|(_, c)| c).collect()
    }

    fn say(&mut self, message: String) {
        self.message = Some((message, Instant::now()));
    }

    fn run(&mut self, screen: &mut Screen, changes: &mpsc::Receiver<()>, signalled: &AtomicBool) -> Result<(), Exit> {
        let mut watching = true;
        loop {
            if signalled.load(Ordering::Relaxed) {
                return Ok(());
            }
            let now = unix_now();
            self.holders.retain_mut(Holder::running);
            let mut changed = false;
            loop {
                match changes.try_recv() {
                    Ok(()) => changed = true,
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => {
                        if watching {
                            self.say("authd went away; codes no longer update".into());
                        }
                        watching = false;
                        break;
                    }
                }
            }
            if changed || (self.stale(now) && self.fetched.elapsed() >= TICK) {
                self.refresh()?;
            }
            screen
                .0
                .draw(|frame| self.draw(frame, now))
                .map_err(|e| Exit::Other(anyhow::anyhow!("cannot draw: {e}")))?;
            let ready = event::poll(TICK).map_err(|e| Exit::Other(anyhow::anyhow!("cannot read keys: {e}")))?;
            if !ready {
                continue;
            }
            match event::read().map_err(|e| Exit::Other(anyhow::anyhow!("cannot read keys: {e}")))? {
                Event::Key(key) if key.kind != KeyEventKind::Release => {
                    if let Step::Quit = self.key(key, screen)? {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
    }

    fn key(&mut self, key: KeyEvent, screen: &mut Screen) -> Result<Step, Exit> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('c') if ctrl => return Ok(Step::Quit),
            KeyCode::Esc => return Ok(Step::Quit),
            KeyCode::Char('q') if self.filter.is_empty() => return Ok(Step::Quit),
            KeyCode::Char('n') if ctrl || self.filter.is_empty() => self.copy(true),
            KeyCode::Char('u') if ctrl => self.filter.clear(),
            KeyCode::Char('u') if self.filter.is_empty() && self.codes.is_none() => self.unlock(screen)?,
            KeyCode::Enter => self.copy(false),
            KeyCode::Up => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down => self.selected = (self.selected + 1).min(self.visible().len().saturating_sub(1)),
            KeyCode::Backspace => {
                self.filter.pop();
                self.selected = 0;
            }
            // `/` starts a filter that begins with q or n.
            KeyCode::Char('/') if self.filter.is_empty() => {}
            KeyCode::Char(c) if !ctrl && !c.is_control() => {
                self.filter.push(c);
                self.selected = 0;
            }
            _ => {}
        }
        Ok(Step::Go)
    }

    /// Leaves the screen to ask for the passphrase, then comes back.
    fn unlock(&mut self, screen: &mut Screen) -> Result<(), Exit> {
        restore_terminal();
        let unlocked = unlock_here(&self.paths);
        let _ = crossterm::terminal::enable_raw_mode();
        let _ = crossterm::execute!(std::io::stdout(), crossterm::terminal::EnterAlternateScreen);
        let _ = screen.0.clear();
        match unlocked {
            Ok(()) => self.refresh(),
            Err(Exit::Failure(Failure::Refused(e))) => {
                self.say(e.message);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Copies the selected entry's code (or its next one).
    fn copy(&mut self, next: bool) {
        let now = unix_now();
        let picked = {
            let visible = self.visible();
            visible
                .get(self.selected.min(visible.len().saturating_sub(1)))
                .map(|c| (*c).clone())
        };
        let Some(row) = picked else {
            return self.say("nothing to copy".into());
        };
        let label = row.entry.label();
        let (code, lifetime) = match period_of(&row) {
            Some(period) => {
                let left = period - now % period;
                let code = if next { row.next.clone() } else { row.code.clone() };
                (code, left + if next { period } else { 0 })
            }
            // HOTP: asking for its code uses one up, so only on Enter.
            None if next => return self.say(format!("{label} is HOTP: it has no next code")),
            None => match self.call(&Request::Code {
                query: row.entry.id.clone(),
                next: false,
                previous: false,
            }) {
                Ok(Reply::Code(c)) => {
                    let lifetime = clipboard::lifetime(&c, 0).as_secs();
                    (Some(c.code), lifetime)
                }
                Ok(_) => (None, 0),
                Err(Failure::Refused(e)) => return self.say(e.message),
                Err(Failure::Unavailable(e)) => return self.say(e.0),
            },
        };
        let Some(code) = code else {
            return self.say(format!("{label} has no code to copy"));
        };
        match clipboard::copy(&code, Duration::from_secs(lifetime)) {
            Ok(holder) => {
                self.holders.push(holder);
                let which = if next { "next code" } else { "code" };
                self.say(format!("Copied the {which} of {label}; cleared in {lifetime} s"));
            }
            Err(e) => self.say(match e {
                Exit::Other(e) => format!("{e:#}"),
                Exit::Failure(Failure::Refused(e)) => e.message,
                Exit::Failure(Failure::Unavailable(e)) => e.0,
                Exit::Partial { message, .. } => message,
            }),
        }
    }

    fn header(&self) -> Line<'static> {
        let s = &self.status;
        let lock = if self.codes.is_some() {
            "unlocked".green()
        } else {
            "locked".red().bold()
        };
        let device = s.device_name.clone().unwrap_or_else(|| "no household".into());
        let peers = match s.peers_online {
            1 => "1 peer online".to_string(),
            n => format!("{n} peers online"),
        };
        let mut line = Line::from(vec![
            "authsync ".bold(),
            device.into(),
            " · ".into(),
            lock,
            " · ".into(),
            peers.into(),
        ]);
        if let Some(skew) = self.codes.as_ref().and_then(|c| c.clock_skew_ms) {
            let text = format!(" · clock {:+.1} s", skew as f64 / 1000.0);
            line.push_span(if skew.unsigned_abs() > SKEW_WARNING_MS {
                text.red().bold()
            } else {
                text.into()
            });
        }
        line
    }

    fn draw(&self, frame: &mut ratatui::Frame, now: u64) {
        let [header, filter, body, footer] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(1),
            Constraint::Length(1),
        ])
        .areas(frame.area());
        frame.render_widget(Paragraph::new(self.header()), header);
        let filter_line = if self.filter.is_empty() {
            Line::from("Type to filter".dim())
        } else {
            Line::from(vec!["Filter: ".bold(), self.filter.clone().into()])
        };
        frame.render_widget(Paragraph::new(filter_line), filter);

        if self.codes.is_none() {
            let why = if self.status.initialized {
                "The vault is locked. Press u to unlock, q to quit."
            } else {
                "This device has no household yet: `authctl init` or `authctl join`."
            };
            frame.render_widget(Paragraph::new(why), body);
        } else {
            let visible = self.visible();
            if visible.is_empty() {
                let text = if self.filter.is_empty() {
                    "No entries yet: `authctl add` or `authctl import`.".to_string()
                } else {
                    format!("No entry matches '{}'.", self.filter)
                };
                frame.render_widget(Paragraph::new(text), body);
            } else {
                let rows: Vec<Row> = visible.iter().map(|c| row(c, now)).collect();
                let table = Table::new(
                    rows,
                    [
                        Constraint::Fill(2),
                        Constraint::Length(10),
                        Constraint::Length(16),
                        Constraint::Length(16),
                        Constraint::Fill(1),
                    ],
                )
                .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
                let mut state = TableState::new().with_selected(Some(self.selected.min(visible.len() - 1)));
                frame.render_stateful_widget(table, body, &mut state);
            }
        }

        let footer_line = match &self.message {
            Some((message, at)) if at.elapsed() < MESSAGE_FOR => Line::from(message.clone().bold()),
            _ => Line::from(
                "↑↓ select · Enter copy · n next code · type to filter (/ first for q or n) · q/Esc quit".dim(),
            ),
        };
        frame.render_widget(Paragraph::new(footer_line), footer);
    }
}

/// One entry's row: name, code, countdown, next code, tags.
fn row(c: &LiveCode, now: u64) -> Row<'static> {
    let name = c.entry.label();
    let tags = c.entry.tags.join(", ");
    let Some(period) = period_of(c) else {
        return Row::new(vec![
            Cell::from(name),
            Cell::from("HOTP".dim()),
            Cell::from("Enter: a code".dim()),
            Cell::from(""),
            Cell::from(tags),
        ]);
    };
    let left = period - now % period;
    let width: u64 = 10;
    let filled = (left * width).div_ceil(period).min(width);
    let bar = format!(
        "{}{} {left:>2}s",
        "█".repeat(filled as usize),
        "░".repeat((width - filled) as usize)
    );
    let code = c.code.as_deref().map(spaced).unwrap_or_else(|| "?".into());
    let next = match &c.next {
        Some(next) if left <= SHOW_NEXT_WITHIN => format!("next {}", spaced(next)),
        _ => String::new(),
    };
    let bar = if left <= SHOW_NEXT_WITHIN {
        bar.red()
    } else {
        bar.green()
    };
    Row::new(vec![
        Cell::from(name),
        Cell::from(code.bold()),
        Cell::from(bar),
        Cell::from(next),
        Cell::from(tags),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_spaced_in_halves() {
        assert_eq!(spaced("123456"), "123 456");
        assert_eq!(spaced("12345678"), "1234 5678");
        assert_eq!(spaced("1234567"), "123 4567");
        assert_eq!(spaced("2BCDF"), "2BCDF");
    }
}
