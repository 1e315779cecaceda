//! Batch norm (training on a channel prefix, fused activations, evaluation with running
//! statistics, one-pass statistics): GPU against f64 references, references against finite
//! differences.

mod common;
use common::*;
use tinynas::autograd::ops::Act;
use tinynas::autograd::ops::norm::{BatchNorm, BnMode, reference as bn_ref};

#[test]
fn batch_norm_statistics_of_data_far_from_zero() {
    // One-pass statistics (sums of x − K, K a value of the channel) stay accurate when the mean
    // is 1,000 times the spread, where Σx² − (Σx)²/m in f32 would lose every digit.
    let e = engine();
    let mut r = rng(44);
    for (n, c, h, w) in [(2, 3, 8, 8), (3, 2, 3, 5)] {
        let hw = h * w;
        let x: Vec<f64> = rand_vec(&mut r, n * c * hw)
            .iter()
            .enumerate()
            .map(|(i, v)| 500.0 + 100.0 * ((i / hw) % c) as f64 + 0.5 * v)
            .collect();
        let x = rounded(&x);
        let tx = e.tensor(&f32s(&x), &[n, c, h, w]).unwrap();
        let (g, b) = (vec![1.0; c], vec![0.0; c]);
        let tg = e.tensor(&f32s(&g), &[c]).unwrap();
        let tb = e.tensor(&f32s(&b), &[c]).unwrap();
        let (rm, rv) = (e.zeros(&[c]).unwrap(), e.full(&[c], 1.0).unwrap());
        let bn = BatchNorm {
            gamma: &tg,
            beta: &tb,
            running_mean: &rm,
            running_var: &rv,
            eps: 1e-5,
        };
        let y = tx.batch_norm(&bn, BnMode::BatchStats).unwrap();
        let (yr, _, _) = bn_ref::batch_norm(&x, &g, &b, n, c, hw, 1e-5);
        assert_close(
            &format!("bn of offset data {n}x{c}x{h}x{w}"),
            &y.to_vec().unwrap(),
            &yr,
            2e-3,
            2e-3,
        );
    }
}

#[test]
fn batch_norm_train_on_channel_prefix() {
    let e = engine();
    let mut r = rng(40);
    let (n, c, c_full, hw) = (3, 5, 8, 7 * 3);
    let x = rounded(&rand_vec(&mut r, n * c * hw));
    let g_full = rounded(&rand_vec(&mut r, c_full));
    let b_full = rounded(&rand_vec(&mut r, c_full));
    let tx = e.param(&f32s(&x), &[n, c, 7, 3]).unwrap();
    let tg = e.param(&f32s(&g_full), &[c_full]).unwrap();
    let tb = e.param(&f32s(&b_full), &[c_full]).unwrap();
    let rm = e.zeros(&[c_full]).unwrap();
    let rv = e.full(&[c_full], 1.0).unwrap();
    let (gv, bv, rmv, rvv) = (
        tg.prefix(0, c).unwrap(),
        tb.prefix(0, c).unwrap(),
        rm.prefix(0, c).unwrap(),
        rv.prefix(0, c).unwrap(),
    );
    let bn = BatchNorm {
        gamma: &gv,
        beta: &bv,
        running_mean: &rmv,
        running_var: &rvv,
        eps: 1e-5,
    };
    let y = tx.batch_norm(&bn, BnMode::Train { momentum: 0.1 }).unwrap();
    let (g, b) = (&g_full[..c], &b_full[..c]);
    let (yr, mean, var) = bn_ref::batch_norm(&x, g, b, n, c, hw, 1e-5);
    assert_close("bn forward", &y.to_vec().unwrap(), &yr, 1e-4, 1e-4);
    // Running statistics move 10 % towards the batch's (unbiased variance), prefix only.
    let m = (n * hw) as f64;
    let mut want_rm = vec![0.0; c_full];
    let mut want_rv = vec![1.0; c_full];
    for ch in 0..c {
        want_rm[ch] = 0.1 * mean[ch];
        want_rv[ch] = 0.9 + 0.1 * var[ch] * m / (m - 1.0);
    }
    assert_close("running mean", &rm.to_vec().unwrap(), &want_rm, 1e-5, 1e-4);
    assert_close("running var", &rv.to_vec().unwrap(), &want_rv, 1e-5, 1e-4);
    let rw = rand_vec(&mut r, y.numel());
    e.backward(&weighted_sum(&y, &rw)).unwrap();
    let (dx, dg, db) = bn_ref::batch_norm_backward(&x, g, &rw, n, c, hw, 1e-5);
    assert_close("bn dx", &grad_of(&tx), &dx, 1e-4, 1e-3);
    let pad = |v: &[f64]| {
        let mut f = v.to_vec();
        f.resize(c_full, 0.0);
        f
    };
    assert_close("bn dgamma", &grad_of(&tg), &pad(&dg), 1e-4, 1e-4);
    assert_close("bn dbeta", &grad_of(&tb), &pad(&db), 1e-4, 1e-4);
    let fx = |xv: &[f64]| dot(&bn_ref::batch_norm(xv, g, b, n, c, hw, 1e-5).0, &rw);
    let at = sample_indices(x.len(), 40);
    assert_close(
        "bn ref dx vs fd",
        &f32s(&pick(&dx, &at)),
        &finite_diff_at(&fx, &x, 1e-6, &at),
        1e-6,
        1e-5,
    );
    let fg = |gv2: &[f64]| dot(&bn_ref::batch_norm(&x, gv2, b, n, c, hw, 1e-5).0, &rw);
    assert_close(
        "bn ref dgamma vs fd",
        &f32s(&dg),
        &finite_diff(&fg, g, 1e-6),
        1e-6,
        1e-5,
    );
}

