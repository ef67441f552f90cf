//! The benchmark's results: a summary row per (profile, workload, system), the single-file and
//! cold-start figures, the targets beside them, and CSV files of all of it.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use super::build::{BuildRun, Cut};
use super::systems::SystemKind;
use super::BenchError;

/// One line of the summary table: the runs of one system on one workload and profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Link profile.
    pub profile: String,
    /// Workload.
    pub workload: String,
    /// System.
    pub system: SystemKind,
    /// Number of timed runs.
    pub runs: usize,
    /// `-j` used.
    pub jobs_flag: usize,
    /// Median wall time, s.
    pub median: f64,
    /// Fastest run, s.
    pub min: f64,
    /// Slowest run, s.
    pub max: f64,
    /// Local median / this median.
    pub speedup: f64,
    /// Speed-up over the ideal (N hosts × quota against one host × quota = N).
    pub efficiency: f64,
    /// Mean job latency minus the local build's, ms.
    pub overhead_ms: f64,
    /// Extra CPU time per job against the local build, all hosts, ms.
    pub cpu_per_job_ms: f64,
    /// Share of all CPU time used on host 0 (the submitter).
    pub submitter_share: f64,
    /// Bytes on the wire per run (median), MB.
    pub wire_mb: f64,
    /// Jobs remote/local/fallback, summed over the runs.
    pub remote: usize,
    /// See `remote`.
    pub local: usize,
    /// See `remote`.
    pub fallback: usize,
    /// Objects identical to the local build's, over the runs.
    pub identical: usize,
    /// Objects compared.
    pub compared: usize,
}

/// A build with a worker cut off mid-build, beside the same system's uncut median.
#[derive(Debug, Clone, PartialEq)]
pub struct CutRun {
    /// The build.
    pub run: BuildRun,
    /// The median wall time of the same system's timed (uncut) runs, s.
    pub uncut: f64,
    /// What was cut, when.
    pub cut: Cut,
}

impl CutRun {
    /// Seconds the cut cost the build.
    pub fn cost(&self) -> f64 {
        self.run.wall - self.uncut
    }
}

/// The host-cut builds as a text table.
pub fn cut_table(rows: &[CutRun]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<7} {:<8} {:<7} {:>8} {:>8} {:>8} {:>8} {:>12} {:>9}",
        "profile",
        "workload",
        "system",
        "cut at s",
        "uncut s",
        "cut s",
        "cost s",
        "rem/loc/fall",
        "identical"
    );
    for c in rows {
        let (rem, loc, fb) = c.run.counts();
        let _ = writeln!(
            out,
            "{:<7} {:<8} {:<7} {:>8.1} {:>8.1} {:>8.1} {:>+8.1} {:>12} {:>9}",
            c.run.profile,
            c.run.workload,
            c.run.system.name(),
            c.cut.at.as_secs_f64(),
            c.uncut,
            c.run.wall,
            c.cost(),
            format!("{rem}/{loc}/{fb}"),
            format!("{}/{}", c.run.identical, c.run.compared)
        );
    }
    out
}

/// Single-file figures for one system: one translation unit, forced remote, warm.
#[derive(Debug, Clone, PartialEq)]
pub struct Single {
    /// Link profile.
    pub profile: String,
    /// System (`local` is the baseline: the compiler alone on host 0).
    pub system: SystemKind,
    /// Latencies of the runs, s.
    pub samples: Vec<f64>,
    /// Runs that really went remote.
    pub remote: usize,
    /// Cold start: the time until the first remote job was done, with no worker holding the
    /// toolchain, and how many compiles ran locally meanwhile.
    pub cold: Option<(f64, usize)>,
}

/// The median of `v` (0 for none).
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

