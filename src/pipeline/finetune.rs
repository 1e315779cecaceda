//! Fine-tuning of one subnet before export, in memory: each step the largest subnet (on the
//! batch's own statistics, nothing updated) gives soft targets, and the subnet learns from the
//! labels plus them — the largest as teacher, as OFA fine-tunes its published subnets and MCUNet
//! fine-tunes before quantizing. SGD Nesterov with the run's momentum and weight decay, cosine
//! learning rate with a short warm-up, through the loop every run shares (`train::runner`). The
//! run's files are not touched.

use crate::arch::SubnetConfig;
use crate::autograd::ops::norm::BnMode;
use crate::data::augment::Augment;
use crate::data::input_rgb;
use crate::error::Field;
use crate::nn::optim::CosineSchedule;
use crate::nn::{Module, Sgd};
use crate::observer::Observer;
use crate::train::checkpoint::{Named, Tensors, restore, snapshot};
use crate::train::metrics::Metric;
use crate::train::open::Run;
use crate::train::runner::{Epoch, LoopOptions, Trained, Trainee, train_loop};
use crate::{Engine, Result};
use rand::{SeedableRng, rngs::StdRng};
use std::rc::Rc;

/// Fine-tune `subnet` of `run`'s supernet for `epochs` epochs from learning rate `lr`.
pub fn finetune(
    e: &Rc<Engine>,
    run: &Run,
    subnet: &SubnetConfig,
    epochs: usize,
    lr: f32,
    obs: &dyn Observer,
) -> Result<()> {
    let cfg = &run.cfg;
    cfg.space.check(subnet)?;
    crate::bounds::positive(Field::FinetuneLr, lr as f64, 10.0)?;
    let train = &run.data.train;
    let per_epoch = train.len() / cfg.batch;
    if epochs == 0 || per_epoch == 0 {
        return Ok(());
    }
    let total = epochs * per_epoch;
    let net = &run.net;
    let mut t = Finetune {
        e: e.clone(),
        run,
        subnet,
        sgd: Sgd::new(e, net.param_list(), cfg.momentum, true, cfg.weight_decay)?,
        sched: CosineSchedule {
            base: lr,
            min: 0.0,
            warmup: (per_epoch / 10).max(1).min(total),
            total,
        },
        teacher: cfg.space.largest(subnet.resolution),
        aug: Augment {
            resolution: Some(subnet.resolution),
            rgb: input_rgb(train.channels, cfg.space.in_channels)?,
            crop_pad: cfg.crop_pad,
            flip: cfg.flip,
        },
        rng: StdRng::seed_from_u64(cfg.seed ^ 0xf1e7),
        per_epoch,
        batches: Vec::new().into_iter(),
    };
    let options = LoopOptions {
        label: "finetune",
        out: None,
        config: serde_json::Value::Null,
        resume: false,
        ranks: 1,
        lead: true,
        checkpoint_every: 0,
        max_steps: None,
        profile: None,
        metrics: false,
    };
    train_loop(e, &mut t, &options, obs).map(|_| ())
}

/// The subnet, its teacher (the largest at its resolution) and the fine-tuning's optimizer.
struct Finetune<'a> {
    e: Rc<Engine>,
    run: &'a Run,
    subnet: &'a SubnetConfig,
    sgd: Sgd,
    sched: CosineSchedule,
    teacher: SubnetConfig,
    aug: Augment,
    rng: StdRng,
    per_epoch: usize,
    batches: std::vec::IntoIter<Vec<usize>>,
}

impl Trainee for Finetune<'_> {
    fn total_steps(&self) -> usize {
        self.sched.total
    }

    fn begin_epoch(&mut self, step: usize, _obs: &dyn Observer) -> Result<Option<Epoch>> {
        let epoch = step / self.per_epoch;
        if step >= self.sched.total {
            return Ok(None);
        }
        let cfg = &self.run.cfg;
        self.batches = self
            .run
            .data
            .train
            .epoch_batches(cfg.batch, cfg.seed ^ 0xf1e7 ^ epoch as u64)
            .into_iter();
        Ok(Some(Epoch {
            index: epoch,
            end: step + self.per_epoch,
            label: format!("fine-tuning epoch {epoch}"),
        }))
    }

    fn step(&mut self, step: usize) -> Result<Option<Trained>> {
        let Some(idx) = self.batches.next() else {
            return Ok(None);
        };
        let (e, cfg, net) = (&self.e, &self.run.cfg, &self.run.net);
        let (x, y, (c, r)) = self
            .run
            .data
            .train
            .augmented_batch(&idx, &self.aug, &mut self.rng);
        let x = e.tensor(&x, &[idx.len(), c, r, r])?;
        let y = e.tensor(&y, &[idx.len()])?;
        self.sgd.zero_grad(e);
        let soft = {
            let _g = e.no_grad();
            net.forward(&x, &self.teacher, BnMode::BatchStats)?
                .softmax()?
        };
        let logits = net.forward(
            &x,
            self.subnet,
            BnMode::Train {
                momentum: crate::nn::layers::BN_MOMENTUM,
            },
        )?;
        let loss = logits.cross_entropy(&y, cfg.label_smoothing)?.add(
            &logits
                .cross_entropy_soft(&soft)?
                .scale(cfg.distill_weight)?,
        )?;
        e.backward(&loss)?;
        self.sgd.step(e, self.sched.lr(step))?;
        // The loss is read (a wait for the GPU) every 20 steps and at the last.
        let done = step + 1;
        let read = done.is_multiple_of(20) || done == self.sched.total;
        Ok(Some(Trained {
            losses: if read { Some(vec![loss.item()?]) } else { None },
            work: idx.len(),
            metric: None,
        }))
    }

    fn status(&self, _step: usize, losses: Option<&[f32]>, _rate: f64) -> String {
        match losses.and_then(|l| l.first()) {
            Some(v) => format!("loss {v:.3}"),
            None => String::new(),
        }
    }

    fn end_epoch(&mut self, _step: usize, _obs: &dyn Observer) -> Result<Option<Metric>> {
        Ok(None)
    }

    fn snapshot(&self) -> Result<Vec<Named>> {
        snapshot(&self.e, &self.run.net, &self.sgd)
    }

    fn restore(&self, tensors: Tensors) -> Result<()> {
        restore(&self.e, &self.run.net, &self.sgd, tensors)
    }
}
