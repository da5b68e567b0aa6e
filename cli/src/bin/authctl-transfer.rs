//! `authctl-transfer`: `authctl` with the commands that read or write files
//! and images of secrets; `authctl` execs it for those. See the crate docs.

fn main() -> std::process::ExitCode {
    authsync_cli::authctl_transfer()
}
