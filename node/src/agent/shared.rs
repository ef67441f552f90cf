//! State shared by the agent's tasks: the store, counters, and what is being served.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use libp2p::PeerId;

use meshcc_wire::control::StatsReport;
use meshcc_wire::ids::{BlobHash, ToolchainId};

use super::history::History;
use super::progress::Transfers;
use crate::store::Store;

/// Free disk space (where the state directory is) below which this agent takes no jobs from
/// the mesh: a toolchain alone needs more, and a worker that cannot store one only wastes each
/// submitter's time.
const MIN_FREE_DISK_MB: u64 = 64;

/// Counters behind `meshcc stats`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Compiles of our clients run locally.
    pub jobs_local: AtomicU64,
    /// Compiles of our clients done by peers.
    pub jobs_remote: AtomicU64,
    /// Compiles we ran for peers.
    pub jobs_served: AtomicU64,
    /// Toolchains packaged.
    pub toolchains_packaged: AtomicU64,
    /// Toolchains fetched.
    pub toolchains_fetched: AtomicU64,
    /// Job bytes sent (blobs, results).
    pub bytes_sent: AtomicU64,
    /// Job bytes received.
    pub bytes_received: AtomicU64,
    fallbacks: Mutex<BTreeMap<String, u64>>,
}

impl Stats {
    /// Counts a fallback for `reason` (a short, stable phrase).
    pub fn fallback(&self, reason: &str) {
        *self
            .fallbacks
            .lock()
            .unwrap()
            .entry(reason.to_owned())
            .or_default() += 1;
    }

    /// Fills the job fields of a report.
    pub fn fill(&self, r: &mut StatsReport) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        r.jobs_local = get(&self.jobs_local);
        r.jobs_remote = get(&self.jobs_remote);
        r.jobs_served = get(&self.jobs_served);
        r.toolchains_packaged = get(&self.toolchains_packaged);
        r.toolchains_fetched = get(&self.toolchains_fetched);
        r.bytes_sent = get(&self.bytes_sent);
        r.bytes_received = get(&self.bytes_received);
        r.fallbacks = self.fallbacks.lock().unwrap().clone();
    }
}

/// Everything the agent's tasks share.
#[derive(Debug)]
pub struct Shared {
    /// The blob store.
    pub store: Store,
    /// Where materialised toolchain trees live.
    pub toolchains_dir: PathBuf,
    /// Where job roots are built.
    pub jobs_dir: PathBuf,
    /// The state directory, whose file system holds the store and the job roots.
    state_dir: PathBuf,
    /// The state directory's disk is (nearly) full: no jobs are taken from the mesh.
    disk_full: AtomicBool,
    /// Peers that just left the table, so that jobs waiting on them give up at once rather
    /// than when a dead connection finally times out.
    pub peer_left: tokio::sync::broadcast::Sender<PeerId>,
    /// Job slots.
    pub slots: u32,
    /// Whether peers' jobs are accepted.
    pub accepts_remote: bool,
    /// Counters.
    pub stats: Stats,
    /// Compiles of our clients running locally now (each holds a lease).
    pub local_running: AtomicU32,
    /// Peers' jobs running here now.
    pub served_running: AtomicU32,
    /// Peers' jobs accepted and waiting for a slot.
    pub served_queued: AtomicU32,
    /// Input files our clients' remote jobs need, by hash, so workers can fetch them.
    inputs: Mutex<HashMap<BlobHash, (PathBuf, u32)>>,
    /// Toolchains held (packaged here or materialised for jobs), for gossip.
    toolchains: Mutex<Vec<ToolchainId>>,
    /// Our clients' jobs assigned to each peer and not finished, with when each was assigned.
    assigned: Mutex<HashMap<PeerId, Vec<Instant>>>,
    /// When our jobs on each peer ended, for the last [`ENDED_MEMORY`]: a status heard before
    /// a job ended still counts it.
    ended: Mutex<HashMap<PeerId, Vec<Instant>>>,
    /// Our clients' jobs planned remote and not yet sent to a worker (preprocessing, or
    /// waiting in the dispatch queue): each holds a [`Counted`] on this.
    pub waiting_remote: AtomicU32,
    /// Woken when one of our jobs leaves its worker, so a waiting job can take its place.
    pub worker_freed: tokio::sync::Notify,
    /// The result check: which remote results to re-run locally, and who failed it.
    pub check: super::verify::ResultCheck,
    /// Recent jobs, for the web monitor.
    pub history: Arc<History>,
    /// Toolchain fetches and packagings under way.
    pub transfers: Arc<Transfers>,
    /// The web monitor's URL, once it listens.
    pub monitor_url: OnceLock<String>,
}