/// Summarises `runs`: one row per (profile, workload, system), in the order first seen.
pub fn summarise(runs: &[BuildRun], hosts: usize) -> Vec<Summary> {
    let mut keys: Vec<(String, String, SystemKind)> = Vec::new();
    for r in runs {
        let key = (r.profile.clone(), r.workload.clone(), r.system);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let group = |p: &str, w: &str, s: SystemKind| -> Vec<&BuildRun> {
        runs.iter()
            .filter(|r| r.profile == p && r.workload == w && r.system == s)
            .collect()
    };
    keys.iter()
        .map(|(p, w, s)| {
            let rs = group(p, w, *s);
            let local = group(p, w, SystemKind::Local);
            let walls: Vec<f64> = rs.iter().map(|r| r.wall).collect();
            let med = median(&walls);
            let local_med = median(&local.iter().map(|r| r.wall).collect::<Vec<_>>());
            let speedup = if med > 0.0 && local_med > 0.0 {
                local_med / med
            } else {
                0.0
            };
            let latency = |rs: &[&BuildRun]| {
                mean(
                    rs.iter()
                        .flat_map(|r| r.jobs.iter().map(|j| j.end - j.start)),
                )
            };
            let cpu_per_job = |rs: &[&BuildRun]| {
                mean(
                    rs.iter()
                        .map(|r| r.cpu.iter().sum::<f64>() / r.jobs.len().max(1) as f64),
                )
            };
            let total_cpu: f64 = rs.iter().map(|r| r.cpu.iter().sum::<f64>()).sum();
            let host0_cpu: f64 = rs
                .iter()
                .map(|r| r.cpu.first().copied().unwrap_or(0.0))
                .sum();
            let (mut remote, mut loc, mut fallback) = (0, 0, 0);
            for r in &rs {
                let (a, b, c) = r.counts();
                remote += a;
                loc += b;
                fallback += c;
            }
            Summary {
                profile: p.clone(),
                workload: w.clone(),
                system: *s,
                runs: rs.len(),
                jobs_flag: rs.first().map_or(0, |r| r.jobs_flag),
                median: med,
                min: walls.iter().copied().fold(f64::INFINITY, f64::min),
                max: walls.iter().copied().fold(0.0, f64::max),
                speedup,
                efficiency: speedup / hosts.max(1) as f64,
                overhead_ms: if local.is_empty() {
                    0.0
                } else {
                    (latency(&rs) - latency(&local)) * 1e3
                },
                cpu_per_job_ms: if local.is_empty() {
                    0.0
                } else {
                    (cpu_per_job(&rs) - cpu_per_job(&local)) * 1e3
                },
                submitter_share: if total_cpu > 0.0 {
                    host0_cpu / total_cpu
                } else {
                    0.0
                },
                wire_mb: median(
                    &rs.iter()
                        .map(|r| r.wire_bytes as f64 / 1e6)
                        .collect::<Vec<_>>(),
                ),
                remote,
                local: loc,
                fallback,
                identical: rs.iter().map(|r| r.identical).sum(),
                compared: rs.iter().map(|r| r.compared).sum(),
            }
        })
        .collect()
}

/// The summary as a text table.
pub fn table(rows: &[Summary]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<7} {:<8} {:<7} {:>3} {:>17} {:>6} {:>5} {:>8} {:>8} {:>5} {:>8} {:>14} {:>9}",
        "profile",
        "workload",
        "system",
        "-j",
        "wall s (min-max)",
        "speed",
        "eff",
        "ovh/job",
        "+cpu/job",
        "h0cpu",
        "wire MB",
        "rem/loc/fall",
        "identical"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<7} {:<8} {:<7} {:>3} {:>6.1} ({:>4.1}-{:>4.1}) {:>5.2}x {:>4.0}% {:>6.0}ms {:>6.0}ms {:>4.0}% {:>8.1} {:>14} {:>9}",
            r.profile,
            r.workload,
            r.system.name(),
            r.jobs_flag,
            r.median,
            r.min,
            r.max,
            r.speedup,
            r.efficiency * 100.0,
            r.overhead_ms,
            r.cpu_per_job_ms,
            r.submitter_share * 100.0,
            r.wire_mb,
            format!("{}/{}/{}", r.remote, r.local, r.fallback),
            format!("{}/{}", r.identical, r.compared),
        );
    }
    out
}

/// The single-file and cold-start figures as a text table.
pub fn single_table(rows: &[Single]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<7} {:<7} {:>4} {:>10} {:>17} {:>10} {:>7} {:>16}",
        "profile", "system", "runs", "median ms", "min-max ms", "overhead", "remote", "cold start"
    );
    for r in rows {
        let base = rows
            .iter()
            .find(|b| b.profile == r.profile && b.system == SystemKind::Local)
            .map(|b| median(&b.samples));
        let med = median(&r.samples);
        let min = r.samples.iter().copied().fold(f64::INFINITY, f64::min);
        let max = r.samples.iter().copied().fold(0.0, f64::max);
        let overhead = match (r.system, base) {
            (SystemKind::Local, _) | (_, None) => "-".to_owned(),
            (_, Some(b)) => format!("{:+.0}ms", (med - b) * 1e3),
        };
        let cold = match r.cold {
            Some((s, local)) => format!("{:.2}s ({local} local)", s),
            None => "-".to_owned(),
        };
        let _ = writeln!(
            out,
            "{:<7} {:<7} {:>4} {:>10.0} {:>8.0}-{:<8.0} {:>10} {:>7} {:>16}",
            r.profile,
            r.system.name(),
            r.samples.len(),
            med * 1e3,
            min * 1e3,
            max * 1e3,
            overhead,
            format!("{}/{}", r.remote, r.samples.len()),
            cold
        );
    }
    out
}

