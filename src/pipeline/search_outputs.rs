//! The search's report (the chosen subnet, the rows of the search and its baselines, the
//! footprint under every scheduler) and the files it is written to (best_subnet.json,
//! search.json, population.png: measured accuracy against peak SRAM and flash with the limits
//! drawn). The search (search.rs) produces it; nothing here runs a search.

use crate::Result;
use crate::arch::SubnetConfig;
use crate::chart::{Chart, Series};
use crate::mcu::fast::Summary;
use crate::mcu::{self, Device, EvalOptions, Scheduler};
use crate::observer::Observer;
use crate::search::Limits;
use crate::search::choice::Prior;
use crate::search::evolution::EvoResult;
use crate::search::fit_report::FitReport;
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
    /// and the runtime's stack, tflm the arena's head and tail, patch the generated C's with
    /// `export --patch` (arena, input buffer, stack), analytic the peak):
    /// the figure `fits` is judged on.
    pub sram_bytes: u64,
    /// The planner's peak (activations and scratch).
    pub peak_sram_bytes: u64,
    pub peak_layer: String,
    pub fits: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// "search", "most MACs", "uniform" or "random".
    pub name: &'static str,
    pub detail: String,
    pub subnet: SubnetConfig,
    pub footprint: Summary,
    /// The predictor's figure, where it scored the row.
    pub predicted: Option<f64>,
    /// Top-1 on the search's half of the validation split (the half the search and the random
    /// baseline chose by).
    pub search_top1: f64,
    /// Top-1 on the validation images that did not choose the row (the choice half for the
    /// search and random rows, the whole split for the others), which the final choice is made
    /// by, their number and the standard error.
    pub val_top1: f64,
    pub val_images: usize,
    /// Top-1 on the whole validation split (as the measured cloud of the plot).
    pub split_top1: f64,
    /// Its accuracy as the final choice reads the validation measurements: what its MACs
    /// predict plus the believed part of its measured departure (`search::choice`).
    pub posterior: f64,
    pub val_se: f64,
    /// How far it falls short of the chosen row on the choice half, and the standard error of
    /// that difference measured image by image (subnets of one supernet mostly fail on the
    /// same images, so the difference is known better than either figure).
    pub below_chosen: f64,
    pub below_chosen_se: f64,
    pub test_top1: f64,
    pub test_se: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SearchReport {
    pub subnet: SubnetConfig,
    /// The row the choice came from: the best of `rows` on the validation images that did not
    /// choose it.
    pub chosen_from: &'static str,
    /// How the final rule picked it.
    pub chosen_because: String,
    /// The chosen subnet's top-1 on those images.
    pub score: f64,
    pub scored_by: String,
    /// The line through random subnets' measurements the final choice read the rows against
    /// (None: too few were measured; the choice half decided).
    pub prior: Option<Prior>,
    /// Why the search measured instead of trusting the predictor, when it did.
    pub fallback: Option<String>,
    pub predictor: Option<FitReport>,
    pub test_top1: f64,
    pub test_images: usize,
    /// Images of the validation half the search chose by (the even-numbered ones) and of the
    /// half the final choice is made by (the odd-numbered ones).
    pub search_images: usize,
    pub val_images: usize,
    pub device: Device,
    pub scheduler: &'static str,
    pub per_scheduler: Vec<SchedulerRow>,
    /// Generations the evolution ran.
    pub generations: usize,
    /// Distinct subnets the evolution scored and the candidates the limits rejected.
    pub scored: usize,
    pub rejected: usize,
    /// Subnets the search measured to make its choice (the random baseline's budget).
    pub search_measured: usize,
    /// Validation measurements made in this call (earlier ones are reused) and their speed.
    pub new_measurements: usize,
    pub subnets_per_minute: f64,
    /// The search and the baselines, each measured on both splits.
    pub rows: Vec<Row>,
}

impl SearchReport {
    /// The row of the scheduler the search ran under.
    pub fn row(&self, s: Scheduler) -> &SchedulerRow {
        self.per_scheduler
            .iter()
            .find(|r| r.scheduler == s)
            .expect("every scheduler is reported")
    }
}

/// `network`'s footprint under every scheduler, and whether it fits `device` (false without).
pub fn scheduler_rows(
    network: &crate::arch::Network,
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
    for f in ["predictor.json", super::evidence::PAIRS_FILE] {
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
    obs: &dyn Observer,
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
    if let Some(png) = obs.draw(&population_charts(report, measured, limits))? {
        files.push(("population.png".into(), png));
    }
    // Published whole (io::publish): a kill leaves the earlier search's three files or these.
    crate::io::publish_from(out, "search", &files, &[], inputs)
}

/// Measured accuracy against peak SRAM and flash (and latency, where the device has a clock),
/// the limits drawn.
pub fn population_charts(
    report: &SearchReport,
    measured: &[(Summary, f64)],
    limits: &Limits,
) -> Vec<Chart> {
    let chart = |x_label: String, x: &dyn Fn(&Summary) -> f64, limit: Option<(f64, String)>| {
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
            vlines: limit.into_iter().collect(),
        }
    };
    let d = &limits.device;
    let mut charts = vec![
        chart(
            format!("peak SRAM (KiB, {})", limits.scheduler.name()),
            &|f| f.peak_sram_bytes as f64 / 1024.0,
            Some((d.sram_bytes as f64 / 1024.0, "SRAM".into())),
        ),
        chart(
            "flash (KiB)".into(),
            &|f| f.flash_bytes as f64 / 1024.0,
            Some((d.flash_bytes as f64 / 1024.0, "flash".into())),
        ),
    ];
    // Latency where the device has a core and a clock (every footprint then carries it).
    let timed = measured
        .iter()
        .map(|m| &m.0)
        .chain(report.rows.iter().map(|r| &r.footprint));
    if let (true, Some(mhz)) = (timed.clone().all(|f| f.latency_ms.is_some()), d.clock_mhz) {
        charts.push(chart(
            format!("latency (ms at {mhz} MHz, the latency model)"),
            &|f| f.latency_ms.unwrap_or(0.0),
            limits.latency_ms.map(|ms| (ms, "latency".into())),
        ));
    }
    charts
}
