//! Worker choice: which peer runs the next compile job.
//!
//! There is no scheduler, so every submitter decides alone from what gossip told it, and gossip
//! is always somewhat stale. Sending every job to the peer that *looks* least loaded is what a
//! central scheduler does with fresh data; with stale data every submitter sees the same "idle"
//! peer and they all pile onto it until the next status message (herding). Power of two choices
//! (Mitzenmacher, "The power of two choices in randomized load balancing", 2001) samples two
//! peers at random and takes the better one: the randomness spreads simultaneous submitters, and
//! the comparison still makes long queues exponentially rarer than random choice does.
//! `simulations` (the scale model, `mesh-sim`) measures both claims against an omniscient
//! scheduler by calling this very module.
//!
//! "Better" is the smaller expected finish time, not the shorter queue: a queue of three on a
//! machine four times faster is the better choice, and a peer that must first fetch a 100 MB
//! toolchain is not idle. The submitter's own jobs sent since the peer's last status message are
//! counted in, so one `make -j64` does not send all 64 jobs to the same peer between two gossip
//! rounds. When both samples would queue the job, a few more samples look for a free slot
//! (see [`IDLE_PROBES`]).
//!
//! Everything here is a pure function of its arguments (no clock, no network) so that the agent
//! and the simulation run the same code.

use rand::Rng;
use std::time::Duration;

/// A peer as the submitter sees it: load from its last status message, plus local knowledge.
///
/// The caller passes only peers that accept jobs and can run the toolchain (architecture);
/// peers without a free slot are *not* filtered out, because during a large build every peer may
/// be full and the job should still queue where it will finish first.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    /// Job slots the peer offers.
    pub slots: u32,
    /// Jobs running there, as last gossiped.
    pub running: u32,
    /// Jobs waiting there, as last gossiped.
    pub queued: u32,
    /// This submitter's jobs sent to the peer that its last status message does not count yet.
    pub in_flight: u32,
    /// Relative compile speed; 1.0 is the reference machine, 2.0 compiles twice as fast.
    pub speed: f64,
    /// Round trip to the peer; sending inputs and fetching the result costs about this much.
    pub rtt: Duration,
    /// Whether the peer already holds the job's toolchain.
    pub has_toolchain: bool,
    /// Time the peer needs to fetch the toolchain when it does not hold it.
    pub toolchain_fetch: Duration,
    /// The submitter itself: no transfer, and its load is known exactly.
    pub is_self: bool,
}

impl Candidate {
    /// An idle, reference-speed peer with `slots` slots that holds the toolchain.
    pub fn idle(slots: u32) -> Self {
        Candidate {
            slots,
            running: 0,
            queued: 0,
            in_flight: 0,
            speed: 1.0,
            rtt: Duration::ZERO,
            has_toolchain: true,
            toolchain_fetch: Duration::ZERO,
            is_self: false,
        }
    }

    /// Jobs per reference-job-time the peer completes when full; the weight for sampling.
    pub fn capacity(&self) -> f64 {
        f64::from(self.slots.max(1)) * self.speed.max(f64::MIN_POSITIVE)
    }

    /// Whether a job sent now would start at once.
    pub fn has_free_slot(&self, count_in_flight: bool) -> bool {
        let in_flight = if count_in_flight { self.in_flight } else { 0 };
        self.running + self.queued + in_flight < self.slots
    }

    /// When a job of `work` (its duration on a reference machine) would be done, from now.
    ///
    /// Jobs ahead of ours leave at `slots` per service time, so we wait for
    /// `load + 1 - slots` of them; with one slot this is plain queue length, the quantity the
    /// supermarket model compares.
    pub fn expected_finish(&self, work: Duration, count_in_flight: bool) -> Duration {
        let in_flight = if count_in_flight { self.in_flight } else { 0 };
        let load = u64::from(self.running) + u64::from(self.queued) + u64::from(in_flight);
        let slots = u64::from(self.slots.max(1));
        let service = work.as_secs_f64() / self.speed.max(f64::MIN_POSITIVE);
        let ahead = (load + 1).saturating_sub(slots) as f64;
        let mut secs = service + ahead * service / slots as f64;
        if !self.is_self {
            secs += self.rtt.as_secs_f64();
        }
        if !self.has_toolchain {
            secs += self.toolchain_fetch.as_secs_f64();
        }
        Duration::from_secs_f64(secs)
    }
}

