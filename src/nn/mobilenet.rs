//! A small MobileNetV2-style classifier: stem conv, inverted-bottleneck blocks, global pool,
//! linear head. The engine's end-to-end workload before the elastic supernet exists.

use super::{BufferEntry, ConvBn, Linear, Module, ParamEntry};
use crate::autograd::ops::Act;
use crate::autograd::ops::norm::BnMode;
use crate::{Engine, Result, Tensor};
use rand::{SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};
use std::rc::Rc;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockConfig {
    pub expand_ratio: usize,
    pub out_channels: usize,
    pub kernel_size: usize,
    pub stride: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MobileNetConfig {
    pub in_channels: usize,
    pub stem_channels: usize,
    pub blocks: Vec<BlockConfig>,
    pub classes: usize,
}

impl MobileNetConfig {
    /// A config from (expand ratio, out channels, kernel size, stride) per block.
    pub fn new(
        in_channels: usize,
        stem_channels: usize,
        blocks: &[(usize, usize, usize, usize)],
        classes: usize,
    ) -> MobileNetConfig {
        let blocks = blocks
            .iter()
            .map(
                |&(expand_ratio, out_channels, kernel_size, stride)| BlockConfig {
                    expand_ratio,
                    out_channels,
                    kernel_size,
                    stride,
                },
            )
            .collect();
        MobileNetConfig {
            in_channels,
            stem_channels,
            blocks,
            classes,
        }
    }

    /// Stem + 3 inverted-bottleneck blocks + head: small enough for lavapipe tests.
    pub fn tiny(in_channels: usize, classes: usize) -> MobileNetConfig {
        Self::new(
            in_channels,
            8,
            &[(1, 8, 3, 1), (3, 12, 5, 2), (3, 12, 3, 1)],
            classes,
        )
    }

    /// The demo's network: stem 16, four blocks up to 32 channels (about 20k parameters).
    pub fn small(in_channels: usize, classes: usize) -> MobileNetConfig {
        Self::new(
            in_channels,
            16,
            &[(1, 16, 3, 1), (4, 24, 3, 2), (4, 24, 5, 1), (4, 32, 3, 2)],
            classes,
        )
    }
}

/// Inverted bottleneck: [1×1 expand → BN → ReLU6] → k×k depthwise → BN → ReLU6 → 1×1 project →
/// BN (+ input when the stride is 1 and the widths match).
pub struct InvertedResidual {
    pub expand: Option<ConvBn>,
    pub depthwise: ConvBn,
    pub project: ConvBn,
    pub residual: bool,
}

impl InvertedResidual {
    pub fn new(e: &Rc<Engine>, rng: &mut StdRng, cin: usize, b: &BlockConfig) -> Result<Self> {
        let mid = cin * b.expand_ratio;
        let expand = if b.expand_ratio != 1 {
            Some(ConvBn::new(e, rng, cin, mid, 1, 1, 1, Some(Act::Relu6))?)
        } else {
            None
        };
        Ok(InvertedResidual {
            expand,
            depthwise: ConvBn::new(
                e,
                rng,
                mid,
                mid,
                b.kernel_size,
                b.stride,
                mid,
                Some(Act::Relu6),
            )?,
            project: ConvBn::new(e, rng, mid, b.out_channels, 1, 1, 1, None)?,
            residual: b.stride == 1 && cin == b.out_channels,
        })
    }

    pub fn forward(&self, x: &Tensor, mode: BnMode) -> Result<Tensor> {
        let h = match &self.expand {
            Some(c) => c.forward(x, mode)?,
            None => x.clone(),
        };
        let h = self
            .project
            .forward(&self.depthwise.forward(&h, mode)?, mode)?;
        if self.residual { h.add(x) } else { Ok(h) }
    }
}

impl Module for InvertedResidual {
    fn params(&self, prefix: &str, out: &mut Vec<ParamEntry>) {
        if let Some(c) = &self.expand {
            c.params(&format!("{prefix}expand."), out);
        }
        self.depthwise.params(&format!("{prefix}depthwise."), out);
        self.project.params(&format!("{prefix}project."), out);
    }
    fn buffers(&self, prefix: &str, out: &mut Vec<BufferEntry>) {
        if let Some(c) = &self.expand {
            c.buffers(&format!("{prefix}expand."), out);
        }
        self.depthwise.buffers(&format!("{prefix}depthwise."), out);
        self.project.buffers(&format!("{prefix}project."), out);
    }
}

pub struct MobileNet {
    pub config: MobileNetConfig,
    pub stem: ConvBn,
    pub blocks: Vec<InvertedResidual>,
    pub head: Linear,
}

impl MobileNet {
    pub fn new(e: &Rc<Engine>, config: &MobileNetConfig, seed: u64) -> Result<MobileNet> {
        let mut rng = StdRng::seed_from_u64(seed);
        let stem = ConvBn::new(
            e,
            &mut rng,
            config.in_channels,
            config.stem_channels,
            3,
            2,
            1,
            Some(Act::Relu6),
        )?;
        let mut cin = config.stem_channels;
        let mut blocks = Vec::new();
        for b in &config.blocks {
            blocks.push(InvertedResidual::new(e, &mut rng, cin, b)?);
            cin = b.out_channels;
        }
        let head = Linear::new(e, &mut rng, cin, config.classes)?;
        Ok(MobileNet {
            config: config.clone(),
            stem,
            blocks,
            head,
        })
    }

    /// Logits [N, classes] for images [N, C, H, W].
    pub fn forward(&self, x: &Tensor, mode: BnMode) -> Result<Tensor> {
        let mut h = self.stem.forward(x, mode)?;
        for b in &self.blocks {
            h = b.forward(&h, mode)?;
        }
        self.head.forward(&h.global_avg_pool()?)
    }
}

impl Module for MobileNet {
    fn params(&self, prefix: &str, out: &mut Vec<ParamEntry>) {
        self.stem.params(&format!("{prefix}stem."), out);
        for (i, b) in self.blocks.iter().enumerate() {
            b.params(&format!("{prefix}blocks.{i}."), out);
        }
        self.head.params(&format!("{prefix}head."), out);
    }
    fn buffers(&self, prefix: &str, out: &mut Vec<BufferEntry>) {
        self.stem.buffers(&format!("{prefix}stem."), out);
        for (i, b) in self.blocks.iter().enumerate() {
            b.buffers(&format!("{prefix}blocks.{i}."), out);
        }
    }
}
