//! `tinynas mem`: the layer table, MACs, params, flash and peak SRAM of a network under a
//! scheduler, and whether it fits a device.

use crate::mcu::net::{Network, from_subnet, mobilenet_v2, parse_json, proxyless_mobile};
use crate::mcu::{Device, EvalOptions, Report, Scheduler, evaluate};
use crate::supernet::{SearchSpace, SubnetConfig};
use crate::{Error, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Clone)]
pub struct MemArgs {
    /// A network description (JSON; format in README.md).
    #[arg(long, conflicts_with = "model")]
    pub net: Option<PathBuf>,
    /// A built-in network: mbv2, proxyless or mcunet-space.
    #[arg(long)]
    pub model: Option<String>,
    /// Input resolution (built-in models).
    #[arg(long, default_value_t = 224)]
    pub res: usize,
    /// Width multiplier (mbv2, mcunet-space).
    #[arg(long, default_value_t = 1.0)]
    pub width: f64,
    /// mcunet-space: the search space (JSON; default BENCH.md §1 with 3 input channels, 1000 classes).
    #[arg(long)]
    pub space: Option<PathBuf>,
    /// mcunet-space: the subnet (JSON), or `max` / `min`.
    #[arg(long, default_value = "max")]
    pub subnet: String,
    #[arg(long)]
    pub classes: Option<usize>,
    /// analytic, tflm, tinyengine, patch or all.
    #[arg(long, default_value = "tinyengine")]
    pub scheduler: String,
    /// stm32f746, stm32f412, stm32h743, nrf52840.
    #[arg(long, default_value = "stm32f746")]
    pub device: String,
    /// Custom SRAM budget in KiB (overrides the device's).
    #[arg(long)]
    pub sram: Option<u64>,
    /// Custom flash budget in KiB (overrides the device's).
    #[arg(long)]
    pub flash: Option<u64>,
    /// Flash taken by the runtime and code, in KiB.
    #[arg(long, default_value_t = 0)]
    pub runtime_flash: u64,
    /// Patch scheduler: n×n patches.
    #[arg(long, default_value_t = 4)]
    pub patches: usize,
    /// Analytic scheduler: depthwise not in place.
    #[arg(long)]
    pub no_inplace: bool,
    /// One JSON object (or an array for --scheduler all) instead of the table.
    #[arg(long)]
    pub json: bool,
}

fn read(path: &PathBuf) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Data {
        path: path.display().to_string(),
        msg: e.to_string(),
    })
}

pub fn network(a: &MemArgs) -> Result<Network> {
    if let Some(p) = &a.net {
        return Network::from_json(&read(p)?)
            .map_err(|e| Error::Invalid(format!("{}: {e}", p.display())));
    }
    let classes = a.classes.unwrap_or(1000);
    match a.model.as_deref() {
        Some("mbv2") => Ok(mobilenet_v2(a.width, a.res, classes)),
        Some("proxyless") => Ok(proxyless_mobile(a.res, classes)),
        Some("mcunet-space") => {
            let space = match &a.space {
                Some(p) => parse_json::<SearchSpace>(&read(p)?, &p.display().to_string())?,
                None => SearchSpace {
                    in_channels: 3,
                    classes,
                    width_mult: a.width,
                    ..SearchSpace::default()
                },
            };
            let subnet = match a.subnet.as_str() {
                "max" => space.largest(a.res),
                "min" => space.smallest(a.res),
                path => parse_json::<SubnetConfig>(&read(&PathBuf::from(path))?, path)?,
            };
            from_subnet(&space, &subnet)
        }
        Some(other) => Err(Error::Invalid(format!(
            "unknown model {other:?}; valid: mbv2, proxyless, mcunet-space (or --net FILE.json)"
        ))),
        None => Err(Error::Invalid(
            "give --net FILE.json or --model mbv2|proxyless|mcunet-space".into(),
        )),
    }
}

pub fn device(a: &MemArgs) -> Result<Device> {
    let mut d = Device::preset(&a.device)?;
    if let Some(s) = a.sram {
        d.sram_bytes = s * 1024;
        d.name = "custom".into();
    }
    if let Some(f) = a.flash {
        d.flash_bytes = f * 1024;
        d.name = "custom".into();
    }
    Ok(d)
}

