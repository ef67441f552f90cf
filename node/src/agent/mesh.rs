//! The agent's libp2p side: one swarm, one task, reacting to network events, the control
//! socket's questions and a 250 ms tick.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::StreamExt;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    allow_block_list, identify, mdns, ping, request_response, Multiaddr, PeerId, StreamProtocol,
    Swarm,
};
use meshcc_wire::control::{
    FailureKind, HealthReport, JobsReport, PeerEntry, PeerName, PeersReport, StatsReport,
};
use meshcc_wire::ids::ToolchainId;
use meshcc_wire::mesh::{NodeStatus, StatusAck, STATUS_PROTOCOL};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use super::codec::{CborCodec, Traffic};
use super::discovery::Discovery;
use super::dispatch::{DispatchQueue, Waiting};
use super::failures::{self, Failures};
use super::load::LoadMeter;
use super::peers::PeerTable;
pub use super::planner::PlanDecision;
use super::planner::{Placement, Planner};
use super::progress::TransferKind;
use super::shared::{Assignment, Counted, Shared};
use super::AgentConfig;
use crate::toolchain::package::{package_reporting, Packaged, Step};

/// Identify's protocol string; a peer announcing anything else is not a meshcc agent.
pub const IDENTIFY_PROTOCOL: &str = "/meshcc/id/1";
/// How often discovery, gossip and load are looked at.
const TICK: Duration = Duration::from_millis(250);
/// Longest silence between two status pushes to a peer.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// Ping every second. libp2p's ping forgives the first failure and waits out its timeout, so
/// a dead peer would linger ~6 s; instead a peer silent for [`LIVENESS`] (no ping answered,
/// no status) is disconnected, which takes it out of the table within ~4 s.
const PING_INTERVAL: Duration = Duration::from_secs(1);
const PING_TIMEOUT: Duration = Duration::from_secs(3);
const LIVENESS: Duration = Duration::from_millis(3500);
/// More toolchains than any real agent holds; a status claiming more is ignored, so a hostile
/// peer cannot make every worker choice scan a huge list.
const MAX_GOSSIPED_TOOLCHAINS: usize = 4096;
/// mDNS re-query period (the library's default is five minutes).
const MDNS_QUERY: Duration = Duration::from_secs(5);
const MDNS_TTL: Duration = Duration::from_secs(30);

type StatusBehaviour = request_response::Behaviour<CborCodec<NodeStatus, StatusAck>>;

#[derive(NetworkBehaviour)]
pub(super) struct Behaviour {
    /// With `--allow-peer`: every connection to or from another peer is denied before any
    /// protocol runs on it, so such a peer can neither submit jobs here nor run ours.
    allow: Toggle<allow_block_list::Behaviour<allow_block_list::AllowedPeers>>,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    mdns: Toggle<mdns::tokio::Behaviour>,
    status: StatusBehaviour,
    stream: libp2p_stream::Behaviour,
}

/// Jobs `meshcc jobs` adds beyond the mesh's slots, to wait preprocessed in the dispatch queue
/// so that it can send the biggest first: make starts files in its own order, and the biggest
/// often comes late. The lab benchmark (Lua, 3 workers of one slot, so `-j` = 7 + this):
/// `-j7` 2.3×, `-j13` 2.3–2.9×, `-j24` 2.7–3.1× over the local build. Beyond the slots, a
/// waiting job costs the submitter a preprocessing run ahead of time and a process, not a
/// worker.
pub const LOOKAHEAD: u32 = 16;

