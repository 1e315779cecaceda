//! `tinynas export`: one library call (`crate::pipeline::export`), the report printed.

use super::console::Console;
use super::mem::kib;
use crate::Result;
use crate::error::Field;
use crate::pipeline::export::{ExportOptions, ExportReport};
use crate::pipeline::export_run::{check_export, export_run};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Clone)]
pub struct ExportArgs {
    /// GPU options.
    #[command(flatten)]
    pub gpu: super::GpuArgs,
    #[command(flatten)]
    pub sub: super::eval::RunSubnetArgs,
    /// Folder for the generated C runtime (tinynas_model.c/.h, tinynas_kernels.c/.h),
    /// model.tflite, model_data.cc/.h, network.json, model.safetensors, report.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Training images whose activation ranges set the int8 parameters.
    #[arg(long, default_value_t = 256)]
    pub calib_images: usize,
    /// Training images for BN recalibration (default: the run's setting).
    #[arg(long)]
    pub recal_images: Option<usize>,
    /// Fine-tune the subnet this many epochs before extraction (the largest subnet as teacher;
    /// in memory, the run is not changed).
    #[arg(long, default_value_t = 0)]
    pub finetune_epochs: usize,
    /// Peak learning rate of the fine-tuning (cosine decay; with --finetune-epochs; default
    /// 0.01).
    #[arg(long, requires = "finetune_epochs")]
    pub finetune_lr: Option<f32>,
    /// Check the model on TF Lite Micro's interpreter and LiteRT before writing it, with this
    /// Python (one with tflite-micro and ai-edge-litert: scripts/pyenv.sh prints one).
    #[arg(long)]
    pub verify: Option<PathBuf>,
    /// Test images of the check (with --verify).
    #[arg(long, default_value_t = 100, requires = "verify")]
    pub verify_images: usize,
    /// Link the generated C runtime for this device (its core, flash and SRAM: the link fails
    /// when the model does not fit) and run it on the core in QEMU: stm32f746, stm32h743
    /// (Cortex-M7), stm32f411, stm32f412, nrf52840, nrf52832 (Cortex-M4F). Needs the Arm
    /// toolchain and QEMU (scripts/setup.sh firmware).
    #[arg(long, value_parser = target_arg)]
    pub target: Option<crate::mcu::Device>,
    /// Test images run in QEMU with --target (default 20).
    #[arg(long, requires = "target")]
    pub target_images: Option<usize>,
    /// Run the generated C's first stage in N×N patches (MCUNetV2 patch-based inference: a
    /// smaller arena for recomputed overlaps; `tinynas mem --scheduler patch --patches N`
    /// gives its figures). Default: layer by layer.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(2..=16))]
    pub patch: Option<u16>,
}

pub fn print_export(r: &ExportReport) {
    if let Some(b) = r.supernet_top1_before_finetune {
        println!(
            "  fine-tuned {} epoch(s): supernet top-1 {:.2} % → {:.2} %",
            r.finetune_epochs,
            b * 100.0,
            r.supernet_top1 * 100.0
        );
    }
    if let Some(v) = &r.verified {
        println!(
            "  verified on {} test images: TF Lite Micro equals the integer executor bit for bit; LiteRT picks the same class on {} (its built-in kernels without XNNPACK: {}); TFLM's arena head {} B, tail {} B (64-bit host)",
            v.images,
            v.litert_same_class,
            v.litert_builtin_same_class,
            v.tflm_head_bytes,
            v.tflm_tail_bytes
        );
    }
    println!("subnet: {}", serde_json::to_string(&r.subnet).unwrap());
    println!(
        "  top-1 on {} test images: supernet {:.2} %, exported float {:.2} %, int8 {:.2} % ({:+.2} points)",
        r.test_images,
        r.supernet_top1 * 100.0,
        r.float_top1 * 100.0,
        r.int8_top1 * 100.0,
        (r.int8_top1 - r.float_top1) * 100.0
    );
    println!(
        "  {:.2} M MACs, {:.1} k params, {} ops; model.tflite {}",
        r.macs as f64 / 1e6,
        r.params as f64 / 1e3,
        r.ops,
        kib(r.tflite_bytes as u64),
    );
    println!("  {:<11} {:>12} {:>12}", "scheduler", "flash", "SRAM");
    for v in &r.per_scheduler {
        println!(
            "  {:<11} {:>12} {:>12}",
            v.scheduler.name(),
            kib(v.flash_bytes),
            kib(v.sram_bytes)
        );
    }
    println!("  {}", super::search::SCHEDULER_MEMORY);
    println!(
        "  TF Lite Micro arena: head {} B + tail {} B (32-bit MCU): reserve {} B (tail {} B on a 64-bit host)",
        r.arena.head_bytes,
        r.arena.tail_mcu32_bytes,
        r.arena.reserve_mcu32_bytes,
        r.arena.tail_host64_bytes
    );
    print_firmware(&r.firmware);
    println!(
        "  input int8 {:?} (scale {:.6}, zero point {}), output int8 {:?} (scale {:.6}, zero point {})",
        r.input.shape,
        r.input.scale,
        r.input.zero_point,
        r.output.shape,
        r.output.scale,
        r.output.zero_point
    );
}

