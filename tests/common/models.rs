//! Exported models with seeded random weights, for the deployment and firmware tests.

use rand::Rng;
use tinynas::export::graph::{InputNorm, Weights};
use tinynas::export::{Graph, QGraph, calibrate, quantize};
use tinynas::mcu::Network;

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
    let c = net.input.channels;
    let g = Graph::from_network(net, norm(c), |_, [o, i, k, _]| {
        let bound = (3.0 / (i * k * k) as f32).sqrt() * 1.5;
        Ok(Weights {
            weight: (0..o * i * k * k)
                .map(|_| rng.random_range(-bound..bound))
                .collect(),
            bias: (0..o).map(|_| rng.random_range(-0.2..0.2)).collect(),
        })
    })
    .unwrap();
    let images: Vec<Vec<f32>> = (0..calib)
        .map(|_| g.norm.apply(&random_pixels(rng, g.input().len())))
        .collect();
    let ranges = calibrate(&g, images.iter().map(|v| v.as_slice()));
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
