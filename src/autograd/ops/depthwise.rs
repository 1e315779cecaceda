//! Depthwise convolution (groups = channels, square kernel up to 7×7) with the kernel size and
//! stride as pipeline constants. The weight gradient takes two dispatches whatever C is.

use super::conv_shape::ConvShape;
use super::u;
use crate::autograd::Tensor;
use crate::error::Result;
use crate::gpu::Arg;
use crate::gpu::Direction;
use crate::gpu::Work;
use kernel::Depthwise;

/// This family's kernels (one shader and what it declares; tests/kernels.rs holds them to it).
pub mod kernel {
    use crate::gpu::kernel::{Family, Overrides, Params, Shader};

    pub const SHADER: Shader = Shader {
        name: "depthwise",
        source: include_str!("../../../shaders/depthwise.wgsl"),
    };
    crate::params!(
        /// Depthwise convolution (depthwise.wgsl).
        Depthwise {
            n: u32, c: u32, h: u32, w: u32,
            oh: u32, ow: u32, pad: u32, split: u32,
            w_off: u32, w_sc: u32, w_sy: u32, w_sx: u32,
        }
    );
    crate::overrides!(
        /// Kernel size `K`, stride `S`, outputs of a row per thread `W`, inputs of a residue class
        /// per thread in the strided backward-data pass `WR`.
        DwConsts { k = K, s = S, w = W, wr = WR }
    );
    crate::slots!(SRC = src @ 1, WT = wt @ 2, DST = dst @ 3);
    crate::kernels! {
        DW_FORWARD: Depthwise, DwConsts = SHADER::"dw_forward";
        DW_BACKWARD_DATA: Depthwise, DwConsts = SHADER::"dw_backward_data";
        DW_BACKWARD_WEIGHT: Depthwise, DwConsts = SHADER::"dw_backward_weight";
        DW_WEIGHT_SUM: Depthwise, DwConsts = SHADER::"dw_weight_sum";
    }
    pub const FAMILY: Family = Family {
        shaders: &[&SHADER],
        params: <Depthwise as Params>::FIELDS,
        flags: &[],
        slots: SLOTS,
        overrides: <DwConsts as Overrides>::NAMES,
        kernels: KERNELS,
    };
}

fn params(cs: &ConvShape, w: &Tensor, split: usize) -> Depthwise {
    let s = w.strides();
    Depthwise {
        n: u(cs.n),
        c: u(cs.cin),
        h: u(cs.h),
        w: u(cs.w),
        oh: u(cs.oh()),
        ow: u(cs.ow()),
        pad: u(cs.pad),
        split: u(split),
        w_off: u(w.offset()),
        w_sc: u(s[0]),
        w_sy: u(s[2]),
        w_sx: u(s[3]),
    }
}

/// How many workgroups share one channel's weight-gradient sum: enough to fill a GPU, never
/// fewer than 1,024 positions each.
fn weight_split(cs: &ConvShape) -> usize {
    let positions = cs.n * cs.oh() * cs.ow();
    let want = 512usize.div_ceil(cs.cin);
    want.min(positions / 1024).max(1)
}

