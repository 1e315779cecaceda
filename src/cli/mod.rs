//! Command-line interface: subcommands, progress and printed reports.

mod bench;
mod bench_cpu;
mod bench_latency;
mod bench_measure;
mod bench_train;
pub mod console;
pub mod demo;
pub mod eval;
pub mod export;
pub mod flags;
pub mod mem;
pub mod plot;
pub mod predictor;
pub mod search;
pub mod space;
pub mod table;
pub mod train;
mod train_mobilenet;
pub mod verify;

use crate::gpu::{self, GpuOptions};
use crate::{Engine, Result};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::rc::Rc;

#[derive(Parser)]
#[command(
    name = "tinynas",
    version,
    about = "Once-for-all supernet training on any GPU (wgpu) and TinyNAS search for microcontrollers"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Clone)]
pub struct GpuArgs {
    /// Graphics backend (default: the best available).
    #[arg(long, value_parser = ["vulkan", "metal", "dx12", "gl"])]
    pub backend: Option<String>,
    /// Pick the adapter whose name contains this text (see `tinynas devices`).
    #[arg(long)]
    pub adapter: Option<String>,
    /// Run GEMMs (pointwise convolutions, linear layers) in f16 arithmetic: operands rounded to
    /// f16, 4-deep products summed in f16, blocks summed in f32. Needs shader-f16.
    #[arg(long)]
    pub f16: bool,
    /// Keep the activations that backward reads as f16 instead of f32 (packed two per word):
    /// half the memory between forward and backward, for an extra pass over them each way.
    /// Works on every adapter.
    #[arg(long)]
    pub f16_activations: bool,
    /// Compile shaders with wgpu's runtime checks (a bound on every loop, a clamp on every
    /// index): slower, for debugging a kernel.
    #[arg(long)]
    pub checked_shaders: bool,
}

#[derive(Subcommand)]
pub enum Command {
    /// List the GPU adapters wgpu can use, best first, with their features and limits.
    Devices(GpuArgs),
    /// The main job, end to end on the bundled Fashion-MNIST subset: space optimization for the
    /// device, supernet training, predictor, evolutionary search, the chosen model.
    Demo(demo::DemoArgs),
    /// Train a once-for-all supernet (progressive shrinking) into a run directory; under
    /// `mpirun -np N` (a tinynas built with `--features mpi`), data-parallel over N ranks.
    Train(train::TrainArgs),
    /// Top-1 of one subnet of a trained run, after BN recalibration.
    Eval(eval::EvalArgs),
    /// Train one fixed network from scratch (the small MobileNet, or --net FILE.json), printing
    /// loss and test accuracy.
    TrainMobilenet(train_mobilenet::TrainMobilenetArgs),
    /// MACs, params, flash and peak SRAM of a network under an MCU scheduler (no GPU needed).
    Mem(mem::MemArgs),
    /// Space optimization: rank (resolution, width) spaces by the MACs of the subnets that fit.
    Space(space::SpaceArgs),
    /// The accuracy predictor: measure subnets of a trained run, fit the MLP.
    #[command(subcommand)]
    Predictor(predictor::PredictorCommand),
    /// Evolutionary search of a trained run for the best subnet that fits a device.
    Search(search::SearchArgs),
    /// A subnet of a trained run as an int8 model for TF Lite Micro: model.tflite, the C array,
    /// float and int8 top-1, the memory it needs.
    Export(export::ExportArgs),
    /// Benchmarks that print figures (BENCHMARKS.md).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Check the file sets tinynas published in a folder (an export, a search, a space ranking,
    /// a run's checkpoint) against its manifest: every file's size and SHA-256.
    Verify(verify::VerifyArgs),
}

impl GpuArgs {
    pub fn options(&self) -> GpuOptions {
        GpuOptions {
            backend: self.backend.clone(),
            adapter: self.adapter.clone(),
            checked_shaders: self.checked_shaders,
            nth: 0,
        }
    }
    pub fn engine(&self) -> Result<Rc<Engine>> {
        self.engine_on(0, "")
    }

    /// The engine on the `nth` of the best adapters (unless `--adapter` names one), its adapter
    /// line printed after `who` (a data-parallel rank's name).
    pub fn engine_on(&self, nth: usize, who: &str) -> Result<Rc<Engine>> {
        let e = Engine::new(&GpuOptions {
            nth,
            ..self.options()
        })?;
        e.gpu.set_f16_gemm(self.f16)?;
        e.gpu.set_f16_activations(self.f16_activations);
        // One write, so that the lines of ranks sharing a terminal do not interleave.
        let line = format!(
            "{who}adapter: {}{}{}{}\n",
            e.gpu.describe(),
            if self.f16 { "; f16 GEMMs" } else { "" },
            if self.f16_activations {
                "; f16 saved activations"
            } else {
                ""
            },
            if self.checked_shaders {
                "; checked shaders"
            } else {
                ""
            }
        );
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
        Ok(e)
    }
}

