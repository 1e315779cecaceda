//! A subnet taken out of the supernet as a standalone float network: the weights it runs on
//! (channel prefixes, the kernel through the learned transforms), batch norm folded into the
//! convolutions, the input normalisation folded into the stem.

use super::build::{Layer, Weights};
use super::graph::{Graph, InputNorm};
use crate::arch::SubnetConfig;
use crate::arch::subnet::{BlockSlot, subnet_blocks, subnet_network};
use crate::nn::layers::{BN_EPS, ConvBn};
use crate::supernet::Supernet;
use crate::{Result, Tensor};

/// The conv weight view `w` [cout, cin/g, k, k] with `layer`'s batch norm (its first cout
/// channels) folded in: (weights OIHW, bias).
fn fold(layer: &ConvBn, w: &Tensor) -> Result<(Vec<f32>, Vec<f32>)> {
    let cout = w.shape()[0];
    let per = w.numel() / cout;
    let read = |t: &Tensor| t.prefix(0, cout)?.to_vec();
    let (g, b, m, v) = (
        read(&layer.gamma)?,
        read(&layer.beta)?,
        read(&layer.running_mean)?,
        read(&layer.running_var)?,
    );
    let mut wv = w.to_vec()?;
    let mut bias = vec![0.0; cout];
    for o in 0..cout {
        let scale = g[o] / (v[o] + BN_EPS).sqrt();
        wv[o * per..(o + 1) * per]
            .iter_mut()
            .for_each(|x| *x *= scale);
        bias[o] = b[o] - m[o] * scale;
    }
    Ok((wv, bias))
}

/// `subnet` of `net` (its batch norm already recalibrated) as a float graph whose input is one
/// image normalised as in training: channel c is (pixel / 255 − mean[c]) / std[c] (a grey
/// image's statistics serve every channel it is replicated into).
pub fn extract(net: &Supernet, subnet: &SubnetConfig, mean: &[f32], std: &[f32]) -> Result<Graph> {
    let space = &net.space;
    space.check(subnet)?;
    let cin = space.in_channels;
    if mean.is_empty() || mean.len() != std.len() || std.iter().any(|s| s.is_nan() || *s <= 0.0) {
        return Err(crate::Error::Invalid(format!(
            "export: the input normalisation needs one mean and one positive std per channel (mean {mean:?}, std {std:?})"
        )));
    }
    let stat = |v: &[f32]| (0..cin).map(|c| v[c.min(v.len() - 1)]).collect();
    let norm = InputNorm {
        mean: stat(mean),
        std: stat(std),
    };
    // The network description and the supernet slot of each of its blocks: one list.
    let slots: Vec<BlockSlot> = subnet_blocks(space, subnet)
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    let network = subnet_network(space, subnet);
    Graph::from_network(&network, norm, |layer, [cout, per, k, _]| {
        let block = |i: usize| match slots[i] {
            BlockSlot::First => None,
            BlockSlot::Elastic(j) => Some(&net.blocks[j]),
            BlockSlot::Last => Some(&net.last),
        };
        let (weight, bias) = match layer {
            Layer::Stem => fold(&net.stem, &net.stem.weight)?,
            Layer::Expand(i) => {
                let b = block(i).expect("the first block has no expansion");
                fold(&b.expand, &b.expand.weight.prefix(0, cout)?)?
            }
            Layer::Depthwise(i) => match block(i) {
                None => fold(&net.first_dw, &net.first_dw.weight)?,
                Some(b) => fold(&b.depthwise, &b.depthwise_weight(cout, k)?)?,
            },
            Layer::Project(i) => match block(i) {
                None => fold(&net.first_pw, &net.first_pw.weight)?,
                Some(b) => fold(
                    &b.project,
                    &b.project.weight.prefix(0, cout)?.prefix(1, per)?,
                )?,
            },
            Layer::FeatureMix => unreachable!("subnets have no feature-mix layer"),
            Layer::Classifier => (net.head.weight.to_vec()?, net.head.bias.to_vec()?),
        };
        Ok(Weights { weight, bias })
    })
}
