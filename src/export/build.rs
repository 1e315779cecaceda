//! The export graph of a network description: the one walk from `arch::Network` (whose blocks
//! `arch::subnet::subnet_blocks` gives a subnet) to TFLite-shaped operators, with each layer's
//! folded float weights asked of a callback (the supernet's slices in `extract`, random ones in
//! tests and benchmarks).

use super::graph::{Graph, InputNorm, Shape};
use crate::arch::net::Network;
use crate::error::Document;
use crate::{Error, Result};

/// A layer of a network description whose weights the graph builder asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    Stem,
    Expand(usize),
    Depthwise(usize),
    Project(usize),
    FeatureMix,
    Classifier,
}

/// Float weights of a layer with batch norm folded: OIHW ([cout, cin / groups, k, k]) for a
/// convolution, [out, in] for the classifier; one bias per output.
pub struct Weights {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// OIHW → OHWI.
fn ohwi(w: &[f32], cout: usize, cin: usize, k: usize) -> Vec<f32> {
    let mut out = vec![0.0; w.len()];
    for o in 0..cout {
        for i in 0..cin {
            for y in 0..k {
                for x in 0..k {
                    out[((o * k + y) * k + x) * cin + i] = w[((o * cin + i) * k + y) * k + x];
                }
            }
        }
    }
    out
}

/// [C, 1, k, k] → 1HWC.
fn one_hwc(w: &[f32], c: usize, k: usize) -> Vec<f32> {
    let mut out = vec![0.0; w.len()];
    for ch in 0..c {
        for y in 0..k {
            for x in 0..k {
                out[(y * k + x) * c + ch] = w[(ch * k + y) * k + x];
            }
        }
    }
    out
}

impl Graph {
    /// The graph of network description `net` (its blocks are those `arch::subnet::subnet_blocks`
    /// gives a subnet): stem, then per block expand (unless the ratio is 1), depthwise,
    /// project and the shortcut ADD, the optional feature-mix convolution, global average
    /// pooling, the classifier; ReLU6 after every convolution but the projections. Layers are
    /// named as the MCU evaluator names them (`blocks.3.depthwise`). `weights` gives each
    /// layer's folded float weights for its OIHW shape.
    pub fn from_network(
        net: &Network,
        norm: InputNorm,
        mut weights: impl FnMut(Layer, [usize; 4]) -> Result<Weights>,
    ) -> Result<Graph> {
        net.validate()?;
        let r = net.input.resolution;
        let cin = net.input.channels;
        let mut g = Graph::new(Shape { h: r, w: r, c: cin }, norm);
        let mut conv = |g: &mut Graph,
                        name: &str,
                        layer: Layer,
                        x: usize,
                        cout: usize,
                        k: usize,
                        s: usize,
                        depthwise: bool,
                        relu6: bool|
         -> Result<usize> {
            let c = g.shapes[x].c;
            let per = if depthwise { 1 } else { c };
            let w = weights(layer, [cout, per, k, k])?;
            // Checked before the layout change indexes them.
            if w.weight.len() != cout * per * k * k {
                return Err(Error::Invalid(format!(
                    "export: layer {name}: {} weights for [{cout}, {per}, {k}, {k}]",
                    w.weight.len()
                )));
            }
            let weight = if depthwise {
                one_hwc(&w.weight, cout, k)
            } else {
                ohwi(&w.weight, cout, per, k)
            };
            g.conv(name, x, depthwise, k, s, relu6, weight, w.bias)
        };
        let mut h = conv(
            &mut g,
            "stem",
            Layer::Stem,
            0,
            net.stem.out_channels,
            net.stem.kernel_size,
            net.stem.stride,
            false,
            true,
        )?;
        for (i, b) in net.blocks.iter().enumerate() {
            if b.se_channels.is_some() {
                return Err(Error::bad_entry(
                    Document::NetworkDescription,
                    format!("blocks[{i}].se_channels"),
                    "the exporter has no squeeze-and-excite layer; remove it to export this network",
                ));
            }
            let x = h;
            let mid = b.mid();
            let name = |part: &str| format!("blocks.{i}.{part}");
            if b.expand_ratio != 1 {
                h = conv(
                    &mut g,
                    &name("expand"),
                    Layer::Expand(i),
                    h,
                    mid,
                    1,
                    1,
                    false,
                    true,
                )?;
            }
            h = conv(
                &mut g,
                &name("depthwise"),
                Layer::Depthwise(i),
                h,
                mid,
                b.kernel_size,
                b.stride,
                true,
                true,
            )?;
            h = conv(
                &mut g,
                &name("project"),
                Layer::Project(i),
                h,
                b.out_channels,
                1,
                1,
                false,
                false,
            )?;
            if b.has_residual() {
                h = g.add(&name("add"), x, h)?;
            }
        }
        if let Some(m) = net.feature_mix_channels {
            h = conv(
                &mut g,
                "feature_mix",
                Layer::FeatureMix,
                h,
                m,
                1,
                1,
                false,
                true,
            )?;
        }
        h = g.avg_pool("pool", h);
        let c = g.shapes[h].c;
        let w = weights(Layer::Classifier, [net.classes, c, 1, 1])?;
        g.fully_connected("classifier", h, w.weight, w.bias)?;
        Ok(g)
    }
}

/// `net`'s graph with seeded random weights scaled by fan-in (activations keep their size
/// through the depth), and its tensors' ranges on `images` random images: every tensor gets the
/// ranges, zero points and multipliers a trained model's would have, for benchmarks and tests
/// of the int8 paths that need no training (`quantize` turns the pair into a model).
pub fn random_calibrated(
    net: &Network,
    rng: &mut impl rand::Rng,
    images: usize,
) -> Result<(Graph, Vec<(f32, f32)>)> {
    let c = net.input.channels;
    let norm = InputNorm {
        mean: vec![0.5; c],
        std: vec![0.25; c],
    };
    let g = Graph::from_network(net, norm, |_, [o, i, k, _]| {
        let bound = (3.0 / (i * k * k) as f32).sqrt() * 1.5;
        Ok(Weights {
            weight: (0..o * i * k * k)
                .map(|_| rng.random_range(-bound..bound))
                .collect(),
            bias: (0..o).map(|_| rng.random_range(-0.2..0.2)).collect(),
        })
    })?;
    let inputs: Vec<Vec<f32>> = (0..images)
        .map(|_| {
            let px: Vec<u8> = (0..g.input().len()).map(|_| rng.random()).collect();
            g.norm.apply(&px)
        })
        .collect();
    let ranges = super::calibrate(&g, inputs.iter().map(|v| v.as_slice()));
    Ok((g, ranges))
}
