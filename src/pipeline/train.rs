//! Training, as the command line runs it: a supernet into a run folder (`train`), one fixed
//! network (`train-mobilenet`). Options are checked before the GPU opens; a supernet's plan
//! (its settings and parameter count) is known before its first step, for the caller to show.

use crate::arch::SearchSpace;
use crate::error::Field;
use crate::observer::Observer;
use crate::train::config::{RunConfig, RunSummary};
use crate::train::fixed::{FixedOptions, FixedReport};
use crate::train::supernet_run::{RunOptions, SupernetTrainee};
use crate::{Engine, Result};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// A supernet run: its settings and how to run it.
pub struct TrainOptions {
    pub cfg: RunConfig,
    pub run: RunOptions,
}

/// The run folder, the trace path and the worker count checked before the GPU opens (the
/// folder by rank 0 alone: the other ranks write nothing).
pub fn check_run_options(run: &RunOptions, lead: bool) -> Result<()> {
    if lead {
        let out = &run.out;
        crate::io::check_out_dir(out, Field::Out)?;
        crate::io::check_lock(out, Field::Out)?;
        if let Some(p) = &run.profile {
            crate::io::check_trace_path(p, Field::Profile)?;
        }
        if run.resume {
            crate::train::checkpoint::check_has_run(out)?;
        }
    }
    crate::bounds::int(Field::Workers, run.workers, 1, 64)
}

/// What a supernet run did.
#[derive(Clone, Debug)]
pub struct TrainReport {
    pub summary: RunSummary,
    /// The adapter this process trained on.
    pub adapter: String,
    /// Data-parallel ranks that trained together.
    pub ranks: usize,
    pub out: PathBuf,
}

/// A supernet run ready to start: data loaded, supernet and optimizer allocated, the ranks
/// agreed; nothing written yet.
pub struct Training {
    trainee: SupernetTrainee,
    opts: TrainOptions,
    adapter: String,
    /// The supernet's parameters.
    pub params: usize,
}

/// Everything a supernet run needs, checked and allocated.
pub fn prepare(e: &Rc<Engine>, opts: TrainOptions) -> Result<Training> {
    let trainee = SupernetTrainee::new(e, &opts.cfg, &opts.run)?;
    Ok(Training {
        params: trainee.params(),
        trainee,
        opts,
        adapter: e.gpu.info.name.clone(),
    })
}

impl Training {
    pub fn cfg(&self) -> &RunConfig {
        &self.opts.cfg
    }

    /// Train (or continue) the run: progress, validation results and profiles told to `obs`.
    pub fn run(self, obs: &dyn Observer) -> Result<TrainReport> {
        let (_, summary) = self.trainee.train(&self.opts.run, obs)?;
        Ok(TrainReport {
            summary,
            adapter: self.adapter,
            ranks: self.opts.cfg.ranks,
            out: self.opts.run.out,
        })
    }
}

/// The default search space for the data in `data` (its channels and classes, images of
/// folders resized to `image_size`): the MCUNet space of BENCHMARKS.md at `width` and
/// `resolutions`.
pub fn default_space(
    data: &Path,
    image_size: usize,
    resolutions: &[usize],
    width: f64,
) -> Result<SearchSpace> {
    let (train, _) = crate::data::load_any(data, image_size)?;
    Ok(SearchSpace {
        in_channels: train.channels,
        classes: train.classes,
        resolutions: resolutions.to_vec(),
        width_mult: width,
        ..SearchSpace::default()
    })
}

/// Train one fixed network (`FixedOptions::validate` first, before the GPU opens).
pub fn train_network(e: &Rc<Engine>, o: &FixedOptions, obs: &dyn Observer) -> Result<FixedReport> {
    crate::train::fixed::train_fixed(e, o, obs)
}
