//! [`Mdns`]: discovery over multicast DNS (mdns-sd), service
//! `_authsync._udp.local.`.
//!
//! mdns-sd runs its own thread and talks over bounded flume channels; it
//! *closes* a browse whose channel fills up, so two tasks drain its receivers
//! at all times (`recv_async`) and never wait on our subscribers.
//!
//! Names: instance = the full device id (52 base32 chars, within the 63-byte
//! label limit, and starting with the short id), host = `<short id>.local.`.
//! Addresses are the machine's own (`enable_addr_auto`), kept current by
//! mdns-sd as interfaces come and go.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use authsync_proto::ids::DeviceId;
use mdns_sd::{DaemonEvent, IfKind, Receiver, ResolvedService, ScopedIp, ServiceDaemon, ServiceEvent, ServiceInfo};
use tokio::sync::mpsc;

use super::txt::{self, BadTxt};
use super::{Advert, Discovery, Found, SUBSCRIBER_CAPACITY, fan_out, lock};

/// The DNS-SD service type.
pub(super) const SERVICE_TYPE: &str = "_authsync._udp.local.";

/// Most instances remembered for late subscribers; beyond this (a hostile or
/// very busy LAN) new ones are still reported, just not remembered.
const MAX_REMEMBERED: usize = 128;

/// Most addresses kept per device.
const MAX_ADDRS: usize = 16;

/// How long [`Discovery::shutdown`] waits for mdns-sd to send its goodbyes.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(1);

/// mDNS discovery. Dropping it shuts it down.
pub struct Mdns {
    daemon: ServiceDaemon,
    shared: Arc<Mutex<State>>,
    /// A random value per start, in the TXT record: see [`txt::KEY_BOOT`].
    boot: String,
}

#[derive(Default)]
struct State {
    /// Our own device, once published: never reported to our subscribers.
    own: Option<DeviceId>,
    /// What is registered with mdns-sd, and under which full service name.
    published: Option<(Advert, String)>,
    subscribers: Vec<mpsc::Sender<Found>>,
    /// The latest report per instance (lowercase full name), for late
    /// subscribers.
    remembered: HashMap<String, Found>,
    shut_down: bool,
}

impl Mdns {
    /// Starts mDNS on all interfaces, or only on the interface that has
    /// address `bind`, and starts browsing for peers. Must be called inside
    /// a tokio runtime.
    pub fn new(bind: Option<IpAddr>) -> Result<Mdns> {
        let runtime = tokio::runtime::Handle::try_current().context("mDNS discovery needs a tokio runtime")?;
        let daemon = ServiceDaemon::new().context("failed to start the mDNS daemon")?;
        // From here on, dropping `mdns` (on any error) stops the daemon thread.
        let mdns = Mdns {
            daemon,
            shared: Arc::new(Mutex::new(State::default())),
            boot: format!("{:08x}", rand::random::<u32>()),
        };
        if let Some(ip) = bind {
            // mdns-sd would silently use no interface at all: fail clearly.
            std::net::UdpSocket::bind((ip, 0)).with_context(|| format!("{ip} is not an address of this machine"))?;
            mdns.daemon
                .disable_interface(IfKind::All)
                .context("failed to restrict mDNS interfaces")?;
            mdns.daemon
                .enable_interface(IfKind::Addr(ip))
                .with_context(|| format!("failed to enable mDNS on {ip}"))?;
        }
        let monitor = mdns.daemon.monitor().context("failed to monitor the mDNS daemon")?;
        let browse = mdns
            .daemon
            .browse(SERVICE_TYPE)
            .context("failed to browse for authsync peers")?;
        runtime.spawn(log_daemon_events(monitor));
        runtime.spawn(drain_browse(browse, mdns.shared.clone()));
        Ok(mdns)
    }
}

