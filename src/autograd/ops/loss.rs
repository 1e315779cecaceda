//! Softmax cross-entropy over logits [N, K], averaged over the batch: against class labels with
//! label smoothing, or against soft targets (in-place distillation).

use super::u;
use crate::autograd::Tensor;
use crate::error::{Result, shape_err};
use crate::gpu::{Arg, Work};
use kernel::Loss;

/// This family's kernels (one shader and what it declares; tests/kernels.rs holds them to it).
pub mod kernel {
    use crate::gpu::kernel::{Family, Overrides, Params, Shader};

    pub const SHADER: Shader = Shader {
        name: "loss",
        source: include_str!("../../../shaders/loss.wgsl"),
    };
    crate::params!(
        /// Losses and softmax (loss.wgsl).
        Loss { n: u32, k: u32, soft: u32, eps: f32, scale: f32 }
    );
    crate::slots!(LOGITS = logits @ 1, TARGETS = targets @ 2, OUT = out @ 3, GOUT = gout @ 4);
    crate::kernels! {
        CE_FORWARD: Loss = SHADER::"ce_forward";
        CE_BACKWARD: Loss = SHADER::"ce_backward";
        SOFTMAX: Loss = SHADER::"softmax";
        MSE_FORWARD: Loss = SHADER::"mse_forward";
        MSE_BACKWARD: Loss = SHADER::"mse_backward";
    }
    pub const FAMILY: Family = Family {
        shaders: &[&SHADER],
        params: <Loss as Params>::FIELDS,
        flags: &[],
        slots: SLOTS,
        overrides: <() as Overrides>::NAMES,
        kernels: KERNELS,
    };
}

/// Cross-entropy's cost over logits [n, k]: a max, an exponential and a sum per logit (the
/// backward adds the gradient's write); targets are [n] labels or [n, k] soft targets.
fn ce_work(n: usize, k: usize, soft: bool, backward: bool) -> Work<impl FnOnce() -> String> {
    let nk = (n * k) as f64;
    let target = if soft { nk } else { n as f64 };
    let bytes = 4.0 * (nk + target + if backward { nk + 1.0 } else { n as f64 });
    Work::new(4.0 * nk, bytes, move || format!("{n}×{k}"))
}

impl Tensor {
    fn logits_shape(&self, op: &'static str) -> Result<(usize, usize)> {
        match self.shape() {
            [n, k] if *n > 0 && *k > 0 => Ok((*n, *k)),
            s => shape_err(op, format!("logits {s:?}: need [N, classes]")),
        }
    }

    fn cross_entropy_with(&self, target: &Tensor, soft: bool, eps: f32) -> Result<Tensor> {
        let op = "cross_entropy";
        let (n, k) = self.logits_shape(op)?;
        let logits = self.contiguous()?;
        let target = target.detach().contiguous()?;
        let e = self.engine().clone();
        let rows = e.output(op, &[n])?;
        let p = Loss {
            n: u(n),
            k: u(k),
            soft: soft as u32,
            eps,
            scale: 1.0 / n as f32,
        };
        e.gpu.run(
            kernel::CE_FORWARD,
            &(),
            &p,
            &[
                Arg(kernel::LOGITS, logits.buffer()),
                Arg(kernel::TARGETS, target.buffer()),
                Arg(kernel::OUT, rows.buffer()),
            ],
            n.div_ceil(64) as u32,
            ce_work(n, k, soft, false),
        )?;
        let loss = rows.detach().mean()?;
        let ls = logits.clone();
        Ok(e.clone().record(op, loss, &[&logits], move |g| {
            let dl = e.output("cross_entropy.dlogits", &[n, k])?;
            e.gpu.run(
                kernel::CE_BACKWARD,
                &(),
                &p,
                &[
                    Arg(kernel::LOGITS, ls.buffer()),
                    Arg(kernel::TARGETS, target.buffer()),
                    Arg(kernel::OUT, dl.buffer()),
                    Arg(kernel::GOUT, g.buffer()),
                ],
                n.div_ceil(64) as u32,
                ce_work(n, k, soft, true),
            )?;
            Ok(vec![Some(dl)])
        }))
    }

    /// Mean cross-entropy against `labels` ([N], class indices as f32) with label smoothing.
    pub fn cross_entropy(&self, labels: &Tensor, label_smoothing: f32) -> Result<Tensor> {
        let (n, k) = self.logits_shape("cross_entropy")?;
        if labels.shape() != [n] {
            return shape_err(
                "cross_entropy",
                format!("labels {:?} for logits [{n}, {k}]", labels.shape()),
            );
        }
        if !(0.0..1.0).contains(&label_smoothing) {
            return shape_err(
                "cross_entropy",
                format!("label smoothing {label_smoothing} outside [0, 1)"),
            );
        }
        self.cross_entropy_with(labels, false, label_smoothing)
    }

