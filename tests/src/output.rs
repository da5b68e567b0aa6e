//! What one `authctl` run printed, and the assertions made on it.

use std::fmt;
use std::process::ExitStatus;

/// One finished `authctl` run.
pub struct Output {
    /// Its arguments, for messages.
    pub args: Vec<String>,
    /// How it ended.
    pub status: ExitStatus,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl Output {
    /// The exit code (`None` if a signal ended it).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Panics, showing everything printed, unless the exit code is `code`.
    #[track_caller]
    pub fn assert_exit(&self, code: i32) -> &Self {
        assert_eq!(self.code(), Some(code), "unexpected exit code\n{self}");
        self
    }

    /// Asserts a failure the way DESIGN.md wants it: exit `code`, nothing
    /// on stdout, and a one-line message on stderr (`authctl: ...`) that
    /// contains every one of `says` (case-insensitive). Returns that line.
    #[track_caller]
    pub fn assert_error(&self, code: i32, says: &[&str]) -> &str {
        self.assert_exit(code);
        assert!(self.stdout.trim().is_empty(), "a failure printed on stdout\n{self}");
        let line = self.error_line();
        assert_eq!(
            self.stderr
                .trim_end()
                .lines()
                .filter(|l| !l.starts_with("warning: "))
                .count(),
            1,
            "expected a one-line error\n{self}"
        );
        self.assert_says(line, says);
        line
    }

    /// The first line of stderr that is not a warning: the error message.
    #[track_caller]
    pub fn error_line(&self) -> &str {
        let line = self
            .stderr
            .lines()
            .find(|l| !l.starts_with("warning: "))
            .unwrap_or_else(|| panic!("no error message on stderr\n{self}"));
        assert!(
            line.starts_with("authctl: "),
            "the error does not say who speaks\n{self}"
        );
        assert!(line.len() < 400, "the error message is not short\n{self}");
        line
    }

    #[track_caller]
    fn assert_says(&self, line: &str, says: &[&str]) {
        let lower = line.to_lowercase();
        for needle in says {
            assert!(
                lower.contains(&needle.to_lowercase()),
                "the error does not say {needle:?}\n{self}"
            );
        }
    }

    /// Stdout as exactly one trimmed line (panics otherwise).
    #[track_caller]
    pub fn line(&self) -> &str {
        let out = self.stdout.trim_end_matches('\n');
        assert!(
            !out.is_empty() && !out.contains('\n'),
            "expected one line on stdout\n{self}"
        );
        out
    }

    /// Parses stdout as JSON of type `T`.
    #[track_caller]
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not the expected JSON ({e})\n{self}"))
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ authctl {}  => {}", self.args.join(" "), self.status)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout.trim_end())?;
        write!(f, "--- stderr ---\n{}", self.stderr.trim_end())
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
