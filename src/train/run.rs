//! A supernet training run: data split, the progressive-shrinking schedule, batches prepared on
//! worker threads, several subnets per step, validation of the largest and smallest subnets
//! after BN recalibration, metrics as JSON lines, a loss/accuracy plot, and atomic checkpoints
//! from which `resume` continues to the same final weights.
//!
//! Everything random is derived from (seed, global step), so the state of a run is its step.

use super::checkpoint::{self, snapshot};
pub use super::config::{RunConfig, RunOptions, RunSummary, differing_fields};
use super::dist::{Collective, GradSync, Solo, broadcast_state, check_same};
use super::eval::SubnetEvaluator;
use super::loader::Loader;
use super::metrics::MetricsLog;
pub use super::metrics::{Metric, read_metrics};
pub use super::plan::{epoch_batches, run_augment, step_plan, steps_per_epoch};
use super::{StepConfig, train_step};
use crate::arch::SearchSpace;
use crate::data::input_rgb;
use crate::data::{Dataset, load_any};
use crate::nn::{Module, Sgd};
use crate::observer::{Observer, Silent};
pub use crate::seed::derive_seed;
use crate::supernet::Supernet;
use crate::{Engine, Error, Result};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

/// The data of a run: training images (validation held out), validation, test.
pub struct RunData {
    pub train: Arc<Dataset>,
    pub val: Dataset,
    pub test: Dataset,
}

pub fn load_data(cfg: &RunConfig) -> Result<RunData> {
    let path = Path::new(&cfg.data);
    if cfg.data != "synthetic" && !path.exists() {
        return Err(Error::Data {
            path: cfg.data.clone(),
            msg: "no such dataset folder (the run's `data` setting; a relative path is taken from the current folder)".into(),
        });
    }
    let (mut train, test) = load_any(path, cfg.image_size)?;
    if cfg.train_images > 0 && cfg.train_images < train.len() {
        let idx: Vec<usize> = (0..cfg.train_images).collect();
        train = train.subset(&idx);
    }
    if train.classes.max(test.classes) > cfg.space.classes {
        return Err(Error::Invalid(format!(
            "the data has {} classes but the search space {}; set the space's classes",
            train.classes.max(test.classes),
            cfg.space.classes
        )));
    }
    input_rgb(train.channels, cfg.space.in_channels)?;
    let (train, val) = if cfg.val_images > 0 {
        train
            .split_off(cfg.val_images, cfg.seed ^ 0xa11)
            .map_err(|e| Error::Invalid(format!("--val-images {}: {e}", cfg.val_images)))?
    } else {
        (train.clone(), test.clone())
    };
    if cfg.batch < 2 || cfg.batch > train.len() {
        return Err(Error::Invalid(format!(
            "--batch {} must be between 2 and the {} training images left after --train-images and --val-images",
            cfg.batch,
            train.len()
        )));
    }
    Ok(RunData {
        train: Arc::new(train),
        val,
        test,
    })
}

/// Removes the files a new run wrote when it ends without a checkpoint (a non-finite loss in
/// the first epoch, an error): nothing else, and nothing once `state.json` exists.
struct UndoUnfinished(PathBuf);

impl Drop for UndoUnfinished {
    fn drop(&mut self) {
        if !self.0.join("state.json").exists() {
            for f in checkpoint::RUN_FILES {
                let _ = std::fs::remove_file(self.0.join(f));
            }
        }
    }
}

/// Refuse, before anything is allocated, a batch whose largest activation (of the largest
/// subnet at the largest resolution) cannot be one buffer on this adapter.
pub fn check_adapter_fits(e: &Engine, space: &SearchSpace, batch: usize) -> Result<()> {
    let r = *space.resolutions.iter().max().expect("validated");
    let net = space.network(&space.largest(r))?;
    let g = crate::mcu::graph::build(&net);
    let per_image = (0..g.tensors.len()).map(|t| g.bytes(t)).max().unwrap_or(0);
    let bytes = per_image as u128 * batch as u128 * 4;
    let limit = e.gpu.max_binding_bytes();
    if bytes > limit as u128 {
        return Err(Error::Invalid(format!(
            "--batch {batch} at resolution {r}: the largest activation needs {} MiB, over this adapter's {} MiB per buffer; use a smaller --batch or resolution",
            bytes >> 20,
            limit >> 20
        )));
    }
    Ok(())
}