pub fn kib(b: u64) -> String {
    format!("{:.1} KiB", b as f64 / 1024.0)
}

/// int8 bytes of an op's inputs and output.
fn activation_bytes(g: &crate::mcu::graph::Graph, op: &crate::mcu::graph::Op) -> u64 {
    op.inputs
        .iter()
        .chain([&op.output])
        .map(|&t| g.bytes(t))
        .sum()
}

pub fn print_table(r: &Report) {
    let g = &r.graph;
    println!(
        "{:>3} {:<24} {:<10} {:>12} {:>12} {:>11} {:>9} {:>10} {:>10}",
        "#", "layer", "kind", "input", "output", "MACs", "params", "flash B", "SRAM B"
    );
    for (i, op) in g.ops.iter().enumerate() {
        let t = |x: usize| format!("{}x{}x{}", g.tensors[x].h, g.tensors[x].w, g.tensors[x].c);
        let kind = format!("{:?}", op.kind).to_lowercase();
        let mark = if i == r.peak.peak_op { " <- peak" } else { "" };
        println!(
            "{:>3} {:<24} {:<10} {:>12} {:>12} {:>11} {:>9} {:>10} {:>10}{mark}",
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

pub fn run(a: &MemArgs) -> Result<()> {
    let net = network(a)?;
    let dev = device(a)?;
    let schedulers = if a.scheduler == "all" {
        Scheduler::ALL.to_vec()
    } else {
        vec![Scheduler::parse(&a.scheduler)?]
    };
    let mut out = Vec::new();
    for s in schedulers {
        let opts = EvalOptions {
            scheduler: s,
            inplace_depthwise: !a.no_inplace,
            patches: a.patches,
            patch_stage_end: None,
            runtime_flash_bytes: a.runtime_flash * 1024,
        };
        let r = evaluate(&net, &opts)?;
        let fits = dev.fits(r.peak_sram_bytes, r.flash_bytes);
        let (sm, fm) = dev.margins(r.peak_sram_bytes, r.flash_bytes);
        if a.json {
            let rows: Vec<_> = r.graph.ops.iter().enumerate().map(|(i, op)| serde_json::json!({
                "layer": op.name, "kind": op.kind, "input": r.graph.tensors[op.inputs[0]], "output": r.graph.tensors[op.output],
                "macs": op.macs, "params": op.params, "flash_bytes": op.weight_bytes,
                "activation_bytes": activation_bytes(&r.graph, op), "sram_bytes": r.peak.per_op[i],
            })).collect();
            out.push(serde_json::json!({
                "network": r.network, "scheduler": s.name(), "macs": r.macs, "params": r.params, "flash_bytes": r.flash_bytes,
                "peak_sram_bytes": r.peak_sram_bytes, "peak_layer": r.peak_layer, "peak_tensors": r.peak_tensors,
                "arena_bytes": r.peak.arena_bytes, "scratch_bytes": r.peak.scratch_bytes, "kernel_buffer_bytes": r.peak.kernel_buffer_bytes,
                "patch": r.patch, "device": dev, "fits": fits, "sram_margin_bytes": sm, "flash_margin_bytes": fm, "layers": rows,
            }));
            continue;
        }
        println!("== {} under {} ==", r.network, s.name());
        print_table(&r);
        println!(
            "MACs {:.2} M, params {:.3} M, flash {}",
            r.macs as f64 / 1e6,
            r.params as f64 / 1e6,
            kib(r.flash_bytes)
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
                "  = arena {} + scratch {} + kernel buffer {}",
                kib(r.peak.arena_bytes),
                kib(r.peak.scratch_bytes),
                kib(r.peak.kernel_buffer_bytes)
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
        println!(
            "{}: {} (SRAM {} of {}, margin {}; flash {} of {}, margin {})",
            dev.name,
            if fits { "fits" } else { "does NOT fit" },
            kib(r.peak_sram_bytes),
            kib(dev.sram_bytes),
            sm as f64 / 1024.0,
            kib(r.flash_bytes),
            kib(dev.flash_bytes),
            fm as f64 / 1024.0
        );
    }
    if a.json {
        let v = if out.len() == 1 {
            out.pop().unwrap()
        } else {
            serde_json::Value::Array(out)
        };
        println!("{}", serde_json::to_string_pretty(&v).unwrap());
    }
    Ok(())
}
