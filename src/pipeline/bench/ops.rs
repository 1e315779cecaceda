//! Kernel throughput at MobileNet-like shapes beside the adapter's own matmul and copy
//! ceilings (workload 2 of BENCHMARKS.md; `tinynas bench ops`).

use crate::gpu::report::ProfileReport;
use crate::{Engine, Result, Tensor};
use serde::Serialize;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct OpsOptions {
    /// Batch size of the activation shapes.
    pub batch: usize,
    /// Timed repetitions per kernel (after one warm-up).
    pub reps: usize,
    /// Profile the whole run and write its Chrome/Perfetto trace here.
    pub profile: Option<PathBuf>,
}

/// One kernel (or pair of kernels) timed: median seconds, and the work it does.
#[derive(Clone, Debug, Serialize)]
pub struct OpsRow {
    pub name: String,
    pub secs: f64,
    pub flops: f64,
    pub bytes: f64,
}

impl OpsRow {
    pub fn gflops(&self) -> f64 {
        self.flops / self.secs / 1e9
    }
    pub fn gbytes_per_s(&self) -> f64 {
        self.bytes / self.secs / 1e9
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct OpsReport {
    /// The adapter, as `Gpu::describe` names it.
    pub adapter: String,
    pub vector_loads: bool,
    pub batch: usize,
    pub reps: usize,
    pub rows: Vec<OpsRow>,
    /// The pointwise convolution's GFLOP/s (forward and backward) as a share of the matmul's, in %.
    pub pointwise_pct_of_matmul: f64,
    /// The depthwise convolutions' mean GB/s as a share of the copy's, in %.
    pub depthwise_pct_of_copy: f64,
    /// With `profile`: the per-kernel report (its trace is written).
    #[serde(skip)]
    pub profile: Option<ProfileReport>,
}

/// Times the kernels on `e` (the whole run profiled with `o.profile`).
pub fn ops(e: &Rc<Engine>, o: &OpsOptions) -> Result<OpsReport> {
    if o.profile.is_some() {
        e.gpu.start_profiling(false);
    }
    let (rows, pointwise_pct_of_matmul, depthwise_pct_of_copy) = kernels(e, o.batch, o.reps)?;
    let profile = match &o.profile {
        Some(path) => Some(crate::io::finish_profiling(&e.gpu, path)?),
        None => None,
    };
    Ok(OpsReport {
        adapter: e.gpu.describe(),
        vector_loads: e.gpu.vector_loads(),
        batch: o.batch,
        reps: o.reps,
        rows,
        pointwise_pct_of_matmul,
        depthwise_pct_of_copy,
        profile,
    })
}

/// Median seconds of `f` over `reps` runs (each flushed and waited for), after a warm-up.
fn time(e: &Engine, reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    e.gpu.sync()?;
    let mut t = Vec::new();
    for _ in 0..reps.max(1) {
        let s = Instant::now();
        f()?;
        e.gpu.sync()?;
        t.push(s.elapsed().as_secs_f64());
    }
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

fn rand(e: &Rc<Engine>, shape: &[usize], grad: bool) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    if grad {
        e.param(&v, shape)
    } else {
        e.tensor(&v, shape)
    }
}

/// The kernels timed, row by row, and the headline ratios.
fn kernels(e: &Rc<Engine>, n: usize, reps: usize) -> Result<(Vec<OpsRow>, f64, f64)> {
    let mut rows = Vec::new();
    let mut row = |name: &str, secs: f64, flops: f64, bytes: f64| {
        rows.push(OpsRow {
            name: name.to_string(),
            secs,
            flops,
            bytes,
        })
    };
    // Ceilings: a square matmul and a buffer copy.
    let m = 512;
    let (a, b) = (rand(e, &[m, m], false)?, rand(e, &[m, m], false)?);
    let t = time(e, reps, || a.matmul(&b).map(|_| ()))?;
    let mm_flops = 2.0 * (m * m * m) as f64;
    row("matmul 512x512x512", t, mm_flops, 3.0 * (m * m * 4) as f64);
    let matmul_gflops = mm_flops / t / 1e9;
    let len = 1 << 22;
    let src = e.gpu.alloc("bench", len)?;
    let dst = e.gpu.alloc("bench", len)?;
    let t = time(e, reps, || {
        e.gpu.copy(&src, 0, &dst, 0, len);
        Ok(())
    })?;
    row("copy 16 MiB", t, 0.0, 2.0 * (len * 4) as f64);
    let copy_gbs = 2.0 * (len * 4) as f64 / t / 1e9;

    // Pointwise 1x1 conv, 48 -> 144 channels at 28x28 (an expand layer).
    let (ci, co, hw) = (48, 144, 28);
    let x = rand(e, &[n, ci, hw, hw], true)?;
    let w = rand(e, &[co, ci, 1, 1], true)?;
    let pw_flops = 2.0 * (n * ci * co * hw * hw) as f64;
    let pw_bytes = ((n * (ci + co) * hw * hw + ci * co) * 4) as f64;
    let t_fwd = time(e, reps, || x.conv2d(&w, 1, 0, 1).map(|_| ()))?;
    row("pointwise 48->144 @28 fwd", t_fwd, pw_flops, pw_bytes);
    let t_all = time(e, reps, || {
        let y = x.conv2d(&w, 1, 0, 1)?;
        e.backward(&y.sum()?)
    })?;
    let t_bwd = (t_all - t_fwd).max(1e-9);
    row(
        "pointwise 48->144 @28 bwd (dx+dW)",
        t_bwd,
        2.0 * pw_flops,
        2.0 * pw_bytes,
    );
    let pw_gflops = 3.0 * pw_flops / t_all / 1e9;

    // Depthwise k3/5/7 on 144 channels at 28x28.
    let c = 144;
    let xd = rand(e, &[n, c, hw, hw], true)?;
    let mut dw_gbs = Vec::new();
    for k in [3usize, 5, 7] {
        let wd = rand(e, &[c, 1, k, k], true)?;
        let bytes = (2 * n * c * hw * hw * 4) as f64;
        let flops = 2.0 * (n * c * hw * hw * k * k) as f64;
        let tf = time(e, reps, || xd.conv2d(&wd, 1, k / 2, c).map(|_| ()))?;
        row(&format!("depthwise k{k} @28 fwd"), tf, flops, bytes);
        let ta = time(e, reps, || {
            let y = xd.conv2d(&wd, 1, k / 2, c)?;
            e.backward(&y.sum()?)
        })?;
        let tb = (ta - tf).max(1e-9);
        row(
            &format!("depthwise k{k} @28 bwd (data+weight)"),
            tb,
            2.0 * flops,
            2.0 * bytes,
        );
        // Each backward kernel on its own, from GPU timestamps (the wall-clock row above also
        // holds the loss's backward and the gradient accumulation); not while --profile records
        // the whole run. The copy comparison then uses the kernels' own times.
        if !e.gpu.profiling() {
            let (data, weight) = dw_backward_kernels(e, &xd, &wd, k, c, reps)?;
            row(&format!("depthwise k{k} @28 bwd-data"), data, flops, bytes);
            // Reads dy and x, writes the per-workgroup partial sums (small).
            row(
                &format!("depthwise k{k} @28 bwd-weight"),
                weight,
                flops,
                bytes,
            );
            dw_gbs.push(3.0 * bytes / (tf + data + weight) / 1e9);
        } else {
            dw_gbs.push(3.0 * bytes / ta / 1e9);
        }
    }
    // Batch norm (training) and an elementwise activation on the same activation.
    let gamma = rand(e, &[c], true)?;
    let beta = rand(e, &[c], true)?;
    let (rm, rv) = (e.zeros(&[c])?, e.full(&[c], 1.0)?);
    let bn = crate::autograd::ops::norm::BatchNorm {
        gamma: &gamma,
        beta: &beta,
        running_mean: &rm,
        running_var: &rv,
        eps: 1e-5,
    };
    let bytes = (n * c * hw * hw * 4) as f64;
    let t = time(e, reps, || {
        xd.batch_norm(&bn, crate::autograd::ops::norm::BnMode::BatchStats)
            .map(|_| ())
    })?;
    row("batch norm @28 fwd", t, 0.0, 3.0 * bytes);
    let t = time(e, reps, || xd.relu6().map(|_| ()))?;
    row("relu6 @28 fwd", t, 0.0, 2.0 * bytes);
    e.clear_tape();
    let dw_mean = dw_gbs.iter().sum::<f64>() / dw_gbs.len() as f64;
    Ok((
        rows,
        100.0 * pw_gflops / matmul_gflops,
        100.0 * dw_mean / copy_gbs,
    ))
}

/// Mean seconds of the depthwise backward-data kernel and of the weight gradient's two kernels,
/// from the profiler's timestamps over `reps` forward + backward passes.
fn dw_backward_kernels(
    e: &Rc<Engine>,
    x: &Tensor,
    w: &Tensor,
    k: usize,
    c: usize,
    reps: usize,
) -> Result<(f64, f64)> {
    e.gpu.start_profiling(false);
    let run = (|| -> Result<()> {
        for _ in 0..reps.max(1) {
            let y = x.conv2d(w, 1, k / 2, c)?;
            e.backward(&y.sum()?)?;
        }
        Ok(())
    })();
    let report = e.gpu.stop_profiling()?.report();
    run?;
    let per_call = |prefix: &str| {
        let rows: Vec<_> = report
            .rows
            .iter()
            .filter(|r| r.kernel.starts_with(prefix))
            .collect();
        let calls = rows.iter().map(|r| r.calls).max().unwrap_or(0).max(1);
        rows.iter().map(|r| r.total_ms).sum::<f64>() / 1e3 / calls as f64
    };
    let data = per_call("depthwise::dw_backward_data");
    let weight = per_call("depthwise::dw_backward_weight") + per_call("depthwise::dw_weight_sum");
    Ok((data, weight))
}
