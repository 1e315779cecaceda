//! `tinynas bench ops`: kernel throughput at MobileNet-like shapes beside the adapter's own
//! matmul and copy ceilings (workload 2 of BENCHMARKS.md).

use super::GpuArgs;
use crate::error::Field;
use crate::{Engine, Result, Tensor};
use clap::Subcommand;
use std::rc::Rc;
use std::time::Instant;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Per-kernel GFLOP/s and GB/s; last line compares pointwise conv to matmul, depthwise to copy.
    Ops {
        #[command(flatten)]
        gpu: GpuArgs,
        /// Batch size of the activation shapes.
        #[arg(long, default_value_t = 16)]
        batch: usize,
        /// Timed repetitions per kernel (after one warm-up).
        #[arg(long, default_value_t = 5)]
        reps: usize,
        /// Profile the whole run (the figures then include the profiler's waits): per-kernel
        /// table with GFLOP/s and GB/s, and a Chrome/Perfetto trace here.
        #[arg(long)]
        profile: Option<std::path::PathBuf>,
    },
    /// The int8 executor beside TF Lite Micro's interpreter and the float network, on one
    /// core; last line: images/s of each.
    Int8 {
        #[arg(long, default_value_t = 64)]
        res: usize,
        #[arg(long, default_value_t = 0.5)]
        width: f64,
        /// The space's smallest subnet instead of its largest.
        #[arg(long)]
        smallest: bool,
        #[arg(long, default_value_t = 50)]
        images: usize,
        /// A Python with tflite-micro (scripts/pyenv.sh prints one) to time TFLM too.
        #[arg(long)]
        python: Option<std::path::PathBuf>,
    },
    /// Supernet training step of workload 1 of BENCHMARKS.md; last line: image-subnets/s.
    Train {
        #[command(flatten)]
        gpu: GpuArgs,
        #[arg(long, default_value_t = 64)]
        res: usize,
        #[arg(long, default_value_t = 64)]
        batch: usize,
        /// Timed steps (after 2 warm-up steps); the median is reported.
        #[arg(long, default_value_t = 5)]
        steps: usize,
        #[arg(long, default_value_t = 4)]
        subnets: usize,
        /// Profile the first timed step: per-kernel table, and a Chrome/Perfetto trace here.
        #[arg(long)]
        profile: Option<std::path::PathBuf>,
    },
    /// Measuring subnets of a trained run as the search does (BN recalibration, validation
    /// top-1) beside plain forward passes of the same subnets over the same images; last line:
    /// subnets measured per minute and the share of plain inference speed.
    Measure(super::bench_measure::MeasureBench),
    /// The latency model's table (src/mcu/latency.json): per-layer instruction counts of random
    /// subnets' generated C in QEMU on the Cortex-M4F and M7, fitted per op kind, checked on
    /// held-out subnets; last line: the held-out errors per core. Needs arm-none-eabi-gcc and
    /// qemu-system-arm.
    Latency(super::bench_latency::LatencyBench),
    /// MCU evaluator throughput on random subnets; last line: analytic and TinyEngine evals/s.
    Mem {
        #[arg(long, default_value_t = 20000)]
        count: usize,
        #[arg(long, default_value_t = 160)]
        res: usize,
        #[arg(long, default_value_t = 0.5)]
        width: f64,
    },
}

impl BenchCommand {
    /// Every option in range, named by its flag (the spaces check resolution and width).
    fn validate(&self) -> Result<()> {
        use crate::bounds::{MAX_RESOLUTION, int, positive};
        if let BenchCommand::Ops {
            profile: Some(p), ..
        }
        | BenchCommand::Train {
            profile: Some(p), ..
        } = self
        {
            crate::io::check_trace_path(p, Field::Profile)?;
        }
        match *self {
            BenchCommand::Ops { batch, reps, .. } => {
                int(Field::Batch, batch, 1, 1024)?;
                int(Field::Reps, reps, 1, 10_000)
            }
            BenchCommand::Train {
                res,
                batch,
                steps,
                subnets,
                ..
            } => {
                int(Field::Res, res, 1, MAX_RESOLUTION)?;
                int(Field::Batch, batch, 2, 4096)?;
                int(Field::Steps, steps, 1, 10_000)?;
                int(Field::Subnets, subnets, 1, 64)
            }
            BenchCommand::Int8 {
                res, width, images, ..
            } => {
                // A benchmark on one core: a model that takes minutes per image is refused.
                int(Field::Res, res, 8, 512)?;
                positive(Field::Width, width, 2.0)?;
                int(Field::Images, images, 1, 10_000)
            }
            BenchCommand::Measure(ref m) => m.validate(),
            BenchCommand::Latency(ref l) => l.validate(),
            BenchCommand::Mem { count, res, width } => {
                int(Field::Res, res, 1, MAX_RESOLUTION)?;
                positive(Field::Width, width, 8.0)?;
                int(Field::Count, count, 1, 200_000)
            }
        }
    }
}