/// `--target`: a device preset (a budget of --sram/--flash has no core to build for).
fn target_arg(s: &str) -> std::result::Result<crate::mcu::Device, String> {
    crate::mcu::Device::preset(s).map_err(|_| {
        format!(
            "unknown device {s:?}; valid: {}",
            crate::mcu::device::PRESETS
                .iter()
                .map(|p| p.0)
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// The generated C runtime's lines: its arena and image, the host check, the device check.
pub fn print_firmware(f: &crate::pipeline::firmware::FirmwareReport) {
    println!(
        "  generated C (tinynas_model.c/.h, tinynas_kernels.c/.h): arena {} B (activations {} + scratch {} + kernel buffer {}); the device needs SRAM {} and flash {} ({})",
        f.arena_bytes,
        f.activation_bytes,
        f.scratch_bytes,
        f.kernel_buffer_bytes,
        kib(f.sram_estimate_bytes),
        kib(f.flash_estimate_bytes),
        if f.patch.is_some() {
            "estimates; with the input buffer"
        } else {
            "estimates the search checked"
        }
    );
    if let Some(p) = &f.patch {
        println!(
            "  patch-based: the first {} layers (through {}) in {}x{} patches ({} of them), then layer by layer; arena {} B instead of {} B, for {:.2} M recomputed MACs (+{:.0} %); tinynas_invoke reads the input where it lies, tinynas_input() is {} B beside the arena",
            p.stage_layers,
            p.stage_end,
            p.patches,
            p.patches,
            p.patch_count,
            f.arena_bytes,
            p.whole_arena_bytes,
            p.extra_macs as f64 / 1e6,
            100.0 * p.extra_macs as f64 / p.macs.max(1) as f64,
            p.input_buffer_bytes
        );
    }
    match (&f.host, &f.host_skipped) {
        (Some(h), _) => println!(
            "  on the host: {}/{} test images identical to the integer executor, {:.0} images/s; arena touched {} + {} + {} B",
            h.images,
            h.images,
            h.images as f64 / h.seconds.max(1e-9),
            h.touched.activations,
            h.touched.scratch,
            h.touched.kernel_buffer
        ),
        (None, Some(why)) => println!("  on the host: {why}"),
        (None, None) => {}
    }
    if let Some(d) = &f.device {
        let l = &d.link;
        println!(
            "  links for {}: flash {} of {}, SRAM {} of {} (linker; estimate {} and {})",
            l.device,
            kib(l.flash_used_bytes),
            kib(l.flash_bytes),
            kib(l.sram_used_bytes),
            kib(l.sram_bytes),
            kib(f.flash_estimate_bytes),
            kib(f.sram_estimate_bytes)
        );
        println!(
            "  ran on a {} (QEMU {}): {}/{} identical; {} instructions an inference{}, {:.3} MACs per instruction{}; stack {} of {} B",
            l.core.name(),
            d.qemu.board,
            d.images,
            d.images,
            d.instructions,
            f.predicted_instructions
                .map(|p| format!(
                    " (the latency model predicted {p}: {:+.2} %)",
                    100.0 * (p as f64 - d.instructions as f64) / d.instructions as f64
                ))
                .unwrap_or_default(),
            d.macs_per_instruction,
            d.ms_at_clock
                .map(|ms| format!(
                    " (≈ {ms:.1} ms at the device's clock at {} cycles per instruction, assumed: an instruction count, not a board measurement)",
                    crate::mcu::latency::cycles_per_instruction(l.core)
                ))
                .unwrap_or_default(),
            d.qemu.stack_used_bytes,
            l.stack_bytes
        );
    }
}

pub fn run(a: &ExportArgs) -> Result<()> {
    crate::bounds::int(Field::CalibImages, a.calib_images, 1, 1_000_000)?;
    crate::bounds::recal_images(a.recal_images)?;
    crate::bounds::int(Field::VerifyImages, a.verify_images, 1, 1_000_000)?;
    crate::bounds::int(Field::FinetuneEpochs, a.finetune_epochs, 0, 10_000)?;
    let finetune_lr = a.finetune_lr.unwrap_or(0.01);
    crate::bounds::positive(Field::FinetuneLr, finetune_lr as f64, 10.0)?;
    if a.finetune_lr.is_some() && a.finetune_epochs == 0 {
        return Err(crate::Error::Invalid(
            "--finetune-lr applies to fine-tuning, and --finetune-epochs is 0: give --finetune-epochs 1 or more, or leave out --finetune-lr".into(),
        ));
    }
    // --target-images without --target is refused by the argument parser.
    let target_images = a.target_images.unwrap_or(20);
    crate::bounds::int(Field::TargetImages, target_images, 1, 1_000_000)?;
    // Every input checked before the disk is touched; then the run and its data are read;
    // only then is --out made and locked.
    let patches = a.patch.map(usize::from);
    let (cfg, subnet) = check_export(
        &a.sub.run,
        &a.sub.subnet(),
        a.verify.as_deref(),
        a.target.as_ref(),
        patches,
        &a.out,
    )?;
    let e = a.gpu.engine()?;
    let console = Console::new();
    let o = ExportOptions {
        subnet,
        calib_images: a.calib_images,
        recal_images: a.recal_images.unwrap_or(cfg.recal_images),
        out: a.out.clone(),
        finetune_epochs: a.finetune_epochs,
        finetune_lr,
        verify: a.verify.clone(),
        verify_images: a.verify_images,
        target: a.target.clone(),
        target_images,
        patches,
    };
    let r = export_run(&e, &a.sub.run, &o, &*console)?;
    print_export(&r);
    println!(
        "wrote {} ({:.1} s)",
        crate::pipeline::export::EXPORT_FILES
            .iter()
            .map(|f| f.to_string())
            .chain(a.target.as_ref().map(crate::pipeline::firmware::elf_name))
            .map(|f| a.out.join(f).display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        r.seconds
    );
    Ok(())
}
