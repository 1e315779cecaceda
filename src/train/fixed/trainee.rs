//! A fixed network's step for the shared loop: one batch of the epoch's shuffled order,
//! forward, backward, one SGD Nesterov update on the cosine schedule; at an epoch's end, the
//! test split's top-1.

use crate::autograd::ops::norm::BnMode;
use crate::data::Dataset;
use crate::nn::net::Net;
use crate::nn::{CosineSchedule, Module, Sgd};
use crate::observer::Observer;
use crate::train::checkpoint::{Named, Tensors, restore, snapshot};
use crate::train::metrics::Metric;
use crate::train::runner::{Epoch, Trained, Trainee};
use crate::{Engine, Result};
use std::rc::Rc;
use std::time::Instant;

/// One finished epoch.
#[derive(Clone, Debug)]
pub struct EpochReport {
    pub epoch: usize,
    pub train_loss: f64,
    pub test_top1: f64,
}

/// Top-1 accuracy of `net` over `ds`, batch norm in evaluation mode.
pub fn evaluate(e: &Rc<Engine>, net: &Net, ds: &Dataset, batch: usize) -> Result<f64> {
    let _g = e.no_grad();
    let mut correct = 0;
    let idx: Vec<usize> = (0..ds.len()).collect();
    let k = net.classes();
    for chunk in idx.chunks(batch) {
        let (x, y) = ds.batch(chunk);
        let tx = e.tensor(&x, &[chunk.len(), ds.channels, ds.height, ds.width])?;
        let logits = net.forward(&tx, BnMode::Eval)?.to_vec()?;
        for (r, &label) in y.iter().enumerate() {
            let row = &logits[r * k..(r + 1) * k];
            let arg = (0..k).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
            correct += (arg == label as usize) as usize;
        }
    }
    Ok(correct as f64 / ds.len().max(1) as f64)
}

/// A fixed network with its optimizer, schedule and data.
pub struct FixedTrainee {
    e: Rc<Engine>,
    net: Net,
    sgd: Sgd,
    sched: CosineSchedule,
    train: Dataset,
    test: Dataset,
    batch: usize,
    epochs: usize,
    label_smoothing: f32,
    seed: u64,
    /// The current epoch: its batches left, the sum and count of its losses this invocation.
    epoch: usize,
    batches: std::vec::IntoIter<Vec<usize>>,
    loss_sum: f64,
    count: usize,
    /// Every epoch that ended in this invocation.
    pub reports: Vec<EpochReport>,
}

impl FixedTrainee {
    pub fn new(
        e: &Rc<Engine>,
        net: Net,
        train: Dataset,
        test: Dataset,
        o: &super::FixedOptions,
    ) -> Result<FixedTrainee> {
        let sgd = Sgd::new(e, net.param_list(), 0.9, true, o.weight_decay)?;
        let steps_per_epoch = train.len() / o.batch;
        let total = steps_per_epoch * o.epochs;
        Ok(FixedTrainee {
            e: e.clone(),
            net,
            sgd,
            sched: CosineSchedule {
                base: o.lr,
                min: 0.0,
                warmup: steps_per_epoch.min(total / 10 + 1),
                total,
            },
            train,
            test,
            batch: o.batch,
            epochs: o.epochs,
            label_smoothing: o.label_smoothing,
            seed: o.seed,
            epoch: 0,
            batches: Vec::new().into_iter(),
            loss_sum: 0.0,
            count: 0,
            reports: Vec::new(),
        })
    }

    fn steps_per_epoch(&self) -> usize {
        (self.train.len() / self.batch).max(1)
    }
}

impl Trainee for FixedTrainee {
    fn total_steps(&self) -> usize {
        self.sched.total
    }

    fn begin_epoch(&mut self, step: usize, _obs: &dyn Observer) -> Result<Option<Epoch>> {
        let spe = self.steps_per_epoch();
        let epoch = step / spe;
        if epoch >= self.epochs {
            return Ok(None);
        }
        // A resumed run skips the batches of this epoch it has already trained on.
        let order_seed = self.seed.wrapping_mul(1000).wrapping_add(epoch as u64);
        let mut batches = self.train.epoch_batches(self.batch, order_seed);
        batches.drain(..(step % spe).min(batches.len()));
        self.batches = batches.into_iter();
        (self.epoch, self.loss_sum, self.count) = (epoch, 0.0, 0);
        Ok(Some(Epoch {
            index: epoch,
            end: (epoch + 1) * spe,
            label: format!("epoch {epoch}"),
        }))
    }

    fn step(&mut self, step: usize) -> Result<Option<Trained>> {
        let step_start = Instant::now();
        let Some(idx) = self.batches.next() else {
            return Ok(None);
        };
        let e = &self.e;
        let train = &self.train;
        let (x, y) = train.batch(&idx);
        e.gpu.cpu_span("data", step_start);
        let tx = e.tensor(&x, &[idx.len(), train.channels, train.height, train.width])?;
        let ty = e.tensor(&y, &[idx.len()])?;
        let momentum = crate::nn::layers::BN_MOMENTUM;
        let loss = self
            .net
            .forward(&tx, BnMode::Train { momentum })?
            .cross_entropy(&ty, self.label_smoothing)?;
        e.backward(&loss)?;
        self.sgd.step(e, self.sched.lr(step))?;
        self.sgd.zero_grad(e);
        let l = loss.item()?;
        self.loss_sum += l as f64;
        self.count += 1;
        Ok(Some(Trained {
            losses: Some(vec![l]),
            work: self.batch,
            metric: None,
        }))
    }

    fn status(&self, step: usize, losses: Option<&[f32]>, rate: f64) -> String {
        let l = losses.and_then(|l| l.first()).copied().unwrap_or(f32::NAN);
        format!(
            "epoch {} loss {l:.3} lr {:.4} {rate:.0} img/s",
            self.epoch,
            self.sched.lr(step)
        )
    }

    fn end_epoch(&mut self, _step: usize, obs: &dyn Observer) -> Result<Option<Metric>> {
        let test_top1 = evaluate(&self.e, &self.net, &self.test, 250)?;
        let train_loss = self.loss_sum / self.count.max(1) as f64;
        obs.message(&format!(
            "epoch {}: train loss {train_loss:.4}, test top-1 {:.2} %",
            self.epoch,
            test_top1 * 100.0
        ));
        self.reports.push(EpochReport {
            epoch: self.epoch,
            train_loss,
            test_top1,
        });
        Ok(None)
    }

    fn snapshot(&self) -> Result<Vec<Named>> {
        snapshot(&self.e, &self.net, &self.sgd)
    }

    fn restore(&self, tensors: Tensors) -> Result<()> {
        restore(&self.e, &self.net, &self.sgd, tensors)
    }
}
