//! What arrives: job sizes and arrival patterns.
//!
//! Compile times are heavy-tailed (one template-heavy translation unit takes minutes while most
//! take a second or two), hence the lognormal profile; the exponential one exists because the
//! queueing theory the model is checked against assumes it.

use rand::Rng;
use rand_distr::{Distribution, Exp1, LogNormal};

/// Distribution of a job's work: its duration on a reference (speed 1.0) slot. Mean is 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Service {
    /// Exponential with mean 1 (the theory's M/M/1 servers).
    Exponential,
    /// Lognormal with mean 1 and shape `sigma` (1.0 gives p99 ≈ 6× the mean).
    LogNormal {
        /// Standard deviation of the underlying normal.
        sigma: f64,
    },
}

impl Service {
    /// Draw one job's work.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match *self {
            Service::Exponential => Exp1.sample(rng),
            Service::LogNormal { sigma } => {
                // mean = exp(mu + sigma²/2) = 1
                let d = LogNormal::new(-sigma * sigma / 2.0, sigma).expect("sigma is finite");
                d.sample(rng)
            }
        }
    }
}

/// How jobs enter the mesh.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Arrivals {
    /// Independent jobs, Poisson in time, each from a uniformly random submitter.
    Poisson,
    /// Builds arrive Poisson in time from random submitters; each is `jobs` compile jobs, at
    /// most `parallelism` of them outstanding at once (`make -j`).
    Builds {
        /// Compile jobs per build.
        jobs: u32,
        /// Jobs a build keeps outstanding.
        parallelism: u32,
    },
}

/// Exponential inter-arrival time at `rate`.
pub fn gap<R: Rng + ?Sized>(rate: f64, rng: &mut R) -> f64 {
    let e: f64 = Exp1.sample(rng);
    e / rate
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn service_means_are_one() {
        let mut rng = SmallRng::seed_from_u64(1);
        for s in [Service::Exponential, Service::LogNormal { sigma: 1.0 }] {
            let n = 200_000;
            let mean = (0..n).map(|_| s.sample(&mut rng)).sum::<f64>() / n as f64;
            assert!((mean - 1.0).abs() < 0.02, "{s:?}: {mean}");
        }
    }
}