/// The targets, each with what this run measured (goals, not assertions).
pub fn targets(rows: &[Summary], single: &[Single], cuts: &[CutRun], hosts: usize) -> String {
    let mut out = String::new();
    let find = |p: &str, s: SystemKind| -> Vec<&Summary> {
        rows.iter()
            .filter(|r| r.profile == p && r.system == s)
            .collect()
    };
    let _ = writeln!(out, "Targets (issue 6; goals, not assertions):");
    for m in find("lan", SystemKind::Meshcc) {
        let others: Vec<String> = [SystemKind::Icecc, SystemKind::Distcc]
            .iter()
            .filter_map(|s| {
                rows.iter()
                    .find(|r| r.profile == "lan" && r.workload == m.workload && r.system == *s)
                    .map(|r| format!("{} {:.0}%", s, r.efficiency * 100.0))
            })
            .collect();
        let ahead = rows
            .iter()
            .filter(|r| r.profile == "lan" && r.workload == m.workload)
            .filter(|r| matches!(r.system, SystemKind::Icecc | SystemKind::Distcc))
            .all(|r| m.median < r.median);
        let _ = writeln!(
            out,
            "  - {hosts} hosts on lan, {}: meshcc >= 90% of ideal and ahead of icecc and distcc: meshcc {:.0}% [{}] {}; {}",
            m.workload,
            m.efficiency * 100.0,
            others.join(", "),
            if ahead { "ahead" } else { "NOT ahead" },
            verdict(m.efficiency >= 0.9 && ahead)
        );
    }
    let ovh = |p: &str, s: SystemKind| -> Option<f64> {
        let base = single
            .iter()
            .find(|r| r.profile == p && r.system == SystemKind::Local)?;
        let r = single.iter().find(|r| r.profile == p && r.system == s)?;
        Some((median(&r.samples) - median(&base.samples)) * 1e3)
    };
    let profiles: Vec<&str> = {
        let mut v: Vec<&str> = single.iter().map(|r| r.profile.as_str()).collect();
        v.dedup();
        v
    };
    for p in &profiles {
        if let (Some(m), Some(i)) = (ovh(p, SystemKind::Meshcc), ovh(p, SystemKind::Icecc)) {
            let _ = writeln!(
                out,
                "  - per-job overhead <= half of icecc's ({p}, one TU forced remote): meshcc {m:+.0} ms, icecc {i:+.0} ms; {}",
                verdict(m <= i / 2.0)
            );
        }
    }
    for p in ["wifi", "office"] {
        for m in find(p, SystemKind::Meshcc) {
            let _ = writeln!(
                out,
                "  - {p}, {}: meshcc never slower than local: {:.2}x; {}",
                m.workload,
                m.speedup,
                verdict(m.speedup >= 1.0)
            );
        }
    }
    for p in &profiles {
        let cold = |s: SystemKind| {
            single
                .iter()
                .find(|r| r.profile == *p && r.system == s)
                .and_then(|r| r.cold)
                .map(|c| c.0)
        };
        if let (Some(m), Some(i)) = (cold(SystemKind::Meshcc), cold(SystemKind::Icecc)) {
            let _ = writeln!(
                out,
                "  - cold start ({p}): first remote job done in <= 1/3 of icecc's: meshcc {m:.2} s, icecc {i:.2} s; {}",
                verdict(m <= i / 3.0)
            );
        }
    }
    for m in cuts.iter().filter(|c| c.run.system == SystemKind::Meshcc) {
        let others: Vec<String> = cuts
            .iter()
            .filter(|c| c.run.profile == m.run.profile && c.run.workload == m.run.workload)
            .filter(|c| c.run.system != SystemKind::Meshcc)
            .map(|c| format!("{} {:+.1} s", c.run.system, c.cost()))
            .collect();
        let _ = writeln!(
            out,
            "  - {}, {}: a host cut off mid-build costs <= 2 s: meshcc {:+.1} s [{}]; {}",
            m.run.profile,
            m.run.workload,
            m.cost(),
            others.join(", "),
            verdict(m.cost() <= 2.0)
        );
    }
    if cuts.is_empty() {
        let _ = writeln!(
            out,
            "  - a host cut off mid-build costs <= 2 s: not measured (--no-cut)"
        );
    }
    out
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "not met"
    }
}

