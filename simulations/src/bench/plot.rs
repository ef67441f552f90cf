//! The benchmark's picture, one PNG per link profile: a Gantt chart per system of one build
//! (which host ran which job when, what icemon shows for a finished build; each host's jobs
//! spread over as many lanes as ran at once there; blue remote, green local, red fallback).
//! A bar is the job as the submitter saw it, from the wrapper's start to its end: for icecc and
//! distcc that includes waiting for a slot on the chosen host, so a one-slot host can show
//! several lanes. Below, the median wall time of every system on every workload side by side,
//! min–max as whiskers.

use std::path::Path;

use plotters::prelude::*;

use super::build::BuildRun;
use super::report::Summary;
use super::systems::{JobHow, SystemKind};
use super::BenchError;

const REMOTE: RGBColor = RGBColor(52, 101, 164);
const LOCAL: RGBColor = RGBColor(78, 154, 6);
const FALLBACK: RGBColor = RGBColor(204, 0, 0);

/// Lanes of a Gantt panel: `(host, lane)` for every job (in order), and how many lanes each
/// host needed. Jobs with an unknown host go to host 0.
pub fn lanes(run: &BuildRun, hosts: usize) -> (Vec<(usize, usize)>, Vec<usize>) {
    let mut lane_ends: Vec<Vec<f64>> = vec![Vec::new(); hosts.max(1)];
    let mut order: Vec<usize> = (0..run.jobs.len()).collect();
    order.sort_by(|&a, &b| run.jobs[a].start.total_cmp(&run.jobs[b].start));
    let mut placed = vec![(0, 0); run.jobs.len()];
    for i in order {
        let j = &run.jobs[i];
        let host = j.host.unwrap_or(0).min(hosts.max(1) - 1);
        let ends = &mut lane_ends[host];
        let lane = match ends.iter().position(|&e| e <= j.start) {
            Some(l) => l,
            None => {
                ends.push(0.0);
                ends.len() - 1
            }
        };
        ends[lane] = j.end;
        placed[i] = (host, lane);
    }
    (placed, lane_ends.iter().map(|l| l.len().max(1)).collect())
}

