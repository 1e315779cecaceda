//! Supernet training steps timed (image-subnets/s), the largest and smallest subnets' forward +
//! backward beside their MACs, and the GPU memory of a step (workload 1 of BENCHMARKS.md;
//! `tinynas bench train`).

use crate::arch::subnet::from_subnet;
use crate::arch::{SearchSpace, SubnetConfig};
use crate::autograd::ops::norm::BnMode;
use crate::error::Field;
use crate::gpu::report::ProfileReport;
use crate::mcu::{EvalOptions, Scheduler, evaluate};
use crate::nn::{Module, Sgd};
use crate::supernet::Supernet;
use crate::train::supernet_run::check_adapter_fits;
use crate::train::{StepConfig, step_subnets, train_step};
use crate::{Engine, Result};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::Serialize;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

/// Warm-up steps before the timed ones.
pub const WARM_UP: usize = 2;

#[derive(Clone, Debug)]
pub struct TrainBenchOptions {
    pub res: usize,
    pub batch: usize,
    /// Timed steps (after `WARM_UP` warm-up steps); the median is reported.
    pub steps: usize,
    pub subnets: usize,
    /// Profile the first timed step and write its Chrome/Perfetto trace here.
    pub profile: Option<PathBuf>,
}

/// One step: its seconds and its subnets' losses.
#[derive(Clone, Debug, Serialize)]
pub struct StepTime {
    pub secs: f64,
    pub losses: Vec<f32>,
    pub warm_up: bool,
}

/// One forward + backward of a subnet over the batch, beside its MACs per image.
#[derive(Clone, Debug, Serialize)]
pub struct ForwardBackward {
    pub macs: u64,
    /// Median seconds of 3.
    pub secs: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct TrainBenchReport {
    pub adapter: String,
    pub f16_activations: bool,
    pub res: usize,
    pub batch: usize,
    pub subnets: usize,
    /// Every step, the warm-up ones first.
    pub steps: Vec<StepTime>,
    /// With `profile`: the first timed step's per-kernel report (its trace is written).
    #[serde(skip)]
    pub profile: Option<ProfileReport>,
    pub largest: ForwardBackward,
    pub smallest: ForwardBackward,
    /// GPU memory in use at the peak of a timed step, and pooled.
    pub peak_bytes: u64,
    pub pool_bytes: u64,
    /// Subnets × batch over the median timed step.
    pub image_subnets_per_s: f64,
}

/// The default space (widths ×0.5, 1 input channel, 10 classes), random data, largest + smallest
/// + random subnets per step, SGD Nesterov (lr 0.05, momentum 0.9, wd 3e-5).
pub fn train(e: &Rc<Engine>, o: &TrainBenchOptions) -> Result<TrainBenchReport> {
    let (res, batch, subnets) = (o.res, o.batch, o.subnets);
    let space = SearchSpace {
        resolutions: vec![res],
        ..SearchSpace::default()
    };
    space
        .validate()
        .map_err(|err| crate::Error::bad(Field::Res, res, err.to_string()))?;
    check_adapter_fits(e, &space, batch)?;
    let net = Supernet::new(e, &space, 0)?;
    let sgd = Sgd::new(e, net.param_list(), 0.9, true, 3e-5)?;
    let mut rng = StdRng::seed_from_u64(0);
    let x: Vec<f32> = (0..batch * res * res)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let y: Vec<f32> = (0..batch).map(|i| (i % space.classes) as f32).collect();
    let (tx, ty) = (
        e.tensor(&x, &[batch, 1, res, res])?,
        e.tensor(&y, &[batch])?,
    );
    let cfg = StepConfig {
        subnets_per_step: subnets,
        ..StepConfig::default()
    };
    let mut steps = Vec::new();
    let mut profile = None;
    for step in 0..o.steps + WARM_UP {
        if step == WARM_UP {
            e.gpu.reset_peak_bytes();
        }
        let subs = step_subnets(&space, &mut rng, subnets, res);
        let profiled = o.profile.is_some() && step == WARM_UP;
        if profiled {
            e.gpu.start_profiling(false);
        }
        let start = Instant::now();
        let losses = train_step(e, &net, &sgd, &tx, &ty, &subs, 0.05, &cfg, None)?;
        let secs = start.elapsed().as_secs_f64();
        if let (true, Some(path)) = (profiled, &o.profile) {
            profile = Some(crate::io::finish_profiling(&e.gpu, path)?);
        }
        steps.push(StepTime {
            secs,
            losses,
            warm_up: step < WARM_UP,
        });
    }
    let peak_bytes = e.gpu.peak_bytes();
    // Compute follows the subnet: one forward + backward of the smallest vs the largest.
    let fb = |s: &SubnetConfig| -> Result<ForwardBackward> {
        let mut t = Vec::new();
        for _ in 0..3 {
            let start = Instant::now();
            let l = net
                .forward(&tx, s, BnMode::BatchStats)?
                .cross_entropy(&ty, 0.0)?;
            e.backward(&l)?;
            l.item()?;
            t.push(start.elapsed().as_secs_f64());
        }
        t.sort_by(f64::total_cmp);
        Ok(ForwardBackward {
            macs: 0,
            secs: t[1],
        })
    };
    let macs = |s: &SubnetConfig| -> Result<u64> {
        Ok(evaluate(
            &from_subnet(&space, s)?,
            &EvalOptions {
                scheduler: Scheduler::Analytic,
                ..Default::default()
            },
        )?
        .macs)
    };
    let (big, small) = (space.largest(res), space.smallest(res));
    let (mut largest, mut smallest) = (fb(&big)?, fb(&small)?);
    (largest.macs, smallest.macs) = (macs(&big)?, macs(&small)?);
    let mut times: Vec<f64> = steps
        .iter()
        .filter(|s| !s.warm_up)
        .map(|s| s.secs)
        .collect();
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    Ok(TrainBenchReport {
        adapter: e.gpu.describe(),
        f16_activations: e.gpu.f16_activations(),
        res,
        batch,
        subnets,
        steps,
        profile,
        largest,
        smallest,
        peak_bytes,
        pool_bytes: e.gpu.pool_bytes(),
        image_subnets_per_s: (subnets * batch) as f64 / median,
    })
}