/// Writes `runs.csv` (one line per build), `summary.csv`, `single.csv`, `cuts.csv` and
/// `jobs.csv` (every job of every timed build: the Gantt chart's data) into `dir`.
pub fn write_csv(
    dir: &Path,
    runs: &[BuildRun],
    rows: &[Summary],
    single: &[Single],
    cuts: &[CutRun],
) -> Result<(), BenchError> {
    let mut s = String::from("profile,workload,system,run,jobs_flag,wall_s,cpu_s_total,cpu_s_host0,wire_bytes,remote,local,fallback,identical,compared\n");
    for r in runs {
        let (a, b, c) = r.counts();
        let _ = writeln!(
            s,
            "{},{},{},{},{},{:.3},{:.3},{:.3},{},{a},{b},{c},{},{}",
            r.profile,
            r.workload,
            r.system,
            r.run,
            r.jobs_flag,
            r.wall,
            r.cpu.iter().sum::<f64>(),
            r.cpu.first().copied().unwrap_or(0.0),
            r.wire_bytes,
            r.identical,
            r.compared
        );
    }
    write(&dir.join("runs.csv"), &s)?;

    let mut s = String::from("profile,workload,system,runs,jobs_flag,median_s,min_s,max_s,speedup,efficiency,overhead_ms,cpu_per_job_ms,submitter_share,wire_mb,remote,local,fallback,identical,compared\n");
    for r in rows {
        let _ =
            writeln!(
            s,
            "{},{},{},{},{},{:.3},{:.3},{:.3},{:.3},{:.3},{:.1},{:.1},{:.3},{:.3},{},{},{},{},{}",
            r.profile, r.workload, r.system, r.runs, r.jobs_flag, r.median, r.min, r.max, r.speedup,
            r.efficiency, r.overhead_ms, r.cpu_per_job_ms, r.submitter_share, r.wire_mb, r.remote,
            r.local, r.fallback, r.identical, r.compared
        );
    }
    write(&dir.join("summary.csv"), &s)?;

    let mut s = String::from(
        "profile,system,runs,remote,median_ms,min_ms,max_ms,cold_start_s,cold_local_jobs\n",
    );
    for r in single {
        let _ = writeln!(
            s,
            "{},{},{},{},{:.1},{:.1},{:.1},{},{}",
            r.profile,
            r.system,
            r.samples.len(),
            r.remote,
            median(&r.samples) * 1e3,
            r.samples.iter().copied().fold(f64::INFINITY, f64::min) * 1e3,
            r.samples.iter().copied().fold(0.0, f64::max) * 1e3,
            r.cold.map_or(String::new(), |c| format!("{:.3}", c.0)),
            r.cold.map_or(String::new(), |c| c.1.to_string()),
        );
    }
    write(&dir.join("single.csv"), &s)?;

    let mut s = String::from("profile,workload,system,cut_host,cut_at_s,uncut_s,wall_s,cost_s,remote,local,fallback,identical,compared\n");
    for c in cuts {
        let (a, b, f) = c.run.counts();
        let _ = writeln!(
            s,
            "{},{},{},{},{:.3},{:.3},{:.3},{:.3},{a},{b},{f},{},{}",
            c.run.profile,
            c.run.workload,
            c.run.system,
            c.cut.host,
            c.cut.at.as_secs_f64(),
            c.uncut,
            c.run.wall,
            c.cost(),
            c.run.identical,
            c.run.compared
        );
    }
    write(&dir.join("cuts.csv"), &s)?;

    let mut s = String::from("profile,workload,system,run,output,how,host,start_s,end_s\n");
    for r in runs {
        for j in &r.jobs {
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{},{:.3},{:.3}",
                r.profile,
                r.workload,
                r.system,
                r.run,
                j.output,
                j.how.name(),
                j.host.map_or(String::new(), |h| h.to_string()),
                j.start,
                j.end
            );
        }
    }
    write(&dir.join("jobs.csv"), &s)
}

