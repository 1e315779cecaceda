//! Exported models with seeded random weights, for the deployment and firmware tests.

use rand::Rng;
use tinynas::arch::Network;
use tinynas::export::build::Weights;
use tinynas::export::build::random_calibrated;
use tinynas::export::graph::InputNorm;
use tinynas::export::{Graph, QGraph, quantize};

fn norm(c: usize) -> InputNorm {
    InputNorm {
        mean: vec![0.5; c],
        std: vec![0.25; c],
    }
}

/// A graph of `net` with seeded random weights, quantized with fixed activation ranges (the
/// arena does not depend on the values).
pub fn random_model(net: &Network, rng: &mut impl Rng) -> QGraph {
    let g = Graph::from_network(net, norm(net.input.channels), |_, [o, i, k, _]| {
        Ok(Weights {
            weight: (0..o * i * k * k)
                .map(|_| rng.random_range(-0.5..0.5))
                .collect(),
            bias: (0..o).map(|_| rng.random_range(-0.1..0.1)).collect(),
        })
    })
    .unwrap();
    let ranges = vec![(-4.0, 4.0); g.shapes.len()];
    quantize(&g, &ranges).unwrap()
}

/// A graph of `net` with seeded random weights scaled by fan-in (activations keep their size
/// through the depth), calibrated on `calib` random images as an export calibrates on training
/// images: every tensor gets the ranges, zero points and multipliers a real model has.
pub fn calibrated_model(net: &Network, rng: &mut impl Rng, calib: usize) -> QGraph {
    let (g, ranges) = random_calibrated(net, rng, calib).unwrap();
    quantize(&g, &ranges).unwrap()
}

pub fn random_pixels(rng: &mut impl Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.random::<u8>()).collect()
}

/// `n` int8 inputs of `q`: random pixels through the model's input table.
pub fn random_inputs(q: &QGraph, rng: &mut impl Rng, n: usize) -> Vec<Vec<i8>> {
    (0..n)
        .map(|_| q.input_from_pixels(&random_pixels(rng, q.graph.input().len())))
        .collect()
}

/// A calibrated model whose layers fall outside the generated kernels' short requantization
/// (see src/firmware/runtime/tinynas_kernels.c, `rq_short`): every other ReLU6 output given
/// twice its scale (the fused activation no longer spans int8), one convolution an output
/// range so narrow that its multiplier shifts left, one bias near 2^30 (no accumulator bound),
/// one ADD an output range so wide that its shift passes 22.
pub fn general_path_model(net: &Network, rng: &mut impl Rng) -> QGraph {
    use tinynas::export::graph::OpKind;
    let (g, mut ranges) = random_calibrated(net, rng, 2).unwrap();
    let (mut narrowed, mut widened_add) = (false, false);
    for op in &g.ops {
        match op.kind {
            OpKind::Conv { relu6: false, .. } if !narrowed => {
                ranges[op.output] = (-1e-4, 1e-4);
                narrowed = true;
            }
            OpKind::Add if !widened_add => {
                let (lo, hi) = ranges[op.output];
                ranges[op.output] = (lo * 400.0, hi * 400.0);
                widened_add = true;
            }
            _ => {}
        }
    }
    let mut q = quantize(&g, &ranges).unwrap();
    // The quantizer fits a ReLU6 output to [0, min(max, 6)]: a scale twice as coarse makes
    // ReLU6's 6 fall inside int8.
    let mut relu = 0;
    for op in &g.ops {
        if let OpKind::Conv { relu6: true, .. } = op.kind {
            relu += 1;
            if relu % 2 == 0 {
                q.params[op.output].scale *= 2.0;
            }
        }
    }
    let i = g
        .ops
        .iter()
        .position(|op| {
            matches!(
                op.kind,
                OpKind::Conv {
                    depthwise: true,
                    ..
                }
            )
        })
        .unwrap();
    q.ops[i].bias[0] = 1 << 29;
    q
}
