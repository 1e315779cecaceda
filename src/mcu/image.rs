//! What a network costs the device under the runtime each scheduler stands for: its flash image
//! and the SRAM beside the planned arena.
//!
//! `tinyengine` is the generated C runtime (src/firmware): flash = its `const` arrays (int8
//! weights; per output channel an int32 bias, an int32 multiplier and an int8 shift, each
//! array 4-byte aligned; a 44-byte layer record per convolution, 28 per ADD; the 256-entry
//! pixel table per input channel) + its code (each kernel the network uses, `tinynas_run`'s
//! call per layer, the fixed part: invoke, memcpy/memset, startup); SRAM = the arena + the
//! runtime's stack. The code sizes are GCC 12's at -O2 for the Cortex-M4F and M7 (the larger
//! of the two, rounded up); tests/firmware.rs holds the whole estimate to the linker's figure.
//! `tflm` is TF Lite Micro: flash = the .tflite file (`TfliteCounter`, fitted to the writer's
//! output: within 0.05 %, never below; TF Lite Micro's own code, built by the user, is not
//! counted — `--runtime-flash` adds it); SRAM = the arena's head + its persistent tail as a
//! 32-bit MCU reserves it. `patch` is the generated C with its first stage in patches
//! (`mcu::patch_code::estimate`: this image plus its tables and driver; its arena, the input
//! buffer and the stack), where the code can run the stage so; otherwise, like `analytic`,
//! it stands for no runtime: flash = weights +
//! 4-byte bias + 4-byte scale per channel, SRAM = the peak.

use super::graph::{OpInfo, OpKind};

/// The stack the generated runtime needs beside its arena: its deepest call chain measured on
/// the Cortex-M cores in QEMU (356 B), with room for the caller's frame. The QEMU build
/// reserves exactly this much and the tests hold every run under it.
pub const RUNTIME_STACK_BYTES: u64 = 1024;

/// Code bytes of the fixed part: tinynas_invoke/input/output/argmax, memcpy and memset of the
/// C library, a vector table, reset handler and the harness that runs it (about 1.7 KB).
pub const FIXED_CODE_BYTES: u64 = 2048;
/// `tinynas_run`'s code per layer (a layer's call with its three or four arguments).
pub const CALL_BYTES: u64 = 18;
/// A convolution's or fully connected layer's `tn_conv_t` record, and an ADD's `tn_add_t`.
pub const LAYER_RECORD_BYTES: u64 = 44;
pub const ADD_RECORD_BYTES: u64 = 28;

/// Patch-based inference (`--patch`): a `tn_patch_t` per stage op and patch, the input's
/// window origin per patch, the code of the patch driver (tn_geom, tn_window,
/// tn_pointwise_rows, tn_add_rows, the patch loop) and per stage op its call with the record
/// copied.
pub const PATCH_ENTRY_BYTES: u64 = 28;
pub const PATCH_INPUT_ENTRY_BYTES: u64 = 4;
pub const PATCH_CODE_BYTES: u64 = 512;
pub const PATCH_CALL_BYTES: u64 = 48;

/// Code bytes of a kernel.
pub fn kernel_code_bytes(k: Kernel) -> u64 {
    match k {
        Kernel::Conv => 1392,
        Kernel::Pointwise => 2688,
        Kernel::Depthwise {
            k,
            s,
            specialised: true,
        } => match (k, s) {
            (3, 1) => 1152,
            (3, 2) => 1168,
            (5, 1) => 1600,
            (5, 2) => 1696,
            (7, 1) => 2208,
            _ => 2320,
        },
        Kernel::Depthwise {
            specialised: false, ..
        } => 8,
        Kernel::Add => 624,
        Kernel::AvgPool => 128,
        Kernel::FullyConnected => 304,
    }
}

/// Code every depthwise kernel shares (the plane, the general requantization's loop), counted
/// once where the network has a depthwise convolution.
pub const DEPTHWISE_COMMON_BYTES: u64 = 720;

/// A kernel of the generated runtime (depthwise: one per kernel size and stride, k3/5/7 ×
/// s1/2 specialised, the rest one generic).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    Conv,
    Pointwise,
    Depthwise { k: u8, s: u8, specialised: bool },
    Add,
    AvgPool,
    FullyConnected,
}