pub(crate) fn depthwise(x: &Tensor, w: &Tensor, cs: ConvShape) -> Result<Tensor> {
    let e = x.engine().clone();
    let out = e.output("depthwise", &[cs.n, cs.cout, cs.oh(), cs.ow()])?;
    let split = weight_split(&cs);
    let p = params(&cs, w, split);
    // Costs for the profiler: 2·K² flops per output; input, weights and output moved once.
    let kk = (cs.kh * cs.kw) as f64;
    let (xin, yout) = (
        (cs.n * cs.cin * cs.h * cs.w) as f64,
        (cs.n * cs.cout * cs.oh() * cs.ow()) as f64,
    );
    let wn = cs.cin as f64 * kk;
    let flops = 2.0 * kk * yout;
    // Outputs (inputs) of a row per thread, `W` in shaders/depthwise.wgsl: 8 at stride 1 on rows
    // of 8 or more, else 4 (the shader's row buffer holds (W − 1)·S + K ≤ 19 values). Measured
    // on lavapipe in a res-64 training step: 8 saves 20–30 % on 16×16 and 8×8 maps and costs
    // 30–50 % on 4×4 and 2×2 ones, where half of each thread's outputs would lie past the row.
    let wr = if cs.stride == 1 && cs.w.min(cs.ow()) >= 8 {
        8
    } else {
        4
    };
    // Inputs of one residue class per thread in the strided backward-data pass, `WR`: 8 where
    // the class has 8 or more (7×7 at stride 2 from 32×32: 2.3 → 2.8 GFLOP/s on lavapipe).
    let wres = if cs.w.div_ceil(cs.stride) >= 8 { 8 } else { 4 };
    let consts = kernel::DwConsts {
        k: Some(cs.kh as u32),
        s: Some(cs.stride as u32),
        w: Some(wr as u32),
        wr: Some(wres as u32),
    };
    e.gpu.run(
        kernel::DW_FORWARD,
        &consts,
        &p,
        &[
            Arg(kernel::SRC, x.buffer()),
            Arg(kernel::WT, w.buffer()),
            Arg(kernel::DST, out.buffer()),
        ],
        // W outputs of a row per thread (shaders/depthwise.wgsl).
        (cs.n * cs.cin * cs.oh() * cs.ow().div_ceil(wr)).div_ceil(64) as u32,
        Work::new(flops, 4.0 * (xin + yout + wn), || cs.label()),
    )?;
    let (xsv, ws) = (e.save(x)?, w.clone());
    let (x_req, x_shape) = (x.requires_grad(), x.shape().to_vec());
    Ok(e.clone().record("depthwise", out, &[x, w], move |g| {
        let g = g.contiguous()?;
        let dx = if x_req {
            let _d = e.gpu.direction(Direction::BackwardData);
            let dx = e.output("depthwise.dx", &x_shape)?;
            e.gpu.run(
                kernel::DW_BACKWARD_DATA,
                &consts,
                &p,
                &[
                    Arg(kernel::SRC, g.buffer()),
                    Arg(kernel::WT, ws.buffer()),
                    Arg(kernel::DST, dx.buffer()),
                ],
                // W inputs of a row per thread; at stride S, WR of one residue class mod S.
                (if cs.stride == 1 {
                    cs.n * cs.cin * cs.h * cs.w.div_ceil(wr)
                } else {
                    cs.n * cs.cin * cs.h * cs.stride * cs.w.div_ceil(cs.stride).div_ceil(wres)
                })
                .div_ceil(64) as u32,
                Work::new(flops, 4.0 * (xin + yout + wn), || cs.label()),
            )?;
            Some(dx)
        } else {
            None
        };
        let dw = if ws.requires_grad() {
            let _d = e.gpu.direction(Direction::BackwardWeight);
            let kk = cs.kh * cs.kw;
            let partial = e.gpu.alloc("depthwise.dw.partial", split * cs.cin * kk)?;
            let xs = xsv.get()?;
            e.gpu.run(
                kernel::DW_BACKWARD_WEIGHT,
                &consts,
                &p,
                &[
                    Arg(kernel::SRC, xs.buffer()),
                    Arg(kernel::WT, g.buffer()),
                    Arg(kernel::DST, &partial),
                ],
                (split * cs.cin) as u32,
                Work::new(
                    flops,
                    4.0 * (xin + yout + (split * cs.cin * kk) as f64),
                    || cs.label(),
                ),
            )?;
            let dw = e.output("depthwise.dw", ws.shape())?;
            let parts = (split * cs.cin * kk) as f64;
            e.gpu.run(
                kernel::DW_WEIGHT_SUM,
                &consts,
                &p,
                &[Arg(kernel::SRC, &partial), Arg(kernel::DST, dw.buffer())],
                (cs.cin * kk).div_ceil(64) as u32,
                Work::new(parts, 4.0 * (parts + (cs.cin * kk) as f64), || {
                    format!("{split}×{}×{kk}", cs.cin)
                }),
            )?;
            Some(dw)
        } else {
            None
        };
        Ok(vec![dx, dw])
    }))
}
