//! 2-D convolution (NCHW, any stride, padding and groups). Pointwise 1×1 convolutions run as a
//! batched GEMM, depthwise ones on their own kernels (depthwise.rs), the rest directly.

use super::conv_shape::ConvShape;
use super::matmul::{Operand, gemm};
use super::u;
use crate::autograd::{Engine, Tensor};
use crate::error::{Result, shape_err};
use crate::gpu::Arg;
use crate::gpu::Direction;
use crate::gpu::Work;
use kernel::Conv;
use std::rc::Rc;

/// This family's kernels (one shader and what it declares; tests/kernels.rs holds them to it).
pub mod kernel {
    use crate::gpu::kernel::{Family, Overrides, Params, Shader};

    pub const SHADER: Shader = Shader {
        name: "conv",
        source: include_str!("../../../shaders/conv.wgsl"),
    };
    crate::params!(
        /// Dense and grouped convolutions, im2col (conv.wgsl).
        Conv {
            n: u32, cin: u32, h: u32, w: u32,
            cout: u32, oh: u32, ow: u32, groups: u32,
            kh: u32, kw: u32, stride: u32, pad: u32,
            w_off: u32, w_s0: u32, w_s1: u32, w_s2: u32,
            w_s3: u32,
        }
    );
    crate::slots!(SRC = src @ 1, WT = wt @ 2, DST = dst @ 3);
    crate::kernels! {
        CONV_FORWARD: Conv = SHADER::"conv_forward";
        CONV_BACKWARD_DATA: Conv = SHADER::"conv_backward_data";
        CONV_BACKWARD_WEIGHT: Conv = SHADER::"conv_backward_weight";
        IM2COL: Conv = SHADER::"im2col";
    }
    pub const FAMILY: Family = Family {
        shaders: &[&SHADER],
        params: <Conv as Params>::FIELDS,
        flags: &[],
        slots: SLOTS,
        overrides: <() as Overrides>::NAMES,
        kernels: KERNELS,
    };
}

impl Tensor {
    /// Convolve x[N,Cin,H,W] with w[Cout,Cin/groups,kh,kw] (any strided view of a larger weight).
    pub fn conv2d(&self, w: &Tensor, stride: usize, pad: usize, groups: usize) -> Result<Tensor> {
        let (sx, sw) = (self.shape(), w.shape());
        if sx.len() != 4 || sw.len() != 4 || sw[1] * groups != sx[1] {
            return shape_err(
                "conv2d",
                format!("x {sx:?}, weight {sw:?}, groups {groups}"),
            );
        }
        let cs = ConvShape {
            n: sx[0],
            cin: sx[1],
            h: sx[2],
            w: sx[3],
            cout: sw[0],
            kh: sw[2],
            kw: sw[3],
            stride,
            pad,
            groups,
        };
        cs.check()?;
        let x = self.contiguous()?;
        if cs.is_pointwise() {
            pointwise(&x, w, cs)
        } else if cs.is_depthwise() {
            super::depthwise::depthwise(&x, w, cs)
        } else if im2col_fits(&x, w, &cs) {
            im2col_gemm(&x, w, cs)
        } else {
            direct(&x, w, cs)
        }
    }
}

/// The im2col path: groups = 1, an input that needs no gradient (the stem on images; col2im
/// is not written), a contiguous weight, and a column buffer of at most 2²⁴ values.
fn im2col_fits(x: &Tensor, w: &Tensor, cs: &ConvShape) -> bool {
    let col = cs.n * cs.cin * cs.kh * cs.kw * cs.oh() * cs.ow();
    cs.groups == 1 && !x.requires_grad() && w.is_contiguous() && col <= 1 << 24
}

/// y[n] = W[Cout, Cin·kh·kw] · col[n]: the kernel taps laid out as GEMM rows by `im2col`, then
/// the pointwise path (its weight gradient is one reduce-batch GEMM). On lavapipe the stem
/// (64×1×64×64, 3×3 stride 2) takes 1.5 → 5+ GFLOP/s forward and 1.0 → 5+ for the weight
/// gradient this way.
fn im2col_gemm(x: &Tensor, w: &Tensor, cs: ConvShape) -> Result<Tensor> {
    let e = x.engine().clone();
    let ck = cs.cin * cs.kh * cs.kw;
    let (oh, ow) = (cs.oh(), cs.ow());
    let col = e.output("conv2d.im2col", &[cs.n, ck, oh, ow])?;
    let moved = 4.0 * (x.numel() + col.numel()) as f64;
    e.gpu.run(
        kernel::IM2COL,
        &(),
        &conv_params(&cs, w),
        &[Arg(kernel::SRC, x.buffer()), Arg(kernel::DST, col.buffer())],
        // One thread per output row of one (image, tap).
        (cs.n * ck * oh).div_ceil(64) as u32,
        Work::new(0.0, moved, || cs.label()),
    )?;
    let w2 = w.reshape(&[cs.cout, ck, 1, 1])?;
    let pw = ConvShape {
        n: cs.n,
        cin: ck,
        h: oh,
        w: ow,
        cout: cs.cout,
        kh: 1,
        kw: 1,
        stride: 1,
        pad: 0,
        groups: 1,
    };
    pointwise(&col, &w2, pw)
}

