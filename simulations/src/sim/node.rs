//! One simulated agent: its slots and queue, and what the rest of the mesh believes about it.
//!
//! Gossip is modelled lazily. A node's published status can only differ from its true state
//! after the state changes, so instead of scheduling an event per status message (millions at
//! 10 000 nodes), the node settles the messages it would have sent whenever it is about to
//! change or someone reads its status: between two such calls its state was constant, so every
//! message in between carried the state it has now.

use std::collections::VecDeque;

/// How status messages are sent. Times are in mean job service times.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Gossip {
    /// Every node publishes every `period`, each at its own phase. `period` 0 means every change
    /// is published (and seen) at once: fresh information.
    Periodic {
        /// Time between two status messages of one node.
        period: f64,
    },
    /// The agent's design: publish on change, at most once per `min_interval`, and at least
    /// once per `heartbeat`.
    OnChange {
        /// Rate limit (the agent: 250 ms).
        min_interval: f64,
        /// Longest silence (the agent: 2 s).
        heartbeat: f64,
    },
}

/// What waits in a node's queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waiting {
    /// A job sent here.
    Job(u32),
    /// A late-binding reservation: when it reaches a slot, ask the submitter for the job.
    Reservation(u32),
}

/// A simulated agent.
pub struct Node {
    /// Job slots.
    pub slots: u32,
    /// Relative speed (1.0 = reference).
    pub speed: f64,
    /// Slots in use.
    pub running: u32,
    /// Jobs and reservations waiting for a slot, in order.
    pub queue: VecDeque<Waiting>,
    seen_running: u32,
    seen_queued: u32,
    /// Periodic: the next publication. On change: the last one.
    clock: f64,
    dirty: bool,
    /// Submitters of jobs sent here since the last status message.
    in_flight: Vec<u32>,
    /// Status messages sent (each goes to every peer in the full-mesh design).
    pub publications: u64,
    /// State changes (job enqueued, started or finished).
    pub changes: u64,
}

impl Node {
    /// An idle node; `phase` in [0, 1) staggers its gossip clock against the others.
    pub fn new(slots: u32, speed: f64, gossip: &Gossip, phase: f64) -> Self {
        let clock = match *gossip {
            Gossip::Periodic { period } => phase * period,
            Gossip::OnChange { heartbeat, .. } => -phase * heartbeat,
        };
        Node {
            slots,
            speed,
            running: 0,
            queue: VecDeque::new(),
            seen_running: 0,
            seen_queued: 0,
            clock,
            dirty: false,
            in_flight: Vec::new(),
            publications: 0,
            changes: 0,
        }
    }

    fn publish(&mut self) {
        self.seen_running = self.running;
        self.seen_queued = self.queue.len() as u32;
        self.in_flight.clear();
    }

    /// Settle the status messages due up to `t`, before the state changes or is read.
    pub fn catch_up(&mut self, t: f64, gossip: &Gossip) {
        match *gossip {
            Gossip::Periodic { period } => {
                if period > 0.0 && t >= self.clock {
                    let due = ((t - self.clock) / period).floor() + 1.0;
                    self.publications += due as u64;
                    self.clock += due * period;
                    self.publish();
                }
            }
            Gossip::OnChange {
                min_interval,
                heartbeat,
            } => {
                if self.dirty && t >= self.clock + min_interval {
                    self.clock += min_interval;
                    self.dirty = false;
                    self.publications += 1;
                    self.publish();
                }
                if !self.dirty && t >= self.clock + heartbeat {
                    let due = ((t - self.clock) / heartbeat).floor();
                    self.publications += due as u64;
                    self.clock += due * heartbeat;
                }
            }
        }
    }

    /// Record that `submitter` sent a job here that the status does not show yet.
    pub fn sent_by(&mut self, submitter: u32) {
        self.in_flight.push(submitter);
    }

    /// The state changed at `t` (call [`Node::catch_up`] before changing it).
    pub fn changed(&mut self, t: f64, gossip: &Gossip) {
        self.changes += 1;
        match *gossip {
            Gossip::Periodic { period } => {
                if period <= 0.0 {
                    self.publications += 1;
                    self.publish();
                }
            }
            Gossip::OnChange { min_interval, .. } => {
                if t >= self.clock + min_interval {
                    self.clock = t;
                    self.dirty = false;
                    self.publications += 1;
                    self.publish();
                } else {
                    self.dirty = true;
                }
            }
        }
    }

    /// (running, queued, in flight) as `submitter` sees this node at `t`. A node knows its
    /// own state exactly.
    pub fn seen_by(&mut self, t: f64, gossip: &Gossip, submitter: u32, me: u32) -> (u32, u32, u32) {
        if submitter == me {
            return (self.running, self.queue.len() as u32, 0);
        }
        self.catch_up(t, gossip);
        let mine = self.in_flight.iter().filter(|&&s| s == submitter).count() as u32;
        (self.seen_running, self.seen_queued, mine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(n: &mut Node, t: f64, g: &Gossip, running: u32) {
        n.catch_up(t, g);
        n.running = running;
        n.changed(t, g);
    }

    #[test]
    fn periodic_status_lags_until_the_next_tick() {
        let g = Gossip::Periodic { period: 1.0 };
        let mut n = Node::new(1, 1.0, &g, 0.5); // publishes at 0.5, 1.5, ...
        change(&mut n, 0.7, &g, 1);
        assert_eq!(n.seen_by(1.2, &g, 9, 0).0, 0);
        assert_eq!(n.seen_by(1.6, &g, 9, 0).0, 1);
        assert_eq!(n.seen_by(1.6, &g, 0, 0).0, 1, "a node knows itself");
        assert_eq!(n.publications, 2);
    }

    #[test]
    fn in_flight_is_forgotten_once_published() {
        let g = Gossip::Periodic { period: 1.0 };
        let mut n = Node::new(1, 1.0, &g, 0.0);
        n.catch_up(0.1, &g);
        n.sent_by(7);
        n.sent_by(7);
        n.sent_by(8);
        assert_eq!(n.seen_by(0.5, &g, 7, 0).2, 2);
        assert_eq!(n.seen_by(1.1, &g, 7, 0).2, 0);
    }

    #[test]
    fn on_change_is_rate_limited_with_heartbeats() {
        let g = Gossip::OnChange {
            min_interval: 0.25,
            heartbeat: 2.0,
        };
        let mut n = Node::new(1, 1.0, &g, 0.0);
        change(&mut n, 1.0, &g, 1); // published at once
        change(&mut n, 1.1, &g, 0); // deferred to 1.25
        assert_eq!(n.seen_by(1.2, &g, 9, 0).0, 1);
        assert_eq!(n.seen_by(1.3, &g, 9, 0).0, 0);
        assert_eq!(n.publications, 2);
        n.catch_up(5.3, &g); // heartbeats at 3.25 and 5.25
        assert_eq!(n.publications, 4);
    }
}
