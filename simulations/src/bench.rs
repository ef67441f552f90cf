//! `mesh-lab bench`: real builds side by side — local, meshcc, icecc, distcc — in one lab of N
//! hosts with a CPU quota each, over a chosen link profile (issue 6).
//!
//! For each profile the lab is built once and every system's daemons are started in it; then,
//! for each workload, after an untimed warm-up build per distributed system, the timed runs go
//! round the systems (local, meshcc, icecc, distcc, local, …) so that the machine's own noise
//! (it is shared) falls on all of them alike. Then one translation unit is compiled 20 times
//! forced remote through each system (the per-job overhead), and the cold start is measured:
//! the time until the first remote job is done when no worker holds the toolchain yet. With
//! `cut`, each distributed system builds once more while a worker (not host 0, and not the last
//! host, where icecc's scheduler runs) is cut off the wire 30 % into the build and put back 30 s
//! later: the cost of losing a worker mid-build.
//!
//! Modules: [`workload`] (what is built), [`systems`] (how each system is run in the lab and
//! where its jobs ran), [`build`] (one measured build), [`shim`] (per-job timing),
//! [`report`] (tables, targets, CSV), [`plot`] (the PNG), [`packages`] (installing icecc and
//! distcc).

pub mod build;
mod error;
pub mod packages;
pub mod plot;
pub mod report;
pub mod shim;
mod single;
pub mod systems;
pub mod workload;

use std::path::PathBuf;
use std::time::Duration;

pub use error::BenchError;

use crate::lab::{Lab, LabConfig};
use build::{BuildRun, Builder, Cut};
use report::{CutRun, Single};
use systems::{Distcc, Icecc, Meshcc, SystemKind};
use workload::Workload;

/// The run number of warm-up builds (their job logs are kept apart from the timed runs').
const WARM_UP: usize = 999;
/// The run number of the build with a host cut off.
const CUT_RUN: usize = 998;
/// How far into a system's median build the worker is cut off.
const CUT_AT: f64 = 0.3;
/// How long the cut host stays off: longer than any build here, so a system that waits for
/// it shows the wait in full.
const CUT_FOR: Duration = Duration::from_secs(30);

/// A link profile: how the lab's hosts are wired.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// `lan`, `wifi` or `office`.
    pub name: &'static str,
    /// One-way delay between hosts, ms.
    pub delay_ms: u32,
    /// ± ms.
    pub jitter_ms: u32,
    /// Each host's link capacity, kbit/s.
    pub bandwidth_kbit: Option<u64>,
}

