//! The elastic supernet: subnets run as views of the shared weights, their gradients land in
//! exactly the slices they use and equal those of the same network built standalone.

mod common;
use common::*;
use tinynas::Tensor;
use tinynas::arch::net::make_divisible;
use tinynas::arch::{SearchSpace, SubnetConfig};
use tinynas::autograd::ops::norm::BnMode;
use tinynas::nn::Module;
use tinynas::supernet::Supernet;

fn space() -> SearchSpace {
    SearchSpace {
        width_mult: 0.25,
        resolutions: vec![32],
        ..SearchSpace::default()
    }
}

fn nonzero(t: &Tensor) -> Vec<bool> {
    grad_of(t).iter().map(|v| *v != 0.0).collect()
}

#[test]
fn a_subnet_step_touches_exactly_the_weights_it_uses() {
    let e = engine();
    let sp = space();
    let net = Supernet::new(&e, &sp, 1).unwrap();
    let sub = sp.smallest(32); // kernel 3, expand 3, depth 2 everywhere
    let x = e
        .tensor(&f32s(&rand_vec(&mut rng(1), 2 * 32 * 32)), &[2, 1, 32, 32])
        .unwrap();
    let y = e.tensor(&[3.0, 7.0], &[2]).unwrap();
    let loss = net
        .forward(&x, &sub, BnMode::Train { momentum: 0.1 })
        .unwrap()
        .cross_entropy(&y, 0.0)
        .unwrap();
    e.backward(&loss).unwrap();
    let md = sp.max_depth();
    for s in 0..sp.stages() {
        for d in 0..md {
            let b = &net.blocks[s * md + d];
            let used = d < sub.depth[s];
            let mid = make_divisible((b.in_channels * 3) as f64);
            let max_mid = b.expand.weight.shape()[0];
            // Depthwise [max_mid, 1, 7, 7]: only the centre 3×3 of the first `mid` channels.
            let dw = nonzero(&b.depthwise.weight);
            for c in 0..max_mid {
                for ky in 0..7 {
                    for kx in 0..7 {
                        let inside =
                            used && c < mid && (2..5).contains(&ky) && (2..5).contains(&kx);
                        let g = dw[(c * 7 + ky) * 7 + kx];
                        assert!(
                            !g || inside,
                            "stage {s} slot {d}: gradient outside the view at c{c} ({ky},{kx})"
                        );
                    }
                }
            }
            if used {
                assert!(
                    dw[3 * 7 + 3], // channel 0, centre tap
                    "stage {s} slot {d}: no gradient in the used centre"
                );
            }
            // Expand rows and project columns beyond `mid`, BN beyond `mid`: untouched.
            let cin = b.in_channels;
            let ex = nonzero(&b.expand.weight);
            assert!(ex[mid * cin..].iter().all(|g| !g), "expand rows past mid");
            assert_eq!(ex[..mid * cin].iter().any(|g| *g), used);
            let pr = nonzero(&b.project.weight);
            for o in 0..b.out_channels {
                assert!(
                    pr[o * max_mid + mid..(o + 1) * max_mid].iter().all(|g| !g),
                    "project columns past mid"
                );
            }
            let bn = nonzero(&b.expand.beta);
            assert!(bn[mid..].iter().all(|g| !g), "BN beyond mid");
            assert_eq!(bn[..mid].iter().any(|g| *g), used, "BN within mid");
        }
    }
}

/// Copy the active views of `big` for a uniform subnet into a supernet whose largest setting
/// is exactly that subnet.
fn copy_active(big: &Supernet, small: &Supernet, k: usize, e: usize, depth: usize) {
    let copy = |from: &Tensor, to: &Tensor| {
        to.write(&from.contiguous().unwrap().to_vec().unwrap())
            .unwrap()
    };
    for (a, b) in [
        (&big.stem, &small.stem),
        (&big.first_dw, &small.first_dw),
        (&big.first_pw, &small.first_pw),
    ] {
        for (x, y) in [
            (&a.weight, &b.weight),
            (&a.gamma, &b.gamma),
            (&a.beta, &b.beta),
        ] {
            copy(x, y);
        }
    }
    let (bmd, smd) = (big.space.max_depth(), small.space.max_depth());
    let mut pairs: Vec<_> = (0..big.space.stages())
        .flat_map(|s| (0..depth).map(move |d| (s * bmd + d, s * smd + d)))
        .map(|(i, j)| (&big.blocks[i], &small.blocks[j], Some((k, e))))
        .collect();
    pairs.push((&big.last, &small.last, None));
    for (a, b, ke) in pairs {
        let mid = b.expand.weight.shape()[0];
        let kk = ke.map_or(b.depthwise.weight.shape()[2], |(k, _)| k);
        copy(&a.expand.weight.prefix(0, mid).unwrap(), &b.expand.weight);
        copy(
            &a.depthwise
                .weight
                .prefix(0, mid)
                .unwrap()
                .centre_crop(kk)
                .unwrap(),
            &b.depthwise.weight,
        );
        copy(&a.project.weight.prefix(1, mid).unwrap(), &b.project.weight);
        for (x, y) in [(&a.expand, &b.expand), (&a.depthwise, &b.depthwise)] {
            copy(&x.gamma.prefix(0, mid).unwrap(), &y.gamma);
            copy(&x.beta.prefix(0, mid).unwrap(), &y.beta);
        }
        copy(&a.project.gamma, &b.project.gamma);
        copy(&a.project.beta, &b.project.beta);
    }
    copy(&big.head.weight, &small.head.weight);
    copy(&big.head.bias, &small.head.bias);
}