/// How to pick among candidates. The agent uses [`Policy::default`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Policy {
    /// One peer uniformly at random: the baseline that needs no load information at all.
    Random,
    /// Two uniform samples compared on gossiped load only (the textbook supermarket model).
    TwoChoices,
    /// Two uniform samples, gossiped load plus this submitter's own jobs in flight.
    #[default]
    TwoChoicesInFlight,
    /// Like [`Policy::TwoChoicesInFlight`], but peers are sampled in proportion to capacity
    /// (slots × speed). Uniform sampling hands a slow peer as many offers as a fast one, so when
    /// most of the mesh is slow, slow peers get more work than they can do even though the
    /// fast peers have room; weighting keeps such a mesh stable.
    TwoChoicesWeighted,
    /// The smallest expected finish time over all candidates, on gossiped load only: what a
    /// scheduler does, and what herds when the information is old.
    LeastLoaded,
}

impl Policy {
    /// Every policy, in the order reports list them.
    pub const ALL: [Policy; 5] = [
        Policy::Random,
        Policy::TwoChoices,
        Policy::TwoChoicesInFlight,
        Policy::TwoChoicesWeighted,
        Policy::LeastLoaded,
    ];

    /// A short stable name for logs, tables and command lines.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Random => "random",
            Policy::TwoChoices => "p2c",
            Policy::TwoChoicesInFlight => "p2c-inflight",
            Policy::TwoChoicesWeighted => "p2c-weighted",
            Policy::LeastLoaded => "least-loaded",
        }
    }

    /// The policy called `name` (see [`Policy::name`]).
    pub fn from_name(name: &str) -> Option<Policy> {
        Policy::ALL.into_iter().find(|p| p.name() == name)
    }

    fn counts_in_flight(self) -> bool {
        matches!(
            self,
            Policy::TwoChoicesInFlight | Policy::TwoChoicesWeighted
        )
    }
}

/// Index of the candidate that should run a job of `work` (reference-machine duration), or
/// `None` when there are no candidates.
pub fn choose<R: Rng + ?Sized>(
    candidates: &[Candidate],
    policy: Policy,
    work: Duration,
    rng: &mut R,
) -> Option<usize> {
    choose_from(candidates.len(), |i| candidates[i], policy, work, rng)
}

/// [`choose`] over `n` candidates produced on demand by `candidate(i)`.
///
/// The random policies look at only the candidates they sample, so a caller with thousands of
/// peers (the simulation) need not build them all for every job.
pub fn choose_from<R, F>(
    n: usize,
    mut candidate: F,
    policy: Policy,
    work: Duration,
    rng: &mut R,
) -> Option<usize>
where
    R: Rng + ?Sized,
    F: FnMut(usize) -> Candidate,
{
    if n == 0 {
        return None;
    }
    if n == 1 {
        return Some(0);
    }
    let in_flight = policy.counts_in_flight();
    let (a, b) = match policy {
        Policy::Random => return Some(rng.random_range(0..n)),
        Policy::LeastLoaded => return Some(least_loaded(n, candidate, work, rng)),
        Policy::TwoChoices | Policy::TwoChoicesInFlight => two_uniform(n, rng),
        Policy::TwoChoicesWeighted => two_weighted(n, &mut candidate, rng),
    };
    let finish_a = candidate(a).expected_finish(work, in_flight);
    let finish_b = candidate(b).expected_finish(work, in_flight);
    let (mut best, mut best_finish) = if finish_b < finish_a {
        (b, finish_b)
    } else {
        (a, finish_a)
    };
    if in_flight {
        for _ in 0..IDLE_PROBES {
            if candidate(best).has_free_slot(true) {
                break;
            }
            let c = rng.random_range(0..n);
            let finish = candidate(c).expected_finish(work, true);
            if finish < best_finish {
                (best, best_finish) = (c, finish);
            }
        }
    }
    Some(best)
}