/// How a data-parallel command (train, predictor collect) ends on each rank. A non-finite loss
/// stops every rank at the same step (the losses are averaged before they are checked), rank 0
/// after taking back what its run wrote, and ranks that differ from rank 0 stop every rank at
/// the same check: all finish MPI together, rank 0 reports, and a rank that differs says in
/// what. Any other error may be this rank's alone, with the others waiting for it: it stops
/// them all (an abort, which may cut another rank's message short).
pub fn end_ranks(comm: Rc<dyn crate::train::dist::Collective>, result: Result<()>) -> Result<()> {
    if let Err(e) = &result
        && comm.size() > 1
    {
        if matches!(
            e,
            crate::Error::NonFinite { .. } | crate::Error::RanksDiffer { .. }
        ) {
            if comm.rank() > 0 {
                if matches!(e, crate::Error::RanksDiffer { .. }) {
                    eprintln!("error ({}): {}", comm.describe(), flags::describe(e));
                }
                let code = e.exit_code();
                drop(comm);
                std::process::exit(code);
            }
            return result;
        }
        eprintln!("error ({}): {}", comm.describe(), flags::describe(e));
        comm.abort(e.exit_code());
    }
    result
}

/// The engine of a data-parallel rank: the host's `local_rank`-th adapter, its line naming the
/// rank (one process: the plain engine).
pub fn rank_engine(g: &GpuArgs, comm: &dyn crate::train::dist::Collective) -> Result<Rc<Engine>> {
    let who = if comm.size() > 1 {
        format!("{}: ", comm.describe())
    } else {
        String::new()
    };
    g.engine_on(comm.local_rank(), &who)
}

pub fn run(cli: Cli) -> Result<()> {
    // Under mpirun every rank runs the same command: only `train` and `predictor collect` share
    // their work; any other would run N times over, its copies writing the same files.
    if let Some(n) = crate::train::dist::launched()
        && n > 1
        && !matches!(
            cli.command,
            Command::Train(_) | Command::Predictor(predictor::PredictorCommand::Collect(_))
        )
    {
        return Err(crate::Error::Invalid(format!(
            "started as one of {n} MPI ranks: only `tinynas train` and `tinynas predictor collect` run data-parallel; run this command as one process (without mpirun)"
        )));
    }
    match cli.command {
        Command::Devices(g) => devices(&g),
        Command::Demo(args) => demo::demo(&args.gpu, &args),
        Command::Train(args) => train::train(&args.gpu, &args),
        Command::Eval(args) => eval::eval(&args.gpu, &args),
        Command::TrainMobilenet(args) => train_mobilenet::run(&args),
        Command::Mem(a) => mem::run(&a),
        Command::Space(a) => space::space(&a),
        Command::Predictor(c) => predictor::predictor(c),
        Command::Search(a) => search::search(&a.gpu, &a),
        Command::Export(a) => export::run(&a),
        Command::Bench(b) => bench::run(b),
        Command::Verify(a) => verify::run(&a),
    }
}

fn devices(g: &GpuArgs) -> Result<()> {
    let adapters = gpu::list_adapters(&g.options())?;
    if adapters.is_empty() {
        return Err(crate::Error::NoAdapter {
            detail: String::new(),
        });
    }
    for (i, a) in adapters.iter().enumerate() {
        let info = a.get_info();
        let l = a.limits();
        let f = a.features();
        let has = |x: wgpu::Features| if f.contains(x) { "yes" } else { "no" };
        println!(
            "{}{}",
            if i == 0 { "* " } else { "  " },
            gpu::describe(&info)
        );
        println!(
            "    timestamps {} (inside passes {}), f16 {}, subgroups {}; max storage binding {} MiB, workgroup storage {} KiB",
            has(wgpu::Features::TIMESTAMP_QUERY),
            has(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES),
            has(wgpu::Features::SHADER_F16),
            has(wgpu::Features::SUBGROUP),
            l.max_storage_buffer_binding_size >> 20,
            l.max_compute_workgroup_storage_size >> 10
        );
    }
    println!("(* = chosen by default)");
    Ok(())
}

/// `--scheduler`: a scheduler's name, so that clap's error names the flag and the valid values.
pub fn scheduler_arg(s: &str) -> std::result::Result<crate::mcu::Scheduler, String> {
    crate::mcu::Scheduler::parse(s).map_err(|e| flags::why(&e))
}

/// `--device`: a preset's name.
pub fn device_arg(s: &str) -> std::result::Result<crate::mcu::Device, String> {
    crate::mcu::Device::preset(s).map_err(|e| flags::why(&e))
}

/// `--subnet`: `max`, `min` or a subnet file.
pub fn subnet_arg(s: &str) -> std::result::Result<crate::pipeline::inputs::SubnetChoice, String> {
    Ok(crate::pipeline::inputs::SubnetChoice::parse(s))
}

/// The default data folder: the bundled subset.
pub fn default_data() -> PathBuf {
    crate::data::bundled_fashion_dir()
}
