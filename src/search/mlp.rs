//! The predictor's network and its fit: a 3-layer MLP on the GPU, trained full-batch with Adam
//! on standardised targets, early stopping on a held-out part of the pairs.

use super::encoding::{encode, encoding_len};
use crate::arch::{SearchSpace, SubnetConfig};
use crate::error::{Error, Result};
use crate::nn::init::normal;
use crate::nn::{Adam, ParamEntry};
use crate::{Engine, Tensor};
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};
use std::rc::Rc;

pub(super) struct Mlp {
    params: Vec<Tensor>,
}

impl Mlp {
    pub(super) fn shapes(inp: usize, h: usize) -> [Vec<usize>; 6] {
        [
            vec![h, inp],
            vec![h],
            vec![h, h],
            vec![h],
            vec![1, h],
            vec![1],
        ]
    }
    pub(super) fn new(e: &Rc<Engine>, inp: usize, h: usize, weights: &[Vec<f32>]) -> Result<Mlp> {
        let params = Mlp::shapes(inp, h)
            .iter()
            .zip(weights)
            .map(|(s, w)| e.param(w, s))
            .collect::<Result<_>>()?;
        Ok(Mlp { params })
    }
    pub(super) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let p = &self.params;
        let h = x.linear(&p[0], Some(&p[1]))?.relu()?;
        let h = h.linear(&p[2], Some(&p[3]))?.relu()?;
        h.linear(&p[4], Some(&p[5]))
    }
}

/// Steps between early-stopping checks.
const CHECK_EVERY: usize = 10;

/// The encodings of `subnets`, one row each.
pub(super) fn encode_all<'a>(
    space: &SearchSpace,
    subnets: impl ExactSizeIterator<Item = &'a SubnetConfig>,
) -> Result<Vec<f32>> {
    let mut x = Vec::with_capacity(subnets.len() * encoding_len(space));
    for s in subnets {
        x.extend(encode(space, s)?);
    }
    Ok(x)
}

/// How an MLP is trained (the predictor's `FitOptions` give these).
#[derive(Clone, Copy, Debug)]
pub(super) struct MlpOptions {
    pub hidden: usize,
    pub iterations: usize,
    pub lr: f32,
    pub weight_decay: f32,
    pub patience: usize,
}

/// A trained MLP: its weights (the shapes of `Mlp::shapes`), the standardisation of its
/// targets, and the Adam steps of the weights kept.
pub(super) struct Trained {
    pub weights: Vec<Vec<f32>>,
    pub target_mean: f64,
    pub target_std: f64,
    pub steps: usize,
}

/// An MLP fitted to the `(subnet, top-1)` pairs: 15 % of them (when there are 8 or more) stop
/// the fit early and its best weights are kept. Targets are standardised on the fitted part, so
/// the output bias starts at the mean accuracy.
pub(super) fn train_mlp(
    e: &Rc<Engine>,
    space: &SearchSpace,
    samples: &[(&SubnetConfig, f64)],
    o: &MlpOptions,
    seed: u64,
) -> Result<Trained> {
    let mut order: Vec<(&SubnetConfig, f64)> = samples.to_vec();
    order.shuffle(&mut StdRng::seed_from_u64(seed ^ 0x51));
    let n_stop = if order.len() >= 8 {
        (order.len() as f64 * 0.15).round().max(1.0) as usize
    } else {
        0
    };
    let (stop, fit) = order.split_at(n_stop);
    let ys: Vec<f64> = fit.iter().map(|s| s.1).collect();
    let mean = ys.iter().sum::<f64>() / ys.len() as f64;
    let std = (ys.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / ys.len() as f64)
        .sqrt()
        .max(1e-6);
    let inp = encoding_len(space);
    let h = o.hidden;
    let mut rng = StdRng::seed_from_u64(seed ^ 0x77);
    let init: Vec<Vec<f32>> = Mlp::shapes(inp, h)
        .iter()
        .map(|s| {
            if s.len() == 2 {
                normal(&mut rng, s[0] * s[1], (2.0 / s[1] as f64).sqrt())
            } else {
                vec![0.0; s[0]]
            }
        })
        .collect();
    let mlp = Mlp::new(e, inp, h, &init)?;
    let tx = e.tensor(
        &encode_all(space, fit.iter().map(|s| s.0))?,
        &[fit.len(), inp],
    )?;
    let ty: Vec<f32> = ys.iter().map(|y| ((y - mean) / std) as f32).collect();
    let ty = e.tensor(&ty, &[fit.len(), 1])?;
    let stop_x = if stop.is_empty() {
        None
    } else {
        Some(e.tensor(
            &encode_all(space, stop.iter().map(|s| s.0))?,
            &[stop.len(), inp],
        )?)
    };
    let stop_y: Vec<f64> = stop.iter().map(|s| (s.1 - mean) / std).collect();
    let entries: Vec<ParamEntry> = mlp
        .params
        .iter()
        .enumerate()
        .map(|(i, t)| ParamEntry {
            name: format!("mlp.{i}"),
            tensor: t.clone(),
            decay: i % 2 == 0,
        })
        .collect();
    let mut adam = Adam::new(e, entries, o.weight_decay)?;
    let weights =
        |m: &Mlp| -> Result<Vec<Vec<f32>>> { m.params.iter().map(|t| t.to_vec()).collect() };
    let (mut best, mut best_loss, mut best_step, mut since) = (None, f64::INFINITY, 0, 0);
    let mut step = 0;
    while step < o.iterations {
        adam.zero_grad(e);
        let loss = mlp.forward(&tx)?.mse(&ty)?;
        e.backward(&loss)?;
        adam.step(e, o.lr)?;
        step += 1;
        if let Some(sx) = &stop_x
            && (step % CHECK_EVERY == 0 || step == o.iterations)
        {
            let pred = {
                let _g = e.no_grad();
                mlp.forward(sx)?.to_vec()?
            };
            let l = pred
                .iter()
                .zip(&stop_y)
                .map(|(&p, y)| (p as f64 - y).powi(2))
                .sum::<f64>()
                / stop_y.len() as f64;
            if l < best_loss {
                (best, best_loss, best_step, since) = (Some(weights(&mlp)?), l, step, 0);
            } else {
                since += 1;
                if since >= o.patience {
                    break;
                }
            }
        }
    }
    let (weights, steps) = match best {
        Some(w) => (w, best_step),
        None => (weights(&mlp)?, step),
    };
    if !weights.iter().flatten().all(|w| w.is_finite()) {
        return Err(Error::NonFinite {
            at: "predictor fit".into(),
            value: f32::NAN,
            lower: crate::error::Field::Lr,
        });
    }
    Ok(Trained {
        weights,
        target_mean: mean,
        target_std: std,
        steps,
    })
}
