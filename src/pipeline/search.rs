//! The search of a trained run under a device's limits, and the obvious choices beside it.
//!
//! Candidates are scored by the run's predictor (its final population's top K then measured on
//! the validation split) or, MCUNet's way, each measured on the validation split after BN
//! recalibration; a predictor whose cross-validated τ is below the threshold (or measured on
//! too few subnets) is not trusted and the search measures instead. The baselines — the
//! fitting subnet with the most MACs, uniform shrinking and the best of as many random fitting
//! subnets as the search measured — are measured the same way. The search and the random
//! baseline choose on the even-numbered validation images; the final choice among the rows
//! judges each on the images that chose none of it (the best of a hundred noisy measurements,
//! compared on the same measurements, wins by its noise: seen on the Fashion-MNIST run). The
//! test split is used once, for the final figures of every row. Writes best_subnet.json,
//! search.json and population.png.

use super::evidence::read_pairs;
use super::measure::Measurer;
use super::search_outputs::{Row, SearchReport, scheduler_rows, write_outputs};
use super::trust::trusted_predictor;
use crate::arch::SearchSpace;
use crate::arch::SubnetConfig;
use crate::error::Field;
use crate::observer::Observer;
use crate::search::baselines::{most_macs, random_fitting, uniform};
use crate::search::choice::{ChoiceRow, FinalChoice, Prior, final_choice};
use crate::search::encoding::canonical;
use crate::search::evolution::{Candidate, EvoOptions, EvoResult, evolve};
use crate::search::{Checker, Limits};
use crate::train::eval::std_error;
use crate::train::open::{Run, open_run};
use crate::train::run::read_run_config;
use crate::{Engine, Error, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// How candidates are scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// The run's predictor guides the evolution and the final population's top K are measured;
    /// without a predictor, or with one whose τ is below `min_tau`, the search measures.
    Predictor,
    /// Every candidate measured on the validation split (MCUNet's way).
    Measure,
}

/// What a search is asked to do.
#[derive(Clone, Debug)]
pub struct SearchOptions {
    pub limits: Limits,
    pub strategy: Strategy,
    /// The predictor-guided evolution.
    pub evo: EvoOptions,
    /// The measured evolution; its `max_scored` is the measurement budget.
    pub measure_evo: EvoOptions,
    /// Subnets of the predicted final population measured on the validation split.
    pub top_k: usize,
    /// The predictor's least τ (k-fold where reported) to be trusted.
    pub min_tau: f64,
    /// Random fitting subnets measured for the random baseline (None: as many subnets as the
    /// search measured to make its choice).
    pub random: Option<usize>,
    /// Training images for BN recalibration before each measurement (None: the run's setting).
    pub recal_images: Option<usize>,
    /// Folder for best_subnet.json, search.json and population.png.
    pub out: PathBuf,
}

impl SearchOptions {
    /// Every option in range (an error names its field); checked before any work.
    pub fn validate(&self) -> Result<()> {
        use crate::bounds::{int, real};
        self.evo.validate()?;
        self.measure_evo.validate_as(Field::MeasurePopulation)?;
        int(Field::TopK, self.top_k, 1, 10_000)?;
        real(Field::MinTau, self.min_tau, -1.0, 1.0)?;
        if let Some(n) = self.random {
            int(Field::Random, n, 1, 1_000_000)?;
        }
        crate::bounds::recal_images(self.recal_images)
    }
}

/// Every input of a search of the run in `run_dir` (of `space`) checked, reading only: the
/// options, the files already in the output folder, the predictor and the measured pairs. A
/// command calls it before it touches the disk; `run_search` again.
pub fn check_search_inputs(run_dir: &Path, space: &SearchSpace, o: &SearchOptions) -> Result<()> {
    o.validate()?;
    let distinct = space.subnet_count() * space.resolutions.len() as f64;
    if let Some(n) = o.random
        && n as f64 > distinct
    {
        return Err(Error::bad(
            Field::Random,
            n,
            format!(
                "the run's search space holds only {distinct} distinct subnets; give {} {distinct} or fewer",
                Field::Random
            ),
        ));
    }
    crate::search::evolution::check_any_fits(space, &mut Checker::new(o.limits.clone()))?;
    crate::io::check_outputs(&o.out, Field::Out, &OUTPUT_FILES)?;
    read_pairs(run_dir, space)?;
    if o.strategy == Strategy::Predictor {
        // An untrusted predictor is no refusal (the search measures instead); a broken one is.
        let _ = trusted_predictor(run_dir, space, o.min_tau)?;
    }
    Ok(())
}

/// The files a search writes into its output folder.
pub const OUTPUT_FILES: [&str; 3] = ["best_subnet.json", "search.json", "population.png"];

