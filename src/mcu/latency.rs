//! The latency of a network's generated C on a core: per op kind (and, for depthwise, kernel and
//! stride: each has its own kernel), instructions = a·MACs + b·output elements + c·input
//! elements + d·channels + f·odd-pixel MACs + e, fitted by least squares to per-layer instruction counts of random
//! subnets in QEMU (`tinynas bench latency`, which writes `latency.json` beside this file), then
//! turned into milliseconds at the device's clock by a cycles-per-instruction constant per core.
//!
//! QEMU counts instructions, not cycles: the constants below are what turns one into the other,
//! and they are assumptions, not board measurements.

use super::device::Core;
use super::graph::{OpInfo, OpKind, TensorInfo};
use super::walk::walk_ops;
use crate::arch::net::Network;
use crate::error::Field;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Cycles per instruction of the Cortex-M4F on the generated kernels. Assumed, not measured: the
/// Cortex-M4 Technical Reference Manual's timings (ALU ops, MUL and SMLAD 1 cycle; a load 2, or 1
/// when pipelined behind another; a taken branch 2–4) over loops that are mostly loads, dual
/// multiply-accumulates and a branch, with flash read through the vendors' prefetch/ART with no
/// stalls. A board measurement would replace it.
pub const CORTEX_M4F_CYCLES_PER_INSTRUCTION: f64 = 1.3;

/// Cycles per instruction of the Cortex-M7. Assumed, not measured: the M7 issues up to two
/// instructions a cycle (Arm quotes 2.14 DMIPS/MHz against the M4's 1.25, a ratio of 1.7), so
/// the M4's figure divided by 1.7, with code and data in tightly coupled memory or cache.
pub const CORTEX_M7_CYCLES_PER_INSTRUCTION: f64 = 0.75;

pub fn cycles_per_instruction(core: Core) -> f64 {
    match core {
        Core::CortexM4F => CORTEX_M4F_CYCLES_PER_INSTRUCTION,
        Core::CortexM7 => CORTEX_M7_CYCLES_PER_INSTRUCTION,
    }
}

/// Milliseconds of `instructions` on `core` at `clock_mhz`.
pub fn ms(core: Core, clock_mhz: f64, instructions: f64) -> f64 {
    instructions * cycles_per_instruction(core) / (clock_mhz * 1e3)
}

/// The fitted table, in the repository (`tinynas bench latency` regenerates it).
pub const TABLE_JSON: &str = include_str!("latency.json");

/// What an op costs, in the terms of the fit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Coefficients {
    pub per_mac: f64,
    pub per_output: f64,
    /// Per input element (depthwise: of the padded plane the kernel copies, per channel).
    pub per_input: f64,
    pub per_channel: f64,
    /// Per MAC of the pixel a pointwise kernel's two-pixel blocking leaves to its one-pixel
    /// loop (an odd pixel count), on top of `per_mac`.
    pub per_odd_pixel_mac: f64,
    pub constant: f64,
}

/// The sizes an op's cost is fitted on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Features {
    pub macs: f64,
    pub outputs: f64,
    pub inputs: f64,
    pub channels: f64,
    /// Pointwise: the MACs of the last pixel when the pixel count is odd (0 otherwise).
    pub odd_pixel_macs: f64,
}

impl Coefficients {
    pub fn apply(&self, f: &Features) -> f64 {
        self.per_mac * f.macs
            + self.per_output * f.outputs
            + self.per_input * f.inputs
            + self.per_channel * f.channels
            + self.per_odd_pixel_mac * f.odd_pixel_macs
            + self.constant
    }
}

/// One core's table: coefficients per op class (`op_class`), and how the fit did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CoreTable {
    pub ops: BTreeMap<String, Coefficients>,
    /// Layers per op class the fit saw.
    pub layers: BTreeMap<String, usize>,
    pub check: HeldOut,
}

/// The whole-network prediction against QEMU's count on subnets the fit did not see.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct HeldOut {
    pub subnets: usize,
    pub mean_abs_error_pct: f64,
    pub worst_error_pct: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LatencyTable {
    pub about: String,
    /// The command that wrote it.
    pub command: String,
    pub toolchain: String,
    pub cores: BTreeMap<String, CoreTable>,
}

