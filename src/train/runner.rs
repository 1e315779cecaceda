//! The training loop every kind of run shares — the supernet's (sampled subnets, distillation),
//! a fixed network's, a subnet's fine-tuning: epochs of steps from where the run stands,
//! resume (the checkpoint checked, restored and its done steps skipped), checkpoints
//! (`checkpoint::save`, published whole), the profiling window, the stop at a non-finite loss,
//! metrics and progress. What a step trains, and what an epoch's end measures, the model says
//! through [`Trainee`].

use super::checkpoint::{self, Named, Tensors};
use super::metrics::{Metric, MetricsLog, draw_metrics, read_metrics};
use crate::error::Field;
use crate::observer::Observer;
use crate::{Engine, Error, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One epoch as the loop runs it.
pub struct Epoch {
    /// Epochs of the run done before this one (a checkpoint at its end says `index + 1`).
    pub index: usize,
    /// The step at which it ends.
    pub end: usize,
    /// Where it is in words, for a stopped run's message: "epoch 2", "phase kernel, epoch 0".
    pub label: String,
}

/// What one step trained.
pub struct Trained {
    /// The step's losses, where it read them (a step may leave them on the GPU).
    pub losses: Option<Vec<f32>>,
    /// Its work for the rate the progress shows (images, or images × subnets).
    pub work: usize,
    /// Its line of metrics.jsonl (runs that keep one).
    pub metric: Option<Metric>,
}

/// A model the loop trains: it plans epochs, trains one batch at a time and measures at an
/// epoch's end; its weights and optimizer state are what a checkpoint holds.
pub trait Trainee {
    /// Steps of the whole run.
    fn total_steps(&self) -> usize;
    /// Starts the epoch that holds `step`, with its batches from `step` on; None once the run
    /// has trained every step.
    fn begin_epoch(&mut self, step: usize, obs: &dyn Observer) -> Result<Option<Epoch>>;
    /// Trains the epoch's next batch as step `step` (counted from 0); None when its batches
    /// ran out.
    fn step(&mut self, step: usize) -> Result<Option<Trained>>;
    /// The progress line after `step` steps: the last step's losses (where read) and the work
    /// per second so far.
    fn status(&self, step: usize, losses: Option<&[f32]>, rate: f64) -> String;
    /// An epoch ended at `step`: validation or test, told to `obs`; a metric to log.
    fn end_epoch(&mut self, step: usize, obs: &dyn Observer) -> Result<Option<Metric>>;
    /// Everything a checkpoint holds (weights, statistics, optimizer state).
    fn snapshot(&self) -> Result<Vec<Named>>;
    /// A checkpoint's tensors back into the model.
    fn restore(&self, tensors: Tensors) -> Result<()>;
    /// Every data-parallel rank takes rank 0's state and `step`: at the start and after every
    /// epoch (a run of one process: nothing to do).
    fn share_state(&mut self, _step: &mut usize) -> Result<()> {
        Ok(())
    }
    /// The error for an epoch whose batches ran out at `step`, before its end at `end`.
    fn ended_early(&self, step: usize, end: usize) -> Error {
        Error::Invalid(format!(
            "the batches stopped at step {step}, before the end of their epoch at step {end}"
        ))
    }
}

/// How the loop runs (the model's settings are the trainee's).
pub struct LoopOptions<'a> {
    /// The progress bar's label.
    pub label: &'a str,
    /// The run folder: lock, checkpoints, metrics (none: nothing is written).
    pub out: Option<&'a Path>,
    /// The run's settings, saved in every checkpoint and compared on resume.
    pub config: serde_json::Value,
    /// Continue the run in `out` from its checkpoint.
    pub resume: bool,
    /// Data-parallel ranks training together; `lead`: this is rank 0, the only writer.
    pub ranks: usize,
    pub lead: bool,
    /// Checkpoint every K steps as well as at every epoch end (0: epoch ends only).
    pub checkpoint_every: usize,
    /// Stop with a checkpoint after this many steps in total.
    pub max_steps: Option<usize>,
    /// Profile this many steps after the first of this invocation (a warm-up), the
    /// Chrome/Perfetto trace written to the file.
    pub profile: Option<(PathBuf, usize)>,
    /// Keep metrics.jsonl and draw training.png in `out`.
    pub metrics: bool,
}

/// What the loop did.
#[derive(Clone, Debug)]
pub struct LoopReport {
    /// The step this invocation started from (0, or a resumed run's checkpoint).
    pub resumed_at: usize,
    pub steps: usize,
    pub seconds: f64,
    /// The steps' work (images, or images × subnets) this invocation.
    pub work: usize,
    /// Every step of the run trained (not stopped by `max_steps`).
    pub finished: bool,
    /// Mean step time (s) of the profiled steps and of the steps after them.
    pub profile_overhead: Option<(f64, f64)>,
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
            let _ = std::fs::remove_file(self.0.join(super::metrics::PENDING_METRICS));
        }
    }
}