fn align4(x: u64) -> u64 {
    x.div_ceil(4) * 4
}

/// The kernel op `o` runs on, and the bytes of its constants (arrays and record).
pub fn op_image(o: &OpInfo) -> (Option<Kernel>, u64) {
    let cout = o.out.c as u64;
    let weights = o.params.saturating_sub(cout);
    let conv =
        |w: u64, mults: u64| align4(w) + 4 * cout + 4 * mults + align4(mults) + LAYER_RECORD_BYTES;
    match o.kind {
        OpKind::Conv => (Some(Kernel::Conv), conv(weights, cout)),
        OpKind::Pointwise => (Some(Kernel::Pointwise), conv(weights, cout)),
        OpKind::Depthwise => {
            let (k, s) = (o.kernel_size as u8, o.stride as u8);
            let specialised = matches!(k, 3 | 5 | 7) && matches!(s, 1 | 2);
            // Other kernels and strides share one generic function.
            let (k, s) = if specialised { (k, s) } else { (0, 0) };
            (
                Some(Kernel::Depthwise { k, s, specialised }),
                conv(weights, cout),
            )
        }
        OpKind::Linear => (Some(Kernel::FullyConnected), conv(weights, 1)),
        OpKind::Add => (Some(Kernel::Add), ADD_RECORD_BYTES),
        OpKind::Pool => (Some(Kernel::AvgPool), 0),
        // Not expressed by the generated runtime (the exporter refuses squeeze-and-excite;
        // PADs are fused): counted as weights, bias and scale.
        OpKind::SePool | OpKind::SeMul | OpKind::Pad => (None, 0),
        OpKind::SeFc => (None, o.weight_bytes),
    }
}

/// The flash image of the generated C runtime, op by op.
#[derive(Clone, Debug, Default)]
pub struct ImageCounter {
    consts: u64,
    layers: u64,
    kernels: Vec<Kernel>,
}

impl ImageCounter {
    pub fn clear(&mut self) {
        self.consts = 0;
        self.layers = 0;
        self.kernels.clear();
    }
    pub fn add(&mut self, o: &OpInfo) {
        let (k, bytes) = op_image(o);
        self.consts += bytes;
        if let Some(k) = k {
            self.layers += 1;
            if !self.kernels.contains(&k) {
                self.kernels.push(k);
            }
        }
    }
    /// The image's bytes for a network of `in_channels` input channels.
    pub fn bytes(&self, in_channels: usize) -> u64 {
        let mut code: u64 = self.kernels.iter().map(|&k| kernel_code_bytes(k)).sum();
        if self
            .kernels
            .iter()
            .any(|k| matches!(k, Kernel::Depthwise { .. }))
        {
            code += DEPTHWISE_COMMON_BYTES;
        }
        self.consts + 256 * in_channels as u64 + code + CALL_BYTES * self.layers + FIXED_CODE_BYTES
    }
}

/// The size of the .tflite file `export` writes, op by op over the TFLite graph (PADs
/// included): the int8 weights, 16 bytes per output channel (the int32 bias, the weights'
/// float scale and int64 zero point), 103 bytes per constant tensor (its table, shape, name,
/// buffer and 16-byte alignment), 168 per op (the operator, its options and its output
/// tensor), 560 for the rest and 512 for the description (`export::tflite::DESCRIPTION_BYTES`).
/// Fitted on 40 random subnets (r32–96, widths 0.35–0.75) with a one-byte description: within
/// 164 B of the file, never below it; tests/deploy.rs holds it to the writer.
#[derive(Clone, Copy, Debug, Default)]
pub struct TfliteCounter {
    bytes: u64,
}

impl TfliteCounter {
    pub fn add(&mut self, o: &OpInfo) {
        let cout = o.out.c as u64;
        self.bytes += 168;
        match o.kind {
            OpKind::Conv
            | OpKind::Pointwise
            | OpKind::Depthwise
            | OpKind::Linear
            | OpKind::SeFc => {
                self.bytes += o.params.saturating_sub(cout) + 16 * cout + 2 * 103;
            }
            OpKind::Pad => self.bytes += 103,
            _ => {}
        }
    }
    pub fn bytes(&self) -> u64 {
        self.bytes + 560 + 512
    }
}