#[test]
fn subnet_gradients_through_the_supernet_equal_a_standalone_network() {
    let e = engine();
    let sp = space();
    let big = Supernet::new(&e, &sp, 2).unwrap();
    let (k, ex, d) = (5, 4, 2);
    let alone_space = SearchSpace {
        kernel_choices: vec![k],
        expand_choices: vec![ex],
        depth_choices: vec![d],
        ..sp.clone()
    };
    let alone = Supernet::new(&e, &alone_space, 99).unwrap();
    copy_active(&big, &alone, k, ex, d);
    let n_slots = sp.stages() * sp.max_depth();
    let sub = SubnetConfig {
        resolution: 32,
        kernel_size: vec![k; n_slots],
        expand_ratio: vec![ex; n_slots],
        depth: vec![d; sp.stages()],
    };
    let sub_alone = alone_space.largest(32);
    let x = e
        .tensor(&f32s(&rand_vec(&mut rng(3), 3 * 32 * 32)), &[3, 1, 32, 32])
        .unwrap();
    let y = e.tensor(&[1.0, 4.0, 9.0], &[3]).unwrap();
    // One forward and its backward at a time (backward releases the whole tape).
    let la = big.forward(&x, &sub, BnMode::BatchStats).unwrap();
    e.backward(&la.cross_entropy(&y, 0.1).unwrap()).unwrap();
    let lb = alone.forward(&x, &sub_alone, BnMode::BatchStats).unwrap();
    let loss_b = lb.cross_entropy(&y, 0.1).unwrap();
    e.backward(&loss_b).unwrap();
    let (va, vb) = (la.to_vec().unwrap(), lb.to_vec().unwrap());
    assert_close("logits", &va, &f64s(&vb), 1e-5, 1e-4);
    // A second backward of a released graph is an error, not silently zero gradients.
    assert!(
        e.backward(&loss_b)
            .unwrap_err()
            .to_string()
            .contains("not on the tape")
    );
    // Every standalone gradient equals the gradient in the matching slice of the supernet.
    let bmd = sp.max_depth();
    for s in 0..sp.stages() {
        for dd in 0..d {
            let (a, b) = (&big.blocks[s * bmd + dd], &alone.blocks[s * d + dd]);
            let mid = b.expand.weight.shape()[0];
            let pairs = [
                (a.expand.weight.prefix(0, mid).unwrap(), &b.expand.weight),
                (
                    a.depthwise
                        .weight
                        .prefix(0, mid)
                        .unwrap()
                        .centre_crop(k)
                        .unwrap(),
                    &b.depthwise.weight,
                ),
                (a.project.weight.prefix(1, mid).unwrap(), &b.project.weight),
                (
                    a.depthwise.gamma.prefix(0, mid).unwrap(),
                    &b.depthwise.gamma,
                ),
            ];
            for (view, standalone) in pairs {
                let want: Vec<f64> = f64s(&grad_of(standalone));
                assert_close(
                    &format!("stage {s} block {dd}"),
                    &view.grad().unwrap().to_vec().unwrap(),
                    &want,
                    1e-5,
                    1e-3,
                );
            }
        }
    }
    let want: Vec<f64> = f64s(&grad_of(&alone.head.weight));
    assert_close("head", &grad_of(&big.head.weight), &want, 1e-6, 1e-3);
    assert_eq!(
        big.param_list().len(),
        3 * 3 + 3 * 3 * sp.stages() * sp.max_depth() + 3 * 3 + 2
    );
}

#[test]
fn sampling_covers_every_choice_and_is_reproducible() {
    use rand::{SeedableRng, rngs::StdRng};
    let sp = SearchSpace::default();
    let mut r = StdRng::seed_from_u64(4);
    let subs: Vec<SubnetConfig> = (0..300).map(|_| sp.sample(&mut r, 64)).collect();
    for slot in 0..sp.stages() * sp.max_depth() {
        for k in &sp.kernel_choices {
            assert!(subs.iter().any(|s| s.kernel_size[slot] == *k));
        }
        for e in &sp.expand_choices {
            assert!(subs.iter().any(|s| s.expand_ratio[slot] == *e));
        }
    }
    for st in 0..sp.stages() {
        for d in &sp.depth_choices {
            assert!(subs.iter().any(|s| s.depth[st] == *d));
        }
    }
    let mut r2 = StdRng::seed_from_u64(4);
    assert_eq!(sp.sample(&mut r2, 64), subs[0]);
}

