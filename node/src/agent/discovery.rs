//! Whom to dial, and when: peers found by mDNS, static peers from `--peer`, and retries.
//!
//! Pitfalls handled here (rust-libp2p, learned the hard way by others):
//! - mDNS reports a peer once, not again while its record lives. A peer that drops and comes
//!   back (a cut cable) must be redialled from our own address book, not from a new event.
//! - Two agents that discover each other at once would dial each other at once. The one with
//!   the smaller peer id dials; the other waits a grace period and dials only if no connection
//!   has appeared (it may be unreachable the other way). The same holds when a connection
//!   drops (a cut cable, a restart): both ends redialling with backoff would both have a dial
//!   under way when the wire returns, and end up with two connections. So the larger id waits
//!   longer after losing a peer than the smaller id's first redials take.
//! - A failing dial (host gone, other mesh key) backs off exponentially, capped so that a
//!   healed host is back within seconds.
//! - mDNS gives a TCP and a QUIC address per peer, and libp2p dials a peer's addresses
//!   concurrently: both handshakes often complete, the dialer keeps one and closes the other,
//!   and whatever the far end had sent on the loser is lost — a first status push, measured in
//!   the lab, which left the peer out of the table until the next heartbeat (5 s). So addresses
//!   are tried one at a time, TCP first (the transport every mesh has; QUIC only the open one).

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU8;
use std::time::{Duration, Instant};

use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::ConnectionId;
use libp2p::{Multiaddr, PeerId};

const FIRST_RETRY: Duration = Duration::from_millis(500);
const MAX_RETRY: Duration = Duration::from_secs(8);
/// How long the peer with the larger id waits for the other to dial it.
const TIE_BREAK_GRACE: Duration = Duration::from_secs(2);
/// The same, after a connection to the peer was lost: the smaller id redials at once, and
/// again after each failed dial (5 s handshake timeout) and a backoff starting at 0.5 s, so a
/// peer back within ten seconds is redialled by it alone.
const REDIAL_GRACE: Duration = Duration::from_secs(10);
/// Addresses of a peer dialled at once: one, so that no second connection is made and dropped.
const DIAL_CONCURRENCY: NonZeroU8 = NonZeroU8::MIN;
/// How long a peer that is not a meshcc agent is left alone.
const IGNORE_FOR: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Target {
    Mdns(PeerId),
    Static(usize),
}

#[derive(Debug)]
struct Retry {
    next: Instant,
    delay: Duration,
}

impl Retry {
    fn now() -> Self {
        Self {
            next: Instant::now(),
            delay: FIRST_RETRY,
        }
    }

    fn failed(&mut self) {
        // Jitter keeps a whole mesh from redialling a returning host in lockstep.
        let jitter = Duration::from_millis(rand::random::<u64>() % 250);
        self.next = Instant::now() + self.delay + jitter;
        self.delay = (self.delay * 2).min(MAX_RETRY);
    }
}

#[derive(Debug)]
struct MdnsPeer {
    addrs: Vec<Multiaddr>,
    seen: Instant,
    /// When a connection to it was last seen open.
    last_up: Option<Instant>,
    retry: Retry,
}

impl MdnsPeer {
    /// Whether the peer with the larger id should dial now: when the smaller has had time.
    fn grace_over(&self, now: Instant) -> bool {
        match self.last_up {
            None => now.saturating_duration_since(self.seen) >= TIE_BREAK_GRACE,
            Some(up) => now.saturating_duration_since(up) >= REDIAL_GRACE,
        }
    }
}

#[derive(Debug)]
struct StaticPeer {
    addr: Multiaddr,
    peer: Option<PeerId>,
    retry: Retry,
}

/// The dialling plan.
#[derive(Debug)]
pub struct Discovery {
    local: PeerId,
    mdns: HashMap<PeerId, MdnsPeer>,
    statics: Vec<StaticPeer>,
    in_flight: HashMap<ConnectionId, Target>,
    ignored: HashMap<PeerId, Instant>,
    /// With an allow list, the only peers mDNS may bring in.
    allowed: HashSet<PeerId>,
}

impl Discovery {
    /// A plan for `local`, with the static peers to keep connected; `allowed`, if not empty,
    /// are the only peers found by mDNS that are dialled.
    pub fn new(local: PeerId, statics: Vec<Multiaddr>, allowed: &[PeerId]) -> Self {
        Self {
            local,
            allowed: allowed.iter().copied().collect(),
            mdns: HashMap::new(),
            statics: statics
                .into_iter()
                .map(|addr| StaticPeer {
                    addr,
                    peer: None,
                    retry: Retry::now(),
                })
                .collect(),
            in_flight: HashMap::new(),
            ignored: HashMap::new(),
        }
    }

