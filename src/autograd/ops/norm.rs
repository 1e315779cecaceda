//! Batch normalisation over the channels of x[N,C,...]; gamma, beta and the running statistics
//! may be channel-prefix views of a wider layer's (elastic width).

use super::Act;
use super::u;
use crate::autograd::Tensor;
use crate::error::{Result, shape_err};
use crate::gpu::Arg;
use crate::gpu::Direction;
use crate::gpu::Work;
use kernel::{Norm, TRAIN, UPDATE_RUNNING};

/// This family's kernels (one shader and what it declares; tests/kernels.rs holds them to it).
pub mod kernel {
    use crate::gpu::kernel::{Family, Overrides, Params, Shader};

    pub const SHADER: Shader = Shader {
        name: "norm",
        source: concat!(
            include_str!("../../../shaders/activation.wgsl"),
            include_str!("../../../shaders/norm.wgsl")
        ),
    };
    crate::params!(
        /// Batch norm (activation.wgsl + norm.wgsl).
        Norm {
            n: u32, c: u32, hw: u32, flags: u32,
            eps: f32, momentum: f32,
        }
    );
    crate::overrides!(
        /// The fused activation `ACT` and the vector width `V` (1 or 4).
        NormConsts { act = ACT, v = V }
    );
    /// `flags`: batch statistics (else the running ones).
    pub const TRAIN: u32 = 1;
    /// `flags`: update the running statistics.
    pub const UPDATE_RUNNING: u32 = 2;
    pub use super::super::activation::ACT_NONE;
    crate::slots!(X = x @ 1, SAVED = saved @ 2, RUN_MEAN = run_mean @ 3, RUN_VAR = run_var @ 4, GAMMA = gamma @ 5, BETA = beta @ 6, Y = y @ 7, DY = dy @ 8, SUMS = sums @ 9);
    crate::kernels! {
        BN_STATS_THREAD: Norm = SHADER::"bn_stats_thread";
        BN_STATS: Norm = SHADER::"bn_stats";
        BN_APPLY: Norm, NormConsts = SHADER::"bn_apply";
        BN_BACKWARD_REDUCE_THREAD: Norm, NormConsts = SHADER::"bn_backward_reduce_thread";
        BN_BACKWARD_REDUCE: Norm, NormConsts = SHADER::"bn_backward_reduce";
        BN_BACKWARD_DATA: Norm, NormConsts = SHADER::"bn_backward_data";
    }
    pub const FAMILY: Family = Family {
        shaders: &[&SHADER],
        params: <Norm as Params>::FIELDS,
        flags: &[
            ("TRAIN", TRAIN),
            ("UPDATE_RUNNING", UPDATE_RUNNING),
            ("ACT_NONE", ACT_NONE),
        ],
        slots: SLOTS,
        overrides: <NormConsts as Overrides>::NAMES,
        kernels: KERNELS,
    };
}

/// How statistics are taken.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BnMode {
    /// Batch statistics; running averages updated with this momentum (PyTorch's convention).
    Train { momentum: f32 },
    /// Batch statistics, running averages left alone.
    BatchStats,
    /// Running statistics (evaluation).
    Eval,
}

pub struct BatchNorm<'a> {
    pub gamma: &'a Tensor,
    pub beta: &'a Tensor,
    pub running_mean: &'a Tensor,
    pub running_var: &'a Tensor,
    pub eps: f32,
}

impl Tensor {
    pub fn batch_norm(&self, bn: &BatchNorm, mode: BnMode) -> Result<Tensor> {
        self.batch_norm_act(bn, mode, None)
    }

