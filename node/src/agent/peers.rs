//! The peer table: who is in the mesh as this agent sees it.
//!
//! A peer is in the table while at least one connection to it is open; it becomes visible to
//! users and to worker choice once identify has shown it speaks meshcc and its first status
//! has arrived. Liveness comes from the connections (closed, or ping failing), so a peer that
//! vanishes leaves the table within seconds, not at some gossip timeout.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};
use meshcc_wire::control::{PeerEntry, PeerName};
use meshcc_wire::mesh::NodeStatus;

/// What this agent knows of one connected peer.
#[derive(Debug)]
pub struct Peer {
    /// Addresses of the open connections.
    pub addresses: HashMap<libp2p::swarm::ConnectionId, Multiaddr>,
    /// Identify confirmed it speaks meshcc's status protocol.
    pub identified: bool,
    /// Last status received, and when.
    pub status: Option<(NodeStatus, Instant)>,
    /// Last ping round trip.
    pub rtt: Option<Duration>,
    /// When the peer last proved alive (connected, answered a ping, or sent a status).
    pub alive: Instant,
}

/// Connected peers by id.
#[derive(Debug, Default)]
pub struct PeerTable {
    peers: BTreeMap<PeerId, Peer>,
}

impl PeerTable {
    /// A connection to `peer` opened.
    pub fn connected(&mut self, peer: PeerId, conn: libp2p::swarm::ConnectionId, addr: Multiaddr) {
        self.peers
            .entry(peer)
            .or_insert_with(|| Peer {
                addresses: HashMap::new(),
                identified: false,
                status: None,
                rtt: None,
                alive: Instant::now(),
            })
            .addresses
            .insert(conn, addr);
    }

    /// One address `peer` is connected at, if it is connected.
    pub fn address_of(&self, peer: &PeerId) -> Option<&Multiaddr> {
        self.peers.get(peer)?.addresses.values().next()
    }

    /// A connection closed; the peer leaves when its last one does. Returns whether it left.
    pub fn disconnected(&mut self, peer: &PeerId, conn: libp2p::swarm::ConnectionId) -> bool {
        let Some(p) = self.peers.get_mut(peer) else {
            return false;
        };
        p.addresses.remove(&conn);
        if p.addresses.is_empty() {
            self.peers.remove(peer);
            return true;
        }
        false
    }

    /// Identify showed the peer speaks meshcc.
    pub fn identified(&mut self, peer: &PeerId) {
        if let Some(p) = self.peers.get_mut(peer) {
            p.identified = true;
        }
    }

    /// A status arrived; older sequence numbers than the one held are dropped.
    pub fn status(&mut self, peer: &PeerId, status: NodeStatus) {
        if let Some(p) = self.peers.get_mut(peer) {
            if p.status
                .as_ref()
                .is_some_and(|(old, _)| old.seq > status.seq)
            {
                return;
            }
            p.status = Some((status, Instant::now()));
            p.alive = Instant::now();
        }
    }

    /// A ping round trip was measured.
    pub fn rtt(&mut self, peer: &PeerId, rtt: Duration) {
        if let Some(p) = self.peers.get_mut(peer) {
            p.rtt = Some(rtt);
            p.alive = Instant::now();
        }
    }

    /// Peers not heard from for longer than `silence`: their connections are dead even if
    /// TCP has not noticed (a cut cable, a frozen host).
    pub fn silent(&self, silence: Duration) -> Vec<PeerId> {
        self.peers
            .iter()
            .filter(|(_, p)| p.alive.elapsed() > silence)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Whether any connection to `peer` is open.
    pub fn is_connected(&self, peer: &PeerId) -> bool {
        self.peers.contains_key(peer)
    }

    /// Peers identified as meshcc agents, to gossip to.
    pub fn identified_peers(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.peers
            .iter()
            .filter(|(_, p)| p.identified)
            .map(|(id, _)| *id)
    }

    /// Number of open peers (connected, whatever their state).
    pub fn connected_count(&self) -> usize {
        self.peers.len()
    }

    /// Identified peers with a status: id, status, when it arrived, round trip.
    pub fn statuses(
        &self,
    ) -> impl Iterator<Item = (PeerId, &NodeStatus, Instant, Option<Duration>)> + '_ {
        self.peers
            .iter()
            .filter(|(_, p)| p.identified)
            .filter_map(|(id, p)| {
                let (status, heard) = p.status.as_ref()?;
                Some((*id, status, *heard, p.rtt))
            })
    }

    /// Peers that are identified and have reported a status, as table rows.
    pub fn entries(&self) -> Vec<PeerEntry> {
        self.entries_marking(|_| false)
    }

    /// [`PeerTable::entries`], marking those `untrusted` names (failed a result check).
    pub fn entries_marking(&self, untrusted: impl Fn(&PeerId) -> bool) -> Vec<PeerEntry> {
        self.peers
            .iter()
            .filter(|(_, p)| p.identified)
            .filter_map(|(id, p)| {
                let (status, heard) = p.status.as_ref()?;
                let mut addresses: Vec<String> =
                    p.addresses.values().map(|a| a.to_string()).collect();
                addresses.sort();
                addresses.dedup();
                Some(PeerEntry {
                    peer: PeerName(id.to_string()),
                    addresses,
                    status: status.clone(),
                    rtt_us: p.rtt.map(|d| d.as_micros() as u64),
                    last_heard_ms: heard.elapsed().as_millis() as u64,
                    untrusted: untrusted(id),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::swarm::ConnectionId;

    fn status(seq: u64) -> NodeStatus {
        NodeStatus {
            seq,
            agent_version: "0.1.0".into(),
            protocol_version: 1,
            arch: "x86_64".into(),
            os: "linux".into(),
            slots: 1,
            running: 0,
            queued: 0,
            load_permille: 0,
            speed: 1000,
            mem_free_mb: 1,
            accepts_remote: true,
            toolchains: vec![],
        }
    }

    #[test]
    fn peer_appears_only_when_identified_with_status_and_leaves_with_last_connection() {
        let mut t = PeerTable::default();
        let p = PeerId::random();
        let (c1, c2) = (
            ConnectionId::new_unchecked(1),
            ConnectionId::new_unchecked(2),
        );
        t.connected(p, c1, "/ip4/10.0.0.2/tcp/1".parse().unwrap());
        t.connected(p, c2, "/ip4/10.0.0.2/tcp/2".parse().unwrap());
        t.status(&p, status(1));
        assert!(t.entries().is_empty(), "not identified yet");
        t.identified(&p);
        assert_eq!(t.entries().len(), 1);
        assert!(!t.disconnected(&p, c1));
        assert_eq!(
            t.entries()[0].addresses,
            vec!["/ip4/10.0.0.2/tcp/2".to_string()]
        );
        assert!(t.disconnected(&p, c2));
        assert!(t.entries().is_empty());
    }

    #[test]
    fn reordered_status_is_dropped() {
        let mut t = PeerTable::default();
        let p = PeerId::random();
        t.connected(
            p,
            ConnectionId::new_unchecked(1),
            "/ip4/10.0.0.2/tcp/1".parse().unwrap(),
        );
        t.identified(&p);
        t.status(&p, status(5));
        t.status(&p, status(4));
        assert_eq!(t.entries()[0].status.seq, 5);
    }
}
