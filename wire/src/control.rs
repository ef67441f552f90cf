//! The control protocol: the `meshcc` command (wrapper and CLI) talking to its local agent over
//! a unix socket.
//!
//! Participants: one client process and the agent it found through `MESHCC_SOCKET` or the
//! state directory. The socket is the agent's; only local users reach it.
//!
//! Goals: answer the CLI's questions (`peers`, `stats`, `jobs`) and, with the remote-compile
//! work, hand compile jobs to the agent. Non-goals: anything remote; the agent alone speaks to
//! the mesh.
//!
//! Messages, in order: the client writes one [`ControlRequest`] frame; the agent answers with
//! one [`ControlResponse`] frame; either may then close. A client may send several requests on
//! one connection, one at a time.
//!
//! A compile is a conversation on one connection:
//! 1. [`ControlRequest::Plan`] → [`ControlResponse::Plan`]: run locally, or remotely. A local
//!    plan is a lease: the wrapper keeps the connection open while the compiler runs, so the
//!    agent counts the job, and may send [`ControlRequest::Finished`] at the end.
//! 2. For a remote plan, the wrapper preprocesses, hashes the inputs and sends
//!    [`ControlRequest::Submit`]. The job waits in the agent until a worker can take it
//!    (bigger jobs first); the agent answers [`ControlResponse::Compiled`] with the worker's
//!    result, [`ControlResponse::Fallback`] when the mesh could not do it, or a local
//!    [`ControlResponse::Plan`] (a lease, as in 1) when a slot on this host came free first.
//! 3. When the result was sampled for a check ([`Compiled::verify`], or the wrapper's own
//!    `MESHCC_VERIFY`), the wrapper compiles again locally, compares, and sends
//!    [`ControlRequest::Checked`]; a mismatch marks the worker untrusted.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use serde_bytes::ByteBuf;

use crate::job::{Compile, JobResult};
use crate::mesh::NodeStatus;

/// A libp2p peer id in its usual base58 text form (`12D3KooW…`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PeerName(pub String);

impl PeerName {
    /// The last 6 characters: short, and unlike the prefix, different between peers.
    pub fn short(&self) -> &str {
        let s = self.0.as_str();
        &s[s.len().saturating_sub(6)..]
    }
}

impl fmt::Display for PeerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PeerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerName({})", self.short())
    }
}

/// What a client asks its agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControlRequest {
    /// The agent itself and every peer in its table.
    Peers,
    /// The agent's counters since it started.
    Stats,
    /// How many jobs the mesh can take right now (the `-j` for make).
    Jobs,
    /// Where should this compile run?
    Plan(PlanRequest),
    /// Run this compile remotely (after a remote plan).
    Submit(Compile),
    /// A compile of this client ended (after a local plan).
    Finished(Finished),
    /// A remote result was compared with a local compile of the same command.
    Checked(Checked),
    /// What `meshcc doctor` needs to say why peers may be missing.
    Health,
}

/// The outcome of re-running a remote job locally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checked {
    /// The worker that ran it.
    pub worker: PeerName,
    /// Whether exit status, stdout, stderr and every output were the same bytes.
    pub same: bool,
}

/// The compiler a compile would run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRequest {
    /// The real compiler's absolute path, as the wrapper would execute it.
    pub compiler: ByteBuf,
    /// The absolute working directory.
    pub cwd: ByteBuf,
}

/// The agent's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Plan {
    /// Compile here, now; the connection is the lease on a local slot.
    Local {
        /// Why not remote, for the log.
        reason: String,
    },
    /// Preprocess and submit.
    Remote {
        /// The worker the agent's choice fell on, for the log; the job goes to the first
        /// worker free when it is submitted.
        worker: PeerName,
    },
}

/// How a local compile ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finished {
    /// Whether the compiler succeeded.
    pub success: bool,
}

/// The agent's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ControlResponse {
    /// Answers [`ControlRequest::Peers`].
    Peers(PeersReport),
    /// Answers [`ControlRequest::Stats`].
    Stats(StatsReport),
    /// Answers [`ControlRequest::Jobs`].
    Jobs(JobsReport),
    /// Answers [`ControlRequest::Plan`].
    Plan(Plan),
    /// Answers [`ControlRequest::Submit`]: the worker's result.
    Compiled(Compiled),
    /// Answers [`ControlRequest::Submit`]: no worker could do it; compile locally.
    Fallback(String),
    /// Answers [`ControlRequest::Finished`] and [`ControlRequest::Checked`].
    Ok,
    /// The request could not be served; a sentence saying why.
    Error(String),
    /// Answers [`ControlRequest::Health`].
    Health(HealthReport),
}

/// A remote compile's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compiled {
    /// The worker that ran it.
    pub worker: PeerName,
    /// What the compiler did there.
    pub result: JobResult,
    /// The agent sampled this job for a check: compile it locally too, deliver the local
    /// result, and report with [`ControlRequest::Checked`]. Absent (false) in older agents.
    #[serde(default, skip_serializing_if = "is_false")]
    pub verify: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