/// Train `t` from its checkpoint in `o.out` (with `o.resume`) or from its first step, to the
/// end of its epochs or to `o.max_steps`.
pub fn train_loop(
    e: &Engine,
    t: &mut impl Trainee,
    o: &LoopOptions,
    obs: &dyn Observer,
) -> Result<LoopReport> {
    let writer = o.out.filter(|_| o.lead);
    // Checked before the folder is made or locked: a refusal leaves it as it was (both are
    // checked again under the lock).
    if let Some(out) = writer {
        if o.resume {
            checkpoint::check_resume(out, &o.config, o.ranks, o.max_steps)?;
        } else if out.is_dir() {
            checkpoint::refuse_overwrite(out)?;
        }
    }
    let _lock = writer
        .map(|out| crate::io::lock_dir(out, Field::Out))
        .transpose()?;
    let mut step = 0;
    let mut metrics = Vec::new();
    match writer {
        Some(out) if o.resume => {
            let (state, tensors) = checkpoint::load(out)?;
            checkpoint::check_resumable(out, &state, &o.config, o.ranks, o.max_steps)?;
            t.restore(tensors)?;
            step = state.step;
            if o.metrics {
                // A killed run may have logged past its checkpoint.
                metrics = read_metrics(out)?
                    .into_iter()
                    .filter(|m| m.step() <= step)
                    .collect();
            }
            obs.message(&format!(
                "resumed {} at step {step} (epoch {})",
                out.display(),
                state.epoch
            ));
        }
        Some(out) => checkpoint::refuse_overwrite(out)?,
        // Another rank than 0 takes rank 0's state below.
        None => {}
    }
    t.share_state(&mut step)?;
    // A new run that stops before its first checkpoint takes back the files it wrote, so the
    // folder can start a run again.
    let _undo = writer
        .filter(|_| !o.resume)
        .map(|out| UndoUnfinished(out.to_path_buf()));
    let log = match o.out.filter(|_| o.metrics) {
        Some(out) => Some(MetricsLog::new(out, metrics, o.resume, o.lead)?),
        None => None,
    };
    obs.start(o.label, t.total_steps(), step);
    let mut run = Running {
        e,
        o,
        obs,
        writer,
        log,
        first: step,
        start: Instant::now(),
        work: 0,
        step_secs: Vec::new(),
    };
    let result = run.epochs(t, step);
    obs.end();
    let steps = result?;
    run.finish_profile(steps.0)?;
    let seconds = run.start.elapsed().as_secs_f64();
    let n = o.profile.as_ref().map_or(0, |p| p.1);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    Ok(LoopReport {
        resumed_at: run.first,
        steps: steps.0,
        seconds,
        work: run.work,
        finished: steps.1,
        profile_overhead: (n > 0 && run.step_secs.len() > 2 * n + 1)
            .then(|| (mean(&run.step_secs[1..=n]), mean(&run.step_secs[1 + n..]))),
    })
}

/// The loop's state between its steps.
struct Running<'a> {
    e: &'a Engine,
    o: &'a LoopOptions<'a>,
    obs: &'a dyn Observer,
    writer: Option<&'a Path>,
    log: Option<MetricsLog>,
    first: usize,
    start: Instant,
    work: usize,
    step_secs: Vec<f64>,
}

