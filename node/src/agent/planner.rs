//! Where a client's compile runs: here, or on which peer.
//!
//! A compile goes remote only once its compiler is packaged (the first compiles with a new
//! compiler run locally while it is packaged in the background). Then power-of-two-choices
//! picks among this agent and the compatible peers, counting the jobs this agent has sent to
//! each peer that the peer's last status does not show yet and, spread over the peers, those
//! planned remote and not sent yet. A job planned remote is bound to a worker only when it is
//! ready to send ([`Planner::free_peer`], see `dispatch`): to one that can start it now.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use meshcc_wire::ids::ToolchainId;
use tracing::{info, warn};

use super::dispatch::Free;
use super::peers::PeerTable;
use super::shared::{Assignment, Counted, Shared};
use crate::choice::{self, Candidate, Policy};
use crate::toolchain::cache::ToolchainCache;
use crate::toolchain::package::Packaged;

/// A compile's expected length on the reference machine; only ratios matter to the choice.
const TYPICAL_JOB: Duration = Duration::from_secs(1);
/// What fetching a toolchain is assumed to cost a worker that lacks it.
const TOOLCHAIN_FETCH: Duration = Duration::from_secs(3);
/// How many later jobs a toolchain fetch is expected to serve. Charging the whole fetch to the
/// first job keeps a worker without the toolchain out of a build for good whenever the others'
/// queues stay short (the lab benchmark: one of three workers got 0 of 32 jobs); the fetch
/// pays for every job the worker runs afterwards, so each job is charged a share.
const FETCH_SHARED_BY: u32 = 4;
/// How long a worker that held a job without answering is not chosen.
pub const STALL_PENALTY: Duration = Duration::from_secs(60);
/// How long a failed packaging is not retried.
const RETRY_PACKAGING: Duration = Duration::from_secs(60);

/// The planner's answer.
#[derive(Debug)]
pub enum PlanDecision {
    /// Compile locally, for this reason, on a slot leased from the moment of the decision (so
    /// that the next plan of a `make -j` burst sees it taken).
    Local(String, Counted),
    /// Ask again shortly: the compiler is being packaged and this host's slots are full.
    Wait,
    /// Preprocess it and send it to the first worker free (likely `expected`).
    Remote {
        /// The peer the choice fell on, for the log; the job goes to whichever frees first.
        expected: PeerId,
        /// Counts the job as planned remote until it is sent.
        reservation: Counted,
        /// The compiler's toolchain.
        toolchain: ToolchainId,
    },
}

/// Where a job ready to send goes (see `dispatch`).
#[derive(Debug)]
pub enum Placement {
    /// To this peer, counted as assigned the job while the assignment lives.
    Worker(Assignment),
    /// Here, on a free slot, leased while this lives.
    Here(Counted),
}

/// Toolchain readiness and worker choice.
pub struct Planner {
    shared: Arc<Shared>,
    cache: ToolchainCache,
    packaging: HashMap<PathBuf, Instant>,
    failed: HashMap<PathBuf, (Instant, String)>,
    /// Workers that held a job past the submitter's patience, and when.
    stalled: HashMap<PeerId, Instant>,
    speed: f64,
}

impl Planner {
    /// A planner for an agent of relative `speed` (1000 = reference).
    pub fn new(shared: Arc<Shared>, state_dir: &Path, speed: u32) -> Self {
        Self {
            shared,
            cache: ToolchainCache::load(state_dir),
            packaging: HashMap::new(),
            failed: HashMap::new(),
            stalled: HashMap::new(),
            speed: f64::from(speed) / 1000.0,
        }
    }

