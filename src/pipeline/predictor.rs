//! The accuracy predictor's data and fit on a trained run: subnets measured after BN
//! recalibration into RUN/accuracy_pairs.jsonl, the MLP fitted into RUN/predictor.json.

use super::evidence::{PAIRS_FILE, Pair, merge_duplicates, pairs_sha256, read_pairs};
use crate::arch::{SearchSpace, SubnetConfig};
use crate::error::{Field, Missing};
use crate::mcu::{Device, Scheduler};
use crate::observer::Observer;
use crate::search::predictor::{FitOptions, Predictor, Sample};
use crate::search::{Checker, Limits};
use crate::seed::derive_seed;
use crate::train::dist::{Collective, Solo};
use crate::train::open::{Run, open_run};
use crate::train::run::{check_run, load_run, read_run_config};
use crate::{Engine, Error, Result};
use rand::seq::IndexedRandom;
use rand::{SeedableRng, rngs::StdRng};
use std::path::Path;
use std::rc::Rc;

/// Measure `n` random subnets (seeded, spread over the space's resolutions) on the validation
/// split, appending to RUN/accuracy_pairs.jsonl; subnets measured before are kept.
pub fn collect(
    e: &Rc<Engine>,
    run: &Run,
    n: usize,
    seed: u64,
    recal: usize,
    obs: &dyn Observer,
) -> Result<Vec<Pair>> {
    collect_ranks(e, run, n, seed, recal, obs, &Solo)
}

/// [`collect`] shared by data-parallel ranks (`mpirun -np N tinynas predictor collect`): rank 0
/// reads the measured subnets and tells the others; every rank plans the same subnets to
/// measure, in the order one process would; the ranks measure them N at a time, each its own,
/// and pool the results; rank 0 writes the file after each round. The file is the one a single
/// process writes, byte for byte.
#[allow(clippy::too_many_arguments)]
pub fn collect_ranks(
    e: &Rc<Engine>,
    run: &Run,
    n: usize,
    seed: u64,
    recal: usize,
    obs: &dyn Observer,
    comm: &dyn Collective,
) -> Result<Vec<Pair>> {
    let run_dir = run.dir.as_path();
    let lead = comm.rank() == 0;
    let mut pairs = if lead {
        read_pairs(run_dir, &run.cfg.space)?
    } else {
        Vec::new()
    };
    if comm.size() > 1 {
        let mut bytes = serde_json::to_vec(&pairs).expect("pairs serialise");
        comm.broadcast(&mut bytes);
        pairs = crate::io::parse_json(
            &String::from_utf8_lossy(&bytes),
            "rank 0 sent unreadable subnets",
        )?;
    }
    let space = &run.cfg.space;
    let todo = plan_checked(run_dir, space, &pairs, n, seed, recal)?;
    let mut ev = run.evaluator(e, &run.data.val, recal)?;
    obs.start("", n, pairs.len().min(n));
    let mut checker = Checker::new(Limits {
        device: Device::preset("stm32f412")?,
        scheduler: Scheduler::Analytic,
        latency_ms: None,
    });
    for round in todo.chunks(comm.size()) {
        // Each rank measures its own subnet of the round; the sum pools them (the others add
        // zeros, exactly).
        let mut results = vec![0.0f64; 3 * round.len()];
        if let Some(s) = round.get(comm.rank()) {
            let m = ev.measure(&run.net, s)?;
            let [a, b] = m.halves();
            results[3 * comm.rank()..3 * comm.rank() + 3].copy_from_slice(&[m.top1(), a, b]);
        }
        comm.sum_f64(&mut results);
        for (s, r) in round.iter().zip(results.chunks(3)) {
            let macs = checker.footprint(space, s)?.macs;
            pairs.push(Pair {
                subnet: s.clone(),
                top1: r[0],
                macs,
                recal_images: Some(recal),
                halves: Some([r[1], r[2]]),
            });
            obs.step(&format!(
                "last: {:.2} % at {:.1} M MACs",
                r[0] * 100.0,
                macs as f64 / 1e6
            ));
        }
        if lead {
            // The whole file published as the run's pairs set: a kill never leaves a torn line.
            super::evidence::publish_pairs(run_dir, &pairs)?;
        }
    }
    obs.end();
    Ok(pairs)
}

