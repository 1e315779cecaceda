//! A fixed network on the GPU, built from its network description (`arch::net::Network`, the
//! same description the MCU evaluator measures and the exporter writes): stem, inverted-bottleneck
//! blocks, optional 1×1 feature mix, global pool, linear head. `tinynas train-mobilenet` trains
//! one from scratch; the tests check the engine's training against a CPU reference with it.

use super::{BufferEntry, ConvBn, Linear, Module, ParamEntry};
use crate::arch::net::{Block, Network};
use crate::autograd::ops::Act;
use crate::autograd::ops::norm::BnMode;
use crate::error::Document;
use crate::{Engine, Error, Result, Tensor};
use rand::{SeedableRng, rngs::StdRng};
use std::rc::Rc;

/// Inverted bottleneck: [1×1 expand → BN → ReLU6] → k×k depthwise → BN → ReLU6 → 1×1 project →
/// BN (+ input where the description has a residual).
pub struct InvertedResidual {
    pub expand: Option<ConvBn>,
    pub depthwise: ConvBn,
    pub project: ConvBn,
    pub residual: bool,
}

impl InvertedResidual {
    pub fn new(e: &Rc<Engine>, rng: &mut StdRng, b: &Block) -> Result<Self> {
        let (cin, mid) = (b.in_channels, b.mid());
        let expand = if b.expand_ratio != 1 {
            Some(ConvBn::new(e, rng, cin, mid, 1, 1, 1, Some(Act::Relu6))?)
        } else {
            None
        };
        let k = b.kernel_size;
        Ok(InvertedResidual {
            expand,
            depthwise: ConvBn::new(e, rng, mid, mid, k, b.stride, mid, Some(Act::Relu6))?,
            project: ConvBn::new(e, rng, mid, b.out_channels, 1, 1, 1, None)?,
            residual: b.has_residual(),
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

/// The layers of one network description, initialised from a seed.
pub struct Net {
    pub network: Network,
    pub stem: ConvBn,
    pub blocks: Vec<InvertedResidual>,
    pub feature_mix: Option<ConvBn>,
    pub head: Linear,
}

impl Net {
    /// The network `network` describes (validated here), Kaiming-initialised from `seed`.
    /// Squeeze-and-excite blocks are refused: the engine has no kernel for them.
    pub fn new(e: &Rc<Engine>, network: &Network, seed: u64) -> Result<Net> {
        network.validate()?;
        if let Some(i) = network.blocks.iter().position(|b| b.se_channels.is_some()) {
            return Err(Error::bad_entry(
                Document::NetworkDescription,
                format!("blocks[{i}].se_channels"),
                "the training engine has no squeeze-and-excite layer; remove it to train this network",
            ));
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let s = &network.stem;
        let stem = ConvBn::new(
            e,
            &mut rng,
            network.input.channels,
            s.out_channels,
            s.kernel_size,
            s.stride,
            1,
            Some(Act::Relu6),
        )?;
        let blocks = network
            .blocks
            .iter()
            .map(|b| InvertedResidual::new(e, &mut rng, b))
            .collect::<Result<Vec<_>>>()?;
        let mut c = network
            .blocks
            .last()
            .map_or(s.out_channels, |b| b.out_channels);
        let feature_mix = match network.feature_mix_channels {
            Some(f) => {
                let layer = ConvBn::new(e, &mut rng, c, f, 1, 1, 1, Some(Act::Relu6))?;
                c = f;
                Some(layer)
            }
            None => None,
        };
        let head = Linear::new(e, &mut rng, c, network.classes)?;
        Ok(Net {
            network: network.clone(),
            stem,
            blocks,
            feature_mix,
            head,
        })
    }

    pub fn classes(&self) -> usize {
        self.network.classes
    }

    /// Logits [N, classes] for images [N, C, H, W].
    pub fn forward(&self, x: &Tensor, mode: BnMode) -> Result<Tensor> {
        let mut h = self.stem.forward(x, mode)?;
        for b in &self.blocks {
            h = b.forward(&h, mode)?;
        }
        if let Some(f) = &self.feature_mix {
            h = f.forward(&h, mode)?;
        }
        self.head.forward(&h.global_avg_pool()?)
    }
}

impl Module for Net {
    fn params(&self, prefix: &str, out: &mut Vec<ParamEntry>) {
        self.stem.params(&format!("{prefix}stem."), out);
        for (i, b) in self.blocks.iter().enumerate() {
            b.params(&format!("{prefix}blocks.{i}."), out);
        }
        if let Some(f) = &self.feature_mix {
            f.params(&format!("{prefix}feature_mix."), out);
        }
        self.head.params(&format!("{prefix}head."), out);
    }
    fn buffers(&self, prefix: &str, out: &mut Vec<BufferEntry>) {
        self.stem.buffers(&format!("{prefix}stem."), out);
        for (i, b) in self.blocks.iter().enumerate() {
            b.buffers(&format!("{prefix}blocks.{i}."), out);
        }
        if let Some(f) = &self.feature_mix {
            f.buffers(&format!("{prefix}feature_mix."), out);
        }
    }
}