/// Questions from the control socket.
#[derive(Debug)]
pub enum Command {
    /// The peer table.
    Peers(oneshot::Sender<PeersReport>),
    /// The counters.
    Stats(oneshot::Sender<StatsReport>),
    /// The parallelism on offer.
    Jobs(oneshot::Sender<JobsReport>),
    /// Discovery settings and failed connections, for `meshcc doctor`.
    Health(oneshot::Sender<HealthReport>),
    /// Where a client's compile with this compiler should run.
    Plan {
        /// The compiler's absolute path.
        compiler: PathBuf,
        /// Whether the compile may still wait for its compiler's packaging.
        may_wait: bool,
        /// The decision.
        reply: oneshot::Sender<PlanDecision>,
    },
    /// A worker for a job ready to send, when one is free (`Err`: compile locally, why).
    Dispatch {
        /// The job's toolchain.
        toolchain: ToolchainId,
        /// The preprocessed translation unit's length: bigger jobs are sent first.
        size: u64,
        /// Where it goes.
        reply: oneshot::Sender<Result<Placement, String>>,
    },
    /// Another worker for a job whose worker failed (`None`: compile locally).
    PickWorker {
        /// The job's toolchain.
        toolchain: ToolchainId,
        /// Workers already tried.
        exclude: Vec<PeerId>,
        /// The choice, counted as assigned the job.
        reply: oneshot::Sender<Option<Assignment>>,
    },
    /// `peer` has held a job past the submitter's patience: choose it less for a while.
    Stalled {
        /// The worker.
        peer: PeerId,
    },
    /// Peers that hold a toolchain.
    Holders {
        /// The toolchain.
        toolchain: ToolchainId,
        /// Them.
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    /// Background packaging of a compiler ended.
    Packaged {
        /// The compiler.
        compiler: PathBuf,
        /// The toolchain, or why not.
        result: Result<Packaged, String>,
    },
}

/// This agent's own figures, from which its [`NodeStatus`] is made.
struct Local {
    shared: Arc<Shared>,
    speed: u32,
    load: LoadMeter,
    load_permille: u32,
    /// Memory available, sampled with the load (the tick builds a status four times a second).
    mem_free_mb: u64,
    seq: u64,
    last_pushed: Option<NodeStatus>,
    last_push_at: Instant,
}

impl Local {
    fn status(&self) -> NodeStatus {
        NodeStatus {
            seq: self.seq,
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            protocol_version: meshcc_wire::PROTOCOL_VERSION,
            arch: std::env::consts::ARCH.to_owned(),
            os: std::env::consts::OS.to_owned(),
            slots: self.shared.slots,
            running: self.shared.running(),
            queued: self.shared.served_queued.load(Ordering::Relaxed),
            load_permille: self.load_permille,
            speed: self.speed,
            mem_free_mb: self.mem_free_mb,
            accepts_remote: self.shared.takes_jobs(),
            toolchains: self.shared.toolchains(),
        }
    }