    /// Mean cross-entropy against probability rows `targets` [N, K] (no gradient to targets).
    pub fn cross_entropy_soft(&self, targets: &Tensor) -> Result<Tensor> {
        let (n, k) = self.logits_shape("cross_entropy_soft")?;
        if targets.shape() != [n, k] {
            return shape_err(
                "cross_entropy_soft",
                format!("targets {:?} for logits [{n}, {k}]", targets.shape()),
            );
        }
        self.cross_entropy_with(targets, true, 0.0)
    }

    /// Mean squared error against `target` of the same shape (no gradient to the target).
    pub fn mse(&self, target: &Tensor) -> Result<Tensor> {
        if self.shape() != target.shape() || self.numel() == 0 {
            return shape_err(
                "mse",
                format!("prediction {:?}, target {:?}", self.shape(), target.shape()),
            );
        }
        let n = self.numel();
        let pred = self.contiguous()?;
        let target = target.detach().contiguous()?;
        let e = self.engine().clone();
        let sq = e.output("mse", &[n])?;
        let p = Loss {
            n: u(n),
            scale: 1.0 / n as f32,
            ..Loss::default()
        };
        let wg = n.div_ceil(64) as u32;
        e.gpu.run(
            kernel::MSE_FORWARD,
            &(),
            &p,
            &[
                Arg(kernel::LOGITS, pred.buffer()),
                Arg(kernel::TARGETS, target.buffer()),
                Arg(kernel::OUT, sq.buffer()),
            ],
            wg,
            Work::new(3.0 * n as f64, 12.0 * n as f64, || format!("{n}")),
        )?;
        let loss = sq.detach().mean()?;
        let (pr, shape) = (pred.clone(), pred.shape().to_vec());
        Ok(e.clone().record("mse", loss, &[&pred], move |g| {
            let d = e.output("mse.dpred", &shape)?;
            e.gpu.run(
                kernel::MSE_BACKWARD,
                &(),
                &p,
                &[
                    Arg(kernel::LOGITS, pr.buffer()),
                    Arg(kernel::TARGETS, target.buffer()),
                    Arg(kernel::OUT, d.buffer()),
                    Arg(kernel::GOUT, g.buffer()),
                ],
                wg,
                Work::new(3.0 * n as f64, 12.0 * n as f64 + 4.0, || format!("{n}")),
            )?;
            Ok(vec![Some(d)])
        }))
    }

    /// Row-wise softmax (not differentiable: used for teachers' soft targets and metrics).
    pub fn softmax(&self) -> Result<Tensor> {
        let (n, k) = self.logits_shape("softmax")?;
        let logits = self.contiguous()?;
        let e = self.engine();
        let out = e.output("softmax", &[n, k])?;
        e.gpu.run(
            kernel::SOFTMAX,
            &(),
            &Loss {
                n: u(n),
                k: u(k),
                ..Default::default()
            },
            &[
                Arg(kernel::LOGITS, logits.buffer()),
                Arg(kernel::OUT, out.buffer()),
            ],
            n.div_ceil(64) as u32,
            Work::new(4.0 * (n * k) as f64, 8.0 * (n * k) as f64, || {
                format!("{n}×{k}")
            }),
        )?;
        Ok(out)
    }
}

/// f64 CPU reference: (mean loss, dlogits of the mean) for probability targets [N, K].
pub fn reference_cross_entropy(
    logits: &[f64],
    targets: &[f64],
    n: usize,
    k: usize,
) -> (f64, Vec<f64>) {
    let mut loss = 0.0;
    let mut grad = vec![0.0; n * k];
    for r in 0..n {
        let row = &logits[r * k..(r + 1) * k];
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        for j in 0..k {
            let t = targets[r * k + j];
            loss += t * (lse - row[j]) / n as f64;
            grad[r * k + j] = ((row[j] - lse).exp() - t) / n as f64;
        }
    }
    (loss, grad)
}

/// f64 CPU reference: (mean squared error, its gradient with respect to the prediction).
pub fn reference_mse(pred: &[f64], target: &[f64]) -> (f64, Vec<f64>) {
    let n = pred.len() as f64;
    let loss = pred
        .iter()
        .zip(target)
        .map(|(p, t)| (p - t).powi(2))
        .sum::<f64>()
        / n;
    let grad = pred
        .iter()
        .zip(target)
        .map(|(p, t)| 2.0 * (p - t) / n)
        .collect();
    (loss, grad)
}

/// Smoothed one-hot targets: (1 − eps)·onehot + eps/K.
pub fn smoothed_targets(labels: &[usize], k: usize, eps: f64) -> Vec<f64> {
    let mut t = vec![eps / k as f64; labels.len() * k];
    for (r, &l) in labels.iter().enumerate() {
        t[r * k + l] += 1.0 - eps;
    }
    t
}
