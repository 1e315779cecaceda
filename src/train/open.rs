//! A trained run opened for use after training (measuring, searching, exporting, evaluating):
//! its folder, settings, supernet and data.

use super::config::RunConfig;
use super::data::{RunData, load_data};
use super::eval::SubnetEvaluator;
use super::run::load_run;
use crate::observer::Observer;
use crate::supernet::Supernet;
use crate::{Engine, Result};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// A loaded run: its folder, settings, supernet, data.
pub struct Run {
    pub dir: PathBuf,
    /// The step of its checkpoint.
    pub step: usize,
    pub cfg: RunConfig,
    pub net: Supernet,
    pub data: RunData,
}

impl Run {
    /// An evaluator of this run's subnets on `split` (its validation or test images), batch
    /// norm recalibrated on `recal` of its training images.
    pub fn evaluator(
        &self,
        e: &Rc<Engine>,
        split: &crate::data::Dataset,
        recal: usize,
    ) -> Result<SubnetEvaluator> {
        SubnetEvaluator::new(
            e,
            &self.data.train,
            split,
            recal.min(self.data.train.len()),
            self.cfg.space.in_channels,
            250,
            self.cfg.seed,
        )
    }
}

/// The trained run in `dir`: settings, supernet and data; `obs` is told when the run stopped
/// before the end of its schedule.
pub fn open_run(e: &Rc<Engine>, dir: &Path, obs: &dyn Observer) -> Result<Run> {
    let (cfg, net, state) = load_run(e, dir)?;
    let data = load_data(&cfg)?;
    if cfg
        .schedule
        .position(
            state.step,
            super::plan::steps_per_epoch(&cfg, data.train.len()),
        )
        .is_some()
    {
        obs.message(&format!(
            "note: the run in {} stopped at step {}; its supernet is not fully trained",
            dir.display(),
            state.step
        ));
    }
    Ok(Run {
        dir: dir.to_path_buf(),
        step: state.step,
        cfg,
        net,
        data,
    })
}
