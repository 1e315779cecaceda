//! The once-for-all supernet: weights stored at the largest setting; a subnet runs as views of
//! them (the centre k×k of each 7×7 depthwise kernel, the first `make_divisible(in·e)` middle
//! channels, the first d blocks of each stage), so compute follows the active subnet and
//! gradients land in the slices it used.

use crate::arch::make_divisible;
use crate::arch::net::{Block, BlockSlot, subnet_blocks};
use crate::arch::{SearchSpace, SubnetConfig};
use crate::autograd::ops::Act;
use crate::autograd::ops::norm::{BatchNorm, BnMode};
use crate::nn::layers::{BN_EPS, ConvBn, Linear};
use crate::nn::{BufferEntry, Module, ParamEntry};
use crate::{Engine, Result, Tensor};
use rand::{SeedableRng, rngs::StdRng};
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

pub struct Supernet {
    pub space: SearchSpace,
    pub stem: ConvBn,
    /// The fixed first block: depthwise 3×3 + pointwise, no expansion.
    pub first_dw: ConvBn,
    pub first_pw: ConvBn,
    /// `stages × max_depth` slots, stage by stage.
    pub blocks: Vec<ElasticBlock>,
    /// The fixed last block.
    pub last: ElasticBlock,
    pub head: Linear,
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
fn record_conv(trace: Trace, w: &Tensor, y: &Tensor, groups: usize) {
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
    fn new(
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

impl Supernet {
    pub fn new(e: &Rc<Engine>, space: &SearchSpace, seed: u64) -> Result<Supernet> {
        space.validate()?;
        let mut rng = StdRng::seed_from_u64(seed);
        let w = space.widths();
        let max_e = *space.expand_choices.iter().max().unwrap();
        // The largest weight tensor, checked before any is allocated (and initialised).
        let max_k = *space.kernel_choices.iter().max().unwrap();
        let c_last = w[space.stages() + 2];
        let largest = w
            .windows(2)
            .map(|p| {
                let mid = make_divisible((p[0] * max_e.max(space.last_expand)) as f64);
                mid * p[0].max(p[1]).max(max_k * max_k)
            })
            .chain([space.classes * c_last, w[0] * space.in_channels * 9])
            .max()
            .unwrap_or(0);
        let limit = e.gpu.max_binding_bytes();
        if (largest as u64).saturating_mul(4) > limit {
            return Err(crate::Error::Invalid(format!(
                "search space: base_widths {:?} x width_mult {} (widths {w:?}) and classes {} give a weight of {} MiB, over this adapter's {} MiB per buffer; use a smaller width or fewer classes",
                space.base_widths,
                space.width_mult,
                space.classes,
                (largest as u64 * 4) >> 20,
                limit >> 20
            )));
        }
        let stem = ConvBn::new(
            e,
            &mut rng,
            space.in_channels,
            w[0],
            3,
            2,
            1,
            Some(Act::Relu6),
        )?;
        let first_dw = ConvBn::new(e, &mut rng, w[0], w[0], 3, 1, w[0], Some(Act::Relu6))?;
        let first_pw = ConvBn::new(e, &mut rng, w[0], w[1], 1, 1, 1, None)?;
        let mut blocks = Vec::new();
        let mut c = w[1];
        for (s, &stride) in space.stage_strides.iter().enumerate() {
            let out = w[2 + s];
            for d in 0..space.max_depth() {
                let cin = if d == 0 { c } else { out };
                let st = if d == 0 { stride } else { 1 };
                blocks.push(ElasticBlock::new(
                    e,
                    &mut rng,
                    cin,
                    out,
                    st,
                    make_divisible((cin * max_e) as f64),
                    &space.kernel_choices,
                    space.kernel_transform,
                )?);
            }
            c = out;
        }
        let n = space.stages();
        let last_mid = make_divisible((c * space.last_expand) as f64);
        let last = ElasticBlock::new(
            e,
            &mut rng,
            c,
            w[n + 2],
            1,
            last_mid,
            &[space.last_kernel],
            false,
        )?;
        let head = Linear::new(e, &mut rng, w[n + 2], space.classes)?;
        Ok(Supernet {
            space: space.clone(),
            stem,
            first_dw,
            first_pw,
            blocks,
            last,
            head,
        })
    }

    /// Logits of `subnet` for images x[N, C, R, R].
    pub fn forward(&self, x: &Tensor, subnet: &SubnetConfig, mode: BnMode) -> Result<Tensor> {
        self.forward_traced(x, subnet, mode, None)
    }

    /// `forward`, recording every layer it runs into `trace`: the blocks come from
    /// `arch::net::subnet_blocks`, the list the MCU evaluator and the exporter read too.
    pub fn forward_traced(
        &self,
        x: &Tensor,
        subnet: &SubnetConfig,
        mode: BnMode,
        trace: Trace,
    ) -> Result<Tensor> {
        self.space.check(subnet)?;
        let fixed = |layer: &ConvBn, h: &Tensor| -> Result<Tensor> {
            let y = layer.forward(h, mode)?;
            record_conv(trace, &layer.weight, &y, layer.groups);
            Ok(y)
        };
        let mut h = fixed(&self.stem, x)?;
        for (slot, b) in subnet_blocks(&self.space, subnet) {
            h = match slot {
                BlockSlot::First => fixed(&self.first_pw, &fixed(&self.first_dw, &h)?)?,
                BlockSlot::Elastic(i) => self.blocks[i].run(&h, &b, mode, trace)?,
                BlockSlot::Last => self.last.run(&h, &b, mode, trace)?,
            };
        }
        if let Some(t) = trace {
            let s = h.shape();
            t.borrow_mut().push(LayerRun {
                kind: "pool",
                macs: (s[1] * s[2] * s[3]) as u64,
                params: 0,
            });
        }
        let logits = self.head.forward(&h.global_avg_pool()?)?;
        if let Some(t) = trace {
            let ws = self.head.weight.shape();
            t.borrow_mut().push(LayerRun {
                kind: "linear",
                macs: (ws[0] * ws[1]) as u64,
                params: (ws[0] * ws[1] + ws[0]) as u64,
            });
        }
        Ok(logits)
    }
}

impl Supernet {
    /// Recompute `subnet`'s batch-norm running statistics as the exact average of its batch
    /// statistics over `batches` (momentum 1/(k+1) at batch k: a cumulative mean, so nothing of
    /// the previous statistics remains). Variances are the unbiased batch variances, averaged.
    pub fn recalibrate_bn<'a>(
        &self,
        subnet: &SubnetConfig,
        batches: impl IntoIterator<Item = &'a Tensor>,
    ) -> Result<usize> {
        let e = self.head.weight.engine().clone();
        let _g = e.no_grad();
        let mut k = 0;
        for x in batches {
            self.forward(
                x,
                subnet,
                BnMode::Train {
                    momentum: 1.0 / (k + 1) as f32,
                },
            )?;
            k += 1;
        }
        if k == 0 {
            return Err(crate::Error::Invalid(
                "BN recalibration needs at least one batch".into(),
            ));
        }
        e.gpu.flush()?;
        Ok(k)
    }
}

impl Module for Supernet {
    fn params(&self, prefix: &str, out: &mut Vec<ParamEntry>) {
        self.stem.params(&format!("{prefix}stem."), out);
        self.first_dw
            .params(&format!("{prefix}first.depthwise."), out);
        self.first_pw
            .params(&format!("{prefix}first.project."), out);
        for (i, b) in self.blocks.iter().enumerate() {
            b.params(&format!("{prefix}blocks.{i}."), out);
        }
        self.last.params(&format!("{prefix}last."), out);
        self.head.params(&format!("{prefix}head."), out);
    }
    fn buffers(&self, prefix: &str, out: &mut Vec<BufferEntry>) {
        self.stem.buffers(&format!("{prefix}stem."), out);
        self.first_dw
            .buffers(&format!("{prefix}first.depthwise."), out);
        self.first_pw
            .buffers(&format!("{prefix}first.project."), out);
        for (i, b) in self.blocks.iter().enumerate() {
            b.buffers(&format!("{prefix}blocks.{i}."), out);
        }
        self.last.buffers(&format!("{prefix}last."), out);
    }
}