/// `dir` holds a run (its state.json): checked before a command creates anything there.
pub fn check_run(dir: &Path) -> Result<()> {
    if !dir.join("state.json").is_file() {
        return Err(Error::Invalid(format!(
            "{} holds no trained supernet (no state.json); make one with `tinynas train --out {}`",
            dir.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// The settings of the run in `dir`, from its state.json alone (no weights, no data): what a
/// command checks its other inputs against before it touches the disk.
pub fn read_run_config(dir: &Path) -> Result<RunConfig> {
    check_run(dir)?;
    let state: checkpoint::State =
        crate::io::read_json(&dir.join("state.json"), "checkpoint state")?;
    serde_json::from_value(state.config).map_err(|err| {
        Error::Invalid(format!(
            "{}: state.json is not a supernet run ({err}); was it written by `tinynas train-mobilenet`?",
            dir.display()
        ))
    })
}

/// The trained supernet of a run directory and the run's settings.
pub fn load_run(e: &Rc<Engine>, dir: &Path) -> Result<(RunConfig, Supernet, checkpoint::State)> {
    check_run(dir)?;
    let (state, mut tensors) = checkpoint::load(dir)?;
    let cfg: RunConfig = serde_json::from_value(state.config.clone()).map_err(|err| {
        Error::Invalid(format!(
            "{}: state.json is not a supernet run ({err}); was it written by `tinynas train-mobilenet`?",
            dir.display()
        ))
    })?;
    let net = Supernet::new(e, &cfg.space, cfg.seed)?;
    for p in net.param_list() {
        p.tensor
            .write(&checkpoint::take(&mut tensors, &p.name, p.tensor.shape())?)?;
    }
    for b in net.buffer_list() {
        b.tensor
            .write(&checkpoint::take(&mut tensors, &b.name, b.tensor.shape())?)?;
    }
    Ok((cfg, net, state))
}

/// Train (or, with `opts.resume`, continue) the supernet of `cfg` into `opts.out`.
pub fn train_supernet(
    e: &Rc<Engine>,
    cfg: &RunConfig,
    opts: &RunOptions,
) -> Result<(Supernet, RunSummary)> {
    cfg.validate()?;
    if opts.max_steps == Some(0) {
        return Err(Error::Invalid(
            "--max-steps 0: give at least 1 (or leave it out to train the whole schedule)".into(),
        ));
    }
    // Data-parallel ranks: rank 0 leads (the only writer), every rank trains its share.
    let comm: Rc<dyn Collective> = opts.comm.clone().unwrap_or_else(|| Rc::new(Solo));
    let world = comm.size();
    let lead = comm.rank() == 0;
    if cfg.ranks != world {
        return Err(Error::Invalid(format!(
            "the run's settings say {} rank(s) but {world} started; start it with `mpirun -np {}` (a run keeps its number of ranks)",
            cfg.ranks, cfg.ranks
        )));
    }
    check_adapter_fits(e, &cfg.space, cfg.batch)?;
    e.gpu.set_f16_gemm(cfg.f16_gemm)?;
    e.gpu.set_f16_activations(cfg.f16_activations);
    let data = load_data(cfg)?;
    if cfg.batch * world > data.train.len() {
        return Err(Error::Invalid(format!(
            "--batch {} on each of {world} ranks needs {} training images a step; there are {}: give --batch {} or less, or fewer ranks",
            cfg.batch,
            cfg.batch * world,
            data.train.len(),
            data.train.len() / world
        )));
    }
    let net = Supernet::new(e, &cfg.space, cfg.seed)?;
    let sgd = Sgd::new(e, net.param_list(), cfg.momentum, true, cfg.weight_decay)?;
    let grad_sync = if world > 1 {
        Some(GradSync::new(e, &sgd)?)
    } else {
        None
    };
    // Each step takes `batch` images for every rank.
    let spe = steps_per_epoch(cfg, data.train.len());
    let total = cfg.schedule.total_steps(spe);
    let config_json = serde_json::to_value(cfg).expect("config serialises");
    if world > 1 {
        check_same(
            &super::dist::what_ranks_share(&config_json, opts, &data, &net, &sgd),
            &*comm,
        )?;
    }
    let out = &opts.out;
    // Checked before the folder is made or locked: a refusal leaves it as it was (both are
    // checked again under the lock).
    if lead {
        if opts.resume {
            checkpoint::check_resume(out, &config_json, world, opts.max_steps)?;
        } else if out.is_dir() {
            checkpoint::refuse_overwrite(out)?;
        }
    }
    let _lock = if lead {
        Some(crate::io::lock_dir(out, "--out")?)
    } else {
        None
    };

    let mut step = 0;
    let mut metrics = Vec::new();
    if !lead {
        // Rank 0 reads the run; this rank takes its state below.
    } else if opts.resume {
        (step, metrics) =
            checkpoint::resume(e, out, &net, &sgd, &config_json, world, opts.max_steps)?;
    } else {
        checkpoint::refuse_overwrite(out)?;
    }
    broadcast_state(e, &net, &sgd, &mut step, &*comm)?;
    // A new run that stops before its first checkpoint takes back the files it wrote, so the
    // folder can start a run again.
    let _undo = (lead && !opts.resume).then(|| UndoUnfinished(out.to_path_buf()));
    let mut log = MetricsLog::new(out, metrics, opts.resume, lead)?;

    // The metrics first: a resumed run reads them up to its checkpoint's step.
    let save = |step: usize, epoch: usize, log: &mut MetricsLog| -> Result<()> {
        if !lead {
            return Ok(());
        }
        log.before_checkpoint()?;
        checkpoint::save(
            out,
            step,
            epoch,
            config_json.clone(),
            &snapshot(e, &net, &sgd)?,
        )
    };
    let mut evaluator = if opts.no_validation || !lead {
        None
    } else {
        Some(SubnetEvaluator::new(
            e,
            &data.train,
            &data.val,
            cfg.recal_images.min(data.train.len()),
            cfg.space.in_channels,
            200,
            cfg.seed,
        )?)
    };
    let aug = run_augment(cfg, &data)?;
    let step_cfg = StepConfig {
        distill_weight: cfg.distill_weight,
        label_smoothing: cfg.label_smoothing,
        ..StepConfig::default()
    };

    let silent: Rc<dyn Observer> = Rc::new(Silent);
    let obs = opts.observer.as_ref().unwrap_or(&silent);
    obs.start("", total, step);
    let start = Instant::now();
    let first_step = step;
    let mut image_subnets = 0usize;
    // Validation top-1 of the largest and smallest subnets at the last epoch end.
    let mut last_val: (Option<f64>, Option<f64>) = (None, None);
    // What the run did, at whichever of its ends it stops.
    let summary =
        |step: usize, image_subnets: usize, finished: bool, val: (Option<f64>, Option<f64>)| {
            let seconds = start.elapsed().as_secs_f64();
            RunSummary {
                steps: step,
                resumed_at: first_step,
                seconds,
                image_subnets_per_s: image_subnets as f64 / seconds,
                largest_val: val.0,
                smallest_val: val.1,
                finished,
            }
        };

    while let Some(pos) = cfg.schedule.position(step, spe) {
        let phase = &cfg.schedule.phases[pos.phase];
        let pspace = phase.space(&cfg.space);
        if phase.reorder_channels && step == pos.phase_start {
            net.reorder_channels(Some(&sgd))?;
            obs.message(&format!(
                "phase {}: middle channels re-ordered by importance",
                phase.name
            ));
        }
        let epoch_start = step - pos.step_in_epoch;
        let specs = epoch_batches(cfg, data.train.len(), step, comm.rank())
            .expect("the schedule runs at this step");
        let loader = Loader::spawn(data.train.clone(), aug, specs, opts.workers, 2);
        let global_epoch: usize = cfg.schedule.phases[..pos.phase]
            .iter()
            .map(|p| p.epochs)
            .sum::<usize>()
            + pos.epoch;
        let mut stop = false;
        let mut loader = loader;
        loop {
            if lead && opts.profile.is_some() && step == first_step + 1 {
                e.gpu.start_profiling(false);
            }
            let wait = Instant::now();
            let Some(b) = loader.next() else { break };
            e.gpu.cpu_span("data: wait for the loader", wait);
            let t0 = Instant::now();
            let x = e.tensor(&b.x, &[cfg.batch, b.channels, b.resolution, b.resolution])?;
            let y = e.tensor(&b.y, &[cfg.batch])?;
            let (subnets, lr) = step_plan(cfg, spe, step, b.resolution);
            let sync = grad_sync.as_ref().map(|g| (g, &*comm));
            let losses = train_step(e, &net, &sgd, &x, &y, &subnets, lr, &step_cfg, sync)
                .map_err(
                |err| match err {
                    Error::NonFinite { at, value } => {
                        obs.end();
                        Error::NonFinite {
                            at: format!(
                                "step {step} (phase {}, epoch {}): {at}; {}",
                                phase.name,
                                pos.epoch,
                                if out.join("state.json").is_file() {
                                    format!("the last checkpoint in {} is intact", out.display())
                                } else {
                                    format!(
                                        "it stopped before its first checkpoint and left nothing in {} but its lock file (.tinynas.lock)",
                                        out.display()
                                    )
                                }
                            ),
                            value,
                        }
                    }
                    other => other,
                },
            )?;
            step += 1;
            if let Some(path) = &opts.profile
                && lead
                && step == first_step + 1 + opts.profile_steps.max(1)
            {
                let rep = crate::io::finish_profiling(&e.gpu, path)?;
                obs.profile(&rep, path);
                obs.message(&format!("(profiled steps {}..={step})", first_step + 2));
            }
            image_subnets += world * cfg.batch * subnets.len();
            let ips = image_subnets as f64 / start.elapsed().as_secs_f64();
            let m = Metric::Step {
                step,
                phase: phase.name.clone(),
                epoch: global_epoch,
                lr,
                losses: losses.clone(),
                images_per_s: (world * cfg.batch) as f64 / t0.elapsed().as_secs_f64(),
            };
            log.push(m)?;
            let mean = losses.iter().sum::<f32>() / losses.len() as f32;
            obs.step(&format!(
                "{} {}/{} epoch {}/{} loss {mean:.3} {ips:.0} img-subnets/s",
                phase.name,
                pos.phase + 1,
                cfg.schedule.phases.len(),
                pos.epoch + 1,
                phase.epochs,
            ));
            if opts.max_steps == Some(step) {
                if step < epoch_start + spe {
                    save(step, global_epoch, &mut log)?;
                    obs.end();
                    return Ok((net, summary(step, image_subnets, false, (None, None))));
                }
                // The epoch's last step: finish the epoch's bookkeeping first.
                stop = true;
            }
            if opts.checkpoint_every > 0 && step.is_multiple_of(opts.checkpoint_every) {
                save(step, global_epoch, &mut log)?;
            }
        }
        if !stop && step != epoch_start + spe {
            // A worker thread failed (its message is above): stop rather than start the rest
            // of the epoch over, which would fail the same way.
            obs.end();
            return Err(Error::Data {
                path: cfg.data.clone(),
                msg: format!(
                    "the batch loader stopped at step {step}, before the end of its epoch at step {}",
                    epoch_start + spe
                ),
            });
        }
        // End of an epoch (and perhaps of a phase): validate, checkpoint, plot.
        let epoch_done = global_epoch + 1;
        if let Some(ev) = evaluator.as_mut() {
            let res_max = *cfg.space.resolutions.iter().max().unwrap();
            let res_min = *cfg.space.resolutions.iter().min().unwrap();
            let largest = ev.accuracy(&net, &pspace.largest(res_max))?;
            let smallest = ev.accuracy(&net, &pspace.smallest(res_min))?;
            obs.message(&format!(
                "phase {} epoch {}/{} (step {step}): validation top-1 largest {:.2} %, smallest {:.2} %",
                phase.name,
                pos.epoch + 1,
                phase.epochs,
                largest * 100.0,
                smallest * 100.0
            ));
            let m = Metric::Validation {
                step,
                phase: phase.name.clone(),
                epoch: epoch_done,
                largest,
                smallest,
            };
            log.push(m)?;
            last_val = (Some(largest), Some(smallest));
        }
        save(step, epoch_done, &mut log)?;
        if lead {
            super::metrics::draw_metrics(&**obs, &out.join("training.png"), log.all())?;
        }
        // Ranks on different GPU models may round differently: every epoch starts again from
        // rank 0's state, so the ranks cannot drift apart (nor re-order channels differently).
        broadcast_state(e, &net, &sgd, &mut step, &*comm)?;
        if stop {
            obs.end();
            let finished = cfg.schedule.position(step, spe).is_none();
            return Ok((net, summary(step, image_subnets, finished, last_val)));
        }
    }
    obs.end();
    Ok((net, summary(step, image_subnets, true, last_val)))
}