    /// mDNS found `peer` at `addr`.
    pub fn mdns_discovered(&mut self, peer: PeerId, addr: Multiaddr) {
        if peer == self.local || !(self.allowed.is_empty() || self.allowed.contains(&peer)) {
            return;
        }
        let entry = self.mdns.entry(peer).or_insert_with(|| MdnsPeer {
            addrs: Vec::new(),
            seen: Instant::now(),
            last_up: None,
            retry: Retry::now(),
        });
        if !entry.addrs.contains(&addr) {
            entry.addrs.push(addr);
        }
    }

    /// mDNS let the record for `peer` at `addr` expire.
    pub fn mdns_expired(&mut self, peer: &PeerId, addr: &Multiaddr) {
        if let Some(entry) = self.mdns.get_mut(peer) {
            entry.addrs.retain(|a| a != addr);
            if entry.addrs.is_empty() {
                self.mdns.remove(peer);
            }
        }
    }

    /// `peer` is not a meshcc agent (or is incompatible): stop dialling it for a while.
    pub fn ignore(&mut self, peer: PeerId) {
        self.ignored.insert(peer, Instant::now() + IGNORE_FOR);
    }

    /// Whether `peer` was recently found not to be a meshcc agent.
    pub fn is_ignored(&self, peer: &PeerId) -> bool {
        self.ignored
            .get(peer)
            .is_some_and(|until| *until > Instant::now())
    }

    /// A connection came up: `conn` may be one of our dials.
    pub fn connected(&mut self, conn: ConnectionId, peer: PeerId, remote: &Multiaddr) {
        if let Some(Target::Static(i)) = self.in_flight.remove(&conn) {
            self.statics[i].peer = Some(peer);
        }
        for s in &mut self.statics {
            if &s.addr == remote || s.peer == Some(peer) {
                s.peer = Some(peer);
                s.retry = Retry::now();
            }
        }
        if let Some(m) = self.mdns.get_mut(&peer) {
            m.retry = Retry::now();
            m.last_up = Some(Instant::now());
        }
    }

    /// A dial of ours failed.
    pub fn dial_failed(&mut self, conn: ConnectionId) {
        match self.in_flight.remove(&conn) {
            Some(Target::Mdns(peer)) => {
                if let Some(m) = self.mdns.get_mut(&peer) {
                    m.retry.failed();
                }
            }
            Some(Target::Static(i)) => self.statics[i].retry.failed(),
            None => {}
        }
    }

    /// A dial of ours reached a peer the allow list refuses (a static address's peer id is
    /// known only after the handshake): that address is left alone like a stranger.
    pub fn dial_refused(&mut self, conn: ConnectionId) {
        match self.in_flight.remove(&conn) {
            Some(Target::Static(i)) => self.statics[i].retry.next = Instant::now() + IGNORE_FOR,
            Some(Target::Mdns(peer)) => {
                self.mdns.remove(&peer);
            }
            None => {}
        }
    }

    /// The dials due now, given which peers are connected.
    pub fn due(&mut self, is_connected: impl Fn(&PeerId) -> bool) -> Vec<DialOpts> {
        self.due_at(Instant::now(), is_connected)
    }

    fn due_at(&mut self, now: Instant, is_connected: impl Fn(&PeerId) -> bool) -> Vec<DialOpts> {
        self.ignored.retain(|_, until| *until > now);
        let busy: HashSet<Target> = self.in_flight.values().copied().collect();
        let mut dials = Vec::new();
        for (peer, m) in &mut self.mdns {
            let target = Target::Mdns(*peer);
            if is_connected(peer) {
                m.last_up = Some(now);
                continue;
            }
            let our_turn = self.local < *peer || m.grace_over(now);
            if busy.contains(&target)
                || self.ignored.contains_key(peer)
                || !our_turn
                || m.retry.next > now
            {
                continue;
            }
            dials.push((
                target,
                DialOpts::peer_id(*peer)
                    .addresses(tcp_first(&m.addrs))
                    .condition(PeerCondition::DisconnectedAndNotDialing)
                    .override_dial_concurrency_factor(DIAL_CONCURRENCY)
                    .build(),
            ));
        }
        for (i, s) in self.statics.iter().enumerate() {
            let target = Target::Static(i);
            let up = s.peer.as_ref().is_some_and(&is_connected);
            if busy.contains(&target) || up || s.retry.next > now {
                continue;
            }
            let opts = match s.peer {
                Some(peer) => DialOpts::peer_id(peer)
                    .addresses(vec![s.addr.clone()])
                    .build(),
                None => DialOpts::unknown_peer_id().address(s.addr.clone()).build(),
            };
            dials.push((target, opts));
        }
        dials
            .into_iter()
            .map(|(target, opts)| {
                self.in_flight.insert(opts.connection_id(), target);
                opts
            })
            .collect()
    }
}

