//! A subnet of the search space as its blocks (each with the supernet slot it runs on) and as a
//! network description, checked: the one list the GPU supernet runs, the MCU evaluator measures
//! and the exporter writes.

use super::net::{Block, Input, Network, Stem, make_divisible};
use super::space::{SearchSpace, SubnetConfig};
use crate::error::{Allowed, Document, Place, Result};

impl SearchSpace {
    /// `r` gives a network (the largest subnet at `r`) that survives the strides and the size
    /// limits; the error names `place`, where `r` came from (an entry of the space or of a
    /// subnet, or a setting).
    pub fn check_resolution(&self, r: usize, place: &Place) -> Result<()> {
        self.network_at(&self.largest(r), place).map(|_| ())
    }

    /// The network of subnet `s` (fields and choices already checked), validated, with an
    /// error that names the resolution and the fields of the space it depends on.
    fn network_at(&self, s: &SubnetConfig, place: &Place) -> Result<Network> {
        let r = s.resolution;
        crate::bounds::int_at(place, r, 1, crate::bounds::MAX_RESOLUTION)?;
        let net = subnet_network(self, s);
        net.validate().map_err(|e| {
            place.error(None, Allowed::Words(format!(
                "resolution {r} does not work with this space's stage_strides {:?} and base_widths {:?} x width_mult {} ({e})",
                self.stage_strides, self.base_widths, self.width_mult
            ).into()))
        })?;
        Ok(net)
    }

    /// The subnet's network, checked: what the MCU evaluator and the exporter consume.
    pub fn network(&self, s: &SubnetConfig) -> Result<Network> {
        self.check_choices(s)?;
        self.network_at(s, &Place::Entry(Document::Subnet, "resolution".into()))
    }
}

/// A subnet of the MCUNet search space as a network description: stem 3×3 s2; first block
/// depthwise 3×3 + pointwise; the stages' first `depth` blocks with their kernel and
/// `make_divisible(in·e)` middle channels; the fixed last block; pool and classifier.
pub fn from_subnet(space: &SearchSpace, s: &SubnetConfig) -> Result<Network> {
    space.network(s)
}

/// Which weights of the supernet a block of a subnet runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockSlot {
    /// The fixed first block: depthwise 3×3 + pointwise, no expansion, no shortcut.
    First,
    /// Elastic slot `stage × max_depth + d` (the d-th block of a stage).
    Elastic(usize),
    /// The fixed last block.
    Last,
}

/// The one definition of a subnet's blocks, each with the supernet slot it runs on: the fixed
/// first block, the first `depth` blocks of every stage (stride on the first of a stage,
/// `make_divisible(in·e)` middle channels, no expansion layer when e is 1, a shortcut when the
/// stride is 1 and the widths match), the fixed last block. The GPU supernet's forward, the
/// MCU evaluator (through `subnet_network`) and the exporter all read this list.
pub fn subnet_blocks(space: &SearchSpace, s: &SubnetConfig) -> Vec<(BlockSlot, Block)> {
    let w = space.widths();
    let n = space.stages();
    let md = space.max_depth();
    // The fixed first block has no shortcut, even where the widths match (as in OFA).
    let mut blocks = vec![(
        BlockSlot::First,
        Block {
            residual: Some(false),
            ..Block::new(w[0], w[1], 3, 1, 1)
        },
    )];
    let mut c = w[1];
    let block = |cin: usize, out: usize, k: usize, e: usize, stride: usize| Block {
        // e = 1: no expansion layer, the depthwise runs on the block's input channels.
        mid_channels: (e != 1).then(|| make_divisible((cin * e) as f64)),
        ..Block::new(cin, out, k, stride, e)
    };
    for stage in 0..n {
        for d in 0..s.depth[stage] {
            let slot = stage * md + d;
            let stride = if d == 0 {
                space.stage_strides[stage]
            } else {
                1
            };
            blocks.push((
                BlockSlot::Elastic(slot),
                block(
                    c,
                    w[2 + stage],
                    s.kernel_size[slot],
                    s.expand_ratio[slot],
                    stride,
                ),
            ));
            c = w[2 + stage];
        }
    }
    blocks.push((
        BlockSlot::Last,
        block(c, w[n + 2], space.last_kernel, space.last_expand, 1),
    ));
    blocks
}

/// `from_subnet` without the checks, for a space and subnet already checked (and for the
/// checks themselves).
pub fn subnet_network(space: &SearchSpace, s: &SubnetConfig) -> Network {
    let w = space.widths();
    let blocks = subnet_blocks(space, s)
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    Network {
        name: format!("mcunet-subnet-r{}-w{}", s.resolution, space.width_mult),
        input: Input {
            resolution: s.resolution,
            channels: space.in_channels,
        },
        stem: Stem {
            out_channels: w[0],
            kernel_size: 3,
            stride: 2,
        },
        blocks,
        feature_mix_channels: None,
        classes: space.classes,
    }
}
