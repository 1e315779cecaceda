//! One network definition: the layers the GPU supernet actually runs for a subnet — traced
//! from the shapes of its convolutions as they execute — are the layers the MCU evaluator
//! counts, layer by layer, in MACs and parameters, for random subnets over several spaces,
//! resolutions and widths (including expand ratio 1, where a block has no expansion layer).

mod common;
use common::*;
use rand::seq::IndexedRandom;
use std::cell::RefCell;
use tinynas::autograd::ops::norm::BnMode;
use tinynas::mcu::graph::OpKind;
use tinynas::mcu::net::from_subnet;
use tinynas::mcu::{EvalOptions, evaluate};
use tinynas::supernet::elastic::LayerRun;
use tinynas::supernet::{SearchSpace, Supernet};

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
                // Layer by layer: every op with weights, and the pooling, in order.
                let counted: Vec<(u64, u64)> = report
                    .graph
                    .ops
                    .iter()
                    .filter(|o| o.params > 0 || o.kind == OpKind::Pool)
                    .map(|o| (o.macs, o.params))
                    .collect();
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
