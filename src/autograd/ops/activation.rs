//! Activations: ReLU, ReLU6, h-swish, h-sigmoid, sigmoid (one pipeline each).

use super::arith::kernel::{self, Elementwise};
use super::u;
use crate::autograd::Tensor;
use crate::error::Result;
use crate::gpu::Arg;
use crate::gpu::Work;
use crate::gpu::work::dims;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Act {
    Relu,
    Relu6,
    Hswish,
    Hsigmoid,
    Sigmoid,
}

/// activation.wgsl's `ACT` of a pipeline without an activation (a `const` the shaders that
/// include activation.wgsl declare; tests/kernels.rs holds the two equal).
pub const ACT_NONE: u32 = 99;

impl Act {
    /// activation.wgsl's `ACT` of this activation.
    pub(crate) fn code(self) -> u32 {
        self as u32
    }

    pub fn name(self) -> &'static str {
        match self {
            Act::Relu => "relu",
            Act::Relu6 => "relu6",
            Act::Hswish => "hswish",
            Act::Hsigmoid => "hsigmoid",
            Act::Sigmoid => "sigmoid",
        }
    }

    /// f64 CPU reference: (f(x), f'(x)), with the same kink conventions as the shader.
    pub fn reference(self, x: f64) -> (f64, f64) {
        match self {
            Act::Relu => (x.max(0.0), if x > 0.0 { 1.0 } else { 0.0 }),
            Act::Relu6 => (
                x.clamp(0.0, 6.0),
                if x > 0.0 && x < 6.0 { 1.0 } else { 0.0 },
            ),
            Act::Hswish => {
                let d = if x <= -3.0 {
                    0.0
                } else if x >= 3.0 {
                    1.0
                } else {
                    (2.0 * x + 3.0) / 6.0
                };
                (x * (x + 3.0).clamp(0.0, 6.0) / 6.0, d)
            }
            Act::Hsigmoid => (
                (x + 3.0).clamp(0.0, 6.0) / 6.0,
                if x > -3.0 && x < 3.0 { 1.0 / 6.0 } else { 0.0 },
            ),
            Act::Sigmoid => {
                let s = 1.0 / (1.0 + (-x).exp());
                (s, s * (1.0 - s))
            }
        }
    }
}

impl Tensor {
    pub fn activation(&self, act: Act) -> Result<Tensor> {
        let x = self.contiguous()?;
        let e = self.engine().clone();
        let out = e.output(act.name(), x.shape())?;
        let n = x.numel();
        let consts = kernel::ActConsts {
            act: Some(act.code()),
        };
        e.gpu.run(
            kernel::ACT_FORWARD,
            &consts,
            &Elementwise {
                len: u(n),
                ..Default::default()
            },
            &[Arg(kernel::A, x.buffer()), Arg(kernel::OUT, out.buffer())],
            n.div_ceil(64) as u32,
            Work::new(n as f64, 8.0 * n as f64, || dims(x.shape())),
        )?;
        let xsv = e.save(&x)?;
        Ok(e.clone().record(act.name(), out, &[&x], move |g| {
            let g = g.contiguous()?;
            let xs = xsv.get()?;
            let dx = e.output("activation.dx", xs.shape())?;
            e.gpu.run(
                kernel::ACT_BACKWARD,
                &consts,
                &Elementwise {
                    len: u(n),
                    ..Default::default()
                },
                &[
                    Arg(kernel::A, xs.buffer()),
                    Arg(kernel::B, g.buffer()),
                    Arg(kernel::OUT, dx.buffer()),
                ],
                n.div_ceil(64) as u32,
                Work::new(n as f64, 12.0 * n as f64, || dims(xs.shape())),
            )?;
            Ok(vec![Some(dx)])
        }))
    }

    pub fn relu(&self) -> Result<Tensor> {
        self.activation(Act::Relu)
    }
    pub fn relu6(&self) -> Result<Tensor> {
        self.activation(Act::Relu6)
    }
    pub fn hswish(&self) -> Result<Tensor> {
        self.activation(Act::Hswish)
    }
    pub fn hsigmoid(&self) -> Result<Tensor> {
        self.activation(Act::Hsigmoid)
    }
    pub fn sigmoid(&self) -> Result<Tensor> {
        self.activation(Act::Sigmoid)
    }
}
