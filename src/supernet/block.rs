//! One elastic inverted-bottleneck slot of the supernet: its weights at the largest setting,
//! the views a subnet's block runs on (the first middle channels; the centre k×k of the
//! depthwise kernel, through OFA's kernel transformations where the space asks for them), and
//! the trace of the layers a forward ran.

use crate::arch::net::Block;
use crate::autograd::ops::Act;
use crate::autograd::ops::norm::{BatchNorm, BnMode};
use crate::nn::layers::{BN_EPS, ConvBn};
use crate::nn::{BufferEntry, Module, ParamEntry};
use crate::{Engine, Result, Tensor};
use rand::rngs::StdRng;
use std::rc::Rc;

/// One elastic inverted-bottleneck slot: expand / depthwise / project at the largest setting.
pub struct ElasticBlock {
    pub in_channels: usize,
    pub out_channels: usize,
    pub stride: usize,
    pub expand: ConvBn,
    pub depthwise: ConvBn,
    pub project: ConvBn,
    /// Kernel transformations largest → smallest (empty unless the space asks for them).
    pub transforms: Vec<KernelTransform>,
}

/// A layer the supernet ran for one image, as the MCU evaluator counts it: MACs of a conv or
/// linear layer (pooling one per element), parameters = weights + one bias per output channel
/// (batch norm folded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerRun {
    pub kind: &'static str,
    pub macs: u64,
    pub params: u64,
}

/// Where a traced forward records the layers it runs.
pub type Trace<'a> = Option<&'a std::cell::RefCell<Vec<LayerRun>>>;

/// Record the conv of weight `w` (groups `g`) that produced `y`.
pub(super) fn record_conv(trace: Trace, w: &Tensor, y: &Tensor, groups: usize) {
    if let Some(t) = trace {
        let (ws, ys) = (w.shape(), y.shape());
        let (cout, cin_g, k) = (ws[0], ws[1], ws[2]);
        t.borrow_mut().push(LayerRun {
            kind: if groups > 1 { "depthwise" } else { "conv" },
            macs: (ys[2] * ys[3] * cout * cin_g * k * k) as u64,
            params: (cout * cin_g * k * k + cout) as u64,
        });
    }
}

/// conv (with the given weight view) → BN over the first `cout` channels → act.
fn conv_bn_view(
    layer: &ConvBn,
    x: &Tensor,
    w: &Tensor,
    mode: BnMode,
    trace: Trace,
) -> Result<Tensor> {
    let cout = w.shape()[0];
    let ks = w.shape()[2];
    let groups = if layer.groups == 1 { 1 } else { cout };
    let y = x.conv2d(w, layer.stride, ks / 2, groups)?;
    record_conv(trace, w, &y, groups);
    let (g, b) = (layer.gamma.prefix(0, cout)?, layer.beta.prefix(0, cout)?);
    let (rm, rv) = (
        layer.running_mean.prefix(0, cout)?,
        layer.running_var.prefix(0, cout)?,
    );
    y.batch_norm_act(
        &BatchNorm {
            gamma: &g,
            beta: &b,
            running_mean: &rm,
            running_var: &rv,
            eps: BN_EPS,
        },
        mode,
        layer.act,
    )
}

/// OFA's kernel transformation: the k×k kernel is the centre of the next larger kernel,
/// flattened per channel and multiplied by a learned k²×k² matrix shared by the channels.
pub struct KernelTransform {
    pub from: usize,
    pub to: usize,
    /// [to², to²], initialised to the identity.
    pub matrix: Tensor,
}

