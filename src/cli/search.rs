//! `tinynas search`: evolution under the device limits, the report and the population plot.

use super::GpuArgs;
use super::mem::{kib, print_table};
use crate::mcu::{self, Device, EvalOptions, Scheduler};
use crate::plot::{Chart, Series};
use crate::search::evolution::{EvoOptions, EvoResult, evolve};
use crate::search::predictor::Predictor;
use crate::search::{Checker, Limits, describe_limits};
use crate::supernet::{SearchSpace, SubnetConfig};
use crate::train::eval::SubnetEvaluator;
use crate::{Engine, Error, Result};
use clap::Args;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use super::predictor::{Run, open_run};
use super::space::LimitArgs;
#[derive(Args, Clone)]
pub struct SearchArgs {
    #[arg(long)]
    pub run: PathBuf,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Score candidates by direct measurement (BN recalibration + validation top-1) instead of
    /// the predictor.
    #[arg(long)]
    pub measure: bool,
    #[arg(long, default_value_t = 100)]
    pub population: usize,
    #[arg(long, default_value_t = 500)]
    pub generations: usize,
    #[arg(long, default_value_t = 0.25)]
    pub parent_ratio: f64,
    #[arg(long, default_value_t = 0.1)]
    pub mutation_prob: f64,
    /// Share of the children made by mutation (the rest by crossover).
    #[arg(long, default_value_t = 0.5)]
    pub mutation_ratio: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Training images for BN recalibration (default: the run's setting).
    #[arg(long)]
    pub recal_images: Option<usize>,
    /// Output folder (default RUN/search).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Serialize)]
pub struct SearchReport {
    pub subnet: SubnetConfig,
    pub score: f64,
    pub scored_by: &'static str,
    pub test_top1: f64,
    pub test_images: usize,
    pub device: Device,
    pub scheduler: &'static str,
    pub per_scheduler: Vec<serde_json::Value>,
    pub generations: usize,
    pub scored: usize,
    pub rejected: usize,
}

enum Scorer {
    Predicted(Predictor),
    Measured(SubnetEvaluator),
}

#[allow(clippy::too_many_arguments)]
pub fn run_search(
    e: &Rc<Engine>,
    run_dir: &Path,
    run: &Run,
    limits: &Limits,
    evo: &EvoOptions,
    measure: bool,
    recal: usize,
    out: &Path,
    progress: bool,
) -> Result<(EvoResult, SearchReport)> {
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
    let bar = crate::io::progress(evo.generations, progress, "gen ");
    let mut score = |subs: &[SubnetConfig]| -> Result<Vec<f64>> {
        match &mut scorer {
            Scorer::Predicted(p) => p.predict(e, subs),
            Scorer::Measured(ev) => subs.iter().map(|s| ev.accuracy(&run.net, s)).collect(),
        }
    };
    let res = evolve(space, &mut checker, &mut score, evo, |_, best| {
        bar.set_message(format!("best {:.2} %", best * 100.0));
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    // The winner measured directly on the test split.
    let mut test_ev = run.evaluator(e, &run.data.test, recal)?;
    let best = &res.best;
    let test_top1 = test_ev.accuracy(&run.net, &best.subnet)?;
    let network = mcu::net::from_subnet(space, &best.subnet)?;
    let mut per = Vec::new();
    for s in Scheduler::ALL {
        let r = mcu::evaluate(
            &network,
            &EvalOptions {
                scheduler: s,
                ..EvalOptions::default()
            },
        )?;
        per.push(serde_json::json!({
            "scheduler": s.name(), "macs": r.macs, "params": r.params, "flash_bytes": r.flash_bytes,
            "peak_sram_bytes": r.peak_sram_bytes, "peak_layer": r.peak_layer,
            "fits": limits.device.fits(r.peak_sram_bytes, r.flash_bytes),
        }));
    }
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
    crate::io::create_dir(out, "--out")?;
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

pub fn print_search(r: &SearchReport, space: &SearchSpace, limits: &Limits) -> Result<()> {
    println!(
        "chosen subnet: {}",
        serde_json::to_string(&r.subnet).unwrap()
    );
    println!(
        "  {} {:.2} %; measured test top-1 {:.2} % ({} images, after BN recalibration)",
        r.scored_by,
        r.score * 100.0,
        r.test_top1 * 100.0,
        r.test_images
    );
    println!(
        "  {:<11} {:>10} {:>10} {:>12} {:>14}  {}",
        "scheduler", "M MACs", "k params", "flash", "peak SRAM", limits.device.name
    );
    for v in &r.per_scheduler {
        println!(
            "  {:<11} {:>10.2} {:>10.1} {:>12} {:>14}  {}",
            v["scheduler"].as_str().unwrap(),
            v["macs"].as_u64().unwrap() as f64 / 1e6,
            v["params"].as_u64().unwrap() as f64 / 1e3,
            kib(v["flash_bytes"].as_u64().unwrap()),
            kib(v["peak_sram_bytes"].as_u64().unwrap()),
            if v["fits"].as_bool().unwrap() {
                "fits"
            } else {
                "does not fit"
            }
        );
    }
    let network = mcu::net::from_subnet(space, &r.subnet)?;
    let rep = mcu::evaluate(
        &network,
        &EvalOptions {
            scheduler: limits.scheduler,
            ..EvalOptions::default()
        },
    )?;
    println!("per-layer memory under {}:", limits.scheduler.name());
    print_table(&rep);
    Ok(())
}

pub fn search(g: &GpuArgs, a: &SearchArgs) -> Result<()> {
    let limits = a.limits.limits()?;
    let evo = EvoOptions {
        population: a.population,
        parent_ratio: a.parent_ratio,
        mutation_prob: a.mutation_prob,
        mutation_ratio: a.mutation_ratio,
        generations: a.generations,
        seed: a.seed,
        ..EvoOptions::default()
    };
    evo.validate()?;
    let out = a.out.clone().unwrap_or_else(|| a.run.join("search"));
    let _lock = crate::io::lock_dir(&out, "--out")?;
    let e = g.engine()?;
    let run = open_run(&e, &a.run)?;
    let recal = a.recal_images.unwrap_or(run.cfg.recal_images);
    let t = Instant::now();
    let (res, report) = run_search(
        &e, &a.run, &run, &limits, &evo, a.measure, recal, &out, true,
    )?;
    println!(
        "search: {} generations, {} subnets scored, {} rejected by the limits of {}, {:.1} s",
        evo.generations,
        res.scored,
        res.rejected,
        describe_limits(&limits),
        t.elapsed().as_secs_f64()
    );
    print_search(&report, &run.cfg.space, &limits)?;
    println!(
        "wrote {0}/best_subnet.json, {0}/search.json, {0}/population.png",
        out.display()
    );
    Ok(())
}