/// The search of the run in `run_dir`, as `search` runs it: every input checked (`o` first),
/// then the run read, before `o.out` is made and locked; the engine made by `engine` once the
/// checks pass. Hands back the search, its report, the run's space and the search's seconds.
pub fn search_run(
    engine: impl FnOnce() -> Result<Rc<Engine>>,
    run_dir: &Path,
    o: &SearchOptions,
    obs: &dyn Observer,
) -> Result<(EvoResult, SearchReport, SearchSpace, f64)> {
    o.validate()?;
    crate::io::check_out_dir(&o.out, Field::Out)?;
    let cfg = read_run_config(run_dir)?;
    check_search_inputs(run_dir, &cfg.space, o)?;
    crate::io::check_lock(&o.out, Field::Out)?;
    let e = engine()?;
    let run = open_run(&e, run_dir, obs)?;
    let _lock = crate::io::lock_dir(&o.out, Field::Out)?;
    let t = std::time::Instant::now();
    let (res, report) = run_search(&e, &run, o, obs)?;
    Ok((res, report, run.cfg.space, t.elapsed().as_secs_f64()))
}

/// Evolution over the run's subnets under `o.limits`, the baselines beside it, the final choice
/// made on the validation half none of them was chosen by, every row measured on the test split;
/// the outputs written.
pub fn run_search(
    e: &Rc<Engine>,
    run: &Run,
    o: &SearchOptions,
    obs: &dyn Observer,
) -> Result<(EvoResult, SearchReport)> {
    let run_dir = run.dir.as_path();
    check_search_inputs(run_dir, &run.cfg.space, o)?;
    let (limits, out) = (&o.limits, o.out.as_path());
    // The outputs are claimed first: a user's file of the same name stops the search before
    // it starts.
    crate::io::claim_outputs(out, Field::Out, &OUTPUT_FILES)?;
    // The run's checkpoint, predictor and pairs this search reads, recorded in --out's manifest.
    let inputs = super::search_outputs::inputs(run_dir)?;
    let space = &run.cfg.space;
    let mut checker = Checker::new(limits.clone());
    let (predictor, fallback) = match o.strategy {
        Strategy::Measure => (None, None),
        Strategy::Predictor => match trusted_predictor(run_dir, space, o.min_tau)? {
            Ok(p) => (Some(p), None),
            Err(why) => {
                obs.instead(&why, "searching by measurement instead");
                (None, Some(why.to_string()))
            }
        },
    };
    // Every validation measurement goes through one cache, seeded with the subnets the
    // predictor's collection measured the same way.
    let recal = o.recal_images.unwrap_or(run.cfg.recal_images);
    let mut val = Measurer::new(run.evaluator(e, &run.data.val, recal)?, space);
    let pairs = read_pairs(run_dir, space)?;
    val.seed(
        pairs
            .iter()
            .filter(|p| p.recal_images == Some(recal))
            .filter_map(|p| Some((&p.subnet, p.halves?))),
    );

    let (res, search_rows, search_measured, scored_by) = match &predictor {
        Some(p) => {
            obs.start("gen ", o.evo.generations, 0);
            let mut score = |subs: &[SubnetConfig]| p.predict(e, subs);
            let res = evolve(space, &mut checker, &mut score, &o.evo, |_, best| {
                obs.step(&format!("predicted best {:.2} %", best * 100.0))
            })?;
            obs.end();
            // The predicted top K (distinct networks) measured; the best measured kept.
            let mut seen = std::collections::HashSet::new();
            let top: Vec<&Candidate> = res
                .population
                .iter()
                .filter(|c| seen.insert(canonical(space, &c.subnet)))
                .take(o.top_k)
                .collect();
            obs.message(&format!(
                "measuring the predicted top {} on the validation split",
                top.len()
            ));
            let mut rows = Vec::new();
            for c in top {
                let v = val.search_top1(&run.net, &c.subnet)?;
                rows.push((c.clone(), v));
            }
            let fitted = p
                .report
                .as_ref()
                .map_or(0, |r| r.train_pairs + r.heldout_pairs);
            let k = rows.len();
            (
                res,
                rows,
                fitted + k,
                format!("predictor, its top {k} measured on the validation split"),
            )
        }
        None => {
            obs.start("gen ", o.measure_evo.generations, 0);
            let mut score = |subs: &[SubnetConfig]| -> Result<Vec<f64>> {
                subs.iter().map(|s| val.search_top1(&run.net, s)).collect()
            };
            let res = evolve(
                space,
                &mut checker,
                &mut score,
                &o.measure_evo,
                |_, best| obs.step(&format!("best {:.2} % (validation)", best * 100.0)),
            )?;
            obs.end();
            let rows = res
                .population
                .iter()
                .map(|c| (c.clone(), c.score))
                .collect();
            let n = res.scored;
            (res, rows, n, "measured validation top-1".to_string())
        }
    };
    let (best_c, best_v) = search_rows
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .cloned()
        .expect("the evolution returns a population");

    // The baselines, under the same limits, measured the same way.
    obs.message("baselines: the fitting subnet with the most MACs, uniform shrinking, random fitting subnets");
    let n_random = o.random.unwrap_or(search_measured).max(1);
    let mm = most_macs(space, &mut checker, o.evo.seed)?;
    let un = uniform(space, &mut checker)?;
    let rand = random_fitting(space, &mut checker, n_random, o.evo.seed, o.evo.max_tries)?;
    obs.start("random ", rand.len(), 0);
    let mut rand_best: Option<(Candidate, f64)> = None;
    for c in &rand {
        let v = val.search_top1(&run.net, &c.subnet)?;
        if rand_best.as_ref().is_none_or(|b| v > b.1) {
            rand_best = Some((c.clone(), v));
        }
        obs.step(&format!(
            "best {:.2} %",
            rand_best.as_ref().unwrap().1 * 100.0
        ));
    }
    obs.end();
    let mut rows: Vec<(&'static str, String, Candidate, f64)> =
        vec![("search", scored_by.clone(), best_c.clone(), best_v)];
    let v = val.search_top1(&run.net, &mm.subnet)?;
    rows.push((
        "most MACs",
        format!("{:.2} M MACs", mm.footprint.macs as f64 / 1e6),
        mm,
        v,
    ));
    if let Some(u) = un {
        let v = val.search_top1(&run.net, &u.subnet)?;
        let s = &u.subnet;
        rows.push((
            "uniform",
            format!(
                "kernel {}, expand {}, depth {} at {}",
                s.kernel_size[0], s.expand_ratio[0], s.depth[0], s.resolution
            ),
            u,
            v,
        ));
    }
    if let Some((c, v)) = rand_best {
        rows.push(("random", format!("best of {}", rand.len()), c, v));
    }
    // The search's and the random rows were chosen on the search's half of the validation
    // split, the others by their footprint: each is judged on the images that chose none of it
    // (ties keep the search's own).
    let halves = val.measure(&run.net, &rows[0].2.subnet)?.images;
    let choice: Vec<ChoiceRow> = rows
        .iter()
        .map(|r| {
            Ok(ChoiceRow {
                answers: val.answers(&run.net, &r.2.subnet)?,
                chosen_on_search_half: matches!(r.0, "search" | "random"),
                macs: r.2.footprint.macs,
            })
        })
        .collect::<Result<_>>()?;
    // The random subnets measured the same way — the predictor's collection (of the whole
    // space) and the random baseline's (of the fitting part) — are what MACs are read against.
    let mut cloud = std::collections::HashMap::new();
    for p in pairs.iter().filter(|p| p.recal_images == Some(recal)) {
        if let Some(h) = p.halves {
            cloud.insert(canonical(space, &p.subnet), (p.macs, h));
        }
    }
    for c in &rand {
        let h = val.measure(&run.net, &c.subnet)?.halves();
        cloud.insert(canonical(space, &c.subnet), (c.footprint.macs, h));
    }
    let prior = Prior::fit(&cloud.into_values().collect::<Vec<_>>());
    let FinalChoice {
        chosen,
        estimates,
        posterior,
        below_chosen,
        why: chosen_because,
    } = final_choice(&choice, prior.as_ref())?;

    // The test split, once, for the final figures of every row.
    let mut test = Measurer::new(run.evaluator(e, &run.data.test, recal)?, space);
    let nt = run.data.test.len();
    let mut report_rows = Vec::new();
    for ((((name, detail, c, v), &(est, images)), &(below, below_se)), &post) in rows
        .iter()
        .zip(&estimates)
        .zip(&below_chosen)
        .zip(&posterior)
    {
        let t = test.measure(&run.net, &c.subnet)?.top1();
        let split_top1 = val.measure(&run.net, &c.subnet)?.top1();
        report_rows.push(Row {
            name,
            detail: detail.clone(),
            subnet: c.subnet.clone(),
            footprint: c.footprint,
            predicted: predictor
                .as_ref()
                .filter(|_| *name == "search")
                .map(|_| c.score),
            search_top1: *v,
            val_top1: est,
            val_images: images,
            split_top1,
            posterior: post,
            val_se: std_error(est, images),
            below_chosen: below,
            below_chosen_se: below_se,
            test_top1: t,
            test_se: std_error(t, nt),
        });
    }
    let ch = &report_rows[chosen];
    let per = scheduler_rows(
        &crate::arch::subnet::from_subnet(space, &ch.subnet)?,
        Some(&limits.device),
    )?;
    let report = SearchReport {
        subnet: ch.subnet.clone(),
        chosen_from: ch.name,
        chosen_because,
        score: ch.val_top1,
        prior,
        scored_by,
        fallback,
        predictor: predictor.as_ref().and_then(|p| p.report.clone()),
        test_top1: ch.test_top1,
        test_images: nt,
        search_images: halves[0],
        val_images: halves[1],
        device: limits.device.clone(),
        scheduler: limits.scheduler.name(),
        per_scheduler: per,
        generations: res.history.len(),
        scored: res.scored,
        rejected: res.rejected,
        search_measured,
        new_measurements: val.new,
        subnets_per_minute: val.per_minute(),
        rows: report_rows,
    };
    write_outputs(
        out,
        &report,
        &res,
        &val.measured(&mut checker)?,
        limits,
        inputs,
        obs,
    )?;
    Ok((res, report))
}
