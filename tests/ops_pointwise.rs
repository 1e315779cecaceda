//! Activations, add, squeeze-and-excite multiply, pooling, reductions and the
//! cross-entropy losses: GPU against f64 references, references against finite differences.

mod common;
use common::*;
use tinynas::autograd::ops::Act;
use tinynas::autograd::ops::loss::{reference_cross_entropy, reference_mse, smoothed_targets};

#[test]
fn activations_forward_backward() {
    let e = engine();
    let mut r = rng(42);
    // Values spread over every piece of the piecewise functions, kept off the kinks.
    let x: Vec<f64> = rounded(
        &rand_vec(&mut r, 203)
            .iter()
            .map(|v| v * 8.0)
            .filter(|v| {
                [-3.0f64, 0.0, 3.0, 6.0]
                    .iter()
                    .all(|k| (v - k).abs() > 1e-3)
            })
            .collect::<Vec<_>>(),
    );
    for act in [
        Act::Relu,
        Act::Relu6,
        Act::Hswish,
        Act::Hsigmoid,
        Act::Sigmoid,
    ] {
        let tx = e.param(&f32s(&x), &[x.len()]).unwrap();
        let y = tx.activation(act).unwrap();
        let want: Vec<f64> = x.iter().map(|&v| act.reference(v).0).collect();
        assert_close(act.name(), &y.to_vec().unwrap(), &want, 1e-6, 1e-5);
        let rw = rand_vec(&mut r, x.len());
        e.backward(&weighted_sum(&y, &rw)).unwrap();
        let dx: Vec<f64> = x
            .iter()
            .zip(&rw)
            .map(|(&v, &g)| g * act.reference(v).1)
            .collect();
        assert_close(
            &format!("{} dx", act.name()),
            &grad_of(&tx),
            &dx,
            1e-6,
            1e-5,
        );
        let fd = finite_diff(
            &|xv| {
                xv.iter()
                    .zip(&rw)
                    .map(|(&v, &g)| g * act.reference(v).0)
                    .sum()
            },
            &x,
            1e-7,
        );
        assert_close(
            &format!("{} ref vs fd", act.name()),
            &f32s(&dx),
            &fd,
            1e-5,
            1e-4,
        );
    }
}

#[test]
fn global_avg_pool_many_short_rows_and_few_long_rows() {
    // 143 rows of 15 (a thread per row) and 3 rows of 400 (a workgroup per row).
    let e = engine();
    for (i, shape) in [[13usize, 11, 3, 5], [1, 3, 20, 20]]
        .into_iter()
        .enumerate()
    {
        let n: usize = shape.iter().product();
        let hw = shape[2] * shape[3];
        let x = rounded(&rand_vec(&mut rng(50 + i as u64), n));
        let t = e.tensor(&f32s(&x), &shape).unwrap();
        let want: Vec<f64> = x
            .chunks(hw)
            .map(|r| r.iter().sum::<f64>() / hw as f64)
            .collect();
        let got = t.global_avg_pool().unwrap().to_vec().unwrap();
        assert_close("global_avg_pool", &got, &want, 1e-5, 1e-5);
    }
}