/// Further samples the in-flight policies take when both choices would queue the job.
///
/// In a small mesh two samples often miss the one idle peer (with four candidates, half the
/// time), and a job queued behind another while a peer idles is what made a 4-host Lua build
/// wait on its last, largest file. A few more samples find a free slot cheaply, still at O(1)
/// per job, and only when the two choices are full, so they do not herd: a free slot found
/// this way is counted as taken by this submitter's next choice.
const IDLE_PROBES: usize = 3;

/// Two distinct indices, uniformly.
fn two_uniform<R: Rng + ?Sized>(n: usize, rng: &mut R) -> (usize, usize) {
    let a = rng.random_range(0..n);
    let b = rng.random_range(0..n - 1);
    (a, if b >= a { b + 1 } else { b })
}

/// Two distinct indices, each drawn in proportion to capacity (the second among the rest).
fn two_weighted<R, F>(n: usize, candidate: &mut F, rng: &mut R) -> (usize, usize)
where
    R: Rng + ?Sized,
    F: FnMut(usize) -> Candidate,
{
    let weights: Vec<f64> = (0..n).map(|i| candidate(i).capacity()).collect();
    let total: f64 = weights.iter().sum();
    let a = pick_weighted(&weights, total, None, rng);
    let b = pick_weighted(&weights, total - weights[a], Some(a), rng);
    (a, b)
}

fn pick_weighted<R: Rng + ?Sized>(
    weights: &[f64],
    total: f64,
    skip: Option<usize>,
    rng: &mut R,
) -> usize {
    let mut left = rng.random_range(0.0..total);
    let mut last = 0;
    for (i, w) in weights.iter().enumerate() {
        if Some(i) == skip {
            continue;
        }
        last = i;
        if left < *w {
            return i;
        }
        left -= w;
    }
    last // only reached through rounding in the running sum
}