pub fn run(cmd: BenchCommand) -> Result<()> {
    cmd.validate()?;
    match cmd {
        BenchCommand::Int8 {
            res,
            width,
            smallest,
            images,
            python,
        } => {
            let line = super::bench_cpu::run(&super::bench_cpu::Int8Bench {
                res,
                width,
                smallest,
                images,
                python,
            })?;
            println!("{line}");
            Ok(())
        }
        BenchCommand::Ops {
            gpu,
            batch,
            reps,
            profile,
        } => {
            let e = gpu.engine()?;
            if profile.is_some() {
                e.gpu.start_profiling(false);
            }
            let headline = ops(&e, batch, reps)?;
            if let Some(path) = profile {
                super::finish_profile(&e, &path)?;
            }
            // BENCHMARKS.md: the headline figure is the last line, after any profile.
            println!("{headline}");
            Ok(())
        }
        BenchCommand::Mem { count, res, width } => super::bench_cpu::mem(count, res, width),
        BenchCommand::Measure(m) => super::bench_measure::run(&m),
        BenchCommand::Latency(l) => super::bench_latency::run(&l),
        BenchCommand::Train {
            gpu,
            res,
            batch,
            steps,
            subnets,
            profile,
        } => super::bench_train::train(&gpu.engine()?, res, batch, steps, subnets, profile),
    }
}

/// Median seconds of `f` over `reps` runs (each flushed and waited for), after a warm-up.
fn time(e: &Engine, reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    e.gpu.sync()?;
    let mut t = Vec::new();
    for _ in 0..reps.max(1) {
        let s = Instant::now();
        f()?;
        e.gpu.sync()?;
        t.push(s.elapsed().as_secs_f64());
    }
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

fn rand(e: &Rc<Engine>, shape: &[usize], grad: bool) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    if grad {
        e.param(&v, shape)
    } else {
        e.tensor(&v, shape)
    }
}

fn row(name: &str, secs: f64, flops: f64, bytes: f64) {
    println!(
        "{name:<34} {:>9.3} ms {:>9.2} GFLOP/s {:>9.2} GB/s",
        secs * 1e3,
        flops / secs / 1e9,
        bytes / secs / 1e9
    );
}

