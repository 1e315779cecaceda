//! A bias per channel and an activation fused into one pass, y = act(x + b[c]) for
//! x[N, C, inner…]: the epilogue of a convolution or a linear layer that has no batch norm after
//! it (a ReLU6 or h-swish after a biased layer), one read and one write of x instead of two.

use super::Act;
use super::u;
use crate::autograd::Tensor;
use crate::error::{Result, shape_err};
use crate::gpu::Arg;
use crate::gpu::Direction;
use crate::gpu::Work;
use crate::gpu::work::dims;
use kernel::{ActConsts, BiasAct};

/// This family's kernels (one shader and what it declares; tests/kernels.rs holds them to it).
pub mod kernel {
    use crate::gpu::kernel::{Family, Overrides, Params, Shader};

    pub const SHADER: Shader = Shader {
        name: "bias_act",
        source: concat!(
            include_str!("../../../shaders/activation.wgsl"),
            include_str!("../../../shaders/bias_act.wgsl")
        ),
    };
    crate::params!(
        /// A bias per channel and an activation (activation.wgsl + bias_act.wgsl).
        BiasAct { len: u32, c: u32, inner: u32, bias_off: u32 }
    );
    crate::overrides!(
        /// The activation `ACT` (`Act::code`).
        ActConsts { act = ACT }
    );
    pub use super::super::activation::ACT_NONE;
    crate::slots!(X = x @ 1, BIAS = bias @ 2, DY = dy @ 3, OUT = out @ 4);
    crate::kernels! {
        FORWARD: BiasAct, ActConsts = SHADER::"forward";
        BACKWARD: BiasAct, ActConsts = SHADER::"backward";
    }
    pub const FAMILY: Family = Family {
        shaders: &[&SHADER],
        params: <BiasAct as Params>::FIELDS,
        flags: &[("ACT_NONE", ACT_NONE)],
        slots: SLOTS,
        overrides: <ActConsts as Overrides>::NAMES,
        kernels: KERNELS,
    };
}

impl Tensor {
    /// act(x + b[c]) for x[N, C, inner…] and b[C] (a contiguous vector or a channel-prefix view
    /// of a wider one); gradients for both.
    pub fn bias_act(&self, bias: &Tensor, act: Act) -> Result<Tensor> {
        let sx = self.shape();
        if sx.len() < 2 || bias.shape() != [sx[1]] || bias.strides() != [1] {
            return shape_err(
                "bias_act",
                format!(
                    "x {sx:?}, bias {:?}: need x[N, C, …] and bias[C]",
                    bias.shape()
                ),
            );
        }
        let x = self.contiguous()?;
        let e = self.engine().clone();
        let (n, c) = (x.numel(), sx[1]);
        let params = BiasAct {
            len: u(n),
            c: u(c),
            inner: u(n / (sx[0] * c)),
            bias_off: u(bias.offset()),
        };
        let consts = ActConsts {
            act: Some(act.code()),
        };
        let out = e.output("bias_act", sx)?;
        e.gpu.run(
            kernel::FORWARD,
            &consts,
            &params,
            &[
                Arg(kernel::X, x.buffer()),
                Arg(kernel::BIAS, bias.buffer()),
                Arg(kernel::OUT, out.buffer()),
            ],
            n.div_ceil(64) as u32,
            Work::new(2.0 * n as f64, 4.0 * (2 * n + c) as f64, || dims(x.shape())),
        )?;
        let (xsv, b) = (e.save(&x)?, bias.clone());
        Ok(e.clone().record("bias_act", out, &[&x, bias], move |g| {
            let g = g.contiguous()?;
            let xs = xsv.get()?;
            let dz = {
                let _d = e.gpu.direction(Direction::BackwardData);
                let dz = e.output("bias_act.dz", xs.shape())?;
                e.gpu.run(
                    kernel::BACKWARD,
                    &consts,
                    &params,
                    &[
                        Arg(kernel::X, xs.buffer()),
                        Arg(kernel::BIAS, b.buffer()),
                        Arg(kernel::DY, g.buffer()),
                        Arg(kernel::OUT, dz.buffer()),
                    ],
                    n.div_ceil(64) as u32,
                    Work::new(3.0 * n as f64, 4.0 * (3 * n + c) as f64, || {
                        dims(xs.shape())
                    }),
                )?;
                dz
            };
            let db = if b.requires_grad() {
                let _d = e.gpu.direction(Direction::BackwardWeight);
                let inner = params.inner as usize;
                Some(dz.sum_outer(n / (c * inner), c, inner)?)
            } else {
                None
            };
            // dz is x's gradient (the tape drops it where x needs none).
            Ok(vec![Some(dz), db])
        }))
    }
}

/// f64 CPU reference for x[N, C, inner] and b[C]: (y, dx, db) with dy = `dy`.
pub fn reference(
    x: &[f64],
    bias: &[f64],
    dy: &[f64],
    inner: usize,
    act: Act,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let c = bias.len();
    let (mut y, mut dx, mut db) = (vec![0.0; x.len()], vec![0.0; x.len()], vec![0.0; c]);
    for i in 0..x.len() {
        let ch = (i / inner) % c;
        let (f, d) = act.reference(x[i] + bias[ch]);
        y[i] = f;
        dx[i] = dy[i] * d;
        db[ch] += dx[i];
    }
    (y, dx, db)
}