impl Running<'_> {
    /// Every epoch from `step`: the step reached and whether the run trained all of them.
    fn epochs(&mut self, t: &mut impl Trainee, mut step: usize) -> Result<(usize, bool)> {
        while let Some(epoch) = t.begin_epoch(step, self.obs)? {
            let mut stop = false;
            while let Some(trained) = self.step(t, step, &epoch)? {
                step += 1;
                self.after_step(t, step, trained)?;
                if self.o.max_steps == Some(step) {
                    if step < epoch.end {
                        self.save(t, step, epoch.index)?;
                        return Ok((step, false));
                    }
                    // The epoch's last step: finish the epoch's bookkeeping first.
                    stop = true;
                }
                if self.o.checkpoint_every > 0 && step.is_multiple_of(self.o.checkpoint_every) {
                    self.save(t, step, epoch.index)?;
                }
            }
            if !stop && step != epoch.end {
                // A batch worker failed: stop rather than start the rest of the epoch over,
                // which would fail the same way.
                return Err(t.ended_early(step, epoch.end));
            }
            if let Some(m) = t.end_epoch(step, self.obs)? {
                self.push(m)?;
            }
            self.save(t, step, epoch.index + 1)?;
            if let (Some(out), Some(log)) = (self.writer, &self.log) {
                draw_metrics(self.obs, &out.join("training.png"), log.all())?;
            }
            // Ranks on different GPU models may round differently: every epoch starts again
            // from rank 0's state, so the ranks cannot drift apart.
            t.share_state(&mut step)?;
            if stop {
                return Ok((step, step >= t.total_steps()));
            }
        }
        Ok((step, true))
    }

    /// Step `step` of `epoch` trained, its losses checked: a non-finite one stops the run,
    /// naming the step and what is left on disk.
    fn step(
        &mut self,
        t: &mut impl Trainee,
        step: usize,
        epoch: &Epoch,
    ) -> Result<Option<Trained>> {
        if self.o.lead && self.o.profile.is_some() && step == self.first + 1 {
            self.e.gpu.start_profiling(false);
        }
        let t0 = Instant::now();
        let trained = match t.step(step) {
            Ok(Some(trained)) => trained,
            Ok(None) => return Ok(None),
            Err(Error::NonFinite { at, value, .. }) => {
                return Err(self.stopped(step, epoch, Some(&at), value));
            }
            Err(err) => return Err(err),
        };
        if let Some(&v) = trained.losses.iter().flatten().find(|v| !v.is_finite()) {
            return Err(self.stopped(step, epoch, None, v));
        }
        self.step_secs.push(t0.elapsed().as_secs_f64());
        Ok(Some(trained))
    }

    fn stopped(&self, step: usize, epoch: &Epoch, at: Option<&str>, value: f32) -> Error {
        let mut at = format!(
            "step {step} ({}){}",
            epoch.label,
            at.map(|a| format!(": {a}")).unwrap_or_default()
        );
        if let Some(out) = self.o.out {
            at += &if out.join("state.json").is_file() {
                format!("; the last checkpoint in {} is intact", out.display())
            } else {
                format!(
                    "; it stopped before its first checkpoint and left nothing in {} but its lock file (.tinynas.lock)",
                    out.display()
                )
            };
        }
        Error::NonFinite {
            at,
            value,
            lower: Field::Lr,
        }
    }

    /// After step `step` (counted from 1): the profile window, metrics, progress.
    fn after_step(&mut self, t: &impl Trainee, step: usize, trained: Trained) -> Result<()> {
        if let Some((path, n)) = &self.o.profile
            && self.o.lead
            && step == self.first + 1 + n
        {
            let rep = crate::io::finish_profiling(&self.e.gpu, path)?;
            self.obs.profile(&rep, path);
            self.obs
                .message(&format!("(profiled steps {}..={step})", self.first + 2));
        }
        self.work += trained.work;
        if let Some(m) = trained.metric {
            self.push(m)?;
        }
        let rate = self.work as f64 / self.start.elapsed().as_secs_f64();
        self.obs
            .step(&t.status(step, trained.losses.as_deref(), rate));
        Ok(())
    }

    fn push(&mut self, m: Metric) -> Result<()> {
        match self.log.as_mut() {
            Some(log) => log.push(m),
            None => Ok(()),
        }
    }

    /// A checkpoint at `step` (rank 0 of a run with a folder; the metrics first: a resumed run
    /// reads them up to its checkpoint's step).
    fn save(&mut self, t: &impl Trainee, step: usize, epoch: usize) -> Result<()> {
        let Some(out) = self.writer else {
            return Ok(());
        };
        if let Some(log) = self.log.as_mut() {
            log.before_checkpoint()?;
        }
        checkpoint::save(out, step, epoch, self.o.config.clone(), &t.snapshot()?)?;
        match self.log.as_mut() {
            Some(log) => log.after_checkpoint(),
            None => Ok(()),
        }
    }

    /// The run ended inside its profiled steps: the trace of those it ran, or a word.
    fn finish_profile(&self, step: usize) -> Result<()> {
        let Some((path, n)) = self.o.profile.as_ref().filter(|_| self.o.lead) else {
            return Ok(());
        };
        let ran = (step - self.first).saturating_sub(1);
        if self.e.gpu.profiling() {
            self.obs
                .profile(&crate::io::finish_profiling(&self.e.gpu, path)?, path);
            self.obs.message(&format!(
                "{} {n}: the run ended after {ran} profiled step(s); the trace holds those",
                Field::ProfileSteps
            ));
        } else if ran == 0 {
            self.obs.message(&format!(
                "{}: the run ended after its first (warm-up) step; no step profiled, no trace written to {}",
                Field::Profile,
                path.display()
            ));
        }
        Ok(())
    }
}
