//! Shared test helpers: one engine per test on whatever adapter is present (named in the
//! output), seeded random data, tolerant comparisons and central finite differences.
#![allow(dead_code)]

pub mod crash;
pub mod harden;
pub mod kill_runs;
pub mod kills;
pub mod loops;
pub mod models;
pub mod runtimes;
pub mod search;
pub mod subnets;

use rand::{Rng, SeedableRng, rngs::StdRng};
use std::rc::Rc;
use tinynas::gpu::GpuOptions;
use tinynas::{Engine, Tensor};

pub fn engine() -> Rc<Engine> {
    let e =
        Engine::new(&GpuOptions::default()).expect("a GPU adapter (install lavapipe: see README)");
    eprintln!("adapter: {}", e.gpu.describe());
    e
}

pub fn rand_vec(rng: &mut StdRng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

pub fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

pub fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// A tensor's values (any layout) as f64.
pub fn values(t: &Tensor) -> Vec<f64> {
    f64s(&t.to_vec().unwrap())
}

/// Batch-norm channels of a network: folding BN leaves one bias per channel where the
/// unfolded model has γ and β, so published (unfolded) counts exceed ours by this much.
pub fn bn_width(r: &tinynas::mcu::Report) -> u64 {
    r.graph
        .ops
        .iter()
        .filter(|o| o.name != "classifier" && o.params > 0)
        .map(|o| r.graph.tensors[o.output].c as u64)
        .sum()
}

/// The f64 values actually on the GPU (after rounding to f32).
pub fn rounded(v: &[f64]) -> Vec<f64> {
    v.iter().map(|&x| x as f32 as f64).collect()
}

#[track_caller]
pub fn assert_close(what: &str, got: &[f32], want: &[f64], atol: f64, rtol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = (0.0, 0usize);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - w).abs();
        assert!(g.is_finite(), "{what}[{i}] = {g}");
        let excess = err - (atol + rtol * w.abs());
        if excess > worst.0 {
            worst = (excess, i);
        }
    }
    let i = worst.1;
    assert!(
        worst.0 <= 0.0,
        "{what}[{i}]: got {}, want {} (atol {atol}, rtol {rtol})",
        got[i],
        want[i]
    );
}

/// Central finite differences of a scalar function.
pub fn finite_diff(f: &dyn Fn(&[f64]) -> f64, x: &[f64], h: f64) -> Vec<f64> {
    finite_diff_at(f, x, h, &(0..x.len()).collect::<Vec<_>>())
}

/// Up to `k` indices spread over 0..n (always the first and last).
pub fn sample_indices(n: usize, k: usize) -> Vec<usize> {
    if n <= k {
        return (0..n).collect();
    }
    (0..k).map(|i| i * (n - 1) / (k - 1)).collect()
}

/// Central finite differences at the given coordinates only.
pub fn finite_diff_at(f: &dyn Fn(&[f64]) -> f64, x: &[f64], h: f64, at: &[usize]) -> Vec<f64> {
    let mut xp = x.to_vec();
    at.iter()
        .map(|&i| {
            let o = xp[i];
            xp[i] = o + h;
            let fp = f(&xp);
            xp[i] = o - h;
            let fm = f(&xp);
            xp[i] = o;
            (fp - fm) / (2.0 * h)
        })
        .collect()
}

pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Scalar loss Σ y·r on the GPU, so backward seeds dy = r.
pub fn weighted_sum(y: &Tensor, r: &[f64]) -> Tensor {
    let e = y.engine();
    let rt = e.tensor(&f32s(r), &[1, r.len()]).unwrap();
    y.reshape(&[1, y.numel()])
        .unwrap()
        .linear(&rt, None)
        .unwrap()
        .sum()
        .unwrap()
}

pub fn grad_of(t: &Tensor) -> Vec<f32> {
    t.grad().expect("a parameter").to_vec().unwrap()
}

pub fn pick(v: &[f64], at: &[usize]) -> Vec<f64> {
    at.iter().map(|&i| v[i]).collect()
}
