//! One translation unit, compiled again and again on host 0: forced remote through each system
//! with a warm toolchain (the per-job overhead against the compiler alone), and the cold start
//! (no worker holds the toolchain yet: how long until the first remote job is done).
//!
//! Forcing remote: meshcc's agent on host 0 gets `--slots 0`; icecc's daemon on host 0 gets
//! `-m 0` and the client `ICECC_PREFERRED_HOST=h1`; distcc's `DISTCC_HOSTS` names host 1 only.

use std::fs;
use std::time::{Duration, Instant};

use super::build::Builder;
use super::report::Single;
use super::systems::{BuildSetup, Distcc, Icecc, JobHow, Meshcc, SystemKind};
use super::workload::Workload;
use super::{BenchConfig, BenchError};
use crate::lab::Lab;

/// Compiles the sample until meshcc sends it away (its first compiles of a compiler run locally
/// while the agent packages the toolchain), at most a minute.
pub fn warm_meshcc(b: &Builder<'_>, m: &Meshcc, w: &Workload) -> Result<(), BenchError> {
    let dir = b.work.join("single");
    fs::create_dir_all(&dir).map_err(|e| BenchError::io("create", &dir, e))?;
    let setup = m.setup(b.lab)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let (_, log) = b.compile_once(w, &setup, &dir, &dir.join("warm.log"))?;
        if m.classify(&log).how == JobHow::Remote {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    Ok(())
}

fn samples(
    b: &Builder<'_>,
    w: &Workload,
    setup: &BuildSetup,
    runs: usize,
    warm: usize,
    is_remote: &dyn Fn(&str) -> bool,
) -> Result<(Vec<f64>, usize), BenchError> {
    let dir = b.work.join("single");
    fs::create_dir_all(&dir).map_err(|e| BenchError::io("create", &dir, e))?;
    let log = dir.join("job.log");
    for _ in 0..warm {
        b.compile_once(w, setup, &dir, &log)?;
    }
    let mut times = Vec::new();
    let mut remote = 0;
    for _ in 0..runs {
        let (secs, text) = b.compile_once(w, setup, &dir, &log)?;
        times.push(secs);
        remote += usize::from(is_remote(&text));
    }
    Ok((times, remote))
}

/// The single-file and cold-start measurements for every system that runs.
#[allow(clippy::too_many_arguments)]
pub fn measure(
    cfg: &BenchConfig,
    profile: &str,
    lab: &mut Lab,
    w: &Workload,
    meshcc: &mut Option<Meshcc>,
    icecc: &mut Option<Icecc>,
    distcc: &Option<Distcc>,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<Single>, BenchError> {
    let runs = cfg.single_runs;
    let work = cfg.work.join(profile);
    let mut out = Vec::new();
    let row = |system, (samples, remote): (Vec<f64>, usize)| Single {
        profile: profile.to_owned(),
        system,
        samples,
        remote,
        cold: None,
    };
    {
        let b = builder(lab, cfg, profile);
        out.push(row(
            SystemKind::Local,
            samples(&b, w, &BuildSetup::default(), runs, 2, &|_| false)?,
        ));
        progress(&format!(
            "      local: {:.0} ms",
            super::report::median(&out[0].samples) * 1e3
        ));
    }
    if let Some(m) = meshcc.as_mut() {
        m.restart(lab, &["--slots", "0"], false)?;
        let b = builder(lab, cfg, profile);
        warm_meshcc(&b, m, w)?;
        let setup = m.setup(lab)?;
        let r = samples(&b, w, &setup, runs, 3, &|log| {
            m.classify(log).how == JobHow::Remote
        })?;
        out.push(row(SystemKind::Meshcc, r));
        progress(&format!(
            "      meshcc: {:.0} ms",
            super::report::median(&out.last().unwrap().samples) * 1e3
        ));
    }
    if let Some(i) = icecc.as_mut() {
        i.restart_daemon(lab, 0, 0, false)?;
        let b = builder(lab, cfg, profile);
        let setup = i.setup_forced(lab, 1)?;
        let offset = i.scheduler_log_len();
        let (times, _) = samples(&b, w, &setup, runs, 3, &|_| false)?;
        // The scheduler's log since `offset` also holds the three warm-up compiles.
        let remote = i
            .remote_jobs_since(offset)
            .saturating_sub(3)
            .min(times.len());
        out.push(row(SystemKind::Icecc, (times, remote)));
        progress(&format!(
            "      icecc: {:.0} ms",
            super::report::median(&out.last().unwrap().samples) * 1e3
        ));
    }
    if let Some(d) = distcc {
        let b = builder(lab, cfg, profile);
        let r = samples(&b, w, &d.setup_forced(1), runs, 2, &|log| {
            d.classify(log).how == JobHow::Remote
        })?;
        out.push(row(SystemKind::Distcc, r));
        progress(&format!(
            "      distcc: {:.0} ms",
            super::report::median(&out.last().unwrap().samples) * 1e3
        ));
    }
    if !cfg.cold {
        return Ok(out);
    }
    let dir = work.join("single");
    if let Some(m) = meshcc.as_mut() {
        progress("   cold start: meshcc (agents restarted with empty stores)");
        m.restart(lab, &["--slots", "0"], true)?;
        let b = builder(lab, cfg, profile);
        let setup = m.setup(lab)?;
        let started = Instant::now();
        let mut local = 0;
        let mut done = None;
        while started.elapsed() < Duration::from_secs(120) {
            let (_, log) = b.compile_once(w, &setup, &dir, &dir.join("cold.log"))?;
            if m.classify(&log).how == JobHow::Remote {
                done = Some(started.elapsed().as_secs_f64());
                break;
            }
            local += 1;
        }
        if let Some(row) = out.iter_mut().find(|r| r.system == SystemKind::Meshcc) {
            row.cold = done.map(|s| (s, local));
        }
        progress(&format!("      {done:?} s, {local} local compiles before"));
    }
    if let Some(i) = icecc.as_mut() {
        progress("   cold start: icecc (daemons restarted with empty environment directories)");
        i.restart_all_fresh(lab, 0)?;
        let b = builder(lab, cfg, profile);
        let setup = i.setup_forced(lab, 1)?;
        let offset = i.scheduler_log_len();
        let (secs, _) = b.compile_once(w, &setup, &dir, &dir.join("cold.log"))?;
        let went = i.remote_jobs_since(offset) > 0;
        if let Some(row) = out.iter_mut().find(|r| r.system == SystemKind::Icecc) {
            row.cold = Some((secs, usize::from(!went)));
        }
        progress(&format!("      {secs:.2} s (remote: {went})"));
    }
    Ok(out)
}

fn builder<'a>(lab: &'a Lab, cfg: &BenchConfig, profile: &str) -> Builder<'a> {
    Builder {
        lab,
        shim: cfg.shim.clone(),
        work: cfg.work.join(profile),
        profile: profile.to_owned(),
    }
}