#[test]
fn bn_recalibration_is_the_exact_average_of_batch_statistics() {
    let e = engine();
    let sp = space();
    let net = Supernet::new(&e, &sp, 6).unwrap();
    let sub = sp.sample(&mut rng(2), 32);
    let (n, c) = (4, net.stem.weight.shape()[0]);
    let xs: Vec<Tensor> = (0..3)
        .map(|i| {
            e.tensor(
                &f32s(&rand_vec(&mut rng(20 + i), n * 32 * 32)),
                &[n, 1, 32, 32],
            )
            .unwrap()
        })
        .collect();
    // Stale statistics first: recalibration must leave nothing of them.
    net.stem.running_mean.write(&vec![5.0; c]).unwrap();
    assert_eq!(net.recalibrate_bn(&sub, &xs).unwrap(), 3);
    // The stem's BN sees the stem convolution's output: its statistics, computed here.
    let (mut want_mean, mut want_var) = (vec![0.0f64; c], vec![0.0f64; c]);
    for x in &xs {
        let y = values(&x.conv2d(&net.stem.weight, 2, 1, 1).unwrap());
        let hw = y.len() / (n * c);
        for ch in 0..c {
            let vals: Vec<f64> = (0..n)
                .flat_map(|b| y[(b * c + ch) * hw..(b * c + ch + 1) * hw].to_vec())
                .collect();
            let m = vals.iter().sum::<f64>() / vals.len() as f64;
            let v = vals.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (vals.len() - 1) as f64;
            want_mean[ch] += m / 3.0;
            want_var[ch] += v / 3.0;
        }
    }
    assert_close(
        "recalibrated mean",
        &net.stem.running_mean.to_vec().unwrap(),
        &want_mean,
        1e-5,
        1e-4,
    );
    assert_close(
        "recalibrated var",
        &net.stem.running_var.to_vec().unwrap(),
        &want_var,
        1e-5,
        1e-3,
    );
    assert!(net.recalibrate_bn(&sub, &[]).is_err());
}

/// `--f16-activations`: what backward reads is kept as f16 pairs. The forward pass is untouched
/// (same loss to the bit), the memory held between forward and backward shrinks by ~half, and
/// the gradients stay within f16 rounding of the f32 ones (2.6e-4 relative here; 1.9e-2 if batch
/// norm's input were rounded uncentred) — but are not the same (the packed copies were used).
#[test]
fn f16_saved_activations_halve_activation_memory_and_keep_gradients() {
    let e = engine();
    let sp = space();
    let net = Supernet::new(&e, &sp, 3).unwrap();
    let sub = sp.largest(32);
    let n = 8;
    let x = e
        .tensor(&f32s(&rand_vec(&mut rng(5), n * 32 * 32)), &[n, 1, 32, 32])
        .unwrap();
    let y = e
        .tensor(&(0..n).map(|i| (i % 10) as f32).collect::<Vec<_>>(), &[n])
        .unwrap();
    let params = net.param_list();
    let run = |half: bool| {
        e.gpu.set_f16_activations(half);
        for p in &params {
            e.zero_grad(std::slice::from_ref(&p.tensor));
        }
        e.gpu.reset_peak_bytes();
        let base = e.gpu.live_bytes();
        let loss = net
            .forward(&x, &sub, BnMode::BatchStats)
            .unwrap()
            .cross_entropy(&y, 0.1)
            .unwrap();
        let held = e.gpu.live_bytes() - base;
        e.backward(&loss).unwrap();
        let grads: Vec<f64> = params
            .iter()
            .flat_map(|p| f64s(&grad_of(&p.tensor)))
            .collect();

        (loss.item().unwrap(), held, e.gpu.peak_bytes() - base, grads)
    };
    let (l32, held32, peak32, g32) = run(false);
    let (l16, held16, peak16, g16) = run(true);
    e.gpu.set_f16_activations(false);
    assert_eq!(l32.to_bits(), l16.to_bits(), "forward must not change");
    let ratio = held16 as f64 / held32 as f64;

    assert!(
        ratio < 0.65,
        "memory held for backward: {held16} B with f16 against {held32} B with f32 ({ratio:.2})"
    );
    assert!(
        peak16 < peak32,
        "peak {peak16} B (f16) against {peak32} B (f32)"
    );
    let diff = g32
        .iter()
        .zip(&g16)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        .sqrt();
    let norm = g32.iter().map(|a| a * a).sum::<f64>().sqrt();
    assert!(norm > 0.0);
    assert!(
        diff / norm < 2e-3,
        "f16-saved gradients off by {:.2e} (relative)",
        diff / norm
    );
    assert!(
        diff / norm > 1e-6,
        "f16-saved gradients equal the f32 ones ({:.2e}): nothing was packed",
        diff / norm
    );
}
