//! `mesh-sim`: the scale model. Sweeps mesh sizes, loads, gossip staleness and placement
//! policies; prints a table per mesh size and the control-plane cost of the gossip designs.

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use meshcc_simulations::sim::{
    self, cost, plot, report, report::Row, Arrivals, Config, Gossip, Service, SimPolicy,
};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(about = "Discrete-event model of the meshcc mesh: worker choice and gossip at scale")]
struct Args {
    /// Mesh sizes to simulate.
    #[arg(long, value_delimiter = ',', default_value = "1000")]
    nodes: Vec<usize>,
    /// Jobs per run.
    #[arg(long, default_value_t = 100_000)]
    jobs: usize,
    /// Offered loads (fraction of total capacity).
    #[arg(long, value_delimiter = ',', default_value = "0.5,0.7,0.9")]
    util: Vec<f64>,
    /// Gossip periods, in mean job times (0 = fresh information).
    #[arg(long, value_delimiter = ',', default_value = "0,0.1,0.5,1,2,5,10")]
    staleness: Vec<f64>,
    /// Policies (default: all): omniscient, random, p2c, p2c-inflight, p2c-weighted,
    /// least-loaded, late-binding. The omniscient scheduler always runs, as the yardstick.
    #[arg(long, value_delimiter = ',')]
    policies: Vec<String>,
    /// Job slots per node.
    #[arg(long, default_value_t = 4)]
    slots: u32,
    /// Fraction of nodes faster than the reference.
    #[arg(long, default_value_t = 0.2)]
    fast_fraction: f64,
    /// Speed of the fast nodes relative to the reference.
    #[arg(long, default_value_t = 2.0)]
    fast_speed: f64,
    /// Job size distribution.
    #[arg(long, value_enum, default_value_t = ServiceArg::Lognormal)]
    service: ServiceArg,
    /// Lognormal shape (sigma of the underlying normal).
    #[arg(long, default_value_t = 1.0)]
    sigma: f64,
    /// Arrival pattern.
    #[arg(long, value_enum, default_value_t = WorkloadArg::Builds)]
    workload: WorkloadArg,
    /// Compile jobs per build.
    #[arg(long, default_value_t = 400)]
    build_jobs: u32,
    /// Jobs a build keeps outstanding (make -j).
    #[arg(long, default_value_t = 64)]
    build_parallelism: u32,
    /// Mean compile job duration in seconds: converts the agent's gossip timers into model
    /// time and message counts into bandwidth.
    #[arg(long, default_value_t = 2.0)]
    job_secs: f64,
    /// Link round trip in milliseconds.
    #[arg(long, default_value_t = 1.0)]
    rtt_ms: f64,
    /// Status message size in bytes.
    #[arg(long, default_value_t = 200.0)]
    status_bytes: f64,
    /// Per-node control bandwidth above which a gossip design is called not viable (bytes/s).
    #[arg(long, default_value_t = 100_000.0)]
    budget: f64,
    /// Leading fraction of jobs left out of the statistics.
    #[arg(long, default_value_t = 0.2)]
    warmup: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write every row as CSV here.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Plot sojourn against staleness per policy into this PNG.
    #[arg(long)]
    plot: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ServiceArg {
    Lognormal,
    Exp,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum WorkloadArg {
    Builds,
    Poisson,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mesh-sim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<()> {
    let policies = policies(&args.policies)?;
    let wire = cost::Wire {
        status_bytes: args.status_bytes,
        job_secs: args.job_secs,
        budget_bytes: args.budget,
        ..cost::Wire::default()
    };
    let agent_gossip = Gossip::OnChange {
        min_interval: 0.25 / args.job_secs,
        heartbeat: 2.0 / args.job_secs,
    };
    let base = Config {
        slots: args.slots,
        fast_fraction: args.fast_fraction,
        fast_speed: args.fast_speed,
        jobs: args.jobs,
        warmup: args.warmup,
        service: match args.service {
            ServiceArg::Lognormal => Service::LogNormal { sigma: args.sigma },
            ServiceArg::Exp => Service::Exponential,
        },
        arrivals: match args.workload {
            WorkloadArg::Builds => Arrivals::Builds {
                jobs: args.build_jobs,
                parallelism: args.build_parallelism,
            },
            WorkloadArg::Poisson => Arrivals::Poisson,
        },
        rtt: args.rtt_ms / 1000.0 / args.job_secs,
        seed: args.seed,
        ..Config::default()
    };
    let mut all = Vec::new();
    for &nodes in &args.nodes {
        let mut rows = Vec::new();
        let mut status = Vec::new();
        for &utilisation in &args.util {
            let at = Config {
                nodes,
                utilisation,
                ..base.clone()
            };
            let omni = timed(&Config {
                policy: SimPolicy::Omniscient,
                ..at.clone()
            });
            let row = |cfg: &Config, out: &sim::Outcome, staleness| {
                make_row(cfg, out, &omni, staleness, &wire)
            };
            for &policy in &policies {
                let cfg = Config {
                    policy,
                    ..at.clone()
                };
                if !policy.uses_gossip() {
                    let out = if policy == SimPolicy::Omniscient {
                        omni.clone()
                    } else {
                        timed(&cfg)
                    };
                    rows.push(row(&cfg, &out, Some(0.0)));
                    continue;
                }
                for &period in &args.staleness {
                    let cfg = Config {
                        gossip: Gossip::Periodic { period },
                        ..cfg.clone()
                    };
                    rows.push(row(&cfg, &timed(&cfg), Some(period)));
                }
            }
            // The agent as designed: P2C with in-flight accounting on its own gossip rule.
            let cfg = Config {
                policy: SimPolicy::Mesh(meshcc::choice::Policy::default()),
                gossip: agent_gossip,
                ..at.clone()
            };
            let out = timed(&cfg);
            let secs = out.duration * args.job_secs;
            status.push((
                utilisation,
                out.publications as f64 / nodes as f64 / secs,
                out.released as f64 / nodes as f64 / secs,
            ));
            rows.push(row(&cfg, &out, None));
        }
        println!("## {nodes} nodes\n\n{}", report::table(&rows));
        print_designs(nodes, &status, &wire);
        all.extend(rows);
    }
    if let Some(path) = &args.csv {
        let file =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        report::write_csv(std::io::BufWriter::new(file), &all)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.plot {
        plot::plot(path, &all)?;
    }
    Ok(())
}

fn policies(names: &[String]) -> Result<Vec<SimPolicy>> {
    if names.is_empty() {
        return Ok(SimPolicy::ALL.to_vec());
    }
    let mut out = vec![SimPolicy::Omniscient];
    for name in names {
        match SimPolicy::from_name(name) {
            Some(p) if !out.contains(&p) => out.push(p),
            Some(_) => {}
            None => bail!("unknown policy {name:?}"),
        }
    }
    Ok(out)
}

fn timed(cfg: &Config) -> sim::Outcome {
    let start = Instant::now();
    let out = sim::run(cfg);
    eprintln!(
        "{} nodes, util {}, {:?}, {}: {} jobs in {:.2?}",
        cfg.nodes,
        cfg.utilisation,
        cfg.gossip,
        cfg.policy.name(),
        out.released,
        start.elapsed()
    );
    out
}

fn make_row(
    cfg: &Config,
    out: &sim::Outcome,
    omni: &sim::Outcome,
    staleness: Option<f64>,
    wire: &cost::Wire,
) -> Row {
    let c = cost::of_run(cfg, out, wire);
    Row {
        nodes: cfg.nodes,
        utilisation: cfg.utilisation,
        staleness,
        policy: cfg.policy.name(),
        mean: out.mean_sojourn,
        p99: out.p99_sojourn,
        makespan: out.mean_makespan,
        rel_mean: out.mean_sojourn / omni.mean_sojourn,
        rel_p99: out.p99_sojourn / omni.p99_sojourn,
        rel_makespan: out
            .mean_makespan
            .zip(omni.mean_makespan)
            .map(|(a, b)| a / b),
        messages_per_job: c.messages_per_job,
        bytes_per_node_s: c.bytes_per_node_s,
    }
}

/// The gossip designs' cost at this mesh size, from the agent rule's measured message rate.
fn print_designs(nodes: usize, status: &[(f64, f64, f64)], wire: &cost::Wire) {
    println!(
        "control plane at {nodes} nodes (status {} B, probe {} B, mean job {} s):",
        wire.status_bytes, wire.probe_bytes, wire.job_secs
    );
    println!(
        "{:>5} {:<38} {:>10} {:>12} {:>6}",
        "util", "design", "msgs/n/s", "KB/node/s", "conns"
    );
    for &(util, status_rate, job_rate) in status {
        for d in cost::designs(nodes, status_rate, job_rate, wire) {
            println!(
                "{:>5.2} {:<38} {:>10.1} {:>12.2} {:>6.0}",
                util,
                d.name,
                d.messages_per_node_s,
                d.bytes_per_node_s / 1000.0,
                d.connections
            );
        }
        println!(
            "{:>5.2} agent: {:.2} status msgs/node/s, {:.2} jobs/node/s; full-mesh push exceeds {} KB/s per node above {:.0} nodes",
            util,
            status_rate,
            job_rate,
            wire.budget_bytes / 1000.0,
            cost::full_mesh_limit(status_rate, wire)
        );
    }
    println!();
}
