//! matmul, linear, convolutions (direct, pointwise, depthwise): forward and backward on the GPU
//! against the f64 references, the references against finite differences, and weight views.

mod common;
use common::*;
use tinynas::autograd::ops::conv::reference as conv_ref;
use tinynas::autograd::ops::conv_shape::ConvShape;
use tinynas::autograd::ops::matmul::reference as mm_ref;

#[test]
fn matmul_and_transposed_view() {
    let e = engine();
    let mut r = rng(1);
    let (m, k, n) = (7, 13, 5);
    let a = rounded(&rand_vec(&mut r, m * k));
    let b = rounded(&rand_vec(&mut r, k * n));
    let ta = e.param(&f32s(&a), &[m, k]).unwrap();
    let tb = e.param(&f32s(&b), &[k, n]).unwrap();
    let y = ta.matmul(&tb).unwrap();
    assert_close(
        "matmul",
        &y.to_vec().unwrap(),
        &mm_ref::matmul(&a, &b, m, k, n),
        1e-5,
        1e-5,
    );
    let rw = rand_vec(&mut r, m * n);
    e.backward(&weighted_sum(&y, &rw)).unwrap();
    let da = mm_ref::matmul(&rw, &mm_ref::transpose(&b, k, n), m, n, k);
    let db = mm_ref::matmul(&mm_ref::transpose(&a, m, k), &rw, k, m, n);
    assert_close("matmul da", &grad_of(&ta), &da, 1e-5, 1e-5);
    assert_close("matmul db", &grad_of(&tb), &db, 1e-5, 1e-5);
}

#[test]
fn matmul_vector_load_paths() {
    // Shapes with and without multiples of 4 and views at aligned and unaligned offsets, so the
    // GEMM runs with every load variant (rows or columns 4 at a time, k 4 at a time, scalar)
    // in the forward product and in both gradients (whose operands are transposed views).
    let e = engine();
    let mut r = rng(5);
    for vector in [true, false] {
        e.gpu.set_vector_loads(vector);
        for (m, k, n, start) in [
            (8, 12, 16, 0),
            (9, 12, 16, 4),
            (8, 13, 20, 0),
            (5, 8, 7, 1),
            (12, 16, 4, 4),
            (16, 20, 12, 3),
        ] {
            let kf = k + start + 3;
            let a_full = rounded(&rand_vec(&mut r, m * kf));
            let b = rounded(&rand_vec(&mut r, k * n));
            let ta = e.param(&f32s(&a_full), &[m, kf]).unwrap();
            let tb = e.param(&f32s(&b), &[k, n]).unwrap();
            let av = ta.narrow(1, start, k).unwrap();
            let a: Vec<f64> = (0..m)
                .flat_map(|i| a_full[i * kf + start..i * kf + start + k].to_vec())
                .collect();
            let y = av.matmul(&tb).unwrap();
            let what = format!("matmul {m}x{k}x{n} at column {start}, vector loads {vector}");
            assert_close(
                &what,
                &y.to_vec().unwrap(),
                &mm_ref::matmul(&a, &b, m, k, n),
                1e-5,
                1e-5,
            );
            let rw = rand_vec(&mut r, m * n);
            e.backward(&weighted_sum(&y, &rw)).unwrap();
            let da = mm_ref::matmul(&rw, &mm_ref::transpose(&b, k, n), m, n, k);
            let db = mm_ref::matmul(&mm_ref::transpose(&a, m, k), &rw, k, m, n);
            let mut da_full = vec![0.0; m * kf];
            for i in 0..m {
                da_full[i * kf + start..i * kf + start + k]
                    .copy_from_slice(&da[i * k..(i + 1) * k]);
            }
            assert_close(&format!("{what} da"), &grad_of(&ta), &da_full, 1e-5, 1e-5);
            assert_close(&format!("{what} db"), &grad_of(&tb), &db, 1e-5, 1e-5);
        }
    }
}

