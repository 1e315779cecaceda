//! `tinynas bench train`'s lines (workload 1 of BENCHMARKS.md): the steps, the profiled one's
//! table, the largest and smallest subnets' forward + backward, the GPU memory and the headline.
//! The work is `pipeline::bench::train`.

use crate::pipeline::bench::train::{TrainBenchReport, WARM_UP};
use std::path::Path;

pub fn print(r: &TrainBenchReport, profile: Option<&Path>) {
    println!(
        "adapter: {}; res {}, batch {}, {} subnets per step{}",
        r.adapter,
        r.res,
        r.batch,
        r.subnets,
        if r.f16_activations {
            "; f16 saved activations"
        } else {
            ""
        }
    );
    for (step, s) in r.steps.iter().enumerate() {
        if let (true, Some(p), Some(path)) = (step == WARM_UP, &r.profile, profile) {
            super::console::print_profile(p, path);
            println!("(the profiled step's time includes the profiler's waits)");
        }
        println!(
            "step {step}: {:.3} s, losses {:.3?}{}",
            s.secs,
            s.losses,
            if s.warm_up { " (warm-up)" } else { "" }
        );
    }
    let (big, small) = (&r.largest, &r.smallest);
    let (tb, ts, mb, ms) = (big.secs, small.secs, big.macs, small.macs);
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
        mib(r.peak_bytes),
        mib(r.pool_bytes)
    );
    println!("bench: {:.1} image-subnets/s", r.image_subnets_per_s);
}
