//! `tinynas mem`: the layer table, MACs, params, flash and peak SRAM of a network under a
//! scheduler, and whether it fits a device.

use crate::bounds;
use crate::error::Field;
use crate::mcu::{Device, Scheduler};
use crate::pipeline::inputs::SubnetChoice;
use crate::pipeline::mem::{Latency, MemOptions, MemReport, Model, Published, Space, mem_of};
use crate::{Error, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Clone)]
pub struct MemArgs {
    /// A network description (JSON; format in README.md).
    #[arg(long, conflicts_with = "model")]
    pub net: Option<PathBuf>,
    /// A built-in network.
    #[arg(long, value_parser = ["mbv2", "proxyless", "mcunet-in2", "mcunet-space"])]
    pub model: Option<String>,
    /// Input resolution of a built-in model (default 224, mcunet-in2 160; with --space, the
    /// space's largest for max and smallest for min).
    #[arg(long, conflicts_with = "net")]
    pub res: Option<usize>,
    /// Width multiplier (mbv2, and mcunet-space without --space; default 1.0).
    #[arg(long, conflicts_with_all = ["net", "space"])]
    pub width: Option<f64>,
    /// mcunet-space: the search space (JSON; default workload 1 of BENCHMARKS.md with 3 input channels, 1000 classes).
    #[arg(long, conflicts_with = "net")]
    pub space: Option<PathBuf>,
    /// mcunet-space: the subnet (JSON), or `max` / `min`.
    #[arg(long, default_value = "max", conflicts_with = "net", value_parser = super::subnet_arg)]
    pub subnet: SubnetChoice,
    /// Classes of a built-in model's classifier (default 1000; a --space file sets its own).
    #[arg(long, conflicts_with_all = ["net", "space"])]
    pub classes: Option<usize>,
    /// analytic, tflm, tinyengine, patch or all.
    #[arg(long, default_value = "tinyengine", value_parser = schedulers_arg)]
    pub scheduler: Schedulers,
    /// stm32f746, stm32f412, stm32h743, nrf52840, stm32f411, nrf52832.
    #[arg(long, default_value = "stm32f746", value_parser = super::device_arg)]
    pub device: Device,
    /// Custom SRAM budget in KiB (overrides the device's).
    #[arg(long)]
    pub sram: Option<u64>,
    /// Custom flash budget in KiB (overrides the device's).
    #[arg(long)]
    pub flash: Option<u64>,
    /// The device's clock in MHz, in place of the preset's (the latency column is priced at it).
    #[arg(long)]
    pub clock_mhz: Option<u32>,
    /// Flash taken by the runtime and code, in KiB.
    #[arg(long, default_value_t = 0)]
    pub runtime_flash: u64,
    /// Patch scheduler: n×n patches (default 4).
    #[arg(long)]
    pub patches: Option<usize>,
    /// Analytic scheduler: depthwise not in place.
    #[arg(long)]
    pub no_inplace: bool,
    /// One JSON object (or an array for --scheduler all) instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// The network the flags name, for the library to read or build (flags that apply to none of
/// its kinds refused here).
pub fn model(a: &MemArgs) -> Result<Model> {
    if let Some(p) = &a.net {
        return Ok(Model::Net(p.clone()));
    }
    let name = a.model.as_deref().ok_or_else(|| {
        Error::Invalid(
            "give --net FILE.json or --model mbv2|proxyless|mcunet-in2|mcunet-space".into(),
        )
    })?;
    if name != "mcunet-space" && (a.space.is_some() || a.subnet != SubnetChoice::Max) {
        return Err(Error::Invalid(format!(
            "--space and --subnet apply to --model mcunet-space, not {name}"
        )));
    }
    let model = match name {
        "mbv2" => Published::Mbv2 { width: a.width },
        "proxyless" if a.width.is_some() => {
            return Err(Error::Invalid(
                "--width does not apply to proxyless (its published width 1.0 only)".into(),
            ));
        }
        "proxyless" => Published::Proxyless,
        "mcunet-in2" if a.width.is_some() => {
            return Err(Error::Invalid(
                "--width does not apply to mcunet-in2 (its published widths only)".into(),
            ));
        }
        "mcunet-in2" => Published::McunetIn2,
        "mcunet-space" => {
            let space = match &a.space {
                Some(p) => Space::File(p.clone()),
                None => Space::Default {
                    width: a.width,
                    classes: a.classes,
                },
            };
            return Ok(Model::Subnet {
                space,
                subnet: a.subnet.clone(),
                res: a.res,
            });
        }
        other => {
            return Err(Error::Invalid(format!(
                "unknown model {other:?}; valid: mbv2, proxyless, mcunet-in2, mcunet-space (or --net FILE.json)"
            )));
        }
    };
    Ok(Model::Published {
        model,
        res: a.res,
        classes: a.classes,
    })
}

pub fn device(a: &MemArgs) -> Result<Device> {
    a.device
        .clone()
        .with_budget(a.sram, a.flash)?
        .with_clock(a.clock_mhz)
}

/// `--scheduler`: one scheduler, or `all`.
#[derive(Clone, Debug)]
pub struct Schedulers(pub Vec<Scheduler>);

fn schedulers_arg(s: &str) -> std::result::Result<Schedulers, String> {
    if s == "all" {
        return Ok(Schedulers(Scheduler::ALL.to_vec()));
    }
    super::scheduler_arg(s).map(|x| Schedulers(vec![x]))
}

pub fn kib(b: u64) -> String {
    format!("{:.1} KiB", b as f64 / 1024.0)
}

/// The layer table; with `timed` (the device has a pricing), each layer's predicted
/// milliseconds.
pub fn print_table(m: &MemReport, timed: bool) {
    let (r, g) = (&m.report, &m.report.graph);
    println!(
        "{:>3} {:<24} {:<10} {:>12} {:>12} {:>11} {:>9} {:>10} {:>10}{}",
        "#",
        "layer",
        "kind",
        "input",
        "output",
        "MACs",
        "params",
        "flash B",
        "SRAM B",
        if timed { "      ms" } else { "" }
    );
    for (i, op) in g.ops.iter().enumerate() {
        let t = |x: usize| format!("{}x{}x{}", g.tensors[x].h, g.tensors[x].w, g.tensors[x].c);
        let kind = format!("{:?}", op.kind).to_lowercase();
        let mark = if i == r.peak.peak_op { " <- peak" } else { "" };
        let ms = match timed {
            true => match m.layers[i].latency_ms {
                Some(ms) => format!(" {ms:>7.3}"),
                None => format!(" {:>7}", "-"),
            },
            false => String::new(),
        };
        println!(
            "{:>3} {:<24} {:<10} {:>12} {:>12} {:>11} {:>9} {:>10} {:>10}{ms}{mark}",
            i,
            op.name,
            kind,
            t(op.inputs[0]),
            t(op.output),
            op.macs,
            op.params,
            op.weight_bytes,
            r.peak.per_op[i]
        );
    }
}

/// "latency 12.34 ms at 216 MHz (…)": the line under the table of `m`.
pub fn describe_latency(l: &Latency, m: &MemReport) -> String {
    match m.instructions {
        Some(n) => format!(
            "latency {:.2} ms at {} MHz: {:.2} M instructions of the generated C on the {} (the latency model fitted to QEMU's counts) × {} cycles per instruction (assumed, src/mcu/latency.rs)",
            l.ms(n as f64),
            l.clock_mhz,
            n as f64 / 1e6,
            l.core.name(),
            l.cycles_per_instruction()
        ),
        None => format!(
            "latency: not priced (the generated C has no kernel for an op of {})",
            m.network
        ),
    }
}

pub fn run(a: &MemArgs) -> Result<()> {
    let model = model(a)?;
    let dev = device(a)?;
    bounds::int(
        Field::RuntimeFlash,
        a.runtime_flash as usize,
        0,
        bounds::MAX_BUDGET_KIB as usize,
    )?;
    let patches = a.patches.unwrap_or(4);
    bounds::int(Field::Patches, patches, 1, 64)?;
    let uses = |s: Scheduler| a.scheduler.0.contains(&s);
    if a.patches.is_some() && !uses(Scheduler::Patch) {
        return Err(Error::Invalid(
            "--patches applies to --scheduler patch (or all)".into(),
        ));
    }
    if a.no_inplace && !uses(Scheduler::Analytic) {
        return Err(Error::Invalid(
            "--no-inplace applies to --scheduler analytic (or all); TF Lite Micro never runs depthwise in place and TinyEngine always does".into(),
        ));
    }
    let reports = mem_of(
        &model,
        &MemOptions {
            schedulers: a.scheduler.0.clone(),
            device: dev.clone(),
            runtime_flash_bytes: a.runtime_flash * 1024,
            patches,
            inplace_depthwise: !a.no_inplace,
        },
    )?;
    if a.json {
        let mut out: Vec<serde_json::Value> = reports
            .iter()
            .map(|m| serde_json::to_value(m).expect("a report serialises"))
            .collect();
        let v = if out.len() == 1 {
            out.pop().unwrap()
        } else {
            serde_json::Value::Array(out)
        };
        println!("{}", serde_json::to_string_pretty(&v).unwrap());
        return Ok(());
    }
    let lat = Latency::of(&dev);
    for m in &reports {
        let (r, s, fits) = (&m.report, m.report.scheduler, m.fits);
        let (sm, fm) = (m.sram_margin_bytes, m.flash_margin_bytes);
        println!("== {} under {} ==", r.network, s.name());
        print_table(m, lat.is_some());
        println!(
            "MACs {:.2} M, params {:.3} M, flash {}{}",
            r.macs as f64 / 1e6,
            r.params as f64 / 1e6,
            kib(r.flash_bytes),
            match s {
                Scheduler::TinyEngine =>
                    " (the generated C runtime's image: weights, tables and code)",
                Scheduler::Tflm =>
                    " (the .tflite file; TF Lite Micro's own code is not counted: add it with --runtime-flash)",
                Scheduler::Patch if matches!(r.patch_code, Some(Ok(_))) =>
                    " (the generated C runtime's image with `export --patch`: weights, tables and code)",
                _ => " (weights, biases and scales)",
            }
        );
        println!(
            "peak SRAM {} ({} B) at {} [{}]",
            kib(r.peak_sram_bytes),
            r.peak_sram_bytes,
            r.peak_layer,
            r.peak_tensors.join(", ")
        );
        if s == Scheduler::TinyEngine {
            println!(
                "  = arena {} + scratch {} + kernel buffer {}; with the runtime's stack the device needs {} ({} B)",
                kib(r.peak.arena_bytes),
                kib(r.peak.scratch_bytes),
                kib(r.peak.kernel_buffer_bytes),
                kib(r.sram_bytes),
                r.sram_bytes
            );
        }
        if let Some(t) = r.peak.tflm_tail {
            println!(
                "  TFLM arena: head {} B (the planned tensors above) + tail {} B on a 32-bit MCU: reserve {} B ({} B + {} B = {} B on a 64-bit host)",
                r.peak_sram_bytes,
                t.mcu32_bytes,
                t.reserve_mcu32(r.peak_sram_bytes),
                r.peak_sram_bytes,
                t.host64_bytes,
                r.peak_sram_bytes + t.host64_bytes
            );
        }
        if let Some(p) = &r.patch {
            println!(
                "  patch stage: {}x{} patches through {} (per-patch peak {}), then layer by layer (peak {}); {:.2} M extra MACs",
                p.patches,
                p.patches,
                r.graph.ops[p.stage_end].name,
                kib(p.stage_peak_bytes),
                kib(p.after_stage_peak_bytes),
                p.extra_macs as f64 / 1e6
            );
        }
        match &r.patch_code {
            Some(Ok(c)) => println!(
                "  the generated C (`export --patch {}`): the first {} layers (through {}) in patches, arena {} B (activations {} + scratch {} + kernel buffer {}); the device needs SRAM {} B (that arena, the input buffer of {} B and the runtime's stack); {:.2} M recomputed MACs (the latency line prices them: the model per patch)",
                c.plan.patches,
                c.plan.stage_end + 1,
                r.graph.ops[c.plan.stage_end].name,
                c.plan.total_bytes(),
                c.plan.arena_bytes,
                c.plan.scratch_bytes,
                c.plan.kernel_bytes,
                c.sram_bytes,
                c.input_bytes,
                c.plan.extra_macs as f64 / 1e6
            ),
            Some(Err(why)) => println!(
                "  the generated C cannot run it in patches: {why}; the fit below is the analytic peak's"
            ),
            None => {}
        }
        if let Some(l) = &lat {
            println!("{}", describe_latency(l, m));
        }
        println!(
            "{}: {} (SRAM {} of {}, margin {:.1} KiB; flash {} of {}, margin {:.1} KiB)",
            dev.name,
            if fits { "fits" } else { "does NOT fit" },
            kib(r.sram_bytes),
            kib(dev.sram_bytes),
            sm as f64 / 1024.0,
            kib(r.flash_bytes),
            kib(dev.flash_bytes),
            fm as f64 / 1024.0
        );
    }
    Ok(())
}