#[test]
fn f16_gemm_matches_reference_to_f16_precision() {
    // `--f16`: GEMMs in f16 arithmetic. The forward product and both gradients (the incoming
    // gradient scaled up before rounding) stay within f16's precision of the f64 reference,
    // tiny gradients do not underflow, and the results do differ from the f32 kernel's.
    let e = engine();
    e.gpu.set_f16_gemm(true).unwrap();
    let mut r = rng(6);
    for (m, k, n, gscale) in [(16, 24, 12, 1.0), (9, 13, 7, 1.0), (12, 40, 8, 1e-6)] {
        let a = rand_vec(&mut r, m * k);
        let b = rand_vec(&mut r, k * n);
        let ta = e.param(&f32s(&a), &[m, k]).unwrap();
        let tb = e.param(&f32s(&b), &[k, n]).unwrap();
        let y = ta.matmul(&tb).unwrap();
        let want = mm_ref::matmul(&a, &b, m, k, n);
        let what = format!("f16 matmul {m}x{k}x{n}");
        // Rounding both operands to f16 (2^-11 relative) over k terms of size ~1.
        let tol = 4e-3 * (k as f64).sqrt();
        let got = y.to_vec().unwrap();
        assert_close(&what, &got, &want, tol, 1e-2);
        let exact = got
            .iter()
            .zip(&want)
            .filter(|(g, w)| (**g as f64 - **w).abs() < 1e-6)
            .count();
        assert!(exact < got.len() / 2, "{what}: f16 arithmetic was not used");
        // The loss is scaled after the weighted sum (whose own GEMM sees ordinary values), so
        // the gradient reaching the product is gscale · rw.
        let rw0 = rand_vec(&mut r, m * n);
        let rw: Vec<f64> = rw0.iter().map(|v| v * gscale).collect();
        e.backward(&weighted_sum(&y, &rw0).scale(gscale as f32).unwrap())
            .unwrap();
        let da = mm_ref::matmul(&rw, &mm_ref::transpose(&b, k, n), m, n, k);
        let db = mm_ref::matmul(&mm_ref::transpose(&a, m, k), &rw, k, m, n);
        let gtol = tol * gscale;
        assert_close(&format!("{what} da"), &grad_of(&ta), &da, gtol, 1e-2);
        assert_close(&format!("{what} db"), &grad_of(&tb), &db, gtol, 1e-2);
    }
}

#[test]
fn linear_with_input_prefix_view() {
    let e = engine();
    let mut r = rng(2);
    let (n, i_full, i, o) = (6, 11, 9, 10);
    let x = rounded(&rand_vec(&mut r, n * i));
    let w_full = rounded(&rand_vec(&mut r, o * i_full));
    let b = rounded(&rand_vec(&mut r, o));
    let tx = e.param(&f32s(&x), &[n, i]).unwrap();
    let tw = e.param(&f32s(&w_full), &[o, i_full]).unwrap();
    let tb = e.param(&f32s(&b), &[o]).unwrap();
    let wv = tw.prefix(1, i).unwrap();
    assert!(wv.shares_storage(&tw));
    let y = tx.linear(&wv, Some(&tb)).unwrap();
    let w: Vec<f64> = (0..o)
        .flat_map(|r| w_full[r * i_full..r * i_full + i].to_vec())
        .collect();
    assert_close(
        "linear",
        &y.to_vec().unwrap(),
        &mm_ref::linear(&x, &w, Some(&b), n, i, o),
        1e-5,
        1e-5,
    );
    let rw = rand_vec(&mut r, n * o);
    e.backward(&weighted_sum(&y, &rw)).unwrap();
    let (dx, dw, db) = mm_ref::linear_backward(&x, &w, &rw, n, i, o);
    assert_close("linear dx", &grad_of(&tx), &dx, 1e-5, 1e-5);
    assert_close("linear db", &grad_of(&tb), &db, 1e-5, 1e-5);
    // The gradient lands in the first `i` columns of the full weight's gradient, zeros after.
    let mut dw_full = vec![0.0; o * i_full];
    for row in 0..o {
        dw_full[row * i_full..row * i_full + i].copy_from_slice(&dw[row * i..(row + 1) * i]);
    }
    assert_close("linear dW (full)", &grad_of(&tw), &dw_full, 1e-5, 1e-5);
    // Finite differences of the reference.
    let fd = finite_diff(
        &|xv| dot(&mm_ref::linear(xv, &w, Some(&b), n, i, o), &rw),
        &x,
        1e-6,
    );
    assert_close("linear dx vs fd", &f32s(&dx), &fd, 1e-6, 1e-6);
}

