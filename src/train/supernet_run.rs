//! A supernet training run: data split, the progressive-shrinking schedule, batches prepared on
//! worker threads, several subnets per step, validation of the largest and smallest subnets
//! after BN recalibration, metrics as JSON lines, a loss/accuracy plot, and atomic checkpoints
//! from which `resume` continues to the same final weights (the loop, checkpoints, resume and
//! profiling are `train::runner`'s).
//!
//! Everything random is derived from (seed, global step), so the state of a run is its step.

use super::checkpoint::{Named, Tensors, restore, snapshot};
use super::config::{RunConfig, RunSummary};
use super::data::{RunData, load_data};
use super::dist::{Collective, GradSync, Solo, broadcast_state, check_same, what_ranks_share};
use super::eval::SubnetEvaluator;
use super::loader::Loader;
use super::metrics::Metric;
use super::plan::{epoch_batches, run_augment, step_plan, steps_per_epoch};
use super::runner::{Epoch, LoopOptions, Trained, Trainee, train_loop};
use super::{StepConfig, train_step};
use crate::arch::SearchSpace;
use crate::data::augment::Augment;
use crate::error::Field;
use crate::nn::{Module, Sgd};
use crate::observer::Observer;
use crate::supernet::Supernet;
use crate::{Engine, Error, Result};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

/// How to run (not part of the run's identity).
#[derive(Clone, Default)]
pub struct RunOptions {
    pub out: PathBuf,
    pub resume: bool,
    /// Checkpoint every K steps (0: only at epoch and phase ends).
    pub checkpoint_every: usize,
    /// Stop with a checkpoint after this many steps in total.
    pub max_steps: Option<usize>,
    /// Worker threads preparing batches.
    pub workers: usize,
    /// Skip validation at epoch ends (tests).
    pub no_validation: bool,
    /// The data-parallel ranks this process trains with (none: it trains alone); their number
    /// must be the run's `ranks`.
    pub comm: Option<Rc<dyn Collective>>,
    /// Profile `profile_steps` steps after the first of this invocation: per-kernel table
    /// printed, Chrome/Perfetto trace written here.
    pub profile: Option<PathBuf>,
    pub profile_steps: usize,
}

/// Refuse, before anything is allocated, a batch whose largest activation (of the largest
/// subnet at the largest resolution) cannot be one buffer on this adapter.
pub fn check_adapter_fits(e: &Engine, space: &SearchSpace, batch: usize) -> Result<()> {
    let r = *space.resolutions.iter().max().expect("validated");
    let net = space.network(&space.largest(r))?;
    let g = crate::mcu::walk::build(&net);
    let per_image = (0..g.tensors.len()).map(|t| g.bytes(t)).max().unwrap_or(0);
    let bytes = per_image as u128 * batch as u128 * 4;
    let limit = e.gpu.max_binding_bytes();
    if bytes > limit as u128 {
        return Err(Error::bad(
            Field::Batch,
            batch,
            format!(
                "at resolution {r} the largest activation needs {} MiB, over this adapter's {} MiB per buffer; use a smaller {} or resolution",
                bytes >> 20,
                limit >> 20,
                Field::Batch
            ),
        ));
    }
    Ok(())
}

/// A supernet, its optimizer and data, ready to train: its parameter count is known before
/// any step runs.
pub struct SupernetTrainee {
    e: Rc<Engine>,
    cfg: RunConfig,
    comm: Rc<dyn Collective>,
    data: RunData,
    net: Supernet,
    sgd: Sgd,
    grad_sync: Option<GradSync>,
    evaluator: Option<SubnetEvaluator>,
    aug: Augment,
    step_cfg: StepConfig,
    workers: usize,
    spe: usize,
    /// The current epoch: its batches, phase, epoch within the phase and in the run.
    loader: Option<Loader>,
    phase: usize,
    epoch_in_phase: usize,
    global_epoch: usize,
    /// Validation top-1 of the largest and smallest subnets at the last epoch end.
    last_val: (Option<f64>, Option<f64>),
    /// An epoch began and has not ended.
    epoch_open: bool,
}

