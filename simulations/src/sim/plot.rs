//! `--plot FILE.png`: mean sojourn (relative to the omniscient scheduler) against gossip
//! staleness, one line per policy, one panel per mesh size and utilisation.
//!
//! plotters is built without its system-font backend (which would pull in fontconfig and
//! freetype); text is drawn with ab_glyph from a TrueType file found on the system or named by
//! `MESHCC_SIM_FONT`.

use super::report::Row;
use super::SimPolicy;
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Why a plot could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// No usable TrueType font.
    #[error("no TrueType font found (tried {tried:?}); set MESHCC_SIM_FONT to one")]
    NoFont {
        /// Paths looked at.
        tried: Vec<PathBuf>,
    },
    /// plotters failed while drawing or writing `path`.
    #[error("drawing {path}: {message}")]
    Draw {
        /// The PNG being written.
        path: PathBuf,
        /// plotters' error.
        message: String,
    },
    /// Nothing to plot.
    #[error("no rows with a numeric staleness to plot")]
    Empty,
}

const FONTS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

pub(crate) fn register_font() -> Result<(), PlotError> {
    static FONT: OnceLock<Result<(), Vec<PathBuf>>> = OnceLock::new();
    FONT.get_or_init(|| {
        let tried: Vec<PathBuf> = std::env::var_os("MESHCC_SIM_FONT")
            .map(PathBuf::from)
            .into_iter()
            .chain(FONTS.iter().map(PathBuf::from))
            .collect();
        for path in &tried {
            if let Ok(bytes) = std::fs::read(path) {
                // plotters keeps fonts for the life of the process.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return Ok(());
                }
            }
        }
        Err(tried)
    })
    .clone()
    .map_err(|tried| PlotError::NoFont { tried })
}

/// Draw `rows` into the PNG at `path`.
pub fn plot(path: &Path, rows: &[Row]) -> Result<(), PlotError> {
    register_font()?;
    let draw_err = |e: &dyn std::fmt::Display| PlotError::Draw {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let mut utils: Vec<f64> = rows.iter().map(|r| r.utilisation).collect();
    utils.sort_by(f64::total_cmp);
    utils.dedup();
    let mut sizes: Vec<usize> = rows.iter().map(|r| r.nodes).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let mut policies: Vec<&str> = Vec::new();
    for r in rows {
        if !policies.contains(&r.policy) {
            policies.push(r.policy);
        }
    }
    let stale: Vec<f64> = rows.iter().filter_map(|r| r.staleness).collect();
    let x_max = stale.iter().copied().fold(f64::NAN, f64::max);
    if utils.is_empty() || x_max.is_nan() {
        return Err(PlotError::Empty);
    }
    let x_max = x_max.max(1.0);
    let y_max = rows.iter().map(|r| r.rel_mean).fold(1.0, f64::max) * 1.2;

    let (w, h) = (520 * utils.len() as u32, 440 * sizes.len() as u32);
    let root = BitMapBackend::new(path, (w, h)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw_err(&e))?;
    let panels = root.split_evenly((sizes.len(), utils.len()));
    let cells = sizes
        .iter()
        .flat_map(|&n| utils.iter().map(move |&u| (n, u)));
    for (panel, (nodes, util)) in panels.iter().zip(cells) {
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!("{nodes} nodes, utilisation {util}"),
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..x_max, (0.9..y_max).log_scale())
            .map_err(|e| draw_err(&e))?;
        chart
            .configure_mesh()
            .x_desc("gossip period (mean job times)")
            .y_desc("mean sojourn / omniscient")
            .draw()
            .map_err(|e| draw_err(&e))?;
        for (i, &policy) in policies.iter().enumerate() {
            let mine = rows
                .iter()
                .filter(|r| r.nodes == nodes && r.utilisation == util && r.policy == policy);
            let gossip = SimPolicy::from_name(policy).is_none_or(SimPolicy::uses_gossip);
            let mut points: Vec<(f64, f64)> = if gossip {
                mine.filter_map(|r| Some((r.staleness?, r.rel_mean)))
                    .collect()
            } else {
                // Needs no gossip: one value, drawn across the whole range.
                mine.take(1)
                    .flat_map(|r| [(0.0, r.rel_mean), (x_max, r.rel_mean)])
                    .collect()
            };
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(|e| draw_err(&e))?
                .label(policy)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| draw_err(&e))?;
    }
    root.present().map_err(|e| draw_err(&e))?;
    Ok(())
}
