//! A small MobileNet-style network (stem + 3 inverted-bottleneck blocks + head) trained on the
//! GPU for 30 steps matches the same training on the f64 CPU reference step by step, and its
//! loss falls.

mod common;
#[path = "common/cpu_net.rs"]
mod cpu_net;
use common::*;
use cpu_net::CpuNet;
use tinynas::arch::models::tiny_mobilenet;
use tinynas::arch::net::Input;
use tinynas::autograd::ops::norm::BnMode;
use tinynas::nn::net::Net;
use tinynas::nn::{Module, Sgd};

#[test]
fn tiny_mobilenet_gpu_training_matches_cpu_reference() {
    training_matches_cpu_reference(None);
}

/// The same with a 1×1 feature-mix layer before the pooling (MobileNetV2's last conv).
#[test]
fn with_a_feature_mix_layer_gpu_training_matches_cpu_reference() {
    training_matches_cpu_reference(Some(24));
}

fn training_matches_cpu_reference(feature_mix: Option<usize>) {
    let e = engine();
    let (n, h, w, classes) = (8, 16, 16, 10);
    let mut config = tiny_mobilenet(
        Input {
            resolution: h,
            channels: 1,
        },
        classes,
    );
    config.feature_mix_channels = feature_mix;
    let net = Net::new(&e, &config, 7).unwrap();
    let params = net.param_list();
    let init: Vec<Vec<f64>> = params
        .iter()
        .map(|p| {
            p.tensor
                .to_vec()
                .unwrap()
                .iter()
                .map(|&v| v as f64)
                .collect()
        })
        .collect();
    let mut cpu = CpuNet::new(
        config.clone(),
        init,
        params.iter().map(|p| p.decay).collect(),
    );
    let sgd = Sgd::new(&e, params.clone(), 0.9, true, 1e-4).unwrap();

    let mut r = rng(99);
    let x = rounded(&rand_vec(&mut r, n * h * w));
    let labels: Vec<usize> = (0..n).map(|i| i % classes).collect();
    let tx = e.tensor(&f32s(&x), &[n, 1, h, w]).unwrap();
    let tl = e
        .tensor(&labels.iter().map(|&l| l as f32).collect::<Vec<_>>(), &[n])
        .unwrap();
    let (lr, smoothing) = (0.05, 0.1);
    let mut losses = Vec::new();
    for step in 0..30 {
        let logits = net.forward(&tx, BnMode::Train { momentum: 0.1 }).unwrap();
        let loss = logits.cross_entropy(&tl, smoothing as f32).unwrap();
        e.backward(&loss).unwrap();
        sgd.step(&e, lr as f32).unwrap();
        sgd.zero_grad(&e);
        let gpu_loss = loss.item().unwrap() as f64;
        let (cpu_loss, grads) = cpu.loss_and_grads(&x, &labels, n, h, w, smoothing);
        cpu.sgd_step(&grads, lr, 0.9, 1e-4);
        // Stated tolerance: f32 against f64 through 30 steps of BN training.
        assert!(
            (gpu_loss - cpu_loss).abs() <= 2e-3 * cpu_loss.abs().max(1.0),
            "step {step}: GPU loss {gpu_loss}, CPU {cpu_loss}"
        );
        losses.push(gpu_loss);
    }
    eprintln!("losses: {losses:.4?}");
    for (p, want) in params.iter().zip(&cpu.params) {
        assert_close(
            &format!("final {}", p.name),
            &p.tensor.to_vec().unwrap(),
            want,
            2e-3,
            2e-2,
        );
    }
    assert!(
        losses[29] < 0.5 * losses[0],
        "loss did not fall: {} -> {}",
        losses[0],
        losses[29]
    );
}

#[test]
fn training_loop_memory_is_flat_after_first_step() {
    let e = engine();
    let config = tiny_mobilenet(
        Input {
            resolution: 16,
            channels: 1,
        },
        10,
    );
    let net = Net::new(&e, &config, 1).unwrap();
    let sgd = Sgd::new(&e, net.param_list(), 0.9, true, 1e-4).unwrap();
    let x = e.tensor(&vec![0.5; 4 * 16 * 16], &[4, 1, 16, 16]).unwrap();
    let y = e.tensor(&[0.0, 1.0, 2.0, 3.0], &[4]).unwrap();
    let mut after_first = 0;
    for step in 0..12 {
        let loss = net
            .forward(&x, BnMode::Train { momentum: 0.1 })
            .unwrap()
            .cross_entropy(&y, 0.0)
            .unwrap();
        e.backward(&loss).unwrap();
        sgd.step(&e, 0.01).unwrap();
        sgd.zero_grad(&e);
        loss.item().unwrap();
        if step == 1 {
            after_first = e.gpu.pool_bytes();
        }
    }
    assert_eq!(
        e.gpu.pool_bytes(),
        after_first,
        "the pool grew after step 2"
    );
}
