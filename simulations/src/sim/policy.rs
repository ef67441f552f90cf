//! The policies the model compares: the mesh's own (from `meshcc::choice`, called, not copied)
//! and two that the mesh cannot run but that bound what it could gain.

use meshcc::choice::Policy;

/// How the simulated mesh places a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SimPolicy {
    /// The submitter calls `meshcc::choice::choose_from` on what gossip told it.
    Mesh(Policy),
    /// A central scheduler that knows every slot's state exactly and keeps one FIFO queue,
    /// handing the next job to the first slot that frees (fastest free slot first): the ideal
    /// icecc's scheduler approximates, and the yardstick for the others.
    Omniscient,
    /// Sparrow-style late binding: reservations on `probes` random nodes; the first one to
    /// reach a free slot asks the submitter for the job, the others are cancelled on arrival.
    LateBinding {
        /// Reservations per job (Sparrow: 2).
        probes: u32,
    },
}

impl SimPolicy {
    /// Every policy, in report order.
    pub const ALL: [SimPolicy; 7] = [
        SimPolicy::Omniscient,
        SimPolicy::Mesh(Policy::Random),
        SimPolicy::Mesh(Policy::TwoChoices),
        SimPolicy::Mesh(Policy::TwoChoicesInFlight),
        SimPolicy::Mesh(Policy::TwoChoicesWeighted),
        SimPolicy::Mesh(Policy::LeastLoaded),
        SimPolicy::LateBinding { probes: 2 },
    ];

    /// Short name for tables and the command line.
    pub fn name(self) -> &'static str {
        match self {
            SimPolicy::Mesh(p) => p.name(),
            SimPolicy::Omniscient => "omniscient",
            SimPolicy::LateBinding { .. } => "late-binding",
        }
    }

    /// The policy called `name`.
    pub fn from_name(name: &str) -> Option<SimPolicy> {
        SimPolicy::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Whether the result depends on gossip staleness (else one run per load suffices).
    pub fn uses_gossip(self) -> bool {
        matches!(self, SimPolicy::Mesh(p) if p != Policy::Random)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in SimPolicy::ALL {
            assert_eq!(SimPolicy::from_name(p.name()), Some(p));
        }
    }
}