    /// Whether `now` differs from what peers last heard enough to tell them before the
    /// heartbeat. Load jitters; only a tenth of the allowance counts.
    fn worth_pushing(&self, now: &NodeStatus) -> bool {
        let Some(last) = &self.last_pushed else {
            return true;
        };
        last.slots != now.slots
            || last.running != now.running
            || last.queued != now.queued
            || last.accepts_remote != now.accepts_remote
            || last.toolchains != now.toolchains
            || last.load_permille.abs_diff(now.load_permille) >= 100
    }
}

/// The running mesh side of an agent.
pub struct Mesh {
    swarm: Swarm<Behaviour>,
    peers: PeerTable,
    discovery: Discovery,
    local: Local,
    planner: Planner,
    /// Our jobs ready to send, waiting for a free worker.
    waiting: DispatchQueue<Placement>,
    gossip: Arc<Traffic>,
    started: Instant,
    /// Our own command channel, for background work reporting back.
    commands: mpsc::Sender<Command>,
    /// Connected peers whose last status push failed; pushed again on the next tick rather
    /// than left with our old status until the heartbeat.
    repush: std::collections::HashSet<PeerId>,
    /// Connections that failed, and why (for `meshcc doctor`).
    failures: Failures,
    /// Peers mDNS has reported, to tell "multicast finds nobody" from "nobody connects".
    mdns_seen: std::collections::HashSet<PeerId>,
    mdns: bool,
    static_peers: Vec<String>,
    private: bool,
}

impl Mesh {
    /// Builds the swarm and starts listening. `stream` carries the job and blob protocols,
    /// `load` and `speed` describe this host, `commands` is the sender of the channel
    /// [`Mesh::run`] will read.
    pub fn new(
        config: &AgentConfig,
        key: libp2p::identity::Keypair,
        shared: Arc<Shared>,
        stream: libp2p_stream::Behaviour,
        load: LoadMeter,
        speed: u32,
        commands: mpsc::Sender<Command>,
    ) -> Result<Self> {
        let psk = config
            .mesh_key
            .as_deref()
            .map(super::identity::mesh_psk)
            .transpose()?;
        let transport = super::transport::build(&key, psk)?;
        let local_id = key.public().to_peer_id();
        let gossip = Arc::new(Traffic::default());
        let mdns = if config.mdns {
            let cfg = mdns::Config {
                ttl: MDNS_TTL,
                query_interval: MDNS_QUERY,
                ..Default::default()
            };
            Some(mdns::tokio::Behaviour::new(cfg, local_id).context("cannot start mDNS on this host; start the agent with --no-mdns and give peers with --peer")?)
        } else {
            None
        };
        let allow = (!config.allow_peers.is_empty()).then(|| {
            let mut list = allow_block_list::Behaviour::<allow_block_list::AllowedPeers>::default();
            for peer in &config.allow_peers {
                list.allow_peer(*peer);
            }
            list
        });
        let behaviour = Behaviour {
            allow: allow.into(),
            identify: identify::Behaviour::new(
                identify::Config::new(IDENTIFY_PROTOCOL.to_owned(), key.public())
                    .with_agent_version(format!("meshcc/{}", env!("CARGO_PKG_VERSION"))),
            ),
            ping: ping::Behaviour::new(
                ping::Config::new()
                    .with_interval(PING_INTERVAL)
                    .with_timeout(PING_TIMEOUT),
            ),
            mdns: mdns.into(),
            status: request_response::Behaviour::with_codec(
                CborCodec::new(gossip.clone()),
                [(
                    StreamProtocol::new(STATUS_PROTOCOL),
                    request_response::ProtocolSupport::Full,
                )],
                request_response::Config::default().with_request_timeout(Duration::from_secs(5)),
            ),
            stream,
        };
        let swarm_config = libp2p::swarm::Config::with_tokio_executor()
            // Connections stay up while idle: liveness is ping's job, and reconnecting costs a
            // handshake per job.
            .with_idle_connection_timeout(Duration::from_secs(365 * 24 * 3600));
        let mut swarm = Swarm::new(transport, behaviour, local_id, swarm_config);
        for addr in listen_addrs(config) {
            swarm.listen_on(addr.clone()).with_context(|| {
                format!("cannot listen on {addr}; choose another address or port with --listen")
            })?;
        }
        info!(
            peer = %local_id,
            slots = shared.slots,
            speed,
            capacity_cores = load.capacity_cores(),
            accepts_remote = config.accepts_remote,
            mdns = config.mdns,
            private = config.mesh_key.is_some(),
            allowed_peers = config.allow_peers.len(),
            "agent starting"
        );
        Ok(Self {
            swarm,
            peers: PeerTable::default(),
            discovery: Discovery::new(local_id, config.peers.clone(), &config.allow_peers),
            planner: Planner::new(shared.clone(), &config.state_dir, speed),
            waiting: DispatchQueue::default(),
            local: Local {
                shared,
                speed,
                load,
                load_permille: 0,
                mem_free_mb: super::load::mem_available_mb(),
                seq: 0,
                last_pushed: None,
                last_push_at: Instant::now(),
            },
            gossip,
            started: Instant::now(),
            commands,
            repush: Default::default(),
            failures: Failures::default(),
            mdns_seen: Default::default(),
            mdns: config.mdns,
            static_peers: config.peers.iter().map(Multiaddr::to_string).collect(),
            private: config.mesh_key.is_some(),
        })
    }