impl SupernetTrainee {
    /// Everything checked and allocated for training `cfg` (nothing on disk touched yet).
    pub fn new(e: &Rc<Engine>, cfg: &RunConfig, opts: &RunOptions) -> Result<SupernetTrainee> {
        cfg.validate()?;
        if opts.max_steps == Some(0) {
            return Err(Error::bad(
                Field::MaxSteps,
                0,
                "give at least 1 (or leave it out to train the whole schedule)",
            ));
        }
        // Data-parallel ranks: rank 0 leads (the only writer), every rank trains its share.
        let comm: Rc<dyn Collective> = opts.comm.clone().unwrap_or_else(|| Rc::new(Solo));
        let world = comm.size();
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
            return Err(Error::bad(
                Field::Batch,
                cfg.batch,
                format!(
                    "on each of {world} ranks needs {} training images a step; there are {}: give {} {} or less, or fewer ranks",
                    cfg.batch * world,
                    data.train.len(),
                    Field::Batch,
                    data.train.len() / world
                ),
            ));
        }
        let net = Supernet::new(e, &cfg.space, cfg.seed)?;
        let sgd = Sgd::new(e, net.param_list(), cfg.momentum, true, cfg.weight_decay)?;
        let grad_sync = if world > 1 {
            Some(GradSync::new(e, &sgd)?)
        } else {
            None
        };
        if world > 1 {
            check_same(
                &what_ranks_share(
                    &config_json(cfg),
                    (opts.max_steps, opts.checkpoint_every),
                    &data,
                    &net,
                    &sgd,
                ),
                &*comm,
            )?;
        }
        let evaluator = if opts.no_validation || comm.rank() != 0 {
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
        Ok(SupernetTrainee {
            e: e.clone(),
            aug: run_augment(cfg, &data)?,
            spe: steps_per_epoch(cfg, data.train.len()),
            step_cfg: StepConfig {
                distill_weight: cfg.distill_weight,
                label_smoothing: cfg.label_smoothing,
                ..StepConfig::default()
            },
            cfg: cfg.clone(),
            comm,
            data,
            net,
            sgd,
            grad_sync,
            evaluator,
            workers: opts.workers,
            loader: None,
            phase: 0,
            epoch_in_phase: 0,
            global_epoch: 0,
            last_val: (None, None),
            epoch_open: false,
        })
    }

    /// The supernet's parameters (every shared weight, counted once).
    pub fn params(&self) -> usize {
        self.net.param_list().iter().map(|p| p.tensor.numel()).sum()
    }

    /// Train (or, with `opts.resume`, continue) into `opts.out`.
    pub fn train(
        mut self,
        opts: &RunOptions,
        obs: &dyn Observer,
    ) -> Result<(Supernet, RunSummary)> {
        let e = self.e.clone();
        let options = LoopOptions {
            label: "",
            out: Some(&opts.out),
            config: config_json(&self.cfg),
            resume: opts.resume,
            ranks: self.comm.size(),
            lead: self.comm.rank() == 0,
            checkpoint_every: opts.checkpoint_every,
            max_steps: opts.max_steps,
            profile: opts.profile.clone().map(|p| (p, opts.profile_steps.max(1))),
            metrics: true,
        };
        let r = train_loop(&e, &mut self, &options, obs)?;
        // A run stopped inside an epoch reports no validation (its last one is of other weights).
        let (largest_val, smallest_val) = if self.epoch_open {
            (None, None)
        } else {
            self.last_val
        };
        let summary = RunSummary {
            steps: r.steps,
            resumed_at: r.resumed_at,
            seconds: r.seconds,
            image_subnets_per_s: r.work as f64 / r.seconds,
            largest_val,
            smallest_val,
            finished: r.finished,
        };
        Ok((self.net, summary))
    }
}

fn config_json(cfg: &RunConfig) -> serde_json::Value {
    serde_json::to_value(cfg).expect("config serialises")
}

/// Train (or, with `opts.resume`, continue) the supernet of `cfg` into `opts.out`.
pub fn train_supernet(
    e: &Rc<Engine>,
    cfg: &RunConfig,
    opts: &RunOptions,
    obs: &dyn Observer,
) -> Result<(Supernet, RunSummary)> {
    SupernetTrainee::new(e, cfg, opts)?.train(opts, obs)
}

impl Trainee for SupernetTrainee {
    fn total_steps(&self) -> usize {
        self.cfg.schedule.total_steps(self.spe)
    }