#[test]
fn batch_norm_with_fused_activation_matches_bn_then_activation() {
    let e = engine();
    // H·W = 15 (one element per thread in the elementwise passes), 16 (four per thread).
    // Channels of at most 1,024 values are reduced one thread per channel (all but the last
    // three shapes; 1×100 has a plane over 64); larger ones by a workgroup: plane by plane
    // (24×24), or image-strided, 64 / hw images at a time (40×30, 1,200 values).
    let shapes = [
        (2usize, 5usize, 3usize, 5usize),
        (3, 4, 4, 4),
        (2, 3, 8, 9),
        (9, 2, 2, 2),
        (5, 2, 1, 1),
        (1, 2, 10, 10),
        (2, 3, 24, 24),
        (40, 2, 5, 6),
        (20, 3, 8, 8),
    ];
    let acts = [
        Act::Relu,
        Act::Relu6,
        Act::Hswish,
        Act::Hsigmoid,
        Act::Sigmoid,
    ];
    for i in 0..acts.len() * shapes.len() {
        let act = acts[i / shapes.len()];
        let mut r = rng(60 + i as u64);
        let (n, c, h, w) = shapes[i % shapes.len()];
        let (c_full, hw) = (c + 2, h * w);
        let x = rounded(&rand_vec(&mut r, n * c * hw));
        // γ of several units and a shift put values on both sides of every kink.
        let g_full: Vec<f64> = rand_vec(&mut r, c_full).iter().map(|v| 4.0 * v).collect();
        let b_full: Vec<f64> = rand_vec(&mut r, c_full)
            .iter()
            .map(|v| 2.0 * v + 1.0)
            .collect();
        let tx = e.param(&f32s(&x), &[n, c, h, w]).unwrap();
        let tg = e.param(&f32s(&g_full), &[c_full]).unwrap();
        let tb = e.param(&f32s(&b_full), &[c_full]).unwrap();
        let (rm, rv) = (e.zeros(&[c_full]).unwrap(), e.full(&[c_full], 1.0).unwrap());
        let (gv, bv, rmv, rvv) = (
            tg.prefix(0, c).unwrap(),
            tb.prefix(0, c).unwrap(),
            rm.prefix(0, c).unwrap(),
            rv.prefix(0, c).unwrap(),
        );
        let bn = BatchNorm {
            gamma: &gv,
            beta: &bv,
            running_mean: &rmv,
            running_var: &rvv,
            eps: 1e-5,
        };
        let y = tx
            .batch_norm_act(&bn, BnMode::BatchStats, Some(act))
            .unwrap();
        let (g, b) = (&g_full[..c], &b_full[..c]);
        let z = bn_ref::batch_norm(&x, g, b, n, c, hw, 1e-5).0;
        let want: Vec<f64> = z.iter().map(|&v| act.reference(v).0).collect();
        assert_close(
            &format!("{act:?} fused forward"),
            &y.to_vec().unwrap(),
            &want,
            1e-4,
            1e-4,
        );
        let rw = rand_vec(&mut r, y.numel());
        e.backward(&weighted_sum(&y, &rw)).unwrap();
        let dz: Vec<f64> = z
            .iter()
            .zip(&rw)
            .map(|(&v, w)| w * act.reference(v).1)
            .collect();
        let (dx, dg, db) = bn_ref::batch_norm_backward(&x, g, &dz, n, c, hw, 1e-5);
        let pad = |v: &[f64]| {
            let mut f = v.to_vec();
            f.resize(c_full, 0.0);
            f
        };
        assert_close(&format!("{act:?} fused dx"), &grad_of(&tx), &dx, 1e-4, 1e-3);
        assert_close(
            &format!("{act:?} fused dgamma"),
            &grad_of(&tg),
            &pad(&dg),
            1e-4,
            1e-3,
        );
        assert_close(
            &format!("{act:?} fused dbeta"),
            &grad_of(&tb),
            &pad(&db),
            1e-4,
            1e-3,
        );
        // The smooth activations: the composed reference against central differences.
        if matches!(act, Act::Sigmoid) {
            let f = |xv: &[f64]| {
                let z = bn_ref::batch_norm(xv, g, b, n, c, hw, 1e-5).0;
                let y: Vec<f64> = z.iter().map(|&v| act.reference(v).0).collect();
                dot(&y, &rw)
            };
            let at = sample_indices(x.len(), 30);
            assert_close(
                "fused ref dx vs fd",
                &f32s(&pick(&dx, &at)),
                &finite_diff_at(&f, &x, 1e-6, &at),
                1e-6,
                1e-5,
            );
        }
    }
}

