//! The control plane's cost: what keeping submitters informed costs each node, in messages and
//! bytes per second, and per job placed.
//!
//! Load dissemination where everyone must learn everyone's state costs O(n) per node per
//! status change however it is routed: a full mesh sends each message n−1 times directly, an
//! epidemic overlay (gossipsub) relays it to every node too and adds duplicates. Only designs
//! that stop telling everyone everything (partial views, probing at placement time) are
//! independent of mesh size.

use super::{Config, Outcome, SimPolicy};
use meshcc::choice::Policy;

/// Sizes and time scale that turn model counts into bandwidth.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Wire {
    /// One status message (CBOR: slots, running, queued, speed, memory, arch, versions,
    /// toolchain ids), framing included.
    pub status_bytes: f64,
    /// One probe, reservation or scheduler message.
    pub probe_bytes: f64,
    /// Mean compile job duration in seconds (the model's time unit).
    pub job_secs: f64,
    /// Per-node bandwidth above which a design is called not viable (bytes/s, each way).
    pub budget_bytes: f64,
}

impl Default for Wire {
    fn default() -> Self {
        Wire {
            status_bytes: 200.0,
            probe_bytes: 64.0,
            job_secs: 2.0,
            budget_bytes: 100_000.0,
        }
    }
}

/// Control-plane cost of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cost {
    /// Control messages sent per job placed.
    pub messages_per_job: f64,
    /// Control messages each node sends per second (mesh average).
    pub messages_per_node_s: f64,
    /// Control bytes each node sends per second (mesh average).
    pub bytes_per_node_s: f64,
}

/// What a run's policy costs when gossip-driven policies push every status message to every
/// peer, as the agent does.
pub fn of_run(cfg: &Config, out: &Outcome, wire: &Wire) -> Cost {
    let n = cfg.nodes as f64;
    let (messages, bytes) = match cfg.policy {
        SimPolicy::Mesh(Policy::Random) => (0.0, 0.0),
        SimPolicy::Mesh(_) => (out.publications as f64 * (n - 1.0), wire.status_bytes),
        // Every state change is reported to the scheduler.
        SimPolicy::Omniscient => (
            (out.placement_messages + out.changes) as f64,
            wire.probe_bytes,
        ),
        SimPolicy::LateBinding { .. } => (out.placement_messages as f64, wire.probe_bytes),
    };
    let secs = out.duration * wire.job_secs;
    Cost {
        messages_per_job: messages / out.released as f64,
        messages_per_node_s: messages / n / secs,
        bytes_per_node_s: messages * bytes / n / secs,
    }
}

/// One way of spreading load information, costed at a mesh size.
#[derive(Clone, Debug, PartialEq)]
pub struct Design {
    /// What it is.
    pub name: &'static str,
    /// Messages each node sends per second.
    pub messages_per_node_s: f64,
    /// Bytes each node sends per second (it receives about as many).
    pub bytes_per_node_s: f64,
    /// Connections each node keeps open.
    pub connections: f64,
}

/// The agent's design and alternatives at `nodes`, given the measured rate of status messages
/// per node per second under the agent's rule (`status_rate`) and jobs submitted per node per
/// second (`job_rate`).
pub fn designs(nodes: usize, status_rate: f64, job_rate: f64, wire: &Wire) -> Vec<Design> {
    let n = nodes as f64;
    let peers = n - 1.0;
    let d = 6.0_f64.min(peers);
    let k = 8.0_f64.min(peers);
    let status = |name, messages: f64, connections| Design {
        name,
        messages_per_node_s: messages,
        bytes_per_node_s: messages * wire.status_bytes,
        connections,
    };
    vec![
        status(
            "full-mesh push on change (agent)",
            status_rate * peers,
            peers,
        ),
        status("full-mesh heartbeat only (2 s)", peers / 2.0, peers),
        // Each message reaches every node, and each node relays it to its D-1 other mesh peers.
        status("gossipsub flood, D=6", status_rate * n * (d - 1.0), d),
        status("push to 8 random peers", status_rate * k, k),
        Design {
            name: "probe 2 peers per job, no load gossip",
            // Two probes and two replies for each job; submitters and workers share the load.
            messages_per_node_s: 4.0 * job_rate,
            bytes_per_node_s: 4.0 * job_rate * wire.probe_bytes,
            connections: k,
        },
    ]
}

/// Largest mesh at which the agent's full-mesh push stays within the bandwidth budget.
pub fn full_mesh_limit(status_rate: f64, wire: &Wire) -> f64 {
    1.0 + wire.budget_bytes / (status_rate * wire.status_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_mesh_grows_with_mesh_size_and_probing_does_not() {
        let wire = Wire::default();
        let small = designs(10, 4.0, 2.0, &wire);
        let large = designs(1000, 4.0, 2.0, &wire);
        assert!(large[0].bytes_per_node_s > 100.0 * small[0].bytes_per_node_s);
        assert_eq!(large[4].bytes_per_node_s, small[4].bytes_per_node_s);
        assert_eq!(full_mesh_limit(4.0, &wire), 126.0);
    }
}