fn write(path: &Path, text: &str) -> Result<(), BenchError> {
    fs::write(path, text).map_err(|e| BenchError::io("write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::build::Job;
    use crate::bench::systems::JobHow;

    fn run(system: SystemKind, wall: f64, latency: f64, how: JobHow) -> BuildRun {
        BuildRun {
            profile: "lan".into(),
            workload: "lua".into(),
            system,
            run: 0,
            jobs_flag: 4,
            wall,
            cpu: vec![wall * 0.5, 1.0, 1.0, 1.0],
            wire_bytes: 2_000_000,
            jobs: (0..4)
                .map(|i| Job {
                    start: i as f64,
                    end: i as f64 + latency,
                    output: format!("{i}.o"),
                    how,
                    host: Some(i),
                })
                .collect(),
            identical: 4,
            compared: 4,
        }
    }

    #[test]
    fn summary_computes_speedup_efficiency_and_overhead_against_local() {
        let runs = vec![
            run(SystemKind::Local, 40.0, 1.0, JobHow::Local),
            run(SystemKind::Local, 44.0, 1.0, JobHow::Local),
            run(SystemKind::Meshcc, 12.0, 1.05, JobHow::Remote),
            run(SystemKind::Meshcc, 10.0, 1.05, JobHow::Remote),
            run(SystemKind::Meshcc, 11.0, 1.05, JobHow::Remote),
        ];
        let rows = summarise(&runs, 4);
        assert_eq!(rows.len(), 2);
        let m = &rows[1];
        assert_eq!(m.system, SystemKind::Meshcc);
        assert_eq!((m.median, m.min, m.max), (11.0, 10.0, 12.0));
        assert!((m.speedup - 42.0 / 11.0).abs() < 1e-9);
        assert!((m.efficiency - 42.0 / 11.0 / 4.0).abs() < 1e-9);
        assert!((m.overhead_ms - 50.0).abs() < 1e-6);
        assert_eq!((m.remote, m.local, m.fallback), (12, 0, 0));
        assert_eq!((m.identical, m.compared), (12, 12));
        let text = table(&rows);
        assert!(text.contains("meshcc"), "{text}");
        assert!(text.contains("3.82x"), "{text}");
        let t = targets(&rows, &[], &[], 4);
        assert!(t.contains("meshcc 95%"), "{t}");
    }

    #[test]
    fn a_cut_costs_its_wall_time_over_the_uncut_median() {
        let cut = Cut {
            host: 2,
            at: std::time::Duration::from_secs(3),
            heal_after: std::time::Duration::from_secs(30),
        };
        let cuts = vec![
            CutRun {
                run: run(SystemKind::Meshcc, 12.5, 1.0, JobHow::Remote),
                uncut: 11.0,
                cut,
            },
            CutRun {
                run: run(SystemKind::Icecc, 25.0, 1.0, JobHow::Remote),
                uncut: 10.0,
                cut,
            },
        ];
        let text = cut_table(&cuts);
        assert!(text.contains("+1.5") && text.contains("+15.0"), "{text}");
        let t = targets(&[], &[], &cuts, 4);
        assert!(t.contains("meshcc +1.5 s [icecc +15.0 s]; met"), "{t}");
    }

    #[test]
    fn csv_files_have_a_line_per_run_row_and_job() {
        let dir = tempfile::tempdir().unwrap();
        let runs = vec![
            run(SystemKind::Local, 40.0, 1.0, JobHow::Local),
            run(SystemKind::Icecc, 15.0, 1.2, JobHow::Remote),
        ];
        let rows = summarise(&runs, 4);
        let single = vec![
            Single {
                profile: "lan".into(),
                system: SystemKind::Local,
                samples: vec![1.0, 1.1, 0.9],
                remote: 0,
                cold: None,
            },
            Single {
                profile: "lan".into(),
                system: SystemKind::Icecc,
                samples: vec![1.2],
                remote: 1,
                cold: Some((4.6, 0)),
            },
        ];
        write_csv(dir.path(), &runs, &rows, &single, &[]).unwrap();
        let lines = |f: &str| {
            fs::read_to_string(dir.path().join(f))
                .unwrap()
                .lines()
                .count()
        };
        assert_eq!(lines("runs.csv"), 3);
        assert_eq!(lines("summary.csv"), 3);
        assert_eq!(lines("single.csv"), 3);
        assert_eq!(lines("jobs.csv"), 9);
        let s = single_table(&single);
        assert!(s.contains("+200ms"), "{s}");
        assert!(s.contains("4.60s"), "{s}");
    }
}
