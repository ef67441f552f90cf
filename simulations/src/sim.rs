//! A discrete-event model of the mesh at 10 to 10 000 nodes (`mesh-sim`).
//!
//! Time is measured in mean job service times on a reference slot, so results hold for any
//! compile duration; `cost` converts to seconds only for bandwidth. Each submitter places each
//! job with a [`SimPolicy`]; the mesh policies call `meshcc::choice`, the function the agent
//! runs, on load that is as stale as the configured [`Gossip`] makes it.
//!
//! Simplifications, each small next to a compile: a job occupies its place in the worker's
//! queue the moment it is sent, and the link round trip is added to its sojourn instead; every
//! node holds the toolchain; compile inputs cost no bandwidth.

mod event;
mod node;
mod policy;
mod workload;

pub mod cost;
pub mod plot;
pub mod report;

pub use node::Gossip;
pub use policy::SimPolicy;
pub use workload::{Arrivals, Service};

use event::{Calendar, Event};
use meshcc::choice::{self, Candidate};
use node::{Node, Waiting};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

/// One run's parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Agents in the mesh.
    pub nodes: usize,
    /// Job slots per agent.
    pub slots: u32,
    /// Fraction of agents that are faster than the reference...
    pub fast_fraction: f64,
    /// ...by this factor.
    pub fast_speed: f64,
    /// Offered load as a fraction of total capacity (slots × speed).
    pub utilisation: f64,
    /// Jobs to run.
    pub jobs: usize,
    /// Leading fraction of jobs (and builds) left out of the statistics while queues fill.
    pub warmup: f64,
    /// Job size distribution.
    pub service: Service,
    /// Arrival pattern.
    pub arrivals: Arrivals,
    /// How load information spreads.
    pub gossip: Gossip,
    /// Link round trip, in mean job times.
    pub rtt: f64,
    /// Placement policy.
    pub policy: SimPolicy,
    /// Seed: a run is a deterministic function of its `Config`.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            nodes: 1000,
            slots: 1,
            fast_fraction: 0.0,
            fast_speed: 1.0,
            utilisation: 0.7,
            jobs: 100_000,
            warmup: 0.2,
            service: Service::Exponential,
            arrivals: Arrivals::Poisson,
            gossip: Gossip::Periodic { period: 0.0 },
            rtt: 0.0,
            policy: SimPolicy::Mesh(choice::Policy::TwoChoices),
            seed: 1,
        }
    }
}

/// What a run measured (times in mean job service times).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Jobs run, warm-up included.
    pub released: usize,
    /// Jobs counted (after warm-up).
    pub jobs: usize,
    /// Mean time from submission to result.
    pub mean_sojourn: f64,
    /// 99th percentile of the same.
    pub p99_sojourn: f64,
    /// Mean sojourn of the last tenth of the jobs: grows with run length when unstable.
    pub late_mean_sojourn: f64,
    /// Mean build makespan, when the workload is builds.
    pub mean_makespan: Option<f64>,
    /// Model time from start to the last result.
    pub duration: f64,
    /// Status messages all nodes sent (each to every peer in the full-mesh design).
    pub publications: u64,
    /// Node state changes.
    pub changes: u64,
    /// Placement messages outside gossip: late-binding probes, scheduler requests.
    pub placement_messages: u64,
}

struct Job {
    work: f64,
    submit: f64,
    submitter: u32,
    build: u32,
    index: u32,
    taken: bool,
}

struct Build {
    submitter: u32,
    start: f64,
    released: u32,
    done: u32,
}

const NO_BUILD: u32 = u32::MAX;
/// The job size the submitter assumes: it cannot know a compile's duration in advance.
const MEAN_WORK: Duration = Duration::from_secs(1);

/// Run one simulation.
pub fn run(cfg: &Config) -> Outcome {
    Sim::new(cfg).run()
}

struct Sim<'a> {
    cfg: &'a Config,
    rng: SmallRng,
    calendar: Calendar,
    nodes: Vec<Node>,
    jobs: Vec<Job>,
    free_jobs: Vec<u32>,
    builds: Vec<Build>,
    /// Job arrival rate (Poisson) or build arrival rate.
    rate: f64,
    released: usize,
    /// Omniscient scheduler: its queue, and nodes that may have a free slot, fastest first.
    central: VecDeque<u32>,
    free_slots: BinaryHeap<(u64, std::cmp::Reverse<u32>)>,
    sojourns: Vec<(u32, f32)>,
    makespans: Vec<f64>,
    placement_messages: u64,
    now: f64,
}