/// Draws `path` for one profile: Gantt panels of `gantt` (one build per system), bars of
/// `rows`.
pub fn draw(
    path: &Path,
    profile: &str,
    hosts: usize,
    gantt: &[&BuildRun],
    rows: &[&Summary],
) -> Result<(), BenchError> {
    crate::sim::plot::register_font().map_err(|e| BenchError::Report {
        path: path.to_owned(),
        detail: e.to_string(),
    })?;
    let err = |e: &dyn std::fmt::Display| BenchError::Report {
        path: path.to_owned(),
        detail: e.to_string(),
    };
    let panel_h = 90 + 26 * hosts as u32 * 2;
    let bars_h = 420;
    let (w, h) = (1400u32, panel_h * gantt.len() as u32 + bars_h);
    let root = BitMapBackend::new(path, (w, h)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (top, bottom) = root.split_vertically(panel_h * gantt.len() as u32);
    let x_max = gantt
        .iter()
        .flat_map(|r| r.jobs.iter().map(|j| j.end))
        .fold(1.0, f64::max)
        * 1.02;
    let panels = if gantt.is_empty() {
        Vec::new()
    } else {
        top.split_evenly((gantt.len(), 1))
    };
    for (panel, run) in panels.iter().zip(gantt) {
        let (placed, per_host) = lanes(run, hosts);
        let offsets: Vec<usize> = per_host
            .iter()
            .scan(0, |acc, n| {
                let o = *acc;
                *acc += n;
                Some(o)
            })
            .collect();
        let total: usize = per_host.iter().sum();
        let (rem, loc, fb) = run.counts();
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!(
                    "{profile} / {} / {}: run {}, {:.1} s wall, -j{} — {rem} remote, {loc} local, {fb} fallback",
                    run.workload, run.system, run.run + 1, run.wall, run.jobs_flag
                ),
                ("sans-serif", 18),
            )
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x_max, 0.0..total as f64)
            .map_err(|e| err(&e))?;
        // A label at each host's lowest lane; the other lanes stay unlabelled.
        let label = |y: &f64| {
            let lane = y.round() as usize;
            match offsets.iter().position(|&o| o == lane) {
                Some(h) if (y - lane as f64).abs() < 1e-6 && lane < total => format!("host {h}"),
                _ => String::new(),
            }
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(total + 1)
            .y_label_formatter(&label)
            .x_desc("seconds since the build started")
            .draw()
            .map_err(|e| err(&e))?;
        chart
            .draw_series(offsets.iter().skip(1).map(|&o| {
                PathElement::new(vec![(0.0, o as f64), (x_max, o as f64)], BLACK.mix(0.3))
            }))
            .map_err(|e| err(&e))?;
        chart
            .draw_series(run.jobs.iter().zip(&placed).map(|(j, &(host, lane))| {
                let y = (offsets[host] + lane) as f64;
                let color = match j.how {
                    JobHow::Remote => REMOTE,
                    JobHow::Local => LOCAL,
                    JobHow::Fallback => FALLBACK,
                };
                Rectangle::new(
                    [(j.start, y + 0.1), (j.end.max(j.start + 0.01), y + 0.9)],
                    color.filled(),
                )
            }))
            .map_err(|e| err(&e))?;
    }
    draw_bars(&bottom, profile, rows).map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

fn draw_bars(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    profile: &str,
    rows: &[&Summary],
) -> Result<(), Box<dyn std::error::Error>> {
    let mut workloads: Vec<&str> = Vec::new();
    for r in rows {
        if !workloads.contains(&r.workload.as_str()) {
            workloads.push(&r.workload);
        }
    }
    let systems = SystemKind::ALL;
    let y_max = rows.iter().map(|r| r.max).fold(1.0, f64::max) * 1.15;
    let groups = workloads.len().max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("{profile}: median wall time per system (whiskers: min–max), with speed-up over local"),
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..groups, 0.0..y_max)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc("seconds")
        .draw()?;
    let width = 0.8 / systems.len() as f64;
    for (g, w) in workloads.iter().enumerate() {
        chart.draw_series(std::iter::once(Text::new(
            w.to_string(),
            (g as f64 + 0.45, y_max * 0.97),
            ("sans-serif", 16),
        )))?;
        for (k, s) in systems.iter().enumerate() {
            let Some(r) = rows.iter().find(|r| r.workload == *w && r.system == *s) else {
                continue;
            };
            let x0 = g as f64 + 0.1 + k as f64 * width;
            let color = Palette99::pick(k).to_rgba();
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x0, 0.0), (x0 + width * 0.9, r.median)],
                color.filled(),
            )))?;
            let mid = x0 + width * 0.45;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(mid, r.min), (mid, r.max)],
                BLACK.stroke_width(2),
            )))?;
            chart.draw_series(std::iter::once(Text::new(
                format!("{} {:.1}s {:.2}x", s.name(), r.median, r.speedup),
                (x0, r.max + y_max * 0.03),
                ("sans-serif", 13),
            )))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::build::Job;

    fn job(start: f64, end: f64, host: usize) -> Job {
        Job {
            start,
            end,
            output: String::new(),
            how: JobHow::Remote,
            host: Some(host),
        }
    }

    #[test]
    fn overlapping_jobs_on_one_host_get_separate_lanes() {
        let run = BuildRun {
            profile: "lan".into(),
            workload: "lua".into(),
            system: SystemKind::Meshcc,
            run: 0,
            jobs_flag: 4,
            wall: 3.0,
            cpu: vec![1.0; 2],
            wire_bytes: 0,
            jobs: vec![
                job(0.0, 2.0, 1),
                job(1.0, 3.0, 1),
                job(2.0, 3.0, 1),
                job(0.0, 1.0, 0),
            ],
            identical: 0,
            compared: 0,
        };
        let (placed, per_host) = lanes(&run, 2);
        assert_eq!(placed, vec![(1, 0), (1, 1), (1, 0), (0, 0)]);
        assert_eq!(per_host, vec![1, 2]);
        let dir = tempfile::tempdir().unwrap();
        let rows = crate::bench::report::summarise(std::slice::from_ref(&run), 2);
        let png = dir.path().join("bench.png");
        match draw(&png, "lan", 2, &[&run], &rows.iter().collect::<Vec<_>>()) {
            Ok(()) => assert!(std::fs::metadata(&png).unwrap().len() > 1000),
            // No TrueType font on this machine: nothing can be drawn; the lanes were checked.
            Err(BenchError::Report { detail, .. }) if detail.contains("font") => {
                eprintln!("skipped drawing: {detail}")
            }
            Err(e) => panic!("{e}"),
        }
    }
}
