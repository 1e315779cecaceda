//! The supernet training step: several subnets per batch on shared weights, with in-place
//! distillation, lowers the loss of the largest and the smallest subnet on fixed data.

mod common;
use common::*;
use rand::{SeedableRng, rngs::StdRng};
use tinynas::arch::SearchSpace;
use tinynas::nn::{Module, Sgd};
use tinynas::supernet::Supernet;
use tinynas::train::{StepConfig, step_subnets, train_step};

#[test]
fn several_subnets_per_step_all_learn_on_shared_weights() {
    let e = engine();
    // 32: the smallest power of two whose feature map survives the default space's strides.
    const R: usize = 32;
    let space = SearchSpace {
        width_mult: 0.25,
        resolutions: vec![R],
        ..SearchSpace::default()
    };
    let net = Supernet::new(&e, &space, 5).unwrap();
    let sgd = Sgd::new(&e, net.param_list(), 0.9, true, 3e-5).unwrap();
    let n = 8;
    let x = e
        .tensor(&f32s(&rand_vec(&mut rng(8), n * R * R)), &[n, 1, R, R])
        .unwrap();
    let y = e
        .tensor(&(0..n).map(|i| (i % 4) as f32).collect::<Vec<_>>(), &[n])
        .unwrap();
    let cfg = StepConfig {
        distill_weight: 0.5,
        ..StepConfig::default()
    };
    let mut r = StdRng::seed_from_u64(1);
    let subs = step_subnets(&space, &mut r, 4, R);
    assert_eq!(
        (subs[0].clone(), subs[1].clone()),
        (space.largest(R), space.smallest(R))
    );
    let mut first = Vec::new();
    let mut last = Vec::new();
    for step in 0..25 {
        let subs = step_subnets(&space, &mut r, 4, R);
        let losses = train_step(&e, &net, &sgd, &x, &y, &subs, 0.05, &cfg, None).unwrap();
        assert!(losses.iter().all(|l| l.is_finite()));
        assert_eq!(losses.len(), 4);
        if step == 0 {
            first = losses.clone();
        }
        last = losses;
    }
    eprintln!("first {first:?} last {last:?}");
    assert!(
        last[0] < 0.85 * first[0],
        "largest subnet: {} -> {}",
        first[0],
        last[0]
    );
    assert!(
        last[1] < 0.95 * first[1],
        "smallest subnet: {} -> {}",
        first[1],
        last[1]
    );
}
