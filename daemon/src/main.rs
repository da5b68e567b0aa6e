//! `authd`: the authsync daemon. Holds the vault and answers `authctl` over a
//! Unix socket. Everything of substance lives in the modules; this file
//! parses arguments, sets up logging and runs the parts until told to stop.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use authsync_daemon::{config, daemon, discovery, ipc, network, store, vault};
use authsync_proto::paths::Paths;
use clap::Parser;
use tokio::signal::unix::{SignalKind, signal};

/// authd: keeps the household's authenticator vault and serves codes.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Lock the vault after this many seconds without requests (0: never).
    #[arg(long, value_name = "SECS")]
    auto_lock: Option<u64>,
    /// Where to listen for peers (UDP).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// A peer to sync with, for networks without multicast (repeatable).
    /// HOST is a DNS name (resolved again at every dial), an IPv4 address or
    /// a bracketed IPv6 address: [2001:db8::7]:47811.
    #[arg(long = "peer", value_name = "HOST:PORT")]
    peers: Vec<String>,
    /// Run as a relay: join a household with `authctl join CODE --relay`,
    /// then store and forward its records for devices rarely online
    /// together, reading nothing.
    #[arg(long)]
    relay: bool,
    /// Do not announce or look for devices with mDNS.
    #[arg(long)]
    no_mdns: bool,
    /// More log output from authsync (-v debug, -vv trace; the libraries
    /// under it stay at info); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

fn init_logging(verbose: u8) {
    let ours = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    // Libraries' own debug and trace output (rustls prints handshake
    // messages, quinn packets) helps nobody reading an authd log and only
    // widens what a log can leak: RUST_LOG can still ask for it.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "info,sled=warn,authd={ours},authsync_daemon={ours},authsync_proto={ours}"
        ))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Every local client holds a socket until its timeout: take the hard limit
/// on open files (up to 65,536) rather than the 1,024 many shells give.
fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let want = hard.min(65_536);
        if soft < want {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, want, hard) {
                tracing::debug!(error = %e, "could not raise the open-file limit");
            }
        }
    }
}

/// Keeps an unlocked vault's keys out of core files and away from other
/// processes of the same user, whoever started authd (authctl's auto-start,
/// a shell or systemd): not dumpable (so no core file, no ptrace attach, and
/// `/proc/PID/mem`, `environ` and the like owned by root), and a core-file
/// limit of zero, soft and hard, so a child or a later `PR_SET_DUMPABLE`
/// cannot bring cores back. Runs before anything is read.
fn harden() -> Result<()> {
    use nix::sys::resource::{Resource, setrlimit};
    setrlimit(Resource::RLIMIT_CORE, 0, 0).context("failed to set the core-file limit to 0")?;
    nix::sys::prctl::set_dumpable(false).context("failed to make the process non-dumpable")?;
    Ok(())
}