#[test]
fn batch_norm_eval_uses_running_statistics() {
    let e = engine();
    let mut r = rng(41);
    let (n, c, hw) = (2, 3, 4);
    let x = rounded(&rand_vec(&mut r, n * c * hw));
    let tx = e.tensor(&f32s(&x), &[n, c, 2, 2]).unwrap();
    let gamma = e.param(&[1.5, 0.5, -1.0], &[3]).unwrap();
    let beta = e.param(&[0.1, 0.2, 0.3], &[3]).unwrap();
    let rm = e.tensor(&[0.5, -0.25, 0.0], &[3]).unwrap();
    let rv = e.tensor(&[4.0, 0.25, 1.0], &[3]).unwrap();
    let bn = BatchNorm {
        gamma: &gamma,
        beta: &beta,
        running_mean: &rm,
        running_var: &rv,
        eps: 0.0,
    };
    let y = tx.batch_norm(&bn, BnMode::Eval).unwrap().to_vec().unwrap();
    let (m, v, g, b) = (
        [0.5, -0.25, 0.0],
        [4.0, 0.25, 1.0],
        [1.5, 0.5, -1.0],
        [0.1, 0.2, 0.3],
    );
    let want: Vec<f64> = (0..x.len())
        .map(|i| {
            let ch = (i / hw) % c;
            (x[i] - m[ch]) / f64::sqrt(v[ch]) * g[ch] + b[ch]
        })
        .collect();
    assert_close("bn eval", &y, &want, 1e-5, 1e-5);
    assert_close(
        "running mean untouched",
        &rm.to_vec().unwrap(),
        &[0.5, -0.25, 0.0],
        0.0,
        0.0,
    );
}

