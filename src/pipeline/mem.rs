//! `mem`'s job: a network's footprint under each scheduler asked for, whether it fits the
//! device, and (where the device has a core and a clock) its predicted latency, layer by layer.

use super::inputs::{SubnetChoice, read_network, read_space, under};
use crate::arch::models::{mcunet_in2, mobilenet_v2, proxyless_mobile};
use crate::arch::{Network, SearchSpace, SubnetConfig};
use crate::bounds;
use crate::error::Field;
use crate::mcu::device::Core;
use crate::mcu::graph::{Graph, Op, OpKind, TensorInfo};
use crate::mcu::patch::PatchPlan;
use crate::mcu::tflm_tail::Tail;
use crate::mcu::{Device, EvalOptions, Report, Scheduler, evaluate, latency};
use crate::{Error, Result};
use serde::Serialize;
use std::path::PathBuf;

/// The network `mem` evaluates.
#[derive(Clone, Debug, PartialEq)]
pub enum Model {
    /// The network description (JSON; README.md's format) in this file.
    Net(PathBuf),
    /// A published network at resolution `res` (None: 224, mcunet-in2's 160) with `classes`
    /// classes (None: 1000).
    Published {
        model: Published,
        res: Option<usize>,
        classes: Option<usize>,
    },
    /// A subnet of a search space (MCUNet's): the `subnet` choice in `space`, max and min at
    /// `res` (None: the space's largest for max, smallest for min).
    Subnet {
        space: Space,
        subnet: SubnetChoice,
        res: Option<usize>,
    },
}

/// The published networks of `arch::models`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Published {
    /// MobileNetV2 at width multiplier `width` (None: 1.0).
    Mbv2 { width: Option<f64> },
    /// ProxylessNAS-Mobile (its published width only).
    Proxyless,
    /// MCUNet-in2 (its published widths only).
    McunetIn2,
}

/// The search space a [`Model::Subnet`] is of.
#[derive(Clone, Debug, PartialEq)]
pub enum Space {
    /// The space in this JSON file.
    File(PathBuf),
    /// The default space (workload 1 of BENCHMARKS.md) with 3 input channels, width multiplier
    /// `width` (None: 1.0), `classes` classes (None: 1000), and only the model's resolution.
    Default {
        width: Option<f64>,
        classes: Option<usize>,
    },
}

impl Model {
    /// The network, read or built and checked: a file's errors name it, a resolution that
    /// cannot work names `res`.
    pub fn network(&self) -> Result<Network> {
        match self {
            Model::Net(p) => read_network(p),
            Model::Published {
                model,
                res,
                classes,
            } => {
                let (width, own) = match model {
                    Published::Mbv2 { width } => (*width, 224),
                    Published::Proxyless => (None, 224),
                    Published::McunetIn2 => (None, 160),
                };
                let (r, classes, width) = sizes(res.unwrap_or(own), *classes, width)?;
                let net = match model {
                    Published::Mbv2 { .. } => mobilenet_v2(width, r, classes),
                    Published::Proxyless => proxyless_mobile(r, classes),
                    Published::McunetIn2 => {
                        let mut n = mcunet_in2();
                        if r != n.input.resolution {
                            n.name = format!("{}-r{r}", n.name);
                        }
                        n.input.resolution = r;
                        n.classes = classes;
                        n
                    }
                };
                net.validate().map_err(|e| at_res(*res, e))?;
                Ok(net)
            }
            Model::Subnet { space, subnet, res } => {
                let (w, c) = match space {
                    Space::File(_) => (None, None),
                    Space::Default { width, classes } => (*width, *classes),
                };
                let (r, classes, width) = sizes(res.unwrap_or(224), c, w)?;
                let space = match space {
                    Space::File(p) => read_space(p)?,
                    Space::Default { .. } => SearchSpace {
                        in_channels: 3,
                        classes,
                        width_mult: width,
                        resolutions: vec![r],
                        ..SearchSpace::default()
                    },
                };
                let subnet = subnet.config(&space, *res).map_err(|e| at_res(*res, e))?;
                crate::arch::subnet::from_subnet(&space, &subnet)
            }
        }
    }
}

