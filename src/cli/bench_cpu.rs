//! The CPU benchmarks' lines: `tinynas bench mem` (MCU evaluations per second, workload 3 of
//! BENCHMARKS.md) and `tinynas bench int8` (the int8 executor, the generated C, TF Lite Micro
//! and the float network on one core, workload 4). The work is `pipeline::bench::cpu`.

use crate::pipeline::bench::cpu::{Int8BenchReport, MemBenchReport};

pub fn print_mem(r: &MemBenchReport) {
    println!(
        "{} random subnets of the default space at r{} w{}, one core",
        r.count, r.res, r.width
    );
    for (path, rates) in [("fast", &r.fast), ("full", &r.full)] {
        for e in rates {
            println!(
                "{path} {:<11} {:>12.0} evals/s (checksum {})",
                e.scheduler.name(),
                e.evals_per_s,
                e.checksum
            );
        }
    }
    println!(
        "bench-mem: {:.0} evals/s (analytic), {:.0} evals/s (tinyengine)",
        r.fast[0].evals_per_s, r.fast[2].evals_per_s
    );
}

pub fn print_int8(r: &Int8BenchReport) {
    println!(
        "model: MCUNet space r{} w{} {} subnet, {:.2} M MACs, {} ops",
        r.res,
        r.width,
        if r.smallest { "smallest" } else { "largest" },
        r.macs as f64 / 1e6,
        r.ops
    );
    let (int8, float) = (r.int8_images_per_s, r.float_images_per_s);
    println!("tinynas int8 executor: {int8:.1} images/s (1 thread)");
    println!("tinynas float (exported network, CPU): {float:.1} images/s (1 thread)");
    let cc = &r.generated_c.compiler;
    let c_speed = match r.generated_c.images_per_s {
        Some(r) => {
            println!(
                "generated C ({}, -O3, identical logits): {r:.1} images/s (1 thread)",
                cc.display()
            );
            format!("{r:.1} images/s (generated C)")
        }
        None => format!("generated C not timed (no {})", cc.display()),
    };
    let tflm = match r.tflm_images_per_s {
        None => "TFLM not timed (--python)".to_string(),
        Some(r) => {
            println!("TF Lite Micro interpreter (reference kernels): {r:.1} images/s");
            format!("{r:.1} images/s (TFLM)")
        }
    };
    println!(
        "bench-int8: {int8:.1} images/s (tinynas int8), {c_speed}, {tflm}, {float:.1} images/s (tinynas float)"
    );
}