impl Discovery for Mdns {
    fn publish(&self, advert: &Advert) -> Result<()> {
        if advert.port == 0 {
            bail!("cannot announce port 0");
        }
        let mut state = lock(&self.shared);
        if state.shut_down {
            bail!("mDNS discovery is shut down");
        }
        if state.published.as_ref().is_some_and(|(a, _)| a == advert) {
            return Ok(());
        }
        let instance = advert.device.to_string();
        let host = format!("{}.local.", advert.device.short());
        let mut properties = txt::encode(advert);
        properties.push((txt::KEY_BOOT, self.boot.clone()));
        let mut info = ServiceInfo::new(SERVICE_TYPE, &instance, &host, (), advert.port, &properties[..])
            .context("failed to build the mDNS service record")?
            .enable_addr_auto();
        let fullname = info.get_fullname().to_owned();
        // No probing (RFC 6762 §8.1): the instance name is the device id, a
        // hash of this device's key, so no one else can rightly claim it.
        // Probing would let anyone (or our own update racing the first
        // probe, as mdns-sd does) push us to "<id> (2)". Every publish is
        // announced at once with cache-flush, so peers replace an old TXT.
        info.set_requires_probe(false);
        match &state.published {
            Some((_, old)) if *old == fullname => {}
            Some((_, old)) => {
                // A different device id (should not happen): withdraw the old one.
                if let Err(e) = self.daemon.unregister(old) {
                    tracing::warn!("failed to withdraw the old mDNS announcement: {e}");
                }
            }
            None => {}
        }
        self.daemon
            .register(info)
            .context("failed to register the mDNS service")?;
        tracing::debug!(
            port = advert.port,
            pairing = ?advert.pairing,
            household = ?advert.household_tag,
            "announcing on mDNS"
        );
        state.own = Some(advert.device);
        state.published = Some((advert.clone(), fullname));
        Ok(())
    }

    fn subscribe(&self) -> mpsc::Receiver<Found> {
        let (tx, rx) = mpsc::channel(SUBSCRIBER_CAPACITY);
        let mut state = lock(&self.shared);
        if !state.shut_down {
            // MAX_REMEMBERED < SUBSCRIBER_CAPACITY: the replay always fits.
            for found in state.remembered.values() {
                let _ = tx.try_send(found.clone());
            }
            state.subscribers.push(tx);
        }
        rx
    }

    fn shutdown(&self) {
        {
            let mut state = lock(&self.shared);
            if state.shut_down {
                return;
            }
            state.shut_down = true;
            state.subscribers.clear();
            state.remembered.clear();
        }
        // mdns-sd sends goodbye packets for every registered service as it
        // exits; wait (briefly, bounded) so they leave before the process does.
        match self.daemon.shutdown() {
            Ok(done) => {
                if done.recv_timeout(SHUTDOWN_WAIT).is_err() {
                    tracing::debug!("mDNS daemon did not confirm shutdown in time");
                }
            }
            Err(e) => tracing::debug!("mDNS daemon shutdown: {e}"),
        }
    }
}