/// Run one convolution through the GPU and the reference; weights may be a view of `w_full`.
fn check_conv(
    seed: u64,
    cs: ConvShape,
    full: [usize; 4],
    view: impl Fn(&tinynas::Tensor) -> tinynas::Tensor,
) {
    check_conv_loads(None, seed, cs, full, view)
}

/// `check_conv` with the GEMM's vector loads forced on or off (`None`: the adapter's default).
fn check_conv_loads(
    vector: Option<bool>,
    seed: u64,
    cs: ConvShape,
    full: [usize; 4],
    view: impl Fn(&tinynas::Tensor) -> tinynas::Tensor,
) {
    let e = engine();
    if let Some(v) = vector {
        e.gpu.set_vector_loads(v);
    }
    let mut r = rng(seed);
    let x = rounded(&rand_vec(&mut r, cs.n * cs.cin * cs.h * cs.w));
    let w_full = rounded(&rand_vec(&mut r, full.iter().product()));
    let tx = e.param(&f32s(&x), &[cs.n, cs.cin, cs.h, cs.w]).unwrap();
    let tw = e.param(&f32s(&w_full), &full).unwrap();
    let wv = view(&tw);
    let w: Vec<f64> = values(&wv);
    let y = tx.conv2d(&wv, cs.stride, cs.pad, cs.groups).unwrap();
    assert_eq!(y.shape(), [cs.n, cs.cout, cs.oh(), cs.ow()]);
    assert_close(
        &format!("conv {cs:?}"),
        &y.to_vec().unwrap(),
        &conv_ref::conv2d(&x, &w, &cs),
        1e-5,
        1e-5,
    );
    let rw = rand_vec(&mut r, y.numel());
    e.backward(&weighted_sum(&y, &rw)).unwrap();
    let (dx, dw) = conv_ref::conv2d_backward(&x, &w, &rw, &cs);
    assert_close("conv dx", &grad_of(&tx), &dx, 1e-4, 1e-5);
    assert_close(
        "conv dW (view)",
        &wv.grad().unwrap().to_vec().unwrap(),
        &dw,
        1e-4,
        1e-5,
    );
    // Everything outside the view keeps a zero gradient: the total equals the view's.
    let total: f64 = grad_of(&tw).iter().map(|v| v.abs() as f64).sum();
    let in_view: f64 = dw.iter().map(|v| v.abs()).sum();
    assert!(
        (total - in_view).abs() <= 1e-3 * (1.0 + in_view),
        "gradient leaked outside the view: {total} vs {in_view}"
    );
    // Finite differences of the reference (a few entries keep it quick).
    let fx = |xv: &[f64]| dot(&conv_ref::conv2d(xv, &w, &cs), &rw);
    let fw = |wv2: &[f64]| dot(&conv_ref::conv2d(&x, wv2, &cs), &rw);
    let (ix, iw) = (sample_indices(x.len(), 48), sample_indices(w.len(), 48));
    assert_close(
        "conv ref dx vs fd",
        &f32s(&pick(&dx, &ix)),
        &finite_diff_at(&fx, &x, 1e-6, &ix),
        1e-5,
        1e-5,
    );
    assert_close(
        "conv ref dw vs fd",
        &f32s(&pick(&dw, &iw)),
        &finite_diff_at(&fw, &w, 1e-6, &iw),
        1e-5,
        1e-5,
    );
}

