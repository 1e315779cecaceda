//! Elementwise arithmetic: add (residuals, gradient accumulation), scale, and the per-channel
//! broadcast multiply of squeeze-and-excite.

use super::u;
use crate::autograd::Tensor;
use crate::error::{Result, shape_err};
use crate::gpu::Arg;
use crate::gpu::Direction;
use crate::gpu::Work;
use crate::gpu::work::dims;
use kernel::Elementwise;

/// This family's kernels (one shader and what it declares; tests/kernels.rs holds them to it).
pub mod kernel {
    use crate::gpu::kernel::{Family, Overrides, Params, Shader};

    pub const SHADER: Shader = Shader {
        name: "elementwise",
        source: concat!(
            include_str!("../../../shaders/activation.wgsl"),
            include_str!("../../../shaders/elementwise.wgsl")
        ),
    };
    crate::params!(
        /// Elementwise arithmetic and activations (activation.wgsl + elementwise.wgsl).
        Elementwise { len: u32, hw: u32, alpha: f32 }
    );
    crate::overrides!(
        /// The activation `ACT` (`Act::code`; ACT_NONE for none).
        ActConsts { act = ACT }
    );
    pub use super::super::activation::ACT_NONE;
    crate::slots!(A = a @ 1, B = b @ 2, OUT = out @ 3);
    crate::kernels! {
        ACT_FORWARD: Elementwise, ActConsts = SHADER::"act_forward";
        ACT_BACKWARD: Elementwise, ActConsts = SHADER::"act_backward";
        ADD: Elementwise = SHADER::"add";
        SCALE: Elementwise = SHADER::"scale";
        MUL_CHANNEL: Elementwise = SHADER::"mul_channel";
    }
    pub const FAMILY: Family = Family {
        shaders: &[&SHADER],
        params: <Elementwise as Params>::FIELDS,
        flags: &[("ACT_NONE", ACT_NONE)],
        slots: SLOTS,
        overrides: <ActConsts as Overrides>::NAMES,
        kernels: KERNELS,
    };
}

impl Tensor {
    pub fn add(&self, other: &Tensor) -> Result<Tensor> {
        if self.shape() != other.shape() {
            return shape_err("add", format!("{:?} + {:?}", self.shape(), other.shape()));
        }
        let (a, b) = (self.contiguous()?, other.contiguous()?);
        let e = self.engine().clone();
        let out = e.output("add", a.shape())?;
        let n = a.numel();
        e.gpu.run(
            kernel::ADD,
            &(),
            &Elementwise {
                len: u(n),
                ..Default::default()
            },
            &[
                Arg(kernel::A, a.buffer()),
                Arg(kernel::B, b.buffer()),
                Arg(kernel::OUT, out.buffer()),
            ],
            n.div_ceil(64) as u32,
            Work::new(n as f64, 12.0 * n as f64, || dims(a.shape())),
        )?;
        Ok(e.record("add", out, &[&a, &b], |g| {
            Ok(vec![Some(g.clone()), Some(g.clone())])
        }))
    }

    pub fn scale(&self, alpha: f32) -> Result<Tensor> {
        let x = self.contiguous()?;
        let e = self.engine().clone();
        let out = e.output("scale", x.shape())?;
        let n = x.numel();
        e.gpu.run(
            kernel::SCALE,
            &(),
            &Elementwise {
                len: u(n),
                hw: 0,
                alpha,
            },
            &[Arg(kernel::A, x.buffer()), Arg(kernel::OUT, out.buffer())],
            n.div_ceil(64) as u32,
            Work::new(n as f64, 8.0 * n as f64, || format!("{n}")),
        )?;
        Ok(e.clone().record("scale", out, &[&x], move |g| {
            Ok(vec![Some(g.scale(alpha)?)])
        }))
    }

    /// x[N,C,H,W] · s[N,C] broadcast over H·W (squeeze-and-excite).
    pub fn mul_channel(&self, s: &Tensor) -> Result<Tensor> {
        let (sx, ss) = (self.shape(), s.shape());
        if sx.len() != 4 || ss != [sx[0], sx[1]] {
            return shape_err(
                "mul_channel",
                format!("x {sx:?} · s {ss:?}; s must be [N, C]"),
            );
        }
        let (x, sc) = (self.contiguous()?, s.contiguous()?);
        let e = self.engine().clone();
        let out = e.output("mul_channel", sx)?;
        let (n, hw) = (x.numel(), sx[2] * sx[3]);
        e.gpu.run(
            kernel::MUL_CHANNEL,
            &(),
            &Elementwise {
                len: u(n),
                hw: u(hw),
                alpha: 0.0,
            },
            &[
                Arg(kernel::A, x.buffer()),
                Arg(kernel::B, sc.buffer()),
                Arg(kernel::OUT, out.buffer()),
            ],
            n.div_ceil(64) as u32,
            Work::new(n as f64, 8.0 * n as f64, || format!("{n}")),
        )?;
        let (xsv, ss2) = (e.save(&x)?, sc.clone());
        let (x_req, x_shape) = (x.requires_grad(), x.shape().to_vec());
        Ok(e.clone().record("mul_channel", out, &[&x, &sc], move |g| {
            let g = g.contiguous()?;
            let dx = if x_req {
                let _d = e.gpu.direction(Direction::BackwardData);
                let dx = e.output("mul_channel.dx", &x_shape)?;
                e.gpu.run(
                    kernel::MUL_CHANNEL,
                    &(),
                    &Elementwise {
                        len: u(n),
                        hw: u(hw),
                        alpha: 0.0,
                    },
                    &[
                        Arg(kernel::A, g.buffer()),
                        Arg(kernel::B, ss2.buffer()),
                        Arg(kernel::OUT, dx.buffer()),
                    ],
                    n.div_ceil(64) as u32,
                    Work::new(2.0 * n as f64, 12.0 * n as f64, || dims(&x_shape)),
                )?;
                Some(dx)
            } else {
                None
            };
            let ds = if ss2.requires_grad() {
                Some(g.row_dot(&xsv.get()?, ss2.shape())?)
            } else {
                None
            };
            Ok(vec![dx, ds])
        }))
    }
}