pub(crate) fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The agent and its peer table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeersReport {
    /// The agent answering.
    pub local: PeerEntry,
    /// Every peer it is connected to and has heard a status from, sorted by peer id.
    pub peers: Vec<PeerEntry>,
    /// The agent's web monitor (`http://…/`), when it serves one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<String>,
    /// Toolchain fetches and packagings under way in the agent, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transfers: Vec<TransferProgress>,
}

/// How far one long toolchain transfer has come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferProgress {
    /// `fetch` (a worker fetching a toolchain from peers) or `package` (a submitter packaging
    /// its compiler).
    pub kind: String,
    /// What is moved: the toolchain's short id, or the compiler's path.
    pub what: String,
    /// Bytes done.
    pub done_bytes: u64,
    /// Bytes in all (zero while still unknown).
    pub total_bytes: u64,
    /// Chunks (fetch) or files (package) done.
    pub done_items: u64,
    /// Chunks or files in all (zero while still unknown).
    pub total_items: u64,
    /// Milliseconds since it started.
    pub elapsed_ms: u64,
}

/// One row of the peer table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerEntry {
    /// The peer's id.
    pub peer: PeerName,
    /// Addresses it is reached at (multiaddrs).
    pub addresses: Vec<String>,
    /// Its last reported status.
    pub status: NodeStatus,
    /// Last measured round trip, in microseconds (none yet, or for the local agent).
    pub rtt_us: Option<u64>,
    /// Milliseconds since its last status arrived (zero for the local agent).
    pub last_heard_ms: u64,
    /// A result it returned differed from a local compile; it gets no more jobs from this
    /// agent. Not sent when false, so older readers see the same bytes.
    #[serde(default, skip_serializing_if = "is_false")]
    pub untrusted: bool,
}

/// Counters since the agent started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StatsReport {
    /// Seconds since the agent started.
    pub uptime_secs: u64,
    /// Peers connected now.
    pub peers_connected: u32,
    /// Compiles this agent's clients ran locally.
    pub jobs_local: u64,
    /// Compiles this agent's clients had done by peers.
    pub jobs_remote: u64,
    /// Compiles this agent ran for peers.
    pub jobs_served: u64,
    /// Remote attempts that fell back (to another peer or local), by reason.
    pub fallbacks: BTreeMap<String, u64>,
    /// Toolchains this agent packaged.
    pub toolchains_packaged: u64,
    /// Toolchains this agent fetched from peers.
    pub toolchains_fetched: u64,
    /// Status messages sent and received.
    pub gossip_messages_sent: u64,
    /// Status messages received.
    pub gossip_messages_received: u64,
    /// Bytes of status frames sent (message bytes, without transport overhead).
    pub gossip_bytes_sent: u64,
    /// Bytes of status frames received.
    pub gossip_bytes_received: u64,
    /// Bytes of job traffic (inputs, toolchains, outputs) sent.
    pub bytes_sent: u64,
    /// Bytes of job traffic received.
    pub bytes_received: u64,
    /// Remote results compared with a local compile (result check); not sent when zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub verified: u64,
    /// Of those, results that differed; not sent when zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub verify_mismatches: u64,
}

/// The parallelism the mesh offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobsReport {
    /// The agent's slots plus two per free slot of the peers that accept its jobs plus 16 to
    /// wait in the agent's dispatch queue (just the agent's slots when no peer has a free
    /// slot); never below one.
    pub jobs: u32,
}

/// How the agent finds peers and which connections failed, for `meshcc doctor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReport {
    /// Seconds since the agent started.
    pub uptime_secs: u64,
    /// Whether it discovers peers by mDNS.
    pub mdns: bool,
    /// Distinct peers mDNS has reported since the agent started.
    pub mdns_discovered: u64,
    /// The static `--peer` addresses it dials.
    pub static_peers: Vec<String>,
    /// Whether it runs a private mesh (`--mesh-key`).
    pub mesh_key: bool,
    /// Connections that failed, grouped by address and kind, most recent first.
    pub failures: Vec<ConnectionFailure>,
}

/// Connections to or from one address that failed the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionFailure {
    /// What went wrong.
    pub kind: FailureKind,
    /// The far end's address (a multiaddr).
    pub address: String,
    /// The far end's peer id, when the failure came after it was known.
    pub peer: Option<PeerName>,
    /// The last error, as the network stack put it.
    pub detail: String,
    /// How many times.
    pub count: u64,
    /// Milliseconds since the last one.
    pub last_ms_ago: u64,
}

/// Why a connection failed, as far as the agent can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FailureKind {
    /// The handshake failed: most often the far end holds another mesh key (or none).
    Handshake,
    /// It is a meshcc agent of another protocol version.
    ProtocolVersion,
    /// It speaks libp2p but is not a meshcc agent.
    NotMeshcc,
    /// Nothing listens at that address (connection refused).
    Refused,
    /// The address cannot be reached (no route, unreachable network, timeout).
    NoRoute,
    /// Anything else.
    Other,
}