impl Shared {
    /// Shared state for an agent with `slots` slots, its store in `state_dir`.
    pub fn new(
        state_dir: &std::path::Path,
        store: Store,
        slots: u32,
        accepts_remote: bool,
    ) -> Self {
        Self {
            store,
            toolchains_dir: state_dir.join("toolchains"),
            jobs_dir: state_dir.join("jobs"),
            state_dir: state_dir.to_owned(),
            disk_full: AtomicBool::new(false),
            peer_left: tokio::sync::broadcast::channel(64).0,
            slots,
            accepts_remote,
            stats: Stats::default(),
            local_running: AtomicU32::new(0),
            served_running: AtomicU32::new(0),
            served_queued: AtomicU32::new(0),
            inputs: Mutex::new(HashMap::new()),
            toolchains: Mutex::new(Vec::new()),
            assigned: Mutex::new(HashMap::new()),
            ended: Mutex::new(HashMap::new()),
            waiting_remote: AtomicU32::new(0),
            worker_freed: tokio::sync::Notify::new(),
            check: Default::default(),
            history: Arc::default(),
            transfers: Arc::default(),
            monitor_url: OnceLock::new(),
        }
    }

    /// Counts a job of ours as assigned to `peer` for as long as the guard lives: from the
    /// moment the worker is chosen (when the job is sent, see `dispatch`), so that a burst of
    /// jobs from one `make -j` sees those the earlier ones of the burst placed.
    /// `holds_toolchain`: whether the peer said it holds the job's toolchain when it was chosen.
    pub fn assign(self: &Arc<Self>, peer: PeerId, holds_toolchain: bool) -> Assignment {
        let at = Instant::now();
        self.assigned
            .lock()
            .unwrap()
            .entry(peer)
            .or_default()
            .push(at);
        Assignment {
            shared: self.clone(),
            peer,
            at,
            holds_toolchain,
        }
    }

    /// Our jobs assigned to `peer` now: in all, and how many of them after `since`.
    pub fn assigned(&self, peer: &PeerId, since: Instant) -> (u32, u32) {
        let assigned = self.assigned.lock().unwrap();
        let Some(list) = assigned.get(peer) else {
            return (0, 0);
        };
        let recent = list.iter().filter(|at| **at > since).count();
        (list.len() as u32, recent as u32)
    }

    /// How many of our jobs on `peer` ended after `since`.
    pub fn ended_since(&self, peer: &PeerId, since: Instant) -> u32 {
        let ended = self.ended.lock().unwrap();
        ended.get(peer).map_or(0, |list| {
            list.iter().filter(|at| **at > since).count() as u32
        })
    }

    /// Whether peers' jobs are taken now: `--no-remote` says never, a full disk says not now.
    pub fn takes_jobs(&self) -> bool {
        self.accepts_remote && !self.disk_full.load(Ordering::Relaxed)
    }

    /// Why peers' jobs are not taken now, in words; `None` if they are.
    pub fn refuses_jobs_because(&self) -> Option<String> {
        if !self.accepts_remote || self.slots == 0 {
            return Some("this agent takes no jobs (--no-remote or --slots 0)".to_owned());
        }
        if self.disk_full.load(Ordering::Relaxed) {
            return Some(format!(
                "this worker's disk is full (under {MIN_FREE_DISK_MB} MiB free at {}); it takes no jobs until space is freed",
                self.state_dir.display()
            ));
        }
        None
    }

    /// Looks at the free space of the state directory's disk and says so in the log when it
    /// runs out or comes back.
    pub fn check_disk(&self) {
        let Ok(stat) = nix::sys::statvfs::statvfs(&self.state_dir) else {
            return;
        };
        let free_mb = (stat.blocks_available() * stat.fragment_size()) >> 20;
        let full = free_mb < MIN_FREE_DISK_MB;
        if self.disk_full.swap(full, Ordering::Relaxed) == full {
            return;
        }
        let dir = self.state_dir.display();
        if full {
            tracing::warn!("the disk holding {dir} is full ({free_mb} MiB free): taking no jobs from the mesh until space is freed");
        } else {
            tracing::info!("the disk holding {dir} has {free_mb} MiB free again: taking jobs");
        }
    }