#[test]
fn conv_direct_stem_stride2() {
    check_conv(
        3,
        ConvShape::same(2, 3, 9, 11, 5, 3, 2, 1),
        [5, 3, 3, 3],
        |w| w.clone(),
    );
}

/// A convolution whose input needs no gradient (the stem on images) goes through im2col and the
/// GEMM: forward and weight gradient against the reference, for the whole weight and for an
/// out-channel prefix of a larger one (still contiguous), with padding, strides 1 and 2 and a
/// 5×3 kernel; the profiler shows which path ran.
#[test]
fn conv_on_images_through_im2col_and_gemm() {
    for (seed, cs, full) in [
        (60, ConvShape::same(3, 1, 13, 11, 8, 3, 2, 1), [8, 1, 3, 3]),
        (61, ConvShape::same(2, 3, 9, 10, 5, 3, 1, 1), [7, 3, 3, 3]),
        (
            62,
            ConvShape {
                n: 2,
                cin: 2,
                h: 8,
                w: 9,
                cout: 4,
                kh: 5,
                kw: 3,
                stride: 2,
                pad: 1,
                groups: 1,
            },
            [4, 2, 5, 3],
        ),
    ] {
        let e = engine();
        let mut r = rng(seed);
        let x = rounded(&rand_vec(&mut r, cs.n * cs.cin * cs.h * cs.w));
        let w_full = rounded(&rand_vec(&mut r, full.iter().product()));
        let tx = e.tensor(&f32s(&x), &[cs.n, cs.cin, cs.h, cs.w]).unwrap();
        let tw = e.param(&f32s(&w_full), &full).unwrap();
        let wv = tw.prefix(0, cs.cout).unwrap();
        let w = values(&wv);
        e.gpu.start_profiling(false);
        let y = tx.conv2d(&wv, cs.stride, cs.pad, 1).unwrap();
        assert_close(
            &format!("im2col conv {cs:?}"),
            &y.to_vec().unwrap(),
            &conv_ref::conv2d(&x, &w, &cs),
            1e-5,
            1e-5,
        );
        let rw = rand_vec(&mut r, y.numel());
        e.backward(&weighted_sum(&y, &rw)).unwrap();
        let report = e.gpu.stop_profiling().unwrap().report();
        assert!(
            report
                .rows
                .iter()
                .any(|row| row.kernel.starts_with("conv::im2col"))
                && !report
                    .rows
                    .iter()
                    .any(|row| row.kernel.starts_with("conv::conv_")),
            "{:?}",
            report.rows.iter().map(|r| &r.kernel).collect::<Vec<_>>()
        );
        let (_, dw) = conv_ref::conv2d_backward(&x, &w, &rw, &cs);
        assert_close("im2col conv dW", &grad_of(&wv), &dw, 1e-4, 1e-5);
        // Nothing lands outside the prefix.
        let g = grad_of(&tw);
        let per = full[1] * full[2] * full[3];
        assert!(g[cs.cout * per..].iter().all(|v| *v == 0.0));
    }
}

#[test]
fn conv_direct_grouped_and_strided_pointwise() {
    check_conv(
        4,
        ConvShape::same(2, 6, 7, 7, 4, 3, 1, 2),
        [4, 3, 3, 3],
        |w| w.clone(),
    );
    check_conv(
        5,
        ConvShape::same(2, 5, 7, 7, 3, 1, 2, 1),
        [3, 5, 1, 1],
        |w| w.clone(),
    );
}