impl Drop for Mdns {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Forwards resolved services to the subscribers until mdns-sd ends the browse.
async fn drain_browse(browse: Receiver<ServiceEvent>, shared: Arc<Mutex<State>>) {
    while let Ok(event) = browse.recv_async().await {
        match event {
            ServiceEvent::ServiceResolved(service) => on_resolved(&service, &shared),
            ServiceEvent::ServiceRemoved(_, fullname) => {
                lock(&shared).remembered.remove(&fullname.to_ascii_lowercase());
            }
            _ => {}
        }
    }
    let mut state = lock(&shared);
    if !state.shut_down {
        tracing::warn!("mDNS browsing stopped unexpectedly; no more peers will be found");
    }
    state.subscribers.clear();
}

fn on_resolved(service: &ResolvedService, shared: &Mutex<State>) {
    let key = service.get_fullname().to_ascii_lowercase();
    let mut state = lock(shared);
    match found_from(service) {
        Ok(found) if state.own == Some(found.device) => {
            tracing::trace!("ignoring our own mDNS announcement");
        }
        Ok(found) => {
            tracing::debug!(peer = %found.device.short(), addrs = ?found.addrs, "found on mDNS");
            if state.remembered.len() < MAX_REMEMBERED || state.remembered.contains_key(&key) {
                state.remembered.insert(key, found.clone());
            }
            fan_out(&mut state.subscribers, &found);
        }
        Err(e) => {
            // A name from the network: bounded and escaped before logging.
            let name: String = service.get_fullname().chars().take(80).collect();
            tracing::debug!(instance = ?name, "skipping mDNS announcement: {e}");
            state.remembered.remove(&key);
        }
    }
}

/// Why a resolved service is not reported.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
enum Unusable {
    #[error(transparent)]
    Txt(#[from] BadTxt),
    #[error("SRV port is 0")]
    PortZero,
    #[error("no address")]
    NoAddress,
}

/// A [`Found`] from an mdns-sd resolution, or why it is unusable.
fn found_from(service: &ResolvedService) -> Result<Found, Unusable> {
    let txt = txt::parse(service.get_properties())?;
    let port = service.get_port();
    if port == 0 {
        return Err(Unusable::PortZero);
    }
    let mut addrs: Vec<SocketAddr> = service.get_addresses().iter().map(|ip| socket_addr(ip, port)).collect();
    addrs.sort_by_key(|a| (rank(a), *a));
    addrs.dedup();
    addrs.truncate(MAX_ADDRS);
    if addrs.is_empty() {
        return Err(Unusable::NoAddress);
    }
    Ok(Found {
        device: txt.device,
        household_tag: txt.household_tag,
        pairing: txt.pairing,
        addrs,
        protocol: txt.protocol,
    })
}

/// IPv6 link-local addresses need their interface to be reachable.
fn socket_addr(ip: &ScopedIp, port: u16) -> SocketAddr {
    match (ip, ip.to_ip_addr()) {
        (ScopedIp::V6(v6), IpAddr::V6(addr)) if addr.is_unicast_link_local() => {
            SocketAddr::V6(SocketAddrV6::new(addr, port, 0, v6.scope_id().index))
        }
        (_, addr) => SocketAddr::new(addr, port),
    }
}

/// Which addresses to try first: routable IPv4, routable IPv6, link-local,
/// loopback (only ever seen from this same machine).
fn rank(addr: &SocketAddr) -> u8 {
    match addr.ip() {
        ip if ip.is_loopback() => 4,
        IpAddr::V4(v4) if v4.is_link_local() => 2,
        IpAddr::V4(_) => 0,
        IpAddr::V6(v6) if v6.is_unicast_link_local() => 3,
        IpAddr::V6(_) => 1,
    }
}

/// Logs what mdns-sd reports about itself (socket errors, renames).
async fn log_daemon_events(monitor: Receiver<DaemonEvent>) {
    while let Ok(event) = monitor.recv_async().await {
        match event {
            DaemonEvent::Error(e) => tracing::warn!("mDNS: {e}"),
            DaemonEvent::NameChange(change) => tracing::info!(
                from = %change.original,
                to = %change.new_name,
                "mDNS name conflict: renamed"
            ),
            DaemonEvent::IpAdd(ip) => tracing::debug!(%ip, "mDNS: address added"),
            DaemonEvent::IpDel(ip) => tracing::debug!(%ip, "mDNS: address removed"),
            other => tracing::trace!(?other, "mDNS event"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use authsync_proto::wire::SYNC_PROTOCOL;
    use tokio::net::UdpSocket;
    use tokio::time::timeout;

    use super::*;

    /// Generous: resolving takes about 0.5 s here (DESIGN.md), plus probing.
    const WAIT: Duration = Duration::from_secs(5);

    fn running_in_ci() -> bool {
        std::env::var("CI").is_ok_and(|v| v == "true")
    }

    /// Whether a multicast datagram sent from `interface` comes back to this
    /// host: the precondition for mDNS between two daemons on one machine.
    /// (Linux sends multicast out of the interface owning the bound source
    /// address, so binding the sender picks the interface.)
    async fn multicast_loops_on(interface: Ipv4Addr) -> Result<()> {
        let group = Ipv4Addr::new(224, 0, 0, 251);
        let receiver = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).await?;
        receiver.join_multicast_v4(group, interface)?;
        let port = receiver.local_addr()?.port();
        let sender = UdpSocket::bind((interface, 0)).await?;
        sender.set_multicast_loop_v4(true)?;
        sender.send_to(b"authsync probe", (group, port)).await?;
        let mut buf = [0; 32];
        let (n, _) = timeout(Duration::from_secs(1), receiver.recv_from(&mut buf))
            .await
            .context("no multicast loopback within 1 s")??;
        anyhow::ensure!(&buf[..n] == b"authsync probe", "unexpected datagram");
        Ok(())
    }

    /// `None` if multicast loops back through `interface` here, else why not.
    async fn no_multicast(interface: Ipv4Addr) -> Option<String> {
        multicast_loops_on(interface)
            .await
            .err()
            .map(|e| format!("via {interface}: {e:#}"))
    }

    /// Skips (returns true) when multicast loops back through none of
    /// `interfaces`, unless `CI=true`.
    async fn skip_without_multicast(test: &str, interfaces: &[Ipv4Addr]) -> bool {
        let mut reasons = Vec::new();
        for &interface in interfaces {
            match no_multicast(interface).await {
                None => return false,
                Some(reason) => reasons.push(reason),
            }
        }
        let reason = reasons.join("; ");
        assert!(!running_in_ci(), "{test}: multicast unavailable with CI=true: {reason}");
        println!("{test}: skipped, multicast unavailable here: {reason}");
        true
    }

    fn advert(port: u16) -> Advert {
        Advert {
            device: DeviceId(rand::random()),
            household_tag: Some("mfrggzdf".into()),
            port,
            pairing: None,
        }
    }

    /// The next report matching `want`, failing on any report `forbid`s.
    async fn wait_for(
        rx: &mut mpsc::Receiver<Found>,
        want: impl Fn(&Found) -> bool,
        forbid: impl Fn(&Found) -> bool,
    ) -> Found {
        let search = async {
            loop {
                let found = rx.recv().await.expect("discovery stream ended");
                assert!(!forbid(&found), "unexpected report: {found:?}");
                if want(&found) {
                    return found;
                }
            }
        };
        timeout(WAIT, search).await.expect("found within the deadline")
    }

    /// Announces, with plain mdns-sd, an authsync instance whose TXT has a
    /// valid `id` but a hostile `hh`: it must never be reported.
    fn announce_hostile(bind: Option<IpAddr>) -> (ServiceDaemon, DeviceId, String) {
        let daemon = ServiceDaemon::new().expect("mDNS daemon");
        if let Some(ip) = bind {
            daemon.disable_interface(IfKind::All).expect("select");
            daemon.enable_interface(IfKind::Addr(ip)).expect("select");
        }
        let device = DeviceId(rand::random());
        let id = device.to_string();
        let properties = [("v", "1"), ("id", id.as_str()), ("hh", "x y\n\u{0}")];
        let info = ServiceInfo::new(
            SERVICE_TYPE,
            &format!("{}-hostile", device.short()),
            "hostile.local.",
            (),
            9,
            &properties[..],
        )
        .expect("service info")
        .enable_addr_auto();
        let fullname = info.get_fullname().to_owned();
        daemon.register(info).expect("register");
        (daemon, device, fullname)
    }

    async fn find_each_other(bind: Option<IpAddr>) {
        let (hostile, hostile_id, hostile_name) = announce_hostile(bind);
        let a = Mdns::new(bind).expect("mDNS A");
        let b = Mdns::new(bind).expect("mDNS B");
        let mut a_rx = a.subscribe();
        let mut b_rx = b.subscribe();
        let a_advert = advert(rand::random::<u16>() | 0x8000);
        let b_advert = advert(rand::random::<u16>() | 0x8000);
        let (a_id, b_id) = (a_advert.device, b_advert.device);
        a.publish(&a_advert).expect("publish A");

        let found = wait_for(&mut b_rx, |f| f.device == a_id, |f| f.device == hostile_id).await;
        assert_eq!(found.protocol, SYNC_PROTOCOL);
        assert_eq!(found.household_tag.as_deref(), Some("mfrggzdf"));
        assert_eq!(found.pairing, None);
        assert!(!found.addrs.is_empty());
        assert!(
            found.addrs.iter().all(|a| a.port() == a_advert.port),
            "{:?}",
            found.addrs
        );
        if let Some(ip) = bind {
            assert!(found.addrs.iter().any(|a| a.ip() == ip), "{:?}", found.addrs);
        }

        // Once the hostile instance is provably on the network (a plain
        // mdns-sd browser resolved it), B has received it too: B's next
        // report comes from packets queued after it.
        let raw = hostile.browse(SERVICE_TYPE).expect("browse");
        let hostile_seen = async {
            while let Ok(event) = raw.recv_async().await {
                if let ServiceEvent::ServiceResolved(s) = event {
                    if s.get_fullname() == hostile_name {
                        return;
                    }
                }
            }
        };
        timeout(WAIT, hostile_seen).await.expect("hostile instance resolved");

        // New TXT content is re-announced and reported again.
        let pairing = Advert {
            pairing: Some(7),
            ..a_advert.clone()
        };
        a.publish(&pairing).expect("re-publish A");
        wait_for(
            &mut b_rx,
            |f| f.device == a_id && f.pairing == Some(7),
            |f| f.device == hostile_id,
        )
        .await;

        // A sees B, and never itself.
        b.publish(&b_advert).expect("publish B");
        wait_for(&mut a_rx, |f| f.device == b_id, |f| f.device == a_id).await;

        // A late subscriber is told about what is already known.
        let mut late = b.subscribe();
        wait_for(&mut late, |f| f.device == a_id, |f| f.device == b_id).await;

        a.shutdown();
        b.shutdown();
        let _ = hostile.shutdown();
        // Reports already queued are still delivered, then the stream ends.
        let drained = async { while b_rx.recv().await.is_some() {} };
        timeout(WAIT, drained).await.expect("stream ends after shutdown");
        assert!(a.publish(&a_advert).is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mdns_peers_find_each_other_on_loopback() {
        if skip_without_multicast("mdns_peers_find_each_other_on_loopback", &[Ipv4Addr::LOCALHOST]).await {
            return;
        }
        find_each_other(Some(IpAddr::V4(Ipv4Addr::LOCALHOST))).await;
    }

    #[tokio::test]
    async fn binding_to_a_foreign_address_fails() {
        let foreign = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 77));
        if std::net::UdpSocket::bind((foreign, 0)).is_ok() {
            // ip_nonlocal_bind, or a namespace with no interface up.
            println!("binding_to_a_foreign_address_fails: skipped, this kernel accepts non-local binds");
            return;
        }
        assert!(Mdns::new(Some(foreign)).is_err());
    }

    #[test]
    fn resolved_services_become_found_or_are_skipped() {
        let id = DeviceId([7; 32]).to_string();
        let resolved = |addrs: &str, port: u16, txt: &[(&str, &str)]| {
            ServiceInfo::new(SERVICE_TYPE, "x", "x.local.", addrs, port, txt)
                .expect("service info")
                .as_resolved_service()
        };
        let good = [("v", "1"), ("id", id.as_str()), ("pn", "12")];
        let found = found_from(&resolved("127.0.0.1,fe80::1,192.0.2.9", 4433, &good)).expect("usable");
        assert_eq!(found.device, DeviceId([7; 32]));
        assert_eq!(found.pairing, Some(12));
        let ips: Vec<String> = found.addrs.iter().map(|a| a.ip().to_string()).collect();
        assert_eq!(ips, ["192.0.2.9", "fe80::1", "127.0.0.1"]);
        assert!(found.addrs.iter().all(|a| a.port() == 4433));

        assert_eq!(found_from(&resolved("192.0.2.9", 0, &good)), Err(Unusable::PortZero));
        assert_eq!(found_from(&resolved("", 4433, &good)), Err(Unusable::NoAddress));
        let bad = [("v", "1"), ("id", "not-an-id")];
        assert_eq!(
            found_from(&resolved("192.0.2.9", 4433, &bad)),
            Err(Unusable::Txt(BadTxt::Invalid("id")))
        );
        // A hostile peer announcing hundreds of addresses gets a bounded list.
        let many: Vec<String> = (0..=255).map(|i| format!("10.0.0.{i}")).collect();
        let found = found_from(&resolved(&many.join(","), 4433, &good)).expect("usable");
        assert_eq!(found.addrs.len(), MAX_ADDRS);
    }

    #[test]
    fn addresses_are_ordered_routable_first() {
        let mut addrs: Vec<SocketAddr> = [
            "127.0.0.1:9",
            "[fe80::1%2]:9",
            "[fd00::2]:9",
            "192.0.2.2:9",
            "169.254.1.1:9",
        ]
        .iter()
        .map(|s| s.parse().expect("valid"))
        .collect();
        addrs.sort_by_key(|a| (rank(a), *a));
        let ips: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
        assert_eq!(ips, ["192.0.2.2", "fd00::2", "169.254.1.1", "fe80::1", "127.0.0.1"]);
    }
}
