//! The once-for-all supernet: weights stored at the largest setting; a subnet runs as views of
//! them (the centre k×k of each 7×7 depthwise kernel, the first `make_divisible(in·e)` middle
//! channels, the first d blocks of each stage), so compute follows the active subnet and
//! gradients land in the slices it used. A block's slot and its views are `super::block`.

use super::block::{ElasticBlock, LayerRun, Trace, record_conv};
use crate::arch::make_divisible;
use crate::arch::subnet::{BlockSlot, subnet_blocks};
use crate::arch::{SearchSpace, SubnetConfig};
use crate::autograd::ops::Act;
use crate::autograd::ops::norm::BnMode;
use crate::nn::layers::{ConvBn, Linear};
use crate::nn::{BufferEntry, Module, ParamEntry};
use crate::{Engine, Result, Tensor};
use rand::{SeedableRng, rngs::StdRng};
use std::rc::Rc;

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
            return Err(crate::Error::entry(
                crate::error::Document::SearchSpace,
                "base_widths",
                format!("{:?}", space.base_widths),
                format!(
                    "x width_mult {} (widths {w:?}) and classes {} give a weight of {} MiB, over this adapter's {} MiB per buffer; use a smaller width or fewer classes",
                    space.width_mult,
                    space.classes,
                    (largest as u64 * 4) >> 20,
                    limit >> 20
                ),
            ));
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
    /// `arch::subnet::subnet_blocks`, the list the MCU evaluator and the exporter read too.
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