fn weight_operand(w: &Tensor) -> Operand {
    Operand::new(w.offset(), 0, w.strides()[0], w.strides()[1])
}

/// 1×1: y[n] = W·x[n] as a GEMM over the batch; dW = Σ_n dy[n]·x[n]ᵀ in one reduce-batch GEMM.
fn pointwise(x: &Tensor, w: &Tensor, cs: ConvShape) -> Result<Tensor> {
    let e = x.engine().clone();
    let (n, ci, co, hw) = (cs.n, cs.cin, cs.cout, cs.h * cs.w);
    let out = e.output("conv2d.pointwise", &[n, co, cs.h, cs.w])?;
    let wo = weight_operand(w);
    let xo = Operand::new(0, ci * hw, hw, 1);
    let yo = Operand::new(0, co * hw, hw, 1);
    gemm(
        &e,
        (co, hw, ci, n),
        (w.buffer(), wo),
        (x.buffer(), xo),
        (out.buffer(), yo),
        None,
        false,
        false,
    )?;
    let (xsv, ws) = (e.save(x)?, w.clone());
    let (x_req, x_shape) = (x.requires_grad(), x.shape().to_vec());
    Ok(e.clone()
        .record("conv2d.pointwise", out, &[x, w], move |g| {
            let g = g.contiguous()?;
            let dx = if x_req {
                let _d = e.gpu.direction(Direction::BackwardData);
                let dx = e.output("conv2d.pointwise.dx", &x_shape)?;
                gemm(
                    &e,
                    (ci, hw, co, n),
                    (ws.buffer(), wo.t()),
                    (g.buffer(), yo.grad()),
                    (dx.buffer(), xo),
                    None,
                    false,
                    false,
                )?;
                Some(dx)
            } else {
                None
            };
            let dw = if ws.requires_grad() {
                let _d = e.gpu.direction(Direction::BackwardWeight);
                let dw = e.output("conv2d.pointwise.dw", ws.shape())?;
                let dwo = Operand::new(0, 0, ci, 1);
                let xs = xsv.get()?;
                gemm(
                    &e,
                    (co, ci, hw, n),
                    (g.buffer(), yo.grad()),
                    (xs.buffer(), xo.t()),
                    (dw.buffer(), dwo),
                    None,
                    true,
                    false,
                )?;
                Some(dw)
            } else {
                None
            };
            Ok(vec![dx, dw])
        }))
}

pub(crate) fn conv_params(cs: &ConvShape, w: &Tensor) -> Conv {
    let s = w.strides();
    Conv {
        n: u(cs.n),
        cin: u(cs.cin),
        h: u(cs.h),
        w: u(cs.w),
        cout: u(cs.cout),
        oh: u(cs.oh()),
        ow: u(cs.ow()),
        groups: u(cs.groups),
        kh: u(cs.kh),
        kw: u(cs.kw),
        stride: u(cs.stride),
        pad: u(cs.pad),
        w_off: u(w.offset()),
        w_s0: u(s[0]),
        w_s1: u(s[1]),
        w_s2: u(s[2]),
        w_s3: u(s[3]),
    }
}