impl<'a> Sim<'a> {
    fn new(cfg: &'a Config) -> Self {
        let mut rng = SmallRng::seed_from_u64(cfg.seed);
        let fast = (cfg.nodes as f64 * cfg.fast_fraction).round() as usize;
        let nodes: Vec<Node> = (0..cfg.nodes)
            .map(|i| {
                let speed = if i < fast { cfg.fast_speed } else { 1.0 };
                Node::new(cfg.slots, speed, &cfg.gossip, rng.random())
            })
            .collect();
        let capacity: f64 = nodes.iter().map(|n| f64::from(n.slots) * n.speed).sum();
        let job_rate = cfg.utilisation * capacity;
        let rate = match cfg.arrivals {
            Arrivals::Poisson => job_rate,
            Arrivals::Builds { jobs, .. } => job_rate / f64::from(jobs),
        };
        let free_slots = (0..cfg.nodes as u32)
            .map(|i| (nodes[i as usize].speed.to_bits(), std::cmp::Reverse(i)))
            .collect();
        Sim {
            cfg,
            rng,
            calendar: Calendar::default(),
            nodes,
            jobs: Vec::new(),
            free_jobs: Vec::new(),
            builds: Vec::new(),
            rate,
            released: 0,
            central: VecDeque::new(),
            free_slots,
            sojourns: Vec::with_capacity(cfg.jobs),
            makespans: Vec::new(),
            placement_messages: 0,
            now: 0.0,
        }
    }

    fn run(mut self) -> Outcome {
        self.calendar.push(0.0, Event::Arrival);
        while let Some((t, event)) = self.calendar.pop() {
            self.now = t;
            match event {
                Event::Arrival => self.arrival(t),
                Event::Finish { node, job } => self.finish(t, node, job),
                Event::Returned { job } => self.returned(t, job),
                Event::SlotFree { node } => self.change(t, node, |n| n.running -= 1),
            }
        }
        self.outcome()
    }

    fn arrival(&mut self, t: f64) {
        match self.cfg.arrivals {
            Arrivals::Poisson => {
                let submitter = self.rng.random_range(0..self.cfg.nodes) as u32;
                self.release(t, submitter, NO_BUILD);
            }
            Arrivals::Builds { jobs, parallelism } => {
                let submitter = self.rng.random_range(0..self.cfg.nodes) as u32;
                let build = self.builds.len() as u32;
                self.builds.push(Build {
                    submitter,
                    start: t,
                    released: 0,
                    done: 0,
                });
                for _ in 0..parallelism.min(jobs) {
                    self.release(t, submitter, build);
                }
            }
        }
        let planned = match self.cfg.arrivals {
            Arrivals::Poisson => self.released,
            // Count a build's jobs when it arrives, not as make releases them.
            Arrivals::Builds { jobs, .. } => self.builds.len() * jobs as usize,
        };
        if planned < self.cfg.jobs {
            let next = t + workload::gap(self.rate, &mut self.rng);
            self.calendar.push(next, Event::Arrival);
        }
    }

    /// A new job enters the mesh.
    fn release(&mut self, t: f64, submitter: u32, build: u32) {
        if build != NO_BUILD {
            self.builds[build as usize].released += 1;
        }
        let job = Job {
            work: self.cfg.service.sample(&mut self.rng),
            submit: t,
            submitter,
            build,
            index: self.released as u32,
            taken: false,
        };
        self.released += 1;
        let id = match self.free_jobs.pop() {
            Some(id) => {
                self.jobs[id as usize] = job;
                id
            }
            None => {
                self.jobs.push(job);
                self.jobs.len() as u32 - 1
            }
        };
        self.place(t, id, submitter);
    }

    fn place(&mut self, t: f64, job: u32, submitter: u32) {
        match self.cfg.policy {
            SimPolicy::Mesh(policy) => {
                let node = self.choose(t, submitter, policy);
                self.change(t, node, |n| {
                    n.queue.push_back(Waiting::Job(job));
                    if node != submitter {
                        n.sent_by(submitter);
                    }
                });
            }
            SimPolicy::Omniscient => {
                self.placement_messages += 2; // request and assignment
                while let Some(&(_, std::cmp::Reverse(node))) = self.free_slots.peek() {
                    let n = &self.nodes[node as usize];
                    if n.running < n.slots {
                        self.change(t, node, |n| n.queue.push_back(Waiting::Job(job)));
                        return;
                    }
                    self.free_slots.pop();
                }
                self.central.push_back(job);
            }
            SimPolicy::LateBinding { probes } => {
                let n = self.cfg.nodes;
                let probes = (probes as usize).min(n);
                let picked = rand::seq::index::sample(&mut self.rng, n, probes);
                for node in picked.iter() {
                    self.placement_messages += 1;
                    self.change(t, node as u32, |n| {
                        n.queue.push_back(Waiting::Reservation(job))
                    });
                }
            }
        }
    }

    fn choose(&mut self, t: f64, submitter: u32, policy: choice::Policy) -> u32 {
        let n = self.nodes.len();
        let nodes = &mut self.nodes;
        let gossip = &self.cfg.gossip;
        let rtt = Duration::from_secs_f64(self.cfg.rtt);
        let candidate = |i: usize| {
            let (running, queued, in_flight) = nodes[i].seen_by(t, gossip, submitter, i as u32);
            Candidate {
                slots: nodes[i].slots,
                running,
                queued,
                in_flight,
                speed: nodes[i].speed,
                rtt,
                has_toolchain: true,
                toolchain_fetch: Duration::ZERO,
                is_self: i as u32 == submitter,
            }
        };
        choice::choose_from(n, candidate, policy, MEAN_WORK, &mut self.rng).expect("nodes") as u32
    }