/// The minimum, ties broken uniformly: breaking them by index would herd even with fresh data.
fn least_loaded<R, F>(n: usize, mut candidate: F, work: Duration, rng: &mut R) -> usize
where
    R: Rng + ?Sized,
    F: FnMut(usize) -> Candidate,
{
    let mut best = 0;
    let mut best_finish = Duration::MAX;
    let mut ties = 0u32;
    for i in 0..n {
        let finish = candidate(i).expected_finish(work, false);
        if finish < best_finish {
            (best, best_finish, ties) = (i, finish, 1);
        } else if finish == best_finish {
            ties += 1;
            if rng.random_range(0..ties) == 0 {
                best = i;
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    const SEC: Duration = Duration::from_secs(1);

    fn loaded(running: u32, queued: u32) -> Candidate {
        Candidate {
            running,
            queued,
            ..Candidate::idle(1)
        }
    }

    #[test]
    fn empty_and_single() {
        let mut rng = StdRng::seed_from_u64(1);
        for p in Policy::ALL {
            assert_eq!(choose(&[], p, SEC, &mut rng), None);
            assert_eq!(choose(&[loaded(1, 9)], p, SEC, &mut rng), Some(0));
        }
    }

    #[test]
    fn two_choices_takes_the_shorter_queue() {
        let mut rng = StdRng::seed_from_u64(2);
        let c = [loaded(1, 5), loaded(0, 0)];
        for _ in 0..100 {
            assert_eq!(choose(&c, Policy::TwoChoices, SEC, &mut rng), Some(1));
        }
    }

    #[test]
    fn in_flight_counts_only_for_the_in_flight_policy() {
        let mut rng = StdRng::seed_from_u64(3);
        let busy_by_us = Candidate {
            in_flight: 4,
            ..loaded(0, 0)
        };
        let c = [busy_by_us, loaded(1, 1)];
        assert_eq!(choose(&c, Policy::TwoChoices, SEC, &mut rng), Some(0));
        assert_eq!(
            choose(&c, Policy::TwoChoicesInFlight, SEC, &mut rng),
            Some(1)
        );
    }

    #[test]
    fn in_flight_policies_look_further_when_both_choices_are_full() {
        let mut rng = StdRng::seed_from_u64(6);
        let mut c = vec![loaded(1, 0); 4];
        c[3] = loaded(0, 0);
        let found = (0..1000)
            .filter(|_| choose(&c, Policy::TwoChoicesInFlight, SEC, &mut rng) == Some(3))
            .count();
        // Two samples find the idle peer with p = 1/2; three more probes raise it to
        // 1 - 1/2 * (3/4)^3 = 0.79. Plain two choices stays at 1/2.
        assert!((720..860).contains(&found), "{found}");
        let plain = (0..1000)
            .filter(|_| choose(&c, Policy::TwoChoices, SEC, &mut rng) == Some(3))
            .count();
        assert!((430..570).contains(&plain), "{plain}");
    }

    #[test]
    fn expected_finish_weighs_speed_slots_latency_and_toolchain() {
        // Queue of 3 on a one-slot peer 4x faster: 4 jobs of 0.25 s.
        let fast = Candidate {
            speed: 4.0,
            ..loaded(1, 2)
        };
        assert_eq!(fast.expected_finish(SEC, false), SEC);
        // A free slot means no wait.
        let wide = Candidate {
            running: 7,
            ..Candidate::idle(8)
        };
        assert_eq!(wide.expected_finish(SEC, false), SEC);
        let remote = Candidate {
            rtt: SEC / 2,
            ..Candidate::idle(1)
        };
        let local = Candidate {
            is_self: true,
            ..remote
        };
        assert_eq!(remote.expected_finish(SEC, false), SEC * 3 / 2);
        assert_eq!(local.expected_finish(SEC, false), SEC);
        let cold = Candidate {
            has_toolchain: false,
            toolchain_fetch: 10 * SEC,
            ..remote
        };
        assert!(cold.expected_finish(SEC, false) > loaded(5, 4).expected_finish(SEC, false));
    }

    #[test]
    fn least_loaded_breaks_ties_at_random() {
        let mut rng = StdRng::seed_from_u64(4);
        let c = [loaded(1, 0), loaded(0, 0), loaded(0, 0), loaded(0, 0)];
        let mut seen = [0; 4];
        for _ in 0..300 {
            seen[choose(&c, Policy::LeastLoaded, SEC, &mut rng).unwrap()] += 1;
        }
        assert_eq!(seen[0], 0);
        assert!(seen[1..].iter().all(|&k| k > 50), "{seen:?}");
    }

    #[test]
    fn weighted_sampling_follows_capacity() {
        let mut rng = StdRng::seed_from_u64(5);
        // Equal expected finish everywhere, so the choice is the first sample: count it.
        let mut c = vec![
            Candidate {
                speed: 1.0,
                ..Candidate::idle(1)
            };
            4
        ];
        c[0].speed = 3.0;
        c[0].running = 1; // finish 2/3 s: beats an idle slow peer (1 s) so never tie-broken
        let picks = (0..4000)
            .filter(|_| choose(&c, Policy::TwoChoicesWeighted, SEC, &mut rng) == Some(0))
            .count();
        // Weights 3,1,1,1: the fast peer is the first draw with p = 1/2, else the second with
        // p = 3/5, so it is sampled 0.8 of the time. Uniform sampling would give 0.5.
        assert!((3000..3400).contains(&picks), "{picks}");
    }

    #[test]
    fn deterministic_for_a_seed() {
        let c: Vec<_> = (0..50).map(|i| loaded(i % 3, i % 5)).collect();
        let run = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..20)
                .map(|_| choose(&c, Policy::default(), SEC, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
    }
}
