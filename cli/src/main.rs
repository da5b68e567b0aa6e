//! `authctl`: see the crate docs.

fn main() -> std::process::ExitCode {
    authsync_cli::authctl()
}