    /// Change `node`'s state at `t` through `f`, start what can start, and gossip it.
    fn change(&mut self, t: f64, node: u32, f: impl FnOnce(&mut Node)) {
        let gossip = self.cfg.gossip;
        let n = &mut self.nodes[node as usize];
        n.catch_up(t, &gossip);
        f(n);
        self.start_ready(t, node);
        let n = &mut self.nodes[node as usize];
        n.changed(t, &gossip);
        if self.cfg.policy == SimPolicy::Omniscient && n.running < n.slots {
            self.free_slots
                .push((n.speed.to_bits(), std::cmp::Reverse(node)));
        }
    }

    /// Fill free slots from the queue (or, for the omniscient scheduler, the central queue).
    fn start_ready(&mut self, t: f64, node: u32) {
        let rtt = self.cfg.rtt;
        loop {
            let n = &mut self.nodes[node as usize];
            if n.running >= n.slots {
                return;
            }
            let next = n
                .queue
                .pop_front()
                .or_else(|| self.central.pop_front().map(Waiting::Job));
            match next {
                None => return,
                Some(Waiting::Job(job)) => self.start(t, node, job, 0.0),
                Some(Waiting::Reservation(job)) => {
                    self.placement_messages += 2; // "give me the job", and the answer
                    let j = &mut self.jobs[job as usize];
                    let remote = j.submitter != node;
                    let delay = if remote { rtt } else { 0.0 };
                    if !j.taken {
                        j.taken = true;
                        self.start(t, node, job, delay);
                    } else if delay > 0.0 {
                        // The slot idles while it learns the job went elsewhere.
                        self.nodes[node as usize].running += 1;
                        self.calendar.push(t + delay, Event::SlotFree { node });
                    }
                }
            }
        }
    }

    fn start(&mut self, t: f64, node: u32, job: u32, delay: f64) {
        let n = &mut self.nodes[node as usize];
        n.running += 1;
        let service = self.jobs[job as usize].work / n.speed;
        self.calendar
            .push(t + delay + service, Event::Finish { node, job });
    }

    fn finish(&mut self, t: f64, node: u32, job: u32) {
        self.change(t, node, |n| n.running -= 1);
        let remote = self.jobs[job as usize].submitter != node;
        if remote && self.cfg.rtt > 0.0 {
            self.calendar
                .push(t + self.cfg.rtt, Event::Returned { job });
        } else {
            self.returned(t, job);
        }
    }

    fn returned(&mut self, t: f64, job: u32) {
        let j = &self.jobs[job as usize];
        let (index, build) = (j.index, j.build);
        self.sojourns.push((index, (t - j.submit) as f32));
        if !matches!(self.cfg.policy, SimPolicy::LateBinding { .. }) {
            // Late binding: a cancelled reservation may still name this job; never reuse it.
            self.free_jobs.push(job);
        }
        if build == NO_BUILD {
            return;
        }
        let Arrivals::Builds { jobs, .. } = self.cfg.arrivals else {
            unreachable!()
        };
        let b = &mut self.builds[build as usize];
        b.done += 1;
        if b.done == jobs {
            self.makespans.push(t - b.start);
        } else if b.released < jobs {
            let submitter = b.submitter;
            self.release(t, submitter, build);
        }
    }

    fn outcome(mut self) -> Outcome {
        let skip = (self.cfg.jobs as f64 * self.cfg.warmup) as u32;
        self.sojourns.retain(|&(i, _)| i >= skip);
        self.sojourns.sort_unstable_by_key(|&(i, _)| i);
        let mean =
            |s: &[(u32, f32)]| s.iter().map(|&(_, x)| f64::from(x)).sum::<f64>() / s.len() as f64;
        let late = mean(&self.sojourns[self.sojourns.len() * 9 / 10..]);
        let mean_sojourn = mean(&self.sojourns);
        let mut times: Vec<f32> = self.sojourns.iter().map(|&(_, x)| x).collect();
        let p99_at = (times.len() * 99 / 100).min(times.len().saturating_sub(1));
        let p99 = f64::from(*times.select_nth_unstable_by(p99_at, f32::total_cmp).1);
        let skip_builds = (self.makespans.len() as f64 * self.cfg.warmup) as usize;
        let mean_makespan = match self.cfg.arrivals {
            Arrivals::Builds { .. } => Some(
                self.makespans[skip_builds..].iter().sum::<f64>()
                    / (self.makespans.len() - skip_builds).max(1) as f64,
            ),
            Arrivals::Poisson => None,
        };
        Outcome {
            released: self.released,
            jobs: times.len(),
            mean_sojourn,
            p99_sojourn: p99,
            late_mean_sojourn: late,
            mean_makespan,
            duration: self.now,
            publications: self.nodes.iter().map(|n| n.publications).sum(),
            changes: self.nodes.iter().map(|n| n.changes).sum(),
            placement_messages: self.placement_messages,
        }
    }
}