    /// Runs until `shutdown` resolves.
    pub async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let mut tick = tokio::time::interval(TICK);
        let mut load_tick = tokio::time::interval(Duration::from_secs(1));
        let shared = self.local.shared.clone();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                Some(cmd) = commands.recv() => self.on_command(cmd),
                () = shared.worker_freed.notified() => self.dispatch_waiting(),
                _ = tick.tick() => self.on_tick(),
                _ = load_tick.tick() => {
                    self.local.load_permille = self.local.load.sample();
                    self.local.mem_free_mb = super::load::mem_available_mb();
                    self.local.shared.check_disk();
                }
                () = &mut shutdown => break,
            }
        }
        info!("agent stopping");
    }

    /// Sends waiting jobs to workers that can take them now (see `dispatch`).
    fn dispatch_waiting(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        let (planner, peers, shared) = (&mut self.planner, &self.peers, &self.local.shared);
        self.waiting.dispatch(
            |toolchain| planner.free_peer(toolchain, peers).map(Placement::Worker),
            || Counted::free_slot(shared).map(Placement::Here),
        );
    }

    fn on_tick(&mut self) {
        // Workers also free up by statuses (others' jobs ending) and peers joining.
        self.dispatch_waiting();
        for peer in self.peers.silent(LIVENESS) {
            info!(%peer, "peer silent for {LIVENESS:?}; disconnecting");
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        let peers = &self.peers;
        for dial in self.discovery.due(|p| peers.is_connected(p)) {
            let conn = dial.connection_id();
            if let Err(e) = self.swarm.dial(dial) {
                debug!("dial not started: {e}");
                self.discovery.dial_failed(conn);
            }
        }
        let now = self.local.status();
        if self.local.worth_pushing(&now) || self.local.last_push_at.elapsed() >= HEARTBEAT {
            let targets: Vec<PeerId> = self.peers.identified_peers().collect();
            self.push_status(&targets);
            self.repush.clear();
        } else if !self.repush.is_empty() {
            let peers = &self.peers;
            let targets: Vec<PeerId> = self
                .repush
                .drain()
                .filter(|p| peers.is_connected(p))
                .collect();
            self.push_status(&targets);
        }
    }

    /// Sends our status, with a new sequence number, to `targets`.
    fn push_status(&mut self, targets: &[PeerId]) {
        self.local.seq += 1;
        let status = self.local.status();
        for peer in targets {
            self.swarm
                .behaviour_mut()
                .status
                .send_request(peer, status.clone());
        }
        self.local.last_pushed = Some(status);
        self.local.last_push_at = Instant::now();
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => info!("listening on {address}"),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                if self.discovery.is_ignored(&peer_id) {
                    self.swarm.close_connection(connection_id);
                    return;
                }
                let addr = endpoint.get_remote_address().clone();
                if !self.peers.is_connected(&peer_id) {
                    info!(peer = %peer_id, %addr, "connected");
                }
                self.discovery.connected(connection_id, peer_id, &addr);
                self.peers.connected(peer_id, connection_id, addr);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                cause,
                ..
            } if self.peers.disconnected(&peer_id, connection_id) => {
                let why = cause.map_or_else(|| "closed".to_owned(), |c| c.to_string());
                info!(peer = %peer_id, "peer left the table: {why}");
                let _ = self.local.shared.peer_left.send(peer_id);
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                if let libp2p::swarm::DialError::Denied { cause } = &error {
                    refused_not_allowed(peer_id, cause, "the dialled address");
                    self.discovery.dial_refused(connection_id);
                } else {
                    debug!(peer = ?peer_id, "dial failed: {error}");
                    self.discovery.dial_failed(connection_id);
                    self.record_dial_failure(peer_id, &error);
                }
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                peer_id,
                ..
            } => {
                if let libp2p::swarm::ListenError::Denied { cause } = &error {
                    refused_not_allowed(peer_id, cause, &send_back_addr.to_string());
                } else {
                    // A wrong mesh key or a stranger's protocol ends here.
                    debug!(addr = %send_back_addr, "incoming connection failed: {error}");
                    let detail = crate::report::error_sentence(&error);
                    self.failures.record(
                        failures::classify(&detail),
                        without_port(&send_back_addr).to_string(),
                        None,
                        detail,
                    );
                }
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            _ => {}
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                for (peer, addr) in found {
                    debug!(%peer, %addr, "mDNS discovered");
                    self.mdns_seen.insert(peer);
                    self.discovery.mdns_discovered(peer, addr);
                }
            }
            BehaviourEvent::Mdns(mdns::Event::Expired(gone)) => {
                for (peer, addr) in gone {
                    self.discovery.mdns_expired(&peer, &addr);
                }
            }
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                self.on_identified(peer_id, info)
            }
            BehaviourEvent::Ping(ping::Event {
                peer,
                connection,
                result,
            }) => match result {
                Ok(rtt) => self.peers.rtt(&peer, rtt),
                Err(e) => {
                    info!(%peer, "ping failed ({e}); closing the connection");
                    self.swarm.close_connection(connection);
                }
            },
            BehaviourEvent::Status(event) => self.on_status_event(event),
            _ => {}
        }
    }

    fn on_identified(&mut self, peer: PeerId, info: identify::Info) {
        let speaks_meshcc = info.protocol_version == IDENTIFY_PROTOCOL
            && info.protocols.iter().any(|p| p.as_ref() == STATUS_PROTOCOL);
        if !speaks_meshcc {
            info!(
                %peer,
                protocol = info.protocol_version,
                agent = info.agent_version,
                "peer is not a meshcc agent of this protocol; ignoring it"
            );
            let kind = if info.protocol_version.starts_with("/meshcc/") {
                FailureKind::ProtocolVersion
            } else {
                FailureKind::NotMeshcc
            };
            let address = self
                .peers
                .address_of(&peer)
                .map_or_else(|| "unknown".to_owned(), Multiaddr::to_string);
            self.failures.record(
                kind,
                address,
                Some(peer),
                format!(
                    "it speaks {} ({}); this agent speaks {IDENTIFY_PROTOCOL}",
                    info.protocol_version, info.agent_version
                ),
            );
            self.discovery.ignore(peer);
            let _ = self.swarm.disconnect_peer_id(peer);
            return;
        }
        let first = !self.peers.identified_peers().any(|p| p == peer);
        self.peers.identified(&peer);
        if first {
            debug!(%peer, agent = info.agent_version, "identified");
            self.push_status(&[peer]);
        }
    }

    fn on_status_event(&mut self, event: request_response::Event<NodeStatus, StatusAck>) {
        use request_response::{Event, Message};
        match event {
            Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                if request.toolchains.len() > MAX_GOSSIPED_TOOLCHAINS {
                    warn!(%peer, count = request.toolchains.len(), "status claims an absurd number of toolchains; ignored");
                } else {
                    self.peers.status(&peer, request);
                    self.dispatch_waiting();
                }
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .status
                    .send_response(channel, StatusAck {});
            }
            Event::InboundFailure { peer, error, .. } => {
                warn!(%peer, "bad status message from peer: {error}");
            }
            Event::OutboundFailure { peer, error, .. } => {
                debug!(%peer, "status push failed: {error}; pushing again");
                self.repush.insert(peer);
            }
            _ => {}
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Peers(reply) => {
                let _ = reply.send(self.peers_report());
            }
            Command::Stats(reply) => {
                let _ = reply.send(self.stats());
            }
            Command::Jobs(reply) => {
                let _ = reply.send(self.jobs());
            }
            Command::Health(reply) => {
                let _ = reply.send(HealthReport {
                    uptime_secs: self.started.elapsed().as_secs(),
                    mdns: self.mdns,
                    mdns_discovered: self.mdns_seen.len() as u64,
                    static_peers: self.static_peers.clone(),
                    mesh_key: self.private,
                    failures: self.failures.report(),
                });
            }
            Command::Plan {
                compiler,
                may_wait,
                reply,
            } => {
                let (decision, package) = self.planner.plan(&compiler, may_wait, &self.peers);
                let _ = reply.send(decision);
                if let Some(compiler) = package {
                    self.package_in_background(compiler);
                }
            }
            Command::Dispatch {
                toolchain,
                size,
                reply,
            } => {
                self.waiting.push(Waiting {
                    size,
                    toolchain,
                    since: Instant::now(),
                    reply,
                });
                self.dispatch_waiting();
            }
            Command::PickWorker {
                toolchain,
                exclude,
                reply,
            } => {
                let _ = reply.send(self.planner.reassign(toolchain, &exclude, &self.peers));
            }
            Command::Stalled { peer } => {
                info!(%peer, "peer held a job without answering; not choosing it for {:?}", super::planner::STALL_PENALTY);
                self.planner.stalled(peer);
            }
            Command::Holders { toolchain, reply } => {
                let _ = reply.send(Planner::holders(&toolchain, &self.peers));
            }
            Command::Packaged { compiler, result } => self.planner.packaged(compiler, result),
        }
    }

    fn record_dial_failure(&mut self, peer: Option<PeerId>, error: &libp2p::swarm::DialError) {
        use libp2p::swarm::DialError;
        match error {
            DialError::Transport(tries) => {
                for (addr, e) in tries {
                    let detail = crate::report::error_sentence(e);
                    self.failures.record(
                        failures::classify(&detail),
                        addr.to_string(),
                        peer,
                        detail,
                    );
                }
            }
            // Not failures of the network: a dial made moot by another connection, or one
            // the swarm declined to start.
            DialError::Aborted | DialError::DialPeerConditionFalse(_) | DialError::NoAddresses => {}
            other => {
                let address = match other {
                    DialError::WrongPeerId { address, .. } | DialError::LocalPeerId { address } => {
                        address.to_string()
                    }
                    _ => "unknown".to_owned(),
                };
                let detail = crate::report::error_sentence(other);
                self.failures
                    .record(FailureKind::Other, address, peer, detail);
            }
        }
    }

    fn package_in_background(&self, compiler: PathBuf) {
        let shared = self.local.shared.clone();
        let commands = self.commands.clone();
        info!(compiler = %compiler.display(), "packaging toolchain");
        let progress = shared
            .transfers
            .begin(TransferKind::Package, compiler.display().to_string());
        tokio::task::spawn_blocking(move || {
            let result = package_reporting(&compiler, &shared.store, &mut |step| match step {
                Step::Listed { files, bytes } => progress.set_total(bytes, files),
                Step::Stored { bytes } => progress.advance(bytes),
            })
            .map_err(|e| e.to_string());
            drop(progress);
            let _ = commands.blocking_send(Command::Packaged { compiler, result });
        });
    }

    fn peers_report(&self) -> PeersReport {
        let mut addresses: Vec<String> = self.swarm.listeners().map(Multiaddr::to_string).collect();
        addresses.sort();
        PeersReport {
            local: PeerEntry {
                peer: PeerName(self.swarm.local_peer_id().to_string()),
                addresses,
                status: self.local.status(),
                rtt_us: None,
                last_heard_ms: 0,
                untrusted: false,
            },
            peers: self
                .peers
                .entries_marking(|p| self.local.shared.check.is_untrusted(p)),
            monitor: self.local.shared.monitor_url.get().cloned(),
            transfers: self.local.shared.transfers.snapshot(),
        }
    }

    fn stats(&self) -> StatsReport {
        let g = &self.gossip;
        let mut report = StatsReport {
            uptime_secs: self.started.elapsed().as_secs(),
            peers_connected: self.peers.connected_count() as u32,
            gossip_messages_sent: g.sent.load(Ordering::Relaxed),
            gossip_messages_received: g.received.load(Ordering::Relaxed),
            gossip_bytes_sent: g.bytes_sent.load(Ordering::Relaxed),
            gossip_bytes_received: g.bytes_received.load(Ordering::Relaxed),
            ..Default::default()
        };
        self.local.shared.stats.fill(&mut report);
        self.local.shared.check.fill(&mut report);
        report
    }

    /// Our slots, plus two jobs per free slot of every compatible peer that takes jobs (one
    /// running there, one being preprocessed or sent here, so the slot does not idle between
    /// jobs), plus [`LOOKAHEAD`] jobs preprocessed and waiting in the dispatch queue; with no
    /// free slot in the mesh, our slots.
    fn jobs(&self) -> JobsReport {
        let own = self.local.status();
        let remote: u32 = self
            .peers
            .entries()
            .iter()
            .map(|e| &e.status)
            .filter(|s| s.accepts_remote && s.arch == own.arch && s.os == own.os)
            .map(|s| s.slots.saturating_sub(s.running + s.queued))
            .sum();
        JobsReport {
            jobs: if remote == 0 {
                own.slots.max(1)
            } else {
                own.slots + 2 * remote + LOOKAHEAD
            },
        }
    }
}