    /// Batch norm followed by `act`, fused: one pass over memory forward, and the backward
    /// passes apply the activation's derivative themselves.
    pub fn batch_norm_act(&self, bn: &BatchNorm, mode: BnMode, act: Option<Act>) -> Result<Tensor> {
        let s = self.shape();
        if s.len() < 2 {
            return shape_err("batch_norm", format!("x {s:?}: need [N, C, ...]"));
        }
        let (n, c) = (s[0], s[1]);
        let hw: usize = s[2..].iter().product();
        if n * c * hw == 0 {
            return shape_err("batch_norm", format!("x {s:?} is empty"));
        }
        for (name, t) in [
            ("gamma", bn.gamma),
            ("beta", bn.beta),
            ("running_mean", bn.running_mean),
            ("running_var", bn.running_var),
        ] {
            if t.shape() != [c] || t.offset() != 0 || t.strides() != [1] {
                return shape_err(
                    "batch_norm",
                    format!(
                        "{name} {:?} (offset {}) for {c} channels of {s:?}; must be a prefix",
                        t.shape(),
                        t.offset()
                    ),
                );
            }
        }
        if matches!(mode, BnMode::Train { .. } | BnMode::BatchStats) && n * hw < 2 {
            return shape_err(
                "batch_norm",
                format!("batch statistics need more than one value per channel, x {s:?}"),
            );
        }
        let (flags, momentum) = match mode {
            BnMode::Train { momentum } => (TRAIN | UPDATE_RUNNING, momentum),
            BnMode::BatchStats => (TRAIN, 0.0),
            BnMode::Eval => (0, 0.0),
        };
        let x = self.contiguous()?;
        let e = self.engine().clone();
        let saved = e.gpu.alloc("batch_norm.saved", 2 * c)?;
        let p = Norm {
            n: u(n),
            c: u(c),
            hw: u(hw),
            flags,
            eps: bn.eps,
            momentum,
        };
        let v = if hw.is_multiple_of(4) { 4 } else { 1 };
        let consts = kernel::NormConsts {
            act: Some(act.map_or(kernel::ACT_NONE, |a| a.code())),
            v: Some(v as u32),
        };
        // Channels of few values: one thread each rather than one workgroup (shaders/norm.wgsl).
        let per_thread = n * hw <= 1024;
        let channel_groups = if per_thread { c.div_ceil(64) } else { c } as u32;
        e.gpu.run(
            if per_thread {
                kernel::BN_STATS_THREAD
            } else {
                kernel::BN_STATS
            },
            &(),
            &p,
            &[
                Arg(kernel::X, x.buffer()),
                Arg(kernel::SAVED, &saved),
                Arg(kernel::RUN_MEAN, bn.running_mean.buffer()),
                Arg(kernel::RUN_VAR, bn.running_var.buffer()),
            ],
            channel_groups,
            Work::new(3.0 * (n * c * hw) as f64, 4.0 * (n * c * hw) as f64, || {
                format!("{n}×{c}×{hw}")
            }),
        )?;
        let out = e.output("batch_norm", s)?;
        e.gpu.run(
            kernel::BN_APPLY,
            &consts,
            &p,
            &[
                Arg(kernel::X, x.buffer()),
                Arg(kernel::SAVED, &saved),
                Arg(kernel::GAMMA, bn.gamma.buffer()),
                Arg(kernel::BETA, bn.beta.buffer()),
                Arg(kernel::Y, out.buffer()),
            ],
            (out.numel() / v).div_ceil(64) as u32,
            Work::new(2.0 * (n * c * hw) as f64, 8.0 * (n * c * hw) as f64, || {
                format!("{n}×{c}×{hw}")
            }),
        )?;
        // Kept centred on the channel means when packed to f16: backward's x̂ = (x − μ)·rstd
        // then keeps f16's relative precision even where |μ| ≫ σ.
        let xsv = e.save_centred(&x, &saved, c, hw)?;
        let (gamma, beta) = (bn.gamma.clone(), bn.beta.clone());
        let needs = [
            x.requires_grad(),
            bn.gamma.requires_grad(),
            bn.beta.requires_grad(),
        ];
        Ok(e.clone()
            .record("batch_norm", out, &[&x, bn.gamma, bn.beta], move |g| {
                let g = g.contiguous()?;
                let xs = xsv.get()?;
                let sums = e.output("batch_norm.sums", &[2 * c])?;
                // The reduction gives γ's and β's gradients (and the sums dx needs).
                let d = e.gpu.direction(Direction::BackwardWeight);
                e.gpu.run(
                    if per_thread {
                        kernel::BN_BACKWARD_REDUCE_THREAD
                    } else {
                        kernel::BN_BACKWARD_REDUCE
                    },
                    &consts,
                    &p,
                    &[
                        Arg(kernel::X, xs.buffer()),
                        Arg(kernel::SAVED, &saved),
                        Arg(kernel::GAMMA, gamma.buffer()),
                        Arg(kernel::BETA, beta.buffer()),
                        Arg(kernel::Y, sums.buffer()),
                        Arg(kernel::DY, g.buffer()),
                    ],
                    channel_groups,
                    Work::new(4.0 * (n * c * hw) as f64, 8.0 * (n * c * hw) as f64, || {
                        format!("{n}×{c}×{hw}")
                    }),
                )?;
                drop(d);
                let dx = if needs[0] {
                    let _d = e.gpu.direction(Direction::BackwardData);
                    let dx = e.output("batch_norm.dx", xs.shape())?;
                    e.gpu.run(
                        kernel::BN_BACKWARD_DATA,
                        &consts,
                        &p,
                        &[
                            Arg(kernel::X, xs.buffer()),
                            Arg(kernel::SAVED, &saved),
                            Arg(kernel::GAMMA, gamma.buffer()),
                            Arg(kernel::BETA, beta.buffer()),
                            Arg(kernel::Y, dx.buffer()),
                            Arg(kernel::DY, g.buffer()),
                            Arg(kernel::SUMS, sums.buffer()),
                        ],
                        (dx.numel() / v).div_ceil(64) as u32,
                        Work::new(
                            5.0 * (n * c * hw) as f64,
                            12.0 * (n * c * hw) as f64,
                            || format!("{n}×{c}×{hw}"),
                        ),
                    )?;
                    Some(dx)
                } else {
                    None
                };
                let dgamma = if needs[1] {
                    Some(sums.narrow(0, c, c)?)
                } else {
                    None
                };
                let dbeta = if needs[2] {
                    Some(sums.narrow(0, 0, c)?)
                } else {
                    None
                };
                Ok(vec![dx, dgamma, dbeta])
            }))
    }
}

