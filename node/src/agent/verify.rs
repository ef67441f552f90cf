//! The result check for meshes whose members are not all trusted: a sample of remote compiles
//! is compiled again locally by the wrapper, which delivers the local result and reports
//! whether the worker's was the same bytes. A worker caught returning something else is marked
//! untrusted for the rest of this agent's life: worker choice skips it and `meshcc peers`
//! shows it.
//!
//! The wrapper, not the agent, compiles again: it runs as the user who started the build, in
//! the build's own directory and environment, exactly as a plain local compile would.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use libp2p::PeerId;
use meshcc_wire::control::StatsReport;
use tracing::{info, warn};

/// What the check has found so far.
#[derive(Debug, Default)]
pub struct ResultCheck {
    /// Fraction of successful remote compiles to check, 0 to 1.
    fraction: f64,
    untrusted: Mutex<HashSet<PeerId>>,
    verified: AtomicU64,
    mismatches: AtomicU64,
}

impl ResultCheck {
    /// A check of `fraction` (0 to 1) of remote results.
    pub fn new(fraction: f64) -> Self {
        Self {
            fraction,
            ..Default::default()
        }
    }

    /// Whether to check this result: a fair coin weighted by the fraction.
    pub fn sample(&self) -> bool {
        self.fraction > 0.0 && rand::random::<f64>() < self.fraction
    }

    /// A wrapper compared `worker`'s result with its local compile.
    pub fn record(&self, worker: PeerId, same: bool) {
        self.verified.fetch_add(1, Ordering::Relaxed);
        if same {
            info!(peer = %worker, "result check: the worker's result is the local compile's, byte for byte");
            return;
        }
        self.mismatches.fetch_add(1, Ordering::Relaxed);
        if self.untrusted.lock().unwrap().insert(worker) {
            warn!(
                peer = %worker,
                "result check: peer {worker} returned a result different from the local compile; \
                 it gets no more jobs from this agent (the build used the local result)"
            );
        }
    }

    /// Whether `peer` was caught returning a wrong result.
    pub fn is_untrusted(&self, peer: &PeerId) -> bool {
        self.untrusted.lock().unwrap().contains(peer)
    }

    /// Fills the check's counters of a report.
    pub fn fill(&self, r: &mut StatsReport) {
        r.verified = self.verified.load(Ordering::Relaxed);
        r.verify_mismatches = self.mismatches.load(Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_follows_the_fraction() {
        assert!(!(0..1000).any(|_| ResultCheck::new(0.0).sample()));
        assert!((0..1000).all(|_| ResultCheck::new(1.0).sample()));
        let tenth = ResultCheck::new(0.1);
        let n = (0..10_000).filter(|_| tenth.sample()).count();
        assert!((700..1300).contains(&n), "{n} of 10000 sampled at 0.1");
    }

    #[test]
    fn a_mismatch_marks_the_worker_and_counts() {
        let check = ResultCheck::new(1.0);
        let (honest, liar) = (PeerId::random(), PeerId::random());
        check.record(honest, true);
        check.record(liar, false);
        assert!(!check.is_untrusted(&honest));
        assert!(check.is_untrusted(&liar));
        let mut r = StatsReport::default();
        check.fill(&mut r);
        assert_eq!((r.verified, r.verify_mismatches), (2, 1));
    }
}
