//! The search's outputs: the chosen subnet's footprint under every scheduler, and the files
//! (best_subnet.json, search.json, population.png: measured accuracy against peak SRAM and
//! flash with the limits drawn).

use super::search::SearchReport;
use crate::Result;
use crate::mcu::fast::Summary;
use crate::mcu::{self, Device, EvalOptions, Scheduler};
use crate::plot::{Chart, Series};
use crate::search::Limits;
use crate::search::evolution::EvoResult;
use serde::Serialize;
use std::path::Path;

/// The chosen subnet's footprint under one scheduler, and whether it fits the device.
#[derive(Clone, Debug, Serialize)]
pub struct SchedulerRow {
    pub scheduler: Scheduler,
    pub macs: u64,
    pub params: u64,
    /// The flash the scheduler's runtime needs (`mcu::Report::flash_bytes`).
    pub flash_bytes: u64,
    /// The SRAM the device gives its runtime (`mcu::Report::sram_bytes`: tinyengine the arena
    /// and the runtime's stack, tflm the arena's head and tail, analytic and patch the peak):
    /// the figure `fits` is judged on.
    pub sram_bytes: u64,
    /// The planner's peak (activations and scratch).
    pub peak_sram_bytes: u64,
    pub peak_layer: String,
    pub fits: bool,
}

/// `network`'s footprint under every scheduler, and whether it fits `device` (false without).
pub fn scheduler_rows(
    network: &mcu::Network,
    device: Option<&Device>,
) -> Result<Vec<SchedulerRow>> {
    Scheduler::ALL
        .iter()
        .map(|&s| {
            let r = mcu::evaluate(
                network,
                &EvalOptions {
                    scheduler: s,
                    ..EvalOptions::default()
                },
            )?;
            Ok(SchedulerRow {
                scheduler: s,
                macs: r.macs,
                params: r.params,
                flash_bytes: r.flash_bytes,
                sram_bytes: r.sram_bytes,
                peak_sram_bytes: r.peak_sram_bytes,
                fits: device.is_some_and(|d| d.fits(r.sram_bytes, r.flash_bytes)),
                peak_layer: r.peak_layer,
            })
        })
        .collect()
}

/// The files of the run in `run_dir` a search reads (its checkpoint, and the predictor and the
/// measured pairs where they exist), with their sizes and SHA-256.
pub(super) fn inputs(run_dir: &Path) -> Result<Vec<crate::io::Entry>> {
    let mut v = crate::train::checkpoint::input_entries(run_dir)?;
    for f in ["predictor.json", super::predictor::PAIRS_FILE] {
        let p = run_dir.join(f);
        if p.exists() {
            v.push(crate::io::file_entry(&p)?);
        }
    }
    Ok(v)
}

pub(super) fn write_outputs(
    out: &Path,
    report: &SearchReport,
    res: &EvoResult,
    measured: &[(Summary, f64)],
    limits: &Limits,
    inputs: Vec<crate::io::Entry>,
) -> Result<()> {
    let full = serde_json::json!({ "report": report, "population": &res.population, "history": &res.history });
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (
            "best_subnet.json".into(),
            serde_json::to_string_pretty(&report.subnet)
                .unwrap()
                .into_bytes(),
        ),
        (
            "search.json".into(),
            serde_json::to_string_pretty(&full).unwrap().into_bytes(),
        ),
    ];
    // Measured accuracy against peak SRAM and flash, the limits drawn.
    let chart = |x_label: String, x: &dyn Fn(&Summary) -> f64, limit: (f64, String)| {
        let mut series = vec![Series::points(
            "measured subnets",
            measured.iter().map(|(f, a)| (x(f), a * 100.0)).collect(),
        )];
        for r in &report.rows {
            series.push(Series::points(
                r.name,
                // The whole split, as the cloud.
                vec![(x(&r.footprint), r.split_top1 * 100.0)],
            ));
        }
        Chart {
            title: format!("validation top-1 ({})", limits.device.name),
            x_label,
            y_label: "validation top-1 % (whole split)".into(),
            series,
            vlines: vec![limit],
        }
    };
    let d = &limits.device;
    let png = crate::plot::png_bytes(&[
        chart(
            format!("peak SRAM (KiB, {})", limits.scheduler.name()),
            &|f| f.peak_sram_bytes as f64 / 1024.0,
            (d.sram_bytes as f64 / 1024.0, "SRAM".into()),
        ),
        chart(
            "flash (KiB)".into(),
            &|f| f.flash_bytes as f64 / 1024.0,
            (d.flash_bytes as f64 / 1024.0, "flash".into()),
        ),
    ])?;
    files.push(("population.png".into(), png));
    // Published whole (io::publish): a kill leaves the earlier search's three files or these.
    crate::io::publish_from(out, "search", &files, &[], inputs)
}