/// Any other convolution (the stem, strided 1×1, grouped): one thread per output element.
fn direct(x: &Tensor, w: &Tensor, cs: ConvShape) -> Result<Tensor> {
    let e: Rc<Engine> = x.engine().clone();
    let out = e.output("conv2d", &[cs.n, cs.cout, cs.oh(), cs.ow()])?;
    let params = conv_params(&cs, w);
    // Costs for the profiler: 2 flops per multiply-add; input, weights, output moved once.
    let (xs_n, w_n, y_n) = (x.numel() as f64, w.numel() as f64, out.numel() as f64);
    let conv_flops = 2.0 * y_n * (w.numel() / cs.cout) as f64;
    e.gpu.run(
        kernel::CONV_FORWARD,
        &(),
        &params,
        &[
            Arg(kernel::SRC, x.buffer()),
            Arg(kernel::WT, w.buffer()),
            Arg(kernel::DST, out.buffer()),
        ],
        // 4 outputs of a row per thread.
        (cs.n * cs.cout * cs.oh() * cs.ow().div_ceil(4)).div_ceil(64) as u32,
        Work::new(conv_flops, 4.0 * (xs_n + w_n + y_n), || cs.label()),
    )?;
    let (xsv, ws) = (e.save(x)?, w.clone());
    let (x_req, x_shape) = (x.requires_grad(), x.shape().to_vec());
    Ok(e.clone().record("conv2d", out, &[x, w], move |g| {
        let g = g.contiguous()?;
        let dx = if x_req {
            let _d = e.gpu.direction(Direction::BackwardData);
            let dx = e.output("conv2d.dx", &x_shape)?;
            e.gpu.run(
                kernel::CONV_BACKWARD_DATA,
                &(),
                &params,
                &[
                    Arg(kernel::SRC, g.buffer()),
                    Arg(kernel::WT, ws.buffer()),
                    Arg(kernel::DST, dx.buffer()),
                ],
                dx.numel().div_ceil(64) as u32,
                Work::new(conv_flops, 4.0 * (xs_n + w_n + y_n), || cs.label()),
            )?;
            Some(dx)
        } else {
            None
        };
        let dw = if ws.requires_grad() {
            let _d = e.gpu.direction(Direction::BackwardWeight);
            let dw = e.output("conv2d.dw", ws.shape())?;
            e.gpu.run(
                kernel::CONV_BACKWARD_WEIGHT,
                &(),
                &params,
                &[
                    Arg(kernel::SRC, xsv.get()?.buffer()),
                    Arg(kernel::WT, g.buffer()),
                    Arg(kernel::DST, dw.buffer()),
                ],
                dw.numel() as u32,
                Work::new(conv_flops, 4.0 * (xs_n + w_n + y_n), || cs.label()),
            )?;
            Some(dw)
        } else {
            None
        };
        Ok(vec![dx, dw])
    }))
}

/// f64 CPU references (any groups; depthwise and pointwise are special cases).
pub mod reference {
    use super::ConvShape;

    fn at(cs: &ConvShape, oy: usize, ky: usize, ox: usize, kx: usize) -> Option<(usize, usize)> {
        let iy = (oy * cs.stride + ky) as isize - cs.pad as isize;
        let ix = (ox * cs.stride + kx) as isize - cs.pad as isize;
        (iy >= 0 && ix >= 0 && (iy as usize) < cs.h && (ix as usize) < cs.w)
            .then_some((iy as usize, ix as usize))
    }

    /// Visit every (x index, w index, y index) product of the convolution.
    fn each(cs: &ConvShape, mut f: impl FnMut(usize, usize, usize)) {
        let (cig, cog) = (cs.cin / cs.groups, cs.cout / cs.groups);
        let (oh, ow) = (cs.oh(), cs.ow());
        for n in 0..cs.n {
            for co in 0..cs.cout {
                let g = co / cog;
                for c in 0..cig {
                    let ci = g * cig + c;
                    for ky in 0..cs.kh {
                        for kx in 0..cs.kw {
                            let wi = ((co * cig + c) * cs.kh + ky) * cs.kw + kx;
                            for oy in 0..oh {
                                for ox in 0..ow {
                                    if let Some((iy, ix)) = at(cs, oy, ky, ox, kx) {
                                        let xi = ((n * cs.cin + ci) * cs.h + iy) * cs.w + ix;
                                        let yi = ((n * cs.cout + co) * oh + oy) * ow + ox;
                                        f(xi, wi, yi);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    pub fn conv2d(x: &[f64], w: &[f64], cs: &ConvShape) -> Vec<f64> {
        let mut y = vec![0.0; cs.n * cs.cout * cs.oh() * cs.ow()];
        each(cs, |xi, wi, yi| y[yi] += x[xi] * w[wi]);
        y
    }

    /// (dx, dw)
    pub fn conv2d_backward(
        x: &[f64],
        w: &[f64],
        dy: &[f64],
        cs: &ConvShape,
    ) -> (Vec<f64>, Vec<f64>) {
        let mut dx = vec![0.0; x.len()];
        let mut dw = vec![0.0; w.len()];
        each(cs, |xi, wi, yi| {
            dx[xi] += dy[yi] * w[wi];
            dw[wi] += dy[yi] * x[xi];
        });
        (dx, dw)
    }
}
