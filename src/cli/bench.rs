//! `tinynas bench ops`: kernel throughput at MobileNet-like shapes beside the adapter's own
//! matmul and copy ceilings (workload 2 of BENCHMARKS.md).

use super::GpuArgs;
use crate::Result;
use crate::error::Field;
use crate::pipeline::bench::cpu::{Int8BenchOptions, MemBenchOptions, int8, mem};
use crate::pipeline::bench::ops::{OpsOptions, OpsReport, ops};
use crate::pipeline::bench::train::{TrainBenchOptions, train};
use clap::Subcommand;

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
            super::bench_cpu::print_int8(&int8(&Int8BenchOptions {
                res,
                width,
                smallest,
                images,
                python,
            })?);
            Ok(())
        }
        BenchCommand::Ops {
            gpu,
            batch,
            reps,
            profile,
        } => {
            let e = gpu.engine()?;
            let o = OpsOptions {
                batch,
                reps,
                profile,
            };
            print_ops(&ops(&e, &o)?, o.profile.as_deref());
            Ok(())
        }
        BenchCommand::Mem { count, res, width } => {
            super::bench_cpu::print_mem(&mem(&MemBenchOptions { count, res, width })?);
            Ok(())
        }
        BenchCommand::Measure(m) => super::bench_measure::run(&m),
        BenchCommand::Latency(l) => super::bench_latency::run(&l),
        BenchCommand::Train {
            gpu,
            res,
            batch,
            steps,
            subnets,
            profile,
        } => {
            let o = TrainBenchOptions {
                res,
                batch,
                steps,
                subnets,
                profile,
            };
            super::bench_train::print(&train(&gpu.engine()?, &o)?, o.profile.as_deref());
            Ok(())
        }
    }
}

/// The per-kernel rows, the profile (if any), then the headline (workload 2 of BENCHMARKS.md).
fn print_ops(r: &OpsReport, profile: Option<&std::path::Path>) {
    println!(
        "adapter: {}; batch {}, median of {}; vector loads {}",
        r.adapter,
        r.batch,
        r.reps,
        if r.vector_loads { "on" } else { "off" }
    );
    for row in &r.rows {
        println!(
            "{:<34} {:>9.3} ms {:>9.2} GFLOP/s {:>9.2} GB/s",
            row.name,
            row.secs * 1e3,
            row.gflops(),
            row.gbytes_per_s()
        );
    }
    if let (Some(p), Some(path)) = (&r.profile, profile) {
        super::console::print_profile(p, path);
    }
    // BENCHMARKS.md: the headline figure is the last line, after any profile.
    println!(
        "bench-ops: {:.0} % of matmul, {:.0} % of copy",
        r.pointwise_pct_of_matmul, r.depthwise_pct_of_copy
    );
}