/// Prints the per-kernel rows; returns the headline line (workload 2 of BENCHMARKS.md).
fn ops(e: &Rc<Engine>, n: usize, reps: usize) -> Result<String> {
    println!(
        "adapter: {}; batch {n}, median of {reps}; vector loads {}",
        e.gpu.describe(),
        if e.gpu.vector_loads() { "on" } else { "off" }
    );
    // Ceilings: a square matmul and a buffer copy.
    let m = 512;
    let (a, b) = (rand(e, &[m, m], false)?, rand(e, &[m, m], false)?);
    let t = time(e, reps, || a.matmul(&b).map(|_| ()))?;
    let mm_flops = 2.0 * (m * m * m) as f64;
    row("matmul 512x512x512", t, mm_flops, 3.0 * (m * m * 4) as f64);
    let matmul_gflops = mm_flops / t / 1e9;
    let len = 1 << 22;
    let src = e.gpu.alloc("bench", len)?;
    let dst = e.gpu.alloc("bench", len)?;
    let t = time(e, reps, || {
        e.gpu.copy(&src, 0, &dst, 0, len);
        Ok(())
    })?;
    row("copy 16 MiB", t, 0.0, 2.0 * (len * 4) as f64);
    let copy_gbs = 2.0 * (len * 4) as f64 / t / 1e9;

    // Pointwise 1x1 conv, 48 -> 144 channels at 28x28 (an expand layer).
    let (ci, co, hw) = (48, 144, 28);
    let x = rand(e, &[n, ci, hw, hw], true)?;
    let w = rand(e, &[co, ci, 1, 1], true)?;
    let pw_flops = 2.0 * (n * ci * co * hw * hw) as f64;
    let pw_bytes = ((n * (ci + co) * hw * hw + ci * co) * 4) as f64;
    let t_fwd = time(e, reps, || x.conv2d(&w, 1, 0, 1).map(|_| ()))?;
    row("pointwise 48->144 @28 fwd", t_fwd, pw_flops, pw_bytes);
    let t_all = time(e, reps, || {
        let y = x.conv2d(&w, 1, 0, 1)?;
        e.backward(&y.sum()?)
    })?;
    let t_bwd = (t_all - t_fwd).max(1e-9);
    row(
        "pointwise 48->144 @28 bwd (dx+dW)",
        t_bwd,
        2.0 * pw_flops,
        2.0 * pw_bytes,
    );
    let pw_gflops = 3.0 * pw_flops / t_all / 1e9;

    // Depthwise k3/5/7 on 144 channels at 28x28.
    let c = 144;
    let xd = rand(e, &[n, c, hw, hw], true)?;
    let mut dw_gbs = Vec::new();
    for k in [3usize, 5, 7] {
        let wd = rand(e, &[c, 1, k, k], true)?;
        let bytes = (2 * n * c * hw * hw * 4) as f64;
        let flops = 2.0 * (n * c * hw * hw * k * k) as f64;
        let tf = time(e, reps, || xd.conv2d(&wd, 1, k / 2, c).map(|_| ()))?;
        row(&format!("depthwise k{k} @28 fwd"), tf, flops, bytes);
        let ta = time(e, reps, || {
            let y = xd.conv2d(&wd, 1, k / 2, c)?;
            e.backward(&y.sum()?)
        })?;
        let tb = (ta - tf).max(1e-9);
        row(
            &format!("depthwise k{k} @28 bwd (data+weight)"),
            tb,
            2.0 * flops,
            2.0 * bytes,
        );
        // Each backward kernel on its own, from GPU timestamps (the wall-clock row above also
        // holds the loss's backward and the gradient accumulation); not while --profile records
        // the whole run. The copy comparison then uses the kernels' own times.
        if !e.gpu.profiling() {
            let (data, weight) = dw_backward_kernels(e, &xd, &wd, k, c, reps)?;
            row(&format!("depthwise k{k} @28 bwd-data"), data, flops, bytes);
            // Reads dy and x, writes the per-workgroup partial sums (small).
            row(
                &format!("depthwise k{k} @28 bwd-weight"),
                weight,
                flops,
                bytes,
            );
            dw_gbs.push(3.0 * bytes / (tf + data + weight) / 1e9);
        } else {
            dw_gbs.push(3.0 * bytes / ta / 1e9);
        }
    }
    // Batch norm (training) and an elementwise activation on the same activation.
    let gamma = rand(e, &[c], true)?;
    let beta = rand(e, &[c], true)?;
    let (rm, rv) = (e.zeros(&[c])?, e.full(&[c], 1.0)?);
    let bn = crate::autograd::ops::norm::BatchNorm {
        gamma: &gamma,
        beta: &beta,
        running_mean: &rm,
        running_var: &rv,
        eps: 1e-5,
    };
    let bytes = (n * c * hw * hw * 4) as f64;
    let t = time(e, reps, || {
        xd.batch_norm(&bn, crate::autograd::ops::norm::BnMode::BatchStats)
            .map(|_| ())
    })?;
    row("batch norm @28 fwd", t, 0.0, 3.0 * bytes);
    let t = time(e, reps, || xd.relu6().map(|_| ()))?;
    row("relu6 @28 fwd", t, 0.0, 2.0 * bytes);
    e.clear_tape();
    let dw_mean = dw_gbs.iter().sum::<f64>() / dw_gbs.len() as f64;
    Ok(format!(
        "bench-ops: {:.0} % of matmul, {:.0} % of copy",
        100.0 * pw_gflops / matmul_gflops,
        100.0 * dw_mean / copy_gbs
    ))
}

/// Mean seconds of the depthwise backward-data kernel and of the weight gradient's two kernels,
/// from the profiler's timestamps over `reps` forward + backward passes.
fn dw_backward_kernels(
    e: &Rc<Engine>,
    x: &Tensor,
    w: &Tensor,
    k: usize,
    c: usize,
    reps: usize,
) -> Result<(f64, f64)> {
    e.gpu.start_profiling(false);
    let run = (|| -> Result<()> {
        for _ in 0..reps.max(1) {
            let y = x.conv2d(w, 1, k / 2, c)?;
            e.backward(&y.sum()?)?;
        }
        Ok(())
    })();
    let report = e.gpu.stop_profiling()?.report();
    run?;
    let per_call = |prefix: &str| {
        let rows: Vec<_> = report
            .rows
            .iter()
            .filter(|r| r.kernel.starts_with(prefix))
            .collect();
        let calls = rows.iter().map(|r| r.calls).max().unwrap_or(0).max(1);
        rows.iter().map(|r| r.total_ms).sum::<f64>() / 1e3 / calls as f64
    };
    let data = per_call("depthwise::dw_backward_data");
    let weight = per_call("depthwise::dw_backward_weight") + per_call("depthwise::dw_weight_sum");
    Ok((data, weight))
}
