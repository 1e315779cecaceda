//! Optimizers (SGD with momentum / Nesterov / decoupled weight-decay groups, Adam) and the
//! cosine learning-rate schedule with linear warm-up. Updates run on the GPU.

use super::ParamEntry;
use crate::autograd::ops::optim::kernel::{self, NESTEROV, Optim};
use crate::autograd::ops::u;
use crate::gpu::Work;
use crate::gpu::{Arg, GpuBuffer};
use crate::{Engine, Result};
use std::rc::Rc;

fn state(e: &Engine, params: &[ParamEntry], what: &'static str) -> Result<Vec<Rc<GpuBuffer>>> {
    params
        .iter()
        .map(|p| e.gpu.alloc_zeroed(what, p.tensor.numel()))
        .collect()
}

fn zero_grads(e: &Engine, params: &[ParamEntry]) {
    let t: Vec<_> = params.iter().map(|p| p.tensor.clone()).collect();
    e.zero_grad(&t);
}

/// A parameter's gradient buffer (an error for one that is not trainable).
pub(crate) fn grad_of(p: &ParamEntry) -> Result<&GpuBuffer> {
    p.tensor
        .grad_buffer()
        .ok_or_else(|| crate::Error::Invalid(format!("{} is not a trainable parameter", p.name)))
}

pub struct Sgd {
    pub params: Vec<ParamEntry>,
    pub momentum: f32,
    pub nesterov: bool,
    pub weight_decay: f32,
    momentum_buf: Vec<Rc<GpuBuffer>>,
}

impl Sgd {
    pub fn new(
        e: &Engine,
        params: Vec<ParamEntry>,
        momentum: f32,
        nesterov: bool,
        weight_decay: f32,
    ) -> Result<Sgd> {
        let momentum_buf = state(e, &params, "sgd.momentum")?;
        Ok(Sgd {
            params,
            momentum,
            nesterov,
            weight_decay,
            momentum_buf,
        })
    }

    /// One update with learning rate `lr` from the accumulated gradients.
    pub fn step(&self, e: &Engine, lr: f32) -> Result<()> {
        let _d = e.gpu.direction(crate::gpu::Direction::Optimizer);
        for (p, m) in self.params.iter().zip(&self.momentum_buf) {
            let n = p.tensor.numel();
            let wd = if p.decay { self.weight_decay } else { 0.0 };
            let params = Optim {
                len: u(n),
                flags: if self.nesterov { NESTEROV } else { 0 },
                lr,
                momentum: self.momentum,
                weight_decay: wd,
                ..Optim::default()
            };
            e.gpu.run(
                kernel::SGD,
                &(),
                &params,
                &[
                    Arg(kernel::W, p.tensor.buffer()),
                    Arg(kernel::G, grad_of(p)?),
                    Arg(kernel::M, m),
                ],
                n.div_ceil(64) as u32,
                Work::new(6.0 * n as f64, 20.0 * n as f64, || format!("{n}")),
            )?;
        }
        Ok(())
    }

    pub fn zero_grad(&self, e: &Engine) {
        zero_grads(e, &self.params);
    }

    /// Momentum buffers, for checkpoints.
    pub fn state_buffers(&self) -> &[Rc<GpuBuffer>] {
        &self.momentum_buf
    }
}

pub struct Adam {
    pub params: Vec<ParamEntry>,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub steps: u32,
    m: Vec<Rc<GpuBuffer>>,
    v: Vec<Rc<GpuBuffer>>,
}

impl Adam {
    pub fn new(e: &Engine, params: Vec<ParamEntry>, weight_decay: f32) -> Result<Adam> {
        let m = state(e, &params, "adam.m")?;
        let v = state(e, &params, "adam.v")?;
        Ok(Adam {
            params,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            steps: 0,
            m,
            v,
        })
    }

    pub fn step(&mut self, e: &Engine, lr: f32) -> Result<()> {
        let _d = e.gpu.direction(crate::gpu::Direction::Optimizer);
        self.steps += 1;
        let bc1 = 1.0 - self.beta1.powi(self.steps as i32);
        let bc2 = 1.0 - self.beta2.powi(self.steps as i32);
        for ((p, m), v) in self.params.iter().zip(&self.m).zip(&self.v) {
            let n = p.tensor.numel();
            let wd = if p.decay { self.weight_decay } else { 0.0 };
            let params = Optim {
                len: u(n),
                flags: 0,
                lr,
                momentum: 0.0,
                weight_decay: wd,
                beta1: self.beta1,
                beta2: self.beta2,
                eps: self.eps,
                bias_corr1: bc1,
                bias_corr2: bc2,
            };
            e.gpu.run(
                kernel::ADAM,
                &(),
                &params,
                &[
                    Arg(kernel::W, p.tensor.buffer()),
                    Arg(kernel::G, grad_of(p)?),
                    Arg(kernel::M, m),
                    Arg(kernel::V, v),
                ],
                n.div_ceil(64) as u32,
                Work::new(10.0 * n as f64, 28.0 * n as f64, || format!("{n}")),
            )?;
        }
        Ok(())
    }

    pub fn zero_grad(&self, e: &Engine) {
        zero_grads(e, &self.params);
    }
}

/// Linear warm-up from 0 over `warmup` steps, then cosine decay from `base` to `min` at `total`.
#[derive(Clone, Copy, Debug)]
pub struct CosineSchedule {
    pub base: f32,
    pub min: f32,
    pub warmup: usize,
    pub total: usize,
}

impl CosineSchedule {
    pub fn lr(&self, step: usize) -> f32 {
        if step < self.warmup {
            return self.base * (step + 1) as f32 / self.warmup as f32;
        }
        let span = (self.total.saturating_sub(self.warmup)).max(1) as f32;
        let t = ((step - self.warmup) as f32 / span).min(1.0);
        self.min + 0.5 * (self.base - self.min) * (1.0 + (std::f32::consts::PI * t).cos())
    }
}