/// `--f16-activations` on an activation's saved input (an odd count, so the last word is half
/// padding): h-swish's gradient (2x + 3)/6 is exact to f32 without it and within f16 rounding
/// of x with it, and not exact (the packed copy was read).
#[test]
fn f16_saved_input_of_an_activation_round_trips() {
    let e = engine();
    let n = 10_001;
    let v: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin() * 2.9).collect();
    for half in [false, true] {
        e.gpu.set_f16_activations(half);
        let p = e.param(&f32s(&v), &[n]).unwrap();
        let y = p.scale(1.0).unwrap().hswish().unwrap().sum().unwrap();
        e.backward(&y).unwrap();
        let g = grad_of(&p);
        // f16 keeps 11 significant bits: |Δx| ≤ |x|·2⁻¹¹, so |Δg| ≤ |x|·2⁻¹¹/3 (plus f32's own
        // rounding of the gradient, < 1e-6).
        let errs: Vec<(f64, f64)> = (0..n)
            .map(|i| {
                let err = (g[i] as f64 - (2.0 * v[i] + 3.0) / 6.0).abs();
                (err, v[i].abs() / 3.0 * 2f64.powi(-11) + 1e-6)
            })
            .collect();
        let worst = errs.iter().map(|e| e.0).fold(0.0, f64::max);
        if half {
            let over = errs.iter().filter(|(err, bound)| err > bound).count();
            assert_eq!(over, 0, "f16: {over} gradients past f16 rounding of x");
            assert!(worst > 1e-5, "f16: nothing was rounded ({worst:.3e})");
        } else {
            assert!(worst < 1e-6, "f32: {worst:.3e}");
        }
    }
    e.gpu.set_f16_activations(false);
}

/// Batch norm's saved input is packed centred on the channel means: with a mean 1,000 times
/// the spread, rounding x itself to f16 would leave (x − μ) a few bits (gradients ~30 % off);
/// centred, the f16 gradients stay within 1e-3 of the f32 ones.
#[test]
fn f16_saved_batch_norm_input_is_centred_on_the_channel_means() {
    let e = engine();
    let (n, c, h, w) = (4, 3, 32, 32);
    let hw = h * w;
    let mut r = rng(45);
    let x: Vec<f64> = rand_vec(&mut r, n * c * hw)
        .iter()
        .enumerate()
        .map(|(i, v)| 500.0 + 100.0 * ((i / hw) % c) as f64 + 0.5 * v)
        .collect();
    let weights = rand_vec(&mut r, n * c * hw);
    let gamma0 = rand_vec(&mut r, c);
    let run = |half: bool| {
        e.gpu.set_f16_activations(half);
        let p = e.param(&f32s(&x), &[n, c, h, w]).unwrap();
        let tg = e.param(&f32s(&gamma0), &[c]).unwrap();
        let tb = e.param(&vec![0.0; c], &[c]).unwrap();
        let (rm, rv) = (e.zeros(&[c]).unwrap(), e.full(&[c], 1.0).unwrap());
        let bn = BatchNorm {
            gamma: &tg,
            beta: &tb,
            running_mean: &rm,
            running_var: &rv,
            eps: 1e-5,
        };
        let y = p
            .scale(1.0)
            .unwrap()
            .batch_norm_act(&bn, BnMode::BatchStats, Some(Act::Relu6))
            .unwrap();
        e.backward(&weighted_sum(&y, &weights)).unwrap();
        [f64s(&grad_of(&p)), f64s(&grad_of(&tg))]
    };
    let g32 = run(false);
    let g16 = run(true);
    e.gpu.set_f16_activations(false);
    for (what, a, b) in [("dx", &g32[0], &g16[0]), ("dgamma", &g32[1], &g16[1])] {
        let diff = a
            .iter()
            .zip(b)
            .map(|(p, q)| (p - q).powi(2))
            .sum::<f64>()
            .sqrt();
        let norm = a.iter().map(|p| p * p).sum::<f64>().sqrt();
        assert!(
            diff / norm < 1e-3,
            "{what}: f16-saved off by {:.2e} (relative)",
            diff / norm
        );
        assert!(diff > 0.0, "{what}: nothing was rounded");
    }
}
