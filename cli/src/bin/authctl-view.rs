//! `authctl-view`: `authctl` with the live view and the clipboard; `authctl`
//! execs it for those. See the crate docs.

fn main() -> std::process::ExitCode {
    authsync_cli::authctl_view()
}
