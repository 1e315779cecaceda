//! `tinynas demo`, the main job: space optimization for the device, a short supernet training in
//! the chosen space, predictor data and fit, evolutionary search, and the chosen model with its
//! measured accuracy and memory — on the bundled Fashion-MNIST subset by default. The work is
//! `crate::pipeline::demo`; this parses, calls it and prints.

use super::GpuArgs;
use super::console::Console;
use super::search::print_search;
use super::space::LimitArgs;
use crate::Result;
use crate::observer::Observer;
use crate::pipeline::demo::demo as run_demo;
use crate::pipeline::demo_options::DemoOptions;
use clap::Args;
use std::path::PathBuf;
use std::rc::Rc;

#[derive(Args, Clone)]
pub struct DemoArgs {
    /// GPU options.
    #[command(flatten)]
    pub gpu: super::GpuArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Dataset (default: the bundled Fashion-MNIST subset).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Output folder (default: runs/demo-<unix time>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Training budget: the largest resolution the demo trains at.
    #[arg(long, default_value_t = 32)]
    pub max_res: usize,
    /// Training budget: the largest width multiplier the demo trains.
    #[arg(long, default_value_t = 0.5)]
    pub max_width: f64,
    /// Supernet training epochs (all choices elastic from the start, several subnets per step).
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Subnets per step: the largest, the smallest, then random ones.
    #[arg(long, default_value_t = 3)]
    pub subnets: usize,
    /// Peak learning rate (SGD Nesterov, cosine with warm-up).
    #[arg(long, default_value_t = 0.05)]
    pub lr: f32,
    /// Use only the first N training images (0: all).
    #[arg(long, default_value_t = 0)]
    pub train_images: usize,
    /// Training images held out for validation (the predictor's measurements, the search and
    /// its final choice, each on one half). 2,000 measure a subnet to ±1.4 points a half: the
    /// demo's subnets lie within a few points, and with 250 a half no choice among them meant
    /// anything (BENCHMARKS.md, session 11).
    #[arg(long, default_value_t = 2000)]
    pub val_images: usize,
    #[arg(long, default_value_t = 300)]
    pub recal_images: usize,
    /// Subnets measured for the predictor.
    #[arg(long, default_value_t = 40)]
    pub collect: usize,
    #[arg(long, default_value_t = 50)]
    pub population: usize,
    #[arg(long, default_value_t = 40)]
    pub generations: usize,
    /// Subnets the search measures when the predictor cannot be trusted (τ < 0.5).
    #[arg(long, default_value_t = 40)]
    pub budget: usize,
    /// Subnets of the predicted final population measured on the validation split.
    #[arg(long, default_value_t = 10)]
    pub top_k: usize,
    /// Subnets sampled per space in the space optimization.
    #[arg(long, default_value_t = 1000)]
    pub samples: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Training images whose activation ranges set the exported model's int8 parameters.
    #[arg(long, default_value_t = 256)]
    pub calib_images: usize,
}

/// The demo's device: at its CPU-sized training scale (resolution ≤ 32, width ≤ 0.5) a 1 MB
/// flash holds nearly every subnet; this one's 512 KiB rejects most (measured: 67 % at
/// resolution 32, width 0.5).
pub const DEMO_DEVICE: &str = "stm32f411";

/// The demo's frame-rate target: 15 frames/s. On the F411's Cortex-M4F at 100 MHz it rejects
/// 89 % of the resolution-32, width-0.5 subnets that fit the memory and moves resolution 28 to
/// the top of the space ranking (measured with `space --latency-ms 66.7`; at 10 frames/s the
/// kernels of session 16 are fast enough that it would barely bind), so the search trades
/// accuracy against latency too.
pub const DEMO_FRAMES_PER_S: f64 = 15.0;
pub const DEMO_LATENCY_MS: f64 = 1000.0 / DEMO_FRAMES_PER_S;

pub fn demo(g: &GpuArgs, a: &DemoArgs) -> Result<()> {
    let out = a.out.clone().unwrap_or_else(|| {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        PathBuf::from(format!("runs/demo-{secs}"))
    });
    let mut limits = a.limits.limits_or(DEMO_DEVICE)?;
    if a.limits.latency_ms.is_none() {
        limits.latency_ms = Some(DEMO_LATENCY_MS);
        limits.check_latency()?;
    }
    let o = DemoOptions {
        limits,
        data: a.data.clone().unwrap_or_else(super::default_data),
        out,
        max_res: a.max_res,
        max_width: a.max_width,
        epochs: a.epochs,
        subnets: a.subnets,
        lr: a.lr,
        train_images: a.train_images,
        val_images: a.val_images,
        recal_images: a.recal_images,
        collect: a.collect,
        population: a.population,
        generations: a.generations,
        budget: a.budget,
        top_k: a.top_k,
        samples: a.samples,
        seed: a.seed,
        f16_gemm: g.f16,
        f16_activations: g.f16_activations,
        calib_images: a.calib_images,
    };
    if a.limits.device.is_none() {
        println!(
            "device: {DEMO_DEVICE} by default. The demo trains at resolution ≤ {} and width ≤ {} so that a 2-core CPU finishes in minutes; at that scale nearly every subnet fits the 1 MB flash of an STM32F412 and the search would never have to trade accuracy for memory. The STM32F411's 512 KiB flash (128 KiB SRAM) makes the limits bind. Give --device to choose another.",
            a.max_res, a.max_width
        );
    }
    if a.limits.latency_ms.is_none() {
        println!(
            "latency: at most {DEMO_LATENCY_MS:.1} ms an inference ({DEMO_FRAMES_PER_S} frames/s) by default, priced by the latency model of the generated C on the device's core at its clock; give --latency-ms to change it."
        );
    }
    let console: Rc<dyn Observer> = Console::new();
    let mut adapter = String::new();
    let r = run_demo(
        || {
            let e = g.engine()?;
            adapter = e.gpu.info.name.clone();
            Ok(e)
        },
        &o,
        &console,
    )?;
    print_search(&r.search, &r.space, &o.limits)?;
    println!("exported:");
    super::export::print_export(&r.export);
    println!(
        "\ndemo finished in {:.0} s on {adapter}. Outputs in {}: space/ (ranking, CDF plot), train/ (supernet, metrics, training.png), search/ (best_subnet.json, population.png), export/ (tinynas_model.c/.h and tinynas_kernels.c/.h: the generated C runtime; model.tflite, model_data.cc/.h, report.json, and the firmware ELF linked for the device)",
        r.seconds,
        r.out.display()
    );
    if r.space_rank > 0 {
        println!(
            "On a GPU, train the overall best space with `tinynas train --space {}`.",
            r.out.join("space").join("chosen_space.json").display()
        );
    }
    let mine = r.search.row(o.limits.scheduler);
    println!(
        "result: top-1 {:.2} % (int8 {:.2} %), {:.2} M MACs, SRAM {:.1} KiB ({}), flash {:.1} KiB on {}",
        r.search.test_top1 * 100.0,
        r.export.int8_top1 * 100.0,
        mine.macs as f64 / 1e6,
        mine.sram_bytes as f64 / 1024.0,
        o.limits.scheduler.name(),
        mine.flash_bytes as f64 / 1024.0,
        o.limits.device.name
    );
    match (&r.export.firmware.device, &r.device_check_skipped) {
        (Some(d), _) => {
            let l = &d.link;
            println!(
                "device check: links for {}: flash {:.1} of {:.0} KiB, SRAM {:.1} of {:.0} KiB; ran on a {} (QEMU {}): {}/{} identical; {} instructions{}{}",
                l.device,
                l.flash_used_bytes as f64 / 1024.0,
                l.flash_bytes as f64 / 1024.0,
                l.sram_used_bytes as f64 / 1024.0,
                l.sram_bytes as f64 / 1024.0,
                l.core.name(),
                d.qemu.board,
                d.images,
                d.images,
                d.instructions,
                match r.export.firmware.predicted_instructions {
                    Some(p) => format!(
                        " (the latency model predicted {p}: {:+.2} %)",
                        100.0 * (p as f64 - d.instructions as f64) / d.instructions as f64
                    ),
                    None => String::new(),
                },
                match (d.ms_at_clock, o.limits.device.clock_mhz) {
                    (Some(ms), Some(mhz)) => format!(
                        ", ≈ {ms:.2} ms at {mhz} MHz ({} cycles per instruction, assumed)",
                        crate::mcu::latency::cycles_per_instruction(l.core)
                    ),
                    _ => String::new(),
                }
            );
        }
        (None, Some(why)) => println!(
            "device check: {} (the generated C in export/ was built and checked on the host)",
            super::flags::words(why)
        ),
        (None, None) => {}
    }
    Ok(())
}
