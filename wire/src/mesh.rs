//! The mesh protocol: what agents tell each other.
//!
//! Participants: every pair of connected agents, symmetrically.
//!
//! Goals: each agent knows, within a second or two, every peer's capacity, load and the
//! toolchains it holds, so that a submitter can choose a worker without asking anyone
//! (power-of-two-choices on this gossip, see `meshcc::choice`).
//!
//! Non-goals: consistency. Status is a hint that is stale by up to one gossip period; the
//! submitter's own accounting of its jobs in flight covers the gap, and a worker that turns out
//! to be full simply queues or refuses.
//!
//! Messages, in order:
//! 1. `/meshcc/status/1`: an agent pushes a [`NodeStatus`] to each connected peer when its
//!    status changes (at most every 250 ms) and at least every few seconds; the peer answers
//!    [`StatusAck`]. A fresh connection starts with one push each way.

use serde::{Deserialize, Serialize};

use crate::ids::ToolchainId;

/// libp2p protocol name of status gossip.
pub const STATUS_PROTOCOL: &str = "/meshcc/status/1";

/// One agent's capacity and load, as it reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// Increases with every status the agent sends; lets receivers drop reordered updates.
    pub seq: u64,
    /// The agent's release, e.g. `0.1.0`.
    pub agent_version: String,
    /// The protocol version the agent speaks ([`crate::PROTOCOL_VERSION`]).
    pub protocol_version: u32,
    /// CPU architecture as Rust names it (`x86_64`, `aarch64`); a worker runs only toolchains
    /// built for it.
    pub arch: String,
    /// Operating system as Rust names it (`linux`, `macos`).
    pub os: String,
    /// Jobs the agent runs at once for the mesh.
    pub slots: u32,
    /// Jobs running now.
    pub running: u32,
    /// Jobs accepted and waiting for a slot.
    pub queued: u32,
    /// Busy fraction of the agent's own CPU allowance, in thousandths (its cgroup's use
    /// against its quota where it has one), so hosts sharing a kernel do not all look full.
    pub load_permille: u32,
    /// Relative single-job speed; 1000 is a reference machine.
    pub speed: u32,
    /// Memory available for jobs, in MiB.
    pub mem_free_mb: u64,
    /// Whether the agent takes jobs from others (`--no-remote` says no).
    pub accepts_remote: bool,
    /// Toolchains held in the agent's store.
    pub toolchains: Vec<ToolchainId>,
}

/// The answer to a [`NodeStatus`] push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StatusAck {}
