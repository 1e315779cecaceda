//! Supernet training: the per-batch step that trains several subnets on shared weights, the
//! progressive-shrinking schedule, batch loading on worker threads, subnet evaluation with BN
//! recalibration, the training run with metrics and checkpoints.

pub mod checkpoint;
pub mod compare;
pub mod config;
pub mod data;
pub mod dist;
pub mod eval;
pub mod fixed;
pub mod loader;
pub mod metrics;
pub mod open;
pub mod plan;
pub mod run;
pub mod runner;
pub mod schedule;
pub mod supernet_run;

use crate::arch::{SearchSpace, SubnetConfig};
use crate::autograd::ops::norm::BnMode;
use crate::nn::Sgd;
use crate::supernet::Supernet;
use crate::{Engine, Error, Result, Tensor};
use rand::Rng;
use std::rc::Rc;

#[derive(Clone, Debug)]
pub struct StepConfig {
    /// Subnets per batch: the largest, the smallest, and the rest random.
    pub subnets_per_step: usize,
    /// Weight of the largest subnet's soft predictions in the other subnets' loss.
    pub distill_weight: f32,
    pub label_smoothing: f32,
    pub bn_momentum: f32,
}

impl Default for StepConfig {
    fn default() -> Self {
        StepConfig {
            subnets_per_step: 4,
            distill_weight: 1.0,
            label_smoothing: 0.1,
            bn_momentum: crate::nn::layers::BN_MOMENTUM,
        }
    }
}

/// The subnets of one step at `resolution`: largest, smallest, then random ones.
pub fn step_subnets(
    space: &SearchSpace,
    rng: &mut impl Rng,
    n: usize,
    resolution: usize,
) -> Vec<SubnetConfig> {
    let mut v = vec![space.largest(resolution)];
    if n > 1 {
        v.push(space.smallest(resolution));
    }
    while v.len() < n {
        v.push(space.sample(rng, resolution));
    }
    v
}

/// One training step: every subnet runs forward and backward on the batch with gradients
/// accumulated in the shared weights, then one SGD update. The first subnet (the largest)
/// learns from the labels; the others from the labels plus `distill_weight` times the
/// cross-entropy against the largest's soft predictions (in-place distillation, as OFA's).
/// Returns each subnet's loss. As one of several data-parallel ranks (`sync`), `x` is this
/// rank's share of the step's images, and the update uses the gradients (and returns the
/// losses) averaged over the ranks; a non-finite loss on any rank stops every rank, before the
/// update.
#[allow(clippy::too_many_arguments)]
pub fn train_step(
    e: &Rc<Engine>,
    net: &Supernet,
    sgd: &Sgd,
    x: &Tensor,
    labels: &Tensor,
    subnets: &[SubnetConfig],
    lr: f32,
    cfg: &StepConfig,
    sync: Option<(&dist::GradSync, &dyn dist::Collective)>,
) -> Result<Vec<f32>> {
    sgd.zero_grad(e);
    let mut values = accumulate(e, net, x, labels, subnets, cfg)?;
    if let Some((grads, comm)) = sync {
        grads.mean(e, sgd, &mut values, comm)?;
    }
    if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(Error::NonFinite {
            at: format!("subnet {i} of the step"),
            value: *v,
            lower: crate::error::Field::Lr,
        });
    }
    sgd.step(e, lr)?;
    Ok(values)
}

/// The forward and backward passes of a step, gradients added to those already in the shared
/// weights' gradient buffers; each subnet's loss.
pub fn accumulate(
    e: &Rc<Engine>,
    net: &Supernet,
    x: &Tensor,
    labels: &Tensor,
    subnets: &[SubnetConfig],
    cfg: &StepConfig,
) -> Result<Vec<f32>> {
    let mode = BnMode::Train {
        momentum: cfg.bn_momentum,
    };
    let mut teacher: Option<Tensor> = None;
    let mut losses = Vec::with_capacity(subnets.len());
    for (i, sub) in subnets.iter().enumerate() {
        let logits = net.forward(x, sub, mode)?;
        let hard = logits.cross_entropy(labels, cfg.label_smoothing)?;
        let loss = match &teacher {
            Some(t) if cfg.distill_weight > 0.0 => {
                // OFA's in-place distillation: the label loss plus the weighted teacher loss.
                hard.add(&logits.cross_entropy_soft(t)?.scale(cfg.distill_weight)?)?
            }
            _ => hard,
        };
        if i == 0 {
            teacher = Some(logits.detach().softmax()?);
        }
        e.backward(&loss)?;
        losses.push(loss);
    }
    losses.iter().map(|l| l.item()).collect()
}