    fn begin_epoch(&mut self, step: usize, obs: &dyn Observer) -> Result<Option<Epoch>> {
        let cfg = &self.cfg;
        let Some(pos) = cfg.schedule.position(step, self.spe) else {
            return Ok(None);
        };
        let phase = &cfg.schedule.phases[pos.phase];
        if phase.reorder_channels && step == pos.phase_start {
            self.net.reorder_channels(Some(&self.sgd))?;
            obs.message(&format!(
                "phase {}: middle channels re-ordered by importance",
                phase.name
            ));
        }
        let specs = epoch_batches(cfg, self.data.train.len(), step, self.comm.rank())
            .expect("the schedule runs at this step");
        self.loader = Some(Loader::spawn(
            self.data.train.clone(),
            self.aug,
            specs,
            self.workers,
            2,
        ));
        self.epoch_open = true;
        self.phase = pos.phase;
        self.epoch_in_phase = pos.epoch;
        self.global_epoch = cfg.schedule.phases[..pos.phase]
            .iter()
            .map(|p| p.epochs)
            .sum::<usize>()
            + pos.epoch;
        Ok(Some(Epoch {
            index: self.global_epoch,
            end: step - pos.step_in_epoch + self.spe,
            label: format!("phase {}, epoch {}", phase.name, pos.epoch),
        }))
    }

    fn step(&mut self, step: usize) -> Result<Option<Trained>> {
        let (e, cfg) = (&self.e, &self.cfg);
        let wait = Instant::now();
        let Some(b) = self.loader.as_mut().and_then(|l| l.next()) else {
            return Ok(None);
        };
        e.gpu.cpu_span("data: wait for the loader", wait);
        let t0 = Instant::now();
        let x = e.tensor(&b.x, &[cfg.batch, b.channels, b.resolution, b.resolution])?;
        let y = e.tensor(&b.y, &[cfg.batch])?;
        let (subnets, lr) = step_plan(cfg, self.spe, step, b.resolution);
        let sync = self.grad_sync.as_ref().map(|g| (g, &*self.comm));
        let losses = train_step(
            e,
            &self.net,
            &self.sgd,
            &x,
            &y,
            &subnets,
            lr,
            &self.step_cfg,
            sync,
        )?;
        let world = self.comm.size();
        let metric = Metric::Step {
            step: step + 1,
            phase: cfg.schedule.phases[self.phase].name.clone(),
            epoch: self.global_epoch,
            lr,
            losses: losses.clone(),
            images_per_s: (world * cfg.batch) as f64 / t0.elapsed().as_secs_f64(),
        };
        Ok(Some(Trained {
            work: world * cfg.batch * subnets.len(),
            losses: Some(losses),
            metric: Some(metric),
        }))
    }

    fn status(&self, _step: usize, losses: Option<&[f32]>, rate: f64) -> String {
        let losses = losses.unwrap_or_default();
        let mean = losses.iter().sum::<f32>() / losses.len() as f32;
        let phases = &self.cfg.schedule.phases;
        format!(
            "{} {}/{} epoch {}/{} loss {mean:.3} {rate:.0} img-subnets/s",
            phases[self.phase].name,
            self.phase + 1,
            phases.len(),
            self.epoch_in_phase + 1,
            phases[self.phase].epochs,
        )
    }

    fn end_epoch(&mut self, step: usize, obs: &dyn Observer) -> Result<Option<Metric>> {
        self.epoch_open = false;
        let Some(ev) = self.evaluator.as_mut() else {
            return Ok(None);
        };
        let cfg = &self.cfg;
        let phase = &cfg.schedule.phases[self.phase];
        let pspace = phase.space(&cfg.space);
        let res_max = *cfg.space.resolutions.iter().max().unwrap();
        let res_min = *cfg.space.resolutions.iter().min().unwrap();
        let largest = ev.accuracy(&self.net, &pspace.largest(res_max))?;
        let smallest = ev.accuracy(&self.net, &pspace.smallest(res_min))?;
        obs.message(&format!(
            "phase {} epoch {}/{} (step {step}): validation top-1 largest {:.2} %, smallest {:.2} %",
            phase.name,
            self.epoch_in_phase + 1,
            phase.epochs,
            largest * 100.0,
            smallest * 100.0
        ));
        self.last_val = (Some(largest), Some(smallest));
        Ok(Some(Metric::Validation {
            step,
            phase: phase.name.clone(),
            epoch: self.global_epoch + 1,
            largest,
            smallest,
        }))
    }

    fn snapshot(&self) -> Result<Vec<Named>> {
        snapshot(&self.e, &self.net, &self.sgd)
    }

    fn restore(&self, tensors: Tensors) -> Result<()> {
        restore(&self.e, &self.net, &self.sgd, tensors)
    }

    fn share_state(&mut self, step: &mut usize) -> Result<()> {
        broadcast_state(&self.e, &self.net, &self.sgd, step, &*self.comm)
    }

    fn ended_early(&self, step: usize, end: usize) -> Error {
        Error::Data {
            path: self.cfg.data.clone(),
            msg: format!(
                "the batch loader stopped at step {step}, before the end of its epoch at step {end}"
            ),
        }
    }
}