/// A collection of `n` subnets into the run in `run_dir` (of `space`) checked, reading only:
/// the pairs already there, their recalibration, the space's room for `n`. A command calls it
/// before it locks the run; `collect_ranks` again.
pub fn check_collect(
    run_dir: &Path,
    space: &SearchSpace,
    n: usize,
    seed: u64,
    recal: usize,
) -> Result<()> {
    let pairs = read_pairs(run_dir, space)?;
    plan_checked(run_dir, space, &pairs, n, seed, recal).map(|_| ())
}

/// `plan_collect`, after refusing a recalibration other than the one `pairs` were measured with.
fn plan_checked(
    run_dir: &Path,
    space: &SearchSpace,
    pairs: &[Pair],
    n: usize,
    seed: u64,
    recal: usize,
) -> Result<Vec<SubnetConfig>> {
    // One file, one way of measuring: a different recalibration would mix two noise levels.
    if let Some(other) = pairs
        .iter()
        .filter_map(|p| p.recal_images)
        .find(|&r| r != recal)
    {
        return Err(Error::bad(
            Field::RecalImages,
            recal,
            format!(
                "the subnets in {} were measured after recalibrating on {other} images; use the same number",
                run_dir.join(PAIRS_FILE).display()
            ),
        ));
    }
    plan_collect(space, pairs, n, seed)
}

/// The subnets `collect` measures to bring `pairs` to `n`, in order: the largest and the
/// smallest first (they anchor the predictor's range), then random ones drawn from `seed`,
/// none measured twice.
fn plan_collect(
    space: &SearchSpace,
    pairs: &[Pair],
    n: usize,
    seed: u64,
) -> Result<Vec<SubnetConfig>> {
    let distinct = space.subnet_count() * space.resolutions.len() as f64;
    if n as f64 > distinct {
        return Err(Error::bad(
            Field::N,
            n,
            format!(
                "the run's search space holds only {distinct} distinct subnets; give {} {distinct} or fewer",
                Field::N
            ),
        ));
    }
    let mut todo: Vec<SubnetConfig> = Vec::new();
    let mut i = 0u64;
    let mut repeats = 0;
    while pairs.len() + todo.len() < n {
        let mut rng = StdRng::seed_from_u64(derive_seed(seed, 10, i));
        i += 1;
        let res = *space.resolutions.choose(&mut rng).unwrap();
        let s = match pairs.len() + todo.len() {
            0 => space.largest(*space.resolutions.iter().max().unwrap()),
            1 => space.smallest(*space.resolutions.iter().min().unwrap()),
            _ => space.sample(&mut rng, res),
        };
        if pairs.iter().any(|p| p.subnet == s) || todo.contains(&s) {
            // Sampling finds few new subnets in a small space: stop rather than loop forever.
            repeats += 1;
            if repeats > 100_000 {
                return Err(Error::bad(
                    Field::N,
                    n,
                    format!(
                        "no new subnet in 100000 draws after {} measured; the space is nearly exhausted, give a smaller {}",
                        pairs.len() + todo.len(),
                        Field::N
                    ),
                ));
            }
            continue;
        }
        repeats = 0;
        todo.push(s);
    }
    Ok(todo)
}

pub fn fit(
    e: &Rc<Engine>,
    run_dir: &Path,
    space: &SearchSpace,
    o: &FitOptions,
) -> Result<Predictor> {
    let (pairs, data, repeats) = fit_inputs(run_dir, space)?;
    let mut p = Predictor::fit(e, space, &data, o)?;
    p.pairs_sha256 = Some(pairs_sha256(&pairs));
    if let Some(r) = &mut p.report {
        r.duplicates_merged = repeats;
    }
    super::evidence::publish_predictor(run_dir, &p)?;
    Ok(p)
}

