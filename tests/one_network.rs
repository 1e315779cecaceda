//! One network definition: the layers the GPU supernet actually runs for a subnet — traced
//! from the shapes of its convolutions as they execute — are the layers the MCU evaluator
//! counts, layer by layer, in MACs and parameters, for random subnets over several spaces,
//! resolutions and widths (including expand ratio 1, where a block has no expansion layer).

mod common;
use common::*;
use rand::seq::IndexedRandom;
use std::cell::RefCell;
use tinynas::arch::SearchSpace;
use tinynas::arch::subnet::from_subnet;
use tinynas::autograd::ops::norm::BnMode;
use tinynas::mcu::graph::OpKind;
use tinynas::mcu::{EvalOptions, evaluate};
use tinynas::supernet::Supernet;
use tinynas::supernet::block::LayerRun;

/// (MACs, params) of the evaluator's ops with weights, and of the pooling, in order: the
/// layers a network runs, as the MCU evaluator counts them.
fn counted(report: &tinynas::mcu::Report) -> Vec<(u64, u64)> {
    report
        .graph
        .ops
        .iter()
        .filter(|o| o.params > 0 || o.kind == OpKind::Pool)
        .map(|o| (o.macs, o.params))
        .collect()
}

#[test]
fn the_gpu_supernet_runs_the_layers_the_mcu_evaluator_counts() {
    let e = engine();
    let _g = e.no_grad();
    let mut r = rng(17);
    let spaces = [
        SearchSpace {
            in_channels: 3,
            resolutions: vec![32, 48, 64],
            ..SearchSpace::default()
        },
        SearchSpace {
            kernel_choices: vec![3, 5],
            expand_choices: vec![1, 3, 6],
            depth_choices: vec![1, 2, 3],
            resolutions: vec![32, 40],
            last_expand: 4,
            classes: 7,
            ..SearchSpace::default()
        },
    ];
    let mut checked = 0;
    for base in &spaces {
        for width in [0.35, 0.5, 0.75] {
            let space = SearchSpace {
                width_mult: width,
                ..base.clone()
            };
            let net = Supernet::new(&e, &space, 3).unwrap();
            for i in 0..34 {
                let res = *space.resolutions.choose(&mut r).unwrap();
                let sub = match i {
                    0 => space.largest(res),
                    1 => space.smallest(res),
                    _ => space.sample(&mut r, res),
                };
                let x = e
                    .tensor(
                        &f32s(&rand_vec(&mut r, space.in_channels * res * res)),
                        &[1, space.in_channels, res, res],
                    )
                    .unwrap();
                let trace = RefCell::new(Vec::<LayerRun>::new());
                let logits = net
                    .forward_traced(&x, &sub, BnMode::Eval, Some(&trace))
                    .unwrap();
                assert_eq!(logits.shape(), &[1, space.classes]);
                let ran = trace.into_inner();
                let report =
                    evaluate(&from_subnet(&space, &sub).unwrap(), &EvalOptions::default()).unwrap();
                let counted = counted(&report);
                let gpu: Vec<(u64, u64)> = ran.iter().map(|l| (l.macs, l.params)).collect();
                assert_eq!(gpu, counted, "w{width} r{res} {sub:?}");
                let total: u64 = ran.iter().map(|l| l.macs).sum();
                assert_eq!(total, report.macs, "w{width} r{res} {sub:?}");
                assert_eq!(
                    ran.iter().map(|l| l.params).sum::<u64>(),
                    report.params,
                    "w{width} r{res} {sub:?}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 200, "{checked}");
    eprintln!("{checked} subnets: GPU layers equal the MCU evaluator's, MACs and params");
}

/// The fixed network `train-mobilenet` trains is built from the same description the MCU
/// evaluator measures: layer by layer, the convolutions it runs (their weights and output
/// sizes as they execute) and the pooling carry the evaluator's MACs and parameters (batch norm
/// folded into a bias), for MobileNetV2, ProxylessNAS-Mobile and the small networks.
#[test]
fn the_fixed_gpu_network_runs_the_layers_the_mcu_evaluator_counts() {
    use tinynas::arch::models::{mobilenet_v2, proxyless_mobile, small_mobilenet, tiny_mobilenet};
    use tinynas::arch::net::Input;
    use tinynas::nn::ConvBn;
    use tinynas::nn::net::Net;
    let e = engine();
    let _g = e.no_grad();
    let mut r = rng(5);
    let input = |resolution, channels| Input {
        resolution,
        channels,
    };
    let networks = [
        mobilenet_v2(0.35, 32, 10),
        proxyless_mobile(40, 7),
        small_mobilenet(input(28, 1), 10),
        tiny_mobilenet(input(16, 3), 4),
    ];
    for network in networks {
        let net = Net::new(&e, &network, 1).unwrap();
        let (c, res) = (network.input.channels, network.input.resolution);
        let x = e
            .tensor(&f32s(&rand_vec(&mut r, c * res * res)), &[1, c, res, res])
            .unwrap();
        let mut ran = Vec::new();
        let mut run = |layer: &ConvBn, x: &tinynas::Tensor| {
            let y = layer.forward(x, BnMode::Eval).unwrap();
            let (w, s) = (layer.weight.shape(), y.shape());
            let weights = w.iter().product::<usize>() as u64;
            ran.push(((s[2] * s[3]) as u64 * weights, weights + w[0] as u64));
            y
        };
        let mut h = run(&net.stem, &x);
        for b in &net.blocks {
            let input = h.clone();
            let mut t = h;
            if let Some(ex) = &b.expand {
                t = run(ex, &t);
            }
            t = run(&b.depthwise, &t);
            t = run(&b.project, &t);
            h = if b.residual {
                t.add(&input).unwrap()
            } else {
                t
            };
        }
        if let Some(f) = &net.feature_mix {
            h = run(f, &h);
        }
        let (k, feat) = (network.classes, h.shape()[1]);
        ran.push((h.numel() as u64, 0)); // the global average pool
        ran.push(((k * feat) as u64, (k * feat + k) as u64));
        let logits = net.forward(&x, BnMode::Eval).unwrap();
        assert_eq!(logits.shape(), &[1, k]);
        let report = evaluate(&network, &EvalOptions::default()).unwrap();
        assert_eq!(ran, counted(&report), "{}", network.name);
        assert_eq!(
            ran.iter().map(|l| l.0).sum::<u64>(),
            report.macs,
            "{}",
            network.name
        );
    }
}

/// A description the engine cannot train is refused by name, not run wrongly.
#[test]
fn a_fixed_network_with_squeeze_and_excite_is_refused() {
    use tinynas::arch::models::tiny_mobilenet;
    use tinynas::arch::net::Input;
    use tinynas::nn::net::Net;
    let e = engine();
    let mut network = tiny_mobilenet(
        Input {
            resolution: 16,
            channels: 1,
        },
        10,
    );
    network.blocks[1].se_channels = Some(4);
    let err = Net::new(&e, &network, 0)
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("blocks[1].se_channels"), "{err}");
}