#[test]
fn add_mul_channel_pool_and_reductions() {
    let e = engine();
    let mut r = rng(43);
    let (n, c, h, w) = (2, 5, 3, 7);
    let a = rounded(&rand_vec(&mut r, n * c * h * w));
    let b = rounded(&rand_vec(&mut r, n * c * h * w));
    let s = rounded(&rand_vec(&mut r, n * c));
    let (ta, tb, ts) = (
        e.param(&f32s(&a), &[n, c, h, w]).unwrap(),
        e.param(&f32s(&b), &[n, c, h, w]).unwrap(),
        e.param(&f32s(&s), &[n, c]).unwrap(),
    );
    // y = pool((a + b) · s): every op of a squeeze-and-excite residual path at once.
    let sum = ta.add(&tb).unwrap();
    let scaled = sum.mul_channel(&ts).unwrap();
    let pooled = scaled.global_avg_pool().unwrap();
    assert_eq!(pooled.shape(), [n, c]);
    let hw = h * w;
    let f = |av: &[f64], bv: &[f64], sv: &[f64]| -> Vec<f64> {
        (0..n * c)
            .map(|nc| {
                (0..hw)
                    .map(|i| (av[nc * hw + i] + bv[nc * hw + i]) * sv[nc])
                    .sum::<f64>()
                    / hw as f64
            })
            .collect()
    };
    assert_close(
        "pool(mul(add))",
        &pooled.to_vec().unwrap(),
        &f(&a, &b, &s),
        1e-5,
        1e-5,
    );
    let rw = rand_vec(&mut r, n * c);
    let loss = weighted_sum(&pooled, &rw).scale(2.0).unwrap();
    let total = pooled.mean().unwrap();
    assert_close(
        "mean",
        &total.to_vec().unwrap(),
        &[f(&a, &b, &s).iter().sum::<f64>() / (n * c) as f64],
        1e-5,
        1e-5,
    );
    e.backward(&loss).unwrap();
    let fa = |av: &[f64]| 2.0 * dot(&f(av, &b, &s), &rw);
    let fs = |sv: &[f64]| 2.0 * dot(&f(&a, &b, sv), &rw);
    let at = sample_indices(a.len(), 40);
    assert_close(
        "d a",
        &pick(&f64s(&grad_of(&ta)), &at)
            .iter()
            .map(|&v| v as f32)
            .collect::<Vec<_>>(),
        &finite_diff_at(&fa, &a, 1e-6, &at),
        1e-5,
        1e-4,
    );
    assert_close("d b = d a", &grad_of(&tb), &f64s(&grad_of(&ta)), 0.0, 0.0);
    assert_close(
        "d s",
        &grad_of(&ts),
        &finite_diff(&fs, &s, 1e-6),
        1e-5,
        1e-4,
    );
}

#[test]
fn cross_entropy_smoothed_labels_and_soft_targets() {
    let e = engine();
    let mut r = rng(44);
    let (n, k) = (9, 10);
    let logits: Vec<f64> = rounded(
        &rand_vec(&mut r, n * k)
            .iter()
            .map(|v| v * 4.0)
            .collect::<Vec<_>>(),
    );
    let labels: Vec<usize> = (0..n).map(|i| (i * 7) % k).collect();
    let tl = e.param(&f32s(&logits), &[n, k]).unwrap();
    let lab = e
        .tensor(&labels.iter().map(|&l| l as f32).collect::<Vec<_>>(), &[n])
        .unwrap();
    let loss = tl.cross_entropy(&lab, 0.1).unwrap();
    let t = smoothed_targets(&labels, k, 0.1);
    let (want, grad) = reference_cross_entropy(&logits, &t, n, k);
    assert_close("ce smoothed", &loss.to_vec().unwrap(), &[want], 1e-5, 1e-5);
    e.backward(&loss).unwrap();
    assert_close("ce dlogits", &grad_of(&tl), &grad, 1e-6, 1e-4);
    let fd = finite_diff(&|l| reference_cross_entropy(l, &t, n, k).0, &logits, 1e-6);
    assert_close("ce ref vs fd", &f32s(&grad), &fd, 1e-7, 1e-5);

    // Soft targets: a teacher's softmax (distillation). Gradients flow to the student only.
    let teacher = e.tensor(&f32s(&rand_vec(&mut r, n * k)), &[n, k]).unwrap();
    let probs = teacher.softmax().unwrap();
    let pv: Vec<f64> = values(&probs);
    for row in 0..n {
        assert!((pv[row * k..(row + 1) * k].iter().sum::<f64>() - 1.0).abs() < 1e-5);
    }
    let tl2 = e.param(&f32s(&logits), &[n, k]).unwrap();
    let loss = tl2.cross_entropy_soft(&probs).unwrap();
    let (want, grad) = reference_cross_entropy(&logits, &pv, n, k);
    assert_close("ce soft", &loss.to_vec().unwrap(), &[want], 1e-5, 1e-5);
    e.backward(&loss).unwrap();
    assert_close("ce soft dlogits", &grad_of(&tl2), &grad, 1e-6, 1e-4);
}