    /// Decides where a compile with `compiler` runs; `may_wait`: whether it may still be held
    /// for its compiler's packaging ([`PlanDecision::Wait`]). Returns also a compiler to start
    /// packaging, if one should be started now.
    pub fn plan(
        &mut self,
        compiler: &Path,
        may_wait: bool,
        peers: &PeerTable,
    ) -> (PlanDecision, Option<PathBuf>) {
        let Some(toolchain) = self.cache.lookup(compiler, &self.shared.store) else {
            let package = self.start_packaging(compiler);
            let why = self.not_ready(compiler);
            // With this host's slots full, a compile is better held until the packaging (a
            // second or two) ends than run here too: `make -j$(meshcc jobs)` would otherwise
            // run its whole first burst, dozens of compiles, on this host at once.
            let decision = match Counted::free_slot(&self.shared) {
                Some(lease) => PlanDecision::Local(why, lease),
                None if may_wait && self.packaging.contains_key(compiler) => PlanDecision::Wait,
                None => PlanDecision::Local(why, self.lease()),
            };
            return (decision, package);
        };
        self.shared.hold_toolchain(toolchain);
        let (ids, mut candidates) = self.candidates(toolchain, &[], true, peers);
        let remote = ids.iter().filter(|id| id.is_some()).count() as u32;
        if remote == 0 {
            let why = "no peer can take this compile".into();
            return (PlanDecision::Local(why, self.lease()), None);
        }
        // Jobs planned remote and not sent yet go to whichever peers free first: count a
        // share of them on each.
        let waiting = self.shared.waiting_remote.load(Ordering::Relaxed);
        for (id, candidate) in ids.iter().zip(candidates.iter_mut()) {
            if id.is_some() {
                candidate.queued += waiting.div_ceil(remote);
            }
        }
        let pick = choice::choose(
            &candidates,
            Policy::default(),
            TYPICAL_JOB,
            &mut rand::rng(),
        );
        let decision = match pick.map(|i| (ids[i], candidates[i])) {
            Some((None, me)) if me.has_free_slot(false) => {
                PlanDecision::Local("worker choice picked this host".into(), self.lease())
            }
            // A peer; or this host with its slots full, and then the job waits for a worker
            // like any remote job rather than crowding this host's CPU, which also
            // preprocesses every remote job.
            pick => PlanDecision::Remote {
                expected: pick
                    .and_then(|(id, _)| id)
                    .or_else(|| ids.iter().flatten().next().copied())
                    .expect("remote > 0"),
                reservation: Counted::remote_reservation(&self.shared),
                toolchain,
            },
        };
        (decision, None)
    }

    /// A worker for a job ready to send: power-of-two-choices among the peers with a free
    /// slot; [`Free::Busy`] if none has one. Not a worker's queue: a job queued behind a long
    /// one on one worker waits there while another worker falls idle (in the lab benchmark,
    /// allowing one job to wait on each worker made Lua's build end on two large files
    /// queued on one host).
    pub fn free_peer(&self, toolchain: ToolchainId, peers: &PeerTable) -> Free<Assignment> {
        let (ids, candidates) = self.candidates(toolchain, &[], false, peers);
        if ids.is_empty() {
            return Free::Nobody;
        }
        let (free_ids, free): (Vec<Option<PeerId>>, Vec<Candidate>) = ids
            .iter()
            .zip(&candidates)
            .filter(|(_, c)| c.has_free_slot(true))
            .unzip();
        match choice::choose(&free, Policy::default(), TYPICAL_JOB, &mut rand::rng()) {
            Some(i) => {
                let peer = free_ids[i].expect("peers only");
                Free::Worker(self.shared.assign(peer, free[i].has_toolchain))
            }
            None => Free::Busy,
        }
    }

    fn lease(&self) -> Counted {
        Counted::local_lease(&self.shared)
    }

    fn not_ready(&self, compiler: &Path) -> String {
        match self.failed.get(compiler) {
            Some((_, why)) => format!("the compiler could not be packaged: {why}"),
            None => format!("packaging the toolchain of {}", compiler.display()),
        }
    }

    fn start_packaging(&mut self, compiler: &Path) -> Option<PathBuf> {
        if self.packaging.contains_key(compiler) {
            return None;
        }
        if self
            .failed
            .get(compiler)
            .is_some_and(|(at, _)| at.elapsed() < RETRY_PACKAGING)
        {
            return None;
        }
        self.packaging.insert(compiler.to_owned(), Instant::now());
        Some(compiler.to_owned())
    }

    /// Packaging of `compiler` ended.
    pub fn packaged(&mut self, compiler: PathBuf, result: Result<Packaged, String>) {
        let started = self.packaging.remove(&compiler);
        let ms = started.map_or(0, |s| s.elapsed().as_millis());
        match result {
            Ok(p) => {
                let files = p.manifest.entries.len();
                info!(compiler = %compiler.display(), id = %p.id.short(), files, ms, "toolchain packaged");
                self.shared
                    .stats
                    .toolchains_packaged
                    .fetch_add(1, Ordering::Relaxed);
                self.shared.hold_toolchain(p.id);
                self.cache.insert(&compiler, p.id, p.fingerprints);
                self.failed.remove(&compiler);
            }
            Err(why) => {
                warn!(compiler = %compiler.display(), "cannot package the toolchain: {why}; its compiles stay local");
                self.failed.insert(compiler, (Instant::now(), why));
            }
        }
    }

