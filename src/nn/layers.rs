//! Convolution + batch norm (+ activation) and linear layers.

use super::{BufferEntry, Module, ParamEntry, init};
use crate::autograd::ops::Act;
use crate::autograd::ops::norm::{BatchNorm, BnMode};
use crate::{Engine, Result, Tensor};
use rand::Rng;
use std::rc::Rc;

pub const BN_EPS: f32 = 1e-5;
pub const BN_MOMENTUM: f32 = 0.1;

/// conv (no bias) → batch norm → optional activation.
pub struct ConvBn {
    pub weight: Tensor,
    pub gamma: Tensor,
    pub beta: Tensor,
    pub running_mean: Tensor,
    pub running_var: Tensor,
    pub stride: usize,
    pub groups: usize,
    pub act: Option<Act>,
}

impl ConvBn {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        e: &Rc<Engine>,
        rng: &mut impl Rng,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        groups: usize,
        act: Option<Act>,
    ) -> Result<ConvBn> {
        let shape = [cout, cin / groups, k, k];
        Ok(ConvBn {
            weight: e.param(&init::kaiming_conv(rng, shape), &shape)?,
            gamma: e.param(&vec![1.0; cout], &[cout])?,
            beta: e.param(&vec![0.0; cout], &[cout])?,
            running_mean: e.zeros(&[cout])?,
            running_var: e.full(&[cout], 1.0)?,
            stride,
            groups,
            act,
        })
    }

    pub fn forward(&self, x: &Tensor, mode: BnMode) -> Result<Tensor> {
        let k = self.weight.shape()[2];
        let y = x.conv2d(&self.weight, self.stride, k / 2, self.groups)?;
        let bn = BatchNorm {
            gamma: &self.gamma,
            beta: &self.beta,
            running_mean: &self.running_mean,
            running_var: &self.running_var,
            eps: BN_EPS,
        };
        y.batch_norm_act(&bn, mode, self.act)
    }
}

impl Module for ConvBn {
    fn params(&self, prefix: &str, out: &mut Vec<ParamEntry>) {
        out.push(ParamEntry {
            name: format!("{prefix}conv.weight"),
            tensor: self.weight.clone(),
            decay: true,
        });
        out.push(ParamEntry {
            name: format!("{prefix}bn.weight"),
            tensor: self.gamma.clone(),
            decay: false,
        });
        out.push(ParamEntry {
            name: format!("{prefix}bn.bias"),
            tensor: self.beta.clone(),
            decay: false,
        });
    }
    fn buffers(&self, prefix: &str, out: &mut Vec<BufferEntry>) {
        out.push(BufferEntry {
            name: format!("{prefix}bn.running_mean"),
            tensor: self.running_mean.clone(),
        });
        out.push(BufferEntry {
            name: format!("{prefix}bn.running_var"),
            tensor: self.running_var.clone(),
        });
    }
}

pub struct Linear {
    pub weight: Tensor,
    pub bias: Tensor,
}

impl Linear {
    pub fn new(e: &Rc<Engine>, rng: &mut impl Rng, inp: usize, outp: usize) -> Result<Linear> {
        Ok(Linear {
            weight: e.param(&init::normal(rng, inp * outp, 0.01), &[outp, inp])?,
            bias: e.param(&vec![0.0; outp], &[outp])?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.linear(&self.weight, Some(&self.bias))
    }
}

impl Module for Linear {
    fn params(&self, prefix: &str, out: &mut Vec<ParamEntry>) {
        out.push(ParamEntry {
            name: format!("{prefix}weight"),
            tensor: self.weight.clone(),
            decay: true,
        });
        out.push(ParamEntry {
            name: format!("{prefix}bias"),
            tensor: self.bias.clone(),
            decay: false,
        });
    }
}