/// The resolution, classes (None: 1000) and width (None: 1.0) of a built network, checked.
fn sizes(res: usize, classes: Option<usize>, width: Option<f64>) -> Result<(usize, usize, f64)> {
    let classes = classes.unwrap_or(1000);
    bounds::int(Field::Classes, classes, 2, bounds::MAX_CLASSES)?;
    bounds::int(Field::Res, res, 1, bounds::MAX_RESOLUTION)?;
    let width = width.unwrap_or(1.0);
    bounds::positive(Field::Width, width, 8.0)?;
    Ok((res, classes, width))
}

/// `e` of a network built at the resolution `res` given: named under `res`.
fn at_res(res: Option<usize>, e: Error) -> Error {
    match res {
        Some(r) => under(Field::Res, r, e),
        None => e,
    }
}

#[derive(Clone, Debug)]
pub struct MemOptions {
    pub schedulers: Vec<Scheduler>,
    pub device: Device,
    /// Flash taken by the runtime and code, added to every scheduler's.
    pub runtime_flash_bytes: u64,
    /// The patch scheduler's n×n patches.
    pub patches: usize,
    /// The analytic scheduler runs depthwise in place.
    pub inplace_depthwise: bool,
}

impl MemOptions {
    /// One scheduler's defaults (as `mem` has them) on `device`.
    pub fn on(device: &Device, scheduler: Scheduler) -> MemOptions {
        let d = EvalOptions::default();
        MemOptions {
            schedulers: vec![scheduler],
            device: device.clone(),
            runtime_flash_bytes: d.runtime_flash_bytes,
            patches: d.patches,
            inplace_depthwise: d.inplace_depthwise,
        }
    }
}

/// One layer of a scheduler's table.
#[derive(Clone, Debug, Serialize)]
pub struct LayerRow {
    pub layer: String,
    pub kind: OpKind,
    pub input: TensorInfo,
    pub output: TensorInfo,
    pub macs: u64,
    pub params: u64,
    pub flash_bytes: u64,
    /// int8 bytes of the layer's inputs and output.
    pub activation_bytes: u64,
    /// The scheduler's SRAM while the layer runs.
    pub sram_bytes: u64,
    pub latency_ms: Option<f64>,
}

/// The network under one scheduler, on the device (its JSON is `mem --json`'s object).
#[derive(Clone, Debug, Serialize)]
pub struct MemReport {
    pub network: String,
    pub scheduler: &'static str,
    pub macs: u64,
    pub params: u64,
    pub flash_bytes: u64,
    pub peak_sram_bytes: u64,
    pub sram_bytes: u64,
    pub peak_layer: String,
    pub peak_tensors: Vec<String>,
    pub arena_bytes: u64,
    pub scratch_bytes: u64,
    pub kernel_buffer_bytes: u64,
    pub tflm_tail: Option<Tail>,
    pub patch: Option<PatchPlan>,
    /// The patch scheduler: what `export --patch` generates (its figures are the report's), or
    /// why the generated C cannot run the stage in patches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_code: Option<std::result::Result<crate::mcu::patch_code::Estimate, String>>,
    pub device: Device,
    pub fits: bool,
    pub sram_margin_bytes: i64,
    pub flash_margin_bytes: i64,
    /// The generated C's predicted instructions and milliseconds (None: the device has no core
    /// or clock, or an op the latency model cannot price).
    pub instructions: Option<u64>,
    pub latency_ms: Option<f64>,
    pub layers: Vec<LayerRow>,
    /// The evaluator's report behind the figures (its graph, per-layer peaks).
    #[serde(skip)]
    pub report: Report,
}