#[test]
fn mean_squared_error_against_reference_and_finite_differences() {
    let e = engine();
    let mut r = rng(45);
    // 131 elements: more than one workgroup, not a multiple of 64; a strided (transposed) view.
    let pred = rounded(&rand_vec(&mut r, 131));
    let target = rounded(&rand_vec(&mut r, 131));
    let tp = e.param(&f32s(&pred), &[131, 1]).unwrap();
    let tt = e.tensor(&f32s(&target), &[131, 1]).unwrap();
    let loss = tp.mse(&tt).unwrap();
    let (want, grad) = reference_mse(&pred, &target);
    assert_close("mse", &loss.to_vec().unwrap(), &[want], 1e-6, 1e-5);
    e.backward(&loss).unwrap();
    assert_close("mse dpred", &grad_of(&tp), &grad, 1e-7, 1e-4);
    let fd = finite_diff(&|p| reference_mse(p, &target).0, &pred, 1e-6);
    assert_close("mse ref vs fd", &f32s(&grad), &fd, 1e-7, 1e-5);
    assert!(tp.mse(&e.tensor(&[0.0; 3], &[3, 1]).unwrap()).is_err());
}

#[test]
fn gradients_accumulate_across_backward_passes_until_zeroed() {
    let e = engine();
    let w = e.param(&[1.0, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
    let x = e.tensor(&[1.0, -1.0], &[1, 2]).unwrap();
    for _ in 0..3 {
        let y = x.linear(&w, None).unwrap().sum().unwrap();
        e.backward(&y).unwrap();
    }
    assert_eq!(grad_of(&w), vec![3.0, -3.0, 3.0, -3.0]);
    assert_eq!(e.tape_len(), 0, "backward releases the tape");
    e.zero_grad(std::slice::from_ref(&w));
    assert_eq!(grad_of(&w), vec![0.0; 4]);
    {
        let _g = e.no_grad();
        let _ = x.linear(&w, None).unwrap().sum().unwrap();
    }
    assert_eq!(e.tape_len(), 0, "no_grad records nothing");
}

#[test]
fn bad_shapes_are_errors_naming_the_op() {
    let e = engine();
    let x = e.zeros(&[2, 3, 8, 8]).unwrap();
    let w = e.zeros(&[4, 5, 3, 3]).unwrap();
    let err = x.conv2d(&w, 1, 1, 1).unwrap_err().to_string();
    assert!(
        err.contains("conv2d") && err.contains("[4, 5, 3, 3]"),
        "{err}"
    );
    let err = x
        .add(&e.zeros(&[2, 3, 8, 7]).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("add"), "{err}");
    let err = w.centre_crop(2).unwrap_err().to_string();
    assert!(err.contains("centre_crop"), "{err}");
    // Empty tensors never reach a kernel (the shaders divide by the sizes).
    let empty = e.zeros(&[1, 2, 0, 5]).unwrap();
    let dw = e.zeros(&[2, 1, 3, 3]).unwrap();
    let err = empty.conv2d(&dw, 1, 2, 2).unwrap_err().to_string();
    assert!(err.contains("conv2d") && err.contains("empty"), "{err}");
    let (g, b) = (e.zeros(&[2]).unwrap(), e.zeros(&[2]).unwrap());
    let (rm, rv) = (e.zeros(&[2]).unwrap(), e.full(&[2], 1.0).unwrap());
    let bn = tinynas::autograd::ops::norm::BatchNorm {
        gamma: &g,
        beta: &b,
        running_mean: &rm,
        running_var: &rv,
        eps: 1e-5,
    };
    let err = empty
        .batch_norm(&bn, tinynas::autograd::ops::norm::BnMode::Eval)
        .unwrap_err()
        .to_string();
    assert!(err.contains("batch_norm") && err.contains("empty"), "{err}");
    let too_big = e.gpu.max_binding_bytes() as usize / 4 + 1;
    let err = e.zeros(&[too_big]).unwrap_err().to_string();
    assert!(err.contains("binding limit"), "{err}");
}