/// The key of a core in the table ("cortex-m4f", "cortex-m7").
pub fn core_key(core: Core) -> &'static str {
    match core {
        Core::CortexM4F => "cortex-m4f",
        Core::CortexM7 => "cortex-m7",
    }
}

/// The committed table (parsed once).
pub fn table() -> &'static LatencyTable {
    static T: OnceLock<LatencyTable> = OnceLock::new();
    T.get_or_init(|| {
        serde_json::from_str(TABLE_JSON).expect("src/mcu/latency.json is the bench's own output")
    })
}

/// The class of an op in the table: which kernel of the generated C runs it. None for ops the
/// generated C has no kernel for (squeeze-and-excite, PAD).
pub fn op_class(kind: OpKind, kernel: usize, stride: usize) -> Option<&'static str> {
    Some(match kind {
        OpKind::Conv => "conv",
        OpKind::Pointwise => "pointwise",
        OpKind::Depthwise => match (kernel, stride) {
            (3, 1) => "depthwise_k3_s1",
            (3, 2) => "depthwise_k3_s2",
            (5, 1) => "depthwise_k5_s1",
            (5, 2) => "depthwise_k5_s2",
            (7, 1) => "depthwise_k7_s1",
            (7, 2) => "depthwise_k7_s2",
            _ => "depthwise",
        },
        OpKind::Add => "add",
        OpKind::Pool => "avgpool",
        OpKind::Linear => "fully_connected",
        OpKind::SePool | OpKind::SeFc | OpKind::SeMul | OpKind::Pad => return None,
    })
}

/// Which features the class's fit uses, in the order macs, outputs, inputs, channels, odd-pixel
/// MACs, constant. A fixed kernel makes a depthwise layer's MACs a multiple of its outputs, so it
/// is fitted on MACs, its padded plane (inputs) and its channels (per-channel setup); an ADD has
/// no MACs; the pointwise kernel computes two pixels at a time and an odd count leaves one pixel
/// to a scalar loop about three times dearer per MAC (on mcunet-in2's r32 cousins, whose last
/// stages are 1×1, that is most of the pointwise work).
pub fn used_features(class: &str) -> [bool; 6] {
    match class {
        "conv" => [true, true, true, false, false, true],
        "pointwise" => [true, true, true, false, true, true],
        "add" => [false, true, false, false, false, true],
        "avgpool" => [false, false, true, true, false, true],
        "fully_connected" => [true, true, false, false, false, true],
        _ => [true, false, true, true, false, true], // depthwise
    }
}

/// The features of an op from its kind, kernel, stride, shapes and MACs.
pub fn features(
    kind: OpKind,
    kernel: usize,
    stride: usize,
    input: TensorInfo,
    out: TensorInfo,
    macs: u64,
) -> Features {
    let inputs = if kind == OpKind::Depthwise {
        // The padded plane the kernel fills per channel (`codegen`'s scratch need).
        let ph = (out.h - 1) * stride + kernel;
        let pw = (out.w - 1) * stride + kernel;
        (ph * pw * out.c) as f64
    } else {
        input.bytes() as f64
    };
    let pixels = out.h * out.w;
    let odd_pixel_macs = if kind == OpKind::Pointwise && pixels % 2 == 1 {
        (input.c * out.c) as f64
    } else {
        0.0
    };
    Features {
        macs: macs as f64,
        outputs: out.bytes() as f64,
        inputs,
        channels: out.c as f64,
        odd_pixel_macs,
    }
}

pub fn op_features(o: &OpInfo) -> Features {
    features(o.kind, o.kernel_size, o.stride, o.input, o.out, o.macs)
}

impl CoreTable {
    /// Predicted instructions of one op (None: the table has no entry for its class).
    pub fn op(&self, o: &OpInfo) -> Option<f64> {
        let class = op_class(o.kind, o.kernel_size, o.stride)?;
        Some(self.ops.get(class)?.apply(&op_features(o)).max(0.0))
    }
}

