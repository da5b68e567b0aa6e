//! In-process discovery for tests: a [`MemoryNetwork`] is a shared registry;
//! each [`MemoryDiscovery`] joined to it sees what the others publish (never
//! its own adverts), at `127.0.0.1:port`.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use authsync_proto::wire::SYNC_PROTOCOL;
use tokio::sync::mpsc;

use super::{Advert, Discovery, Found, SUBSCRIBER_CAPACITY, fan_out, lock};

/// A shared in-memory "LAN". Cheap to clone.
#[derive(Clone, Default)]
pub struct MemoryNetwork {
    inner: Arc<Mutex<Network>>,
}

#[derive(Default)]
struct Network {
    next_member: u64,
    members: HashMap<u64, Member>,
}

#[derive(Default)]
struct Member {
    advert: Option<Advert>,
    subscribers: Vec<mpsc::Sender<Found>>,
}

/// One device's view of a [`MemoryNetwork`].
pub struct MemoryDiscovery {
    network: MemoryNetwork,
    member: u64,
}

impl MemoryNetwork {
    /// An empty network.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new member of this network.
    pub fn join(&self) -> MemoryDiscovery {
        let mut network = lock(&self.inner);
        let member = network.next_member;
        network.next_member += 1;
        network.members.insert(member, Member::default());
        MemoryDiscovery {
            network: self.clone(),
            member,
        }
    }
}

fn found(advert: &Advert) -> Found {
    Found {
        device: advert.device,
        household_tag: advert.household_tag.clone(),
        pairing: advert.pairing,
        addrs: vec![SocketAddr::from((Ipv4Addr::LOCALHOST, advert.port))],
        protocol: SYNC_PROTOCOL,
    }
}

impl Discovery for MemoryDiscovery {
    fn publish(&self, advert: &Advert) -> anyhow::Result<()> {
        let mut network = lock(&self.network.inner);
        let me = network
            .members
            .get_mut(&self.member)
            .ok_or_else(|| anyhow::anyhow!("discovery is shut down"))?;
        if me.advert.as_ref() == Some(advert) {
            return Ok(());
        }
        me.advert = Some(advert.clone());
        let report = found(advert);
        for (id, member) in network.members.iter_mut() {
            if *id != self.member {
                fan_out(&mut member.subscribers, &report);
            }
        }
        Ok(())
    }

    fn subscribe(&self) -> mpsc::Receiver<Found> {
        let (tx, rx) = mpsc::channel(SUBSCRIBER_CAPACITY);
        let mut network = lock(&self.network.inner);
        for (id, member) in network.members.iter() {
            if let (true, Some(advert)) = (*id != self.member, &member.advert) {
                let _ = tx.try_send(found(advert));
            }
        }
        // After shutdown `tx` is dropped here and the stream ends at once.
        if let Some(me) = network.members.get_mut(&self.member) {
            me.subscribers.push(tx);
        }
        rx
    }

    fn shutdown(&self) {
        lock(&self.network.inner).members.remove(&self.member);
    }
}

impl Drop for MemoryDiscovery {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use authsync_proto::ids::DeviceId;
    use tokio::time::timeout;

    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

    fn advert(n: u8) -> Advert {
        Advert {
            device: DeviceId([n; 32]),
            household_tag: Some("abcdefgh".into()),
            port: 4000 + u16::from(n),
            pairing: None,
        }
    }

    async fn next(rx: &mut mpsc::Receiver<Found>) -> Found {
        timeout(WAIT, rx.recv())
            .await
            .expect("a report within the deadline")
            .expect("stream still open")
    }

    #[tokio::test]
    async fn members_see_each_other_but_not_themselves() {
        let network = MemoryNetwork::new();
        let a = network.join();
        let b = network.join();
        let mut a_rx = a.subscribe();
        let mut b_rx = b.subscribe();

        a.publish(&advert(1)).expect("publish");
        let seen = next(&mut b_rx).await;
        assert_eq!(
            seen,
            Found {
                device: DeviceId([1; 32]),
                household_tag: Some("abcdefgh".into()),
                pairing: None,
                addrs: vec![SocketAddr::from(([127, 0, 0, 1], 4001))],
                protocol: SYNC_PROTOCOL,
            }
        );

        // Same advert again: idempotent, nothing new. New content: reported.
        a.publish(&advert(1)).expect("publish");
        let pairing = Advert {
            pairing: Some(7),
            ..advert(1)
        };
        a.publish(&pairing).expect("publish");
        let seen = next(&mut b_rx).await;
        assert_eq!(seen.pairing, Some(7));
        assert!(b_rx.try_recv().is_err(), "the identical re-publish was not reported");

        // A never sees itself; it does see B.
        b.publish(&advert(2)).expect("publish");
        assert_eq!(next(&mut a_rx).await.device, DeviceId([2; 32]));
        assert!(a_rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn late_subscribers_get_known_devices_and_shutdown_ends_streams() {
        let network = MemoryNetwork::new();
        let a = network.join();
        let b = network.join();
        a.publish(&advert(1)).expect("publish");
        let mut late = b.subscribe();
        assert_eq!(next(&mut late).await.device, DeviceId([1; 32]));

        b.shutdown();
        assert_eq!(timeout(WAIT, late.recv()).await.expect("ends promptly"), None);
        assert!(b.publish(&advert(2)).is_err());
        // A left: a new member does not see it.
        drop(a);
        let c = network.join();
        let mut c_rx = c.subscribe();
        assert!(c_rx.try_recv().is_err());
    }
}