impl Profile {
    /// The profiles by name: `lan` (no added delay), `wifi` (3 ms ± 1 ms, 54 Mbit/s), `office`
    /// (15 ms).
    pub fn named(name: &str) -> Option<Profile> {
        match name {
            "lan" => Some(Profile {
                name: "lan",
                delay_ms: 0,
                jitter_ms: 0,
                bandwidth_kbit: None,
            }),
            "wifi" => Some(Profile {
                name: "wifi",
                delay_ms: 3,
                jitter_ms: 1,
                bandwidth_kbit: Some(54_000),
            }),
            "office" => Some(Profile {
                name: "office",
                delay_ms: 15,
                jitter_ms: 0,
                bandwidth_kbit: None,
            }),
            _ => None,
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The lab's name.
    pub lab: String,
    /// Hosts.
    pub hosts: usize,
    /// Each host's CPU quota, cores.
    pub cpu: f64,
    /// Link profiles, in order.
    pub profiles: Vec<Profile>,
    /// Systems besides `local` (which always runs: it is the baseline).
    pub systems: Vec<SystemKind>,
    /// Workload names.
    pub workloads: Vec<String>,
    /// Timed runs per system and workload.
    pub runs: usize,
    /// Runs of the single-file measurement (0: skip it).
    pub single_runs: usize,
    /// Whether to measure the cold start.
    pub cold: bool,
    /// Whether to measure a build with a worker cut off the wire in the middle.
    pub cut: bool,
    /// The `meshcc` binary.
    pub meshcc: PathBuf,
    /// `mesh-lab` itself (the per-job shim).
    pub shim: PathBuf,
    /// The repository's `scripts/` directory.
    pub scripts: PathBuf,
    /// Where builds happen.
    pub work: PathBuf,
    /// `make -j` for the local build (default: the quota rounded up).
    pub local_jobs: Option<usize>,
    /// `make -j` for icecc and distcc (default: 2 per host).
    pub remote_jobs: Option<usize>,
    /// `make -j` for meshcc (default: what `meshcc jobs` says).
    pub meshcc_jobs: Option<usize>,
}

/// Everything measured.
#[derive(Debug, Clone, Default)]
pub struct Results {
    /// Every timed build.
    pub runs: Vec<BuildRun>,
    /// Single-file and cold-start figures.
    pub single: Vec<Single>,
    /// Builds with a host cut off mid-build.
    pub cuts: Vec<CutRun>,
    /// What else the report should say (the agents' self-measured speeds, …).
    pub notes: Vec<String>,
    /// Profiles that could not be finished, and why: the runs before the failure are kept.
    pub errors: Vec<String>,
}

/// Runs the benchmark. `progress` gets a line for each step.
pub fn run(cfg: &BenchConfig, progress: &mut dyn FnMut(&str)) -> Result<Results, BenchError> {
    crate::lab::require_root()?;
    let mut wanted = vec!["make", "gcc", "g++"];
    if cfg.systems.contains(&SystemKind::Icecc) {
        wanted.push("icecc");
    }
    if cfg.systems.contains(&SystemKind::Distcc) {
        wanted.push("distcc");
    }
    if cfg
        .profiles
        .iter()
        .any(|p| p.delay_ms > 0 || p.jitter_ms > 0)
    {
        wanted.push("vde2");
    }
    packages::ensure(&wanted)?;
    let workloads = workload::resolve(&cfg.workloads, &cfg.scripts)?;
    let mut results = Results::default();
    for profile in &cfg.profiles {
        progress(&format!(
            "== profile {}: {} hosts x {} core, delay {} ms ± {} ms, bandwidth {}",
            profile.name,
            cfg.hosts,
            cfg.cpu,
            profile.delay_ms,
            profile.jitter_ms,
            profile
                .bandwidth_kbit
                .map_or("unlimited".to_owned(), |k| format!("{k} kbit/s"))
        ));
        let lab = Lab::up(LabConfig {
            delay_ms: profile.delay_ms,
            jitter_ms: profile.jitter_ms,
            bandwidth_kbit: profile.bandwidth_kbit,
            cpu: Some(cfg.cpu),
            ..LabConfig::new(&cfg.lab, cfg.hosts)
        })?;
        // Down on every path: Lab::up's value tears the lab down when dropped. A failure ends
        // this profile only; what was measured so far stays in the report.
        if let Err(e) = run_profile(cfg, profile, lab, &workloads, &mut results, progress) {
            progress(&format!("   profile {} stopped: {e}", profile.name));
            results
                .errors
                .push(format!("profile {}: {e}", profile.name));
        }
    }
    Ok(results)
}

fn run_profile(
    cfg: &BenchConfig,
    profile: &Profile,
    mut lab: Lab,
    workloads: &[Workload],
    results: &mut Results,
    progress: &mut dyn FnMut(&str),
) -> Result<(), BenchError> {
    let slots = cfg.cpu.ceil().max(1.0) as usize;
    let local_jobs = cfg.local_jobs.unwrap_or(slots);
    let remote_jobs = cfg.remote_jobs.unwrap_or(2 * cfg.hosts * slots);
    let has = |s: SystemKind| cfg.systems.contains(&s);
    let mut meshcc = if has(SystemKind::Meshcc) {
        progress("   starting meshcc agents");
        let mut m = Meshcc::start(&mut lab, &cfg.meshcc, &[])?;
        m.jobs_override = cfg.meshcc_jobs;
        let speeds = m.describe(&lab);
        progress(&format!("   meshcc agents: {speeds}"));
        results.notes.push(format!(
            "{}: meshcc agents at start: {speeds}",
            profile.name
        ));
        Some(m)
    } else {
        None
    };
    let mut icecc = if has(SystemKind::Icecc) {
        progress("   starting icecc-scheduler and iceccd (waiting for the scheduler to list them)");
        Some(Icecc::start(&lab, slots)?)
    } else {
        None
    };
    let distcc = if has(SystemKind::Distcc) {
        progress("   starting distccd");
        Some(Distcc::start(&lab, slots)?)
    } else {
        None
    };
    for w in workloads {
        let b = Builder {
            lab: &lab,
            shim: cfg.shim.clone(),
            work: cfg.work.join(profile.name),
            profile: profile.name.to_owned(),
        };
        b.reset_reference(w);
        let mut order = vec![SystemKind::Local];
        order.extend(
            cfg.systems
                .iter()
                .copied()
                .filter(|s| *s != SystemKind::Local),
        );
        // Warm-ups: toolchains packaged and on every worker, page cache hot.
        for &s in &order {
            if s == SystemKind::Local {
                continue;
            }
            progress(&format!("   {}: warm-up build of {} (untimed)", s, w.name));
            if s == SystemKind::Meshcc {
                if let Some(m) = &meshcc {
                    single::warm_meshcc(&b, m, w)?;
                }
            }
            let run = one_build(
                &b,
                w,
                s,
                WARM_UP,
                local_jobs,
                remote_jobs,
                &meshcc,
                &icecc,
                &distcc,
                None,
            )?;
            progress(&format!("      {:.1} s", run.wall));
        }
        for r in 0..cfg.runs {
            for &s in &order {
                let run = one_build(
                    &b,
                    w,
                    s,
                    r,
                    local_jobs,
                    remote_jobs,
                    &meshcc,
                    &icecc,
                    &distcc,
                    None,
                )?;
                let (rem, loc, fb) = run.counts();
                progress(&format!(
                    "   {} {} run {}: {:.1} s -j{} ({rem} remote, {loc} local, {fb} fallback; {}/{} objects identical)",
                    w.name, s, r + 1, run.wall, run.jobs_flag, run.identical, run.compared
                ));
                results.runs.push(run);
            }
        }
        if !cfg.cut {
            continue;
        }
        for &s in order.iter().filter(|s| **s != SystemKind::Local) {
            let walls: Vec<f64> = results
                .runs
                .iter()
                .filter(|r| r.profile == profile.name && r.workload == w.name && r.system == s)
                .map(|r| r.wall)
                .collect();
            let uncut = report::median(&walls);
            let cut = Cut {
                // Not host 0 (the submitter) and not the last (icecc's scheduler): a worker.
                host: if cfg.hosts >= 3 {
                    cfg.hosts - 2
                } else {
                    cfg.hosts - 1
                },
                at: Duration::from_secs_f64(uncut * CUT_AT),
                heal_after: CUT_FOR,
            };
            progress(&format!(
                "   {} {}: host {} cut off {:.1} s into the build",
                w.name,
                s,
                cut.host,
                cut.at.as_secs_f64()
            ));
            let run = one_build(
                &b,
                w,
                s,
                CUT_RUN,
                local_jobs,
                remote_jobs,
                &meshcc,
                &icecc,
                &distcc,
                Some(cut),
            )?;
            progress(&format!(
                "      {:.1} s against {uncut:.1} s uncut; {}/{} objects identical",
                run.wall, run.identical, run.compared
            ));
            results.cuts.push(CutRun { run, uncut, cut });
            // Every system gets its hosts back before the next measurement: meshcc's agents
            // find each other again; iceccd may keep a dead scheduler connection for minutes,
            // so it is restarted, and if the scheduler does not take it back (it may hold the
            // dead connection under the same name), icecc is started again from scratch.
            match s {
                SystemKind::Meshcc => meshcc.as_mut().expect("started").wait_peers(&lab)?,
                SystemKind::Icecc => {
                    let restarted = icecc
                        .as_mut()
                        .expect("started")
                        .restart_daemon(&lab, cut.host, slots, false);
                    if let Err(e) = restarted {
                        progress(&format!("      icecc: {e}; starting icecc again"));
                        icecc.take().expect("started").stop();
                        icecc = Some(Icecc::start(&lab, slots)?);
                    }
                }
                _ => {}
            }
        }
    }
    if let Some(w) = workloads.first() {
        if cfg.single_runs > 0 {
            progress(&format!(
                "   single-file overhead: {} x {} forced remote",
                cfg.single_runs, w.name
            ));
            results.single.extend(single::measure(
                cfg,
                profile.name,
                &mut lab,
                w,
                &mut meshcc,
                &mut icecc,
                &distcc,
                progress,
            )?);
        }
    }
    if let Some(m) = meshcc {
        drop(m);
        lab.stop_agents(None)?;
        results.notes.push(keep_agent_logs(
            &lab,
            &cfg.work.join("logs").join(profile.name),
        ));
    }
    if let Some(i) = icecc {
        i.stop();
    }
    if let Some(d) = distcc {
        d.stop();
    }
    lab.down()?;
    Ok(())
}

/// Copies every host's agent log out of the lab (which goes away with its directories) into
/// `dir`; says where, or why not.
fn keep_agent_logs(lab: &Lab, dir: &std::path::Path) -> String {
    let copy = || -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        for i in 0..lab.hosts() {
            let Ok(host) = lab.host_dir(i) else { continue };
            let log = host.join("agent.log");
            if log.exists() {
                std::fs::copy(&log, dir.join(format!("host{i}-agent.log")))?;
            }
        }
        Ok(())
    };
    match copy() {
        Ok(()) => format!("meshcc agent logs kept in {}", dir.display()),
        Err(e) => format!("meshcc agent logs not kept in {}: {e}", dir.display()),
    }
}

#[allow(clippy::too_many_arguments)]
fn one_build(
    b: &Builder<'_>,
    w: &Workload,
    system: SystemKind,
    run: usize,
    local_jobs: usize,
    remote_jobs: usize,
    meshcc: &Option<Meshcc>,
    icecc: &Option<Icecc>,
    distcc: &Option<Distcc>,
    cut: Option<Cut>,
) -> Result<BuildRun, BenchError> {
    match system {
        SystemKind::Local => {
            let setup = systems::BuildSetup {
                jobs: local_jobs,
                ..Default::default()
            };
            b.build(
                w,
                system,
                &setup,
                run,
                &|_| systems::Placement::local(systems::JobHow::Local),
                cut,
            )
        }
        SystemKind::Meshcc => {
            let m = meshcc.as_ref().expect("meshcc started");
            b.build(
                w,
                system,
                &m.setup(b.lab)?,
                run,
                &|j| m.classify(&j.log),
                cut,
            )
        }
        SystemKind::Icecc => {
            let i = icecc.as_ref().expect("icecc started");
            let offset = i.scheduler_log_len();
            // Placements come from the scheduler log after the build: classify in two steps.
            let mut built = b.build(
                w,
                system,
                &i.setup(b.lab, remote_jobs)?,
                run,
                &|_| systems::Placement::local(systems::JobHow::Local),
                cut,
            )?;
            let placements = i.placements(offset);
            let logs = shim::read_all(
                &b.work
                    .join(format!("jobs/{}-{}-{}-{run}", b.profile, w.name, system)),
            );
            for (job, rec) in built.jobs.iter_mut().zip(&logs) {
                let p = systems::icecc::classify(&placements, rec.file.output.as_deref(), &rec.log);
                job.how = p.how;
                job.host = p.host;
            }
            Ok(built)
        }
        SystemKind::Distcc => {
            let d = distcc.as_ref().expect("distcc started");
            b.build(
                w,
                system,
                &d.setup(remote_jobs),
                run,
                &|j| d.classify(&j.log),
                cut,
            )
        }
    }
}
