//! The fused bias + activation (`Tensor::bias_act`): forward and both gradients on the GPU
//! against the f64 reference, the reference against finite differences, at a convolution's
//! shape (x[N, C, H, W]) and a linear layer's (x[N, C]), with the bias a view into a wider one.

mod common;
use common::*;
use tinynas::autograd::ops::Act;
use tinynas::autograd::ops::bias_act::reference;

const ACTS: [Act; 5] = [
    Act::Relu,
    Act::Relu6,
    Act::Hswish,
    Act::Hsigmoid,
    Act::Sigmoid,
];

/// x and b (rounded to f32) whose sums x + b[c] keep off every kink of the activations.
fn off_the_kinks(seed: u64, len: usize, c: usize, inner: usize) -> (Vec<f64>, Vec<f64>) {
    let mut r = rng(seed);
    let b = rounded(&rand_vec(&mut r, c));
    let x = rand_vec(&mut r, len)
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut v = (v * 8.0) as f32 as f64;
            let near = |v: f64| {
                [-3.0f64, 0.0, 3.0, 6.0]
                    .iter()
                    .any(|k| (v + b[(i / inner) % c] - k).abs() < 1e-3)
            };
            while near(v) {
                v = (v + 0.01) as f32 as f64;
            }
            v
        })
        .collect();
    (x, b)
}

#[test]
fn bias_act_forward_backward_against_reference_and_finite_differences() {
    let e = engine();
    // A convolution's output (C = 5, H·W = 9) and a linear layer's (C = 6, inner 1).
    for (k, shape) in [vec![3usize, 5, 3, 3], vec![7, 6]].into_iter().enumerate() {
        let (len, c) = (shape.iter().product::<usize>(), shape[1]);
        let inner = len / (shape[0] * c);
        let (x, b) = off_the_kinks(60 + k as u64, len, c, inner);
        let dy = rand_vec(&mut rng(70 + k as u64), len);
        for act in ACTS {
            let what = format!("{} {shape:?}", act.name());
            let tx = e.param(&f32s(&x), &shape).unwrap();
            // The bias as a view at offset 2 of a wider parameter (an elastic layer's prefix).
            let wide: Vec<f64> = [vec![0.5, -0.5], b.clone(), vec![0.25]].concat();
            let tw = e.param(&f32s(&wide), &[c + 3]).unwrap();
            let tb = tw.narrow(0, 2, c).unwrap();
            let y = tx.bias_act(&tb, act).unwrap();
            let (want_y, want_dx, want_db) = reference(&x, &b, &dy, inner, act);
            assert_close(&what, &y.to_vec().unwrap(), &want_y, 1e-6, 1e-5);
            e.backward(&weighted_sum(&y, &dy)).unwrap();
            assert_close(&format!("{what} dx"), &grad_of(&tx), &want_dx, 1e-6, 1e-5);
            let dw = grad_of(&tw);
            assert_close(&format!("{what} db"), &dw[2..2 + c], &want_db, 1e-5, 1e-5);
            assert_eq!(
                [dw[0], dw[1], dw[c + 2]],
                [0.0; 3],
                "{what}: outside the view"
            );
            // The reference's gradients are the derivatives of Σ dy·y.
            let loss = |x: &[f64], b: &[f64]| dot(&reference(x, b, &dy, inner, act).0, &dy);
            let fd_x = finite_diff(&|xv| loss(xv, &b), &x, 1e-7);
            assert_close(&format!("{what} dx fd"), &f32s(&want_dx), &fd_x, 1e-5, 1e-4);
            let fd_b = finite_diff(&|bv| loss(&x, bv), &b, 1e-7);
            assert_close(&format!("{what} db fd"), &f32s(&want_db), &fd_b, 1e-5, 1e-4);
        }
    }
}

#[test]
fn bias_act_refuses_a_bias_of_the_wrong_size() {
    let e = engine();
    let x = e.param(&[0.0; 12], &[2, 3, 2]).unwrap();
    let b = e.param(&[0.0; 2], &[2]).unwrap();
    let err = x.bias_act(&b, Act::Relu6).unwrap_err().to_string();
    assert!(err.contains("bias"), "{err}");
}
