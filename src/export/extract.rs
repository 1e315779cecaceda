//! A subnet taken out of the supernet as a standalone float network: the weights it runs on
//! (channel prefixes, the kernel through the learned transforms), batch norm folded into the
//! convolutions, the input normalisation folded into the stem.

use super::graph::{Graph, InputNorm, Shape};
use crate::arch::net::{BlockSlot, subnet_blocks};
use crate::nn::layers::{BN_EPS, ConvBn};
use crate::supernet::{SubnetConfig, Supernet};
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

/// Append the conv `layer` run with weight view `w` to `g`.
fn conv(g: &mut Graph, name: &str, x: usize, layer: &ConvBn, w: &Tensor) -> Result<usize> {
    let (wv, bias) = fold(layer, w)?;
    let s = w.shape();
    let (cout, cin, k) = (s[0], s[1], s[2]);
    let depthwise = layer.groups > 1;
    let weight = if depthwise {
        one_hwc(&wv, cout, k)
    } else {
        ohwi(&wv, cout, cin, k)
    };
    let relu6 = match layer.act {
        None => false,
        Some(crate::autograd::ops::Act::Relu6) => true,
        Some(a) => {
            return Err(crate::Error::Invalid(format!(
                "export: layer {name} uses activation {a:?}, which the exporter cannot express (ReLU6 or none)"
            )));
        }
    };
    g.conv(name, x, depthwise, k, layer.stride, relu6, weight, bias)
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
    let r = subnet.resolution;
    let mut g = Graph::new(
        Shape { h: r, w: r, c: cin },
        InputNorm {
            mean: stat(mean),
            std: stat(std),
        },
    );
    let mut h = conv(&mut g, "stem", 0, &net.stem, &net.stem.weight)?;
    let mut n = 0;
    for (slot, b) in subnet_blocks(space, subnet) {
        let (name, block) = match slot {
            BlockSlot::First => {
                h = conv(
                    &mut g,
                    "first.depthwise",
                    h,
                    &net.first_dw,
                    &net.first_dw.weight,
                )?;
                h = conv(
                    &mut g,
                    "first.project",
                    h,
                    &net.first_pw,
                    &net.first_pw.weight,
                )?;
                continue;
            }
            BlockSlot::Elastic(i) => {
                n += 1;
                (format!("block{n}"), &net.blocks[i])
            }
            BlockSlot::Last => ("last".to_string(), &net.last),
        };
        let x = h;
        let mid = b.mid();
        if b.expand_ratio != 1 {
            let w = block.expand.weight.prefix(0, mid)?;
            h = conv(&mut g, &format!("{name}.expand"), h, &block.expand, &w)?;
        }
        let w = block.depthwise_weight(mid, b.kernel_size)?;
        h = conv(
            &mut g,
            &format!("{name}.depthwise"),
            h,
            &block.depthwise,
            &w,
        )?;
        let w = block
            .project
            .weight
            .prefix(0, block.out_channels)?
            .prefix(1, mid)?;
        h = conv(&mut g, &format!("{name}.project"), h, &block.project, &w)?;
        if b.has_residual() {
            h = g.add(&format!("{name}.add"), x, h)?;
        }
    }
    h = g.avg_pool("pool", h);
    g.fully_connected(
        "head",
        h,
        net.head.weight.to_vec()?,
        net.head.bias.to_vec()?,
    )?;
    Ok(g)
}