/// The pairs of the run in `run_dir`, their distinct subnets (repeats merged) and the number
/// of repeated lines; refused when there are none or too few to fit. Reads only: a command
/// checks it before it locks the run.
pub fn fit_inputs(run_dir: &Path, space: &SearchSpace) -> Result<(Vec<Pair>, Vec<Sample>, usize)> {
    let pairs = read_pairs(run_dir, space)?;
    if pairs.is_empty() {
        return Err(Error::missing(
            run_dir,
            Missing::MeasuredSubnets { have: 0 },
            format!("{} has no measured subnets", run_dir.display()),
        ));
    }
    let (data, repeats) = merge_duplicates(space, &pairs);
    if data.len() < crate::search::predictor::MIN_FIT_SUBNETS {
        return Err(Error::missing(
            run_dir,
            Missing::MeasuredSubnets { have: data.len() },
            format!(
                "{}: {} distinct measured subnets{} are too few to fit a predictor (at least {})",
                run_dir.join(PAIRS_FILE).display(),
                data.len(),
                if repeats > 0 {
                    format!(" ({} lines, {repeats} repeating a subnet)", pairs.len())
                } else {
                    String::new()
                },
                crate::search::predictor::MIN_FIT_SUBNETS
            ),
        ));
    }
    Ok((pairs, data, repeats))
}

/// The fit's held-out figures in a line.
pub fn describe_fit(r: &crate::search::fit_report::FitReport) -> String {
    let ceiling = |c: Option<f64>| c.map_or(String::new(), |c| format!(" (noise ceiling {c:.3})"));
    let mut s = String::new();
    if r.duplicates_merged > 0 {
        s += &format!(
            "predictor: {} lines of the pairs file repeated a subnet already measured: merged by their mean, fit on {} distinct subnets\n",
            r.duplicates_merged,
            r.train_pairs + r.heldout_pairs
        );
    }
    s += &format!(
        "predictor: {} training / {} held-out subnets, {} steps kept; RMSE train {:.2} pts, held-out {:.2} pts; held-out Kendall τ {:.3}{}",
        r.train_pairs,
        r.heldout_pairs,
        r.steps,
        r.train_rmse * 100.0,
        r.heldout_rmse * 100.0,
        r.heldout_kendall_tau,
        ceiling(r.heldout_noise_ceiling)
    );
    if let Some(k) = &r.kfold {
        s += &format!(
            "\n  {}-fold cross-validation over all {} subnets: RMSE {:.2} pts, Kendall τ {:.3}{}",
            k.folds,
            r.train_pairs + r.heldout_pairs,
            k.rmse * 100.0,
            k.kendall_tau,
            ceiling(k.noise_ceiling)
        );
    }
    if let Some(why) = &r.kfold_skipped {
        s += &format!("\n  no k-fold cross-validation: {why}");
    }
    s
}

/// `predictor collect` of the run in `run_dir` on this rank: the lead rank (0) checks the
/// measured subnets and the plan (`recal`, None: the run's setting) before it locks the run;
/// then the engine made by `engine`, the run opened, and [`collect_ranks`]. The lead hands back
/// every measured subnet.
pub fn collect_run(
    engine: impl FnOnce() -> Result<Rc<Engine>>,
    run_dir: &Path,
    n: usize,
    seed: u64,
    recal: Option<usize>,
    obs: &dyn Observer,
    comm: &dyn Collective,
) -> Result<Vec<Pair>> {
    let lead = comm.rank() == 0;
    if lead {
        // Checked before the run is locked: a refusal leaves it as it was.
        let cfg = read_run_config(run_dir)?;
        check_collect(
            run_dir,
            &cfg.space,
            n,
            seed,
            recal.unwrap_or(cfg.recal_images),
        )?;
    } else {
        check_run(run_dir)?;
    }
    let _lock = if lead {
        Some(crate::io::lock_dir(run_dir, Field::Run)?)
    } else {
        None
    };
    let e = engine()?;
    let run = open_run(&e, run_dir, obs)?;
    let recal = recal.unwrap_or(run.cfg.recal_images);
    collect_ranks(&e, &run, n, seed, recal, obs, comm)
}

/// `predictor fit` of the run in `run_dir`: the pairs checked before the run is locked (a
/// refusal leaves it as it was), then the engine made by `engine` and [`fit`] on the run's space.
pub fn fit_run(
    engine: impl FnOnce() -> Result<Rc<Engine>>,
    run_dir: &Path,
    o: &FitOptions,
) -> Result<Predictor> {
    o.validate()?;
    let cfg = read_run_config(run_dir)?;
    fit_inputs(run_dir, &cfg.space)?;
    let _lock = crate::io::lock_dir(run_dir, Field::Run)?;
    let e = engine()?;
    let (cfg, _, _) = load_run(&e, run_dir)?;
    fit(&e, run_dir, &cfg.space, o)
}