    /// Makes `files` fetchable by workers until [`Shared::withdraw`].
    pub fn offer(&self, files: &[(BlobHash, PathBuf)]) {
        let mut inputs = self.inputs.lock().unwrap();
        for (hash, path) in files {
            inputs.entry(*hash).or_insert_with(|| (path.clone(), 0)).1 += 1;
        }
    }

    /// Ends an [`Shared::offer`].
    pub fn withdraw(&self, files: &[(BlobHash, PathBuf)]) {
        let mut inputs = self.inputs.lock().unwrap();
        for (hash, _) in files {
            if let Some(e) = inputs.get_mut(hash) {
                e.1 -= 1;
                if e.1 == 0 {
                    inputs.remove(hash);
                }
            }
        }
    }

    /// Where an offered input is on disk.
    pub fn offered(&self, hash: &BlobHash) -> Option<PathBuf> {
        self.inputs
            .lock()
            .unwrap()
            .get(hash)
            .map(|(p, _)| p.clone())
    }

    /// Records that this agent holds toolchain `id`.
    pub fn hold_toolchain(&self, id: ToolchainId) {
        let mut held = self.toolchains.lock().unwrap();
        if !held.contains(&id) {
            held.push(id);
            held.sort();
        }
    }

    /// Toolchains held.
    pub fn toolchains(&self) -> Vec<ToolchainId> {
        self.toolchains.lock().unwrap().clone()
    }

    /// Jobs running on this machine (ours and peers').
    pub fn running(&self) -> u32 {
        self.local_running.load(Ordering::Relaxed) + self.served_running.load(Ordering::Relaxed)
    }
}

/// How long the end of a job of ours is remembered: longer than statuses take to arrive
/// (pushed within 250 ms of a change, every 5 s at least).
const ENDED_MEMORY: std::time::Duration = std::time::Duration::from_secs(10);

/// One job of ours assigned to a peer, counted by [`Shared::assigned`] while it lives.
#[derive(Debug)]
pub struct Assignment {
    shared: Arc<Shared>,
    peer: PeerId,
    at: Instant,
    holds_toolchain: bool,
}

impl Assignment {
    /// The peer the job is assigned to.
    pub fn peer(&self) -> PeerId {
        self.peer
    }

    /// Whether the peer held the job's toolchain when chosen (else it fetches it first).
    pub fn holds_toolchain(&self) -> bool {
        self.holds_toolchain
    }
}

impl Drop for Assignment {
    fn drop(&mut self) {
        let mut assigned = self.shared.assigned.lock().unwrap();
        if let Some(list) = assigned.get_mut(&self.peer) {
            if let Some(i) = list.iter().position(|at| *at == self.at) {
                list.swap_remove(i);
            }
            if list.is_empty() {
                assigned.remove(&self.peer);
            }
        }
        drop(assigned);
        let now = Instant::now();
        let mut ended = self.shared.ended.lock().unwrap();
        ended.retain(|_, list| {
            list.retain(|at| now.duration_since(*at) < ENDED_MEMORY);
            !list.is_empty()
        });
        ended.entry(self.peer).or_default().push(now);
        drop(ended);
        self.shared.worker_freed.notify_one();
    }
}

/// One job counted in one of [`Shared`]'s counters for as long as this lives: a local
/// compile's lease on a slot, or a peer's job queued or running here.
#[derive(Debug)]
pub struct Counted {
    shared: Arc<Shared>,
    counter: fn(&Shared) -> &AtomicU32,
}

impl Counted {
    /// Counts one more job in `counter` of `shared`.
    pub fn new(shared: &Arc<Shared>, counter: fn(&Shared) -> &AtomicU32) -> Self {
        counter(shared).fetch_add(1, Ordering::Relaxed);
        Self {
            shared: shared.clone(),
            counter,
        }
    }

    /// A local compile's lease on a slot.
    pub fn local_lease(shared: &Arc<Shared>) -> Self {
        Self::new(shared, |s| &s.local_running)
    }

    /// A lease on a local slot if one is free.
    pub fn free_slot(shared: &Arc<Shared>) -> Option<Self> {
        (shared.running() < shared.slots).then(|| Self::local_lease(shared))
    }

    /// A job planned remote, until it is sent to a worker.
    pub fn remote_reservation(shared: &Arc<Shared>) -> Self {
        Self::new(shared, |s| &s.waiting_remote)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        (self.counter)(&self.shared).fetch_sub(1, Ordering::Relaxed);
    }
}