fn main() -> ExitCode {
    // A security tool does not run dumpable: refuse rather than go on.
    if let Err(e) = harden() {
        eprintln!("authd: {e:#}; refusing to start");
        return ExitCode::FAILURE;
    }
    let args = Args::parse();
    init_logging(args.verbose);
    raise_fd_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("authd: failed to start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let paths = Paths::resolve(|k| std::env::var(k).ok(), nix::unistd::geteuid().as_raw());
    let result = runtime.block_on(run(args, &paths));
    // Dropping the runtime drops every task, and with them the last handle
    // on the vault: sled flushes and releases its lock. Only then do the
    // socket and pid file go, so `authctl shutdown` can wait for them.
    // (On an error, the socket may be another daemon's: leave it alone.)
    runtime.shutdown_timeout(Duration::from_secs(5));
    if let Ok(wipe) = &result {
        if *wipe {
            // `leave`: the vault is gone with the daemon, now that sled let go.
            match std::fs::remove_dir_all(&paths.data_dir) {
                Ok(()) => tracing::info!(data = %paths.data_dir.display(), "deleted the vault"),
                Err(e) => tracing::error!(data = %paths.data_dir.display(), "could not delete the vault: {e}"),
            }
        }
        let _ = std::fs::remove_file(paths.socket());
        let _ = std::fs::remove_file(paths.runtime_dir.join("authd.pid"));
    }
    match result {
        Ok(_) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("authd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the daemon until it is told to stop; `Ok(true)` if its vault is to
/// be deleted (the device left its household).
async fn run(args: Args, paths: &Paths) -> Result<bool> {
    let config = config::Config::load(&paths.config_file)?;
    let vault = vault::Vault::open(&paths.data_dir)?;
    let auto_lock = args
        .auto_lock
        .or(config.auto_lock)
        .filter(|s| *s > 0)
        .map(Duration::from_secs);
    let net_config = network::NetConfig {
        listen: args
            .listen
            .or(config.listen)
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], network::DEFAULT_PORT))),
        peers: if args.peers.is_empty() {
            config.peers
        } else {
            args.peers
        },
    };
    for peer in &net_config.peers {
        network::check_peer(peer)?;
    }
    // mDNS starts with the network (a household exists) or when `join`
    // looks for an offer: a device with no household answers no one.
    let discovery = if args.no_mdns || config.mdns == Some(false) {
        discovery::Lazy::off()
    } else {
        let bind = Some(net_config.listen.ip()).filter(|ip| !ip.is_unspecified());
        discovery::Lazy::new(move || {
            let mdns = discovery::Mdns::new(bind).context("failed to start mDNS (use --no-mdns to go without)")?;
            Ok(Arc::new(mdns) as Arc<dyn discovery::Discovery>)
        })
    };
    let daemon = daemon::Daemon::new(vault, auto_lock, discovery);
    daemon.set_static_peers(net_config.peers.clone());
    daemon.set_relay(args.relay || config.relay == Some(true));
    daemon
        .unlock_with_key_file()
        .context("failed to unlock with the key file")?;

    store::ensure_private_dir(&paths.runtime_dir)?;
    let socket = paths.socket();
    let listener = ipc::bind(&socket).await?;
    let pid_file = paths.runtime_dir.join("authd.pid");
    std::fs::write(&pid_file, format!("{}\n", std::process::id()))
        .with_context(|| format!("failed to write {}", pid_file.display()))?;
    tracing::info!(socket = %socket.display(), data = %paths.data_dir.display(), "authd ready");

    // The network starts once there is a household (now, or after init/join).
    tokio::spawn({
        let daemon = daemon.clone();
        async move {
            if !daemon.established().await {
                return;
            }
            let mut config = net_config;
            config.peers.extend(daemon.learned_peers());
            config.peers.sort();
            config.peers.dedup();
            let discovery = daemon.discovery().unwrap_or_else(|e| {
                tracing::error!("{e:#}; this device finds peers only by address");
                None
            });
            match network::start(&daemon, &config, discovery).await {
                Ok(net) => daemon.set_net(net),
                // Codes still work without the network: keep serving them.
                Err(e) => {
                    daemon.net_failed();
                    tracing::error!("the network could not start, so this device will not sync: {e:#}");
                }
            }
        }
    });

    let mut term = signal(SignalKind::terminate()).context("failed to watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("failed to watch SIGINT")?;
    let server = tokio::spawn(ipc::serve(listener, daemon.clone()));
    let auto_lock = tokio::spawn({
        let daemon = daemon.clone();
        async move { daemon.auto_lock().await }
    });
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = int.recv() => tracing::info!("SIGINT: stopping"),
        _ = daemon.stopped() => tracing::info!("shutdown requested: stopping"),
    }
    daemon.stop();
    daemon.lock();
    if let Some(net) = daemon.net() {
        // Tell every peer now, rather than leave them to notice at the idle
        // timeout; the close frames need the runtime for a moment.
        net.endpoint.close(0u32.into(), b"shutting down");
        let _ = tokio::time::timeout(Duration::from_secs(1), net.endpoint.wait_idle()).await;
    }
    let _ = server.await;
    let _ = auto_lock.await;
    Ok(daemon.wipe_requested())
}