    /// Another worker for a job whose worker failed, skipping `exclude`; `None` means compile
    /// locally.
    pub fn reassign(
        &self,
        toolchain: ToolchainId,
        exclude: &[PeerId],
        peers: &PeerTable,
    ) -> Option<Assignment> {
        self.choose(toolchain, exclude, peers)
    }

    /// `peer` held a job without answering: leave it out of choices for [`STALL_PENALTY`].
    pub fn stalled(&mut self, peer: PeerId) {
        self.stalled.insert(peer, Instant::now());
    }

    /// Picks a worker for `toolchain` among compatible peers, skipping `exclude`, and counts
    /// the job as assigned to it. `None` means nobody.
    fn choose(
        &self,
        toolchain: ToolchainId,
        exclude: &[PeerId],
        peers: &PeerTable,
    ) -> Option<Assignment> {
        let (ids, candidates) = self.candidates(toolchain, exclude, false, peers);
        let pick = choice::choose(
            &candidates,
            Policy::default(),
            TYPICAL_JOB,
            &mut rand::rng(),
        )?;
        let peer = ids[pick]?;
        Some(self.shared.assign(peer, candidates[pick].has_toolchain))
    }

    /// The compatible peers for `toolchain` (and this agent, as `None`, if `with_self`) that
    /// are not in `exclude`, stalled or untrusted, with their load as this agent knows it.
    fn candidates(
        &self,
        toolchain: ToolchainId,
        exclude: &[PeerId],
        with_self: bool,
        peers: &PeerTable,
    ) -> (Vec<Option<PeerId>>, Vec<Candidate>) {
        let shared = &self.shared;
        let mut ids: Vec<Option<PeerId>> = Vec::new();
        let mut candidates = Vec::new();
        if with_self && shared.slots > 0 {
            ids.push(None);
            candidates.push(Candidate {
                slots: shared.slots,
                running: shared.running(),
                queued: shared.served_queued.load(Ordering::Relaxed),
                in_flight: 0,
                speed: self.speed,
                rtt: Duration::ZERO,
                has_toolchain: true,
                toolchain_fetch: Duration::ZERO,
                is_self: true,
            });
        }
        for (peer, status, heard, rtt) in peers.statuses() {
            let compatible = status.accepts_remote
                && status.slots > 0
                && status.protocol_version == meshcc_wire::PROTOCOL_VERSION
                && status.arch == std::env::consts::ARCH
                && status.os == std::env::consts::OS;
            let stalled = self
                .stalled
                .get(&peer)
                .is_some_and(|at| at.elapsed() < STALL_PENALTY);
            let untrusted = shared.check.is_untrusted(&peer);
            if !compatible || stalled || untrusted || exclude.contains(&peer) {
                continue;
            }
            // Our jobs that ended after the status was heard are still in its counts: take
            // them out, so the next job goes as soon as one ends rather than at the next
            // status.
            let ended = shared.ended_since(&peer, heard);
            let queued = status.queued.saturating_sub(ended);
            let running = status
                .running
                .saturating_sub(ended.saturating_sub(status.queued));
            // Both are lower bounds of our jobs the status does not show: those sent after
            // it was heard, and those beyond all it counts (sent before it, but still on the
            // way when the peer sent it).
            let (mine, since_status) = shared.assigned(&peer, heard);
            let unseen = mine.saturating_sub(running + queued);
            ids.push(Some(peer));
            candidates.push(Candidate {
                slots: status.slots,
                running,
                queued,
                in_flight: since_status.max(unseen),
                speed: f64::from(status.speed) / 1000.0,
                rtt: rtt.unwrap_or(Duration::from_millis(1)),
                has_toolchain: status.toolchains.contains(&toolchain),
                toolchain_fetch: TOOLCHAIN_FETCH / FETCH_SHARED_BY,
                is_self: false,
            });
        }
        (ids, candidates)
    }

    /// Peers that gossip holding `toolchain`.
    pub fn holders(toolchain: &ToolchainId, peers: &PeerTable) -> Vec<PeerId> {
        peers
            .statuses()
            .filter(|(_, s, _, _)| s.toolchains.contains(toolchain))
            .map(|(p, _, _, _)| p)
            .collect()
    }
}
