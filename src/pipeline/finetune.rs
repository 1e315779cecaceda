//! Fine-tuning of one subnet before export, in memory: each step the largest subnet (on the
//! batch's own statistics, nothing updated) gives soft targets, and the subnet learns from the
//! labels plus them — the largest as teacher, as OFA fine-tunes its published subnets and MCUNet
//! fine-tunes before quantizing. SGD Nesterov with the run's momentum and weight decay, cosine
//! learning rate with a short warm-up. The run's files are not touched.

use crate::arch::SubnetConfig;
use crate::autograd::ops::norm::BnMode;
use crate::data::augment::Augment;
use crate::data::input_rgb;
use crate::nn::optim::CosineSchedule;
use crate::nn::{Module, Sgd};
use crate::observer::Observer;
use crate::train::open::Run;
use crate::{Engine, Error, Result};
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
    crate::bounds::positive("--finetune-lr", lr as f64, 10.0)?;
    let train = &run.data.train;
    let per_epoch = train.len() / cfg.batch;
    if epochs == 0 || per_epoch == 0 {
        return Ok(());
    }
    let total = epochs * per_epoch;
    let net = &run.net;
    let sgd = Sgd::new(e, net.param_list(), cfg.momentum, true, cfg.weight_decay)?;
    let sched = CosineSchedule {
        base: lr,
        min: 0.0,
        warmup: (per_epoch / 10).max(1).min(total),
        total,
    };
    let teacher = cfg.space.largest(subnet.resolution);
    let aug = Augment {
        resolution: Some(subnet.resolution),
        rgb: input_rgb(train.channels, cfg.space.in_channels)?,
        crop_pad: cfg.crop_pad,
        flip: cfg.flip,
    };
    let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0xf1e7);
    obs.start("finetune", total, 0);
    let mut step = 0;
    for epoch in 0..epochs {
        for idx in train.epoch_batches(cfg.batch, cfg.seed ^ 0xf1e7 ^ epoch as u64) {
            let (x, y, (c, r)) = train.augmented_batch(&idx, &aug, &mut rng);
            let x = e.tensor(&x, &[idx.len(), c, r, r])?;
            let y = e.tensor(&y, &[idx.len()])?;
            sgd.zero_grad(e);
            let soft = {
                let _g = e.no_grad();
                net.forward(&x, &teacher, BnMode::BatchStats)?.softmax()?
            };
            let logits = net.forward(
                &x,
                subnet,
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
            sgd.step(e, sched.lr(step))?;
            step += 1;
            if step % 20 == 0 || step == total {
                let v = loss.item()?;
                if !v.is_finite() {
                    return Err(Error::NonFinite {
                        at: format!("fine-tuning step {step}"),
                        value: v,
                    });
                }
                obs.step(&format!("loss {v:.3}"));
            } else {
                obs.step("");
            }
        }
    }
    obs.end();
    Ok(())
}