/// f64 CPU references (batch statistics, biased variance as in the forward pass).
pub mod reference {
    /// (y, mean, var) for x[N,C,HW].
    pub fn batch_norm(
        x: &[f64],
        gamma: &[f64],
        beta: &[f64],
        n: usize,
        c: usize,
        hw: usize,
        eps: f64,
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let m = (n * hw) as f64;
        let idx = |b: usize, ch: usize, i: usize| (b * c + ch) * hw + i;
        let (mut mean, mut var) = (vec![0.0; c], vec![0.0; c]);
        for ch in 0..c {
            for b in 0..n {
                for i in 0..hw {
                    mean[ch] += x[idx(b, ch, i)] / m;
                }
            }
            for b in 0..n {
                for i in 0..hw {
                    var[ch] += (x[idx(b, ch, i)] - mean[ch]).powi(2) / m;
                }
            }
        }
        let mut y = vec![0.0; x.len()];
        for b in 0..n {
            for ch in 0..c {
                for i in 0..hw {
                    let k = idx(b, ch, i);
                    y[k] = (x[k] - mean[ch]) / (var[ch] + eps).sqrt() * gamma[ch] + beta[ch];
                }
            }
        }
        (y, mean, var)
    }

    /// (dx, dgamma, dbeta) with batch statistics.
    pub fn batch_norm_backward(
        x: &[f64],
        gamma: &[f64],
        dy: &[f64],
        n: usize,
        c: usize,
        hw: usize,
        eps: f64,
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (_, mean, var) = batch_norm(x, gamma, &vec![0.0; c], n, c, hw, eps);
        let m = (n * hw) as f64;
        let idx = |b: usize, ch: usize, i: usize| (b * c + ch) * hw + i;
        let (mut dg, mut db) = (vec![0.0; c], vec![0.0; c]);
        for b in 0..n {
            for ch in 0..c {
                for i in 0..hw {
                    let k = idx(b, ch, i);
                    let xhat = (x[k] - mean[ch]) / (var[ch] + eps).sqrt();
                    db[ch] += dy[k];
                    dg[ch] += dy[k] * xhat;
                }
            }
        }
        let mut dx = vec![0.0; x.len()];
        for b in 0..n {
            for ch in 0..c {
                let rstd = 1.0 / (var[ch] + eps).sqrt();
                for i in 0..hw {
                    let k = idx(b, ch, i);
                    let xhat = (x[k] - mean[ch]) * rstd;
                    dx[k] = gamma[ch] * rstd * (dy[k] - db[ch] / m - xhat * dg[ch] / m);
                }
            }
        }
        (dx, dg, db)
    }
}