impl ElasticBlock {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        e: &Rc<Engine>,
        rng: &mut StdRng,
        cin: usize,
        cout: usize,
        stride: usize,
        max_mid: usize,
        kernels: &[usize],
        transform: bool,
    ) -> Result<Self> {
        let max_k = *kernels.iter().max().unwrap();
        let mut sizes = kernels.to_vec();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        sizes.dedup();
        let mut transforms = Vec::new();
        if transform {
            for pair in sizes.windows(2) {
                let n = pair[1] * pair[1];
                let eye: Vec<f32> = (0..n * n)
                    .map(|i| if i / n == i % n { 1.0 } else { 0.0 })
                    .collect();
                transforms.push(KernelTransform {
                    from: pair[0],
                    to: pair[1],
                    matrix: e.param(&eye, &[n, n])?,
                });
            }
        }
        Ok(ElasticBlock {
            transforms,
            in_channels: cin,
            out_channels: cout,
            stride,
            expand: ConvBn::new(e, rng, cin, max_mid, 1, 1, 1, Some(Act::Relu6))?,
            depthwise: ConvBn::new(
                e,
                rng,
                max_mid,
                max_mid,
                max_k,
                stride,
                max_mid,
                Some(Act::Relu6),
            )?,
            project: ConvBn::new(e, rng, max_mid, cout, 1, 1, 1, None)?,
        })
    }

    /// The depthwise weight of kernel `k` for the first `mid` channels: the centre k×k of the
    /// stored kernel, through the kernel transformations when the block has them.
    pub fn depthwise_weight(&self, mid: usize, k: usize) -> Result<Tensor> {
        let mut w = self.depthwise.weight.prefix(0, mid)?;
        if w.shape()[2] == k {
            return Ok(w);
        }
        for t in &self.transforms {
            if t.to < k {
                break;
            }
            w = w
                .centre_crop(t.to)?
                .contiguous()?
                .reshape(&[mid, t.to * t.to])?
                .matmul(&t.matrix)?
                .reshape(&[mid, 1, t.to, t.to])?;
        }
        if w.shape()[2] == k {
            Ok(w)
        } else {
            w.centre_crop(k)
        }
    }

    /// Run as `b` says (one of `subnet_blocks`): the expansion to `b.mid()` channels unless the
    /// expand ratio is 1, the depthwise `b.kernel_size`, the projection, the shortcut by
    /// `b.has_residual()`.
    pub fn run(&self, x: &Tensor, b: &Block, mode: BnMode, trace: Trace) -> Result<Tensor> {
        debug_assert_eq!(
            (b.in_channels, b.out_channels, b.stride),
            (self.in_channels, self.out_channels, self.stride)
        );
        let mid = b.mid();
        let h = if b.expand_ratio == 1 {
            x.clone()
        } else {
            let w = self.expand.weight.prefix(0, mid)?;
            conv_bn_view(&self.expand, x, &w, mode, trace)?
        };
        let w = self.depthwise_weight(mid, b.kernel_size)?;
        let h = conv_bn_view(&self.depthwise, &h, &w, mode, trace)?;
        let wp = self
            .project
            .weight
            .prefix(0, self.out_channels)?
            .prefix(1, mid)?;
        let h = conv_bn_view(&self.project, &h, &wp, mode, trace)?;
        if b.has_residual() { h.add(x) } else { Ok(h) }
    }
}

impl Module for ElasticBlock {
    fn params(&self, prefix: &str, out: &mut Vec<ParamEntry>) {
        self.expand.params(&format!("{prefix}expand."), out);
        self.depthwise.params(&format!("{prefix}depthwise."), out);
        self.project.params(&format!("{prefix}project."), out);
        for t in &self.transforms {
            out.push(ParamEntry {
                name: format!("{prefix}depthwise.transform.{}to{}", t.from, t.to),
                tensor: t.matrix.clone(),
                decay: false,
            });
        }
    }
    fn buffers(&self, prefix: &str, out: &mut Vec<BufferEntry>) {
        self.expand.buffers(&format!("{prefix}expand."), out);
        self.depthwise.buffers(&format!("{prefix}depthwise."), out);
        self.project.buffers(&format!("{prefix}project."), out);
    }
}
