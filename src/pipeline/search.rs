//! The search of a trained run: evolution under a device's limits, scored by the predictor or
//! measured, the winner measured on the test split and reported under every scheduler, with
//! best_subnet.json, search.json and the population plot written.

use super::predictor::Run;
use crate::mcu::{self, Device, EvalOptions, Scheduler};
use crate::observer::Observer;
use crate::plot::{Chart, Series};
use crate::search::evolution::{EvoOptions, EvoResult, evolve};
use crate::search::predictor::Predictor;
use crate::search::{Checker, Limits};
use crate::supernet::SubnetConfig;
use crate::train::eval::SubnetEvaluator;
use crate::{Engine, Error, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// What a search is asked to do.
#[derive(Clone, Debug)]
pub struct SearchOptions {
    pub limits: Limits,
    pub evo: EvoOptions,
    /// Score candidates by measured validation top-1 instead of the run's predictor.
    pub measure: bool,
    /// Training images for BN recalibration before each measurement.
    pub recal_images: usize,
    /// Folder for best_subnet.json, search.json and population.png.
    pub out: PathBuf,
}

/// The chosen subnet's footprint under one scheduler, and whether it fits the device.
#[derive(Clone, Debug, Serialize)]
pub struct SchedulerRow {
    pub scheduler: Scheduler,
    pub macs: u64,
    pub params: u64,
    pub flash_bytes: u64,
    pub peak_sram_bytes: u64,
    pub peak_layer: String,
    pub fits: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct SearchReport {
    pub subnet: SubnetConfig,
    pub score: f64,
    pub scored_by: &'static str,
    pub test_top1: f64,
    pub test_images: usize,
    pub device: Device,
    pub scheduler: &'static str,
    pub per_scheduler: Vec<SchedulerRow>,
    pub generations: usize,
    pub scored: usize,
    pub rejected: usize,
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
                peak_sram_bytes: r.peak_sram_bytes,
                fits: device.is_some_and(|d| d.fits(r.peak_sram_bytes, r.flash_bytes)),
                peak_layer: r.peak_layer,
            })
        })
        .collect()
}

enum Scorer {
    Predicted(Predictor),
    Measured(SubnetEvaluator),
}

/// Evolution over the run's subnets under `o.limits`, scored by the predictor or measured; the
/// winner measured on the test split, its footprint under every scheduler, the outputs written.
pub fn run_search(
    e: &Rc<Engine>,
    run_dir: &Path,
    run: &Run,
    o: &SearchOptions,
    obs: &dyn Observer,
) -> Result<(EvoResult, SearchReport)> {
    let (limits, evo, measure, recal, out) = (
        &o.limits,
        &o.evo,
        o.measure,
        o.recal_images,
        o.out.as_path(),
    );
    // The outputs are claimed first: a user's file of the same name stops the search before
    // it starts.
    crate::io::claim_outputs(
        out,
        "--out",
        &["best_subnet.json", "search.json", "population.png"],
    )?;
    let space = &run.cfg.space;
    let mut checker = Checker::new(limits.clone());
    // Candidates are scored by the predictor, or with --measure by validation top-1.
    let mut scorer = if measure {
        Scorer::Measured(run.evaluator(e, &run.data.val, recal)?)
    } else {
        let p = run_dir.join("predictor.json");
        if !p.is_file() {
            return Err(Error::Invalid(format!(
                "{} has no predictor.json; run `tinynas predictor collect --run {d}` and `tinynas predictor fit --run {d}` (or search with --measure)",
                run_dir.display(),
                d = run_dir.display()
            )));
        }
        let p = Predictor::load(&p)?;
        if &p.space != space {
            return Err(Error::Invalid(
                "predictor.json was fitted for another search space; fit it again".into(),
            ));
        }
        Scorer::Predicted(p)
    };
    obs.start("gen ", evo.generations, 0);
    let mut score = |subs: &[SubnetConfig]| -> Result<Vec<f64>> {
        match &mut scorer {
            Scorer::Predicted(p) => p.predict(e, subs),
            Scorer::Measured(ev) => subs.iter().map(|s| ev.accuracy(&run.net, s)).collect(),
        }
    };
    let res = evolve(space, &mut checker, &mut score, evo, |_, best| {
        obs.step(&format!("best {:.2} %", best * 100.0))
    })?;
    obs.end();
    // The winner measured directly on the test split.
    let mut test_ev = run.evaluator(e, &run.data.test, recal)?;
    let best = &res.best;
    let test_top1 = test_ev.accuracy(&run.net, &best.subnet)?;
    let per = scheduler_rows(
        &mcu::net::from_subnet(space, &best.subnet)?,
        Some(&limits.device),
    )?;
    let report = SearchReport {
        subnet: best.subnet.clone(),
        score: best.score,
        scored_by: if measure {
            "measured validation top-1"
        } else {
            "predictor"
        },
        test_top1,
        test_images: run.data.test.len(),
        device: limits.device.clone(),
        scheduler: limits.scheduler.name(),
        per_scheduler: per,
        generations: evo.generations,
        scored: res.scored,
        rejected: res.rejected,
    };
    crate::io::write_atomic(
        &out.join("best_subnet.json"),
        serde_json::to_string_pretty(&best.subnet)
            .unwrap()
            .as_bytes(),
    )?;
    let full = serde_json::json!({ "report": &report, "population": &res.population, "history": &res.history });
    crate::io::write_atomic(
        &out.join("search.json"),
        serde_json::to_string_pretty(&full).unwrap().as_bytes(),
    )?;
    let pts: Vec<(f64, f64)> = res
        .population
        .iter()
        .map(|c| (c.footprint.peak_sram_bytes as f64 / 1024.0, c.score * 100.0))
        .collect();
    crate::plot::save_png(
        &out.join("population.png"),
        &[Chart {
            title: format!("final population ({})", limits.device.name),
            x_label: format!("peak SRAM (KiB, {})", limits.scheduler.name()),
            y_label: if measure {
                "validation top-1 %".into()
            } else {
                "predicted top-1 %".into()
            },
            series: vec![Series::points("subnets", pts)],
            vlines: vec![(
                limits.device.sram_bytes as f64 / 1024.0,
                format!("{} SRAM", limits.device.name),
            )],
        }],
    )?;
    Ok((res, report))
}