/// `net` under each of `o.schedulers` on `o.device`.
pub fn mem(net: &Network, o: &MemOptions) -> Result<Vec<MemReport>> {
    let lat = Latency::of(&o.device);
    let instructions = lat.as_ref().and_then(|l| l.instructions(net));
    let latency_ms = lat.as_ref().zip(instructions).map(|(l, n)| l.ms(n as f64));
    let mut out = Vec::new();
    for &s in &o.schedulers {
        let r = evaluate(
            net,
            &EvalOptions {
                scheduler: s,
                inplace_depthwise: o.inplace_depthwise,
                patches: o.patches,
                patch_stage_end: None,
                runtime_flash_bytes: o.runtime_flash_bytes,
            },
        )?;
        let d = &o.device;
        let (sram_margin_bytes, flash_margin_bytes) = d.margins(r.sram_bytes, r.flash_bytes);
        // With patches the generated C is priced per patch.
        let (instructions, latency_ms) = match (&r.patch_code, &lat) {
            (Some(Ok(c)), Some(l)) => {
                let n = crate::mcu::latency::patched_instructions(l.table, &r.graph, &c.plan);
                (n, n.map(|n| l.ms(n as f64)))
            }
            _ => (instructions, latency_ms),
        };
        let ms = lat.as_ref().map(|l| l.per_op(&r.graph));
        let g = &r.graph;
        let layers = g
            .ops
            .iter()
            .enumerate()
            .map(|(i, op)| LayerRow {
                layer: op.name.clone(),
                kind: op.kind,
                input: g.tensors[op.inputs[0]],
                output: g.tensors[op.output],
                macs: op.macs,
                params: op.params,
                flash_bytes: op.weight_bytes,
                activation_bytes: activation_bytes(g, op),
                sram_bytes: r.peak.per_op[i],
                latency_ms: ms.as_ref().and_then(|v| v[i]),
            })
            .collect();
        out.push(MemReport {
            network: r.network.clone(),
            scheduler: s.name(),
            macs: r.macs,
            params: r.params,
            flash_bytes: r.flash_bytes,
            peak_sram_bytes: r.peak_sram_bytes,
            sram_bytes: r.sram_bytes,
            peak_layer: r.peak_layer.clone(),
            peak_tensors: r.peak_tensors.clone(),
            arena_bytes: r.peak.arena_bytes,
            scratch_bytes: r.peak.scratch_bytes,
            kernel_buffer_bytes: r.peak.kernel_buffer_bytes,
            tflm_tail: r.peak.tflm_tail,
            patch: r.patch.clone(),
            patch_code: r.patch_code.clone(),
            device: d.clone(),
            fits: d.fits(r.sram_bytes, r.flash_bytes),
            sram_margin_bytes,
            flash_margin_bytes,
            instructions,
            latency_ms,
            layers,
            report: r,
        });
    }
    Ok(out)
}

/// `model`'s network (read or built: [`Model::network`]) under each of `o.schedulers`.
pub fn mem_of(model: &Model, o: &MemOptions) -> Result<Vec<MemReport>> {
    mem(&model.network()?, o)
}

/// A subnet of `space` under one scheduler on `device` (the search's per-layer table).
pub fn subnet_mem(
    space: &SearchSpace,
    subnet: &SubnetConfig,
    device: &Device,
    scheduler: Scheduler,
) -> Result<MemReport> {
    let net = crate::arch::subnet::from_subnet(space, subnet)?;
    let mut r = mem(&net, &MemOptions::on(device, scheduler))?;
    Ok(r.pop().expect("one scheduler, one report"))
}

/// int8 bytes of an op's inputs and output.
fn activation_bytes(g: &Graph, op: &Op) -> u64 {
    op.inputs
        .iter()
        .chain([&op.output])
        .map(|&t| g.bytes(t))
        .sum()
}

/// A device's pricing of the generated C: the latency model's table for its core, its clock.
pub struct Latency {
    pub core: Core,
    pub clock_mhz: u32,
    pub table: &'static latency::CoreTable,
}

impl Latency {
    /// The device's, where it has a core and a clock and the table has the core.
    pub fn of(d: &Device) -> Option<Latency> {
        let core = d.core?;
        Some(Latency {
            core,
            clock_mhz: d.clock_mhz?,
            table: latency::core_table(core).ok()?,
        })
    }

    /// Milliseconds of each op of `g` (None: an op the generated C does not run).
    pub fn per_op(&self, g: &Graph) -> Vec<Option<f64>> {
        latency::graph_ops(self.table, g)
            .into_iter()
            .map(|n| n.map(|n| self.ms(n)))
            .collect()
    }

    pub fn ms(&self, instructions: f64) -> f64 {
        latency::ms(self.core, self.clock_mhz as f64, instructions)
    }

    /// The whole network's predicted instructions (None: an op the table cannot price).
    pub fn instructions(&self, net: &Network) -> Option<u64> {
        latency::instructions(self.table, net)
    }

    /// The cycles one instruction is assumed to take on the core.
    pub fn cycles_per_instruction(&self) -> f64 {
        latency::cycles_per_instruction(self.core)
    }
}