/// Logs a connection the allow list denied, naming the peer.
fn refused_not_allowed(peer: Option<PeerId>, cause: &libp2p::swarm::ConnectionDenied, addr: &str) {
    let peer = peer.map_or_else(|| "an unknown peer".to_owned(), |p| p.to_string());
    info!(
        %peer,
        addr,
        "refused a connection with {peer} at {addr}: {cause}; it may not submit or serve jobs \
         (add it with --allow-peer if it should)"
    );
}

/// The configured listen addresses, each with a QUIC twin when the mesh is open.
fn listen_addrs(config: &AgentConfig) -> Vec<Multiaddr> {
    use libp2p::multiaddr::Protocol;
    let mut out = config.listen.clone();
    if config.mesh_key.is_none() {
        let is_tcp = |a: &Multiaddr| a.iter().any(|p| matches!(p, Protocol::Tcp(_)));
        for addr in config.listen.iter().filter(|a| is_tcp(a)) {
            let quic: Multiaddr = addr
                .iter()
                .map(|p| match p {
                    Protocol::Tcp(port) => Protocol::Udp(port),
                    other => other,
                })
                .chain(std::iter::once(Protocol::QuicV1))
                .collect();
            out.push(quic);
        }
    }
    out
}

/// An incoming connection's address without its port: the far end dials from a fresh port
/// each time, and one host's failures belong in one row.
fn without_port(addr: &Multiaddr) -> Multiaddr {
    use libp2p::multiaddr::Protocol;
    addr.iter()
        .filter(|p| !matches!(p, Protocol::Tcp(_) | Protocol::Udp(_)))
        .collect()
}