#[test]
fn conv_pointwise_gemm_with_channel_prefixes() {
    // A 6→10 subnet of a 9→13 pointwise weight (prefix of both output and input channels).
    check_conv(
        6,
        ConvShape::same(3, 6, 7, 5, 10, 1, 1, 1),
        [13, 9, 1, 1],
        |w| w.prefix(0, 10).unwrap().prefix(1, 6).unwrap(),
    );
}

#[test]
fn conv_pointwise_batch_folded_into_columns() {
    // Small feature maps (2x2, 3x3, 4x5) fold the batch into the GEMM's columns; 8x4 = 32 does
    // not. With vector loads on, the 2x2 and 4x5 maps read B four columns at a time across
    // batch entries (the 3x3 one is unaligned: scalar loads). Channel prefixes offset the weight
    // views. The weight gradient sums over few output tiles, so it is split into chunks of the
    // batch: 5 images over 1 tile (chunks of 1), and over 2x2 tiles (chunks of 2, the last one
    // short).
    for vector in [true, false] {
        for (seed, n, cin, cout, h, w) in [
            (60, 5, 8, 12, 2, 2),
            (61, 3, 8, 12, 3, 3),
            (62, 4, 8, 12, 4, 5),
            (63, 2, 8, 12, 8, 4),
            (64, 5, 40, 36, 2, 3),
        ] {
            check_conv_loads(
                Some(vector),
                seed,
                ConvShape::same(n, cin, h, w, cout, 1, 1, 1),
                [cout + 4, cin + 4, 1, 1],
                |wt| wt.prefix(0, cout).unwrap().prefix(1, cin).unwrap(),
            );
        }
    }
}

#[test]
fn depthwise_kernels_3_5_7_strides_1_2() {
    for (i, k) in [3usize, 5, 7].into_iter().enumerate() {
        for stride in [1, 2] {
            check_conv(
                10 + i as u64 * 2 + stride as u64,
                ConvShape::same(2, 6, 9, 9, 6, k, stride, 6),
                [6, 1, k, k],
                |w| w.clone(),
            );
        }
    }
}

#[test]
fn depthwise_odd_rows_and_strides_3_to_5() {
    // Every residue class of the strided backward-data kernel, with rows that end mid-group.
    for (seed, cs) in [
        (40, ConvShape::same(2, 5, 11, 13, 5, 5, 3, 5)),
        (41, ConvShape::same(1, 4, 7, 17, 4, 7, 2, 4)),
        (42, ConvShape::same(2, 3, 6, 10, 3, 3, 3, 3)),
        (43, ConvShape::same(1, 3, 13, 15, 3, 7, 4, 3)),
        // Stride 1 takes 8 positions of a row per thread: rows shorter than that, and one
        // that ends 3 into its third segment.
        (45, ConvShape::same(2, 3, 6, 5, 3, 7, 1, 3)),
        (46, ConvShape::same(1, 5, 4, 19, 5, 3, 1, 5)),
        // Stride 5 is past the depthwise kernels' span: the direct kernel takes it.
        (44, ConvShape::same(1, 3, 12, 11, 3, 5, 5, 3)),
    ] {
        let k = cs.kh;
        check_conv(seed, cs, [cs.cin, 1, k, k], |w| w.clone());
    }
}

#[test]
fn depthwise_centre_crop_and_channel_prefix_of_7x7() {
    for k in [3usize, 5] {
        for stride in [1, 2] {
            check_conv(
                20 + 2 * k as u64 + stride as u64,
                ConvShape::same(2, 7, 8, 11, 7, k, stride, 7),
                [10, 1, 7, 7],
                |w| w.prefix(0, 7).unwrap().centre_crop(k).unwrap(),
            );
        }
    }
}

#[test]
fn depthwise_weight_gradient_split_over_many_positions() {
    // Enough positions that the weight gradient is split across workgroups per channel.
    check_conv(
        30,
        ConvShape::same(4, 3, 32, 32, 3, 5, 1, 3),
        [3, 1, 5, 5],
        |w| w.clone(),
    );
}
