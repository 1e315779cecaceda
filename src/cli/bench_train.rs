//! `tinynas bench train`: supernet training steps timed (image-subnets/s), the largest and
//! smallest subnets' forward + backward beside their MACs, and the GPU memory of a step.

use crate::{Engine, Result};
use std::rc::Rc;
use std::time::Instant;

/// Workload 1 of BENCHMARKS.md: the default space (widths ×0.5, 1 input channel, 10 classes), random data,
/// largest + smallest + random subnets per step, SGD Nesterov (lr 0.05, momentum 0.9, wd 3e-5).
pub fn train(
    e: &Rc<Engine>,
    res: usize,
    batch: usize,
    steps: usize,
    subnets: usize,
    profile: Option<std::path::PathBuf>,
) -> Result<()> {
    use crate::arch::SearchSpace;
    use crate::arch::subnet::from_subnet;
    use crate::mcu::{EvalOptions, Scheduler, evaluate};
    use crate::nn::{Module, Sgd};
    use crate::supernet::Supernet;
    use crate::train::{StepConfig, step_subnets, train_step};
    use rand::{Rng, SeedableRng, rngs::StdRng};
    let space = SearchSpace {
        resolutions: vec![res],
        ..SearchSpace::default()
    };
    space
        .validate()
        .map_err(|err| crate::Error::Invalid(format!("--res {res}: {err}")))?;
    crate::train::supernet_run::check_adapter_fits(e, &space, batch)?;
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
    println!(
        "adapter: {}; res {res}, batch {batch}, {subnets} subnets per step{}",
        e.gpu.describe(),
        if e.gpu.f16_activations() {
            "; f16 saved activations"
        } else {
            ""
        }
    );
    let mut times = Vec::new();
    for step in 0..steps + 2 {
        if step == 2 {
            e.gpu.reset_peak_bytes();
        }
        let subs = step_subnets(&space, &mut rng, subnets, res);
        let profiled = profile.is_some() && step == 2;
        if profiled {
            e.gpu.start_profiling(false);
        }
        let start = Instant::now();
        let losses = train_step(e, &net, &sgd, &tx, &ty, &subs, 0.05, &cfg, None)?;
        let t = start.elapsed().as_secs_f64();
        if let (true, Some(path)) = (profiled, &profile) {
            super::finish_profile(e, path)?;
            println!("(the profiled step's time includes the profiler's waits)");
        }
        println!(
            "step {step}: {:.3} s, losses {losses:.3?}{}",
            t,
            if step < 2 { " (warm-up)" } else { "" }
        );
        if step >= 2 {
            times.push(t);
        }
    }
    let peak = e.gpu.peak_bytes();
    // Compute follows the subnet: one forward + backward of the smallest vs the largest.
    let mcu = |s: &crate::arch::SubnetConfig| -> Result<u64> {
        Ok(evaluate(
            &from_subnet(&space, s)?,
            &EvalOptions {
                scheduler: Scheduler::Analytic,
                ..Default::default()
            },
        )?
        .macs)
    };
    let fb = |s: &crate::arch::SubnetConfig| -> Result<f64> {
        let mut t = Vec::new();
        for _ in 0..3 {
            let start = Instant::now();
            let l = net
                .forward(&tx, s, crate::autograd::ops::norm::BnMode::BatchStats)?
                .cross_entropy(&ty, 0.0)?;
            e.backward(&l)?;
            l.item()?;
            t.push(start.elapsed().as_secs_f64());
        }
        t.sort_by(f64::total_cmp);
        Ok(t[1])
    };
    let (big, small) = (space.largest(res), space.smallest(res));
    let (tb, ts) = (fb(&big)?, fb(&small)?);
    let (mb, ms) = (mcu(&big)?, mcu(&small)?);
    println!(
        "largest: {:.1} MMACs/image, fwd+bwd {:.3} s; smallest: {:.1} MMACs/image, fwd+bwd {:.3} s; time ratio {:.2} vs MACs ratio {:.2} ({:.2}x)",
        mb as f64 / 1e6,
        tb,
        ms as f64 / 1e6,
        ts,
        ts / tb,
        ms as f64 / mb as f64,
        (ts / tb) / (ms as f64 / mb as f64)
    );
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    println!(
        "GPU memory: {:.1} MiB in use at the peak of a timed step (weights, gradients, momentum and activations; {:.1} MiB pooled)",
        mib(peak),
        mib(e.gpu.pool_bytes())
    );
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "bench: {:.1} image-subnets/s",
        (subnets * batch) as f64 / median
    );
    Ok(())
}
