//! Optimizers and schedule against their formulas, and the runtime's error paths.

mod common;
use common::*;
use tinynas::autograd::ops::matmul::kernel;
use tinynas::gpu::kernel::Shader;
use tinynas::gpu::{Arg, Gpu, GpuOptions, Work};
use tinynas::nn::{Adam, CosineSchedule, ParamEntry, Sgd};

fn entry(t: &tinynas::Tensor, decay: bool) -> ParamEntry {
    ParamEntry {
        name: "p".into(),
        tensor: t.clone(),
        decay,
    }
}

#[test]
fn adam_matches_its_formula_and_skips_decay_where_asked() {
    let e = engine();
    let w0 = [0.5f64, -1.0, 2.0];
    let g = [0.1f64, -0.2, 0.3];
    let w = e.param(&f32s(&w0), &[3]).unwrap();
    let b = e.param(&f32s(&w0), &[3]).unwrap();
    let mut adam = Adam::new(&e, vec![entry(&w, true), entry(&b, false)], 0.01).unwrap();
    let (mut m, mut v) = ([0.0f64; 3], [0.0f64; 3]);
    let (mut wr, mut br) = (w0, w0);
    let (mut mb, mut vb) = ([0.0f64; 3], [0.0f64; 3]);
    for step in 1..=3 {
        // Gradient g on both parameters: y = Σ g·w.
        let gt = e.tensor(&f32s(&g), &[1, 3]).unwrap();
        for p in [&w, &b] {
            let y = gt
                .linear(&p.reshape(&[1, 3]).unwrap(), None)
                .unwrap()
                .sum()
                .unwrap();
            e.backward(&y).unwrap();
        }
        adam.step(&e, 0.1).unwrap();
        adam.zero_grad(&e);
        let (b1, b2, eps, lr) = (0.9f64, 0.999f64, 1e-8, 0.1);
        for (wv, mv, vv, wd) in [
            (&mut wr, &mut m, &mut v, 0.01),
            (&mut br, &mut mb, &mut vb, 0.0),
        ] {
            for i in 0..3 {
                let gi = g[i] + wd * wv[i];
                mv[i] = b1 * mv[i] + (1.0 - b1) * gi;
                vv[i] = b2 * vv[i] + (1.0 - b2) * gi * gi;
                let mh = mv[i] / (1.0 - b1.powi(step));
                let vh = vv[i] / (1.0 - b2.powi(step));
                wv[i] -= lr * mh / (vh.sqrt() + eps);
            }
        }
    }
    assert_close("adam (decay)", &w.to_vec().unwrap(), &wr, 1e-5, 1e-5);
    assert_close("adam (no decay)", &b.to_vec().unwrap(), &br, 1e-5, 1e-5);
}

#[test]
fn sgd_without_nesterov_uses_the_momentum_buffer() {
    let e = engine();
    let w = e.param(&[1.0, 2.0], &[2]).unwrap();
    let sgd = Sgd::new(&e, vec![entry(&w, true)], 0.9, false, 0.1).unwrap();
    let gt = e.tensor(&[1.0, -1.0], &[1, 2]).unwrap();
    let (mut wr, mut buf) = ([1.0f64, 2.0], [0.0f64; 2]);
    for _ in 0..3 {
        let y = gt
            .linear(&w.reshape(&[1, 2]).unwrap(), None)
            .unwrap()
            .sum()
            .unwrap();
        e.backward(&y).unwrap();
        sgd.step(&e, 0.5).unwrap();
        sgd.zero_grad(&e);
        for (i, gi) in [1.0, -1.0].into_iter().enumerate() {
            let g = gi + 0.1 * wr[i];
            buf[i] = 0.9 * buf[i] + g;
            wr[i] -= 0.5 * buf[i];
        }
    }
    assert_close("sgd", &w.to_vec().unwrap(), &wr, 1e-5, 1e-5);
}