/// Predicted instructions of the generated C for `net` on `core`, per op (in the order of
/// `walk::build`) — an error naming the first op the table cannot price.
pub fn per_op(net: &Network, core: Core) -> Result<Vec<f64>> {
    let t = core_table(core)?;
    let mut out = Vec::new();
    let mut missing = None;
    walk_ops(net, false, |o| match t.op(o) {
        Some(v) => out.push(v),
        None => {
            if missing.is_none() {
                missing = Some(format!(
                    "{} ({:?}, k{} s{})",
                    o.name, o.kind, o.kernel_size, o.stride
                ));
            }
            out.push(f64::NAN)
        }
    });
    match missing {
        Some(m) => Err(Error::bad_setting(
            Field::LatencyMs,
            format!(
                "the latency model has no cost for {m}: the generated C runs only convolutions (depthwise with kernels 3, 5, 7 and strides 1, 2), ADD, average pooling and fully connected layers"
            ),
        )),
        None => Ok(out),
    }
}

pub fn core_table(core: Core) -> Result<&'static CoreTable> {
    table().cores.get(core_key(core)).ok_or_else(|| {
        Error::Invalid(format!(
            "the latency table (src/mcu/latency.json) has no {}: run `tinynas bench latency`",
            core.name()
        ))
    })
}

/// Predicted instructions of the whole network (the fast path: no allocation); None when an op
/// has no entry.
pub fn instructions(t: &CoreTable, net: &Network) -> Option<u64> {
    let mut total = 0.0;
    let mut ok = true;
    walk_ops(net, false, |o| match t.op(o) {
        Some(v) => total += v,
        None => ok = false,
    });
    ok.then_some(total.round() as u64)
}

/// Predicted instructions of each op of a built graph (`walk::build_ops`; None for an op the
/// generated C does not run, e.g. TF Lite's PADs, or one the table has no entry for).
pub fn graph_ops(t: &CoreTable, g: &super::graph::Graph) -> Vec<Option<f64>> {
    g.ops
        .iter()
        .map(|op| t.op_on(op, g.tensors[op.inputs[0]], g.tensors[op.output], op.macs))
        .collect()
}

impl CoreTable {
    /// Predicted instructions of op `op` of a built graph run on an `input` → `out` geometry
    /// of `macs` MACs (its own, or a patch's part of it).
    fn op_on(
        &self,
        op: &super::graph::Op,
        input: TensorInfo,
        out: TensorInfo,
        macs: u64,
    ) -> Option<f64> {
        let class = op_class(op.kind, op.kernel_size, op.stride)?;
        let f = features(op.kind, op.kernel_size, op.stride, input, out, macs);
        Some(self.ops.get(class)?.apply(&f).max(0.0))
    }
}

/// Predicted instructions of the generated C with this plan on a core (`mcu::latency`'s
/// per-op model on each patch's geometry, the stage's last op and its ADDs per row as the code
/// calls them; the rest layer by layer). None where the table cannot price an op.
pub fn patched_instructions(
    t: &CoreTable,
    g: &super::graph::Graph,
    plan: &super::patch_code::PatchCode,
) -> Option<u64> {
    let mut total = 0.0;
    for r in &plan.regions {
        for (i, op) in g.ops[..=plan.stage_end].iter().enumerate() {
            let (x, o) = (g.tensors[op.inputs[0]], g.tensors[op.output]);
            let (ri, ro) = (r[op.inputs[0]]?, r[op.output]?);
            let add = op.kind == OpKind::Add;
            // The stage's last op and an ADD run a call per row of the patch.
            let (calls, rows) = if i == plan.stage_end || add {
                (ro.h(), 1)
            } else {
                (1, ro.h())
            };
            // An ADD reads its own region of each input; a convolution its input's region (a
            // row of it per call: a projection's, which is the output's).
            let (ih, iw) = if add {
                (rows, ro.w())
            } else {
                (ri.h() / calls, ri.w())
            };
            let input = TensorInfo {
                h: ih,
                w: iw,
                c: x.c,
            };
            let out = TensorInfo {
                h: rows,
                w: ro.w(),
                c: o.c,
            };
            let macs = op.macs / (o.h * o.w) as u64 * (rows * ro.w()) as u64;
            total += t.op_on(op, input, out, macs)? * calls as f64;
        }
    }
    for v in &graph_ops(t, g)[plan.stage_end + 1..] {
        total += (*v)?;
    }
    Some(total.round() as u64)
}
