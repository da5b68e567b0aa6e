//! Writing to stdout without panicking when its reader has gone.
//!
//! `println!` panics when stdout is a closed pipe (`authctl list | head -1`).
//! [`outln!`] and [`out!`] end the process instead: quietly with status 141,
//! as a C tool killed by SIGPIPE would, when the reader went away; with a
//! one-line error and status 1 for any other failure (a full disk).

/// `println!` for stdout that never panics; see the module docs.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            $crate::stdout::failed(&e)
        }
    }};
}

/// `print!` for stdout that never panics; see the module docs.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = write!(std::io::stdout(), $($arg)*) {
            $crate::stdout::failed(&e)
        }
    }};
}

/// Ends the process after stdout failed with `e`.
pub fn failed(e: &std::io::Error) -> ! {
    if e.kind() != std::io::ErrorKind::BrokenPipe {
        eprintln!("authctl: failed to write to stdout: {e}");
        std::process::exit(1);
    }
    std::process::exit(141)
}