#[test]
fn cosine_schedule_warms_up_then_decays() {
    let s = CosineSchedule {
        base: 0.1,
        min: 0.001,
        warmup: 10,
        total: 110,
    };
    assert!((s.lr(0) - 0.01).abs() < 1e-7);
    assert!((s.lr(9) - 0.1).abs() < 1e-7);
    assert!((s.lr(10) - 0.1).abs() < 1e-7);
    assert!((s.lr(60) - (0.001 + 0.5 * 0.099)).abs() < 1e-6);
    assert!((s.lr(110) - 0.001).abs() < 1e-7);
    assert!((s.lr(500) - 0.001).abs() < 1e-7);
    for t in 10..110 {
        assert!(s.lr(t + 1) <= s.lr(t));
    }
}

#[test]
fn gpu_validation_errors_are_caught_and_reported() {
    let gpu = Gpu::new(&GpuOptions::default()).unwrap();
    let b = gpu.alloc("test", 16).unwrap();
    // The matmul pipeline needs four storage bindings; give it one.
    let r = gpu
        .run(
            kernel::MATMUL,
            &kernel::MatmulConsts::default(),
            &kernel::Matmul::default(),
            &[Arg(kernel::A, &b)],
            1,
            Work::new(0.0, 0.0, String::new),
        )
        .and_then(|_| gpu.flush());
    let err = r.unwrap_err().to_string();
    assert!(err.contains("GPU validation error"), "{err}");
    // The device stays usable afterwards.
    gpu.write(&b, 0, &[1.0, 2.0]).unwrap();
    assert_eq!(gpu.read(&b, 0, 2).unwrap(), vec![1.0, 2.0]);
    // A shader that does not compile is an error naming it.
    static BAD: Shader = Shader {
        name: "bad",
        source: "@compute @workgroup_size(1) fn main( {",
    };
    let err = gpu.pipeline(&BAD, "main", &[]).unwrap_err().to_string();
    assert!(err.contains("compiling bad::main"), "{err}");
}

#[test]
fn unknown_adapter_or_backend_lists_what_exists() {
    let err = Gpu::new(&GpuOptions {
        adapter: Some("no-such-gpu-xyz".into()),
        backend: None,
        ..Default::default()
    })
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("no-such-gpu-xyz") && err.contains("available"),
        "{err}"
    );
    let err = Gpu::new(&GpuOptions {
        adapter: None,
        backend: Some("glide".into()),
        ..Default::default()
    })
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("vulkan, metal, dx12 or gl"), "{err}");
}

/// The shaders run without wgpu's runtime checks by default; `--checked-shaders` puts them back.
/// Both must compute the same thing (an index past a private array or an unbounded loop would
/// show up here as a difference), over a GEMM, strided depthwise kernels and their gradients.
#[test]
fn checked_and_unchecked_shaders_agree() {
    let mut r = rng(41);
    let x0 = rand_vec(&mut r, 2 * 6 * 11 * 11);
    let wp = rand_vec(&mut r, 10 * 6);
    let wd = rand_vec(&mut r, 10 * 7 * 7);
    let out = rand_vec(&mut r, 2 * 10 * 6 * 6);
    let run = |checked: bool| {
        let e = tinynas::autograd::Engine::new(&GpuOptions {
            checked_shaders: checked,
            ..Default::default()
        })
        .unwrap();
        let x = e.param(&f32s(&x0), &[2, 6, 11, 11]).unwrap();
        let p = e.param(&f32s(&wp), &[10, 6, 1, 1]).unwrap();
        let d = e.param(&f32s(&wd), &[10, 1, 7, 7]).unwrap();
        let y = x
            .conv2d(&p, 1, 0, 1)
            .unwrap()
            .conv2d(&d, 2, 3, 10)
            .unwrap()
            .relu6()
            .unwrap();
        e.backward(&weighted_sum(&y, &out)).unwrap();
        [
            values(&y),
            f64s(&grad_of(&x)),
            f64s(&grad_of(&p)),
            f64s(&grad_of(&d)),
        ]
    };
    let (a, b) = (run(false), run(true));
    for (what, (u, c)) in ["y", "dx", "dW pointwise", "dW depthwise"]
        .iter()
        .zip(a.iter().zip(&b))
    {
        assert_eq!(u.len(), c.len(), "{what}");
        assert!(u.iter().any(|v| *v != 0.0), "{what} all zero");
        assert_close(what, &f32s(u), c, 1e-5, 1e-5);
    }
}