/// `addrs` with the TCP ones first, otherwise in the order given.
fn tcp_first(addrs: &[Multiaddr]) -> Vec<Multiaddr> {
    let is_tcp = |a: &Multiaddr| a.iter().any(|p| matches!(p, Protocol::Tcp(_)));
    let mut sorted = addrs.to_vec();
    sorted.sort_by_key(|a| !is_tcp(a));
    sorted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(n: u8) -> Multiaddr {
        format!("/ip4/10.0.0.{n}/tcp/7070").parse().unwrap()
    }

    #[test]
    fn smaller_id_dials_at_once_larger_waits_for_grace() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let (low, high) = if a < b { (a, b) } else { (b, a) };
        let mut d_low = Discovery::new(low, vec![], &[]);
        d_low.mdns_discovered(high, addr(2));
        assert_eq!(d_low.due(|_| false).len(), 1);
        let mut d_high = Discovery::new(high, vec![], &[]);
        d_high.mdns_discovered(low, addr(1));
        assert!(d_high.due(|_| false).is_empty(), "larger id waits");
    }

    #[test]
    fn after_losing_a_peer_the_smaller_id_redials_at_once_the_larger_only_after_redial_grace() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let (low, high) = if a < b { (a, b) } else { (b, a) };
        let later = |secs| Instant::now() + Duration::from_secs(secs);
        let mut d_low = Discovery::new(low, vec![], &[]);
        d_low.mdns_discovered(high, addr(2));
        assert!(d_low.due(|_| true).is_empty(), "connected");
        assert_eq!(d_low.due(|_| false).len(), 1, "redials at once");

        let mut d_high = Discovery::new(high, vec![], &[]);
        d_high.mdns_discovered(low, addr(1));
        assert!(
            d_high.due_at(later(1), |_| false).is_empty(),
            "tie-break grace"
        );
        // Connected (the smaller id dialled), then the connection drops at 3 s.
        assert!(d_high.due_at(later(3), |_| true).is_empty());
        assert!(
            d_high.due_at(later(6), |_| false).is_empty(),
            "past the first grace, but the peer was lost only 3 s ago"
        );
        assert_eq!(d_high.due_at(later(14), |_| false).len(), 1);
    }

    #[test]
    fn no_dial_while_connected_or_in_flight_and_backoff_after_failure() {
        let local = PeerId::random();
        let mut d = Discovery::new(local, vec![addr(9)], &[]);
        let first = d.due(|_| false);
        assert_eq!(first.len(), 1);
        assert!(d.due(|_| false).is_empty(), "already dialling");
        d.dial_failed(first[0].connection_id());
        assert!(d.due(|_| false).is_empty(), "backing off");
    }

    #[test]
    fn static_peer_connected_is_not_redialled() {
        let local = PeerId::random();
        let remote = PeerId::random();
        let mut d = Discovery::new(local, vec![addr(9)], &[]);
        let dial = d.due(|_| false).pop().unwrap();
        d.connected(dial.connection_id(), remote, &addr(9));
        assert!(d.due(|p| *p == remote).is_empty());
        assert_eq!(d.due(|_| false).len(), 1, "redialled once it drops");
    }

    #[test]
    fn tcp_addresses_are_dialled_first() {
        let quic: Multiaddr = "/ip4/10.0.0.2/udp/7070/quic-v1".parse().unwrap();
        let sorted = tcp_first(&[quic.clone(), addr(2), addr(3)]);
        assert_eq!(sorted, vec![addr(2), addr(3), quic]);
    }

    #[test]
    fn peer_off_the_allow_list_is_not_dialled() {
        let (local, friend, stranger) = (PeerId::random(), PeerId::random(), PeerId::random());
        let mut d = Discovery::new(local, vec![], &[friend]);
        d.mdns_discovered(stranger, addr(3));
        d.mdns_discovered(friend, addr(2));
        let later = Instant::now() + TIE_BREAK_GRACE * 2;
        let dials = d.due_at(later, |_| false);
        assert_eq!(dials.len(), 1);
        assert_eq!(dials[0].get_peer_id(), Some(friend));
    }

    #[test]
    fn static_address_of_a_refused_peer_is_not_redialled() {
        let mut d = Discovery::new(PeerId::random(), vec![addr(9)], &[PeerId::random()]);
        let dial = d.due(|_| false).pop().unwrap();
        d.dial_refused(dial.connection_id());
        let later = Instant::now() + MAX_RETRY * 4;
        assert!(d.due_at(later, |_| false).is_empty());
    }

    #[test]
    fn ignored_peer_is_not_dialled() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let (low, high) = if a < b { (a, b) } else { (b, a) };
        let mut d = Discovery::new(low, vec![], &[]);
        d.mdns_discovered(high, addr(2));
        d.ignore(high);
        assert!(d.due(|_| false).is_empty());
    }
}
